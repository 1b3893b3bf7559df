"""Calibrate the detector test: its budget and its marks, over a family of designs
(folder ``designs/``).

``python -m vae_anomaly.course.calibrate`` (``make calibrate``) runs every design of
``designs/`` — the correct ones and the pitfalls — over several seeds, each run in a fresh
process with the grading kernel's settings (one TensorFlow thread, the setup cell's seed
replaced by the run's). A run executes the notebook's code cells with the design's answers
(not the figures graded by hand), trains each model up to the largest budget compared, and
measures the detector the way the hidden test does (``grading.detector_aucs``) before the
first ``fit`` (the model built but untrained) and after the last epoch of each budget (the
model the grader would see at that budget). Runs are stored one file each in
``results/calibration/`` as they finish, so a stopped sweep resumes where it was; what is
derived from all of them goes to ``results/calibration.json``:

* per budget, the **separation** of two ways to mark a detector (``separation``): the
  ``learned`` tier the grader uses (ROC AUC above any untrained model's, and a gain over the
  same model before its first ``fit``) and an ``absolute`` ROC AUC mark, the evidence for the
  other; runs that collapsed; and the CPU seconds of training at that budget;
* the **budget** chosen: separation first, cost second (the cheapest budget that separates,
  else the one that comes closest);
* ``not_inverted``: ROC AUC ≥ 0.5 + ``NOT_INVERTED_MARGIN``: a detector that ranks the
  anomaly above normal images (the Bernoulli pitfall ranks it below);
* ``flag_above``: a ROC AUC above the best correct run plus ``FLAG_MARGIN`` is flagged for
  review (a detector that has seen trousers, which the ELBO of a VAE trained without
  them does not reach at this budget).

The sweep fails loudly when a trained pitfall reaches the not-inverted mark; where no budget
separates by ``MARGIN``, the file says so and how close each came. ``--converged`` trains
the reference until its early stopping ends it: the solution page's converged run
(``make converged``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
from tqdm import tqdm

from ..config import (
    CALIBRATION,
    CONVERGED_EPOCHS,
    EPOCHS_ENV,
    GRADING_SEED,
    GRADING_THREADS,
    RESULTS,
    ROOT,
    SOURCE,
)
from ..measure import grading
from . import designs, notebooks

MARGIN = 0.02  # the least distance of the calibrated mark from either side
NOT_INVERTED_MARGIN = 0.05  # not-inverted mark: ROC AUC 0.5 + this
FLAG_MARGIN = 0.05  # flagged above the best correct ROC AUC + this
RUNS = RESULTS / "calibration"
OUTPUT = CALIBRATION
BUDGETS = [4, 6, 8, 10]  # the grading budgets compared (epochs)
AREAS = ("roc_auc", "pr_auc")  # what each run measures of a detector


def thread_env() -> dict:
    """The grading kernel's TensorFlow threads, set before TensorFlow starts."""
    return {"TF_NUM_INTRAOP_THREADS": str(GRADING_THREADS),
            "TF_NUM_INTEROP_THREADS": str(GRADING_THREADS)}


def run_once(name: str, seed: int, budgets: list[int]) -> dict:
    """Execute the notebook with design ``name`` in this process, training each model up to
    the largest of ``budgets``; measure the detector the way the hidden test does before
    the first ``fit`` (the same model untrained) and after each budget's last epoch."""
    os.environ.update(thread_env())
    import matplotlib

    matplotlib.use("Agg")
    import keras

    os.environ[EPOCHS_ENV] = str(max(budgets))
    design = designs.load(name)
    namespace, failed, start = {}, [], time.perf_counter()
    at, untrained, fit_cpu = {}, {}, [0.0]

    def measure() -> dict:
        return grading.detector_aucs(namespace["negative_elbo"], namespace["x_test_normal"],
                                     namespace["x_test_anomaly"], namespace=namespace)

    class Checkpoints(keras.callbacks.Callback):
        """The areas after each budget's last epoch; the CPU seconds of the epochs."""

        def __init__(self):
            super().__init__()
            self.logs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            fit_cpu[0] += time.process_time() - self.began
            self.logs.append(dict(logs or {}))
            done = len(self.logs)
            if done in budgets:
                losses = grading.training_losses({k: [log.get(k) for log in self.logs]
                                                  for k in self.logs[0]})
                at[done] = {**measure(), "losses": losses.tolist(),
                            "fit_cpu_seconds": round(fit_cpu[0], 1)}

    original = keras.Model.fit

    def fit(self, *args, callbacks=None, **kwargs):
        if not untrained:  # the grader's own measure as a model's first fit starts
            untrained.update(grading.before_training(namespace) or {})
        callbacks = [*(callbacks or []), Checkpoints()]
        return original(self, *args, callbacks=callbacks, **kwargs)

    keras.Model.fit = fit
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
    final = None
    history = namespace.get("history")
    losses = grading.training_losses(history) if history is not None else np.array([])
    for budget in budgets:  # a run that stopped early (or never trained) ends as it is
        if budget not in at:
            final = final or {**measure(), "losses": losses.tolist(),
                              "fit_cpu_seconds": round(fit_cpu[0], 1)}
            at[budget] = final
    return {"design": name, "kind": design.kind, "seed": seed, "budgets": budgets,
            "untrained": untrained or None, "at": {str(b): at[b] for b in budgets},
            "epochs_trained": int(len(losses)), "failed_cells": failed,
            "seconds": round(time.perf_counter() - start, 1)}


def run_file(name: str, seed: int, budgets: list[int]):
    return RUNS / ("budgets" + "-".join(map(str, budgets))) / name / f"seed{seed}.json"


def run_in_child(name: str, seed: int, budgets: list[int]) -> dict:
    """``run_once`` in a fresh Python process, stored as soon as it is done."""
    path = run_file(name, seed, budgets)
    command = [sys.executable, "-m", "vae_anomaly.course.calibrate", "--one", name,
               "--seed", str(seed), "--budgets", *map(str, budgets)]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **thread_env()})
    if done.returncode:
        raise RuntimeError(f"{name} seed {seed} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def sweep(names: list[str], seeds: int, budgets: list[int], jobs: int,
          pitfall_seeds: int | None = None) -> list[dict]:
    """Every (design, seed) run, reusing the stored ones; ``jobs`` processes at a time
    (seed by seed, so that a stopped sweep has covered every design evenly)."""
    count = {n: seeds if designs.load(n).kind == "correct" else (pitfall_seeds or seeds)
             for n in names}
    runs = [(n, s) for s in range(seeds) for n in names if s < count[n]]
    todo = [(n, s) for n, s in runs if not run_file(n, s, budgets).exists()]
    with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(todo), desc="calibration runs") as bar:
        for _ in pool.map(lambda job: (run_in_child(*job, budgets), bar.update())[0], todo):
            pass
    return [json.loads(run_file(n, s, budgets).read_text()) for n, s in runs]


def summary(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"min": float(values.min()), "max": float(values.max()),
            "mean": float(values.mean()), "sd": float(values.std(ddof=1))}


def ceil3(value: float) -> float:
    """``value`` rounded up to 3 decimals (a mark never closer to what it must stay above)."""
    return math.ceil(round(value * 1000, 6)) / 1000


def stalled(run: dict, key: str) -> bool:
    """A run that did not learn a detector at budget ``key`` (``grading.stalled``, the
    collapse the grader's message names): reported, not marked."""
    at = run["at"][key]
    return bool(run["untrained"]) and grading.stalled(
        at["roc_auc"], run["untrained"]["roc_auc"], at["losses"])


def separation(runs: list[dict], budget: int) -> dict:
    """Two ways to mark the detector at one budget, and how far each sits from either side.

    * ``learned`` (the one graded): ROC AUC at least the most any untrained model reached
      (every run's model before its first ``fit``, and the ``untrained`` design), and a gain
      over the same model before its first ``fit`` of at least the best pitfall's gain plus
      ``MARGIN`` (a model never trained gains nothing). A pitfall must miss one of the two by
      ``MARGIN``; a correct design must pass both by ``MARGIN``.
    * ``absolute`` (the evidence for the other): ROC AUC at least the best pitfall, trained
      or untrained, plus ``MARGIN``; a correct design must pass it by ``MARGIN``.

    The pitfalls are the Bernoulli and continuous-Bernoulli decoders trained for ``budget``
    epochs and the ``untrained`` design. A correct design's run that collapsed (``stalled``)
    is listed apart."""
    key = str(budget)
    roc = {id(r): r["at"][key]["roc_auc"] for r in runs}
    collapsed = [r for r in runs if r["kind"] == "correct" and stalled(r, key)]
    correct = [r for r in runs if r["kind"] == "correct" and r not in collapsed]
    pitfalls = [r for r in runs if r["kind"] == "pitfall"]
    untrained = ([r["untrained"]["roc_auc"] for r in runs if r["untrained"]]
                 + [roc[id(r)] for r in runs if not r["epochs_trained"]])

    def gain(r) -> float:
        return roc[id(r)] - r["untrained"]["roc_auc"] if r["untrained"] else 0.0

    floor = ceil3(max(untrained))
    least_gain = ceil3(max(gain(r) for r in pitfalls) + MARGIN)
    learned = {"mark": {"roc_auc": floor, "roc_auc_gain": least_gain},
               "correct_above_by": min(min(roc[id(r)] - floor, gain(r) - least_gain)
                                       for r in correct),
               "pitfall_below_by": min(max(floor - roc[id(r)], least_gain - gain(r))
                                       for r in pitfalls)}
    mark = ceil3(max([roc[id(r)] for r in pitfalls] + untrained) + MARGIN)
    absolute = {"mark": {"roc_auc": mark},
                "correct_above_by": min(roc[id(r)] for r in correct) - mark,
                "pitfall_below_by": mark - max([roc[id(r)] for r in pitfalls] + untrained)}
    for way in (learned, absolute):
        way["separates"] = min(way["correct_above_by"], way["pitfall_below_by"]) >= MARGIN
    fit = {}
    for r in correct:
        fit.setdefault(r["design"], []).append(r["at"][key]["fit_cpu_seconds"])
    slowest = max(fit, key=lambda name: max(fit[name]))
    return {"learned": learned, "absolute": absolute,
            "collapsed": [{"design": r["design"], "seed": r["seed"], "roc_auc": roc[id(r)],
                           "roc_auc_untrained": r["untrained"]["roc_auc"],
                           "last_loss": r["at"][key]["losses"][-1]} for r in collapsed],
            "fit_cpu_seconds": {"reference": float(np.median(fit["reference"])),
                                "slowest": {"design": slowest,
                                            "seconds": float(max(fit[slowest]))}}}


def choose(per_budget: dict) -> int:
    """The budget: separation first, cost second. The cheapest budget whose ``learned`` marks
    separate with ``MARGIN`` on both sides; where none does, the budget that comes closest
    (the largest of its two distances' smaller), which the file then shows as not separating."""
    def closest(budget: str) -> float:
        way = per_budget[budget]["learned"]
        return min(way["correct_above_by"], way["pitfall_below_by"])

    separating = [b for b, s in per_budget.items() if s["learned"]["separates"]]
    if separating:
        return int(min(separating, key=lambda b: per_budget[b]["fit_cpu_seconds"]["reference"]))
    return int(max(per_budget, key=closest))


def derive(runs: list[dict], seeds: int, pitfall_seeds: int, budgets: list[int]) -> dict:
    """The separation at every budget, the budget chosen, and its marks."""
    per_budget = {str(b): separation(runs, b) for b in budgets}
    chosen = choose(per_budget)
    key = str(chosen)
    at = [{**r, **r["at"][key]} for r in runs]
    correct = [r for r in at if r["kind"] == "correct"]
    marks = {
        "not_inverted": {"roc_auc": 0.5 + NOT_INVERTED_MARGIN},
        "calibrated": per_budget[key]["learned"]["mark"],
        "flag_above": {"roc_auc": round(max(r["roc_auc"] for r in correct) + FLAG_MARGIN, 3)},
    }
    trouble = [f"{r['design']} seed {r['seed']}: ROC AUC {r['roc_auc']:.3f}" for r in at
               if r["kind"] == "pitfall" and r["epochs_trained"]
               and r["roc_auc"] >= marks["not_inverted"]["roc_auc"]]
    if trouble:
        raise SystemExit("trained pitfalls reach the not-inverted mark: " + "; ".join(trouble))
    by_design = {}
    for r in at:
        by_design.setdefault(r["design"], []).append(r)
    # the Gaussian models untrained: each correct design before its first fit, and the
    # ``untrained`` design (a Bernoulli decoder untrained ranks otherwise, and lower)
    untrained = ([r["untrained"] for r in runs if r["untrained"] and r["kind"] == "correct"]
                 + [r["at"][str(chosen)] for r in runs if not r["epochs_trained"]])
    return {
        "command": "python -m vae_anomaly.course.calibrate --seeds "
                   f"{seeds} --pitfall-seeds {pitfall_seeds} --budgets "
                   + " ".join(map(str, budgets)),
        "budgets": budgets, "epochs": chosen, "seeds": seeds, "pitfall_seeds": pitfall_seeds,
        "margin": MARGIN, "not_inverted_margin": NOT_INVERTED_MARGIN,
        "flag_margin": FLAG_MARGIN,
        "rule": "at each budget, calibrated (learned) = ROC AUC at least the most any "
                "untrained model reached, and a gain over the same model before its first fit "
                "of at least the best pitfall's gain + margin (both rounded up); it separates "
                "when every pitfall misses one by margin and every correct design on every "
                "seed passes both by margin (a run that collapsed, ranking worse than before its "
                "first fit with its loss levelled off, is listed apart: no mark passes it "
                "without passing an untrained model); chosen: the cheapest budget that "
                "separates, else the one that comes closest; not "
                "inverted = ROC AUC 0.5 + not_inverted_margin; flagged above the best correct "
                "ROC AUC + flag_margin",
        "per_budget": per_budget,
        "marks": marks,
        "untrained": {m: summary([a[m] for a in untrained]) for m in AREAS},
        "correct": {m: summary([r[m] for r in correct]) for m in AREAS},
        "designs": {name: {"kind": rs[0]["kind"], "about": designs.load(name).about,
                           **{m: summary([r[m] for r in rs]) for m in AREAS},
                           "fit_cpu_seconds": summary([r["fit_cpu_seconds"] for r in rs])}
                    for name, rs in by_design.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=BUDGETS,
                        help="epoch budgets measured (each run trains to the largest)")
    parser.add_argument("--pitfall-seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (1 thread each)")
    parser.add_argument("--designs", nargs="*", help="only these (default: all)")
    parser.add_argument("--converged", action="store_true",
                        help="only the reference at the grading seed, trained until its early "
                             "stopping ends it (at most CONVERGED_EPOCHS): the solution page's "
                             "converged run")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_once(args.one, args.seed, sorted(args.budgets))))
        return
    if args.converged:
        path = run_file("reference", GRADING_SEED, [CONVERGED_EPOCHS])
        run = (json.loads(path.read_text()) if path.exists()
               else run_in_child("reference", GRADING_SEED, [CONVERGED_EPOCHS]))
        print(f"converged after {run['epochs_trained']} epochs; {path.relative_to(ROOT)}")
        return
    family = designs.names("correct") + designs.names("pitfall")
    runs = sweep(args.designs or family, args.seeds, sorted(args.budgets), args.jobs,
                 args.pitfall_seeds)
    if args.designs:
        return
    result = derive(runs, args.seeds, args.pitfall_seeds, sorted(args.budgets))
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"marks {result['marks']}; wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
