"""Benchmark: seconds for ``nbgrader autograde`` of one submission, and the sandbox's cost.

``python -m vae_anomaly.course.autograde_benchmark [--rounds N]`` sets up a temporary copy
of the course and, N times in alternation so that a noisy machine hits both alike, grades
the reference solution with the sandbox and without it (``VAE_SANDBOX=off``), then grades a
convolutional design (``designs/conv_learned_sigma``) with it, all at the grading budget.
It prints and stores in ``results/autograde_benchmark.json`` the seconds per submission
(nbgrader's start-up included), the sandbox's cost as a ratio measured in the same run
(target ≤ 1.10) and the scores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from ..config import GRADING_EPOCHS, RESULTS, SANDBOX_ENV
from . import designs, folder, notebooks

BUDGET_SECONDS = 90  # the target for one submission on 2 cores
SANDBOX_TARGET = 1.10  # the target for the sandbox's cost, as a ratio
CONV_DESIGN = "conv_learned_sigma"
OUTPUT = RESULTS / "autograde_benchmark.json"


def design_submission(release, name: str):
    nb = folder.submission(release)
    answers = designs.load(name).answers
    for cell in nb.cells:
        grade_id = notebooks.grade_id(cell)
        if grade_id in answers and notebooks.kind(cell) == "answer":
            cell.source = answers[grade_id]
    return nb


def timed(root: Path, student: str, sandbox: bool) -> tuple[float, float]:
    """Seconds to autograde one student, and the autograded score."""
    start = time.perf_counter()
    done = folder.autograde(root, student, env={SANDBOX_ENV: "on" if sandbox else "off"})
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"autograde failed:\n{done.stderr[-3000:]}")
    return seconds, sum(folder.scores(root, student).values())


def benchmark(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder.make_course(root)
        release = folder.release_notebook(root)
        folder.hand_in(root, "reference", folder.submission(release))
        folder.hand_in(root, "conv", design_submission(release, CONV_DESIGN))
        on, off, scores = [], [], set()
        for _ in range(rounds):
            for sandbox, times in ((True, on), (False, off)):
                seconds, score = timed(root, "reference", sandbox)
                times.append(seconds)
                scores.add(score)
        conv_seconds, conv_score = timed(root, "conv", True)
    load = os.getloadavg()[0]
    return {"command": f"python -m vae_anomaly.course.autograde_benchmark --rounds {rounds}",
            "epochs": GRADING_EPOCHS, "rounds": rounds, "cpu_count": os.cpu_count(),
            "load_average_at_end": round(load, 2),
            "reference_seconds_sandboxed": [round(s, 1) for s in on],
            "reference_seconds_unsandboxed": [round(s, 1) for s in off],
            "seconds_per_submission": round(statistics.median(on), 1),
            "sandbox_ratio": round(statistics.median(on) / statistics.median(off), 3),
            "sandbox_target": SANDBOX_TARGET,
            "conv_design": CONV_DESIGN, "conv_seconds_per_submission": round(conv_seconds, 1),
            "budget_seconds": BUDGET_SECONDS,
            "autograded_points": sum(notebooks.autograded_points().values()),
            "reference_scores": sorted(scores), "conv_score": conv_score}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    result = benchmark(args.rounds)
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"autograde: reference {result['seconds_per_submission']} s, conv "
          f"{result['conv_seconds_per_submission']} s per submission (budget "
          f"{BUDGET_SECONDS} s, {result['cpu_count']} CPUs, load {result['load_average_at_end']}); "
          f"sandbox cost x{result['sandbox_ratio']} (target <= {SANDBOX_TARGET}); scores "
          f"{result['reference_scores']} and {result['conv_score']} of "
          f"{result['autograded_points']}")


if __name__ == "__main__":
    main()
