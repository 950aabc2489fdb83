"""Briefs: the content for a region, and the executed notebook and HTML page for one region."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

import evidencebook as eb


@pytest.fixture(scope="module")
def evidence() -> eb.Evidence:
    return eb.load_evidence(eb.load_settings(ROOT))


def brief(evidence: eb.Evidence, name: str) -> eb.Brief:
    return eb.Brief(eb.resolve_region(name, evidence.regions), evidence)


def test_a_state_without_local_studies_says_so_and_still_shows_national_evidence(evidence: eb.Evidence) -> None:
    b = brief(evidence, "WY")
    assert "No studies from Wyoming are in the evidence base yet" in b.local_evidence()
    assert "recovery" in b.headline() and "Wyoming" in b.header()


def test_states_without_a_medicaid_fact_say_it_is_not_documented(evidence: eb.Evidence) -> None:
    for code in ("AL", "DE", "IN", "IA", "KS", "LA", "MS", "NE", "NV", "OK", "TN", "UT"):
        assert "not yet documented in the evidence base" in brief(evidence, code).policy_context(), code


def test_conflicting_facts_are_all_shown_newest_first(evidence: eb.Evidence) -> None:
    ct = brief(evidence, "CT").policy_context()
    assert ct.count("Medicaid") >= 2 and "newest first" in ct


def test_substate_region_inherits_its_state_and_shows_its_own_sources_first(evidence: eb.Evidence) -> None:
    so = brief(evidence, "southern-oregon")
    assert "a region of Oregon" in so.header()
    assert so.policy_context() == brief(evidence, "oregon").policy_context()
    assert "14 different agencies" in so.implementation()
    assert so.local_studies()["region"].iloc[0] == "southern-oregon"


def test_local_studies_are_listed_for_a_state_that_has_them(evidence: eb.Evidence) -> None:
    nj = brief(evidence, "New Jersey").local_evidence()
    assert "Treitler" in nj and "No studies" not in nj


def test_render_brief_writes_a_clean_notebook_and_html(project: eb.Settings) -> None:
    out = eb.render_brief(project, "OR")
    assert out.region_id == "oregon"
    text = out.notebook.read_text(encoding="utf-8")
    nb = json.loads(text)
    assert "".join(nb["cells"][0]["source"]) == "# Oregon: peer support services brief"
    assert nb["metadata"]["papermill"] == {"parameters": {"region": "oregon"}}
    assert str(project.root) not in text and "/root" not in text and "ZOTERO" not in text
    assert not any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    html = out.html.read_text(encoding="utf-8")
    assert "Oregon: peer support services brief" in html and "Evidence version" in html
    assert "brief.headline()" not in html  # inputs are hidden in the handout


def test_unknown_region_writes_nothing(project: eb.Settings) -> None:
    with pytest.raises(eb.RegionError):
        eb.render_brief(project, "atlantis")
    assert not project.briefs_dir.exists() and not project.brief_html_dir.exists()


def test_fan_out_keeps_going_past_a_failing_region_and_reuses_kernels(project: eb.Settings) -> None:
    import nbformat
    template = nbformat.read(project.brief_template, as_version=4)
    template.cells.append(nbformat.v4.new_code_cell('assert region != "wyoming", "synthetic failure for the test"'))
    nbformat.write(template, project.brief_template)
    done, failed = eb.render_all_briefs(project, progress=False, workers=2,
                                        regions=["OR", "WY", "southern-oregon", "DC", "Texas"])
    assert [o.region_id for o in done] == ["district-of-columbia", "oregon", "southern-oregon", "texas"]
    assert list(failed) == ["wyoming"] and "synthetic failure" in failed["wyoming"]
    counts = [c.get("execution_count") for c in json.loads(done[0].notebook.read_text())["cells"]
              if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1))  # numbered per brief, though the kernel was reused
