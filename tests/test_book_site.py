"""The site's helpers (vae_anomaly.course.site) on small inputs: fast, no build."""

import json
from types import SimpleNamespace

import pytest

from vae_anomaly.config import RESULTS
from vae_anomaly.course import site

RECORDS = [
    {"method": "bce_vae", "seed": 0, "roc_auc": 0.30, "train_s": 10.0},
    {"method": "reference", "seed": 0, "roc_auc": 0.80, "train_s": 12.0},
    {"method": "reference", "seed": 1, "roc_auc": 0.90, "train_s": 14.0},
    {"method": "reference_z2", "seed": 0, "roc_auc": 0.70, "latent_dim": 2, "epochs": 10},
]


def test_method_stats_are_mean_sample_sd_and_count():
    """The sample standard deviation (n - 1), the convention of every page."""
    mean, sd, n = site.method_stats(RECORDS, "reference", "roc_auc")
    assert (round(mean, 6), round(sd, 6), n) == (0.85, round(0.1 / 2**0.5, 6), 2)
    with pytest.raises(site.ResultsError, match="no 'ap' for method 'reference'"):
        site.method_stats(RECORDS, "reference", "ap")


def test_methods_follow_the_site_order_and_globs():
    assert site.methods_in(RECORDS) == ["reference", "bce_vae", "reference_z2"]
    assert site.methods_in(RECORDS, "reference_*") == ["reference_z2"]
    with pytest.raises(site.ResultsError, match="no method matching"):
        site.methods_in(RECORDS, "pca*")
    assert site.method_label(RECORDS, "reference_z2")[0] == "VAE, z = 2, 10 epochs"


def test_lookup_walks_dicts_and_lists():
    data = {"thresholds": {"roc_auc": 0.8}, "runs": [{"seconds": 3}]}
    assert site.lookup(data, "thresholds.roc_auc") == 0.8
    assert site.lookup(data, "runs.0.seconds") == 3
    with pytest.raises(site.ResultsError, match="no key 'pr_auc'"):
        site.lookup(data, "thresholds.pr_auc")
    chosen = {"epochs": 10, "per_budget": {"8": {"mark": 1}, "10": {"mark": 2}}}
    assert site.lookup(chosen, "per_budget.{epochs}.mark") == 2  # the entry of the chosen one


def test_missing_results_file_names_the_command(tmp_path):
    env = SimpleNamespace(srcdir=str(tmp_path), config=SimpleNamespace(results_dir="results"),
                          note_dependency=lambda path: None)
    with pytest.raises(site.ResultsError, match="run `make benchmark` first"):
        site.benchmark_records(env)


def test_progress_bars_collapse_to_their_last_state():
    outputs = [{"output_type": "stream", "name": "stdout", "text": "Epoch 1/2\n"},
               {"output_type": "stream", "name": "stdout", "text": "\r 1/9 loss: 5"},
               {"output_type": "stream", "name": "stdout", "text": "\b\b\b\r 9/9 loss: 2\n"},
               {"output_type": "display_data", "data": {}}]
    merged = site.terminal_streams(outputs)
    assert [o["output_type"] for o in merged] == ["stream", "display_data"]
    assert merged[0]["text"] == "Epoch 1/2\n 9/9 loss: 2\n"


def test_tensorflow_log_lines_are_dropped_from_pages():
    noise = "WARNING:tensorflow:5 out of the last 6 calls to <function> triggered retracing.\n"
    outputs = [{"output_type": "stream", "name": "stdout", "text": noise},
               {"output_type": "stream", "name": "stderr", "text": "kept\n"},
               {"output_type": "stream", "name": "stdout", "text": "AUC 0.85\n" + noise}]
    merged = site.terminal_streams(outputs)
    assert [(o["name"], o["text"]) for o in merged] == [("stdout", "AUC 0.85\n"),
                                                        ("stderr", "kept\n")]
    only_noise = site.terminal_streams([{"output_type": "stream", "name": "stdout",
                                         "text": noise}])
    assert only_noise == []


def test_result_tables_put_objects_side_by_side():
    """``result-table``: a row per name in order, "–" where a column lacks it, the sums."""
    columns = [{"start": 1.04, "epoch 1": 4.0, "epoch 2": 3.5}, {"start": 2.0, "epoch 1": 9.0}]
    assert site.side_by_side(columns, ".1f", "Total") == [
        ["start", "1.0", "2.0"], ["epoch 1", "4.0", "9.0"], ["epoch 2", "3.5", "–"],
        ["Total", "8.5", "11.0"]]


def test_negative_numbers_get_a_true_minus():
    assert site.fmt(-120.04, ".0f") == "−120"


def test_the_sites_claims_hold_for_the_stored_benchmark():
    """The pages quote numbers from results/benchmark.json and say what they mean; when a new
    benchmark run changes what they mean, this fails and the text must be revised."""
    path = RESULTS / site.BENCHMARK
    assert path.is_file(), "results/benchmark.json is missing: run `make benchmark`"
    records = json.loads(path.read_text())["records"]

    def mean(method, field="roc_auc"):
        return site.method_stats(records, method, field)[0]

    # background.md and baselines.md: the likelihood pitfall
    assert mean("bce_vae") < 0.5 < mean("reference")
    assert mean("bce_vae", "elbo_anomaly") > mean("bce_vae", "elbo_normal")
    # background.md: the reference's ELBO is a large positive number, higher on normal images
    assert mean("reference", "elbo_normal") > max(100, mean("reference", "elbo_anomaly"))
    # baselines.md: the reconstruction error ranks as the -ELBO does
    assert abs(mean("recon_mse") - mean("reference")) < 0.02
    # baselines.md: PCA-50 beats the VAE; PCA-16 and the distance-based methods do not
    assert mean("pca50") > mean("reference")
    assert mean("reference") > max(mean(m) for m in ("pca16", "knn_pca50", "isolation_forest"))


def test_buttons_need_a_real_repository():
    """No repository URL: no Repository button and no launch service; a GitHub repository:
    Binder and Colab; a hub only with its own URL; Colab only from GitHub."""
    services = {"binderhub_url": "https://mybinder.org",
                "colab_url": "https://colab.research.google.com", "jupyterhub_url": ""}
    unset = site.link_options({"repository_url": "", "launch_buttons": services})
    assert not unset["use_repository_button"]
    assert not any(unset["launch_buttons"][key] for key in site.LAUNCH_SERVICES)
    assert site.launch_services({"repository_url": "", "launch_buttons": services}) == []

    github = {"repository_url": "https://github.com/a/b", "launch_buttons": services}
    assert site.link_options(github)["use_repository_button"]
    assert site.launch_services(github) == ["Binder", "Google Colab"]
    hub = dict(services, jupyterhub_url="https://hub.uni.edu")
    gitlab = {"repository_url": "https://gitlab.com/a/b", "launch_buttons": hub}
    assert site.launch_services(gitlab) == ["Binder", "your course's JupyterHub"]


def test_service_names_read_as_a_list():
    assert site.words(["Binder"]) == "Binder"
    assert site.words(["Binder", "Colab"]) == "Binder or Colab"
    assert site.words(["A", "B", "C"]) == "A, B or C"


def test_the_solutions_printed_run_is_read_back():
    """Epochs trained, budget, areas and mean ELBOs from the executed solution's output."""
    printed = ("Epoch 1/4\n 422/422 loss: 9\nEpoch 2/4\n 422/422 loss: 5\n"
               "mean ELBO: normal 324.6, anomalous -12.3 nats\nROC AUC 0.842, PR AUC 0.296\n")
    assert site.run_facts(printed) == {"trained": 2, "budget": 4, "roc_auc": "0.842",
                                       "pr_auc": "0.296", "elbo_normal": "324.6",
                                       "elbo_anomaly": "−12.3"}
    with pytest.raises(site.ResultsError, match="printed no"):
        site.run_facts("Epoch 1/4\n")


def test_the_code_and_the_text_have_a_licence():
    """LICENSE (MIT, the code) and LICENSE-text (CC BY 4.0, the text), named in the README."""
    from vae_anomaly.config import ROOT

    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "creativecommons.org/licenses/by/4.0" in (ROOT / "LICENSE-text").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "`LICENSE`" in readme and "`LICENSE-text`" in readme and "CC BY 4.0" in readme


def test_a_figure_records_its_smallest_drawn_text(tmp_path):
    """With figtext installed, the PNG that savefig or IPython's inline display writes records
    the smallest text drawn, in its own pixels (points x dpi / 72): the hidden tick labels of
    an axis turned off do not count, a figure without text says so, other formats are left
    alone; the site's readable width follows from it."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    from vae_anomaly.course import figtext

    figtext.install()
    fig, (ax, off) = plt.subplots(1, 2, figsize=(4, 2), dpi=100)
    ax.plot([0, 1], label="a line")
    ax.legend(fontsize=9)
    ax.set_title("title", fontsize=14)
    off.set_axis_off()
    off.tick_params(labelsize=4)  # not drawn
    fig.savefig(tmp_path / "figure.png")
    assert figtext.smallest_text_px(tmp_path / "figure.png") == round(9 * 100 / 72, 2)
    assert figtext.readable_width(tmp_path / "figure.png") == (400, math.ceil(400 * 9 / 12.5))
    (tmp_path / "inline.png").write_bytes(print_figure(fig, "png", bbox_inches="tight", dpi=200))
    assert figtext.smallest_text_px(tmp_path / "inline.png") == 25.0
    fig.savefig(tmp_path / "figure.svg")
    assert (tmp_path / "figure.svg").read_text().startswith("<?xml")
    plt.close(fig)

    bare, ax = plt.subplots()
    ax.set_axis_off()
    bare.savefig(tmp_path / "bare.png")
    plt.close(bare)
    assert figtext.smallest_text_px(tmp_path / "bare.png") == math.inf
    assert figtext.readable_width(tmp_path / "bare.png") is None
    png = figtext.with_text_chunk((tmp_path / "bare.png").read_bytes(), figtext.KEY, "7.5")
    (tmp_path / "again.png").write_bytes(png)
    assert figtext.smallest_text_px(tmp_path / "again.png") == 7.5
    assert figtext.smallest_text_px(tmp_path / "figure.svg") is None
