"""Detection metrics with the anomaly as the positive class."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def labels_and_scores(score_normal, score_anomaly):
    """Stack anomaly scores (higher = more anomalous) with labels 0 normal / 1 anomaly."""
    scores = np.concatenate([np.ravel(score_normal), np.ravel(score_anomaly)])
    labels = np.concatenate([np.zeros(np.size(score_normal)), np.ones(np.size(score_anomaly))])
    return labels, scores


def detection_metrics(score_normal, score_anomaly) -> dict:
    """ROC AUC and average precision of anomaly scores (higher = more anomalous)."""
    labels, scores = labels_and_scores(score_normal, score_anomaly)
    return {"roc_auc": float(roc_auc_score(labels, scores)),
            "ap": float(average_precision_score(labels, scores))}


def elbo_metrics(elbo_normal, elbo_anomaly) -> dict:
    """Detection by the ELBO: the anomaly score is -ELBO."""
    return detection_metrics(-np.asarray(elbo_normal), -np.asarray(elbo_anomaly))
