"""Decoder likelihoods: per-pixel log-densities log p(x | decoder output).

Every ``log_prob`` works on Keras tensors and NumPy arrays alike and returns one
value per pixel. The decoder outputs pixel means in (0, 1) for the Gaussians and
logits for the Bernoulli and the continuous Bernoulli (Loaiza-Ganem & Cunningham,
2019), whose normalising constant is written in logits, where it is stable at
λ = 1/2 (logit 0): with λ = sigmoid(l), C(λ) = 2 artanh(1 - 2λ) / (1 - 2λ) = l / tanh(l / 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from keras import ops

LOG_2PI = math.log(2 * math.pi)
SMALL_LOGIT = 1e-2  # below this |logit|, use the Taylor series of C and of the mean


def sigmoid(logits):
    """1 / (1 + exp(-logits)) of a NumPy array."""
    return 1 / (1 + np.exp(-np.asarray(logits)))


def bernoulli_log_prob(x, logits):
    """log Bernoulli(x | sigmoid(logits)) = x l - softplus(l); x may be any value in [0, 1]."""
    return x * logits - ops.softplus(logits)


def gaussian_log_prob(x, mean, log_sigma):
    """log N(x | mean, sigma^2)."""
    return -0.5 * (ops.square(x - mean) * ops.exp(-2.0 * log_sigma) + LOG_2PI) - log_sigma


def continuous_bernoulli_log_norm(logits):
    """log C = log(l / tanh(l / 2)), with its Taylor series log 2 + log1p(l²/12 - l⁴/720) near 0."""
    small = ops.abs(logits) < SMALL_LOGIT
    safe = ops.where(small, ops.ones_like(logits), logits)  # keeps gradients finite at 0
    exact = ops.log(safe / ops.tanh(safe / 2))
    sq = ops.square(logits)
    taylor = math.log(2.0) + ops.log1p(sq / 12 - ops.square(sq) / 720)
    return ops.where(small, taylor, exact)


def continuous_bernoulli_log_prob(x, logits):
    """log CB(x | λ) = x log λ + (1 - x) log(1 - λ) + log C(λ)."""
    return bernoulli_log_prob(x, logits) + continuous_bernoulli_log_norm(logits)


def continuous_bernoulli_mean(logits):
    """E[x] = 1/2 + 1 / (2 tanh(l / 2)) - 1 / l, or 1/2 + l/12 - l³/720 near l = 0 (NumPy)."""
    logits = np.asarray(logits, dtype="float64")
    small = np.abs(logits) < SMALL_LOGIT
    safe = np.where(small, 1.0, logits)
    exact = 0.5 + 0.5 / np.tanh(safe / 2) - 1 / safe
    return np.where(small, 0.5 + logits / 12 - logits**3 / 720, exact).astype("float32")


@dataclass(frozen=True)
class Likelihood:
    """A decoder likelihood: its log-density, its mean and the decoder output it needs."""

    name: str
    family: str  # "gaussian", "bernoulli" or "continuous_bernoulli"
    sigma: float | None = None  # the Gaussian's fixed standard deviation; None = learned

    @property
    def decoder_output(self) -> str:
        """What the decoder outputs: sigmoid ``means`` (Gaussians) or ``logits``."""
        return "means" if self.family == "gaussian" else "logits"

    @property
    def learns_sigma(self) -> bool:
        return self.family == "gaussian" and self.sigma is None

    def log_prob(self, x, out, log_sigma=0.0):
        """Per-pixel log p(x | out); ``log_sigma`` is used by the Gaussians only."""
        if self.family == "gaussian":
            return gaussian_log_prob(x, out, log_sigma)
        if self.family == "bernoulli":
            return bernoulli_log_prob(x, out)
        return continuous_bernoulli_log_prob(x, out)

    def mean(self, out):
        """The decoder's mean image from its raw output (NumPy)."""
        out = np.asarray(out)
        if self.family == "gaussian":
            return out
        if self.family == "bernoulli":
            return sigmoid(out).astype("float32")
        return continuous_bernoulli_mean(out)


FIXED_SIGMA = 0.1
LIKELIHOODS = {
    lik.name: lik for lik in (
        Likelihood("gaussian_learned", "gaussian"),
        Likelihood("gaussian_fixed", "gaussian", sigma=FIXED_SIGMA),
        Likelihood("bernoulli", "bernoulli"),
        Likelihood("continuous_bernoulli", "continuous_bernoulli"),
    )
}


def get_likelihood(name: str | Likelihood) -> Likelihood:
    """Look a likelihood up by name."""
    if isinstance(name, Likelihood):
        return name
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, not {name!r}") from None
