"""What every loss term shares: its options schema and its interface."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from pydantic import BaseModel, ConfigDict, Field, field_validator


class TermSpec(BaseModel):
    """Options every term accepts. A term's own options subclass this."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    term: str
    weight: float = Field(1.0, ge=0, description="multiplier in the total")
    label: str | None = Field(None, description="name in logs and tables (default: the term name)")

    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        """A term's own rule on the study's images, checked at validation: (key, problem) or None.
        ``side``: the images' side in pixels, known before loading."""
        return None
    target: str | None = Field(None, description="your own term class, package.module.Class (see lossbench.registry)")


class PixelSpec(TermSpec):
    reduction: Literal["sum", "mean"] = Field("sum", description="over pixels of one image")


#: ``start: plateau``: the term switches on once the other terms' validation loss stops improving
PLATEAU = "plateau"


class StartSpec(TermSpec):
    """Options of terms that can switch on later in training (perceptual, adversarial)."""

    start: Any = Field(0, description="training step before which the term is off (and not computed), or 'plateau': "
                                      "on once the validation loss of the other terms stops improving "
                                      "(needs training.early_stopping)")

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value):
        if value == PLATEAU:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"must be a step number (an integer >= 0) or '{PLATEAU}' (got {value!r})")
        return value


class Term(nn.Module):
    """A loss term: ``values(out, x)`` gives one value per image (shape N); the batch mean
    times ``weight_at(step)`` enters the total. A term with ``start`` is *inactive* before it
    starts: it is not computed, its weight is 0 and its logged value is NaN.

    A term is an ``nn.Module``: networks it trains (a discriminator) are its submodules, and
    ``state_dict()`` carries them together with what else training changes (``get_extra_state``:
    a plateau start, an optimizer), so a checkpoint saves and restores a term whole. Frozen
    networks it only reads (perceptual features) are shared and are not part of its state."""

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

    def values(self, out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return self.values(out, x)

    def get_extra_state(self) -> dict:
        """What training changes in the term besides its submodules' weights: when a plateau term started."""
        return {"started_at": self.started_at}

    def set_extra_state(self, state: dict) -> None:
        self.started_at = state.get("started_at")


def reduce_pixels(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-image sum (or mean) over C, H, W."""
    flat = per_pixel.flatten(1)
    return flat.sum(1) if reduction == "sum" else flat.mean(1)
