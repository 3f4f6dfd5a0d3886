"""The paradox's natural twin (issue 41 §4). The digit paradox asks whether L2 prefers the wrong output. On
photographs: take a test patch, move it by one pixel (cut again from its photograph one pixel over, so no border is
invented), and make a blurred and a noisy version of it with exactly the MSE the move has (Gaussian blur, and
Gaussian noise, each scaled by bisection; the blur is taken on the patch with 8 px of its photograph around it, so
the patch's border is not blurred against nothing). A person sees the moved patch as the same picture and the other
two as degraded; L2 cannot tell the three apart. Which of them does each measure call closer to the patch?

For each measure and each degradation, the share of patches where the measure prefers the one-pixel move (strictly
closer; ties count as not preferring), with a 95% interval by bootstrap over patches, and the same share per source
photograph (patches of one photograph are not independent draws, so the per-photograph shares are the check on the
pooled interval). The patches are the test split of ``natural-patches`` (4 photographs that no training patch comes
from), chosen by the seed. Like the digit paradox, no model is trained.
"""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from lossbench import __version__
from lossbench.core.errors import LossbenchError
from lossbench.data.natural import FLAT_STD, SOURCES, TEST
from lossbench.paradox.gallery import _bisect, _mse
from lossbench.paradox.measure import clustered_bootstrap
from lossbench.paradox.spec import NaturalParadoxSpec
from lossbench.store import files
from lossbench.store.folders import StudyFolder

SIDE = 32
MARGIN = 8  # px of the photograph around each patch: the one-pixel move and the blur read real pixels there
DIRECTIONS = {"right": (0, 1), "down": (1, 0), "left": (0, -1), "up": (-1, 0)}
DISTORTIONS = ("translation", "blur", "noise")
#: measure -> (what it is, whether higher means closer)
MEASURES = {
    "ssim": ("SSIM (Gaussian window 11, σ 1.5; lossbench.metrics.structural)", True),
    "lpips": ("LPIPS v0.1, AlexNet (lossbench's LPIPS scorer; 32-px patches as they are)", False),
    "dists": ("DISTS (VGG16; DISTS_pytorch's published weights)", False),
    "gmsd": ("GMSD (piq; no network)", False),
    "spectrum": ("radially averaged log power spectrum, mean |Δ| in decades (lossbench.metrics.spectrum; no network)", False),
}


def make_pairs(spec: NaturalParadoxSpec) -> tuple[pd.DataFrame, dict[str, torch.Tensor], list[str]]:
    """(one row per patch: photograph, place, direction, the blur's σ and the noise's scale, each distortion's MSE;
    the images by distortion, ``reference`` included, N×3×32×32 in [0, 1]; the patches drawn and left out because
    no blur up to σ 8 px, or no clipped noise, reaches their move's MSE)."""
    rng = np.random.default_rng(spec.seed)
    pictures = {k: p.read(3).astype(np.float64) / 255 for k, p in enumerate(SOURCES)
                if (p.file in TEST) == (spec.photographs == "test")}
    places = []
    for k, image in pictures.items():
        h, w = image.shape[:2]
        for i in range(MARGIN, h - SIDE - MARGIN + 1, SIDE):
            for j in range(MARGIN, w - SIDE - MARGIN + 1, SIDE):
                if image[i: i + SIDE, j: j + SIDE].std() * 255 >= FLAT_STD:
                    places.append((k, i, j))
    if spec.n > len(places):
        raise LossbenchError(f"natural_paradox.n: {spec.n} patches asked, the {spec.photographs} photographs give "
                             f"{len(places)}")
    images: dict[str, list[np.ndarray]] = {name: [] for name in ("reference", *DISTORTIONS)}
    rows: list[dict] = []
    unreachable: list[str] = []
    for pick in rng.permutation(len(places)).tolist():  # in a seeded order, until n patches are made
        if len(rows) == spec.n:
            break
        k, i, j = places[pick]
        image = pictures[k]
        direction = list(DIRECTIONS)[int(rng.integers(len(DIRECTIONS)))]
        di, dj = DIRECTIONS[direction]
        ref = image[i: i + SIDE, j: j + SIDE]
        moved = image[i + di: i + di + SIDE, j + dj: j + dj + SIDE]
        target = _mse(moved, ref)
        region = image[i - MARGIN: i + SIDE + MARGIN, j - MARGIN: j + SIDE + MARGIN]

        def blur(s, region=region):
            return ndimage.gaussian_filter(region, (s, s, 0), mode="nearest")[MARGIN: MARGIN + SIDE, MARGIN: MARGIN + SIDE]

        noise = rng.standard_normal(ref.shape)

        def noisy(s, ref=ref, noise=noise):
            return np.clip(ref + s * noise, 0, 1)

        sigma = _bisect(blur, ref, target, 0.0, 8.0)
        scale = _bisect(noisy, ref, target, 0.0, 5.0)
        if sigma is None or scale is None:  # left out, and counted in the report: an equal-MSE twin does not exist
            unreachable.append(f"{SOURCES[k].file} ({i}, {j}): the move's MSE {target:.3g} beyond "
                               f"{'a blur of σ 8 px' if sigma is None else 'clipped noise'}")
            continue
        made = {"reference": ref, "translation": moved, "blur": blur(sigma), "noise": noisy(scale)}
        for name, x in made.items():
            images[name].append(x)
        rows.append({"patch": len(rows), "photograph": SOURCES[k].file, "row": i, "column": j, "direction": direction,
                     "blur_sigma": sigma, "noise_sigma": scale,
                     **{f"mse_{d}": _mse(made[d], ref) for d in DISTORTIONS}})
    if len(rows) < spec.n:
        raise LossbenchError(f"natural_paradox.n: {spec.n} patches asked, the {spec.photographs} photographs give "
                             f"{len(rows)} with an equal-MSE blur and noise")
    tensors = {name: torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() for name, xs in images.items()}
    return pd.DataFrame(rows), tensors, unreachable


def measure_pairs(images: dict[str, torch.Tensor], cache=None, weights: dict | None = None) -> tuple[pd.DataFrame, dict, dict]:
    """(per patch, each measure of each distortion against the reference, columns ``<measure>_<distortion>``;
    measure -> provenance; measure -> why it could not be computed here)."""
    from lossbench.metrics.spectrum import spectrum_distance
    from lossbench.score.images import measure

    ref = images["reference"]
    out: dict[str, np.ndarray] = {}
    provenance, unavailable = {}, {}
    for name in MEASURES:
        if name == "spectrum":
            for d in DISTORTIONS:
                out[f"{name}_{d}"] = spectrum_distance(images[d], ref).numpy()
            provenance[name] = {"implementation": "lossbench.metrics.spectrum.spectrum_distance"}
            continue
        try:
            for d in DISTORTIONS:
                result = measure(ref, images[d], [name], paired=True, cache=cache, weights=weights)
                out[f"{name}_{d}"] = np.asarray(result["per_image"][name], dtype=np.float64)
            provenance[name] = result["provenance"][name]
        except LossbenchError as exc:
            unavailable[name] = str(exc)
            for d in DISTORTIONS:
                out.pop(f"{name}_{d}", None)
    return pd.DataFrame(out), provenance, unavailable


def _photographs(table: pd.DataFrame) -> list[str]:
    """The photographs the patches come from, in the order of SOURCES."""
    present = set(table["photograph"])
    return [p.file for p in SOURCES if p.file in present]


def preferences(table: pd.DataFrame, measures: list[str], seed: int) -> pd.DataFrame:
    """Per measure and degradation (blur, noise): the share of patches where the measure calls the one-pixel move
    closer than the degradation, its bootstrap interval over patches, the mean margin (in the measure's units,
    positive: the move closer), and the share per photograph."""
    rows = []
    for m in measures:
        higher = MEASURES[m][1]
        for other in ("blur", "noise"):
            a, b = table[f"{m}_translation"].to_numpy(), table[f"{m}_{other}"].to_numpy()
            margin = a - b if higher else b - a
            wins = (margin > 0).astype(float)
            low, high = clustered_bootstrap([np.array([w]) for w in wins], seed=seed)
            m_low, m_high = clustered_bootstrap([np.array([v]) for v in margin], seed=seed)
            per_photo = {p: float(wins[(table["photograph"] == p).to_numpy()].mean()) for p in _photographs(table)}
            rows.append({"measure": m, "against": other, "n": len(wins), "prefers_translation": float(wins.mean()),
                         "ci_low": low, "ci_high": high, "margin": float(margin.mean()), "margin_low": m_low,
                         "margin_high": m_high, **{f"share_{p.rsplit('.', 1)[0]}": v for p, v in per_photo.items()}})
    return pd.DataFrame(rows)


def run_natural_paradox(spec: NaturalParadoxSpec, out: Path, cache=None, command: list[str] | None = None,
                        weights: dict | None = None) -> dict:
    from lossbench.paradox.run import _kept_raw_tables, _stable_manifest

    started = time.perf_counter()
    pairs, images, left_out = make_pairs(spec)
    values, provenance, unavailable = measure_pairs(images, cache, weights)
    table = pd.concat([pairs, values], axis=1)
    kept = _kept_raw_tables(out, {"pairs.csv": table}, {f"{m}_{d}" for m in unavailable for d in DISTORTIONS})
    if kept is not None:  # the same measurements to round-off (or what this machine cannot measure): the stored ones
        if any(f"{m}_translation" in kept["pairs.csv"] for m in unavailable):
            import sys

            print(f"note: {', '.join(unavailable)} cannot be measured here ({'; '.join(unavailable.values())}); every "
                  f"other measurement equals the stored one, so the stored values in {out} are kept and reported",
                  file=sys.stderr)
        table = kept["pairs.csv"]
        stored = files.read_json_or_none(out / StudyFolder.MANIFEST) or {}
        provenance = {**(stored.get("provenance") or {}), **provenance}
        unavailable = {m: why for m, why in unavailable.items() if f"{m}_translation" not in table}  # stored nowhere
    measures = [m for m in MEASURES if f"{m}_translation" in table]
    prefs = preferences(table, measures, spec.seed)
    manifest = {
        "lossbench": __version__, "command": " ".join(command or []), "spec": spec.model_dump(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "photographs": _photographs(table), "patch": SIDE, "margin": MARGIN, "left_out": left_out, "provenance": provenance,
        "unavailable": unavailable,
        "torch": torch.__version__, "python": platform.python_version(), "device": "cpu",
        "seconds": round(time.perf_counter() - started, 1),
    }
    tables = {"pairs.csv": table, "preferences.csv": prefs}
    with files.folder_lock(out):
        manifest = _stable_manifest(out, manifest, tables)
        files.write_csv(out / "pairs.csv", table)
        files.write_csv(out / "preferences.csv", prefs)
        _figures(out, images, table, prefs)
        files.write_text(out / "report.md", _report(spec, table, prefs, manifest))
        files.write_json(out / StudyFolder.MANIFEST, manifest)
    return manifest


def _figures(out: Path, images: dict[str, torch.Tensor], table: pd.DataFrame, prefs: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    order = np.argsort(table["mse_translation"].to_numpy(), kind="stable")  # from the smallest move's MSE up
    shown = [int(order[int(q * (len(order) - 1))]) for q in (0.1, 0.3, 0.5, 0.7, 0.9)]
    fig, axes = plt.subplots(len(shown), 4, figsize=(7.2, 1.9 * len(shown)))
    for r, idx in enumerate(shown):
        for c, name in enumerate(("reference", *DISTORTIONS)):
            ax = axes[r, c]
            ax.imshow(images[name][idx].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            label = name if name == "reference" else f"{name}\nMSE {table[f'mse_{name}'].iloc[idx]:.2g}"
            if name == "translation":
                label = f"moved 1 px {table['direction'].iloc[idx]}\nMSE {table['mse_translation'].iloc[idx]:.2g}"
            ax.set_title(label, fontsize=8)
    fig.suptitle("Natural patches: a one-pixel move, a blur and noise at the same MSE\n(rows: the 10th, 30th, 50th, 70th "
                 "and 90th percentile of the move's MSE)", fontsize=10)
    files.save_figure(out / "examples.png", fig)

    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    names = list(dict.fromkeys(prefs["measure"]))
    for k, other in enumerate(("blur", "noise")):
        part = prefs[prefs["against"] == other].set_index("measure").loc[names]
        x = np.arange(len(names)) + (k - 0.5) * 0.38
        ax.bar(x, part["prefers_translation"], 0.36, label=f"move against {other}",
               yerr=[part["prefers_translation"] - part["ci_low"], part["ci_high"] - part["prefers_translation"]], capsize=3)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of patches: the move is closer")
    ax.set_title(f"Which do the measures call closer, at equal MSE? ({int(prefs['n'].iloc[0])} test patches; 95% bootstrap "
                 f"intervals)", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    files.save_figure(out / "preferences.png", fig)


def _report(spec: NaturalParadoxSpec, table: pd.DataFrame, prefs: pd.DataFrame, manifest: dict) -> str:
    ratio = {d: (table[f"mse_{d}"] / table["mse_translation"]) for d in ("blur", "noise")}
    photos = _photographs(table)
    lines = [
        "# The paradox on natural patches",
        "",
        f"{len(table)} patches of 32×32 px from the {spec.photographs} photographs of `natural-patches` "
        f"({', '.join(photos)}), chosen by "
        f"seed {spec.seed}. Each patch is compared with three versions of itself at the same MSE: moved by one pixel (cut "
        f"again from its photograph, one pixel over, in a seeded direction), blurred (Gaussian σ by bisection, the blur "
        f"taken with {MARGIN} px of the photograph around the patch) and noisy (Gaussian noise scaled by bisection, "
        f"clipped to [0, 1]). A person sees the moved patch as the same picture; L2 sees the three as equally far.",
        "",
        f"Equal MSE, as reached: blur/move {ratio['blur'].min():.4f}–{ratio['blur'].max():.4f}, noise/move "
        f"{ratio['noise'].min():.4f}–{ratio['noise'].max():.4f} (per patch); the move's MSE itself "
        f"{table['mse_translation'].median():.2g} median ({table['mse_translation'].min():.2g}–{table['mse_translation'].max():.2g}); "
        f"blur σ {table['blur_sigma'].median():.2f} px median, noise σ {table['noise_sigma'].median():.3f} median.",
        "",
        f"Drawn and left out: {len(manifest['left_out'])} patches whose move's MSE no blur up to σ 8 px (or no clipped "
        f"noise) reaches (strong edges or texture: a move changes them more than any blur does), so the {len(table)} "
        f"patches lean a little toward smoother content; `manifest.json` lists them.",
        "",
        "## Which one does each measure call closer",
        "",
        "Share of patches where the measure calls the one-pixel move closer than the degradation (ties count as not), "
        "with a 95% interval by bootstrap over patches; then the same share within each photograph (patches of one "
        "photograph are not independent draws: read the pooled interval with the photographs' shares beside it). Margin: the "
        "mean of (degradation − move) in the measure's own units, oriented so that positive means the move is closer.",
        "",
        "| measure | against | prefers the move | 95% interval | margin [95%] | " + " | ".join(
            p.rsplit('.', 1)[0] for p in photos) + " |",
        "|---|---|---|---|---|" + "---|" * len(photos),
    ]
    for _, r in prefs.iterrows():
        shares = " | ".join(f"{r[f'share_{p.rsplit(chr(46), 1)[0]}']:.0%}" for p in photos)
        lines.append(f"| {r['measure']} | {r['against']} | {r['prefers_translation']:.0%} | [{r['ci_low']:.0%}, "
                     f"{r['ci_high']:.0%}] | {r['margin']:+.4g} [{r['margin_low']:+.4g}, {r['margin_high']:+.4g}] | {shares} |")
    lines += ["", "![Examples](examples.png)", "", "![Preferences](preferences.png)", "", "## The measures", ""]
    for m in dict.fromkeys(prefs["measure"]):
        lines.append(f"- `{m}`: {MEASURES[m][0]}.")
    lines += ["", "L2 is not a row: the three versions have the same MSE by construction, so its preference is decided "
              "by the bisection's last digits, not by the images.",
              "LPIPS, DISTS and Inception-based measures run ImageNet networks; these are natural photographs, their "
              "domain, but at 32 px rather than the 64 px (LPIPS) or 224 px (DISTS) they were calibrated on.", ""]
    if manifest.get("unavailable"):
        lines += ["Not measured here: " + "; ".join(f"{k} ({v})" for k, v in manifest["unavailable"].items()), ""]
    return "\n".join(lines)
