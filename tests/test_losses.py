"""Loss terms against analytic values and torch.distributions (an independent reference)."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from lossbench.losses import LOSS_TERMS, build_loss


def term(name, **options):
    entry = LOSS_TERMS[name]
    return entry.cls(entry.spec(term=name, **options))


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 6, 6, generator=g)
    logits = torch.randn(4, 1, 6, 6, generator=g)
    return {"logits": logits, "x_hat": torch.sigmoid(logits)}, x


def test_pixel_terms_are_per_image_sums(pair):
    out, x = pair
    d = out["x_hat"] - x
    assert torch.allclose(term("l2").values(out, x), (d**2).sum((1, 2, 3)))
    assert torch.allclose(term("l1").values(out, x), d.abs().sum((1, 2, 3)))
    assert torch.allclose(term("l2", reduction="mean").values(out, x), (d**2).mean((1, 2, 3)))
    assert torch.allclose(term("lp", p=2).values(out, x), term("l2").values(out, x))
    assert torch.allclose(term("lp", p=1).values(out, x), term("l1").values(out, x))
    assert torch.allclose(term("lp", p=3).values(out, x), (d.abs() ** 3).sum((1, 2, 3)))


def test_pixel_terms_are_zero_for_identical_images(pair):
    out, x = pair
    same = {"x_hat": x}
    for name in ("l1", "l2", "lp"):
        assert torch.all(term(name).values(same, x) == 0)


def test_bce_is_the_bernoulli_negative_log_likelihood(pair):
    out, x = pair
    reference = -Bernoulli(logits=out["logits"], validate_args=False).log_prob(x).sum((1, 2, 3))
    assert torch.allclose(term("bce").values(out, x), reference, atol=1e-5)


def test_bce_refuses_a_linear_output(pair):
    _, x = pair
    with pytest.raises(ValueError, match="output: sigmoid"):
        term("bce").values({"x_hat": x, "decoded": x}, x)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(term("kl").values({"mu": mu, "logvar": logvar}, None), reference, atol=1e-6)
    zero = term("kl").values({"mu": torch.zeros(2, 3), "logvar": torch.zeros(2, 3)}, None)
    assert torch.all(zero == 0)


def test_kl_warmup_is_linear_then_constant():
    kl = term("kl", weight=2.0, warmup=10)
    assert [kl.weight_at(s) for s in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    assert term("kl", weight=0.5).weight_at(0) == 0.5


def test_composite_total_is_weighted_sum_of_batch_means(pair):
    out, x = pair
    loss = build_loss([{"term": "l2", "weight": 2.0, "label": "l2"}, {"term": "l1", "weight": 0.5, "label": "l1"}])
    total, values = loss(out, x, step=0)
    l2, l1 = term("l2").values(out, x).mean(), term("l1").values(out, x).mean()
    assert torch.allclose(values, torch.stack([l2, l1]))
    assert torch.allclose(total, 2.0 * l2 + 0.5 * l1)
    assert loss.names == ["l2", "l1"]


def test_bce_plus_kl_is_the_negative_elbo():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(3, 1, 4, 4, generator=g) > 0.5).float()
    logits, mu, logvar = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    out = {"logits": logits, "x_hat": torch.sigmoid(logits), "mu": mu, "logvar": logvar}
    loss = build_loss([{"term": "bce", "label": "bce"}, {"term": "kl", "label": "kl"}])
    total, _ = loss(out, x, step=0)
    nll = -Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(total, (nll + kl).mean(), atol=1e-5)
