"""Issue 40 §6: metrics usable on their own. `lossbench measure REFERENCE CANDIDATE` scores two folders of images
with the implementations and provenance of a study (paired metrics when the files pair up by name, distribution
metrics otherwise) and one-line errors; `lossbench.measure` does the same on tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch


def _write(folder, images, names=None):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / (names[i] if names else f"{i:03d}.png"))


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, size=(12, 20, 20), dtype=np.uint8)
    cand = np.clip(ref.astype(int) + rng.integers(-30, 31, size=ref.shape), 0, 255).astype(np.uint8)
    _write(tmp_path / "ref", ref)
    _write(tmp_path / "cand", cand)
    return tmp_path, ref / 255.0, cand / 255.0


def test_two_folders_that_pair_up_are_scored_image_by_image(cli, folders):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    root, ref, cand = folders
    code, out, err = cli("measure", root / "ref", root / "cand", "--metrics", "mse,psnr,ssim", "--out", root / "r.json")
    assert code == 0, err
    result = json.loads((root / "r.json").read_text())
    assert result["paired"] and result["files"][0] == "000.png" and result["n_reference"] == 12
    # pinned to independent references: numpy's MSE, scikit-image's PSNR and SSIM, per image then averaged
    assert result["metrics"]["mse"] == pytest.approx(float(((cand - ref) ** 2).mean()), rel=1e-6)
    psnr = np.mean([peak_signal_noise_ratio(r, c, data_range=1.0) for r, c in zip(ref, cand)])
    assert result["metrics"]["psnr"] == pytest.approx(psnr, rel=1e-5)
    ssim = np.mean([structural_similarity(r, c, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
                    for r, c in zip(ref, cand)])
    assert result["metrics"]["ssim"] == pytest.approx(ssim, abs=1e-5)
    assert len(result["per_image"]["mse"]) == 12
    assert result["provenance"]["ssim"]["implementation"] and "mse" in out and "12 pairs" in out


def test_folders_that_do_not_pair_up_get_distribution_metrics_only(cli, folders, tmp_path):
    root, ref, cand = folders
    _write(tmp_path / "other", (cand[:8] * 255).astype(np.uint8), names=[f"x{i}.png" for i in range(8)])
    code, out, err = cli("measure", root / "ref", tmp_path / "other")
    assert code == 0 and "not paired" in out and "blur" in out and "mse" not in out, err
    code, _, err = cli("measure", root / "ref", tmp_path / "other", "--metrics", "mse")
    assert code == 2 and err.count("\n") == 1 and "do not pair up by name" in err and "000.png is in one only" in err


@pytest.mark.parametrize("args, message", [
    (["--metrics", "msee"], "unknown metric 'msee' (did you mean 'mse'?)"),
    (["--metrics", "fd-judge"], "trained on a dataset's class labels"),
    (["--metrics", ","], "--metrics: no metric named"),
])
def test_bad_input_is_one_line(cli, folders, args, message):
    root, _, _ = folders
    code, _, err = cli("measure", root / "ref", root / "cand", *args)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_images_of_two_sizes_need_a_size(cli, folders):
    from PIL import Image

    root, _, _ = folders
    Image.fromarray(np.zeros((30, 30), dtype=np.uint8)).save(root / "ref" / "zzz.png")
    code, _, err = cli("measure", root / "ref", root / "cand")
    assert code == 2 and "give --size N" in err and err.count("\n") == 1


def test_the_python_api_scores_tensors_with_a_studys_implementations():
    import lossbench
    from lossbench.metrics.pixel import mse

    torch.manual_seed(0)
    ref = torch.rand(6, 1, 28, 28)
    cand = (ref + 0.05 * torch.randn_like(ref)).clamp(0, 1)
    result = lossbench.measure(ref, cand, ["mse", "gmsd"])
    assert result["metrics"]["mse"] == pytest.approx(float(mse(cand, ref).mean()), rel=1e-6)
    assert result["provenance"]["gmsd"]["implementation"] == "piq.gmsd"
    with pytest.raises(lossbench.LossbenchError, match=r"reference images are in .*divide 8-bit images by 255"):
        lossbench.measure(ref * 255, cand, ["mse"])
