"""Grades for a learning-management system: one row per student, from the gradebook.

``python -m vae_anomaly.course.export [COURSE] [--out grades.csv] [--canvas | --moodle]``
(``make export``). A student's scores are their group's submission's (``groups.csv``; a
student in no group is a group of one), plus their own adjustment (``adjustments.csv``):

``total = max(0, auto + manual - late_penalty + adjustment)``

The generic CSV has every student with the columns of ``COLUMNS``; ``status`` says whether
the total is final: ``complete``, ``ungraded`` (hand-graded points still open:
``ungraded_manual`` counts the cells), ``flagged`` (the autograder did not trust the
notebook, or the similarity report found it close to another; unflag it in formgrader once
reviewed), ``not autograded`` (handed in, not graded
yet) or ``no submission`` (scored 0). The ``--canvas`` and ``--moodle`` files carry the
columns those systems import and only the final rows (``complete``, ``no submission``), so a
half-graded total never reaches the LMS; ``--partial`` writes every row.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..config import ASSIGNMENT
from . import groups, similarity
from .roster import RosterError

COLUMNS = ("student_id", "first_name", "last_name", "email", "lms_user_id", "group", "status",
           "auto",
           "manual", "adjustment", "late_penalty", "total", "max_score", "ungraded_manual",
           "flagged", "reason")
FINAL = ("complete", "no submission")  # rows an LMS file carries without --partial
FLAG = "flagged for review"


def _scores(submission) -> dict:
    """Auto and manual points, open hand-graded cells, flag and its reasons of a submission."""
    auto = manual = 0.0
    ungraded, reasons, flagged = 0, [], False
    for nb in submission.notebooks:
        hand_graded = {c.name for c in nb.notebook.solution_cells} | {
            c.name for c in nb.notebook.task_cells}
        for grade in nb.grades:
            if grade.name in hand_graded:
                manual += grade.score
            else:
                auto += grade.score
            ungraded += bool(grade.needs_manual_grade)
        if nb.flagged:
            flagged = True
            found = [text.split(FLAG, 1)[1].lstrip(": ") for c in nb.comments
                     for text in (c.auto_comment, c.manual_comment) if text and FLAG in text]
            reasons += found
    return {"auto": auto, "manual": manual, "ungraded_manual": ungraded,
            "flagged": flagged, "flag_reason": "; ".join(dict.fromkeys(reasons))}


def rows(course: Path, assignment: str = ASSIGNMENT, roster: Path | None = None,
         adjustments: Path | None = None) -> list[dict]:
    """One dict per student (keys ``COLUMNS``; numbers as floats): the roster's members in its
    order, then every other student of the gradebook (a group of one) by id."""
    from nbgrader.api import MissingEntry

    course = Path(course)
    members = groups.load(course, roster)
    similar = similarity.reasons(course)
    out = []
    with groups.gradebook(course) as gb:
        people = {s.id: s for s in gb.students}
        adjusted = groups.adjustments(course, roster, adjustments, set(people))
        try:
            max_score = float(gb.find_assignment(assignment).max_score)
        except MissingEntry:
            raise groups.CourseError(f"no assignment {assignment!r} in the gradebook (run "
                                     f"nbgrader generate_assignment {assignment})") from None
        ids = list(members.members) + sorted(
            s for s in people if s not in members.members and not members.is_group(s))
        for sid in ids:
            group = members.group_of(sid)
            person, entry = people.get(sid), members.members.get(sid)

            def name(field, person=person, entry=entry):
                return (getattr(entry, field, "") if entry else "") or \
                    (getattr(person, field, None) or "")

            adjustment = adjusted.get(sid)
            row = {"student_id": sid, "first_name": name("first_name"),
                   "last_name": name("last_name"), "email": name("email"),
                   "lms_user_id": name("lms_user_id"),
                   "group": group, "auto": 0.0, "manual": 0.0, "late_penalty": 0.0,
                   "adjustment": adjustment.points if adjustment else 0.0,
                   "max_score": max_score, "ungraded_manual": 0, "flagged": False}
            notes = []
            try:
                submission = gb.find_submission(assignment, group)
            except MissingEntry:
                handed_in = (course / "submitted" / group / assignment).is_dir()
                row["status"] = "not autograded" if handed_in else "no submission"
                notes.append(f"{row['status']} (group {group})" if group != sid
                             else row["status"])
            else:
                scores = _scores(submission)
                flag_reason = scores.pop("flag_reason")
                row.update(scores, late_penalty=float(submission.late_submission_penalty or 0))
                row["status"] = ("flagged" if row["flagged"] else
                                 "ungraded" if row["ungraded_manual"] else "complete")
                if row["flagged"]:
                    why = [flag_reason] if flag_reason else []
                    why += similar.get(group, [])
                    notes.append(f"{FLAG}: {'; '.join(why) or 'flagged in formgrader'}")
                if row["ungraded_manual"]:
                    notes.append(f"{row['ungraded_manual']} cells not graded by hand yet")
                if row["late_penalty"]:
                    notes.append(f"late: -{row['late_penalty']:g}")
            if group != sid and sid in people:
                try:
                    gb.find_submission(assignment, sid)
                    notes.append(f"own submission of {sid} ignored: graded with group {group}")
                except MissingEntry:
                    pass
            if adjustment:
                notes.append(f"adjustment {adjustment.points:+g}: {adjustment.reason}")
            row["total"] = max(0.0, row["auto"] + row["manual"] - row["late_penalty"]
                               + row["adjustment"])
            row["reason"] = " | ".join(notes)
            out.append({k: row[k] for k in COLUMNS})
    return out


def number(x: float) -> str:
    """2 decimals at most, no trailing zeros (``37``, ``36.5``)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def generic(row: dict) -> dict:
    return {k: (number(v) if isinstance(v, float) else
                str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()}


def canvas(row: dict, column: str) -> dict:
    """Canvas's gradebook import: it finds the student by ID, SIS User ID or SIS Login ID."""
    name = ", ".join(p for p in (row["last_name"], row["first_name"]) if p) or row["student_id"]
    return {"Student": name, "ID": row["lms_user_id"], "SIS User ID": row["student_id"],
            "SIS Login ID": "", "Section": "", column: number(row["total"])}


def moodle(row: dict, column: str) -> dict:
    """Moodle's CSV grade import: map ID number (or Email address) to the user, the grade
    column to the grade item and Feedback to its feedback."""
    parts = [f"group {row['group']}" if row["group"] != row["student_id"] else "",
             f"autograded {number(row['auto'])}", f"hand-graded {number(row['manual'])}",
             f"late penalty -{number(row['late_penalty'])}" if row["late_penalty"] else "",
             f"adjustment {row['adjustment']:+g}" if row["adjustment"] else ""]
    return {"ID number": row["student_id"], "Email address": row["email"],
            "First name": row["first_name"], "Last name": row["last_name"],
            column: number(row["total"]),
            "Feedback": f"{number(row['total'])} of {number(row['max_score'])}: "
                        + ", ".join(p for p in parts if p)}


FLAVOURS = {"generic": None, "canvas": canvas, "moodle": moodle}


def write(course: Path, path: Path, flavour: str = "generic", assignment: str = ASSIGNMENT,
          column: str | None = None, partial: bool = False, roster: Path | None = None,
          adjustments: Path | None = None) -> list[dict]:
    """Write the export to ``path``; the rows left out of an LMS file (not final)."""
    table = rows(course, assignment, roster, adjustments)
    if flavour == "generic":
        lines, left_out = [generic(r) for r in table], []
    else:
        keep = [r for r in table if partial or r["status"] in FINAL]
        left_out = [r for r in table if r not in keep]
        lines = [FLAVOURS[flavour](r, column or assignment) for r in keep]
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(lines[0]) if lines else list(COLUMNS))
        writer.writeheader()
        writer.writerows(lines)
    return left_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_anomaly.course.export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, nargs="?", default=Path("."),
                        help="the nbgrader course folder (default: here)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the CSV to write (default: COURSE/grades[-canvas|-moodle].csv)")
    lms = parser.add_mutually_exclusive_group()
    lms.add_argument("--canvas", dest="flavour", action="store_const", const="canvas",
                     help="Canvas gradebook import columns")
    lms.add_argument("--moodle", dest="flavour", action="store_const", const="moodle",
                     help="Moodle CSV grade import columns")
    parser.add_argument("--column", default=None,
                        help="header of the grade column in an LMS file (Canvas: the "
                             "assignment's header in its gradebook export, 'Name (id)'; "
                             "default: the assignment's name)")
    parser.add_argument("--partial", action="store_true",
                        help="LMS files: also write rows whose total is not final")
    parser.add_argument("--assignment", default=ASSIGNMENT,
                        help=f"the assignment (default: {ASSIGNMENT})")
    parser.add_argument("--roster", type=Path, default=None,
                        help="the roster (default: COURSE/groups.csv)")
    parser.add_argument("--adjustments", type=Path, default=None,
                        help="the adjustments (default: COURSE/adjustments.csv)")
    args = parser.parse_args(argv)
    flavour = args.flavour or "generic"
    out = args.out or args.course / ("grades.csv" if flavour == "generic"
                                     else f"grades-{flavour}.csv")
    try:
        left_out = write(args.course, out, flavour, args.assignment, args.column,
                         args.partial, args.roster, args.adjustments)
    except (RosterError, groups.CourseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    for r in left_out:
        print(f"left out {r['student_id']} ({r['status']}: {r['reason']})", file=sys.stderr)
    if left_out:
        print(f"{len(left_out)} students left out: their totals are not final (--partial "
              f"writes them anyway)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
