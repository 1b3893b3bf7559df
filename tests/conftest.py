"""Shared fixtures: the real data set, loaded once."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from vae_anomaly.data import anomaly_split  # noqa: E402


@pytest.fixture(scope="session")
def split():
    return anomaly_split()
