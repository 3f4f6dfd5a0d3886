"""FEATURE_NETS: the frozen feature networks that metrics and the perceptual loss share.

Each entry names the layers a perceptual loss may compare. Networks are built from the same
sources as the metrics (the dataset's domain classifier, FID's Inception, the LPIPS backbones),
always frozen and in eval mode, with inputs converted at their own edge: images in [0, 1],
grey repeated to RGB where the network wants RGB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lossbench.weights import INCEPTION_BLOCKS


@dataclass(frozen=True)
class FeatureNetEntry:
    layers: tuple[str, ...]  # selectable layers (empty: the network gives one calibrated distance)
    default_layers: tuple[str, ...]
    description: str
    build: Callable | None = None  # (feature bank, layers) -> the frozen module a perceptual term reads


def _domain_layers(bank, layers):
    return DomainLayers(bank.extractor("domain").model, layers)


def _inception_layers(bank, layers):
    return InceptionLayers(bank.extractor("inception").model, layers)


def _lpips(net: str):
    def build(bank, layers):
        from lossbench.metrics.lpips import LPIPSDistance

        return LPIPSDistance(net, resolved=bank.resolve(f"lpips-{net}"))
    return build


FEATURE_NETS: dict[str, FeatureNetEntry] = {
    "domain": FeatureNetEntry(("conv1", "conv2", "fc"), ("conv1", "conv2", "fc"),
                              "the dataset's domain classifier (trained once, cached; as fd-domain)", _domain_layers),
    "inception": FeatureNetEntry(("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"), ("Mixed_5d", "Mixed_6e"),
                                 "FID's Inception-v3 blocks, uncalibrated (needs 299x299 resizes: slow on a CPU)",
                                 _inception_layers),
    "lpips-alex": FeatureNetEntry((), (), "LPIPS v0.1 AlexNet, calibrated (needs torchvision's ImageNet weights)", _lpips("alex")),
    "lpips-vgg": FeatureNetEntry((), (), "LPIPS v0.1 VGG16, calibrated (needs torchvision's ImageNet weights)", _lpips("vgg")),
    "lpips-squeeze": FeatureNetEntry((), (), "LPIPS v0.1 SqueezeNet 1.1, calibrated (needs torchvision's ImageNet weights)",
                                     _lpips("squeeze")),
}


class FrozenFeatures(nn.Module):
    """Selected layers' activations of a frozen network; a parent's .train() does not reach it."""

    def __init__(self, name: str, layers: tuple[str, ...]):
        super().__init__()
        self.name, self.layers = name, tuple(layers)

    def train(self, mode: bool = True) -> "FrozenFeatures":
        return super().train(False)

    def freeze(self) -> "FrozenFeatures":
        self.requires_grad_(False)
        return self.train(False)


class DomainLayers(FrozenFeatures):
    _AFTER = {"conv1": 1, "conv2": 4, "fc": 9}  # index of the ReLU after each layer in DomainNet.body

    def __init__(self, model, layers):
        super().__init__("domain", layers)
        self.body = model.body
        self.freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, wanted = [], {self._AFTER[name] for name in self.layers}
        for i, module in enumerate(self.body):
            x = module(x)
            if i in wanted:
                out.append(x if x.dim() == 4 else x[:, :, None, None])
            if len(out) == len(wanted):
                break
        return out


class InceptionLayers(FrozenFeatures):
    _ORDER = INCEPTION_BLOCKS

    def __init__(self, model, layers):
        super().__init__("inception", layers)
        self.model = model
        self.freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # the FID pipeline without its uint8 rounding (which has no gradient): [0, 1] -> [0, 255]
        x = interpolate_bilinear_2d_like_tensorflow1x(x * 255, size=(299, 299), align_corners=False)
        x = (x - 128) / 128
        out, last = [], max(self._ORDER.index(name) for name in self.layers)
        for _i, name in enumerate(self._ORDER[: last + 1]):
            x = getattr(self.model, name)(x)
            if name in self.layers:
                out.append(x)
        return out
