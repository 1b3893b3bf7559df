"""The static scan of a submission (``vae_anomaly.decide.integrity.scan``), cell by cell, fast.

The cheat corpus (``tests/test_cheats.py``) grades whole notebooks with the real CLIs; here
each way of reaching into the grading that a student could write after reading the source is
one cell after the course's own locked setup cell, and so is honest code that must pass.
"""

from __future__ import annotations

import pytest

from vae_anomaly.decide import integrity
from vae_anomaly.measure.grading import RECORD_MIME

SETUP = ("import numpy as np\nimport keras\nimport vae_anomaly\n"
         "from vae_anomaly.data import load_fashion_mnist\n")


def notebook(*student_cells: str) -> dict:
    locked = {"cell_type": "code", "source": SETUP,
              "metadata": {"nbgrader": {"grade_id": "setup", "locked": True}}}
    return {"cells": [locked, *({"cell_type": "code", "source": s, "metadata": {}}
                                for s in student_cells)]}


HONEST = {
    "arrays": "x = np.asarray([1, 2]) / 255\nm = np.mean(x)\nrng = np.random.default_rng(0)",
    "constant getattr": "h = getattr(history, 'history', {})",
    "plot labels": "import matplotlib.pyplot as plt\nplt.title('events in modules')",
    "sys": "import sys\nprint(sys.version)",
    "own names": "np2 = np.asarray([1])\nnp2.shape",
    "rebinding a name": "m = np\nm = [1]\nm.append(2)",
    "the data loader": "from vae_anomaly.data import load_fashion_mnist as load\nload()",
    "keras": "model = keras.Sequential()\nmodel.compile(optimizer='adam')",
    "a class name": "print(type(x).__name__, x.__class__.__name__)",
    "saving a pickle": "import pickle\npickle.dump({'loss': [1.0]}, open('h.pkl', 'wb'))",
    "json": "import json\njson.loads('{}')",
}

CHEATS = {
    "the setup cell's numpy": ("np.median = lambda *a: 0.0", "assigns into the module numpy"),
    "an alias of an alias": ("m = np\nm.median = lambda *a: 0.0",
                             "assigns into the module numpy"),
    "a submodule's alias": ("r = np.random\nr.seed = print", "assigns into the module numpy"),
    "marks by a method call": (
        "vae_anomaly.measure.grading.marks()['calibrated'].update(roc_auc=0)",
        "reaches vae_anomaly.measure.grading"),
    "the guard's records": ("g = vae_anomaly.measure.guard\ng.state['fingerprints'].clear()",
                            "reaches vae_anomaly.measure.guard"),
    "a package alias": ("import vae_anomaly as v\nv.measure.grading.check = print",
                        "reaches vae_anomaly.measure.grading"),
    "a computed name": ("g = getattr(vae_anomaly, 'gra' + 'ding')",
                        "computed at run time"),
    "a module's namespace": ("vars(vae_anomaly)['grading'] = None", "uses vars()"),
    "a closure by name": ("cells = getattr(print, '__closure__')", "names '__closure__'"),
    "object.__setattr__": ("object.__setattr__(np, 'median', print)", "uses .__setattr__"),
    "attrgetter": ("from operator import attrgetter", "imports operator.attrgetter"),
    "unpickling": ("import pickle\npickle.loads(payload)", "unpickles with pickle.loads"),
    "unpickling by name": ("from pickle import loads as l\nl(payload)",
                           "unpickles with pickle.loads"),
    "the guard module": ("from vae_anomaly.measure import guard",
                         "imports vae_anomaly.measure.guard"),
}


@pytest.mark.parametrize("name", HONEST)
def test_honest_code_is_not_flagged(name):
    assert integrity.scan(notebook(HONEST[name])) == []


@pytest.mark.parametrize("name", CHEATS)
def test_each_way_into_the_grading_is_found(name):
    source, what = CHEATS[name]
    findings = integrity.scan(notebook(source))
    assert any(what in f.what for f in findings), findings
    assert all(f.cell == "#2" for f in findings)  # the student's cell, not the course's


def test_the_course_cells_are_followed_but_not_reported():
    nb = notebook("x = 1")
    nb["cells"][0]["source"] += "np.median = np.median\n"  # the course's own code
    assert integrity.scan(nb) == []


# --- verdicts decided outside the kernel ---------------------------------------------------

MARKS = {"not_inverted": {"roc_auc": 0.55},
         "calibrated": {"roc_auc": 0.756, "roc_auc_gain": 0.02},
         "flag_above": {"roc_auc": 0.95}}
UNTRAINED = 0.745  # the ROC AUC of a record's model before its first fit


def record(grade_id, roc=None, pr=None, epochs=4, before=UNTRAINED):
    measured = {} if roc is None else {"roc_auc": roc, "pr_auc": pr, "roc_auc_untrained": before}
    return {"grade_id": grade_id, "passed": True, "flagged": False, "message": "",
            "epochs": epochs, "measured": measured}


@pytest.mark.parametrize("grade_id, roc, before, epochs, verdict", [
    ("task4_auc_threshold", 0.85, UNTRAINED, 4, None),
    ("task4_auc_threshold", 0.75, 0.70, 4, "below the grader's marks"),  # marks lowered inside
    ("task4_auc_threshold", 0.76, 0.745, 4, "below the grader's marks"),  # gained too little
    ("task4_auc_threshold", 0.85, None, 4, "below the grader's marks"),  # never measured untrained
    ("task4_auc_not_inverted", 0.70, UNTRAINED, 4, None),  # that test needs 0.55 only
    ("task4_auc_not_inverted", 0.50, UNTRAINED, 4, "below the grader's marks"),
    ("task4_auc_threshold", 0.99, UNTRAINED, 4, "above anything"),  # the flag lifted inside
    ("task1_split_counts", None, None, 4, None),
    ("task1_split_counts", None, None, 40, "past the budget of 4"),  # the budget lifted
    ("task4_auc_threshold", 0.85, "absent", 4, "lacks the measured areas"),
])
def test_the_grader_judges_the_measurements_with_its_own_marks(grade_id, roc, before, epochs,
                                                              verdict):
    measured = record(grade_id, roc, 0.3, epochs, before)
    if before == "absent":
        del measured["measured"]["roc_auc_untrained"]
    reason = integrity.judge(measured, MARKS, budget=4)
    assert (reason is None) if verdict is None else verdict in reason


def test_a_passing_test_cell_is_judged_by_its_record():
    cell = {"cell_type": "code", "outputs": [{
        "output_type": "display_data",
        "data": {RECORD_MIME: record("task4_auc_threshold", 0.75, 0.40, before=0.70)}}]}
    assert "below the grader's marks" in integrity.verify(cell, "task4_auc_threshold", MARKS, 4)
