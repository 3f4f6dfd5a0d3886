"""How a number with its uncertainty is written in every table: the half-width (or the
interval) with two significant digits, and the value to the same decimal place, in fixed
notation ("132 ± 200", "0.00776 ± 0.00058", "-0.00296 [-0.00362, -0.00230]"), so a reader compares
like with like and never meets "132.2 ± 2e+02"."""

from __future__ import annotations

import math

#: beyond this many decimals a value is shown in significant digits instead
MAX_DECIMALS = 12


def decimals(half_width: float) -> int | None:
    """Decimal places that show ``half_width`` with two significant digits; None without one."""
    if not math.isfinite(half_width) or half_width <= 0:
        return None
    return min(MAX_DECIMALS, max(0, 1 - math.floor(math.log10(half_width))))


def plain(value: float, digits: int = 4) -> str:
    """A value without an uncertainty: ``digits`` significant digits, fixed notation where it fits."""
    if not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if -5 <= exponent < digits + 2:
        return f"{value:.{max(0, digits - 1 - exponent)}f}"
    return f"{value:.{digits}g}"


def mean_pm(mean: float, half_width: float, digits: int = 4, places: int | None = None) -> str:
    """``mean ± half-width`` at the half-width's precision; the mean alone without a half-width.
    ``places``: this many decimals instead (one column of a table written alike, :func:`column_places`)."""
    if math.isinf(mean):
        return "∞" if mean > 0 else "−∞"
    if not math.isfinite(mean):
        return "–"
    d = decimals(half_width) if places is None else places
    if d is None:
        return plain(mean, digits)
    if not math.isfinite(half_width):
        return f"{mean:.{d}f}"
    return f"{mean:.{d}f} ± {half_width:.{d}f}"


def column_places(half_widths) -> int | None:
    """The decimals for a whole column: the finest any of its half-widths needs, so that the
    column's numbers line up (None when no cell has a half-width)."""
    found = [d for d in (decimals(float(h)) for h in half_widths) if d is not None]
    return max(found) if found else None


def clear_best(means, half_widths, higher_is_better: bool, eligible) -> int | None:
    """The position of the best mean when it is clearly best: among the ``eligible`` cells (not
    flagged), with finite means and half-widths, the best one's interval must not overlap the
    runner-up's. None otherwise: no cell is called best when the seeds cannot tell it from the next."""
    cells = [(float(m), float(h), i) for i, (m, h, ok) in enumerate(zip(means, half_widths, eligible))
             if ok and math.isfinite(float(m))]
    if len(cells) < 2:
        return None
    cells.sort(key=lambda c: -c[0] if higher_is_better else c[0])
    (m1, h1, i1), (m2, h2, _) = cells[0], cells[1]
    if not (math.isfinite(h1) and math.isfinite(h2)):
        return None
    apart = (m1 - h1 > m2 + h2) if higher_is_better else (m1 + h1 < m2 - h2)
    return i1 if apart else None


def interval(mean: float, low: float, high: float, sign: bool = True) -> str:
    """``mean [low, high]`` at the precision of the interval's half-width (signed: a difference)."""
    if not math.isfinite(mean):
        return "–"
    d = decimals((high - low) / 2) if math.isfinite(low) and math.isfinite(high) else None
    if d is None:
        return plain(mean, 3)
    s = "+" if sign else ""
    mean, low, high = (v + 0.0 if round(v, d) else 0.0 for v in (mean, low, high))  # no "-0.00"
    return f"{mean:{s}.{d}f} [{low:{s}.{d}f}, {high:{s}.{d}f}]"


def md_cell(text: object) -> str:
    """A table cell's text in Markdown: a ``|`` escaped (a condition named ``a|b`` would otherwise
    end its cell and shift the row), a line break made a space (it would end the row)."""
    return " ".join(str(text).replace("|", "\\|").splitlines())


def md_row(cells) -> str:
    """One row of a Markdown table, every cell through :func:`md_cell`."""
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"
