"""Tables and figures, rebuilt from a study folder's stored runs alone (no training)."""

from __future__ import annotations

from pathlib import Path

import yaml

from lossbench import files
from lossbench.metrics import METRICS
from lossbench.report.collect import collect_history, collect_runs, read_manifest
from lossbench.report.figures import discriminator_curves, metric_bars, recon_grid, training_curves
from lossbench.report.checks import checks_markdown, evaluate_checks
from lossbench.report.latent_figures import latent_figures
from lossbench.report.tables import summary_csv, summary_markdown


def build_report(out_dir: str | Path) -> list[Path]:
    """Write summary.csv, summary.md and figures/*.png; return the paths written."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    runs = collect_runs(out_dir, manifest)
    metrics = [c for m in manifest["metrics"] if m not in manifest.get("unavailable", {}) for c in METRICS[m].columns(m)]
    written = [out_dir / "summary.csv", out_dir / "summary.md"]
    files.write_csv(written[0], summary_csv(runs, manifest))
    files.write_text(written[1], summary_markdown(manifest, runs))
    figures = out_dir / "figures"
    training_curves(collect_history(out_dir, manifest), figures / "training_curves.png")
    discriminator_curves(collect_history(out_dir, manifest, critics=True), figures / "discriminator.png")
    metric_bars(runs, metrics, figures / "metrics.png")
    recon_grid(out_dir, runs, figures / "recon_grid.png")
    latent_figures(out_dir, runs, figures)
    study = out_dir / "study.yaml"
    checks = (yaml.safe_load(study.read_text()) or {}).get("report", {}).get("checks") if study.is_file() else None
    if checks:
        written.append(out_dir / "checks.md")
        files.write_text(written[-1], checks_markdown(manifest.get("study", out_dir.name), evaluate_checks(checks, runs)))
    written += sorted(figures.glob("*.png"))
    return written


__all__ = ["build_report"]
