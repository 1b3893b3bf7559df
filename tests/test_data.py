"""The offline Fashion-MNIST loader and the trouser split, on the real files."""

import gzip
import shutil

import numpy as np
import pytest

from vae_anomaly import data
from vae_anomaly.data import FILES, FashionMNISTError, find_files, load_fashion_mnist


@pytest.fixture(scope="module")
def source():
    """The folder where this machine's verified copy lives."""
    return find_files(download=False)


@pytest.fixture
def copy(source, tmp_path):
    """A private copy of the four files, to damage."""
    for name in FILES:
        shutil.copy(source / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No copy anywhere on the default search path."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path


def test_same_shapes_dtypes_and_labels_as_keras(source):
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(source)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype("uint8")}
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0


def test_anomaly_split(split):
    assert split.x_train.shape == (54000, 28, 28)
    assert split.x_test_normal.shape == (9000, 28, 28)
    assert split.x_test_anomaly.shape == (1000, 28, 28)
    assert data.ANOMALY_LABEL not in split.y_train and data.ANOMALY_LABEL not in split.y_test_normal
    for x in (split.x_train, split.x_test_normal, split.x_test_anomaly):
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    (_, _), (x_test, y_test) = load_fashion_mnist()
    np.testing.assert_array_equal(split.x_test_anomaly, x_test[y_test == 1] / np.float32(255))


def test_explicit_path_and_env_var_are_used_alone(copy, monkeypatch, tmp_path_factory):
    assert find_files(copy) == copy
    monkeypatch.setenv(data.ENV_VAR, str(copy))
    assert find_files() == copy
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FashionMNISTError, match="missing .*train-images-idx3-ubyte.gz"):
        find_files(empty)  # an explicit folder is never silently replaced by another


def test_missing_file_names_it_and_the_fix(copy):
    (copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FashionMNISTError) as err:
        load_fashion_mnist(copy)
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)


def test_truncated_file(copy):
    path = copy / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FashionMNISTError, match="train-images-idx3-ubyte.gz.*truncated"):
        load_fashion_mnist(copy)


def test_corrupted_payload_fails_the_hash(copy):
    path = copy / "t10k-images-idx3-ubyte.gz"
    payload = bytearray(gzip.decompress(path.read_bytes()))
    payload[5000] ^= 0xFF  # one flipped pixel, still a valid gzip of the right size
    path.write_bytes(gzip.compress(bytes(payload)))
    with pytest.raises(FashionMNISTError, match="t10k-images-idx3-ubyte.gz.*SHA-256 mismatch"):
        load_fashion_mnist(copy)


def test_recompressed_original_is_accepted(copy):
    path = copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    assert load_fashion_mnist(copy)[0][1].shape == (60000,)


def test_search_order_debian_before_keras_cache(copy, nowhere, monkeypatch):
    cache = data.keras_cache_dir()
    shutil.copytree(copy, cache)
    assert find_files() == cache
    monkeypatch.setattr(data, "DEBIAN_DIR", copy)
    assert find_files() == copy


def test_downloads_into_the_keras_cache_last(copy, nowhere, monkeypatch):
    monkeypatch.setattr(data, "DOWNLOAD_URL", copy.as_uri() + "/")  # a local "server"
    assert find_files() == data.keras_cache_dir()
    assert load_fashion_mnist()[1][0].shape == (10000, 28, 28)


def test_failed_download_is_a_clear_error(nowhere, monkeypatch):
    monkeypatch.setattr(data, "DOWNLOAD_URL", (nowhere / "no-server").as_uri() + "/")
    with pytest.raises(FashionMNISTError, match="could not be downloaded.*dataset-fashion-mnist"):
        load_fashion_mnist()
