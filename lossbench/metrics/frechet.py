"""Fréchet distance and KID between two sets of feature vectors, in float64.

Written here rather than taken from a library because the common implementations differ in
exactly the places that move the number: float32 accumulation of the covariance, and
``scipy.linalg.sqrtm`` of a nearly singular product (which returns complex noise or fails when
N is below the feature dimension). Here the statistics are accumulated in float64, and the
trace term uses Tr(sqrt(Σ1 Σ2)) = Σ sqrt(λ_i(Σ1 Σ2)): the eigenvalues of a product of two
symmetric positive semi-definite matrices are real and non-negative, so tiny negative or
imaginary parts are round-off and are clipped (Heusel et al. 2017 define FID; the eigenvalue
form is the one torchmetrics >= 1.4 and clean-fid's "legacy" notes discuss).
"""

from __future__ import annotations

import numpy as np
import torch


def _f64(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1) + Tr(Σ2) − 2 Tr(sqrt(Σ1 Σ2)); numpy or torch inputs, float64 inside."""
    mu1, mu2, sigma1, sigma2 = _f64(mu1), _f64(mu2), _f64(sigma1), _f64(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shapes differ: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


class FeatureStats:
    """Streaming mean and covariance of feature rows, accumulated in float64.

    ``cov`` equals ``numpy.cov(features, rowvar=False)`` (unbiased, N − 1)."""

    def __init__(self, dim: int):
        self.n = 0
        self.sum = np.zeros(dim, dtype=np.float64)
        self.outer = np.zeros((dim, dim), dtype=np.float64)

    def update(self, features) -> "FeatureStats":
        f = _f64(features)
        self.n += f.shape[0]
        self.sum += f.sum(0)
        self.outer += f.T @ f
        return self

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        if self.n < 2:
            raise ValueError("a covariance needs at least 2 samples")
        mean = self.mean
        return (self.outer - self.n * np.outer(mean, mean)) / (self.n - 1)


def fd_from_features(a, b) -> float:
    sa = FeatureStats(a.shape[1]).update(a)
    sb = FeatureStats(b.shape[1]).update(b)
    return frechet_distance(sa.mean, sa.cov, sb.mean, sb.cov)


def kid_subset_size(n: int, cap: int = 1000) -> int:
    """The default KID subset size for sets of ``n``: at most ``cap`` (torch-fidelity's 1,000) and at
    most half the set, so that the subsets differ and their spread says something (at ``n`` itself
    every subset is the whole set)."""
    return max(2, min(cap, n // 2))


def kid(a, b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² estimate with the
    polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets. Returns
    (mean, standard deviation over subsets). The subset size is capped at the smaller set.
    float64 throughout; the kernels run in torch (about 2× numpy's time on a CPU here)."""
    a = torch.as_tensor(_f64(a))
    b = torch.as_tensor(_f64(b))
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[torch.from_numpy(rng.choice(len(a), m, replace=False))]
        y = b[torch.from_numpy(rng.choice(len(b), m, replace=False))]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        same = (kxx.sum() - kxx.diagonal().sum()) + (kyy.sum() - kyy.diagonal().sum())
        values[i] = float(same / (m * (m - 1)) - 2 * kxy.mean())
    return float(values.mean()), float(values.std())
