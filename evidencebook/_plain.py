"""What we found, in plain words: the box at the top of the introduction and of each outcome chapter.

The sentences are built from the chapter's own summary of findings (:func:`._certainty.summary_of_findings`):
every finding counted in one of its three directions (a null result is "no clear effect", never dropped), the
independent studies, reviews and reports it comes from, and how sure we can be, a proposal said to be one and a
signed judgement said to be signed.  They say which way and how many, never how much: no statistics words.
The word helpers are the briefs' (their bottom line is built the same way), so the two never drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from ._brief_text import HEADLINE_DOMAINS, PLAIN, count_words, join_words, national_sentences
from ._display import HTML, e

if TYPE_CHECKING:
    import pandas as pd

    from ._config import Settings
    from ._evidence import Evidence

__all__ = ["INTRO_DOMAINS", "MAX_SENTENCES", "certainty_sentence", "chapter_box", "domain_sentence", "intro_box",
           "intro_sentences", "what_we_found", "what_we_found_box"]

MAX_SENTENCES = 5
# The introduction speaks of what peer support does, as the briefs' bottom line does: the same domains.
INTRO_DOMAINS = tuple(HEADLINE_DOMAINS)
# Domains the briefs never name, in the words a reader would use.
_MORE_NOUNS = {"service use": "use of services", "housing": "housing", "employment": "jobs",
               "workforce": "the peer workforce", "other": "other outcomes"}
# Each evidence level of a source as a reader calls it (gray literature: reports, guides, web pages).
PROPOSED = "Proposed means our rules set the rating and the review team has not yet signed it off."
_SOURCE_NOUNS = (("primary", "study"), ("review", "review"), ("gray literature", "report"))


def noun(domain: str) -> str:
    """An outcome domain in plain words ('hospitalisation' -> 'hospital stays')."""
    return PLAIN[domain][0] if domain in PLAIN else _MORE_NOUNS.get(domain, domain)


def _number(n: int) -> str:
    """A count at the start of a clause: 'none', 'one', ..., '12' (count_words's numbers, without a noun)."""
    return "none" if n == 0 else count_words(n, "x").rsplit(" ", 1)[0]


def _verb(n: int, verb: str) -> str:
    """'one favours peer support', 'two favour peer support': the count and its verb in agreement."""
    first, rest = verb.split(" ", 1)
    return f"{_number(n)} {first + 's' if n == 1 else first} {rest}"


def source_counts(findings: "pd.DataFrame", studies: "pd.DataFrame") -> dict[str, int]:
    """The independent sources of some findings, by level: reports of one study count once (as the votes do)."""
    report_of = dict(zip(studies["study_id"], studies["report_of"].where(studies["report_of"].ne(""),
                                                                         studies["study_id"])))
    counts = {}
    for level, _ in _SOURCE_NOUNS:
        ids = findings.loc[findings["evidence_level"] == level, "study_id"]
        counts[level] = (ids.map(report_of) if level == "primary" else ids).nunique()
    return counts


def source_parts(counts: Mapping[str, int]) -> list[str]:
    """['five studies', 'three reviews'] (levels with none left out)."""
    return [count_words(counts[level], word) for level, word in _SOURCE_NOUNS if counts.get(level, 0)]


def domain_sentence(domains: list[str], favour: int, against: int, unclear: int, sources: str) -> str:
    """One sentence for one domain (or a few small ones together): how many findings point which way.

    'Hospital stays: 9 of 11 findings favour peer support and 2 show no clear effect (4 studies, 3 reviews).'
    Every finding is in one of the three parts; a part with none is left out, since the parts add up to the whole.
    """
    total = favour + against + unclear
    name = join_words([noun(d) for d in domains])
    name = name[:1].upper() + name[1:]
    parts = []
    if favour:
        parts.append("all favour peer support" if favour == total else _verb(favour, "favour peer support"))
    if against:
        parts.append("all favour the other care" if against == total else _verb(against, "favour the other care"))
    if unclear:
        parts.append("none shows a clear effect" if unclear == total else _verb(unclear, "show no clear effect"))
    if total == 1:  # 'one finding (one study): it favours peer support'
        said = {"all favour peer support": "it favours peer support", "all favour the other care":
                "it favours the other care", "none shows a clear effect": "it shows no clear effect"}[parts[0]]
        return f"{name}: one finding ({sources}); {said}."
    return f"{name}: {count_words(total, 'finding')} ({sources}); {join_words(parts)}."


def certainty_sentence(sof: "pd.DataFrame", judgements: "pd.DataFrame | None") -> str:
    """How sure we can be, over the rated questions of ``sof``: the lowest to the highest level, with whether the
    review team signed them off (a signed judgement counts only while the evidence under it is unchanged)."""
    from ._certainty import certainty_in_force

    span, rated, signed = certainty_in_force(sof, judgements)
    if not rated:
        return "None of these findings is rated for how sure we can be."
    if signed == rated:
        return f"How sure we can be: {span} (signed off by the review team)."
    if signed == 0:
        return f"How sure we can be: {span} (proposed by our rules, not yet signed off)."
    return f"How sure we can be: {span} ({signed} of {rated} ratings signed off, the rest proposed)."


def what_we_found(evidence: "Evidence", domains: list[str], judgements: "pd.DataFrame | None" = None) -> list[str]:
    """The chapter's findings in at most :data:`MAX_SENTENCES` plain sentences: one per domain (in the chapter's
    order; beyond three, the rest share one), then how sure we can be."""
    from ._certainty import summary_of_findings
    from ._synthesis import included_findings

    sof = summary_of_findings(evidence.outcomes, evidence.studies, list(domains))
    if sof.empty:
        return ["No findings are coded here yet."]
    counts = sof.groupby("domain", sort=False)[["favour_peer", "favour_comparison", "unclear"]].sum()
    groups: list[list[str]] = [[d] for d in counts.index]
    if len(groups) > MAX_SENTENCES - 1:
        groups = groups[: MAX_SENTENCES - 2] + [[d for g in groups[MAX_SENTENCES - 2:] for d in g]]
    found = included_findings(evidence.outcomes, evidence.studies)
    said = []
    for group in groups:
        favour, against, unclear = (int(x) for x in counts.loc[group].sum())
        sources = ", ".join(source_parts(source_counts(found[found["domain"].isin(group)], evidence.studies)))
        said.append(domain_sentence(group, favour, against, unclear, sources))
    return [*said, certainty_sentence(sof, judgements)]


def intro_sentences(evidence: "Evidence", judgements: "pd.DataFrame | None" = None) -> list[str]:
    """The introduction's box: the briefs' national bottom line (where most findings favour peer support, and how
    sure we can be), with every finding on what peer support does counted in its three directions."""
    from ._certainty import summary_of_findings
    from ._synthesis import included_findings

    domains = [d for d in INTRO_DOMAINS if d in set(evidence.outcomes["domain"])]
    sof = summary_of_findings(evidence.outcomes, evidence.studies, domains)
    if sof.empty:
        return ["No findings on what peer support does are coded yet."]
    favour, against, unclear = (int(sof[c].sum()) for c in ("favour_peer", "favour_comparison", "unclear"))
    found = included_findings(evidence.outcomes, evidence.studies)
    sources = join_words(source_parts(source_counts(found[found["domain"].isin(domains)], evidence.studies)))
    total = favour + against + unclear
    counted = [f"We found {count_words(total, 'finding')} on what peer support does, from {sources}.",
               f"Of these, {_verb(favour, 'favour peer support')}, {_verb(against, 'favour the other care')} and "
               f"{_verb(unclear, 'show no clear effect')}."]
    national = national_sentences(evidence, judgements)
    said = [*counted, *national[:2]] if len(national) > 1 else [*counted, *national, certainty_sentence(sof, judgements)]
    if "proposed" in said[-1]:  # the briefs' short "(proposed)" needs its one line of explaining here
        said.append(PROPOSED)
    return said


def what_we_found_box(sentences: list[str]) -> HTML:
    """The sentences in a box headed 'What we found' (escaped; no width of its own, so it fits a phone)."""
    if len(sentences) > MAX_SENTENCES:
        raise ValueError(f"a 'What we found' box holds at most {MAX_SENTENCES} sentences, not {len(sentences)}")
    return HTML('<div class="eb-what-we-found" role="note" aria-label="What we found" style="border-left:4px solid '
                '#2a6f97;padding:0.25em 1em;margin:1em 0"><p><strong>What we found</strong></p>'
                f"<p>{e(' '.join(sentences))}</p></div>")


def chapter_box(evidence: "Evidence", domains: list[str], settings: "Settings | None" = None) -> HTML:
    """The box at the top of an outcome chapter, with the review team's signed judgements when ``settings``."""
    return what_we_found_box(what_we_found(evidence, domains, _judgements(evidence, settings)))


def intro_box(evidence: "Evidence", settings: "Settings | None" = None) -> HTML:
    """The box at the top of the introduction."""
    return what_we_found_box(intro_sentences(evidence, _judgements(evidence, settings)))


def _judgements(evidence: "Evidence", settings: "Settings | None") -> "pd.DataFrame | None":
    from ._certainty import signed_judgements

    return None if settings is None else signed_judgements(settings, evidence.outcomes, evidence.studies)
