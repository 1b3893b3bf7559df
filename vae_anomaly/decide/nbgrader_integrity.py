"""nbgrader preprocessors that give the trusted verdicts of ``vae_anomaly.decide.integrity``.

* ``VerifyChecks`` (right after ``Execute``): the static scan of the student's cells and
  files, and each autograded test cell's record, its measurements judged with the marks
  and the budget read here, outside the kernel. A cell that must not count gets an
  error output "flagged for review: …" (so ``SaveAutoGrades`` scores it zero and the
  feedback shows why) and the notebook gets a banner cell at the top.
* ``FlagInGradebook`` (after ``SaveAutoGrades``): marks the submitted notebook as flagged in
  the gradebook and puts the reasons in the comment of its first answer cell.
"""

from __future__ import annotations

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool

from . import integrity

FLAGS = "vae_anomaly_flags"  # resources key: the reasons found by VerifyChecks


def flag_output(reason: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename="FlaggedForReview",
                                  evalue=f"flagged for review: {reason}",
                                  traceback=[f"flagged for review: {reason}"])


def autograded_cells(nb):
    return [c for c in nb.cells
            if c.cell_type == "code" and is_grade(c) and not is_solution(c)]


class VerifyChecks(NbGraderPreprocessor):
    """Zero, with the reason, every test cell the grader cannot trust (module docstring)."""

    scan = Bool(True, help="Scan the student's cells and files for code that reaches into "
                "the grading. Off, the records and the verdicts still hold: the tests turn it "
                "off to show that they do.").tag(config=True)

    def preprocess(self, nb, resources):
        folder = resources.get("metadata", {}).get("path") or "."
        findings = integrity.scan(nb) + integrity.scan_files(folder) if self.scan else []
        static = "; ".join(str(f) for f in findings[:5])
        reasons = [f"the notebook reaches into the grading: {static}"] if findings else []
        marks, budget = integrity.rules()
        for cell in autograded_cells(nb):
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            reason = integrity.verify(cell, grade_id, marks, budget)
            if findings and not integrity.has_error(cell):
                reason = reasons[0]
            if reason:
                cell.outputs.append(flag_output(reason))
                reasons.append(reason)
            reasons += [r["message"].removeprefix("flagged for review: ")
                        for r in integrity.records(cell) if r.get("flagged")]
        reasons = list(dict.fromkeys(reasons))
        if reasons:
            banner = nbformat.v4.new_markdown_cell(
                "**Flagged for review.** The autograder did not trust this notebook's "
                "results; its autograded tests score zero until an instructor has looked:\n\n"
                + "\n".join(f"* {r}" for r in reasons))
            nb.cells.insert(0, banner)
        resources[FLAGS] = reasons
        return nb, resources


class FlagInGradebook(NbGraderPreprocessor):
    """Record ``VerifyChecks``' reasons in the gradebook (module docstring)."""

    def preprocess(self, nb, resources):
        reasons = resources.get(FLAGS)
        if not reasons:
            return nb, resources
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"],
                                                   info["student"])
            notebook.flagged = True
            comments = sorted(notebook.comments, key=lambda c: c.cell_id or 0)
            if comments:
                comments[0].auto_comment = "flagged for review: " + "; ".join(reasons)
            gb.db.commit()
        return nb, resources


class ForgetCopiedCells(NbGraderPreprocessor):
    """A cell a student copied keeps the grade id of its original: the copy becomes a plain
    cell (the original is graded once), where nbgrader would refuse the whole notebook."""

    def preprocess(self, nb, resources):
        seen = set()
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in seen:
                del cell.metadata["nbgrader"]
            elif grade_id:
                seen.add(grade_id)
        return nb, resources
