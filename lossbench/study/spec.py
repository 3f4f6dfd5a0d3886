"""The study file: schema, validation at the door, ``--set`` overrides, the grid and run ids.

Every problem a user can cause here becomes one ``LossbenchError`` line of the form
``<file>: <key path>: <problem>``; nothing is written before validation succeeds.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, ValidationError, field_validator
from pydantic_core import ErrorDetails

from lossbench.data.registry import DATASETS, DataSpec
from lossbench.core.errors import LossbenchError, did_you_mean
from lossbench.study.source import MAX_BYTES, MAX_DEPTH, apply_override, override_items, read_study_file  # noqa: F401
from lossbench.losses import LOSS_TERMS, PLATEAU, TermSpec, needs_probabilities, term_specs
from lossbench.core.roles import RATE
from lossbench.metrics import METRICS, metric_columns
from lossbench.models import MODELS


class EarlyStoppingSpec(BaseModel):
    """Train to convergence: stop when the validation loss has not improved for ``patience``
    epochs, and evaluate the best validation epoch's weights."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    patience: int = Field(8, ge=1, description="epochs without improvement before stopping")
    min_delta: float = Field(0.002, ge=0, lt=1, description="smallest *relative* improvement of the best validation "
                             "loss that counts (0.002 = 0.2%)")
    max_epochs: int = Field(300, ge=1, description="stop here even if the loss still improves (the run is flagged)")
    adversarial_epochs: int = Field(10, ge=1, description="epochs trained after an adversarial term with start: plateau "
                                    "switches on; a GAN objective has no validation loss to stop on, so the last epoch "
                                    "is evaluated")


class TrainingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    epochs: int = Field(10, ge=1, description="epochs to train (without early_stopping)")
    early_stopping: EarlyStoppingSpec | None = Field(None, description="train to convergence on a validation split instead "
                                                     "of a fixed number of epochs")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    optimizer: str = Field("adam", pattern="^(adam|adamw)$")
    optimizer_impl: Literal["fast", "auto", "single", "foreach", "fused"] = Field(
        "fast", description="how the optimizer's update runs: fast (fused, one kernel per step, where the device has it; "
                            "else foreach; measured in benchmarks/README.md), auto (torch's own default: one tensor at "
                            "a time on a CPU, foreach on a GPU; what lossbench before 0.2 used), single, foreach, fused. "
                            "The same mathematics; float round-off differs between them")
    threads: int | str = Field(1, description="torch CPU threads each run computes with, part of its "
                                              "configuration and run id: float round-off depends on the thread count, so "
                                              "a run gives the same bits serially, with --jobs, on Ray at any --cpus-per-run "
                                              "and after a resume (on one CPU type). 1 (default) suits a cluster worker and a "
                                              "laptop alike, where --jobs trains several runs at once. 'process': whatever the "
                                              "process has (lossbench 0.2's behaviour, not in the run id; executor-dependent)")
    amp: StrictBool = Field(False, description="bf16 autocast, CUDA only")
    compile: StrictBool = Field(False, description="torch.compile the model's forward pass for training (off by default: "
                                "on a CPU it did not pay, benchmarks/README.md; the first epoch includes the compilation)")
    vectorize_seeds: StrictBool = Field(False, description="train the seeds of each model and condition side by side as "
                                        "one stacked model (torch.func.vmap): pays on a GPU, not on a CPU "
                                        "(benchmarks/README.md). Equal to separate runs to float round-off, so it "
                                        "changes the run ids. Conditions it cannot vectorise (VAEs, adversarial or "
                                        "plateau-started terms, LPIPS networks, user targets, compile) train their seeds "
                                        "one by one; --dry-run says which. Serial executor only")

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> int | str:
        if value == "process" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024):
            return value
        raise ValueError(f"must be a whole number of threads from 1 to 1024, or 'process' (got {value!r})")


class CheckSpec(BaseModel):
    """An expectation stated as a check on the study's numbers (written to checks.md)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    claim: str
    metric: str = Field(description="a summary column (mse, fd-judge-samples, ...), a Fréchet metric of another "
                                    "random-code scheme (fd-judge-uniform, -prior, -aggregate), or rate, distortion, active_units")
    compare: Literal["models", "conditions"] = Field("models", description="models: better and than are model labels, "
                                                     "compared within each condition; conditions: they are conditions "
                                                     "(\"bce beats l2\"), compared within each model")
    better: str = Field(description="the model label (or condition, with compare: conditions) that should score better")
    than: str = Field(description="the model label (or condition) it is compared with")
    than_metric: str | None = Field(None, description="the second one's column, if another (default: metric)")
    condition: str | None = Field(None, description="compare: models: one condition (default: each condition)")
    model: str | None = Field(None, description="compare: conditions: one model label (default: each model)")


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    recon_images: int = Field(8, ge=1, le=64, description="fixed test images shown in reconstruction grids")
    eval_batch_size: int = Field(500, ge=1)
    distribution_n: int | None = Field(None, ge=2, description="images per set for fid/kid/fd-domain (default: the whole test split)")
    inception_n: int | None = Field(None, ge=2, description="images per set for fid and kid, which run Inception "
                                    "(slow on a CPU); default: distribution_n. Tables label the N")
    calibration: StrictBool = Field(True, description="score degraded real images (blur, noise) with every distribution metric, so "
                              "a distance reads as a known degradation (cached; 11 feature passes of N images per "
                              "network: minutes for Inception on a CPU)")
    checks: list[CheckSpec] = Field([], description="expectations checked on the results (checks.md)")
    baseline: str | None = Field(None, description="condition every other is compared with (default: the first)")
    controls: dict[str, str] = Field({}, description="condition: its control condition; each is also compared with its "
                                     "control, paired by seed (e.g. a schedule without the term)")
    distortion: str = Field("mse", description="x axis of the distortion-perception plot: a paired metric")
    perception: str | None = Field(None, description="its y axis: a distribution column (default: the first -recon one)")
    figure_formats: list[Literal["png", "pdf", "svg"]] = Field(["png"], min_length=1, max_length=3, description=
                                                              "formats every figure is written in (PDF with its fonts "
                                                              "embedded, SVG with text as paths)")


#: the longest study name: results/<name> and the tracking runs' names stay far below a file
#: system's 255 bytes per name
MAX_NAME = 100

#: numpy and torch take seeds in [0, 2**32)
Seed = Annotated[int, Field(ge=0, lt=2 ** 32)]


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="also the default output folder, results/<name>")
    description: str = ""
    seeds: list[Seed] = Field([0], min_length=1)
    data: DataSpec = DataSpec()
    models: list[dict[str, Any]] = Field(min_length=1)
    conditions: dict[str, list[dict[str, Any]]] = Field(min_length=1)
    condition_models: dict[str, list[str]] = Field({}, description="conditions trained on some models only: condition "
                                                   "name -> the model labels it runs on (default: every model); e.g. "
                                                   "an expensive recipe on the smallest code alone")
    training: TrainingSpec = TrainingSpec()
    metrics: list[str] = Field(["mse", "l1", "psnr", "ssim"], min_length=1)
    report: ReportSpec = ReportSpec()
    logging: list[Literal["csv", "tensorboard", "mlflow"]] = Field(["csv"], min_length=1, max_length=3, description=
                                                                  "where training is logged while it runs: csv (lossbench's "
                                                                  "own files, always written), tensorboard "
                                                                  "(DIR/tensorboard/), mlflow ($MLFLOW_TRACKING_URI, else "
                                                                  "DIR/mlflow.db); the last two need lossbench[tracking]")

    #: each condition's term specs, built once when the study is validated and carried to its runs
    _term_specs: dict[str, list[TermSpec]] = PrivateAttr(default_factory=dict)

    def terms(self, condition: str) -> list[TermSpec]:
        """A condition's term specs, as validated (read from its term dicts if this spec was not)."""
        return self._term_specs.get(condition) or term_specs(self.conditions[condition] or [])

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if set(value) == {"."}:
            raise ValueError(f"{value!r} would name a folder outside results/; use letters, digits, _ . -")
        if len(value) > MAX_NAME:
            raise ValueError(f"is {len(value)} characters long; at most {MAX_NAME} (it names the output folder, "
                             f"and file systems allow 255 bytes per name)")
        return value


@dataclass
class Run:
    """One cell of the grid."""

    run_id: str
    model: str  # the model's label
    condition: str
    seed: int
    config: dict  # fully resolved; what config.yaml holds
    terms: list = field(default_factory=list)  # the condition's term specs (TermSpec), resolved: what config's terms were written from

    @property
    def title(self) -> str:
        return f"{self.model} / {self.condition} / seed {self.seed}"


@dataclass
class Study:
    spec: StudySpec
    source: str  # the study file as named on the command line
    runs: list[Run]

    @classmethod
    def from_yaml(cls, path: str | Path, overrides=None) -> Study:
        """A study file (``lossbench run PATH``), with ``--set`` overrides ('key=value' strings
        or a mapping {'training.lr': 1e-3}); $LOSSBENCH_DATA fills data.root as on the command line."""
        from lossbench.core.environment import data_root

        return load_study(path, override_items(overrides), data_root=data_root())

    @classmethod
    def from_dict(cls, study: dict, overrides=None, source: str = "<dict>") -> Study:
        """A study built in code: a dict with a study file's keys (validated as a file is;
        ``source`` names it in error messages)."""
        import copy

        from lossbench.core.environment import data_root

        if not isinstance(study, dict):
            raise LossbenchError(f"{source}: a study must be a mapping of keys (name, seeds, data, models, conditions, ...)")
        return build_study(copy.deepcopy(dict(study)), source, override_items(overrides), data_root=data_root())

    @property
    def resolved(self) -> dict:
        """Every key with its value, as study.yaml stores it; training.epochs is left out when
        early stopping ends the runs (a study file may not set both)."""
        spec = self.spec.model_dump(mode="json")
        if spec["training"].get("early_stopping") is not None:
            spec["training"].pop("epochs")
        if not spec["condition_models"]:
            spec.pop("condition_models")  # study.yaml of a full grid stays as lossbench 0.2 wrote it
        spec["data"] = data_config(self.spec.data)
        return spec


# ---------------------------------------------------------------- loading

def load_study(path: str | Path, overrides: list[str] | None = None, data_root: str | None = None,
               resolved: bool = False) -> Study:
    """Read, override, validate and expand a study file. ``data_root`` fills ``data.root``
    when the file leaves it empty (the CLI passes $LOSSBENCH_DATA). ``resolved``: the file is a
    study folder's study.yaml, which lossbench wrote with every default spelled out."""
    source = str(path)
    raw = read_study_file(path)
    if not isinstance(raw, dict):
        raise LossbenchError(f"{source}: a study must be a mapping of keys (name, seeds, data, models, conditions, ...)")
    return build_study(raw, source, overrides, data_root, resolved)


def build_study(raw: dict, source: str, overrides: list[str] | None = None, data_root: str | None = None,
                resolved: bool = False) -> Study:
    """A study from its keys (``raw`` is changed: overrides and the data root are written into it)."""
    for item in overrides or []:
        apply_override(raw, item, source)
    training = raw.get("training")
    if resolved and isinstance(training, dict) and training.get("early_stopping"):
        training.pop("epochs", None)  # study.yaml written by lossbench 0.1 spelled out the unused default
    # $LOSSBENCH_DATA is written into the study only for datasets that read files from it: an
    # embedded one (mnist-5k) would otherwise carry this machine's path into committed results
    name = raw["data"].get("name", "mnist-5k") if isinstance(raw.get("data"), dict) else "mnist-5k"
    reads_root = getattr(DATASETS.get(name), "reads_root", True)
    filled = False
    if data_root and reads_root:
        raw.setdefault("data", {})
        if isinstance(raw["data"], dict) and not raw["data"].get("root"):
            raw["data"]["root"], filled = data_root, True
    spec = validate(raw, source)
    spec.data._root_from_environment = filled
    return Study(spec, source, expand_grid(spec))


def _register_target(kind: str, name: str, target: str, where: str, source: str) -> None:
    from lossbench import registry

    cls = registry.resolve_target(target, where, source, kind)
    model, term = MODELS.get(name), LOSS_TERMS.get(name)
    current = (model.build if model else None) if kind == "model" else (term.cls if term else None)
    if current is not None and current is not cls:
        if name in BUILT_IN[kind]:
            _fail(source, f"{where}.{'name' if kind == 'model' else 'term'}", f"'{name}' is a built-in {kind}; give "
                  f"{target} another name")
    try:
        (registry.register_model if kind == "model" else registry.register_term)(name, cls, replace=True)
    except LossbenchError as exc:
        _fail(source, f"{where}.target", str(exc))


#: names lossbench itself registers (a study's target: may not take them over)
BUILT_IN = {"model": frozenset(MODELS), "term": frozenset(LOSS_TERMS)}


def _check_size(name: str, params: dict, side: int, source: str, where: str) -> None:
    """Refuse a model that cannot fit this machine's memory: its parameters, their gradients and
    Adam's two moments (4 copies of float32) for single-channel images, a lower bound, counted on
    torch's meta device (no memory is allocated)."""
    import os

    import torch

    from lossbench.models import build_model

    if not side:
        return
    try:
        with torch.device("meta"):
            model = build_model(name, (1, side, side), {k: v for k, v in params.items() if k != "output"})
    except (ValueError, RuntimeError) as exc:  # e.g. more stride-2 layers than the image has pixels
        _fail(source, where, f"cannot be built for {side}x{side} images ({str(exc).splitlines()[0]})")
    n = sum(p.numel() for p in model.parameters())
    need = 16 * n
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every platform says
        return
    if need > have:
        _fail(source, where, f"{n:,} parameters need at least {need / 2 ** 30:,.0f} GiB to train (weights, gradients, "
              f"Adam state) and this machine has {have / 2 ** 30:,.0f} GiB; use smaller hidden widths or latent_dim")


# ---------------------------------------------------------------- validation

def validate(raw: dict, source: str) -> StudySpec:
    """The study's spec, or one LossbenchError naming every problem found: the file's structure
    first (all of pydantic's errors at once); then, if that holds, each model, term, check and
    metric on its own, so one mistake does not hide the next."""
    try:
        return _validate(raw, source)
    except _Problems as problems:
        raise LossbenchError(problems.line(source)) from None


class _Problems(Exception):
    """(where, problem) pairs found while validating; raised by _fail and _check."""

    def __init__(self, items: list[tuple[str, str]]):
        super().__init__(items)
        self.items = items

    def line(self, source: str) -> str:
        if len(self.items) == 1:
            return f"{source}: {self.items[0][0]}: {self.items[0][1]}"
        return f"{source}: {len(self.items)} problems: " + "; ".join(f"{w}: {p}" for w, p in self.items)


class _Collect:
    """Runs independent checks, keeps each one's problems, and raises them all at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    @contextmanager
    def each(self):
        try:
            yield
        except _Problems as problems:
            self.items += [item for item in problems.items if item not in self.items]

    def done(self) -> None:
        if self.items:
            raise _Problems(self.items)


def _validate(raw: dict, source: str) -> StudySpec:
    spec = _check(StudySpec, raw, source, ())
    found = _Collect()
    # targets first (the user's own classes, imported and registered in every process that loads the
    # study): importing a user's module may register datasets, metrics or feature networks too
    for i, m in enumerate(spec.models):
        if "target" in m:
            m.setdefault("name", m["target"])
            _register_target("model", m["name"], m["target"], f"models[{i}]", source)
    for cname, terms in spec.conditions.items():
        for j, t in enumerate(terms or []):
            if isinstance(t, dict) and "target" in t:
                t.setdefault("term", t["target"])
                _register_target("term", t["term"], t["target"], f"conditions.{cname}[{j}]", source)
    if spec.data.name not in DATASETS:  # every later check reads the dataset's image size
        _fail(source, "data.name", f"unknown dataset '{spec.data.name}'{did_you_mean(spec.data.name, DATASETS)}")

    with found.each():
        if spec.training.early_stopping is not None and "epochs" in spec.training.model_fields_set:
            _fail(source, "training.epochs", "not used with training.early_stopping, which stops at "
                  "training.early_stopping.max_epochs; remove one of the two")
    with found.each():
        if spec.training.early_stopping is not None and spec.data.validation_fraction == 0:
            _fail(source, "data.validation_fraction", "training.early_stopping needs a validation split; set it above 0 "
                  "(e.g. 0.1)")

    labels: dict[str, int] = {}
    variational = []
    outputs = []
    sized = []  # models whose size is checked last
    for i, m in enumerate(spec.models):
        with found.each():
            where = f"models[{i}]"
            name = m.get("name")
            label = m.get("label", name)
            if isinstance(label, str) and label and label not in labels:
                labels[label] = i  # known before this model's own checks: a check naming it is not a second problem
            if not isinstance(name, str):
                _fail(source, f"{where}.name", f"required: a model name{did_you_mean('', MODELS)}")
            if name not in MODELS:
                _fail(source, f"{where}.name", f"unknown model '{name}'{did_you_mean(name, MODELS)}")
            if not isinstance(label, str) or not label:
                _fail(source, f"{where}.label", f"must be a non-empty string (got {label!r})")
            if labels[label] != i:
                _fail(source, f"{where}.label", f"'{label}' is used by models[{labels[label]}] too; give each a distinct label")
            params = {k: v for k, v in m.items() if k not in ("name", "label", "target")}
            checked_params = _check(MODELS[name].params, params, source, ("models", i))
            sized.append((name, params, where))
            variational.append((i, name, MODELS[name].variational))
            outputs.append((i, checked_params.output))

    for cname, only in spec.condition_models.items():
        with found.each():
            if cname not in spec.conditions:
                _fail(source, f"condition_models.{cname}", f"not a condition of this study{did_you_mean(cname, spec.conditions)}")
            for j, lab in enumerate(only):
                if lab not in labels:
                    _fail(source, f"condition_models.{cname}[{j}]", f"'{lab}' is not a model label{did_you_mean(lab, labels)}")
            if not only:
                _fail(source, f"condition_models.{cname}", "lists no model; remove the condition or name a model label")

    for cname, terms in spec.conditions.items():
        with found.each():
            if not terms:
                _fail(source, f"conditions.{cname}", "must list at least one loss term")
        seen: set[str] = set()
        for j, t in enumerate(terms or []):
            with found.each():
                where = f"conditions.{cname}[{j}]"
                if not isinstance(t, dict):
                    _fail(source, where, f"must be a mapping with a 'term' key (got {t!r})")
                term = t.get("term")
                if term not in LOSS_TERMS:
                    problem = "required: a loss term name" if term is None else f"unknown loss term '{term}'"
                    _fail(source, f"{where}.term", f"{problem}{did_you_mean(term or '', LOSS_TERMS)}")
                checked = _check(LOSS_TERMS[term].spec, t, source, ("conditions", cname, j))
                spec._term_specs.setdefault(cname, []).append(checked)  # built once, carried to the runs
                label = checked.label or checked.term
                if label in seen:
                    _fail(source, f"{where}.label", f"'{label}' appears twice in this condition; give one a distinct label")
                seen.add(label)
                side = DATASETS[spec.data.name].side(spec.data)
                if side and side < LOSS_TERMS[term].min_side:
                    hint = f"; {LOSS_TERMS[term].smaller}" if LOSS_TERMS[term].smaller else ""
                    _fail(source, f"{where}.term", f"'{term}' needs images of at least {LOSS_TERMS[term].min_side} px per side "
                          f"({spec.data.name} images here are {side} px){hint}")
                image_problem = checked.check_images(side, spec.data.name) if side else None  # the term's own rules
                if image_problem:
                    _fail(source, f"{where}.{image_problem[0]}", image_problem[1])
                if getattr(checked, "start", 0) == PLATEAU and spec.training.early_stopping is None:
                    _fail(source, f"{where}.start", "'plateau' needs training.early_stopping (the plateau is read off the "
                          "validation loss); add training.early_stopping or give a step number")
                if LOSS_TERMS[term].needs_probabilities:
                    for i, output in outputs:
                        if output == "linear":
                            _fail(source, f"models[{i}].output", f"'linear' cannot feed '{term}' in conditions.{cname}, which "
                                  f"needs probabilities (logits through a sigmoid); use output: sigmoid or auto")
                if LOSS_TERMS[term].variational_only:
                    for i, mname, is_var in variational:
                        if not is_var:
                            _fail(source, f"{where}.term", f"'{term}' needs a variational model, but models[{i}] is {mname}; "
                                  f"use a vae-* model or move this condition to a study without {mname}")

    from lossbench.report.columns import known_column

    for k, check in enumerate(spec.report.checks):
        with found.each():
            where = f"report.checks[{k}]"
            names, kind = (labels, "model label") if check.compare == "models" else (spec.conditions, "condition")
            for key in ("better", "than"):
                if getattr(check, key) not in names:
                    _fail(source, f"{where}.{key}", f"'{getattr(check, key)}' is not a {kind} of this study"
                          f"{did_you_mean(getattr(check, key), names)}"
                          + (" (compare: conditions compares conditions)" if check.compare == "models"
                             and getattr(check, key) in spec.conditions else ""))
            scope_key, scope, scope_kind = (("condition", spec.conditions, "condition") if check.compare == "models"
                                            else ("model", labels, "model label"))
            other_key = "model" if scope_key == "condition" else "condition"
            if getattr(check, other_key) is not None:
                _fail(source, f"{where}.{other_key}", f"not used with compare: {check.compare}; use {scope_key}")
            value = getattr(check, scope_key)
            if value is not None and value not in scope:
                _fail(source, f"{where}.{scope_key}", f"'{value}' is not a {scope_kind} of this study"
                      f"{did_you_mean(value, scope)}")
            for key in ("metric", "than_metric"):
                column = getattr(check, key)
                if column is not None and not known_column(column, spec.metrics):
                    _fail(source, f"{where}.{key}", f"'{column}' is not a column this study computes (its metrics: "
                          f"{', '.join(spec.metrics)}; a Fréchet metric also has -uniform (AE codes uniform in their box), "
                          f"-prior and -aggregate (VAE) columns; VAEs: rate, distortion, active_units)")

    rep = spec.report
    with found.each():
        for condition, control in rep.controls.items():
            for name in (condition, control):
                if name not in spec.conditions:
                    _fail(source, f"report.controls.{condition}", f"'{name}' is not a condition of this study"
                          f"{did_you_mean(name, spec.conditions)}")
        if rep.baseline is not None and rep.baseline not in spec.conditions:
            _fail(source, "report.baseline", f"'{rep.baseline}' is not a condition of this study{did_you_mean(rep.baseline, spec.conditions)}")
        for key in ("distortion", "perception"):
            column = getattr(rep, key)
            if column is not None and column in METRICS and METRICS[column].kind == "distribution":
                _fail(source, f"report.{key}", f"'{column}' is a distribution metric: name a column, e.g. {column}-recon")
            explicit = key == "perception" or key in rep.model_fields_set  # distortion's default, mse, may be absent
            if column is not None and explicit and not known_column(column, spec.metrics):
                _fail(source, f"report.{key}", f"'{column}' is not a column this study computes"
                      f"{did_you_mean(column, metric_columns(spec.metrics))}")

    from lossbench.train.tracking import missing

    for k, sink in enumerate(spec.logging):
        with found.each():
            if missing(sink):
                _fail(source, f"logging[{k}]", f"{sink} needs the package {missing(sink)}, which is not installed "
                      f"(pip install 'lossbench[tracking]'), or drop {sink}")
    for k, metric in enumerate(spec.metrics):
        with found.each():
            if metric not in METRICS:
                _fail(source, f"metrics[{k}]", f"unknown metric '{metric}'{did_you_mean(metric, METRICS)}")
    with found.each():
        if len(set(spec.metrics)) != len(spec.metrics):
            _fail(source, "metrics", "lists a metric twice")
    with found.each():
        if len(set(spec.seeds)) != len(spec.seeds):
            _fail(source, "seeds", f"lists a seed twice (got {spec.seeds})")
    # last, and only in a file with no other problem: counting a model's parameters builds it (on
    # torch's meta device), and the error line of a typo should not wait a second for torch's import
    if not found.items:
        side = DATASETS[spec.data.name].side(spec.data)
        for name, params, where in sized:
            with found.each():
                _check_size(name, params, side, source, where)
    found.done()
    return spec


def _fail(source: str, where: str, problem: str) -> NoReturn:
    raise _Problems([(where, problem)])


def _check(model: type[BaseModel], data: Any, source: str, prefix: tuple):
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # every error of this mapping, not only the first
        raise _Problems([(_path(prefix + tuple(err["loc"])) or "(top level)", _problem(err, model, tuple(err["loc"])))
                         for err in exc.errors()]) from None


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "literal_error": "must be one of {expected}",
    "string_pattern_mismatch": "must match {pattern}",
    "too_short": "must not be empty",
}


def _value_error(err: ErrorDetails) -> str:
    return str(err.get("ctx", {}).get("error", err["msg"]))


def _problem(err: ErrorDetails, model: type[BaseModel], loc: tuple) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "missing":
        return "required key missing"
    if kind == "extra_forbidden":
        fields = _fields_at(model, loc[:-1])
        return f"unknown key{did_you_mean(loc[-1], fields) if fields else ''}"
    if kind == "value_error":
        return _value_error(err)
    template = _MESSAGES.get(kind)
    ctx = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in ctx.items()}
    text = template.format(**ctx) if template else err["msg"][0].lower() + err["msg"][1:]
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "name":
        text = "must use only letters, digits, '_', '-' and '.' (it names the output folder)"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "optimizer":
        text = "must be 'adam' or 'adamw'"
    return f"{text} (got {err['input']!r})"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the sub-model at ``loc`` (for did-you-mean on unknown keys)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        # an optional sub-model (EarlyStoppingSpec | None): the model inside
        candidates = [annotation, *typing.get_args(annotation)]
        found = [a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            return []
        model = found[0]
    return list(model.model_fields)


# ---------------------------------------------------------------- the grid

#: Keys of the resolved configuration that do not change what a run computes, left out of
#: the run id so that the same run is found again from another machine or data folder.
_NOT_HASHED_DATA = ("root", "download")


def expand_grid(spec: StudySpec) -> list[Run]:
    """models × conditions × seeds, in that order; each run with a stable id."""
    runs = []
    for m in spec.models:
        entry = MODELS[m["name"]]
        label = m.get("label", m["name"])
        params = entry.params(**{k: v for k, v in m.items() if k not in ("name", "label", "target")}).model_dump(mode="json")
        if "target" in m:
            params = {"target": m["target"], **params}
        side = DATASETS[spec.data.name].side(spec.data)
        for cname in spec.conditions:
            if cname in spec.condition_models and label not in spec.condition_models[cname]:
                continue
            resolved, notes = resolve_terms(spec.terms(cname), entry.variational, side)
            output = params["output"]
            if output == "auto":
                output = "sigmoid" if needs_probabilities(resolved) else "linear"
            training = spec.training.model_dump(mode="json")
            if training["early_stopping"] is None:
                training.pop("early_stopping")  # run ids of fixed-epoch studies stay as they were
            else:
                training.pop("epochs")  # not used: early stopping ends the run
            for seed in spec.seeds:
                config = {
                    "model": {"name": m["name"], "label": label, **params, "output": output},
                    "condition": {"name": cname, "terms": [s.config() for s in resolved]},
                    "data": data_config(spec.data),
                    "training": training,
                    "seed": seed,
                }
                run_id = run_hash(config)
                config = {"run_id": run_id, "study": spec.name, **config, "notes": notes}
                runs.append(Run(run_id, label, cname, seed, config, resolved))
    return runs


def data_config(data: DataSpec) -> dict:
    """The data section as configs, run ids and study.yaml keep it: a key added since (judge_fraction,
    stride) is left out at its default, so the files and ids of studies written before it stay as they were."""
    config = data.model_dump(mode="json")
    if data._root_from_environment:
        config["root"] = None  # this machine's $LOSSBENCH_DATA: the next machine's fills it again
    for key, default in ADDED_DATA_KEYS.items():
        if config[key] == default:
            config.pop(key)
    return config


#: data keys added after studies were committed, with the default at which a config leaves them out
ADDED_DATA_KEYS = {"judge_fraction": 0, "stride": None}


def resolve_terms(terms: list, variational: bool, side: int = 0) -> tuple[list[TermSpec], list[str]]:
    """Each term as a run trains it (its own :meth:`TermSpec.resolve`: defaults that depend on the
    images, and its label); a variational model's condition without a rate term gets kl (weight 1)."""
    resolved = [spec.resolve(side) for spec in term_specs(terms)]
    notes = []
    if variational and not any(spec.role == RATE for spec in resolved):
        resolved.append(LOSS_TERMS["kl"].spec(term="kl").resolve(side))
        notes.append("kl (weight 1) added: the model is variational and the condition lists no kl term")
    return resolved, notes


def run_hash(config: dict) -> str:
    hashed = copy.deepcopy(config)
    if hashed["training"].get("optimizer_impl") == "auto":
        hashed["training"].pop("optimizer_impl")  # run ids from before the option stay valid
    if hashed["training"].get("threads") == "process":
        hashed["training"].pop("threads")  # the run ids of lossbench 0.2, whose runs took the process's threads
    for key in ("compile", "vectorize_seeds"):
        if hashed["training"].get(key) is False:
            hashed["training"].pop(key)  # off: the run ids of studies written before the option stay
    for key in _NOT_HASHED_DATA:
        hashed["data"].pop(key, None)
    blob = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
