"""Plots: matplotlib figures returned as HTML ``<figure>`` elements with generated alt text.

The image is embedded as a PNG (so a brief stays one self-contained file) and its alt text
is written from the same numbers that are drawn, so a screen-reader user gets the data.
"""

from __future__ import annotations

import base64
import io
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ._display import HTML, e  # noqa: E402

__all__ = ["figure_html", "forest_plot", "forest_alt_text"]

_AXIS = {
    "standardised": ("SMD / Hedges g, as reported", 0.0, False),
    "ratio": ("RR / OR / HR (log scale)", 1.0, True),
    "mean difference": ("Mean difference, as reported", 0.0, False),
    "risk difference": ("Risk difference", 0.0, False),
}


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def forest_alt_text(effects: pd.DataFrame, title: str) -> str:
    parts = [f"Forest plot: {title}. {len(effects)} estimates, each with its 95% confidence interval, not pooled."]
    for r in effects.itertuples():
        parts.append(f"{r.label}, {r.outcome}: {r.measure} {_fmt(r.estimate)} ({_fmt(r.ci_low)} to {_fmt(r.ci_high)}).")
    return " ".join(parts)


def forest_plot(effects: pd.DataFrame, scale: str, title: str) -> plt.Figure:
    """One row per estimate with its 95% CI; review-level rows drawn as squares, primary as circles."""
    xlabel, null, log = _AXIS[scale]
    n = len(effects)
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * n + 1.9), dpi=100)
    ys = list(range(n, 0, -1))
    for y, r in zip(ys, effects.itertuples()):
        colour = "#1b6f5a" if r.significant else "#555555"
        ax.plot([r.ci_low, r.ci_high], [y, y], color=colour, linewidth=1.6)
        ax.plot(r.estimate, y, marker="s" if r.study_type == "review" else "o", color=colour, markersize=6)
    ax.axvline(null, color="#999999", linestyle="--", linewidth=1)
    labels = [f"{r.label}\n{r.outcome[:34]}{'…' if len(r.outcome) > 34 else ''}" for r in effects.itertuples()]
    ax.set_yticks(ys, labels, fontsize=7)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("Finding (first author, year; outcome)", fontsize=8)
    fig.suptitle(textwrap.fill(title, 60), fontsize=10, x=0.02, ha="left")
    ax.set_ylim(0.3, n + 0.7)
    ax.tick_params(axis="x", labelsize=8)
    fig.text(0.01, 0.005, "■ review-level estimate   ● primary study   green: CI excludes no effect",
             fontsize=7, color="#333333")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def figure_html(fig: plt.Figure, alt: str, caption: str) -> HTML:
    """Embed a figure as a PNG with alt text and a caption; closes the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return HTML(f'<figure class="eb-figure"><img src="data:image/png;base64,{data}" alt="{e(alt)}" '
                f'style="max-width:100%;height:auto"/><figcaption>{e(caption)}</figcaption></figure>')
