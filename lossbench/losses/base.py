"""What every loss term shares: its options schema and its interface."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field


class TermSpec(BaseModel):
    """Options every term accepts. A term's own options subclass this."""

    model_config = ConfigDict(extra="forbid")

    term: str
    weight: float = Field(1.0, ge=0, description="multiplier in the total")
    label: str | None = Field(None, description="name in logs and tables (default: the term name)")


class PixelSpec(TermSpec):
    reduction: Literal["sum", "mean"] = Field("sum", description="over pixels of one image")


class Term:
    """A loss term: ``values(out, x)`` gives one value per image (shape N); the batch mean
    times ``weight_at(step)`` enters the total."""

    def __init__(self, spec: TermSpec):
        self.spec = spec

    def weight_at(self, step: int) -> float:
        return self.spec.weight

    def values(self, out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def reduce_pixels(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-image sum (or mean) over C, H, W."""
    flat = per_pixel.flatten(1)
    return flat.sum(1) if reduction == "sum" else flat.mean(1)
