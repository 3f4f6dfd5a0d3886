"""The options schemas of the built-in loss terms (pydantic models, no torch): a study file is
validated against these without importing the terms themselves (lossbench.losses names those
lazily)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from lossbench.core.roles import CRITIC, PERCEPTUAL, PIXEL, RATE, STRUCTURAL
from lossbench.metrics.features import FEATURE_NETS
from lossbench.metrics.windows import MS_SSIM_MIN_SIDE, SIGMA



#: perceptual networks whose features a distribution metric also reads (that metric's ``features``)
SHARED_FEATURES = ("domain", "inception")


class TermSpec(BaseModel):
    """Options every term accepts. A term's own options subclass this. The spec is built once from
    the study file and carried to the term (taming-transformers' YAML params are likewise its
    constructor's arguments); what the rest of lossbench needs to know of a term, the spec says."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: ClassVar[str] = PIXEL  # what the term does (lossbench.core.roles): read instead of its name
    #: its gradient reaches the pixels through the decoder's output activation (bce reads the
    #: logits and kl the code, so a saturated sigmoid does not stop them)
    through_output: ClassVar[bool] = True
    #: lossbench.train.vectorised can train its seeds side by side (else: why not, in a few words)
    vectorisable: ClassVar[bool] = True
    unvectorised_because: ClassVar[str] = "is not vectorised"

    #: options left out of :meth:`config` while at their default, so that the run ids of studies
    #: written before an option existed stay as they were
    omitted_at_default: ClassVar[tuple[str, ...]] = ()

    term: str
    weight: float = Field(1.0, ge=0, description="multiplier in the total")
    label: str | None = Field(None, description="name in logs and tables (default: the term name)")

    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        """A term's own rule on the study's images, checked at validation: (key, problem) or None.
        ``side``: the images' side in pixels, known before loading."""
        return None
    target: str | None = Field(None, description="your own term class, package.module.Class (see lossbench.registry)")

    def default_label(self) -> str:
        return self.term

    def resolve(self, side: int) -> TermSpec:
        """The term as a run trains it: the defaults that depend on the images (``side`` px) filled
        in, and its label (a default label says which choice was made)."""
        return self.model_copy(update={"label": self.label or self.default_label()})

    def config(self) -> dict:
        """The term as configs, run ids and study.yaml keep it (``target`` only where given, so the
        run ids of studies written before it stay as they were)."""
        fields = type(self).model_fields
        left_out = {name for name in self.omitted_at_default if getattr(self, name) == fields[name].default}
        return self.model_dump(mode="json", exclude=left_out | ({"target"} if self.target is None else set()) or None)

    def feature_networks(self) -> list[tuple[str, list[str] | None]]:
        """The frozen feature networks it trains against, as (network, layers)."""
        return []

    def not_vectorised(self) -> str | None:
        """Why its seeds cannot train side by side (lossbench.train.vectorised), or None."""
        return None if self.vectorisable else self.unvectorised_because

    def facts(self) -> dict:
        """What the report needs of the term, as plain data (a study's manifest records it, so the
        report reads the folder and not this registry): its name, role and weight, and the
        networks it trains against with their pretrained weights and the metric features they share."""
        names = [name for name, _ in self.feature_networks()]
        weights = sorted({w for name in names if name in FEATURE_NETS for w in FEATURE_NETS[name].weights})
        return {"term": self.term, "role": self.role, "weight": self.weight, "networks": names, "weights": weights,
                "features": [name for name in names if name in SHARED_FEATURES]}


class PixelSpec(TermSpec):
    reduction: Literal["sum", "mean"] = Field("sum", description="over pixels of one image")


class BCESpec(PixelSpec):
    through_output: ClassVar[bool] = False  # reads the logits


class StructuralSpec(TermSpec):
    role: ClassVar[str] = STRUCTURAL


class FocalFrequencySpec(TermSpec):
    role: ClassVar[str] = PERCEPTUAL
    alpha: float = Field(1.0, gt=0, description="exponent of the focal weight (Jiang et al. 2021: 1)")
    patch_factor: int = Field(1, ge=1, le=8, description="the image cut into patch_factor² patches, each its own spectrum")
    log_matrix: StrictBool = Field(False, description="the weight matrix through log(1 + w), as the package offers")

    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        if side % self.patch_factor:
            return "patch_factor", f"must divide the image side ({side} px of {dataset}); got {self.patch_factor}"
        return None


class GMSDSpec(TermSpec):
    role: ClassVar[str] = PERCEPTUAL

    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        return ("term", f"gmsd needs images of at least 8 px per side ({dataset}: {side})") if side < 8 else None


#: ``start: plateau``: the term switches on once the other terms' validation loss stops improving
PLATEAU = "plateau"


class StartSpec(TermSpec):
    """Options of terms that can switch on later in training (perceptual, adversarial)."""

    start: Any = Field(0, description="training step before which the term is off (and not computed), or 'plateau': "
                                      "on once the validation loss of the other terms stops improving "
                                      "(needs training.early_stopping)")

    def not_vectorised(self) -> str | None:
        reason = super().not_vectorised()
        if reason is None and self.start == PLATEAU:
            return "starts at each seed's own plateau"
        return reason

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
    role: ClassVar[str] = RATE
    through_output: ClassVar[bool] = False  # reads the code
    vectorisable: ClassVar[bool] = False  # a variational model's noise is its seed's own
    warmup: int = Field(0, ge=0, description="steps over which the weight rises linearly from 0")


class MixSpec(TermSpec):
    role: ClassVar[str] = STRUCTURAL
    alpha: float = Field(0.84, ge=0, le=1, description="weight of the structural part (Zhao et al. 2017: 0.84)")
    sigma: float = Field(SIGMA, gt=0, description="σ of the Gaussian that weights the L1 part")
    structural: Literal["auto", "ms-ssim", "ssim"] = Field(
        "auto", description="auto: MS-SSIM where the image size allows it, else SSIM (the label says which)")

    def resolve(self, side: int) -> TermSpec:
        if self.structural == "auto":  # the label says which one the images allow
            return self.model_copy(update={"structural": "ms-ssim" if side >= MS_SSIM_MIN_SIDE else "ssim"}).resolve(side)
        return super().resolve(side)

    def default_label(self) -> str:
        return f"mix({self.structural})"

    def check_images(self, side: int, dataset: str) -> tuple[str, str] | None:
        if self.structural == "ms-ssim" and side < MS_SSIM_MIN_SIDE:
            return "structural", (f"ms-ssim needs images of at least {MS_SSIM_MIN_SIDE} px per side ({dataset} images "
                                  f"here are {side} px); use structural: auto or ssim")
        return None


class PerceptualSpec(StartSpec):
    role: ClassVar[str] = PERCEPTUAL

    network: str = Field("domain", description=f"one of {', '.join(FEATURE_NETS)}")
    layers: list[str] | None = Field(None, description="layers to compare (domain / inception); default: the network's")

    def resolve(self, side: int) -> TermSpec:
        layers = list(self.layers or FEATURE_NETS[self.network].default_layers) or None
        return self.model_copy(update={"layers": layers, "label": self.label or self.default_label()})

    def default_label(self) -> str:
        return f"perceptual({self.network})"

    def feature_networks(self) -> list[tuple[str, list[str] | None]]:
        return [(self.network, self.layers)]

    def not_vectorised(self) -> str | None:
        reason = super().not_vectorised()
        if reason is None and FEATURE_NETS[self.network].distance:
            return "reads a calibrated distance network (LPIPS, DISTS), which is not vectorised"
        return reason

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
    role: ClassVar[str] = CRITIC
    vectorisable: ClassVar[bool] = False
    unvectorised_because: ClassVar[str] = "trains a discriminator of its own per seed"
    omitted_at_default: ClassVar[tuple[str, ...]] = ("penalty", "penalty_weight", "spectral_norm")
    loss: Literal["hinge", "non-saturating", "least-squares", "wasserstein"] = Field(
        "hinge", description="GAN objective; wasserstein (Arjovsky et al. 2017) needs a Lipschitz constraint: "
                             "penalty: gradient-penalty or spectral_norm: true")
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
    penalty: Literal["none", "r1", "gradient-penalty"] = Field(
        "none", description="regulariser of the discriminator's gradient with respect to its input image: r1, "
                            "penalty_weight/2 * |grad D(x)|^2 on real images (Mescheder et al. 2018); gradient-penalty, "
                            "penalty_weight * (|grad D|-1)^2 at random mixes of real and reconstructed images "
                            "(WGAN-GP, Gulrajani et al. 2017). D is the image's score (the mean of its patch scores)")
    penalty_weight: float = Field(10.0, gt=0, description="the penalty's weight (gamma of r1, lambda of gradient-penalty)")
    spectral_norm: StrictBool = Field(False, description="spectral normalisation of every discriminator layer "
                                                         "(Miyato et al. 2018)")

    def config(self) -> dict:
        config = super().config()
        if self.penalty != "none":  # the penalty's weight is part of the recipe whenever there is a penalty
            config["penalty_weight"] = self.penalty_weight
        return config

    @model_validator(mode="after")
    def _lipschitz(self):
        if self.loss == "wasserstein" and self.penalty != "gradient-penalty" and not self.spectral_norm:
            raise ValueError("loss: wasserstein needs a Lipschitz critic: add penalty: gradient-penalty (WGAN-GP) "
                             "or spectral_norm: true")
        if self.penalty == "none" and self.penalty_weight != type(self).model_fields["penalty_weight"].default:
            raise ValueError("penalty_weight has no effect without a penalty: set penalty: r1 or gradient-penalty")
        return self
