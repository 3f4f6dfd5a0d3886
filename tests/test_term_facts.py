"""Issue 29 §4: a term's spec is built once and says what the rest of lossbench needs to know (its
role, its networks, its label); training, scoring and the report read that, never a term's name."""

from __future__ import annotations

from typing import ClassVar

import pytest

from lossbench.core.roles import CRITIC, PERCEPTUAL, PIXEL, RATE, STRUCTURAL
from lossbench.losses import LOSS_TERMS, term_specs
from lossbench.report import facts
from lossbench.report.trade_off import sweep_key


def test_every_built_in_term_states_its_role():
    roles = {name: entry.spec.role for name, entry in LOSS_TERMS.items() if name in
             ("l1", "l2", "lp", "bce", "kl", "ssim", "ms-ssim", "mix", "perceptual", "adversarial")}
    assert roles == {"l1": PIXEL, "l2": PIXEL, "lp": PIXEL, "bce": PIXEL, "kl": RATE, "ssim": STRUCTURAL,
                     "ms-ssim": STRUCTURAL, "mix": STRUCTURAL, "perceptual": PERCEPTUAL, "adversarial": CRITIC}
    # a saturated sigmoid stops every term's gradient but those reading the logits (bce) or the code (kl)
    assert {n for n, e in LOSS_TERMS.items() if n in roles and not e.spec.through_output} == {"bce", "kl"}


def test_a_term_resolves_itself_for_the_images_it_will_see():
    mix, perceptual = term_specs([{"term": "mix"}, {"term": "perceptual"}])
    assert mix.resolve(28).config()["structural"] == "ssim" and mix.resolve(28).label == "mix(ssim)"
    assert mix.resolve(256).label == "mix(ms-ssim)"
    resolved = perceptual.resolve(28)
    assert resolved.label == "perceptual(domain)" and resolved.layers  # the network's default layers, written out
    assert resolved.feature_networks() == [("domain", resolved.layers)]
    assert term_specs([{"term": "l2", "label": "mine"}])[0].resolve(28).label == "mine"


def test_the_study_carries_the_specs_it_validated_to_its_runs(tmp_path):
    from lossbench.study.spec import build_study

    study = build_study({"name": "s", "data": {"name": "synthetic", "n": 64, "size": 16},
                         "models": [{"name": "ae-mlp"}, {"name": "vae-mlp"}],
                         "conditions": {"adv": [{"term": "l2"}, {"term": "adversarial", "weight": 0.5}]}}, "<test>")
    for run in study.runs:
        assert [s.config() for s in run.terms] == run.config["condition"]["terms"]
    vae = next(r for r in study.runs if r.model == "vae-mlp")
    assert [s.role for s in vae.terms] == [PIXEL, CRITIC, RATE]  # kl added for the VAE, found by its role


@pytest.fixture
def my_critic():
    """A user's term that trains a critic, under a name lossbench has never heard of."""
    from lossbench.losses import TermSpec
    from lossbench.losses.base import Term
    from lossbench.registry import register_term

    class MyCriticSpec(TermSpec):
        role: ClassVar[str] = CRITIC

    class MyCritic(Term):
        def values(self, out, x):
            return (out["x_hat"] - x).abs().flatten(1).sum(1)

    register_term("my-critic", MyCritic, MyCriticSpec, "a user's critic")
    yield
    LOSS_TERMS.pop("my-critic", None)


def _config(weight, term="my-critic", condition="c"):
    return {"condition": {"name": condition, "terms": [{"term": "l2", "label": "l2", "weight": 1.0},
                                                        {"term": term, "label": term, "weight": weight}]}}


def test_the_report_finds_a_sweep_by_the_terms_role_not_its_name(my_critic):
    """Before §4 the report looked for a term named 'adversarial': a user's critic was no sweep."""
    assert sweep_key(_config(0.3))[1] == 0.3
    assert sweep_key(_config(0.3))[0] == sweep_key(_config(3.0))[0]


def test_a_folder_reports_its_terms_facts_without_the_registry():
    """The manifest's term facts answer for a term this process has not registered (a user's, in
    another process); without them, such a term has no role and is no sweep."""
    manifest = {"metrics": {}, "term_facts": {"c": {"l2": {"term": "l2", "role": PIXEL, "weight": 1.0},
                                                    "elsewhere": {"term": "elsewhere", "role": CRITIC, "weight": 0.7}}}}
    assert sweep_key(_config(0.7, term="elsewhere")) is None  # unknown here, and no facts recorded
    with facts.reading(manifest):
        assert sweep_key(_config(0.7, term="elsewhere"))[1] == 0.7
        assert [t["role"] for t in facts.terms_of(_config(0.7, term="elsewhere"))] == [PIXEL, CRITIC]
