"""What the per-epoch checkpoint (resume.pt, issue 11) costs: real runs of the committed studies'
models on mnist-5k, each epoch's checkpoint write timed inside the run (``files.torch_save``
wrapped), against the run's training time.

    python benchmarks/resume_cost.py [--epochs 6]

Prints, per model and condition: epochs, training seconds per epoch, checkpoint milliseconds per
epoch (median), the ratio, and the file size.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

import lossbench.store.files as files
from lossbench.cli import main as cli

CASES = {
    "ae-conv 16-32 / l2 (main study)": ({"name": "ae-conv", "channels": [16, 32]}, [{"term": "l2"}]),
    "ae-conv 16-32 / l2+adversarial": ({"name": "ae-conv", "channels": [16, 32]},
                                       [{"term": "l2"}, {"term": "adversarial", "weight": 0.5, "adaptive": True}]),
    "vae-mlp 512-256, 3-d (ae_vs_vae)": ({"name": "vae-mlp", "latent_dim": 3}, [{"term": "bce"}]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    timings: list[tuple[float, int]] = []
    save = files.torch_save

    def timed(path, obj):
        started = time.perf_counter()
        save(path, obj)
        if Path(path).name == "resume.pt":
            timings.append((time.perf_counter() - started, Path(path).stat().st_size))

    files.torch_save = timed
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| model / condition | epochs | train s per epoch | checkpoint ms per epoch (median) | ratio | resume.pt |")
    print("|---|---|---|---|---|---|")
    for title, (model, terms) in CASES.items():
        timings.clear()
        with tempfile.TemporaryDirectory() as tmp:
            study = {"name": "resume_cost", "seeds": [0], "data": {"name": "mnist-5k"}, "models": [model],
                     "conditions": {"c": terms}, "training": {"epochs": args.epochs, "batch_size": 128},
                     "metrics": ["mse"], "report": {"calibration": False}}
            path = Path(tmp) / "study.yaml"
            path.write_text(yaml.safe_dump(study))
            assert cli(["run", str(path), "--out", str(Path(tmp) / "out"), "--device", "cpu"]) == 0
            result = json.loads(next((Path(tmp) / "out" / "runs").glob("*/metrics.json")).read_text())
        per_epoch = result["train_seconds"] / result["epochs"]
        ms = statistics.median(t for t, _ in timings) * 1000
        size = max(s for _, s in timings)
        print(f"| {title} | {result['epochs']} | {per_epoch:.2f} | {ms:.1f} | {ms / 1000 / per_epoch:.1%} | "
              f"{size / 2 ** 20:.1f} MiB |")


if __name__ == "__main__":
    main()
