"""The adversarial term: losses, discriminators, alternating updates, adaptive weight, flags."""

from __future__ import annotations

import math

import json

import pandas as pd
import pytest
import torch

from lossbench.data import DeviceBatches
from lossbench.losses import build_loss
from lossbench.losses.adversarial import (ADAPTIVE_MAX, Discriminator, adaptive_weight, critic_flags,
                                          discriminator_loss, generator_loss)
from lossbench.models import build_model
from lossbench.train import train_epoch

SHAPE = (1, 16, 16)


def setup(seed=0, **options):
    torch.manual_seed(seed)
    model = build_model("ae-conv", SHAPE, {"channels": [4, 8], "latent_dim": 3})
    loss = build_loss([{"term": "l1", "label": "l1"}, {"term": "adversarial", "label": "adv", **options}])
    loss.attach(model, SHAPE, "cpu")
    x = torch.rand(8, *SHAPE)
    return model, loss, x


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_losses_on_known_scores():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    # hinge: 0.5 (mean relu(1 - real) + mean relu(1 + fake)) = 0.5 (0.25 + 0.75)
    assert discriminator_loss("hinge", real, fake).item() == pytest.approx(0.5)
    assert generator_loss("hinge", fake).tolist() == [2.0, -0.5]
    # least squares: 0.5 (mean (real - 1)^2 + mean fake^2) = 0.5 ((1 + 0.25)/2 + (4 + 0.25)/2)
    assert discriminator_loss("least-squares", real, fake).item() == pytest.approx(0.5 * (0.625 + 2.125))
    assert generator_loss("least-squares", fake).tolist() == [9.0, 0.25]
    # non-saturating: the generator minimises -log sigmoid(D(x_hat))
    expected = -torch.log(torch.sigmoid(fake))
    assert torch.allclose(generator_loss("non-saturating", fake), expected)
    d = 0.5 * (-torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean())
    assert discriminator_loss("non-saturating", real, fake).item() == pytest.approx(d.item())


@pytest.mark.parametrize("kind, side, layers, patches", [("patch", 28, 2, 36), ("patch", 32, 3, 9),
                                                          ("global", 28, 2, 1), ("patch", 4, 2, 4)])
def test_discriminator_output_shapes(kind, side, layers, patches):
    d = Discriminator((3, side, side), kind, 8, layers)
    assert d(torch.rand(5, 3, side, side)).shape == (5, patches)


def test_gradient_reaches_the_autoencoder_and_not_the_discriminator():
    model, loss, x = setup()
    adv = loss.terms["adv"]
    total, _ = loss(model(x), x, 0)
    total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert all(p.grad is None for p in adv.discriminator.parameters())
    assert not {id(p) for p in adv.discriminator.parameters()} & {id(p) for p in model.parameters()}


def test_autoencoder_and_discriminator_update_alternately():
    model, loss, x = setup()
    d = loss.terms["adv"].discriminator
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = model(x)
    total, _ = loss(out, x, 0)
    d_before, m_before = snapshot(d), snapshot(model)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert same(d_before, snapshot(d)), "the autoencoder's step moved the discriminator"
    assert not same(m_before, snapshot(model))
    m_after = snapshot(model)
    row = loss.critic_step(out, x, 0)
    assert same(m_after, snapshot(model)), "the discriminator's step moved the autoencoder"
    assert not same(d_before, snapshot(d))
    assert row.shape == (4,) and 0 <= row[2] <= 1 and 0 <= row[3] <= 1
    assert not any(p.requires_grad for p in d.parameters())  # frozen again


def test_train_epoch_logs_the_discriminator_every_step():
    model, loss, _ = setup()
    batches = DeviceBatches(torch.rand(64, *SHAPE), 16, torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    table = train_epoch(model, loss, optimizer, batches, torch.Generator().manual_seed(0), 0, False)
    assert loss.columns == ["l1", "adv", "total", "weight[adv]", "d_loss[adv]", "d_acc_real[adv]", "d_acc_recon[adv]"]
    assert table.shape == (4, 7) and torch.isfinite(table).all()
    assert (table[:, 3] == 1.0).all()


def test_before_start_neither_the_term_nor_its_discriminator_is_trained():
    """As taming-transformers' disc_start: off before the step for the generator and the discriminator."""
    model, loss, x = setup(start=5)
    d = loss.terms["adv"].discriminator
    out = model(x)
    total, values = loss(out, x, 4)
    assert total.item() == values[0].item() and math.isnan(values[1].item())  # l1 alone; adv not computed
    before = snapshot(d)
    row = loss.critic_step(out, x, 4)
    assert row[0].item() == 0.0 and torch.isnan(row[1:]).all() and same(before, snapshot(d))
    out = model(x)
    total, values = loss(out, x, 5)
    assert total.item() == pytest.approx(values[0].item() + values[1].item())
    row = loss.critic_step(out, x, 5)
    assert row[0].item() == 1.0 and torch.isfinite(row).all() and not same(before, snapshot(d))


def test_a_plateau_term_waits_until_it_is_started():
    model, loss, x = setup(start="plateau")
    assert loss.plateau_terms == ["adv"]
    for step in (0, 10_000):
        assert math.isnan(loss(model(x), x, step)[1][1].item())
    assert loss.start_plateau_terms(40) == ["adv"] and loss.start_plateau_terms(50) == []
    assert math.isnan(loss(model(x), x, 39)[1][1].item())
    assert math.isfinite(loss(model(x), x, 40)[1][1].item())


def test_adaptive_weight_matches_its_formula():
    model, loss, x = setup(adaptive=True, weight=0.5)
    adv = loss.terms["adv"]
    total, values = loss(model(x), x, 0)
    # by hand, with separate forward passes and .backward() into the last layer's weight
    w = model.last_layer.weight
    grads = []
    for which in ("l1", "adv"):
        model.zero_grad()
        loss.terms[which].values(model(x), x).mean().backward()
        grads.append(w.grad.detach().clone())
    expected = grads[0].norm() / (grads[1].norm() + 1e-4)
    assert adv.lam.item() == pytest.approx(expected.item(), rel=1e-5)
    assert not adv.lam.requires_grad
    assert total.item() == pytest.approx(values[0].item() + 0.5 * expected.item() * values[1].item(), rel=1e-5)
    assert loss.critic_step(model(x), x, 0)[0].item() == pytest.approx(0.5 * expected.item(), rel=1e-5)


def test_adaptive_weight_is_clamped():
    w = torch.ones(3, requires_grad=True)
    assert adaptive_weight((w * 1e9).sum(), (w * 1e-9).sum(), w).item() == ADAPTIVE_MAX
    assert adaptive_weight((w * 3).sum(), (w * 0).sum(), w).item() == ADAPTIVE_MAX  # 3√3 / 1e-4, clamped
    assert adaptive_weight((w * 0).sum(), (w * 2).sum(), w).item() == 0.0
    assert adaptive_weight(torch.tensor(1.0), (w * 2).sum(), w).item() == 0.0  # no graph (evaluation): 0
    assert adaptive_weight((w * 4).sum(), (w * 2).sum(), w).item() == pytest.approx(4 * 3**0.5 / (2 * 3**0.5 + 1e-4), rel=1e-6)


def test_flags_for_a_winning_and_a_collapsed_discriminator():
    from lossbench.core.flags import Flag

    def rows(pairs):
        return [{"epoch": i + 1, "d_acc_real[adv]": r, "d_acc_recon[adv]": f} for i, (r, f) in enumerate(pairs)]

    assert critic_flags(rows([(0.7, 0.6)] * 6), ["adv"]) == []
    assert critic_flags(rows([(0.7, 0.6), (1.0, 0.995), (1.0, 1.0), (0.999, 1.0), (0.8, 0.7)]), ["adv"]) == [
        Flag("discriminator-wins", "discriminator of adv wins: accuracy >= 0.99 on real and on reconstructed images in epochs 2-4")]
    assert critic_flags(rows([(1.0, 1.0), (1.0, 1.0), (0.5, 0.5), (1.0, 1.0)]), ["adv"]) == []  # not 3 in a row
    collapsed = critic_flags(rows([(0.6, 0.6), (1.0, 0.0), (1.0, 0.0), (1.0, 0.002)]), ["adv"])
    assert collapsed == [Flag("discriminator-collapsed", "discriminator of adv collapsed: calls (nearly) every image the same "
                                                         "in epochs 2-4")]
    assert collapsed[0].severity == "warning"


def test_too_small_images_for_the_discriminator_are_a_validation_error(cli, write_study, tmp_path):
    study = write_study({"conditions": {"gan": [{"term": "l1"}, {"term": "adversarial", "layers": 5}]}})
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 2 and not (tmp_path / "o").exists()
    assert "conditions.gan[1].layers: a discriminator with 5 stride-2 layers needs images of at least 32 px" in err


def test_every_new_term_end_to_end_through_the_cli(cli, write_study, tmp_path):
    study = write_study({
        "seeds": [0],
        "models": [{"name": "ae-conv", "channels": [4, 8], "latent_dim": 3}],
        "conditions": {
            "l1+adversarial": [{"term": "l1"}, {"term": "adversarial", "loss": "non-saturating", "discriminator": "global"}],
            "vqgan-like": [{"term": "l1"}, {"term": "perceptual", "network": "domain", "weight": 10},
                           {"term": "adversarial", "adaptive": True, "start": 2, "weight": 0.5}],
            "structural": [{"term": "ssim"}, {"term": "mix", "weight": 2}],
            "lsgan": [{"term": "l2"}, {"term": "adversarial", "loss": "least-squares"}],
        },
        "training": {"epochs": 2, "batch_size": 32}})
    code, out, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert (summary["status"] == "done").all() and len(summary) == 4
    run = summary[summary["condition"] == "vqgan-like"]["run_id"].iloc[0]
    history = pd.read_csv(tmp_path / "o" / "runs" / run / "history.csv")
    for column in ("l1", "perceptual(domain)", "adversarial", "d_loss[adversarial]", "d_acc_real[adversarial]",
                   "d_acc_recon[adversarial]", "weight[adversarial]"):
        assert column in history.columns
    steps = pd.read_csv(tmp_path / "o" / "runs" / run / "steps.csv")
    assert (steps.loc[steps["step"] < 2, "weight[adversarial]"] == 0).all()
    assert (steps.loc[steps["step"] >= 2, "weight[adversarial]"] > 0).all()  # λ × 0.5 once started
    checkpoint = torch.load(tmp_path / "o" / "runs" / run / "checkpoint.pt", weights_only=True)
    state = checkpoint["loss"]  # the CompositeLoss's state_dict: the terms are nn.Modules
    assert any(".discriminator." in k for k in state)
    assert any(k.endswith("_extra_state") and "optimizer" in state[k] for k in state)
    assert (tmp_path / "o" / "figures" / "discriminator.png").is_file()
    metrics = json.loads((tmp_path / "o" / "runs" / run / "metrics.json").read_text())
    assert metrics["status"] == "done" and isinstance(metrics["flags"], list)


def test_a_loss_state_dict_restores_the_discriminator_its_optimizer_and_the_plateau_start():
    from lossbench.losses import build_loss
    from lossbench.models import build_model

    def built(seed):
        torch.manual_seed(seed)
        model = build_model("ae-conv", (1, 16, 16), {"latent_dim": 2, "channels": [4, 8]})
        loss = build_loss([{"term": "l2", "label": "l2"},
                           {"term": "adversarial", "label": "a.b", "start": "plateau", "layers": 1, "adaptive": True}])
        loss.attach(model, (1, 16, 16), "cpu")
        return model, loss

    model, loss = built(0)
    loss.start_plateau_terms(0)
    x = torch.rand(8, 1, 16, 16)
    for step in range(3):  # the discriminator trains: weights and Adam moments move
        out = model(x)
        total, _ = loss(out, x, step)
        total.backward()
        loss.critic_step(out, x, step)
    state = loss.state_dict()
    _, fresh = built(1)
    assert not torch.equal(fresh.terms["a.b"].discriminator.head.weight, loss.terms["a.b"].discriminator.head.weight)
    fresh.load_state_dict(state)
    for a, b in zip(fresh.terms["a.b"].discriminator.parameters(), loss.terms["a.b"].discriminator.parameters()):
        assert torch.equal(a, b)
    assert fresh.terms["a.b"].started_at == 0
    moments = [s["exp_avg"] for s in fresh.terms["a.b"].optimizer.state_dict()["state"].values()]
    assert moments and all(torch.equal(m, n["exp_avg"]) for m, n in
                           zip(moments, loss.terms["a.b"].optimizer.state_dict()["state"].values()))
    assert sum(p.numel() for p in fresh.parameters()) == sum(p.numel() for p in fresh.terms["a.b"].discriminator.parameters())


# --- critics that hold (issue 33): Wasserstein loss, R1 and WGAN-GP penalties, spectral norm ---------


def test_wasserstein_losses_and_threshold_on_known_scores():
    from lossbench.losses.adversarial import threshold

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert discriminator_loss("wasserstein", real, fake).item() == pytest.approx(-0.75 - 1.25)  # mean fake - mean real
    assert generator_loss("wasserstein", fake).tolist() == [2.0, -0.5]
    # a critic's level is arbitrary: the threshold sits between the two means, so shifting every score moves it along
    assert float(threshold("wasserstein", real + 10, fake + 10)) == pytest.approx(10 + (1.25 - 0.75) / 2)
    assert threshold("hinge", real, fake) == 0.0 and threshold("least-squares", real, fake) == 0.5


class Linear(torch.nn.Module):
    """D(x) = <w, x> + b on flattened images, as one 'patch' score: its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) @ self.w.flatten())[:, None] + 0.3


def test_r1_and_gradient_penalty_match_their_formulas_on_a_linear_critic():
    from lossbench.losses.adversarial import gradient_penalty

    w = torch.full((1, 4, 4), 0.5)  # |grad| = 0.5 * sqrt(16) = 2 for every input
    real, fake = torch.rand(6, 1, 4, 4), torch.rand(6, 1, 4, 4)
    assert gradient_penalty("r1", Linear(w), real, fake).item() == pytest.approx(2.0 ** 2 / 2)
    assert gradient_penalty("gradient-penalty", Linear(w), real, fake).item() == pytest.approx((2.0 - 1) ** 2)
    # on a non-linear critic the penalty is differentiable in its weights (a second-order term)
    d = Discriminator((1, 8, 8), "patch", 4, 2)
    penalty = gradient_penalty("gradient-penalty", d, torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8))
    grads = [g for g in torch.autograd.grad(penalty, list(d.parameters()), allow_unused=True) if g is not None]
    assert all(torch.isfinite(g).all() for g in grads) and sum(float(g.abs().sum()) > 0 for g in grads) >= 3


def test_r1_against_finite_differences_on_a_real_discriminator():
    from lossbench.losses.adversarial import gradient_penalty

    torch.manual_seed(0)
    d = Discriminator((1, 8, 8), "patch", 4, 2).double()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    eps, grad = 1e-6, torch.zeros(64, dtype=torch.float64)
    for i in range(64):
        step = torch.zeros(64, dtype=torch.float64)
        step[i] = eps
        with torch.no_grad():
            grad[i] = (d(x + step.view(1, 1, 8, 8)).mean() - d(x - step.view(1, 1, 8, 8)).mean()) / (2 * eps)
    assert gradient_penalty("r1", d, x, x).item() == pytest.approx(float(grad.square().sum() / 2), rel=1e-6)


def test_spectral_norm_bounds_every_layer_by_one():
    torch.manual_seed(0)
    d = Discriminator((1, 16, 16), "global", 8, 2, spectral=True)
    for _ in range(30):  # the power iteration converges over forward passes in training mode
        d(torch.rand(4, 1, 16, 16))
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 3
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02)
    plain = Discriminator((1, 16, 16), "global", 8, 2)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())


@pytest.mark.parametrize("options", [{"penalty": "r1"}, {"loss": "wasserstein", "penalty": "gradient-penalty"},
                                     {"loss": "wasserstein", "spectral_norm": True},
                                     {"loss": "non-saturating", "spectral_norm": True, "penalty": "r1", "penalty_weight": 1.0}])
def test_each_critic_option_trains_and_stays_finite(options):
    model, loss, x = setup(**options)
    adv = loss.terms["adv"]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = snapshot(adv.discriminator)
    for step in range(3):
        out = model(x)
        total, _ = loss(out, x, step)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        stats = adv.critic_step(x, out["x_hat"])
        assert torch.isfinite(stats).all() and 0 <= stats[1] <= 1 and 0 <= stats[2] <= 1
    assert not same(before, snapshot(adv.discriminator))


def test_the_penalty_changes_the_discriminators_update():
    updates = []
    for options in ({}, {"penalty": "r1", "penalty_weight": 100.0}):
        model, loss, x = setup(seed=3, **options)
        adv = loss.terms["adv"]
        out = model(x)
        adv.critic_step(x, out["x_hat"])
        updates.append(snapshot(adv.discriminator))
    assert not same(*updates)


def test_critic_options_validate_and_keep_old_run_ids():
    from pydantic import ValidationError

    from lossbench.losses.specs import AdversarialSpec

    with pytest.raises(ValidationError, match="wasserstein needs a Lipschitz critic"):
        AdversarialSpec(term="adversarial", loss="wasserstein")
    with pytest.raises(ValidationError, match="penalty_weight has no effect without a penalty"):
        AdversarialSpec(term="adversarial", penalty_weight=1.0)
    with pytest.raises(ValidationError):
        AdversarialSpec(term="adversarial", penalty="r2")
    # at their defaults the new options are not in a run's config (run ids of earlier studies stay valid) ...
    plain = AdversarialSpec(term="adversarial").config()
    assert not {"penalty", "penalty_weight", "spectral_norm"} & set(plain)
    # ... and set, they are
    held = AdversarialSpec(term="adversarial", penalty="r1", spectral_norm=True).config()
    assert held["penalty"] == "r1" and held["spectral_norm"] is True and held["penalty_weight"] == 10.0
