"""Equal-MSE gallery, after Wang & Bovik, "Mean squared error: love it or leave it?" (IEEE
Signal Processing Magazine, 2009, Fig. 2): distortions of one image, each scaled to the same
MSE, judged very differently by the eye and by structural and perceptual measures.

The target MSE is that of the one distortion that cannot be scaled, a one-pixel translation.
Continuous distortions are scaled by bisection to within 0.5% of it; impulse noise (a pixel
count) and JPEG (a quality level) take the nearest achievable step, and the table reports the
MSE each reached.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def translate(x: np.ndarray) -> np.ndarray:
    """One pixel to the right; the first column repeats (no wrap-around)."""
    out = x.copy()
    out[:, 1:] = x[:, :-1]
    return out


def _bisect(make, x, target, lo, hi, steps=60):
    """The parameter in [lo, hi] whose distortion reaches ``target`` MSE (MSE rising with it)."""
    if _mse(make(hi), x) < target:
        return None
    for _ in range(steps):
        mid = (lo + hi) / 2
        if _mse(make(mid), x) < target:
            lo = mid
        else:
            hi = mid
    return hi


def jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.round(x * 255).astype(np.uint8)).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float64) / 255


def equal_mse(x: np.ndarray, seed: int = 0) -> list[dict]:
    """``x``: a grey image in [0, 1] (H×W, float64). Returns one dict per distortion: name,
    parameter (text), image, mse."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    moved = translate(x)
    target = _mse(moved, x)
    noise = rng.standard_normal(x.shape)
    order = rng.permutation(x.size)
    salt = rng.random(x.size) < 0.5
    mean = float(x.mean())
    out = []

    def add(name, param, image):
        out.append({"distortion": name, "parameter": param, "image": image, "mse": _mse(image, x)})

    c = _bisect(lambda c: np.clip(x + c, 0, 1), x, target, 0.0, 1.0)
    add("mean shift", f"+{c:.3f}" if c is not None else "unreachable", np.clip(x + (c or 0), 0, 1))
    k = _bisect(lambda k: np.clip(mean + (1 + k) * (x - mean), 0, 1), x, target, 0.0, 50.0)
    if k is not None:
        add("contrast stretch", f"x{1 + k:.3f} about the mean", np.clip(mean + (1 + k) * (x - mean), 0, 1))
    else:  # a near-binary image saturates before it gets there: lower the contrast instead
        k = _bisect(lambda k: mean + (1 - k) * (x - mean), x, target, 0.0, 1.0)
        add("contrast stretch", f"x{1 - k:.3f} about the mean (reduced: stretching saturates first)",
            mean + (1 - k) * (x - mean))
    s = _bisect(lambda s: np.clip(x + s * noise, 0, 1), x, target, 0.0, 5.0)
    add("gaussian noise", f"sigma {s:.4f}", np.clip(x + s * noise, 0, 1))

    def impulse(n):
        flat = x.ravel().copy()
        idx = order[:n]
        flat[idx] = salt[idx].astype(np.float64)
        return flat.reshape(x.shape)

    reached = np.cumsum((salt[order] - x.ravel()[order]) ** 2) / x.size  # MSE after n = 1, 2, ... pixels
    n = min(int(np.searchsorted(reached, target)) + 1, x.size)
    if n > 1 and abs(reached[n - 2] - target) < abs(reached[n - 1] - target):
        n -= 1
    add("impulse noise", f"{n} pixels set to 0 or 1", impulse(n))
    b = _bisect(lambda b: ndimage.gaussian_filter(x, b, mode="nearest"), x, target, 0.0, 20.0)
    add("blur", f"Gaussian sigma {b:.3f}" if b is not None else "unreachable",
        ndimage.gaussian_filter(x, b or 0.0, mode="nearest"))
    q = min(range(1, 96), key=lambda q: abs(_mse(jpeg(x, q), x) - target))
    add("jpeg", f"quality {q}", jpeg(x, q))
    add("translation", "1 pixel right", moved)
    return out
