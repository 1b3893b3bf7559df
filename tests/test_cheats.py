"""A cheating student's corpus (``tests/cheats/``), graded end to end by the real CLIs.

Every submission goes through ``nbgrader autograde`` (the course's sandboxed grading kernel)
and through ``otter run`` (the course's autograder zip), and must lose the points its cheat
targets, or be flagged for review, in both. The robustness cases (a kernel that dies, a
cell that changes folder, a copied test cell, another kernelspec) must be graded like an
honest notebook. Cheap cases build on Task 1 only; the cheats on the detector build on a
weak model (trained on 256 images) at the grading budget, so that only the cheat could
earn the detector's points.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
import tomllib

from tests.support.edits import edit
from vae_anomaly import config
from vae_anomaly.config import ASSIGNMENT, GRADING_EPOCHS, ROOT
from vae_anomaly.course import folder, notebooks, otter_grade, otter_master
from vae_anomaly.course.designs import DESIGNS

pytestmark = pytest.mark.slow

CHEATS = Path(__file__).parent / "cheats"
SMALL_BUDGET = 2
DETECTOR = ["task4_auc_not_inverted", "task4_auc_threshold"]
WEAK = ("vae.fit(x_train,", "vae.fit(x_train[:256],")
# the course's pitfall, a Bernoulli decoder (ROC AUC ~0.35): the edit of designs/bernoulli_bce
BERNOULLI = tomllib.loads((DESIGNS / "bernoulli_bce" / "design.toml").read_text())["replace"][0]


@dataclass(frozen=True)
class Case:
    cell: str | None  # file of tests/cheats/ added as a new cell
    after: str = "task1_split_answer"  # ... after this answer cell
    base: str = "task1"  # task1, weak (the detector cheats), full or untrained
    budget: int = SMALL_BUDGET
    zero: list = field(default_factory=list)  # cells that must score zero
    flagged: tuple = ()  # the tools that must flag it for review
    may_flag: tuple = ()  # the tools that may flag it (its cheat fails there either way)
    like_base: bool = False  # an honest case: scores of its base, not flagged
    nbgrader: tuple = ()  # nbgrader settings of its grading


BOTH = ("nbgrader", "otter")
CORPUS = {
    "spy": Case("spy.py", like_base=True),
    "vandal": Case("vandal.py", like_base=True),
    "sqlite_gradebook": Case("sqlite.py", zero=["task1_split_counts"], flagged=BOTH),
    "rebind_grading": Case("rebind_grading.py", zero=["task1_split_counts"], flagged=BOTH),
    "rebind_sklearn": Case("rebind_sklearn.py", zero=["task1_split_counts"], flagged=BOTH),
    "rebind_numpy": Case("rebind_numpy.py", zero=["task1_split_counts"], flagged=BOTH),
    # names built at run time: the scan flags them in both tools (and without the scan,
    # nbgrader would flag the hidden failures: no record; otter scores its own checks)
    "exception_handler": Case("exception_handler.py", base="weak", budget=GRADING_EPOCHS,
                              zero=["task4_auc_threshold"], flagged=BOTH),
    "otter_tests_rewritten": Case("otter_tests.py", base="weak", budget=GRADING_EPOCHS,
                                  zero=["task4_auc_threshold"], may_flag=("otter",)),
    "constant_arrays": Case("constant_arrays.py", after="task4_elbo_answer", base="weak",
                            budget=GRADING_EPOCHS,
                            zero=["task4_elbo_matches", "task4_auc_threshold"]),
    "shifted_arrays": Case("shifted_arrays.py", after="task4_elbo_answer", base="weak",
                           budget=GRADING_EPOCHS, zero=["task4_auc_threshold"]),
    "swap_negative_elbo": Case("swap_negative_elbo.py", after="task3_samples", base="weak",
                               budget=GRADING_EPOCHS,
                               zero=["task4_elbo_matches", *DETECTOR], flagged=BOTH),
    "supervised_bonus": Case("supervised_bonus.py", after="task2_model_answer", base="full",
                             budget=GRADING_EPOCHS, zero=DETECTOR, flagged=BOTH),
    "fake_history": Case("fake_history.py", after="task2_training_answer", base="untrained",
                         zero=["task2_loss_decreases", "task2_loss_matches", *DETECTOR]),
    "train_longer": Case(None, base="longer"),
    "kernel_exit": Case("kernel_exit.py", zero=["task1_split_counts", "task1_split_test"]),
    "chdir": Case("chdir.py", like_base=True),
    "copied_test_cell": Case(None, base="duplicate", like_base=True),
    "other_kernelspec": Case(None, base="ir", like_base=True),
    # the state and the verdicts of the grading, reached as a student who read the source would
    # (nbgrader grades it without the static scan: the verdict outside the kernel holds alone;
    # otter, with its scan, flags it as it does every reach into the grading)
    "lower_marks": Case("lower_marks.py", after="task2_training_answer", base="bernoulli",
                        zero=DETECTOR, flagged=("nbgrader",),
                        nbgrader=("--VerifyChecks.scan=False",)),
    "clear_guard": Case("clear_guard.py", zero=["task1_split_counts"], flagged=BOTH),
    "lift_budget": Case("lift_budget.py", after="task2_model_answer", base="weak_longer",
                        budget=GRADING_EPOCHS, zero=["task2_loss_decreases"], flagged=BOTH),
    "swap_entry_point": Case("swap_entry_point.py", zero=["task1_split_counts",
                                                          "task1_split_test"], flagged=BOTH),
    # the machine: the grader's secrets, its disk and memory
    "read_environment": Case("read_environment.py", like_base=True),
    "fill_disk": Case("fill_disk.py", like_base=True),
}
SECRET = ("JUPYTERHUB_API_TOKEN", "planted-token-of-the-instructor")  # in the grader's env
VICTIM = "weak_victim"  # graded after "vandal": its weak model must still fail
# otter grades one case of every kind (the repeats of a kind only cost time there)
OTTER_SKIPS = {"sqlite_gradebook", "rebind_grading", "rebind_numpy", "shifted_arrays",
               "copied_test_cell", "clear_guard", "fill_disk", "lower_marks"}


def cell(nb, grade_id):
    return next(c for c in nb.cells if notebooks.meta(c).get("grade_id") == grade_id)


def base_notebook(release, base):
    task1 = folder.submission(release, tasks={"task1"})
    if base in ("task1", "duplicate", "ir"):
        nb = copy.deepcopy(task1)
        if base == "duplicate":  # a student copied a test cell below itself
            index = nb.cells.index(cell(nb, "task1_split_counts"))
            copied = copy.deepcopy(nb.cells[index])
            copied.id = "copied-test-cell"  # Jupyter gives a copy a new id, the same metadata
            nb.cells.insert(index + 1, copied)
        if base == "ir":
            nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
        return nb
    full = folder.submission(release)
    weak = edit(full, *WEAK)
    return {"full": full, "weak": weak, "weak_longer": edit(weak, "epochs=EPOCHS", "epochs=50"),
            "bernoulli": edit(full, BERNOULLI["old"], BERNOULLI["new"]),
            "untrained": edit(full, "epochs=EPOCHS", "epochs=0"),
            "longer": edit(full, "epochs=EPOCHS", "epochs=200")}[base]


def submission(release, case: Case):
    nb = base_notebook(release, case.base)
    if case.cell:
        index = nb.cells.index(cell(nb, case.after))
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell((CHEATS / case.cell).read_text()))
    return nb


def digests() -> dict[str, str]:
    """The course's grading assets, which no submission may change."""
    files = [ROOT / "vae_anomaly" / "measure" / "grading.py", config.CALIBRATION,
             ROOT / "nbgrader_config.py"]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, otter_dist):
    """Every case graded by both tools; the attacker ("vandal") before its victim."""
    before = digests()
    root = tmp_path_factory.mktemp("course")
    folder.make_course(root)
    release = folder.release_notebook(root)
    student = nbformat.read(otter_dist / "student" / f"{ASSIGNMENT}.ipynb", 4)
    otter_dir = tmp_path_factory.mktemp("otter")
    cases = {**CORPUS, VICTIM: Case(None, base="weak", budget=GRADING_EPOCHS)}
    for name, case in cases.items():
        nb = submission(release, case)
        folder.hand_in(root, name, nb)
        otter_nb = otter_master.transplant(nb, student)
        otter_nb.metadata["kernelspec"] = nb.metadata.get("kernelspec", {})
        nbformat.write(otter_nb, otter_dir / f"{name}.ipynb")
    bases = {"task1": folder.submission(release, tasks={"task1"}),
             "weak": base_notebook(release, "weak")}
    for name, nb in bases.items():
        folder.hand_in(root, f"base_{name}", nb)
        nbformat.write(otter_master.transplant(nb, student), otter_dir / f"base_{name}.ipynb")
    budgets = {"vandal": cases["vandal"].budget, VICTIM: cases[VICTIM].budget,
               **{n: c.budget for n, c in cases.items()},
               "base_task1": SMALL_BUDGET, "base_weak": GRADING_EPOCHS}  # in grading order
    ag_zip = otter_dist / "autograder" / "autograder.zip"
    os.environ[SECRET[0]] = SECRET[1]  # the grader's, never a notebook's
    with ThreadPoolExecutor(1) as otter_thread:  # otter's gradings beside nbgrader's
        otter = otter_thread.submit(lambda: {
            name: otter_grade.grade(otter_dir / f"{name}.ipynb", ag_zip, budget, timeout=600)
            for name, budget in budgets.items() if name not in OTTER_SKIPS})
        logs = {name: folder.autograde(root, name, epochs=budget,
                                       options=cases[name].nbgrader if name in cases else ())
                for name, budget in budgets.items()}
        otter = otter.result()
    del os.environ[SECRET[0]]
    return root, logs, otter, before


def nbgrader_scores(root, name):
    return folder.scores(root, name)


def flagged(root, name) -> bool:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, name).flagged


def autograded(root, name):
    return nbformat.read(folder.notebook_path(root, "autograded", name), as_version=4)


def base_of(case: Case) -> str:
    return "base_weak" if case.base == "weak" else "base_task1"


@pytest.mark.parametrize("name", CORPUS)
def test_each_cheat_loses_its_points_in_nbgrader(graded, name):
    root, logs, _, _ = graded
    case = CORPUS[name]
    scores = nbgrader_scores(root, name)
    assert {g: scores[g] for g in case.zero} == dict.fromkeys(case.zero, 0.0), scores
    assert flagged(root, name) == ("nbgrader" in case.flagged)
    if "nbgrader" in case.flagged:
        banner = autograded(root, name).cells[0].source
        assert banner.startswith("**Flagged for review.**")
    if case.like_base:
        assert scores == nbgrader_scores(root, base_of(case))


@pytest.mark.parametrize("name", [n for n in CORPUS if n not in OTTER_SKIPS])
def test_each_cheat_loses_its_points_in_otter(graded, name):
    root, _, otter, _ = graded
    case = CORPUS[name]
    result = otter[name]
    assert {g: result.scores.get(g, 0.0) for g in case.zero} == dict.fromkeys(case.zero, 0.0)
    if "otter" not in case.may_flag:
        assert ("flagged for review" in result.message) == ("otter" in case.flagged), \
            result.message
    if case.like_base:
        assert result.scores == otter[base_of(case)].scores, result.message


def test_nbgrader_and_otter_agree_cell_by_cell(graded):
    root, _, otter, _ = graded
    for name in [*CORPUS, VICTIM, "base_task1", "base_weak"]:
        if name in OTTER_SKIPS or CORPUS.get(name, Case(None)).nbgrader or (
                name == "otter_tests_rewritten"):  # a cheat on otter's files
            continue
        ours = {g: otter[name].scores.get(g, 0.0) for g in notebooks.autograded_points()}
        assert ours == nbgrader_scores(root, name), name


def test_a_submission_sees_no_course_file(graded):
    root, _, _, _ = graded
    text = "".join(o.get("text", "") for o in autograded(root, "spy").cells[
        1 + autograded(root, "spy").cells.index(cell(autograded(root, "spy"),
                                                      "task1_split_answer"))].outputs)
    assert text.startswith("SPY") and "True" not in text
    assert "'../../../gradebook.db': False" in text
    assert text.rstrip().endswith("[]")  # no source or submitted notebook anywhere


def test_an_attacker_graded_first_cannot_make_a_later_victim_pass(graded):
    root, _, otter, before = graded
    nb = autograded(root, "vandal")
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    # the core package is read-only; what it wrote elsewhere stayed in its own sandbox
    assert "VANDAL blocked" in text and "grading.py" not in text.split("VANDAL wrote")[1]
    assert digests() == before  # the course's grading assets are untouched
    assert (root / "gradebook.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert nbgrader_scores(root, VICTIM)["task4_auc_threshold"] == 0
    assert otter[VICTIM].scores["task4_auc_threshold"] == 0


def test_training_longer_than_the_budget_is_cut(graded):
    root, _, otter, _ = graded
    nb = autograded(root, "train_longer")
    log = "".join(o.get("text", "") for o in cell(nb, "task2_training_answer").outputs)
    assert f"training budget: {SMALL_BUDGET} epochs in all" in log
    assert log.count("Epoch ") == SMALL_BUDGET
    scores = nbgrader_scores(root, "train_longer")
    points = notebooks.autograded_points()
    assert notebooks.task_scores(scores)["task2"] == notebooks.task_scores(points)["task2"]


def test_a_dead_kernel_gets_a_row_with_its_reason(graded):
    root, logs, otter, _ = graded
    assert "kernel_exit" in otter and otter["kernel_exit"].message
    scores = nbgrader_scores(root, "kernel_exit")
    assert set(scores.values()) == {0.0}
    assert "DeadKernel" in logs["kernel_exit"].stderr or "died" in logs["kernel_exit"].stderr


def test_no_secret_of_the_grader_reaches_a_notebook(graded):
    """Planted in the grader's environment, in nbgrader's and in otter's: neither kernel sees
    it (the autograded notebook; the notebook as otter ran it, its scores and message)."""
    root, _, otter, _ = graded
    texts = {"nbgrader": folder.notebook_path(root, "autograded", "read_environment").read_text(),
             "otter": json.dumps(otter["read_environment"].notebook)
             + otter["read_environment"].message}
    for tool, text in texts.items():
        assert "ENV [(" in text and "ENV1" in text, tool  # it ran, printed what it could see
        assert SECRET[1] not in text and SECRET[0] not in text, tool


def test_writes_stop_at_their_caps_and_the_notebook_goes_on(graded):
    root, _, _, _ = graded
    nb = autograded(root, "fill_disk")
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    for where in ("/tmp", "."):
        written = re.search(rf"FILL {re.escape(where)} stopped after (\d+) MiB: (.*)", text)
        assert written and int(written.group(1)) <= 512, text[-2000:]
        assert "No space left on device" in written.group(2)


def test_a_budget_lifted_in_the_kernel_is_found(graded):
    root, _, otter, _ = graded
    nb = autograded(root, "lift_budget")
    log = "".join(o.get("text", "") for o in cell(nb, "task2_training_answer").outputs)
    assert log.count("Epoch ") > GRADING_EPOCHS  # the closure was reached: it trained more
    assert flagged(root, "lift_budget") and "flagged for review" in otter["lift_budget"].message


def test_marks_lowered_in_the_kernel_change_nothing(graded):
    """Without the static scan, the Bernoulli detector passes its checks in the kernel
    (marks lowered there); the grader judges the measured areas with its own marks."""
    root, _, _, _ = graded
    banner = autograded(root, "lower_marks").cells[0].source
    assert "below the grader's marks" in banner and "reaches into the grading" not in banner
