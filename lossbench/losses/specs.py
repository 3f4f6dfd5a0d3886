"""The options schemas of the built-in loss terms (pydantic models, no torch): a study file is
validated against these without importing the terms themselves (lossbench.losses names those
lazily)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from lossbench.metrics.features import FEATURE_NETS
from lossbench.metrics.windows import MS_SSIM_MIN_SIDE, SIGMA


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


class LpSpec(PixelSpec):
    p: float = Field(2.0, gt=0, description="exponent: sum |x_hat - x|^p")


class KLSpec(TermSpec):
    warmup: int = Field(0, ge=0, description="steps over which the weight rises linearly from 0")


class MixSpec(TermSpec):
    alpha: float = Field(0.84, ge=0, le=1, description="weight of the structural part (Zhao et al. 2017: 0.84)")
    sigma: float = Field(SIGMA, gt=0, description="σ of the Gaussian that weights the L1 part")
    structural: Literal["auto", "ms-ssim", "ssim"] = Field(
        "auto", description="auto: MS-SSIM where the image size allows it, else SSIM (the label says which)")

    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        if self.structural == "ms-ssim" and side < MS_SSIM_MIN_SIDE:
            return "structural", (f"ms-ssim needs images of at least {MS_SSIM_MIN_SIDE} px per side ({dataset} images "
                                  f"here are {side} px); use structural: auto or ssim")
        return None


class PerceptualSpec(StartSpec):
    network: str = Field("domain", description=f"one of {', '.join(FEATURE_NETS)}")
    layers: list[str] | None = Field(None, description="layers to compare (domain / inception); default: the network's")

    @model_validator(mode="after")
    def _known(self):
        if self.network not in FEATURE_NETS:
            raise ValueError(f"network must be one of {', '.join(FEATURE_NETS)} (got {self.network!r})")
        entry = FEATURE_NETS[self.network]
        if self.layers is not None:
            if not entry.layers:
                raise ValueError(f"{self.network} is a calibrated distance (LPIPS, DISTS) and takes no layers")
            unknown = [name for name in self.layers if name not in entry.layers]
            if unknown or not self.layers:
                raise ValueError(f"layers of {self.network} are {', '.join(entry.layers)} (got {self.layers})")
        return self


#: Adam's decay rates: in [0, 1)
Beta = Annotated[float, Field(ge=0, lt=1)]


class AdversarialSpec(StartSpec):
    loss: Literal["hinge", "non-saturating", "least-squares"] = Field("hinge", description="GAN objective")
    discriminator: Literal["patch", "global"] = Field(
        "patch", description="patch: PatchGAN, one score per overlapping patch (Isola et al. 2017); "
                             "global: one score per image")
    channels: int = Field(32, ge=1, description="width of the discriminator's first layer (doubled per layer)")
    layers: int = Field(2, ge=1, le=6, description="stride-2 layers of the discriminator")
    lr: float = Field(2e-4, gt=0, description="the discriminator's own Adam learning rate")
    betas: tuple[Beta, Beta] = Field((0.5, 0.9), description="the discriminator's Adam betas, each in [0, 1)")
    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        if side < 2 ** self.layers:
            return "layers", (f"a discriminator with {self.layers} stride-2 layers needs images of at least {2 ** self.layers} "
                              f"px per side ({dataset} images here are {side} px); use fewer layers")
        return None

    adaptive: StrictBool = Field(False, description="weight times lambda = |grad_w L_rec| / (|grad_w L_G| + 1e-4) at the "
                                              "decoder's last layer w, clamped to [0, 1e4] (Esser et al. 2021)")
