"""The similarity report on a synthetic class (``tests/support/similarity_class.py``): at the
default threshold every planted copy is found and no pair of independent work is flagged;
the report stays in its folder; the stored quality is what the code measures."""

import csv
import hashlib
import itertools
import json
import shutil

import pytest
from copydetect import compare_files

from tests.support import similarity_class
from vae_anomaly.course import similarity


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The class in a course folder, its planted pairs, and the report's pairs."""
    root = tmp_path_factory.mktemp("similarity") / "course"
    planted, independent = similarity_class.build(root)
    before = files(root)
    pairs, unread = similarity.report(root, progress=False)
    assert not unread
    after = files(root)
    written = {p for p in after if before.get(p) != after[p]} | (before.keys() - after.keys())
    return root, planted, independent, pairs, written


def files(root):
    return {p: hashlib.sha256(p.read_bytes()).digest() for p in root.rglob("*") if p.is_file()}


def test_every_copy_found_and_no_independent_pair_flagged(course):
    _, planted, independent, pairs, _ = course
    flagged = [p for p in pairs if p.score >= similarity.THRESHOLD]
    found = {frozenset((a, b)) for p in flagged for a in p.a.students for b in p.b.students}
    assert planted <= found, f"copies missed: {planted - found}"
    wrong = [(p.a.name, p.b.name, round(p.score, 3)) for p in flagged
             if not similarity_class.planted_pair(p, planted)]
    assert not wrong, f"independent work flagged: {wrong}"
    assert {"reference", "keras_a", "keras_b", "keras_c", "untouched"} <= set(independent)
    assert len(independent) >= 8  # the reference, three designs, three adaptations, untouched


def test_each_channel_sees_through_its_disguise(course):
    """Renamed, reordered, merged, re-commented and re-laid-out code still matches; so do
    paraphrased discussions; independent discussions do not."""
    _, planted, _, pairs, _ = course
    for p in pairs:
        if similarity_class.planted_pair(p, planted):
            assert p.code >= similarity.THRESHOLD, (p.a.name, p.b.name, p.code)
            copied_text = {*p.a.students, *p.b.students} & similarity_class.TEXT_COPIES
            assert (p.text >= similarity.THRESHOLD) == bool(copied_text), (p.a.name, p.text)


def test_declared_template_keeps_keras_example_adapters_apart(course):
    """Students who all started from the keras.io example share its code; declared as
    template, it no longer counts."""
    root, *_ = course
    keras = [*similarity_class.KERAS_STUDENTS, "keras_example_gaussian"]
    with_template, _ = similarity.load(root, [similarity.TEMPLATES], progress=False)
    without, _ = similarity.load(root, [], progress=False)
    high = [similarity_class.highest_code(similarity.compare(subs, progress=False), keras)
            for subs in (with_template, without)]
    assert high[0] < high[1] - 0.1, high


def test_group_is_one_submission(course):
    root, _, _, pairs, _ = course
    group, members = similarity_class.GROUP
    names = {n for p in pairs for n in (p.a.name, p.b.name)}
    assert f"{group} ({', '.join(members)})" in names
    assert not any(set(members) & set(p.a.students) and set(members) & set(p.b.students)
                   for p in pairs)


def test_report_writes_only_its_folder(course):
    root, _, _, pairs, written = course
    out = root / similarity.OUTPUT
    assert {p.relative_to(out).as_posix() for p in written} == {"report.html", "pairs.csv"}
    assert not (root / "feedback").exists()  # and the gradebook is unchanged (above)
    with (out / "pairs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(pairs)
    assert [r["flagged"] for r in rows].count("1") == sum(
        p.score >= similarity.THRESHOLD for p in pairs)
    page = (out / "report.html").read_text()
    conf, flagged = similarity.Similarity(), [p for p in pairs if p.score >= similarity.THRESHOLD]
    assert "For the instructor only" in page
    assert page.count("<details") == min(len(pairs), max(len(flagged), conf.shown), conf.views)
    top = pairs[0]
    assert f"{top.a.name} – {top.b.name}" in page and "<mark>" in page


def test_shares_are_copydetects(course):
    """The all-pairs shares equal copydetect's ``compare_files`` similarity, pair by pair."""
    root, *_ = course
    subs, _ = similarity.load(root, [similarity.TEMPLATES], progress=False)
    for kind in ("code", "text"):
        prints = [getattr(s, f"{kind}_print") for s in subs]
        matrix = similarity.shares(prints)
        for i, j in itertools.permutations(range(len(prints)), 2):
            expected = (0 if prints[i].hashes.isdisjoint(prints[j].hashes)
                        else compare_files(prints[i], prints[j])[1][0])
            assert matrix[i, j] == pytest.approx(expected, abs=1e-12), (kind, i, j)


def test_words_point_back_into_the_text():
    text = "# %% task4_x\n**The ELBO (4b).** Trousers  score\nlow.\n"
    normalised, where = similarity.words(text)
    assert normalised == "the elbo 4b trousers score low"
    assert len(where) == len(normalised)
    assert all(normalised[i] == text[w].lower() for i, w in enumerate(where)
               if normalised[i] != " ")


def test_stored_results_are_what_the_code_measures(course):
    """``results/similarity.json`` (``make similarity-benchmark``) holds today's quality."""
    root, planted, *_ = course
    stored = json.loads(similarity_class.OUTPUT.read_text())
    measured = similarity_class.measure_quality(root, planted)
    assert {k: stored[k] for k in measured} == measured, "run make similarity-benchmark"
    assert stored["threshold"] == similarity.THRESHOLD
    assert stored["precision"] == stored["recall"] == 1.0
    assert stored["benchmark"]["submissions"] == similarity_class.BENCHMARK_SIZE


def test_command_line_lists_flagged_pairs(course, capsys):
    root, planted, *_ = course
    similarity.main([str(root), "--threshold", "0.99"])
    out = capsys.readouterr().out
    flagged = [line for line in out.splitlines() if line.startswith("  1.00")]
    assert flagged and all("copy_" in line for line in flagged)
    assert "instructor only" in out


def test_flagged_pairs_are_marked_for_the_instructor_only(course, tmp_path):
    """``make similarity`` / ``make grade`` flag both sides of every pair at or above the
    threshold in the gradebook, once: a pair the instructor reviewed and unflagged stays so.
    The export says why; no comment (what feedback shows) mentions it."""
    from nbgrader.api import Gradebook

    from vae_anomaly.config import ASSIGNMENT
    from vae_anomaly.course import export, groups

    src, planted, _, pairs, _ = course
    root = tmp_path / "course"
    shutil.copytree(src, root)
    handed_in = sorted(p.name for p in (root / "submitted").iterdir())
    with groups.gradebook(root) as gb:
        for student in handed_in:
            gb.update_or_create_student(student)
            gb.add_submission(ASSIGNMENT, student)
    lines = similarity.summary(root)
    flagged = [p for p in pairs if p.score >= similarity.THRESHOLD]
    assert lines[0].endswith(f"{len(flagged)} at or above the threshold "
                             f"{similarity.THRESHOLD:.2f} (both sides flagged for review in "
                             "the gradebook, for the instructor only)"), lines
    assert all(f"{p.a.name} – {p.b.name}" in "\n".join(lines) for p in flagged)
    expected = {s for p in flagged for s in (*p.a.students, *p.b.students)}
    assert expected >= {s for pair in planted for s in pair}

    def flags():
        with groups.gradebook(root) as gb:
            return {s for s in handed_in
                    if gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, s).flagged}

    assert flags() == expected
    rows = {r["student_id"]: r for r in export.rows(root)}
    alone = set(handed_in) - set(similarity_class.GROUP[1])  # the group was not collected
    for student in expected & alone:
        assert rows[student]["status"] == "flagged"
        assert "similar to" in rows[student]["reason"], rows[student]
    assert not any(rows[s]["flagged"] for s in alone - expected)
    db_url, course_id = groups.settings(root)
    with Gradebook(db_url, course_id) as gb:  # what feedback is made of
        comments = [c for s in handed_in for c in
                    gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, s).comments]
        assert not any("similar" in (c.auto_comment or "") + (c.manual_comment or "")
                       for c in comments)
        reviewed = sorted(expected)[0]  # the instructor talked to them and unflagged it
        gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, reviewed).flagged = False
        gb.db.commit()
    again = similarity.summary(root)
    assert flags() == expected - {reviewed}
    assert all(line.endswith("(marked before)") for line in again[1:1 + len(flagged)]), again
