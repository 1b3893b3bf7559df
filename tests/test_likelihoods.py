"""Decoder log-densities: the textbook formulas, normalised where they should be."""

import math

import numpy as np
import pytest
from keras import ops
from scipy import integrate
from scipy.stats import norm

from vae_anomaly.likelihoods import (
    LIKELIHOODS,
    bernoulli_log_prob,
    continuous_bernoulli_log_norm,
    continuous_bernoulli_log_prob,
    continuous_bernoulli_mean,
    gaussian_log_prob,
    get_likelihood,
)
from vae_anomaly.model import build_vae

LOGITS = [-30.0, -5.0, -1.0, -0.05, -1e-3, 0.0, 1e-3, 0.05, 1.0, 5.0, 30.0]


def density(log_prob, *params):
    """x -> exp(log_prob(x, *params)) as a float64 function for scipy's quad."""
    params = [np.float64(p) for p in params]

    def f(x):
        return math.exp(float(ops.convert_to_numpy(log_prob(np.float64(x), *params))))
    return f


@pytest.mark.parametrize("mean, log_sigma", [(0.3, math.log(0.1)), (0.9, 0.0), (-2.0, 1.0)])
def test_gaussian_is_the_normal_density_and_integrates_to_one(mean, log_sigma):
    x = np.linspace(-3, 3, 13)
    got = ops.convert_to_numpy(gaussian_log_prob(x, np.float64(mean), np.float64(log_sigma)))
    np.testing.assert_allclose(got, norm.logpdf(x, mean, math.exp(log_sigma)), rtol=1e-10)
    total, _ = integrate.quad(density(gaussian_log_prob, mean, log_sigma), -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("logit", LOGITS)
def test_continuous_bernoulli_integrates_to_one_over_the_unit_interval(logit):
    total, _ = integrate.quad(density(continuous_bernoulli_log_prob, np.float64(logit)), 0, 1)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_continuous_bernoulli_constant_matches_its_definition_in_lambda():
    """C(λ) = 2 artanh(1 - 2λ) / (1 - 2λ), away from λ = 1/2 where that form is 0/0."""
    logits = np.array([-8.0, -2.0, -0.5, 0.5, 3.0])
    lam = 1 / (1 + np.exp(-logits))
    want = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    np.testing.assert_allclose(ops.convert_to_numpy(continuous_bernoulli_log_norm(logits)),
                               want, rtol=1e-10)


def test_continuous_bernoulli_is_stable_near_one_half():
    """float32, as in training: finite at logit 0, C(1/2) = 2, no jump at the series' edge."""
    logits = np.array([0.0, 1e-7, -1e-5, 0.00999, 0.01001, -0.00999, -0.01001], "float32")
    got = ops.convert_to_numpy(continuous_bernoulli_log_norm(logits)).astype("float64")
    assert np.isfinite(got).all() and got[0] == pytest.approx(math.log(2), abs=1e-7)
    exact = np.log(logits[3:].astype("float64") / np.tanh(logits[3:].astype("float64") / 2))
    np.testing.assert_allclose(got[3:], exact, atol=1e-6)


@pytest.mark.parametrize("logit", LOGITS)
def test_continuous_bernoulli_mean_is_the_mean_of_the_density(logit):
    p = density(continuous_bernoulli_log_prob, np.float64(logit))
    want, _ = integrate.quad(lambda x: x * p(x), 0, 1)
    assert float(continuous_bernoulli_mean(logit)) == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("logit", LOGITS)
def test_bernoulli_sums_to_one_on_0_1_but_not_over_the_interval(logit):
    """The Bernoulli 'density' of a grey pixel lacks exactly the continuous Bernoulli's C."""
    p = density(bernoulli_log_prob, np.float64(logit))
    assert p(0.0) + p(1.0) == pytest.approx(1.0, abs=1e-12)
    total, _ = integrate.quad(p, 0, 1)
    log_c = float(ops.convert_to_numpy(continuous_bernoulli_log_norm(np.float64(logit))))
    assert total == pytest.approx(math.exp(-log_c), rel=1e-8)


def test_sigma_is_learned_or_fixed_as_named():
    learned, fixed = build_vae(4, "gaussian_learned"), build_vae(4, "gaussian_fixed")
    assert any(v is learned.log_sigma for v in learned.trainable_variables)
    assert not any(v is fixed.log_sigma for v in fixed.trainable_variables)
    assert math.exp(float(fixed.log_sigma.numpy())) == pytest.approx(
        LIKELIHOODS["gaussian_fixed"].sigma)


def test_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        get_likelihood("poisson")
