"""The whole path: `evidencebook build` in a copy of the project gives a site with every part."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["site_fixture"]  # the `site` fixture: one `evidencebook build` per session, shared with test_browser.py


@pytest.mark.book
def test_site_has_every_chapter_with_the_evidence_version(site: Path) -> None:
    version = re.search(r"Evidence version \d+ \([\d-]+, [0-9a-f]{12}\)",
                        (site / "book" / "intro.html").read_text(encoding="utf-8"))[0]
    pages = ["intro", "methods", "outcomes/recovery", "outcomes/service-use", "outcomes/other-outcomes", "implementation", "evidence-map", "studies", "risk-of-bias", "policy", "whats-new", "briefs", "contributing", "data-quality",
             "references"]
    for page in pages:
        html = (site / "book" / f"{page}.html").read_text(encoding="utf-8")
        assert version in html, page
    assert (site / "index.html").is_file()


@pytest.mark.book
def test_site_has_a_brief_for_every_region(site: Path) -> None:
    briefs = sorted(p.stem for p in (site / "book" / "briefs").glob("*.html"))
    assert len(briefs) == 52 and "oregon" in briefs and "southern-oregon" in briefs
    oregon = (site / "book" / "briefs" / "oregon.html").read_text(encoding="utf-8")
    assert "Oregon: peer support services brief" in oregon and "What this state can do" in oregon
    assert (site.parent / "briefs" / "oregon.html").is_file()  # the standalone handout


@pytest.mark.book
def test_bibliography_and_citations_resolve(site: Path) -> None:
    refs = (site / "book" / "references.html").read_text(encoding="utf-8")
    assert "Lloyd-Evans" in refs and "Peer support for people with schizophrenia" in refs
    intro = (site / "book" / "intro.html").read_text(encoding="utf-8")
    # the {cite:p} in the introduction links to its entry, by an id made from its citation key
    assert 'href="references.html#ref-coresouthernoregon"' in intro and 'id="ref-coresouthernoregon"' in refs


@pytest.mark.book
def test_outcome_chapter_has_table_and_forest_plot_with_alt_text(site: Path) -> None:
    html = (site / "book" / "outcomes" / "recovery.html").read_text(encoding="utf-8")
    assert 'alt="Forest plot: Recovery, hope, empowerment and quality of life' in html
    assert "Quoted passage" in html and "&lt;" not in html.split("Quoted passage")[0][-200:]


@pytest.mark.book
def test_findings_link_to_their_study_entry(site: Path) -> None:
    recovery = (site / "book" / "outcomes" / "recovery.html").read_text(encoding="utf-8")
    studies = (site / "book" / "studies.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'href="\.\./studies\.html#(study-[\w-]+)"', recovery))
    assert anchors and all(f'id="{a}"' in studies for a in anchors)


@pytest.mark.book
def test_whats_new_compares_versions_and_publishes_each_one(site: Path) -> None:
    html = (site / "book" / "whats-new.html").read_text(encoding="utf-8")
    assert 'id="version-2"' in html and 'id="version-1"' in html
    assert "27 findings added" in html and "k 1 → 5" in html  # version 2 coded the implementation themes
    for link in re.findall(r'href="\.\./(evidence-versions/v\d{4}/[\w.]+)"', html):
        assert (site / link).is_file(), link


@pytest.mark.book
def test_policy_page_has_the_tile_map_and_implementation_its_themes(site: Path) -> None:
    policy = (site / "book" / "policy.html").read_text(encoding="utf-8")
    assert 'alt="Medicaid coverage of peer support, by state. Two tile maps of the 50 states and DC' in policy
    assert "Conflicting sources flagged: CT (mental health), OH (mental health)." in policy
    themes = (site / "book" / "implementation.html").read_text(encoding="utf-8")
    assert 'id="theme-supervision-by-peers"' in themes and "Encourage direct supervision by peers" in themes
