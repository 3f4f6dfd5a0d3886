"""logging: [csv, tensorboard, mlflow] (issue 13 §2): what TensorBoard's event files and MLflow's
store hold, read back with their own readers, equals history.csv, steps.csv and metrics.json."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from lossbench.train.tracking import tag

STUDY = {"seeds": [0, 1], "conditions": {"l2": [{"term": "l2"}]}, "training": {"epochs": 3, "batch_size": 32},
         "logging": ["csv", "tensorboard", "mlflow"]}


def _runs(out):
    for d in sorted((out / "runs").iterdir()):
        yield d, json.loads((d / "metrics.json").read_text()), pd.read_csv(d / "history.csv"), pd.read_csv(d / "steps.csv")


def test_tensorboard_and_mlflow_hold_what_the_csv_files_hold(cli, write_study, tmp_path, lb_cache, monkeypatch):
    pytest.importorskip("tensorboard", reason="the [tracking] extra installs TensorBoard")
    pytest.importorskip("mlflow", reason="the [tracking] extra installs MLflow")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = cli("run", write_study(STUDY), "--out", tmp_path / "o", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    out = tmp_path / "o"
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    tracked = {r.data.tags["lossbench.run_id"]: r for r in client.search_runs([experiment.experiment_id])}
    assert len(tracked) == 2
    for run_dir, metrics, history, steps in _runs(out):
        # readable run names in both trackers (issue 22 #7): model / condition / seed, then the id
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        readable = f"{config['model']['label']}__{config['condition']['name']}__s{config['seed']}__{run_dir.name}"
        assert (out / "tensorboard" / readable).is_dir(), sorted(p.name for p in (out / "tensorboard").iterdir())
        events = EventAccumulator(str(out / "tensorboard" / readable), size_guidance={"scalars": 0, "images": 0})
        events.Reload()
        ml = tracked[run_dir.name]
        assert ml.info.run_name == f"{config['model']['label']}/{config['condition']['name']}/s{config['seed']}"
        assert ml.info.status == "FINISHED" and ml.data.tags["seed"] in ("0", "1")
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert ml.data.params["training.batch_size"] == "32" and ml.data.params["condition.name"] == config["condition"]["name"]
        for column in ("total", "val[total]", f"val[{config['condition']['terms'][0]['label']}]"):
            name = tag(f"epoch/{column}")
            tb = {e.step: e.value for e in events.Scalars(name)}
            mlh = {m.step: m.value for m in client.get_metric_history(ml.info.run_id, name)}
            expected = dict(zip(history["epoch"], history[column]))
            assert tb.keys() == mlh.keys() == expected.keys() == {1, 2, 3}
            for epoch, value in expected.items():
                assert tb[epoch] == pytest.approx(value, rel=1e-6) and mlh[epoch] == pytest.approx(value, rel=1e-6)
        tb_steps = {e.step: e.value for e in events.Scalars("step/total")}
        assert tb_steps == pytest.approx(dict(zip(steps["step"], steps["total"])), rel=1e-6)
        for key in ("mse", "ssim"):
            assert [e.value for e in events.Scalars(f"metric/{key}")] == [pytest.approx(metrics["metrics"][key], rel=1e-6)]
            assert ml.data.metrics[f"metric/{key}"] == pytest.approx(metrics["metrics"][key], rel=1e-6)
        assert len(events.Images("reconstructions")) == 3
    # a re-run trains nothing and logs nothing twice
    code, out_text, _ = cli("run", write_study(STUDY), "--out", tmp_path / "o", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0 and "2 skipped (finished before)" in out_text
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_a_sink_that_is_not_installed_is_one_line(cli, write_study, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    code, _, err = cli("run", write_study(STUDY), "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1
    assert "logging[1]: tensorboard needs the package tensorboard, which is not installed" in err and "lossbench[tracking]" in err
    assert not (tmp_path / "o").exists()


def test_without_logging_nothing_but_the_csv_files(cli, write_study, tmp_path, lb_cache):
    code, _, err = cli("run", write_study({"seeds": [0]}), "--out", tmp_path / "o", env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0, err
    assert not (tmp_path / "o" / "tensorboard").exists() and not (tmp_path / "o" / "mlflow.db").exists()


@pytest.mark.slow
def test_runs_on_ray_side_by_side_log_into_one_mlflow_store(cli, write_study, tmp_path, lb_cache, monkeypatch):
    """Two Ray workers at once write DIR/mlflow.db (SQLite): the first run creates the store and
    the experiment under a file lock, each run is tracked once, and its values equal its csv files."""
    pytest.importorskip("ray")
    pytest.importorskip("mlflow", reason="the [tracking] extra installs MLflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = write_study({**STUDY, "seeds": [0, 1, 2, 3], "logging": ["csv", "mlflow"]})
    code, stdout, err = cli("run", study, "--out", tmp_path / "o", "--executor", "ray", "--cpus-per-run", "1",
                            env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0 and "4 trained" in stdout and "failed" not in stdout, err
    out = tmp_path / "o"
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    assert [e.name for e in client.search_experiments() if e.name != "Default"] == ["tiny"]  # one experiment, made once
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    tracked = {r.data.tags["lossbench.run_id"]: r for r in runs}
    assert len(runs) == len(tracked) == 4
    for run_dir, metrics, history, _ in _runs(out):
        ml = tracked[run_dir.name]
        assert ml.info.status == "FINISHED"
        mlh = {m.step: m.value for m in client.get_metric_history(ml.info.run_id, tag("epoch/total"))}
        assert mlh == pytest.approx(dict(zip(history["epoch"], history["total"])), rel=1e-6)
        assert ml.data.metrics["metric/mse"] == pytest.approx(metrics["metrics"]["mse"], rel=1e-6)
