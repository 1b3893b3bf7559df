"""The reference VAE with two hooks the lab needs: a pluggable likelihood and a β variable.

``LabVAE`` subclasses ``vae_anomaly.model.VAE``: the encoder, decoder, sampling
layer and training loss are the reference ones; β is a non-trainable
``keras.Variable`` that the schedules in ``schedules`` set during training, and
the likelihood is any of ``likelihoods.LIKELIHOODS``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from vae_anomaly.model import IMAGE_SHAPE, VAE, build_decoder, build_encoder

from .likelihoods import get_likelihood

N_PIXELS = math.prod(IMAGE_SHAPE)


class LabVAE(VAE):
    """``vae(x)`` is the per-sample negative β-ELBO, -log p(x|z) + β KL, in nats."""

    def __init__(self, encoder, decoder, likelihood="gaussian_learned", beta=1.0, **kwargs):
        lik = get_likelihood(likelihood)
        # the parent makes log_sigma trainable for "gaussian" only; we then own the likelihood
        parent_likelihood = "gaussian" if lik.learns_sigma else "bernoulli"
        super().__init__(encoder, decoder, likelihood=parent_likelihood, **kwargs)
        self.likelihood = lik
        if lik.sigma is not None:
            self.log_sigma.assign(math.log(lik.sigma))
        self.beta = keras.Variable(float(beta), trainable=False, name="beta", dtype="float32")

    def log_likelihood(self, x, decoded):
        x = ops.reshape(ops.cast(x, "float32"), (-1, N_PIXELS))
        decoded = ops.reshape(decoded, (-1, N_PIXELS))
        return ops.sum(self.likelihood.log_prob(x, decoded, self.log_sigma), axis=-1)

    def kl(self, z_mean, z_log_var):
        """KL(q(z|x) || N(0, I)) per sample."""
        return -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)

    def call(self, x, training=False):
        z_mean, z_log_var, z = self.encoder(x, training=training)
        nll = -self.log_likelihood(x, self.decoder(z, training=training))
        return nll + self.beta * self.kl(z_mean, z_log_var)

    def posterior_mean(self, x, batch_size=1000):
        """E[z | x], one row per image."""
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)[0]

    def reconstruct(self, x, batch_size=1000):
        """The likelihood's mean image, decoded at the posterior mean."""
        out = self.decoder.predict(self.posterior_mean(x, batch_size), batch_size=batch_size,
                                   verbose=0)
        return self.likelihood.mean(out)

    def sample(self, n, seed=None):
        z = np.random.default_rng(seed).standard_normal((n, self.decoder.input_shape[-1]))
        return self.likelihood.mean(self.decoder.predict(z.astype("float32"), verbose=0))

    def elbo_terms(self, x, n_samples=8, batch_size=1000):
        """Per-sample Monte-Carlo -log p(x|z) (mean over ``n_samples`` draws) and KL (NumPy)."""
        beta = float(self.beta.numpy())
        self.beta.assign(0.0)
        try:
            nll = np.mean([self.predict(x, batch_size=batch_size, verbose=0)
                           for _ in range(n_samples)], axis=0)
        finally:
            self.beta.assign(beta)
        z_mean, z_log_var, _ = self.encoder.predict(x, batch_size=batch_size, verbose=0)
        return nll, ops.convert_to_numpy(self.kl(z_mean, z_log_var))


def build_lab_vae(latent_dim=16, likelihood="gaussian_learned", beta=1.0, learning_rate=1e-3,
                  seed=None, encoder=None, model_class=LabVAE, name="vae"):
    """The compiled reference architecture with any lab likelihood (``encoder`` and
    ``model_class`` default to the reference encoder and ``LabVAE``)."""
    lik = get_likelihood(likelihood)
    encoder = build_encoder(latent_dim, seed=seed) if encoder is None else encoder
    vae = model_class(encoder, build_decoder(latent_dim, likelihood=lik.decoder),
                      likelihood=lik, beta=beta, name=f"{name}_{lik.name}")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return vae
