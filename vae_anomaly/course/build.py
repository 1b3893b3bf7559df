"""Build the assignment's generated notebooks from its one source notebook.

``python -m vae_anomaly.course.build rules`` writes the grading rules (budget, marks, how to
check locally) into the source's ``grading-rules`` cell from ``results/calibration.json``
(``make calibrate`` does it after a sweep; a test fails while the cell is stale).

``python -m vae_anomaly.course.build solutions`` writes ``solutions/anomaly_vae.ipynb``
(``notebooks.solution_notebook``); ``python -m vae_anomaly.course.build release`` runs
``nbgrader generate_assignment`` in the repository (output under ``release/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from ..config import ASSIGNMENT, EPOCHS_ENV, GRADING_EPOCHS, RELEASE, ROOT, SOLUTION, SOURCE
from . import notebooks
from .folder import nbgrader

RULES_CELL = "grading-rules"


def grading_rules() -> str:
    """The notebook's paragraph on how it is graded, from the stored calibration."""
    from .. import records
    from ..measure import grading

    cal = records.calibration()
    marks = cal["marks"]
    learned = cal["per_budget"][str(cal["epochs"])]["learned"]
    correct = [d for d in cal.get("designs", {}).values() if d["kind"] == "correct"]
    auto = sum(notebooks.autograded_points().values())
    total = sum(float(notebooks.meta(c)["points"]) for c in notebooks.read().cells
                if notebooks.meta(c).get("grade") and notebooks.meta(c).get("points"))
    return f"""**How you are graded.** {total:g} points: {auto:g} from the tests below, run by the
grader (the visible asserts you can run, and hidden ones on the same numbers), and
{total - auto:g} by hand (your figures and written answers; each cell says what earns its
points).

**The budget.** The grader trains your notebook once, at **{GRADING_EPOCHS} epochs** for each
model (`{EPOCHS_ENV}={GRADING_EPOCHS}`), with the seed and the single TensorFlow thread of
the setup cell below, so it sees exactly the numbers you see when you run the notebook at that
budget: try it with `{EPOCHS_ENV}={GRADING_EPOCHS} jupyter lab` (or set
`EPOCHS = {GRADING_EPOCHS}` for one run). A `fit` past `EPOCHS` epochs of one model is cut
there. The budget is per model: a plain autoencoder or a second likelihood that you train for
comparison takes nothing from your VAE's epochs (the grader's CPU time is limited as a whole,
so keep such models small).

**The detector.** The grader measures the ROC and PR AUC of your model's
$-\\mathrm{{ELBO}}$ itself ({grading.DETECTOR_DRAWS} draws of $z$ per test image), twice: as
your VAE's first `fit` starts, and after training. One point needs a detector that is not
inverted (ROC AUC at least **{marks["not_inverted"]["roc_auc"]:.2f}**). One more needs a
detector that learned: ROC AUC at least **{marks["calibrated"]["roc_auc"]:.3f}**, and at least
**{marks["calibrated"]["roc_auc_gain"]:.3f}** above your own model's before its first `fit`.
A model that was never trained already ranks trousers fairly well (its decoder draws the same
grey image for every code): {marks["calibrated"]["roc_auc"]:.3f} is the most any untrained
model reached. These marks were measured, not chosen: each of {len(correct) or "the"} correct
designs (dense and convolutional, the keras.io example's structure, learned and fixed σ, latent
sizes 8 to 64, batches of 32 to 256) passed both with at least {learned["correct_above_by"]:.3f}
to spare on each of {cal["seeds"]} seeds at this budget, unless its encoder collapsed, and an
untrained model or a Bernoulli decoder missed one by at least
{learned["pitfall_below_by"]:.3f}. Your PR AUC is reported beside them, not marked. Train until
your loss stops going down when you explore; at the budget, check that the loss still fell and
that your detector beats an untrained one (a loss that levels off high with a detector worse
than untrained is a collapsed encoder, and the test's message says so).

**What gets a notebook flagged.** A notebook is set aside for your instructor to read, its
tests scoring zero until then, when it reaches into the grading instead of answering: changing
the course's or a library's functions, hiding a test's failure, replacing `negative_elbo`
after training, or a detector far better than any VAE trained without trousers (ROC AUC above
{marks["flag_above"]["roc_auc"]:.3f}). If honest work of yours is flagged, your instructor
sees that when reading it and gives its points back."""


def write_rules(source: Path = SOURCE) -> Path:
    """Put ``grading_rules()`` into the source notebook's rules cell."""
    nb = notebooks.read(source)
    cell = next(c for c in nb.cells if c.get("id") == RULES_CELL)
    cell.source = grading_rules()
    nbformat.write(nb, source)
    return source


def write_solutions(target: Path = SOLUTION) -> Path:
    """Write the solution notebook; return its path."""
    nb = notebooks.solution_notebook(notebooks.read(SOURCE))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def release() -> Path:
    """``nbgrader generate_assignment``: the student version under ``release/``."""
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=ROOT, check=True, capture=False)
    return RELEASE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["release", "solutions", "rules"])
    what = parser.parse_args(argv).what
    path = {"release": release, "solutions": write_solutions, "rules": write_rules}[what]()
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
