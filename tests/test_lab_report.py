"""The lab notebook's analyses (``vae_anomaly.lab.report``) on tables with known answers."""

import numpy as np
import pandas as pd
import pytest

from vae_anomaly.lab import report


def seeds_table(relation: float, cells=12, seeds=5, seed=0) -> pd.DataFrame:
    """Cells with very different levels; within each, AUC = relation * W2 + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for cell in range(cells):
        w2 = rng.normal(size=seeds)
        auc = relation * w2 + rng.normal(scale=0.3, size=seeds)
        rows += [{"beta": cell, "latent_dim": 16, "seed": s, "w2_latent": 10 * cell + w2[s],
                  "elbo_roc_auc": -cell + auc[s]} for s in range(seeds)]
    return pd.DataFrame(rows)


def test_within_cell_correlation_finds_a_planted_relation():
    found = report.within_cell_correlation(seeds_table(relation=1.0))
    assert found["rho"] > 0.6 and found["p"] < 0.001
    assert (found["cells"], found["seeds"]) == (12, 5)


def test_within_cell_correlation_ignores_differences_between_cells():
    # across cells W2 rises while AUC falls: pooled naively, a strong negative correlation
    table = seeds_table(relation=0.0)
    assert report.cell_correlation(table, "w2_latent", "elbo_roc_auc")["rho"] == -1.0
    found = report.within_cell_correlation(table)
    assert abs(found["rho"]) < 0.3 and found["p"] > 0.05


def test_within_cell_p_value_is_uniform_under_the_null():
    ps = [report.within_cell_correlation(seeds_table(0.0, seed=s), permutations=500)["p"]
          for s in range(40)]
    assert 0.3 < np.mean(ps) < 0.7 and np.mean(np.array(ps) < 0.05) < 0.2


def test_seed_correlation_per_cell():
    table = seeds_table(relation=1.0, cells=2, seeds=5)
    table.loc[table.beta == 0, "elbo_roc_auc"] = table.loc[table.beta == 0, "w2_latent"]
    cells = report.seed_correlation(table)
    assert cells.loc[cells.beta == 0, "rho"].item() == pytest.approx(1.0)
    assert cells.loc[cells.beta == 0, "p"].item() == pytest.approx(2 / 120, abs=1e-3)
    assert list(cells["seeds"]) == [5, 5]


def test_mean_sd_and_paired_difference():
    table = pd.DataFrame({"schedule": ["constant"] * 3 + ["warmup"] * 3, "seed": [0, 1, 2] * 2,
                          "ssim": [0.5, 0.6, 0.7, 0.6, 0.6, 0.9]})
    assert report.mean_sd(table, ["schedule"], ["ssim"]).loc["constant", "ssim"] == "0.600 ± 0.100"
    diff = report.paired_difference(table, "ssim", "schedule", "constant", "warmup")
    assert diff["mean"] == pytest.approx(0.1) and diff["wins"] == 2 and diff["seeds"] == 3
    assert diff["sd"] == pytest.approx(np.std([0.1, 0.0, 0.2], ddof=1))


@pytest.mark.parametrize("d_ssim, d_auc, verdict", [
    (0.02, 0.02, "mitigates: better at both"),
    (0.02, 0.0, "mitigates: better reconstruction, same detection"),
    (0.0, 0.02, "mitigates: better detection, same reconstruction"),
    (0.02, -0.02, "trades: better reconstruction, worse detection"),
    (-0.02, 0.02, "trades: better detection, worse reconstruction"),
    (-0.02, -0.02, "worse: at both"),
    (0.001, -0.001, "no change beyond ±0.005"),
])
def test_effect_names_every_case(d_ssim, d_auc, verdict):
    assert report.effect(d_ssim, d_auc) == verdict


def test_compressed_size_ranks_simple_images_below_noisy_ones():
    rng = np.random.default_rng(0)
    blank, noise = np.zeros((1, 28, 28)), rng.random((1, 28, 28))
    bits = report.compressed_bits_per_pixel(np.concatenate([blank, noise]))
    assert bits[0] < 0.5 < 7 < bits[1]


def test_incomplete_results_name_the_command_that_completes_them(tmp_path):
    with pytest.raises(report.IncompleteResults, match=r"0 of the \d+ runs .* `make lab-quick`"):
        report.load_lab(tmp_path, "quick")


def test_results_folder_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_LAB_RESULTS", raising=False)
    assert report.results_folder("full").parts[-3:] == ("results", "lab", "full")
    monkeypatch.setenv("VAE_LAB_RESULTS", str(tmp_path))
    assert report.results_folder("full") == tmp_path
