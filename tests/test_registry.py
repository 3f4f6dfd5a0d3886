"""Extension from outside the package: register_* in Python and ``target:`` in a study file."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

PLUGIN = textwrap.dedent('''
    import torch
    from pydantic import Field

    from lossbench.losses import Term, TermSpec
    from lossbench.models import MLPParams
    from lossbench.models.ae import Autoencoder
    from lossbench.models.nets import MLPDecoder, MLPEncoder


    class SquaredError(Term):
        """The built-in l2, written again outside lossbench: a study must give the same numbers."""

        class Spec(TermSpec):
            scale: float = Field(1.0, gt=0)

        def values(self, out, x):
            return (out["x_hat"] - x).square().flatten(1).sum(1) * self.spec.scale


    class MyAE(Autoencoder):
        """ae-mlp built by a user's own class."""

        Params = MLPParams

        def __init__(self, shape, params):
            out = "linear" if params.output == "auto" else params.output
            super().__init__(MLPEncoder(shape, params.hidden), MLPDecoder(shape, params.hidden, params.latent_dim),
                             params.latent_dim, out)


    class NotATerm:
        pass
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "lb_plugin_test.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lb_plugin_test"
    from lossbench.losses import LOSS_TERMS
    from lossbench.models import MODELS
    from lossbench.study.spec import BUILT_IN

    for table, kind in ((LOSS_TERMS, "term"), (MODELS, "model")):
        for name in [n for n in table if n not in BUILT_IN[kind]]:
            del table[name]


def test_a_target_term_and_model_give_the_built_in_numbers(cli, write_study, tmp_path, plugin):
    study = write_study({"seeds": [0],
                         "models": [{"name": "ae-mlp", "hidden": [32], "latent_dim": 2},
                                    {"name": "my-ae", "target": f"{plugin}.MyAE", "hidden": [32], "latent_dim": 2}],
                         "conditions": {"l2": [{"term": "l2"}],
                                        "mine": [{"term": "mine", "target": f"{plugin}.SquaredError", "scale": 1.0}]}})
    out = tmp_path / "out"
    code, stdout, err = cli("run", study, "--out", out)
    assert code == 0, err
    runs = {}
    for p in (out / "runs").glob("*/metrics.json"):
        config = __import__("yaml").safe_load((p.parent / "config.yaml").read_text())
        runs[(config["model"]["label"], config["condition"]["name"])] = json.loads(p.read_text())["metrics"]
    assert len(runs) == 4
    reference = runs[("ae-mlp", "l2")]
    for key, metrics in runs.items():
        assert metrics == reference, key  # same seed, same init, the same loss: the same numbers


@pytest.mark.parametrize("entry, expected", [
    ({"term": "x", "target": "no_such_package_xyz.Term"}, "cannot import no_such_package_xyz"),
    ({"term": "x", "target": "lb_plugin_test.Missing"}, "lb_plugin_test has no 'Missing'"),
    ({"term": "x", "target": "lb_plugin_test.NotATerm"}, "is not a subclass of lossbench.losses.Term"),
    ({"term": "x", "target": "lb_plugin_test.MyAE"}, "is not a subclass of lossbench.losses.Term"),
    ({"term": "l2", "target": "lb_plugin_test.SquaredError"}, "'l2' is a built-in term"),
    ({"term": "x", "target": "not a path"}, "expected a dotted path"),
    ({"term": "x", "target": "lb_plugin_test.SquaredError", "scale": -1}, "conditions.c[0].scale: must be > 0"),
])
def test_a_bad_target_is_one_line_and_writes_nothing(cli, write_study, tmp_path, plugin, entry, expected):
    out = tmp_path / "out"
    code, _, err = cli("run", write_study({"conditions": {"c": [entry]}}), "--out", out)
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not out.exists()


def test_a_model_target_that_is_not_a_module(cli, write_study, tmp_path, plugin):
    out = tmp_path / "out"
    code, _, err = cli("run", write_study({"models": [{"name": "m", "target": "lb_plugin_test.SquaredError"}]}), "--out", out)
    assert code == 2 and "not an nn.Module class" in err and not out.exists()


def test_register_metric_and_dataset_in_python(cli, write_study, tmp_path):
    import numpy as np

    import lossbench
    from lossbench.data.registry import DATASETS
    from lossbench.metrics import METRICS

    def max_error(x_hat, x):
        return (x_hat - x).abs().flatten(1).amax(1)

    def stripes(spec):
        images = np.zeros((40, 16, 16, 1), np.uint8)
        images[:, ::2] = 200
        images[::2, :, ::3] = 90
        return images, np.arange(40) % 2

    lossbench.register_metric("max-error", max_error, higher_is_better=False, description="largest pixel error")
    lossbench.register_dataset("stripes", stripes, "two kinds of stripes", side=16)
    try:
        with pytest.raises(lossbench.core.errors.LossbenchError, match="registered already"):
            lossbench.register_metric("mse", max_error, higher_is_better=False)
        out = tmp_path / "out"
        code, _, err = cli("run", write_study({"data": {"name": "stripes"}, "metrics": ["mse", "max-error"]}), "--out", out)
        assert code == 0, err
        import pandas as pd

        table = pd.read_csv(out / "summary.csv")
        assert table["max-error"].notna().all()
        assert (table["max-error"] >= table["mse"].pow(0.5) - 1e-6).all()  # max |e| >= RMS error, per image and in the mean
    finally:
        METRICS.pop("max-error", None)
        DATASETS.pop("stripes", None)


def test_the_model_protocol_holds_for_every_built_in_model():
    """What lossbench.registry documents a model must provide, checked on the built-in ones."""
    from lossbench.models import MODELS, build_model

    for name, entry in MODELS.items():
        model = build_model(name, (1, 16, 16), {"latent_dim": 2, "output": "sigmoid"})
        out = model(torch.rand(3, 1, 16, 16))
        assert {"x_hat", "decoded", "z"} <= set(out) and out["x_hat"].shape == (3, 1, 16, 16)
        assert ({"mu", "logvar"} <= set(out)) == entry.variational == model.variational
        assert set(model.encode(torch.rand(3, 1, 16, 16))) >= {"z"}
        assert model.decode(out["z"]).shape == out["decoded"].shape
        assert model.latent_dim == 2 and model.output == "sigmoid" and hasattr(model.last_layer, "weight")


class PooledPixels:
    """A feature network with no weights: 4x4 average-pooled pixels (16-d for 16 px images)."""

    name, dim = "pooled-pixels", 16
    provenance = {"network": "4x4 average pooling of the pixels", "weights_sha256": "none"}

    def __call__(self, images):
        return torch.nn.functional.adaptive_avg_pool2d(images.float(), 4).flatten(1).double()


def _frechet_scipy(a, b) -> float:
    """The Fréchet distance written out with scipy's matrix square root (an independent reference)."""
    import numpy as np
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m1, m2, c1, c2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * root))


def test_a_registered_feature_network_gives_a_distribution_metric(cli, write_study, tmp_path):
    """A new feature network for a distribution metric: two registrations, no lossbench file touched."""
    import lossbench
    from lossbench.nets.bank import FEATURE_SOURCES
    from lossbench.metrics import METRICS

    lossbench.register_features("pooled", lambda bank: PooledPixels())
    lossbench.register_metric("fd-pooled", features="pooled", statistic="fd", description="FD of pooled pixels")
    try:
        with pytest.raises(lossbench.core.errors.LossbenchError, match="not a feature kind"):
            lossbench.register_metric("fd-nothing", features="nothing")
        out = tmp_path / "out"
        code, _, err = cli("run", write_study({"seeds": [0], "data": {"name": "synthetic", "n": 300, "size": 16},
                                               "metrics": ["mse", "fd-pooled"]}), "--out", out,
                           env={"LOSSBENCH_CACHE": str(tmp_path / "cache")})
        assert code == 0, err
        import pandas as pd

        table = pd.read_csv(out / "summary.csv")
        assert table["fd-pooled-recon"].notna().all() and table["fd-pooled-samples"].notna().all()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["metrics"]["fd-pooled"]["network"] == "4x4 average pooling of the pixels"
        # the real floor: N training images against the N test images, against scipy's formula
        from lossbench.data import load_dataset
        from lossbench.data.registry import DataSpec

        data = load_dataset(DataSpec(name="synthetic", n=300, size=16))
        n = manifest["calibration"]["fd-pooled"]["n"]
        expected = _frechet_scipy(PooledPixels()(data.train_x[:n]), PooledPixels()(data.test_x[:n]))
        assert manifest["calibration"]["fd-pooled"]["samples"]["real"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    finally:
        METRICS.pop("fd-pooled", None)
        FEATURE_SOURCES.pop("pooled", None)


def test_a_target_module_may_register_a_dataset_and_a_metric(cli, write_study, tmp_path, monkeypatch):
    """What a Ray worker sees: registrations made by the module a target: imports."""
    from lossbench.data.registry import DATASETS
    from lossbench.metrics import METRICS

    (tmp_path / "lb_plugin_reg.py").write_text(textwrap.dedent('''
        import numpy as np
        import lossbench
        from lossbench.losses import Term

        class L2Again(Term):
            def values(self, out, x):
                return (out["x_hat"] - x).square().flatten(1).sum(1)

        def _blocks(spec):
            images = np.zeros((40, 16, 16, 1), np.uint8)
            images[::2, 4:12, 4:12] = 255
            return images, np.arange(40) % 2

        lossbench.register_dataset("blocks", _blocks, side=16, replace=True)
        lossbench.register_metric("max-error", lambda a, b: (a - b).abs().flatten(1).amax(1), replace=True)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        out = tmp_path / "out"
        code, _, err = cli("run", write_study({"seeds": [0], "data": {"name": "blocks"}, "metrics": ["mse", "max-error"],
                                               "conditions": {"c": [{"term": "l2again", "target": "lb_plugin_reg.L2Again"}]}}),
                           "--out", out)
        assert code == 0, err
    finally:
        DATASETS.pop("blocks", None)
        METRICS.pop("max-error", None)
        from lossbench.losses import LOSS_TERMS

        LOSS_TERMS.pop("l2again", None)
