"""What a new user hit (issue 13 §6): commands that only read a study file do not load the
training and plotting libraries, and a study file's problems are reported all at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

#: what validation, --dry-run and list must not import: each takes seconds (torchmetrics pulls
#: torchvision, matplotlib and scipy; the report pulls seaborn and pandas)
HEAVY = ("torchmetrics", "torchvision", "matplotlib", "seaborn", "scipy", "pandas", "skimage", "lpips", "torch_fidelity")


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    """Run the CLI in a fresh interpreter; return its exit code and the top-level modules it imported."""
    code = textwrap.dedent(f"""
        import sys
        from lossbench.cli import main
        rc = main({list(argv)!r})
        print("MODULES", " ".join(sorted({{m.split('.')[0] for m in sys.modules}})))
        sys.exit(rc)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES"))
    return done.returncode, set(line.split()[1:])


def test_a_missing_study_file_is_reported_before_torch_is_imported():
    rc, modules = _modules_after("run", "no/such/study.yaml")
    assert rc == 2 and "torch" not in modules


def test_validation_dry_run_and_list_leave_the_heavy_libraries_alone(tmp_path):
    for argv in (("run", "studies/ae_vs_vae.yaml", "--set", "seeds=[-1]"),
                 ("run", "studies/l2_vs_perceptual.yaml", "--dry-run", "--out", str(tmp_path / "o")),
                 ("list",)):
        rc, modules = _modules_after(*argv)
        assert rc in (0, 2), argv
        assert not modules & set(HEAVY), (argv, sorted(modules & set(HEAVY)))


def test_list_and_validation_errors_do_not_import_torch(tmp_path):
    """The registries hold their schemas and name their torch code lazily (lossbench.core.lazy): a
    typo's error line and `list` come before torch's second-long import."""
    for argv in (("run", "studies/ae_vs_vae.yaml", "--set", "seeds=[-1]"),
                 ("run", "studies/l2_vs_perceptual.yaml", "--set", "models.0.name=ae-mlpp", "--out", str(tmp_path / "o")),
                 ("run", "studies/l2_vs_perceptual.yaml", "--set", "conditions.l2.0.weight=-1", "--out", str(tmp_path / "o")),
                 ("list",)):
        rc, modules = _modules_after(*argv)
        assert rc == (0 if argv == ("list",) else 2), argv
        assert "torch" not in modules, argv
    assert not (tmp_path / "o").exists()


def test_the_memory_check_runs_once_the_rest_of_the_file_holds(cli, write_study, tmp_path):
    """Counting a model's parameters imports torch, so it runs after every other check: alone it
    is reported; beside a typo, the typo is (and the size follows once the typo is fixed)."""
    huge = {"name": "ae-mlp", "hidden": [65536, 65536, 65536, 65536, 65536]}
    code, _, err = cli("run", write_study({"models": [huge]}), "--out", tmp_path / "o")
    assert code == 2 and "models[0]: " in err and "GiB to train" in err
    code, _, err = cli("run", write_study({"models": [huge], "metrics": ["psnrr"]}, name="b.yaml"), "--out", tmp_path / "o")
    assert code == 2 and "unknown metric 'psnrr'" in err and "GiB" not in err
    assert not (tmp_path / "o").exists()


def test_every_problem_of_a_study_file_in_one_line(cli, write_study, tmp_path):
    study = write_study({"seeds": [0, 1],
                         "models": [{"name": "ae-mlp", "latent_dim": 0}, {"name": "ae-mlpp"}],
                         "conditions": {"l2": [{"term": "l3"}], "ok": [{"term": "l2"}]},
                         "metrics": ["mse", "psnrr", "mse"], "report": {"baseline": "l1"}})
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1
    assert f"error: {study}: 6 problems: " in err
    for part in ("models[0].latent_dim: must be >= 1", "models[1].name: unknown model 'ae-mlpp'",
                 "conditions.l2[0].term: unknown loss term 'l3'", "report.baseline: 'l1' is not a condition",
                 "metrics[1]: unknown metric 'psnrr'", "metrics: lists a metric twice"):
        assert part in err, part
    assert not (tmp_path / "o").exists()
    # pydantic's own errors of one mapping come together too
    study = write_study({"training": {"lr": -1, "batch_size": 0}}, name="b.yaml")
    code, _, err = cli("run", study, "--out", tmp_path / "o")
    assert code == 2 and "2 problems: training.batch_size: must be >= 1" in err and "training.lr: must be > 0" in err


def test_numbers_in_tables_share_the_uncertainty_s_precision():
    from lossbench.report.numbers import interval, mean_pm, plain

    assert mean_pm(132.2, 200.0) == "132 ± 200"  # was "132.2 ± 2e+02"
    assert mean_pm(0.007762, 0.00058) == "0.00776 ± 0.00058"
    assert mean_pm(21.634, 0.42) == "21.63 ± 0.42"
    assert mean_pm(0.5, float("nan")) == "0.5000" and mean_pm(float("nan"), 1.0) == "–"
    assert interval(-0.00296, -0.00362, -0.0023) == "-0.00296 [-0.00362, -0.00230]"
    assert interval(-0.001, -0.16, 0.16) == "+0.00 [-0.16, +0.16]"
    assert plain(1234567.0) == "1.235e+06" and plain(0.843, 3) == "0.843"


def test_the_latent_figures_skip_a_collapsed_seed():
    import pandas as pd

    from lossbench.core.flags import Flag
    from lossbench.report.latent_figures import _representatives

    collapsed = [Flag("collapsed-posterior", "collapsed posterior: no active latent unit")]
    runs = pd.DataFrame([
        {"run_id": "a", "model": "vae", "condition": "l2", "seed": 0, "status": "done", "flags": collapsed},
        {"run_id": "b", "model": "vae", "condition": "l2", "seed": 1, "status": "done", "flags": []},
        {"run_id": "c", "model": "ae", "condition": "l2", "seed": 0, "status": "done", "flags": collapsed},
    ])
    picked = {r["model"]: (r["run_id"], r["all_collapsed"]) for r in _representatives(runs)}
    assert picked == {"vae": ("b", False), "ae": ("c", True)}


def test_a_check_can_compare_conditions(cli, write_study, tmp_path, lb_cache):
    import pandas as pd

    checks = [{"claim": "bce beats l2 on mse", "compare": "conditions", "metric": "mse", "better": "bce", "than": "l2"},
              {"claim": "l2 beats bce on mse", "compare": "conditions", "metric": "mse", "better": "l2", "than": "bce",
               "model": "ae-mlp"}]
    study = write_study({"seeds": [0, 1, 2], "report": {"recon_images": 4, "checks": checks}})
    code, _, err = cli("run", study, "--out", tmp_path / "o", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    text = (tmp_path / "o" / "checks.md").read_text()
    runs = pd.read_csv(tmp_path / "o" / "summary.csv")
    bce, l2 = (runs.loc[runs["condition"] == c, "mse"].mean() for c in ("bce", "l2"))
    first, second = ("PASS", "FAIL") if bce < l2 else ("FAIL", "PASS")  # the two claims are opposite: one passes
    rows = [line for line in text.splitlines() if line.startswith(("| **PASS", "| **FAIL", "| PASS", "| FAIL"))]
    # (one epoch collapses these tiny models: a flagged cell's result is not in bold, so either form)
    assert len(rows) == 2 and f"| {first}" in rows[0].replace("**", "") and f"| {second}" in rows[1].replace("**", "")
    assert "| model ae-mlp |" in rows[0] and "| bce |" in rows[0] and "| l2 |" in rows[0]
    # a condition named where a model belongs, and the reverse, are one line each
    bad = write_study({"report": {"checks": [{**checks[0], "compare": "models"}]}}, name="bad.yaml")
    code, _, err = cli("run", bad, "--out", tmp_path / "b")
    assert code == 2 and "report.checks[0].better: 'bce' is not a model label" in err and "compare: conditions" in err
    bad = write_study({"report": {"checks": [{**checks[0], "model": "vae"}]}}, name="bad2.yaml")
    code, _, err = cli("run", bad, "--out", tmp_path / "b")
    assert code == 2 and "report.checks[0].model: 'vae' is not a model label" in err


def test_a_domain_classifier_that_cannot_classify_is_a_warning(tmp_path):
    """Random labels: nothing to learn, so held-out accuracy sits near chance and the provenance
    (shown next to fd-domain in summary.md) carries a warning; a classifier above the bar carries none."""
    from types import SimpleNamespace

    import torch

    from lossbench.metrics.domain import ACCURACY_WARNING, DomainFeatures

    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 16, 16, generator=g)
    y = torch.randint(0, 4, (300,), generator=g)
    data = SimpleNamespace(train_x=x[:240], train_y=y[:240], test_x=x[240:], test_y=y[240:],
                           identity={"name": "imagefolder", "sha256": "0" * 64, "n_train": 240, "n_test": 60})
    features = DomainFeatures(data, cache=tmp_path)
    acc = features.card["held_out_accuracy"]
    assert acc < ACCURACY_WARNING
    assert "below 80%" in features.provenance["warning"] and "4 classes, chance 25%" in features.provenance["warning"]
    features.card["held_out_accuracy"] = 0.95
    assert "warning" not in features.provenance


def test_figures_in_the_formats_asked_for_with_one_palette(cli, write_study, tmp_path, lb_cache):
    from lossbench.report.palette import condition_palette

    study = write_study({"report": {"recon_images": 4, "figure_formats": ["png", "pdf", "svg"]}})
    code, _, err = cli("run", study, "--out", tmp_path / "o", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    figures = tmp_path / "o" / "figures"
    for name in ("metrics", "training_curves", "recon_grid"):
        assert {(figures / f"{name}.{fmt}").is_file() for fmt in ("png", "pdf", "svg")} == {True}, name
    pdf = (figures / "metrics.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType fonts embedded, no Type 3
    assert b"CreationDate" not in pdf  # a re-run writes the same bytes
    assert (figures / "metrics.svg").read_text().lstrip().startswith("<?xml")
    # the same condition keeps its colour whatever else a figure shows
    assert condition_palette(["l2", "bce"])["l2"] == condition_palette(["l2", "bce", "mix"])["l2"]
    code, _, err = cli("run", write_study({"report": {"figure_formats": ["jpg"]}}, name="b.yaml"), "--out", tmp_path / "b")
    assert code == 2 and "report.figure_formats[0]" in err


def test_set_up_and_report_say_what_they_do_on_a_terminal(monkeypatch, capsys, write_study, tmp_path, lb_cache):
    import sys

    from lossbench.cli import main

    monkeypatch.setenv("LOSSBENCH_CACHE", str(lb_cache))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["run", str(write_study({"seeds": [0]})), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "set-up: data, the metrics' networks" in err and "report: tables, figures and report.html" in err
    assert err.index("set-up:") < err.index("report:")


def test_figures_wrap_tell_seeds_apart_and_show_zero_bars():
    """Issue 22 #9: 8 models' training curves wrap into rows (the beta sweep's were 6830 px wide),
    each seed of a discriminator plot has its own line style, and a 0% bar of the paradox's
    agreement chart carries its number."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lossbench.report import figures

    saved = {}
    real_save = figures.files.save_figure
    figures.files.save_figure = lambda path, fig: saved.__setitem__(path, (fig.get_size_inches() * fig.dpi, fig))
    try:
        rows = [{"model": f"m{m}", "condition": c, "seed": s, "epoch": e, "split": split, "term": t, "value": 1.0 + e}
                for m in range(8) for c in ("a", "b") for s in (0, 1) for e in range(3) for split in ("train", "val")
                for t in ("total", "bce")]
        figures.training_curves(pd.DataFrame(rows), "curves.png")
        (width, height), _ = saved["curves.png"]
        assert width < 2500 and height > width  # rows of models, not one row of 16 panels
        critic = [{"model": "m", "condition": "adv", "seed": s, "epoch": e, "term": "d_acc_real[adversarial]", "value": 0.5}
                  for s in (0, 1, 2) for e in range(3)]
        figures.discriminator_curves(pd.DataFrame(critic), "disc.png")
        _, fig = saved["disc.png"]
        labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
        assert {"seed 0", "seed 1", "seed 2"} <= set(labels)
        from types import SimpleNamespace

        from lossbench.paradox import figures as paradox_figures

        agree = pd.DataFrame([{"pair_kind": f"{one}-vs-extension", "metric": m, "prefers_six_pixel": v, "ci_low": v,
                               "ci_high": v, "n_pairs": 10} for one in ("stray", "hole") for m, v in (("l2", 0.0), ("ssim", 0.3))])
        real_paradox_save = paradox_figures.files.save_figure
        paradox_figures.files.save_figure = figures.files.save_figure
        try:
            paradox_figures.agreement_chart(agree, "agree.png", SimpleNamespace(per_class=1, seed=0))
        finally:
            paradox_figures.files.save_figure = real_paradox_save
        _, fig = saved["agree.png"]
        assert sum(t.get_text() == "0%" for t in fig.axes[0].texts) == 2  # l2's two empty bars, labelled
    finally:
        figures.files.save_figure = real_save
        plt.close("all")


def test_a_classifier_trained_on_first_use_draws_a_progress_bar(monkeypatch, capsys):
    """Issue 22 #4: set-up that takes minutes shows a bar as training does (on a terminal)."""
    import sys

    import torch

    from lossbench.metrics import domain

    monkeypatch.setitem(domain.RECIPE, "epochs", 2)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    x = torch.rand(64, 1, 16, 16)
    y = torch.arange(64) % 2
    domain.train_domain_classifier(x, y, x[:16], y[:16])
    err = capsys.readouterr().err
    assert "domain classifier (trained once, 64 images)" in err and "0/2 [" in err  # a bar counting 2 epochs


def test_the_tests_never_use_the_users_cache(tmp_path):
    """Issue 39 §6: a user's $LOSSBENCH_CACHE is not where a test session writes (judges and classifiers for
    synthetic data would appear in their `lossbench weights status`); only LOSSBENCH_TEST_CACHE chooses it."""
    import os
    from pathlib import Path

    probe = tmp_path / "test_probe.py"
    probe.write_text("import os\n\ndef test_cache():\n    print('CACHE=' + os.environ['LOSSBENCH_CACHE'])\n")
    users = tmp_path / "users-cache"
    env = {**os.environ, "LOSSBENCH_CACHE": str(users)}
    env.pop("LOSSBENCH_TEST_CACHE", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           "--confcutdir", str(tmp_path), "-c", os.devnull, "-p", "conftest", str(probe)],
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(Path(__file__).parent)}, capture_output=True, text=True)
    used = next(line for line in done.stdout.splitlines() if "CACHE=" in line).split("CACHE=", 1)[1]
    assert done.returncode == 0 and used != str(users) and "lossbench-test-cache-" in used, done.stdout + done.stderr
    assert not users.exists()


def test_list_verbose_shows_every_key_of_a_study_file_with_its_type_and_default(cli):
    """Issue 39 §5: `list --verbose` promises every option and its default: every key of every section of a
    study file is there (training.early_stopping.* and report.checks[].* included), and no type reads as
    Python's `Optional` or `typing.`."""
    from pydantic import BaseModel

    from lossbench.study.spec import DataSpec, ReportSpec, StudySpec, TrainingSpec

    code, out, _ = cli("list", "--verbose")
    assert code == 0
    shown = {line.strip().split(":", 1)[0] for line in out.splitlines() if line.startswith("      ")}

    def keys(model: type[BaseModel], prefix: str) -> set[str]:
        import typing

        found = set()
        for key, field in model.model_fields.items():
            found.add(prefix + key)
            for arg in (field.annotation, *typing.get_args(field.annotation)):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    found |= keys(arg, f"{prefix}{key}{'[]' if typing.get_origin(field.annotation) is list else ''}.")
        return found

    expected = ({k for k in keys(StudySpec, "") if not k.startswith(("data", "training", "report"))}
                | keys(TrainingSpec, "training.") | keys(ReportSpec, "report.") | keys(DataSpec, "data."))
    assert expected - shown == set(), sorted(expected - shown)
    assert {"training.early_stopping.patience", "report.distribution_n", "report.checks[].claim", "training.threads"} <= shown
    assert "Optional" not in out and "typing." not in out and "NoneType" not in out
    assert "report.distribution_n: int or null = null" in out


def test_weights_status_lists_every_network_lossbench_uses_with_its_card(cli, write_study, tmp_path):
    """Issue 39 §5: besides the pretrained networks, `weights status` lists the networks shipped inside the
    package (judges, domain classifiers, the paradox's discriminator) and those trained here for a dataset
    (a judge, a domain classifier), each with where it was trained, its held-out accuracy, its independence
    and its card."""
    from lossbench.nets.shipped_nets import SHIPPED_DIR

    cache = tmp_path / "cache"
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]}, "metrics": ["mse", "fd-judge", "fd-domain"]})
    code, _, err = cli("run", study, "--out", tmp_path / "out", env={"LOSSBENCH_CACHE": str(cache)})
    assert code == 0, err
    code, out, _ = cli("weights", "status", env={"LOSSBENCH_CACHE": str(cache)})
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    for card in SHIPPED_DIR.glob("*.json"):
        assert card.stem in rows and "shipped with lossbench" in rows[card.stem] and "card " in rows[card.stem], card.stem
    assert "independent of the studies it scores: yes" in rows["judge-mnist-v1"]
    assert "held-out accuracy" in rows["paradox-discriminator-mnist-5k-v2"]
    trained = [line for name, line in rows.items() if name.startswith("judge-synthetic-")]
    assert len(trained) == 1 and "trained on this machine and cached" in trained[0] and "independent: NO" in trained[0]
    assert any(name.startswith("domain-synthetic-") and "trained on this machine" in line for name, line in rows.items())


def test_a_network_that_is_not_on_the_machine_is_downloaded_on_first_use(monkeypatch, tmp_path, capsys):
    """Issue 39 §1: as torchvision and lpips do, a metric's or a loss's backbone that no offline source has is
    fetched when a study first needs it (where there is internet), saying so in one line, instead of asking for
    `lossbench weights fetch` first. The download is simulated: this machine has no internet."""
    import hashlib
    from pathlib import Path

    import torch

    from lossbench.nets import weights
    from lossbench.nets.bank import FeatureBank

    payload = b"not really squeezenet"
    digest = hashlib.sha256(payload).hexdigest()
    net = weights.NETWORKS["lpips-squeeze"]
    monkeypatch.setitem(weights.NETWORKS, "lpips-squeeze", weights.Network(net.name, net.filename, net.url, digest[:8],
                                                                             net.description))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(weights, "_reachable", lambda url: None)
    fetched = []

    def download(url, dst, hash_prefix=None, progress=True):
        fetched.append(url)
        Path(dst).write_bytes(payload)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)

    class Data:
        test_x = torch.zeros(4, 1, 8, 8)

    bank = FeatureBank(Data(), "cpu", cache=tmp_path / "cache")
    found = bank.resolve("lpips-squeeze")
    assert found.where == "downloaded" and fetched == [net.url] and found.sha256 == digest
    assert "set-up: downloading lpips-squeeze" in capsys.readouterr().err
    assert bank.resolve("lpips-squeeze").where == "torch hub cache" and len(fetched) == 1  # once
