from __future__ import annotations

import gzip
from pathlib import Path
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from lossbench.data import DeviceBatches, load_dataset
from lossbench.data.registry import DataSpec
from lossbench.core.errors import LossbenchError


def write_idx(path, array: np.ndarray, gz: bool = True):
    code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    (gzip.open if gz else open)(path, "wb").write(header + array.tobytes())


def test_mnist5k_is_split_deterministically_and_disjointly():
    a = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0))
    b = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0))
    c = load_dataset(DataSpec(name="mnist-5k", seed=1, validation_fraction=0))
    assert (a.identity["n_train"], a.identity["n_test"]) == (4000, 1000)
    assert a.train_x.shape == (4000, 1, 28, 28) and a.train_x.dtype == torch.float32
    assert 0 <= a.train_x.min() and a.train_x.max() <= 1
    assert torch.equal(a.test_x, b.test_x) and a.identity["sha256"] == b.identity["sha256"]
    assert a.identity["sha256"] != c.identity["sha256"]
    # the 5,000 digits are all different images, so a disjoint split shares none
    train = {bytes(x.numpy().tobytes()) for x in (a.train_x * 255).byte()}
    assert not any(bytes(x.numpy().tobytes()) in train for x in (a.test_x * 255).byte())


def test_subsets_are_deterministic_and_sized():
    a = load_dataset(DataSpec(name="mnist-5k", train_size=300, test_size=50))
    b = load_dataset(DataSpec(name="mnist-5k", train_size=300, test_size=50))
    assert a.train_x.shape[0] + a.val_x.shape[0] == 300 and a.test_x.shape[0] == 50
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y) and torch.equal(a.val_x, b.val_x)


def test_validation_is_carved_from_the_training_split():
    whole = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0))
    d = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0.1))
    assert (d.identity["n_train"], d.identity["n_val"], d.identity["n_test"]) == (3600, 400, 1000)
    assert torch.equal(d.test_x, whole.test_x)  # the test split does not move
    as_bytes = lambda t: {bytes(x.numpy().tobytes()) for x in (t * 255).byte()}  # noqa: E731
    train, val, full = as_bytes(d.train_x), as_bytes(d.val_x), as_bytes(whole.train_x)
    assert not train & val and train | val == full
    assert len(d.val_y) == 400 and sorted(torch.bincount(d.val_y).tolist())[0] > 20  # every class
    assert d.identity["sha256"] != whole.identity["sha256"]  # the identity says which images train
    assert any("validation: 400 of the 4000 training images" in n for n in d.identity["notes"])
    with pytest.raises(LossbenchError, match="validation_fraction"):
        load_dataset(DataSpec(name="synthetic", n=10, validation_fraction=0.95, test_fraction=0.2))


def test_official_mnist_test_split_alone_loads_and_is_split(shared_data_root):
    d = load_dataset(DataSpec(name="mnist", root=str(shared_data_root)))
    assert d.identity["n_train"] + d.identity["n_val"] + d.identity["n_test"] == 10_000
    assert d.identity["n_test"] == 2000
    assert "only the official test split" in d.identity["notes"][0]
    assert sorted(torch.bincount(d.test_y).tolist())[0] > 100  # every class is present


def test_official_splits_are_used_when_both_exist(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", 30), ("t10k", 10)):
        # uncompressed: a .gz under a published archive's name must be that archive (its md5 is checked)
        write_idx(raw / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=False)
        write_idx(raw / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8), gz=False)
    d = load_dataset(DataSpec(name="fashion-mnist", root=str(tmp_path), validation_fraction=0))
    assert (d.identity["n_train"], d.identity["n_test"]) == (30, 10)
    assert "official fashion-mnist train/test splits" in d.identity["notes"][0]


def test_truncated_idx_file_is_refused(tmp_path):
    from lossbench.data.idx import read_idx

    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">III", 5, 28, 28) + b"\0" * 100)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_cifar10_missing_files_error_names_folder(tmp_path):
    with pytest.raises(LossbenchError, match=r"cifar-10-batches-py.*data.download: true"):
        load_dataset(DataSpec(name="cifar10", root=str(tmp_path)))


def test_imagefolder_resizes_and_labels_by_subfolder(tmp_path):
    for cls, colour in (("shirts", (255, 0, 0)), ("shoes", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.new("RGB", (40 + i, 30), colour).save(tmp_path / cls / f"{i}.png")
    d = load_dataset(DataSpec(name="imagefolder", path=str(tmp_path), size=16, test_fraction=0.2, validation_fraction=0))
    assert d.train_x.shape[1:] == (3, 16, 16) and d.train_x.shape[0] + d.test_x.shape[0] == 10
    x = torch.cat([d.train_x, d.test_x])
    y = torch.cat([d.train_y, d.test_y])
    assert torch.allclose(x[y == 0][:, 0], torch.ones(1)) and torch.allclose(x[y == 1][:, 2], torch.ones(1))
    grey = load_dataset(DataSpec(name="imagefolder", path=str(tmp_path), size=8, channels=1))
    assert grey.train_x.shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("spec, match", [
    (DataSpec(name="imagefolder"), "data.path: imagefolder needs the folder"),
    (DataSpec(name="imagefolder", path="/no/such/folder", size=8), "data.path: folder not found"),
])
def test_imagefolder_errors(spec, match):
    with pytest.raises(LossbenchError, match=match):
        load_dataset(spec)


def test_synthetic_is_deterministic():
    a, b = load_dataset(DataSpec(name="synthetic", n=50, size=20)), load_dataset(DataSpec(name="synthetic", n=50, size=20))
    assert torch.equal(a.train_x, b.train_x) and a.train_x.shape[1:] == (1, 20, 20)
    assert a.train_x.amax(dim=(1, 2, 3)).min() == 1.0  # every image holds a shape


def test_device_batches_visit_every_image_once_per_epoch():
    x = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1)
    batches = DeviceBatches(x, 4, "cpu")
    assert len(batches) == 3
    seen = torch.cat(list(batches.epoch(torch.Generator().manual_seed(0)))).flatten()
    assert sorted(seen.tolist()) == list(range(10))
    again = torch.cat(list(batches.epoch(torch.Generator().manual_seed(0)))).flatten()
    assert torch.equal(seen, again)


def test_the_official_fashion_mnist_files_load_with_their_published_checksums():
    """All four official Fashion-MNIST archives (../shared/data in CI): both splits, every class,
    and each archive's md5 is the one torchvision publishes (checked on load)."""
    import os

    root = Path(os.environ.get("LOSSBENCH_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the official Fashion-MNIST files are not under {root} (set LOSSBENCH_DATA)")
    d = load_dataset(DataSpec(name="fashion-mnist", root=str(root), validation_fraction=0))
    assert (d.identity["n_train"], d.identity["n_test"]) == (60_000, 10_000)
    assert torch.bincount(d.test_y).tolist() == [1000] * 10


def test_fashion_mnist_5k_is_the_first_5000_images_of_the_official_training_file(fashion_root, fashion5k):
    """The clothing studies' set: images 0-4,999 of Zalando's training file as they are, split like
    mnist-5k (3,600 train, 400 validation, 1,000 test), and its record names no machine path."""
    from lossbench.data.idx import find_idx, read_idx

    raw = fashion_root / "FashionMNIST" / "raw"
    first = read_idx(find_idx(raw, "train-images-idx3-ubyte"))[:5000]
    labels = read_idx(find_idx(raw, "train-labels-idx1-ubyte"))[:5000]
    d = fashion5k
    assert (d.identity["n_train"], d.identity["n_val"], d.identity["n_test"]) == (3600, 400, 1000)
    ours = torch.cat([d.train_x, d.val_x, d.test_x]).mul(255).round().byte().squeeze(1).numpy()
    key = lambda a: sorted(x.tobytes() for x in a)  # noqa: E731
    assert key(ours) == key(first)
    assert sorted(torch.cat([d.train_y, d.val_y, d.test_y]).tolist()) == sorted(labels.tolist())
    assert str(fashion_root) not in " ".join(d.identity["notes"])


def test_fashion_mnist_5k_without_its_files_says_where_to_put_them(tmp_path):
    from lossbench.core.errors import DataNotFound

    with pytest.raises(DataNotFound, match=r"fashion-mnist-5k reads the official training files train-images-idx3-ubyte"
                                            r".*data.download: true"):
        load_dataset(DataSpec(name="fashion-mnist-5k", root=str(tmp_path)))
