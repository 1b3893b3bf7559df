"""Build the assignment's generated notebooks from its one source notebook.

``python -m vae_anomaly.build solutions`` writes ``solutions/anomaly_vae.ipynb``: the
source with the solution markers stripped, the solutions kept, the hidden tests and the
nbgrader metadata removed, outputs cleared. ``python -m vae_anomaly.build release`` runs
``nbgrader generate_assignment`` from the repository root (output under ``release/``).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ASSIGNMENT = "anomaly_vae"
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.ipynb"

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def strip_markers(source: str) -> str:
    """Drop hidden-test regions and solution markers (keeping the solutions)."""
    return SOLUTION_MARKER.sub("", HIDDEN.sub("", source)).strip("\n")


def is_comment_only(source: str) -> bool:
    """True when a code cell holds nothing but comments and blank lines."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines())


def solution_notebook(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The readable solution: solutions in, hidden tests and nbgrader metadata out."""
    nb = copy.deepcopy(source)
    cells = []
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        cell.source = strip_markers(cell.source)
        if cell.cell_type == "code":
            if is_comment_only(cell.source):  # a test cell that was all hidden
                continue
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    return nb


def write_solutions(target: Path = SOLUTION) -> Path:
    """Write the solution notebook; return its path."""
    nb = solution_notebook(nbformat.read(SOURCE, as_version=4))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def tool_env(extra: dict | None = None) -> dict:
    """The environment for this Python's command-line tools: nbgrader calls ``alembic``
    by name, so this environment's scripts folder goes first on PATH."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", ""),
            **(extra or {})}


def nbgrader(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the nbgrader CLI of this Python environment in a course folder."""
    command = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(command, cwd=cwd, check=True, env=tool_env())


def release(cwd: Path = ROOT) -> Path:
    """``nbgrader generate_assignment``: the student version under ``release/``."""
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=cwd)
    return cwd / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["release", "solutions"])
    what = parser.parse_args(argv).what
    path = release() if what == "release" else write_solutions()
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
