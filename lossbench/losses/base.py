"""What every loss term shares: its options schema and its interface."""

from __future__ import annotations

import torch
from torch import nn

from lossbench.losses.specs import PLATEAU, PixelSpec, StartSpec, TermSpec  # noqa: F401  (their home before the split)


class Term(nn.Module):
    """A loss term: ``values(out, x)`` gives one value per image (shape N); the batch mean
    times ``weight_at(step)`` enters the total. A term with ``start`` is *inactive* before it
    starts: it is not computed, its weight is 0 and its logged value is NaN.

    A term is an ``nn.Module``: networks it trains (a discriminator) are its submodules, and
    ``state_dict()`` carries them together with what else training changes (``get_extra_state``:
    a plateau start, an optimizer), so a checkpoint saves and restores a term whole. Frozen
    networks it only reads (perceptual features) are shared and are not part of its state."""

    @classmethod
    def from_spec(cls, spec: TermSpec, networks=None) -> Term:
        """The term its spec describes; ``networks(name, layers)`` supplies the frozen feature
        networks the spec asks for (a term that reads one overrides this)."""
        return cls(spec)

    def __init__(self, spec: TermSpec):
        super().__init__()
        self.spec = spec
        self.started_at: int | None = None  # the step at which a 'plateau' term switched on

    @property
    def on_plateau(self) -> bool:
        return getattr(self.spec, "start", 0) == PLATEAU

    def active(self, step: int) -> bool:
        if self.on_plateau:
            return self.started_at is not None and step >= self.started_at
        return step >= getattr(self.spec, "start", 0)

    def weight_at(self, step: int) -> float:
        return self.spec.weight if self.active(step) else 0.0

    def prepare(self, images: dict[str, torch.Tensor]) -> None:
        """Precompute what depends on each split's images only (``{"train": x, "val": x}``); most terms need nothing."""

    def check_images(self, x: torch.Tensor) -> None:
        """Refuse, in one line, targets this term cannot read, before anything trains (CompositeLoss.prepare calls
        it on every split): lossbench's images are in [0, 1], and a term never rescales what it is given. A term
        with a network of fixed input channels checks those too (the perceptual term)."""
        from lossbench.core.errors import LossbenchError

        if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
            raise LossbenchError(f"loss term {self.spec.label or self.spec.term}: images in [{float(x.min()):.3g}, "
                                 f"{float(x.max()):.3g}], outside [0, 1]; lossbench's images are in [0, 1] (a dataset of "
                                 f"your own must load them so), and no term rescales them")

    def values(self, out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return self.values(out, x)

    def get_extra_state(self) -> dict:
        """What training changes in the term besides its submodules' weights: when a plateau term started."""
        return {"started_at": self.started_at}

    def set_extra_state(self, state: dict) -> None:
        self.started_at = state.get("started_at")


class IndexedTerm(Term):
    """A term whose ``values`` also takes the batch's positions in a split (``index``, ``split``),
    to read per-image targets that :meth:`prepare` cached."""

    def values(self, out: dict[str, torch.Tensor], x: torch.Tensor, index: torch.Tensor | None = None,
               split: str = "train") -> torch.Tensor:
        raise NotImplementedError


class Critic(Term):
    """A term that trains a network of its own alongside the autoencoder (a discriminator):
    :meth:`attach` builds it for a model, :meth:`critic_step` updates it once per training step and
    returns ``critic_columns`` (kept on the device), :meth:`adapt` sets an adaptive weight."""

    critic_columns: tuple[str, ...] = ()

    def attach(self, model: nn.Module, shape: tuple[int, int, int], device) -> None:
        raise NotImplementedError

    def adapt(self, rec: torch.Tensor, gan: torch.Tensor, step: int) -> None:
        """Set this step's adaptive weight from the other terms' weighted loss ``rec`` (default: none)."""

    def critic_step(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def reduce_pixels(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-image sum (or mean) over C, H, W."""
    flat = per_pixel.flatten(1)
    return flat.sum(1) if reduction == "sum" else flat.mean(1)
