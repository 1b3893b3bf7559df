"""Shared fixtures: the real data set and the otter autograder, each built once; the test
files in the order `make test` hands them to its workers (longest first)."""

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


# `make test` runs files side by side (pytest-xdist, one file per worker at a time, in this
# order): the longest start first, so that no worker is left with a long file at the end.
# The order follows the durations every run prints (``--durations``); a file not named here
# comes after these, in its usual order.
LONGEST_FIRST = ("test_cheats", "test_nbgrader_e2e", "test_week",
                 "test_book", "test_grade_class", "test_student_install", "test_otter",
                 "test_sandbox", "test_lab_run", "test_model", "test_groups", "test_similarity")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: order kept
