"""The frozen feature networks of :data:`lossbench.metrics.features.FEATURE_NETS` as torch
modules: selected layers' activations of the domain classifier and of FID's Inception, and the
builders the registry names."""

from __future__ import annotations

import torch
from torch import nn

from lossbench.nets.weights import INCEPTION_BLOCKS


def domain_layers(bank, layers):
    return DomainLayers(bank.extractor("domain").model, layers)


def inception_layers(bank, layers):
    return InceptionLayers(bank.extractor("inception").model, layers)


def _lpips(net: str, bank):
    from lossbench.metrics.lpips_net import LPIPSDistance

    return LPIPSDistance(net, resolved=bank.resolve(f"lpips-{net}"))


def lpips_alex(bank, layers):
    return _lpips("alex", bank)


def lpips_vgg(bank, layers):
    return _lpips("vgg", bank)


def lpips_squeeze(bank, layers):
    return _lpips("squeeze", bank)


def dists(bank, layers):
    from lossbench.metrics.dists import DISTSDistance

    return DISTSDistance(bank.resolve("lpips-vgg"))


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


def named_layers(body: nn.Sequential) -> dict[str, int]:
    """Each learned layer of a classifier's body by name (``conv1``, ``conv2``, ... for its convolutions in
    order, ``fc`` for a single linear layer, ``fc1``, ``fc2``, ... for several) -> the index in ``body`` whose
    output is that layer's activation: the ReLU right after it, else the layer itself. Read off the
    network's own modules: a hand-written table of indices once pointed ``fc`` past the body's end, and
    the domain term silently never read it."""
    convs = [i for i, m in enumerate(body) if isinstance(m, nn.Conv2d)]
    linears = [i for i, m in enumerate(body) if isinstance(m, nn.Linear)]
    names = {f"conv{k + 1}": i for k, i in enumerate(convs)}
    names |= {("fc" if len(linears) == 1 else f"fc{k + 1}"): i for k, i in enumerate(linears)}
    return {name: i + 1 if i + 1 < len(body) and isinstance(body[i + 1], nn.ReLU) else i for name, i in names.items()}


class DomainLayers(FrozenFeatures):
    """The domain classifier's activations after the layers ``layers`` names (:func:`named_layers`), in the
    order of the network; a name the network does not have is refused, never skipped. Small enough that the
    perceptual term compiles it together with its distance (lossbench.losses.perceptual.network_distance)."""

    compiles = True

    def __init__(self, model, layers):
        super().__init__("domain", layers)
        self.body = model.body
        found = named_layers(self.body)
        missing = [name for name in self.layers if name not in found]
        if missing:
            from lossbench.core.errors import LossbenchError

            raise LossbenchError(f"perceptual: network domain has no layer {', '.join(missing)} (its layers: "
                                 f"{', '.join(found)})")
        self.indices = sorted(found[name] for name in self.layers)
        self.freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, wanted = [], set(self.indices)
        for i, module in enumerate(self.body[: self.indices[-1] + 1]):
            x = module(x)
            if i in wanted:
                out.append(x if x.dim() == 4 else x[:, :, None, None])
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
