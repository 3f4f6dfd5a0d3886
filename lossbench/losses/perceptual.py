"""The perceptual term: the distance between input and reconstruction in a frozen feature
network's space (Johnson et al. 2016; Zhang et al. 2018 for the calibrated LPIPS).

``lpips-*`` networks give LPIPS itself, ``dists`` DISTS (calibrated distances that take both
images: FeatureNetEntry.distance). ``domain`` and ``inception`` give the uncalibrated
form: for each chosen layer, channel vectors unit-normalised, squared differences summed over
channels and averaged over positions; then averaged over layers. A per-image mean.
"""

from __future__ import annotations

import logging
import weakref

import torch

from lossbench.losses.base import IndexedTerm
from lossbench.losses.specs import PerceptualSpec
from lossbench.metrics.features import FEATURE_NETS


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    # eps² inside the root: a zero feature vector (black background) keeps a finite gradient
    return f / torch.sqrt(f.square().sum(1, keepdim=True) + eps**2)


def _layer_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Per image, ``(_unit(a) - b)²`` summed over channels and averaged over positions (``b``: unit target features)."""
    return (_unit(a, eps) - b).square().sum(1).flatten(1).mean(1)


def _distance(feats: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Per image, the mean over layers of :func:`_layer_distance`."""
    return torch.stack([_layer_distance(a, b) for a, b in zip(feats, targets)]).mean(0)


#: a frozen feature network -> its compiled forward-and-distance, or None where torch.compile failed here
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def network_distance(network: torch.nn.Module, x_hat: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
    """``_distance(network(x_hat), targets)``: for a network that says it ``compiles`` (the domain classifier's
    layers), compiled by torch.compile into one graph, the frozen network and the distance together, where it
    works (inductor and a C++ compiler); else eager. Eager, the distance's arithmetic (a normalised copy, the
    difference, its square, the reductions) cost 1.6× the classifier's own forward and backward (issue 40 §4);
    compiled with the network, the whole step is 1.09× an L2 step plus that forward and backward
    (``benchmarks/perceptual_floor.py``). One compilation per network and process (seconds; inductor caches it on
    disk), the batch size symbolic so that every batch shares it; values equal the eager ones to float round-off
    (tested to 1e-6). Training steps only: without a gradient the eager form runs."""
    if not getattr(network, "compiles", False) or not torch.is_grad_enabled():
        # eager without a gradient (validation, the paradox's measurements): it costs little there, and the eager
        # arithmetic is exactly 0 at x_hat = x, where fused kernels leave round-off of ~1e-14
        return _distance(network(x_hat), targets)
    if network not in _COMPILED:
        def forward(x, t):
            return _distance(network(x), t)

        try:
            # a compiled backward that frees its inputs' buffers refuses retain_graph, which the loss-balance
            # diagnostics use to take each term's gradient; the backward is compiled lazily, at its first call, so
            # the setting stays for the process (it costs a compiled backward some memory reuse, nothing else)
            torch._functorch.config.donated_buffer = False
            # on a CPU-only machine with CUDA_HOME set, inductor's C++ build warns 'No CUDA runtime is found' once
            # per process: true and irrelevant here (it compiles for the CPU), so not shown to the user
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
            compiled = torch.compile(forward)
            _mark_batch(x_hat, *targets)
            compiled(x_hat, targets)  # compile now: a failure falls back here, not mid-epoch
            _COMPILED[network] = compiled
        except Exception:  # no compiler, an unsupported device or platform: the same arithmetic, eager
            _COMPILED[network] = None
    fn = _COMPILED[network]
    if fn is None:
        return _distance(network(x_hat), targets)
    _mark_batch(x_hat, *targets)
    return fn(x_hat, targets)


def _mark_batch(*tensors: torch.Tensor) -> None:
    for t in tensors:
        torch._dynamo.maybe_mark_dynamic(t, 0)


#: the largest target-feature cache a run keeps (bytes); beyond it targets are computed per batch
TARGET_CACHE_BYTES = 2 * 1024**3


class Perceptual(IndexedTerm):
    """With :meth:`prepare`, the target side (the frozen network's unit-normalised features of the
    training images, which never change) is computed once per run instead of on every batch;
    a batch then names its images by ``index``. Values equal the per-batch computation to float
    round-off (tested to 1e-6)."""

    spec: PerceptualSpec

    @property
    def network(self) -> torch.nn.Module:
        return self._network[0]

    @classmethod
    def from_spec(cls, spec, networks=None) -> Perceptual:
        if networks is None:
            raise ValueError("a perceptual term needs a feature-network provider")
        return cls(spec, networks(spec.network, spec.layers))

    def __init__(self, spec: PerceptualSpec, network: torch.nn.Module):
        super().__init__(spec)
        self._network = (network,)  # shared and frozen: read, not part of the term's state
        self.targets: dict[str, list[torch.Tensor]] = {}  # split -> per layer, every image's unit features

    @torch.no_grad()
    def prepare(self, images: dict[str, torch.Tensor], batch_size: int = 500) -> None:
        """Cache the targets of every image of each split (``{"train": x, "val": x}``); not for
        LPIPS, whose network takes both images at once, nor beyond TARGET_CACHE_BYTES in all."""
        images = {split: x for split, x in images.items() if x is not None and len(x)}
        if FEATURE_NETS[self.spec.network].distance or not images:
            return
        per_image = sum(f.shape[1:].numel() for f in self.network(next(iter(images.values()))[:1].float()))
        if per_image * 4 * sum(len(x) for x in images.values()) > TARGET_CACHE_BYTES:
            return
        for split, x in images.items():
            parts = [[_unit(f) for f in self.network(x[i : i + batch_size].float())] for i in range(0, len(x), batch_size)]
            self.targets[split] = [torch.cat(layer) for layer in zip(*parts)]

    def check_images(self, x: torch.Tensor) -> None:
        """As every term (images in [0, 1]), and a channel count the network reads: the domain classifier takes
        the channels it was trained on; LPIPS, DISTS and Inception convert grey to RGB themselves (documented)."""
        super().check_images(x)
        first = next((m for m in self.network.modules() if isinstance(m, torch.nn.Conv2d)), None)
        if FEATURE_NETS[self.spec.network].converts_grey or first is None or first.in_channels == x.shape[1]:
            return
        from lossbench.core.errors import LossbenchError

        raise LossbenchError(f"loss term {self.spec.label or self.spec.term}: network {self.spec.network} reads "
                             f"{first.in_channels}-channel images, these have {x.shape[1]}; use a network for these images")

    def values(self, out, x, index: torch.Tensor | None = None, split: str = "train"):
        """``index``: the images' positions in ``split``, to read cached targets."""
        x_hat = out["x_hat"].float()
        if FEATURE_NETS[self.spec.network].distance:
            return self.network(x_hat, x.float())
        if index is not None and split in self.targets:
            targets = [t.index_select(0, index) for t in self.targets[split]]
        else:
            with torch.no_grad():
                targets = [_unit(t) for t in self.network(x.float())]
        return network_distance(self.network, x_hat, targets)
