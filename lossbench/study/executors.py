"""Where a study's runs execute. ``serial`` (the default) trains them one after another in the
``lossbench run`` process (lossbench.study.runner). ``ray`` makes each run a Ray task that calls
:func:`lossbench.study.runner.execute_run`, which rebuilds what the run needs from the study
folder and the caches; the driver has prepared every shared artefact before the first task starts.

With no ``--address`` Ray starts on this machine and stops with the command. To use a cluster,
start it (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others),
install lossbench on every node, put the output folder and the lossbench cache on a file system
every node sees, and pass ``--address HEAD:6379``.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from lossbench.core.errors import DiskFull, LossbenchError
from lossbench.store.folders import StudyFolder


class RayPool:
    """A connection to Ray, opened before anything is written, so that an unreachable cluster or
    a GPU request on a cluster without GPUs is one clear error and an untouched output folder."""

    def __init__(self, address: str | None = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0):
        try:
            import ray
        except ImportError:
            raise LossbenchError("--executor ray needs Ray: pip install 'lossbench[ray]' (or pip install ray)") from None
        if cpus_per_run <= 0 or gpus_per_run < 0:
            raise LossbenchError(f"--cpus-per-run must be > 0 and --gpus-per-run >= 0 (got {cpus_per_run}, {gpus_per_run})")
        self.ray = ray
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        self.started_here = address is None
        if address is not None:
            _reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=True, configure_logging=False,
                     logging_level=logging.ERROR, ignore_reinit_error=True)
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError: Ray's way of saying "not there"
            raise LossbenchError(f"--address {address}: cannot reach a Ray cluster there ({_last_line(exc)}); "
                                 f"start one with 'ray start --head' or leave --address out for a local one") from None
        resources = ray.cluster_resources()
        if gpus_per_run > 0 and resources.get("GPU", 0) < gpus_per_run:
            self.close()
            raise LossbenchError(f"--gpus-per-run {gpus_per_run}: the Ray cluster has {resources.get('GPU', 0):g} GPUs; "
                                 f"leave --gpus-per-run out to train on CPUs")
        if resources.get("CPU", 0) < cpus_per_run:
            self.close()
            raise LossbenchError(f"--cpus-per-run {cpus_per_run}: the Ray cluster has {resources.get('CPU', 0):g} CPUs")
        self.resources = resources

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()

    def run(self, session, runs, device: str, cache, weights, data_root) -> list[str]:
        """Each run a task; finished runs and runs whose weights are missing are settled here,
        without a task. A task that dies (its worker killed, an exception) marks its run failed
        with the reason and writes nothing for it, so the next ``lossbench run`` retries it."""
        from tqdm.auto import tqdm

        ray = self.ray
        outcomes, pending = _settle_here(session, runs)
        if not pending:
            return outcomes
        threads = max(1, int(self.cpus_per_run))
        task = ray.remote(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0)(_task)
        out_dir = str(session.out_dir.resolve())
        futures = {task.remote(out_dir, run.run_id, device, cache, weights, data_root, threads): run for run in pending}
        started = time.perf_counter()
        counts = {"done": 0, "failed": 0}
        bar = tqdm(total=len(pending), desc=f"study {session.study.spec.name} (ray)", unit="run", disable=None,
                   dynamic_ncols=True)
        waiting = list(futures)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            run = futures[ready[0]]
            try:
                outcome, seconds = ray.get(ready[0])
                line = f"{run.title}: {outcome} in {seconds:.0f} s"
            except Exception as exc:  # the worker died or the task raised: this run failed, the others go on
                full = _disk_full(exc)
                if full is not None:  # every other run would fail the same way: stop the study, one line
                    for future in waiting:
                        ray.cancel(future)
                    bar.close()
                    raise full from None
                outcome = "failed"
                line = f"{run.title}: failed ({_last_line(exc)}); the next 'lossbench run' retries it"
            counts["failed" if outcome == "failed" else "done"] += 1
            outcomes.append(outcome)
            bar.update(1)
            bar.set_postfix(done=counts["done"], running=min(len(waiting), self._slots()), failed=counts["failed"])
            tqdm.write(line, file=sys.stderr)
        bar.close()
        tqdm.write(f"{len(pending)} runs on Ray in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        return outcomes

    def _slots(self) -> int:
        """How many runs the cluster can hold at once."""
        by_cpu = self.resources.get("CPU", 0) // self.cpus_per_run
        by_gpu = self.resources.get("GPU", 0) // self.gpus_per_run if self.gpus_per_run else by_cpu
        return int(max(1, min(by_cpu, by_gpu)))


def _settle_here(session, runs) -> tuple[list[str], list]:
    """(outcomes, pending): finished runs and runs of skipped conditions are settled in this process,
    without a worker; the rest are pending for the pool."""
    from lossbench.study.units import run_one

    outcomes, pending = [], []
    for run in runs:
        if StudyFolder(session.out_dir).run(run.run_id).metrics.is_file() or run.condition in session.skipped:
            outcomes.append(run_one(session, run))
        else:
            pending.append(run)
    return outcomes, pending


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Ray itself retries an unreachable address for many minutes; a plain TCP connection to
    HOST:PORT says within seconds whether anything listens there."""
    import socket

    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        if address == "auto":
            return
        raise LossbenchError(f"--address {address}: expected HOST:PORT (as 'ray start --head' prints), or auto")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise LossbenchError(f"--address {address}: cannot reach a Ray cluster there ({exc.strerror or exc}); "
                             f"start one with 'ray start --head' or leave --address out for a local one") from None


def _task(out_dir: str, run_id: str, device: str, cache, weights, data_root, threads: int) -> tuple[str, float]:
    os.environ.setdefault("TQDM_DISABLE", "1")  # one progress view, the driver's (tqdm reads it on import)
    import torch

    from lossbench.study.units import execute_run

    torch.set_num_threads(threads)  # set-up; each run computes with its own training.threads
    started = time.perf_counter()
    outcome = execute_run(out_dir, run_id, device=device, cache=cache, weights=weights, data_root=data_root)
    return outcome, time.perf_counter() - started


def _disk_full(exc: BaseException) -> DiskFull | None:
    """The DiskFull a Ray task raised (Ray wraps it in a RayTaskError whose ``cause`` it is)."""
    cause = getattr(exc, "cause", exc)
    return cause if isinstance(cause, DiskFull) else None


def _last_line(exc: BaseException) -> str:
    """Ray's errors end with the cause; their first lines are a header."""
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__



class ProcessPool:
    """``--jobs N``: up to N runs at once on this machine, each in a worker process of its own that
    rebuilds the study from the folder and the caches (:func:`lossbench.study.units.execute_run`)
    and computes with the run's ``training.threads``, so a run's numbers are those it gets serially.
    Runs that share a first phase (lossbench.train.prefix_key) go to one worker, one after another:
    the first trains that phase, the others start from it."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def run(self, session, runs, device: str, cache, weights, data_root) -> list[str]:
        import concurrent.futures as cf
        import multiprocessing

        from tqdm.auto import tqdm

        from lossbench.train import prefix_key

        outcomes, pending = _settle_here(session, runs)
        if not pending:
            return outcomes
        groups: dict[str, list] = {}
        for run in pending:
            plateau = any(t.get("start") == "plateau" for t in run.config["condition"]["terms"])
            groups.setdefault(prefix_key(run.config) if plateau else run.run_id, []).append(run)
        out_dir = str(session.out_dir.resolve())
        bar = tqdm(total=len(pending), desc=f"study {session.study.spec.name} ({self.jobs} jobs)", unit="run", disable=None,
                   dynamic_ncols=True)
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state of this one's torch is inherited
        with cf.ProcessPoolExecutor(max_workers=min(self.jobs, len(groups)), mp_context=context,
                                    initializer=_init_worker, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(_group_task, out_dir, [r.run_id for r in group], device, cache, weights, data_root): group
                       for group in groups.values()}
            for future in cf.as_completed(futures):
                group = futures[future]
                try:
                    results = future.result()
                except DiskFull:  # every other run would fail the same way: stop the study, one line
                    pool.shutdown(wait=True, cancel_futures=True)  # the runs under way end (or hit it too)
                    bar.close()
                    raise
                except Exception as exc:  # a worker died or raised: its runs failed, the others go on
                    results = [(run.run_id, "failed", f"failed ({_last_line(exc)}); the next 'lossbench run' retries it")
                               for run in group]
                for run, (_, outcome, line) in zip(group, results):
                    outcomes.append(outcome)
                    bar.update(1)
                    tqdm.write(f"{run.title}: {line}", file=sys.stderr)
        bar.close()
        return outcomes


def _init_worker(parent: int) -> None:
    """A worker shows no progress bars of its own (the driver's counts runs) and ends when the
    driver is gone (killed), instead of writing on into a folder a new driver may own."""
    import threading

    os.environ["TQDM_DISABLE"] = "1"

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _group_task(out_dir: str, run_ids: list[str], device: str, cache, weights, data_root) -> list[tuple[str, str, str]]:
    from lossbench.study.units import execute_run

    results = []
    for run_id in run_ids:
        started = time.perf_counter()
        try:
            outcome = execute_run(out_dir, run_id, device=device, cache=cache, weights=weights, data_root=data_root)
            results.append((run_id, outcome, f"{outcome} in {time.perf_counter() - started:.0f} s"))
        except DiskFull:  # not this run's fault: the driver stops the study
            raise
        except Exception as exc:  # this run failed; the group's next run may still train
            results.append((run_id, "failed", f"failed ({_last_line(exc)}); the next 'lossbench run' retries it"))
    return results
