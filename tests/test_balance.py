"""Loss-balance diagnostics: gradient norms per term, and the 100x dominance flag."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from lossbench.train.balance import dominance, gradient_norms
from lossbench.losses import build_loss
from lossbench.models import build_model


def test_norms_scale_with_the_weight_and_kl_reaches_only_the_code():
    torch.manual_seed(0)
    model = build_model("vae-mlp", (1, 8, 8), {"hidden": [16], "latent_dim": 2})
    x = torch.rand(6, 1, 8, 8)
    one = gradient_norms(model, build_loss([{"term": "l2", "label": "l2"}, {"term": "kl", "label": "kl"}]), x, 0)
    two = gradient_norms(model, build_loss([{"term": "l2", "label": "l2", "weight": 2.0}, {"term": "kl", "label": "kl"}]), x, 0)
    assert two["l2"]["decoder"] == pytest.approx(2 * one["l2"]["decoder"], rel=1e-6)
    assert one["kl"]["decoder"] == 0.0 and one["kl"]["code"] > 0
    assert model.training  # restored


def test_l2_gradient_at_the_logits_by_hand():
    torch.manual_seed(1)
    model = build_model("ae-mlp", (1, 4, 4), {"hidden": [8], "latent_dim": 2, "output": "sigmoid"})
    x = torch.rand(3, 1, 4, 4)
    norms = gradient_norms(model, build_loss([{"term": "l2", "label": "l2"}]), x, 0)
    model.eval()
    logits = model(x)["logits"].detach()
    s = torch.sigmoid(logits)
    expected = (2 * (s - x) * s * (1 - s) / 3).norm()  # d mean_n sum_p (s - x)^2 / d logits
    assert norms["l2"]["decoder"] == pytest.approx(float(expected), rel=1e-5)


def test_l2_gradient_at_a_linear_output_by_hand():
    torch.manual_seed(1)
    model = build_model("ae-mlp", (1, 4, 4), {"hidden": [8], "latent_dim": 2, "output": "linear"})
    x = torch.rand(3, 1, 4, 4)
    norms = gradient_norms(model, build_loss([{"term": "l2", "label": "l2"}]), x, 0)
    model.eval()
    expected = (2 * (model(x)["decoded"].detach() - x) / 3).norm()  # no sigmoid factor
    assert norms["l2"]["decoder"] == pytest.approx(float(expected), rel=1e-5)


def test_dominance_on_hand_made_norms():
    assert dominance({"a": {"decoder": 1000.0, "code": 0.0}, "b": {"decoder": 1.0, "code": 0.0}}, 3) == [
        "epoch 3: at the decoder the gradient of a is 1,000x that of b (1e+03 vs 1); b barely trains"]
    assert dominance({"a": {"decoder": 50.0, "code": 1.0}, "b": {"decoder": 1.0, "code": 1.0}}, 1) == []
    assert dominance({"a": {"decoder": 5.0, "code": 0.0}, "kl": {"decoder": 0.0, "code": 3.0}}, 1) == []


def test_a_drowned_kl_term_is_flagged_in_the_run_and_the_summary(cli, write_study, tmp_path):
    study = write_study({"seeds": [0], "models": [{"name": "vae-mlp", "hidden": [32], "latent_dim": 2}],
                         "conditions": {"tiny-beta": [{"term": "bce"}, {"term": "kl", "weight": 1.0e-6}],
                                        "beta1": [{"term": "bce"}, {"term": "kl"}]}})
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 0
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    flagged = {c: json.loads((tmp_path / "o" / "runs" / r / "metrics.json").read_text())["flags"]
               for c, r in zip(summary["condition"], summary["run_id"])}
    balance = [f["message"] for f in flagged["tiny-beta"] if f["kind"] == "loss-balance"]
    assert balance and "of bce is" in balance[-1] and "that of kl" in balance[-1]
    assert "warning: vae-mlp/tiny-beta/s0: epoch 1: at the code" in err
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "## Flags" in md and "loss balance, epoch" in md and "tiny-beta" in md.split("## Flags")[1]
    run = summary[summary["condition"] == "tiny-beta"]["run_id"].iloc[0]
    history = pd.read_csv(tmp_path / "o" / "runs" / run / "history.csv")
    assert {"grad[decoder]:bce", "grad[code]:kl"} <= set(history.columns)
