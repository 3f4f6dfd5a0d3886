"""The paradox's options (pydantic only: checked before the measurements' libraries load)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ParadoxSpec(BaseModel):
    """The options, from the command line or from a study file's ``paradox:`` mapping."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    digit: int = Field(2, ge=0, le=9, description="the class of the faithful figure's target")
    per_class: int = Field(20, ge=1, le=100, description="test digits per class in the systematic version")
    seed: int = Field(0, ge=0, lt=2 ** 32, description="chooses the digits and the places of the variants")
    dataset: str = Field("mnist-5k", pattern="^(mnist-5k|mnist)$", description="mnist-5k (embedded) or mnist")
