"""The one-pixel / six-pixel paradox: variant rules, arithmetic, agreement, gallery, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from lossbench.data import load_dataset
from lossbench.data.registry import DataSpec
from lossbench.paradox import variants as V
from lossbench.paradox.gallery import equal_mse
from lossbench.paradox.measure import agreement

STUDY = str(Path(__file__).resolve().parent.parent / "studies" / "pixel_paradox.yaml")


@pytest.fixture(scope="module")
def digits():
    data = load_dataset(DataSpec(name="mnist-5k"))
    return data.test_x[:, 0].numpy(), data.test_y.numpy()


def _n8(s, y, x):
    return [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy or dx)
            and 0 <= y + dy < s.shape[0] and 0 <= x + dx < s.shape[1]]


def test_generation_rules_hold_on_many_real_digits(digits):
    x, _ = digits
    rng = np.random.default_rng(123)
    made = {k: 0 for k in V.KINDS}
    for i in range(300):
        s = V.binarise(x[i])
        ends = V.endpoints(s)
        v = V.make_variants(s, rng)
        if v["stray"]:
            (y, x0), = v["stray"]
            assert not s[y, x0] and not any(s[p] for p in _n8(s, y, x0)), "stray pixel touches the stroke"
            assert any(s[q] for p in _n8(s, y, x0) for q in _n8(s, *p)), "stray pixel is not next to the digit"
        if v["hole"]:
            (y, x0), = v["hole"]
            assert s[y, x0] and all(s[y + dy, x0 + dx] for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))), "hole not inside"
        if v["extension"]:
            block = np.array(v["extension"])
            assert len(block) == 6 and not any(s[tuple(p)] for p in block)
            h, w = np.ptp(block, axis=0) + 1
            assert sorted((h, w)) == [2, 3], "not a compact 2x3 block"
            assert any(s[p] for b in block for p in _n8(s, *b)), "block not attached to the stroke"
            centre = block.mean(0)
            near = [e for e in ends if np.abs(block - np.array(e["end"])).max(1).min() <= 4
                    and np.dot(centre - np.array(e["end"]), e["direction"]) > 0]
            assert near, "block neither at a stroke end nor along its direction"
        if v["thickening"]:
            t = v["thickening"]
            assert len(set(t)) == 6 and not any(s[p] for p in t)
            assert all(any(s[y + dy, x0 + dx] for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))
                           if 0 <= y + dy < 28 and 0 <= x0 + dx < 28) for y, x0 in t)
            mask = np.zeros_like(s)
            for p in t:
                mask[p] = True
            assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1, "thickening pixels not connected"
        d = V.distance_to_stroke(s)
        if v["strays"]:
            strays = v["strays"]
            assert len(set(strays)) == 6 and all(d[p] == 2 for p in strays), "a stray is not at distance 2"
            assert all(max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= V.STRAY_SPACING
                       for i, a in enumerate(strays) for b in strays[i + 1 :]), "strays are not scattered"
        if v["detached"]:
            block = np.array(v["detached"])
            h, w = np.ptp(block, axis=0) + 1
            assert len(block) == 6 and sorted((h, w)) == [2, 3], "not a 2x3 block"
            dist = [d[tuple(p)] for p in block]
            assert min(dist) == 2, "the detached block touches the stroke, or is not near it"
        for k in V.KINDS:
            if v[k]:
                made[k] += 1
                changed = V.apply(s, v[k]) != s
                assert changed.sum() == (1 if k in V.ONE_PIXEL else 6)
    assert min(made.values()) > 200, made  # the rules find a place on most digits


def test_controls_on_a_hand_made_stroke():
    s = np.zeros((14, 14), dtype=bool)
    s[3:11, 6:8] = True  # a vertical bar
    d = V.distance_to_stroke(s)
    blocks = V.detached_candidates(s)
    assert blocks and all(min(d[p] for p in b) == 2 and len(b) == 6 for b in blocks)
    # row-major, 2x3 blocks first: the first whose nearest pixel, (1, 4), is 2 from the bar's corner (3, 6)
    assert [(y, x) for y, x in blocks[0]] == [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)]
    strays = V.scattered_strays(s, np.random.default_rng(0))
    assert len(strays) == 6 and all(d[p] == 2 for p in strays)
    tiny = np.zeros((5, 5), dtype=bool)
    tiny[2, 2] = True  # a ring of 16 pixels at distance 2: no room for six strays 3 apart
    assert V.scattered_strays(tiny, np.random.default_rng(0)) is None


def test_agreement_on_a_hand_made_case():
    # three digits; metric "l2" (lower is better) and a judge (higher is better)
    rows = []
    for digit in range(3):
        for kind, value in zip(("stray", "hole", "extension", "thickening"), (1, 1, 6, 6)):
            rows.append({"digit": digit, "kind": kind, "l2": value})
    judge = {("stray", 0): 0.1, ("hole", 0): 0.2, ("extension", 0): 0.9, ("thickening", 0): 0.0,
             ("stray", 1): 0.5, ("hole", 1): 0.6, ("extension", 1): 0.4, ("thickening", 1): 0.5,
             ("stray", 2): 0.3, ("hole", 2): 0.1, ("extension", 2): 0.3, ("thickening", 2): 0.2}
    table = pd.DataFrame(rows)
    table["judge-classifier"] = [judge[(r.kind, r.digit)] for r in table.itertuples()]
    table = table[~((table["digit"] == 2) & (table["kind"] == "hole"))]  # a digit without a hole
    a = agreement(table, ["l2", "judge-classifier"]).set_index(["metric", "pair_kind"])
    # 5 pairs (3 stray, 2 hole) against each of extension and thickening, and their pooled rows: 20
    assert (a.loc["l2", "prefers_six_pixel"].dropna() == 0).all() and a.loc["l2", "n_pairs"].sum() == 20
    got = a.loc[("judge-classifier", "stray-vs-extension")]
    # extension beats stray in digit 0 only (digit 2 is a tie: not a preference)
    assert got["n_pairs"] == 3 and got["prefers_six_pixel"] == pytest.approx(1 / 3)
    assert a.loc[("judge-classifier", "hole-vs-extension")]["n_pairs"] == 2
    assert a.loc[("judge-classifier", "hole-vs-extension")]["prefers_six_pixel"] == 0.5
    pooled = a.loc[("judge-classifier", "one-pixel-vs-extension")]
    assert pooled["n_pairs"] == 5 and pooled["prefers_six_pixel"] == pytest.approx(2 / 5)
    assert pooled["n_digits"] == 3
    # margins: extension minus one-pixel score, positive prefers the extension; l2 (lower is better) by -5 each
    assert got["margin"] == pytest.approx(((0.9 - 0.1) + (0.4 - 0.5) + (0.3 - 0.3)) / 3)
    assert a.loc[("l2", "stray-vs-extension")]["margin"] == -5 and got["ties"] == pytest.approx(1 / 3)
    assert got["ci_low"] <= got["prefers_six_pixel"] <= got["ci_high"]


def test_clustered_bootstrap_on_a_hand_made_case():
    """10 digits with 2 pairs each: 5 digits win both, 5 lose both. Resampling digits, the share is
    K/10 with K ~ Binomial(10, 1/2): its 2.5% and 97.5% quantiles are 0.2 and 0.8. Treating the 20
    pairs as independent (pooled Wilson) would give about [0.30, 0.70]: too narrow."""
    from lossbench.paradox.measure import clustered_bootstrap

    groups = [np.ones(2)] * 5 + [np.zeros(2)] * 5
    low, high = clustered_bootstrap(groups, n=20000, seed=0)
    assert (low, high) == (pytest.approx(0.2), pytest.approx(0.8))
    # a group's pairs count by their number: one digit with 3 wins and one with 1 loss gives 3/4 when both are drawn
    low, high = clustered_bootstrap([np.ones(3), np.zeros(1)], n=20000, seed=1)
    assert (low, high) == (0.0, 1.0)


def test_judge_controls_verdict_on_a_hand_made_case():
    """A judge that counts ink prefers scattered strays as often as an extension: not a whole-image judge."""
    from lossbench.paradox.measure import judge_controls

    rows = []
    rng = np.random.default_rng(0)
    for digit in range(40):
        for kind in ("extension", "strays", "detached"):
            ink = 6 + rng.normal(0, 0.1)  # same ink, noise only
            rows.append({"digit": digit, "kind": kind, "judge-discriminator": ink,
                         "judge-classifier": 1.0 if kind == "extension" else 0.5})
    table = judge_controls(pd.DataFrame(rows), ["judge-discriminator", "judge-classifier"]).set_index(["metric", "control"])
    assert not table.loc[("judge-discriminator", "strays"), "whole_image"]
    assert table.loc[("judge-classifier", "strays"), "whole_image"] and table.loc[("judge-classifier", "detached"), "prefers_extension"] == 1.0


def test_equal_mse_gallery_reaches_the_translation_mse():
    from skimage import data as skdata

    image = skdata.camera().astype(np.float64)[::4, ::4] / 255
    items = {i["distortion"]: i for i in equal_mse(image, seed=0)}
    target = items["translation"]["mse"]
    assert target == pytest.approx(np.mean((image[:, 1:] - image[:, :-1]) ** 2) * (image.shape[1] - 1) / image.shape[1])
    for name in ("mean shift", "contrast stretch", "gaussian noise", "blur"):
        assert items[name]["mse"] == pytest.approx(target, rel=5e-3), name
    assert items["impulse noise"]["mse"] == pytest.approx(target, rel=0.02)


@pytest.fixture(scope="module")
def paradox_run(tmp_path_factory, lb_cache):
    from lossbench.cli import main

    out = tmp_path_factory.mktemp("paradox") / "out"
    import os

    old = os.environ.get("LOSSBENCH_CACHE")
    os.environ["LOSSBENCH_CACHE"] = str(lb_cache)
    try:
        code = main(["paradox", "--out", str(out), "--per-class", "3", "--seed", "1"])
    finally:
        if old is None:
            os.environ.pop("LOSSBENCH_CACHE")
        else:
            os.environ["LOSSBENCH_CACHE"] = old
    assert code == 0
    return out


def test_the_faithful_figure_has_the_slides_arithmetic(paradox_run):
    for name in ("paradox_figure.png", "agreement.png", "judge_controls.png", "equal_mse.png", "report.md", "manifest.json"):
        assert (paradox_run / name).is_file()
    values = pd.read_csv(paradox_run / "paradox_values.csv").pivot(index="variant", columns="metric", values="value")
    one, six = ["stray", "hole"], ["extension (end)", "extension (start)"]
    assert (values.loc[one, "pixels_changed"] == 1).all() and (values.loc[six, "pixels_changed"] == 6).all()
    assert (values.loc[one, "l1"] == 1).all() and (values.loc[six, "l1"] == 6).all()
    assert (values.loc[one, "l2"] == 1).all() and (values.loc[six, "l2"] == 6).all()
    assert (values.loc[one, "l2_norm"] == 1).all() and np.allclose(values.loc[six, "l2_norm"], math.sqrt(6))
    assert np.allclose(values.loc[one, "psnr"], 28.94, atol=0.005) and np.allclose(values.loc[six, "psnr"], 21.16, atol=0.005)
    assert values.loc["target", "ssim"] == pytest.approx(1.0)
    assert (values.loc[one + six, "ssim"] < 1).all()  # every change lies inside SSIM's valid region
    assert "36 is 6²" in (paradox_run / "report.md").read_text()


def test_systematic_outputs(paradox_run):
    variants = pd.read_csv(paradox_run / "variants.csv")
    assert variants.groupby("kind")["pixels_changed"].unique().map(list).to_dict() == {
        "extension": [6], "hole": [1], "stray": [1], "thickening": [6], "strays": [6], "detached": [6]}
    assert variants["digit"].nunique() == 30
    agree = pd.read_csv(paradox_run / "agreement.csv")
    assert list(agree.columns)[:6] == ["metric", "pair_kind", "n_pairs", "prefers_six_pixel", "ci_low", "ci_high"]
    assert {"margin", "margin_low", "margin_high", "n_digits", "ties", "near_ties"} <= set(agree.columns)
    controls = pd.read_csv(paradox_run / "judge_controls.csv")
    assert set(controls["control"]) == {"strays", "detached"} and "whole_image" in controls
    assert "whole-image judge" in (paradox_run / "report.md").read_text()
    assert {"l1", "l2", "psnr", "ssim", "perceptual-domain", "judge-discriminator", "judge-classifier"} <= set(agree["metric"])
    assert (agree[agree["metric"].isin(["l1", "l2", "psnr"])]["prefers_six_pixel"] == 0).all()
    assert ((agree["ci_low"] <= agree["prefers_six_pixel"]) & (agree["prefers_six_pixel"] <= agree["ci_high"])).all()


def test_dry_run_of_the_paradox_study_writes_nothing(cli, tmp_path):
    code, out, _ = cli("run", STUDY, "--out", tmp_path / "p", "--dry-run")
    assert code == 0 and "the one-pixel / six-pixel paradox (20 test digits per class" in out
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_the_study_file_runs_the_same_thing(cli, lb_cache, tmp_path):
    code, out, err = cli("run", STUDY, "--out", tmp_path / "p", "--set", "paradox.per_class=1",
                         env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    assert pd.read_csv(tmp_path / "p" / "variants.csv")["digit"].nunique() == 10
    # the same again: every file byte-identical, the manifest's time that of the first invocation
    before = {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir() if p.is_file()}
    code, _, err = cli("run", STUDY, "--out", tmp_path / "p", "--set", "paradox.per_class=1",
                       env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    assert [name for name, data in before.items() if (tmp_path / "p" / name).read_bytes() != data] == []


@pytest.mark.parametrize("args, message", [
    (["paradox", "--digit", "12"], "--digit: Input should be less than or equal to 9 (got 12)"),
    (["paradox", "--per-class", "101"], "--per-class: Input should be less than or equal to 100"),
    (["run", "STUDY", "--set", "paradox.per_class=0"], "pixel_paradox.yaml: paradox.per_class: Input should be greater"),
])
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, args, message):
    args = [STUDY if a == "STUDY" else a for a in args]
    code, _, err = cli(*args, "--out", tmp_path / "p")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_paradox_without_out_leaves_the_committed_results_alone(cli, tmp_path, monkeypatch):
    """Issue 22 #10: `lossbench paradox` in a clone writes ./pixel_paradox/, not results/pixel_paradox/."""
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("paradox", "--per-class", "1")
    assert code == 0, err
    assert (tmp_path / "pixel_paradox" / "report.md").is_file() and not (tmp_path / "results").exists()


def test_the_tests_have_their_own_cache():
    """Issue 22 #10: a test session never writes the user's ~/.cache/lossbench."""
    import os
    from pathlib import Path

    cache = Path(os.environ["LOSSBENCH_CACHE"]).resolve()
    assert cache != (Path.home() / ".cache" / "lossbench").resolve()


def test_the_bridge_to_training_reads_the_trade_off_study(tmp_path):
    """Issue 20 #7: section 6 reads results/perception_distortion (its independent judges and the
    stored reconstructions), not a judge's view of the main study alone."""
    import pandas as pd
    import torch

    from lossbench.paradox.run import _training_link

    for run_id in ("a", "b"):
        (tmp_path / "runs" / run_id).mkdir(parents=True)
        torch.save(torch.full((4, 1, 28, 28), 255 if run_id == "a" else 0, dtype=torch.uint8),
                   tmp_path / "runs" / run_id / "recon_fixed.pt")
    pd.DataFrame({"run_id": ["a", "b"], "model": ["z2", "z2"], "condition": ["l2", "l2+adversarial(weight 1)"],
                  "status": ["done", "done"], "mse": [0.05, 0.06], "fd-judge-recon": [19.0, 12.0],
                  "fd-judge-samples": [22.0, 13.0], "blur-recon": [1.2, 1.1], "precision-judge-recon": [0.4, 0.85]}
                 ).to_csv(tmp_path / "summary.csv", index=False)

    class Judges:
        def realism(self, x):
            return x.mean(dim=(1, 2, 3)) * 2 - 1  # +1 for white images, -1 for black

    table = _training_link(tmp_path, Judges())
    assert table["blur-recon"].tolist() == [1.2, 1.1] and table["precision-judge-recon"].tolist() == [0.4, 0.85]
    assert table["judge-discriminator_real_share"].tolist() == [1.0, 0.0] and table["n_judged"].tolist() == [4, 4]
    assert _training_link(tmp_path / "missing", Judges()) is None


def test_a_rebuild_on_another_cpu_keeps_the_committed_measurements_but_not_changed_ones(tmp_path):
    from lossbench.paradox.run import _kept_raw_tables

    # judge-discriminator logits of the committed variants.csv (Intel Xeon) and as an AMD EPYC
    # recomputes them: 3.6e-6 apart near 0 (float32 kernels), 3e-7 of the column's scale
    old = pd.DataFrame({"digit": [26, 26, 31], "kind": ["stray", "hole", "extension"], "pixels": ["4,8", "9,9", "1,2"],
                        "psnr": [28.94, math.inf, 30.1], "judge": [-0.0123, 1.1522401571273804, -11.9],
                        "ssim": [0.98, float("nan"), 0.97]})
    old.to_csv(tmp_path / "variants.csv", index=False)
    amd = old.assign(judge=[-0.0123 + 3.5762786865234375e-06, 1.1522398, -11.9 - 2e-6])
    kept = _kept_raw_tables(tmp_path, {"variants.csv": amd})
    assert kept is not None and kept["variants.csv"]["judge"].tolist() == old["judge"].tolist()
    # a real change, a string, an infinity or a NaN that moved, a row more: the new measurements stand
    for changed in (old.assign(judge=[-0.0123, 1.16, -11.9]), old.assign(kind=["stray", "hole", "thickening"]),
                    old.assign(psnr=[28.94, 40.0, 30.1]), old.assign(ssim=[0.98, 0.5, 0.97]), pd.concat([old, old[:1]])):
        assert _kept_raw_tables(tmp_path, {"variants.csv": changed}) is None
    assert _kept_raw_tables(tmp_path, {"missing.csv": old}) is None
