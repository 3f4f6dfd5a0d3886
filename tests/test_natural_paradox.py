"""Issue 41 §4: the paradox's natural twin. The three versions of each patch have the move's MSE (to the
bisection's precision), the move is the photograph's own pixels one over, and the frequency measure computes
what its name says (analytic cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lossbench.data.natural import SOURCES
from lossbench.metrics.spectrum import radial_power, spectrum_distance
from lossbench.paradox.natural import DIRECTIONS, NaturalParadoxSpec, make_pairs, preferences


@pytest.fixture(scope="module")
def pairs():
    return make_pairs(NaturalParadoxSpec(n=24, seed=3))


def test_the_three_versions_have_the_moves_mse(pairs):
    table, images, _ = pairs
    for d in ("blur", "noise"):
        ratio = table[f"mse_{d}"] / table["mse_translation"]
        assert float((ratio - 1).abs().max()) < 1e-6
    ref = images["reference"]
    for d in ("translation", "blur", "noise"):
        mse = (images[d].double() - ref.double()).square().mean((1, 2, 3)).numpy()
        assert np.allclose(mse, table[f"mse_{d}"], rtol=1e-3, atol=1e-7)  # as stored (the images are float32)


def test_the_move_is_the_photographs_pixels_one_over(pairs):
    table, images, _ = pairs
    for idx in (0, len(table) - 1):
        row = table.iloc[idx]
        photo = next(p for p in SOURCES if p.file == row["photograph"]).read(3).astype(np.float64) / 255
        di, dj = DIRECTIONS[row["direction"]]
        i, j = int(row["row"]), int(row["column"])
        expected = torch.from_numpy(photo[i + di: i + di + 32, j + dj: j + dj + 32]).permute(2, 0, 1).float()
        assert torch.equal(images["translation"][idx], expected)
        assert torch.equal(images["reference"][idx],
                           torch.from_numpy(photo[i: i + 32, j: j + 32]).permute(2, 0, 1).float())


def test_preferences_count_what_they_say(pairs):
    table, _, _ = pairs
    table = table.copy()
    table["fake_translation"], table["fake_blur"], table["fake_noise"] = 0.0, 1.0, -1.0  # lower is closer
    from lossbench.paradox import natural

    natural.MEASURES["fake"] = ("a planted measure", False)
    try:
        prefs = preferences(table, ["fake"], seed=0).set_index("against")
    finally:
        del natural.MEASURES["fake"]
    assert prefs.loc["blur", "prefers_translation"] == 1.0 and prefs.loc["noise", "prefers_translation"] == 0.0
    assert prefs.loc["blur", "margin"] == 1.0 and prefs.loc["noise", "margin"] == -1.0


def test_the_spectrum_of_a_sinusoid_sits_on_its_ring():
    side, k = 32, 5
    y, x = np.mgrid[0:side, 0:side]
    image = 0.5 + 0.4 * np.cos(2 * math.pi * k * x / side)
    power = radial_power(torch.from_numpy(image)[None, None].float())[0]
    assert int(power.argmax()) + 1 == k  # rings are radii 1 .. 16
    assert float(power[k - 1] / power.sum()) > 0.5  # the Hann window spreads a little of it to the neighbours


def test_the_spectrum_distance_is_zero_for_equal_images_and_grows_with_blur():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    image = rng.random((32, 32))
    x = torch.from_numpy(image)[None, None].float()
    assert float(spectrum_distance(x, x)[0]) == 0.0
    distances = [float(spectrum_distance(torch.from_numpy(ndimage.gaussian_filter(image, s))[None, None].float(), x)[0])
                 for s in (0.5, 1.0, 2.0)]
    assert distances[0] < distances[1] < distances[2]


def test_white_noise_has_a_flat_spectrum():
    noise = torch.rand(400, 1, 32, 32)
    power = radial_power(noise).mean(0)
    assert float(power[2:].max() / power[2:].min()) < 1.3  # flat to sampling error beyond the window's lowest rings


def test_the_study_runs_and_rebuilds_byte_identical(cli, write_study, tmp_path):
    study = write_study(text="name: natural_paradox\nnatural_paradox:\n  n: 20\n  seed: 1\n")
    out = tmp_path / "out"
    code, stdout, err = cli("run", study, "--out", out, "--dry-run")
    assert code == 0 and "the paradox on natural patches (20 test patches" in stdout, err
    code, stdout, err = cli("run", study, "--out", out, env={"LOSSBENCH_WEIGHTS_LPIPS_ALEX": "/nonexistent/alexnet.pth"})
    assert code == 0, err
    report = (out / "report.md").read_text()
    assert "| spectrum | blur |" in report and "| gmsd | noise |" in report
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert cli("run", study, "--out", out, env={"LOSSBENCH_WEIGHTS_LPIPS_ALEX": "/nonexistent/alexnet.pth"})[0] == 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_too_few_patches_is_refused_in_one_line(cli, write_study):
    code, _, err = cli("run", write_study(text="name: x\nnatural_paradox:\n  n: 5\n"), "--dry-run")
    assert code == 2 and "natural_paradox.n" in err and len(err.strip().splitlines()) == 1, err


def test_spectral_gap_is_zero_on_the_real_set_and_grows_with_blur_and_noise():
    """The distribution metric (issue 41 §2): the real images against themselves read 0; blurred or noisy copies
    read more, and more with more blur."""
    from lossbench.metrics.spectrum import radial_power, spectral_gap
    from lossbench.nets.degrade import degrade

    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    x = load_dataset(DataSpec(name="natural-patches", validation_fraction=0)).test_x[:200]
    real = radial_power(x)
    assert spectral_gap(real, real) == 0.0
    gaps = [spectral_gap(real, radial_power(degrade(x, "blur", s))) for s in (0.5, 1.0, 2.0)]
    assert 0 < gaps[0] < gaps[1] < gaps[2]
    assert spectral_gap(real, radial_power(degrade(x, "noise", 0.1))) > 0.05


def test_spectral_gap_is_a_study_metric_with_a_ladder(cli, write_study, tmp_path):
    study = write_study({"data": {"name": "natural-patches", "train_size": 300, "test_size": 64},
                         "metrics": ["mse", "spectral-gap"]})
    out = tmp_path / "out"
    code, _, err = cli("run", study, "--out", out)
    assert code == 0, err
    summary = (out / "summary.md").read_text()
    assert "spectral-gap" in summary and "radially averaged power spectrum" in summary
