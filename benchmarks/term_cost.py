"""What a training step costs per loss term, against an L2 step, side by side in one process (issue 40 §3): the
main study's conv AE (16-32 channels) on mnist-5k, batch 128, one thread, the term added to L2 at weight 1.
Rounds alternate between the terms, the first round a warm-up; the median of the rest. The candidates that stay
metrics are timed the same way, as ``1 − similarity`` through piq, to show why (``lossbench list --verbose``
prints the ratios, from this table).

    python benchmarks/term_cost.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.losses import build_loss
from lossbench.models import build_model


def _reader(term, x):
    return lambda x_hat: term.values({"x_hat": x_hat}, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    import piq

    torch.manual_seed(0)
    x = load_dataset(DataSpec(name="mnist-5k")).train_x[:128]
    model = build_model("ae-conv", (1, 28, 28), {"channels": [16, 32]})
    terms = {name: build_loss([{"term": name, "label": name}]).terms[name]
             for name in ("l1", "ssim", "mix", "focal-frequency", "gmsd")}
    extra = {name: _reader(term, x) for name, term in terms.items()}
    extra |= {"haarpsi (metric)": lambda xh: 1 - piq.haarpsi(xh.clamp(0, 1), x, reduction="none"),
              "mdsi (metric)": lambda xh: piq.mdsi(xh.clamp(0, 1).expand(-1, 3, -1, -1), x.expand(-1, 3, -1, -1), reduction="none"),
              "fsim (metric)": lambda xh: 1 - piq.fsim(xh.clamp(0, 1), x, reduction="none", chromatic=False)}

    steps = {"l2": None, **extra}
    # each step its own copy of the model and optimizer: a measure whose gradient is NaN (FSIM's) spoils only its own
    import copy

    trained = {name: copy.deepcopy(model) for name in steps}
    optimizers = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, m in trained.items()}

    def step(name):
        term = steps[name]
        out = trained[name](x)
        loss = (out["x_hat"] - x).square().flatten(1).sum(1).mean()
        if term is not None:
            loss = loss + term(out["x_hat"].clamp(0, 1) if "metric" in name else out["x_hat"]).mean()
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()

    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeats + 1):
        for name in steps:
            started = time.perf_counter()
            try:
                step(name)
            except AssertionError:  # piq refuses the NaN images its own gradient made: time the step it took anyway
                pass
            times[name].append(time.perf_counter() - started)
    median = {k: statistics.median(v[1:]) * 1000 for k, v in times.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| step: l2 + | ms | ÷ l2 step |\n|---|---|---|")
    for name, ms in median.items():
        print(f"| {name} | {ms:.1f} | {ms / median['l2']:.2f} |")


if __name__ == "__main__":
    main()
