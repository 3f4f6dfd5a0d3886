"""Fréchet distance and KID against analytic cases, scipy's sqrtm and numpy.cov."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from lossbench.metrics.frechet import FeatureStats, fd_from_features, frechet_distance, kid


def random_cov(rng, d, n=None):
    a = rng.normal(size=(n or 2 * d, d))
    return np.cov(a, rowvar=False)


def scipy_reference(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_equal_covariances_give_the_squared_mean_difference():
    rng = np.random.default_rng(0)
    s = random_cov(rng, 8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    assert frechet_distance(mu1, s, mu2, s) == pytest.approx(np.sum((mu1 - mu2) ** 2), abs=1e-9)


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-10)


def test_distance_to_itself_is_zero():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 32))
    assert abs(fd_from_features(x, x)) < 1e-8
    # torch inputs are accepted and give the same number
    assert fd_from_features(torch.from_numpy(x), torch.from_numpy(x)) == pytest.approx(fd_from_features(x, x), abs=1e-12)


@pytest.mark.parametrize("d", [4, 16, 64])
@pytest.mark.parametrize("n", [200, 1000])
def test_agrees_with_scipy_sqrtm(n, d):
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d))
    y = rng.normal(loc=0.3, size=(n, d)) @ rng.normal(scale=0.5, size=(d, d))
    sx, sy = FeatureStats(d).update(x), FeatureStats(d).update(y)
    ours = frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov)
    assert ours == pytest.approx(scipy_reference(sx.mean, sx.cov, sy.mean, sy.cov), abs=1e-5)


def test_rank_deficient_covariances_still_give_a_finite_value():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 0.5  # N < D
    value = fd_from_features(x, y)
    assert np.isfinite(value) and value > 0


def test_streaming_statistics_equal_numpy_cov():
    rng = np.random.default_rng(4)
    x = rng.normal(loc=3.0, size=(257, 10)).astype(np.float32)
    stats = FeatureStats(10)
    for chunk in np.array_split(x, 7):
        stats.update(torch.from_numpy(chunk))
    assert np.allclose(stats.mean, x.astype(np.float64).mean(0), atol=1e-12)
    assert np.allclose(stats.cov, np.cov(x.astype(np.float64), rowvar=False), atol=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    c = rng.normal(loc=1.0, size=(400, 16))
    same, _ = kid(a, b, subsets=20, subset_size=200)
    different, _ = kid(a, c, subsets=20, subset_size=200)
    assert abs(same) < 0.02 and different > 10 * abs(same) + 0.05


def test_kid_matches_the_unbiased_mmd_formula_on_one_subset():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    k = lambda p, q: (p @ q / 3 + 1) ** 3  # noqa: E731
    m = 5
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    value, spread = kid(x, y, subsets=3, subset_size=5)  # the whole set each time
    assert value == pytest.approx(xx + yy - 2 * xy, rel=1e-12) and spread == pytest.approx(0, abs=1e-12)
