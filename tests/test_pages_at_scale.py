"""Pages that stay usable at 10,000 studies: a table or list shows a bounded number of rows, and when it shows
fewer than there are it says how many are not shown and where they are; every finding stays counted.

The bundled evidence is small, so the bounds are lowered here (monkeypatch) to make it cross them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import lxml.html
import pytest

import evidencebook as eb
import evidencebook._book as book
from conftest import ROOT

ALL_DOMAINS = [d for domains in eb.OUTCOME_CHAPTERS.values() for d in domains]


@pytest.fixture(scope="module")
def evidence() -> Any:
    return eb.load_evidence(eb.load_settings(ROOT))


def _rows(html: str) -> list[list[str]]:
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return [[td.text_content() for td in tr.xpath("td")] for tr in root.xpath("//tbody/tr")]


def _note(html: str) -> str:
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return " ".join(p.text_content() for p in root.xpath("//p[@class='eb-rows-not-shown']"))


def test_findings_table_past_its_bound_shows_the_newest_per_direction_and_says_how_many_are_elsewhere(
        evidence: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = Counter(row[0] for row in _rows(eb.findings_table(evidence, ALL_DOMAINS)))
    assert max(everything.values()) > 3 and _note(eb.findings_table(evidence, ALL_DOMAINS)) == ""
    monkeypatch.setattr(book, "TABLE_ROWS", 3)
    html = eb.findings_table(evidence, ALL_DOMAINS)
    shown = Counter(row[0] for row in _rows(html))
    assert shown == {d: min(n, 3) for d, n in everything.items()}
    note = _note(html)
    total = sum(everything.values())
    assert f"All {total} findings are counted" in note
    assert f"{total - sum(shown.values())} findings not listed here" in note
    for direction, n in everything.items():
        assert (f"the 3 newest of {n} findings counted as {direction}" if n > 3 else
                f"all {n} finding{'s' if n > 1 else ''} counted as {direction}") in note
    assert 'href="../../data/outcomes.csv"' in html and 'href="../studies.html"' in html


def test_findings_table_shows_the_newest_findings_of_a_direction(evidence: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    years = {r["citation_key"]: int(r["year"]) for r in evidence.studies.to_dict("records") if str(r["year"]).isdigit()}
    by_finding = dict(zip(evidence.outcomes["finding_id"], evidence.outcomes["citation_key"]))
    full = _rows(eb.findings_table(evidence, ALL_DOMAINS))
    monkeypatch.setattr(book, "TABLE_ROWS", 2)
    kept = _rows(eb.findings_table(evidence, ALL_DOMAINS))
    for direction in {row[0] for row in full}:
        newest = sorted((years.get(by_finding[row[2]], -1) for row in full if row[0] == direction), reverse=True)[:2]
        assert sorted((years.get(by_finding[row[2]], -1) for row in kept if row[0] == direction),
                      reverse=True) == newest


def test_votes_table_past_its_bound_says_how_many_votes_are_not_listed(evidence: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    everything = Counter((row[0], row[1]) for row in _rows(eb.study_votes_table(evidence, ALL_DOMAINS)))
    monkeypatch.setattr(book, "VOTE_ROWS", 1)
    html = eb.study_votes_table(evidence, ALL_DOMAINS)
    shown = Counter((row[0], row[1]) for row in _rows(html))
    assert shown == {question: 1 for question in everything}
    note = _note(html)
    hidden = sum(n - 1 for n in everything.values())
    assert hidden > 0 and f"{hidden} votes not listed here are counted in the summaries above" in note
    for (domain, comparison), n in everything.items():
        if n > 1:
            assert f"{domain} ({comparison}): the 1 newest of {n} votes" in note
    assert 'href="../../data/outcomes.csv"' in html


def test_gap_map_cell_past_its_bound_names_some_sources_and_counts_the_rest(evidence: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import evidencebook._book_quality as quality

    def source_cells(html: str) -> list[Any]:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
        return [tr.xpath("td")[-1] for tr in root.xpath("//div[@class='eb-table'][1]//tbody/tr")]

    from evidencebook._synthesis import gap_map_counts
    from evidencebook._vocabulary import DOMAINS, POPULATION_GROUPS

    counts = gap_map_counts(evidence.outcomes, evidence.studies, list(DOMAINS), list(POPULATION_GROUPS))["sources"]
    full = source_cells(eb.evidence_map(evidence))
    assert max(counts) > 1
    monkeypatch.setattr(quality, "GAP_MAP_SOURCES", 1)
    cells = source_cells(eb.evidence_map(evidence))
    for before, td, n in zip(full, cells, counts, strict=True):
        named = [a for a in td.xpath("a") if a.get("href") not in ("studies.html", "../data/studies.csv")]
        if n > 1:
            assert len(named) <= 1 and f"and {n - 1} more (all {n} are counted here" in td.text_content()
            assert {a.get("href") for a in td.xpath("a")} >= {"studies.html", "../data/studies.csv"}
        else:
            assert lxml.html.tostring(td) == lxml.html.tostring(before)


def test_studies_page_past_its_bound_lists_every_study_and_finding_compactly_and_says_where_the_rest_is(
        evidence: Any) -> None:
    def entries(html: str) -> list[Any]:
        return lxml.html.fragment_fromstring(html, create_parent="div").xpath("//section[@class='eb-study']")

    full, compact = eb.study_entries(evidence), eb.study_entries(evidence, in_full=10)
    assert len(evidence.included) > 10 and len(compact) < len(full) / 2
    assert "eb-rows-not-shown" not in full
    before, after = entries(full), entries(compact)
    # The same studies, in the same order, with the same anchors and what the filter reads.
    assert [(s.get("id"), s.get("data-domains"), s.get("data-design"), s.get("data-states")) for s in after] == \
        [(s.get("id"), s.get("data-domains"), s.get("data-design"), s.get("data-states")) for s in before]
    for old, new in zip(before, after):
        assert not new.xpath(".//details") and new.xpath("./h3")[0].text_content() == old.xpath("./h3")[0].text_content()
        findings = [li.get("id") for li in old.xpath(".//li[starts-with(@id, 'finding-')]")]
        assert [span.get("id") for span in new.xpath(".//span[starts-with(@id, 'finding-')]")] == findings
        assert f"{len(findings)} finding" in new.text_content()
    outcomes = evidence.outcomes.set_index("finding_id")
    for span in lxml.html.fragment_fromstring(compact, create_parent="div").xpath("//span[starts-with(@id, 'finding-')]"):
        assert outcomes.loc[span.get("id").removeprefix("finding-"), "outcome"] in span.text_content()  # words find it
    note = lxml.html.fragment_fromstring(compact, create_parent="div").xpath("//p[@class='eb-rows-not-shown']")[0]
    assert f"this review has {len(evidence.included)} included studies" in note.text_content()
    assert {a.get("href") for a in note.xpath(".//a")} == {"../data/studies.csv", "../data/outcomes.csv",
                                                          "../data/studies.json", "../data/findings.json"}


def test_estimates_not_plotted_are_counted_and_named_up_to_a_bound() -> None:
    import numpy as np
    import pandas as pd

    k = 30
    ids = [f"S{i:03d}" for i in range(k)]
    studies = pd.DataFrame({"study_id": ids, "authors": [f"Author{i}" for i in range(k)], "title": ["T"] * k,
                            "year": ["2020"] * k, "study_type": ["primary"] * k, "risk_of_bias": ["low"] * k,
                            "screening": ["FT:include"] * k, "report_of": ids, "citation_key": [i.lower() for i in ids]})
    outcomes = pd.DataFrame({"finding_id": [f"F{i}" for i in ids], "study_id": ids, "outcome": ["readmission"] * k,
                             "domain": ["hospitalisation"] * k, "measure": ["RR"] * k,
                             "better": ["lower"] * 2 + [""] * (k - 2),  # 28 with no direction coded
                             "evidence_level": ["primary"] * k, "synthesis_group": ["readmission"] * k,
                             "estimate": np.linspace(0.6, 0.95, k), "ci_low": np.linspace(0.4, 0.7, k),
                             "ci_high": np.linspace(0.9, 1.3, k)})
    evidence = eb.Evidence(studies, outcomes, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {})
    html = eb.forest_figure(evidence, ["hospitalisation"], "ratio", "Readmission")
    note = html[html.index("Not plotted"):]
    named = note.split("28 estimates, ")[1].split(" and 8 more (each is in the table of findings below")[0].split(", ")
    assert len(named) == 20 and set(named) <= {f"FS{i:03d}" for i in range(2, k)}


def test_an_html_output_is_kept_once_not_again_as_its_plain_text() -> None:
    """Jupyter stores a text/plain output beside text/html; for eb.HTML (a str) it was the whole page again."""
    from IPython.core.formatters import DisplayFormatter

    page = eb.HTML("<p>" + "x" * 100_000 + "</p>")
    data, _ = DisplayFormatter().format(page)
    assert data["text/html"] == page
    assert data["text/plain"] == "<HTML output: see text/html>"


def test_votes_table_within_its_bound_keeps_the_votes_order(evidence: Any) -> None:
    from evidencebook._synthesis import domain_findings, included_findings, study_votes

    votes = study_votes(included_findings(domain_findings(evidence.outcomes, ALL_DOMAINS), evidence.studies),
                        evidence.studies)
    rows = _rows(eb.study_votes_table(evidence, ALL_DOMAINS))
    assert [(r[0], r[1], r[4]) for r in rows] == list(zip(votes["domain"], votes["comparison_type"], votes["vote"]))
