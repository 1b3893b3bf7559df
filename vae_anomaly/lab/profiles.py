"""The lab's run grids, named by the analysis they serve.

``quick`` exercises every code path on a subsample in about a minute (for tests);
``full`` is the published grid. A config shared by two analyses (the constant-β
Gaussian VAE at β = 1, latent 16 is the baseline of three) runs once.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

from .experiment import RunConfig

BETAS = (0.1, 1.0, 4.0, 10.0)
LATENT_DIMS = (2, 16, 64)
SEEDS = (0, 1, 2, 3, 4)
SCHEDULE_BETA = 4.0
SPARSE_LATENT_DIMS = (16, 64)
OTHER_LIKELIHOODS = ("gaussian_fixed", "bernoulli", "continuous_bernoulli")

FULL = RunConfig(epochs=10, batch_size=256)
QUICK = RunConfig(epochs=2, batch_size=128, n_train=2000, n_test_normal=1000,
                  n_test_anomaly=200, elbo_samples=2)


def groups(base: RunConfig, seeds=SEEDS, betas=BETAS, latent_dims=LATENT_DIMS,
           sparse_latent_dims=SPARSE_LATENT_DIMS) -> dict:
    """Analysis name -> its configs, all built from ``base``."""
    def vary(**kw):
        return replace(base, **kw)

    baseline = {"beta": 1.0, "latent_dim": 16}
    return {
        "sweep": [vary(beta=b, latent_dim=z, seed=s)
                  for b, z, s in product(betas, latent_dims, seeds)],
        "schedules": [vary(beta=SCHEDULE_BETA, schedule=name, seed=s)
                      for name, s in product(("constant", "warmup", "cyclical"), seeds)],
        "sparse": [vary(model="sparse", latent_dim=z, seed=s)
                   for z, s in product(sparse_latent_dims, seeds)],
        "likelihoods": [vary(likelihood=lik, seed=s, **baseline)
                        for lik, s in product(("gaussian_learned", *OTHER_LIKELIHOODS), seeds)],
    }


PROFILES = {
    "quick": lambda: groups(QUICK, seeds=(0,), betas=(1.0,), latent_dims=(2, 16),
                            sparse_latent_dims=(16,)),
    "full": lambda: groups(FULL),
}


def profile_groups(name: str) -> dict:
    """Analysis name -> configs for the profile ``name``."""
    try:
        return PROFILES[name]()
    except KeyError:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, not {name!r}") from None


def profile_configs(name: str) -> list[RunConfig]:
    """Every distinct config of a profile, in a stable order."""
    return list(dict.fromkeys(c for configs in profile_groups(name).values() for c in configs))
