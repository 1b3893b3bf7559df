"""The published lab results (``results/lab/full``) match the full profile and the lab's code.

A change to the grid, to ``RunConfig`` or to ``LAB_VERSION`` changes the run keys: this
test then fails until ``make lab-full`` has produced the new results (it resumes) and the
old files are removed, so the lab pages never show numbers of another grid or code.
"""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from vae_anomaly.lab.experiment import LAB_VERSION, PER_IMAGE_SEED, RunConfig, run_key
from vae_anomaly.lab.profiles import BETAS, profile_configs
from vae_anomaly.lab.report import (
    cell_correlation,
    compressed_bits_per_pixel,
    conclusions,
    load_lab,
    results_folder,
    within_cell_correlation,
)
from vae_anomaly.scoring import detection_metrics

FOLDER = results_folder("full")
CONFIGS = {run_key(c): c for c in profile_configs("full")}


@pytest.fixture(scope="module")
def stored():
    return {f.stem: json.loads(f.read_text()) for f in sorted(FOLDER.glob("*.json"))}


def test_every_run_of_the_full_profile_is_stored_and_nothing_else(stored):
    missing = sorted(set(CONFIGS) - set(stored))
    stale = sorted(set(stored) - set(CONFIGS))
    assert not missing, f"{len(missing)} runs missing, e.g. {missing[0]}: run `make lab-full`"
    assert not stale, (f"{len(stale)} stored results belong to no run of the full profile "
                       f"(an older grid or LAB_VERSION), e.g. {stale[0]}: remove them")


def test_each_result_is_its_config_run_by_this_lab_version(stored):
    for key, result in stored.items():
        config = RunConfig.from_dict(result["config"])
        assert result["key"] == key == run_key(config)
        assert result["config"] == asdict(CONFIGS[key])
        assert config.lab_version == LAB_VERSION and result["seed"] == config.seed


def test_results_carry_provenance_and_every_figure_input(stored):
    for result in stored.values():
        config, metrics = result["config"], result["metrics"]
        assert {"python", "keras", "numpy", "cpu_count"} <= set(result["versions"])
        assert len(result["timings"]["epoch_s"]) == config["epochs"]
        assert len(result["history"]["loss"]) == len(result["history"]["beta"]) == config["epochs"]
        assert result["n"] == {"train": 54000, "test_normal": 9000, "test_anomaly": 1000}
        for score in ("elbo", "recon_error", "kl"):
            assert 0 <= metrics[score]["roc_auc"] <= 1
        if config["seed"] == PER_IMAGE_SEED:
            per_image = metrics["per_image_elbo"]
            assert (len(per_image["normal"]), len(per_image["anomaly"])) == (9000, 1000)
        if config["model"] == "sparse":
            assert len(metrics["log_alpha"]) == config["latent_dim"]


@pytest.fixture(scope="module")
def lab():
    return load_lab(FOLDER, "full")


def test_the_pages_claims_hold(lab):
    """book/lab/trade_off.md quotes the stored numbers through glue, but its sentences say
    what they mean; when new results change the meaning, this fails and the text must be
    revised. One block per section, in the page's order."""
    sweep = lab.group("sweep")
    auc = sweep.groupby(["beta", "latent_dim"])["elbo_roc_auc"].mean()
    ssim = sweep.groupby(["beta", "latent_dim"])["ssim_normal"].mean()

    # 1. no trade-off: reconstruction and detection rise and fall together
    r = cell_correlation(sweep, "ssim_normal", "elbo_roc_auc")
    assert r["rho"] > 0.5 and r["p"] < 0.05
    for z in (16, 64):  # each step up in β lowers both
        assert auc.xs(z, level="latent_dim").is_monotonic_decreasing
        assert ssim.xs(z, level="latent_dim").is_monotonic_decreasing
    for beta in BETAS:  # two dimensions do worse at both than 16
        assert auc[(beta, 2)] < auc[(beta, 16)] and ssim[(beta, 2)] < ssim[(beta, 16)]
    assert auc.idxmax()[0] == ssim.idxmax()[0] == 0.1 and auc.idxmax()[1] in (16, 64)
    assert auc[(0.1, 16)] > auc[(1.0, 16)]
    pca50 = [r["roc_auc"] for r in json.loads((FOLDER.parents[1] / "benchmark.json")
                                              .read_text())["records"] if r["method"] == "pca50"]
    assert abs(auc[(0.1, 16)] - sum(pca50) / len(pca50)) < 0.01  # "level with PCA-50"
    collapsed = sweep[sweep.active_units == 0]
    assert len(collapsed) >= 1
    assert set(zip(collapsed.beta, collapsed.latent_dim, strict=True)) == {(10.0, 64)}
    gap = (sweep.groupby(["beta", "latent_dim"])["recon_error_roc_auc"].mean() - auc).abs()
    assert gap.idxmax() == (10.0, 64)

    # 2. seed variability against W2: weak evidence, from β ≥ 4 only, gone in relative W2
    assert conclusions(lab).loc[1, "here"].startswith("weak evidence")
    heavy = within_cell_correlation(sweep[sweep.beta >= 4])
    stable = within_cell_correlation(sweep[sweep.beta <= 1])
    assert heavy["rho"] > 0 and heavy["p"] < 0.05 and stable["p"] > 0.05
    assert within_cell_correlation(sweep, "w2_relative")["p"] > 0.05
    sd = sweep.groupby(["beta", "latent_dim"])["elbo_roc_auc"].std()
    beta = sd.index.get_level_values("beta")
    assert sd[beta >= 4].median() > sd[beta <= 1].median()

    # 3. both schedules improve both; warm-up more; it matches constant β = 1's detection
    schedules = lab.group("schedules").groupby("schedule").mean(numeric_only=True)
    verdicts = conclusions(lab).set_index("finding")["here"]
    for name in ("warm-up", "cyclical annealing"):
        assert verdicts[f"3. β-scheduling mitigates the trade-off ({name})"] == \
            "mitigates: better at both"
    for col in ("ssim_normal", "elbo_roc_auc"):
        assert schedules.loc["warmup", col] > schedules.loc["cyclical", col] > \
            schedules.loc["constant", col]
    assert abs(schedules.loc["warmup", "elbo_roc_auc"] - auc[(1.0, 16)]) < 0.01
    assert schedules.loc["warmup", "kl_normal"] > schedules.loc["constant", "kl_normal"]
    assert schedules.loc["warmup", "active_units"] < schedules.loc["constant", "active_units"]

    # 4. the Sparse VAE prunes to a few dimensions and mitigates nothing
    sparse = lab.group("sparse").groupby("latent_dim").mean(numeric_only=True)
    for z in (16, 64):
        verdict = verdicts[f"4. The Sparse VAE mitigates it most (d = {z})"]
        assert not verdict.startswith("mitigates")
        assert sparse.loc[z, "elbo_roc_auc"] > auc[(1.0, z)] - 0.01  # little or no cost
        gaussian_units = sweep[(sweep.beta == 1.0) & (sweep.latent_dim == z)]["active_units"]
        assert sparse.loc[z, "active_dims"] < gaussian_units.mean()

    # 5. the likelihood: Bernoulli and CB invert the ELBO, not the reconstruction error
    liks = lab.group("likelihoods").groupby("likelihood").mean(numeric_only=True)
    for name in ("bernoulli", "continuous_bernoulli"):
        assert liks.loc[name, "elbo_anomaly"] > liks.loc[name, "elbo_normal"]
        assert liks.loc[name, "elbo_roc_auc"] < 0.5 < 0.8 < liks.loc[name, "recon_error_roc_auc"]
    assert liks.loc["continuous_bernoulli", "elbo_roc_auc"] < liks.loc["bernoulli", "elbo_roc_auc"]
    assert liks.loc["gaussian_fixed", "elbo_roc_auc"] > liks.loc["gaussian_learned", "elbo_roc_auc"]
    assert liks.loc["gaussian_learned", "sigma"] > 0.1  # so σ = 0.1 acts as a smaller β
    # ... and the likelihood moves the AUC more than all the other designs together
    designs = pd.concat([auc, lab.group("schedules").groupby("schedule")["elbo_roc_auc"].mean(),
                         lab.group("sparse").groupby("latent_dim")["elbo_roc_auc"].mean()])
    assert liks["elbo_roc_auc"].max() - liks["elbo_roc_auc"].min() > designs.max() - designs.min()


def test_complexity_explains_the_bernoulli_elbo_but_not_the_gaussian(lab, split):
    x = np.concatenate([split.x_test_normal, split.x_test_anomaly])
    bits = compressed_bits_per_pixel(x)
    n = len(split.x_test_normal)
    assert detection_metrics(bits[:n], bits[n:])["roc_auc"] < 0.5  # trousers are simpler
    seed0 = lab.group("likelihoods").query("seed == 0").set_index("likelihood")["key"]
    for name, strong in (("bernoulli", True), ("continuous_bernoulli", True),
                         ("gaussian_fixed", False), ("gaussian_learned", False)):
        per_image = lab.raw[seed0[name]]["metrics"]["per_image_elbo"]
        elbo = np.r_[per_image["normal"], per_image["anomaly"]]
        rho = spearmanr(bits, elbo).statistic
        assert (rho < -0.7) if strong else (abs(rho) < 0.2), (name, rho)
        # exercise 3: -ELBO - L(x) rescues the Bernoulli score, gives nothing to the Gaussian
        plain = detection_metrics(-elbo[:n], -elbo[n:])["roc_auc"]
        nats = -elbo - np.log(2) * x[0].size * bits
        corrected = detection_metrics(nats[:n], nats[n:])["roc_auc"]
        if name == "bernoulli":
            assert plain < 0.5 < 0.7 < corrected
        if name == "gaussian_learned":
            assert corrected < plain + 0.005
