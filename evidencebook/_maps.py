"""The policy tile map: one equal square per state (and DC), so small states stay readable.

A tile grid (as in NPR's and FiveThirtyEight's state maps) avoids giving Texas more ink
than Rhode Island for the same one fact, and needs no shapefile or network access.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

__all__ = ["STATE_TILES", "policy_tile_counts", "tile_map", "tile_map_alt_text"]

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


_DOCUMENTED = "#1b7837"   # green: a Medicaid coverage fact is recorded
_MISSING = "#f0f0f0"      # light grey, hatched: none recorded yet


def tile_map(counts: pd.DataFrame, title: str) -> plt.Figure:
    """Tile map: dark tiles have a recorded Medicaid coverage fact; each tile shows the state's fact count."""
    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=100)
    for r in counts.itertuples():
        row, col = STATE_TILES[r.state_code]
        documented = r.medicaid > 0
        ax.add_patch(Rectangle((col, -row), 0.92, 0.92, facecolor=_DOCUMENTED if documented else _MISSING,
                               edgecolor="#555555", linewidth=0.6, hatch=None if documented else "///"))
        colour = "white" if documented else "black"
        ax.text(col + 0.46, -row + 0.58, r.state_code, ha="center", va="center", fontsize=8, weight="bold", color=colour)
        ax.text(col + 0.46, -row + 0.26, str(r.total), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xlim(-0.2, 11.2)
    ax.set_ylim(-7.2, 1.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("States placed roughly west (left) to east (right); the number is the count of sourced facts")
    ax.set_ylabel("north (top) to south")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.legend(handles=[Patch(facecolor=_DOCUMENTED, edgecolor="#555555", label="Medicaid coverage fact recorded"),
                       Patch(facecolor=_MISSING, edgecolor="#555555", hatch="///", label="none recorded yet")],
              loc="upper center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def tile_map_alt_text(counts: pd.DataFrame, title: str) -> str:
    """The map in words: which states have a recorded Medicaid coverage fact, and which do not."""
    documented = counts.loc[counts["medicaid"] > 0, "state_code"].tolist()
    missing = counts.loc[counts["medicaid"] == 0, "state_code"].tolist()
    return (f"{title}. Tile map of the 50 states and DC. Medicaid coverage of peer support is recorded for "
            f"{len(documented)}: {', '.join(documented) or 'none'}. Not yet recorded for {len(missing)}: "
            f"{', '.join(missing) or 'none'}. {int(counts['total'].sum())} sourced facts in all.")
