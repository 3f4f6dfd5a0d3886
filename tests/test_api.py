"""The Python API (issue 13 §1): run_study, Study.from_yaml / from_dict, run_paradox, and one
exception type whose message is the command line's line; the example notebook runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import lossbench
from lossbench.study import load_study
from conftest import REPO, TINY


def test_run_study_from_a_dict_returns_load_results(tmp_path, lb_cache, monkeypatch):
    monkeypatch.setenv("LOSSBENCH_CACHE", str(lb_cache))
    monkeypatch.delenv("LOSSBENCH_DATA", raising=False)
    results = lossbench.run_study(TINY, out=tmp_path / "o", overrides={"seeds": [4]})
    assert isinstance(results, pd.DataFrame)
    assert sorted(results["condition"]) == ["bce", "l2"] and set(results["seed"]) == {4}
    assert (results["status"] == "done").all() and results["mse"].notna().all()
    pd.testing.assert_frame_equal(results, lossbench.load_results(tmp_path / "o"))
    # the same study from a file with the same override as a --set string: the same runs, nothing trained again
    path = tmp_path / "study.yaml"
    import yaml

    path.write_text(yaml.safe_dump(TINY, sort_keys=False))
    again = lossbench.run_study(str(path), out=tmp_path / "o", overrides=["seeds=[4]"])
    assert sorted(again["run_id"]) == sorted(results["run_id"])
    manifest = (tmp_path / "o" / "manifest.json").read_text()
    assert '"trained": 0' not in manifest  # the invocation that trained them keeps the provenance


def test_study_from_dict_and_from_yaml_are_the_same_grid(tmp_path, write_study):
    path = write_study({"seeds": [0, 1]})
    from_yaml = lossbench.Study.from_yaml(path, overrides={"training.lr": 0.002})
    from_dict = lossbench.Study.from_dict({**TINY, "seeds": [0, 1]}, overrides=["training.lr=0.002"])
    assert [r.run_id for r in from_yaml.runs] == [r.run_id for r in from_dict.runs]
    assert [r.run_id for r in from_yaml.runs] == [r.run_id for r in load_study(path, ["training.lr=0.002"]).runs]
    assert from_yaml.spec.training.lr == 0.002


@pytest.mark.parametrize("study, key", [
    ({**TINY, "seeds": [-1]}, "seeds[0]: must be >= 0"),
    ({**TINY, "modles": []}, "modles"),
    ({**TINY, "conditions": {"l2": [{"term": "l3"}]}}, "l3"),
])
def test_errors_raise_lossbench_error_with_the_cli_line(tmp_path, cli, write_study, study, key):
    with pytest.raises(lossbench.LossbenchError) as raised:
        lossbench.run_study(study, out=tmp_path / "api")
    assert key in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "api").exists()
    path = write_study(study)
    code, _, err = cli("run", path, "--out", tmp_path / "cli")
    assert code == 2
    # the same line, but for the source's name: <dict> here, the file's path there
    assert err.strip() == f"error: {str(raised.value).replace('<dict>', str(path))}"


@pytest.mark.parametrize("kwargs, expected", [
    ({"study": "no/such/study.yaml"}, "no/such/study.yaml"),
    ({"study": TINY, "executor": "dask"}, "executor: 'dask'"),
    ({"study": TINY, "device": "tpu"}, "not a device"),
    ({"study": TINY, "force": True}, "force: needs only="),
    ({"study": 42}, "expected a path to a study file, a dict or a Study"),
])
def test_bad_arguments_are_one_line(tmp_path, kwargs, expected):
    with pytest.raises(lossbench.LossbenchError, match=expected):
        lossbench.run_study(out=tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_run_paradox_returns_its_tables(tmp_path, lb_cache, monkeypatch):
    monkeypatch.setenv("LOSSBENCH_CACHE", str(lb_cache))
    monkeypatch.delenv("LOSSBENCH_DATA", raising=False)
    tables = lossbench.run_paradox(out=tmp_path / "p", per_class=3, seed=1)
    assert set(tables) == {"values", "variants", "agreement", "judge_controls", "equal_mse"}
    for name, frame in tables.items():
        assert not frame.empty, name
    # the figure's values: one pixel moved has the smaller L2 error, the six-pixel extension the larger
    values = tables["values"].pivot(index="variant", columns="metric", values="value")
    assert values.loc["stray", "l2"] < values.loc["extension (end)", "l2"]
    assert (tmp_path / "p" / "report.md").is_file()
    with pytest.raises(lossbench.LossbenchError, match="digit"):
        lossbench.run_paradox(out=tmp_path / "q", digit=12)
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_the_example_notebook_runs(tmp_path, lb_cache, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the [test] extra installs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the [test] extra installs nbclient")
    monkeypatch.setenv("LOSSBENCH_CACHE", str(lb_cache))
    monkeypatch.delenv("LOSSBENCH_DATA", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # an in-process CLI test sets it to Agg; a user's kernel has its own
    notebook = Path(shutil.copy(REPO / "examples" / "quickstart.ipynb", tmp_path))
    nb = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "done" in text and "seeds[0]: must be >= 0" in text
    # the seaborn cell itself shows its plot: importing lossbench (which writes figures) must not
    # switch the kernel's inline backend to Agg, after which plt.show() shows nothing
    seaborn_cell = next(c for c in nb.cells if c.cell_type == "code" and "sns.stripplot" in c.source)
    assert any("image/png" in o.get("data", {}) for o in seaborn_cell.outputs)
    grid_cell = next(c for c in nb.cells if c.cell_type == "code" and "recon_grid.png" in c.source)
    assert any("image/png" in o.get("data", {}) for o in grid_cell.outputs)
    assert len(lossbench.load_results(tmp_path / "notebook_results" / "tiny")) == 4


def test_importing_the_report_leaves_the_matplotlib_backend_alone():
    """A notebook's inline backend survives `import lossbench` and the figure modules (issue 22 #1)."""
    code = ("import matplotlib; matplotlib.use('svg'); import lossbench, lossbench.report.build, "
            "lossbench.paradox.figures, lossbench.report.trade_off; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"
