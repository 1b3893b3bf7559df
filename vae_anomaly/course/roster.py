"""The course's two hand-written files for group work, read and checked.

* ``groups.csv`` (the roster): ``group,student_id`` and optionally ``first_name``,
  ``last_name``, ``email``, ``lms_user_id``; one line per student. A student who is in no
  group works alone: a group of one whose id is the student's own.
* ``adjustments.csv`` (the peer review's outcome): ``student_id,points,reason``; points are
  added to that student's total (negative to deduct); several lines for one student add up.

Both are UTF-8 (a spreadsheet's byte-order mark is fine); blank lines and lines starting with
``#`` are skipped. Any problem raises ``RosterError`` naming the file and the line.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

ROSTER = "groups.csv"
ADJUSTMENTS = "adjustments.csv"
ROSTER_COLUMNS = ("group", "student_id")
ROSTER_OPTIONAL = ("first_name", "last_name", "email", "lms_user_id")
ADJUSTMENT_COLUMNS = ("student_id", "points", "reason")
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")  # a folder name nbgrader can use


class RosterError(ValueError):
    """A roster or adjustments file that cannot be used (the message says where and why)."""


@dataclass(frozen=True)
class Member:
    student_id: str
    group: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""


@dataclass
class Roster:
    """The roster's members by student id, in the file's order."""

    members: dict[str, Member] = field(default_factory=dict)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Each group's member ids, groups in the order they first appear."""
        groups: dict[str, list[str]] = {}
        for m in self.members.values():
            groups.setdefault(m.group, []).append(m.student_id)
        return groups

    def group_of(self, student_id: str) -> str:
        """The student's group; a student not in the roster is a group of one."""
        member = self.members.get(student_id)
        return member.group if member else student_id

    def is_group(self, name: str) -> bool:
        """Whether ``name`` is a roster group that is not also a student's own id."""
        return name in self.groups and name not in self.members


@dataclass
class Adjustment:
    points: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def _rows(path: Path, required: tuple, optional: tuple = ()):
    """(line number, row) of a CSV file, its header checked."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = None
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if header is None:
                header = [c.lower() for c in cells]
                missing = [c for c in required if c not in header]
                unknown = [c for c in header if c not in required + optional]
                if missing or unknown:
                    raise RosterError(
                        f"{path}:{reader.line_num}: "
                        + (f"missing column(s) {', '.join(missing)}; " if missing else "")
                        + (f"unknown column(s) {', '.join(unknown)}; " if unknown else "")
                        + f"expected {', '.join(required + optional)}")
                continue
            while len(cells) > len(header) and not cells[-1]:  # a spreadsheet's empty cells
                cells.pop()
            if len(cells) > len(header):
                raise RosterError(f"{path}:{reader.line_num}: {len(cells)} values for "
                                  f"{len(header)} columns (a comma inside a value needs quotes)")
            cells += [""] * (len(header) - len(cells))
            yield reader.line_num, dict(zip(header, cells, strict=True))
        if header is None:
            raise RosterError(f"{path}: empty file; expected a header "
                              f"{','.join(required + optional)}")


def _check_id(path: Path, line: int, what: str, value: str) -> str:
    if not ID.fullmatch(value):
        raise RosterError(f"{path}:{line}: {what} {value!r} is not a valid id (letters, digits "
                          f"and . _ @ + -, starting with a letter or digit)")
    return value


def read_roster(path: Path) -> Roster:
    """The roster at ``path``; no file means no groups (everyone works alone)."""
    path = Path(path)
    roster = Roster()
    if not path.exists():
        return roster
    lines: dict[str, int] = {}
    for line, row in _rows(path, ROSTER_COLUMNS, ROSTER_OPTIONAL):
        sid = _check_id(path, line, "student_id", row["student_id"])
        group = _check_id(path, line, "group", row["group"])
        if sid in lines:
            raise RosterError(f"{path}:{line}: student {sid!r} is already listed on line "
                              f"{lines[sid]} (one group per student)")
        lines[sid] = line
        roster.members[sid] = Member(sid, group, **{k: row.get(k, "") for k in ROSTER_OPTIONAL})
    for group, members in roster.groups.items():
        if group in roster.members and roster.members[group].group != group:
            raise RosterError(f"{path}:{lines[group]}: group {group!r} has the id of a student "
                              f"in group {roster.members[group].group!r}")
        if group in members and len(members) > 1:
            raise RosterError(f"{path}:{lines[members[1]]}: group {group!r} is named after its "
                              f"member {group!r}; a group of several needs an id of its own")
    return roster


def read_adjustments(path: Path, students: set[str], roster: Roster | None = None,
                     ) -> dict[str, Adjustment]:
    """Adjustments by student id; ``students`` are the ids that may be adjusted."""
    path = Path(path)
    adjustments: dict[str, Adjustment] = {}
    if not path.exists():
        return adjustments
    for line, row in _rows(path, ADJUSTMENT_COLUMNS):
        sid, points, reason = row["student_id"], row["points"], row["reason"]
        if roster is not None and roster.is_group(sid):
            raise RosterError(f"{path}:{line}: {sid!r} is a group; adjust each member on a "
                              f"line of their own")
        if sid not in students:
            raise RosterError(f"{path}:{line}: unknown student id {sid!r} (not in the roster "
                              f"nor the gradebook)")
        try:
            value = float(points)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise RosterError(f"{path}:{line}: points {points!r} for {sid!r} is not a number "
                              f"(e.g. -2 or 1.5)")
        if not reason:
            raise RosterError(f"{path}:{line}: no reason for the adjustment of {sid!r} (the "
                              f"reason goes to the student and the export)")
        adjustment = adjustments.setdefault(sid, Adjustment())
        adjustment.points += value
        adjustment.reasons.append(reason)
    return adjustments
