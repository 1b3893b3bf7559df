"""Group work from hand-in to export, without training (~30 s).

A real course (``nbgrader generate_assignment``) with a roster of two groups and six students,
one of them working alone. Members hand in as ``nbgrader collect`` leaves them; the scores are
written with nbgrader's ``Gradebook`` API as autograde and formgrader write them (one group
late, one flagged with ungraded hand-graded cells); the feedback is made, released and fetched
by the real ``nbgrader generate_feedback``, ``release_feedback`` and ``fetch_feedback``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from nbgrader.utils import notebook_hash

from vae_anomaly.config import ASSIGNMENT
from vae_anomaly.course import export, folder, groups
from vae_anomaly.course.roster import RosterError, read_adjustments, read_roster

# nbgrader's own Gradebook.add_submission warns so (as it does when autograde calls it)
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

ROSTER = """\
group,student_id,first_name,last_name,email
g1,s1,Ada,Lovelace,ada@example.org
g1,s2,Blaise,Pascal,blaise@example.org
g2,s3,Carl,Gauss,
g2,s4,Dora,Noether,
g2,s5,Emil,Post,
"""
ADJUSTMENTS = """\
student_id,points,reason
# after the peer review of group g1
s2,-5,did not take part in Tasks 2-4 (all three paragraphs agree)
s1,0.5,wrote most of Task 4
s1,0.5,"reviewed Task 2, fixed its loss"
"""
HAND_INS = {  # member: timestamp, as `nbgrader collect` leaves it
    "s1": "2026-01-15 09:00:00.000000 UTC",
    "s2": "2026-01-16 10:00:00.000000 UTC",  # the last of g1, after the deadline
    "s3": "2026-01-14 12:00:00.000000 UTC",
    "s6": "2026-01-14 13:00:00.000000 UTC",  # alone, in no group
}
DUE = "2026-01-15 23:59:00.000000 UTC"
FLAG = "flagged for review: task4_auc_threshold: ROC AUC 0.991 above 0.95"


def hand_in(root: Path, student: str, timestamp: str) -> None:
    path = folder.hand_in(root, student, folder.release_notebook(root))
    (path.parent / groups.TIMESTAMP).write_text(timestamp)
    (path.parent / groups.SECRET).write_text(f"secret-of-{student}")


def grade(gb, root: Path, student: str, failed=(), manual=None, late=0.0, flag=None) -> None:
    """Scores as ``nbgrader autograde`` leaves them, then hand grading as formgrader saves it:
    ``manual`` maps hand-graded cells to points; the others stay ungraded."""
    timestamp = root / "submitted" / student / ASSIGNMENT / groups.TIMESTAMP
    gb.update_or_create_submission(ASSIGNMENT, student, timestamp=timestamp.read_text())
    nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
    hand = {c.name for c in nb.notebook.solution_cells}
    for g in nb.grades:
        if g.name in hand:
            g.auto_score, g.needs_manual_grade = None, True
            if manual is not None and g.name in manual:
                g.manual_score, g.needs_manual_grade = manual[g.name], False
        else:
            g.auto_score, g.needs_manual_grade = (0.0 if g.name in failed else g.max_score), False
    nb.late_submission_penalty = late or None
    if flag:
        nb.flagged = True
        sorted(nb.comments, key=lambda c: c.cell_id)[0].auto_comment = flag
    gb.db.commit()


def autograded(root: Path, student: str) -> None:
    """``autograded/<student>/`` as autograde writes it (the notebook and the hand-in's files)."""
    src, dest = (root / d / student / ASSIGNMENT for d in ("submitted", "autograded"))
    shutil.copytree(src, dest)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups") / "course"
    folder.make_course(root)
    (root / "groups.csv").write_text(ROSTER)
    (root / "adjustments.csv").write_text(ADJUSTMENTS)
    for student, timestamp in HAND_INS.items():
        hand_in(root, student, timestamp)
    groups.collect(root)
    groups.register(root)
    with groups.gradebook(root) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
        gb.update_or_create_student("s6", first_name="Sofia", last_name="Kovalevskaya")
        gb.update_or_create_submission(ASSIGNMENT, "s3")  # graded alone before `collect`
        notebook = gb.find_notebook(ASSIGNMENT, ASSIGNMENT)
        answers = {c.name for c in notebook.solution_cells}
        hand = {c.name: c.max_score for c in notebook.grade_cells if c.name in answers}
        # g1: full marks, handed in a day late (penalty 2 by the course's late policy)
        grade(gb, root, "g1", manual=hand, late=2.0)
        # g2: flagged by the autograder (that cell scores 0), 4 hand-graded cells still open
        grade(gb, root, "g2", failed={"task4_auc_threshold"},
              manual=dict(list({k: 1.0 for k in hand}.items())[:5]), flag=FLAG)
        # s6 alone: the Task 2 tests failed, every hand-graded cell graded
        grade(gb, root, "s6", failed={"task2_encoder", "task2_decoder", "task2_loss_matches"},
              manual={k: v / 2 for k, v in hand.items()})
    for student in ("g1", "g2", "s6"):
        autograded(root, student)
    feedback = folder.nbgrader("generate_feedback", ASSIGNMENT, cwd=root)
    assert feedback.returncode == 0, feedback.stderr
    groups.distribute(root)
    return root


def by_id(rows):
    return {r["student_id"]: r for r in rows}


def test_collect_grades_the_latest_hand_in_of_each_group_once(course):
    g1 = course / "submitted" / "g1" / ASSIGNMENT
    assert (g1 / groups.TIMESTAMP).read_text() == HAND_INS["s2"]
    secret = (g1 / groups.SECRET).read_text()
    assert secret not in {f"secret-of-{s}" for s in HAND_INS}  # the group's own
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["g1", "g2", "s6"]
    for member in ("s1", "s2", "s3"):
        kept = course / groups.MEMBERS / member / ASSIGNMENT / groups.SECRET
        assert kept.read_text() == f"secret-of-{member}"
    assert groups.collect(course) == {"g1": "s2", "g2": "s3"}
    assert (g1 / groups.SECRET).read_text() == secret  # unchanged: nothing to regrade


def test_register_puts_groups_and_members_in_the_gradebook(course):
    with groups.gradebook(course) as gb:
        students = {s.id: s for s in gb.students}
    assert {"g1", "g2", "s1", "s2", "s3", "s4", "s5", "s6"} <= set(students)
    assert students["g2"].first_name == "group of s3, s4, s5"
    assert students["s1"].email == "ada@example.org"


def test_export_has_one_row_per_student_with_the_group_scores(course):
    rows = export.rows(course)
    assert [r["student_id"] for r in rows] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    r = by_id(rows)
    for s in ("s1", "s2"):  # g1: 20 autograded + 19 by hand, late
        assert (r[s]["group"], r[s]["auto"], r[s]["manual"], r[s]["late_penalty"]) == \
            ("g1", 20.0, 19.0, 2.0)
        assert r[s]["status"] == "complete" and r[s]["max_score"] == 39.0
    assert (r["s1"]["adjustment"], r["s1"]["total"]) == (1.0, 38.0)
    assert (r["s2"]["adjustment"], r["s2"]["total"]) == (-5.0, 32.0)
    assert "did not take part" in r["s2"]["reason"] and "late: -2" in r["s2"]["reason"]
    assert "wrote most of Task 4; reviewed Task 2" in r["s1"]["reason"]
    for s in ("s3", "s4", "s5"):  # g2: flagged, one cell zeroed, 4 cells not graded by hand
        assert (r[s]["group"], r[s]["flagged"], r[s]["status"]) == ("g2", True, "flagged")
        assert (r[s]["auto"], r[s]["manual"], r[s]["ungraded_manual"]) == (19.0, 5.0, 4)
        assert "ROC AUC 0.991 above 0.95" in r[s]["reason"]
    assert "own submission of s3 ignored: graded with group g2" in r["s3"]["reason"]
    assert "own submission" not in r["s4"]["reason"]
    assert (r["s6"]["group"], r["s6"]["auto"], r["s6"]["manual"], r["s6"]["total"]) == \
        ("s6", 16.0, 9.5, 25.5)
    assert r["s6"]["first_name"] == "Sofia" and r["s6"]["status"] == "complete"


def test_lms_files_carry_only_final_totals(course, tmp_path, capsys):
    generic = tmp_path / "grades.csv"
    export.write(course, generic)
    table = list(csv.DictReader(generic.open()))
    assert list(table[0]) == list(export.COLUMNS) and len(table) == 6
    assert by_id(table)["s2"]["total"] == "32" and by_id(table)["s3"]["flagged"] == "true"

    canvas = tmp_path / "canvas.csv"
    assert export.main([str(course), "--canvas", "--out", str(canvas),
                        "--column", "anomaly_vae (4711)"]) == 0
    table = list(csv.DictReader(canvas.open()))
    assert list(table[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                              "anomaly_vae (4711)"]
    assert [(t["Student"], t["SIS User ID"], t["anomaly_vae (4711)"]) for t in table] == [
        ("Lovelace, Ada", "s1", "38"), ("Pascal, Blaise", "s2", "32"),
        ("Kovalevskaya, Sofia", "s6", "25.5")]
    assert "left out s3 (flagged" in capsys.readouterr().err

    moodle = tmp_path / "moodle.csv"
    assert export.main([str(course), "--moodle", "--out", str(moodle), "--partial"]) == 0
    table = by_id([{"student_id": t["ID number"], **t} for t in csv.DictReader(moodle.open())])
    assert len(table) == 6 and table["s1"]["Email address"] == "ada@example.org"
    assert table["s2"][ASSIGNMENT] == "32"
    assert table["s2"]["Feedback"] == ("32 of 39: group g1, autograded 20, hand-graded 19, "
                                       "late penalty -2, adjustment -5")


def test_feedback_reaches_every_member_through_the_exchange(course, tmp_path):
    for member, group in [("s1", "g1"), ("s2", "g1"), ("s3", "g2"), ("s4", "g2"), ("s5", "g2")]:
        page = (course / "feedback" / member / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        assert page.count(groups.NOTE_ID) == 1 and f"Group {group}</strong>" in page
    s2 = (course / "feedback" / "s2" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "adjusted by <strong>-5 points</strong>" in s2
    assert groups.NOTE_ID not in (course / "feedback" / "g1" / ASSIGNMENT /
                                  f"{ASSIGNMENT}.html").read_text()

    exchange, cache, home = tmp_path / "exchange", tmp_path / "cache", tmp_path / "home"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)
    where = [f"--Exchange.root={exchange}", "--course=vae-anomaly"]
    released = folder.nbgrader("release_feedback", ASSIGNMENT, *where, cwd=course)
    assert released.returncode == 0, released.stderr
    outbound = exchange / "vae-anomaly" / "feedback"
    for member in ("s1", "s2", "s3"):  # each member who handed in, under their own secret
        key = notebook_hash(secret=f"secret-of-{member}", notebook_id=ASSIGNMENT)
        page = outbound / f"{key}.html"
        assert groups.NOTE_ID in page.read_text()

    # s1 fetches it as `nbgrader fetch_feedback` does, from the cache `nbgrader submit` left
    submitted = cache / "vae-anomaly" / f"s1+{ASSIGNMENT}+{HAND_INS['s1']}"
    shutil.copytree(course / groups.MEMBERS / "s1" / ASSIGNMENT, submitted)
    home.mkdir()
    fetched = folder.nbgrader("fetch_feedback", ASSIGNMENT, *where, "--student=s1",
                              f"--Exchange.cache={cache}", f"--Exchange.assignment_dir={home}",
                              cwd=home)
    assert fetched.returncode == 0, fetched.stderr
    page = home / ASSIGNMENT / "feedback" / HAND_INS["s1"] / f"{ASSIGNMENT}.html"
    assert "Group g1</strong> (s1, s2)" in page.read_text()


def test_regrading_and_redistributing_keep_the_adjustments(course):
    before = (course / "adjustments.csv").read_bytes()
    with groups.gradebook(course) as gb:  # a grader raises a hand-graded score of g1
        g = gb.find_grade("task5_peer_review", ASSIGNMENT, ASSIGNMENT, "g1")
        g.manual_score = 2.0
        gb.db.commit()
    page = course / "feedback" / "g1" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    page.write_text(page.read_text().replace("<body", "<!-- regenerated --><body", 1))
    groups.distribute(course)
    groups.distribute(course)
    assert (course / "adjustments.csv").read_bytes() == before
    member = (course / "feedback" / "s2" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "<!-- regenerated -->" in member and member.count(groups.NOTE_ID) == 1
    r = by_id(export.rows(course))
    assert (r["s1"]["total"], r["s2"]["total"]) == (37.0, 31.0)


def test_a_group_handed_in_but_not_graded_is_not_final(course, tmp_path):
    roster = tmp_path / "groups.csv"
    roster.write_text(ROSTER + "g3,s7,Gus,Grey,\n")
    hand_in(course, "s7", HAND_INS["s1"])
    try:
        groups.collect(course, roster)
        r = by_id(export.rows(course, roster=roster))
        assert (r["s7"]["group"], r["s7"]["status"]) == ("g3", "not autograded")
    finally:
        shutil.rmtree(course / "submitted" / "g3")
        shutil.rmtree(course / groups.MEMBERS / "s7")


@pytest.mark.parametrize("line, error", [
    ("s9,1,typo", "adjustments.csv:3: unknown student id 's9'"),
    ("s1,one,typo", "adjustments.csv:3: points 'one' for 's1' is not a number"),
    ("s1,nan,typo", "adjustments.csv:3: points 'nan'"),
    ("s1,-1,", "adjustments.csv:3: no reason for the adjustment of 's1'"),
    ("g1,-1,all late", "adjustments.csv:3: 'g1' is a group"),
])
def test_a_bad_adjustment_is_named_with_its_line(course, tmp_path, capsys, line, error):
    bad = tmp_path / "adjustments.csv"
    bad.write_text(f"student_id,points,reason\ns2,-5,ok\n{line}\n")
    with pytest.raises(RosterError, match=error):
        export.rows(course, adjustments=bad)
    assert groups.main(["check", str(course), "--adjustments", str(bad)]) == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize("text, error", [
    ("group,student_id\ng1,s1\ng2,s1\n", "groups.csv:3: student 's1' is already listed on line 2"),
    ("group,studentid\ng1,s1\n", "groups.csv:1: missing column.*student_id.*unknown column"),
    ("group,student_id\ns2,s1\ng2,s2\n", "group 's2' has the id of a student in group 'g2'"),
    ("group,student_id\ns1,s1\ns1,s2\n", "group 's1' is named after its member"),
    ("group,student_id\ng 1,s1\n", "groups.csv:2: group 'g 1' is not a valid id"),
])
def test_a_bad_roster_is_named_with_its_line(tmp_path, text, error):
    path = tmp_path / "groups.csv"
    path.write_text(text)
    with pytest.raises(RosterError, match=error):
        read_roster(path)


def test_a_student_alone_may_be_a_group_of_one_in_the_roster(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("\ufeffGroup,Student_ID\ns6,s6\ng1,s1\n\n")
    roster = read_roster(path)
    assert roster.group_of("s6") == "s6" and not roster.is_group("s6")
    assert roster.group_of("s9") == "s9" and roster.is_group("g1")
    assert read_adjustments(tmp_path / "none.csv", {"s1"}) == {}
