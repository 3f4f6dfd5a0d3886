"""Atomic writes that are also reproducible: the same object gives the same bytes."""

from __future__ import annotations

import hashlib

import torch

from lossbench import files


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


def test_written_files_are_as_readable_as_any_file_the_user_writes(tmp_path):
    import os

    from lossbench import files

    files.write_text(tmp_path / "a.md", "x")  # through mkstemp, which makes files private (0600)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == 0o666 & ~umask
