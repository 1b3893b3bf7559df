"""An instructor's week, end to end, with the real tools (slow: ~3 min on 2 cores).

A class of six students in three groups of two, in a temporary course:

* g1 (s1, s2) hands in the reference solution on time (graded at the grading budget);
* g2 (s3, s4) hands in Task 1 only, written their own way, a day after the due date (the
  course's late policy: one point off);
* g3 (s5, s6) hands in Task 1, written their own way, and a cheat
  (``tests/cheats/rebind_grading.py``): flagged.

The groups' Task 1 answers come from ``tests/similarity_class/`` (students who wrote their
own), so ``make grade``'s similarity summary finds no pair to flag.

Release (``nbgrader generate_assignment``) -> hand-ins under the members' ids, as ``nbgrader
collect`` leaves them -> ``groups collect`` and ``groups register`` -> the due date
(``nbgrader db assignment add``) -> ``python -m vae_anomaly.course.grade_class`` (what
``make grade`` runs) -> nbgrader's formgrader, served by a Jupyter server on 127.0.0.1 and
driven in headless Chromium: the figures, the flag, hand grading of g1 and g2 -> ``nbgrader
generate_feedback`` -> ``groups distribute`` -> the export. The feedback is then opened in
Chromium with every request off the machine blocked: its math typesets and its long lines
wrap.
"""

from __future__ import annotations

import copy
import csv
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.support import similarity_class
from tests.support.browser import chromium
from vae_anomaly.config import ASSIGNMENT
from vae_anomaly.course import export, folder, groups, notebooks

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

CHEAT = Path(__file__).parent / "cheats" / "rebind_grading.py"
ROSTER = """\
group,student_id,first_name,last_name,email
g1,s1,Ada,Lovelace,ada@example.org
g1,s2,Blaise,Pascal,blaise@example.org
g2,s3,Carl,Gauss,
g2,s4,Dora,Noether,
g3,s5,Emil,Post,
g3,s6,Fan,Chung,
"""
ADJUSTMENTS = """\
student_id,points,reason
s2,-3,did not take part in Task 4 (both paragraphs of the peer review agree)
"""
DUE = "2026-01-15 23:59:00 UTC"
OWN_TASK1 = {"task1": "keras_b", "cheat": "keras_a"}  # whose Task 1 each group wrote like
HAND_INS = {  # member: (what, timestamp as `nbgrader collect` leaves it)
    "s1": ("reference", "2026-01-15 09:00:00.000000 UTC"),
    "s4": ("task1", "2026-01-16 10:00:00.000000 UTC"),  # a day late
    "s5": ("cheat", "2026-01-15 11:00:00.000000 UTC"),
}
# The course's late policy, added to the temporary course's nbgrader_config.py
LATE_POLICY = '''
from nbgrader.plugins import LateSubmissionPlugin  # noqa: E402


class OnePointLate(LateSubmissionPlugin):
    """One point off a late notebook."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return min(1.0, score)


c.AssignLatePenalties.plugin_class = OnePointLate
'''
# the cells that draw a figure in the reference
FIGURES = {"task1_plots", "task2_training_answer", "task3_reconstructions", "task3_samples",
           "task4_distributions", "task4_detection_answer", "task4_reconstructions"}
GRADED_CELL = "task4_distributions"  # the hand grader gives 1.5 of 2 and a comment here
COMMENT = "The histograms overlap between 200 and 350 nats: say what that costs the detector."
AUTOGRADED_POINTS = sum(notebooks.autograded_points().values())  # 20
TASK1_POINTS = sum(v for k, v in notebooks.autograded_points().items() if k.startswith("task1"))


# --- the course, graded -------------------------------------------------------------------

def notebook(release, what: str):
    if what == "reference":
        return folder.submission(release)
    nb = copy.deepcopy(release)
    own = similarity_class.corpus(OWN_TASK1[what])
    for cell in nb.cells:
        grade_id = notebooks.grade_id(cell)
        if grade_id in own and notebooks.task_of(grade_id) == "task1":
            cell.source = own[grade_id]
    if what == "cheat":  # as tests/test_cheats.py inserts it
        at = next(i for i, c in enumerate(nb.cells)
                  if notebooks.grade_id(c) == "task1_split_answer")
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(CHEAT.read_text()))
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course after release, hand-in, collect, register and ``make grade``."""
    root = tmp_path_factory.mktemp("week") / "course"
    folder.make_course(root)
    with open(root / "nbgrader_config.py", "a") as f:
        f.write(LATE_POLICY)
    (root / "groups.csv").write_text(ROSTER)
    (root / "adjustments.csv").write_text(ADJUSTMENTS)
    release = folder.release_notebook(root)
    for member, (what, timestamp) in HAND_INS.items():
        path = folder.hand_in(root, member, notebook(release, what))
        (path.parent / groups.TIMESTAMP).write_text(timestamp)
        (path.parent / groups.SECRET).write_text(f"secret-of-{member}")
    collected = groups.collect(root)
    groups.register(root)
    due = folder.nbgrader("db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}", cwd=root)
    assert due.returncode == 0, due.stderr
    start = time.perf_counter()
    grade = subprocess.run([sys.executable, "-m", "vae_anomaly.course.grade_class", str(root),
                            "--workers", "2"], env=folder.tool_env(), capture_output=True,
                           text=True, timeout=1200)
    print(f"make grade: {time.perf_counter() - start:.0f} s")
    assert grade.returncode == 0, grade.stdout[-3000:] + grade.stderr[-3000:]
    return {"root": root, "collected": collected, "grade": grade}


def submission_ids(root: Path) -> dict[str, str]:
    with groups.gradebook(root) as gb:
        return {g: gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, g).id
                for g in ("g1", "g2", "g3")}


def images_by_cell(nb) -> dict[str, int]:
    """grade id -> PNG outputs, of the code cells that have any."""
    counts = {notebooks.grade_id(c): sum("image/png" in o.get("data", {}) for o in c.outputs)
              for c in nb.cells if c.cell_type == "code"}
    return {k: v for k, v in counts.items() if v}


# --- formgrader on loopback, Chromium ---------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory):
    """A Jupyter server with nbgrader's formgrader, started in the course folder (as
    `jupyter lab` there would), on 127.0.0.1; its URL and token."""
    root = course["root"]
    port, token = free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    log = open(runtime / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         "--ServerApp.open_browser=False", "--ServerApp.allow_root=True",
         f"--ServerApp.root_dir={root}",
         "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT,
        env=folder.tool_env({"JUPYTER_RUNTIME_DIR": str(runtime)}))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # at most 2 min
            assert server.poll() is None, (runtime / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the Jupyter server did not answer: " +
                        (runtime / "server.log").read_text()[-3000:])
        yield {"url": url, "token": token, "log": runtime / "server.log"}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(30)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def new_page(browser, local: tuple[str, ...], width: int = 1280):
    """A page that may only load ``local`` URLs (prefixes); every other request is aborted
    and listed in ``page.blocked``."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.blocked = []

    def route(r):
        if r.request.url.startswith(local + ("data:",)):
            r.continue_()
        else:
            page.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


# Each div.cell's PNG images that loaded and are laid out, by the grade id of its answer
# (formgrader: the comment box's id; the feedback: the comment anchor's name).
IMAGES_JS = """() => {
  const out = {};
  for (const cell of document.querySelectorAll('div.cell')) {
    const shown = Array.from(cell.querySelectorAll('img')).filter(i =>
      i.src.startsWith('data:image/png') && i.complete && i.naturalWidth > 0 &&
      i.getBoundingClientRect().height > 0);
    if (!shown.length) continue;
    const key = cell.querySelector('textarea.comment, a[name^="comment-"]');
    const id = !key ? '(no answer cell)' :
      key.id ? key.id.replace(/-comment$/, '') : key.name.replace(/^comment-/, '');
    out[id] = (out[id] || 0) + shown.length;
  }
  return out;
}"""


# formgrader has filled in the autograded scores (as each box's placeholder)
AUTOGRADED_SHOWN = "() => document.getElementById('task1_split_counts').placeholder !== ''"


def wait_for(predicate, seconds: float = 30) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


def hand_grades(root: Path, group: str) -> dict[str, tuple]:
    """cell -> (manual score, needs a manual grade, manual comment) of the hand-graded cells."""
    with groups.gradebook(root) as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, group)
        hand = {c.name for c in nb.notebook.solution_cells}
        comments = {c.name: c.manual_comment for c in nb.comments}
        return {g.name: (g.manual_score, g.needs_manual_grade, comments.get(g.name))
                for g in nb.grades if g.name in hand}


@pytest.fixture(scope="module")
def graded_by_hand(course, formgrader, browser):
    """The instructor's session in formgrader; what the pages showed."""
    root, url = course["root"], formgrader["url"]
    ids = submission_ids(root)
    seen = {}
    page = new_page(browser, (url,))
    page.goto(f"{url}/formgrader?token={formgrader['token']}")  # logs in (a cookie)

    # the submissions of the notebook: which one formgrader flags
    page.goto(f"{url}/formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}")
    page.wait_for_function("() => document.querySelectorAll('tr a.name-shown').length == 3")
    seen["flagged_rows"] = page.evaluate("""() => Array.from(document.querySelectorAll(
        'tr')).filter(r => r.querySelector('td.flagged .glyphicon-flag')).map(r =>
        r.querySelector('a.name-shown').textContent.trim())""")

    # g1: figures, the autograded scores, then every hand-graded cell
    page.goto(f"{url}/formgrader/submissions/{ids['g1']}/")
    page.wait_for_function(AUTOGRADED_SHOWN)
    seen["g1_images"] = page.evaluate(IMAGES_JS)
    seen["g1_auto_shown"] = page.locator("input.score#task2_loss_matches") \
        .get_attribute("placeholder")  # formgrader shows an autograded score so
    seen["g1_marked"] = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input.score.needs_manual_grade')).map(i => i.id).sort()""")
    hand = sorted(hand_grades(root, "g1"))
    seen["g1_open_before"] = sorted(k for k, v in hand_grades(root, "g1").items() if v[1])
    for cell in hand:
        if cell == GRADED_CELL:
            score = page.locator(f"input.score#{cell}")
            score.fill("1.5")
            score.press("Tab")
            comment = page.locator(f"textarea#{cell}-comment")
            comment.fill(COMMENT)
            comment.press("Tab")
        else:
            box = page.locator(f"input.score#{cell}")
            box.locator("xpath=ancestor::div[contains(@class,'panel-heading')]") \
                .locator("button.full-credit").click()
    seen["g1_saved"] = wait_for(lambda: all(
        score is not None and not needs and (cell != GRADED_CELL or comment == COMMENT)
        for cell, (score, needs, comment) in hand_grades(root, "g1").items()))

    # g2: the one hand-graded cell it answered
    page.goto(f"{url}/formgrader/submissions/{ids['g2']}/")
    page.wait_for_function(AUTOGRADED_SHOWN)
    page.locator("input.score#task1_plots").locator(
        "xpath=ancestor::div[contains(@class,'panel-heading')]").locator(
        "button.full-credit").click()
    seen["g2_saved"] = wait_for(lambda: hand_grades(root, "g2")["task1_plots"][0] == 2.0)

    # g3: the banner of a flagged notebook
    page.goto(f"{url}/formgrader/submissions/{ids['g3']}/")
    banner = page.locator("div.text_cell_render strong", has_text="Flagged for review.")
    seen["g3_banner"] = banner.count()
    seen["g3_banner_text"] = banner.first.locator("xpath=ancestor::div[1]").inner_text()
    seen["blocked"] = page.blocked
    page.close()
    return seen


@pytest.fixture(scope="module")
def delivered(course, graded_by_hand):
    """Feedback after hand grading, copied to the members; the export."""
    root = course["root"]
    feedback = folder.nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=root)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    to = groups.distribute(root)
    export.write(root, root / "grades.csv")
    with open(root / "grades.csv", newline="") as f:
        table = {r["student_id"]: r for r in csv.DictReader(f)}
    return {"to": to, "table": table, "log": feedback.stderr}


def feedback_page(root: Path, student: str) -> Path:
    return root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"


def cell_html(page: str, grade_id: str) -> str:
    """The part of a feedback page from a cell's anchor to the next cell's."""
    start = page.index(f'<a name="{grade_id}"></a>')
    end = page.find('<a name="', start + 1)
    return page[start:end if end > 0 else len(page)]


# --- the tests ------------------------------------------------------------------------

def test_make_grade_grades_each_group_once(course):
    root = course["root"]
    assert course["collected"] == {"g1": "s1", "g2": "s4", "g3": "s5"}
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["g1", "g2", "g3"]
    assert sorted(p.name for p in (root / "autograded").iterdir()) == ["g1", "g2", "g3"]
    assert "this run: 3 of 3 submissions graded" in course["grade"].stdout
    assert folder.scores(root, "g1") == notebooks.autograded_points()  # full marks
    with groups.gradebook(root) as gb:
        late = {g: gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, g)
                .late_submission_penalty for g in ("g1", "g2", "g3")}
        flagged = {g: gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, g).flagged
                   for g in ("g1", "g2", "g3")}
    assert late == {"g1": None, "g2": 1.0, "g3": None}
    assert flagged == {"g1": False, "g2": False, "g3": True}  # merged by make grade
    summary = course["grade"].stdout.split("similarity: ", 1)[1]  # independent work: no pair
    assert summary.startswith("3 pairs compared") and "0 at or above the threshold" in summary
    assert (root / "similarity" / "report.html").is_file()


def test_formgrader_shows_every_figure_and_the_flag(course, graded_by_hand):
    root, seen = course["root"], graded_by_hand
    autograded = nbformat.read(folder.notebook_path(root, "autograded", "g1"), 4)
    stored = images_by_cell(autograded)
    assert set(stored) == FIGURES  # the grading kernel kept every figure
    assert seen["g1_images"] == stored  # and formgrader shows each one
    assert seen["g1_auto_shown"] == "2"  # an autograded score, filled in
    assert seen["flagged_rows"] == ["g3, group of s5, s6"]
    assert seen["g3_banner"] == 1
    assert "reaches into the grading" in seen["g3_banner_text"]
    # what formgrader itself asks for off the machine: the CDN MathJax of its page, at most
    assert all("mathjax" in u.lower() for u in seen["blocked"]), seen["blocked"]


def test_hand_grades_saved_by_formgrader_are_in_the_gradebook(course, graded_by_hand):
    root, seen = course["root"], graded_by_hand
    assert seen["g1_open_before"] == sorted(hand_grades(root, "g1"))  # all 9 were open
    assert seen["g1_marked"] == seen["g1_open_before"]  # and formgrader marked them
    assert seen["g1_saved"] and seen["g2_saved"]
    g1 = hand_grades(root, "g1")
    assert g1[GRADED_CELL] == (1.5, False, COMMENT)
    assert {k: v[0] for k, v in g1.items() if k != GRADED_CELL} == {
        "task1_plots": 2.0, "task3_reconstructions": 2.0, "task3_samples": 2.0,
        "task4_reconstructions": 2.0, "task4_discussion_distributions": 2.0,
        "task4_discussion_curves": 2.0, "task4_discussion_reconstructions": 2.0,
        "task5_peer_review": 3.0}
    assert [k for k, v in hand_grades(root, "g3").items() if v[1]] == ["task1_plots"]


def test_every_member_gets_the_feedback_with_the_hand_grades(course, delivered):
    root = course["root"]
    assert delivered["to"] == {"g1": ["s1", "s2"], "g2": ["s3", "s4"], "g3": ["s5", "s6"]}
    for member in ("s1", "s2"):
        page = feedback_page(root, member).read_text(encoding="utf-8")
        graded = cell_html(page, GRADED_CELL)
        assert "Score: 1.5 / 2.0" in graded and COMMENT in graded
        total = AUTOGRADED_POINTS + 19 - 0.5
        assert f"anomaly_vae (Score: {total:.1f} / 39.0)" in page
        assert f'id="{groups.NOTE_ID}"' in page and "Group g1</strong> (s1, s2)" in page
        assert 'id="vae-ungraded-note"' not in page  # graded in full
    assert "adjusted by <strong>-3 points</strong>" in \
        feedback_page(root, "s2").read_text(encoding="utf-8")
    for member in ("s3", "s4"):
        page = feedback_page(root, member).read_text(encoding="utf-8")
        assert "Late submission penalty (Score: -1.0)" in page
    for member in ("s5", "s6"):  # not reviewed yet: the page says its score is partial
        page = feedback_page(root, member).read_text(encoding="utf-8")
        assert "<strong>Flagged for review.</strong>" in page
        assert 'id="vae-ungraded-note"' in page and "1 cell graded by hand has no" in page


def test_the_feedback_shows_every_figure(course, delivered, browser):
    root = course["root"]
    stored = images_by_cell(nbformat.read(folder.notebook_path(root, "autograded", "g1"), 4))
    page = new_page(browser, ("file:",))
    page.goto(feedback_page(root, "s1").as_uri())
    assert page.evaluate(IMAGES_JS) == stored
    assert set(stored) == FIGURES and page.blocked == []
    page.close()


def test_the_feedback_typesets_math_offline(course, delivered, browser):
    root = course["root"]
    html = feedback_page(root, "s2").read_text(encoding="utf-8")
    # nothing is loaded from elsewhere: no script, stylesheet or font URL off the page
    assert not re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="https?://', html)
    assert not re.findall(r'url\(["\']?https?://', html)
    assert "cdnjs.cloudflare.com" not in html and "MathJax.Hub.Config" not in html
    page = new_page(browser, ("file:",))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(feedback_page(root, "s2").as_uri())
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    assert page.locator("mjx-container").count() >= 20  # the notebook's formulas
    assert page.locator("mjx-merror").count() == 0
    fonts = page.evaluate("""() => document.fonts.ready.then(() => Array.from(document.fonts)
        .filter(f => f.family.startsWith('MJX')).map(f => f.status))""")
    assert "loaded" in fonts and "error" not in fonts  # MathJax's own fonts, from the page
    assert page.blocked == [] and errors == []
    page.close()


def test_long_lines_of_the_feedback_wrap(course, delivered, browser):
    root = course["root"]
    page = new_page(browser, ("file:",), width=1000)
    page.goto(feedback_page(root, "s5").as_uri())
    widths = page.evaluate("""() => {
      const pres = Array.from(document.querySelectorAll('div.output_area pre'));
      const longest = pres.reduce((a, b) => (b.textContent.split('\\n').reduce(
        (m, l) => Math.max(m, l.length), 0) > a[1] ? [b, b.textContent.split('\\n').reduce(
        (m, l) => Math.max(m, l.length), 0)] : a), [null, 0]);
      const pre = longest[0];
      const wrapped = [pre.scrollWidth, pre.clientWidth];
      pre.style.whiteSpace = 'pre';  // as without the course's style
      const unwrapped = [pre.scrollWidth, pre.clientWidth];
      pre.style.whiteSpace = '';
      return {longest: longest[1], wrapped, unwrapped,
              overflowing: pres.filter(p => p.scrollWidth > p.clientWidth + 1).length,
              page: [document.documentElement.scrollWidth, document.documentElement.clientWidth]};
    }""")
    assert widths["longest"] > 150  # the flag's reasons in every test cell's error
    assert widths["unwrapped"][0] > widths["unwrapped"][1], widths  # it would overflow
    assert widths["wrapped"][0] <= widths["wrapped"][1], widths  # it wraps
    assert widths["overflowing"] == 0 and widths["page"][0] <= widths["page"][1], widths
    page.close()


def test_the_export_has_one_row_per_student(course, delivered):
    r = delivered["table"]
    assert list(r) == ["s1", "s2", "s3", "s4", "s5", "s6"]
    manual = 19 - 0.5
    for s, adjustment in (("s1", 0), ("s2", -3)):
        assert (r[s]["group"], r[s]["status"], r[s]["flagged"]) == ("g1", "complete", "false")
        assert float(r[s]["auto"]) == AUTOGRADED_POINTS and float(r[s]["manual"]) == manual
        assert float(r[s]["late_penalty"]) == 0 and float(r[s]["adjustment"]) == adjustment
        assert float(r[s]["total"]) == AUTOGRADED_POINTS + manual + adjustment
    assert "did not take part in Task 4" in r["s2"]["reason"]
    for s in ("s3", "s4"):
        assert (r[s]["group"], r[s]["status"], r[s]["flagged"]) == ("g2", "complete", "false")
        assert (float(r[s]["auto"]), float(r[s]["manual"]), float(r[s]["late_penalty"])) == \
            (TASK1_POINTS, 2.0, 1.0)
        assert float(r[s]["total"]) == TASK1_POINTS + 2.0 - 1.0 and "late: -1" in r[s]["reason"]
    for s in ("s5", "s6"):
        assert (r[s]["group"], r[s]["status"], r[s]["flagged"]) == ("g3", "flagged", "true")
        assert float(r[s]["auto"]) == 0 and r[s]["ungraded_manual"] == "1"
        assert "reaches into the grading" in r[s]["reason"]

