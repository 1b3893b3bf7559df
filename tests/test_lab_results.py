"""The published lab results (``results/lab/full``) match the full profile and the lab's code.

A change to the grid, to ``RunConfig`` or to ``LAB_VERSION`` changes the run keys: this
test then fails until ``make lab-full`` has produced the new results (it resumes) and the
old files are removed, so the lab pages never show numbers of another grid or code.
"""

import json
from dataclasses import asdict

import pytest

from vae_anomaly.lab.experiment import LAB_VERSION, PER_IMAGE_SEED, RunConfig, run_key
from vae_anomaly.lab.profiles import profile_configs
from vae_anomaly.lab.report import results_folder

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
