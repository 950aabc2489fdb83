"""The evidence tables derived from the coding: fixed columns, sorted rows, computed effects, and validation.

:func:`derive_tables` is pure (coding in, tables out); :func:`validate_tables` checks them against the
schemas before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ._coding import Coding
from ._errors import Problem
from ._regions import REGION_COLUMNS, region_records, region_studies, region_table, state_code
from ._vocabulary import BINARY_ARMS, CONTINUOUS_ARMS, RAW_FIELDS

__all__ = ["derive_tables", "validate_tables"]

STUDY_COLUMNS = [
    "study_id", "citation_key", "authors", "author_list", "year", "title", "journal", "doi", "url",
    "item_type", "screening", "exclusion_reason", "screening_votes", "study_type", "design", "design_type", "population",
    "population_group", "setting", "setting_type", "peer_role", "country", "us_state", "state_codes", "region", "risk_of_bias",
    "review_quality", "review_quality_source", "same_study_as", "report_of", "includes", "confidence",
    "confidence_reason", "coded_by", "extraction_note",
]
OUTCOME_COLUMNS = [
    "finding_id", "study_id", "citation_key", "outcome", "domain", "comparison", "comparison_type", "review_certainty", "measure", "measure_as_reported", "better", "synthesis_group", "theme", "estimate",
    "ci_low", "ci_high", "computed_from", *RAW_FIELDS, "reported_statistic", "n_studies", "n_participants",
    "sample_note", "direction", "evidence_level", "secondary", "quote", "page", "source_url", "source_type", "notes",
    "note_key", "note_line",
]
POLICY_COLUMNS = [
    "fact_id", "state", "state_code", "topic", "fact", "value", "as_of", "quote", "source_type", "notes",
    "source_url", "source_item", "note_key", "note_line",
]
PROBLEM_COLUMNS = ["item_key", "line", "field", "severity", "message"]
RISK_OF_BIAS_COLUMNS = ["study_id", "citation_key", "finding_id", "tool", "domain_id", "domain", "judgement", "reason",
                        "source", "note_key", "note_line"]

_TOPICS = [
    (r"medicaid|reimburs|billable|state plan", "Medicaid coverage"),
    (r"certif|credential|training|exam|thw|reciprocity", "certification and training"),
    (r"workforce|employed|per 100,000|counts|specialists certified|number", "workforce"),
    (r"program|navigator|relay|save lives|coach", "programmes"),
    (r"\bpay\b|\bwages?\b|compensation|salar", "pay"), (r"turnover|job stability|retention", "turnover"),
]


_INT64_MAX = 2**63 - 1


def _int_or_na(text: Any) -> Any:
    """A whole number as an int; anything else (text, or a number too large for the table) as NA."""
    cleaned = str(text).replace(",", "").strip()
    return int(cleaned) if re.fullmatch(r"\d+", cleaned) and int(cleaned) <= _INT64_MAX else pd.NA


def _records(records: list[dict[str, Any]], columns: list[str], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame with exactly ``columns``: text columns as strings ('' when absent), numeric ones as floats."""
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in columns:
        if col in numeric:
            frame[col] = pd.to_numeric(frame[col])
        else:  # object dtype even when empty, so that .str works on a table with no rows
            frame[col] = pd.Series([("" if v is None or (isinstance(v, float) and v != v) else v) for v in frame[col]],
                                   index=frame.index, dtype=object)
    return frame


def link_reports(studies: pd.DataFrame) -> tuple[pd.Series, list[Problem]]:
    """Which study each item reports: the item key of the study's first report (``report_of``).

    Reports of one study are linked by ``same_study_as`` (another report's citation key or item
    key) in either direction and in chains; the study is named after its earliest report (then
    the lowest item key), so that adding a later report never renames it.  A link to no known
    item is reported and left out.
    """
    ids = list(studies["study_id"])
    lookup = {**dict(zip(studies["citation_key"], ids)), **{i: i for i in ids}}
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    problems = []
    for study_id, target in zip(ids, studies["same_study_as"]):
        for name in filter(None, (t.strip() for t in str(target).split(";"))):
            if name not in lookup:
                problems.append(Problem(study_id, 0, "same_study_as", f"{name!r} is neither the citation key nor "
                                        "the item key of an item in the library; the link was left out"))
                continue
            a, b = root(study_id), root(lookup[name])
            if a != b:
                parent[max(a, b)] = min(a, b)
    first = {}
    for study_id, year in sorted(zip(ids, studies["year"]), key=lambda p: (str(p[1]) or "9999", p[0])):
        first.setdefault(root(study_id), study_id)
    return pd.Series([first[root(i)] for i in ids], index=studies.index, dtype=object), problems


_COUNTS = tuple(f for f in RAW_FIELDS if f.startswith(("n_", "events_")))
_RAW_KINDS = {"binary": ("2x2 counts", BINARY_ARMS), "continuous": ("means and SDs", CONTINUOUS_ARMS)}


def effects_from_arms(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Estimates and 95% CIs computed from per-arm data with the statistics engine (metafor's escalc).

    A finding with raw data and no reported estimate gets the computed one; one with both keeps
    the reported estimate, and a difference beyond rounding is reported (an adjusted estimate,
    or a typo).  ``computed_from`` says which ("2x2 counts", "means and SDs", with "reported" when
    the reported figure stands).  Pure: returns a new frame and the problems.
    """
    from ._effects import Z95, on_log_scale
    from ._meta import binary_effects, continuous_effects

    outcomes = outcomes.copy()
    problems: list[Problem] = []
    for kind, (label, fields) in _RAW_KINDS.items():
        rows = outcomes[outcomes[list(fields)].notna().all(axis=1)
                        & (outcomes[list(RAW_FIELDS)].notna().sum(axis=1) == len(fields))]
        for measure, cell in rows.groupby("measure"):
            if kind == "binary":
                eff = binary_effects(measure, cell["events_peer"], ci=cell["events_comparison"],
                                     n1i=cell["n_peer"], n2i=cell["n_comparison"])
            else:
                eff = continuous_effects("SMD" if measure in ("SMD", "Hedges g") else measure, cell["mean_peer"],
                                         cell["sd_peer"], cell["n_peer"], cell["mean_comparison"],
                                         cell["sd_comparison"], cell["n_comparison"])
            log = on_log_scale(measure)
            half = Z95 * eff["vi"].to_numpy() ** 0.5
            yi = eff["yi"].to_numpy()
            computed = np.stack([yi, yi - half, yi + half], axis=1)
            computed = np.exp(computed) if log else computed
            for (index, row), (est, low, high) in zip(cell.iterrows(), computed):
                if pd.isna(row["estimate"]):
                    outcomes.loc[index, ["estimate", "ci_low", "ci_high"]] = [est, low, high]
                    outcomes.loc[index, "computed_from"] = label
                    continue
                outcomes.loc[index, "computed_from"] = f"reported; {label} agree"
                if abs(row["estimate"] - est) > max(0.0051, 0.0051 * abs(est)):  # beyond rounding to 2 places
                    outcomes.loc[index, "computed_from"] = f"reported; {label} give {est:.3g}"
                    problems.append(Problem(row["note_key"], int(row["note_line"]), "estimate",
                                            f"finding {row['finding_id']}: the reported {measure} {row['estimate']:g} "
                                            f"differs from {est:.3g} computed from the {label} (an adjusted "
                                            "estimate, or a typo?); the reported one is used", "warning"))
    return outcomes, problems


def derive_tables(coding: Coding, substate_regions: dict[str, dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Pure: the evidence tables from parsed coding, sorted and with fixed columns."""
    studies, link_problems = _studies_table(coding.studies, substate_regions)
    outcomes, raw_problems = _outcomes_table(coding.outcomes, studies)
    policy = _policy_table(coding.policy_facts)
    return {"studies.csv": studies, "outcomes.csv": outcomes, "state_policy.csv": policy,
            "regions.csv": _regions_table(substate_regions, studies, policy),
            "problems.csv": _problems_table([*coding.problems, *link_problems, *raw_problems]),
            "risk_of_bias.csv": _risk_of_bias_table(coding.risk_of_bias)}


def _studies_table(records: list[dict[str, Any]], substate_regions: dict[str, dict[str, Any]],
                   ) -> tuple[pd.DataFrame, list[Problem]]:
    """studies.csv: each study with the report it belongs to and the states it counts for, by item key."""
    studies = _records(records, STUDY_COLUMNS)
    studies["report_of"], link_problems = link_reports(studies)
    region_states = {r["region_id"]: r["state_code"] for r in region_records(substate_regions)}
    # A study in a sub-state region is a study in its state, whether or not us_state says so.
    studies["state_codes"] = pd.Series([
        "|".join(sorted({c for part in str(s).split(";") if (c := state_code(part)) and c != "US"}
                        | ({region_states[r]} if r in region_states else set())))
        for s, r in zip(studies["us_state"], studies["region"])
    ], index=studies.index, dtype=object)  # object even with no rows, so that .str works
    return studies.sort_values("study_id", kind="stable"), link_problems


def _outcomes_table(records: list[dict[str, Any]], studies: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """outcomes.csv: each finding with its effect (computed from per-arm data where it has them), its study's
    level of evidence and its sample sizes as whole numbers (text that is not one kept in ``sample_note``)."""
    outcomes = _records(records, OUTCOME_COLUMNS, numeric=("estimate", "ci_low", "ci_high", "note_line", *RAW_FIELDS))
    outcomes, raw_problems = effects_from_arms(outcomes)
    for col in _COUNTS:
        outcomes[col] = outcomes[col].astype("Int64")
    study_type = studies.set_index("study_id")["study_type"]
    outcomes["evidence_level"] = outcomes["study_id"].map(study_type).fillna("")
    outcomes["secondary"] = outcomes["source_type"].str.lower().str.startswith("secondary").astype(bool)
    outcomes["measure"] = outcomes["measure"].replace("", "narrative")
    raw_n = outcomes[["n_studies", "n_participants"]].astype(str)
    outcomes["sample_note"] = [
        "; ".join(f"{col}: {val}" for col, val in row.items() if val and pd.isna(_int_or_na(val)))
        for _, row in raw_n.iterrows()
    ]
    for col in ("n_studies", "n_participants"):
        outcomes[col] = pd.array([_int_or_na(v) for v in raw_n[col]], dtype="Int64")
    outcomes["note_line"] = outcomes["note_line"].astype("Int64")
    return outcomes.sort_values(["study_id", "finding_id"], kind="stable"), raw_problems


def _policy_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """state_policy.csv: each fact with its state's postal code and its topic, by state."""
    policy = _records(records, POLICY_COLUMNS)
    policy["state_code"] = policy["state"].map(state_code)
    policy["topic"] = policy["fact"].map(
        lambda f: next((t for pat, t in _TOPICS if re.search(pat, str(f), re.IGNORECASE)), "other")
    )
    return policy.sort_values(["state_code", "fact_id"], kind="stable")


def _regions_table(substate_regions: dict[str, dict[str, Any]], studies: pd.DataFrame,
                   policy: pd.DataFrame) -> pd.DataFrame:
    """regions.csv: every region with how many studies (region_studies) and policy facts it has."""
    regions = region_table(substate_regions)
    regions["n_local_studies"] = [  # studies, not reports: two reports of one trial count once
        int(region_studies(studies, r)["report_of"].nunique()) for r in regions.to_dict("records")
    ]
    regions["n_policy_facts"] = [int((policy["state_code"] == r.state_code).sum()) for r in regions.itertuples()]
    return regions[[*REGION_COLUMNS, "n_local_studies", "n_policy_facts"]]


def _problems_table(problems: list[Problem]) -> pd.DataFrame:
    """problems.csv: every problem once, sorted."""
    return pd.DataFrame(
        [{"item_key": p.item_key, "line": p.line, "field": p.field, "severity": p.severity, "message": p.message}
         for p in sorted(set(problems))],
        columns=PROBLEM_COLUMNS,
    )


def _risk_of_bias_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """risk_of_bias.csv: the domains in the tool's order, by study and finding."""
    risk_of_bias = _records(records, RISK_OF_BIAS_COLUMNS)
    risk_of_bias["note_line"] = risk_of_bias["note_line"].astype("Int64")
    return risk_of_bias.sort_values(["study_id", "finding_id"], kind="stable")


def validate_tables(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Validate every table lazily; return all failure cases (empty when the tables are valid)."""
    # pandera (and the dask it pulls in) costs about a second to import: only what validates pays it,
    # not every notebook kernel that loads the evidence.
    import pandera.errors

    from ._schemas import OutcomeSchema, PolicyFactSchema, RegionSchema, RiskOfBiasSchema, StudySchema

    schemas = {"studies.csv": StudySchema, "outcomes.csv": OutcomeSchema,
               "state_policy.csv": PolicyFactSchema, "regions.csv": RegionSchema, "risk_of_bias.csv": RiskOfBiasSchema}
    failures = []
    for name, schema in schemas.items():
        if name not in tables:  # a caller that checks some tables only (the Data quality page)
            continue
        try:
            schema.validate(tables[name], lazy=True)
        except pandera.errors.SchemaErrors as exc:
            cases = exc.failure_cases.copy()
            cases.insert(0, "file", name)
            failures.append(cases)
    columns = ["file", "schema_context", "column", "check", "failure_case", "index"]
    return pd.concat(failures)[columns] if failures else pd.DataFrame(columns=columns)


def typed_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    for col in ("estimate", "ci_low", "ci_high", *(c for c in RAW_FIELDS if c in outcomes)):
        outcomes[col] = pd.to_numeric(outcomes[col].replace("", None))
    for col in ("n_studies", "n_participants", "note_line"):
        outcomes[col] = pd.to_numeric(outcomes[col].replace("", None)).astype("Int64")
    outcomes["secondary"] = outcomes["secondary"] == "True"
    return outcomes

