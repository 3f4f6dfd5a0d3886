"""Structural loss terms: ssim, ms-ssim and mix (Zhao et al. 2017)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from lossbench import metrics
from lossbench.losses import LOSS_TERMS, build_loss
from lossbench.losses.structural import gaussian_weighted_l1


def term(name, **options):
    entry = LOSS_TERMS[name]
    return entry.cls(entry.spec(term=name, **options))


@pytest.fixture
def pair(digits):
    g = torch.Generator().manual_seed(0)
    x = digits[:4]
    return x, (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_ssim_term_is_one_minus_ssim_and_zero_for_identical(pair):
    x, y = pair
    assert torch.allclose(term("ssim").values({"x_hat": y}, x), (1 - metrics.ssim(y, x)).float(), atol=1e-7)
    assert torch.allclose(term("ssim").values({"x_hat": x}, x), torch.zeros(4), atol=1e-6)


def test_gaussian_weighted_l1_by_hand():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 1, 20, 20, generator=g), torch.rand(2, 1, 20, 20, generator=g)
    k = torch.arange(11, dtype=torch.float32) - 5
    w = torch.exp(-(k**2) / (2 * 1.5**2))
    window = torch.outer(w, w) / w.sum() ** 2
    expected = torch.stack([
        sum(window[i, j] * (y[n, 0, r + i, c + j] - x[n, 0, r + i, c + j]).abs() for i in range(11) for j in range(11))
        for n in range(2) for r in range(10) for c in range(10)
    ]).view(2, 100).mean(1)
    assert torch.allclose(gaussian_weighted_l1(y, x, 1.5), expected, atol=1e-6)


def test_mix_equals_its_formula_on_a_fixed_pair(pair):
    x, y = pair
    value = term("mix", structural="ssim").values({"x_hat": y}, x)
    expected = 0.84 * (1 - metrics.ssim(y, x)).float() + 0.16 * gaussian_weighted_l1(y, x, 1.5)
    assert torch.allclose(value, expected, atol=1e-7)
    half = term("mix", structural="ssim", alpha=0.5).values({"x_hat": y}, x)
    assert torch.allclose(half, 0.5 * (1 - metrics.ssim(y, x)).float() + 0.5 * gaussian_weighted_l1(y, x, 1.5), atol=1e-7)


def test_ms_ssim_mix_on_large_images():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 1, 176, 176, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    auto = term("mix").values({"x_hat": y}, x)  # 176 px: auto picks MS-SSIM
    expected = 0.84 * (1 - metrics.ms_ssim(y, x)).float() + 0.16 * gaussian_weighted_l1(y, x, 1.5)
    assert torch.allclose(auto, expected, atol=1e-6)
    assert torch.allclose(term("ms-ssim").values({"x_hat": x}, x), torch.zeros(2), atol=1e-5)


@pytest.mark.parametrize("name", ["ssim", "mix"])
def test_gradient_reaches_the_reconstruction(name, pair):
    x, y = pair
    y = y.clone().requires_grad_(True)
    build_loss([{"term": name, "label": name}])({"x_hat": y}, x, 0)[0].backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_ms_ssim_term_on_small_images_is_a_validation_error(cli, write_study, tmp_path):
    study = write_study({"conditions": {"ms": [{"term": "ms-ssim"}]}})
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "o").exists()
    assert "conditions.ms[0].term: 'ms-ssim' needs images of at least 176 px per side (synthetic images here are 16 px)" in err


def test_structural_terms_end_to_end_and_mix_says_it_used_ssim(cli, write_study, tmp_path):
    study = write_study({"seeds": [0], "conditions": {"ssim": [{"term": "ssim"}], "mix": [{"term": "mix"}]}})
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert (summary["status"] == "done").all()
    mix_run = summary[summary["condition"] == "mix"]["run_id"].iloc[0]
    history = pd.read_csv(tmp_path / "o" / "runs" / mix_run / "history.csv")
    assert "mix(ssim)" in history.columns


def test_the_separable_ssim_loss_equals_scikit_image_and_torchmetrics(digits):
    """Issue 32 §6: the loss's SSIM (two 1-d passes over the valid region) against scikit-image's
    float64 reference per image, and against torchmetrics' map (the metric), values and gradients."""
    from skimage.metrics import structural_similarity

    from lossbench.losses import separable_ssim

    g = torch.Generator().manual_seed(1)
    x = digits[:16]
    y = (x + 0.15 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    fast = separable_ssim.ssim(y, x)
    reference = torch.tensor([structural_similarity(a[0].double().numpy(), b[0].double().numpy(), data_range=1,
                                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
                              for a, b in zip(y, x)])
    assert torch.allclose(fast.double(), reference, atol=2e-6), (fast.double() - reference).abs().max()
    assert torch.allclose(fast, metrics.ssim(y, x).float(), atol=5e-7)
    grads = []
    for fn in (separable_ssim.ssim, metrics.ssim):
        leaf = y.clone().requires_grad_(True)
        (1 - fn(leaf, x)).sum().backward()
        grads.append(leaf.grad)
    assert torch.allclose(grads[0], grads[1].float(), atol=1e-6, rtol=1e-4), (grads[0] - grads[1]).abs().max()
    assert grads[0].abs().max() > 1e-3  # a gradient, not zeros on both sides


@pytest.mark.parametrize("shape, scales", [((2, 1, 192, 180), 5), ((3, 3, 64, 64), 3)])
def test_the_separable_ms_ssim_equals_torchmetrics(shape, scales):
    from lossbench.losses import separable_ssim

    g = torch.Generator().manual_seed(2)
    x = torch.rand(shape, generator=g)
    y = (x + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    fast = separable_ssim.ms_ssim(y, x, scales=scales)
    reference = metrics.ms_ssim(y, x, reduced=scales < 5).float()
    assert torch.allclose(fast, reference, atol=1e-5), (fast - reference).abs().max()
