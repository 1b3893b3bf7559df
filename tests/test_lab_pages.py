"""The lab's book pages execute from the stored results alone: training is refused.

Each page (a MyST notebook) runs in a real kernel, as the book build runs it, after a
first cell that makes every Keras training entry point raise.
"""

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from vae_anomaly.config import ROOT

PAGES = sorted((ROOT / "book" / "lab").glob("*.md"))
REFUSE_TRAINING = """
import keras
def _refuse(*args, **kwargs):
    raise RuntimeError("the lab pages must not train")
keras.Model.fit = keras.Model.train_on_batch = _refuse
"""


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_renders_from_stored_results_without_training(page, monkeypatch):
    monkeypatch.delenv("VAE_LAB_RESULTS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = jupytext.read(page, fmt="myst")
    notebook.cells.insert(0, nbformat.v4.new_code_cell(REFUSE_TRAINING))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(page.parent)}}).execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    glued = {o.get("metadata", {}).get("scrapbook", {}).get("name") for o in outputs}
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    if page.stem == "trade_off":
        assert {"fig_sweep", "fig_w2", "fig_schedules", "fig_schedule_loss", "fig_sparse",
                "fig_likelihood", "fig_complexity", "n_runs"} <= glued
    else:  # the solutions ran and checked themselves
        assert "agrees with the lab's Cyclical schedule" in printed
        assert {"ex3_bernoulli_plain", "ex3_bernoulli_corrected"} <= glued
