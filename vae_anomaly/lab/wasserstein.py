"""Closed-form 2-Wasserstein distance between Gaussians with full covariances.

W2² = ||m1 - m2||² + tr(S1 + S2 - 2 (S2^½ S1 S2^½)^½), with S2^½ computed once and
applied on both sides of S1. The formula is symmetric in the two Gaussians even
though it does not look it, which the tests use.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import sqrtm


def _sym_sqrtm(a):
    root = np.real(sqrtm(a))
    return (root + root.T) / 2


def gaussian_w2(mean1, cov1, mean2, cov2) -> float:
    """W2(N(mean1, cov1), N(mean2, cov2))."""
    mean1, mean2 = np.atleast_1d(mean1).astype("float64"), np.atleast_1d(mean2).astype("float64")
    cov1, cov2 = np.atleast_2d(cov1).astype("float64"), np.atleast_2d(cov2).astype("float64")
    if mean1.shape != mean2.shape or cov1.shape != cov2.shape or cov1.shape != 2 * mean1.shape:
        raise ValueError(f"shapes do not match: means {mean1.shape}, {mean2.shape}; "
                         f"covariances {cov1.shape}, {cov2.shape}")
    root2 = _sym_sqrtm(cov2)
    cross = _sym_sqrtm(root2 @ cov1 @ root2)
    w2_squared = np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2 - 2 * cross)
    return float(np.sqrt(max(w2_squared, 0.0)))


def fit_gaussian(z):
    """Mean and (unbiased) covariance of the rows of ``z``."""
    z = np.asarray(z, dtype="float64").reshape(len(z), -1)
    return z.mean(axis=0), np.atleast_2d(np.cov(z, rowvar=False))


def latent_w2(z_a, z_b) -> float:
    """W2 between Gaussians fitted to two sets of latent codes."""
    return gaussian_w2(*fit_gaussian(z_a), *fit_gaussian(z_b))
