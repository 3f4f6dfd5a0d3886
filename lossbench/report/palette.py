"""The colours of a study's figures: one per condition, the same in every figure."""

from __future__ import annotations

import seaborn as sns


def condition_palette(conditions: list[str]) -> dict[str, tuple]:
    """One colour per condition of a study, in the study's order, the same in every figure:
    seaborn's colour-blind palette (beyond ten conditions, evenly spaced hues). Lines also differ
    by dash pattern and bars by hatching, so a figure reads in greyscale too."""
    conditions = list(dict.fromkeys(conditions))
    colours = sns.color_palette("colorblind" if len(conditions) <= 10 else "husl", len(conditions))
    return dict(zip(conditions, colours))


#: bar hatches by condition (in the study's order): the bars read in greyscale
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "--", "oo", "||", "**")
