"""Every file name of a study folder and of a run folder, in one place.

The stored folder is the only contract between the stages: training writes a run's checkpoint
and history, scoring reads them and writes its metrics, the report reads the folder. Each stage
names a file through these classes, never by a string of its own::

    results/<study>/                       StudyFolder
      study.yaml  manifest.json  fixed_inputs.pt  summary.md  summary.csv  report.html  figures/
      runs/<run_id>/                       RunFolder
        config.yaml  history.csv  steps.csv  checkpoint.pt  trained.json (until scored)
        metrics.json  per_image.csv  recon_fixed.pt  recon_worst.pt  recon_epochs.pt  latent.pt
        recon_epoch_NNN.png  resume.pt (while training)
"""

from __future__ import annotations

from pathlib import Path


def _file(name: str) -> property:
    """The path of the file the class attribute ``name`` names, inside the instance's folder."""
    return property(lambda self: self.path / getattr(self, name))


class _Folder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name


class RunFolder(_Folder):
    """One run's folder. The names are class attributes (``RunFolder.METRICS``); the paths,
    properties of an instance (``RunFolder(path).metrics``)."""

    CONFIG = "config.yaml"          # the run's resolved configuration (written before training)
    HISTORY = "history.csv"         # one row per epoch
    STEPS = "steps.csv"             # one row per step
    CHECKPOINT = "checkpoint.pt"    # the evaluated epoch's weights (not committed with results)
    RESUME = "resume.pt"            # the state of a run in progress, removed once it is trained
    TRAINED = "trained.json"        # training's record, until scoring turns it into metrics.json
    METRICS = "metrics.json"        # the scores, the record and the seal: the run is finished
    PER_IMAGE = "per_image.csv"     # paired metrics per test image
    RECON_FIXED = "recon_fixed.pt"  # the fixed test images' reconstructions
    RECON_WORST = "recon_worst.pt"  # the worst-reconstructed test images
    RECON_EPOCHS = "recon_epochs.pt"  # the fixed reconstructions at epochs 1, 2, 4, ..., evaluated, last
    LATENT = "latent.pt"            # codes, decoded random codes, traversals

    @staticmethod
    def recon_epoch_png(epoch: int) -> str:
        return f"recon_epoch_{epoch:03d}.png"

    config = _file("CONFIG")
    history = _file("HISTORY")
    steps = _file("STEPS")
    checkpoint = _file("CHECKPOINT")
    resume = _file("RESUME")
    trained = _file("TRAINED")
    metrics = _file("METRICS")
    per_image = _file("PER_IMAGE")
    latent = _file("LATENT")


class StudyFolder(_Folder):
    """A study's folder: its own files, and a :class:`RunFolder` per run under ``runs/``."""

    STUDY = "study.yaml"             # the study as resolved (every default written out)
    MANIFEST = "manifest.json"       # runs, metrics and their facts, data, provenance
    FIXED_INPUTS = "fixed_inputs.pt"  # the test images every run reconstructs for the figures
    RUNS = "runs"
    FIGURES = "figures"
    PREFIXES = ".prefixes"           # first phases shared by runs that differ only in plateau weights
    SUMMARY_MD = "summary.md"        # the report: its tables (the figures' own names are the report's)
    SUMMARY_CSV = "summary.csv"
    SUMMARY_TEX = "summary.tex"
    COMPARISONS = "comparisons.csv"  # every condition against the baseline, on every measure
    REPORT_HTML = "report.html"

    study = _file("STUDY")
    manifest = _file("MANIFEST")
    fixed_inputs = _file("FIXED_INPUTS")
    runs = _file("RUNS")
    figures = _file("FIGURES")

    def run(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs / run_id)
