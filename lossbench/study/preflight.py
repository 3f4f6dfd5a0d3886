"""What ``--dry-run`` checks beyond the study file, without training and without writing anything:
the data is there and reads, it has class labels where a judge or a domain classifier needs them,
the pretrained weights are present, the sizes make sense, and how long the runs will take.

The clock is an estimate, labelled as one: a few optimiser steps of each model with an L2 loss,
timed at ``training.threads``, times the steps of an epoch and the epochs a run may take (a fixed
number, or with early stopping the range from ``patience + 1`` to ``max_epochs``). Perceptual and
adversarial terms cost more per step (a frozen network's forward and backward, a critic's update)
and are not in it.
"""

from __future__ import annotations

import math
import time

from lossbench.core.errors import LossbenchError
from lossbench.study.spec import Study


def data_lines(study: Study) -> tuple[list[str], object]:
    """Load the study's data as a run would (nothing downloaded: data.download is for the run);
    one line of what was found, warnings for sizes it cannot give; raises LossbenchError for data
    that is missing or unreadable, or without the labels a metric or term needs."""
    from lossbench.data import load_dataset

    spec = study.spec.data
    started = time.perf_counter()
    try:
        data = load_dataset(spec.model_copy(update={"download": False}))
    except LossbenchError as exc:
        if spec.download:
            return [f"data: {spec.name} is not here yet; data.download: true fetches it when the study runs ({exc})"], None
        raise LossbenchError(f"{study.source}: {exc}") from None
    ident = data.identity
    lines = [f"data: {spec.name}: {ident['n_train']:,} train / {ident['n_val']:,} validation / {ident['n_test']:,} test "
             f"images of {'×'.join(map(str, ident['shape']))}, read in {time.perf_counter() - started:.1f} s"
             + (f"; {len(data.pool_x):,} images the study never uses, for the judge" if data.pool_x is not None else "")]
    lines += [f"warning: {c}" for c in data.clamped]
    needing = labelled_by(study)
    if needing:
        labels = data.train_y
        if labels is None or int(labels.min()) < 0:
            from lossbench.metrics.judge import no_labels_line

            raise LossbenchError(f"{study.source}: {no_labels_line(spec.name)} (needed by {', '.join(needing)})")
        lines.append(f"labels: {int(labels.unique().numel())} classes, needed by {', '.join(needing)}")
    return lines, data


def labelled_by(study: Study) -> list[str]:
    """The metrics and conditions that train on the dataset's class labels."""
    from lossbench.nets.bank import FEATURE_SOURCES
    from lossbench.metrics import METRICS
    from lossbench.metrics.features import FEATURE_NETS

    found = [m for m in study.spec.metrics if METRICS[m].kind == "distribution"
             and FEATURE_SOURCES[METRICS[m].feature_kind].labels]
    for cname in study.spec.conditions:
        if any(FEATURE_NETS[network].labels for spec in study.spec.terms(cname) for network, _ in spec.feature_networks()):
            found.append(f"conditions.{cname}")
    return list(dict.fromkeys(found))


def weights_lines(study: Study, cache, explicit: dict, strict: bool) -> list[str]:
    """Each pretrained network the study needs: found where, or missing with the fetch command
    (an error with --strict, a warning otherwise: the metric is then unavailable, the condition skipped)."""
    from lossbench.nets.bank import FEATURE_SOURCES
    from lossbench.metrics import METRICS
    from lossbench.metrics.features import FEATURE_NETS
    from lossbench.nets.weights import WeightsUnavailable, resolve

    needed: dict[str, list[str]] = {}
    for m in study.spec.metrics:
        entry = METRICS[m]
        names = entry.weights + (FEATURE_SOURCES[entry.feature_kind].weights if entry.kind == "distribution" else ())
        for name in names:
            needed.setdefault(name, []).append(m)
    for cname in study.spec.conditions:
        for spec in study.spec.terms(cname):
            for network, _ in spec.feature_networks():
                for name in FEATURE_NETS[network].weights:
                    needed.setdefault(name, []).append(f"conditions.{cname}")
    lines = []
    for name, users in needed.items():
        try:
            found = resolve(name, explicit.get(name), allow_download=False, cache=cache, write=False)
            lines.append(f"weights: {name} ({', '.join(users)}): found ({found.where})")
        except WeightsUnavailable as exc:
            if strict:
                raise LossbenchError(f"{study.source}: {', '.join(users)}: weights unavailable (--strict): {exc}") from None
            lines.append(f"warning: weights {name} missing, so {', '.join(users)} will be unavailable: {exc}")
    return lines


def clock_lines(study: Study, data, device: str = "cpu") -> list[str]:
    """The estimated training time (see the module docstring)."""
    import torch

    from lossbench.models import build_model
    from lossbench.core.environment import compute_threads

    spec = study.spec
    if data is None:
        return []
    steps = math.ceil(len(data.train_x) / spec.training.batch_size)
    es = spec.training.early_stopping
    plateau = any(isinstance(t.get("start"), str) for terms in spec.conditions.values() for t in terms)
    low, high = ((es.patience + 1, es.max_epochs + (es.adversarial_epochs if plateau else 0)) if es is not None
                 else (spec.training.epochs, spec.training.epochs))
    batch = data.train_x[: spec.training.batch_size]
    per_epoch: dict[str, float] = {}
    with compute_threads(spec.training.threads):
        for run in study.runs:
            label = run.model
            if label in per_epoch:
                continue
            params = {k: v for k, v in run.config["model"].items() if k not in ("name", "label", "target")}
            torch.manual_seed(0)
            model = build_model(run.config["model"]["name"], tuple(batch.shape[1:]), params)
            optimizer = torch.optim.Adam(model.parameters(), 1e-3)
            times = []
            for _ in range(4):  # the first is a warm-up
                started = time.perf_counter()
                out = model(batch)
                loss = (out["x_hat"] - batch).pow(2).flatten(1).sum(1).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                times.append(time.perf_counter() - started)
            per_epoch[label] = sorted(times[1:])[1] * steps
    total_low = sum(per_epoch[r.model] * low for r in study.runs)
    total_high = sum(per_epoch[r.model] * high for r in study.runs)
    epochs = f"{low} epoch{'' if low == 1 else 's'}" if low == high else f"{low} to {high} epochs (early stopping)"
    return [f"clock (an estimate): an epoch of {steps} steps takes about "
            + ", ".join(f"{_seconds(s)} for {m}" for m, s in per_epoch.items())
            + f" (an L2 step timed at training.threads = {spec.training.threads}; perceptual and adversarial terms cost "
            f"more per step); {len(study.runs)} runs of {epochs}: {_span(total_low, total_high)} of training one run "
            f"at a time, plus set-up and evaluation"]


def _seconds(s: float) -> str:
    return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"


def _span(low: float, high: float) -> str:
    def fmt(s: float) -> str:
        return _seconds(s) if s < 120 else (f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h")

    return fmt(low) if math.isclose(low, high) else f"{fmt(low)} to {fmt(high)}"


def preflight(study: Study, cache, explicit: dict, strict: bool = False) -> list[str]:
    """Every check of this module, in order, as the lines --dry-run prints (raises on data it cannot use)."""
    lines, data = data_lines(study)
    return lines + weights_lines(study, cache, explicit, strict) + clock_lines(study, data)
