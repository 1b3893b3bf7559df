"""Classical anomaly scores to compare the VAE's ELBO against (higher = more anomalous)."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import NearestNeighbors


def flat(x):
    """Images (n, 28, 28) -> rows (n, 784)."""
    return np.asarray(x, dtype=np.float32).reshape(len(x), -1)


def reconstruction_mse(x, x_hat):
    """Per-sample mean squared pixel error."""
    return np.mean(np.square(flat(x) - flat(x_hat)), axis=1)


def pca_error(x_train, x_test, n_components, seed=0):
    """Reconstruction error of a PCA fitted to the training images."""
    pca = PCA(n_components, random_state=seed).fit(flat(x_train))
    x_test = flat(x_test)
    return reconstruction_mse(x_test, pca.inverse_transform(pca.transform(x_test)))


def isolation_forest(x_train, x_test, seed=0):
    """Negated IsolationForest score_samples (which is higher for normal points)."""
    forest = IsolationForest(random_state=seed, n_jobs=-1).fit(flat(x_train))
    return -forest.score_samples(flat(x_test))


def knn_distance(x_train, x_test, seed=0, n_components=50, k=5):
    """Mean distance to the k nearest training images in a PCA space."""
    pca = PCA(n_components, random_state=seed).fit(flat(x_train))
    index = NearestNeighbors(n_neighbors=k).fit(pca.transform(flat(x_train)))
    dist, _ = index.kneighbors(pca.transform(flat(x_test)))
    return dist.mean(axis=1)


BASELINES = {
    "pca50": lambda tr, te, seed: pca_error(tr, te, 50, seed),
    "pca16": lambda tr, te, seed: pca_error(tr, te, 16, seed),
    "isolation_forest": isolation_forest,
    "knn_pca50": knn_distance,
}
