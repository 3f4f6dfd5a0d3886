"""The ssim and ms-ssim loss terms against the torchmetrics map they replaced (issue 32 §6).

Side by side in one process, at one CPU thread (training.threads' default), rounds alternating,
the first discarded, median of --repeats:

- one loss step: forward and backward of 1 - SSIM on a batch of 128 real 28×28 digits
  (mnist-5k) against noisy copies, through torchmetrics (lossbench.metrics.structural.ssim,
  what the term used before) and through the separable passes (lossbench.losses.separable_ssim);
- the same for MS-SSIM on 16 images of 192×192 (five scales);
- one training epoch of the conv AE (channels [16, 32], 2-d code) over mnist-5k's 4,000
  training digits, batch 128, with the l2 term, and with ssim each way: what a study pays.

    python benchmarks/ssim_loss.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _step(fn, y, x) -> None:
    leaf = y.clone().requires_grad_(True)
    (1 - fn(leaf, x)).sum().backward()


def _epoch(loss, data, model, optimizer) -> None:
    for i in range(0, len(data), 128):
        x = data[i : i + 128]
        out = model(x)
        optimizer.zero_grad(set_to_none=True)
        loss(out["x_hat"], x).backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec
    from lossbench.losses import separable_ssim
    from lossbench.metrics import structural
    from lossbench.models import build_model

    data = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0))
    g = torch.Generator().manual_seed(0)
    x = data.test_x[:128]
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    big = torch.rand(16, 1, 192, 192, generator=g)
    big_y = (big + 0.1 * torch.randn(big.shape, generator=g)).clamp(0, 1)
    model = build_model("ae-conv", (1, 28, 28), {"channels": [16, 32], "latent_dim": 2, "output": "linear"})
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    cases = {
        "ssim step, torchmetrics": lambda: _step(structural.ssim, y, x),
        "ssim step, separable": lambda: _step(separable_ssim.ssim, y, x),
        "ms-ssim step (16×192²), torchmetrics": lambda: _step(structural.ms_ssim, big_y, big),
        "ms-ssim step (16×192²), separable": lambda: _step(separable_ssim.ms_ssim, big_y, big),
        "epoch, l2": lambda: _epoch(lambda a, b: (a - b).pow(2).flatten(1).sum(1).mean(), data.train_x, model, optimizer),
        "epoch, ssim via torchmetrics": lambda: _epoch(lambda a, b: (1 - structural.ssim(a, b)).float().mean(),
                                                      data.train_x, model, optimizer),
        "epoch, ssim separable": lambda: _epoch(lambda a, b: (1 - separable_ssim.ssim(a, b)).mean(), data.train_x, model,
                                                optimizer),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for round_ in range(args.repeats + 1):
        for name, fn in cases.items():
            started = time.perf_counter()
            fn()
            if round_:
                times[name].append(time.perf_counter() - started)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeats}")
    print("| case | s | ratio |")
    print("|---|---|---|")
    for name, seconds in median.items():
        if "separable" in name:
            base = median[name.replace("separable", "torchmetrics").replace("ssim torchmetrics", "ssim via torchmetrics")]
            ratio = f"{base / seconds:.1f}× faster"
        elif name.startswith("epoch, ssim"):
            ratio = f"{seconds / median['epoch, l2']:.1f}× l2's epoch"
        else:
            ratio = ""
        print(f"| {name} | {seconds:.4f} | {ratio} |")
    print(f"| epoch, ssim separable against l2 | | {median['epoch, ssim separable'] / median['epoch, l2']:.2f}× l2's epoch |")


if __name__ == "__main__":
    main()
