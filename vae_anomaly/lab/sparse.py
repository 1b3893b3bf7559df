"""The Sparse VAE: variational-dropout posteriors that switch latent dimensions off.

As in the sparse multi-channel VAE (Antelmi et al., 2019) used by Senellart et al.,
q(z_d | x) = N(μ_d(x), α_d μ_d(x)²) with one learnable log α_d per latent
dimension, and the KL to the log-uniform prior is Molchanov et al.'s (2017)
approximation. A dimension whose dropout rate α / (1 + α) exceeds
``DROPOUT_THRESHOLD`` carries mostly noise: it is inactive.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from vae_anomaly.likelihoods import sigmoid
from vae_anomaly.model import VAE, Sampling, build_encoder, build_vae

K1, K2, K3 = 0.63576, 1.87320, 1.48695
LOG_ALPHA_RANGE = (-8.0, 8.0)  # dropout rates from 0.03 % to 99.97 %
# log α = LOG_ALPHA_SPEED * w, w the trained weight: the same model, but Adam (whose steps are
# about the learning rate in w) moves log α this many times faster, so that it settles within
# the lab's 10 epochs; at 1, log α drifted by less than 1 in 10 epochs and no dimension
# reached the threshold.
LOG_ALPHA_SPEED = 10.0
DROPOUT_THRESHOLD = 0.2
EPS = 1e-8


def sparse_kl(log_alpha):
    """Molchanov et al. (2017): KL ≈ k1 - k1 sigmoid(k2 + k3 log α) + log(1 + 1/α) / 2."""
    return K1 - K1 * ops.sigmoid(K2 + K3 * log_alpha) + 0.5 * ops.softplus(-log_alpha)


class LogAlphaVariance(layers.Layer):
    """μ -> log Var = log α + log μ², with one learnable log α per latent dimension."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                 name="log_alpha_over_speed")

    def call(self, z_mean):
        return self.log_alpha() + ops.log(ops.square(z_mean) + EPS)

    def log_alpha(self):
        """log α, clipped to ``LOG_ALPHA_RANGE``."""
        return ops.clip(LOG_ALPHA_SPEED * self.w, *LOG_ALPHA_RANGE)

    def set_log_alpha(self, values):
        self.w.assign(np.asarray(values, "float32") / LOG_ALPHA_SPEED)


def build_sparse_encoder(latent_dim=16, seed=None):
    """The reference encoder's trunk and mean head, with variance α μ²."""
    base = build_encoder(latent_dim, seed=seed)
    z_mean = base.get_layer("z_mean").output
    z_log_var = LogAlphaVariance(name="log_alpha")(z_mean)
    z = Sampling(seed=seed, name="z")([z_mean, z_log_var])
    return keras.Model(base.input, [z_mean, z_log_var, z], name="sparse_encoder")


class SparseVAE(VAE):
    """A ``VAE`` whose KL is the variational-dropout one; it does not depend on x."""

    @property
    def log_alpha(self):
        return self.encoder.get_layer("log_alpha").log_alpha()

    def kl(self, z_mean, z_log_var):
        return ops.sum(sparse_kl(self.log_alpha)) * ops.ones_like(z_mean[:, 0])

    def dropout_rates(self):
        """α / (1 + α) per latent dimension (NumPy)."""
        return sigmoid(ops.convert_to_numpy(self.log_alpha))

    def active_dims(self, threshold=DROPOUT_THRESHOLD):
        """Indices of the latent dimensions whose dropout rate is below ``threshold``."""
        return np.flatnonzero(self.dropout_rates() < threshold)


def build_sparse_vae(latent_dim=16, likelihood="gaussian_learned", beta=1.0, learning_rate=1e-3,
                     seed=None):
    """The compiled Sparse VAE."""
    return build_vae(latent_dim, likelihood, beta, learning_rate, seed,
                         encoder=build_sparse_encoder(latent_dim, seed=seed),
                         model_class=SparseVAE, name="sparse_vae")
