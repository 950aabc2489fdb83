"""A brief's words: the bottom line in plain language, the national summary and the headline table.

What is the same for every region (:func:`national_summary`, with :func:`headline_html` in it) is built
here from one summary of findings (:func:`headline_summary`), the chapters' own counts; so are the plain
words a finding is told in (:data:`PLAIN`, :func:`finding_result`, :func:`result_words`) and the small text
helpers every part of a brief uses (:func:`shorten`, :func:`count_words`, :func:`join_words`,
:func:`optional_item`).

Heavy imports (pandas) happen inside the functions that need them, so that a worker's start stays cheap.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import pandas as pd

    from ._display import HTML
    from ._evidence import Evidence

__all__: list[str] = []

HEADLINE_DOMAINS = ["recovery", "hope", "empowerment", "quality of life", "hospitalisation", "crisis/ED use",
                    "engagement", "substance use", "symptoms", "cost"]


def shorten(text: object, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary (never inside a word) and ended with
    an ellipsis when shortened.  A first word longer than ``limit`` is kept whole: a cut word misleads."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit].rsplit(" ", 1)[0] if " " in text[: limit + 1] else text.split(" ", 1)[0]
    return cut.rstrip(" ,;:(-") + "…"


def optional_item(rank: int, group: str) -> str:
    """The attributes of an item the two printed pages may hold back (the highest rank first); the page shows it."""
    return f' class="eb-optional" data-eb-rank="{rank}" data-eb-group="{group}"'


# --- the bottom line, in plain words ------------------------------------------------------------

# Each outcome domain in plain words: what it is called, what a finding for peer support means, what one against
# means.  Findings are counted by direction (for, against, unclear), so the words say which way, never how much.
PLAIN: dict[str, tuple[str, str, str]] = {
    "recovery": ("recovery", "better recovery", "worse recovery"),
    "hope": ("hope", "more hope", "less hope"),
    "empowerment": ("empowerment", "more empowerment", "less empowerment"),
    "quality of life": ("quality of life", "better quality of life", "worse quality of life"),
    "hospitalisation": ("hospital stays", "fewer hospital stays", "more hospital stays"),
    "crisis/ED use": ("crisis care", "less crisis care", "more crisis care"),
    "engagement": ("staying in care", "more people staying in care", "fewer people staying in care"),
    "substance use": ("substance use", "better substance use results", "worse substance use results"),
    "symptoms": ("symptoms", "fewer symptoms", "more symptoms"),
    "cost": ("costs", "lower costs", "higher costs"),
}
_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def count_words(n: int, noun: str) -> str:
    """'one study', 'two studies', '12 studies' (small numbers in words, as plain English writes them)."""
    word = _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)
    plural = noun if n == 1 else (noun[:-1] + "ies" if noun.endswith("y") else noun + "s")
    return f"{word} {plural}"


def join_words(items: list[str], last: str = "and") -> str:
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {last} " + items[-1] if items else ""


def headline_summary(evidence: "Evidence") -> "pd.DataFrame":
    """The summary of findings over the headline domains (GRADE chains over every question): what the bottom
    line, the certainty of local findings and the headline table are all read from."""
    from ._certainty import summary_of_findings

    domains = set(evidence.outcomes["domain"])
    return summary_of_findings(evidence.outcomes, evidence.studies, [d for d in HEADLINE_DOMAINS if d in domains])


def national_sentences(evidence: "Evidence", judgements: "pd.DataFrame | None",
                       sof: "pd.DataFrame | None" = None) -> list[str]:
    """What peer support does and how sure the evidence is, in two plain sentences built from the summary of
    findings (the chapters' counts; ``sof``, :func:`headline_summary`, when the caller has it): the three domains
    with most findings where most favour peer support, how many independent studies and reviews those findings
    come from, and the certainty of those questions as it stands (a proposal says so)."""
    from ._certainty import certainty_in_force
    from ._synthesis import included_findings

    outcomes, studies = evidence.outcomes, evidence.studies
    sof = headline_summary(evidence) if sof is None else sof
    if sof.empty:
        return ["No findings on what peer support does are coded yet."]
    per_domain = sof.groupby("domain", sort=False)[["findings", "favour_peer", "favour_comparison"]].sum()
    favoured = per_domain[per_domain["favour_peer"] * 2 > per_domain["findings"]]
    top = favoured.sort_values("findings", ascending=False, kind="stable").head(3)
    if top.empty:
        return ["No outcome has most of its findings in favour of peer support."]
    found = included_findings(outcomes, studies)
    found = found[found["domain"].isin(set(top.index))]
    report_of = dict(zip(studies["study_id"], studies["report_of"].where(studies["report_of"].ne(""),
                                                                         studies["study_id"])))
    n_studies = found.loc[found["evidence_level"] == "primary", "study_id"].map(report_of).nunique()
    n_reviews = found.loc[found["evidence_level"] == "review", "study_id"].nunique()
    sources = ", ".join(c for c in (count_words(n_studies, "study") if n_studies else "",
                                    count_words(n_reviews, "review") if n_reviews else "") if c)
    first = f"Most findings favour peer support on {join_words([PLAIN[d][0] for d in top.index])} ({sources})."
    # How sure: the certainty of every rated question of those domains, signed where the team signed it.
    span, rated, signed = certainty_in_force(sof[sof["domain"].isin(set(top.index))], judgements)
    if not rated:
        return [first, "No certainty is rated for these yet."]
    if signed == rated:
        how = f"How sure we can be: {span} (signed off by the review team)."
    elif signed == 0:
        how = f"How sure we can be: {span} (proposed)."
    else:
        how = f"How sure we can be: {span} ({signed} of {rated} ratings signed off, the rest proposed)."
    return [first, how]


def finding_result(row: Mapping[str, Any]) -> tuple[str, str]:
    """What one finding found, as (direction, statistic): the direction is 'for' (favours peer support),
    'against' (favours the comparison) or 'none' (no clear difference, or unclear); the statistic is the
    estimate with its interval, or the statistic the source reports.  An estimate whose interval holds no
    effect is 'none', whatever side its point falls on: the words never claim more than the interval."""
    import math

    from ._effects import no_effect

    estimate, low, high = (row.get(k) for k in ("estimate", "ci_low", "ci_high"))
    measure, better = str(row.get("measure", "") or ""), str(row.get("better", "") or "")

    def number(value: Any) -> float | None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    estimate, low, high = number(estimate), number(low), number(high)
    if estimate is not None:
        stat = f"{measure} {estimate:g}" + (f" (95% CI {low:g} to {high:g})" if low is not None and high is not None
                                            else "")
        null = no_effect(measure)
        if low is not None and high is not None and low <= null <= high:
            return "none", stat
        if better in ("higher", "lower") and estimate != null:
            return ("for" if (estimate > null) == (better == "higher") else "against"), stat
        return "none", stat
    stat = str(row.get("reported_statistic", "") or "")
    direction = str(row.get("direction", "") or "").lower()
    if direction.startswith("favours peer") and "not statistically significant" not in direction:
        return "for", stat
    if direction.startswith(("favours control", "favours comparison")):
        return "against", stat
    return "none", stat


def result_words(domain: str, direction: str) -> str:
    noun, better, worse = PLAIN.get(domain, (domain, f"better {domain}", f"worse {domain}"))
    return better if direction == "for" else worse if direction == "against" else f"no clear difference in {noun}"


def national_summary(evidence: "Evidence", judgements: "pd.DataFrame | None") -> str:
    """The parts of a brief that are the same for every region, from one summary of findings (JSON): the
    bottom line's national sentences, each question's certainty as the chapters label it, and the headline
    table.  One summary for all three: computing it is most of a first brief's time."""
    from ._certainty import certainty_label

    sof = headline_summary(evidence)
    judged = {} if judgements is None else {(j["domain"], j["comparison_type"]): j
                                            for j in judgements.to_dict("records")}
    certainty = {f"{r.domain}|{r.comparison_type}": certainty_label(r.proposed_certainty,
                                                                    judged.get((r.domain, r.comparison_type)))
                 for r in sof.itertuples()}
    return json.dumps({"sentences": national_sentences(evidence, judgements, sof), "certainty": certainty,
                       "headline": str(headline_html(evidence, judgements, sof))})


def headline_html(evidence: "Evidence", judgements: "pd.DataFrame | None" = None,
                  sof: "pd.DataFrame | None" = None) -> "HTML":
    """The chapters' summary of findings, in short: the same counts and certainty as the book shows
    (``sof``, :func:`headline_summary`, when the caller has it; it is not changed)."""
    from ._certainty import certainty_label
    from ._display import HTML, html_table
    from ._synthesis import NOT_STATED

    sof = (headline_summary(evidence) if sof is None else sof).copy()
    if sof.empty:
        return HTML("<p>No findings are coded yet.</p>")
    judged = {} if judgements is None else {(j["domain"], j["comparison_type"]): j
                                            for j in judgements.to_dict("records")}
    sof["question"] = [d if c == NOT_STATED else f"{d} ({c})"
                       for d, c in zip(sof["domain"], sof["comparison_type"])]
    sof["counted"] = [f"{a} / {b} / {c}" for a, b, c in zip(sof["favour_peer"], sof["favour_comparison"], sof["unclear"])]
    sof["studies_cell"] = [f"{a} / {b} / {c}" if s else "none" for a, b, c, s in
                           zip(sof["study_votes_peer"], sof["study_votes_comparison"], sof["study_votes_unclear"],
                               sof["studies"])]
    sof["certainty"] = [certainty_label(p, judged.get((d, c)))
                        for p, d, c in zip(sof["proposed_certainty"], sof["domain"], sof["comparison_type"])]
    table = html_table(sof, {"question": "Outcome", "counted": "Findings: for / against / unclear",
                             "studies_cell": "Studies: for / against / unclear", "reviews": "Reviews",
                             "certainty": "Certainty"}, safe=("certainty",))
    return HTML("<p>Every finding in the review, counted by its direction: for peer support, for the comparison, "
                "or unclear. <em>Studies</em> counts independent primary studies once each (reports of one study "
                "joined); reviews share trials, so they are listed but never counted as votes. This shows the "
                "direction of effects, not their size. A certainty marked <em>proposed</em> is computed from the "
                "coding and awaits the review team's sign-off; the full reasons are in the book's chapters.</p>"
                + table)

