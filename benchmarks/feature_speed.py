"""Feature-network speed on this machine, and what the real-statistics cache saves.

    LOSSBENCH_DATA=../shared/data python benchmarks/feature_speed.py

1. Images/second of Inception pool3 features (28×28 digits, TF1 resize to 299) and of the
   domain classifier's features.
2. fd-domain between two sets of 10,000 MNIST digits (the official test split against itself
   shifted by one pixel): total seconds.
3. Setting up fid for a study twice on the same data: the first computes the real test
   set's Inception features, the second reads them from the cache.
"""

from __future__ import annotations

import os
import tempfile
import time

import torch

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.score.evaluate import EvalContext
from lossbench.metrics.domain import DomainFeatures
from lossbench.metrics.frechet import fd_from_features
from lossbench.metrics.inception import InceptionFeatures
from lossbench.nets.weights import resolve


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def plain_inception(inception):
    """The same network the straightforward way: contiguous memory, no_grad, batches of 50."""
    from lossbench.metrics.inception import to_rgb, to_uint8
    from lossbench.nets.weights import load_inception

    model = load_inception(inception.resolved)

    @torch.no_grad()
    def features(x):
        return torch.cat([model(to_uint8(to_rgb(x[i : i + 50])))[0].double() for i in range(0, len(x), 50)])
    return features


def main() -> None:
    root = os.environ.get("LOSSBENCH_DATA")
    mnist5k = load_dataset(DataSpec(name="mnist-5k"))
    with tempfile.TemporaryDirectory() as cache:
        inception = InceptionFeatures(resolve("inception-fid", cache=cache))  # converts once (not timed)
        plain = plain_inception(inception)
        x = mnist5k.test_x[:100]
        inception(x[:10]), plain(x[:50])  # warm-up
        rates = {"plain (contiguous, no_grad, batch 50)": [], "lossbench (channels-last, inference mode, batch 5)": []}
        for _ in range(3):  # alternating, best of 3
            rates["plain (contiguous, no_grad, batch 50)"].append(len(x) / timed(lambda: plain(x))[1])
            rates["lossbench (channels-last, inference mode, batch 5)"].append(len(x) / timed(lambda: inception(x))[1])
        for name, values in rates.items():
            print(f"Inception pool3 features, {name}: {max(values):,.1f} images/s (28x28 -> 299x299, "
                  f"{torch.get_num_threads()} threads)")
        print(f"  largest difference of the features: {float((inception(x[:20]) - plain(x[:20])).abs().max()):.1e}")

        domain = DomainFeatures(mnist5k, cache=cache)  # trains once (timed separately)
        print(f"domain classifier: trained in {domain.card['train_seconds']} s, held-out accuracy {domain.card['held_out_accuracy']:.4f}")
        big = (load_dataset(DataSpec(name="mnist", root=root, test_fraction=0.5)) if root else None)
        ten_k = torch.cat([big.train_x, big.test_x]) if big else torch.cat([mnist5k.train_x, mnist5k.test_x] * 2)
        _, dt = timed(lambda: domain(ten_k))
        print(f"domain features: {len(ten_k) / dt:,.0f} images/s")
        shifted = torch.roll(ten_k, 1, dims=3)
        value, dt = timed(lambda: fd_from_features(domain(ten_k), domain(shifted)))
        print(f"fd-domain, {len(ten_k):,} vs {len(shifted):,} images: {dt:.2f} s (value {value:.2f})")

        n = 200
        _, first = timed(lambda: EvalContext(mnist5k, ["fid"], "cpu", cache=cache, distribution_n=n))
        _, second = timed(lambda: EvalContext(mnist5k, ["fid"], "cpu", cache=cache, distribution_n=n))
        print(f"fid set-up with N = {n} real images: first study {first:.1f} s (computes real features), "
              f"second study {second:.2f} s (reads the cache)")


if __name__ == "__main__":
    main()
