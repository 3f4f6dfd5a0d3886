"""Metrics on images of any origin, outside a study (issue 40 §6): two image sets, or two folders, scored with
the same implementations, provenance and one-line errors as a study's runs (as torch-fidelity's ``fidelity
--input1 A --input2 B`` and pyiqa do). ``lossbench measure REFERENCE CANDIDATE`` and
:func:`lossbench.measure` on tensors.

*Paired* metrics (mse, psnr, ssim, lpips, gmsd, ...) compare each candidate image with its reference: the two
sets must pair up (tensors of equal length; folders whose files have the same relative names). *Distribution*
metrics (fid, kid, blur, ...) compare the candidate set with the reference set as a whole, at N = the smaller
set's size; those whose features are trained on a dataset's class labels (the judge, the domain classifier) are
a study's, not an image pair's."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from lossbench.core.errors import LossbenchError, did_you_mean

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
#: scored when no metric is named: paired ones when the sets pair up, and the network-free blur measure
DEFAULT_PAIRED = ("mse", "psnr", "ssim")
DEFAULT_DISTRIBUTION = ("blur",)


def read_folder(folder: str | os.PathLike, size: int | None = None, channels: int | None = None,
                what: str = "folder") -> tuple[list[str], torch.Tensor]:
    """(relative file names, images N×C×H×W in [0, 1]) of every image file under ``folder``, sorted by name.
    ``size``: resized to size×size (PIL bilinear); else every image must have the first one's size.
    ``channels``: 1 (grey) or 3 (RGB); else the first image's (grey stays grey, anything else becomes RGB)."""
    from PIL import Image, UnidentifiedImageError

    root = Path(os.path.expanduser(str(folder)))
    if not root.is_dir():
        raise LossbenchError(f"{what} {root}: folder not found")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise LossbenchError(f"{what} {root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in it")
    images, shape = [], None
    for p in paths:
        try:
            with Image.open(p) as im:
                if channels is None:
                    channels = 1 if im.mode in ("L", "1", "I;16", "I", "F") else 3
                im = im.convert("L" if channels == 1 else "RGB")
                if size is not None:
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                array = np.asarray(im, dtype=np.uint8).reshape(im.size[1], im.size[0], -1)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise LossbenchError(f"{what} {root}: cannot read image {p.relative_to(root)} ({exc})") from None
        if shape is None:
            shape = array.shape
        elif array.shape != shape:
            raise LossbenchError(f"{what} {root}: {p.relative_to(root)} is {array.shape[1]}×{array.shape[0]} px, "
                                 f"{paths[0].relative_to(root)} {shape[1]}×{shape[0]}; give --size N to resize them all")
        images.append(array)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    return [p.relative_to(root).as_posix() for p in paths], x


def _check(reference: torch.Tensor, candidate: torch.Tensor, metrics: list[str], paired: bool, why_unpaired: str) -> None:
    from lossbench.metrics import METRICS
    from lossbench.nets.bank import FEATURE_SOURCES

    for name, x in (("reference", reference), ("candidate", candidate)):
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise LossbenchError(f"measure: the {name} images are {tuple(x.shape)}; N×C×H×W with C = 1 or 3 is needed")
        if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
            raise LossbenchError(f"measure: the {name} images are in [{float(x.min()):.3g}, {float(x.max()):.3g}]; "
                                 f"lossbench's images are in [0, 1] (divide 8-bit images by 255)")
    if reference.shape[1:] != candidate.shape[1:]:
        raise LossbenchError(f"measure: reference images are {tuple(reference.shape[1:])}, candidates "
                             f"{tuple(candidate.shape[1:])}; resize them alike (--size N)")
    for m in metrics:
        if m not in METRICS:
            raise LossbenchError(f"measure: unknown metric '{m}'{did_you_mean(m, METRICS)} (lossbench list names them)")
        entry = METRICS[m]
        if entry.kind == "paired" and not paired:
            raise LossbenchError(f"measure: {m} compares each image with its own reference, and {why_unpaired}; "
                                 f"name distribution metrics only (fid, kid, blur), or pair the files up")
        if entry.kind == "distribution" and FEATURE_SOURCES[entry.feature_kind].labels:
            raise LossbenchError(f"measure: {m} reads a network trained on a dataset's class labels (a study's judge or "
                                 f"domain classifier); outside a study use fid, kid or blur")
        if entry.kind == "distribution" and min(len(reference), len(candidate)) < 2:
            raise LossbenchError(f"measure: {m} compares sets of at least 2 images")


def measure(reference: torch.Tensor, candidate: torch.Tensor, metrics: list[str] | None = None, paired: bool | None = None,
            device: str = "cpu", cache: str | None = None, weights: dict | None = None, why_unpaired: str = "") -> dict:
    """Score ``candidate`` images against ``reference`` ones (N×C×H×W in [0, 1]): ``{"metrics": column ->
    value, "per_image": column -> list (paired metrics), "provenance": metric -> how it was made, "n": ...}``.
    ``paired`` (default: the sets have equal length) allows paired metrics. LossbenchError, one line, for
    anything that cannot be scored."""
    from lossbench.data.registry import ImageData
    from lossbench.metrics import METRICS
    from lossbench.score.evaluate import EvalContext

    paired = len(reference) == len(candidate) if paired is None else paired
    why_unpaired = why_unpaired or f"the sets have {len(reference)} and {len(candidate)} images"
    if metrics is None:
        metrics = list(DEFAULT_PAIRED if paired else ()) + list(DEFAULT_DISTRIBUTION)
    _check(reference, candidate, metrics, paired, why_unpaired)
    n = min(len(reference), len(candidate))
    digest = hashlib.sha256(reference.mul(255).round().to(torch.uint8).numpy().tobytes()).hexdigest()
    data = ImageData(train_x=reference, test_x=reference, train_y=None, test_y=None,
                     identity={"name": "reference images", "sha256": digest, "n_train": len(reference),
                               "n_test": len(reference), "n_val": 0, "shape": list(reference.shape[1:])})
    ctx = EvalContext(data, metrics, device, cache=cache, weights=weights, distribution_n=n, calibrate=False, strict=True)
    values: dict[str, float] = {}
    per_image: dict[str, list[float]] = {}
    for m in metrics:
        entry = METRICS[m]
        if entry.kind == "paired":
            v = ctx.paired(m, candidate, reference).double()
            per_image[m] = v.tolist()
            values[m] = float(v.mean())
        else:
            features = ctx.features(entry.feature_kind, candidate)
            value, spread = ctx.distribution_with_spread(m, features)
            values[m] = value
            if spread is not None:
                values[f"{m}-std"] = spread
    return {"n_reference": len(reference), "n_candidate": len(candidate), "n_distribution": n, "paired": paired,
            "metrics": values, "per_image": per_image, "provenance": ctx.provenance}


def measure_folders(reference: str | os.PathLike, candidate: str | os.PathLike, metrics: list[str] | None = None,
                    size: int | None = None, channels: int | None = None, **options) -> dict:
    """:func:`measure` on two folders of images (files paired by their relative names when both hold the same
    names; paired metrics need that)."""
    ref_names, ref = read_folder(reference, size, channels, "reference")
    cand_names, cand = read_folder(candidate, size, channels or ref.shape[1], "candidate")
    paired = ref_names == cand_names
    why = ""
    if not paired:
        only = sorted(set(ref_names) ^ set(cand_names))
        why = (f"the folders' files do not pair up by name ({len(ref_names)} and {len(cand_names)} files"
               + (f"; e.g. {only[0]} is in one only" if only else "") + ")")
    result = measure(ref, cand, metrics, paired, why_unpaired=why, **options)
    return {"reference": str(reference), "candidate": str(candidate), "files": ref_names if paired else None, **result}
