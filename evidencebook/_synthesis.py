"""Synthesis: what the findings in a domain say, honestly.

In this first version nothing is pooled.  Most effect estimates in the bundled evidence are
review-level (meta-analyses that share primary trials: pooling them would count trials
twice) or single primary studies (k = 1), so each is shown with its CI as reported, and
narrative findings are counted by the direction the source reports.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._coding import RATIO_MEASURES

__all__ = ["Z95", "direction_counts", "domain_findings", "effect_rows", "standard_error"]

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
