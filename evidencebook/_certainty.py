"""Certainty of evidence (GRADE), with its reasons, and the review team's signed judgements.

Each summary-of-findings row is one question: an outcome domain and a comparison type.  Its
certainty is a chain: a start level by design, then GRADE's five domains (risk of bias,
inconsistency, indirectness, imprecision, publication bias), each with its rule, its
judgement and a sentence, then the bound set by the reviews' own GRADE ratings, then the
final level.  What the rules compute is a *proposal*; a reviewer signs a judgement off in
``evidence/judgements.toml`` (a file reviewed in a pull request, see :func:`load_judgements`),
and a signed judgement goes stale ("needs re-review") when the evidence under it changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._vocabulary import CERTAINTY
from ._cache import content_cache
from ._config import Settings
from ._display import e
from ._effects import no_effect, no_effects
from ._errors import EvidenceError, EvidencebookError
from ._synthesis import (FAVOURS_COMPARISON, FAVOURS_PEER, NOT_STATED, UNCLEAR, comparison_types, finding_directions,
                         review_findings, study_labels, study_votes)

__all__ = ["GRADE_DOMAINS", "LEVELS", "Chain", "certainty_chain", "certainty_in_force", "certainty_label", "judgement_status",
           "load_judgements", "question_fingerprint", "signed_judgements", "summary_of_findings"]

LEVELS = ("very low", "low", "moderate", "high")
GRADE_DOMAINS = ("risk of bias", "inconsistency", "indirectness", "imprecision", "publication bias")
_RANDOMISED = ("RCT", "cluster RCT")
_HIGH_RISK = ("high", "serious", "critical")
_LOW_QUALITY = ("low", "critically low")  # AMSTAR 2
MIN_PARTICIPANTS = 400  # GRADE's rule of thumb for the optimal information size of a continuous outcome
MIN_STUDIES_FOR_FUNNEL = 10


@dataclass(frozen=True)
class Step:
    """One link of the chain: a GRADE domain, its rule, the judgement, the change in levels and why."""

    domain: str
    rule: str
    judgement: str
    change: int
    reason: str


@dataclass(frozen=True)
class Chain:
    """Start level, the steps, and the final (proposed) level."""

    start: str
    start_reason: str
    steps: list[Step] = field(default_factory=list)
    final: str = ""

    def text(self) -> str:
        """The chain in one line: 'high (…) → risk of bias: serious, −1 (…) → … = low'."""
        if not self.steps:
            return f"{self.final}: {self.start_reason}"
        parts = [f"start {self.start} ({self.start_reason})"]
        for s in self.steps:
            change = f", {s.change:+d}" if s.change else ""
            parts.append(f"{s.domain}: {s.judgement}{change} ({s.reason})")
        return " → ".join(parts) + f" = {self.final}"


def _source_table(findings: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """The independent sources behind some findings: one row per primary study (reports joined) or review."""
    ids = list(dict.fromkeys(findings["study_id"]))
    # Only the columns read here: every column of 10,000 studies, as dicts, took most of a chapter's time.
    wanted = [c for c in ("study_id", "study_type", "report_of", "risk_of_bias", "review_quality", "design",
                          "design_type") if c in studies]
    meta = {r["study_id"]: r for r in studies.loc[studies["study_id"].isin(set(ids)), wanted].to_dict("records")}
    labels = study_labels(studies).to_dict()
    rows = {}
    for study_id in ids:
        s = meta[study_id]
        level = str(s.get("study_type", ""))
        key = str(s.get("report_of") or study_id) if level == "primary" else study_id
        if key in rows:
            continue
        rob = str(s.get("risk_of_bias", "")).split(" (")[0].strip() or "not assessed"
        quality = str(s.get("review_quality", "")).split(" (")[0].strip()
        design = f"{s.get('design', '')} {s.get('design_type', '')}"
        randomised = (s.get("design_type") in _RANDOMISED if level != "review"
                      else "rct" in design.lower() or "randomi" in design.lower())
        high = rob in _HIGH_RISK or (level == "review" and quality in _LOW_QUALITY)
        assessed = rob not in ("not assessed", "no information") or (level == "review" and bool(quality))
        rows[key] = {"source": key, "level": level, "randomised": bool(randomised), "high_risk": bool(high),
                     "assessed": bool(assessed), "risk_of_bias": rob, "review_quality": quality,
                     "label": labels.get(key, key)}
    return pd.DataFrame(list(rows.values()), columns=["source", "level", "randomised", "high_risk", "assessed",
                                                       "risk_of_bias", "review_quality", "label"])


def _names(labels: pd.Series, limit: int = 4) -> str:
    names = list(dict.fromkeys(str(x) for x in labels))
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _risk_of_bias(sources: pd.DataFrame) -> Step:
    rule = ("down 1 when over half the sources are at high risk of bias (RoB 2 high, ROBINS-I serious or critical), "
            "are reviews of low or critically low quality (AMSTAR 2), or are not assessed; down 2 when three "
            "quarters of two or more sources are at high risk")
    n = len(sources)
    high, unassessed = sources[sources["high_risk"]], sources[~sources["assessed"]]
    said = [f"{len(high)} of {n} at high risk or from low-quality reviews" + (f" ({_names(high['label'])})" if len(high) else ""),
            f"{len(unassessed)} of {n} not assessed"]
    if n >= 2 and len(high) >= 0.75 * n:
        return Step("risk of bias", rule, "very serious", -2, "; ".join(said))
    if n and len(high) + len(unassessed) > n / 2:
        return Step("risk of bias", rule, "serious", -1, "; ".join(said))
    return Step("risk of bias", rule, "not serious", 0, "; ".join(said))


def _inconsistency(votes: pd.DataFrame, reviews: pd.DataFrame, pooled: dict[str, Any] | None) -> Step:
    rule = ("down 1 when the independent studies, or the reviews, point in opposite directions with the smaller side "
            "above a quarter of those with a direction; for a pooled estimate, when I² is above 50% or the "
            "prediction interval includes no effect")
    if pooled is not None:
        null = no_effect(pooled["measure"])
        pi_crosses = pd.notna(pooled.get("pi_low")) and pooled["pi_low"] <= null <= pooled["pi_high"]
        reason = f"I² {pooled['I2']:.0f}%" + ("; the prediction interval includes no effect" if pi_crosses else "")
        if pooled["I2"] > 50 or pi_crosses:
            return Step("inconsistency", rule, "serious", -1, reason)
        return Step("inconsistency", rule, "not serious", 0, reason)
    said, serious, directed = [], False, 0
    review_votes = reviews.groupby("study_id")["vote"].agg(
        lambda v: v.mode().iloc[0] if len(set(v) - {UNCLEAR}) == 1 else UNCLEAR) if len(reviews) else pd.Series(dtype=object)
    for what, directions in (("studies", votes["vote"]), ("reviews", review_votes)):
        a, b = int((directions == FAVOURS_PEER).sum()), int((directions == FAVOURS_COMPARISON).sum())
        directed += a + b
        if a + b:
            said.append(f"{what}: {a} favour peer support, {b} the comparison")
        serious = serious or bool(a and b and min(a, b) / (a + b) > 0.25)
    if serious:
        return Step("inconsistency", rule, "serious", -1, "; ".join(said))
    if directed < 2:
        return Step("inconsistency", rule, "not assessed", 0, "fewer than two sources with a direction")
    return Step("inconsistency", rule, "not serious", 0, "; ".join(said))


def _indirectness(comparison: str, findings: pd.DataFrame) -> Step:
    rule = ("down 1 when the population, intervention, comparison or outcome differ from the question; findings "
            "of different comparison types are never combined")
    if comparison == NOT_STATED:
        return Step("indirectness", rule, "not assessed", 0,
                    f"the comparison type is not coded for these {len(findings)} findings, so whether peers were "
                    "added to care, replaced staff or were compared with another intervention is unknown")
    return Step("indirectness", rule, "not serious", 0,
                f"every finding compares peer support {comparison}; population and outcome as each source defines them")


def _imprecision(findings: pd.DataFrame, sources: pd.DataFrame, pooled: dict[str, Any] | None) -> Step:
    rule = (f"down 1 when the 95% CI includes no effect (for several estimates: when half or more do), or when "
            f"no estimate has a CI; down 1 more when the primary studies hold fewer than {MIN_PARTICIPANTS} "
            "participants in all")
    change, said = 0, []
    if pooled is not None:
        null = no_effect(pooled["measure"])
        crosses = pooled["ci_low"] <= null <= pooled["ci_high"]
        said.append(f"pooled 95% CI {pooled['ci_low']:.2f} to {pooled['ci_high']:.2f} "
                    + ("includes no effect" if crosses else "excludes no effect"))
        change -= int(crosses)
    else:
        with_ci = findings[findings["estimate"].notna()]
        null = no_effects(with_ci["measure"])
        crossing = int(((with_ci["ci_low"] <= null) & (with_ci["ci_high"] >= null)).sum())
        if with_ci.empty:
            said.append("no finding gives a 95% CI, so precision cannot be judged")
            change -= 1
        else:
            said.append(f"{crossing} of {len(with_ci)} 95% CIs include no effect")
            change -= int(crossing >= len(with_ci) / 2)
    if len(sources) and (sources["level"] == "primary").all():
        sizes = findings.groupby("study_id")["n_participants"].max() if "n_participants" in findings else pd.Series()
        known = sizes.dropna()
        if len(known) and known.sum() < MIN_PARTICIPANTS and len(known) == len(sizes):
            said.append(f"{int(known.sum())} participants in all")
            change -= 1
        elif len(known) < len(sizes):
            said.append(f"participants not coded for {len(sizes) - len(known)} of {len(sizes)} studies")
    change = max(change, -2)
    judgement = {0: "not serious", -1: "serious", -2: "very serious"}[change]
    return Step("imprecision", rule, judgement, change, "; ".join(said))


def _publication_bias(votes: pd.DataFrame, findings: pd.DataFrame) -> Step:
    rule = f"assessed with a funnel plot or Egger's test only from {MIN_STUDIES_FOR_FUNNEL} studies with an estimate"
    with_estimate = findings[findings["estimate"].notna() & findings["evidence_level"].eq("primary")]
    k = with_estimate["study_id"].nunique()
    if k < MIN_STUDIES_FOR_FUNNEL:
        return Step("publication bias", rule, "not assessed", 0,
                    f"{k} primary {'study' if k == 1 else 'studies'} with an estimate")
    return Step("publication bias", rule, "not assessed", 0,
                f"{k} primary studies with an estimate: see the funnel plot of each pooled group")


def certainty_chain(findings: pd.DataFrame, studies: pd.DataFrame, comparison: str = NOT_STATED,
                    pooled: dict[str, Any] | None = None) -> Chain:
    """The GRADE chain for one question's findings (or, with ``pooled``, for one pooled estimate)."""
    sources = _source_table(findings, studies)
    votes = study_votes(findings, studies)
    reviews = review_findings(findings, studies)
    randomised = int(sources["randomised"].sum())
    start = 3 if len(sources) and randomised >= len(sources) / 2 else 1
    start_reason = (f"{randomised} of {len(sources)} sources are randomised trials or reviews of them")
    steps = [_risk_of_bias(sources), _inconsistency(votes, reviews, pooled), _indirectness(comparison, findings),
             _imprecision(findings, sources, pooled), _publication_bias(votes, findings)]
    level = max(0, start + sum(s.change for s in steps))
    rated = reviews[reviews["review_certainty"].isin(CERTAINTY)] if "review_certainty" in reviews else reviews.iloc[:0]
    if pooled is None and len(rated):
        best = max(LEVELS.index(c) for c in rated["review_certainty"])
        by = _names(rated["label"] + ": " + rated["review_certainty"])
        bounded = level > best
        steps.append(Step("reviews' own GRADE", "an overview claims no more certainty than the best rating the "
                          "reviews give their own evidence", f"at most {LEVELS[best]}", best - level if bounded else 0,
                          by))
        level = min(level, best)
    return Chain(LEVELS[start], start_reason, steps, LEVELS[level])


SOF_COLUMNS = ["domain", "comparison_type", "findings", "sources", "favour_peer", "favour_comparison", "unclear", "studies",
               "reports", "study_votes_peer", "study_votes_comparison", "study_votes_unclear", "reviews",
               "review_findings", "effect_estimates", "proposed_certainty", "chain", "steps"]


# Summaries already worked out in this process, by content: a chapter page shows its summary three times (the
# plain-language box, the summary and the summary-of-findings table), and a kernel runs page after page.
_KEPT: dict[tuple[Any, ...], pd.DataFrame] = {}
_KEEP_AT_MOST = 16


def _content_key(frame: pd.DataFrame) -> bytes:
    """A digest of a frame's columns, index and every cell: equal frames, equal keys."""
    cells = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    return hashlib.sha256(repr(list(frame.columns)).encode() + cells).digest()


def summary_of_findings(outcomes: pd.DataFrame, studies: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """One row per question (outcome domain and comparison type) of the included studies' findings
    (:func:`_work_out_summary`), worked out once per content of ``outcomes`` and ``studies`` in a process."""
    try:
        studies_key: bytes | None = _content_key(studies)
        key: tuple[Any, ...] | None = (tuple(domains), _content_key(outcomes), studies_key)
    except TypeError:  # a cell pandas cannot hash (a list): work it out every time
        studies_key = key = None
    kept = _KEPT.get(key) if key is not None else None
    if kept is None:
        kept = _work_out_summary(outcomes, studies, domains, studies_key)
        if key is not None:
            while len(_KEPT) >= _KEEP_AT_MOST:
                _KEPT.pop(next(iter(_KEPT)))
            _KEPT[key] = kept
    return kept.copy()


def _question_row(domain: str, comparison: str, cell: pd.DataFrame, studies: pd.DataFrame) -> dict[str, Any]:
    """The summary-of-findings row of one question: its findings (``cell``, with ``_direction``) and the studies."""
    votes = study_votes(cell, studies)
    chain = certainty_chain(cell, studies, comparison)
    if cell["_direction"].eq(UNCLEAR).all() and cell["estimate"].isna().all():
        chain = Chain("not rated", "no finding here reports a direction or an estimate: descriptive findings "
                      "are not rated", [], "not rated")
    primary = cell[cell["evidence_level"] == "primary"]
    return {
        "domain": domain, "comparison_type": comparison, "findings": len(cell),
        "sources": len(_source_table(cell, studies)),
        "favour_peer": int((cell["_direction"] == FAVOURS_PEER).sum()),
        "favour_comparison": int((cell["_direction"] == FAVOURS_COMPARISON).sum()),
        "unclear": int((cell["_direction"] == UNCLEAR).sum()),
        "studies": len(votes), "reports": int(primary["study_id"].nunique()),
        "study_votes_peer": int((votes["vote"] == FAVOURS_PEER).sum()),
        "study_votes_comparison": int((votes["vote"] == FAVOURS_COMPARISON).sum()),
        "study_votes_unclear": int((votes["vote"] == UNCLEAR).sum()),
        "reviews": int(cell.loc[cell["evidence_level"] == "review", "study_id"].nunique()),
        "review_findings": int((cell["evidence_level"] == "review").sum()),
        "effect_estimates": int(cell["estimate"].notna().sum()),
        "proposed_certainty": chain.final, "chain": chain.text(), "steps": chain,
    }


def _row_json(row: dict[str, Any]) -> str:
    return json.dumps({**row, "steps": dataclasses.asdict(row["steps"])})


def _row_from_json(text: str) -> dict[str, Any]:
    row = json.loads(text)
    chain = row["steps"]
    row["steps"] = Chain(chain["start"], chain["start_reason"], [Step(**step) for step in chain["steps"]],
                         chain["final"])
    return dict(row)


def _work_out_summary(outcomes: pd.DataFrame, studies: pd.DataFrame, domains: list[str],
                      studies_key: bytes | None = None) -> pd.DataFrame:
    """One row per question (outcome domain and comparison type) of the included studies' findings.

    Every finding is counted in one of three directions (nothing is dropped); ``studies`` and
    the ``study_votes_*`` columns count independent primary studies (reports of one study
    once); reviews are counted apart and never vote.  ``proposed_certainty`` comes from
    :func:`certainty_chain` (``chain`` in words, ``steps`` as objects); ``sources`` counts every
    independent source (studies, reviews and gray literature).
    """
    included = set(studies.loc[studies["screening"].str.endswith(":include"), "study_id"])
    cells = outcomes[outcomes["domain"].isin(domains) & outcomes["study_id"].isin(included)]
    cells = cells.assign(comparison_type=comparison_types(cells), _direction=finding_directions(cells))
    order = {d: i for i, d in enumerate(domains)}
    kept = content_cache()
    if studies_key is None:  # ``studies_key``: the caller's digest of ``studies``, to hash them once
        try:
            studies_key = _content_key(studies)
        except TypeError:  # a cell pandas cannot hash (a list): nothing kept, every row worked out
            studies_key = None
    rows = []
    for (domain, comparison), cell in sorted(cells.groupby(["domain", "comparison_type"]),
                                             key=lambda g: (order[g[0][0]], g[0][1] == NOT_STATED, g[0][1])):
        # A question's row reads its own findings and the studies: kept under their content, so that a sync that
        # changes one question's findings synthesises that question again, in whichever process asks first.
        if studies_key is None:
            rows.append(_question_row(domain, comparison, cell, studies))
            continue
        question = json.dumps([domain, comparison])
        text = kept.get("question-" + hashlib.sha256(question.encode()).hexdigest()[:12],
                        question + _content_key(cell).hex() + studies_key.hex(),
                        lambda: _row_json(_question_row(domain, comparison, cell, studies)))
        rows.append(_row_from_json(text))
    return pd.DataFrame(rows, columns=SOF_COLUMNS)


# --- signed judgements ---------------------------------------------------------------------

JUDGEMENT_FIELDS = ("domain", "comparison_type", "certainty", "signed_by", "signed_on", "evidence_version", "reasons")
_FINGERPRINT_OUTCOMES = ("finding_id", "study_id", "domain", "comparison_type", "measure", "estimate", "ci_low",
                         "ci_high", "better", "direction", "review_certainty", "n_participants")
_FINGERPRINT_STUDIES = ("study_id", "screening", "study_type", "design", "design_type", "risk_of_bias",
                        "review_quality", "report_of")


def load_judgements(path: Path) -> pd.DataFrame:
    """The signed certainty judgements in ``path`` (TOML, ``[[judgement]]`` tables), checked.

    The file lives in the repository, not in Zotero: a sign-off is the review team's decision,
    made in a pull request that others review, attributable in git history, and out of reach of
    a library member's edit.  A missing file means nothing is signed yet.
    """
    if not path.is_file():
        return pd.DataFrame(columns=JUDGEMENT_FIELDS)
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("judgement", [])
    except tomllib.TOMLDecodeError as exc:
        raise EvidenceError(f"{path}: not valid TOML ({exc})") from None
    rows = []
    for number, entry in enumerate(entries, 1):
        missing = [f for f in JUDGEMENT_FIELDS if f not in entry and f != "comparison_type"]
        if missing:
            raise EvidenceError(f"{path}: judgement {number} lacks {', '.join(missing)}")
        if entry["certainty"] not in LEVELS:
            raise EvidenceError(f"{path}: judgement {number}: certainty {entry['certainty']!r} is not one of "
                                f"{', '.join(LEVELS)}")
        signed_on = entry["signed_on"]
        rows.append({**{f: entry.get(f, "") for f in JUDGEMENT_FIELDS},
                     "comparison_type": entry.get("comparison_type") or NOT_STATED,
                     "signed_on": signed_on.isoformat() if isinstance(signed_on, dt.date) else str(signed_on),
                     "evidence_version": int(entry["evidence_version"])})
    return pd.DataFrame(rows, columns=JUDGEMENT_FIELDS)


def question_fingerprint(outcomes: pd.DataFrame, studies: pd.DataFrame, domain: str, comparison: str) -> str:
    """A hash of everything one question's certainty rests on: its findings and their studies' coding.

    Columns an older evidence version did not have count as empty, so that adding a column
    to the tables does not make every signed judgement stale.
    """
    included = set(studies.loc[studies["screening"].str.endswith(":include"), "study_id"])
    cell = outcomes[outcomes["domain"].eq(domain) & outcomes["study_id"].isin(included)]
    return cell_fingerprint(cell[comparison_types(cell) == comparison], studies)


def cell_fingerprint(cell: pd.DataFrame, studies: pd.DataFrame) -> str:
    """:func:`question_fingerprint` of a question's included findings (``cell``), already picked out."""
    rows = cell.reindex(columns=list(_FINGERPRINT_OUTCOMES)).astype(str).replace({"nan": "", "<NA>": ""})
    meta = studies[studies["study_id"].isin(set(cell["study_id"]))].reindex(columns=list(_FINGERPRINT_STUDIES))
    text = (rows.sort_values("finding_id").to_csv(index=False)
            + meta.astype(str).replace({"nan": ""}).sort_values("study_id").to_csv(index=False))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def judgement_status(signed_fingerprint: str | None, current_fingerprint: str) -> str:
    """'signed' while the evidence under a judgement is what it was signed on, else 'needs re-review'.

    ``signed_fingerprint`` is :func:`question_fingerprint` on the version the judgement names
    (None when that version is not kept: it cannot be checked, so it needs re-review).
    """
    return "signed" if signed_fingerprint == current_fingerprint else "needs re-review"


def signed_judgements(settings: Settings, outcomes: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """The signed judgements in ``evidence/judgements.toml``, each with its status against these
    findings: 'signed', or 'needs re-review' when what it rests on changed since the version it names."""
    from ._evidence import load_version

    judgements = load_judgements(settings.evidence / "judgements.toml")
    status = []
    for j in judgements.to_dict("records"):
        try:
            old = load_version(settings, int(j["evidence_version"]))
            then = question_fingerprint(old.outcomes, old.studies, j["domain"], j["comparison_type"])
        except EvidencebookError:
            then = None
        now = question_fingerprint(outcomes, studies, j["domain"], j["comparison_type"])
        status.append(judgement_status(then, now))
    return judgements.assign(status=status)


def certainty_in_force(sof: pd.DataFrame, judgements: pd.DataFrame | None) -> tuple[str, int, int]:
    """Over the rated questions of a summary of findings, the certainty in force: the review team's judgement
    while it stands signed, else the rules' proposal.  Returns its span ("low", "very low to moderate"), how
    many questions are rated and how many of those are signed; ``("", 0, 0)`` when none is rated.

    ``judgements`` is :func:`signed_judgements` (with each one's status), or None for proposals only."""
    judged = {} if judgements is None else {(j["domain"], j["comparison_type"]): j
                                            for j in judgements.to_dict("records")}
    levels, signed = [], 0
    for row in sof.itertuples():
        j = judged.get((row.domain, row.comparison_type or NOT_STATED))
        if j is not None and j["status"] == "signed":
            levels.append(j["certainty"])
            signed += 1
        elif row.proposed_certainty != "not rated":
            levels.append(row.proposed_certainty)
    if not levels:
        return "", 0, 0
    low, high = min(levels, key=LEVELS.index), max(levels, key=LEVELS.index)
    return (low if low == high else f"{low} to {high}"), len(levels), signed


def certainty_label(proposed: str, judgement: dict[str, Any] | None) -> str:
    """A certainty as HTML: a signed judgement looks different from a proposal, and a stale one says so."""
    if not judgement:
        return (f'<span class="eb-certainty eb-proposed" title="computed by the rules; not yet signed off by a '
                f'reviewer">proposed: {e(proposed)}</span>')
    who = (f"{e(judgement['signed_by'])}, {e(judgement['signed_on'])}, on evidence version "
           f"{e(judgement['evidence_version'])}")
    if judgement["status"] != "signed":
        return (f'<span class="eb-certainty eb-stale">needs re-review</span> signed {e(judgement["certainty"])} by '
                f"{who}; the evidence under it has changed since. "
                f'<span class="eb-certainty eb-proposed">proposed now: {e(proposed)}</span>')
    differs = (f" (the rules propose {e(proposed)})" if proposed != judgement["certainty"] else "")
    return (f'<span class="eb-certainty eb-signed">{e(judgement["certainty"])}</span> signed off by {who}'
            f"{differs}: {e(judgement['reasons'])}")
