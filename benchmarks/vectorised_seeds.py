"""Issue 12 §4: K seeds of one model trained side by side as one stacked model
(lossbench.train.vectorised.StackedSeeds, what ``training.vectorize_seeds: true`` runs) against the
same K seeds trained one after another with lossbench's own epoch (lossbench.train.train_epoch).

    python benchmarks/vectorised_seeds.py                              # CPU: K = 5, ae-mlp 512-256-3
    python benchmarks/vectorised_seeds.py --device cuda --seeds 1,8,32 --models ae-mlp,ae-conv \\
        --data synthetic --default-sizes                               # a GPU

Each seed is built under its own seed, draws its own batch order and has its own Adam moments
(fused Adam); the loss is l2, batch 128. Prints the images per second summed over seeds (median
epoch of --epochs after one warm-up epoch) and, with --separate, the same K seeds trained one by
one, and the largest relative difference between the two's per-step losses over the first epoch
(float round-off of batched products; tests/test_vectorised.py holds whole runs to 1e-4).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lossbench.data import DeviceBatches, load_dataset
from lossbench.data.registry import DataSpec
from lossbench.losses import build_loss
from lossbench.models import build_model
from lossbench.train import make_optimizer, seed_everything, train_epoch
from lossbench.train.vectorised import StackedSeeds

BATCH = 128
SIZES = {"ae-mlp": {"hidden": [512, 256], "latent_dim": 3}, "ae-conv": {"channels": [16, 32], "latent_dim": 16}}


def seeded_models(name: str, k: int, x: torch.Tensor, params: dict, device) -> list[torch.nn.Module]:
    models = []
    for seed in range(k):
        seed_everything(seed)  # as RunTraining builds a run's model
        models.append(build_model(name, tuple(x.shape[1:]), params, channel_means=x.mean((0, 2, 3))).to(device))
    return models


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def stacked_rate(name, k, x, params, device, epochs) -> tuple[float, torch.Tensor]:
    loss = build_loss([{"term": "l2", "label": "l2", "weight": 1.0}])
    batches = DeviceBatches(x, BATCH, device)
    stack = StackedSeeds(seeded_models(name, k, x, params, device), loss,
                         [torch.Generator().manual_seed(s) for s in range(k)], "adam", 2e-3, "fast", device)
    first = stack.epoch(batches, 0)  # warm-up: kernels, allocator
    times = []
    for e in range(epochs):
        sync(device)
        t = time.perf_counter()
        stack.epoch(batches, (e + 1) * len(batches))
        times.append(time.perf_counter() - t)
    return k * len(x) / statistics.median(times), first


def separate_rate(name, k, x, params, device, epochs) -> tuple[float, torch.Tensor]:
    loss = build_loss([{"term": "l2", "label": "l2", "weight": 1.0}])
    batches = DeviceBatches(x, BATCH, device)
    models = seeded_models(name, k, x, params, device)
    optimizers = [make_optimizer("adam", m.parameters(), 2e-3, "fast", device) for m in models]
    gens = [torch.Generator().manual_seed(s) for s in range(k)]
    first = torch.stack([train_epoch(m, loss, o, batches, g, 0, False) for m, o, g in zip(models, optimizers, gens)], 1)
    times = []
    for e in range(epochs):
        sync(device)
        t = time.perf_counter()
        for m, o, g in zip(models, optimizers, gens):
            train_epoch(m, loss, o, batches, g, (e + 1) * len(batches), False)
        sync(device)
        times.append(time.perf_counter() - t)
    return k * len(x) / statistics.median(times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="5", help="K values, comma-separated")
    parser.add_argument("--models", default="ae-mlp")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default="mnist-5k", help="mnist-5k (4,000 training digits) or synthetic (10,000 28x28)")
    parser.add_argument("--default-sizes", action="store_true", help="the models' default sizes (as gpu_check.py)")
    parser.add_argument("--separate", action="store_true", help="also train the K seeds one by one")
    parser.add_argument("--separate-max", type=int, default=8, help="... for K up to this only")
    args = parser.parse_args()
    device = torch.device(args.device)
    spec = DataSpec(name="synthetic", n=12_500, size=28) if args.data == "synthetic" else DataSpec(name=args.data)
    x = load_dataset(spec).train_x
    info = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{info}, torch {torch.__version__}; {len(x)} images {tuple(x.shape[1:])} per seed and epoch, batch {BATCH}")
    for name in args.models.split(","):
        params = {} if args.default_sizes else SIZES[name]
        for k in map(int, args.seeds.split(",")):
            rate, first = stacked_rate(name, k, x, params, device, args.epochs)
            line = f"{name:<8} K={k:<3} side by side: {rate:>12,.0f} images/s"
            if args.separate and k <= args.separate_max:
                alone, first_alone = separate_rate(name, k, x, params, device, args.epochs)
                diff = float(((first[..., -1] - first_alone[..., -1]).abs() / first_alone[..., -1].abs()).max())
                line += f" | one by one: {alone:>10,.0f} images/s | ratio {rate / alone:.2f}x | first epoch's losses within {diff:.1e}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
