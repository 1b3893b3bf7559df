"""The otter plugin that grades with the same guard, sandbox and trusted verdicts as nbgrader.

Configured in ``autograder/assignment.yml`` (``plugins``) and shipped with the core:

* ``before_grading``: results of the kernel go to a private folder that the sandbox shares
  (``VAE_SANDBOX_SHARE``), since the kernel has its own ``/tmp``.
* ``before_execution``: the notebook runs in the grading kernel whatever kernelspec it
  names (``ir``, none); where that kernel is not installed (Gradescope), a first cell
  installs the guard in the plain Python kernel. otter's own first cell is made to work
  under any file name, so that each check runs where its test cell stands (as in
  nbgrader). The student's cells are scanned.
* ``after_grading``: a question keeps its points only when its check left a passing record
  in the executed notebook, its measurements pass the marks and the budget read here
  (``integrity.judge``), and nothing in the notebook reaches into the grading; otherwise it
  scores zero and the results say "flagged for review: …".
"""

from __future__ import annotations

import os
import re
import tempfile

from otter.plugins import AbstractOtterPlugin

from ..config import KERNEL_NAME, SANDBOX_SHARE_ENV
from . import integrity

GUARD_CELL = "import vae_anomaly.measure.guard as _vae_guard\n_vae_guard.install()"
# otter's init cell names the notebook file, which otter reads: under any other name (every
# submission of a class) it fails, and the checks would all run after the last cell instead
# of where the test cells stand, as nbgrader runs them.
INIT_CELL = "import otter\ngrader = otter.Notebook()"
INIT = re.compile(r'(# Initialize Otter\n)?import otter\ngrader = otter\.Notebook\([^)]*\)')
OTTER_CELLS = re.compile(INIT.pattern + r'|grader\.check\("\w+"\)'
                         r'|(#[^\n]*\n)*grader\.export\([^)]*\)|' + re.escape(GUARD_CELL))


def grading_kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME in KernelSpecManager().find_kernel_specs()


def otter_cell(source: str) -> bool:
    """Is this one of the cells otter itself writes (init, check, export)?"""
    return bool(OTTER_CELLS.fullmatch(source.strip()))


def student_notebook(nb) -> dict:
    """The notebook with otter's own cells (init, checks, export) left out."""
    return {"cells": [c for c in nb["cells"] if not otter_cell(c.get("source", ""))]}


class GradingPlugin(AbstractOtterPlugin):
    """The course's otter plugin (module docstring)."""

    findings: list = []

    def before_grading(self, config):
        share = tempfile.mkdtemp(prefix="vae-otter-")
        os.environ[SANDBOX_SHARE_ENV] = share
        tempfile.tempdir = share  # otter's results pickle is made here, for the kernel

    def before_execution(self, submission):
        import nbformat

        self.findings = integrity.scan(student_notebook(submission))
        submission.cells = [c for c in submission.cells
                            if not (c.cell_type == "code" and INIT.fullmatch(c.source.strip()))]
        submission.cells.insert(0, nbformat.v4.new_code_cell(INIT_CELL))
        spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        if grading_kernel_installed():
            spec = {"name": KERNEL_NAME, "display_name": "VAE grading", "language": "python"}
        else:
            submission.cells.insert(0, nbformat.v4.new_code_cell(GUARD_CELL))
        submission.metadata["kernelspec"] = spec
        # otter's checks read ./tests after the last cell: back to this folder, wherever a
        # cell went (the sandbox mounts the submission's copy at the same path)
        submission.cells.append(nbformat.v4.new_code_cell(
            f"import os as _vae_os\n_vae_os.chdir({os.getcwd()!r})"))
        return submission

    def after_grading(self, results):
        nb = results.notebook
        found = [r for c in nb.cells for r in integrity.records(c)] if nb else []
        static = "; ".join(map(str, self.findings[:5]))
        reasons = [f"the notebook reaches into the grading: {static}"] if self.findings else []
        reasons += [r["message"].removeprefix("flagged for review: ")
                    for r in found if r.get("flagged")]
        marks, budget = integrity.rules()  # read here, outside the kernel
        for name, test in results.results.items():
            mine = [r for r in found if r.get("grade_id") == name]
            judged = [integrity.judge(r, marks, budget) for r in mine if r.get("passed")]
            trusted = bool(mine) and all(r.get("passed") for r in mine) and not any(judged)
            if test.score and (self.findings or not trusted):
                results.update_score(name, 0)
                if not self.findings:
                    reasons += [j for j in judged if j] or [
                        f"test {name} passed without its check's passing record"]
        if reasons:
            results.set_output("flagged for review: " + "; ".join(dict.fromkeys(reasons)))
