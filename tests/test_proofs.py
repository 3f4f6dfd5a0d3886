"""Issue 40 §2: every loss term and feature network proves what it computes, in the fast suite, parametrised over
the registries (lossbench.losses.proofs): a term registered later is proved by being registered. And the proofs
can fail: each kind of bug they exist for, planted, is named (a wrong layer index, a NaN gradient at x̂ = x, a
value that depends on the batch, a target outside [0, 1] rescaled instead of refused)."""

from __future__ import annotations

import pytest
import torch

from lossbench.losses.proofs import Case, cases, prove_feature_network, prove_term
from lossbench.metrics.features import FEATURE_NETS

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_term_computes_what_its_name_says(case):
    from lossbench.nets.weights import WeightsUnavailable

    try:
        failures = prove_term(case)
    except WeightsUnavailable as exc:
        pytest.skip(f"{case.name}: its network's weights are not on this machine ({str(exc)[:120]}…)")
    assert failures == []


def test_every_registered_term_has_a_case():
    from lossbench.losses import LOSS_TERMS

    # cases() now, not CASES (collected at import): a term a study file registered since (`target:`, in this
    # process: another test's) gets its case too, proved at its defaults
    assert set(LOSS_TERMS) <= {c.spec["term"] for c in cases()}
    # and every built-in one an independent reference, or a reason
    assert all(c.reference is not None or c.why_no_reference for c in CASES if not c.name.startswith("perceptual"))


def _inception(layers):
    from lossbench.metrics.feature_layers import InceptionLayers
    from lossbench.nets.weights import inception_skeleton

    return InceptionLayers(inception_skeleton(), layers)


@pytest.mark.parametrize("name", [n for n, e in FEATURE_NETS.items() if e.layers])
def test_every_layer_of_every_feature_network_has_its_documented_shape(name):
    build = _inception if name == "inception" else None
    assert prove_feature_network(name, build) == []


def test_the_domain_terms_value_equals_its_cosine_reference():
    """The perceptual term against an independent formula: per position |â − b̂|² = 2 − 2 cos(a, b)."""
    from lossbench.losses.proofs import _feature_reference, default_networks

    network = default_networks("domain", ["conv1", "conv2", "fc"])
    case = next(c for c in CASES if c.name == "perceptual (domain)")
    case = Case(case.name, case.spec, reference=_feature_reference(network), minimum=case.minimum)
    assert prove_term(case, lambda name, layers: network) == []


# ---------------------------------------------------------------- planted bugs: the proofs must name each one

def test_a_wrong_layer_index_is_named(monkeypatch):
    """The bug of lossbench 0.4 planted again: fc at index 9, past the body's end (then [fc] compares nothing),
    and conv2 read after its pool instead of its ReLU."""
    import lossbench.metrics.feature_layers as fl

    real = fl.named_layers
    monkeypatch.setattr(fl, "named_layers", lambda body: {**real(body), "fc": 9})
    failures = prove_feature_network("domain")
    assert failures == ["domain: layer fc yields [], documented (128, 1, 1)"], failures
    monkeypatch.setattr(fl, "named_layers", lambda body: {**real(body), "conv2": 5})
    failures = prove_feature_network("domain")
    assert failures == ["domain: layer conv2 yields [(64, 7, 7)], documented (64, 14, 14)"], failures


def test_a_nan_gradient_at_x_hat_equal_x_is_named(monkeypatch):
    from lossbench.losses import pixel

    monkeypatch.setattr(pixel.L2, "values", lambda self, out, x: (out["x_hat"] - x).square().flatten(1).sum(1).sqrt().square())
    failures = prove_term(next(c for c in CASES if c.name == "l2"))
    assert any("non-finite value or gradient at x_hat = x" in f for f in failures), failures


def test_a_value_that_depends_on_the_batch_is_named(monkeypatch):
    from lossbench.losses import pixel

    monkeypatch.setattr(pixel.L1, "values", lambda self, out, x: (out["x_hat"] - x).abs().flatten(1).sum(1)
                        - (out["x_hat"] - x).abs().mean())  # a batch statistic leaks into each image's value
    failures = prove_term(next(c for c in CASES if c.name == "l1"))
    assert any("depends on the batch" in f for f in failures), failures


def test_a_target_outside_the_range_silently_accepted_is_named(monkeypatch):
    from lossbench.losses.base import Term

    monkeypatch.setattr(Term, "check_images", lambda self, x: None)  # a term that rescales instead of refusing
    failures = prove_term(next(c for c in CASES if c.name == "ssim"))
    assert any("accepts targets above 1" in f for f in failures), failures


def test_a_value_off_its_reference_is_named(monkeypatch):
    from lossbench.losses import pixel

    monkeypatch.setattr(pixel.L1, "values", lambda self, out, x: 1.01 * (out["x_hat"] - x).abs().flatten(1).sum(1))
    failures = prove_term(next(c for c in CASES if c.name == "l1"))
    assert any("differs from its independent reference" in f for f in failures), failures


def test_training_refuses_targets_outside_the_range_in_one_line():
    """The check the proofs hold terms to runs before anything trains: CompositeLoss.prepare, on every split."""
    from lossbench.core.errors import LossbenchError
    from lossbench.losses import build_loss

    loss = build_loss([{"term": "l2", "label": "l2"}])
    with pytest.raises(LossbenchError, match=r"outside \[0, 1\]"):
        loss.prepare({"train": torch.rand(4, 1, 8, 8) * 255, "val": None})


def test_a_network_that_cannot_read_the_channels_is_refused_in_one_line():
    from lossbench.core.errors import LossbenchError
    from lossbench.losses.perceptual import Perceptual
    from lossbench.losses.proofs import default_networks
    from lossbench.losses.specs import PerceptualSpec

    term = Perceptual(PerceptualSpec(term="perceptual", network="domain"), default_networks("domain", ["conv1"]))
    with pytest.raises(LossbenchError, match="reads 1-channel images, these have 3") as err:
        term.check_images(torch.rand(2, 3, 28, 28))
    assert "\n" not in str(err.value)
