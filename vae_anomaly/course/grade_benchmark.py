"""Benchmark: submissions per minute of ``grade_class`` with 1 and 2 workers, in one run.

``python -m vae_anomaly.course.grade_benchmark [--epochs N] [--submissions K]`` hands in the
reference K times in a temporary copy of the course and grades them all with the real
``nbgrader autograde`` on a local Dask cluster of 1 worker, then of 2 workers. It stores
the rates, their ratio (target >= 1.6), the per-worker rate and the projected time for a
class of 300 on 16 cores (16 // GRADING_THREADS workers; target <= 30 min) in
``results/grade_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ..config import GRADING_EPOCHS, GRADING_THREADS, RESULTS
from . import cluster, folder, grade_class

OUTPUT = RESULTS / "grade_benchmark.json"
TARGET_RATIO = 1.6  # speed-up of 2 workers over 1
CLASS, CORES, TARGET_MINUTES = 300, 16, 30  # the projection: 300 submissions on 16 cores


def rate(root: Path, workers: int, epochs: int) -> tuple[float, list[str]]:
    """Submissions per minute of a forced regrade of the whole course on ``workers``."""
    with cluster.client(workers) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter()
        results = grade_class.grade_class(root, client, epochs, force=True, progress=False)
        minutes = (time.perf_counter() - start) / 60
    return len(results) / minutes, sorted({r.status for r in results.values()})


def benchmark(epochs: int, submissions: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder.make_course(root)
        reference = folder.submission(folder.release_notebook(root))
        for i in range(submissions):
            folder.hand_in(root, f"reference{i}", reference)
        load = os.getloadavg()[0]
        one, status1 = rate(root, 1, epochs)
        two, status2 = rate(root, 2, epochs)
        scores = [sum(folder.scores(root, f"reference{i}").values())
                  for i in range(submissions)]
    per_worker = two / 2
    workers16 = CORES // GRADING_THREADS
    return {"command": f"python -m vae_anomaly.course.grade_benchmark --epochs {epochs} "
                       f"--submissions {submissions}",
            "epochs": epochs, "submissions": submissions, "cpu_count": os.cpu_count(),
            "load_average_before": round(load, 2), "grading_threads": GRADING_THREADS,
            "per_minute_1_worker": round(one, 2), "per_minute_2_workers": round(two, 2),
            "ratio": round(two / one, 2), "target_ratio": TARGET_RATIO,
            "per_worker_per_minute": round(per_worker, 2),
            "projected_minutes": round(CLASS / (per_worker * workers16), 1),
            "projection": f"{CLASS} submissions on {CORES} cores ({workers16} workers)",
            "target_minutes": TARGET_MINUTES, "statuses": sorted(set(status1 + status2)),
            "scores": scores}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=GRADING_EPOCHS)
    parser.add_argument("--submissions", type=int, default=4)
    args = parser.parse_args(argv)
    result = benchmark(args.epochs, args.submissions)
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
