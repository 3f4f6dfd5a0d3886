"""Study validation: every bad input gives exit code 2, ONE line naming file, key and problem,
and writes nothing."""

from __future__ import annotations

import pytest

from conftest import REPO, TINY
from lossbench.study.spec import load_study

BAD = [
    ({"seedz": [0]}, "seedz: unknown key (did you mean 'seeds'?)"),
    ({"training": {"epochs": "ten"}}, "training.epochs: must be an integer (got 'ten')"),
    ({"training": {"epochs": 0}}, "training.epochs: must be >= 1 (got 0)"),
    ({"training": {"lr": -1.0}}, "training.lr: must be > 0 (got -1.0)"),
    ({"models": [{"name": "ae-mpl"}]}, "models[0].name: unknown model 'ae-mpl' (did you mean 'ae-mlp'?)"),
    ({"models": [{"name": "ae-mlp", "latent": 3}]}, "models[0].latent: unknown key (did you mean 'latent_dim'?)"),
    ({"models": [{"name": "ae-mlp", "latent_dim": 0}]}, "models[0].latent_dim: must be >= 1 (got 0)"),
    ({"conditions": {"l2": [{"term": "l2", "weight": -1}]}}, "conditions.l2[0].weight: must be >= 0 (got -1)"),
    ({"conditions": {"x": [{"term": "l2x"}]}}, "conditions.x[0].term: unknown loss term 'l2x' (did you mean 'l2'?)"),
    ({"conditions": {"x": [{"term": "lp", "p": 0}]}}, "conditions.x[0].p: must be > 0 (got 0)"),
    ({"conditions": {"x": [{"term": "l2", "reduction": "max"}]}}, "conditions.x[0].reduction: must be one of 'sum' or 'mean' (got 'max')"),
    ({"conditions": {"k": [{"term": "kl"}]}}, "conditions.k[0].term: 'kl' needs a variational model, but models[0] is ae-mlp"),
    ({"conditions": {}}, "conditions: must not be empty"),
    ({"conditions": {"x": []}}, "conditions.x: must list at least one loss term"),
    ({"seeds": []}, "seeds: must not be empty"),
    ({"models": []}, "models: must not be empty"),
    ({"metrics": ["psrn"]}, "metrics[0]: unknown metric 'psrn' (did you mean 'psnr'?)"),
    ({"data": {"name": "mnsit"}}, "data.name: unknown dataset 'mnsit' (did you mean 'mnist'?)"),
    ({"data": {"name": "synthetic", "test_fraction": 1.5}}, "data.test_fraction: must be < 1 (got 1.5)"),
    # output parameterisation, early stopping, start: one line each
    ({"models": [{"name": "ae-mlp", "output": "tanh"}]}, "models[0].output: must be one of 'auto', 'sigmoid' or 'linear' (got 'tanh')"),
    ({"models": [{"name": "ae-mlp", "output": "linear"}]},
     "models[0].output: 'linear' cannot feed 'bce' in conditions.bce, which needs probabilities (logits through a sigmoid); "
     "use output: sigmoid or auto"),
    ({"training": {"early_stopping": {"patience": 0}}}, "training.early_stopping.patience: must be >= 1 (got 0)"),
    ({"training": {"early_stopping": {"patiense": 3}}}, "training.early_stopping.patiense: unknown key (did you mean 'patience'?)"),
    ({"training": {"early_stopping": {"min_delta": 1.5}}}, "training.early_stopping.min_delta: must be < 1 (got 1.5)"),
    ({"training": {"early_stopping": "yes"}}, "training.early_stopping: must be a mapping (got 'yes')"),
    ({"training": {"epochs": 5, "early_stopping": {}}}, "training.epochs: not used with training.early_stopping"),
    ({"training": {"early_stopping": {}}, "data": {"name": "synthetic", "validation_fraction": 0}},
     "data.validation_fraction: training.early_stopping needs a validation split"),
    ({"conditions": {"a": [{"term": "l2"}, {"term": "adversarial", "start": "plateu"}]}},
     "conditions.a[1].start: must be a step number (an integer >= 0) or 'plateau' (got 'plateu')"),
    ({"conditions": {"a": [{"term": "l2"}, {"term": "adversarial", "start": -3}]}},
     "conditions.a[1].start: must be a step number (an integer >= 0) or 'plateau' (got -3)"),
    ({"conditions": {"a": [{"term": "l2"}, {"term": "adversarial", "start": "plateau"}]}},
     "conditions.a[1].start: 'plateau' needs training.early_stopping"),
    ({"report": {"controls": {"l2": "bec"}}}, "report.controls.l2: 'bec' is not a condition of this study (did you mean 'bce'?)"),
]


@pytest.mark.parametrize("change, expected", BAD, ids=[e.split(":")[0] for _, e in BAD])
def test_bad_study_is_one_line_exit_2_and_writes_nothing(cli, write_study, tmp_path, change, expected):
    study = write_study(change)
    out = tmp_path / "out"
    code, stdout, stderr = cli("run", study, "--out", out)
    assert code == 2
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"error: {study}: {expected}"), stderr
    assert not out.exists()


def test_output_auto_resolves_per_condition_and_enters_the_run_id(write_study):
    study = load_study(write_study({"conditions": {"l2": [{"term": "l2"}], "bce": [{"term": "bce"}]}, "seeds": [0]}))
    outputs = {r.condition: r.config["model"]["output"] for r in study.runs}
    assert outputs == {"l2": "linear", "bce": "sigmoid"}
    pinned = load_study(write_study({"models": [{"name": "ae-mlp", "hidden": [32], "latent_dim": 2, "output": "sigmoid"}],
                                     "conditions": {"l2": [{"term": "l2"}]}, "seeds": [0]}, name="pinned.yaml"))
    assert pinned.runs[0].config["model"]["output"] == "sigmoid" and pinned.runs[0].run_id != study.runs[0].run_id


def test_early_stopping_replaces_epochs_in_the_resolved_run(write_study):
    study = load_study(write_study({"training": {"early_stopping": {"patience": 4}}, "seeds": [0]}))
    training = study.runs[0].config["training"]
    assert "epochs" not in training and training["early_stopping"]["patience"] == 4
    fixed = load_study(write_study({"seeds": [0]}, name="fixed.yaml")).runs[0].config["training"]
    assert "early_stopping" not in fixed and fixed["epochs"] == 1


def test_yaml_syntax_error_names_the_line(cli, write_study, tmp_path):
    study = write_study(text="name: x\nseeds: [0, 1\nmodels: []\n")
    code, _, stderr = cli("run", study, "--out", tmp_path / "out")
    assert code == 2 and stderr.count("\n") == 1
    assert f"error: {study}: line 3, column" in stderr and "YAML syntax error" in stderr


def test_missing_study_file(cli, tmp_path):
    code, _, stderr = cli("run", tmp_path / "nope.yaml")
    assert code == 2 and stderr == f"error: {tmp_path / 'nope.yaml'}: study file not found\n"


@pytest.mark.parametrize("bad, expected", [
    ("training.epochs", "--set: expected KEY=VALUE"),
    ("models.5.latent_dim=2", "--set models.5.latent_dim: '5' is not an index"),
    ("training.epochs=[1", "--set training.epochs: value is not valid YAML"),
])
def test_bad_override(cli, write_study, tmp_path, bad, expected):
    code, _, stderr = cli("run", write_study(), "--set", bad, "--out", tmp_path / "out")
    assert code == 2 and stderr.startswith(f"error: {expected}") and stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_missing_dataset_files_say_where_and_how(cli, write_study, tmp_path):
    study = write_study({"data": {"name": "mnist", "root": str(tmp_path / "empty")}})
    code, _, stderr = cli("run", study, "--out", tmp_path / "out")
    assert code == 2 and stderr.count("\n") == 1
    assert str(tmp_path / "empty" / "MNIST" / "raw") in stderr
    assert "t10k-images-idx3-ubyte" in stderr and "data.download: true" in stderr and "mnist-5k" in stderr
    assert not (tmp_path / "out").exists()


def test_overrides_are_yaml_and_dotted(write_study):
    study = load_study(write_study(), ["training.epochs=3", "seeds=[4]", "models.0.latent_dim=5", "data.name=mnist-5k"])
    assert study.spec.training.epochs == 3 and study.spec.seeds == [4] and study.spec.data.name == "mnist-5k"
    assert study.runs[0].config["model"]["latent_dim"] == 5


def test_grid_is_models_x_conditions_x_seeds_with_stable_ids(write_study):
    spec = {"models": [{"name": "ae-mlp"}, {"name": "vae-mlp"}], "seeds": [0, 1, 2]}
    a, b = load_study(write_study(spec)), load_study(write_study(spec))
    assert len(a.runs) == 2 * 2 * 3
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert len({r.run_id for r in a.runs}) == 12
    # the data folder does not change what is computed, so it does not change the id
    c = load_study(write_study(spec), data_root="/somewhere/else")
    assert [r.run_id for r in c.runs] == [r.run_id for r in a.runs]
    # anything that does change the computation changes the id
    d = load_study(write_study(spec), ["training.lr=0.01"])
    assert not {r.run_id for r in d.runs} & {r.run_id for r in a.runs}


def test_vae_condition_without_kl_gets_kl_weight_1_and_says_so(write_study):
    study = load_study(write_study({"models": [{"name": "vae-mlp"}, {"name": "ae-mlp"}]}))
    vae = next(r for r in study.runs if r.model == "vae-mlp")
    ae = next(r for r in study.runs if r.model == "ae-mlp")
    assert [t["term"] for t in vae.config["condition"]["terms"]] == ["l2", "kl"]
    assert vae.config["condition"]["terms"][1]["weight"] == 1.0
    assert "kl (weight 1) added" in vae.config["notes"][0]
    assert [t["term"] for t in ae.config["condition"]["terms"]] == ["l2"] and ae.config["notes"] == []


def test_duplicate_model_labels_rejected(cli, write_study, tmp_path):
    study = write_study({"models": [{"name": "ae-mlp"}, {"name": "ae-mlp", "latent_dim": 8}]})
    code, _, stderr = cli("run", study, "--out", tmp_path / "o")
    assert code == 2 and "models[1].label: 'ae-mlp' is used by models[0] too" in stderr


def test_dry_run_prints_grid_and_writes_nothing(cli, write_study, tmp_path):
    code, out, err = cli("run", write_study(), "--dry-run", "--out", tmp_path / "out")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("tiny: 4 runs (1 model × 2 conditions × 2 seeds)")
    assert len(lines) == 8 and all("seed" in line for line in lines[1:5])
    assert lines[5].startswith("data: synthetic: 69 train / 8 validation / 19 test images")  # the checks of issue 32 §3
    assert lines[6].startswith("clock (an estimate): ")
    assert lines[7].startswith("numbers: each run computes with training.threads = 1 CPU thread: bit-identical")
    assert "cuDNN and TF32 kernels are not bit-reproducible" in lines[7]
    assert not (tmp_path / "out").exists()


def test_condition_models_trims_the_grid_and_dry_run_says_so(cli, write_study, tmp_path):
    """A condition on some models only (condition_models); the dry run's columns align and a run
    skipped for missing weights is not called finished (issue 22 #5)."""
    import json

    study = write_study({"models": [{"name": "ae-mlp", "label": "small", "latent_dim": 2},
                                    {"name": "ae-mlp", "label": "a-longer-label"}],
                         "condition_models": {"bce": ["small"]}})
    code, out, _ = cli("run", study, "--dry-run", "--out", tmp_path / "out")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("tiny: 6 runs (2 models × 2 conditions × 2 seeds; bce on small only)")
    assert [line.split()[1:3] for line in lines[1:]].count(["a-longer-label", "bce"]) == 0
    grid = [line for line in lines[1:] if len(line.split()) > 3 and line.split()[3] == "seed"]
    assert len(grid) == 6 and len({line.index("seed") for line in grid}) == 1  # one column for the seeds
    run_id = lines[1].split()[0]
    (tmp_path / "out" / "runs" / run_id).mkdir(parents=True)
    (tmp_path / "out" / "runs" / run_id / "metrics.json").write_text(json.dumps({"run_id": run_id, "status": "skipped"}))
    _, out, _ = cli("run", study, "--dry-run", "--out", tmp_path / "out")
    assert "[skipped before (weights unavailable): will be tried again]" in out and "finished" not in out
    code, _, err = cli("run", write_study({"condition_models": {"bce": ["nope"]}}), "--dry-run")
    assert code == 2 and "condition_models.bce[0]: 'nope' is not a model label" in err


def test_unavailable_device_is_a_clear_error(cli, write_study, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, stderr = cli("run", write_study(), "--device", "cuda", "--out", tmp_path / "out")
    assert code == 2 and stderr == "error: --device cuda: not available on this machine (use --device auto or cpu)\n"
    assert not (tmp_path / "out").exists()


def test_the_documented_study_example_validates():
    """The study file shown in the docs (docs/studies.md) is a valid study."""
    from pathlib import Path

    from lossbench.study import load_study

    readme = (Path(__file__).resolve().parent.parent / "docs" / "studies.md").read_text()
    block = readme[readme.index("```yaml\nname: my_study") + len("```yaml\n"):]
    block = block[: block.index("```")]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "my_study.yaml"
        path.write_text(block)
        study = load_study(path)
    assert len(study.runs) == 2 * 3 * 5 and study.spec.report.baseline == "l2"
    assert study.spec.training.early_stopping.adversarial_epochs == 20
    assert {r.config["model"]["output"] for r in study.runs if r.condition == "bce+beta4"} == {"sigmoid"}


def test_an_embedded_dataset_does_not_record_the_data_folder(tmp_path):
    """$LOSSBENCH_DATA reaches data.root only where the dataset reads files there: a committed
    mnist-5k study must not carry the machine's path (issue 21 §1)."""
    from lossbench.study.spec import build_study

    embedded = build_study({**TINY, "data": {"name": "mnist-5k"}}, "s.yaml", data_root="/some/machine/path")
    assert embedded.spec.data.root is None and all(r.config["data"]["root"] is None for r in embedded.runs)
    files = build_study({**TINY, "data": {"name": "mnist"}}, "s.yaml", data_root="/some/machine/path")
    assert files.spec.data.root == "/some/machine/path"


@pytest.mark.parametrize("study", sorted(p.stem for p in (REPO / "studies").glob("*.yaml")
                                         if (REPO / "results" / p.stem / "runs").is_dir()))
def test_every_committed_studys_runs_keep_their_ids(study):
    """A key added to a study's sections (data.stride, data.judge_fraction, a term's option) must be left out of
    run configs at its default: otherwise every committed run's id changes and a rebuild trains them all again."""
    from lossbench.study.spec import Study

    runs = Study.from_yaml(str(REPO / "studies" / f"{study}.yaml")).runs
    folders = {p.name for p in (REPO / "results" / study / "runs").iterdir() if p.is_dir()}
    missing = [r.run_id for r in runs if r.run_id not in folders]
    assert not missing, f"{study}: {len(missing)} of {len(runs)} run ids have no committed folder (first: {missing[0]})"
