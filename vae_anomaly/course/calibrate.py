"""Calibrate the detector test's marks over a family of designs (folder ``designs/``).

``python -m vae_anomaly.course.calibrate`` (``make calibrate``) runs every design of
``designs/`` — the correct ones and the pitfalls — over several seeds at the grading
budget, each run in a fresh process with the grading kernel's settings (one TensorFlow
thread, deterministic ops, the setup cell's seed replaced by the run's). A run executes
the notebook's code cells with the design's answers (not the figures graded by hand) and
measures the detector the way the hidden test does (``grading.detector_aucs``). Runs are
stored one file each in
``results/calibration/`` as they finish, so a stopped sweep resumes where it was; the
marks derived from all of them go to ``results/calibration.json``:

* ``not_inverted``: ROC AUC ≥ 0.5 + ``NOT_INVERTED_MARGIN``: a detector that ranks the
  anomaly above normal images (the Bernoulli pitfall ranks it below);
* ``calibrated``: ROC and PR AUC ≥ the lowest of any correct design on any seed, minus
  ``MARGIN``: every correct design measured passes;
* ``flag_above``: a ROC AUC above the best correct run plus ``FLAG_MARGIN`` is flagged for
  review (a detector that has seen trousers, which the ELBO of a VAE trained without
  them does not reach at this budget).

The sweep fails loudly when the marks cannot separate the designs (a pitfall above the
not-inverted mark).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
from tqdm import tqdm

from ..config import CALIBRATION, EPOCHS_ENV, GRADING_EPOCHS, GRADING_THREADS, RESULTS, ROOT, SOURCE
from ..measure import grading
from . import designs, notebooks

MARGIN = 0.02  # calibrated marks = lowest AUC of a correct design - MARGIN
NOT_INVERTED_MARGIN = 0.05  # not-inverted mark: ROC AUC 0.5 + this
FLAG_MARGIN = 0.05  # flagged above the best correct ROC AUC + this
RUNS = RESULTS / "calibration"
OUTPUT = CALIBRATION


def thread_env() -> dict:
    """The grading kernel's TensorFlow threads, set before TensorFlow starts."""
    return {"TF_NUM_INTRAOP_THREADS": str(GRADING_THREADS),
            "TF_NUM_INTEROP_THREADS": str(GRADING_THREADS)}


def run_once(name: str, seed: int, epochs: int) -> dict:
    """Execute the notebook with design ``name`` in this process; measure its detector."""
    os.environ.update(thread_env())
    import matplotlib

    matplotlib.use("Agg")
    import keras

    os.environ[EPOCHS_ENV] = str(epochs)
    design = designs.load(name)
    namespace, failed, start = {}, [], time.perf_counter()
    for cell in notebooks.read(SOURCE).cells:
        cell_id = notebooks.grade_id(cell)
        if cell.cell_type != "code" or notebooks.kind(cell) in ("test", "manual"):
            continue  # the figures graded by hand do not change the detector
        code = design.answers.get(cell_id, notebooks.strip_markers(cell.source))
        try:
            with redirect_stdout(StringIO()):
                exec(compile(code, cell_id or "cell", "exec"), namespace)
        except Exception as err:  # noqa: BLE001 (recorded, like a failing notebook cell)
            failed.append(f"{cell_id}: {type(err).__name__}: {err}")
        if cell_id == "setup":
            keras.utils.set_random_seed(seed)
    seconds = time.perf_counter() - start
    measured = grading.detector_aucs(namespace["negative_elbo"], namespace["x_test_normal"],
                                     namespace["x_test_anomaly"], namespace=namespace)
    history = namespace.get("history")
    losses = grading.training_losses(history) if history is not None else np.array([])
    return {"design": name, "kind": design.kind, "seed": seed, "budget": epochs,
            "epochs_trained": int(len(losses)), "final_loss": float(losses[-1]) if len(losses)
            else None, **measured, "failed_cells": failed, "seconds": round(seconds, 1)}


def run_file(name: str, seed: int, epochs: int):
    return RUNS / f"epochs{epochs}" / name / f"seed{seed}.json"


def run_in_child(name: str, seed: int, epochs: int) -> dict:
    """``run_once`` in a fresh Python process, stored as soon as it is done."""
    path = run_file(name, seed, epochs)
    command = [sys.executable, "-m", "vae_anomaly.course.calibrate", "--one", name,
               "--seed", str(seed), "--epochs", str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **thread_env()})
    if done.returncode:
        raise RuntimeError(f"{name} seed {seed} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def sweep(names: list[str], seeds: int, epochs: int, jobs: int,
          pitfall_seeds: int | None = None) -> list[dict]:
    """Every (design, seed) run, reusing the stored ones; ``jobs`` processes at a time
    (seed by seed, so that a stopped sweep has covered every design evenly)."""
    count = {n: seeds if designs.load(n).kind == "correct" else (pitfall_seeds or seeds)
             for n in names}
    runs = [(n, s) for s in range(seeds) for n in names if s < count[n]]
    todo = [(n, s) for n, s in runs if not run_file(n, s, epochs).exists()]
    with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(todo), desc="calibration runs") as bar:
        for _ in pool.map(lambda job: (run_in_child(*job, epochs), bar.update())[0], todo):
            pass
    return [json.loads(run_file(n, s, epochs).read_text()) for n, s in runs]


def summary(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"min": float(values.min()), "max": float(values.max()),
            "mean": float(values.mean()), "sd": float(values.std(ddof=1))}


def derive(runs: list[dict], seeds: int, pitfall_seeds: int, epochs: int) -> dict:
    """The marks from the runs, and the check that they separate correct from pitfall."""
    correct = [r for r in runs if r["kind"] == "correct"]
    inverted = [r for r in runs if r["kind"] == "pitfall" and r["epochs_trained"]]
    marks = {
        "not_inverted": {"roc_auc": 0.5 + NOT_INVERTED_MARGIN},
        "calibrated": {key: round(min(r[key] for r in correct) - MARGIN, 3)
                       for key in ("roc_auc", "pr_auc")},
        "flag_above": {"roc_auc": round(max(r["roc_auc"] for r in correct) + FLAG_MARGIN, 3)},
    }
    trouble = [f"{r['design']} seed {r['seed']}: ROC AUC {r['roc_auc']:.3f}" for r in inverted
               if r["roc_auc"] >= marks["not_inverted"]["roc_auc"]]
    if trouble:
        raise SystemExit("trained pitfalls reach the not-inverted mark: " + "; ".join(trouble))
    by_design = {}
    for r in runs:
        by_design.setdefault(r["design"], []).append(r)
    return {
        "command": "python -m vae_anomaly.course.calibrate "
                   f"--seeds {seeds} --pitfall-seeds {pitfall_seeds} --epochs {epochs}",
        "pitfall_seeds": pitfall_seeds,
        "epochs": epochs, "seeds": seeds, "margin": MARGIN,
        "not_inverted_margin": NOT_INVERTED_MARGIN, "flag_margin": FLAG_MARGIN,
        "rule": "calibrated = lowest AUC of a correct design on any seed - margin; "
                "not inverted = ROC AUC 0.5 + not_inverted_margin; "
                "flagged above the best correct ROC AUC + flag_margin",
        "marks": marks,
        "correct": {key: summary([r[key] for r in correct]) for key in ("roc_auc", "pr_auc")},
        "designs": {name: {"kind": rs[0]["kind"], "about": designs.load(name).about,
                           "roc_auc": summary([r["roc_auc"] for r in rs]),
                           "pr_auc": summary([r["pr_auc"] for r in rs]),
                           "seconds": summary([r["seconds"] for r in rs])}
                    for name, rs in by_design.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=GRADING_EPOCHS)
    parser.add_argument("--pitfall-seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (1 thread each)")
    parser.add_argument("--designs", nargs="*", help="only these (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_once(args.one, args.seed, args.epochs)))
        return
    family = designs.names("correct") + designs.names("pitfall")
    runs = sweep(args.designs or family, args.seeds, args.epochs, args.jobs,
                 args.pitfall_seeds)
    if args.designs:
        return
    result = derive(runs, args.seeds, args.pitfall_seeds, args.epochs)
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"marks {result['marks']}; wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
