"""The VAE (Keras 3): a dense encoder and decoder, any likelihood of ``likelihoods``, and β.

Calling the model returns each image's negative β-ELBO, -log p(x|z) + β KL, in nats, so
``fit`` minimises its mean and ``elbo()`` is the negative of the β = 1 value. The
reference design is the Gaussian decoder with one learned σ shared by all pixels;
``likelihood="bernoulli"`` gives the classic BCE decoder, kept to show the pitfall: it
ranks trousers as *more* likely than normal clothes. β is a non-trainable variable, so
that a schedule (``vae_anomaly.lab.schedules``) can change it during training.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .likelihoods import Likelihood, get_likelihood

IMAGE_SHAPE = (28, 28)
N_PIXELS = math.prod(IMAGE_SHAPE)


class Sampling(layers.Layer):
    """Reparameterisation: z = mean + exp(log_var / 2) * eps, eps ~ N(0, I)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def kl_to_standard_normal(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, in closed form."""
    return -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def build_encoder(latent_dim=16, hidden=(512, 256), seed=None):
    """Image (28, 28) -> [z_mean, z_log_var, z]."""
    x_in = keras.Input(shape=IMAGE_SHAPE, name="image")
    h = layers.Flatten()(x_in)
    for units in hidden:
        h = layers.Dense(units, activation="relu")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    z = Sampling(seed=seed, name="z")([z_mean, z_log_var])
    return keras.Model(x_in, [z_mean, z_log_var, z], name="encoder")


def build_decoder(latent_dim=16, hidden=(256, 512), output="means"):
    """Latent code -> pixel ``means`` (sigmoid) or pixel ``logits``, shape (28, 28)."""
    z_in = keras.Input(shape=(latent_dim,), name="z")
    h = z_in
    for units in hidden:
        h = layers.Dense(units, activation="relu")(h)
    activation = "sigmoid" if output == "means" else None
    out = layers.Dense(N_PIXELS, activation=activation)(h)
    out = layers.Reshape(IMAGE_SHAPE, name=f"pixel_{output}")(out)
    return keras.Model(z_in, out, name="decoder")


class VAE(keras.Model):
    """Encoder + decoder + likelihood; ``vae(x)`` is the per-sample negative β-ELBO in nats."""

    def __init__(self, encoder, decoder, likelihood: str | Likelihood = "gaussian_learned",
                 beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.likelihood = get_likelihood(likelihood)
        # log of the decoder's global standard deviation (the Gaussians only)
        self.log_sigma = self.add_weight(shape=(), initializer="zeros", name="log_sigma",
                                         trainable=self.likelihood.learns_sigma)
        if self.likelihood.sigma is not None:
            self.log_sigma.assign(math.log(self.likelihood.sigma))
        self.beta = keras.Variable(float(beta), trainable=False, name="beta", dtype="float32")

    def log_likelihood(self, x, decoded):
        """log p(x | z) summed over pixels, one value per sample."""
        x = ops.reshape(ops.cast(x, "float32"), (-1, N_PIXELS))
        decoded = ops.reshape(decoded, (-1, N_PIXELS))
        return ops.sum(self.likelihood.log_prob(x, decoded, self.log_sigma), axis=-1)

    def kl(self, z_mean, z_log_var):
        """KL(q(z|x) || p(z)) per sample."""
        return kl_to_standard_normal(z_mean, z_log_var)

    def call(self, x, training=False):
        z_mean, z_log_var, z = self.encoder(x, training=training)
        nll = -self.log_likelihood(x, self.decoder(z, training=training))
        return nll + self.beta * self.kl(z_mean, z_log_var)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)

    def posterior_mean(self, x, batch_size=1000):
        """E[z | x], one row per image."""
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)[0]

    def reconstruct(self, x, batch_size=1000):
        """The likelihood's mean image, decoded at the posterior mean."""
        out = self.decoder.predict(self.posterior_mean(x, batch_size), batch_size=batch_size,
                                   verbose=0)
        return self.likelihood.mean(out)

    def sample(self, n, seed=None):
        """The likelihood's mean images of ``n`` codes drawn from the prior N(0, I)."""
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


def build_vae(latent_dim=16, likelihood="gaussian_learned", beta=1.0, learning_rate=1e-3,
              seed=None, encoder=None, model_class=VAE, name="vae"):
    """The compiled reference architecture with any likelihood (``encoder`` and
    ``model_class`` default to the reference encoder and ``VAE``)."""
    lik = get_likelihood(likelihood)
    encoder = build_encoder(latent_dim, seed=seed) if encoder is None else encoder
    vae = model_class(encoder, build_decoder(latent_dim, output=lik.decoder_output),
                      likelihood=lik, beta=beta, name=f"{name}_{lik.name}")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return vae


def elbo(vae, x, n_samples=8, batch_size=1000):
    """Per-sample ELBO (higher = more normal), a Monte-Carlo mean over ``n_samples`` draws."""
    draws = [vae.predict(x, batch_size=batch_size, verbose=0) for _ in range(n_samples)]
    return -np.mean(draws, axis=0)
