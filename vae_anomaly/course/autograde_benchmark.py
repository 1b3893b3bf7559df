"""Benchmark: seconds for ``nbgrader autograde`` of one submission, and the sandbox's cost.

``python -m vae_anomaly.course.autograde_benchmark [--rounds N]`` sets up a temporary copy
of the course and, N times in alternation so that a noisy machine hits both alike, grades
the reference solution with the sandbox and without it (``VAE_SANDBOX=off``), then grades a
convolutional design (``designs/conv_learned_sigma``) with it, all at the grading budget.
It prints and stores in ``results/autograde_benchmark.json`` the seconds per submission
(nbgrader's start-up included), the sandbox's cost as a ratio measured in the same run
(target ≤ 1.10) and the scores.

It also stores, under ``profile``, where the seconds of one sandboxed submission go (the
reference's median round, and the convolutional design), taken from those same runs:
``TimedExecute``, nbgrader's ``Execute`` that also notes when it started the kernel and
when each printed line arrived (the kernel's own timestamp), stands in for ``Execute`` in
the temporary course; each cell's seconds are nbclient's timestamps in the autograded
notebook; each epoch runs from the kernel's ``Epoch k/N`` line to its end-of-epoch line.
``fit`` is the epochs; everything else has a target share of the reference's seconds
(``NON_FIT_TARGET``), reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient.client import timestamp
from nbgrader.preprocessors import Execute
from traitlets import Unicode

from ..config import GRADING_EPOCHS, RESULTS, SANDBOX_ENV
from ..measure import grading
from . import designs, folder, notebooks

BUDGET_SECONDS = 90  # the target for one submission on 2 cores
SANDBOX_TARGET = 1.10  # the target for the sandbox's cost, as a ratio
NON_FIT_TARGET = 0.30  # the target for the share of the reference's seconds outside fit
CONV_DESIGN = "conv_learned_sigma"
OUTPUT = RESULTS / "autograde_benchmark.json"
DETECTOR_CELLS = ("task4_auc_not_inverted", "task4_auc_threshold")  # measured in the first
EPOCH_BEGINS = re.compile(r"^Epoch (\d+)/\d+", re.M)  # Keras prints it as an epoch begins
# the last "422/422 ... 5s" of an epoch ends it (verbose=2: one line; verbose=1: the bar's
# final state, after its updates), with Keras's whole seconds
EPOCH_DONE = re.compile(r"(?:^|\r) *(\d+)/\1\b\D*?\b(\d+)s\b", re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# the line the checks print once they have measured a model before its first fit
BEFORE_FIT = re.compile(re.escape(grading.BEFORE_TRAINING) + r".*\(([\d.]+) s\)")


class TimedExecute(Execute):
    """nbgrader's ``Execute``, noting the times (``time.time()``) at which it started,
    launched the kernel, found it ready and finished, and each printed line's time, into
    ``record_file`` (JSON)."""

    record_file = Unicode("").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.record = {"execute_start": time.time(), "streams": []}
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.record["execute_end"] = time.time()
            Path(self.record_file).write_text(json.dumps(self.record))

    def start_new_kernel(self, **kwargs):
        super().start_new_kernel(**kwargs)
        self.record["kernel_launched"] = time.time()

    def start_new_kernel_client(self):
        client = super().start_new_kernel_client()
        self.record["kernel_ready"] = time.time()
        return client

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            self.record["streams"].append({"cell": cell_index, "at": timestamp(msg),
                                           "text": msg["content"]["text"]})
        return super().output(outs, msg, display_id, cell_index)


def record_timing(root: Path) -> Path:
    """Make the course at ``root`` execute with ``TimedExecute``; the file it records in."""
    record = root / "execute_timing.json"
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"""
# autograde_benchmark: the same execution, timed
from vae_anomaly.course.autograde_benchmark import TimedExecute  # noqa: E402
c.Autograde.autograde_preprocessors = [TimedExecute if p is Execute else p
                                       for p in c.Autograde.autograde_preprocessors]
c.TimedExecute.record_file = {str(record)!r}
""")
    return record


def seconds_since(start: float, iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() - start


def epoch_seconds(streams: list[dict], start: float) -> list[tuple[float, int]]:
    """(seconds, Keras's own whole seconds) of each epoch, from the training cell's printed
    lines: from an epoch's ``Epoch k/N`` to its last ``422/422``."""
    begins, ends, epoch = {}, {}, None
    for line in streams:
        at, text = seconds_since(start, line["at"]), ANSI.sub("", line["text"])
        for found in sorted([*EPOCH_BEGINS.finditer(text), *EPOCH_DONE.finditer(text)],
                            key=lambda found: found.start()):
            if found.re is EPOCH_BEGINS:
                epoch = int(found[1])
                begins[epoch] = at
            elif epoch is not None:
                ends[epoch] = (at, int(found[2]))
    return [(ends[k][0] - begins[k], ends[k][1]) for k in sorted(begins) if k in ends]


def profile(notebook: Path, record: dict, launched: float, ended: float) -> dict:
    """Where the seconds of one ``nbgrader autograde`` (from ``launched`` to ``ended``)
    went: the phases, in order, summing to ``seconds``; how the start splits; each cell's
    seconds by grade id (busy to idle); each epoch's; and fit's share of the whole."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [(i, c) for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and "iopub.status.busy" in c.metadata.get("execution", {})]
    spans = {i: (seconds_since(launched, c.metadata.execution["iopub.status.busy"]),
                 seconds_since(launched, c.metadata.execution["iopub.status.idle"]))
             for i, c in cells}
    names = {i: notebooks.grade_id(c) or f"cell {i}" for i, c in cells}
    first, last = spans[cells[0][0]][0], spans[cells[-1][0]][1]
    start, launch, ready, end = (record[key] - launched for key in (
        "execute_start", "kernel_launched", "kernel_ready", "execute_end"))
    training = next(i for i, name in names.items() if name == designs.TRAINING_CELL)
    epochs = epoch_seconds([s for s in record["streams"] if s["cell"] == training], launched)
    phases = {"nbgrader start-up": start,
              "kernel start: sandbox, Python, the guard (Keras, the grader's data)": first - start}
    for i, cell in cells:
        seconds, name, kind = spans[i][1] - spans[i][0], names[i], notebooks.kind(cell)
        if name == "setup":
            group = "imports cell"
        elif i == training:
            phases.update({f"epoch {k}": epoch for k, (epoch, _) in enumerate(epochs, 1)})
            before = sum(float(m[1]) for s in record["streams"] if s["cell"] == training
                         for m in BEFORE_FIT.finditer(ANSI.sub("", s["text"])))
            phases["detector before the first fit"] = before
            seconds -= sum(epoch for epoch, _ in epochs) + before
            group = "training cell besides the epochs (fit's set-up, the guard, the plot)"
        elif name in DETECTOR_CELLS:
            group = "detector: measured once, two checks"
        elif kind in ("test", "answer"):
            task = notebooks.task_of(name).removeprefix("task")
            group = f"Task {task} " + ("checks" if kind == "test" else "answer cells")
        else:
            group = "figure cells (hand-graded)"
        phases[group] = phases.get(group, 0.0) + seconds
    phases["between cells (nbclient)"] = (last - first) - sum(b - a for a, b in spans.values())
    phases["kernel shutdown"] = end - last
    phases["nbgrader after execution: records, gradebook, files"] = ended - launched - end
    total, fit = ended - launched, sum(epoch for epoch, _ in epochs)
    return {"seconds": round(total, 2), "fit_seconds": round(fit, 2),
            "fit_share": round(fit / total, 3), "non_fit_share": round(1 - fit / total, 3),
            "epoch_seconds": [round(epoch, 2) for epoch, _ in epochs],
            "keras_epoch_seconds": [keras for _, keras in epochs],
            "start": {"nbgrader": round(start, 2), "sandbox_and_launch": round(launch - start, 2),
                      "kernel_until_ready": round(ready - launch, 2),
                      "until_first_cell": round(first - ready, 2)},
            "phases": {name: round(seconds, 2) for name, seconds in phases.items()},
            "cells": {names[i]: round(b - a, 2) for i, (a, b) in spans.items()}}


def design_submission(release, name: str):
    nb = folder.submission(release)
    answers = designs.load(name).answers
    for cell in nb.cells:
        grade_id = notebooks.grade_id(cell)
        if grade_id in answers and notebooks.kind(cell) == "answer":
            cell.source = answers[grade_id]
    return nb


def timed(root: Path, student: str, sandbox: bool, record: Path) -> tuple[float, float, dict]:
    """Seconds to autograde one student, the autograded score, and the run's profile."""
    record.unlink(missing_ok=True)  # a run that records nothing fails below, not silently
    launched, start = time.time(), time.perf_counter()
    done = folder.autograde(root, student, env={SANDBOX_ENV: "on" if sandbox else "off"})
    seconds, ended = time.perf_counter() - start, time.time()
    if done.returncode:
        raise SystemExit(f"autograde failed:\n{done.stderr[-3000:]}")
    run = profile(folder.notebook_path(root, "autograded", student),
                  json.loads(record.read_text()), launched, ended)
    return seconds, sum(folder.scores(root, student).values()), run


def benchmark(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder.make_course(root)
        record = record_timing(root)
        release = folder.release_notebook(root)
        folder.hand_in(root, "reference", folder.submission(release))
        folder.hand_in(root, "conv", design_submission(release, CONV_DESIGN))
        on, off, scores, profiles = [], [], set(), []
        for _ in range(rounds):
            for sandbox, times in ((True, on), (False, off)):
                seconds, score, run = timed(root, "reference", sandbox, record)
                times.append(seconds)
                scores.add(score)
                if sandbox:
                    profiles.append(run)
        conv_seconds, conv_score, conv_profile = timed(root, "conv", True, record)
    load = os.getloadavg()[0]
    median = on.index(statistics.median_low(on))  # a round that ran, not an average
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
            "reference_scores": sorted(scores), "conv_score": conv_score,
            "non_fit_target": NON_FIT_TARGET,
            "profile": {"reference": {"round": median + 1, **profiles[median]},
                        "conv": conv_profile}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result = benchmark(args.rounds)
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"autograde: reference {result['seconds_per_submission']} s, conv "
          f"{result['conv_seconds_per_submission']} s per submission (budget "
          f"{BUDGET_SECONDS} s, {result['cpu_count']} CPUs, load {result['load_average_at_end']}); "
          f"sandbox cost x{result['sandbox_ratio']} (target <= {SANDBOX_TARGET}); scores "
          f"{result['reference_scores']} and {result['conv_score']} of "
          f"{result['autograded_points']}")
    for name, run in result["profile"].items():
        phases = ", ".join(f"{phase} {seconds}" for phase, seconds in run["phases"].items())
        print(f"{name}: fit {run['fit_seconds']} s of {run['seconds']} s, the rest "
              f"{run['non_fit_share']:.0%} ({phases})")


if __name__ == "__main__":
    main()
