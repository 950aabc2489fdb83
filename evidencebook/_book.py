"""The book's pages about the findings: the Studies page (every included study with its coding and
quotes, :func:`study_entries`), each outcome chapter's summary, summary of findings, study votes,
reviews side by side, findings table and forest plots with their pooled estimates, and the
implementation themes.

Pages are notebooks that stay thin: each code cell calls one page function and displays the HTML
it returns.  The policy pages are in :mod:`._book_policy`; the pages about the evidence base itself
(gap map and PRISMA flow, data quality, What's new) in :mod:`._book_quality`; which pages exist, and
how they are executed and built, in :mod:`._pages`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._config import Settings
from ._display import HTML, e, html_table, interval, link, record_url, study_label
from ._evidence import Evidence
from ._plots import figure_html, forest_alt_text, forest_plot, funnel_plot
from ._certainty import certainty_label, signed_judgements, summary_of_findings
from ._synthesis import (CUMULATIVE_STUDIES, DIRECTIONS, NOT_STATED, POOLING_METHOD, VOTE_RULE, citation_matrix, comparison_types,
                         corrected_covered_area, cumulative_by_year, domain_findings, effect_rows, finding_directions,
                         included_findings, overlap_reading, pooled_groups, review_findings, study_votes, vote_count)

__all__ = ["FOREST_ROWS", "STUDY_ENTRIES_IN_FULL", "TABLE_ROWS", "VOTE_ROWS", "data_file_link", "findings_table", "forest_figure", "implementation_themes", "outcome_summary",
           "pooled_table", "review_overview", "sof_table", "study_anchor", "study_entries", "study_votes_table"]


def _study_label(row: Any) -> str:
    return study_label(row["authors"], row["title"], row["year"])


def study_anchor(citation_key: str) -> str:
    """The id of a study's entry on the Studies page (stable: the citation key)."""
    return "study-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in citation_key)


def _study_link(row: Any, studies_page: str = "../studies.html") -> str:
    """A link to the study's entry (its coding and quotes) on the Studies page."""
    return f'<a href="{e(studies_page)}#{e(study_anchor(row["citation_key"]))}">{e(_study_label(row))}</a>'


def _tokens(values: Any) -> list[str]:
    """The distinct non-empty values, sorted: a study's domains or state codes, an option list."""
    return sorted({str(v) for v in values if isinstance(v, str) and v.strip()})


def _select(name: str, label: str, everything: str, options: list[tuple[str, str]]) -> str:
    """A labelled drop-down of the study filter; its first option (value "") filters nothing."""
    items = "".join(f'<option value="{e(value)}">{e(text)}</option>' for value, text in options)
    return (f'<div class="eb-filter-field"><label for="eb-filter-{name}">{e(label)}</label>'
            f'<select id="eb-filter-{name}" name="{name}"><option value="">{e(everything)}</option>{items}</select></div>')


def _study_filter_form(domains: list[str], designs: list[str], states: list[str]) -> HTML:
    """The Studies page's filter (domain, design, US state, words) and its pages of results.

    Rendered ``hidden``: ``_static/study-filter.js`` shows it and does the filtering, so a reader without
    JavaScript sees every study and no control that does nothing. ``states`` are postal codes.
    """
    from ._regions import STATE_NAMES

    words = ('<div class="eb-filter-field"><label for="eb-filter-q">Words (author, title, outcome)</label>'
             '<input type="search" id="eb-filter-q" name="q" autocomplete="off"></div>')
    fields = (words + _select("domain", "Outcome domain", "Every domain", [(d, d) for d in domains])
              + _select("design", "Design", "Every design", [(d, d) for d in designs])
              + _select("state", "US state", "Every state",
                        sorted(((c, STATE_NAMES.get(c, c)) for c in states), key=lambda option: option[1])))
    form = (f'<form class="eb-study-filter" role="search" aria-label="Filter the studies" hidden>'
            f'<div class="eb-filter-fields">{fields}<div class="eb-filter-field eb-filter-reset">'
            '<button type="reset">Show every study</button></div></div>'
            '<p class="eb-filter-count" role="status" aria-live="polite"></p></form>')
    return HTML(form)


_STUDY_PAGES = ('<nav class="eb-study-pages" aria-label="Pages of studies" hidden>'
                '<button type="button" data-step="-1">Previous page</button>'
                '<span class="eb-page-number"></span>'
                '<button type="button" data-step="1">Next page</button></nav>')


# Past this many included studies the Studies page lists each study compactly (see study_entries): in full, an
# entry is about 2.5 KB, and 10,000 of them made a 25 MB page.
STUDY_ENTRIES_IN_FULL = 2000


def study_entries(evidence: Evidence, library: dict[str, Any] | None = None,
                  in_full: int | None = None) -> HTML:
    """Every included study with its coding, its Zotero item and each finding with the quoted passage,
    under a filter by domain, design, US state and words, with pages of results (``_static/study-filter.js``).

    Each entry has a stable anchor (see :func:`study_anchor`) that tables elsewhere link to, and carries
    what the filter reads: ``data-domains`` (its findings' outcome domains), ``data-design`` (its design type)
    and ``data-states`` (postal codes), lists separated by "|". Its coding and findings are folded in a
    ``<details>`` so that a page of thousands of studies stays light to lay out.

    With more than ``in_full`` (:data:`STUDY_ENTRIES_IN_FULL`) included studies, each entry is compact: its
    record, design, US states and each finding's outcome and result (each finding keeps its anchor); a note
    at the top says that the full coding and the quoted passages are in the site's data files.
    """
    library = library or evidence.manifest.get("zotero", {})
    online = library.get("library_id") not in (None, 0)
    prefix = f"https://www.zotero.org/{library.get('library_type', 'group')}s/{library.get('library_id')}/items/"
    outcomes = evidence.outcomes
    fields = [("design", "Design"), ("design_type", "Design type"), ("population", "Population"),
              ("population_group", "Population group"), ("setting", "Setting"), ("peer_role", "Peer role"),
              ("country", "Country"), ("us_state", "US state"), ("risk_of_bias", "Risk of bias"),
              ("screening", "Screening"), ("confidence", "Confidence")]
    parts = []
    all_domains: set[str] = set()
    all_designs: set[str] = set()
    all_states: set[str] = set()
    by_study: dict[str, list[Any]] = {}  # one pass over the findings, not one filter per study
    for finding in outcomes.itertuples(index=False):  # named tuples: 50,000 dicts took 5 s
        by_study.setdefault(finding.study_id, []).append(finding)
    included = evidence.included
    compact = len(included) > (STUDY_ENTRIES_IN_FULL if in_full is None else in_full)
    reports: dict[str, list[dict[str, Any]]] = {}  # a study's reports, under its first report
    for r in included.to_dict("records"):
        reports.setdefault(r.get("report_of") or r["study_id"], []).append(r)
    for study in included.sort_values(["authors", "year"]).itertuples():
        row = study._asdict()
        first = getattr(study, "report_of", "") or study.study_id
        group = reports.get(first, [])
        if len(group) > 1:
            others = ", ".join(_study_link(r, "") for r in group if r["study_id"] != study.study_id)
            row_note = (f"<p><strong>One study, {len(group)} reports:</strong> counted once in every vote, count "
                        f"and brief; its other report{'s' if len(group) > 2 else ''}: {others}.</p>")
        else:
            row_note = ""
        item = (f'<a href="{e(prefix + study.study_id)}" rel="noopener">Zotero item {e(study.study_id)}</a>'
                if online else f"Zotero item {e(study.study_id)}")
        source = link("full text / record", record_url(study.doi, study.url))
        findings = by_study.get(study.study_id, [])
        domains = _tokens(f.domain for f in findings)
        all_domains.update(domains)
        states = _tokens(study.state_codes.split("|") if isinstance(study.state_codes, str) else [])
        all_states.update(states)
        design = study.design_type if isinstance(study.design_type, str) else ""
        all_designs.update(_tokens([design]))
        opening = (f'<section class="eb-study" id="{e(study_anchor(study.citation_key))}" '
                   f'data-domains="{e("|".join(domains))}" data-design="{e(design)}" '
                   f'data-states="{e("|".join(states))}">'
                   f"<h3>{e(_study_label(row))}: {e(study.title)}</h3>")
        if compact:
            coded = " · ".join(e(v) for v in (design, study.us_state) if isinstance(v, str) and v)
            listed = "; ".join(f'<span id="finding-{e(f.finding_id)}"><strong>{e(f.finding_id)}</strong> '
                               f"{e(f.outcome)}: {e(_brief_result(f))}</span>" for f in findings)
            parts.append(f"{opening}<p>{item} · {source} · cite as <code>{e(study.citation_key)}</code>"
                         f"{' · ' + coded if coded else ''}</p>{row_note}"
                         f"<p>{_plural(len(findings), 'finding')}{': ' + listed if listed else ''}.</p></section>")
            continue
        coding = "".join(f"<dt>{e(label)}</dt><dd>{e(row[name])}</dd>" for name, label in fields if row.get(name))
        if study.confidence == "low":
            coding += f"<dt>Why low confidence</dt><dd>{e(study.confidence_reason)}</dd>"
        items = []
        for f in findings:
            result = _result(f, "95% CI ") if pd.notna(f.estimate) else f.reported_statistic or "narrative finding"
            items.append(f'<li id="finding-{e(f.finding_id)}"><strong>{e(f.finding_id)}</strong> {e(f.outcome)} '
                         f"({e(f.domain)}): {e(result)}. “{e(f.quote)}” "
                         f"({link(f.source_type or 'source', f.source_url)}; note line {e(f.note_line)})</li>")
        parts.append(f"{opening}<p>{item} · {source} · "
                     f"cite as <code>{e(study.citation_key)}</code></p>{row_note}"
                     f"<details><summary>Coding and {_plural(len(findings), 'finding')}</summary><dl>{coding}</dl>"
                     f"<ul>{''.join(items) or '<li>No findings coded.</li>'}</ul></details></section>")
    form = _study_filter_form(sorted(all_domains), sorted(all_designs), sorted(all_states))
    note = ""
    if compact:
        note = (f'<p class="eb-rows-not-shown"><strong>Each study is listed compactly:</strong> this review has '
                f"{_plural(len(included), 'included study', 'included studies')}, so each is shown with its record, "
                "design, US state and each finding's outcome and result. Every study's full coding (population, "
                "setting, peer role, risk of bias, screening, confidence) and every finding's quoted passage, with "
                'the page it was read from, are in the data files <a href="../data/studies.csv">studies.csv</a> and '
                '<a href="../data/outcomes.csv">outcomes.csv</a> (also as <a href="../data/studies.json">'
                'studies.json</a> and <a href="../data/findings.json">findings.json</a>).</p>')
    return HTML(f'{note}{form}<div class="eb-study-list">{"".join(parts)}</div>{_STUDY_PAGES}')


def _brief_result(f: Any) -> str:
    """A finding's result in few words: its estimate and CI, or the statistic it reports."""
    if pd.isna(f.estimate):
        return f.reported_statistic or "narrative finding"
    return f"{f.measure} {f.estimate:.2f} ({f.ci_low:.2f} to {f.ci_high:.2f})"


def _plural(n: int, one: str, many: str = "") -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


# A page's table shows at most this many rows per group (a direction of effect, a question): past it, the table
# a browser must lay out grows with the review (21 MB of findings on one chapter at 10,000 studies), and no
# reader scrolls it. The rows not shown stay counted everywhere, and the note under the table says how many
# there are and where they are.
TABLE_ROWS = 200
VOTE_ROWS = 50


def data_file_link(studies_page: str, name: str) -> str:
    """A link to one of the site's data files (``data/<name>``, published beside ``book/``), from a page that
    links the Studies page as ``studies_page``."""
    folder = studies_page[: -len("studies.html")] if studies_page.endswith("studies.html") else ""
    return f'<a href="{e(folder)}../data/{e(name)}">{e(name)}</a>'


def newest_rows(table: pd.DataFrame, by: list[str], years: pd.Series, limit: int) -> tuple[pd.DataFrame, list[tuple[Any, int, int]]]:
    """At most ``limit`` rows of each group of ``table`` (by the columns ``by``): all of a group that has no more,
    else its newest (by ``years``, aligned with ``table``; ties in table order). Returns the rows kept, in
    table order, and per group (its key, rows shown, rows in all) in order of appearance."""
    keys = table[by].apply(tuple, axis=1) if len(table) else pd.Series(dtype=object)
    kept, counts = [], []
    for key in dict.fromkeys(keys):
        group = table[keys == key]
        if len(group) > limit:
            order = pd.to_numeric(years.loc[group.index], errors="coerce").fillna(-1)
            group = group.loc[order.sort_values(ascending=False, kind="stable").index[:limit]]
        kept.append(group)
        counts.append((key, len(group), int((keys == key).sum())))
    return (table[table.index.isin(pd.concat(kept).index)] if kept else table), counts


def _directions_sentence(a: int, b: int, c: int, one: str, many: str) -> str:
    """'8 favour peer support, 0 favour the comparison, 3 direction unclear, of 11 findings'."""
    return (f"{a} favour peer support, {b} favour the comparison, {c} direction unclear, "
            f"of {_plural(a + b + c, one, many)}")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def outcome_summary(evidence: Evidence, domains: list[str]) -> HTML:
    """What the findings of each domain show, counted honestly: every finding in one of three directions,
    one vote per independent primary study (with its sign test), and reviews side by side."""
    sof = summary_of_findings(evidence.outcomes, evidence.studies, domains)
    if sof.empty:
        return HTML("<p>The evidence base has no findings in this domain yet.</p>")
    findings = included_findings(domain_findings(evidence.outcomes, domains), evidence.studies)
    items = []
    for r in sof.itertuples():
        cell = findings[(findings["domain"] == r.domain) & (comparison_types(findings) == r.comparison_type)]
        votes = study_votes(cell, evidence.studies)
        said = [f"<strong>Findings:</strong> {_directions_sentence(r.favour_peer, r.favour_comparison, r.unclear, 'finding', 'findings')}."]
        if len(votes):
            count = vote_count(votes)
            test = (f" Share favouring peer support {round(100 * count['share'])}% (95% CI "
                    f"{round(100 * count['ci_low'])} to {round(100 * count['ci_high'])}%), sign test p = "
                    f"{count['p']:.2g}, over {_plural(count['total'], 'study', 'studies')} with a direction."
                    if count["total"] else "")
            said.append(f"<strong>Independent primary studies:</strong> {_directions_sentence(count['benefit'], count['harm'], count['unclear'], 'study', 'studies')}"
                        + (f" (from {_plural(r.reports, 'report')})" if r.reports != r.studies else "") + f".{test}")
        if r.reviews:
            said.append(f"<strong>Reviews:</strong> {_plural(r.reviews, 'review')} "
                        f"report{'s' if r.reviews == 1 else ''} "
                        f"{_plural(r.review_findings, 'finding')}, shown side by side below; they share primary "
                        "trials, so they are neither pooled nor vote-tested together.")
        said.append(f"<strong>Certainty (proposed):</strong> {e(r.proposed_certainty)}.")
        items.append(f"<li><strong>{e(_capital(r.domain))}</strong> (comparison: {e(r.comparison_type)})"
                     f"<ul>{''.join(f'<li>{s}</li>' for s in said)}</ul></li>")
    return HTML(f"<ul>{''.join(items)}</ul><p><em>How votes are counted:</em> {e(VOTE_RULE)} Vote counting shows "
                "the direction of effects, not their size.</p>")


def sof_table(evidence: Evidence, domains: list[str], settings: Settings | None = None) -> HTML:
    """Summary of findings: one row per question (domain and comparison type), every finding counted, and
    the certainty with its chain of reasons; signed-off judgements shown apart from proposals."""
    table = summary_of_findings(evidence.outcomes, evidence.studies, domains)
    if table.empty:
        return HTML("<p>No findings yet.</p>")
    signed = (signed_judgements(settings, evidence.outcomes, evidence.studies) if settings is not None
              else pd.DataFrame(columns=["domain", "comparison_type"]))
    judged = {(j["domain"], j["comparison_type"]): j for j in signed.to_dict("records")}
    rows = table.assign(
        question=[f"{d} ({c})" for d, c in zip(table["domain"], table["comparison_type"])],
        counted=[f"{a} / {b} / {c}" for a, b, c in zip(table["favour_peer"], table["favour_comparison"], table["unclear"])],
        studies_cell=[f"{a} / {b} / {c}" + (f" ({n} reports)" if n != s else "") if s else "none"
                      for a, b, c, s, n in zip(table["study_votes_peer"], table["study_votes_comparison"],
                                               table["study_votes_unclear"], table["studies"], table["reports"])],
        certainty=[certainty_label(p, judged.get((d, c))) for p, d, c in
                   zip(table["proposed_certainty"], table["domain"], table["comparison_type"])])
    parts = [html_table(rows, {"question": "Outcome (comparison)", "findings": "Findings",
                               "counted": "Favour peer support / the comparison / unclear",
                               "studies_cell": "Independent studies: favour / against / unclear",
                               "reviews": "Reviews (side by side)", "certainty": "Certainty"},
                        safe=("certainty",),
                        caption="Every finding is counted in one of three directions. Studies vote once each "
                                "(reports of one study joined); reviews never vote.")]
    for r in table.itertuples():
        chain = r.steps
        steps = pd.DataFrame([{"domain": "start", "rule": "randomised trials (and reviews of them) start high, "
                                                          "other designs low", "judgement": chain.start,
                               "change": "", "reason": chain.start_reason}]
                             + [{"domain": s.domain, "rule": s.rule, "judgement": s.judgement,
                                 "change": f"{s.change:+d}" if s.change else "0", "reason": s.reason}
                                for s in chain.steps]
                             + [{"domain": "final", "rule": "", "judgement": chain.final, "change": "", "reason": ""}])
        parts.append(f"<h4>Why {e(r.domain)} ({e(r.comparison_type)}) is rated {e(chain.final)}</h4>"
                     + html_table(steps, {"domain": "GRADE step", "judgement": "Judgement", "change": "Levels",
                                          "reason": "Why", "rule": "Rule"}))
    return HTML("".join(parts))


def study_votes_table(evidence: Evidence, domains: list[str], studies_page: str = "../studies.html") -> HTML:
    """Each independent primary study's vote per domain and comparison, with the findings it rests on."""
    findings = included_findings(domain_findings(evidence.outcomes, domains), evidence.studies)
    votes = study_votes(findings, evidence.studies)
    if votes.empty:
        return HTML("<p>No primary study in these domains yet: the evidence is review-level only.</p>")
    studies = {s["study_id"]: s for s in evidence.studies.to_dict("records")}
    years = pd.Series([studies[k]["year"] for k in votes["study"]], index=votes.index)
    votes, counts = newest_rows(votes, ["domain", "comparison_type"], years, VOTE_ROWS)
    votes = votes.assign(
        study_link=[" + ".join(_study_link(studies[k], studies_page) for k in reports.split("|"))
                    for reports in votes["reports"]],
        finding_links=[", ".join(f'<a href="{e(studies_page)}#finding-{e(f)}">{e(f)}</a>' for f in fs.split("|"))
                       for fs in votes["findings"]])
    table = html_table(votes, {"domain": "Domain", "comparison_type": "Comparison",
                               "study_link": "Study (its reports)", "finding_links": "Findings", "vote": "Vote",
                               "rule": "How the vote was picked"}, safe=("study_link", "finding_links"))
    cut = [(key, shown, total) for key, shown, total in counts if shown < total]
    if not cut:
        return table
    said = "; ".join(f"{e(domain)} ({e(comparison)}): the {shown:,} newest of {_plural(total, 'vote')}"
                     for (domain, comparison), shown, total in cut)
    return HTML(f"{table}<p class=\"eb-rows-not-shown\"><strong>Not every vote is listed:</strong> this table shows, "
                f"per question, at most the {VOTE_ROWS} newest studies' votes: {said}. "
                f"{_plural(sum(total - shown for _, shown, total in cut), 'vote')} not listed here are counted in the "
                f"summaries above; each study's findings, from which its vote follows by the rule above, are in the "
                f"data file {data_file_link(studies_page, 'outcomes.csv')} and under the study on the "
                f'<a href="{e(studies_page)}">Studies page</a>.</p>')


def review_overview(evidence: Evidence, domains: list[str], studies_page: str = "../studies.html") -> HTML:
    """Review-level findings side by side, with each review's quality and own certainty, and their overlap
    (corrected covered area) where the reviews' included studies are coded."""
    findings = included_findings(domain_findings(evidence.outcomes, domains), evidence.studies)
    reviews = review_findings(findings, evidence.studies)
    if reviews.empty:
        return HTML("<p>No review-level findings in these domains.</p>")
    studies = {s["study_id"]: s for s in evidence.studies.to_dict("records")}
    reviews = reviews.sort_values(["domain", "comparison_type", "label"]).assign(
        review=[_study_link(studies[k], studies_page) for k in reviews.sort_values(
            ["domain", "comparison_type", "label"])["study_id"]],
        result=[_result(r) for r in reviews.sort_values(["domain", "comparison_type", "label"]).itertuples()])
    parts = [html_table(reviews, {"domain": "Domain", "comparison_type": "Comparison", "review": "Review",
                                  "review_quality": "Review quality (AMSTAR 2)", "outcome": "Outcome",
                                  "result": "Result", "vote": "Direction", "review_certainty": "Review's own GRADE"},
                        safe=("review",))]
    for domain in dict.fromkeys(reviews["domain"]):
        ids = list(dict.fromkeys(reviews.loc[reviews["domain"] == domain, "study_id"]))
        matrix = citation_matrix(evidence.studies, ids)
        if len(ids) < 2:
            continue
        if matrix.shape[1] < 2:
            parts.append(f"<p><strong>{e(_capital(domain))}:</strong> overlap not assessed: the primary studies "
                         f"included by these {len(ids)} reviews are not coded "
                         "(the <code>includes</code> field), so how many trials they share is unknown.</p>")
            continue
        cca = corrected_covered_area(matrix)
        parts.append(f"<p><strong>{e(_capital(domain))}:</strong> {matrix.shape[1]} reviews include "
                     f"{matrix.shape[0]} primary studies ({int(matrix.to_numpy().sum())} inclusions): corrected covered "
                     f"area {100 * cca:.1f}%, {overlap_reading(cca)} overlap (Pieper et al. 2014)"
                     + (f"; {len(ids) - matrix.shape[1]} more review(s) do not code their included studies"
                        if len(ids) > matrix.shape[1] else "") + ".</p>")
        shown = matrix.replace({True: "✓", False: ""}).rename_axis("study").reset_index()
        parts.append(html_table(shown, {c: c for c in shown.columns}, caption=f"Citation matrix: {domain}"))
    return HTML("".join(parts))


def _arms(r: Any) -> str:
    """The per-arm data a finding's estimate was computed from (or checked against), in words."""
    def get(name: str) -> Any:
        value = getattr(r, name, None)
        return None if value is None or pd.isna(value) else value

    if get("events_peer") is not None:
        return f"{get('events_peer')}/{get('n_peer')} vs {get('events_comparison')}/{get('n_comparison')}"
    if get("mean_peer") is not None:
        return (f"mean {get('mean_peer'):g} (SD {get('sd_peer'):g}, n {get('n_peer')}) vs {get('mean_comparison'):g} "
                f"(SD {get('sd_comparison'):g}, n {get('n_comparison')})")
    return ""


def _result(r: Any, ci_words: str = "") -> str:
    """A finding's result: its estimate and CI, with where it came from when computed from raw data."""
    if pd.isna(r.estimate):
        return r.reported_statistic or "narrative"
    text = f"{r.measure} {r.estimate:.2f} ({ci_words}{r.ci_low:.2f} to {r.ci_high:.2f})"
    source = str(getattr(r, "computed_from", "") or "")
    if source:
        text += (f", computed from {source}: {_arms(r)}" if not source.startswith("reported")
                 else f"; {source.removeprefix('reported; ')}: {_arms(r)}")
    return text


def findings_table(evidence: Evidence, domains: list[str], narrative_only: bool = False,
                   studies_page: str = "../studies.html") -> HTML:
    """Every finding in ``domains`` in three groups (favours peer support, the comparison, unclear), with its
    study, estimate or statistic, comparison and the quoted passage."""
    findings = domain_findings(evidence.outcomes, domains)
    if narrative_only:
        findings = findings[findings["estimate"].isna()]
    findings = included_findings(findings, evidence.studies)
    findings = findings.assign(counted=finding_directions(findings), comparison_type=comparison_types(findings))
    order = {d: i for i, d in enumerate(DIRECTIONS)}
    studies = {s["study_id"]: s for s in evidence.studies.to_dict("records")}  # thousands of rows: no .loc per row
    rows = []
    for r in findings.sort_values(["counted", "evidence_level", "finding_id"],
                                  key=lambda c: c.map(order) if c.name == "counted" else c).itertuples():
        s = studies[r.study_id]
        flags = [f for f in ("secondary source" if r.secondary else "",
                             f"low confidence: {s['confidence_reason']}" if s["confidence"] == "low" else "") if f]
        rows.append({"counted": r.counted, "study": _study_link(s, studies_page), "finding": r.finding_id,
                     "outcome": r.outcome, "level": r.evidence_level, "comparison": r.comparison_type,
                     "result": _result(r), "direction": r.direction, "quote": r.quote, "flags": "; ".join(flags),
                     "url": r.source_url, "year": s["year"]})
    table = pd.DataFrame(rows, columns=["counted", "study", "finding", "outcome", "level", "comparison", "result",
                                        "direction", "quote", "flags", "url", "year"])
    table, counts = newest_rows(table, ["counted"], table["year"], TABLE_ROWS)
    headers = {"counted": "Counted as", "study": "Study", "finding": "Finding", "outcome": "Outcome", "level": "Level",
               "comparison": "Comparison", "result": "Result", "direction": "Direction (as reported)",
               "quote": "Quoted passage", "flags": "Flags"}
    shown = html_table(table, headers, links={"quote": "url"}, safe=("study",))
    if all(kept == total for _, kept, total in counts):
        return shown
    said = ", ".join(f"{'all ' if kept == total else f'the {kept:,} newest of '}{_plural(total, 'finding')} "
                     f"counted as {e(counted)}" for (counted,), kept, total in counts)
    total = sum(n for _, _, n in counts)
    return HTML(f"{shown}<p class=\"eb-rows-not-shown\"><strong>Not every finding is listed:</strong> this table shows at "
                f"most the {TABLE_ROWS} newest findings (by study year) of each direction: {said}. All "
                f"{_plural(total, 'finding')} are counted in the summaries above; "
                f"{_plural(total - sum(k for _, k, _ in counts), 'finding')} not listed here are, each with its "
                f"quoted passage, in the data file {data_file_link(studies_page, 'outcomes.csv')} (and "
                f"{data_file_link(studies_page, 'findings.json')}) and under their studies on the "
                f'<a href="{e(studies_page)}">Studies page</a>.</p>')


NOT_PLOTTED_NAMED = 20  # estimates not plotted (no direction coded) named under a plot; the rest are counted
FOREST_ROWS = 40  # more rows than this make a plot no one can read (and one that takes a minute to draw)


def pooled_table(pooled: pd.DataFrame, certainty: list[str] | None = None) -> HTML:
    """The pooled estimates, one row per synthesis group and comparison: k, estimate, 95% CI, prediction
    interval, tau², I², and the pooled estimate's own certainty."""
    rows = pooled.assign(ci=[interval(a, b) for a, b in zip(pooled["ci_low"], pooled["ci_high"])],
                         pi=[interval(a, b) for a, b in zip(pooled["pi_low"], pooled["pi_high"])],
                         est=pooled["estimate"].map("{:.2f}".format), t2=pooled["tau2"].map("{:.3g}".format),
                         i2=pooled["I2"].map("{:.0f}%".format), k=pooled["k"].astype(int),
                         certainty=certainty or [""] * len(pooled),
                         note=["with 2 studies the t(1) interval is extremely wide; read it as 'too few studies'"
                               if k == 2 else "" for k in pooled["k"]])
    return html_table(rows, {"synthesis_group": "Synthesis group", "comparison_type": "Comparison",
                             "measure": "Measure", "k": "k", "est": "Pooled estimate", "ci": "95% CI",
                             "pi": "Prediction interval", "t2": "tau²", "i2": "I²", "certainty": "Certainty",
                             "note": "Note"}, safe=("certainty",),
                      caption=f"Random-effects pooled estimates ({POOLING_METHOD}), harmonised so that values "
                              "above no effect favour peer support.")


def forest_figure(evidence: Evidence, domains: list[str], scale: str, title: str) -> HTML:
    """Forest plots of the estimates on one scale in ``domains``, one per comparison type, pooled where
    primary studies allow.

    Past :data:`FOREST_ROWS` estimates a plot shows the newest ones only (the caption says so)
    and the pooled estimates move to the table, which always lists them all.
    """
    from ._certainty import certainty_chain

    findings = included_findings(domain_findings(evidence.outcomes, domains), evidence.studies)
    all_effects = effect_rows(findings, evidence.studies, scale)
    unclear = all_effects[all_effects["h_estimate"].isna()]
    all_effects = all_effects[all_effects["h_estimate"].notna()]
    if all_effects.empty:
        return HTML(f"<p>No estimates on this scale ({e(scale)}) yet.</p>")
    parts = []
    comparisons = list(dict.fromkeys(sorted(all_effects["comparison_type"], key=lambda c: (c == NOT_STATED, c))))
    for comparison in comparisons:
        effects = all_effects[all_effects["comparison_type"] == comparison]
        plot_title = title if len(comparisons) == 1 else f"{title}: peer support {comparison}"
        pooled = pooled_groups(effects)
        pooled_note = (f"{len(pooled)} pooled estimate(s) ({POOLING_METHOD})." if len(pooled) else
                       "Nothing is pooled: pooling needs two or more primary studies coded with the same synthesis "
                       "group, comparison type and measure, and none are yet; review-level estimates are never "
                       "pooled.")
        shown, drawn_pooled = effects, pooled
        if len(effects) > FOREST_ROWS:
            shown, drawn_pooled = effects.head(FOREST_ROWS), pooled.iloc[:0]
            pooled_note += (f" The plot shows the {FOREST_ROWS} newest of {len(effects):,} estimates; every estimate "
                            "is in the table of findings below (past its "
                            f"{TABLE_ROWS} newest rows per direction, in the data file outcomes.csv), and the pooled "
                            "estimates in the table under the plot.")
        flipped = int(shown["flipped"].sum())
        caption = (f"{plot_title}. Each row is one estimate with its 95% CI, harmonised so that values right of the "
                   "dashed line favour peer support"
                   + (f"; {flipped} row(s) marked 'flipped' measure an outcome where lower is better, so their "
                      "difference is negated or their ratio inverted (the table of findings gives each as reported)"
                      if flipped else "") + f". {pooled_note}")
        parts.append(figure_html(forest_plot(shown, scale, plot_title, drawn_pooled),
                                 forest_alt_text(shown, plot_title, drawn_pooled), caption))
        if len(pooled):
            certainty = []
            for r in pooled.to_dict("records"):
                members = effects[(effects["synthesis_group"] == r["synthesis_group"])
                                  & (effects["measure"] == r["measure"]) & (effects["evidence_level"] == "primary")]
                chain = certainty_chain(members, evidence.studies, comparison, pooled=r)
                certainty.append(f'{certainty_label(chain.final, None)}<br><small>{e(chain.text())}</small>')
            parts.append(pooled_table(pooled, certainty))
        for r in pooled.itertuples():
            group = effects[effects["synthesis_group"] == r.synthesis_group]
            moves = cumulative_by_year(effects, r.synthesis_group, comparison)
            per_year = int(moves["k"].iloc[-1]) > CUMULATIVE_STUDIES
            parts.append(f"<h4>How the pooled estimate for {e(r.synthesis_group)} ({e(comparison)}) moved as "
                         f"studies arrived{', year by year' if per_year else ''}</h4>")
            parts.append(html_table(moves.round(3), {"added": "Year: studies added" if per_year else "Study added",
                                                     "k": "k", "estimate": "Estimate", "ci_low": "CI low",
                                                     "ci_high": "CI high"}))
            if r.k >= 10:
                funnel_title = f"Funnel plot: {r.synthesis_group}"
                parts.append(figure_html(funnel_plot(group, r.estimate, scale, funnel_title),
                                         f"{funnel_title}: {r.k} estimates plotted against their standard errors "
                                         f"around the pooled estimate {r.estimate:.2f}.", funnel_title))
    if len(unclear):
        named = list(unclear["finding_id"])
        more = (f" and {len(named) - NOT_PLOTTED_NAMED:,} more (each is in the table of findings below, or past its "
                f"rows in the data file outcomes.csv)" if len(named) > NOT_PLOTTED_NAMED else "")
        parts.append(f"<p>Not plotted, because which direction is better is not coded: {len(named):,} "
                     f"{'estimate' if len(named) == 1 else 'estimates'}, "
                     f"{e(', '.join(named[:NOT_PLOTTED_NAMED]))}{more}.</p>")
    return HTML("".join(parts))



def implementation_themes(evidence: Evidence, studies_page: str = "studies.html") -> HTML:
    """The qualitative findings on putting peers to work, grouped by theme, each quote with its source."""
    from ._vocabulary import THEMES

    coded = evidence.outcomes[evidence.outcomes["theme"].ne("")]
    if coded.empty:
        return HTML("<p>No implementation findings are coded with a theme yet.</p>")
    studies = evidence.studies.set_index("study_id")
    summary = coded.groupby("theme").agg(findings=("finding_id", "size"), sources=("study_id", "nunique"))
    summary = summary.reindex([t for t in THEMES if t in summary.index]).reset_index()
    summary["theme_link"] = [f'<a href="#theme-{e(t.replace(" ", "-"))}">{e(t)}</a>' for t in summary["theme"]]
    parts = [html_table(summary, {"theme_link": "Theme", "findings": "Findings", "sources": "Sources"},
                        safe=("theme_link",))]
    missing = [t for t in THEMES if t not in set(summary["theme"]) and t != "other"]
    if missing:
        parts.append(f"<p>No coded source speaks to: {e(', '.join(missing))}. These are gaps in the evidence "
                     "base, not findings that the theme does not matter.</p>")
    for theme in summary["theme"]:
        items = []
        for r in coded[coded["theme"] == theme].sort_values("finding_id").itertuples():
            s = studies.loc[r.study_id]
            items.append(f'<li><strong>{e(r.outcome)}</strong>: “{e(r.quote)}” '
                         f"({_study_link(s.to_dict(), studies_page)}, finding "
                         f'<a href="{e(studies_page)}#finding-{e(r.finding_id)}">{e(r.finding_id)}</a>; '
                         f"{link(r.source_type or 'source', r.source_url or s['url'])})</li>")
        parts.append(f'<h2 id="theme-{e(theme.replace(" ", "-"))}">{e(theme.capitalize())}</h2><ul>{"".join(items)}</ul>')
    return HTML("".join(parts))

