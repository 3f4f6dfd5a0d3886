"""Tables and figures, rebuilt from a study folder's stored runs alone (no training): build_report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from lossbench.store import files
from lossbench.report import facts
from lossbench.report.facts import column_metric, of
from lossbench.store.columns import RECON
from lossbench.report.analysis import (agreement_heatmap, distortion_perception, metric_agreement, paired_comparisons,
                                      summary_tex)
from lossbench.report.checks import checks_markdown, evaluate_checks, scope_lines
from lossbench.store.collect import collect_history, collect_runs, fixed_inputs, read_manifest
from lossbench.report.context import circular_cells
from lossbench.report.drawing import Drawing
from lossbench.report.html import build_html
from lossbench.report.figures import condition_palette, discriminator_curves, gallery, metric_bars, recon_grid, training_curves
from lossbench.report.latent_figures import latent_figures
from lossbench.report.rate_distortion import rate_distortion_report
from lossbench.report.trade_off import trade_off_report
from lossbench.report.tables import aggregate, flagged_cells, summary_csv, summary_markdown
from lossbench.store.folders import StudyFolder


def build_report(out_dir: str | Path, announce: bool = True) -> list[Path]:
    """Write summary.csv/.md/.tex, comparisons.csv, metric_agreement.csv, checks.md and
    rate_distortion.md where they apply, and figures/*.png; return the paths written.
    ``announce``: name on stderr the runs left out of the tables (``lossbench run`` has named
    them already) and a damaged fixed_inputs.pt."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    with facts.reading(manifest):  # the metrics as the folder describes them: no registry needed
        return _build(out_dir, manifest, announce)


def _build(out_dir: Path, manifest: dict, announce: bool) -> list[Path]:
    runs = collect_runs(out_dir, manifest)
    for column in facts.columns(list(manifest["metrics"])):
        if column not in runs.columns:  # a metric no run has (added to a study whose runs came without checkpoints)
            runs[column] = float("nan")  # an empty column, as for one run that lacks it
    if announce:
        _announce(out_dir, manifest, runs)
    metrics = [c for m in manifest["metrics"] if m not in manifest.get("unavailable", {}) for c in of(m).columns]
    study = out_dir / StudyFolder.STUDY
    spec = _study_options(study, manifest.get("study_sha256"))
    options = spec.get("report", {}) or {}
    written = [out_dir / StudyFolder.SUMMARY_CSV, out_dir / StudyFolder.SUMMARY_MD, out_dir / StudyFolder.SUMMARY_TEX]
    files.write_csv(written[0], summary_csv(runs, manifest))
    columns = [c for c in facts.columns(list(manifest["metrics"])) if column_metric(c) not in manifest.get("unavailable", {})]
    agg = aggregate(runs, list(manifest["metrics"]))
    flagged = flagged_cells(runs)
    conditions = list(dict.fromkeys(runs["condition"]))
    baseline = options.get("baseline") or conditions[0]
    comparisons = (paired_comparisons(out_dir, runs, columns, baseline, options.get("controls"))
                   if len(conditions) > 1 else pd.DataFrame())
    circular = circular_cells(spec.get("conditions") or {}, columns)
    if not comparisons.empty:
        comparisons["circular"] = [circular.get((c, m), "") for c, m in zip(comparisons["condition"], comparisons["metric"])]
        files.write_csv(out_dir / StudyFolder.COMPARISONS, comparisons)
    files.write_text(written[1], summary_markdown(manifest, runs, comparisons, circular))
    files.write_text(written[2], summary_tex(agg, columns, flagged, manifest["study"], circular))
    figures = out_dir / StudyFolder.FIGURES
    drawing = Drawing(figures)
    with files.figure_formats(options.get("figure_formats") or ["png"]):
        written += _figures(out_dir, runs, manifest, agg, columns, metrics, flagged, options, figures, conditions, drawing)
        trade, verdicts = trade_off_report(out_dir, runs, figures, manifest.get("calibration"), drawing)
    written += [p for p in trade if p.suffix != ".png"]
    checks = options.get("checks")
    if checks or verdicts:
        written.append(out_dir / "checks.md")
        text = (checks_markdown(manifest.get("study", out_dir.name), evaluate_checks(checks, runs), scope_lines(out_dir, runs))
                if checks else f"# {manifest.get('study', out_dir.name)}: checks\n")
        files.write_text(written[-1], text + ("\n" + "\n".join(verdicts) + "\n" if verdicts else ""))
    formats = options.get("figure_formats") or ["png"]
    written += sorted(p for fmt in formats for p in figures.glob(f"*.{fmt}"))
    # the web page embeds each figure once: its PNG, else its SVG (a PDF does not show in an <img>)
    shown = {p.stem: p for fmt in ("svg", "png") if fmt in formats for p in sorted(figures.glob(f"*.{fmt}"))}
    scored = next((c for c in columns if of(column_metric(c)).kind == "paired"), None)
    written.append(build_html(out_dir, runs, spec, [shown[k] for k in sorted(shown)], scored, drawing.failed))
    return written


def _figures(out_dir: Path, runs, manifest, agg, columns, metrics, flagged, options, figures: Path, conditions,
             draw: Drawing) -> list[Path]:
    """Every figure of the report, each condition in the same colour throughout (condition_palette),
    each drawn on its own (``draw``: one that fails is named and the rest are drawn); returns the
    Markdown pages written with them (rate_distortion.md)."""
    palette = condition_palette(conditions)
    tau = metric_agreement(agg, columns)
    if len(agg) >= 3 and len(columns) >= 2:
        files.write_csv(out_dir / "metric_agreement.csv", tau.reset_index(names="metric"))
        valued = int(agg[[c for c in columns if c in agg]].notna().any(axis=1).sum())  # a skipped cell has no values
        draw("metric_agreement.png", agreement_heatmap, tau, valued, figures / "metric_agreement.png")
    perception = options.get("perception") or next((c for c in columns if (col := facts.column(c)) and col.set == RECON), None)
    distortion = options.get("distortion") or "mse"
    if perception and distortion in columns and perception in agg:
        draw("distortion_perception.png", distortion_perception, agg, distortion, perception, flagged,
             figures / "distortion_perception.png", palette)
    draw("training_curves.png", training_curves, collect_history(out_dir, manifest, runs=runs), figures / "training_curves.png",
         palette)
    draw("discriminator.png", discriminator_curves, collect_history(out_dir, manifest, critics=True, runs=runs),
         figures / "discriminator.png")
    draw("metrics.png", metric_bars, runs, metrics, figures / "metrics.png", palette)
    draw("recon_grid.png", recon_grid, out_dir, runs, figures / "recon_grid.png")
    scored = next((c for c in columns if of(column_metric(c)).kind == "paired"), None)
    if scored:
        draw("gallery.png", gallery, out_dir, runs, scored, flagged, figures / "gallery.png", figures / "worst.png")
    latent_figures(out_dir, runs, figures, draw)
    return [p for p in rate_distortion_report(out_dir, runs, figures, draw) if p.suffix == ".md"]


def _announce(out_dir: Path, manifest: dict, runs: pd.DataFrame) -> None:
    """One line per damaged run the tables leave out, one for the runs not finished, one for
    a damaged fixed_inputs.pt (the figures then show no row of inputs)."""
    import sys

    for r in runs[runs["status"] == "damaged"].itertuples():
        print(f"report: left out {r.model} / {r.condition} / seed {r.seed} (damaged): {r.reason}", file=sys.stderr)
    unfinished = runs[~runs["status"].isin(["done", "damaged"])]
    if not unfinished.empty:
        print(f"report: {len(unfinished)} of {len(runs)} runs not in the tables ({', '.join(sorted(set(unfinished['status'])))}); "
              f"summary.md lists them under 'Runs not in the averages'", file=sys.stderr)
    _, wrong = fixed_inputs(out_dir)
    if wrong:
        print(f"report: {out_dir / 'fixed_inputs.pt'}: {wrong}; the figures show no row of test images; "
              f"lossbench run {manifest.get('study_file') or 'STUDY'} --out {out_dir} writes it again", file=sys.stderr)


def _study_options(path: Path, digest: str | None) -> dict:
    """The resolved study.yaml beside the runs (the report's options, the conditions' terms),
    checked against the digest the manifest recorded when it was written."""
    from lossbench.core.errors import LossbenchError
    from lossbench.store.stored import sha256

    if not path.is_file():
        return {}
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError):
        spec = None
    if digest is not None and sha256(path) != digest:
        spec = None
    if not isinstance(spec, dict) or not isinstance(spec.get("report") or {}, dict):
        raise LossbenchError(f"{path}: cannot be read as a study (truncated or damaged); run the study again into "
                             f"this folder (lossbench run STUDY --out {path.parent}) to rewrite it; finished runs are kept")
    return spec


__all__ = ["build_report"]
