"""Shared fixtures: the real data set and the otter autograder, each built once."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from vae_anomaly.config import GRADING_EPOCHS, ROOT, SOURCE  # noqa: E402
from vae_anomaly.data import anomaly_split  # noqa: E402


@pytest.fixture(scope="session")
def split():
    return anomaly_split()


@pytest.fixture(scope="session")
def otter_dist(tmp_path_factory):
    """``make autograder``'s build, into a temporary folder (a clean clone has none)."""
    from vae_anomaly.course import otter_master

    dist = tmp_path_factory.mktemp("otter") / "dist"
    otter_master.build(SOURCE, ROOT / "autograder", dist, GRADING_EPOCHS, root=ROOT)
    return dist
