"""Precision/recall/density/coverage and the blur measure: pinned to an independent
implementation (torch-fidelity), hand-made cases, and the controls that earn them their names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.metrics.blur import SIGMAS, BlurScale, blurred, high_frequency_share
from lossbench.metrics.manifold import prdc


def test_precision_and_recall_equal_torch_fidelity():
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(400, 16, generator=gen, dtype=torch.float64)
    fake = 0.7 * torch.randn(300, 16, generator=gen, dtype=torch.float64) + 0.3
    ours = prdc(real, fake, k=5)
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=5)  # its convention: generated first
    assert ours["precision"] == pytest.approx(precision, abs=1e-6)  # torch-fidelity averages in float32
    assert ours["recall"] == pytest.approx(recall, abs=1e-6)
    assert 0.05 < ours["precision"] < 0.999 and 0.05 < ours["recall"] < 0.999  # the case tells them apart from 0 and 1
    shifted = prdc(real, fake + 3.0, k=5)
    assert shifted["precision"] < ours["precision"] / 2  # and it can fail


def test_density_and_coverage_on_a_hand_made_case():
    # 1-d, k = 1: each real point's ball has radius 1 (its nearest real neighbour)
    real = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    fake = torch.tensor([[0.5], [100.0], [200.0]])  # 0.5 lies in the balls of 0 and 1; 100 and 200 in none
    out = prdc(real, fake, k=1)
    assert out["precision"] == pytest.approx(1 / 3)  # one of three generated points is on the real manifold
    assert out["density"] == pytest.approx(2 / 3)  # (2 + 0 + 0) balls / k / 3 points
    assert out["coverage"] == 0.5  # the balls of 0 and 1 hold a generated point; those of 10 and 11 do not
    assert out["recall"] == 1.0  # the ball of 0.5 (radius 99.5) holds every real point


@pytest.fixture(scope="module")
def judge_split(lb_cache):
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec
    from lossbench.metrics.judge import JudgeFeatures

    data = load_dataset(DataSpec(name="mnist-5k"))
    return data, JudgeFeatures(data, cache=lb_cache)


def test_precision_falls_with_noise_images_and_recall_when_a_class_is_dropped(judge_split):
    data, judge = judge_split
    real = judge(data.test_x[:600])
    other = data.train_x[:600]
    base = prdc(real, judge(other))
    assert base["precision"] > 0.6 and base["recall"] > 0.6 and 0.6 < base["density"] < 1.5 and base["coverage"] > 0.8

    noise = torch.rand(300, *other.shape[1:], generator=torch.Generator().manual_seed(0))
    noisy = prdc(real, judge(torch.cat([other[:300], noise])))
    assert noisy["precision"] < base["precision"] - 0.3  # half the set is noise: fidelity falls
    assert noisy["density"] < base["density"] - 0.3

    keep = data.train_y != 0
    no_zeros = data.train_x[keep][:600]  # as many images, one class missing
    dropped = prdc(real, judge(no_zeros))
    zeros = data.test_y[:600] == 0
    assert dropped["recall"] < base["recall"] - 0.05  # diversity falls ...
    assert dropped["precision"] > base["precision"] - 0.05  # ... while fidelity does not
    # the real zeros are what the generated manifold now misses: coverage falls most among them
    assert dropped["coverage"] < base["coverage"]
    assert int(zeros.sum()) > 30


def test_high_frequency_share_on_analytic_images():
    side = 28
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    checker = ((yy + xx) % 2).double()[None, None]  # all power at (0.5, 0.5) cycles/px, radius 0.71
    slow = (0.5 + 0.5 * torch.cos(2 * torch.pi * xx / side)).double()[None, None]  # 1/28 cycles/px
    flat = torch.full((1, 1, side, side), 0.3, dtype=torch.float64)
    shares = high_frequency_share(torch.cat([checker, slow, flat]))
    assert shares.tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)


def test_high_frequency_share_equals_numpy(digits):
    x = digits[:5].double()
    ref = []
    for image in x[:, 0].numpy():
        power = np.abs(np.fft.fft2(image - image.mean())) ** 2
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij"))
        ref.append(power[f > 0.25].sum() / power.sum())
    assert high_frequency_share(x, cutoff=0.25).numpy() == pytest.approx(np.array(ref), rel=1e-9)


def test_blur_measure_ranks_a_ladder_of_blurred_digits_and_reads_their_sigma():
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    data = load_dataset(DataSpec(name="mnist-5k"))
    scale = BlurScale(data.test_x)
    assert all(a >= b for a, b in zip(scale.shares, scale.shares[1:]))  # the scale itself falls with σ ...
    assert all(a > b for a, b in zip(scale.shares[3:], scale.shares[4:]))  # ... strictly from σ = 0.3 (0.1 px barely blurs)
    other = data.train_x[:1000]  # images the scale was not built from
    read = [scale.sigma(float(high_frequency_share(blurred(other, s)).mean())) for s in (0.0, 0.5, 1.0, 1.5, 2.0)]
    assert all(a < b for a, b in zip(read, read[1:]))  # in order
    # unblurred training digits read ~0.33 px: two real sets differ by that much (the real floor that
    # calibration reports), and below ~0.4 px a sampled Gaussian kernel hardly differs from none
    assert read[0] < 0.4
    assert read[2:] == pytest.approx([1.0, 1.5, 2.0], abs=0.1)
    assert read[1] == pytest.approx(0.5, abs=0.15)  # like real digits blurred by σ px
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert math.isnan(scale.sigma(float(high_frequency_share(noise).mean())))  # sharper than real: no reading (issue 40)
    assert SIGMAS[-1] == 3.0


@pytest.fixture(scope="module")
def spectrum():
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec
    from lossbench.metrics.blur import SpectrumFeatures

    data = load_dataset(DataSpec(name="mnist-5k"))
    return SpectrumFeatures(data), data.train_x[:500]


@pytest.mark.parametrize("name, make, expected", [
    ("a constant image", lambda x, g: torch.full_like(x, 0.4), math.inf),
    ("a collapsed model's output: one brown image and a trace of noise", lambda x, g: 0.4 + 1e-3 * torch.randn(x.shape, generator=g),
     math.inf),
    ("pure noise", lambda x, g: torch.rand(x.shape, generator=g), math.nan),
    ("real digits with noise 0.1", lambda x, g: (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1), math.nan),
])
def test_off_the_scale_a_set_reads_as_such_never_as_the_sharpest(spectrum, name, make, expected):
    """Issue 40 §5: a flat image is the blurriest there is; before, its share (a ratio of two near-zeros) read 0,
    'as sharp as the real images', and a collapsed model won the column. Sharper than real is no blur reading."""
    from lossbench.metrics.blur import equivalent_blur

    features, x = spectrum
    value = equivalent_blur(features(make(x, torch.Generator().manual_seed(0))), features.scale)
    assert (math.isnan(value) if math.isnan(expected) else value == expected), (name, value)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 2.0, 2.5])
def test_each_rung_of_the_blur_scale_reads_its_own_sigma(spectrum, sigma):
    from lossbench.metrics.blur import equivalent_blur

    features, x = spectrum
    assert equivalent_blur(features(blurred(x, sigma)), features.scale) == pytest.approx(sigma, abs=0.15)


def test_a_cell_beyond_the_scale_shows_infinity_and_is_never_bold():
    from lossbench.report.columns import best_rows
    from lossbench.report.facts import reading
    from lossbench.report.stats import mean_ci

    mean, half = mean_ci([0.4, math.inf, 0.5])
    assert mean == math.inf and math.isnan(half)
    agg = pd.DataFrame([{"model": "m", "condition": c, "blur-recon": v, "blur-recon_ci": h}
                        for c, (v, h) in {"collapsed": (mean, half), "l2": (0.53, 0.02), "l1": (0.40, 0.02)}.items()])
    facts = {"blur": {"columns": ["blur-recon", "blur-samples"], "higher_is_better": False, "kind": "distribution",
                      "features": "spectrum", "statistic": "blur", "description": "blur"}}
    with reading({"metrics": {"blur": {}}, "metric_facts": facts}):
        assert best_rows(agg, ["blur-recon"], set()) == {"blur-recon": 2}  # l1, not the collapsed cell


def test_new_metrics_are_listed(cli):
    code, out, _ = cli("list")
    assert code == 0
    for name in ("precision-judge", "recall-judge", "density-judge", "coverage-judge", "blur"):
        assert name in out


@pytest.mark.parametrize("sigma", [0.3, 1.0, 3.0])
def test_the_separable_blur_is_torchvisions_gaussian_blur(sigma):
    from torchvision.transforms.functional import gaussian_blur as torchvision_blur

    from lossbench.nets.degrade import gaussian_blur

    x = torch.rand(7, 3, 28, 31, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    size = 2 * math.ceil(3 * sigma) + 1
    reference = torchvision_blur(x, [size, size], [sigma, sigma])
    assert torch.allclose(gaussian_blur(x, sigma), reference, rtol=0, atol=1e-12)
    assert torch.allclose(gaussian_blur(x.float(), sigma), reference.float(), rtol=0, atol=5e-6)
