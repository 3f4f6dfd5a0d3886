"""The one entry point: ``lossbench run | score | paradox | report | weights | list``.

User errors (a study file, a path, a value, missing data) print one line ``error: ...`` on
stderr and exit with code 2; nothing is written before the study validates.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from lossbench.store import files
from lossbench._version import __version__
from lossbench.core.errors import LossbenchError



from lossbench.api import CACHE_ENV, DATA_ENV, check_cache as _check_cache, check_device as _check_device  # noqa: F401
from lossbench.api import explicit_weights as _explicit_weights
from lossbench.store.folders import RunFolder, StudyFolder


class _Parser(argparse.ArgumentParser):
    """A command-line mistake is one line naming the flag and where to read more, exit code 2
    (argparse's default prints the whole usage block first)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a command-line mistake (2, one line): a code, for callers of main()
        return int(exc.code or 0)
    args.argv, args.started = argv, time.perf_counter()  # the closing lines report the whole invocation's time
    # the command line only writes figures to files: no window, whatever $DISPLAY says. The
    # library does not choose a backend on import, so a notebook keeps its inline plots. Not
    # imported here: validation, --dry-run and list stay light (matplotlib reads $MPLBACKEND).
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    else:
        os.environ.setdefault("MPLBACKEND", "Agg")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except LossbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; rerun the same command to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (lossbench list | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lossbench", description="Loss functions and image-quality metrics for autoencoders, measured.")
    p.add_argument("--version", action="version", version=f"lossbench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="train and evaluate every run of a study, then write its report")
    run.add_argument("study", help="the study file (YAML), e.g. studies/l2_vs_perceptual.yaml")
    run.add_argument("--out", help="output folder (default: results/<study name>/)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a study key; VALUE is YAML (e.g. training.epochs=2, seeds=[0], models.0.latent_dim=2)")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="auto: cuda, then mps, then cpu")
    run.add_argument("--dry-run", action="store_true", help="print the grid (one line per run) and exit")
    run.add_argument("--strict", action="store_true", help="a metric whose weights are unavailable is an error, not a note")
    run.add_argument("--only", action="append", default=[], metavar="RUN_ID",
                     help="train only this run (an id from --dry-run); repeat it, or separate ids by commas")
    run.add_argument("--executor", default="serial", choices=["serial", "ray"],
                     help="serial: one run after another in this process (default); ray: each run a Ray task "
                          "(pip install 'lossbench[ray]')")
    run.add_argument("--jobs", default="1", metavar="N|auto",
                     help="serial executor: train up to N runs at once, each in a process of its own with its "
                          "training.threads (the numbers do not change); auto: cores / training.threads (default 1)")
    run.add_argument("--address", help="with --executor ray: join this Ray cluster (HOST:PORT of 'ray start --head'); "
                                       "default: start Ray on this machine")
    run.add_argument("--cpus-per-run", type=float, default=None, help="with --executor ray: CPUs per run (default 1)")
    run.add_argument("--gpus-per-run", type=float, default=None,
                     help="with --executor ray: GPUs per run, fractional to share one (e.g. 0.25: four runs per GPU)")
    run.add_argument("--force", action="store_true", help="with --only: delete those runs' stored results and train "
                                                          "them again (the fix for a damaged run)")
    run.add_argument("--wait", action="store_true", help="if another lossbench process writes the output folder, "
                                                         "wait for it instead of stopping")
    run.set_defaults(func=_cmd_run)

    par = sub.add_parser("paradox", help="the one-pixel / six-pixel L2 paradox on real digits, measured")
    # not results/pixel_paradox: a user's variations (--digit, --seed, ...) must not overwrite the
    # committed results in a clone; `lossbench run studies/pixel_paradox.yaml` rebuilds those
    par.add_argument("--out", default="pixel_paradox", help="output folder (default: ./pixel_paradox/; the committed "
                     "results/pixel_paradox/ are rebuilt by 'lossbench run studies/pixel_paradox.yaml')")
    par.add_argument("--digit", type=int, default=2, help="class of the faithful figure's target (default 2)")
    par.add_argument("--per-class", type=int, default=20, help="test digits per class in the systematic version (default 20)")
    par.add_argument("--seed", type=int, default=0, help="chooses the digits and the variants' places (default 0)")
    par.add_argument("--dataset", default="mnist-5k", help="mnist-5k (embedded, default) or mnist ($LOSSBENCH_DATA)")
    par.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    par.set_defaults(func=_cmd_paradox)

    sco = sub.add_parser("score", help="add or recompute metrics on a study folder's finished runs, from their "
                                       "checkpoints, without training; then rebuild its report")
    sco.add_argument("dir", help="a folder written by 'lossbench run'")
    sco.add_argument("--metrics", action="append", default=[], metavar="NAME",
                     help="a metric to add to the study's list (lossbench list names them); repeat it, or separate "
                          "names by commas. Without it: the metrics the study lacks on some run are computed")
    sco.add_argument("--recompute", action="store_true", help="compute every metric of the study again, not only the missing")
    sco.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="auto: cuda, then mps, then cpu")
    sco.add_argument("--strict", action="store_true", help="a metric whose weights are unavailable is an error, not a note")
    sco.add_argument("--wait", action="store_true", help="if another lossbench process writes the folder, wait for it")
    sco.set_defaults(func=_cmd_score)

    mea = sub.add_parser("measure", help="score a folder of images against a reference folder, outside any study "
                                         "(paired metrics when the files pair up by name, distribution metrics otherwise)")
    mea.add_argument("reference", help="the folder of reference images (e.g. the originals)")
    mea.add_argument("candidate", help="the folder of images to score (e.g. reconstructions from any model)")
    mea.add_argument("--metrics", action="append", default=[], metavar="NAME",
                     help="a metric (lossbench list names them); repeat it, or separate names by commas. Default: mse, "
                          "psnr, ssim when the files pair up, and blur")
    mea.add_argument("--size", type=int, default=None, help="resize every image to SIZE×SIZE first (default: keep them)")
    mea.add_argument("--channels", type=int, choices=[1, 3], default=None, help="1 (grey) or 3 (RGB); default: the first image's")
    mea.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="auto: cuda, then mps, then cpu")
    mea.add_argument("--out", help="also write the result (values, per-image values, provenance) to this JSON file")
    mea.set_defaults(func=_cmd_measure)

    rep = sub.add_parser("report", help="rebuild every table and figure of a study folder from its stored runs")
    rep.add_argument("dir", help="a folder written by 'lossbench run'")
    rep.set_defaults(func=_cmd_report)

    wts = sub.add_parser("weights", help="where each pretrained network comes from: status, or fetch one (needs internet)")
    wsub = wts.add_subparsers(dest="action", metavar="ACTION", required=True)
    wsub.add_parser("status", help="each network: found where and its sha256, or what is missing and how to get it")
    fetch = wsub.add_parser("fetch", help="download one network's file into the torch hub cache")
    fetch.add_argument("name", help="a network name from 'lossbench weights status'")
    wts.set_defaults(func=_cmd_weights)

    lst = sub.add_parser("list", help="the registered datasets, models, loss terms and metrics")
    lst.add_argument("--verbose", "-v", action="store_true",
                     help="also each model's and loss term's options with their defaults, each metric's columns and implementation")
    lst.set_defaults(func=_cmd_list)
    return p


def _cmd_run(args) -> int:
    paradox = _paradox_study(args.study, args.overrides)  # reads the file first: a missing one is reported at once
    from lossbench.store.stored import damaged
    from lossbench.study.plan import plan_header, plan_lines, plan_notes, select_runs
    from lossbench.study.spec import load_study

    if paradox is not None:
        spec, name = paradox
        out = Path(args.out) if args.out else Path("results") / name
        from lossbench.paradox.spec import NaturalParadoxSpec

        if isinstance(spec, NaturalParadoxSpec):
            if args.dry_run:
                print(f"{name}: the paradox on natural patches ({spec.n} test patches of natural-patches, seed "
                      f"{spec.seed}; no training) -> {out}")
                return 0
            return _natural_paradox(spec, out, args.argv)
        if args.dry_run:
            print(f"{name}: the one-pixel / six-pixel paradox ({spec.per_class} test digits per class of {spec.dataset}, "
                  f"digit {spec.digit}, seed {spec.seed}) -> {out}")
            return 0
        return _paradox(spec, out, args.device, args.argv)
    study = load_study(args.study, args.overrides, data_root=os.environ.get(DATA_ENV) or None)
    if args.device != "auto":
        _check_device(args.device)
    out = Path(args.out) if args.out else Path("results") / study.spec.name
    only = [i.strip() for item in args.only for i in item.split(",") if i.strip()]
    selected = {r.run_id for r in select_runs(study, only)}
    if args.force and not only:
        raise LossbenchError("--force needs --only RUN_ID (it deletes those runs' results; to start a whole study "
                             "over, give a new --out)")
    ray_options = _ray_options(args)
    if args.dry_run:
        print(f"{plan_header(study)} -> {out}" + (f"; --only: {len(selected)} of them" if only else ""))
        for line in plan_lines(study):
            run_id = line.split()[0]
            if run_id not in selected:
                continue
            done = (out / StudyFolder.RUNS / run_id / RunFolder.METRICS).is_file()
            if args.force:
                mark = "   [will be trained again: --force]"
            elif done:
                mark = ("   [damaged: see lossbench report]" if damaged(out / StudyFolder.RUNS / run_id, None, out) else
                        "   [skipped before (weights unavailable): will be tried again]" if _was_skipped(out / StudyFolder.RUNS / run_id)
                        else "   [finished: will be skipped]")
            else:
                mark = "   [resumes mid-run]" if (out / StudyFolder.RUNS / run_id / RunFolder.RESUME).is_file() else ""
            print(line + mark)
        for note in plan_notes(study):
            print(note)
        from lossbench.study.preflight import preflight

        for line in preflight(study, os.environ.get(CACHE_ENV) or None, _explicit_weights(), args.strict, out):
            print(line)
        threads = study.spec.training.threads
        print(f"numbers: each run computes with training.threads = {threads} "
              + ("(the process's: its numbers depend on the executor's thread count)" if threads == "process" else
                 f"CPU thread{'' if threads == 1 else 's'}: bit-identical on one CPU type whichever executor trains it")
              + "; on a GPU (--device cuda) cuDNN and TF32 kernels are not bit-reproducible: expect the last digits to differ")
        return 0
    from lossbench.api import execute

    manifest = execute(study, out, args.device, command=["lossbench", *args.argv], strict=args.strict, only=only,
                       executor=args.executor, ray_options=ray_options, wait=args.wait, force=args.force,
                       jobs=_jobs(args.jobs))
    counts = ", ".join(f"{v} {k}" for k, v in manifest["counts"].items() if v)
    print(f"{study.spec.name}: {counts} in {time.perf_counter() - args.started:.0f} s (set-up, runs and report; the runs "
          f"{manifest['study_seconds']:.0f} s); see {out / 'summary.md'}")
    from lossbench.study.runner import closing_notes

    for line in closing_notes(out, manifest):
        print(line)
    return 0


def _was_skipped(run_dir: Path) -> bool:
    """A run whose metrics.json records a skip (its weights were missing): retried, not finished."""
    import json

    try:
        return json.loads((run_dir / RunFolder.METRICS).read_text(encoding="utf-8")).get("status") == "skipped"
    except (OSError, ValueError, AttributeError):
        return False


def _jobs(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise LossbenchError(f"--jobs: must be a whole number >= 1 or auto (got {value!r})") from None


def _ray_options(args) -> dict | None:
    given = [flag for flag, value in (("--address", args.address), ("--cpus-per-run", args.cpus_per_run),
                                      ("--gpus-per-run", args.gpus_per_run)) if value is not None]
    if args.executor != "ray":
        if given:
            raise LossbenchError(f"{given[0]} needs --executor ray")
        return None
    return {"address": args.address, "cpus_per_run": 1.0 if args.cpus_per_run is None else args.cpus_per_run,
            "gpus_per_run": args.gpus_per_run or 0.0}


def _paradox_study(path: str, overrides: list[str]):
    """A study file with a ``paradox:`` mapping runs the paradox, one with ``natural_paradox:`` its natural twin:
    (the spec, name), else None."""
    from pydantic import BaseModel, ValidationError

    from lossbench.paradox.spec import ParadoxSpec
    from lossbench.study.source import apply_override, read_study_file

    from lossbench.paradox.spec import NaturalParadoxSpec

    raw = read_study_file(path)
    kinds: dict[str, tuple[type[BaseModel], str]] = {"paradox": (ParadoxSpec, "pixel_paradox"),
                                                     "natural_paradox": (NaturalParadoxSpec, "natural_paradox")}
    key = next((k for k in kinds if isinstance(raw, dict) and k in raw), None)
    if key is None:
        return None
    for item in overrides:
        apply_override(raw, item, path)
    unknown = sorted(set(raw) - {"name", "description", key})
    if unknown:
        raise LossbenchError(f"{path}: {unknown[0]}: unknown key in a {key.replace('_', ' ')} study (keys: name, "
                             f"description, {key})")
    cls, default_name = kinds[key]
    try:
        spec = cls.model_validate(raw[key] or {})
    except ValidationError as exc:
        from lossbench.study.spec import _path

        err = exc.errors()[0]
        raise LossbenchError(f"{path}: {key}.{_path(tuple(err['loc']))}: {err['msg']} (got {err['input']!r})") from None
    return spec, str(raw.get("name") or default_name)


def _cmd_paradox(args) -> int:
    from pydantic import ValidationError

    from lossbench.paradox.spec import ParadoxSpec

    try:
        spec = ParadoxSpec(digit=args.digit, per_class=args.per_class, seed=args.seed, dataset=args.dataset)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise LossbenchError(f"{flag}: {err['msg']} (got {err['input']!r})") from None
    return _paradox(spec, Path(args.out), args.device, args.argv)


def _paradox(spec, out: Path, device: str, argv: list[str]) -> int:
    started = time.perf_counter()
    from lossbench.paradox import run_paradox
    from lossbench.train import pick_device

    if device != "auto":
        _check_device(device)
    files.check_folder(out, "--out")
    files.check_unlocked(out)
    _check_cache()
    manifest = run_paradox(spec, out, cache=os.environ.get(CACHE_ENV) or None, device=pick_device(device),
                           data_root=os.environ.get(DATA_ENV) or None, command=["lossbench", *argv],
                           weights=_explicit_weights())
    print(f"paradox: {time.perf_counter() - started:.0f} s in all (measurements {manifest['seconds']:.0f} s); "
          f"see {out / 'report.md'}")
    return 0


def _natural_paradox(spec, out: Path, argv: list[str]) -> int:
    started = time.perf_counter()
    from lossbench.paradox.natural import run_natural_paradox

    files.check_folder(out, "--out")
    files.check_unlocked(out)
    _check_cache()
    manifest = run_natural_paradox(spec, out, cache=os.environ.get(CACHE_ENV) or None, command=["lossbench", *argv],
                                   weights=_explicit_weights())
    print(f"natural paradox: {time.perf_counter() - started:.0f} s in all (measurements {manifest['seconds']:.0f} s); "
          f"see {out / 'report.md'}")
    return 0


def _cmd_score(args) -> int:
    from lossbench.api import score_folder
    from lossbench.study.runner import closing_notes

    out = Path(args.dir)
    metrics = [m.strip() for item in args.metrics for m in item.split(",") if m.strip()]
    study, manifest = score_folder(out, metrics, args.recompute, args.device, args.strict, args.wait,
                                   command=["lossbench", *args.argv])
    counts = ", ".join(f"{v} {k}" for k, v in (manifest.get("counts") or {}).items() if v)
    print(f"{study.spec.name}: {counts or 'no run'} in {time.perf_counter() - args.started:.0f} s (set-up, scoring and "
          f"report; nothing trained); see {out / 'summary.md'}")
    for line in closing_notes(out, manifest):
        print(line)
    return 0


def _cmd_measure(args) -> int:
    from lossbench.score.images import measure_folders
    from lossbench.train import pick_device

    if args.device != "auto":
        _check_device(args.device)
    if args.size is not None and not 1 <= args.size <= 4096:
        raise LossbenchError(f"--size: {args.size} px; give a side from 1 to 4096")
    metrics = [m.strip() for item in args.metrics for m in item.split(",") if m.strip()] or None
    if args.metrics and not metrics:
        raise LossbenchError("--metrics: no metric named (give one, e.g. --metrics mse)")
    if args.out:
        files.check_folder(Path(args.out).parent if str(Path(args.out).parent) else Path("."), "--out")
    result = measure_folders(args.reference, args.candidate, metrics, args.size, args.channels,
                             device=str(pick_device(args.device)), cache=os.environ.get(CACHE_ENV) or None,
                             weights=_explicit_weights())
    pairing = f"{result['n_reference']} pairs" if result["paired"] else (
        f"{result['n_reference']} reference and {result['n_candidate']} candidate images, not paired")
    print(f"{args.candidate} against {args.reference}: {pairing}; distribution metrics at N = {result['n_distribution']}")
    width = max(map(len, result["metrics"]))
    for name, value in result["metrics"].items():
        how = result["provenance"].get(name.removesuffix("-std"), {})
        print(f"  {name:<{width}}  {value:.6g}" + (f"  ({how.get('implementation') or how.get('network') or ''})"
                                                    if not name.endswith("-std") else ""))
    if args.out:
        files.write_json(Path(args.out), result)
        print(f"written: {args.out}")
    return 0


def _cmd_report(args) -> int:
    from lossbench.report import build_report

    out = Path(args.dir)
    if not out.is_dir():
        raise LossbenchError(f"{out}: folder not found")
    with files.folder_lock(out):
        written = build_report(out)
    for path in written:
        print(path)
    return 0


def _cmd_weights(args) -> int:
    from lossbench.nets import weights
    from lossbench.core.errors import did_you_mean

    cache = os.environ.get(CACHE_ENV) or None
    if args.action == "status":
        rows = weights.status(cache=cache, explicit=_explicit_weights())
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            if r["found"]:
                print(f"{r['name']:<{width}}  found ({r['where']}): {r['path']}  sha256 {r['sha256']}")
            else:
                print(f"{r['name']:<{width}}  MISSING: {r['missing']}")
        return 0
    if args.name not in weights.NETWORKS:
        raise LossbenchError(f"weights fetch: unknown network '{args.name}'{did_you_mean(args.name, weights.NETWORKS)}")
    got = weights.resolve(args.name, allow_download=True, cache=cache, download_first=True)
    print(f"{got.name}: {got.where}: {got.path}  sha256 {got.sha256}")
    return 0


def _availability(names: tuple[str, ...]) -> list[str]:
    """Where each pretrained network would come from now (lossbench weights status, read only)."""
    from lossbench.nets import weights

    lines = []
    for name in names:
        try:
            found = weights.resolve(name, _explicit_weights().get(name), allow_download=False,
                                    cache=os.environ.get(CACHE_ENV) or None, write=False)
            lines.append(f"weights {name}: available ({found.where})")
        except LossbenchError as exc:
            lines.append(f"weights {name}: MISSING ({exc})")
    return lines or ["weights: none needed (trained by lossbench on the study's data)"]


def _cmd_list(args) -> int:
    from lossbench.data import DATASETS
    from lossbench.losses import LOSS_TERMS
    from lossbench.metrics import METRICS
    from lossbench.metrics.features import FEATURE_NETS
    from lossbench.models import MODELS

    sections = [
        ("datasets", {k: v.description for k, v in DATASETS.items()}),
        ("models", {k: v.description for k, v in MODELS.items()}),
        ("loss terms", {k: v.description for k, v in LOSS_TERMS.items()}),
        ("metrics", {k: f"{'↑' if v.higher_is_better else '↓'} {v.description}" for k, v in METRICS.items()}),
        ("feature networks (perceptual term)", {k: v.description + (f"; layers {', '.join(v.layers)}" if v.layers else "")
                                                for k, v in FEATURE_NETS.items()}),
    ]
    details: dict[str, dict[str, list[str]]] = {}
    if getattr(args, "verbose", False):
        from lossbench.study.spec import DataSpec, ReportSpec, StudySpec, TrainingSpec

        details = {
            "study keys": {"study": _options(StudySpec, skip=("data", "training", "report")),
                           "training": _options(TrainingSpec, prefix="training."),
                           "report": _options(ReportSpec, prefix="report.")},
            "data keys (every dataset)": {"data": _options(DataSpec, prefix="data.")},
            "models": {k: _options(v.params) for k, v in MODELS.items()},
            "loss terms": {k: _options(v.spec, skip=("term",)) + ([f"step cost: {v.cost}"] if v.cost else [])
                           for k, v in LOSS_TERMS.items()},
            "metrics": {k: [f"columns: {', '.join(v.columns(k))}", f"kind: {v.kind}"]
                        + [f"implementation: {v.implemented_by()}"] + ([f"not a loss term: {v.not_a_term}"] if v.not_a_term else [])
                        for k, v in METRICS.items()},
            "feature networks (perceptual term)": {k: _availability(v.weights) for k, v in FEATURE_NETS.items()},
        }
    if details:
        sections.insert(0, ("study keys", {"study": "the top level of a study file (data, models, conditions, metrics: "
                                                    "below)", "training": "how every run trains: mapping",
                                           "report": "what the report shows: mapping"}))
        sections.insert(2, ("data keys (every dataset)", {"data": "a study's data: mapping"}))
    for title, entries in sections:
        print(f"{title}:")
        width = max(map(len, entries))
        for name, text in entries.items():
            print(f"  {name:<{width}}  {text}")
            for line in details.get(title, {}).get(name, []):
                print(f"      {line}")
    if not details:
        print("(lossbench list --verbose: every key of a study file, and every option, with its type and default)")
    return 0


def _options(model, skip: tuple[str, ...] = (), prefix: str = "") -> list[str]:
    """'key: type = default  (description)' for each field of a pydantic model (a study's keys); a field
    that is itself a section (training.early_stopping, a report.checks item) lists its own keys under
    ``key.`` or ``key[].``."""
    import typing

    from pydantic import BaseModel

    lines = []
    for key, field in model.model_fields.items():
        if key in skip:
            continue
        default = "required" if field.is_required() else f"= {_default_text(field.get_default(call_default_factory=True))}"
        lines.append(f"{prefix}{key}: {type_text(field.annotation)} {default}" + (f"  ({field.description})" if field.description else ""))
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg is not model:
                item = "[]" if typing.get_origin(field.annotation) is list else ""
                lines += _options(arg, prefix=f"{prefix}{key}{item}.")
                break
    return lines


def _default_text(value) -> str:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return "{" + ", ".join(f"{k}: {v!r}" for k, v in value.model_dump().items()) + "}"
    return "null" if value is None else repr(value)


def type_text(annotation) -> str:
    """A field's type as a study file's author reads it: ``int or null``, ``one of png|pdf|svg``,
    ``list of int``, ``mapping of str to str`` (never ``Optional`` or ``typing.Union[...]``)."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Literal:
        return "one of " + "|".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        named = [type_text(a) for a in args if a is not type(None)]
        return " or ".join(named + (["null"] if type(None) in args else []))
    if origin in (list, tuple, set):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}" if args else "mapping"
    if annotation is typing.Any:
        return "any"
    name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    return {"StrictBool": "bool", "EarlyStoppingSpec": "mapping", "DataSpec": "mapping", "TrainingSpec": "mapping",
            "ReportSpec": "mapping", "CheckSpec": "mapping"}.get(name, name)
