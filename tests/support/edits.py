"""Planted bugs and cheats: edits of a student's notebook."""

from __future__ import annotations

import copy

import nbformat


def edit(nb: nbformat.NotebookNode, old: str, new: str) -> nbformat.NotebookNode:
    """Replace ``old`` by ``new`` in the one cell that holds it."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if old in c.source]
    if len(cells) != 1:
        raise ValueError(f"{old!r} is in {len(cells)} cells, not 1: update the edit")
    cells[0].source = cells[0].source.replace(old, new)
    return nb
