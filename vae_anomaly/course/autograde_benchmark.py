"""Benchmark: seconds for ``nbgrader autograde`` of one reference submission.

``python -m vae_anomaly.course.autograde_benchmark [--epochs N] [--submissions K]`` sets up a
temporary copy of the course, hands in the reference solution K times and autogrades
them at the grading budget; it prints the wall-clock seconds per submission (nbgrader's
start-up included) and the score, and stores them in ``results/autograde_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ..config import GRADING_EPOCHS, RESULTS
from . import folder, notebooks

BUDGET_SECONDS = 90  # the target for one submission on 2 cores
OUTPUT = RESULTS / "autograde_benchmark.json"


def benchmark(epochs: int, submissions: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder.make_course(root)
        reference = folder.submission(folder.release_notebook(root))
        students = [f"reference{i}" for i in range(submissions)]
        for student in students:
            folder.hand_in(root, student, reference)
        start = time.perf_counter()
        done = folder.autograde(root, "reference*", epochs=epochs)
        seconds = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"autograde failed:\n{done.stderr[-3000:]}")
        points = sum(notebooks.autograded_points().values())
        got = [sum(folder.scores(root, s).values()) for s in students]
    return {"command": f"python -m vae_anomaly.course.autograde_benchmark --epochs {epochs} "
                       f"--submissions {submissions}",
            "epochs": epochs, "submissions": submissions, "cpu_count": os.cpu_count(),
            "seconds_per_submission": round(seconds / submissions, 1),
            "budget_seconds": BUDGET_SECONDS, "autograded_points": points, "scores": got}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=GRADING_EPOCHS)
    parser.add_argument("--submissions", type=int, default=1)
    args = parser.parse_args(argv)
    result = benchmark(args.epochs, args.submissions)
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"autograde seconds per submission: {result['seconds_per_submission']} "
          f"(VAE_EPOCHS={args.epochs}, {result['cpu_count']} CPUs, budget "
          f"{BUDGET_SECONDS} s); reference scores {result['scores']} of "
          f"{result['autograded_points']} autograded points")


if __name__ == "__main__":
    main()
