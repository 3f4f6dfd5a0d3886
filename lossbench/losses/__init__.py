"""The loss-term registry. Adding a term: one class (and its options schema) plus one line here."""

from __future__ import annotations

from dataclasses import dataclass

from lossbench.losses.base import PixelSpec, Term, TermSpec
from lossbench.losses.composite import CompositeLoss
from lossbench.losses.kl import KL, KLSpec
from lossbench.losses.pixel import BCE, L1, L2, Lp, LpSpec


@dataclass(frozen=True)
class TermEntry:
    cls: type[Term]
    spec: type[TermSpec]
    description: str
    variational_only: bool = False


LOSS_TERMS: dict[str, TermEntry] = {
    "l1": TermEntry(L1, PixelSpec, "sum of absolute pixel errors per image"),
    "l2": TermEntry(L2, PixelSpec, "sum of squared pixel errors per image (squared L2 norm)"),
    "lp": TermEntry(Lp, LpSpec, "sum of |error|^p per image, any p > 0"),
    "bce": TermEntry(BCE, PixelSpec, "binary cross-entropy per image (Bernoulli NLL, nats)"),
    "kl": TermEntry(KL, KLSpec, "KL(q(z|x) || N(0,I)) in nats, summed over latent dims; weight = beta; optional warm-up", True),
}


def build_loss(terms: list[dict]) -> CompositeLoss:
    """From resolved term dicts (each with 'term' and its options, 'label' filled in)."""
    built = {}
    for t in terms:
        entry = LOSS_TERMS[t["term"]]
        spec = entry.spec(**t)
        built[spec.label or spec.term] = entry.cls(spec)
    return CompositeLoss(built)


__all__ = ["LOSS_TERMS", "CompositeLoss", "Term", "TermSpec", "build_loss"]
