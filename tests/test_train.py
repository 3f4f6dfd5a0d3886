"""Training: determinism from the seed on CPU, and the NaN guard."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import REPO
import torch

from lossbench.losses import LOSS_TERMS, TermEntry
from lossbench.losses.base import PixelSpec, Term


def run_and_read(cli, study, out):
    code, _, err = cli("run", study, "--out", out, "--device", "cpu")
    assert code == 0, err
    return pd.read_csv(out / "summary.csv")


def test_same_seed_gives_identical_metrics_on_cpu(cli, write_study, tmp_path):
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]}})
    a = run_and_read(cli, study, tmp_path / "a")
    b = run_and_read(cli, study, tmp_path / "b")
    assert a["run_id"].tolist() == b["run_id"].tolist()
    for col in ("mse", "psnr", "ssim"):
        assert a[col].tolist() == b[col].tolist()
    ha = pd.read_csv(tmp_path / "a" / "runs" / a["run_id"][0] / "steps.csv")
    hb = pd.read_csv(tmp_path / "b" / "runs" / a["run_id"][0] / "steps.csv")
    pd.testing.assert_frame_equal(ha, hb)


def test_different_seeds_differ(cli, write_study, tmp_path):
    s = run_and_read(cli, write_study({"conditions": {"l2": [{"term": "l2"}]}}), tmp_path / "o")
    assert s["mse"].nunique() == 2


class _NaNAfter(Term):
    """A test term that turns NaN from step 3 on (a stand-in for a diverging loss)."""

    calls = 0

    def values(self, out, x):
        _NaNAfter.calls += 1
        v = (out["x_hat"] - x).square().flatten(1).sum(1)
        return v * float("nan") if _NaNAfter.calls > 3 else v


def test_nan_stops_the_run_marks_it_failed_and_the_study_goes_on(cli, write_study, tmp_path, monkeypatch):
    monkeypatch.setitem(LOSS_TERMS, "nan-after-3", TermEntry(_NaNAfter, PixelSpec, "test only"))
    _NaNAfter.calls = 0
    study = write_study({"seeds": [0], "training": {"epochs": 3, "batch_size": 16},
                         "conditions": {"bad": [{"term": "nan-after-3"}], "l2": [{"term": "l2"}]}})
    code, out, err = cli("run", study, "--out", tmp_path / "o", "--device", "cpu")
    assert code == 0
    assert "failed: non-finite loss at step 3 (epoch 1), term nan-after-3" in err
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    bad = summary[summary["condition"] == "bad"].iloc[0]
    assert bad["status"] == "failed" and pd.isna(bad["mse"])
    assert summary[summary["condition"] == "l2"].iloc[0]["status"] == "done"
    run_dir = tmp_path / "o" / "runs" / bad["run_id"]
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"
    assert not (run_dir / "checkpoint.pt").exists()
    assert pd.read_csv(run_dir / "steps.csv")["step"].max() == 2  # the finite steps (0, 1, 2) are kept
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "## Runs not in the averages" in md and "**failed**" in md and "| bad | 0 (1 failed) |" in md


def test_checkpoint_loads_weights_only(cli, write_study, tmp_path):
    s = run_and_read(cli, write_study({"seeds": [0]}), tmp_path / "o")
    state = torch.load(tmp_path / "o" / "runs" / s["run_id"][0] / "checkpoint.pt", weights_only=True)
    assert "model" in state and all(isinstance(v, torch.Tensor) for v in state["model"].values())


# ---------------------------------------------------------------- output parameterisation

@pytest.mark.slow
def test_l1_reconstructs_with_a_linear_output_where_the_sigmoid_saturates(cli, write_study, tmp_path):
    """The old "L1 collapse" was the sigmoid's: at this budget (10 epochs, main-study model and data)
    the linear decoder has left L1's all-black plateau, the sigmoid one is still on it, saturated
    (measured: linear MSE 0.037 and 0.029; sigmoid 0.086 and 0.093 at mean |logit| 72 and 112)."""
    study = write_study({
        "seeds": [0, 2], "data": {"name": "mnist-5k"},
        "models": [{"name": "ae-conv", "label": "linear", "channels": [16, 32], "output": "linear"},
                   {"name": "ae-conv", "label": "sigmoid", "channels": [16, 32], "output": "sigmoid"}],
        "conditions": {"l1": [{"term": "l1"}]}, "training": {"epochs": 10, "batch_size": 128, "lr": 2.0e-3},
        "metrics": ["mse"]})
    out = tmp_path / "o"
    code, _, err = cli("run", study, "--out", out, "--device", "cpu")
    assert code == 0, err
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec

    black = float(load_dataset(DataSpec(name="mnist-5k")).test_x.square().mean())  # MSE of an all-black output
    summary = pd.read_csv(out / "summary.csv")
    for r in summary.itertuples():
        flags = json.loads((out / "runs" / r.run_id / "metrics.json").read_text())["flags"]
        saturated = [f["message"] for f in flags if f["kind"] == "saturated-output"]
        if r.model == "linear":
            assert r.mse < 0.5 * black and not saturated and pd.isna(r.mean_abs_logit)
        else:
            assert r.mean_abs_logit > 18.7 and saturated and "A property of output: sigmoid, not of the loss" in saturated[0]
    assert "saturated output" in (out / "summary.md").read_text()


def test_a_sigmoid_read_by_bce_is_not_flagged_saturated():
    from lossbench.score import health_flags

    x = torch.rand(4, 1, 8, 8)
    bce = [{"term": "bce", "label": "bce"}]
    assert health_flags(x, x, {"mean_abs_logit": 40.0}, bce) == []
    assert health_flags(x, x, {"mean_abs_logit": 40.0}, bce + [{"term": "l1", "label": "l1"}])[0].kind == "saturated-output"
    assert health_flags(x, x, {"mean_abs_logit": 10.0}, [{"term": "l1", "label": "l1"}]) == []


# ---------------------------------------------------------------- early stopping

def test_stopping_keeps_the_best_epoch_of_a_synthetic_curve():
    from lossbench.train import Stopping

    s = Stopping(patience=3, min_delta=0.01)
    curve = [10.0, 8.0, 7.0, 6.99, 7.5, 6.95, 8.0]  # 6.99 and 6.95 improve on 7 by less than 1%
    for epoch, value in enumerate(curve, 1):
        s.update(value, epoch, lambda e=epoch: {"epoch": e})
        if s.exhausted:
            break
    assert (s.best_epoch, s.best, s.state, epoch) == (3, 7.0, {"epoch": 3}, 6)


def _scripted_validation(monkeypatch, curve, states):
    """CompositeLoss.validation returns ``curve`` one epoch at a time; the model's weights at each
    epoch's end are kept in ``states``."""
    from lossbench.losses.composite import CompositeLoss

    original = CompositeLoss.validation

    def validation(self, model, x, step, batch_size=500):
        out = original(self, model, x, step, batch_size)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return {**out, "monitor": curve[len(states) - 1]}

    monkeypatch.setattr(CompositeLoss, "validation", validation)


def test_early_stopping_evaluates_the_best_validation_epoch(cli, write_study, tmp_path, monkeypatch):
    states = []
    _scripted_validation(monkeypatch, [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 9.0, 9.0], states)
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]},
                         "training": {"batch_size": 32, "early_stopping": {"patience": 3, "min_delta": 0.0, "max_epochs": 20}}})
    out = tmp_path / "o"
    assert cli("run", study, "--out", out, "--device", "cpu")[0] == 0
    run = next((out / "runs").iterdir())
    result = json.loads((run / "metrics.json").read_text())
    assert (result["epochs"], result["evaluated_epoch"], result["stopped"]) == (6, 3, "converged")
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 3
    assert all(torch.equal(checkpoint["model"][k], states[2][k]) for k in states[2])  # the weights of epoch 3
    assert not all(torch.equal(checkpoint["model"][k], states[-1][k]) for k in states[2])
    history = pd.read_csv(run / "history.csv")
    assert list(history["val[total]"]) == [5.0, 4.0, 3.0, 3.5, 3.2, 3.1] and "val[l2]" in history
    # the progression keeps epochs 1, 2, 4 (powers of two), 3 (evaluated) and 6 (the last), not every epoch
    assert sorted(p.name for p in run.glob("recon_epoch_*.png")) == [f"recon_epoch_00{e}.png" for e in (1, 2, 3, 4, 6)]
    assert torch.load(run / "recon_epochs.pt", weights_only=True)["epochs"].tolist() == [1, 2, 3, 4, 6]
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["evaluated_epoch"].iloc[0], summary["stopped"].iloc[0]) == (3, "converged")


def test_a_run_still_improving_at_max_epochs_is_flagged_not_converged(cli, write_study, tmp_path, monkeypatch):
    _scripted_validation(monkeypatch, [5.0, 4.0, 3.0], [])
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]},
                         "training": {"batch_size": 32, "early_stopping": {"patience": 3, "max_epochs": 3}}})
    out = tmp_path / "o"
    assert cli("run", study, "--out", out, "--device", "cpu")[0] == 0
    result = json.loads(next((out / "runs").glob("*/metrics.json")).read_text())
    assert result["stopped"] == "max_epochs" and result["evaluated_epoch"] == 3
    assert any(f["kind"] == "not-converged" and f["message"].startswith("not converged: max_epochs (3)") for f in result["flags"])
    assert "reached max_epochs before their validation loss stopped improving" in (out / "summary.md").read_text()


def test_a_plateau_term_starts_from_the_best_weights(cli, write_study, tmp_path, monkeypatch):
    """At the plateau the best epoch's weights come back, the adversarial term switches on, and
    adversarial_epochs more epochs train; the last one is evaluated."""
    import lossbench.train.run as train  # train_run looks train_epoch up here

    states, starts = [], []
    _scripted_validation(monkeypatch, [5.0, 4.0, 4.5, 4.4] + [3.0] * 5, states)
    original = train.train_epoch
    monkeypatch.setattr(train, "train_epoch", lambda model, *a, **k: starts.append(
        {k_: v.clone() for k_, v in model.state_dict().items()}) or original(model, *a, **k))
    study = write_study({
        "seeds": [0], "data": {"name": "synthetic", "n": 96, "size": 16},
        "conditions": {"adv": [{"term": "l2"}, {"term": "adversarial", "start": "plateau", "channels": 4}]},
        "training": {"batch_size": 32, "early_stopping": {"patience": 2, "min_delta": 0.0, "adversarial_epochs": 3}}})
    out = tmp_path / "o"
    assert cli("run", study, "--out", out, "--device", "cpu")[0] == 0
    run = next((out / "runs").iterdir())
    result = json.loads((run / "metrics.json").read_text())
    steps_per_epoch = 3  # 77 training images (96 less 20% test, less 10% validation) in batches of 32
    assert result["schedule"] == {"plateau_epoch": 4, "restored_epoch": 2, "started": ["adversarial"],
                                  "start_step": 4 * steps_per_epoch}
    assert (result["epochs"], result["evaluated_epoch"], result["stopped"]) == (7, 7, "adversarial_epochs")
    assert all(torch.equal(starts[4][k], states[1][k]) for k in states[1])  # epoch 5 began from epoch 2's weights
    steps = pd.read_csv(run / "steps.csv")
    before, after = steps[steps["step"] < 12], steps[steps["step"] >= 12]
    assert before["adversarial"].isna().all() and before["d_loss[adversarial]"].isna().all()
    assert after["adversarial"].notna().all() and after["d_loss[adversarial]"].notna().all()
    assert list(pd.read_csv(run / "history.csv")["phase"]) == [1, 1, 1, 1, 2, 2, 2]


def test_plateau_phase_one_is_the_baseline_run_bit_for_bit(cli, write_study, tmp_path):
    """Paired by construction: a condition whose extra term waits for the plateau trains exactly
    as the baseline until then (same seed: same init, batches and steps), so the paired difference
    isolates what the term does."""
    study = write_study({
        "seeds": [0], "data": {"name": "synthetic", "n": 96, "size": 16},
        "conditions": {"l2": [{"term": "l2"}],
                       "l2+adv": [{"term": "l2"}, {"term": "adversarial", "start": "plateau", "channels": 4}]},
        "training": {"batch_size": 32, "early_stopping": {"patience": 2, "min_delta": 0.05, "max_epochs": 60,
                                                           "adversarial_epochs": 2}}})
    out = tmp_path / "o"
    assert cli("run", study, "--out", out, "--device", "cpu")[0] == 0
    summary = pd.read_csv(out / "summary.csv").set_index("condition")
    base, adv = (out / "runs" / summary.loc[c, "run_id"] for c in ("l2", "l2+adv"))
    schedule = json.loads((adv / "metrics.json").read_text())["schedule"]
    assert schedule["restored_epoch"] == summary.loc["l2", "evaluated_epoch"]
    a, b = pd.read_csv(base / "steps.csv"), pd.read_csv(adv / "steps.csv")
    shared = a[a["step"] < schedule["start_step"]]
    assert len(shared) == len(a) and shared["l2"].tolist() == b["l2"].iloc[: len(shared)].tolist()


@pytest.mark.parametrize("impl", ["fast", "single", "foreach", "fused"])
def test_every_optimizer_implementation_is_the_same_update(impl):
    """The fast path (fused Adam) against torch's default: the same mathematics, so after 30 steps
    the weights agree to float round-off (they are not bit-identical, and are not claimed to be)."""
    from lossbench.models import build_model
    from lossbench.train import make_optimizer

    def trained(which, lr=1e-2):
        torch.manual_seed(0)
        model = build_model("ae-mlp", (1, 16, 16), {"hidden": [32], "latent_dim": 3})
        optimizer = make_optimizer("adamw", model.parameters(), lr, which, torch.device("cpu"))
        x = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(1))
        for _ in range(30):
            loss = (model(x)["x_hat"] - x).square().sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    reference, other = trained("auto"), trained(impl)
    torch.testing.assert_close(other, reference, rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError):  # the tolerance sees a 1% different learning rate: the check can fail
        torch.testing.assert_close(trained(impl, lr=1.01e-2), reference, rtol=1e-4, atol=1e-5)


def test_committed_studies_keep_their_run_ids():
    """optimizer_impl: auto (what trained the committed runs) leaves a run id as it was before the
    option existed; any other value is part of the id."""
    from lossbench.study import load_study

    study = load_study(REPO / "studies" / "ae_vs_vae.yaml")
    committed = {p.name for p in (REPO / "results" / "ae_vs_vae" / "runs").iterdir()}
    assert {r.run_id for r in study.runs} == committed
    fast = load_study(REPO / "studies" / "ae_vs_vae.yaml", ["training.optimizer_impl=fast"])
    assert not {r.run_id for r in fast.runs} & committed


@pytest.mark.slow
def test_training_compile_gives_the_eager_numbers(cli, write_study, tmp_path):
    """training.compile: true (torch.compile of the forward pass) against eager: the same run to
    float round-off, and a run id of its own."""
    results = {}
    for flag in (False, True):
        study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]},
                             "training": {"epochs": 2, "batch_size": 32, "compile": flag}}, name=f"s{flag}.yaml")
        out = tmp_path / f"o{flag}"
        code, _, err = cli("run", study, "--out", out, "--device", "cpu")
        assert code == 0, err
        (path,) = (out / "runs").glob("*/metrics.json")
        results[flag] = (path.parent.name, json.loads(path.read_text())["metrics"])
    assert results[True][0] != results[False][0]
    for key, value in results[False][1].items():
        if isinstance(value, float):
            assert results[True][1][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
