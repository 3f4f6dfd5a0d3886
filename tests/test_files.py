"""Atomic writes that are also reproducible: the same object gives the same bytes."""

from __future__ import annotations

import hashlib

import torch

from lossbench.store import files


def test_torch_save_gives_the_same_bytes_wherever_it_writes(tmp_path):
    obj = {"weights": torch.arange(12.0).reshape(3, 4), "epoch": 7}
    digests = set()
    for name in ("a.pt", "b.pt", "sub/a.pt"):
        files.torch_save(tmp_path / name, obj)
        digests.add(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1
    assert torch.equal(torch.load(tmp_path / "b.pt", weights_only=True)["weights"], obj["weights"])
    assert not list(tmp_path.rglob(".*tmp*"))


def test_stable_provenance_keeps_the_invocation_that_made_the_results():
    old = {"created": "then", "seconds": 10, "result": 1}
    new = {"created": "now", "seconds": 0, "result": 1}
    assert files.stable_provenance(old, new, ("created", "seconds"), unchanged=True) == old
    assert files.stable_provenance(old, new, ("created", "seconds"), unchanged=False) == new
    assert files.stable_provenance(None, new, ("created", "seconds"), unchanged=True) == new
    # an old manifest without a field (an interrupted run) is replaced, not patched
    assert files.stable_provenance({"created": "then"}, new, ("created", "seconds"), unchanged=True) == new
    # results that changed stay new even when the rest is kept
    changed = {**new, "result": 2}
    assert files.stable_provenance(old, changed, ("created", "seconds"), unchanged=True) == {**old, "result": 2}


def test_a_recomputed_ladder_keeps_its_committed_value_across_cpus_but_not_across_changes():
    # the calibration ladder of results/perception_distortion, written on an Intel Xeon (old) and
    # recomputed from an empty cache on an AMD EPYC (new): float32 features, rounded differently
    old = {"created": "then", "calibration": {"fd-domain": {"real": 9.231331292194682, "blur 0.5": 22.341392922793602},
                                              "fd-judge": {"real": 0.2372675383446179}}}
    new = {"created": "now", "calibration": {"fd-domain": {"real": 9.231331698585564, "blur 0.5": 22.341391940098674},
                                             "fd-judge": {"real": 0.23726752882694768}}}
    kept = files.stable_provenance(old, new, ("created",), unchanged=True, recomputed=("calibration",))
    assert kept == old  # byte-identical on a rebuild elsewhere
    # a real change (another network, another N) is a change: the new numbers are written
    moved = {"created": "now", "calibration": {**new["calibration"], "fd-judge": {"real": 0.2373}}}
    assert files.stable_provenance(old, moved, ("created",), unchanged=True,
                                   recomputed=("calibration",))["calibration"] == moved["calibration"]
    # and a rung more or less is another ladder
    grown = {"created": "now", "calibration": {**old["calibration"], "blur": {"real": 0.33}}}
    assert files.stable_provenance(old, grown, ("created",), unchanged=True,
                                   recomputed=("calibration",))["calibration"] == grown["calibration"]


def test_a_value_near_zero_keeps_its_committed_value_across_cpus():
    # dists(x, x) in results/l2_vs_perceptual: -1.30e-8 where it was written, -9.31e-9 recomputed on
    # CI's machine; relative to itself that is 40%, against the ladder's O(1) rungs it is round-off
    old = {"created": "then", "calibration": {"dists": {"value": -1.30385160446167e-08, "blur 1": 0.17391427552700042}}}
    new = {"created": "now", "calibration": {"dists": {"value": -9.313225746154785e-09, "blur 1": 0.17391427260637282}}}
    assert files.stable_provenance(old, new, ("created",), unchanged=True, recomputed=("calibration",)) == old
    # a floor that really moves off zero is written
    moved = {"created": "now", "calibration": {"dists": {"value": 2e-6, "blur 1": 0.17391427260637282}}}
    assert files.stable_provenance(old, moved, ("created",), unchanged=True,
                                   recomputed=("calibration",))["calibration"] == moved["calibration"]


def test_written_files_are_as_readable_as_any_file_the_user_writes(tmp_path):
    import os

    from lossbench.store import files

    files.write_text(tmp_path / "a.md", "x")  # through mkstemp, which makes files private (0600)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == 0o666 & ~umask
