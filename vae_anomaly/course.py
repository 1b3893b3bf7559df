"""The nbgrader course in a folder: set it up, hand in submissions, autograde, read scores.

Used by the end-to-end tests and the autograde benchmark, which work on a copy of the
course so that the repository's own gradebook is never touched.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat

from .build import ASSIGNMENT, ROOT, SOURCE, strip_markers, tool_env
from .calibrate import GRADING_EPOCHS


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def autograded_points(source: Path = SOURCE) -> dict[str, float]:
    """Points of each autograded test cell of the source notebook, by grade id."""
    nb = nbformat.read(source, as_version=4)
    return {m["grade_id"]: float(m["points"]) for m in map(nbgrader_meta, nb.cells)
            if m.get("grade") and not m.get("solution")}


def task_of(grade_id: str) -> str:
    """``task1_split_counts`` -> ``task1``."""
    return grade_id.split("_", 1)[0]


def make_course(root: Path) -> Path:
    """Copy the config and source into ``root`` and generate the release there."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source_assignments", root / "source_assignments", dirs_exist_ok=True)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=root)
    return root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def release_notebook(root: Path) -> nbformat.NotebookNode:
    return nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


def submission(release: nbformat.NotebookNode, tasks=None, source: Path = SOURCE):
    """The release with the source's solutions typed into the answer cells of ``tasks``
    (e.g. ``{"task1"}``; all tasks when None), as a student would."""
    answers = {nbgrader_meta(c)["grade_id"]: strip_markers(c.source)
               for c in nbformat.read(source, as_version=4).cells
               if nbgrader_meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and (tasks is None or task_of(meta["grade_id"]) in tasks):
            cell.source = answers[meta["grade_id"]]
    return nb


def edit(nb: nbformat.NotebookNode, old: str, new: str) -> nbformat.NotebookNode:
    """Replace ``old`` by ``new`` in the one cell that holds it (a planted bug)."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if old in c.source]
    if len(cells) != 1:
        raise ValueError(f"{old!r} is in {len(cells)} cells, not 1: update the planted bug")
    cells[0].source = cells[0].source.replace(old, new)
    return nb


def hand_in(root: Path, student: str, nb: nbformat.NotebookNode | str) -> Path:
    """Put a student's notebook (or raw text) where ``nbgrader autograde`` looks for it."""
    path = root / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path


def nbgrader(*args: str, cwd: Path, env: dict | None = None,
             check: bool = True) -> subprocess.CompletedProcess:
    """Run this environment's nbgrader CLI in ``cwd``; output is captured."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, check=check,
                          env=tool_env(env), capture_output=True, text=True)


def autograde(root: Path, student: str = "*", epochs: int = GRADING_EPOCHS,
              timeout: int | None = None) -> subprocess.CompletedProcess:
    """``nbgrader autograde`` of the students matching a glob, at a training budget."""
    args = ["autograde", ASSIGNMENT, "--force", f"--student={student}"]
    if timeout is not None:
        args.append(f"--Execute.timeout={timeout}")
    return nbgrader(*args, cwd=root, env={"VAE_EPOCHS": str(epochs)}, check=False)


def scores(root: Path, student: str) -> dict[str, float]:
    """The autograded score of each test cell of a student's submission."""
    from nbgrader.api import Gradebook

    points = autograded_points(root / "source_assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        nb = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {g.name: float(g.score) for g in nb.grades if g.name in points}


def task_scores(cell_scores: dict[str, float]) -> dict[str, float]:
    """Sum cell scores per task."""
    totals = defaultdict(float)
    for grade_id, score in cell_scores.items():
        totals[task_of(grade_id)] += score
    return dict(totals)
