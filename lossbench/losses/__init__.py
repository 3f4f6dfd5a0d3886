"""The loss-term registry. Adding a term: one class (and its options schema) plus one line here.

Reading the registry imports no torch: each entry holds its options schema (lossbench.losses.specs)
and names its class lazily, so a study file is validated without building a term."""

from __future__ import annotations

from dataclasses import dataclass

from lossbench.core.lazy import Lazy, lazy_exports, resolved
from lossbench.losses.specs import (PLATEAU, AdversarialSpec, BCESpec, FocalFrequencySpec, GMSDSpec, KLSpec, LpSpec,  # noqa: F401
                                    MixSpec, PerceptualSpec, PixelSpec, StructuralSpec, TermSpec)
from lossbench.metrics.windows import MS_SSIM_MIN_SIDE


@dataclass(frozen=True)
class TermEntry:
    impl: type | Lazy  # the Term subclass, or a Lazy naming it
    spec: type[TermSpec]
    description: str
    variational_only: bool = False
    min_side: int = 0  # smallest image side the term works on (checked at validation)
    needs_probabilities: bool = False  # reads the decoder's logits: the model's output must be sigmoid
    smaller: str = ""  # what to use on smaller images, said with that error
    #: a training step's cost against an L2 step, as measured (benchmarks/term_cost.py; lossbench list --verbose prints it)
    cost: str = ""

    @property
    def cls(self) -> type:
        """The term's class (imported on first use)."""
        return resolved(self.impl)


def _term(name: str) -> Lazy:
    module, cls = name.split(".")
    return Lazy(f"lossbench.losses.{module}:{cls}")


def _cost(ratio: str) -> str:
    return (f"{ratio} an L2 step (the main study's conv AE, batch 128, 2-core AMD EPYC, 2026-12-08; "
            f"benchmarks/term_cost.py, benchmarks/README.md)")


LOSS_TERMS: dict[str, TermEntry] = {
    "l1": TermEntry(_term("pixel.L1"), PixelSpec, "sum of absolute pixel errors per image", cost=_cost("0.9-1.0x")),
    "l2": TermEntry(_term("pixel.L2"), PixelSpec, "sum of squared pixel errors per image (squared L2 norm)"),
    "lp": TermEntry(_term("pixel.Lp"), LpSpec, "sum of |error|^p per image, any p > 0"),
    "bce": TermEntry(_term("pixel.BCE"), BCESpec, "binary cross-entropy per image (Bernoulli NLL, nats); needs output: sigmoid",
                     needs_probabilities=True),
    "kl": TermEntry(_term("kl.KL"), KLSpec, "KL(q(z|x) || N(0,I)) in nats, summed over latent dims; weight = beta; optional warm-up", True),
    "ssim": TermEntry(_term("structural.SSIMLoss"), StructuralSpec, "1 - SSIM per image (a mean, in [0, 2])", min_side=12,
                     cost=_cost("1.5x")),
    "ms-ssim": TermEntry(_term("structural.MSSSIMLoss"), StructuralSpec, "1 - MS-SSIM per image; images of at least 176 px",
                        min_side=MS_SSIM_MIN_SIDE, smaller="use ssim or mix (which falls back to SSIM)"),
    "perceptual": TermEntry(_term("perceptual.Perceptual"), PerceptualSpec, "distance in a frozen feature network (network: domain, inception, "
                            "lpips-alex, lpips-vgg, lpips-squeeze, dists; layers)",
                            cost="network: domain, a step 6.1-8.2x an L2 step, compiled (the main study's conv AE, batch 128, 2-core AMD "
                                 "EPYC, 2026-12-08; benchmarks/perceptual_floor.py); an epoch with lpips-alex 5.7x, lpips-vgg "
                                 "87x, dists 102x an L2 epoch (benchmarks/perceptual_epoch.py, benchmarks/README.md)"),
    "mix": TermEntry(_term("structural.Mix"), MixSpec, "Zhao et al. 2017: 0.84 (1 - MS-SSIM) + 0.16 Gaussian-weighted L1; "
                     "SSIM on small images", min_side=12, cost=_cost("2.9x")),
    "focal-frequency": TermEntry(_term("frequency.FocalFrequency"), FocalFrequencySpec,
                                 "focal frequency loss (Jiang et al. 2021): spectra compared, hard frequencies weighted up; "
                                 "per image; no network", cost=_cost("1.0-1.2x")),
    "gmsd": TermEntry(_term("frequency.GMSD"), GMSDSpec, "gradient magnitude similarity deviation (Xue et al. 2014), 0 for "
                      "identical gradients; per image; no network", min_side=8,
                      cost=_cost("1.1-1.2x")),
    "adversarial": TermEntry(_term("adversarial.Adversarial"), AdversarialSpec, "a discriminator (patch or global) trained alternately with the "
                             "autoencoder; hinge, non-saturating or least-squares; start step; optional adaptive weight"),
}


def term_specs(terms: list[dict] | list[TermSpec]) -> list[TermSpec]:
    """Term dicts as a run's config keeps them, as their specs: the one place a stored term is read
    back (a study builds its specs once, when it is validated, and carries them to training;
    a run rebuilt from its folder alone reads them here). Specs pass through."""
    return [t if isinstance(t, TermSpec) else LOSS_TERMS[t["term"]].spec(**t) for t in terms]


def build_loss(terms: list[dict] | list[TermSpec], networks=None):
    """The CompositeLoss of a run's terms (specs, or resolved term dicts with 'label' filled in).
    ``networks(name, layers)`` supplies the frozen feature networks a term asks for
    (:meth:`TermSpec.feature_networks`); each term's class builds itself (``Term.from_spec``)."""
    from lossbench.losses.base import Term
    from lossbench.losses.composite import CompositeLoss

    built: dict[str, Term] = {}
    for spec in term_specs(terms):
        cls: type[Term] = LOSS_TERMS[spec.term].cls
        built[spec.label or spec.term] = cls.from_spec(spec, networks)
    return CompositeLoss(built)


def needs_probabilities(terms: list[dict] | list[TermSpec]) -> bool:
    """Does a condition (its term dicts or specs) have a term that reads the decoder's logits?"""
    return any(LOSS_TERMS[spec.term].needs_probabilities for spec in term_specs(terms))


# the torch side, imported when first used
__getattr__ = lazy_exports(__name__, {"CompositeLoss": "lossbench.losses.composite:CompositeLoss",
                                      "Term": "lossbench.losses.base:Term"})

__all__ = ["LOSS_TERMS", "PLATEAU", "CompositeLoss", "Term", "TermSpec", "build_loss", "needs_probabilities", "term_specs"]
