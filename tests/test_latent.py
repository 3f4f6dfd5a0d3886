"""Random codes, traversal grids, KL per dimension, checks, load_results, the AE/VAE figures."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from lossbench.score.latent import kl_per_dim, random_codes, traversal_grid
from lossbench.models import build_model
from lossbench.report.checks import evaluate_checks


def test_ae_random_codes_follow_the_fitted_gaussian_and_the_box():
    torch.manual_seed(0)
    model = build_model("ae-mlp", (1, 8, 8), {"hidden": [16], "latent_dim": 3})
    a = torch.randn(4000, 3, dtype=torch.float64)
    train = a @ torch.tensor([[2.0, 0, 0], [0.5, 1.0, 0], [0, 0, 0.1]], dtype=torch.float64) + torch.tensor([1.0, -2.0, 5.0], dtype=torch.float64)
    codes = random_codes(model, {"mu": train.float()}, 20000, seed=3)
    assert set(codes) == {"gaussian", "uniform"}
    g = codes["gaussian"]
    assert torch.allclose(g.mean(0), train.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(g.T), torch.cov(train.T), atol=0.08)
    u = codes["uniform"]
    low, high = train.min(0).values, train.max(0).values
    assert (u >= low - 1e-6).all() and (u <= high + 1e-6).all()
    assert torch.allclose(u.mean(0), (low + high) / 2, atol=0.1)  # uniform: centred in the box
    assert torch.equal(random_codes(model, {"mu": train.float()}, 50, seed=3)["uniform"],
                       random_codes(model, {"mu": train.float()}, 50, seed=3)["uniform"])


def test_vae_random_codes_prior_fitted_gaussian_and_aggregate_posterior():
    model = build_model("vae-mlp", (1, 8, 8), {"hidden": [16], "latent_dim": 4})
    g = torch.Generator().manual_seed(0)
    # two tight clusters of posterior means, each with a small posterior spread
    mu = torch.cat([torch.full((50, 4), -3.0), torch.full((50, 4), 3.0)]) + 0.1 * torch.randn(100, 4, generator=g)
    logvar = torch.full((100, 4), 2 * torch.log(torch.tensor(0.2)).item())
    codes = random_codes(model, {"mu": mu, "logvar": logvar}, 20000, seed=1)
    assert set(codes) == {"gaussian", "prior", "aggregate"}
    z = codes["prior"]
    assert z.mean(0).abs().max() < 0.05 and (z.std(0) - 1).abs().max() < 0.05
    fitted = codes["gaussian"]  # one Gaussian over both clusters: mass in the gap between them
    assert torch.allclose(fitted.std(0), mu.double().std(0), rtol=0.05) and (fitted[:, 0].abs() < 1).float().mean() > 0.1
    agg = codes["aggregate"]  # a mixture of the posteriors: nothing in the gap, spread 0.2 around each mean
    assert (agg[:, 0].abs() < 1).float().mean() == 0
    near = agg[agg[:, 0] > 0]
    assert abs(float(near.mean()) - 3.0) < 0.05 and abs(float(near[:, 0].std()) - (0.2**2 + 0.1**2) ** 0.5) < 0.02


def test_traversal_grid_fixes_one_coordinate_and_sweeps_the_data_range():
    data = torch.stack([torch.linspace(-1, 1, 1001), torch.linspace(0, 10, 1001), torch.linspace(-5, 5, 1001)], 1)
    grid = traversal_grid(data, fixed_dim=0, fixed_value=0.25, steps=10)
    assert grid.shape == (100, 3)
    assert (grid[:, 0] == 0.25).all()
    square = grid.reshape(10, 10, 3)
    assert torch.allclose(square[:, 0, 1], torch.linspace(0.1, 9.9, 10, dtype=torch.float64))  # 1st..99th percentile
    assert torch.allclose(square[0, :, 2], torch.linspace(-4.9, 4.9, 10, dtype=torch.float64))
    assert (square[:, :, 1] == square[:, :1, 1]).all()  # rows vary z2, columns z3


def test_kl_per_dimension_by_hand():
    mu = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    # KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1 - log s^2) / 2
    assert torch.allclose(kl_per_dim(mu, logvar), torch.tensor([0.0, 0.5, 0.5 * (torch.e - 2)]))


def test_checks_pass_fail_and_not_measured():
    runs = pd.DataFrame([
        {"model": "ae", "condition": "c", "seed": s, "status": "done", "mse": m, "fd-domain-samples": f, "fd-domain-uniform": u}
        for s, m, f, u in [(0, 0.01, 300.0, 500.0), (1, 0.02, 280.0, 520.0), (2, 0.015, 290.0, 510.0)]
    ] + [
        {"model": "vae", "condition": "c", "seed": s, "status": "done", "mse": m, "fd-domain-samples": f}
        for s, m, f in [(0, 0.03, 350.0), (1, 0.015, 250.0), (2, 0.02, 300.0)]
    ])
    table = evaluate_checks([
        {"claim": "ae better mse", "metric": "mse", "better": "ae", "than": "vae"},
        {"claim": "vae samples better", "metric": "fd-domain-samples", "better": "vae", "than": "ae"},
        {"claim": "vae prior vs ae box", "metric": "fd-domain-samples", "than_metric": "fd-domain-uniform",
         "better": "vae", "than": "ae"},
        {"claim": "missing", "metric": "ssim", "better": "ae", "than": "vae"},
    ], runs).set_index("claim")
    # mean 0.015 vs 0.0217, but the paired differences (-0.02, +0.005, -0.005) straddle 0
    assert table.loc["ae better mse", "result"] == "PASS (within noise)"
    assert table.loc["ae better mse", "seeds_agree"] == "2 of 3"
    assert table.loc["vae samples better", "result"] == "FAIL (within noise)"  # 300 vs 290
    # differences -150, -270, -210: mean -210, t-interval half-width 4.303 * 60 / sqrt(3) = 149
    box = table.loc["vae prior vs ae box"]
    assert box["result"] == "PASS" and box["mean_than"] == 510
    assert box["difference"] == pytest.approx(-210) and box["difference_ci"] == pytest.approx(4.302653 * 60 / 3**0.5, rel=1e-5)
    assert table.loc["missing", "result"] == "not measured"


AE_VAE = {
    "seeds": [0, 1],
    "data": {"name": "mnist-5k", "train_size": 300, "test_size": 200},
    "models": [{"name": "ae-mlp", "hidden": [32], "latent_dim": 3}, {"name": "vae-mlp", "hidden": [32], "latent_dim": 3}],
    "conditions": {"bce": [{"term": "bce"}]},
    "training": {"epochs": 3, "batch_size": 64},
    "metrics": ["mse", "fd-domain"],
    "report": {"recon_images": 4, "checks": [
        {"claim": "AE reconstructs better", "metric": "mse", "better": "ae-mlp", "than": "vae-mlp"},
        {"claim": "VAE prior beats AE box", "metric": "fd-domain-prior", "than_metric": "fd-domain-uniform",
         "better": "vae-mlp", "than": "ae-mlp"}]},
}


@pytest.fixture(scope="module")
def ae_vae_study(tmp_path_factory, lb_cache):
    import yaml

    from lossbench.cli import main

    folder = tmp_path_factory.mktemp("aevae")
    (folder / "s.yaml").write_text(yaml.safe_dump({"name": "aevae", **AE_VAE}))
    import os

    old = os.environ.get("LOSSBENCH_CACHE")
    os.environ["LOSSBENCH_CACHE"] = str(lb_cache)
    try:
        assert main(["run", str(folder / "s.yaml"), "--out", str(folder / "out")]) == 0
    finally:
        os.environ.pop("LOSSBENCH_CACHE") if old is None else os.environ.__setitem__("LOSSBENCH_CACHE", old)
    return folder / "out"


def test_ae_vs_vae_figures_and_checks(ae_vae_study):
    figures = ae_vae_study / "figures"
    for name in ("progression_ae-mlp.png", "progression_vae-mlp.png", "random_codes.png", "latent_scatter.png",
                 "latent_traversal_ae-mlp.png", "latent_traversal_vae-mlp.png"):
        assert (figures / name).is_file(), name
    checks = (ae_vae_study / "checks.md").read_text()
    assert "AE reconstructs better" in checks and "fd-domain-prior vs fd-domain-uniform" in checks
    # a check on a flagged cell is not in bold (issue 32 §1): either form counts
    assert checks.count("| **PASS") + checks.count("| **FAIL") + checks.count("| PASS") + checks.count("| FAIL") == 2
    # scoped to what was run: the terms with beta, the output, the epochs
    assert "- vae-mlp / bce: bce, kl (β = 1); output sigmoid; epoch 3 evaluated (2 epochs; 2 seeds)" in checks


def test_load_results_on_a_tiny_study(ae_vae_study):
    from lossbench import load_results

    df = load_results(ae_vae_study)
    assert len(df) == 4 and set(df["model"]) == {"ae-mlp", "vae-mlp"}
    assert {"mse", "fd-domain-recon", "fd-domain-samples", "config.model.latent_dim", "config.training.epochs",
            "config.condition.terms"} <= set(df.columns)
    assert (df["config.model.latent_dim"] == 3).all()
    vae = df[df["model"] == "vae-mlp"]
    assert vae["rate"].notna().all() and vae["active_units"].between(0, 3).all()
    assert df[df["model"] == "ae-mlp"]["fd-domain-uniform"].notna().all()
    assert vae[["fd-domain-prior", "fd-domain-aggregate"]].notna().all().all() and vae["fd-domain-uniform"].isna().all()
    latent = torch.load(ae_vae_study / "runs" / df["run_id"].iloc[0] / "latent.pt", weights_only=True)
    assert latent["mu"].shape == (200, 3) and len(latent["traversal"]) == 3
    assert latent["traversal"][0]["images"].shape == (100, 1, 28, 28)
    stored = torch.load(ae_vae_study / "runs" / df["run_id"].iloc[0] / "recon_epochs.pt", weights_only=True)
    assert stored["epochs"].tolist() == [1, 2, 3]  # 1, 2 (powers of two) and 3 (the last, evaluated)
    assert stored["images"].shape == (3, 4, 1, 28, 28) and stored["images"].dtype == torch.uint8


def test_checks_flag_a_kl_warm_up_that_never_finished(tmp_path):
    """Issue 22 #2: β = 4 with a 500-step warm-up, evaluated after 116 steps, reached 4 × 116/500."""
    import json

    from lossbench.report.checks import _beta, beta_reached

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"steps": 145, "epochs": 5, "evaluated_epoch": 4}))  # 29 per epoch
    term = {"term": "kl", "weight": 4.0, "warmup": 500}
    assert beta_reached(tmp_path, term, "r1") == pytest.approx(4 * 116 / 500)
    text = _beta(tmp_path, term, ["r1"])
    assert "β = 4 ⚠ warm-up of 500 steps unfinished: β reached 0.93" in text
    assert _beta(tmp_path, {**term, "warmup": 100}, ["r1"]) == " (β = 4)"  # finished: no flag
    assert _beta(tmp_path, {**term, "warmup": 0}, ["r1"]) == " (β = 4)"
