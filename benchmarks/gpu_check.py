"""On a CUDA machine: one epoch of each registered model with bf16 autocast, images/second,
next to the same epoch in float32; then a tiny study end to end with --device cuda.

    python benchmarks/gpu_check.py     (or: bash benchmarks/gpu_check.sh)

The data are 10,000 synthetic 28×28 images (no file needed; the cost of an epoch depends on
the shape, not on the pixels).
"""

from __future__ import annotations

import time

import torch

from lossbench.data import DeviceBatches, load_dataset
from lossbench.data.registry import DataSpec
from lossbench.losses import build_loss
from lossbench.models import MODELS, build_model
from lossbench.train import train_epoch


def epoch_rate(name: str, x: torch.Tensor, batch: int, amp: bool) -> float:
    torch.manual_seed(0)
    model = build_model(name, tuple(x.shape[1:]), {}).cuda()
    terms = [{"term": "bce", "label": "bce"}] + ([{"term": "kl", "label": "kl"}] if MODELS[name].variational else [])
    loss = build_loss(terms)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = DeviceBatches(x, batch, "cuda")
    gen = torch.Generator().manual_seed(0)
    train_epoch(model, loss, optimizer, batches, gen, 0, amp)  # warm-up (kernels, allocator)
    torch.cuda.synchronize()
    t = time.perf_counter()
    table = train_epoch(model, loss, optimizer, batches, gen, 0, amp)
    torch.cuda.synchronize()
    assert torch.isfinite(table).all(), f"{name}: non-finite loss on CUDA (amp={amp})"
    return len(x) / (time.perf_counter() - t)


def main() -> None:
    assert torch.cuda.is_available(), "no CUDA device"
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    x = load_dataset(DataSpec(name="synthetic", n=12_500, size=28, test_fraction=0.2)).train_x
    print(f"{len(x)} images 1x28x28 per epoch")
    print(f"{'model':<9} {'batch':>5} {'bf16 img/s':>12} {'fp32 img/s':>12}")
    for batch in (128, 1024):
        for name in MODELS:
            print(f"{name:<9} {batch:>5} {epoch_rate(name, x, batch, True):>12,.0f} {epoch_rate(name, x, batch, False):>12,.0f}")


if __name__ == "__main__":
    main()
