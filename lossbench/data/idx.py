"""Reader for the IDX files MNIST and Fashion-MNIST are published in.

torchvision's own reader needs the files already un-gzipped, and its dataset classes insist
on both splits being present; a data root that holds only the official test split (as the
offline copy used in CI does) must still load, so the two file formats are read here.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

_DTYPES: dict[int, np.dtype | type | str] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find_idx(folder: Path, stem: str) -> Path | None:
    """``stem`` uncompressed, else ``stem.gz``, else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """The array an IDX file holds; ValueError naming the file when it is not one (truncated,
    not gzip though named .gz, bad magic number)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); a truncated download? "
                         f"delete it and fetch it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=_DTYPES[data[2]], offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated IDX file ({array.size} values for shape {dims})")
    return array.reshape(dims)
