"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the suffix, so writers that pick a format from the extension
    (matplotlib, torchvision.utils.save_image) still work.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        # mkstemp makes the file private (0600); a result is as readable as any file this user writes
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            from lossbench.core.errors import DiskFull

            raise DiskFull(str(path)) from None
        raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


#: errno values that mean "the device (or this user's quota) is full"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _umask()


def check_folder(path: str | os.PathLike, what: str) -> None:
    """Refuse, before anything is written, a folder that cannot be one: ``path`` is a file, lies
    under a file, or its nearest existing folder is not writable. ``what`` names the setting
    (``--out``, ``$LOSSBENCH_CACHE``) in the one-line error."""
    from lossbench.core.errors import LossbenchError

    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise LossbenchError(f"{what} {path}: is a file, not a folder; name a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LossbenchError(f"{what} {path}: {existing} is a file, so no folder can be made under it; name another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LossbenchError(f"{what} {path}: {existing} is not writable; name a folder you can write to")


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``data`` into ``path`` atomically; a file that already holds exactly these bytes is left alone
    (a rebuild that changes nothing touches nothing, and a rebuild killed half-way leaves no temporary)."""
    try:
        if Path(path).stat().st_size == len(data) and Path(path).read_bytes() == data:
            return
    except OSError:
        pass
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=json_default) + "\n")


def yaml_text(data: Any) -> str:
    """The YAML text write_yaml writes for ``data`` (to compare a stored file with what would be written)."""
    return yaml.safe_dump(data, sort_keys=False)


def write_yaml(path: str | os.PathLike, data: Any) -> None:
    write_text(path, yaml_text(data))


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame without its index."""
    write_text(path, frame.to_csv(index=False))


#: formats save_figure writes (path's suffix is replaced by each); set per report by figure_formats()
_FIGURE_FORMATS: tuple[str, ...] = ("png",)


@contextlib.contextmanager
def figure_formats(formats):
    """Within the block, every save_figure writes each of ``formats`` (png, pdf, svg)."""
    global _FIGURE_FORMATS
    previous, _FIGURE_FORMATS = _FIGURE_FORMATS, tuple(dict.fromkeys(formats))
    try:
        yield
    finally:
        _FIGURE_FORMATS = previous


def save_figure(path: str | os.PathLike, fig, dpi: int = 120) -> None:
    """The figure in each format of figure_formats() (``path``'s suffix replaced): PNG; PDF with
    its fonts embedded as TrueType (Type 42, so a journal's checker finds no Type 3 font); SVG
    with text as paths. No creation date in PDF or SVG, so a re-run writes the same bytes."""
    import matplotlib.pyplot as plt

    metadata = {"png": None, "pdf": {"CreationDate": None, "Producer": None}, "svg": {"Date": None}}
    with plt.rc_context({"pdf.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "lossbench"}):
        for fmt in _FIGURE_FORMATS:
            import io

            buffer = io.BytesIO()
            fig.savefig(buffer, dpi=dpi, bbox_inches="tight", format=fmt, metadata=metadata[fmt])
            write_bytes(Path(path).with_suffix(f".{fmt}"), buffer.getvalue())
    plt.close(fig)


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """Same object, same bytes: torch.save names the archive's records after the file it writes
    to, so saving straight to the random temporary name made every save differ (and every digest
    of a cached network differ per machine and per run). Serialised in memory, then written."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


#: how far a recomputed number may move and still be "the same": networks compute in float32, and
#: another CPU's kernels (AVX-512 against AVX2, oneDNN's choice) round differently. Measured, the
#: committed results written on an Intel Xeon and recomputed on an AMD EPYC: the calibration ladders
#: up to 4.4e-8 relative (fd-domain's real floor 9.2313313 against 9.2313317), the paradox's judge
#: scores up to 1.0e-6 of their column's scale (the classifier's probabilities); 1e-5 leaves 10x
#: room and is still 10x below the 3-4 digits any table shows.
RECOMPUTED_REL = 1e-5


def stable_provenance(old: Any, new: dict, volatile: tuple[str, ...], unchanged: bool,
                      recomputed: tuple[str, ...] = ()) -> dict:
    """``new`` with its ``volatile`` fields (when, how long, on what) taken from ``old``, the
    manifest already on disk, when ``unchanged`` says this invocation produced nothing new:
    re-running a finished study then leaves its committed files byte-identical, and the provenance
    keeps describing the invocation that made the results. ``recomputed`` fields (numbers every
    invocation computes again, such as the calibration ladder) keep their old value when the new
    one equals it to float32 round-off (:data:`RECOMPUTED_REL`)."""
    if not unchanged or not isinstance(old, dict) or any(key not in old for key in volatile):
        return new
    kept = {key: old[key] if key in volatile else value for key, value in new.items()}
    for key in recomputed:
        if key in old and key in new and same_numbers(old[key], new[key], RECOMPUTED_REL):
            kept[key] = old[key]
    return kept


def same_numbers(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Whether two JSON values have the same structure, equal strings and numbers equal to ``rel``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        # near zero (dists(x, x) = -1.3e-8 on one CPU, -9.3e-9 on another) relative round-off means
        # nothing: an O(1) quantity in float32 carries ~1e-7 absolute, so the absolute floor is rel / 100
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel * 1e-2)
    return a == b


def read_json_or_none(path: str | os.PathLike) -> Any:
    """The JSON at ``path``, or None when it is missing or unreadable (then it is simply replaced)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def json_default(obj: Any) -> Any:
    # numpy scalars and paths appear in metrics and manifests; store them as plain values.
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


#: lossbench's own corner of a folder it writes: a folder git never shows (its .gitignore ignores everything in
#: it, itself included, as .pytest_cache's does), so a lock left by a killed process is no change to a checkout
PRIVATE = ".lossbench"
LOCK_NAME = f"{PRIVATE}/lock"
_PRIVATE_IGNORE = "# written by lossbench: its lock; nothing here is a result\n*\n"


def private_dir(folder: str | os.PathLike) -> Path:
    """``folder``/.lossbench, made with the .gitignore that keeps it out of ``git status``."""
    path = Path(folder) / PRIVATE
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.is_file():
        try:
            ignore.write_text(_PRIVATE_IGNORE, encoding="utf-8")
        except OSError as exc:
            _drop_private(Path(folder))
            if exc.errno in _NO_SPACE:
                from lossbench.core.errors import DiskFull

                raise DiskFull(str(ignore)) from None
            raise
    return path


def _drop_private(folder: Path) -> None:
    """Remove ``folder``/.lossbench when it holds nothing but its .gitignore (a lock that could not be
    taken leaves nothing behind)."""
    path = folder / PRIVATE
    try:
        if {p.name for p in path.iterdir()} <= {".gitignore"}:
            (path / ".gitignore").unlink(missing_ok=True)
            path.rmdir()
    except OSError:
        pass


def _holder(lock: Path) -> tuple[dict, dict]:
    import socket

    holder = read_json_or_none(lock)
    return holder if isinstance(holder, dict) else {}, {"pid": os.getpid(), "host": socket.gethostname()}


def _held_error(folder: Path, holder: dict, me: dict):
    from lossbench.core.errors import LossbenchError

    if holder.get("host") not in (None, me["host"]):
        return LossbenchError(f"{folder}: a lossbench process on {holder.get('host')} (PID {holder.get('pid')}) holds this "
                              f"folder; wait for it to end, or add --wait; if none runs there any more, delete "
                              f"{folder / LOCK_NAME}")
    return LossbenchError(f"{folder}: another lossbench process (PID {holder.get('pid')}) is writing this folder; "
                          f"wait for it to end, or add --wait")


def _foreign(holder: dict, me: dict) -> bool:
    """A lock file naming a process of another machine (a folder on a shared disk). Its flock
    says nothing reliable on every network file system, so the file itself holds: the lock of a
    machine that died is deleted by hand, as the error line says."""
    return isinstance(holder.get("pid"), int) and holder.get("host") not in (None, me["host"])


def _take(lock: Path, block: bool) -> int | None:
    """A descriptor of ``lock`` that holds its exclusive flock, or None while another process
    holds it. The kernel releases a flock when its holder exits, however it ends, so the lock of
    a killed process is free at once, and two contenders can never both take it over: taking it
    is one system call, not a check followed by a write (lossbench 0.3's pid file, which two
    processes that found the same dead holder could both replace). A holder deletes the file
    before it lets go, so a contender that locked the deleted file tries again on the new one."""
    import fcntl

    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                from lossbench.core.errors import DiskFull

                _drop_private(lock.parent.parent)
                raise DiskFull(str(lock)) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # locked a file its holder had already deleted: try the one at the path now


def _write_holder(fd: int, lock: Path, me: dict) -> None:
    """Name this process in the lock it holds (for the error line of the next contender). A full
    disk leaves no lock behind: one line, nothing half-written."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode("utf-8"))
    except OSError as exc:
        lock.unlink(missing_ok=True)
        os.close(fd)
        _drop_private(lock.parent.parent)
        if exc.errno in _NO_SPACE:
            from lossbench.core.errors import DiskFull

            raise DiskFull(str(lock)) from None
        raise


def check_unlocked(folder: str | os.PathLike) -> None:
    """Refuse at once (before a long set-up) if another process holds ``folder``'s lock; writes
    nothing (a lock file is only looked at, never made)."""
    import fcntl

    lock = Path(folder) / LOCK_NAME
    if not lock.is_file():
        return
    holder, me = _holder(lock)
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return  # gone meanwhile, or unreadable: the lock itself decides later
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _held_error(Path(folder), holder, me) from None
    finally:
        os.close(fd)
    if _foreign(holder, me):
        raise _held_error(Path(folder), holder, me)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, wait: bool = False, poll: float = 2.0) -> Iterator[None]:
    """Hold ``folder``'s lock while writing into it: an exclusive flock on ``.lossbench/lock``,
    which also names this process (PID, host). Another holder makes this a one-line error naming
    its PID, or with ``wait`` a wait; the lock of a process that died is free. On entry,
    temporary files that a killed write left behind (``.name.XXXX.tmp.ext``, see
    :func:`atomic_path`) are removed."""
    import time

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private_dir(folder)
    lock = folder / LOCK_NAME
    while True:
        fd = _take(lock, block=wait)
        holder, me = _holder(lock)
        if fd is not None and not _foreign(holder, me):
            break
        if fd is not None:
            os.close(fd)  # free here, but named by a process of another machine
        if not wait:
            for _ in range(10):  # a holder names itself a moment after it takes the lock
                if holder.get("pid") is not None:
                    break
                time.sleep(0.05)
                holder, me = _holder(lock)
            raise _held_error(folder, holder, me)
        time.sleep(poll)
    _write_holder(fd, lock, me)
    try:
        for leftover in folder.rglob(".*.tmp*"):
            if leftover.is_file():
                leftover.unlink()
        yield
    finally:
        lock.unlink(missing_ok=True)  # still holding it: no other process can have replaced it
        os.close(fd)
