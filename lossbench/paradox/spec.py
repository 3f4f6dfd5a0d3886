"""The paradox's options (pydantic only: checked before the measurements' libraries load)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ParadoxSpec(BaseModel):
    """The options, from the command line or from a study file's ``paradox:`` mapping."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    digit: int = Field(2, ge=0, le=9, description="the class of the faithful figure's target")
    per_class: int = Field(20, ge=1, le=100, description="test digits per class in the systematic version")
    seed: int = Field(0, ge=0, lt=2 ** 32, description="chooses the digits and the places of the variants")
    dataset: str = Field("mnist-5k", pattern="^(mnist-5k|mnist)$", description="mnist-5k (embedded) or mnist")


class NaturalParadoxSpec(BaseModel):
    """The options of a study file's ``natural_paradox:`` mapping."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    n: int = Field(300, ge=20, le=600, description="patches (of the photographs' 32-px grid)")
    photographs: Literal["test", "train"] = Field("test", description="test: the 4 test photographs of natural-patches; "
                                                  "train: the 7 others (a replication on other pictures)")
    seed: int = Field(0, ge=0, lt=2 ** 32, description="chooses the patches, each move's direction and the noise")
