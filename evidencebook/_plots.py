"""Plots: matplotlib figures returned as HTML ``<figure>`` elements with generated alt text.

The image is embedded as a PNG (so a brief stays one self-contained file) and its alt text
is written from the same numbers that are drawn, so a screen-reader user gets the data.
Text from Zotero is drawn as plain text (:func:`_plain`): a ``$...$`` in a title is never
parsed as mathtext, so it can neither break the figure nor be interpreted.
"""

from __future__ import annotations

from typing import Any
import base64
import io
import re
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402

from ._display import HTML, e  # noqa: E402
from ._effects import Z95, no_effect, on_log_scale  # noqa: E402
from ._synthesis import SCALES  # noqa: E402

__all__ = ["figure_html", "forest_alt_text", "forest_plot", "funnel_plot", "gap_map_alt_text", "gap_map_plot", "prisma_alt_text", "prisma_plot",
           "rob_summary_alt_text", "rob_summary_plot", "traffic_light_alt_text", "traffic_light_plot"]

# Each scale's axis label, and its line of no effect and log axis from the effect arithmetic's owner
# (:mod:`._effects`), read off any one measure of the scale: the measures sharing a scale share both.
_MEASURE_ON = {scale: measure for measure, scale in SCALES.items()}
_AXIS = {scale: (label, no_effect(_MEASURE_ON[scale]), bool(on_log_scale(_MEASURE_ON[scale]))) for scale, label in {
    "standardised": "SMD / Hedges g, harmonised",
    "ratio": "RR / OR / HR, harmonised (log scale)",
    "mean difference": "Mean difference, harmonised",
    "risk difference": "Risk difference, harmonised",
}.items()}


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def _plain(text: Any) -> str:
    """Text for matplotlib drawn literally: every '$' escaped (no mathtext), control characters dropped."""
    return _CONTROL.sub("", str(text)).replace("$", r"\$")


def _short(text: Any, width: int = 34) -> str:
    """At most ``width`` characters (an ellipsis marks a cut): a long name cannot squeeze the plot away."""
    text = str(text)
    return text if len(text) <= width else text[:width] + "…"


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def forest_alt_text(effects: pd.DataFrame, title: str, pooled: pd.DataFrame | None = None) -> str:
    parts = [f"Forest plot: {title}. {len(effects)} estimates, each with its 95% confidence interval, harmonised so "
             "that values to the right of the line of no effect favour peer support."]
    for r in effects.itertuples():
        parts.append(f"{r.label}, {r.outcome}: {r.measure} {_fmt(r.estimate)} ({_fmt(r.ci_low)} to {_fmt(r.ci_high)}) "
                     f"as reported, {_fmt(r.h_estimate)} ({_fmt(r.h_low)} to {_fmt(r.h_high)}) harmonised"
                     + (" (flipped: lower is better)." if getattr(r, "flipped", False) else "."))
    for r in (pooled if pooled is not None else pd.DataFrame()).itertuples():
        parts.append(f"Pooled {r.synthesis_group} ({int(r.k)} studies): {r.measure} {_fmt(r.estimate)} "
                     f"({_fmt(r.ci_low)} to {_fmt(r.ci_high)}), prediction interval {_fmt(r.pi_low)} to {_fmt(r.pi_high)}.")
    return " ".join(parts)


def _drawn_weights(effects: pd.DataFrame, pooled: pd.DataFrame) -> list[float]:
    """Each row's weight (%) in its pooled estimate, as the pooling returned it (``pooled["weights"]``, per
    group ``finding_id`` -> percent); NaN for a row not pooled.  Never recomputed here: what is drawn is what
    the pool used."""
    weights = {finding: share for group in pooled["weights"] for finding, share in group.items()}
    return [weights.get(finding, float("nan")) for finding in effects["finding_id"]]


def forest_plot(effects: pd.DataFrame, scale: str, title: str, pooled: pd.DataFrame | None = None) -> plt.Figure:
    """One row per estimate with its 95% CI, harmonised so that right of the line favours peer support.

    Review-level rows are squares, primary studies circles; a pooled estimate is a diamond with
    its prediction interval as a thin bar.  ``pooled`` is :func:`~evidencebook._synthesis.pooled_groups`'s
    table: the right-hand column shows the weights it carries.
    """
    xlabel, null, log = _AXIS[scale]
    pooled = pooled if pooled is not None else pd.DataFrame()
    n = len(effects) + len(pooled)
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * n + 2.1), dpi=100)
    ys = list(range(n, 0, -1))
    for y, r in zip(ys, effects.itertuples()):
        colour = "#1b6f5a" if r.significant else "#555555"
        ax.plot([r.h_low, r.h_high], [y, y], color=colour, linewidth=1.6)
        ax.plot(r.h_estimate, y, marker="s" if r.study_type == "review" else "o", color=colour, markersize=6)
    labels = [_plain(f"{_short(r.label)}{' (flipped)' if getattr(r, 'flipped', False) else ''}\n{_short(r.outcome)}")
              for r in effects.itertuples()]
    for y, r in zip(ys[len(effects):], pooled.itertuples()):
        ax.plot([r.pi_low, r.pi_high], [y, y], color="#b5651d", linewidth=1)
        ax.fill([r.ci_low, r.estimate, r.ci_high, r.estimate], [y, y + 0.25, y, y - 0.25], color="#b5651d")
        labels.append(_plain(f"Pooled: {_short(r.synthesis_group, 26)}\n(k = {int(r.k)}, REML + HKSJ ad hoc)"))
    ax.axvline(null, color="#999999", linestyle="--", linewidth=1)
    # Right-hand column: each study's overall risk of bias ("?" until assessed; the judgement without its
    # reason, whole: 'some concerns', not 'some conce'), weight for pooled rows.
    rob = [("?" if (level := str(getattr(r, "risk_of_bias", "")).split(" (")[0].strip()) in ("", "not assessed", "nan")
            else level) for r in effects.itertuples()]
    right_label = "Risk of bias (? = not assessed)"
    if len(pooled):  # weights only where something is pooled
        weights = _drawn_weights(effects, pooled)
        rob = [f"{w:.0f}% · {b}" if w == w else b for w, b in zip(weights, rob)]
        rob += [f"I² {r.I2:.0f}%" for r in pooled.itertuples()]
        right_label = "Weight in pooled estimate · risk of bias (? = not assessed)"
    right = ax.secondary_yaxis("right")
    right.set_yticks(ys, [_plain(t) for t in rob], fontsize=7)
    right.set_ylabel(right_label, fontsize=7)
    ax.set_yticks(ys, labels, fontsize=7)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.125, 0.25, 0.5, 1, 2, 4, 8, 16]))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(f"{xlabel}\n← favours comparison      favours peer support →", fontsize=8)
    ax.set_ylabel("Finding (first author, year; outcome)", fontsize=8)
    fig.suptitle(_plain(textwrap.fill(title, 60)), fontsize=10, x=0.02, ha="left")
    ax.set_ylim(0.3, n + 0.7)
    ax.tick_params(axis="x", labelsize=8)
    fig.text(0.01, 0.005, "■ review-level estimate   ● primary study   ◆ pooled   green: CI excludes no effect",
             fontsize=7, color="#333333")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def funnel_plot(effects: pd.DataFrame, pooled_estimate: float, scale: str, title: str) -> plt.Figure:
    """Funnel plot (harmonised estimate against its standard error) with the pseudo 95% limits; for k >= 10."""
    import numpy as np

    if len(effects) < 10:
        raise ValueError(f"a funnel plot needs at least 10 estimates, got {len(effects)}")
    _, null, log = _AXIS[scale]
    x = np.log(effects["h_estimate"]) if log else effects["h_estimate"]
    centre = np.log(pooled_estimate) if log else pooled_estimate
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    se_max = float(effects["se"].max()) * 1.1
    ax.plot([centre - Z95 * se_max, centre, centre + Z95 * se_max], [se_max, 0, se_max], color="#999999",
            linestyle="--", linewidth=1)
    ax.axvline(centre, color="#b5651d", linewidth=1)
    ax.scatter(x, effects["se"], color="#1b6f5a", s=24)
    ax.set_ylim(se_max, 0)
    ax.set_xlabel(("log " if log else "") + "harmonised estimate (right favours peer support)", fontsize=8)
    ax.set_ylabel("Standard error", fontsize=8)
    fig.suptitle(_plain(textwrap.fill(title, 60)), fontsize=10, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def figure_html(fig: plt.Figure, alt: str, caption: str) -> HTML:
    """Embed a figure as a PNG with alt text and a caption; closes the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return HTML(f'<figure class="eb-figure"><img src="data:image/png;base64,{data}" alt="{e(alt)}" '
                f'style="max-width:100%;height:auto"/><figcaption>{e(caption)}</figcaption></figure>')


def gap_map_plot(cells: pd.DataFrame, domains: list[str], groups: list[str], title: str) -> plt.Figure:
    """Bubble map: outcome domain (rows) x population group (columns); size = sources, colour = share favouring peers."""
    groups = [g for g in [*groups, "not coded"] if g in set(cells["population_group"])]
    domains = [d for d in domains if d in set(cells["domain"])]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(domains) + 2.2), dpi=100)
    xs = cells["population_group"].map({g: i for i, g in enumerate(groups)})
    ys = cells["domain"].map({d: len(domains) - i for i, d in enumerate(domains)})
    points = ax.scatter(xs, ys, s=60 + 90 * cells["sources"], c=cells["share_favouring"], cmap="viridis",
                        vmin=0, vmax=1, edgecolors="#333333", linewidths=0.5)
    for x, y, n, share in zip(xs, ys, cells["sources"], cells["share_favouring"]):
        ax.annotate(str(n), (x, y), ha="center", va="center", fontsize=7, color="black" if share > 0.6 else "white")
    ax.set_xticks(range(len(groups)), [_plain(g) for g in groups], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(domains), 0, -1), [_plain(d) for d in domains], fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0.4, len(domains) + 0.6)
    ax.set_xlabel("Population group", fontsize=9)
    ax.set_ylabel("Outcome domain", fontsize=9)
    fig.suptitle(_plain(textwrap.fill(title, 60)), fontsize=10, x=0.02, ha="left")
    bar = fig.colorbar(points, ax=ax, shrink=0.6)
    bar.set_label("Share of findings reported as favouring peer support", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def gap_map_alt_text(cells: pd.DataFrame, title: str) -> str:
    parts = [f"Evidence gap map: {title}. Each bubble is an outcome domain and population group; its size is the "
             "number of sources and its colour the share of findings reported as favouring peer support."]
    parts += [f"{r.domain}, {r.population_group}: {r.sources} sources, {r.findings} findings, "
              f"{round(100 * r.share_favouring)}% favouring peer support." for r in cells.itertuples()]
    return " ".join(parts)


def prisma_plot(counts: dict[str, Any], title: str) -> plt.Figure:
    """A PRISMA 2020 flow diagram (identification, screening, included) drawn from screening counts.

    Items whose reviewers disagree are shown at their stage as awaiting resolution (counts made before
    reviewers were named have no conflicts).
    """
    excluded_ft = counts["excluded_full_text"]
    conflicts_ta, conflicts_ft = counts.get("conflicts_title_abstract", 0), counts.get("conflicts_full_text", 0)
    boxes = [
        ("Identification", f"Records in the Zotero library\n(n = {counts['identified']})",
         f"Not yet screened\n(n = {counts['unscreened']})"),
        ("Screening", f"Records screened\n(n = {counts['screened']})",
         f"Excluded at title/abstract\n(n = {counts['excluded_title_abstract']})\n"
         f"Awaiting full text (n = {counts['awaiting_full_text']})\n"
         f"Conflicts awaiting resolution (n = {conflicts_ta})"),
        ("", f"Full texts assessed\n(n = {counts['assessed_full_text']})",
         "Excluded at full text (n = {})\n{}".format(
             sum(excluded_ft.values()),
             "\n".join(f"{_short(reason, 40)}: {n}" for reason, n in list(excluded_ft.items())[:4]) or "no exclusions")
         + f"\nUndecided (n = {counts['undecided_full_text']})"
         + f"\nConflicts awaiting resolution (n = {conflicts_ft})"),
        ("Included", f"Studies and reports included\n(n = {counts['included']})", ""),
    ]
    fig, ax = plt.subplots(figsize=(6.4, 5.4), dpi=100)
    ax.set_xlim(0, 10)
    ax.set_ylim(1.2, 9.8)
    ax.axis("off")
    style = {"boxstyle": "round,pad=0.4", "facecolor": "#f4f7f6", "edgecolor": "#1b6f5a"}
    for row, (stage, main, side) in enumerate(boxes):
        y = 8.8 - row * 2.4
        ax.text(0.2, y, _plain(stage), fontsize=8, fontweight="bold", va="center", rotation=90)
        ax.text(2.9, y, _plain(main), fontsize=8, ha="center", va="center", bbox=style)
        if side:
            ax.text(7.4, y, _plain(side), fontsize=7, ha="center", va="center", bbox={**style, "facecolor": "#ffffff"})
            ax.annotate("", xy=(5.4, y), xytext=(4.5, y), arrowprops={"arrowstyle": "->", "color": "#555555"})
        if row < len(boxes) - 1:
            ax.annotate("", xy=(2.9, y - 1.7), xytext=(2.9, y - 0.7), arrowprops={"arrowstyle": "->", "color": "#555555"})
    ax.set_title(_plain(title), fontsize=10, loc="left")
    return fig


def prisma_alt_text(counts: dict[str, Any], title: str) -> str:
    excluded = "; ".join(f"{k}: {v}" for k, v in counts["excluded_full_text"].items()) or "none"
    return (f"PRISMA 2020 flow diagram: {title}. {counts['identified']} records in the library, "
            f"{counts['unscreened']} not yet screened, {counts['screened']} screened, "
            f"{counts['excluded_title_abstract']} excluded at title and abstract, "
            f"{counts.get('conflicts_title_abstract', 0)} awaiting resolution of a reviewers' conflict at title and "
            f"abstract, {counts['assessed_full_text']} full texts assessed, excluded at full text: {excluded}; "
            f"{counts.get('conflicts_full_text', 0)} awaiting resolution of a reviewers' conflict at full text; "
            f"{counts['included']} included.")


# --- risk of bias: robvis's two figures (McGuinness and Higgins, Res Synth Methods 2021) -------------------------

# robvis's colours, and a symbol for each judgement so that the figures read without colour (and in grey print).
ROB_STYLE: dict[str, tuple[str, str, str]] = {  # judgement -> (fill, symbol, text colour on the fill)
    "low": ("#02C100", "+", "black"),
    "some concerns": ("#E2DF07", "\u2212", "black"),
    "moderate": ("#E2DF07", "\u2212", "black"),
    "high": ("#BF0000", "\u00d7", "white"),
    "serious": ("#BF0000", "\u00d7", "white"),
    "critical": ("#820000", "!", "white"),
    "no information": ("#4EA1F7", "?", "black"),
}
_ROB_HATCH = {"low": "", "some concerns": "//", "moderate": "//", "high": "xx", "serious": "xx", "critical": "**",
              "no information": ".."}


def _rob_columns(domains: tuple[str, ...]) -> list[str]:
    return [*(f"D{n}" for n in range(1, len(domains) + 1)), "overall"]


def _rob_key(domains: tuple[str, ...], judgements: tuple[str, ...]) -> str:
    """The key under a figure: what D1... stand for, and each judgement's symbol."""
    named = "; ".join(f"D{n} {name}" for n, name in enumerate(domains, 1))
    symbols = "   ".join(f"{ROB_STYLE[j][1]} {j}" for j in judgements)
    return textwrap.fill(named, 100) + "\n" + symbols


def traffic_light_plot(judgements: pd.DataFrame, domains: tuple[str, ...], levels: tuple[str, ...],
                       title: str) -> plt.Figure:
    """One row per assessment (``label``), one column per domain (``domain_id`` D1...) and the overall: a circle
    in the judgement's colour holding its symbol.  ``levels`` are the tool's judgements, for the key."""
    columns = _rob_columns(domains)
    labels = list(dict.fromkeys(judgements["label"]))
    height = 0.42 * len(labels) + 2.6
    fig, ax = plt.subplots(figsize=(6.4, height), dpi=100)
    ys = {label: len(labels) - i for i, label in enumerate(labels)}
    for r in judgements.itertuples():
        fill, symbol, ink = ROB_STYLE[r.judgement]
        x, y = columns.index(r.domain_id), ys[r.label]
        ax.scatter([x], [y], s=330, color=fill, edgecolors="#333333", linewidths=0.6, zorder=2)
        ax.text(x, y, symbol, ha="center", va="center", fontsize=10, fontweight="bold", color=ink, zorder=3)
    ax.axvline(len(columns) - 1.5, color="#999999", linewidth=0.8)  # the overall is set apart
    ax.set_xticks(range(len(columns)), [c if c != "overall" else "Overall" for c in columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_yticks(list(ys.values()), [_plain(_short(label, 40)) for label in ys], fontsize=7)
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(0.4, len(labels) + 0.6)
    ax.set_xlabel("Risk-of-bias domain (key below)", fontsize=8)
    ax.set_ylabel("Study (and finding)", fontsize=8)
    for side in ("right", "bottom"):
        ax.spines[side].set_visible(False)
    key = _rob_key(domains, levels)
    fig.text(0.01, 0.01, _plain(key), fontsize=6.5, va="bottom", color="#333333")
    fig.suptitle(_plain(textwrap.fill(title, 60)), fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, (0.14 * (key.count("\n") + 1) + 0.1) / height, 1, 1))
    return fig


def traffic_light_alt_text(judgements: pd.DataFrame, tool: str, title: str) -> str:
    """Every judgement drawn, study by study, in words."""
    labels = list(dict.fromkeys(judgements["label"]))
    parts = [f"Traffic-light plot: {title}. {tool} judgements of {len(labels)} "
             f"{'assessment' if len(labels) == 1 else 'assessments'}, one row each, one column per domain and "
             "the overall judgement."]
    for label in labels:
        rows = judgements[judgements["label"] == label]
        said = ", ".join(f"{'overall' if r.domain_id == 'overall' else r.domain_id} {r.judgement}"
                         for r in rows.itertuples())
        parts.append(f"{label}: {said}.")
    return " ".join(parts)


def _shares(judgements: pd.DataFrame, columns: list[str], levels: tuple[str, ...],
            weighted: bool) -> pd.DataFrame:
    """Share (%) of each judgement per domain; weighted by ``weight`` over the assessments whose weight is known."""
    rows = judgements.dropna(subset=["weight"]) if weighted else judgements
    weight = rows["weight"].astype(float) if weighted else pd.Series(1.0, index=rows.index)
    table = (weight.groupby([rows["domain_id"], rows["judgement"]]).sum().unstack(fill_value=0.0)
             .reindex(index=columns, columns=list(levels), fill_value=0.0))
    return table.div(table.sum(axis=1).where(lambda t: t > 0), axis=0).fillna(0.0) * 100


def rob_summary_plot(judgements: pd.DataFrame, domains: tuple[str, ...], levels: tuple[str, ...],
                     title: str) -> plt.Figure:
    """The share of each judgement per domain, as stacked bars: unweighted, and (where any assessment has a
    ``weight``, its number of participants) weighted by study size, over the assessments with a known size."""
    columns = _rob_columns(domains)
    panels = [("Unweighted: share of assessments", False)]
    known = int(judgements.drop_duplicates("label")["weight"].notna().sum())
    if known:
        panels.append((f"Weighted by participants ({known} with a known size)", True))
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, len(panels) * (0.32 * len(columns) + 1.2) + 1.4),
                             dpi=100, squeeze=False)
    ys = list(range(len(columns), 0, -1))
    for ax, (heading, weighted) in zip(axes[:, 0], panels):
        shares = _shares(judgements, columns, levels, weighted)
        left = [0.0] * len(columns)
        for level in levels:
            fill, symbol, ink = ROB_STYLE[level]
            widths = list(shares[level])
            ax.barh(ys, widths, left=left, color=fill, edgecolor="#333333", linewidth=0.5, hatch=_ROB_HATCH[level],
                    label=f"{symbol} {level}")
            for y, x, w in zip(ys, left, widths):
                if w >= 9:  # room for the symbol and the share
                    ax.text(x + w / 2, y, f"{symbol} {w:.0f}%", ha="center", va="center", fontsize=6.5,
                            color=ink, bbox={"boxstyle": "round,pad=0.1", "facecolor": fill, "edgecolor": "none"})
            left = [a + b for a, b in zip(left, widths)]
        ax.set_yticks(ys, [("Overall" if c == "overall" else f"{c} {_short(domains[int(c[1:]) - 1], 30)}")
                           for c in columns], fontsize=7)
        ax.set_xlim(0, 100)
        ax.set_xlabel("Share of judgements (%)", fontsize=8)
        ax.set_ylabel("Domain", fontsize=8)
        ax.set_title(heading, fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(levels), 3), fontsize=7, frameon=False)
    fig.suptitle(_plain(textwrap.fill(title, 60)), fontsize=10, x=0.02, ha="left")
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, (0.2 * -(-len(levels) // 3) + 0.1) / height, 1, 1))  # room for the legend's rows
    return fig


def rob_summary_alt_text(judgements: pd.DataFrame, domains: tuple[str, ...], levels: tuple[str, ...],
                         tool: str, title: str) -> str:
    columns = _rob_columns(domains)
    n = judgements["label"].nunique()
    known = int(judgements.drop_duplicates("label")["weight"].notna().sum())
    parts = [f"Summary plot: {title}. The share of each {tool} judgement per domain, over {n} "
             f"{'assessment' if n == 1 else 'assessments'}"
             + (f"; and weighted by participants, over the {known} with a known size." if known else
                "; no assessment has a known size, so there is no weighted plot.")]
    plain, weighted = _shares(judgements, columns, levels, False), _shares(judgements, columns, levels, True)
    for c in columns:
        name = "Overall" if c == "overall" else f"{c} {domains[int(c[1:]) - 1]}"
        said = ", ".join(f"{level} {plain.loc[c, level]:.0f}%" for level in levels if plain.loc[c, level])
        if known:
            said += "; weighted: " + ", ".join(f"{level} {weighted.loc[c, level]:.0f}%" for level in levels
                                               if weighted.loc[c, level])
        parts.append(f"{name}: {said}.")
    return " ".join(parts)
