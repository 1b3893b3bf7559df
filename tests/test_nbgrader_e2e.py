"""End to end with the real nbgrader CLI, in a temporary copy of the course (slow: ~10 min).

generate_assignment -> submissions (reference, untouched release, partial, planted bugs,
bad input) -> autograde -> generate_feedback -> export, then the gradebook is checked.
Planted bugs and bad input are graded at a small training budget (the tests that catch
them do not need a calibrated AUC), those of Task 1 in a notebook that stops after Task 1
and those of Task 4 on a model trained in seconds; the reference at the grading budget,
where it must get full autograded marks. Five of them are graded by ``otter run`` too, and
the two tools must agree cell by cell.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import tomllib

from tests.support.edits import edit
from vae_anomaly.config import ASSIGNMENT, GRADING_EPOCHS, ROOT
from vae_anomaly.course import designs, folder, notebooks, otter_grade, otter_master
from vae_anomaly.course.designs import DESIGNS

pytestmark = pytest.mark.slow

SMALL_BUDGET = 2  # epochs, for submissions whose checks do not need the calibrated AUC
CELL_TIMEOUT = 30  # seconds, for the batch holding the endless loop

DETECTOR = ["task4_auc_not_inverted", "task4_auc_threshold"]
# the course's pitfall, a Bernoulli decoder: the edit of designs/bernoulli_bce
BERNOULLI = tomllib.loads((DESIGNS / "bernoulli_bce" / "design.toml").read_text())["replace"][0]
SMALL = ("vae.fit(x_train,", "vae.fit(x_train[:512],")  # a model in seconds, for Task 4's bugs
# name -> (source edits, task it breaks, test cells that must catch it, the notebook it is
# planted in: Task 1 alone, the reference trained on a few images, or the reference)
PLANTED = {
    "bug_trousers_in_training": (
        [("x_train_all[y_train_all != TROUSER]", "x_train_all")],
        "task1", ["task1_split_counts", "task1_split_train"], "task1"),
    "bug_unscaled": ([(" / 255", "")], "task1", ["task1_split_scaling"], "task1"),
    "bug_swapped_sets": (
        [('x_test_anomaly = x_test_all[y_test_all == TROUSER].astype("float32") / 255',
          'x_test_anomaly = x_test_all[y_test_all == TROUSER].astype("float32") / 255\n'
          "x_test_normal, x_test_anomaly = x_test_anomaly, x_test_normal")],
        "task1", ["task1_split_counts", "task1_split_test"], "task1"),
    "bug_elbo_sign": ([("return -np.mean([negative_elbo(x)", "return np.mean([negative_elbo(x)")],
                      "task4", ["task4_elbo_matches"], "small"),
    "bug_positive_class": (
        [("np.zeros(len(elbo_normal)), np.ones(len(elbo_anomaly))",
          "np.ones(len(elbo_normal)), np.zeros(len(elbo_anomaly))")],
        "task4", ["task4_auc_reported"], "small"),
    "bug_hardcoded_auc": (
        [("pr_auc = metrics.average_precision_score(is_anomaly, anomaly_score)",
          "pr_auc = metrics.average_precision_score(is_anomaly, anomaly_score)\n"
          "roc_auc, pr_auc = 0.95, 0.80")],
        "task4", ["task4_auc_reported"], "small"),
    "bug_untrained": ([("epochs=EPOCHS", "epochs=0")], "task2",
                      ["task2_loss_decreases", "task2_loss_matches", "task4_auc_not_inverted",
                       "task4_auc_threshold"], "full"),
    "bug_barely_trained": ([("vae.fit(x_train,", "vae.fit(x_train[:256],")], "task4",
                           ["task4_auc_threshold"], "full"),
    "bug_bernoulli": ([(BERNOULLI["old"], BERNOULLI["new"])], "task4", DETECTOR, "full"),
}


def planted(release, name):
    """The submission with bug ``name`` (``PLANTED``) planted in it."""
    edits, _, _, base = PLANTED[name]
    nb = folder.submission(release, tasks={"task1"} if base == "task1" else None)
    for old, new in edits + ([SMALL] if base == "small" else []):
        nb = edit(nb, old, new)
    return nb


def cell(nb, grade_id):
    return next(c for c in nb.cells if notebooks.meta(c).get("grade_id") == grade_id)


def bad_submissions(release):
    """Broken JSON, deleted or edited tests, code that raises, a cell that never ends."""
    task1 = folder.submission(release, tasks={"task1"})
    deleted = folder.submission(release, tasks={"task1"})
    deleted.cells = [c for c in deleted.cells if not (
        notebooks.meta(c).get("grade_id", "").startswith("task1_split_")
        and notebooks.meta(c).get("grade"))]
    edited = nbformat.from_dict(release)
    for c in edited.cells:
        if notebooks.meta(c).get("grade") and c.cell_type == "code":
            c.source = "pass  # all tests pass, honest"
    raises = folder.submission(release, tasks={"task1"})
    cell(raises, "task1_split_answer").source = "1 / 0"
    looping = folder.submission(release, tasks={"task1"})
    cell(looping, "task1_split_answer").source += "\nwhile True:\n    pass"
    return {"bad_json": nbformat.writes(task1)[:3000], "bad_deleted_tests": deleted,
            "bad_edited_tests": edited, "bad_raises": raises, "bad_loop": looping}


# correct designs unlike the reference, from the calibrated family (designs/)
ALTERNATIVES = ["dense_custom_step", "dense_fixed_sigma", "conv_learned_sigma"]
# this one's student first trains a plain autoencoder for comparison, for the whole budget in
# a cell of their own: each model has the budget, so the VAE's marks must not change
EXPLORES = "dense_fixed_sigma"
COMPARISON = """\
# For Task 4's discussion: a plain autoencoder, trained first, to compare with the VAE.
plain = keras.Sequential([
    keras.Input(shape=x_train.shape[1:]), keras.layers.Flatten(),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(int(np.prod(x_train.shape[1:])), activation="sigmoid"),
    keras.layers.Reshape(x_train.shape[1:])])
plain.compile(optimizer="adam", loss="mse")
plain_history = plain.fit(x_train, x_train, epochs=EPOCHS, batch_size=256, verbose=0)
print(f"plain autoencoder: {len(plain_history.history['loss'])} epochs, "
      f"loss {plain_history.history['loss'][-1]:.4f}")
"""


def alternative_submission(release, design):
    """The reference with the answer cells of another design (``designs/<design>``)."""
    nb = folder.submission(release)
    answers = designs.load(design).answers
    for c in nb.cells:
        if notebooks.kind(c) == "answer" and notebooks.grade_id(c) in answers:
            c.source = answers[notebooks.grade_id(c)]
    if design == EXPLORES:
        at = next(i for i, c in enumerate(nb.cells)
                  if notebooks.grade_id(c) == "task2_training_answer")
        nb.cells.insert(at, nbformat.v4.new_code_cell(COMPARISON))
    return nb


# graded by ``otter run`` too (the course's autograder zip), at the same budgets: every
# autograded cell must score the same in both tools
OTTER_PARITY = {"reference": GRADING_EPOCHS, "release": SMALL_BUDGET, "partial": SMALL_BUDGET,
                "bug_unscaled": SMALL_BUDGET, "bug_elbo_sign": SMALL_BUDGET}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, otter_dist):
    """The course after grading every submission; returns its root and the logs (the otter
    results of ``OTTER_PARITY`` under ``"otter"``)."""
    root = tmp_path_factory.mktemp("course")
    folder.make_course(root)
    release = folder.release_notebook(root)
    reference = folder.submission(release)
    folder.hand_in(root, "reference", reference)
    folder.hand_in(root, "reference_again", reference)
    folder.hand_in(root, "release", release)
    folder.hand_in(root, "partial", folder.submission(release, tasks={"task1"}))
    for design in (*ALTERNATIVES, "conv_laplace"):
        folder.hand_in(root, f"alt_{design}", alternative_submission(release, design))
    for name, nb in bad_submissions(release).items():
        folder.hand_in(root, name, nb)
    for name in PLANTED:
        folder.hand_in(root, name, planted(release, name))
    student = nbformat.read(otter_dist / "student" / f"{ASSIGNMENT}.ipynb", as_version=4)
    otter_dir = tmp_path_factory.mktemp("otter")
    ag_zip = otter_dist / "autograder" / "autograder.zip"
    for name in OTTER_PARITY:
        nb = nbformat.read(folder.notebook_path(root, "submitted", name), as_version=4)
        nbformat.write(otter_master.transplant(nb, student), otter_dir / f"{name}.ipynb")
    with ThreadPoolExecutor(1) as otter_thread:  # otter's gradings beside nbgrader's
        otter = otter_thread.submit(lambda: {
            name: otter_grade.grade(otter_dir / f"{name}.ipynb", ag_zip, budget, timeout=600)
            for name, budget in OTTER_PARITY.items()})
        logs = {
            "bad": folder.autograde(root, "bad_*", epochs=SMALL_BUDGET, timeout=CELL_TIMEOUT),
            "partial": folder.autograde(root, "partial", epochs=SMALL_BUDGET),
            "release": folder.autograde(root, "release", epochs=SMALL_BUDGET),
            "bug": folder.autograde(root, "bug_*", epochs=SMALL_BUDGET),
            "reference": folder.autograde(root, "reference*"),
            **{f"alt_{d}": folder.autograde(root, f"alt_{d}") for d in ALTERNATIVES},
            "alt_conv_laplace": folder.autograde(root, "alt_conv_laplace", epochs=SMALL_BUDGET),
        }
        logs["otter"] = otter.result()
    logs["feedback"] = folder.nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=root)
    logs["export"] = folder.nbgrader("export", cwd=root)
    return root, logs


def test_release_generated_from_the_source(graded):
    root, _ = graded
    text = (root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text


def test_reference_gets_full_autograded_marks(graded):
    root, logs = graded
    assert logs["reference"].returncode == 0, logs["reference"].stderr[-3000:]
    assert folder.scores(root, "reference") == notebooks.autograded_points()


TIMED = re.compile(r" \([\d.]+ s\)$", re.M)  # how long a measure of the grader's took


def test_grading_the_same_notebook_twice_gives_the_same_grade(graded):
    """The setup cell's seed and deterministic ops: every cell, every printed number (but the
    seconds the grader's own measure before the first fit took)."""
    root, _ = graded
    assert folder.scores(root, "reference") == folder.scores(root, "reference_again")
    printed = [[TIMED.sub("", o.get("text", "")) for c in nbformat.read(folder.notebook_path(
        root, "autograded", student), 4).cells if c.cell_type == "code"
        for o in c.outputs if o.output_type == "stream" and o.name == "stdout"
        and "Epoch" not in o.get("text", "") and "ms/step" not in o.get("text", "")]
        for student in ("reference", "reference_again")]  # (stderr: TensorFlow's log)
    assert printed[0] == printed[1] and any("ROC AUC" in text for text in printed[0])


@pytest.mark.parametrize("design", ALTERNATIVES)
def test_a_different_correct_design_gets_full_autograded_marks(graded, design):
    root, logs = graded
    name = f"alt_{design}"
    assert logs[name].returncode == 0, logs[name].stderr[-3000:]
    assert folder.scores(root, name) == notebooks.autograded_points()
    if design == EXPLORES:  # the comparison model trained for the whole budget, first
        nb = nbformat.read(folder.notebook_path(root, "autograded", name), 4)
        said = "".join(o.get("text", "") for c in nb.cells if c.source == COMPARISON
                       for o in c.outputs)
        assert f"plain autoencoder: {GRADING_EPOCHS} epochs" in said, said


def test_a_conv_laplace_design_passes_every_test_of_the_contract(graded):
    """All but the detector's tiers, which this design does not reach at a small budget."""
    root, logs = graded
    assert logs["alt_conv_laplace"].returncode == 0, logs["alt_conv_laplace"].stderr[-3000:]
    cell_scores = folder.scores(root, "alt_conv_laplace")
    for name in DETECTOR:
        del cell_scores[name]
    points = notebooks.autograded_points()
    assert cell_scores == {name: points[name] for name in cell_scores}


# the cells that draw a figure in the reference (the hand grader's rubrics need each one)
FIGURE_CELLS = ["task1_plots", "task2_training_answer", "task3_reconstructions", "task3_samples",
                "task4_distributions", "task4_detection_answer", "task4_reconstructions"]


def test_every_figure_reaches_the_autograded_notebook_and_the_feedback(graded):
    root, _ = graded
    nb = nbformat.read(folder.notebook_path(root, "autograded", "reference"), 4)
    images = {notebooks.grade_id(c): sum("image/png" in o.get("data", {}) for o in c.outputs)
              for c in nb.cells if c.cell_type == "code"}
    assert {g: images[g] for g in FIGURE_CELLS if images[g] == 0} == {}
    assert sum(images.values()) == sum(images[g] for g in FIGURE_CELLS)  # nothing elsewhere
    html = (root / "feedback" / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert html.count("data:image/png;base64") >= sum(images.values())


def test_otter_keeps_every_figure_for_the_hand_grader(graded):
    """``otter run -p`` keeps the notebook as otter executed it (``otter_grade --executed``):
    every figure cell of the reference has its images, as in nbgrader's autograded copy."""
    root, logs = graded
    executed = nbformat.from_dict(logs["otter"]["reference"].notebook)
    answers = notebooks.answers()
    by_source = {c.source.strip(): sum("image/png" in o.get("data", {}) for o in c.outputs)
                 for c in executed.cells if c.cell_type == "code"}
    otter_images = {g: by_source.get(answers[g].strip(), 0) for g in FIGURE_CELLS}
    nb = nbformat.read(folder.notebook_path(root, "autograded", "reference"), 4)
    nbgrader_images = {notebooks.grade_id(c): sum("image/png" in o.get("data", {})
                                                  for o in c.outputs)
                       for c in nb.cells if notebooks.grade_id(c) in FIGURE_CELLS}
    assert otter_images == nbgrader_images and all(otter_images.values()), otter_images
    assert sum(by_source.values()) == sum(otter_images.values())  # nothing elsewhere


def test_the_gradescope_pdf_shows_every_hand_graded_figure(graded, tmp_path):
    """On Gradescope the hand grader reads the PDF that the notebook's export cell makes
    (``grader.export()``: pdf and filtering on, autograder/assignment.yml) from the notebook
    as its student ran it. otter's own ``otter export --filtering`` of the reference as it ran
    has one image for each figure of the cells graded by hand."""
    import pypdf
    import yaml

    root, logs = graded
    config = yaml.safe_load((ROOT / "autograder" / "assignment.yml").read_text())
    assert config["export_cell"]["pdf"] and config["export_cell"]["filtering"]
    nb = nbformat.read(folder.notebook_path(root, "autograded", "reference"), 4)
    by_hand = {notebooks.grade_id(c): sum("image/png" in o.get("data", {}) for o in c.outputs)
               for c in nb.cells if c.cell_type == "code" and notebooks.kind(c) == "manual"}
    executed, pdf = tmp_path / f"{ASSIGNMENT}.ipynb", tmp_path / f"{ASSIGNMENT}.pdf"
    nbformat.write(nbformat.from_dict(logs["otter"]["reference"].notebook), executed)
    otter = Path(sys.executable).with_name("otter")
    done = subprocess.run([otter, "export", "--filtering", executed, pdf], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and pdf.is_file(), done.stdout[-2000:] + done.stderr[-2000:]
    pages = pypdf.PdfReader(pdf).pages
    assert len([g for g, n in by_hand.items() if n]) >= 4, by_hand  # 1b, 3a, 3b, 4b, 4d
    assert sum(len(page.images) for page in pages) == sum(by_hand.values()), by_hand
    text = "".join(page.extract_text() for page in pages)
    assert "Task 4e" in text  # the written answers are there too


def test_an_untouched_notebook_logs_no_tamper_warning_and_an_edit_does(graded):
    """nbgrader #1961: the checksum of a test cell with hidden tests is taken before they
    are cleared; the course's OverwriteReleasedCells compares with the released cell."""
    _, logs = graded
    for name in ("release", "reference", "partial"):
        assert "Attribute 'checksum'" not in logs[name].stderr, name
    assert "Attribute 'checksum' for cell task1_split_counts has changed" in logs["bad"].stderr


def test_untouched_release_scores_zero(graded):
    root, logs = graded
    assert logs["release"].returncode == 0, logs["release"].stderr[-3000:]
    assert set(folder.scores(root, "release").values()) == {0.0}


def test_partial_submission_gets_exactly_its_tasks(graded):
    root, logs = graded
    assert logs["partial"].returncode == 0, logs["partial"].stderr[-3000:]
    points = notebooks.task_scores(notebooks.autograded_points())
    got = notebooks.task_scores(folder.scores(root, "partial"))
    assert got == {**points, "task2": 0, "task4": 0}


@pytest.mark.parametrize("student", PLANTED)
def test_planted_bug_loses_points_on_its_task(graded, student):
    root, logs = graded
    _, task, catching, _ = PLANTED[student]
    cell_scores = folder.scores(root, student)
    assert notebooks.task_scores(cell_scores)[task] < notebooks.task_scores(
        notebooks.autograded_points())[task]
    assert {name: cell_scores[name] for name in catching} == dict.fromkeys(catching, 0.0)


def test_broken_json_is_logged_scored_zero_and_batch_goes_on(graded):
    root, logs = graded
    log = logs["bad"].stderr
    assert "error processing assignment 'anomaly_vae' for student 'bad_json'" in log
    assert "Notebook does not appear to be JSON" in log
    assert set(folder.scores(root, "bad_json").values()) == {0.0}
    later = ["bad_loop", "bad_raises"]  # graded after bad_json, in the same batch
    assert all((root / "autograded" / s / ASSIGNMENT).is_dir() for s in later)


def test_deleted_tests_are_put_back_and_graded(graded):
    root, _ = graded
    assert folder.scores(root, "bad_deleted_tests") == folder.scores(root, "partial")


def test_edited_tests_are_restored(graded):
    root, _ = graded
    assert set(folder.scores(root, "bad_edited_tests").values()) == {0.0}


def test_code_that_raises_scores_zero_with_its_error(graded):
    root, _ = graded
    assert notebooks.task_scores(folder.scores(root, "bad_raises"))["task1"] == 0
    nb = nbformat.read(root / "autograded" / "bad_raises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    errors = [o for o in cell(nb, "task1_split_answer").outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ZeroDivisionError"


def test_endless_cell_is_stopped_and_the_notebook_goes_on(graded):
    root, _ = graded
    nb = nbformat.read(root / "autograded" / "bad_loop" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    outputs = cell(nb, "task1_split_answer").outputs
    assert any(o.output_type == "error" and "Timeout" in o.ename + "".join(o.traceback)
               for o in outputs)
    # the cells after it still ran: the split it computed before looping is graded
    assert folder.scores(root, "bad_loop") == folder.scores(root, "partial")


def test_feedback_and_export(graded):
    root, logs = graded
    assert logs["feedback"].returncode == 0 and logs["export"].returncode == 0
    for student in ("reference", "partial", "release", "bug_elbo_sign"):
        html = (root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        assert re.search(r"Score: [\d.]+ / [\d.]+", html)
    with open(root / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    students = {p.name for p in (root / "submitted").iterdir()}
    assert set(rows) == students
    for student in students:  # the CSV agrees with the gradebook, cell by cell
        assert float(rows[student]["raw_score"]) == pytest.approx(
            sum(folder.scores(root, student).values()))


def test_otter_gives_nbgrader_scores_cell_by_cell(graded):
    """The same student work, graded by ``nbgrader autograde`` and ``otter run``."""
    root, logs = graded
    points = notebooks.autograded_points()
    totals = {}
    for name, result in logs["otter"].items():
        nbgrader_scores = folder.scores(root, name)
        otter_scores = {g: result.scores.get(g, 0.0) for g in points}
        assert otter_scores == nbgrader_scores, (name, result.message)
        totals[name] = sum(otter_scores.values())
    assert totals["reference"] == sum(points.values()) and totals["release"] == 0
    # the other three earn partial credit, so the comparison is not all-or-nothing
    assert all(0 < totals[n] < sum(points.values())
               for n in ("partial", "bug_unscaled", "bug_elbo_sign"))
