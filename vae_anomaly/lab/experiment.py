"""One lab run: train a VAE from a ``RunConfig`` and measure reconstruction and detection.

A run's result is a JSON-ready dict holding its config, seed, package versions,
timings, training history and metrics; ``run_key`` names its file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

import keras
import numpy as np

from vae_anomaly.model import build_vae
from vae_anomaly.scoring import detection_metrics, elbo_metrics

from .quality import mse, ssim
from .schedules import make_schedule
from .sparse import DROPOUT_THRESHOLD, LOG_ALPHA_SPEED, SparseVAE, build_sparse_vae
from .wasserstein import fit_gaussian, gaussian_w2

PACKAGES = ("keras", "tensorflow-cpu", "tensorflow", "numpy", "scipy", "scikit-learn",
            "scikit-image")
# Bump when a change to the lab's code changes results: it is part of every run's key, so
# stored results of the old code are no longer skipped.
LAB_VERSION = 1
ACTIVE_UNIT_VARIANCE = 0.01  # Burda et al. (2016): Var_x E[z_d | x] above this = active unit
PER_IMAGE_SEED = 0  # runs of this seed also store every test image's ELBO (per-image figures)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; ``None`` sizes mean the whole split."""

    model: str = "vae"  # "vae" or "sparse"
    likelihood: str = "gaussian_learned"
    latent_dim: int = 16
    beta: float = 1.0  # the final β of the schedule
    schedule: str = "constant"
    cycles: int = 4  # cyclical schedule only
    seed: int = 0
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    n_train: int | None = None
    n_test_normal: int | None = None
    n_test_anomaly: int | None = None
    n_ssim: int | None = None  # SSIM on the first n_ssim normal test images
    elbo_samples: int = 8
    lab_version: int = LAB_VERSION

    def __post_init__(self):
        if self.model not in ("vae", "sparse"):
            raise ValueError(f"model must be 'vae' or 'sparse', not {self.model!r}")

    @classmethod
    def from_dict(cls, d):
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def run_key(config: RunConfig) -> str:
    """A readable slug plus a hash of the whole config: the result's file name (no suffix)."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:10]
    c = config
    return (f"{c.model}-{c.likelihood}-{c.schedule}-b{c.beta:g}-z{c.latent_dim}-e{c.epochs}"
            f"-s{c.seed}-{digest}")


def versions() -> dict:
    """Python, platform and the versions of the packages a result depends on."""
    found = {"python": platform.python_version(), "platform": platform.platform(),
             "cpu_count": os.cpu_count()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def subsample(x, n, seed=0):
    """``n`` rows of ``x`` drawn without replacement (all of them when n is None)."""
    if n is None or n >= len(x):
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock and CPU (all threads of this process) seconds of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds, self.cpu_seconds = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.cpu_seconds.append(time.process_time() - self._cpu)


def build(config: RunConfig):
    """The compiled model a config describes."""
    builder = build_sparse_vae if config.model == "sparse" else build_vae
    return builder(config.latent_dim, config.likelihood, beta=config.beta,
                   learning_rate=config.learning_rate, seed=config.seed)


def evaluate(vae, x_normal, x_anomaly, n_ssim=None, elbo_samples=8, per_image=False) -> dict:
    """Detection (ELBO, reconstruction error, KL), reconstruction quality and latent distance;
    with ``per_image``, also each test image's ELBO (normal first, in split order)."""
    nll_n, kl_n = vae.elbo_terms(x_normal, elbo_samples)
    nll_a, kl_a = vae.elbo_terms(x_anomaly, elbo_samples)
    elbo_n, elbo_a = -(nll_n + kl_n), -(nll_a + kl_a)
    recon_n, recon_a = vae.reconstruct(x_normal), vae.reconstruct(x_anomaly)
    mse_n, mse_a = mse(x_normal, recon_n), mse(x_anomaly, recon_a)
    n_ssim = len(x_normal) if n_ssim is None else min(n_ssim, len(x_normal))
    z_n, z_a = vae.posterior_mean(x_normal), vae.posterior_mean(x_anomaly)
    mean_n, cov_n = fit_gaussian(z_n)
    w2 = gaussian_w2(mean_n, cov_n, *fit_gaussian(z_a))
    metrics = {
        "elbo_normal": float(np.mean(elbo_n)),
        "elbo_anomaly": float(np.mean(elbo_a)),
        "nll_normal": float(np.mean(nll_n)),
        "kl_normal": float(np.mean(kl_n)),
        "elbo": elbo_metrics(elbo_n, elbo_a),
        "recon_error": detection_metrics(mse_n, mse_a),
        "kl": detection_metrics(kl_n, kl_a),
        "mse_normal": float(np.mean(mse_n)),
        "mse_anomaly": float(np.mean(mse_a)),
        "ssim_normal": float(np.mean(ssim(x_normal[:n_ssim], recon_n[:n_ssim]))),
        "w2_latent": w2,
        "w2_relative": w2 / float(np.sqrt(np.trace(cov_n))),  # in units of the normal spread
        "active_units": int(np.sum(np.var(z_n, axis=0) > ACTIVE_UNIT_VARIANCE)),
        "sigma": float(np.exp(vae.log_sigma.numpy())),
    }
    if per_image:
        metrics["per_image_elbo"] = {
            "normal": [round(float(v), 2) for v in elbo_n],
            "anomaly": [round(float(v), 2) for v in elbo_a]}
    if isinstance(vae, SparseVAE):
        metrics["log_alpha"] = [float(v) for v in keras.ops.convert_to_numpy(vae.log_alpha)]
        metrics["active_dims"] = int(len(vae.active_dims()))
        metrics["dropout_threshold"] = DROPOUT_THRESHOLD
        metrics["log_alpha_speed"] = LOG_ALPHA_SPEED
    return metrics


def run(config: RunConfig, split) -> dict:
    """Train and evaluate one config on an ``AnomalySplit``; return the result dict."""
    started, started_cpu = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(config.seed)
    x_train = subsample(split.x_train, config.n_train)
    x_normal = subsample(split.x_test_normal, config.n_test_normal)
    x_anomaly = subsample(split.x_test_anomaly, config.n_test_anomaly)
    vae = build(config)
    timer = EpochTimer()
    schedule = make_schedule(config.schedule, config.beta, config.epochs, cycles=config.cycles)
    history = vae.fit(x_train, epochs=config.epochs, batch_size=config.batch_size, shuffle=True,
                      callbacks=[schedule, timer], verbose=0)
    fitted, fitted_cpu = time.perf_counter(), time.process_time()
    vae.beta.assign(1.0)  # evaluate the true ELBO whatever β was trained with
    metrics = evaluate(vae, x_normal, x_anomaly, config.n_ssim, config.elbo_samples,
                       per_image=config.seed == PER_IMAGE_SEED)
    done, done_cpu = time.perf_counter(), time.process_time()
    return {
        "key": run_key(config),
        "config": asdict(config),
        "seed": config.seed,
        "n": {"train": len(x_train), "test_normal": len(x_normal),
              "test_anomaly": len(x_anomaly)},
        "versions": versions(),
        "timings": {"build_fit_s": fitted - started, "epoch_s": timer.seconds,
                    "eval_s": done - fitted, "total_s": done - started,
                    # CPU seconds of all this process's threads: less sensitive to other load
                    "cpu_build_fit_s": fitted_cpu - started_cpu, "cpu_epoch_s": timer.cpu_seconds,
                    "cpu_eval_s": done_cpu - fitted_cpu, "cpu_total_s": done_cpu - started_cpu},
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "metrics": metrics,
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
