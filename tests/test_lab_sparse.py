"""The Sparse VAE: Molchanov et al.'s KL approximation and the α μ² posterior."""

import math

import numpy as np
import pytest
from keras import ops
from scipy import integrate
from scipy.stats import norm

from vae_anomaly.lab.sparse import K1, build_sparse_vae, sparse_kl

LOG_ALPHA = np.linspace(-8, 8, 161)


def kl(log_alpha):
    return ops.convert_to_numpy(sparse_kl(np.asarray(log_alpha, "float64")))


def exact_kl(log_alpha):
    """KL(N(1, α) || log-uniform) = -log(α)/2 + E log|ε| + const, const set to k1 so it
    vanishes as α -> ∞ (Molchanov et al., 2017, eq. 14), by numerical integration."""
    sd = math.exp(log_alpha / 2)
    def f(e):
        return math.log(abs(e)) * norm.pdf(e, 1, sd)
    e_log = integrate.quad(f, -np.inf, 0, limit=200)[0] + integrate.quad(f, 0, np.inf, limit=200)[0]
    return -log_alpha / 2 + e_log + K1


def test_sparse_kl_is_positive_and_decreases_with_alpha():
    values = kl(LOG_ALPHA)
    assert (values > 0).all()
    assert (np.diff(values) < 0).all()


def test_sparse_kl_limits():
    """α -> ∞: KL -> 0 (a dimension of pure noise is free); α -> 0: KL ≈ k1 - log(α) / 2."""
    assert kl(30.0) == pytest.approx(0.0, abs=1e-12)
    assert kl(-30.0) == pytest.approx(K1 + 15.0, abs=1e-9)


@pytest.mark.parametrize("log_alpha", [-6.0, -2.0, 0.0, 2.0, 6.0])
def test_sparse_kl_approximates_the_exact_kl(log_alpha):
    """Measured: largest gap 0.008 (at log α = -4) on [-6, 8]."""
    assert kl(log_alpha) == pytest.approx(exact_kl(log_alpha), abs=0.01)


def test_sparse_vae_posterior_variance_and_active_dims():
    x = np.random.default_rng(0).random((256, 28, 28)).astype("float32")
    vae = build_sparse_vae(6, seed=0)
    vae.fit(x, epochs=1, batch_size=64, verbose=0)
    log_alpha = ops.convert_to_numpy(vae.log_alpha)
    assert log_alpha.shape == (6,)
    z_mean, z_log_var, _ = vae.encoder.predict(x[:10], verbose=0)
    np.testing.assert_allclose(np.exp(z_log_var), np.exp(log_alpha) * z_mean**2, rtol=1e-3,
                               atol=1e-7)
    kl_terms = ops.convert_to_numpy(vae.kl(z_mean, z_log_var))
    np.testing.assert_allclose(kl_terms, kl(log_alpha).sum(), rtol=1e-5)  # one KL for all x
    vae.encoder.get_layer("log_alpha").set_log_alpha([-3.0, -2.0, -1.0, 0.0, 1.0, 3.0])
    np.testing.assert_array_equal(vae.active_dims(threshold=0.2), [0, 1])  # 0.047, 0.119 < 0.2
