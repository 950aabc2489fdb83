"""Declared schemas of the evidence tables (pandera), also the data dictionary.

Each class is one file of the evidence base.  ``evidencebook check`` validates all of them
lazily and reports every failing cell; the loaders validate on read.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from ._rob_sections import ROB_DOMAINS, ROB_JUDGEMENTS
from ._vocabulary import (CERTAINTY, COMPARISON_TYPES, DESIGN_TYPES, DOMAINS, MEASURES, PEER_ROLES, POPULATION_GROUPS,
                          RATIO_MEASURES, SETTING_TYPES, STUDY_TYPES, THEMES)

__all__ = ["OutcomeSchema", "PolicyFactSchema", "RegionSchema", "RiskOfBiasSchema", "StudySchema"]


def _pandas_types_only() -> None:
    """Have pandera find the Series and Index types of pandas (and of what it finds already imported) only.

    Building a model's schema checks each annotation against the Series and Index types of every dataframe
    library installed, found once per process; looking for Dask's tries ``import dask.dataframe``: half a
    second of every sync, and in this project's environment it fails anyway (Dask is installed for the briefs'
    scale-out; its dataframes need pyarrow).  These tables are pandas.  A process that has imported pandera's
    Dask types itself is left as it is.
    """
    import sys
    import types

    from pandera import typing

    name = "pandera.typing.dask"
    finders = [getattr(typing, f, None) for f in ("get_index_types", "get_series_types")]
    if name in sys.modules or None in finders:  # (another pandera finds the types its own way)
        return
    sys.modules[name] = stub = types.ModuleType(name)
    stub.DASK_INSTALLED = False  # type: ignore[attr-defined]
    try:
        for find in finders:
            find()  # kept by pandera (functools.lru_cache) for the process
    finally:
        del sys.modules[name]


_pandas_types_only()

_KEY = r"^[23456789ABCDEFGHIJKLMNPQRSTUVWXYZ]{8}$"
_VOTE = r"(TA|FT):(resolved:)?(include|exclude|maybe)(@[A-Za-z][A-Za-z0-9._-]*)?"


class StudySchema(pa.DataFrameModel):
    """One row per Zotero item screened for the review (policy sources excluded)."""

    study_id: Series[str] = pa.Field(unique=True, str_matches=_KEY, description="Zotero item key")
    citation_key: Series[str] = pa.Field(unique=True, description="BibTeX key used in the book")
    authors: Series[str] = pa.Field(nullable=True)
    year: Series[str] = pa.Field(nullable=True, description="publication year as 4 digits, or empty")
    title: Series[str]
    screening: Series[str] = pa.Field(str_matches=r"^((TA|FT):(include|exclude|maybe|conflict)|unscreened)$",
                                      description="the decision at the last stage reached (full text beats "
                                                  "title/abstract); conflict: reviewers disagree, not resolved")
    screening_votes: Series[str] = pa.Field(
        str_matches=rf"^({_VOTE}(\|{_VOTE})*)?$",
        description="every screening tag, '|'-separated: stage:decision@reviewer, stage:resolved:decision@reviewer "
                    "for a resolution; no @ when the tag names no reviewer")
    study_type: Series[str] = pa.Field(nullable=True, isin=[*STUDY_TYPES, ""])
    population_group: Series[str] = pa.Field(nullable=True, isin=[*POPULATION_GROUPS, ""])
    design_type: Series[str] = pa.Field(nullable=True, isin=[*DESIGN_TYPES, ""])
    setting_type: Series[str] = pa.Field(nullable=True, isin=[*SETTING_TYPES, ""])
    peer_role: Series[str] = pa.Field(nullable=True, isin=[*PEER_ROLES, ""])
    state_codes: Series[str] = pa.Field(nullable=True, description="postal codes of the US states studied, '|'-separated")
    report_of: Series[str] = pa.Field(str_matches=_KEY, description="item key of the first report of the same study")

    class Config:
        strict = False
        coerce = True


class OutcomeSchema(pa.DataFrameModel):
    """One row per finding; effect findings carry an estimate with its 95% CI, narrative ones do not."""

    finding_id: Series[str] = pa.Field(unique=True)
    study_id: Series[str] = pa.Field(str_matches=_KEY)
    domain: Series[str] = pa.Field(isin=list(DOMAINS))
    measure: Series[str] = pa.Field(isin=list(MEASURES))
    theme: Series[str] = pa.Field(isin=["", *THEMES])
    comparison_type: Series[str] = pa.Field(isin=["", *COMPARISON_TYPES])
    review_certainty: Series[str] = pa.Field(isin=["", *CERTAINTY], description="the review's own GRADE rating")
    estimate: Series[float] = pa.Field(nullable=True)
    ci_low: Series[float] = pa.Field(nullable=True)
    ci_high: Series[float] = pa.Field(nullable=True)
    quote: Series[str] = pa.Field(str_length={"min_value": 1})

    @pa.dataframe_check
    def ci_contains_estimate(cls, df: pd.DataFrame) -> Series[bool]:
        return df["estimate"].isna() | ((df["ci_low"] <= df["estimate"]) & (df["estimate"] <= df["ci_high"]))

    @pa.dataframe_check
    def estimate_has_ci(cls, df: pd.DataFrame) -> Series[bool]:
        cols = df[["estimate", "ci_low", "ci_high"]].notna()
        return cols.all(axis=1) | ~cols.any(axis=1)

    @pa.dataframe_check
    def ratio_measures_positive(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df["measure"].isin(RATIO_MEASURES) | (df["ci_low"] > 0)

    class Config:
        strict = False
        coerce = True


# (tool, domain id, domain) for every domain of every tool, and each tool's overall row
_ROB_DOMAIN_ROWS = {(tool, f"D{n}", name) for tool, names in ROB_DOMAINS.items() for n, name in enumerate(names, 1)} | {
    (tool, "overall", "overall") for tool in ROB_DOMAINS}


class RiskOfBiasSchema(pa.DataFrameModel):
    """One row per domain judged with RoB 2 or ROBINS-I, and one for the overall judgement, per study (or per
    study and finding, when the judgements differ by outcome)."""

    study_id: Series[str] = pa.Field(str_matches=_KEY)
    finding_id: Series[str] = pa.Field(nullable=True, description="the finding judged; empty for the whole study")
    tool: Series[str] = pa.Field(isin=list(ROB_DOMAINS))
    domain_id: Series[str] = pa.Field(str_matches=r"^(D[1-7]|overall)$", description="D1, D2, ... in the tool's order")
    domain: Series[str] = pa.Field(isin=sorted({name for _, _, name in _ROB_DOMAIN_ROWS}))
    judgement: Series[str] = pa.Field(isin=sorted({j for js in ROB_JUDGEMENTS.values() for j in js}))
    reason: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def domain_belongs_to_the_tool(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series([row in _ROB_DOMAIN_ROWS for row in zip(df["tool"], df["domain_id"], df["domain"])],
                         index=df.index, dtype=bool)

    @pa.dataframe_check
    def judgement_from_the_tools_vocabulary(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series([j in ROB_JUDGEMENTS.get(t, ()) for t, j in zip(df["tool"], df["judgement"])],
                         index=df.index, dtype=bool)

    @pa.dataframe_check
    def each_domain_judged_once(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["study_id", "finding_id", "domain_id"], keep=False)

    class Config:
        strict = False
        coerce = True


class PolicyFactSchema(pa.DataFrameModel):
    """One row per sourced state or federal policy fact."""

    fact_id: Series[str] = pa.Field(unique=True)
    state: Series[str]
    state_code: Series[str] = pa.Field(str_matches=r"^([A-Z]{2})?$")
    fact: Series[str]
    quote: Series[str] = pa.Field(str_length={"min_value": 1})
    source_url: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = False
        coerce = True


class RegionSchema(pa.DataFrameModel):
    """Every region a brief can be made for."""

    region_id: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z0-9-]+$")
    name: Series[str]
    kind: Series[str] = pa.Field(isin=["state", "district", "sub-state"])
    state_code: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$")

    class Config:
        strict = False
        coerce = True
