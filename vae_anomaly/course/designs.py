"""The designs the hidden tests are calibrated and tested on (folder ``designs/``).

A design is a folder with a ``design.toml`` (``kind``: "correct", "pitfall" or "other",
``about``,
an optional ``base`` design, optional ``train = false`` and ``[[replace]]`` edits of a
cell) and ``<grade_id>.py`` files: the answers a student would type into those answer
cells. Every other answer comes from the base design, and in the end from the source
notebook's solutions (the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tomllib

from ..config import ROOT, SOURCE
from . import notebooks

DESIGNS = ROOT / "designs"
TRAINING_CELL = "task2_training_answer"


@dataclass(frozen=True)
class Design:
    """One way of answering the assignment."""

    name: str
    kind: str  # "correct" (the calibrated family), "pitfall" or "other"
    about: str
    answers: dict  # grade_id -> the answer cell's code
    train: bool = True


def names(kind: str | None = None) -> list[str]:
    """The designs in ``designs/`` (of one kind), in name order."""
    found = sorted(p.parent.name for p in DESIGNS.glob("*/design.toml"))
    return [n for n in found if kind is None or load(n).kind == kind]


def load(name: str, source: Path = SOURCE) -> Design:
    """A design with every answer resolved (files, then edits, over its base)."""
    folder = DESIGNS / name
    spec = tomllib.loads((folder / "design.toml").read_text())
    base = spec.get("base")
    answers = dict(load(base, source).answers if base else notebooks.answers(source))
    for file in sorted(folder.glob("*.py")):
        if file.stem not in answers:
            raise ValueError(f"{file}: no answer cell {file.stem!r} in the notebook")
        answers[file.stem] = file.read_text()
    for edit in spec.get("replace", []):
        text = answers[edit["cell"]]
        if text.count(edit["old"]) != 1:
            raise ValueError(f"{name}: {edit['old']!r} is not once in {edit['cell']}")
        answers[edit["cell"]] = text.replace(edit["old"], edit["new"])
    train = spec.get("train", True)
    if not train:
        answers[TRAINING_CELL] = "history = None  # not trained\n"
    return Design(name, spec["kind"], spec["about"], answers, train)
