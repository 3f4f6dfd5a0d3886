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

from lossbench.core.errors import DataNotFound, LossbenchError
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
        if spec.download and isinstance(exc, DataNotFound):
            return [f"data: {spec.name} is not here yet; data.download: true fetches it when the study runs ({exc})"], None
        raise LossbenchError(f"{study.source}: {exc}") from None
    from lossbench.study.held import check_sizes

    check_sizes(study, data)
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
            found = resolve(name, explicit.get(name), allow_download=True, cache=cache, write=False)
            lines.append(f"weights: {name} ({', '.join(users)}): found ({found.where})")
        except WeightsUnavailable as exc:
            if strict:
                raise LossbenchError(f"{study.source}: {', '.join(users)}: weights unavailable (--strict): {exc}") from None
            lines.append(f"warning: {exc}; without them {', '.join(users)} will be unavailable (finished runs keep their "
                         f"stored values)")
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


def preflight(study: Study, cache, explicit: dict, strict: bool = False, out=None) -> list[str]:
    """Every check of this module, in order, as the lines --dry-run prints (raises on data it cannot use)."""
    lines, data = data_lines(study)
    return (lines + weights_lines(study, cache, explicit, strict) + setup_lines(study, data, cache, out)
            + clock_lines(study, data))


def setup_lines(study: Study, data, cache, out=None) -> list[str]:
    """What the set-up will do before the first epoch, each step with an estimate timed here on
    randomly initialised copies of its networks (their speed does not depend on their weights), and
    whether each judge is independent of the study. Steps that the cache already holds cost nothing
    then; metrics that every run of ``out`` holds are reported as stored and cost nothing at all."""
    from pathlib import Path

    from lossbench.metrics import METRICS
    from lossbench.core.progress import duration
    from lossbench.study.held import held_metrics

    if data is None:
        return []
    report = study.spec.report.model_dump()
    held, _ = held_metrics(study, Path(out), data.identity, report) if out is not None else ({}, set())
    stored = [m for m, h in held.items() if h.everywhere]
    lines = []
    if stored:
        lines.append(f"set-up: every run in {out} holds {', '.join(stored)}: reported as stored, nothing computed for them")
    n_test = len(data.test_x)
    n = min(report["distribution_n"] or n_test, n_test)
    total = 0.0
    seen: set[str] = set()
    for m in study.spec.metrics:
        entry = METRICS[m]
        if m in stored:
            continue
        if entry.kind == "distribution" and entry.feature_kind not in seen:
            kind = entry.feature_kind
            seen.add(kind)
            users = [x for x in study.spec.metrics if METRICS[x].kind == "distribution" and METRICS[x].features == kind]
            for text, seconds in _network_steps(kind, data, cache, users):
                total += seconds or 0.0
                lines.append(f"set-up: {text}" + (f": about {duration(seconds)}" if seconds else ""))
            per = _seconds_per_image(kind, data)
            k = min(report["inception_n"] or n, n_test) if kind == "inception" else n
            sets = 2 + (2 * 5 if report["calibration"] else 0)
            if per is not None:
                seconds = per * k * sets
                total += seconds
                lines.append(f"set-up: {', '.join(users)}: real statistics{' and calibration ladder' if report['calibration'] else ''}"
                             f" ({sets} sets of {k:,} images): about {duration(seconds)} the first time, then cached")
        elif entry.kind == "paired" and entry.ladder and report["calibration"]:
            per = _pair_seconds(entry.weights, data)
            k = min(n_test, 1000)
            if per is not None:
                seconds = per * k * 8
                total += seconds
                lines.append(f"set-up: {m}: calibration ladder (8 degradations of {k:,} test images): about {duration(seconds)} "
                             f"each time it is computed (not on a rebuild that finds it stored)")
    if total:
        lines.append(f"set-up in all: about {duration(total)} at most (an estimate timed here on untrained copies of the "
                     f"networks; steps the cache holds cost nothing)")
    return lines


def _network_steps(kind: str, data, cache, users: list[str]) -> list[tuple[str, float | None]]:
    """The network behind a feature kind: shipped, cached, or trained here (with the estimate), and, for
    the judge, whether it is independent of the study and how to make it so."""
    from lossbench.core.errors import LossbenchError
    from lossbench.nets.weights import cache_dir, cached_card

    names = ", ".join(users)
    if kind == "judge":
        from lossbench.metrics.judge import RECIPE, JudgeNet, has_shipped_judge, judge_path, judge_split

        if has_shipped_judge(data):
            return [(f"{names}: the judge shipped for {data.identity['name']}; independent of the study: yes (it shares no "
                     f"image with it)", None)]
        try:
            split = judge_split(data)
        except LossbenchError:
            return []  # no labels: data_lines has refused the study already
        independent = ("yes (it trains on images of the source that the study never uses)" if split.independent else
                       "NO: with no images left out of the study, it trains on the study's own training split; set "
                       "data.judge_fraction (e.g. 0.2: a fifth of the training split held out for the judge) or "
                       "data.train_size below the split, so that it trains on images the study never uses")
        cached = cached_card(judge_path(data, split, cache)) is not None
        steps = -(-len(split.train_x) // RECIPE["batch_size"]) * RECIPE["epochs"]
        seconds = None if cached else steps * _train_step_seconds(JudgeNet(data.train_x.shape[1], split.classes), data,
                                                                  RECIPE["batch_size"], split.classes)
        where = "cached" if cached else f"trained here on {len(split.train_x):,} images ({RECIPE['epochs']} epochs)"
        return [(f"{names}: its judge for {data.identity['name']}, {where}; independent of the study: {independent}", seconds)]
    if kind == "domain":
        from lossbench.metrics.domain import RECIPE as DOMAIN, SHIPPED_FOR, DomainNet

        ident = data.identity
        if ident["name"] in SHIPPED_FOR:
            return [(f"{names}: the domain classifier shipped for {ident['name']}", None)]
        key = f"{ident['name']}-{ident['sha256'][:16]}-recipe{DOMAIN['version']}"
        if cached_card(cache_dir(cache) / "classifiers" / f"{key}.pt") is not None:
            return [(f"{names}: the domain classifier for {ident['name']}, cached", None)]
        classes = int(data.train_y.max()) + 1 if data.train_y is not None else 10
        net = DomainNet(data.train_x.shape[1], tuple(data.train_x.shape[-2:]), classes)
        steps = -(-len(data.train_x) // DOMAIN["batch_size"]) * DOMAIN["epochs"]
        return [(f"{names}: the domain classifier for {ident['name']}, trained here on {len(data.train_x):,} images "
                 f"({DOMAIN['epochs']} epochs; the study's own images: the perceptual term's network, not a judge)",
                 steps * _train_step_seconds(net, data, DOMAIN["batch_size"], classes))]
    return []


def _train_step_seconds(net, data, batch_size: int, classes: int) -> float:
    """One SGD step of ``net`` on a batch of the study's images, timed (the median of three after a warm-up)."""
    import torch
    import torch.nn.functional as F

    x = data.train_x[:batch_size]
    y = torch.randint(0, classes, (len(x),), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    times = []
    for _ in range(4):
        started = time.perf_counter()
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return sorted(times[1:])[1] * batch_size / max(len(x), 1)


def _timed(fn, x) -> float:
    """Seconds per image of ``fn`` on ``x``: the faster of two calls after a warm-up on the same batch (the
    first call of a shape pays for the kernels' set-up, several times the steady cost)."""
    import torch

    times = []
    with torch.no_grad():
        for _ in range(3):
            started = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - started)
    return min(times[1:]) / len(x)


def _seconds_per_image(kind: str, data) -> float | None:
    """A feature kind's network per image, on an untrained copy; None for a kind lossbench cannot build
    without its weights (a user's registered features)."""
    x = data.test_x[:16]
    if kind == "judge":
        from lossbench.metrics.judge import JudgeNet

        return _timed(JudgeNet(x.shape[1], 10).eval().features, x)
    if kind == "domain":
        from lossbench.metrics.domain import DomainNet

        return _timed(DomainNet(x.shape[1], tuple(x.shape[-2:]), 10).eval().features, x)
    if kind == "spectrum":
        from lossbench.metrics.blur import high_frequency_share

        return _timed(high_frequency_share, x)
    if kind == "radial-power":
        from lossbench.metrics.spectrum import radial_power

        return _timed(radial_power, x)
    if kind == "inception":
        from lossbench.metrics.inception import CPU_BATCH, to_rgb, to_uint8
        from lossbench.nets.weights import inception_skeleton

        import torch

        # as InceptionFeatures runs it: channels-last, batches of CPU_BATCH
        model = inception_skeleton().eval().to(memory_format=torch.channels_last)
        return _timed(lambda images: model(to_uint8(to_rgb(images))), x[:CPU_BATCH])
    return None


def _pair_seconds(weights: tuple[str, ...], data) -> float | None:
    """A paired network distance per image pair (both images through the backbone), on an untrained copy
    of the backbone's convolutions (torchvision's AlexNet or VGG16 ``features`` up to the last ReLU, as
    LPIPS and DISTS read them; built here so that --dry-run imports no torchvision)."""
    import torch
    from torch import nn

    plans: dict[str, list] = {"lpips-alex": [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)],
                              "lpips-vgg": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]}
    if not weights or weights[0] not in plans:
        return None
    layers: list[nn.Module] = []
    channels = 3
    for item in plans[weights[0]]:
        if item == "M":
            layers.append(nn.MaxPool2d(3, 2) if weights[0] == "lpips-alex" else nn.MaxPool2d(2, 2))
            continue
        out, k, stride, pad = item if isinstance(item, tuple) else (item, 3, 1, 1)
        layers += [nn.Conv2d(channels, out, k, stride, pad), nn.ReLU()]
        channels = out
    features = nn.Sequential(*layers).eval()
    x = data.test_x[:32]
    side = max(32, *x.shape[-2:])
    x = torch.nn.functional.interpolate(x.expand(-1, 3, -1, -1), size=(side, side), mode="bilinear")
    return 2 * _timed(features, x)
