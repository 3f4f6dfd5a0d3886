"""One training epoch of the reference MLP VAE (784-400-20, BCE + KL, Adam 1e-3, batch 128) on
10,000 MNIST digits: lossbench's loop next to the pytorch/examples loop (torchvision MNIST with
ToTensor through a DataLoader), in the same process, alternating, median of the repeats.

    LOSSBENCH_DATA=../shared/data python benchmarks/epoch_speed.py [--repeats 5]

The 10,000 digits are the official MNIST test split (the only split available offline here).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from lossbench.data import DeviceBatches, load_dataset
from lossbench.data.idx import find_idx, read_idx
from lossbench.data.registry import DataSpec
from lossbench.losses import build_loss
from lossbench.models import build_model
from lossbench.train import train_epoch

BATCH = 128


class ExamplesVAE(nn.Module):
    """The VAE of pytorch/examples vae/main.py (784-400-20), written out."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


class TestSplitMNIST(torchvision.datasets.MNIST):
    """torchvision's MNIST (its own __getitem__: PIL image, then the transform) over the test
    split alone; the stock class insists on finding the training files too."""

    def __init__(self, raw: Path, transform):
        self.transform, self.target_transform = transform, None
        self.data = torch.from_numpy(read_idx(find_idx(raw, "t10k-images-idx3-ubyte")).copy())
        self.targets = torch.from_numpy(read_idx(find_idx(raw, "t10k-labels-idx1-ubyte")).astype("int64"))


def examples_epoch(model, optimizer, loader):
    model.train()
    for x, _ in loader:
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = bce + kld
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=os.environ.get("LOSSBENCH_DATA"), help="data root holding MNIST/raw")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.root:
        raise SystemExit("set LOSSBENCH_DATA (or --root) to a folder holding MNIST/raw")
    raw = Path(args.root) / "MNIST" / "raw"
    torch.manual_seed(0)

    # lossbench: the 10,000 test digits as one device-resident tensor
    data = load_dataset(DataSpec(name="mnist", root=args.root, test_fraction=0.5))
    x = torch.cat([data.train_x, data.test_x])
    assert len(x) == 10_000
    batches = DeviceBatches(x, BATCH, "cpu")
    ours = build_model("vae-mlp", (1, 28, 28), {"hidden": [400], "latent_dim": 20})
    loss = build_loss([{"term": "bce", "label": "bce"}, {"term": "kl", "label": "kl"}])
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    # the pytorch/examples way
    dataset = TestSplitMNIST(raw, transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    theirs = ExamplesVAE()
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())

    times = {"lossbench": [], "pytorch/examples": []}
    for r in range(args.repeats + 1):  # the first round warms both up and is not counted
        t = time.perf_counter()
        train_epoch(ours, loss, ours_opt, batches, gen, 0, amp=False)
        a = time.perf_counter() - t
        t = time.perf_counter()
        examples_epoch(theirs, theirs_opt, loader)
        b = time.perf_counter() - t
        if r:
            times["lossbench"].append(a)
            times["pytorch/examples"].append(b)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<18} epoch {med:.3f} s (median of {len(ts)}; min {min(ts):.3f}, max {max(ts):.3f}) = {10_000 / med:,.0f} images/s")
    ratio = statistics.median(times["pytorch/examples"]) / statistics.median(times["lossbench"])
    print(f"speed-up of lossbench: {ratio:.2f}x (target >= 1.5x)")


if __name__ == "__main__":
    main()
