"""One training epoch of the reference MLP VAE (784-400-20, BCE + KL, Adam 1e-3, batch 128) on
10,000 MNIST digits, in the same process, rounds alternating, median of the repeats:

- lossbench's loop (``lossbench.train.train_epoch``) with its default optimizer and with
  ``training.optimizer_impl: fused``;
- the hand-tuned references: a plain eager loop over in-memory tensors (Adam as torch defaults
  it on this device), the same with fused Adam, and fused Adam with the loss step compiled
  (``torch.compile`` of model + loss, backward through the compiled graph);
- the peers: the pytorch/examples loop (torchvision MNIST with ToTensor through a DataLoader) and,
  if installed (``pip install pythae``), pythae's TrainingPipeline.

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
from lossbench.train import make_optimizer, train_epoch

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


def vae_loss(model, x):
    recon, mu, logvar = model(x)
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def hand_epoch(model, optimizer, x, generator, step_fn):
    """The hand-written loop: a permutation, index the in-memory tensor, step."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x), BATCH):
        loss = step_fn(model, x.index_select(0, order[start : start + BATCH]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def pythae_epoch_factory(x):
    """pythae's own trainer for one epoch of its VAE with the same 784-400-20 MLP, or None."""
    try:
        from pythae.models import VAE, VAEConfig
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.models.base.base_utils import ModelOutput
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
    except Exception as exc:  # not installed, or not importable with this torch
        print(f"pythae: skipped ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        return None

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.fc1, self.mu, self.logvar = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)

        def forward(self, x):
            h = F.relu(self.fc1(x.reshape(-1, 784)))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).reshape(-1, 1, 28, 28))

    import tempfile

    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce"), Encoder(), Decoder())
    folder = tempfile.mkdtemp()

    def epoch():
        config = BaseTrainerConfig(output_dir=folder, num_epochs=1, learning_rate=1e-3, per_device_train_batch_size=BATCH,
                                   per_device_eval_batch_size=BATCH, no_cuda=True, steps_saving=None)
        TrainingPipeline(training_config=config, model=model)(train_data=x, eval_data=None)
    return epoch


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
    data = load_dataset(DataSpec(name="mnist", root=args.root, test_fraction=0.5, validation_fraction=0))
    x = torch.cat([data.train_x, data.test_x])
    assert len(x) == 10_000
    batches = DeviceBatches(x, BATCH, "cpu")
    ours = build_model("vae-mlp", (1, 28, 28), {"hidden": [400], "latent_dim": 20, "output": "sigmoid"})
    loss = build_loss([{"term": "bce", "label": "bce"}, {"term": "kl", "label": "kl"}])
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    ours_fused = build_model("vae-mlp", (1, 28, 28), {"hidden": [400], "latent_dim": 20, "output": "sigmoid"})
    fused_opt = make_optimizer("adam", ours_fused.parameters(), 1e-3, "fused", torch.device("cpu"))
    gen_fused = torch.Generator().manual_seed(0)
    ours_compiled = build_model("vae-mlp", (1, 28, 28), {"hidden": [400], "latent_dim": 20, "output": "sigmoid"})
    compiled_opt = make_optimizer("adam", ours_compiled.parameters(), 1e-3, "fused", torch.device("cpu"))
    compiled_model = torch.compile(ours_compiled)  # what training.compile: true does
    gen_compiled = torch.Generator().manual_seed(0)

    # the hand-tuned references
    hand, hand_fused, hand_compiled = ExamplesVAE(), ExamplesVAE(), ExamplesVAE()
    hand_opt = torch.optim.Adam(hand.parameters(), lr=1e-3)
    hand_fused_opt = torch.optim.Adam(hand_fused.parameters(), lr=1e-3, fused=True)
    hand_compiled_opt = torch.optim.Adam(hand_compiled.parameters(), lr=1e-3, fused=True)
    compiled_loss = torch.compile(vae_loss)
    gens = [torch.Generator().manual_seed(0) for _ in range(3)]

    # the pytorch/examples way
    dataset = TestSplitMNIST(raw, transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    theirs = ExamplesVAE()
    theirs_opt = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    pythae_epoch = pythae_epoch_factory(x)

    contestants = {
        "lossbench": lambda: train_epoch(ours, loss, ours_opt, batches, gen, 0, amp=False),
        "lossbench, fused Adam": lambda: train_epoch(ours_fused, loss, fused_opt, batches, gen_fused, 0, amp=False),
        "lossbench, fused Adam + compile": lambda: train_epoch(compiled_model, loss, compiled_opt, batches, gen_compiled, 0,
                                                               amp=False),
        "hand-tuned eager": lambda: hand_epoch(hand, hand_opt, x, gens[0], vae_loss),
        "hand-tuned, fused Adam": lambda: hand_epoch(hand_fused, hand_fused_opt, x, gens[1], vae_loss),
        "hand-tuned, fused Adam + compile": lambda: hand_epoch(hand_compiled, hand_compiled_opt, x, gens[2], compiled_loss),
        "pytorch/examples": lambda: examples_epoch(theirs, theirs_opt, loader),
    }
    if pythae_epoch is not None:
        contestants["pythae TrainingPipeline"] = pythae_epoch
    times = {name: [] for name in contestants}
    for r in range(args.repeats + 1):  # the first round warms everything up (and compiles) and is not counted
        for name, run in contestants.items():
            t = time.perf_counter()
            run()
            if r:
                times[name].append(time.perf_counter() - t)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<18} epoch {med:.3f} s (median of {len(ts)}; min {min(ts):.3f}, max {max(ts):.3f}) = {10_000 / med:,.0f} images/s")
    best = min(statistics.median(times[n]) for n in times if n.startswith("hand-tuned"))
    for name in ("lossbench", "lossbench, fused Adam", "lossbench, fused Adam + compile"):
        print(f"{name}: {statistics.median(times[name]) / best:.2f}x the best hand-tuned loop (goal <= 1.15x); "
              f"{statistics.median(times['pytorch/examples']) / statistics.median(times[name]):.2f}x faster than pytorch/examples")


if __name__ == "__main__":
    main()
