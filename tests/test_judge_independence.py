"""Issue 32 §2, §4, §5: a judge trained on images the study never uses, or a loud word that it is
not; its held-out accuracy next to its numbers; what run's closing lines must say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lossbench
from lossbench.data import load_dataset
from lossbench.data.registry import DATASETS, DataSpec

N = 600


@pytest.fixture
def numbered():
    """A dataset whose every image is unique and says its own index (first two pixels), three classes."""

    def load(spec):
        index = np.arange(N)
        images = np.random.default_rng(0).integers(0, 256, (N, 16, 16, 1)).astype(np.uint8)
        images[:, 0, 0, 0], images[:, 0, 1, 0] = index // 256, index % 256
        return images, index % 3

    lossbench.register_dataset("numbered", load, side=16, replace=True)
    yield "numbered"
    DATASETS.pop("numbered")


def _indices(x) -> set[int]:
    pixels = (x[:, 0, 0, :2] * 255).round().long()
    return set((pixels[:, 0] * 256 + pixels[:, 1]).tolist())


@pytest.mark.parametrize("spec", [{"train_size": 200}, {"judge_fraction": 0.25}, {"train_size": 200, "test_size": 50}],
                         ids=["train_size", "judge_fraction", "both"])
def test_the_judges_pool_shares_no_image_with_the_study(numbered, spec):
    data = load_dataset(DataSpec(name=numbered, **spec))
    study = _indices(data.train_x) | _indices(data.test_x) | _indices(data.val_x)
    pool = _indices(data.pool_x)
    assert pool and not pool & study
    assert len(pool) + len(study) == N  # every image is in exactly one place
    assert data.pool_y is not None and len(data.pool_y) == len(data.pool_x)


def test_judge_fraction_leaves_run_ids_and_files_of_other_studies_alone():
    from lossbench.study.spec import Study

    study = Study.from_yaml("studies/l2_vs_perceptual.yaml")
    assert "judge_fraction" not in study.runs[0].config["data"] and "judge_fraction" not in study.resolved["data"]
    changed = Study.from_yaml("studies/l2_vs_perceptual.yaml", {"data.judge_fraction": 0.2})
    assert changed.runs[0].run_id != study.runs[0].run_id  # it changes the training images, so the id


def _study(write_study, data, metrics=("mse", "fd-judge")):
    return write_study({"seeds": [0], "data": data, "metrics": list(metrics), "conditions": {"l2": [{"term": "l2"}]}})


def test_an_independent_judge_says_so_next_to_its_numbers(numbered, cli, write_study, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = cli("run", _study(write_study, {"name": numbered, "train_size": 200}), "--out", out)
    assert code == 0, err
    prov = json.loads((out / "manifest.json").read_text())["metrics"]["fd-judge"]
    assert prov["independent"].startswith("yes") and "that this study never uses" in prov["trained_on"]
    summary = (out / "summary.md").read_text()
    line = next(line for line in summary.splitlines() if line.startswith("- The network behind `fd-judge`"))
    assert f"held-out accuracy {float(prov['held_out_accuracy']):.3f}" in line and "independent of the study: yes" in line
    assert "NOT independent" not in err + stdout + summary


def test_a_judge_that_shares_the_studys_images_is_said_loudly(numbered, cli, write_study, tmp_path):
    """No unused images: the judge trains on the study's training split, and every place that shows
    its numbers says so: stderr before the runs, the closing lines, summary.md under the means."""
    out = tmp_path / "out"
    code, stdout, err = cli("run", _study(write_study, {"name": numbered}), "--out", out)
    assert code == 0, err
    prov = json.loads((out / "manifest.json").read_text())["metrics"]["fd-judge"]
    assert prov["independent"] == "NO" and "the judge is NOT independent of the study" in prov["warning"]
    assert "warning: fd-judge: the judge is NOT independent" in err
    assert "  warning: the judge is NOT independent" in stdout
    summary = (out / "summary.md").read_text()
    assert "- ⚠ `fd-judge`: **the judge is NOT independent" in summary
    assert summary.index("⚠ `fd-judge`") < summary.index("## Metrics: how each number was made")  # by its numbers


def test_a_weak_judge_is_warned_below_the_threshold():
    from lossbench.metrics.judge import JUDGE_MIN_ACCURACY, JudgeFeatures

    judge = JudgeFeatures.__new__(JudgeFeatures)
    judge.path, judge.cache = Path("judges") / "judge-x.pt", None
    for accuracy, warned in ((0.32, True), (JUDGE_MIN_ACCURACY - 0.001, True), (0.9, False)):
        judge.card = {"held_out_accuracy": accuracy, "sha256": "x", "content_sha256": "y", "trained_on": "z",
                      "independent": True}
        prov = judge.provenance
        assert ("warning" in prov) is warned and (not warned or f"{accuracy:.3f}, below 0.8" in prov["warning"])


def test_the_closing_lines_name_unavailable_metrics_and_flags(numbered, cli, write_study, tmp_path):
    out = tmp_path / "out"
    study = _study(write_study, {"name": numbered}, metrics=("mse", "lpips"))
    code, stdout, err = cli("run", study, "--out", out, env={"LOSSBENCH_WEIGHTS_LPIPS_ALEX": str(tmp_path / "none.pth")})
    assert code == 0, err
    lines = stdout.splitlines()
    closing = next(i for i, line in enumerate(lines) if line.startswith("tiny: "))
    notes = lines[closing + 1:]
    assert any(n.startswith("  unavailable (not computed, never replaced): lpips (") for n in notes), notes
    assert any(n.startswith("  flagged: 1 of 1 runs (") for n in notes), notes  # one epoch: a collapsed output
    # said at the door too, before the set-up's minutes
    assert "warning: lpips unavailable, not computed" in err


@pytest.mark.parametrize("key, value, fix", [("data.train_size", 5000, "leave data.train_size out"),
                                             ("report.distribution_n", 5000, "leave report.distribution_n out")])
def test_a_size_the_data_cannot_give_is_one_line_at_the_door(numbered, cli, write_study, tmp_path, key, value, fix):
    """Issue 39 §6: 5,000 training images or images per set asked of data that has 480 / 120: exit 2, one line
    naming the study file, the key and the fix, at --dry-run too, and nothing written."""
    out = tmp_path / "out"
    study = _study(write_study, {"name": numbered})
    for extra in (["--dry-run"], []):
        code, stdout, err = cli("run", study, "--out", out, "--set", f"{key}={value}", *extra)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(study) in err and f"{key}: 5,000" in err and fix in err, err
        assert not out.exists()


def test_a_flat_image_folder_with_a_judge_names_the_key_and_the_fix(cli, write_study, tmp_path):
    from PIL import Image

    folder = tmp_path / "crops"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((20, 20, 3), i * 20, dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "out"
    code, _, err = cli("run", _study(write_study, {"name": "imagefolder", "path": str(folder), "size": 16}), "--out", out)
    assert code == 2 and err.count("\n") == 1, err
    assert "data.path" in err and "one sub-folder per class" in err and "drop the judge's metrics" in err
