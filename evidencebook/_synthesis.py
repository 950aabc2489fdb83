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

__all__ = ["Z95", "TRIGGERS", "direction_counts", "outcome_status", "version_changes", "domain_findings", "effect_rows", "gap_map_counts", "harmonise", "pooled_groups",
           "prisma_counts", "standard_error", "summary_of_findings", "vote_count", "cumulative_by_year"]

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
    meta = studies.set_index("study_id")[["authors", "year", "study_type", "risk_of_bias"]]
    effects = effects.join(meta, on="study_id")
    effects["label"] = effects["authors"].str.replace(" et al.", " et al", regex=False) + " " + effects["year"]
    effects["se"] = [standard_error(r.estimate, r.ci_low, r.ci_high, r.measure) for r in effects.itertuples()]
    null = np.where(effects["measure"].isin(RATIO_MEASURES), 1.0, 0.0)
    effects["significant"] = (effects["ci_low"] > null) | (effects["ci_high"] < null)
    effects = effects.join(harmonise(effects))
    return effects.sort_values(["year", "label", "finding_id"], ascending=[False, True, True])


def harmonise(effects: pd.DataFrame) -> pd.DataFrame:
    """Estimates turned so that larger always favours peer support.

    The convention: where lower is better (readmissions, symptoms, overdoses), a difference
    is negated and a ratio inverted, and the CI bounds swap.  Findings whose better
    direction is ``unclear`` get no harmonised value.
    """
    ratio = effects["measure"].isin(RATIO_MEASURES)
    lower = effects["better"].eq("lower")
    unclear = ~effects["better"].isin(["higher", "lower"])

    def flip(x: pd.Series) -> pd.Series:
        return np.where(ratio, 1.0 / x, -x)

    out = pd.DataFrame(index=effects.index)
    out["h_estimate"] = np.where(lower, flip(effects["estimate"]), effects["estimate"])
    out["h_low"] = np.where(lower, flip(effects["ci_high"]), effects["ci_low"])
    out["h_high"] = np.where(lower, flip(effects["ci_low"]), effects["ci_high"])
    out.loc[unclear, ["h_estimate", "h_low", "h_high"]] = np.nan
    return out


def pooled_groups(effects: pd.DataFrame) -> pd.DataFrame:
    """Random-effects (REML) pooling of primary studies coded with the same ``synthesis_group`` and measure.

    Review-level estimates are never pooled (they share trials); groups with k = 1 are left
    out.  Works on harmonised values: ratios on the log scale, then back-transformed.  All
    groups are pooled in one vectorised pass.
    """
    from ._meta import pool_groups

    columns = ["synthesis_group", "measure", "k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "I2",
               "method"]
    primary = effects[(effects["evidence_level"] == "primary") & effects["synthesis_group"].ne("")
                      & effects["h_estimate"].notna()]
    if primary.empty:
        return pd.DataFrame(columns=columns)
    ratio = primary["measure"].isin(RATIO_MEASURES)
    log = lambda x: np.log(x.where(ratio, np.nan))  # noqa: E731
    frame = pd.DataFrame({
        "synthesis_group": primary["synthesis_group"], "measure": primary["measure"],
        "yi": np.where(ratio, log(primary["h_estimate"]), primary["h_estimate"]),
        "vi": (np.where(ratio, log(primary["h_high"]) - log(primary["h_low"]),
                        primary["h_high"] - primary["h_low"]) / (2 * Z95)) ** 2,
    })
    pooled = pool_groups(frame, ["synthesis_group", "measure"], method="REML", test="knha", pi_method="t(k-1)")
    pooled = pooled[pooled["status"] == "ok"].reset_index()
    back = pooled["measure"].isin(RATIO_MEASURES)
    for col in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        pooled[col] = np.where(back, np.exp(pooled[col]), pooled[col])
    pooled["method"] = "REML, Hartung-Knapp-Sidik-Jonkman CI, prediction interval t(k-1)"
    return pooled[columns].reset_index(drop=True)


def cumulative_by_year(effects: pd.DataFrame, group: str) -> pd.DataFrame:
    """How a pooled estimate moved as studies arrived: REML re-pooled after each year's studies (a living view)."""
    from ._meta import cumulative

    cell = effects[(effects["synthesis_group"] == group) & (effects["evidence_level"] == "primary")]
    cell = cell.sort_values(["year", "finding_id"])
    ratio = cell["measure"].iloc[0] in RATIO_MEASURES
    y = np.log(cell["h_estimate"]) if ratio else cell["h_estimate"]
    se = (np.log(cell["h_high"]) - np.log(cell["h_low"])) / (2 * Z95) if ratio else (cell["h_high"] - cell["h_low"]) / (2 * Z95)
    table = cumulative(y.to_numpy(), (se ** 2).to_numpy(), labels=list(cell["label"]), method="REML")
    if ratio:
        for col in ("estimate", "ci_low", "ci_high"):
            if col in table:
                table[col] = np.exp(table[col])
    return table


def vote_count(findings: pd.DataFrame) -> dict[str, Any]:
    """SWiM vote counting by direction of effect: a harmonised estimate's side of the null, else the
    direction the source reports; 'no difference' findings without an estimate carry no vote.

    Returns the votes, the share favouring peer support with its Wilson 95% CI, and a two-sided
    sign-test p-value.  This is a count of directions, not an estimate of effect size.
    """
    votes = _votes(findings)
    benefit, total = sum(votes), len(votes)
    if total == 0:
        return {"benefit": 0, "harm": 0, "total": 0, "share": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan"), "p": float("nan")}
    p, ci_low, ci_high = _sign_test(benefit, total)
    return {"benefit": benefit, "harm": total - benefit, "total": total, "share": benefit / total,
            "ci_low": ci_low, "ci_high": ci_high, "p": p}


def _sign_test(benefit: int, total: int) -> tuple[float, float, float]:
    """The two-sided exact sign test's p and the Wilson 95% CI of the share, as
    ``scipy.stats.binomtest(benefit, total).pvalue`` and ``.proportion_ci(method="wilson")``
    compute them (for p = 0.5 the two tails are equal), from scipy.special: importing
    scipy.stats takes about a second, paid by every page that counts votes."""
    from scipy import special

    p = min(1.0, 2 * float(special.bdtr(min(benefit, total - benefit), total, 0.5))) if 2 * benefit != total else 1.0
    z = float(special.ndtri(0.975))
    share = benefit / total
    denom = 2 * (total + z**2)
    center = (2 * total * share + z**2) / denom
    delta = z / denom * math.sqrt(4 * total * share * (1 - share) + z**2)
    return p, 0.0 if benefit == 0 else center - delta, 1.0 if benefit == total else center + delta


def _votes(findings: pd.DataFrame) -> list[bool]:
    """Each finding's vote for :func:`vote_count`: True for benefit, False for harm; findings without one are left out."""
    votes = []
    for r in findings.itertuples():
        if pd.notna(r.estimate) and getattr(r, "better", "") in ("higher", "lower"):
            null = 1.0 if r.measure in RATIO_MEASURES else 0.0
            above = r.estimate > null
            if r.estimate != null:
                votes.append(above == (r.better == "higher"))
        elif str(r.direction).startswith("favours peer"):
            votes.append(True)
        elif str(r.direction).startswith("favours control"):
            votes.append(False)
    return votes


_HIGH_START = ("RCT", "cluster RCT", "systematic review with meta-analysis", "systematic review", "umbrella review")


def summary_of_findings(findings: pd.DataFrame, studies: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """One row per outcome domain: what the findings show and a *proposed* certainty (GRADE-like).

    Start high for randomised evidence (or reviews of it), low otherwise; go down one level
    each for risk of bias not assessed, inconsistency (findings disagree in direction, or a
    pooled I² above 50% / a prediction interval crossing the null) and imprecision (every
    estimate's CI crosses the null, or none has a CI).  Reviewers sign it off.
    """
    meta = studies.set_index("study_id")[["design_type", "risk_of_bias"]]
    levels = ["very low", "low", "moderate", "high"]
    rows = []
    for domain in domains:
        cell = findings[findings["domain"] == domain].join(meta, on="study_id")
        if cell.empty:
            continue
        # Only the counts: the sign test's p and CI are not used here, and scipy takes a second to import
        # (the briefs' headline is this table).
        ballots = _votes(cell)
        votes = {"benefit": sum(ballots), "total": len(ballots), "harm": len(ballots) - sum(ballots)}
        level = 3 if cell["design_type"].isin(_HIGH_START).mean() >= 0.5 else 1
        reasons = []
        if cell["risk_of_bias"].isin(["", "not assessed"]).any():
            level -= 1
            reasons.append("risk of bias not yet assessed")
        if votes["total"] and 0 < votes["benefit"] < votes["total"] and min(votes["benefit"], votes["harm"]) / votes["total"] > 0.25:
            level -= 1
            reasons.append("findings disagree in direction")
        with_ci = cell[cell["estimate"].notna()]
        null = np.where(with_ci["measure"].isin(RATIO_MEASURES), 1.0, 0.0)
        crosses = ((with_ci["ci_low"] <= null) & (with_ci["ci_high"] >= null))
        if with_ci.empty or crosses.all():
            level -= 1
            reasons.append("no estimate with a CI" if with_ci.empty else "every CI includes no effect")
        rows.append({
            "domain": domain, "findings": len(cell), "sources": cell["study_id"].nunique(),
            "effect_estimates": len(with_ci), "votes_favouring": votes["benefit"], "votes_total": votes["total"],
            "proposed_certainty": levels[max(level, 0)], "reasons": "; ".join(reasons) or "no concerns found",
            "reviewer_sign_off": "pending",
        })
    return pd.DataFrame(rows)



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


# --- living review: what changed between two evidence versions --------------------------

STATUS_COLUMNS = ["outcome", "domain", "kind", "measure", "k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                  "tau2", "direction", "ci_crosses_null", "certainty"]

# Cochrane's living-review guidance: changes that call for a new citable version.
TRIGGERS = ("CI now includes no effect", "CI now excludes no effect", "direction changed", "certainty changed")


def _side(estimate: float, null: float) -> str:
    return "favours peer support" if estimate > null else "favours control" if estimate < null else "no difference"


def outcome_status(outcomes: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Where each outcome stands in one evidence version: one row per outcome domain, and one
    per pooled group (random-effects estimate, CI, PI, tau², k).

    ``direction`` is the pooled estimate's side of the null for a pooled group (estimates are
    harmonised, so larger favours peer support) and the majority of vote-counted directions
    for a domain; ``certainty`` is the domain's proposed certainty.
    """
    domains = sorted(set(outcomes["domain"]) - {""})
    sof = summary_of_findings(outcomes, studies, domains).set_index("domain") if domains else pd.DataFrame()
    rows = []
    for domain in domains:
        cell = outcomes[outcomes["domain"] == domain]
        votes = vote_count(cell)
        lean = ("no direction reported" if votes["total"] == 0 else "favours peer support" if votes["benefit"] > votes["harm"]
                else "favours control" if votes["harm"] > votes["benefit"] else "evenly split")
        rows.append({"outcome": domain, "domain": domain, "kind": "domain", "measure": "", "k": int(cell["study_id"].nunique()),
                     "direction": lean, "certainty": sof.loc[domain, "proposed_certainty"]})
    for scale in sorted(set(SCALES.values())):
        effects = effect_rows(outcomes, studies, scale)
        for r in pooled_groups(effects).itertuples():
            domain = effects.loc[effects["synthesis_group"] == r.synthesis_group, "domain"].iloc[0]
            null = 1.0 if r.measure in RATIO_MEASURES else 0.0
            rows.append({"outcome": f"{r.synthesis_group} ({r.measure})", "domain": domain, "kind": "pooled",
                         "measure": r.measure, "k": int(r.k), "estimate": r.estimate, "ci_low": r.ci_low,
                         "ci_high": r.ci_high, "pi_low": r.pi_low, "pi_high": r.pi_high, "tau2": r.tau2,
                         "direction": _side(r.estimate, null), "ci_crosses_null": bool(r.ci_low <= null <= r.ci_high),
                         "certainty": sof.loc[domain, "proposed_certainty"] if domain in sof.index else ""})
    return pd.DataFrame(rows, columns=STATUS_COLUMNS).sort_values(["domain", "kind", "outcome"]).reset_index(drop=True)


def version_changes(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Per outcome, what moved from one version's :func:`outcome_status` to the next, with the
    changes Cochrane treats as triggers for a new citable version (:data:`TRIGGERS`) flagged.

    Columns: the outcome, ``change`` (new, removed, changed, unchanged), old_/new_ values,
    ``triggers`` (a '; '-joined list, empty when none) and ``notes`` (other changes worth reading).
    """
    merged = old.merge(new, on=["outcome", "kind"], how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for r in merged.to_dict("records"):
        triggers, notes = [], []
        if r["_merge"] == "right_only":
            change = "new"
        elif r["_merge"] == "left_only":
            change = "removed"
        else:
            if r["kind"] == "pooled" and r["ci_crosses_null_old"] != r["ci_crosses_null_new"]:
                triggers.append(TRIGGERS[0] if r["ci_crosses_null_new"] else TRIGGERS[1])
            if r["direction_old"] != r["direction_new"]:
                triggers.append(f"{TRIGGERS[2]}: {r['direction_old']} → {r['direction_new']}")
            if r["certainty_old"] != r["certainty_new"]:
                triggers.append(f"{TRIGGERS[3]}: {r['certainty_old']} → {r['certainty_new']}")
            if r["k_old"] != r["k_new"]:
                notes.append(f"k {r['k_old']} → {r['k_new']}")
            for col, label in (("estimate", "estimate"), ("tau2", "tau²")):
                a, b = r[f"{col}_old"], r[f"{col}_new"]
                if pd.notna(a) and pd.notna(b) and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                    notes.append(f"{label} {a:.3g} → {b:.3g}")
            for col, label in (("ci", "95% CI"), ("pi", "PI")):
                a = (r[f"{col}_low_old"], r[f"{col}_high_old"])
                b = (r[f"{col}_low_new"], r[f"{col}_high_new"])
                if all(pd.notna(x) for x in (*a, *b)) and not all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b)):
                    notes.append(f"{label} {a[0]:.3g} to {a[1]:.3g} → {b[0]:.3g} to {b[1]:.3g}")
            change = "changed" if triggers or notes else "unchanged"
        domain = r["domain_new"] if isinstance(r.get("domain_new"), str) else r["domain_old"]
        rows.append({"outcome": r["outcome"], "domain": domain, "kind": r["kind"], "change": change,
                     **{f"{c}_{v}": r.get(f"{c}_{v}") for c in ("k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                                                                "tau2", "direction", "certainty") for v in ("old", "new")},
                     "triggers": "; ".join(triggers), "notes": "; ".join(notes)})
    return pd.DataFrame(rows).sort_values(["domain", "kind", "outcome"]).reset_index(drop=True) if rows else pd.DataFrame(
        columns=["outcome", "domain", "kind", "change", "triggers", "notes"])
