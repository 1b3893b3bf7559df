"""Calibrate the assignment's AUC pass marks on the reference solution.

``python -m vae_anomaly.course.calibrate`` runs the code of the solution notebook (built from the
source notebook) once per seed at the grading epoch budget, each run in a fresh process,
and the same code with the training cell skipped (an untrained model) for a few seeds.
It writes the distributions and the pass marks, observed minimum minus a fixed margin,
to ``results/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from io import StringIO

import numpy as np

from .. import grading
from ..config import CALIBRATION, EPOCHS_ENV, GRADING_EPOCHS, ROOT, SOURCE
from .notebooks import solution_notebook

MARGIN = 0.02  # pass mark = lowest reference AUC over the seeds - MARGIN
TRAINING_CELLS = ("task2-training-answer", "task2-loss-decreases")
OUTPUT = CALIBRATION


def run_once(seed: int, epochs: int, train: bool) -> dict:
    """Execute the solution's code cells in this process; return its areas under the curve."""
    import matplotlib

    matplotlib.use("Agg")
    import keras
    import nbformat

    os.environ[EPOCHS_ENV] = str(epochs)
    keras.utils.set_random_seed(seed)
    nb = solution_notebook(nbformat.read(SOURCE, as_version=4))
    namespace, failed, start = {}, [], time.perf_counter()
    for cell in nb.cells:
        if cell.cell_type != "code" or (not train and cell.id in TRAINING_CELLS):
            continue
        try:
            with redirect_stdout(StringIO()):
                exec(compile(cell.source, cell.id, "exec"), namespace)
        except Exception as err:  # noqa: BLE001 (recorded, like a failing notebook cell)
            failed.append(f"{cell.id}: {type(err).__name__}: {err}")
    areas = grading.aucs(namespace["elbo_normal"], namespace["elbo_anomaly"])
    return {"seed": seed, "epochs": epochs if train else 0, **areas,
            "reported_roc_auc": float(namespace["roc_auc"]),
            "reported_pr_auc": float(namespace["pr_auc"]),
            "failed_cells": failed, "seconds": round(time.perf_counter() - start, 1)}


def run_in_child(seed: int, epochs: int, train: bool) -> dict:
    """``run_once`` in a fresh Python process (no TensorFlow state carried over)."""
    command = [sys.executable, "-m", "vae_anomaly.course.calibrate", "--one", str(seed),
               "--epochs", str(epochs)] + ([] if train else ["--untrained"])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def summary(values) -> dict:
    values = np.asarray(values)
    return {"min": float(values.min()), "max": float(values.max()),
            "mean": float(values.mean()), "std": float(values.std(ddof=1))}


def calibrate(seeds: int, epochs: int, untrained_seeds: int) -> dict:
    """Run the reference over ``seeds`` seeds and the untrained model; derive the pass marks."""
    runs = [run_in_child(seed, epochs, train=True) for seed in range(seeds)]
    untrained = [run_in_child(seed, epochs, train=False) for seed in range(untrained_seeds)]
    marks = {key: round(min(r[key] for r in runs) - MARGIN, 3) for key in ("roc_auc", "pr_auc")}
    for key, mark in marks.items():
        best_untrained = max(r[key] for r in untrained)
        if mark <= best_untrained:
            raise SystemExit(f"{key} pass mark {mark} does not reject the untrained model "
                             f"({best_untrained:.3f}): train longer when grading")
    return {
        "command": f"python -m vae_anomaly.course.calibrate --seeds {seeds} --epochs {epochs}",
        "epochs": epochs, "seeds": seeds, "margin": MARGIN,
        "rule": "threshold = lowest AUC of the reference over the seeds - margin",
        "thresholds": marks,
        "reference": {"roc_auc": summary([r["roc_auc"] for r in runs]),
                      "pr_auc": summary([r["pr_auc"] for r in runs]),
                      "seconds": summary([r["seconds"] for r in runs]),
                      "runs": runs},
        "untrained": {"roc_auc": summary([r["roc_auc"] for r in untrained]),
                      "pr_auc": summary([r["pr_auc"] for r in untrained]),
                      "runs": untrained},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=GRADING_EPOCHS)
    parser.add_argument("--untrained-seeds", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--untrained", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_once(args.one, args.epochs, train=not args.untrained)))
        return
    result = calibrate(args.seeds, args.epochs, args.untrained_seeds)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"thresholds {result['thresholds']}; wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
