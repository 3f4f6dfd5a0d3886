"""A weighted sum of terms: the loss of one condition."""

from __future__ import annotations

import torch

from lossbench.losses.base import Term


class CompositeLoss:
    def __init__(self, terms: dict[str, Term]):
        self.terms = terms

    @property
    def names(self) -> list[str]:
        return list(self.terms)

    def __call__(self, out: dict[str, torch.Tensor], x: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (total, values): the weighted batch-mean total, and a vector holding each
        term's unweighted batch mean in ``names`` order (kept on the device; no sync)."""
        means = [term.values(out, x).mean() for term in self.terms.values()]
        total = sum(term.weight_at(step) * m for term, m in zip(self.terms.values(), means))
        return total, torch.stack(means).detach()
