"""The four kinds of output of the one-pixel / six-pixel paradox, built by fixed rules on a
binarised digit (after the slide "What do we miss?", H.-y. Lee, GAN Lecture 1, 2018).

All geometry is on a 2-D boolean array ``s`` (True: stroke). Distances are chessboard
(8-neighbour) distances. Each rule returns the coordinates of the pixels it flips, or None when
the digit offers no place that satisfies it (the caller counts those digits as skipped):

- *stray*: one background pixel set, at distance exactly 2 from the stroke: isolated (no stroke
  pixel among its 8 neighbours), yet right next to the digit, as on the slide.
- *hole*: one stroke pixel cleared whose 4 neighbours are all stroke (inside the stroke; one
  whose 8 neighbours are all stroke is preferred).
- *extension*: six background pixels in a 2×3 block placed just beyond a stroke endpoint
  (an end of the skeleton), continuing the stroke's direction there (the skeleton's last
  ``DIRECTION_STEPS`` pixels), long side along that direction, touching the stroke.
- *thickening* (a control): six background pixels 4-adjacent to the stroke, connected,
  grown breadth-first from one such pixel: the stroke gets fatter along one side.

Two more controls match the extension's ink (six pixels added) without continuing anything, so
that a judge which merely counts ink prefers them as much as an extension:

- *strays*: six scattered strays, each a background pixel at distance exactly 2 from the stroke
  (as the one-pixel stray), no two within distance ``STRAY_SPACING - 1`` of each other.
- *detached*: a 2×3 block (either orientation) of background pixels, every one at distance 2 or
  more from the stroke and the nearest at exactly 2: the extension's block, cut off.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

ONE_PIXEL = ("stray", "hole")
SIX_PIXEL = ("extension", "thickening", "strays", "detached")
#: six added pixels that continue nothing: a judge that prefers the extension over these does more than count ink
INK_CONTROLS = ("strays", "detached")
KINDS = ONE_PIXEL + SIX_PIXEL
DIRECTION_STEPS = 4
STRAY_SPACING = 3  # chessboard distance at least this between two of the six strays
_N8 = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
_N4 = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def binarise(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return np.asarray(image) >= threshold


def distance_to_stroke(s: np.ndarray) -> np.ndarray:
    """Chessboard distance of every pixel to the nearest stroke pixel (0 on the stroke)."""
    return ndimage.distance_transform_cdt(~s, metric="chessboard")


def apply(s: np.ndarray, pixels: list[tuple[int, int]]) -> np.ndarray:
    """Flip the given pixels."""
    out = s.copy()
    for y, x in pixels:
        out[y, x] = not out[y, x]
    return out


def _inside(s, y, x) -> bool:
    return 0 <= y < s.shape[0] and 0 <= x < s.shape[1]


def _neighbours(s, y, x, offsets) -> list[tuple[int, int]]:
    return [(y + dy, x + dx) for dy, dx in offsets if _inside(s, y + dy, x + dx)]


def stray_candidates(s: np.ndarray) -> list[tuple[int, int]]:
    d = distance_to_stroke(s)
    return [tuple(p) for p in np.argwhere(d == 2)]


def hole_candidates(s: np.ndarray) -> list[tuple[int, int]]:
    """Interior stroke pixels: 8-interior ones if any, else 4-interior ones."""
    for offsets in (_N8, _N4):
        found = [(int(y), int(x)) for y, x in np.argwhere(s)
                 if all(_inside(s, y + dy, x + dx) and s[y + dy, x + dx] for dy, dx in offsets)]
        if found:
            return found
    return []


def endpoints(s: np.ndarray) -> list[dict]:
    """Skeleton endpoints with the stroke's direction there: [{'end': (y, x), 'direction': (dy, dx)}]."""
    skel = skeletonize(s)
    out = []
    for y, x in np.argwhere(skel):
        if sum(skel[p] for p in _neighbours(skel, y, x, _N8)) != 1:
            continue
        path, prev, cur = [(int(y), int(x))], None, (int(y), int(x))
        for _ in range(DIRECTION_STEPS):  # walk back along the skeleton
            nxt = [p for p in _neighbours(skel, *cur, _N8) if skel[p] and p != prev and p not in path]
            if len(nxt) != 1:
                break
            prev, cur = cur, nxt[0]
            path.append(cur)
        if len(path) < 2:
            continue
        direction = (path[0][0] - path[-1][0], path[0][1] - path[-1][1])
        out.append({"end": path[0], "direction": direction})
    return out


def extension_block(s: np.ndarray, end: tuple[int, int], direction: tuple[int, int]) -> list[tuple[int, int]] | None:
    """The 2×3 block beyond ``end`` along ``direction``, or None if it does not fit."""
    vy, vx = direction
    step = (int(np.sign(vy)) if abs(vy) * 2 >= abs(vx) else 0, int(np.sign(vx)) if abs(vx) * 2 >= abs(vy) else 0)
    y, x = end
    while _inside(s, y, x) and s[y, x]:  # from the skeleton's end to the stroke's tip
        y, x = y + step[0], x + step[1]
    if not _inside(s, y, x):
        return None
    if abs(vy) >= abs(vx):  # mostly vertical: 3 rows along the direction, 2 columns
        sy = step[0] or 1
        side = 1 if vx >= 0 else -1
        block = [(y + i * sy, x + j * side) for i in range(3) for j in (0, 1)]
        block = block if _fits(s, block) else [(y + i * sy, x - j * side) for i in range(3) for j in (0, 1)]
    else:  # mostly horizontal: 2 rows, 3 columns along the direction
        sx = step[1] or 1
        side = 1 if vy >= 0 else -1
        block = [(y + j * side, x + i * sx) for i in range(3) for j in (0, 1)]
        block = block if _fits(s, block) else [(y - j * side, x + i * sx) for i in range(3) for j in (0, 1)]
    return sorted(block) if _fits(s, block) else None


def _fits(s, block) -> bool:
    if not all(_inside(s, y, x) and not s[y, x] for y, x in block):
        return False
    return any(s[p] for y, x in block for p in _neighbours(s, y, x, _N8))


def extension_candidates(s: np.ndarray) -> list[list[tuple[int, int]]]:
    blocks = []
    for e in endpoints(s):
        block = extension_block(s, e["end"], e["direction"])
        if block:
            blocks.append(block)
    return blocks


def thickening_from(s: np.ndarray, start: tuple[int, int], n: int = 6) -> list[tuple[int, int]] | None:
    """``n`` connected background pixels 4-adjacent to the stroke, breadth-first from ``start``."""
    def rim(p):
        return not s[p] and any(s[q] for q in _neighbours(s, *p, _N4))

    if not rim(start):
        return None
    seen, queue = {start}, deque([start])
    chosen: list[tuple[int, int]] = []
    while queue and len(chosen) < n:
        p = queue.popleft()
        chosen.append(p)
        for q in _neighbours(s, *p, _N8):
            if q not in seen and rim(q):
                seen.add(q)
                queue.append(q)
    return sorted(chosen) if len(chosen) == n else None


def scattered_strays(s: np.ndarray, rng: np.random.Generator, n: int = 6) -> list[tuple[int, int]] | None:
    """``n`` strays at distance exactly 2 from the stroke, pairwise at least STRAY_SPACING apart,
    picked in a random order (greedy); None if the digit has no room for ``n``."""
    candidates = stray_candidates(s)
    chosen: list[tuple[int, int]] = []
    for i in rng.permutation(len(candidates)):
        y, x = candidates[i]
        if all(max(abs(y - cy), abs(x - cx)) >= STRAY_SPACING for cy, cx in chosen):
            chosen.append((int(y), int(x)))
            if len(chosen) == n:
                return sorted(chosen)
    return None


def detached_candidates(s: np.ndarray) -> list[list[tuple[int, int]]]:
    """Every 2×3 or 3×2 block of pixels at distance >= 2 from the stroke, the nearest at exactly 2."""
    d = distance_to_stroke(s)
    h, w = s.shape
    blocks = []
    for rows, cols in ((2, 3), (3, 2)):
        for y in range(h - rows + 1):
            for x in range(w - cols + 1):
                patch = d[y : y + rows, x : x + cols]
                if patch.min() == 2:
                    blocks.append([(y + i, x + j) for i in range(rows) for j in range(cols)])
    return blocks


def make_variants(s: np.ndarray, rng: np.random.Generator) -> dict[str, list[tuple[int, int]] | None]:
    """One variant of each kind, chosen at random (from ``rng``) among the places the rules allow."""
    out: dict[str, list[tuple[int, int]] | None] = {}
    strays = stray_candidates(s)
    out["stray"] = [strays[rng.integers(len(strays))]] if strays else None
    holes = hole_candidates(s)
    out["hole"] = [holes[rng.integers(len(holes))]] if holes else None
    blocks = extension_candidates(s)
    out["extension"] = blocks[rng.integers(len(blocks))] if blocks else None
    rims = [tuple(p) for p in np.argwhere(distance_to_stroke(s) == 1)]
    out["thickening"] = None
    for i in rng.permutation(len(rims)):
        block = thickening_from(s, rims[i])
        if block:
            out["thickening"] = block
            break
    out["strays"] = scattered_strays(s, rng)
    detached = detached_candidates(s)
    out["detached"] = detached[rng.integers(len(detached))] if detached else None
    return out
