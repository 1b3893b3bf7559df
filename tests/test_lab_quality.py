"""Reconstruction quality metrics."""

import numpy as np
import pytest

from vae_anomaly.lab.quality import mse, ssim


def test_mse_and_ssim():
    x = np.random.default_rng(0).random((4, 28, 28)).astype("float32")
    np.testing.assert_allclose(mse(x, x), 0.0)
    assert mse(x, x + 0.1) == pytest.approx(np.full(4, 0.01))
    np.testing.assert_allclose(ssim(x, x), 1.0)
    noisy = np.clip(x + np.random.default_rng(1).normal(0, 0.2, x.shape), 0, 1)
    assert (ssim(x, noisy) < ssim(x, (x + noisy) / 2)).all()
    assert (ssim(x, noisy) < 1).all()
