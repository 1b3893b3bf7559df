"""The otter-grader autograder generated from the nbgrader source, with the real CLIs.

``otter assign`` builds the student notebook and the Gradescope zip once per module;
``nbgrader generate_assignment`` builds the nbgrader release they are compared with.
The parity of the two tools' scores, cell by cell, is tested on the submissions of
``test_nbgrader_e2e.py`` and of the cheat corpus, which both tools grade.
"""

import ast
import csv
import json
import os
import re
import uuid
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest
import yaml
from nbclient import NotebookClient

from tests.support.edits import edit
from vae_anomaly.config import GRADING_EPOCHS, ROOT, SOURCE
from vae_anomaly.course import folder, notebooks, otter_grade, otter_master

NAME = SOURCE.name
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


@pytest.fixture(scope="module")
def source():
    return nbformat.read(SOURCE, as_version=4)


@pytest.fixture(scope="module")
def student(otter_dist):
    return nbformat.read(otter_dist / "student" / NAME, as_version=4)


@pytest.fixture(scope="module")
def ag_zip(otter_dist):
    return otter_dist / "autograder" / "autograder.zip"


@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory):
    """A copy of the nbgrader course with its release (real ``generate_assignment``)."""
    root = tmp_path_factory.mktemp("nbgrader")
    folder.make_course(root)
    return root


def public_code(test_file: str) -> list[str]:
    """The code strings that the test cases of an exception-based otter test file run."""
    return [node.value.value for node in ast.walk(ast.parse(test_file))
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "code"]


def strings(value) -> list[str]:
    """Every string in a JSON value (cell sources, outputs, metadata)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


# --- structure -----------------------------------------------------------------------

def test_one_question_per_autograded_cell_with_nbgrader_points(source, ag_zip):
    assert otter_grade.questions(ag_zip) == notebooks.autograded_points()
    with zipfile.ZipFile(ag_zip) as zf:
        for grade_id in notebooks.autograded_points():
            test = zf.read(f"tests/{grade_id}.py").decode()
            assert "all_or_nothing = True" in test, "nbgrader scores a test cell all or nothing"
            assert len(public_code(test)) == 2  # public (released) and hidden (source) cases


def test_manual_cells_are_manual_questions_and_not_autograded(source, otter_dist, ag_zip):
    master = nbformat.read(otter_dist / "master" / NAME, as_version=4)
    configs = [yaml.safe_load(c.source) for c in master.cells
               if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    manual = {c["name"]: c["points"] for c in configs if c.get("manual")}
    graded = otter_master.graded_cells(source)
    assert manual == {k: v["points"] for k, v in graded.items() if v["kind"] in ("manual", "task")}
    assert not set(manual) & set(otter_grade.questions(ag_zip))


def test_student_notebook_is_the_nbgrader_release(student, nbgrader_course):
    """Apart from otter's own cells (init, checks, export), the same cells, in order."""
    release = folder.release_notebook(nbgrader_course)
    comment = re.compile(r"<!-- (BEGIN|END) QUESTION -->\n*")

    def kept(cell):
        return not (cell.metadata.get(otter_master.ORIGIN_KEY, {}).get("inserted")
                    or "grader." in cell.source or "Initialize Otter" in cell.source
                    or not comment.sub("", cell.source).strip()
                    or cell.source.startswith("## Submission"))

    ours = [(c.cell_type, comment.sub("", c.source)) for c in student.cells if kept(c)]
    theirs = [(c.cell_type, c.source) for c in release.cells
              if not (notebooks.meta(c).get("grade") and c.cell_type == "code"
                      and not notebooks.meta(c).get("solution"))]
    assert ours == theirs


def test_public_tests_are_the_released_test_cells(student, nbgrader_course):
    """``grader.check`` runs exactly the visible nbgrader test, so its messages are the same."""
    release = folder.release_notebook(nbgrader_course)
    visible = {notebooks.meta(c)["grade_id"]: c.source for c in release.cells
               if notebooks.meta(c).get("grade") and c.cell_type == "code"
               and not notebooks.meta(c).get("solution")}
    tests = student.metadata["otter"]["tests"]
    assert {name: public_code(test) for name, test in tests.items()} == \
        {name: [code] for name, code in visible.items()}
    checks = [c.source for c in student.cells if c.source.startswith("grader.check(")]
    assert checks == [f'grader.check("{name}")' for name in visible]


def test_no_hidden_test_reaches_a_student_file(source, otter_dist, ag_zip):
    hidden = [line.strip() for cell in source.cells for block in HIDDEN.findall(cell.source)
              for line in block.splitlines() if line.strip()
              and not line.startswith(("from ", "import ", "reference = "))]
    assert hidden, "the source has hidden tests"
    for file in (otter_dist / "student").rglob("*"):
        if file.suffix == ".ipynb":
            text = "\n".join(strings(json.loads(file.read_text())))
            leaked = [line for line in hidden if line in text or repr(line)[1:-1] in text]
            assert not leaked, f"hidden test code in {file}: {leaked}"
            assert "HIDDEN TESTS" not in text
    with zipfile.ZipFile(ag_zip) as zf:  # they are in the autograder, where they belong
        tests = "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/"))
    assert all(repr(line)[1:-1] in tests for line in hidden)


def test_gradescope_zip_has_what_hidden_tests_import(ag_zip):
    with zipfile.ZipFile(ag_zip) as zf:
        names = set(zf.namelist())
        environment = yaml.safe_load(zf.read("environment.yml"))
        run_autograder = zf.read("run_autograder").decode()
    assert {"files/vae_anomaly/measure/grading.py", "files/vae_anomaly/data.py",
            "files/results/calibration.json"} <= names
    pins = set((ROOT / "requirements.txt").read_text().splitlines())
    (pip,) = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert {"tensorflow-cpu", "keras", "seaborn", "scikit-learn"} <= \
        {re.split(r"[=;]", p)[0] for p in pip}
    assert set(pip[1:]) <= pins, "Gradescope pins differ from requirements.txt"
    assert f'export VAE_EPOCHS="${{VAE_EPOCHS:-{GRADING_EPOCHS}}}"' in run_autograder


# --- grading a folder ----------------------------------------------------------------

def write(where: Path, name: str, nb) -> None:
    where.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        (where / name).write_text(nb)
    else:
        nbformat.write(nb, where / name)


def read_csv(path: Path) -> dict[str, dict]:
    with open(path) as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_bad_submissions_get_a_row_and_the_batch_goes_on(tmp_path, student, ag_zip,
                                                         nbgrader_course):
    where = tmp_path / "submissions"
    write(where, "a_broken.ipynb", '{"cells": [{"cell_type": "code", "sou')
    write(where, "b_no_cells.ipynb", json.dumps({"metadata": {}, "nbformat": 4,
                                                  "nbformat_minor": 5, "cells": []}))
    write(where, "c_untouched.ipynb", student)  # every answer raises NotImplementedError
    task1 = folder.submission(folder.release_notebook(nbgrader_course), {"task1"})
    write(where, "d_task1.ipynb", otter_master.transplant(task1, student))
    otter_grade.main([str(where), "--autograder", str(ag_zip), "--out",
                      str(tmp_path / "grades.csv")])
    rows = read_csv(tmp_path / "grades.csv")
    assert list(rows) == ["a_broken.ipynb", "b_no_cells.ipynb", "c_untouched.ipynb",
                          "d_task1.ipynb"]
    assert "not JSON" in rows["a_broken.ipynb"]["message"]
    assert "no cells" in rows["b_no_cells.ipynb"]["message"]
    assert "is not defined" in rows["c_untouched.ipynb"]["message"]  # the first failure
    for name in ("a_broken.ipynb", "b_no_cells.ipynb", "c_untouched.ipynb"):
        assert float(rows[name]["total"]) == 0
    task1_points = sum(p for g, p in notebooks.autograded_points().items() if g.startswith("task1"))
    assert float(rows["d_task1.ipynb"]["total"]) == task1_points


@pytest.mark.slow
def test_a_submission_that_never_finishes_is_stopped(tmp_path, student, ag_zip, monkeypatch):
    loop = otter_master.transplant(nbformat.v4.new_notebook(), student)
    loop.cells.insert(1, nbformat.v4.new_code_cell("while True:\n    pass"))
    write(tmp_path, "loop.ipynb", loop)
    mark = f"stopped-{uuid.uuid4().hex}"  # in every process this grading starts (and no other)
    monkeypatch.setenv("VAE_TEST_GRADING", mark)
    result = otter_grade.grade(tmp_path / "loop.ipynb", ag_zip, GRADING_EPOCHS, timeout=20)
    assert result.scores == {} and "stopped after 20 s" in result.message
    assert result.seconds < 60, "the kernel outlived otter and kept the grader waiting"
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get("VAE_TEST_GRADING") == mark:
                left.append(proc.info["cmdline"])
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    assert not left, f"processes of this grading still running: {left}"


# --- grader.check in the student's notebook --------------------------------------------

def run(nb, where: Path):
    """Execute a notebook as a student would (errors allowed), in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, where / NAME)  # otter.Notebook reads its tests from this file
    NotebookClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(where)}}).execute()
    return nb


@pytest.mark.slow
def test_grader_check_gives_the_visible_nbgrader_messages(tmp_path, student, nbgrader_course):
    """Unscaled pixels (a planted bug) and no Task 2: nbgrader's visible test cells and
    otter's ``grader.check`` report the same errors, cell by cell."""
    buggy = edit(folder.submission(folder.release_notebook(nbgrader_course), {"task1"}),
                        " / 255", "")
    theirs = run(buggy, tmp_path / "nbgrader")
    errors = {notebooks.meta(c)["grade_id"]: [f"{o.ename}: {o.evalue}" for o in c.outputs
                                                    if o.output_type == "error"]
              for c in theirs.cells if notebooks.meta(c).get("grade")
              and c.cell_type == "code" and not notebooks.meta(c).get("solution")}
    ours = run(otter_master.transplant(buggy, student), tmp_path / "otter")
    checks = {re.search(r'grader.check\("(.+)"\)', c.source).group(1):
              "".join(o.get("data", {}).get("text/plain", "") for o in c.outputs)
              for c in ours.cells if c.source.startswith("grader.check(")}
    assert set(checks) == set(errors)
    assert errors["task1_split_scaling"][0].startswith("AssertionError: ")  # the planted bug
    for grade_id, error in errors.items():
        if error:
            assert error[0] in checks[grade_id], grade_id
        else:
            assert "All test cases passed" in checks[grade_id], grade_id
