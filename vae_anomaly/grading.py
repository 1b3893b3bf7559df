"""Helpers the assignment's hidden tests call, so that each test cell stays one short assert.

Every helper recomputes from the student's own objects (arrays, model, history) and the
original data; nothing printed in the notebook is trusted.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from .config import CALIBRATION, CALIBRATION_ENV
from .data import AnomalySplit, anomaly_split
from .scoring import labels_and_scores

AUC_DECIMALS = 3  # reported areas must agree with the recomputed ones to this many decimals


@cache
def reference_split() -> AnomalySplit:
    """The correct trouser-anomaly split, from the original files."""
    return anomaly_split()


def image_keys(x) -> Counter:
    """The multiset of images of ``x`` (rows as 8-bit pixels), whatever its order or shape.

    Pixels in [0, 1] are scaled back to 0..255, so the test of the split does not also
    test the scaling (which has its own test).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if x.size and x.max() <= 1:
        x = x * 255
    rows = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return Counter(row.tobytes() for row in rows)


def same_images(x, reference) -> bool:
    """True when ``x`` holds exactly the images of ``reference``, each as often, any order."""
    return len(x) == len(reference) and image_keys(x) == image_keys(reference)


def training_losses(history) -> np.ndarray:
    """The per-epoch training loss of a Keras ``History`` (``loss``, or ``total_loss``)."""
    logs = getattr(history, "history", history) or {}
    return np.asarray(logs.get("loss", logs.get("total_loss", [])), dtype=np.float64)


def subset(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A fixed random subset of row indices."""
    return np.sort(np.random.default_rng(seed).choice(n_total, min(n, n_total), replace=False))


def loss_agrees(negative_elbo, x_train, history, n: int = 2000) -> bool:
    """Is the mean of ``negative_elbo`` on training images the loss that training reached?

    The target is the best epoch's loss; the tolerance is the last epoch's drop (an
    epoch's loss is a running mean, higher than the loss at its end) plus 5% + 5 nats.
    An untrained model, or a ``negative_elbo`` that is not the training objective (other
    sign, per pixel, in bits), misses it by far more.
    """
    losses = training_losses(history)
    if len(losses) < 2 or not np.all(np.isfinite(losses)):
        return False
    rows = subset(len(x_train), n, seed=1)
    value = float(np.mean(np.asarray(negative_elbo(np.asarray(x_train)[rows]))))
    target = losses.min()
    tolerance = abs(losses[-2] - losses[-1]) + 0.05 * abs(target) + 5
    return bool(np.isfinite(value) and abs(value - target) <= tolerance)


def elbo_agrees(reported, negative_elbo, x, n: int = 200, draws: int = 8) -> bool:
    """Does ``reported`` equal ``-negative_elbo(x)`` within Monte-Carlo noise?

    On a fixed random subset, each reported value is compared with an 8-draw estimate,
    in units of that image's own Monte-Carlo spread (measured from the draws, plus 1 nat).
    A correct answer, even a single draw, sits within about one unit (median ~0.7); the
    median must be below 2. A flipped sign, another model or made-up numbers miss by far
    more, however noisy or however spread out the student's ELBO is.
    """
    reported = np.ravel(np.asarray(reported, dtype=np.float64))
    if len(reported) != len(x):
        return False
    rows = subset(len(x), n, seed=2)
    x_rows = np.asarray(x)[rows]
    samples = -np.array([np.ravel(negative_elbo(x_rows)) for _ in range(draws)], dtype=np.float64)
    spread = samples.std(axis=0, ddof=1) * np.sqrt(1 + 1 / draws) + 1
    z = np.abs(reported[rows] - samples.mean(axis=0)) / spread
    return bool(np.all(np.isfinite(z)) and np.median(z) <= 2)


def aucs(elbo_normal, elbo_anomaly) -> dict:
    """ROC AUC and PR AUC of the anomaly score -ELBO, anomaly = positive class.

    ``pr_auc`` is the average precision; ``pr_auc_trapezoid`` the trapezoidal area under
    the precision-recall curve (both are accepted from students).
    """
    labels, scores = labels_and_scores(-np.asarray(elbo_normal), -np.asarray(elbo_anomaly))
    precision, recall, _ = precision_recall_curve(labels, scores)
    return {"roc_auc": float(roc_auc_score(labels, scores)),
            "pr_auc": float(average_precision_score(labels, scores)),
            "pr_auc_trapezoid": float(auc(recall, precision))}


def aucs_agree(roc_auc, pr_auc, elbo_normal, elbo_anomaly) -> bool:
    """Are the reported areas those of the student's own ELBO, anomaly positive?"""
    areas = aucs(elbo_normal, elbo_anomaly)
    tolerance = 10.0 ** -AUC_DECIMALS
    return bool(abs(float(roc_auc) - areas["roc_auc"]) <= tolerance
                and min(abs(float(pr_auc) - areas["pr_auc"]),
                        abs(float(pr_auc) - areas["pr_auc_trapezoid"])) <= tolerance)


def calibration(path: str | os.PathLike | None = None) -> dict:
    """The stored calibration (``results/calibration.json``, or ``$VAE_CALIBRATION``)."""
    path = Path(path or os.environ.get(CALIBRATION_ENV) or CALIBRATION)
    return json.loads(path.read_text())


def thresholds() -> dict:
    """The calibrated pass marks ``{"roc_auc": ..., "pr_auc": ...}``."""
    return calibration()["thresholds"]


def aucs_pass(elbo_normal, elbo_anomaly) -> bool:
    """Do the recomputed ROC and PR AUC reach the calibrated thresholds?"""
    areas, marks = aucs(elbo_normal, elbo_anomaly), thresholds()
    return areas["roc_auc"] >= marks["roc_auc"] and areas["pr_auc"] >= marks["pr_auc"]
