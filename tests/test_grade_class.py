"""Grading a class in parallel gives what serial ``nbgrader autograde`` gives (slow: ~5 min).

The same submissions (a weak model, a planted bug, a file that is not JSON) are graded in
two copies of the course: serially by one ``nbgrader autograde``, and in parallel by
``grade_class`` on a real multi-process Dask cluster on localhost (a ``dask scheduler``
process and two ``dask worker`` processes). Every per-cell score, the feedback and the
export must agree.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.support.edits import edit
from vae_anomaly.config import ASSIGNMENT, GRADING_EPOCHS
from vae_anomaly.course import cluster, folder, grade_class, notebooks, otter_grade

pytestmark = pytest.mark.slow

# The grading budget. The weak model (the reference trained on a few images, in seconds)
# passes every test but the detector's, whatever its (unseeded) training; the planted bug
# (no training asked for: Keras still runs one epoch) on the same few images.
EPOCHS = GRADING_EPOCHS
WEAK = ("vae.fit(x_train,", "vae.fit(x_train[:512],")
DETECTOR = ("task4_auc_not_inverted", "task4_auc_threshold")
STUDENTS = ("weak", "bug_untrained", "bad_json")
TIMESTAMP = "2026-01-15 09:30:00.000000 UTC"


def hand_in_all(root: Path) -> None:
    release = folder.release_notebook(root)
    reference = folder.submission(release)
    folder.hand_in(root, "weak", edit(reference, *WEAK))
    path = folder.hand_in(root, "bug_untrained", edit(edit(reference, *WEAK), "epochs=EPOCHS",
                                                      "epochs=0"))
    (path.parent / "timestamp.txt").write_text(TIMESTAMP)  # as `nbgrader collect` leaves it
    folder.hand_in(root, "bad_json", nbformat.writes(reference)[:3000])


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A ``dask scheduler`` and two ``dask worker`` processes on localhost; its address."""
    tmp = tmp_path_factory.mktemp("dask")
    dask = str(Path(sys.executable).with_name("dask"))
    file = tmp / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)],
                              cwd=tmp, env=folder.tool_env())]
    try:
        for _ in range(600):
            if file.is_file() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers",
                                    "1", "--no-dashboard", "--memory-limit", "0"],
                                   cwd=tmp, env=folder.tool_env()) for _ in range(2)]
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(30)


@pytest.fixture(scope="module")
def courses(tmp_path_factory, dask_cluster):
    serial, parallel = (tmp_path_factory.mktemp(n) for n in ("serial", "parallel"))
    for root in (serial, parallel):
        folder.make_course(root)
        hand_in_all(root)
    logs = {"serial": folder.autograde(serial, epochs=EPOCHS, env=cluster.kernel_env())}
    with cluster.client(scheduler=dask_cluster) as client:
        client.wait_for_workers(2, timeout=120)
        workers = len(client.scheduler_info()["workers"])
        results = grade_class.grade_class(parallel, client, epochs=EPOCHS, progress=False)
        rerun = grade_class.grade_class(parallel, client, epochs=EPOCHS, progress=False)
    for name, root in (("serial", serial), ("parallel", parallel)):
        logs[f"{name}_feedback"] = folder.nbgrader("generate_feedback", ASSIGNMENT, "--force",
                                                   cwd=root)
        logs[f"{name}_export"] = folder.nbgrader("export", cwd=root)
    return {"serial": serial, "parallel": parallel, "results": results, "rerun": rerun,
            "workers": workers, "logs": logs}


def test_the_cluster_has_two_worker_processes(courses):
    assert courses["workers"] == 2


def test_parallel_gives_the_serial_per_cell_scores(courses):
    assert courses["logs"]["serial"].returncode == 1  # bad_json fails in both
    for student in STUDENTS:
        serial = folder.scores(courses["serial"], student)
        assert serial and folder.scores(courses["parallel"], student) == serial, student
    # the grading is real: the planted bug loses the points of its test
    points = notebooks.autograded_points()
    assert folder.scores(courses["parallel"], "weak") == {**points, **dict.fromkeys(DETECTOR, 0)}
    assert folder.scores(courses["parallel"], "bug_untrained")["task2_loss_decreases"] == 0


def test_gradebook_rows_agree(courses):
    from nbgrader.api import Gradebook

    def rows(root):
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            out = {}
            for student in STUDENTS:
                nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
                out[student] = ({g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades},
                                {c.name: c.auto_comment for c in nb.comments}, nb.flagged,
                                nb.needs_manual_grade, nb.late_submission_penalty,
                                gb.find_submission(ASSIGNMENT, student).timestamp)
            return out

    parallel = rows(courses["parallel"])
    assert parallel == rows(courses["serial"])
    assert parallel["bug_untrained"][-1] is not None  # the submission's timestamp, kept


def test_outcomes_and_logs_are_recorded(courses):
    root, results = courses["parallel"], courses["results"]
    assert {s: r.status for s, r in results.items()} == {
        "weak": "graded", "bug_untrained": "graded", "bad_json": "failed"}
    assert "Notebook does not appear to be JSON" in results["bad_json"].reason
    for student in STUDENTS:
        info = json.loads((root / grade_class.LOGS / f"{student}.json").read_text())
        assert info["status"] == results[student].status and info["attempts"] == 1
        assert "autograde" in (root / grade_class.LOGS / f"{student}.log").read_text().lower()
    assert not (root / "autograded" / "bad_json").exists()  # as nbgrader leaves it


def test_a_rerun_skips_what_is_graded(courses):
    assert courses["rerun"] == {}


def test_feedback_and_export_work_as_after_a_serial_autograde(courses):
    logs = courses["logs"]
    assert logs["parallel_feedback"].returncode == logs["serial_feedback"].returncode
    assert logs["parallel_export"].returncode == logs["serial_export"].returncode == 0
    for student in ("weak", "bug_untrained"):
        html = [(courses[n] / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html")
                .read_text() for n in ("serial", "parallel")]
        score = [re.search(r"Score: [\d.]+ / [\d.]+", h).group(0) for h in html]
        assert score[0] == score[1]

    def export(root):
        with open(root / "grades.csv") as f:
            return sorted(csv.DictReader(f), key=lambda r: r["student_id"])

    assert export(courses["parallel"]) == export(courses["serial"])


def test_a_submission_past_its_timeout_is_retried_once_and_recorded(tmp_path, dask_cluster):
    folder.make_course(tmp_path)
    folder.hand_in(tmp_path, "slow", folder.release_notebook(tmp_path))
    with cluster.client(scheduler=dask_cluster) as client:
        results = grade_class.grade_class(tmp_path, client, epochs=2, timeout=1,
                                          progress=False)
    assert results["slow"].status == "timeout"
    info = json.loads((tmp_path / grade_class.LOGS / "slow.json").read_text())
    assert info["status"] == "timeout" and info["attempts"] == 2
    assert not (tmp_path / "autograded" / "slow").exists()
    # not merged, so not skipped: the next run grades it
    assert "slow" in grade_class.pending(tmp_path, force=False)


def test_otter_folder_in_parallel_writes_the_serial_csv(tmp_path):
    """The otter folder grader on a local cluster: one row per notebook, in the serial
    order, with the same scores and reasons (notebooks otter cannot grade: no training)."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "a_not_json.ipynb").write_text("{ not json")
    (submissions / "b_no_cells.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))
    autograder = tmp_path / "autograder.zip"  # the questions are all the CSV reads of it
    with zipfile.ZipFile(autograder, "w") as zf:
        zf.writestr("tests/q1.py", "OK_FORMAT = True\nname = 'q1'\npoints = 2\n")

    def rows(out, *parallel):
        otter_grade.main([str(submissions), "--autograder", str(autograder), "--out", str(out),
                          *parallel])
        with open(out) as f:
            return [{k: v for k, v in row.items() if k != "seconds"}
                    for row in csv.DictReader(f)]

    serial = rows(tmp_path / "serial.csv")
    assert [r["submission"] for r in serial] == ["a_not_json.ipynb", "b_no_cells.ipynb"]
    assert rows(tmp_path / "parallel.csv", "--workers", "2") == serial
