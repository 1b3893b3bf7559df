"""The closed-form W2 between Gaussians, checked against cases with known answers."""

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.stats import ortho_group

from vae_anomaly.lab.wasserstein import fit_gaussian, gaussian_w2, latent_w2


def random_cov(d, seed):
    """A well-conditioned SPD matrix with distinct eigenvalues and random eigenvectors."""
    q = ortho_group.rvs(d, random_state=seed)
    return q @ np.diag(np.linspace(0.3, 3.0, d)) @ q.T


def w2_by_eigenvalues(m1, s1, m2, s2):
    """Independent route: tr (S1^½ S2 S1^½)^½ = Σ sqrt(eigenvalues of S1 S2)."""
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)))
    return np.sqrt(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)


def test_identical_gaussians_are_at_distance_zero():
    m, s = np.arange(4.0), random_cov(4, 0)
    assert gaussian_w2(m, s, m, s) == pytest.approx(0.0, abs=1e-6)


def test_a_pure_mean_shift_is_the_euclidean_distance():
    s = random_cov(3, 1)
    assert gaussian_w2([0, 0, 0], s, [3, 4, 0], s) == pytest.approx(5.0, rel=1e-9)


def test_commuting_diagonal_covariances():
    """W2² = ||m1 - m2||² + Σ (sqrt a_i - sqrt b_i)² when both covariances are diagonal."""
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    m1, m2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])
    want = np.sqrt(1 + 4 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))  # sqrt(1 + 4 + 4 + 1)
    assert gaussian_w2(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(want, rel=1e-9)
    assert want == pytest.approx(np.sqrt(10))


def test_one_dimension_is_mean_and_std_differences():
    assert gaussian_w2([1.0], [[4.0]], [-2.0], [[1.0]]) == pytest.approx(np.sqrt(9 + 1))


@pytest.mark.parametrize("d", [2, 5])
def test_non_commuting_covariances(d):
    rng = np.random.default_rng(d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_cov(d, 10 + d), random_cov(d, 20 + d)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    forward = gaussian_w2(m1, s1, m2, s2)
    assert forward == pytest.approx(gaussian_w2(m2, s2, m1, s1), rel=1e-8)  # roles swapped
    assert forward == pytest.approx(w2_by_eigenvalues(m1, s1, m2, s2), rel=1e-8)
    # a formula that passes one covariance twice, (S1^½ S1 S1^½)^½ = S1, gets it wrong
    wrong = np.sqrt(np.sum((m1 - m2) ** 2) + np.trace(s2) - np.trace(s1))
    assert not np.isclose(forward, wrong, rtol=1e-3)
    # and so does the product of the roots, tr(S1^½ S2^½), right only for commuting ones
    roots = np.real(sqrtm(s1)) @ np.real(sqrtm(s2))
    wrong = np.sqrt(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * roots))
    assert not np.isclose(forward, wrong, rtol=1e-3)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        gaussian_w2(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_fitted_gaussians_recover_the_distance_of_the_sampled_ones():
    rng = np.random.default_rng(0)
    m1, m2, s1, s2 = np.zeros(2), np.array([1.0, -1.0]), random_cov(2, 3), random_cov(2, 4)
    z1 = rng.multivariate_normal(m1, s1, size=200_000)
    z2 = rng.multivariate_normal(m2, s2, size=200_000)
    mean, cov = fit_gaussian(z1)
    np.testing.assert_allclose(cov, s1, atol=0.03)
    assert latent_w2(z1, z2) == pytest.approx(gaussian_w2(m1, s1, m2, s2), abs=0.02)
