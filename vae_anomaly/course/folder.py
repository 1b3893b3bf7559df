"""An nbgrader course folder: the one nbgrader runner, setting a course up, handing in
submissions, autograding them and reading their scores.

The end-to-end tests, the benchmarks and the parallel grader work on copies of the course
made here, so the repository's own gradebook is never touched.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from ..config import ASSIGNMENT, EPOCHS_ENV, ROOT, SOURCE
from . import notebooks


def tool_env(extra: dict | None = None) -> dict:
    """The environment for this Python's command-line tools: nbgrader calls ``alembic``
    by name, so this environment's scripts folder goes first on PATH."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", ""),
            **(extra or {})}


def nbgrader(*args: str, cwd: Path, env: dict | None = None, check: bool = False,
             capture: bool = True) -> subprocess.CompletedProcess:
    """Run this environment's nbgrader CLI in the course folder ``cwd``."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, check=check,
                          env=tool_env(env), capture_output=capture, text=True)


def notebook_path(root: Path, folder: str, student: str | None = None) -> Path:
    """``root/<folder>[/<student>]/anomaly_vae/anomaly_vae.ipynb``."""
    parts = [folder] + ([student] if student else []) + [ASSIGNMENT, f"{ASSIGNMENT}.ipynb"]
    return root.joinpath(*parts)


def make_course(root: Path) -> Path:
    """Copy the config and the source into ``root``, generate the release there; its path."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(SOURCE.parents[1], root / SOURCE.parents[1].name, dirs_exist_ok=True)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=root, check=True)
    return notebook_path(root, "release")


def release_notebook(root: Path) -> nbformat.NotebookNode:
    return nbformat.read(notebook_path(root, "release"), as_version=4)


def submission(release: nbformat.NotebookNode, tasks=None, source: Path = SOURCE):
    """The release with the source's solutions typed into the answer cells of ``tasks``
    (e.g. ``{"task1"}``; all tasks when None), as a student would."""
    answers = notebooks.answers(source)
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        cell_id = notebooks.grade_id(cell)
        if cell_id in answers and (tasks is None or notebooks.task_of(cell_id) in tasks):
            cell.source = answers[cell_id]
    return nb


def hand_in(root: Path, student: str, nb: nbformat.NotebookNode | str | bytes) -> Path:
    """Put a student's notebook (or raw text) where ``nbgrader autograde`` looks for it."""
    path = notebook_path(root, "submitted", student)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    elif isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path


def autograde(root: Path, student: str = "*", epochs: int | None = None,
              timeout: int | None = None, env: dict | None = None, options: tuple = (),
              ) -> subprocess.CompletedProcess:
    """``nbgrader autograde`` of the students matching a glob. ``epochs`` sets a training
    budget other than the grading budget (the grading kernel's default); ``options`` are
    more of nbgrader's command-line settings."""
    args = ["autograde", ASSIGNMENT, "--force", f"--student={student}", *options]
    if timeout is not None:
        args.append(f"--Execute.timeout={timeout}")
    extra = {**({EPOCHS_ENV: str(epochs)} if epochs else {}), **(env or {})}
    return nbgrader(*args, cwd=root, env=extra)


def scores(root: Path, student: str) -> dict[str, float]:
    """The autograded score of each test cell of a student's submission."""
    from nbgrader.api import Gradebook

    points = notebooks.autograded_points(root / SOURCE.relative_to(ROOT))
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        nb = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {g.name: float(g.score) for g in nb.grades if g.name in points}
