"""Issue 12 §4, a probe before the feature: K seeds of one ae-mlp trained as one vectorised model
(torch.func.stack_module_state + functional_call + vmap; each seed its own initialisation, its
own batch order and its own Adam moments) against the same K seeds trained one after another.

    python benchmarks/vectorised_seeds.py [--seeds 5] [--epochs 2]

Prints the epoch time of both, and how far the vectorised weights are from the separate ones
after the given epochs (float round-off of batched matrix products; not bit-identical).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.models import build_model

BATCH = 128


def seeded_models(k: int, shape):
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(build_model("ae-mlp", shape, {"hidden": [512, 256], "latent_dim": 3}))
    return models


def l2(x_hat, x):
    return (x_hat - x).square().flatten(1).sum(1).mean()


def separate_epoch(models, optimizers, x, generators):
    for model, optimizer, gen in zip(models, optimizers, generators):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), BATCH):
            batch = x.index_select(0, order[start : start + BATCH])
            loss = l2(model(batch)["x_hat"], batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def vectorised_epoch(base, params, buffers, optimizer, x, generators):
    orders = torch.stack([torch.randperm(len(x), generator=g) for g in generators])  # K x N: each seed's own order

    def one(p, b, batch):
        return l2(functional_call(base, (p, b), (batch,))["x_hat"], batch)

    loss_fn = vmap(one)
    for start in range(0, len(x), BATCH):
        batches = x[orders[:, start : start + BATCH]]  # K x B x C x H x W
        losses = loss_fn(params, buffers, batches)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # seeds share no parameter: each gets the gradient of its own loss
        optimizer.step()  # Adam is elementwise: one fused update over the stacked tensors = K independent ones


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    x = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0)).train_x
    shape = tuple(x.shape[1:])
    k = args.seeds

    models = seeded_models(k, shape)
    optimizers = [torch.optim.Adam(m.parameters(), lr=2e-3, fused=True) for m in models]
    params, buffers = stack_module_state(seeded_models(k, shape))
    params = {name: p.detach().requires_grad_() for name, p in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    stacked_opt = torch.optim.Adam(params.values(), lr=2e-3, fused=True)
    gens_a = [torch.Generator().manual_seed(s) for s in range(k)]
    gens_b = [torch.Generator().manual_seed(s) for s in range(k)]

    times = {"separate": [], "vectorised": []}
    for _ in range(args.epochs):
        t = time.perf_counter()
        separate_epoch(models, optimizers, x, gens_a)
        times["separate"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vectorised_epoch(base, params, buffers, stacked_opt, x, gens_b)
        times["vectorised"].append(time.perf_counter() - t)
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<10} {k} seeds, one epoch of {len(x)} images each: {med:.3f} s ({k * len(x) / med:,.0f} images/s)")
    print(f"speed-up: {statistics.median(times['separate']) / statistics.median(times['vectorised']):.2f}x")
    with torch.no_grad():
        diff = max(float((params[n][i] - p).abs().max()) for i, m in enumerate(models) for n, p in m.named_parameters())
        scale = max(float(p.abs().max()) for m in models for p in m.parameters())
    print(f"largest weight difference after {args.epochs} epochs: {diff:.2e} (largest weight {scale:.2f})")


if __name__ == "__main__":
    main()
