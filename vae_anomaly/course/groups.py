"""Group work in an nbgrader course: one submission per group, graded once, for every member.

nbgrader has no groups; here a group is an nbgrader "student" whose id is the group's id
(``groups.csv``, see ``vae_anomaly.course.roster``). Its one submission is
``submitted/<group>/anomaly_vae/``, autograded and hand graded once.

``python -m vae_anomaly.course.groups COMMAND [COURSE] [--roster F] [--adjustments F]``:

* ``register``: the roster's groups and members into the gradebook;
* ``collect``: after ``nbgrader collect`` (each member handed in from their own account),
  the latest submission of each group becomes ``submitted/<group>/``; the members' own
  folders move to ``submitted_members/`` (so nothing is graded twice; their submission
  secrets stay there for the feedback);
* ``distribute``: after ``nbgrader generate_feedback``, the group's feedback is copied to
  each member's ``feedback/<member>/``, with a note of the member's adjustment, so that
  ``nbgrader release_feedback`` delivers it to every member who handed in;
* ``check``: read and check the roster and ``adjustments.csv`` (also done by the others).
"""

from __future__ import annotations

import argparse
import html
import secrets
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from ..config import ASSIGNMENT
from . import feedback
from .roster import ADJUSTMENTS, ROSTER, Roster, RosterError, read_adjustments, read_roster

MEMBERS = "submitted_members"  # the members' own hand-ins, once collect has run
SECRET, TIMESTAMP = "submission_secret.txt", "timestamp.txt"
NOTE_ID = "vae-group-note"  # marks the note distribute puts at the top of a member's copy


def settings(course: Path) -> tuple[str, str]:
    """The gradebook's URL and the course id, as the course's ``nbgrader_config.py`` sets them."""
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(course).resolve()
    config_file = course / "nbgrader_config.py"
    config = PyFileConfigLoader(config_file.name, str(course)).load_config() \
        if config_file.exists() else {}
    coursedir = config.get("CourseDirectory", {})
    return (coursedir.get("db_url", f"sqlite:///{course / 'gradebook.db'}"),
            coursedir.get("course_id", "default_course") or "default_course")


class CourseError(ValueError):
    """A course folder these commands cannot work on (the message says why)."""


@contextmanager
def gradebook(course: Path, create: bool = False):
    """nbgrader's ``Gradebook`` of the course; a missing SQLite file is an error unless
    ``create``."""
    from nbgrader.api import Gradebook

    db_url, course_id = settings(course)
    path = Path(db_url.removeprefix("sqlite:///"))
    if db_url.startswith("sqlite:///") and not create and not path.exists():
        raise CourseError(f"no gradebook at {path}: is {Path(course).resolve()} the course "
                          f"folder (the one with nbgrader_config.py)?")
    with Gradebook(db_url, course_id) as gb:
        yield gb


def roster_path(course: Path, roster: Path | None = None) -> Path:
    return Path(roster) if roster else Path(course) / ROSTER


def load(course: Path, roster: Path | None = None) -> Roster:
    return read_roster(roster_path(course, roster))


def adjustments(course: Path, roster: Path | None = None, path: Path | None = None,
                students: set[str] | None = None):
    """The checked ``adjustments.csv``: any roster member or gradebook student may be adjusted."""
    members = load(course, roster)
    if students is None:
        with gradebook(course) as gb:
            students = {s.id for s in gb.students}
    known = (set(members.members) | students) - {g for g in members.groups
                                                   if members.is_group(g)}
    return read_adjustments(Path(path) if path else Path(course) / ADJUSTMENTS, known, members)


def register(course: Path, roster: Path | None = None) -> dict[str, list[str]]:
    """Put the roster's groups and members in the gradebook; the groups and their members.

    A group's name in formgrader lists its members; a member's names and email come from the
    roster where it gives them (an empty field keeps what the gradebook has)."""
    members = load(course, roster)
    groups = members.groups
    with gradebook(course, create=True) as gb:
        for group, ids in groups.items():
            if members.is_group(group):
                gb.update_or_create_student(group, last_name=group,
                                            first_name=("group of " + ", ".join(ids))[:128])
        for m in members.members.values():
            fields = {k: getattr(m, k) for k in ("first_name", "last_name", "email",
                                                  "lms_user_id") if getattr(m, k)}
            gb.update_or_create_student(m.student_id, **fields)
    return groups


def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc

    path = folder / TIMESTAMP
    text = path.read_text().strip() if path.exists() else ""
    return parse_utc(text) if text else None


def collect(course: Path, roster: Path | None = None, assignment: str = ASSIGNMENT,
            ) -> dict[str, str | None]:
    """Make each group's latest hand-in (by any member) its one submission.

    Moves every ``submitted/<member>/<assignment>/`` of a roster group to
    ``submitted_members/``, then copies the member's folder with the latest ``timestamp.txt``
    to ``submitted/<group>/<assignment>/`` with a secret of its own (the members keep theirs
    for the feedback). A group whose submission is already that hand-in is left alone, so a
    rerun regrades nothing. Returns, for each group, the member whose hand-in it grades (None:
    no hand-in by a member)."""
    course = Path(course)
    chosen: dict[str, str | None] = {}
    members = load(course, roster)
    for group, ids in members.groups.items():
        if not members.is_group(group):
            continue
        handed_in = {}
        for sid in ids:
            src, kept = (course / "submitted" / sid / assignment,
                         course / MEMBERS / sid / assignment)
            if src.is_dir():
                if kept.exists():
                    shutil.rmtree(kept)
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), kept)
                if not any(src.parent.iterdir()):
                    src.parent.rmdir()
            if kept.is_dir():
                handed_in[sid] = kept
        if not handed_in:
            chosen[group] = None
            continue
        sid = max(handed_in, key=lambda s: (_sort_key(handed_in[s]), s))
        chosen[group] = sid
        dest = course / "submitted" / group / assignment
        if dest.is_dir() and _timestamp(dest) is not None \
                and _timestamp(dest) == _timestamp(handed_in[sid]):
            continue
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(handed_in[sid], dest)
        (dest / SECRET).write_text(secrets.token_hex(64))
    return chosen


def _sort_key(folder: Path) -> float:
    stamp = _timestamp(folder)
    return stamp.timestamp() if stamp else float("-inf")


def _member_note(group: str, ids: list[str], sid: str, adjustment) -> str:
    text = (f"<p><strong>Group {html.escape(group)}</strong> ({html.escape(', '.join(ids))}): "
            f"this is your group's feedback. The group handed in one notebook, graded once; "
            f"the scores below are the group's.</p>")
    if adjustment is not None and adjustment.points:
        text += (f"<p>After the peer review your grade is adjusted by "
                 f"<strong>{adjustment.points:+g} points</strong>: "
                 f"{html.escape(adjustment.reason)}</p>")
    return text


def distribute(course: Path, roster: Path | None = None, assignment: str = ASSIGNMENT,
               adjustments_file: Path | None = None) -> dict[str, list[str]]:
    """Copy each group's ``feedback/<group>/<assignment>/`` to every member's folder.

    Each member's copy carries the member's own submission secret and timestamp when the
    member handed in (``submitted_members/`` or ``submitted/``), so ``nbgrader
    release_feedback`` files it where that member's ``nbgrader fetch_feedback`` looks;
    otherwise a secret of its own (the copy is for the LMS or e-mail). Every HTML page gets
    a note naming the group and the member's adjustment (``adjustments.csv``, checked
    first). Rerunning after regrading refreshes every copy; ``adjustments.csv`` is only read.
    Returns, for each group with feedback, the members it went to."""
    course = Path(course)
    members = load(course, roster)
    adjusted = adjustments(course, roster, adjustments_file)
    delivered: dict[str, list[str]] = {}
    for group, ids in members.groups.items():
        src = course / "feedback" / group / assignment
        if not members.is_group(group) or not src.is_dir():
            continue
        if not (src / SECRET).exists():  # nbgrader release_feedback needs one in every folder
            (src / SECRET).write_text(secrets.token_hex(64))
        for sid in ids:
            dest = course / "feedback" / sid / assignment
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest)
            own = next((d for d in (course / MEMBERS / sid / assignment,
                                    course / "submitted" / sid / assignment)
                        if (d / SECRET).exists()), None)
            (dest / SECRET).write_text((own / SECRET).read_text() if own
                                       else secrets.token_hex(64))
            if own and (own / TIMESTAMP).exists():
                shutil.copy(own / TIMESTAMP, dest / TIMESTAMP)
            note = _member_note(group, ids, sid, adjusted.get(sid))
            for page in dest.glob("*.html"):
                page.write_text(feedback.top_box(page.read_text(encoding="utf-8"), NOTE_ID, note,
                                                  "#1f6feb"),
                                encoding="utf-8")
        delivered[group] = ids
    return delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vae_anomaly.course.groups",
        description="Group work: one submission per group, graded once, for every member "
                    "(book/instructor.md, 'Groups, peer review and export').")
    parser.add_argument("command", choices=("register", "collect", "distribute", "check"))
    parser.add_argument("course", type=Path, nargs="?", default=Path("."),
                        help="the nbgrader course folder (default: here)")
    parser.add_argument("--roster", type=Path, default=None,
                        help=f"the roster (default: COURSE/{ROSTER})")
    parser.add_argument("--adjustments", type=Path, default=None,
                        help=f"the peer review's adjustments (default: COURSE/{ADJUSTMENTS})")
    parser.add_argument("--assignment", default=ASSIGNMENT,
                        help=f"the assignment (default: {ASSIGNMENT})")
    args = parser.parse_args(argv)
    try:
        if args.command == "register":
            groups = register(args.course, args.roster)
            print(f"registered {len(groups)} groups of {sum(map(len, groups.values()))} "
                  f"students in the gradebook")
        elif args.command == "collect":
            for group, sid in collect(args.course, args.roster, args.assignment).items():
                print(f"{group}: " + (f"grading the hand-in of {sid}" if sid
                                      else "no hand-in by any member"))
        elif args.command == "distribute":
            delivered = distribute(args.course, args.roster, args.assignment, args.adjustments)
            members = load(args.course, args.roster)
            missing = [g for g in members.groups if members.is_group(g) and g not in delivered]
            print(f"feedback of {len(delivered)} groups copied to "
                  f"{sum(map(len, delivered.values()))} members; now run "
                  f"`nbgrader release_feedback {args.assignment}` or upload feedback/<member>/")
            if missing:
                print(f"no feedback yet (run `nbgrader generate_feedback {args.assignment}` "
                      f"after grading): {', '.join(missing)}", file=sys.stderr)
        else:
            members = load(args.course, args.roster)
            adjusted = adjustments(args.course, args.roster, args.adjustments)
            print(f"roster: {len(members.groups)} groups of {len(members.members)} students; "
                  f"adjustments for {len(adjusted)} students")
    except (RosterError, CourseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
