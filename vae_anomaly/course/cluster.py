"""The Dask cluster that grades a class: a ``LocalCluster`` sized to this machine, or an
existing cluster named by its scheduler's address.

Each grading task runs one ``nbgrader autograde`` (or ``otter run``) whose kernel trains
with ``GRADING_THREADS`` TensorFlow threads, so a machine with C cores runs
C // GRADING_THREADS single-threaded workers: the kernels never oversubscribe the cores.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ..config import GRADING_THREADS


def default_workers() -> int:
    """Workers for this machine: workers x TensorFlow threads <= cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // GRADING_THREADS)


def kernel_env() -> dict[str, str]:
    """Thread caps for a grading kernel's TensorFlow and BLAS, the same on every worker."""
    threads = str(GRADING_THREADS)
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads,
            "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
def client(workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """A ``distributed.Client``: on ``scheduler`` when given, else on a new local cluster
    of ``workers`` single-threaded worker processes (default: sized to this machine).

    A local cluster lets a task fail on no worker death of its own (``allowed-failures``
    0): the grader records the death and retries the submission once itself.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as c:
            yield c
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.worker.daemon": False}):
        with LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                          processes=True, dashboard_address=None,
                          memory_limit=0) as cluster, Client(cluster) as c:
            yield c
