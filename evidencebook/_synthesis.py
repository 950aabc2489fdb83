"""Synthesis: what the findings in a domain say, honestly.

In this first version nothing is pooled.  Most effect estimates in the bundled evidence are
review-level (meta-analyses that share primary trials: pooling them would count trials
twice) or single primary studies (k = 1), so each is shown with its CI as reported, and
narrative findings are counted by the direction the source reports.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._coding import RATIO_MEASURES

__all__ = ["Z95", "direction_counts", "domain_findings", "effect_rows", "gap_map_counts", "prisma_counts", "standard_error"]

Z95 = 1.959963984540054  # the normal quantile for a two-sided 95% interval

# Scales on which estimates of different measures can share one axis.
SCALES = {"SMD": "standardised", "Hedges g": "standardised", "MD": "mean difference",
          "RR": "ratio", "OR": "ratio", "HR": "ratio", "RD": "risk difference"}


def standard_error(estimate: float, ci_low: float, ci_high: float, measure: str) -> float:
    """The standard error implied by a symmetric 95% CI, on the log scale for ratio measures."""
    if measure in RATIO_MEASURES:
        return (math.log(ci_high) - math.log(ci_low)) / (2 * Z95)
    return (ci_high - ci_low) / (2 * Z95)


def domain_findings(outcomes: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """Every finding (effect or narrative) in the given outcome domains."""
    return outcomes[outcomes["domain"].isin(domains)].copy()


def effect_rows(findings: pd.DataFrame, studies: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Effect findings on one scale, labelled for a forest plot, newest study first.

    Adds ``label``, ``se`` and ``significant`` (the CI excludes the null).
    """
    effects = findings[findings["estimate"].notna() & findings["measure"].map(SCALES).eq(scale)].copy()
    meta = studies.set_index("study_id")[["authors", "year", "study_type"]]
    effects = effects.join(meta, on="study_id")
    effects["label"] = effects["authors"].str.replace(" et al.", " et al", regex=False) + " " + effects["year"]
    effects["se"] = [standard_error(r.estimate, r.ci_low, r.ci_high, r.measure) for r in effects.itertuples()]
    null = np.where(effects["measure"].isin(RATIO_MEASURES), 1.0, 0.0)
    effects["significant"] = (effects["ci_low"] > null) | (effects["ci_high"] < null)
    return effects.sort_values(["year", "label", "finding_id"], ascending=[False, True, True])


def direction_counts(findings: pd.DataFrame) -> pd.Series:
    """Findings counted by the direction their source reports (not a pooled result)."""
    coarse = findings["direction"].str.extract(r"^(favours peer|favours control|no difference|mixed)")[0]
    return coarse.fillna("not stated / descriptive").value_counts()


def gap_map_counts(findings: pd.DataFrame, studies: pd.DataFrame, domains: list[str],
                   groups: list[str]) -> pd.DataFrame:
    """Outcome domain x population group: sources, findings and the share reported as favouring peer support.

    One row per non-empty cell, with the study ids in it (for links).
    """
    joined = findings.join(studies.set_index("study_id")[["population_group"]], on="study_id")
    joined["population_group"] = joined["population_group"].replace("", "not coded")
    rows = []
    for (domain, group), cell in joined.groupby(["domain", "population_group"], sort=False):
        if domain not in domains:
            continue
        favour = cell["direction"].str.startswith("favours peer").mean()
        rows.append({"domain": domain, "population_group": group, "sources": cell["study_id"].nunique(),
                     "findings": len(cell), "share_favouring": float(favour),
                     "study_ids": "|".join(sorted(cell["study_id"].unique()))})
    order = {d: i for i, d in enumerate(domains)}
    group_order = {g: i for i, g in enumerate([*groups, "not coded"])}
    table = pd.DataFrame(rows, columns=["domain", "population_group", "sources", "findings", "share_favouring",
                                        "study_ids"])
    return table.sort_values(["domain", "population_group"], key=lambda c: c.map(
        order if c.name == "domain" else group_order)).reset_index(drop=True)


def prisma_counts(studies: pd.DataFrame, new_ids: set[str] | None = None) -> dict[str, Any]:
    """PRISMA 2020 numbers from the screening decisions (``screening`` column), optionally for new records only."""
    s = studies if new_ids is None else studies[studies["study_id"].isin(new_ids)]
    stage = s["screening"].str.split(":").str[0]
    decision = s["screening"].str.split(":").str[-1]
    full_text = s[stage == "FT"]
    reasons = full_text.loc[decision[stage == "FT"] == "exclude", "exclusion_reason"].replace("", "reason not given")
    return {
        "identified": int(len(s)),
        "unscreened": int((s["screening"] == "unscreened").sum()),
        "screened": int((s["screening"] != "unscreened").sum()),
        "excluded_title_abstract": int(((stage == "TA") & (decision == "exclude")).sum()),
        "awaiting_full_text": int(((stage == "TA") & (decision != "exclude")).sum()),
        "assessed_full_text": int(len(full_text)),
        "excluded_full_text": {str(k): int(v) for k, v in reasons.value_counts().items()},
        "undecided_full_text": int(((stage == "FT") & (decision == "maybe")).sum()),
        "included": int(((stage == "FT") & (decision == "include")).sum()),
    }
