"""Metrics pinned to scikit-image (an independent implementation) and analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from lossbench import metrics


def noisy(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_ssim_agrees_with_scikit_image_on_digits(digits):
    x = digits[:64].double()
    for y in (noisy(x, 0.1), noisy(x, 0.4, seed=1), torch.roll(x, 1, dims=3)):
        ours = metrics.ssim(y, x).numpy()
        ref = np.array([structural_similarity(x[i, 0].numpy(), y[i, 0].numpy(), data_range=1, gaussian_weights=True,
                                              sigma=1.5, use_sample_covariance=False) for i in range(len(x))])
        assert np.abs(ours - ref).max() < 1e-5


def test_ssim_rgb_is_the_channel_mean_like_scikit_image():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = noisy(x, 0.2)
    ref = [structural_similarity(x[i].permute(1, 2, 0).numpy(), y[i].permute(1, 2, 0).numpy(), data_range=1,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2)
           for i in range(2)]
    assert np.allclose(metrics.ssim(y, x).numpy(), ref, atol=1e-5)


def test_ssim_golden_value_camera():
    """The issue's golden value: scikit-image's camera with seed-5 Gaussian noise (sigma 20),
    built as np.random.RandomState(5), clipped to [0, 255] and stored as uint8, gives 0.357959
    with the scikit-image convention."""
    from skimage import data

    cam = data.camera()
    noise = np.random.RandomState(5).normal(0, 20, cam.shape)
    noisy = np.clip(cam.astype(np.float64) + noise, 0, 255).astype(np.uint8)
    to_tensor = lambda a: torch.from_numpy(a.astype(np.float64) / 255)[None, None]  # noqa: E731
    assert metrics.ssim(to_tensor(noisy), to_tensor(cam)).item() == pytest.approx(0.357959, abs=1e-4)


def test_ssim_of_identical_images_is_one(digits):
    assert torch.allclose(metrics.ssim(digits[:8], digits[:8]), torch.ones(8, dtype=torch.float64))


def test_pixel_metrics_agree_with_scikit_image(digits):
    x = digits[:16].double()
    y = noisy(x, 0.2)
    for i in range(len(x)):
        a, b = x[i].numpy(), y[i].numpy()
        assert metrics.mse(y, x)[i].item() == pytest.approx(mean_squared_error(a, b), rel=1e-12)
        assert metrics.psnr(y, x)[i].item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1), rel=1e-12)
        assert metrics.l1(y, x)[i].item() == pytest.approx(np.abs(a - b).mean(), rel=1e-12)


def test_psnr_analytic_one_pixel_on_28x28():
    x = torch.zeros(1, 1, 28, 28)
    y = x.clone()
    y[0, 0, 3, 3] = 1.0
    assert metrics.psnr(y, x).item() == pytest.approx(10 * np.log10(784), abs=1e-9)  # 28.94 dB
    assert torch.isinf(metrics.psnr(x, x)).all()
