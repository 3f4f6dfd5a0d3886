"""Precision, recall, density and coverage of a generated set against the real one, in a
network's features: FID mixes fidelity and diversity into one number; these split them.

- precision (Kynkäänniemi et al., NeurIPS 2019): the share of generated images inside the real
  manifold, the union of balls around each real feature with radius its k-th nearest real
  neighbour. Falls when implausible images are added.
- recall (same paper): the share of real images inside the generated manifold. Falls when the
  generated set misses a mode (a digit class).
- density (Naeem et al., ICML 2020): how many real balls hold each generated image, / k, averaged
  (1 for a set distributed as the real one; above 1 where generated images crowd dense regions).
- coverage (same paper): the share of real images whose ball holds at least one generated image.

Computed by ``prdc`` (Naeem et al.'s reference implementation) with k = 5, their recommended
value; precision and recall are tested against torch-fidelity's independent implementation.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

#: nearest neighbours that define each ball (Naeem et al. 2020 recommend 5 at N = 10,000; same here at 1,000)
NEAREST_K = 5
STATISTICS = ("precision", "recall", "density", "coverage")


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_K) -> dict[str, float]:
    """{precision, recall, density, coverage} of ``fake`` against ``real`` (N×D features each)."""
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes on every call
        out = compute_prdc(np.asarray(real.double().cpu()), np.asarray(fake.double().cpu()), k)
    return {name: float(out[name]) for name in STATISTICS}
