"""A full disk as `--out` (a real tmpfs, filled for real: the kernel's ENOSPC, no mock of a write):
one line and exit 2, nothing half-written, and once space is freed the same command resumes the
run and ends bit-identical to a run that never met a full disk. Serially, with `--jobs 2` and on
Ray, where the error is raised in a worker process and must reach the driver as itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_resume import STUDY, _results, _run_dir

#: in every interpreter (the CLI and the workers --jobs spawns), via PYTHONPATH: with
#: FILL_AFTER_EPOCH=k, right after epoch k's resume checkpoint is on disk, fill the device that
#: holds it with one file, so the run's next write meets a full disk
SITECUSTOMIZE = """
import os
if os.environ.get("FILL_AFTER_EPOCH"):
    import lossbench.store.files as files
    from lossbench.train import RESUME
    fill_after, filler = int(os.environ["FILL_AFTER_EPOCH"]), os.environ["FILLER"]
    save = files.torch_save
    def torch_save(path, obj):
        save(path, obj)
        if path.name == RESUME and obj["epoch"] == fill_after and not os.path.exists(filler):
            with open(filler, "wb", buffering=0) as f:
                for size in (1 << 20, 1 << 12, 1):
                    try:
                        while True:
                            f.write(b"\\0" * size)
                    except OSError:
                        pass
    files.torch_save = torch_save
"""


def _mount_tmpfs(where: Path, size: str) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs as a full disk needs root and mount(8)")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")


def _cli(study: Path, out: Path, cache: Path, hook: Path, *extra: str, fill: Path | None = None):
    env = {**os.environ, "LOSSBENCH_CACHE": str(cache), "TQDM_DISABLE": "1",
           "PYTHONPATH": os.pathsep.join([str(hook), str(Path(__file__).parents[1])])}
    env.pop("LOSSBENCH_DATA", None)
    if fill is not None:
        env.update(FILL_AFTER_EPOCH="1", FILLER=str(fill))
    return subprocess.run([sys.executable, "-m", "lossbench", "run", str(study), "--out", str(out), "--device", "cpu",
                           *extra], env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, lb_cache):
    """The study file, the hook folder, and the run as it ends without a full disk (serially: every
    executor gives these bits at the default training.threads, test_executors)."""
    folder = tmp_path_factory.mktemp("disk-full")
    hook = folder / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    study = folder / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    done = _cli(study, folder / "whole", lb_cache, hook)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _results(_run_dir(folder / "whole"))
    assert reference["metrics.json"]["epochs"] > 1  # the disk fills mid-run
    return study, hook, reference


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("--jobs", "2"), ("--executor", "ray")], ids=["serial", "jobs2", "ray"])
def test_a_full_disk_stops_with_one_line_and_the_rerun_after_freeing_space_is_bit_identical(tmp_path, lb_cache, extra,
                                                                                            uninterrupted):
    if "ray" in extra:
        pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'lossbench[ray]')")
    study, hook, reference = uninterrupted

    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "64m")
    try:
        out, filler = disk / "out", disk / "filler"
        full = _cli(study, out, lb_cache, hook, *extra, fill=filler)
        assert filler.is_file(), full.stderr[-3000:]  # the disk did fill
        assert full.returncode == 2, full.stderr[-3000:]
        assert "Traceback" not in full.stderr, full.stderr[-3000:]
        lines = [line for line in full.stderr.splitlines() if "no space left" in line]
        assert len(lines) == 1 and full.stderr.strip().splitlines()[-1] == lines[0], full.stderr[-3000:]
        assert str(out) in lines[0] and "run the same command again" in lines[0]
        run = _run_dir(out)
        assert (run / "resume.pt").is_file() and not (run / "metrics.json").exists()
        assert not [p for p in out.rglob("*") if ".tmp" in p.name], "a half-written file was left"

        filler.unlink()  # space freed
        resumed = _cli(study, out, lb_cache, hook, *extra)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "resumed after epoch 1" in resumed.stderr, resumed.stderr[-3000:]
        assert _results(run) == reference
        assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
