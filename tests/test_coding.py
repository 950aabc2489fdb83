"""How coding in Zotero (tags and extraction notes) becomes records, and how problems are reported."""

from __future__ import annotations

from conftest import GOOD_NOTE, note, parent

import evidencebook as eb


def test_paragraphs_tables_and_line_breaks_are_lines() -> None:
    html = ("<div><h1>Extraction</h1><p>a: 1<br>b: 2</p><table><tr><td>c</td><td>3</td></tr>"
            "<tr><th>Outcome X</th></tr></table><ul><li><p>d: 4</p></li></ul></div>")
    lines = eb.note_lines(html)
    assert [(l.number, l.text) for l in lines] == [(1, "Extraction"), (2, "a: 1"), (3, "b: 2"), (4, "c: 3"),
                                                  (5, "Outcome X"), (6, "d: 4")]
    assert lines[0].heading and not lines[1].heading


def test_a_coded_study_becomes_a_study_and_a_finding() -> None:
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", GOOD_NOTE)])
    assert coding.problems == []
    (study,) = coding.studies
    assert study["screening"] == "FT:include" and study["design"] == "RCT" and study["us_state"] == "Oregon"
    (finding,) = coding.outcomes
    assert finding["finding_id"] == "T1" and finding["estimate"] == 0.71 and finding["measure"] == "RR"
    assert finding["note_key"] == "NNNNNNNN" and finding["note_line"] == 7


def test_a_table_note_reads_like_key_value_lines() -> None:
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in
                   [("outcome", "hope"), ("domain", "hope"), ("measure", "SMD"), ("estimate", "0.2"),
                    ("ci_low", "0.1"), ("ci_high", "0.3"), ("quote", "SMD 0.2 (0.1 to 0.3)")])
    html = f"<h1>Extraction</h1><h2>Outcome H1</h2><table>{rows}</table>"
    item = note("NNNNNNNN", "AAAAAAAA", [])
    item["data"]["note"] = html
    coding = eb.code_items([parent("AAAAAAAA"), item])
    assert coding.problems == [] and coding.outcomes[0]["estimate"] == 0.2


def test_malformed_note_is_reported_by_key_and_line_and_the_rest_still_read() -> None:
    bad = [*GOOD_NOTE[:7], "outcome: x", "domain: nonsense", "estimate: 1.2.3", "quote: q",
           "# Outcome T2", "outcome: y", "domain: hope", "measure: OR", "estimate: -1", "ci_low: -2", "ci_high: 3",
           "quote: q2", "free text without a colon"]
    coding = eb.code_items([parent("AAAAAAAA"), note("BADNOTE1", "AAAAAAAA", bad),
                            parent("CCCCCCCC"), note("GOODNOTE", "CCCCCCCC", GOOD_NOTE)])
    errors = {(p.item_key, p.line, p.field) for p in coding.errors}
    assert ("BADNOTE1", 9, "domain") in errors
    assert ("BADNOTE1", 10, "estimate") in errors
    assert ("BADNOTE1", 16, "estimate") in errors  # a ratio measure must be positive
    assert any(p.severity == "warning" and p.line == 20 for p in coding.problems)
    assert [o["finding_id"] for o in coding.outcomes] == ["T1"]  # only the good note's finding
    assert {s["study_id"] for s in coding.studies} == {"AAAAAAAA", "CCCCCCCC"}
    assert "item BADNOTE1, line 9 [domain]" in str(eb.CodingError(coding.problems))


def test_an_estimate_without_its_ci_is_refused() -> None:
    lines = [*GOOD_NOTE[:-4], "quote: q"]  # drops ci_low, ci_high and direction
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    assert coding.outcomes == []
    assert [p.message for p in coding.errors if "needs its 95% CI" in p.message]
    assert len(coding.errors) == 1


def test_estimate_outside_its_ci_is_refused() -> None:
    lines = [line.replace("estimate: 0.71", "estimate: 1.5") for line in GOOD_NOTE]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    assert "outside its CI" in coding.errors[0].message


def test_full_text_decision_wins_and_bad_screening_tags_are_reported() -> None:
    items = [parent("AAAAAAAA", tags=("screen:TA:include", "Screen:FT:Exclude:wrong population")),
             parent("BBBBBBBB", tags=("screen:maybe",))]
    coding = eb.code_items(items)
    by_key = {s["study_id"]: s for s in coding.studies}
    assert by_key["AAAAAAAA"]["screening"] == "FT:exclude"
    assert by_key["AAAAAAAA"]["exclusion_reason"] == "wrong population"
    assert by_key["BBBBBBBB"]["screening"] == "unscreened"
    assert coding.errors[0].item_key == "BBBBBBBB" and coding.errors[0].field == "tags"


def test_citation_key_prefers_zotero_field_then_extra_then_generated() -> None:
    items = [parent("AAAAAAAA", citationKey="native2020"),
             parent("BBBBBBBB", extra="PMID: 1\nCitation Key: pinned2020"),
             parent("CCCCCCCC", extra="bibtex: legacy2020"),
             parent("DDDDDDDD", title="Peer mentors reduce readmission", creators=[
                 {"creatorType": "author", "lastName": "Ødegård", "firstName": "K"}])]
    keys = {s["study_id"]: s["citation_key"] for s in eb.code_items(items).studies}
    assert keys == {"AAAAAAAA": "native2020", "BBBBBBBB": "pinned2020", "CCCCCCCC": "legacy2020",
                    "DDDDDDDD": "degard2020peer"}


def test_trashed_items_and_their_notes_are_left_out() -> None:
    trashed = parent("AAAAAAAA", deleted=1)
    coding = eb.code_items([trashed, note("NNNNNNNN", "AAAAAAAA", GOOD_NOTE)])
    assert coding.studies == [] and coding.outcomes == []


def test_policy_facts_are_read_from_policy_sources() -> None:
    lines = ["Policy facts", "# Policy fact P1", "state: Oregon", "fact: Medicaid coverage of peer support",
             "value: yes", "as_of: 2024", "quote: Oregon covers peer support"]
    coding = eb.code_items([parent("AAAAAAAA", tags=("policy-source",), url="https://example.org/or"),
                            note("NNNNNNNN", "AAAAAAAA", lines)])
    assert coding.studies == []
    assert coding.policy_facts[0]["fact_id"] == "P1" and coding.policy_facts[0]["source_url"] == "https://example.org/or"


def test_duplicate_finding_ids_are_reported() -> None:
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNN1", "AAAAAAAA", GOOD_NOTE),
                            parent("BBBBBBBB"), note("NNNNNNN2", "BBBBBBBB", GOOD_NOTE)])
    assert any("also used" in p.message for p in coding.errors)
    assert len(coding.outcomes) == 1


def test_line_numbers_count_empty_paragraphs_and_nested_blocks_keep_a_space() -> None:
    html = ("<h1>Extraction</h1><p></p><h2>Study</h2><p>design: RCT</p>"
            "<ul><li><p>country: US</p><p>(two sites)</p></li></ul>")
    lines = eb.note_lines(html)
    assert [(l.number, l.text) for l in lines] == [(1, "Extraction"), (3, "Study"), (4, "design: RCT"),
                                                  (5, "country: US (two sites)")]


def test_plain_text_note_still_reads() -> None:
    lines = eb.note_lines("<div>Extraction<br>Study<br>design: RCT</div>")
    assert [l.text for l in lines] == ["Extraction", "Study", "design: RCT"]


def test_unreadable_note_html_is_a_reported_problem_not_a_crash() -> None:
    bad = note("NNNNNNNN", "AAAAAAAA", [])
    bad["data"]["note"] = "<html><head><title>clipped page</title></head></html>"
    coding = eb.code_items([parent("AAAAAAAA"), bad, parent("BBBBBBBB"), note("MMMMMMMM", "BBBBBBBB", GOOD_NOTE)])
    assert [(p.item_key, p.field) for p in coding.errors] == [("NNNNNNNN", "note")]
    assert [o["finding_id"] for o in coding.outcomes] == ["T1"]


def test_duplicate_policy_fact_ids_are_reported_and_left_out() -> None:
    lines = ["Policy facts", "# Policy fact P1", "state: Oregon", "fact: f", "quote: q",
             "# Policy fact P1", "state: Ohio", "fact: g", "quote: r"]
    coding = eb.code_items([parent("AAAAAAAA", tags=("policy-source",)), note("NNNNNNNN", "AAAAAAAA", lines)])
    assert [f["state"] for f in coding.policy_facts] == ["Oregon"]
    assert coding.errors[0].line == 6 and "also used" in coding.errors[0].message
