"""A finished study whose dataset is not on this machine (a fresh clone of committed Fashion-MNIST
results, offline) rebuilds its report from its folder alone, byte-identical; anything that needs
the data still says in one line where to put it, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import yaml

STUDY = {
    "name": "clothes-tiny",
    "seeds": [0],
    "data": {"name": "fashion-mnist-5k", "train_size": 200, "test_size": 50},
    "models": [{"name": "ae-mlp", "hidden": [32], "latent_dim": 2}],
    "conditions": {"l2": [{"term": "l2"}]},
    "training": {"epochs": 1, "batch_size": 50},
    "metrics": ["mse", "psnr"],
    "report": {"recon_images": 4},
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_finished_study_rebuilds_without_its_data(fashion_root, tmp_path, cli):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    out = tmp_path / "out"
    code, _, err = cli("run", study, "--out", out, env={"LOSSBENCH_DATA": str(fashion_root)})
    assert code == 0, err
    # $LOSSBENCH_DATA is this machine's: the folder's files do not carry it
    assert not [name for name, data in _snapshot(out).items() if str(fashion_root).encode() in data]
    before = _snapshot(out)

    code, out_text, err = cli("run", study, "--out", out, env={"LOSSBENCH_DATA": str(tmp_path / "no-data-here")})
    assert code == 0, err
    assert "clothes-tiny: 1 skipped (finished before)" in out_text
    assert "every run of clothes-tiny is finished" in err and "rebuilt from the folder alone" in err
    assert _snapshot(out) == before

    # a run that is not finished needs the data: one line, exit 2, the folder as it was
    code, _, err = cli("run", study, "--out", out, "--set", "seeds=[0, 1]", env={"LOSSBENCH_DATA": str(tmp_path / "no-data-here")})
    assert code == 2 and err.count("\n") == 1 and "fashion-mnist-5k reads the official training files" in err
    assert _snapshot(out) == before
