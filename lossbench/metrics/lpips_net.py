"""LPIPS v0.1 (Zhang et al. 2018) through the ``lpips`` package, with lossbench's conventions at
its edge: images in [0, 1] mapped to [-1, 1], grey repeated to RGB, and images smaller than the
backbone's minimum upsampled (bilinear) to 32 px, a resize recorded with every number.

The calibrated linear heads ship inside the ``lpips`` wheel; the ImageNet backbones come
from torchvision's files, found through ``lossbench.nets.weights`` (never downloaded silently).
``random_backbone=True`` builds the network with an untrained backbone: for testing the
plumbing only, meaningless as a metric.

All-zero features (black MNIST backgrounds) are safe as the package computes them: the value
divides by norm + 1e-10, and the NaN that sqrt's backward makes at a zero norm is masked by
the ReLU before it reaches the input (tested).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from lossbench.nets.weights import Resolved, resolve

# The smallest side each backbone's five LPIPS layers accept (AlexNet's stride-4 stem and
# pools need 31; SqueezeNet 1.1 fails at 16 and works at 28; VGG16 works at 16).
MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 28}
UPSAMPLE_TO = 32


class LPIPSDistance(nn.Module):
    """Frozen LPIPS: always in eval mode, no parameter requires grad. Call with N×C×H×W in [0, 1]."""

    def __init__(self, net: str = "alex", resolved: Resolved | None = None, random_backbone: bool = False):
        super().__init__()
        import lpips

        if net not in MIN_SIDE:
            raise ValueError(f"lpips net must be one of {sorted(MIN_SIDE)} (got {net!r})")
        self.net_name = net
        self.resolved = None if random_backbone else (resolved or resolve(f"lpips-{net}"))
        self.random_backbone = random_backbone
        with warnings.catch_warnings():  # lpips builds torchvision's net with the deprecated pretrained=False
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        if self.resolved is not None:
            _load_backbone(model.net, torch.load(self.resolved.path, map_location="cpu", weights_only=True))
        self.model = model.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "LPIPSDistance":
        return super().train(False)  # a frozen metric: a parent's .train() must not reach it

    def resize_note(self, side: int) -> str | None:
        if side < MIN_SIDE[self.net_name]:
            return f"bilinear upsample {side}->{UPSAMPLE_TO} px before LPIPS-{self.net_name} (minimum {MIN_SIDE[self.net_name]} px)"
        return None

    @property
    def provenance(self) -> dict:
        resolved = self.resolved
        return {"network": f"LPIPS v0.1 {self.net_name} (lpips package, calibrated heads)",
                "weights": "RANDOM backbone (plumbing test only)" if resolved is None else resolved.source,
                "weights_sha256": None if resolved is None else resolved.sha256,
                "input": "[0, 1] -> [-1, 1], grey repeated to RGB"}

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = _prepare(x, self.net_name), _prepare(y, self.net_name)
        return self.model(x, y, normalize=False).flatten()


def _prepare(x: torch.Tensor, net: str) -> torch.Tensor:
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if min(x.shape[-2:]) < MIN_SIDE[net]:
        x = F.interpolate(x, size=(UPSAMPLE_TO, UPSAMPLE_TO), mode="bilinear", align_corners=False)
    return x * 2 - 1


def _load_backbone(lpips_net: nn.Module, torchvision_state: dict) -> None:
    """lpips keeps torchvision's layer indices as module names inside its slices
    ('slice2.3.weight' is torchvision's 'features.3.weight'); map them back."""
    state = {}
    for key in lpips_net.state_dict():
        _, index, param = key.split(".", 2)
        state[key] = torchvision_state[f"features.{index}.{param}"]
    lpips_net.load_state_dict(state)


class LPIPSScorer:
    """LPIPS (AlexNet) as a paired scorer: batches of 100 on the bank's device, float64 on the CPU."""

    def __init__(self, bank, side: int):
        from importlib.metadata import PackageNotFoundError, version

        self.net = LPIPSDistance("alex", resolved=bank.resolve("lpips-alex")).to(bank.device)
        self.device = bank.device
        try:
            release = version("lpips")
        except PackageNotFoundError:
            release = "unknown"
        self.provenance = self.net.provenance | {"resize": self.net.resize_note(side) or "none",
                                                 "implementation": f"lpips {release}"}

    @torch.no_grad()
    def __call__(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(recon[i : i + 100].to(self.device), target[i : i + 100].to(self.device)).double().cpu()
                          for i in range(0, len(recon), 100)])
