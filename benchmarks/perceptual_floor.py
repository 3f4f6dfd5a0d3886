"""The domain perceptual term's training step against its floor (issue 40 §4), side by side in one process.

The floor: an L2 step of the main study's conv AE (16-32 channels, batch 128, mnist-5k) plus the domain
classifier's own forward and backward on the reconstructions; whatever the term's step costs beyond that is
its distance arithmetic and bookkeeping. Four steps are timed, rounds alternating between them, the first
round a warm-up, the median of the rest:

- ``l2``: the L2 step alone;
- ``floor``: the L2 step plus the classifier's forward and backward (conv1, conv2, fc read, summed);
- ``domain, eager``: the term as it computes in lossbench 0.4 (unit-normalise, difference, square, mean);
- ``domain, compiled``: the term as it computes now (the network and the same arithmetic, compiled together by
  torch.compile).

    python benchmarks/perceptual_floor.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.losses.perceptual import _unit, network_distance
from lossbench.metrics.domain import DomainFeatures
from lossbench.metrics.feature_layers import DomainLayers
from lossbench.models import build_model


def eager_distance(feats, targets):
    """lossbench 0.4's arithmetic: a unit-normalised copy, the difference, its square, the means."""
    return torch.stack([(_unit(a) - b).square().sum(1).flatten(1).mean(1) for a, b in zip(feats, targets)]).mean(0)





def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_dataset(DataSpec(name="mnist-5k"))
    x = data.train_x[:128]
    network = DomainLayers(DomainFeatures(data).model, ["conv1", "conv2", "fc"])
    with torch.no_grad():
        targets = [_unit(t) for t in network(x)]
    model = build_model("ae-conv", (1, 28, 28), {"channels": [16, 32]})
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    def step(extra):
        out = model(x)
        loss = (out["x_hat"] - x).square().flatten(1).sum(1).mean()
        if extra is not None:
            loss = loss + 100 * extra(out["x_hat"]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    steps = {
        "l2": lambda: step(None),
        "floor": lambda: step(lambda xh: sum(f.sum((1, 2, 3)) for f in network(xh)) * 0),
        "domain, eager": lambda: step(lambda xh: eager_distance(network(xh), targets)),
        "domain, compiled": lambda: step(lambda xh: network_distance(network, xh, targets)),
    }
    # with a gradient, as in training: without one network_distance runs eager, and this would compare eager to eager
    probe = model(x)["x_hat"].detach().requires_grad_(True)
    started = time.perf_counter()
    compiled = network_distance(network, probe, targets)
    compile_seconds = time.perf_counter() - started
    difference = float((eager_distance(network(probe), targets) - compiled).detach().abs().max())
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeats + 1):
        for name, fn in steps.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    median = {k: statistics.median(v[1:]) * 1000 for k, v in times.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    from lossbench.losses.perceptual import _COMPILED

    print(f"compiled: {all(f is not None for f in _COMPILED.values())} (first call, compilation included: {compile_seconds:.1f} s); against "
          f"eager, largest difference of the distance per image: {difference:.1e}")
    print("| step | ms | ÷ l2 | ÷ floor |\n|---|---|---|---|")
    for name, ms in median.items():
        print(f"| {name} | {ms:.1f} | {ms / median['l2']:.2f} | {ms / median['floor']:.2f} |")


if __name__ == "__main__":
    main()
