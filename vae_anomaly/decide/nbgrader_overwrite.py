"""``OverwriteReleasedCells``: nbgrader's ``OverwriteCells`` without the false tamper warning.

nbgrader stores a locked cell's checksum from the source, *before* its hidden tests are
cleared (upstream nbgrader #1961), then compares the student's cell with it: every test cell
with hidden tests of an untouched notebook logs "Attribute 'checksum' … has changed!". This
preprocessor compares a locked cell with what the student was given (the source cell with its
hidden tests cleared, as ``generate_assignment`` released it) and, where they are the same,
puts the source back before nbgrader's own check, which then stays quiet. A real edit of a
locked cell is still reported and overwritten by ``OverwriteCells``.
"""

from __future__ import annotations

import copy

from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


class OverwriteReleasedCells(OverwriteCells):
    """``OverwriteCells`` that accepts a locked cell as released (module docstring)."""

    def released(self, cell, source: str) -> str:
        """``source`` as the release shows it in ``cell`` (hidden tests cleared)."""
        given = copy.deepcopy(cell)
        given.source = source
        ClearHiddenTests(parent=self)._remove_hidden_test_region(given)
        return given.source

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                         self.assignment_id)
            except MissingEntry:
                source = None  # OverwriteCells says so
            if (source is not None and source.locked and cell.source != source.source
                    and cell.source == self.released(cell, source.source)):
                cell.source = source.source
        return super().preprocess_cell(cell, resources, cell_index)
