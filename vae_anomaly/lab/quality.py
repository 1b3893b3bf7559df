"""Reconstruction quality per image: mean squared error and SSIM (scikit-image)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def mse(x, x_hat):
    """Mean squared error per image."""
    x, x_hat = np.asarray(x, "float64"), np.asarray(x_hat, "float64")
    return np.mean((x - x_hat).reshape(len(x), -1) ** 2, axis=1)


def ssim(x, x_hat):
    """Structural similarity per image, for pixels in [0, 1]."""
    return np.array([structural_similarity(a, b, data_range=1.0)
                     for a, b in zip(np.asarray(x, "float64"), np.asarray(x_hat, "float64"),
                                     strict=True)])
