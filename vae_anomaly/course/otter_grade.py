"""Grade a folder of submissions with ``otter run`` (no Docker) into one CSV.

``python -m vae_anomaly.course.otter_grade SUBMISSIONS --autograder ZIP --out grades.csv``
runs ``otter run -a ZIP`` on every ``*.ipynb`` in SUBMISSIONS, one at a time, with
``VAE_EPOCHS`` set to the grading budget, and writes one row per submission: the
score of every autograded question (named by its nbgrader ``grade_id``), the total,
and a message. A notebook that is not JSON, has no cells, raises, loops forever or
crashes otter still gets its row (zero where due, with the reason) and the next one
is graded. ``--executed DIR`` keeps each notebook as otter ran it (``otter run -p``: its
outputs, every figure included) in ``DIR/<submission>.ipynb``, for the hand grader.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..config import EPOCHS_ENV, GRADING_EPOCHS, OTTER_ZIP
from . import processes


@dataclass
class Result:
    """One submission's otter scores."""

    submission: str
    scores: dict[str, float] = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0
    notebook: nbformat.NotebookNode | None = None  # as otter ran it (figures included)


def questions(autograder: Path) -> dict[str, float]:
    """Question name -> points of the autograded questions in an otter autograder zip."""
    found = {}
    with zipfile.ZipFile(autograder) as zf:
        for name in sorted(zf.namelist()):
            if re.fullmatch(r"tests/[^/]+\.py", name):
                text = zf.read(name).decode()
                points = re.search(r"^points = (.+)$", text, re.M).group(1)
                found[Path(name).stem] = float(points)
    return found


def check_notebook(path: Path) -> str:
    """Why otter cannot grade ``path`` as a notebook, or "" when it can."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not a valid notebook: the file is not JSON ({err})"
    if not isinstance(raw, dict) or not raw.get("cells"):
        return "not a valid notebook: it has no cells"
    try:
        nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as err:  # nbformat raises several types for malformed notebooks
        return f"not a valid notebook: {err}"
    return ""


def otter_run(submission: Path, autograder: Path, epochs: int, timeout: float) -> Result:
    """``otter run`` one submission in its own process group; never raises."""
    result = Result(submission.name)
    start = time.perf_counter()
    env = {**os.environ, EPOCHS_ENV: str(epochs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    otter = str(Path(sys.executable).with_name("otter"))
    with tempfile.TemporaryDirectory() as out:
        command = [otter, "run", "--no-logo", "-p", "-a", str(autograder.resolve()), "-o", out,
                   str(submission.resolve())]
        code, log = processes.run(command, timeout, env=env, cwd=out)  # otter and its kernel
        if code is None:
            result.message = f"grading stopped after {timeout:.0f} s (a cell never finished)"
            result.seconds = time.perf_counter() - start
            return result
        results = Path(out) / "results.json"
        result.notebook = executed(Path(out) / "results.pkl")
        failed = []
        if results.is_file():
            report = json.loads(results.read_text())
            if "flagged for review" in report.get("output", ""):  # vae_anomaly.decide.otter_plugin
                result.message = report["output"].strip()
            for test in report["tests"]:
                if "max_score" in test:
                    result.scores[test["name"]] = float(test["score"])
                    if test["score"] < test["max_score"]:
                        failed.append(f"{test['name']}: {test['output'].splitlines()[-1].strip()}")
                elif test.get("name") == "Autograder Error":
                    result.message = test["output"].splitlines()[-1]
        if failed and not result.message:  # the first failure says most
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            result.message = f"failed {failed[0]}{more}"
        if code and not result.message:
            lines = [line for line in log.splitlines() if line.strip()]
            result.message = "otter run failed: " + (lines[-1] if lines else "no output")
    result.seconds = time.perf_counter() - start
    return result


def executed(pickled: Path) -> nbformat.NotebookNode | None:
    """The executed notebook of ``otter run -p``'s GradingResults (written by otter's own
    process, outside the sandboxed kernel), or None."""
    if not pickled.is_file():
        return None
    import dill

    try:
        with pickled.open("rb") as f:
            nb = dill.load(f).notebook
    except Exception:  # no notebook is not a grading failure
        return None
    return nbformat.from_dict(nb) if nb else None


def grade(submission: Path, autograder: Path, epochs: int, timeout: float) -> Result:
    """Scores of one submission (all zero, with the reason, when it cannot be graded)."""
    problem = check_notebook(submission)
    if problem:
        return Result(submission.name, message=problem)
    return otter_run(submission, autograder, epochs, timeout)


def write_csv(results: list[Result], points: dict[str, float], path: Path) -> None:
    """One row per submission; a question otter did not report scores zero."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *points, "total", "possible", "seconds", "message"])
        for r in results:
            row = [r.scores.get(q, 0.0) for q in points]
            writer.writerow([r.submission, *row, sum(row), sum(points.values()),
                             f"{r.seconds:.1f}", r.message])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder of .ipynb submissions")
    parser.add_argument("--autograder", type=Path, default=OTTER_ZIP)
    parser.add_argument("--out", type=Path, default=Path("otter_grades.csv"))
    parser.add_argument("--epochs", type=int, default=None,
                        help="VAE_EPOCHS when grading (default: nbgrader's grading budget)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds one submission may take (default 900)")
    parser.add_argument("--executed", type=Path, default=None,
                        help="keep each notebook as otter ran it (figures included) here")
    parser.add_argument("--workers", type=int, default=None,
                        help="grade in parallel on a local Dask cluster of this many workers")
    parser.add_argument("--scheduler", default=None,
                        help="grade in parallel on an existing Dask cluster (tcp://host:8786)")
    args = parser.parse_args(argv)
    args.epochs = args.epochs or GRADING_EPOCHS
    points = questions(args.autograder)
    files = sorted(args.submissions.glob("*.ipynb"))
    if not files:
        parser.error(f"no .ipynb files in {args.submissions}")
    if args.workers or args.scheduler:  # one Dask task per notebook, rows in the same order
        from . import cluster, grade_class

        with cluster.client(args.workers, args.scheduler) as client:
            graded = grade_class.grade_otter(files, args.autograder, args.epochs,
                                             args.timeout, client)
    else:
        graded = (grade(file, args.autograder, args.epochs, args.timeout) for file in files)
    results = []
    if args.executed:
        args.executed.mkdir(parents=True, exist_ok=True)
    for file, result in zip(files, graded, strict=True):
        results.append(result)
        if args.executed and result.notebook:
            nbformat.write(result.notebook, args.executed / file.name)
        total = sum(result.scores.get(q, 0.0) for q in points)
        print(f"{file.name}: {total:g}/{sum(points.values()):g} in {result.seconds:.0f} s"
              + (f" ({result.message})" if result.message else ""), flush=True)
    write_csv(results, points, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
