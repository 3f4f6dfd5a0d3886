"""Issue 41 §1: natural images offline. ``natural-patches`` cuts the photographs shipped inside scikit-image and
scikit-learn (no download, tested with the network's download functions made to fail), splits them by photograph
(no test patch comes from a photograph a training patch comes from), and refuses the impossible; CIFAR-10's
official batch format is read without running the pickles' code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from lossbench.core.errors import LossbenchError
from lossbench.data import load_dataset
from lossbench.data.natural import FLAT_STD, SOURCES, TEST, patches
from lossbench.data.registry import DataSpec, read_cifar_batch


@pytest.fixture(scope="module")
def rgb():
    return load_dataset(DataSpec(name="natural-patches"))


def test_it_loads_without_a_download(monkeypatch):
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("natural-patches tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    d = load_dataset(DataSpec(name="natural-patches", validation_fraction=0))
    assert d.train_x.shape[1:] == (3, 32, 32) and d.train_x.dtype == torch.float32
    assert 0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1
    assert len(d.train_x) > 3000 and len(d.test_x) > 500


def test_the_split_is_by_photograph_and_leaks_nothing(rgb):
    train_sources = set(rgb.train_y.tolist()) | set(rgb.val_y.tolist())
    test_sources = set(rgb.test_y.tolist())
    assert not train_sources & test_sources
    assert {SOURCES[i].file for i in test_sources} == set(TEST)
    assert {SOURCES[i].file for i in train_sources} == {p.file for p in SOURCES} - set(TEST)
    # and no patch's pixels appear on both sides (a duplicate photograph, or a patch cut twice)
    as_bytes = lambda t: {bytes(x.numpy().tobytes()) for x in (t * 255).round().byte()}  # noqa: E731
    assert not (as_bytes(rgb.train_x) | as_bytes(rgb.val_x)) & as_bytes(rgb.test_x)


def test_patches_are_the_photographs_pixels_on_the_stated_grid():
    train, train_y, test, test_y, _ = patches(32, None, 3)
    first = SOURCES[0]
    image = first.read(3)
    grid = [image[i: i + 32, j: j + 32] for i in range(0, image.shape[0] - 31, 32) for j in range(0, image.shape[1] - 31, 32)]
    kept = [p for p in grid if p.std() >= FLAT_STD]
    assert np.array_equal(train[train_y == 0], np.stack(kept))  # in order, flat ones left out
    assert len(kept) < len(grid)  # the astronaut's flat corner


def test_grey_is_the_colour_set_converted_patch_for_patch(rgb):
    grey = load_dataset(DataSpec(name="natural-patches", channels=1))
    assert grey.train_x.shape[1] == 1 and len(grey.train_x) == len(rgb.train_x) and len(grey.test_x) == len(rgb.test_x)
    assert torch.equal(grey.test_y, rgb.test_y)
    luma = (rgb.test_x[:, 0] * 299 + rgb.test_x[:, 1] * 587 + rgb.test_x[:, 2] * 114) / 1000  # ITU-R 601-2, as PIL
    assert float((luma - grey.test_x[:, 0]).abs().max()) <= 1.5 / 255


def test_it_is_deterministic_and_a_stride_overlaps():
    a, b = load_dataset(DataSpec(name="natural-patches")), load_dataset(DataSpec(name="natural-patches"))
    assert a.identity["sha256"] == b.identity["sha256"] and torch.equal(a.test_x, b.test_x)
    dense = load_dataset(DataSpec(name="natural-patches", size=64, stride=32, validation_fraction=0))
    assert dense.train_x.shape[-1] == 64 and dense.identity["sha256"] != a.identity["sha256"]
    assert any("cut every 32 px" in n for n in dense.identity["notes"])


def test_the_notes_name_sources_split_and_digest(rgb):
    note = rgb.identity["notes"][0]
    assert "11 photographs" in note and "chelsea.png" in note and "sources sha256" in note and "flat patches dropped" in note


@pytest.mark.parametrize("study, match", [
    ({"size": 400}, r"data.size: 400-px patches do not fit in chelsea.png, whose shorter side is 300 px"),
    ({"stride": 0}, r"stride"),
])
def test_impossible_cuts_are_refused_in_one_line(cli, write_study, study, match):
    path = write_study({"data": {"name": "natural-patches", **study}})
    code, _, err = cli("run", path, "--dry-run")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    import re

    assert re.search(match, err), err


def test_a_stride_on_another_dataset_is_refused(cli, write_study):
    code, _, err = cli("run", write_study({"data": {"name": "mnist-5k", "stride": 8}}), "--dry-run")
    assert code == 2 and "data.stride is for natural-patches" in err, err


def test_a_study_on_natural_patches_passes_the_dry_run(write_study, cli):
    code, out, err = cli("run", write_study({"data": {"name": "natural-patches"}}), "--dry-run")
    assert code == 0, err
    assert "natural-patches" in out + err


# ---------------------------------------------------------------- CIFAR-10, offline

def _write_batch(path, n: int, seed: int):
    rng = np.random.default_rng(seed)
    batch = {"batch_label": "testing batch", "labels": rng.integers(0, 10, n).tolist(),
             "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "filenames": [f"img_{i}.png" for i in range(n)]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    return batch


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {name: _write_batch(folder / name, 6, i) for i, name in enumerate(
        ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"])}
    return tmp_path, batches


def test_cifar10_reads_the_official_batch_format_offline(cifar_root):
    root, batches = cifar_root
    d = load_dataset(DataSpec(name="cifar10", root=str(root), validation_fraction=0))
    assert d.train_x.shape == (30, 3, 32, 32) and d.test_x.shape == (6, 3, 32, 32)
    first = batches["test_batch"]["data"][0].reshape(3, 32, 32)  # channel planes, row-major: the published layout
    assert torch.equal((d.test_x[0] * 255).round().byte(), torch.from_numpy(first))
    assert d.test_y.tolist() == batches["test_batch"]["labels"]


def test_a_cifar_file_that_would_run_code_is_refused_unrun(cifar_root, tmp_path):
    root, _ = cifar_root
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": Payload(), "labels": []}, f, protocol=2)
    with pytest.raises(LossbenchError, match=r"test_batch: not a CIFAR-10 batch.*refused: the file asks to build"):
        load_dataset(DataSpec(name="cifar10", root=str(root)))
    assert not marker.exists()


def test_cifar_batch_of_the_wrong_shape_says_what_it_holds(tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f, protocol=2)
    with pytest.raises(LossbenchError, match=r"N×3072 uint8 pixels .* uint8 \(2, 100\)"):
        read_cifar_batch(path)


def test_the_sources_are_the_packages_files():
    for photo in SOURCES:
        with Image.open(__import__("importlib").resources.files(photo.folder) / photo.file) as im:
            assert im.mode == "RGB" and min(im.size) >= 300
