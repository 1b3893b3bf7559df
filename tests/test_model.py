"""The core VAE: its ELBO's sign, shape and maths, and that a short training detects."""

import keras
import numpy as np
import pytest
from scipy.stats import norm

from vae_anomaly.model import build_vae, elbo
from vae_anomaly.scoring import elbo_metrics


@pytest.fixture(scope="module")
def trained(split):
    """Each likelihood after 2 epochs, with its test-set ELBOs."""
    out = {}
    for likelihood in ("gaussian_learned", "bernoulli"):
        keras.utils.set_random_seed(0)
        vae = build_vae(16, likelihood=likelihood, seed=0)
        history = vae.fit(split.x_train, epochs=2, batch_size=128, verbose=0)
        out[likelihood] = (vae, history, elbo(vae, split.x_test_normal, n_samples=2),
                           elbo(vae, split.x_test_anomaly, n_samples=2))
    return out


@pytest.mark.parametrize("likelihood", ["gaussian_learned", "bernoulli"])
def test_log_likelihood_matches_the_textbook_density(likelihood):
    vae = build_vae(4, likelihood=likelihood)
    rng = np.random.default_rng(0)
    x = rng.random((3, 28, 28)).astype("float32")
    out = rng.random((3, 28, 28)).astype("float32")
    got = np.asarray(vae.log_likelihood(x, out))
    if likelihood == "gaussian_learned":  # sigma = exp(0) = 1 before training
        want = norm.logpdf(x, loc=out, scale=1.0).sum(axis=(1, 2))
    else:  # out are logits
        p = 1 / (1 + np.exp(-out))
        want = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-4)


@pytest.mark.slow  # the fixture trains two VAEs
def test_elbo_is_the_negative_per_sample_loss(split, trained):
    vae, history, *_ = trained["gaussian_learned"]
    x = split.x_test_normal[:500]
    values = elbo(vae, x, n_samples=16)
    assert values.shape == (500,) and np.isfinite(values).all()
    np.testing.assert_allclose(values, -np.mean([vae.predict(x, verbose=0) for _ in range(16)],
                                                axis=0), rtol=0.05)
    # fit minimised the mean negative ELBO: the training ELBO rose above the first epoch's
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert elbo(vae, split.x_train[:2000]).mean() > -history.history["loss"][0]


@pytest.mark.slow  # the fixture trains two VAEs
def test_higher_elbo_means_more_normal(split, trained):
    vae = trained["gaussian_learned"][0]
    noise = np.random.default_rng(0).random((200, 28, 28)).astype("float32")
    assert elbo(vae, split.x_test_normal[:200]).mean() > elbo(vae, noise).mean()


@pytest.mark.slow  # the fixture trains two VAEs
def test_short_training_detects_trousers_by_the_elbo(trained):
    """2 epochs, seeds 0-3, measured: ROC AUC 0.799-0.814 (Gaussian), 0.338-0.342 (Bernoulli)."""
    _, _, normal, anomaly = trained["gaussian_learned"]
    assert elbo_metrics(normal, anomaly)["roc_auc"] > 0.75


@pytest.mark.slow  # the fixture trains two VAEs
def test_bce_decoder_ranks_trousers_as_more_likely(trained):
    """The pitfall the course teaches: with a Bernoulli decoder, -ELBO is worse than chance."""
    _, _, normal, anomaly = trained["bernoulli"]
    assert anomaly.mean() > normal.mean()
    assert elbo_metrics(normal, anomaly)["roc_auc"] < 0.45
