"""The living review: where each question stands in one evidence version, and what moved between two.

A question is an outcome domain and a comparison type (a summary-of-findings row), or one
pooled estimate.  Cochrane's guidance for living systematic reviews names the changes that
call for a new citable version (:data:`TRIGGERS`); stating them in advance is part of the
protocol, and What's new flags them.
"""

from __future__ import annotations

import math

import pandas as pd

from ._certainty import certainty_chain, question_fingerprint, summary_of_findings
from ._synthesis import (FAVOURS_COMPARISON, FAVOURS_PEER, SCALES, comparison_types, effect_rows, included_findings,
                         no_effect,
                         pooled_groups, review_findings, study_votes)

__all__ = ["STATUS_COLUMNS", "TRIGGERS", "outcome_status", "version_changes"]

STATUS_COLUMNS = ["outcome", "domain", "comparison_type", "kind", "measure", "k", "estimate", "ci_low", "ci_high",
                  "pi_low", "pi_high", "tau2", "direction", "ci_crosses_null", "certainty", "fingerprint"]

# Cochrane's living-review guidance: changes that call for a new citable version.
TRIGGERS = ("CI now includes no effect", "CI now excludes no effect", "direction changed", "certainty changed",
            "pooled estimate lost")


def _side(estimate: float, null: float) -> str:
    return "favours peer support" if estimate > null else "favours the comparison" if estimate < null else "no difference"


def _lean(directions: pd.Series, who: str) -> str:
    a, b = int((directions == FAVOURS_PEER).sum()), int((directions == FAVOURS_COMPARISON).sum())
    return ("" if not a + b else f"{who} favour peer support" if a > b else f"{who} favour the comparison" if b > a
            else f"{who} evenly split")


def outcome_status(outcomes: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Where each question stands in one evidence version: one row per outcome domain and comparison
    type, and one per pooled estimate (estimate, CI, PI, tau², k and its own certainty).

    ``direction`` is the pooled estimate's side of no effect for a pool, and for a question the
    lean of its independent studies' votes (else of its reviews' findings); ``k`` counts
    independent sources; ``fingerprint`` hashes what the question's certainty rests on, so that
    a signed judgement can be checked against any version.
    """
    domains = sorted(set(outcomes["domain"]) - {""})
    outcomes = included_findings(outcomes, studies)
    sof = summary_of_findings(outcomes, studies, domains)
    rows = []
    for r in sof.itertuples():
        cell = outcomes[(outcomes["domain"] == r.domain) & (comparison_types(outcomes) == r.comparison_type)]
        lean = (_lean(study_votes(cell, studies)["vote"], "studies")
                or _lean(review_findings(cell, studies)["vote"], "reviews") or "no direction reported")
        rows.append({"outcome": f"{r.domain} ({r.comparison_type})", "domain": r.domain,
                     "comparison_type": r.comparison_type, "kind": "domain", "measure": "",
                     "k": int(r.sources), "direction": lean, "certainty": r.proposed_certainty,
                     "fingerprint": question_fingerprint(outcomes, studies, r.domain, r.comparison_type)})
    for scale in sorted(set(SCALES.values())):
        effects = effect_rows(outcomes, studies, scale)
        for r in pooled_groups(effects).to_dict("records"):
            members = effects[(effects["synthesis_group"] == r["synthesis_group"])
                              & (effects["comparison_type"] == r["comparison_type"])
                              & (effects["measure"] == r["measure"]) & (effects["evidence_level"] == "primary")]
            null = no_effect(r["measure"])
            chain = certainty_chain(members, studies, r["comparison_type"], pooled=r)
            rows.append({"outcome": f"{r['synthesis_group']} ({r['comparison_type']}, {r['measure']})",
                         "domain": members["domain"].iloc[0], "comparison_type": r["comparison_type"],
                         "kind": "pooled", "measure": r["measure"], "k": int(r["k"]), "estimate": r["estimate"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"], "pi_low": r["pi_low"],
                         "pi_high": r["pi_high"], "tau2": r["tau2"], "direction": _side(r["estimate"], null),
                         "ci_crosses_null": bool(r["ci_low"] <= null <= r["ci_high"]), "certainty": chain.final,
                         "fingerprint": ""})
    return pd.DataFrame(rows, columns=STATUS_COLUMNS).sort_values(["domain", "kind", "outcome"]).reset_index(drop=True)


def version_changes(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Per question, what moved from one version's :func:`outcome_status` to the next, with the
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
            if r["kind"] == "pooled":
                triggers.append(TRIGGERS[4])
        else:
            if r["kind"] == "pooled" and r["ci_crosses_null_old"] != r["ci_crosses_null_new"]:
                triggers.append(TRIGGERS[0] if r["ci_crosses_null_new"] else TRIGGERS[1])
            if r["direction_old"] != r["direction_new"]:
                triggers.append(f"{TRIGGERS[2]}: {r['direction_old']} → {r['direction_new']}")
            if r["certainty_old"] != r["certainty_new"]:
                triggers.append(f"{TRIGGERS[3]}: {r['certainty_old']} → {r['certainty_new']}")
            if r["k_old"] != r["k_new"]:
                notes.append(f"k {int(r['k_old'])} → {int(r['k_new'])}")
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
