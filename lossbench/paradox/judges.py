"""The judges: whole-image views of a digit, which the pixel norms lack.

- ``judge-discriminator``: a realism score (the logit) of a discriminator trained inside
  lossbench to tell real digits from the outputs of pixel-loss autoencoders and from generic
  noise. It never sees the paradox's rules: its fakes are whole reconstructions by an L2
  ae-mlp (3-d code) and an L2 ae-conv, and whole noise images (independent pixels at the
  digits' ink density; thresholded smoothed noise). Every input, real or fake, is binarised at
  0.5, as the paradox images are. Recipe fixed and versioned. For mnist-5k it ships inside the
  package (``lossbench/shipped/``, rebuilt by ``python -m lossbench.paradox.judges --ship``), so
  every machine judges with the same weights; another dataset trains it on first use, cached
  beside the domain classifier, with its held-out accuracy.
- ``judge-classifier``: the domain classifier's (lossbench.metrics.domain) softmax confidence
  in the digit's true class.
"""

from __future__ import annotations

from typing import Any, TypedDict

import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from lossbench.store import files
from lossbench.data import DeviceBatches
from lossbench.losses import build_loss
from lossbench.losses.adversarial import Discriminator
from lossbench.metrics.domain import DomainFeatures
from lossbench.models import build_model
from lossbench.core.progress import progress_line
from lossbench.nets.shipped_nets import load_shipped, shipped_label, shipped_path, write_shipped
from lossbench.nets.weights import cache_dir, cached_card, sha256_of

class Fakes(TypedDict):
    autoencoders: list[list[Any]]  # [model name, its options] (lists: the card's JSON compares equal)
    autoencoder_loss: str
    autoencoder_epochs: int
    autoencoder_lr: float
    noise: list[str]
    binarised_at: float


class DiscriminatorRecipe(TypedDict):
    kind: str
    channels: int
    layers: int


class Recipe(TypedDict):
    """How the paradox's discriminator judge and its fakes are made (recorded on its card)."""
    version: int
    seed: int
    fakes: Fakes
    discriminator: DiscriminatorRecipe
    epochs: int
    batch_size: int
    lr: float


RECIPE: Recipe = {
    "version": 2, "seed": 0,
    "fakes": {"autoencoders": [["ae-mlp", {"latent_dim": 3, "output": "linear"}], ["ae-conv", {"channels": [16, 32], "output": "linear"}]],
              "autoencoder_loss": "l2", "autoencoder_epochs": 3, "autoencoder_lr": 2e-3,
              "noise": ["independent pixels at the real ink density", "thresholded Gaussian-smoothed noise (sigma 1.5)"],
              "binarised_at": 0.5},
    "discriminator": {"kind": "global", "channels": 32, "layers": 2}, "epochs": 5, "batch_size": 128, "lr": 2e-4,
}
#: the discriminator judge of the committed paradox (mnist-5k), shipped in lossbench/shipped/
SHIPPED_NAME = f"paradox-discriminator-mnist-5k-v{RECIPE['version']}"


def _binary(x: torch.Tensor) -> torch.Tensor:
    return (x >= 0.5).float()


def _autoencoder_fakes(train_x: torch.Tensor, xs: list[torch.Tensor], device) -> list[torch.Tensor]:
    """Train each pixel-loss AE on ``train_x``; return its binarised reconstructions of each of ``xs``."""
    from lossbench.models.ae import reconstruct
    from lossbench.train import train_epoch

    fakes: list[list[torch.Tensor]] = [[] for _ in xs]
    c, h, w = train_x.shape[1:]
    for name, params in RECIPE["fakes"]["autoencoders"]:
        model = build_model(name, (c, h, w), params).to(device)
        loss = build_loss([{"term": RECIPE["fakes"]["autoencoder_loss"], "label": "l2"}])
        optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["fakes"]["autoencoder_lr"])
        batches = DeviceBatches(train_x, RECIPE["batch_size"], device)
        gen = torch.Generator().manual_seed(RECIPE["seed"])
        model.train()
        for epoch in range(RECIPE["fakes"]["autoencoder_epochs"]):
            train_epoch(model, loss, optimizer, batches, gen, epoch * len(batches), False)
        model.eval()
        for i, x in enumerate(xs):
            fakes[i].append(_binary(reconstruct(model, x, 500, device)))
    return [torch.cat(f) for f in fakes]


def _noise_fakes(n: int, density: float, shape, generator: torch.Generator) -> torch.Tensor:
    half = n // 2
    independent = (torch.rand(half, *shape, generator=generator) < density).float()
    smooth = torch.rand(n - half, *shape, generator=generator).numpy()
    smooth = np.stack([ndimage.gaussian_filter(img, sigma=(0, 1.5, 1.5)) for img in smooth])
    cut = np.quantile(smooth.reshape(len(smooth), -1), 1 - density, axis=1)[:, None, None, None]
    return torch.cat([independent, torch.from_numpy((smooth >= cut).astype(np.float32))])


def train_discriminator(data, device="cpu") -> tuple[Discriminator, dict]:
    torch.manual_seed(RECIPE["seed"])
    gen = torch.Generator().manual_seed(RECIPE["seed"])
    shape = tuple(data.train_x.shape[1:])
    real_train, real_test = _binary(data.train_x), _binary(data.test_x)
    density = float(real_train.mean())
    ae_train, ae_test = _autoencoder_fakes(data.train_x, [data.train_x, data.test_x], device)
    fake_train = torch.cat([ae_train, _noise_fakes(len(real_train) // 2, density, shape, gen)])
    fake_test = torch.cat([ae_test, _noise_fakes(len(real_test) // 2, density, shape, gen)])
    spec = RECIPE["discriminator"]
    d = Discriminator(shape, spec["kind"], spec["channels"], spec["layers"]).to(device)
    optimizer = torch.optim.Adam(d.parameters(), lr=RECIPE["lr"], betas=(0.5, 0.999))
    x = torch.cat([real_train, fake_train]).to(device)
    y = torch.cat([torch.ones(len(real_train)), torch.zeros(len(fake_train))]).to(device)
    for _ in range(RECIPE["epochs"]):
        order = torch.randperm(len(x), generator=gen).to(device)
        for start in range(0, len(x), RECIPE["batch_size"]):
            idx = order[start : start + RECIPE["batch_size"]]
            loss = F.binary_cross_entropy_with_logits(d(x[idx]).squeeze(1), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    d.eval().requires_grad_(False)
    with torch.no_grad():
        real_ok = float((d(real_test.to(device)) > 0).float().mean())
        fake_ok = float((d(fake_test.to(device)) <= 0).float().mean())
    card = {"recipe": RECIPE, "dataset": data.identity["name"], "dataset_sha256": data.identity["sha256"],
            "n_real_train": len(real_train), "n_fake_train": len(fake_train),
            "held_out_accuracy_real": round(real_ok, 4), "held_out_accuracy_fake": round(fake_ok, 4),
            "held_out": f"{len(real_test)} real test digits vs {len(fake_test)} fakes made the same way from the test split"}
    return d, card


class Judges:
    """Both judges for one dataset (with labels), trained or read from the cache."""

    names = ("judge-discriminator", "judge-classifier")

    def __init__(self, data, cache=None, device="cpu"):
        self.device = torch.device(device)
        self.domain = DomainFeatures(data, cache=cache, device=device)
        key = f"paradox-discriminator-{data.identity['name']}-{data.identity['sha256'][:16]}-v{RECIPE['version']}"
        path = cache_dir(cache) / "judges" / f"{key}.pt"
        card_path = path.with_suffix(".json")
        spec = RECIPE["discriminator"]
        self.discriminator = Discriminator(tuple(data.train_x.shape[1:]), spec["kind"], spec["channels"], spec["layers"])
        shipped = load_shipped(SHIPPED_NAME, data.identity["sha256"])
        card = None if shipped is not None else cached_card(path)
        if shipped is not None:  # the committed paradox's judge: the same weights on every machine
            self.discriminator.load_state_dict(shipped[0])
            self.card, path = shipped[1] | {"source": f"shipped with lossbench ({shipped_label(shipped_path(SHIPPED_NAME))})"}, \
                shipped_path(SHIPPED_NAME)
        elif card is not None:
            self.discriminator.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            self.card = card
        else:
            with progress_line(f"training the paradox's discriminator judge on {data.identity['name']} (once; cached)"):
                started = time.perf_counter()
                trained, card = train_discriminator(data, self.device)
            self.discriminator.load_state_dict({k: v.cpu() for k, v in trained.state_dict().items()})
            files.torch_save(path, self.discriminator.state_dict())
            self.card = card | {"train_seconds": round(time.perf_counter() - started, 1), "sha256": sha256_of(path),
                                "source": "trained on first use on this machine and cached"}
            files.write_json(card_path, self.card)
        self.discriminator = self.discriminator.to(self.device).eval().requires_grad_(False)
        self.path = path

    @torch.no_grad()
    def realism(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit per image (higher: more real); inputs binarised at 0.5."""
        return self.discriminator(_binary(x).to(self.device)).squeeze(1).cpu()

    @torch.no_grad()
    def confidence(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The domain classifier's probability of the true class."""
        p = torch.softmax(self.domain.model(x.to(self.device)), dim=1).cpu()
        return p[torch.arange(len(x)), labels.long().cpu()]

    def scores(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"judge-discriminator": self.realism(x), "judge-classifier": self.confidence(x, labels)}


def ship(device="cpu") -> dict:
    """Train the mnist-5k discriminator judge with the recipe and write it into lossbench/shipped/."""
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    data = load_dataset(DataSpec(name="mnist-5k"))
    started = time.perf_counter()
    trained, card = train_discriminator(data, torch.device(device))
    return write_shipped(SHIPPED_NAME, trained.state_dict(), card | {
        "train_seconds": round(time.perf_counter() - started, 1), "rebuild": "python -m lossbench.paradox.judges --ship"})


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train the paradox's mnist-5k discriminator judge and ship it in lossbench/shipped/.")
    parser.add_argument("--ship", action="store_true", required=True)
    parser.parse_args()
    shipped = ship()
    print(f"{shipped_path(SHIPPED_NAME)}: held-out accuracy real {shipped['held_out_accuracy_real']:.4f}, "
          f"fake {shipped['held_out_accuracy_fake']:.4f}, sha256 {shipped['sha256']}")
