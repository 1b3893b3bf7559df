"""The one source notebook: its cells, as nbgrader sees them, and the solution notebook.

Cell kinds come from ``nbgrader.utils``; the solution notebook is the source with the
solution markers stripped, the solutions kept, and the hidden tests and nbgrader's
metadata removed.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from pathlib import Path

import nbformat
from nbgrader import utils

from ..config import SOURCE

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def read(path: Path = SOURCE) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def meta(cell) -> dict:
    """A cell's nbgrader metadata ({} for a plain cell)."""
    return cell.metadata.get("nbgrader", {})


def grade_id(cell) -> str | None:
    return meta(cell).get("grade_id")


def kind(cell) -> str:
    """``test``, ``answer``, ``manual``, ``task`` or ``plain``, from ``nbgrader.utils``."""
    if utils.is_task(cell):
        return "task"
    if utils.is_solution(cell):
        return "manual" if utils.is_grade(cell) else "answer"
    if utils.is_grade(cell) and cell.cell_type == "code":
        return "test"
    return "plain"


def autograded_points(source: Path = SOURCE) -> dict[str, float]:
    """Points of each autograded test cell of a source notebook, by grade id, in order."""
    return {grade_id(c): float(meta(c)["points"]) for c in read(source).cells
            if kind(c) == "test"}


def task_of(cell_id: str) -> str:
    """``task1_split_counts`` -> ``task1``."""
    return cell_id.split("_", 1)[0]


def task_scores(cell_scores: dict[str, float]) -> dict[str, float]:
    """Sum cell scores per task."""
    totals = defaultdict(float)
    for cell_id, score in cell_scores.items():
        totals[task_of(cell_id)] += score
    return dict(totals)


def strip_markers(source: str) -> str:
    """Drop hidden-test regions and solution markers (keeping the solutions)."""
    return SOLUTION_MARKER.sub("", HIDDEN.sub("", source)).strip("\n")


def is_comment_only(source: str) -> bool:
    """True when a code cell holds nothing but comments and blank lines."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines())


def answers(source: Path = SOURCE) -> dict[str, str]:
    """The solution of every answer cell, markers stripped, by grade id."""
    return {grade_id(c): strip_markers(c.source) for c in read(source).cells
            if utils.is_solution(c)}


# Alt text of the solution's figures on the course site (myst-nb reads it from the cell's
# ``mystnb.image.alt`` metadata, one text for every image of a cell), by the grade id of the
# cell that draws them. A cell that draws several figures has one text per figure: the
# solution notebook cuts it after each ``plt.show()``, so that each image has its own.
FIGURE_ALT = {
    "task1_plots": "Three rows of ten random Fashion-MNIST thumbnails: training images (no "
                   "trousers), normal test images, and test trousers.",
    "task2_training_answer": "Line chart of the mean negative ELBO per training epoch, "
                             "going down from the first epoch to the last.",
    "task3_reconstructions": "Ten random training images above their blurred but "
                             "recognisable reconstructions by the VAE.",
    "task3_samples": "Twenty garments decoded from codes drawn from the prior: blurry "
                     "shirts, shoes, bags and dresses.",
    "task4_distributions": (
        "Overlaid histograms of the test images' ELBO: normal images in plain green, "
        "trousers in hatched red, the trousers mostly to the left of the normal images, "
        "with an overlap.",
        "Kernel density estimates of the test images' ELBO: normal images as a solid green "
        "curve, trousers as a dashed red one, the trousers' peak to the left of the normal "
        "images' peak, the two curves overlapping in their tails."),
    "task4_detection_answer": "The ROC curve, well above the dotted chance diagonal, and "
                              "the precision-recall curve, above the dotted chance level of "
                              "the 10% anomaly rate; the legends give the areas.",
    "task4_reconstructions": "Ten normal test images and ten test trousers, each above its "
                             "reconstruction: the trousers come back as dress-like shapes "
                             "with the gap between the legs filled in.",
}
FIGURE_END = re.compile(r"(?<=^plt\.show\(\)\n)", re.M)  # where a figure of a cell is done


def figure_cells(cell, alts: str | tuple[str, ...]) -> list:
    """The code cell, with its alt text; cut after each figure when ``alts`` has one text
    per figure (the first part keeps the cell's id, the others get ``<id>-2``, ...)."""
    alts = (alts,) if isinstance(alts, str) else alts
    parts = [cell.source] if len(alts) == 1 else FIGURE_END.split(cell.source + "\n")
    parts = [part.strip("\n") for part in parts if part.strip()]
    if len(parts) != len(alts):
        raise ValueError(f"{grade_id(cell)}: {len(alts)} alt texts for {len(parts)} figures")
    cells = []
    for n, (part, alt) in enumerate(zip(parts, alts, strict=True), 1):
        piece = copy.deepcopy(cell)
        piece.source = part
        piece.metadata["mystnb"] = {"image": {"alt": alt}}
        if n > 1:
            piece.id = f"{cell.id}-{n}"
        cells.append(piece)
    return cells


def solution_notebook(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The readable solution: solutions in, hidden tests and nbgrader metadata out, and the
    site's alt text on the cells that draw figures (one per figure)."""
    nb = copy.deepcopy(source)
    cells = []
    for cell in nb.cells:
        gid = grade_id(cell)
        cell.metadata.pop("nbgrader", None)
        cell.source = strip_markers(cell.source)
        if cell.cell_type == "code":
            if is_comment_only(cell.source):  # a test cell that was all hidden
                continue
            cell.outputs, cell.execution_count = [], None
        cells.extend(figure_cells(cell, FIGURE_ALT[gid]) if gid in FIGURE_ALT else [cell])
    nb.cells = cells
    return nb
