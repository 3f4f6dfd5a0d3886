"""Issue 32 §3: --dry-run checks what can be checked without training (data present and readable,
class labels where a judge needs them, weights present, sizes that make sense) and estimates the
clock; it still writes nothing."""

from __future__ import annotations

import numpy as np
import pytest


def _dry(cli, write_study, tmp_path, data, metrics=("mse",), *extra, env=None):
    out = tmp_path / "out"
    study = write_study({"seeds": [0], "data": data, "metrics": list(metrics)})
    code, stdout, err = cli("run", study, "--out", out, "--dry-run", *extra, env=env)
    assert not out.exists()  # nothing written, whatever it found
    return code, stdout, err


@pytest.mark.parametrize("data, expected", [
    (lambda t: {"name": "mnist", "root": str(t / "empty")}, "mnist files not found in"),
    (lambda t: {"name": "fashion-mnist", "root": str(t / "empty")}, "fashion-mnist files not found in"),
    (lambda t: {"name": "imagefolder", "path": str(t / "nowhere"), "size": 16}, "data.path: folder not found"),
], ids=["mnist", "fashion-mnist", "imagefolder-path"])
def test_missing_data_fails_the_dry_run(cli, write_study, tmp_path, data, expected):
    code, _, err = _dry(cli, write_study, tmp_path, data(tmp_path))
    assert code == 2 and err.count("\n") == 1 and expected in err, err


def test_a_flat_folder_with_a_judge_fails_the_dry_run(cli, write_study, tmp_path):
    from PIL import Image

    folder = tmp_path / "crops"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((20, 20, 3), i * 20, dtype=np.uint8)).save(folder / f"{i}.png")
    code, _, err = _dry(cli, write_study, tmp_path, {"name": "imagefolder", "path": str(folder), "size": 16},
                        ("mse", "fd-judge"))
    assert code == 2 and "one sub-folder per class" in err and "needed by fd-judge" in err, err
    code, stdout, err = _dry(cli, write_study, tmp_path, {"name": "imagefolder", "path": str(folder), "size": 16})
    assert code == 0 and "data: imagefolder: " in stdout, err  # without the judge the folder is fine


def test_missing_weights_are_a_warning_and_with_strict_an_error(cli, write_study, tmp_path):
    env = {"LOSSBENCH_WEIGHTS_LPIPS_ALEX": str(tmp_path / "none.pth")}
    code, stdout, _ = _dry(cli, write_study, tmp_path, {"name": "synthetic", "n": 96, "size": 16}, ("mse", "lpips"), env=env)
    assert code == 0 and "warning: weights lpips-alex: explicit path" in stdout and "lpips will be unavailable" in stdout
    code, _, err = _dry(cli, write_study, tmp_path, {"name": "synthetic", "n": 96, "size": 16}, ("mse", "lpips"),
                        "--strict", env=env)
    assert code == 2 and "lpips: weights unavailable (--strict)" in err


def test_sizes_labels_the_set_up_and_the_clock_are_reported(cli, write_study, tmp_path):
    """Issue 39 §3: the set-up is estimated too, each judge is said to be independent or not, and the fix
    (data.judge_fraction) is named where it is not."""
    code, stdout, err = _dry(cli, write_study, tmp_path, {"name": "synthetic", "n": 96, "size": 16}, ("mse", "fd-judge"))
    assert code == 0, err
    assert "labels: 4 classes, needed by fd-judge" in stdout
    judge = next(line for line in stdout.splitlines() if line.startswith("set-up: fd-judge: its judge for synthetic"))
    assert "trained here on 69 images (12 epochs)" in judge and "independent of the study: NO" in judge, judge
    assert "data.judge_fraction" in judge and ": about " in judge, judge
    assert any(line.startswith("set-up: fd-judge: real statistics and calibration ladder (12 sets of ") for line in stdout.splitlines())
    assert any(line.startswith("set-up in all: about ") for line in stdout.splitlines()), stdout
    clock = next(line for line in stdout.splitlines() if line.startswith("clock (an estimate): an epoch of 3 steps"))
    assert "for ae-mlp" in clock and "2 runs of 1 epoch:" in clock and "perceptual and adversarial terms cost more" in clock
    # with images held out for it, the judge is independent
    code, stdout, err = _dry(cli, write_study, tmp_path, {"name": "synthetic", "n": 400, "size": 16, "judge_fraction": 0.4},
                             ("mse", "fd-judge"))
    assert code == 0, err
    judge = next(line for line in stdout.splitlines() if line.startswith("set-up: fd-judge: its judge for synthetic"))
    assert "independent of the study: yes" in judge, judge


def test_the_set_up_of_a_folder_whose_runs_hold_every_metric_is_nothing(cli, tmp_path):
    """The README's study, finished: --dry-run says every metric is stored, and estimates no set-up."""
    code, stdout, err = cli("run", "studies/l2_vs_perceptual.yaml", "--dry-run")
    assert code == 0, err
    assert "set-up: every run in results/l2_vs_perceptual holds mse, psnr, ssim, lpips, dists, blur, fd-judge, fd-domain: " \
           "reported as stored" in stdout
    assert "set-up in all" not in stdout


def test_each_set_up_step_says_what_it_does_with_its_estimate_off_a_terminal(cli, write_study, tmp_path):
    """Issue 39 §3: in a batch job (stderr not a terminal: no progress bar) every set-up step before the first epoch
    prints one line with its estimate, so minutes of set-up are never silent."""
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]}, "metrics": ["mse", "fd-judge", "blur"]})
    code, _, err = cli("run", study, "--out", tmp_path / "out", env={"LOSSBENCH_CACHE": str(tmp_path / "empty-cache")})
    assert code == 0, err
    steps = [line for line in err.splitlines() if line.startswith("set-up: ")]
    assert any("fd-judge network (trained once" in s and "about" in s for s in steps), steps  # the judge for this data
    assert any("features of" in s and "about" in s for s in steps), steps  # the real statistics
    assert any("calibration ladder" in s and "about" in s for s in steps), steps
