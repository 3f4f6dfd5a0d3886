"""Pixel-wise terms. Each compares the reconstruction with the input pixel by pixel; with
``reduction: sum`` (default) the value is per image summed over pixels, so ``bce`` is the
negative log-likelihood of a Bernoulli decoder in nats per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lossbench.losses.base import Term, reduce_pixels
from lossbench.losses.specs import LpSpec


class L1(Term):
    """Sum of absolute errors |x_hat - x|."""

    def values(self, out, x):
        return reduce_pixels((out["x_hat"] - x).abs(), self.spec.reduction)


class L2(Term):
    """Sum of squared errors (x_hat - x)^2: the squared L2 norm (N·MSE per image)."""

    def values(self, out, x):
        return reduce_pixels((out["x_hat"] - x).square(), self.spec.reduction)


class Lp(Term):
    """Sum of |x_hat - x|^p for any p > 0 (p=1 is l1, p=2 is l2). For p < 1 the slope p|d|^(p-1) is infinite
    at d = 0, and autograd's 0 · inf made the gradient NaN at every pixel already reconstructed (found by the
    proofs, lossbench.losses.proofs): there the gradient is taken as 0, the subgradient's choice, by keeping
    the power away from d = 0 (the value there is 0 either way)."""

    def values(self, out, x):
        d = (out["x_hat"] - x).abs()
        if self.spec.p >= 1:
            return reduce_pixels(d.pow(self.spec.p), self.spec.reduction)
        moved = d != 0
        powered = torch.where(moved, torch.where(moved, d, torch.ones_like(d)).pow(self.spec.p), torch.zeros_like(d))
        return reduce_pixels(powered, self.spec.reduction)


class BCE(Term):
    """Binary cross-entropy of the decoder's logits against the input intensities (a
    Bernoulli likelihood), computed from logits for numerical stability. Needs a model with
    ``output: sigmoid`` (studies resolve ``output: auto`` to it for conditions with bce)."""

    def values(self, out, x):
        if "logits" not in out:
            raise ValueError("bce needs a decoder with output: sigmoid (logits); this model's output is linear")
        per_pixel = F.binary_cross_entropy_with_logits(out["logits"].float(), x.float(), reduction="none")
        return reduce_pixels(per_pixel, self.spec.reduction)


__all__ = ["BCE", "L1", "L2", "Lp", "LpSpec"]
