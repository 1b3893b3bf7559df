"""The lab's experiment runner: keys, resumability and the quick profile end to end.

``test_quick_profile_end_to_end`` is SLOW (about 1-2 min on 2 cores): it trains
the nine runs of the quick profile on the real data through the real CLI.
"""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from vae_anomaly.lab.experiment import RunConfig, run_key
from vae_anomaly.lab.profiles import profile_configs, profile_groups
from vae_anomaly.lab.report import load_lab
from vae_anomaly.lab.run import estimate_seconds, is_done, timing_model


def cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "vae_anomaly.lab.run", *args], env=env,
                          capture_output=True, text=True)


def test_keys_name_the_config_and_differ_with_it():
    config = RunConfig(beta=4.0, latent_dim=64, seed=3)
    assert run_key(config).startswith("vae-gaussian_learned-constant-b4-z64-e10-s3-")
    assert run_key(config) == run_key(RunConfig.from_dict(vars(config)))
    assert run_key(config) != run_key(replace(config, n_train=1000))


def test_full_profile_is_the_published_grid():
    groups = profile_groups("full")
    sweep = {(c.beta, c.latent_dim, c.seed) for c in groups["sweep"]}
    assert sweep == {(b, z, s) for b in (0.1, 1, 4, 10) for z in (2, 16, 64) for s in range(5)}
    assert {c.schedule for c in groups["schedules"]} == {"constant", "warmup", "cyclical"}
    assert {c.likelihood for c in groups["likelihoods"]} == {
        "gaussian_learned", "gaussian_fixed", "bernoulli", "continuous_bernoulli"}
    assert all(c.model == "sparse" for c in groups["sparse"])
    configs = profile_configs("full")
    assert len(configs) == len(set(configs)) == len({run_key(c) for c in configs})
    assert all(c.n_train is None and c.n_test_normal is None for c in configs)


def test_an_unreadable_result_is_set_aside_and_redone(tmp_path):
    path = tmp_path / "run.json"
    assert not is_done(path)
    path.write_text('{"config": {')
    assert not is_done(path)
    assert (tmp_path / "run.bad").read_text() == '{"config": {'
    path.write_text(json.dumps({"metrics": {}}))
    assert is_done(path)


def test_estimate_scales_measured_times(split):
    small = RunConfig(epochs=3, n_train=1000, n_test_normal=100, n_test_anomaly=100,
                      elbo_samples=2)
    result = {"config": vars(small),
              "timings": {"epoch_s": [5.0, 2.0, 2.0], "build_fit_s": 10.0, "eval_s": 4.0,
                          "cpu_epoch_s": [1.0, 1.0, 1.0], "cpu_build_fit_s": 3.0,
                          "cpu_eval_s": 0.8}}
    assert timing_model([result], split, "cpu_")["s_overhead"] == pytest.approx(0.0)
    model = timing_model([result], split)
    assert model["s_per_image_epoch"] == pytest.approx(2e-3)
    assert model["s_per_eval_image"] == pytest.approx(4.0 / (200 * 4))
    assert model["s_overhead"] == pytest.approx(10.0 - 6.0)
    assert estimate_seconds([small], model, split) == pytest.approx(10.0 + 4.0)
    big = replace(small, epochs=6, n_train=None)  # the whole training split, twice the epochs
    assert estimate_seconds([big], model, split) == pytest.approx(
        4.0 + 2e-3 * len(split.x_train) * 6 + 4.0)


@pytest.mark.slow
def test_quick_profile_end_to_end(tmp_path):
    """SLOW. Runs every quick config, then checks the stored results and resumption."""
    first = cli("--profile", "quick", "--out", str(tmp_path))
    assert first.returncode == 0, first.stdout + first.stderr
    configs = profile_configs("quick")
    files = sorted(tmp_path.glob("*.json"))
    assert [f.stem for f in files] == sorted(run_key(c) for c in configs)

    results = {r["key"]: r for r in (json.loads(f.read_text()) for f in files)}
    for config in configs:
        r = results[run_key(config)]
        assert RunConfig.from_dict(r["config"]) == config and r["seed"] == config.seed
        assert {"keras", "numpy", "python"} <= set(r["versions"])
        assert len(r["timings"]["epoch_s"]) == len(r["history"]["loss"]) == config.epochs
        assert len(r["timings"]["cpu_epoch_s"]) == config.epochs
        m = r["metrics"]
        for score in ("elbo", "recon_error", "kl"):
            assert 0 <= m[score]["roc_auc"] <= 1 and 0 < m[score]["ap"] <= 1
        assert np.isfinite([m["elbo_normal"], m["mse_normal"], m["w2_latent"]]).all()
        assert 0 < m["mse_normal"] < 1 and -1 <= m["ssim_normal"] <= 1 and m["w2_latent"] > 0
        if config.model == "sparse":
            assert len(m["log_alpha"]) == config.latent_dim
            assert 0 <= m["active_dims"] <= config.latent_dim
        if config.schedule != "constant":
            assert r["history"]["beta"][0] == 0.0  # both schedules start from β = 0

    # the likelihood pitfall shows even after 2 short epochs (measured: AUC 0.32 vs 0.65)
    def auc(likelihood):
        key = run_key(replace(configs[0], likelihood=likelihood, latent_dim=16))
        return results[key]["metrics"]["elbo"]["roc_auc"]
    assert auc("bernoulli") < 0.5 < auc("gaussian_learned")

    table = load_lab(tmp_path, "quick").table  # what the lab notebook reads
    assert len(table) == len(configs) and table["sweep"].sum() == len(
        {run_key(c) for c in profile_groups("quick")["sweep"]})
    assert table.loc[table["model"] == "sparse", "active_dims"].notna().all()

    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    second = cli("--profile", "quick", "--out", str(tmp_path))
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{len(configs)} done (skipped), 0 to do" in second.stdout
    assert {f.name: f.stat().st_mtime_ns for f in tmp_path.glob("*.json")} == stamps

    files[0].unlink()  # one run missing: the estimate comes from the others, nothing trains
    third = cli("--profile", "quick", "--out", str(tmp_path), "--estimate")
    assert third.returncode == 0, third.stdout + third.stderr
    assert f"measured from {len(configs) - 1} stored run(s)" in third.stdout
    assert "for 1 run(s)" in third.stdout and "CPU:" in third.stdout
    assert not files[0].exists()
