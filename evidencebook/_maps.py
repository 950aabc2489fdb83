"""The policy tile maps: one equal square per state (and DC), so small states stay readable.

A tile grid (as in NPR's and FiveThirtyEight's state maps) avoids giving Texas more ink
than Rhode Island for the same one fact, and needs no shapefile or network access.

The maps colour each state by what its facts say (:mod:`evidencebook._policy`): Medicaid
coverage of peer support for mental health and for substance use, one map each.  Colours
are from the Okabe-Ito palette (distinct under the common colour-vision deficiencies), and
no tile relies on colour alone: each carries a letter for its status, undocumented tiles are
hatched and conflicts have a heavy border; every letter has at least 4.5:1 contrast with its
tile (WCAG AA).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from ._policy import CONFLICTING, COVERED, NOT_COVERED, NOT_DOCUMENTED, SERVICES, STATUSES  # noqa: E402

__all__ = ["STATE_TILES", "STATUS_STYLE", "contrast_ratio", "coverage_alt_text", "coverage_tile_map",
           "policy_tile_counts"]

# (row, column) of each state's tile; row 0 at the top.
STATE_TILES: dict[str, tuple[int, int]] = {
    "AK": (0, 0), "ME": (0, 10),
    "VT": (1, 9), "NH": (1, 10),
    "WA": (2, 0), "ID": (2, 1), "MT": (2, 2), "ND": (2, 3), "MN": (2, 4), "IL": (2, 5), "WI": (2, 6), "MI": (2, 7),
    "NY": (2, 8), "RI": (2, 9), "MA": (2, 10),
    "OR": (3, 0), "NV": (3, 1), "WY": (3, 2), "SD": (3, 3), "IA": (3, 4), "IN": (3, 5), "OH": (3, 6), "PA": (3, 7),
    "NJ": (3, 8), "CT": (3, 9),
    "CA": (4, 0), "UT": (4, 1), "CO": (4, 2), "NE": (4, 3), "MO": (4, 4), "KY": (4, 5), "WV": (4, 6), "VA": (4, 7),
    "MD": (4, 8), "DE": (4, 9),
    "AZ": (5, 1), "NM": (5, 2), "KS": (5, 3), "AR": (5, 4), "TN": (5, 5), "NC": (5, 6), "SC": (5, 7), "DC": (5, 8),
    "OK": (6, 3), "LA": (6, 4), "MS": (6, 5), "AL": (6, 6), "GA": (6, 7),
    "HI": (7, 0), "TX": (7, 3), "FL": (7, 8),
}
TOPICS = {"Medicaid coverage": "medicaid", "certification and training": "certification", "workforce": "workforce"}


def policy_tile_counts(policy: pd.DataFrame) -> pd.DataFrame:
    """Per state (and DC): how many facts the evidence base holds on Medicaid coverage,
    certification and training, and the workforce, and in all."""
    states = policy[policy["state_code"].isin(STATE_TILES)]
    counts = pd.crosstab(states["state_code"], states["topic"].map(TOPICS).fillna("other"))
    counts = counts.reindex(index=sorted(STATE_TILES), columns=[*TOPICS.values(), "other"], fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts.rename_axis("state_code").reset_index().rename_axis(None, axis=1)


@dataclass(frozen=True)
class TileStyle:
    face: str
    text: str
    letter: str
    label: str
    hatch: str | None = None
    edge_width: float = 0.6


# Okabe-Ito blue, orange and reddish purple; light grey for "nothing known". Text colour per
# tile is the one of black and white with the higher contrast (all >= 5:1).
STATUS_STYLE: dict[str, TileStyle] = {
    COVERED: TileStyle("#0072B2", "#FFFFFF", "C", "C: covered"),
    NOT_COVERED: TileStyle("#E69F00", "#000000", "N", "N: not covered"),
    CONFLICTING: TileStyle("#CC79A7", "#000000", "!", "!: sources disagree (flagged)", edge_width=2.4),
    NOT_DOCUMENTED: TileStyle("#F0F0F0", "#000000", "?", "?: not documented", hatch="///"),
}
_EDGE = "#333333"
_HATCH = "#B0B0B0"


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``#RRGGBB`` colours (1 to 21; text needs 4.5)."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _statuses(coverage: pd.DataFrame, service: str) -> dict[str, str]:
    rows = coverage[coverage["service"] == service]
    return dict(zip(rows["state_code"], rows["status"]))


def _counts(statuses: dict[str, str]) -> dict[str, list[str]]:
    return {s: sorted(c for c, status in statuses.items() if status == s and c in STATE_TILES) for s in STATUSES}


def coverage_tile_map(coverage: pd.DataFrame, title: str) -> plt.Figure:
    """Two tile maps, mental health above and substance use below, each state coloured and
    lettered by its Medicaid coverage status (``coverage``: the table of
    :func:`evidencebook._policy.coverage_table`)."""
    fig, axes = plt.subplots(2, 1, figsize=(7.2, 9.4), dpi=100)
    for ax, (service, words) in zip(axes, SERVICES.items()):
        statuses = _statuses(coverage, service)
        for code, (row, col) in STATE_TILES.items():
            style = STATUS_STYLE[statuses.get(code, NOT_DOCUMENTED)]
            ax.add_patch(Rectangle((col, -row), 0.92, 0.92, facecolor=style.face, edgecolor=_EDGE,
                                   linewidth=style.edge_width, hatch=style.hatch, hatchcolor=_HATCH))
            ax.text(col + 0.46, -row + 0.62, code, ha="center", va="center", fontsize=8, weight="bold",
                    color=style.text)
            ax.text(col + 0.46, -row + 0.26, style.letter, ha="center", va="center", fontsize=9, weight="bold",
                    color=style.text)
        counts = _counts(statuses)
        ax.set_title(f"{words.capitalize()} peer support: " + ", ".join(
            f"{len(counts[s])} {'sources disagree' if s == CONFLICTING else s}" for s in STATUSES), fontsize=9)
        ax.set_xlim(-0.2, 11.2)
        ax.set_ylim(-7.2, 1.1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("States placed roughly west (left) to east (right)", fontsize=8)
        ax.set_ylabel("north (top) to south", fontsize=8)
        for side in ax.spines.values():
            side.set_visible(False)
    fig.legend(handles=[Patch(facecolor=st.face, edgecolor=_EDGE, linewidth=st.edge_width, hatch=st.hatch,
                              label=st.label) for st in STATUS_STYLE.values()],
               loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def coverage_alt_text(coverage: pd.DataFrame, title: str) -> str:
    """The maps in words: for each service, the states with each status, and the conflicts."""
    parts = [f"{title}. Two tile maps of the 50 states and DC, one for mental health and one for substance use."]
    flagged = []
    for service, words in SERVICES.items():
        counts = _counts(_statuses(coverage, service))
        parts.append(f"{words.capitalize()} peer support: " + "; ".join(
            f"{'sources disagree' if s == CONFLICTING else s} in {len(counts[s])}"
            + (f" ({', '.join(counts[s])})" if counts[s] else "") for s in STATUSES) + ".")
        flagged += [f"{code} ({words})" for code in counts[CONFLICTING]]
    parts.append(f"Conflicting sources flagged: {', '.join(flagged)}." if flagged else "No conflicting sources.")
    return " ".join(parts)
