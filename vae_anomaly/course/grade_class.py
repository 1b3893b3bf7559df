"""Grade a whole class in parallel with the real ``nbgrader autograde``, into the course's
gradebook.

``python -m vae_anomaly.course.grade_class [COURSE] [--workers N | --scheduler ADDRESS]``
grades every ``COURSE/submitted/<student>/anomaly_vae/`` on a Dask cluster. Each task runs
``nbgrader autograde`` for one student in its own temporary course: the course's own
``nbgrader_config.py`` (so its kernel and sandbox), its ``source_assignments/`` and a
snapshot of its ``gradebook.db``. The task sends back what autograde wrote (scores,
comments, late penalty, flag, timestamp, the autograded files, the log); the main process, the
only writer, puts it into ``COURSE/gradebook.db`` and ``COURSE/autograded/`` exactly where
``nbgrader autograde`` would have, so formgrader, ``generate_feedback`` and ``export`` work
as after a plain autograde.

Never loses work: each result is merged as it arrives and recorded in
``COURSE/autograded_logs/<student>.json`` beside its log; a rerun skips a submission whose
files are unchanged since it was graded (``--force`` regrades all). A submission whose
worker died or that ran past ``--timeout`` is retried once, then recorded with its reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import ASSIGNMENT, EPOCHS_ENV, GRADING_EPOCHS
from . import cluster, folder, otter_grade, processes, similarity

LOGS = "autograded_logs"  # per-submission logs and records, in the course folder
DONE = ("graded", "failed")  # final outcomes: nbgrader finished (failed: it said why)


@dataclass
class Course:
    """What every task needs from the course: config, source and a gradebook snapshot."""

    config: bytes
    source: dict[str, bytes]
    gradebook: bytes


@dataclass
class Graded:
    """One student's autograde, as a worker saw it."""

    student: str
    status: str = "lost"  # graded | failed (nbgrader exited non-zero) | timeout | lost
    reason: str = ""
    seconds: float = 0.0
    worker: str = ""
    log: str = ""
    timestamp: str | None = None
    grades: dict[str, list] = field(default_factory=dict)  # "nb/cell" -> [auto, needs_manual]
    comments: dict[str, str | None] = field(default_factory=dict)  # "nb/cell" -> auto_comment
    penalties: dict[str, float | None] = field(default_factory=dict)  # nb -> late penalty
    flagged: dict[str, bool] = field(default_factory=dict)  # nb -> flagged for review
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # autograded: data, mode


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_tree(root: Path, files: dict) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, tuple):
            data, mode = data
            path.write_bytes(data)
            os.chmod(path, mode)
        else:
            path.write_bytes(data)


def snapshot(db: Path) -> bytes:
    """A consistent copy of a SQLite gradebook (sqlite's backup API)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "gradebook.db"
        src, dst = sqlite3.connect(db), sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return copy.read_bytes()


def load_course(root: Path) -> Course:
    source = root / "source_assignments"
    return Course((root / "nbgrader_config.py").read_bytes(),
                  read_tree(source), snapshot(root / "gradebook.db"))


def digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(files.items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def read_grades(db: Path, result: Graded) -> None:
    """What ``nbgrader autograde`` wrote for ``result.student`` into the gradebook ``db``."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            sub = gb.find_submission(ASSIGNMENT, result.student)
        except MissingEntry:
            return
        result.timestamp = sub.timestamp.isoformat() if sub.timestamp else None
        for nb in sub.notebooks:
            result.penalties[nb.name] = nb.late_submission_penalty
            result.flagged[nb.name] = bool(nb.flagged)
            for g in nb.grades:
                result.grades[f"{nb.name}/{g.name}"] = [g.auto_score, g.needs_manual_grade]
            for c in nb.comments:
                result.comments[f"{nb.name}/{c.name}"] = c.auto_comment


def why(log: str) -> str:
    """The exception that made nbgrader fail, from its log ("" when none is named)."""
    raised = [x.strip() for x in log.splitlines()
              if re.match(r"[\w.]+(Error|Exception): ", x.strip())]
    return raised[-1][:300] if raised else ""


def run_nbgrader(args: list[str], cwd: Path, env: dict, timeout: float):
    """The nbgrader CLI in its own process group, killed with its kernel on timeout;
    (return code or None on timeout, output)."""
    return processes.run([sys.executable, "-m", "nbgrader", *args], timeout, cwd=cwd,
                         env=folder.tool_env(env))


def grade_one(course: Course, student: str, files: dict[str, bytes], epochs: int,
              timeout: float, cell_timeout: int | None = None) -> Graded:
    """On a worker: ``nbgrader autograde`` of one student in a temporary course."""
    result = Graded(student, worker=os.uname().nodename)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        root = Path(tmp)
        (root / "nbgrader_config.py").write_bytes(course.config)
        (root / "gradebook.db").write_bytes(course.gradebook)
        write_tree(root / "source_assignments", course.source)
        write_tree(root / "submitted" / student / ASSIGNMENT, files)
        args = ["autograde", ASSIGNMENT, "--force", f"--student={student}"]
        if cell_timeout:
            args.append(f"--Execute.timeout={cell_timeout}")
        env = {**cluster.kernel_env(), EPOCHS_ENV: str(epochs)}
        code, result.log = run_nbgrader(args, root, env, timeout)
        result.seconds = time.perf_counter() - start
        if code is None:
            result.status, result.reason = "timeout", f"stopped after {timeout:.0f} s"
            return result
        result.status = "graded" if code == 0 else "failed"
        if code:
            result.reason = why(result.log) or f"nbgrader exited with {code}"
        read_grades(root / "gradebook.db", result)
        out = root / "autograded" / student / ASSIGNMENT
        if out.is_dir():
            result.files = {name: (data, (out / name).stat().st_mode & 0o777)
                            for name, data in read_tree(out).items()}
    return result


def merge(root: Path, result: Graded) -> None:
    """Write one student's autograde into the course (main process only)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own, on a new submission
        gb.update_or_create_student(result.student)
        kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
        gb.update_or_create_submission(ASSIGNMENT, result.student, **kwargs)
        for nb, penalty in result.penalties.items():
            gb.find_submission_notebook(nb, ASSIGNMENT, result.student) \
                .late_submission_penalty = penalty
        for nb, flagged in result.flagged.items():  # FlagInGradebook's verdict
            gb.find_submission_notebook(nb, ASSIGNMENT, result.student).flagged = flagged
        for key, (auto, needs_manual) in result.grades.items():
            nb, cell = key.split("/", 1)
            grade = gb.find_grade(cell, nb, ASSIGNMENT, result.student)
            grade.auto_score, grade.needs_manual_grade = auto, needs_manual
        for key, comment in result.comments.items():
            nb, cell = key.split("/", 1)
            gb.find_comment(cell, nb, ASSIGNMENT, result.student).auto_comment = comment
        gb.db.commit()
    out = root / "autograded" / result.student / ASSIGNMENT
    if out.exists():
        shutil.rmtree(out)
    if result.files:
        write_tree(out, result.files)


def record(root: Path, result: Graded, sha: str, attempts: int) -> None:
    logs = root / LOGS
    logs.mkdir(exist_ok=True)
    (logs / f"{result.student}.log").write_text(result.log)
    info = {k: v for k, v in asdict(result).items() if k in (
        "student", "status", "reason", "worker")}
    info.update(seconds=round(result.seconds, 1), attempts=attempts, digest=sha)
    (logs / f"{result.student}.json").write_text(json.dumps(info, indent=1) + "\n")


def pending(root: Path, force: bool) -> dict[str, tuple[dict[str, bytes], str]]:
    """student -> (submitted files, digest) of the submissions still to grade."""
    todo = {}
    for path in sorted((root / "submitted").glob(f"*/{ASSIGNMENT}")):
        files = read_tree(path)
        sha = digest(files)
        rec = root / LOGS / f"{path.parent.name}.json"
        if not force and rec.is_file():
            info = json.loads(rec.read_text())
            if info.get("status") in DONE and info.get("digest") == sha:
                continue
        todo[path.parent.name] = (files, sha)
    return todo


def grade_class(root: Path, client, epochs: int = GRADING_EPOCHS, timeout: float = 900,
                force: bool = False, cell_timeout: int | None = None,
                progress: bool = True) -> dict[str, Graded]:
    """Grade every pending submission of the course at ``root`` on ``client``'s cluster;
    merge each result as it arrives. Returns student -> result (the last attempt's)."""
    from distributed import as_completed
    from tqdm import tqdm

    root = root.resolve()
    if not (root / "gradebook.db").is_file():
        raise SystemExit(f"no gradebook in {root}: run `nbgrader generate_assignment "
                         f"{ASSIGNMENT}` there first")
    todo = pending(root, force)
    course = client.scatter(load_course(root), broadcast=True)

    def submit(student: str, attempt: int):
        return client.submit(grade_one, course, student, todo[student][0], epochs, timeout,
                             cell_timeout, key=f"grade-{student}-{attempt}-{time.time_ns()}",
                             pure=False)

    futures = {submit(s, 1): (s, 1) for s in todo}
    done: dict[str, Graded] = {}
    bar = tqdm(total=len(todo), unit="submission", disable=not progress)
    queue = as_completed(futures)
    for future in queue:
        student, attempt = futures.pop(future)
        try:
            result = future.result()
        except Exception as err:  # the worker died (KilledWorker) or the task broke
            result = Graded(student, "lost", f"{type(err).__name__}: {err}"[:300])
        if result.status not in DONE and attempt == 1:
            retry = submit(student, 2)
            futures[retry] = (student, 2)
            queue.add(retry)
            record(root, result, todo[student][1], attempt)
            continue
        if result.status in DONE:
            try:
                merge(root, result)
            except Exception as err:  # recorded; the batch goes on
                result.status, result.reason = "unmerged", f"{type(err).__name__}: {err}"
        record(root, result, todo[student][1], attempt)
        done[student] = result
        bar.update()
        bar.set_postfix_str(f"{student}: {result.status}")
    bar.close()
    return done


def otter_one(name: str, notebook: bytes, autograder: bytes, epochs: int,
              timeout: float) -> otter_grade.Result:
    """On a worker: ``otter run`` of one notebook (sent as bytes, with the autograder)."""
    with tempfile.TemporaryDirectory(prefix="otter-") as tmp:
        path, zip_path = Path(tmp) / name, Path(tmp) / "autograder.zip"
        path.write_bytes(notebook)
        zip_path.write_bytes(autograder)
        return otter_grade.grade(path, zip_path, epochs, timeout)


def grade_otter(files: list[Path], autograder: Path, epochs: int, timeout: float, client,
                progress: bool = True) -> list[otter_grade.Result]:
    """Every otter notebook in ``files`` on ``client``'s cluster, results in their order; a
    notebook whose worker died or that timed out is retried once, then scored zero with
    the reason."""
    from distributed import wait
    from tqdm import tqdm

    zip_bytes = client.scatter(autograder.read_bytes(), broadcast=True)

    def submit(file: Path):
        return client.submit(otter_one, file.name, file.read_bytes(), zip_bytes, epochs,
                             timeout, pure=False)

    futures = [submit(f) for f in files]
    with tqdm(total=len(files), unit="submission", disable=not progress) as bar:
        for future in futures:
            future.add_done_callback(lambda _: bar.update())
        wait(futures)
    results = []
    for file, future in zip(files, futures, strict=True):
        for attempt in (1, 2):  # a dead worker or a timeout: once more, then a zero row
            try:
                result = future.result()
            except Exception as err:
                result = otter_grade.Result(
                    file.name, message=f"not graded: {type(err).__name__}: {err}"[:300])
            if attempt == 2 or not (result.message.startswith(("not graded",
                                                               "grading stopped"))):
                break
            future = submit(file)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, nargs="?", default=Path("."),
                        help="the nbgrader course folder (default: here)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: cores // GRADING_THREADS)")
    parser.add_argument("--scheduler", default=None,
                        help="address of an existing Dask scheduler (tcp://host:8786)")
    parser.add_argument("--epochs", type=int, default=GRADING_EPOCHS,
                        help=f"{EPOCHS_ENV} when grading (default: the grading budget)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds one submission may take (default 900)")
    parser.add_argument("--cell-timeout", type=int, default=None,
                        help="Execute.timeout of one cell (default: nbgrader_config.py's)")
    parser.add_argument("--force", action="store_true", help="regrade graded submissions")
    args = parser.parse_args(argv)
    with cluster.client(args.workers, args.scheduler) as c:
        results = grade_class(args.course, c, args.epochs, args.timeout, args.force,
                              args.cell_timeout)
    bad = {s: r for s, r in results.items() if r.status != "graded"}
    print(f"this run: {len(results) - len(bad)} of {len(results)} submissions graded "
          f"(unchanged ones graded before are skipped; --force regrades them); logs in "
          f"{args.course / LOGS}")
    for student, r in sorted(bad.items()):
        print(f"  {student}: {r.status}: {r.reason}")
    try:  # a report that cannot be made never hides the grading summary above
        print("\n".join(similarity.summary(args.course)))
    except (Exception, SystemExit) as err:
        print(f"similarity: not compared: {type(err).__name__}: {err}")


if __name__ == "__main__":
    main()
