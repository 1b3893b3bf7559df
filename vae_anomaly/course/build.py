"""Build the assignment's generated notebooks from its one source notebook.

``python -m vae_anomaly.course.build solutions`` writes ``solutions/anomaly_vae.ipynb``
(``notebooks.solution_notebook``); ``python -m vae_anomaly.course.build release`` runs
``nbgrader generate_assignment`` in the repository (output under ``release/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from ..config import ASSIGNMENT, RELEASE, ROOT, SOLUTION, SOURCE
from . import notebooks
from .folder import nbgrader


def write_solutions(target: Path = SOLUTION) -> Path:
    """Write the solution notebook; return its path."""
    nb = notebooks.solution_notebook(notebooks.read(SOURCE))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def release() -> Path:
    """``nbgrader generate_assignment``: the student version under ``release/``."""
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=ROOT, check=True, capture=False)
    return RELEASE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["release", "solutions"])
    what = parser.parse_args(argv).what
    path = release() if what == "release" else write_solutions()
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
