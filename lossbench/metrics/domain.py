"""The domain classifier behind ``fd-domain``: a small CNN trained once per dataset on its
labelled training split, whose penultimate (128-d) features replace Inception's for a Fréchet
distance and KID on small grey images. The FID paper (Heusel et al. 2017) and the KID paper
(Bińkowski et al. 2018) use an MNIST classifier the same way for digits.

The recipe is fixed and versioned (``RECIPE``). For ``mnist-5k`` and ``fashion-mnist-5k`` the
trained network ships inside the package (``lossbench/shipped/domain-<dataset>-v1.pt`` and its
card), so every machine scores fd-domain, and trains perceptual(domain), with the same weights
(trained on first use, it came out with other weights on another CPU: held-out accuracy 0.9770
instead of 0.9790). ``python -m lossbench.metrics.domain --ship [--dataset D --root DIR]``
rebuilds one. Any other dataset trains it on first
use, cached under the lossbench cache keyed by the dataset's identity (its sha256) and the recipe
version, with its held-out accuracy beside it; provenance says which of the two was used.
"""

from __future__ import annotations

from typing import TypedDict

import time

import torch
import torch.nn.functional as F
from torch import nn

from lossbench.store import files
from lossbench.core.progress import progress_line
from lossbench.nets.shipped_nets import load_shipped, shipped_label, shipped_path, write_shipped
from lossbench.nets.weights import cache_dir, cached_card, content_sha256, load_cached_state, portable, sha256_of

class Recipe(TypedDict):
    """How the domain classifier is trained (recorded on its card)."""
    version: int
    epochs: int
    batch_size: int
    lr: float
    seed: int
    shift_pixels: int
    architecture: str


RECIPE: Recipe = {"version": 1, "epochs": 20, "batch_size": 128, "lr": 1e-3, "seed": 0, "shift_pixels": 2,
          "architecture": "conv32-conv64-fc128 (3x3 convs, 2x2 max-pools, dropout 0.25 before the head)"}
MNIST_ACCURACY_REQUIRED = 0.985
#: below this held-out accuracy (any dataset) the summary warns next to fd-domain
ACCURACY_WARNING = 0.8
#: the datasets with a shipped network (lossbench/shipped/), each used for the dataset on its card
SHIPPED_FOR = ("mnist-5k", "fashion-mnist-5k")


def shipped_name(dataset: str) -> str:
    return f"domain-{dataset}-v{RECIPE['version']}"


SHIPPED_NAME = shipped_name("mnist-5k")


class DomainNet(nn.Module):
    def __init__(self, channels: int, size: tuple[int, int], classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * (size[0] // 4) * (size[1] // 4), 128), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(128, classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _shift(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``pixels`` in each direction (zero fill): the only augmentation."""
    n = x.shape[0]
    padded = F.pad(x, [pixels] * 4)
    dy, dx = (torch.randint(0, 2 * pixels + 1, (2, n), generator=generator)).tolist()
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train_domain_classifier(train_x, train_y, test_x, test_y, device="cpu") -> tuple[DomainNet, float]:
    torch.manual_seed(RECIPE["seed"])
    gen = torch.Generator().manual_seed(RECIPE["seed"])
    classes = int(train_y.max()) + 1
    model = DomainNet(train_x.shape[1], tuple(train_x.shape[-2:]), classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    x, y = train_x.to(device), train_y.to(device)
    with progress_line(f"domain classifier (trained once, {len(x)} images)", RECIPE["epochs"], "epoch") as bar:
        for _ in range(RECIPE["epochs"]):
            _epoch(model, optimizer, x, y, gen, device)
            bar.update()
    return model.eval().requires_grad_(False), accuracy(model, test_x, test_y, device)


def _epoch(model, optimizer, x, y, gen, device) -> None:
    model.train()
    order = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), RECIPE["batch_size"]):
        idx = order[i : i + RECIPE["batch_size"]]
        batch = _shift(x[idx.to(device)].cpu(), RECIPE["shift_pixels"], gen).to(device)
        loss = F.cross_entropy(model(batch), y[idx.to(device)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def accuracy(model, x, y, device="cpu") -> float:
    model.eval()
    correct = sum(int((model(x[i : i + 500].to(device)).argmax(1).cpu() == y[i : i + 500]).sum()) for i in range(0, len(x), 500))
    return correct / len(x)


class DomainFeatures:
    """Callable: N×C×H×W in [0, 1] -> N×128 float64 penultimate features of the dataset's classifier."""

    dim = 128

    def __init__(self, data, cache=None, device="cpu"):
        """``data``: an ImageData with labels (the study's dataset)."""
        if data.train_y is None or data.test_y is None or int(data.train_y.min()) < 0:
            from lossbench.core.errors import LossbenchError

            raise LossbenchError(f"metrics: fd-domain (and kid-domain, perceptual with network: domain) trains a classifier on "
                                 f"{data.identity['name']}'s class labels, and these images have none; with data.name: "
                                 f"imagefolder put them in one sub-folder per class under data.path (data.path/<class>/"
                                 f"<image>), or drop those metrics and terms (mse, l1, psnr, ssim, blur need no labels)")
        self.device = torch.device(device)
        ident = data.identity
        self.name = f"domain-{ident['name']}"
        key = f"{ident['name']}-{ident['sha256'][:16]}-recipe{RECIPE['version']}"
        path = cache_dir(cache) / "classifiers" / f"{key}.pt"
        card_path = path.with_suffix(".json")
        shape = tuple(data.train_x.shape[1:])
        classes = int(data.train_y.max()) + 1
        self.model = DomainNet(shape[0], shape[1:], classes)
        shipped = load_shipped(shipped_name(ident["name"]), ident["sha256"]) if ident["name"] in SHIPPED_FOR else None
        card = None if shipped is not None else cached_card(path)
        self.shipped = shipped is not None
        if shipped is not None:
            self.model.load_state_dict(shipped[0])
            self.card, path = shipped[1], shipped_path(shipped_name(ident["name"]))
        elif card is not None and load_cached_state(path, self.model):
            self.card = card
        else:
            started = time.perf_counter()
            model, acc = train_domain_classifier(data.train_x, data.train_y, data.test_x, data.test_y, self.device)
            self.model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
            files.torch_save(path, self.model.state_dict())
            self.card = {"dataset": ident["name"], "dataset_sha256": ident["sha256"], "n_train": ident["n_train"],
                         "n_test": ident["n_test"], "held_out_accuracy": acc, "recipe": RECIPE,
                         "train_seconds": round(time.perf_counter() - started, 1), "sha256": sha256_of(path),
                         "content_sha256": content_sha256(self.model.state_dict()),
                         "torch": torch.__version__, "threads": torch.get_num_threads()}
            files.write_json(card_path, self.card)
        self.model = self.model.to(self.device).eval().requires_grad_(False)
        self.path, self.cache = path, cache

    @property
    def provenance(self) -> dict:
        acc = self.card["held_out_accuracy"]
        note = ""
        if self.card["dataset"].startswith("mnist") and acc < MNIST_ACCURACY_REQUIRED:
            note = f" (below the {MNIST_ACCURACY_REQUIRED:.1%} asked of an MNIST classifier)"
        classes = int(self.model.head[-1].out_features)
        warning = None
        if acc < ACCURACY_WARNING:
            warning = (f"the domain classifier reaches {acc:.1%} held-out accuracy on {self.card['dataset']} "
                       f"({classes} classes, chance {1 / classes:.0%}), below {ACCURACY_WARNING:.0%}: its "
                       f"features may not capture what tells this dataset's images apart, so fd-domain says little here")
        where = (f"shipped with lossbench ({shipped_label(self.path)}), trained once with the recipe"
                 if self.shipped else "trained on first use on this machine and cached (another CPU or torch version "
                                      "may train other weights: compare the weights' content sha256)")
        return {"network": f"lossbench domain classifier, recipe v{RECIPE['version']}, penultimate 128-d features",
                "weights": shipped_label(self.path) if self.shipped else portable(self.path, self.cache),
                "source": where, "weights_sha256": self.card["sha256"],
                "weights_content_sha256": self.card.get("content_sha256") or content_sha256(self.model.state_dict()),
                "trained_on": f"{self.card['dataset']} train split ({self.card['n_train']} images)",
                "held_out_accuracy": f"{acc:.4f}{note}", "input": "images in [0, 1] as they are",
                **({"warning": warning} if warning else {})}

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.model.features(x[i : i + 500].to(self.device)).double().cpu() for i in range(0, len(x), 500)])


def ship(device="cpu", dataset: str = "mnist-5k", root: str | None = None) -> dict:
    """Train the classifier of ``dataset`` (mnist-5k, or fashion-mnist-5k read from ``root``) with
    the recipe and write it into lossbench/shipped/."""
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    data = load_dataset(DataSpec(name=dataset, root=root))
    ident = data.identity
    started = time.perf_counter()
    model, acc = train_domain_classifier(data.train_x, data.train_y, data.test_x, data.test_y, device)
    rebuild = "python -m lossbench.metrics.domain --ship" + (f" --dataset {dataset} --root DIR" if dataset != "mnist-5k" else "")
    return write_shipped(shipped_name(dataset), model.state_dict(), {
        "dataset": ident["name"], "dataset_sha256": ident["sha256"], "n_train": ident["n_train"], "n_test": ident["n_test"],
        "held_out_accuracy": acc, "recipe": RECIPE, "train_seconds": round(time.perf_counter() - started, 1),
        "rebuild": rebuild})


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train a dataset's domain classifier and ship it in lossbench/shipped/.")
    parser.add_argument("--ship", action="store_true", required=True)
    parser.add_argument("--dataset", choices=SHIPPED_FOR, default="mnist-5k")
    parser.add_argument("--root", default=None, help="data root for fashion-mnist-5k (holding FashionMNIST/raw)")
    args = parser.parse_args()
    card = ship(dataset=args.dataset, root=args.root)
    print(f"{shipped_path(shipped_name(args.dataset))}: held-out accuracy {card['held_out_accuracy']:.4f}, sha256 {card['sha256']}")
