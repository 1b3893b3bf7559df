"""The reference VAE (Keras 3): a dense encoder/decoder with a Gaussian decoder.

The decoder outputs the mean of a Gaussian over pixels whose standard deviation
is one learned scalar shared by all pixels. Calling the model returns the
per-sample negative ELBO, so ``fit`` minimises its mean and ``elbo()`` is just
its negative. ``likelihood="bernoulli"`` gives the classic BCE decoder, kept to
show the pitfall: it ranks trousers as *more* likely than normal clothes.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

IMAGE_SHAPE = (28, 28)
LIKELIHOODS = ("gaussian", "bernoulli")


class Sampling(layers.Layer):
    """Reparameterisation: z = mean + exp(log_var / 2) * eps, eps ~ N(0, I)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


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


def build_decoder(latent_dim=16, hidden=(256, 512), likelihood="gaussian"):
    """Latent code -> pixel means (Gaussian) or pixel logits (Bernoulli), shape (28, 28)."""
    z_in = keras.Input(shape=(latent_dim,), name="z")
    h = z_in
    for units in hidden:
        h = layers.Dense(units, activation="relu")(h)
    activation = "sigmoid" if likelihood == "gaussian" else None
    out = layers.Dense(math.prod(IMAGE_SHAPE), activation=activation)(h)
    out = layers.Reshape(IMAGE_SHAPE, name="pixel_means" if activation else "pixel_logits")(out)
    return keras.Model(z_in, out, name="decoder")


class VAE(keras.Model):
    """Encoder + decoder; ``vae(x)`` is the per-sample negative ELBO in nats."""

    def __init__(self, encoder, decoder, likelihood="gaussian", beta=1.0, **kwargs):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, not {likelihood!r}")
        self.encoder, self.decoder = encoder, decoder
        self.likelihood, self.beta = likelihood, beta
        # log of the decoder's global standard deviation (Gaussian only)
        self.log_sigma = self.add_weight(shape=(), initializer="zeros", name="log_sigma",
                                         trainable=likelihood == "gaussian")

    def log_likelihood(self, x, decoded):
        """log p(x | z) summed over pixels, one value per sample."""
        x = ops.reshape(ops.cast(x, "float32"), (-1, math.prod(IMAGE_SHAPE)))
        decoded = ops.reshape(decoded, (-1, math.prod(IMAGE_SHAPE)))
        if self.likelihood == "bernoulli":  # -BCE, computed from logits
            return -ops.sum(ops.softplus(decoded) - x * decoded, axis=-1)
        var = ops.exp(2.0 * self.log_sigma)
        return -0.5 * ops.sum(ops.square(x - decoded) / var
                              + 2.0 * self.log_sigma + math.log(2 * math.pi), axis=-1)

    def call(self, x, training=False):
        z_mean, z_log_var, z = self.encoder(x, training=training)
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        return -self.log_likelihood(x, self.decoder(z, training=training)) + self.beta * kl

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)

    def reconstruct(self, x):
        """Decoder mean at the posterior mean (probabilities for Bernoulli)."""
        out = self.decoder.predict(self.encoder.predict(x, verbose=0)[0], verbose=0)
        return out if self.likelihood == "gaussian" else 1 / (1 + np.exp(-out))

    def sample(self, n, seed=None):
        """Decode ``n`` draws from the prior N(0, I)."""
        latent_dim = self.decoder.input_shape[-1]
        z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
        out = self.decoder.predict(z, verbose=0)
        return out if self.likelihood == "gaussian" else 1 / (1 + np.exp(-out))


def build_vae(latent_dim=16, likelihood="gaussian", beta=1.0, learning_rate=1e-3, seed=None):
    """The compiled reference VAE."""
    encoder = build_encoder(latent_dim, seed=seed)
    decoder = build_decoder(latent_dim, likelihood=likelihood)
    vae = VAE(encoder, decoder, likelihood=likelihood, beta=beta, name=f"vae_{likelihood}")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return vae


def elbo(vae, x, n_samples=8, batch_size=1000):
    """Per-sample ELBO (higher = more normal), a Monte-Carlo mean over ``n_samples`` draws."""
    draws = [vae.predict(x, batch_size=batch_size, verbose=0) for _ in range(n_samples)]
    return -np.mean(draws, axis=0)
