"""How coding in Zotero (tags and extraction notes) becomes records, and how problems are reported."""

from __future__ import annotations

import pytest
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
                    ("ci_low", "0.1"), ("ci_high", "0.3"), ("better", "higher"), ("quote", "SMD 0.2 (0.1 to 0.3)")])
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


# --- screening by two reviewers ---------------------------------------------------------------------------------


def _screened(*tags: str, extraction: bool = False) -> tuple[dict, list]:
    """The study record and the problems of one item carrying ``tags`` (with a good extraction note if asked)."""
    items = [parent("AAAAAAAA", tags=tags)] + ([note("NNNNNNNN", "AAAAAAAA", GOOD_NOTE)] if extraction else [])
    coding = eb.code_items(items)
    (study,) = coding.studies
    return study, coding.problems


@pytest.mark.parametrize("tags, screening, reason, votes", [
    (("screen:TA:include",), "TA:include", "", "TA:include"),
    (("screen:TA:include", "screen:FT:include"), "FT:include", "", "TA:include|FT:include"),
    (("screen:TA:exclude:wrong population",), "TA:exclude", "wrong population", "TA:exclude"),
    (("screen:TA:include", "Screen : FT : Exclude : wrong design",), "FT:exclude", "wrong design", "TA:include|FT:exclude"),
    (("screen:FT:maybe",), "FT:maybe", "", "FT:maybe"),
    (("screen:FT:exclude:SUD only",), "FT:exclude", "SUD only", "FT:exclude"),
    ((), "unscreened", "", ""),
])
def test_a_single_reviewers_tags_read_exactly_as_before(tags, screening, reason, votes) -> None:
    study, problems = _screened(*tags, extraction=True)
    assert (study["screening"], study["exclusion_reason"], study["screening_votes"]) == (screening, reason, votes)
    assert [p for p in problems if p.field == "tags"] == []


def test_decisions_name_their_reviewer_after_an_at_sign_and_agreeing_reviewers_decide() -> None:
    study, problems = _screened("screen:TA:include@AB", "screen:TA:include@cd", "screen:FT:exclude:wrong population@AB",
                                "screen:FT:exclude : wrong design @ CD")
    assert problems == []
    assert (study["screening"], study["exclusion_reason"]) == ("FT:exclude", "wrong population; wrong design")
    assert study["screening_votes"] == "TA:include@AB|TA:include@CD|FT:exclude@AB|FT:exclude@CD"


def test_reviewers_who_disagree_make_a_conflict_that_is_reported_and_not_included() -> None:
    study, problems = _screened("screen:TA:include@AB", "screen:TA:include@CD", "screen:FT:include@AB",
                                "screen:FT:exclude:wrong design@CD", extraction=True)
    assert study["screening"] == "FT:conflict" and study["exclusion_reason"] == ""
    (problem,) = problems  # the conflict, and no "included but has no extraction note" or other noise
    assert (problem.item_key, problem.severity, problem.field) == ("AAAAAAAA", "warning", "tags")
    assert "screening conflict at full text (FT)" in problem.message
    assert "AB include, CD exclude (wrong design)" in problem.message
    assert "Tester 2020, \u201cSynthetic study AAAAAAAA\u201d" in problem.message  # names the item as Zotero shows it
    assert "screen:FT:resolved:<decision>@<initials>" in problem.message
    coding = eb.code_items([parent("AAAAAAAA", tags=("screen:FT:include@AB", "screen:FT:exclude@CD")),
                            note("NNNNNNNN", "AAAAAAAA", GOOD_NOTE)])
    import pandas as pd
    assert len(coding.outcomes) == 1  # the finding is read, so a resolution brings it in without recoding...
    assert eb.included_findings(pd.DataFrame(coding.outcomes), pd.DataFrame(coding.studies)).empty  # ...but not now


@pytest.mark.parametrize("resolution, screening", [
    ("screen:FT:resolved:include@EF", "FT:include"),
    ("screen:FT:include@consensus", "FT:include"),
    ("screen:FT:resolved:exclude:wrong comparator@EF", "FT:exclude"),
    ("screen:FT:Resolved:Exclude:wrong comparator", "FT:exclude"),  # the resolver need not be named
])
def test_a_resolution_settles_a_conflict(resolution: str, screening: str) -> None:
    study, problems = _screened("screen:FT:include@AB", "screen:FT:exclude:wrong design@CD", resolution,
                                extraction=True)
    assert problems == [] and study["screening"] == screening
    if screening == "FT:exclude":
        assert study["exclusion_reason"] == "wrong comparator"  # the resolution's reason, not a reviewer's
    assert "FT:include@AB|FT:exclude@CD|FT:resolved:" in study["screening_votes"]


def test_resolutions_that_disagree_are_still_a_conflict() -> None:
    study, problems = _screened("screen:FT:include@AB", "screen:FT:exclude@CD", "screen:FT:resolved:include@EF",
                                "screen:FT:exclude@consensus")
    assert study["screening"] == "FT:conflict"
    (problem,) = problems
    assert "the resolutions disagree: EF include, consensus exclude" in problem.message


def test_a_title_abstract_conflict_is_reported_only_while_the_item_has_no_full_text_decision() -> None:
    study, problems = _screened("screen:TA:include@AB", "screen:TA:exclude@CD")
    assert study["screening"] == "TA:conflict"
    assert [p.message.split(":")[0] for p in problems] == ["screening conflict at title/abstract (TA)"]
    # A team that sends on every item one reviewer includes has decided: the full-text decision stands.
    study, problems = _screened("screen:TA:include@AB", "screen:TA:exclude@CD", "screen:FT:include@AB",
                                "screen:FT:include@CD", extraction=True)
    assert study["screening"] == "FT:include" and problems == []


def test_two_unnamed_tags_that_disagree_are_a_conflict_not_the_last_tag_read() -> None:
    study, problems = _screened("screen:FT:exclude", "screen:FT:include")
    assert study["screening"] == "FT:conflict"
    assert "(no reviewer named) exclude, (no reviewer named) include" in problems[0].message


@pytest.mark.parametrize("tag", ["screen:TA:include@", "screen:TA:include@A B", "screen:TA:include@1A",
                                 "screen:TA:resolved@AB", "screen:XX:include@AB"])
def test_a_malformed_reviewer_tag_is_an_error_naming_the_form(tag: str) -> None:
    study, problems = _screened(tag)
    assert study["screening"] == "unscreened"
    (error,) = problems
    assert error.severity == "error" and "[@reviewer initials]" in error.message and repr(tag) in error.message


def test_initials_where_the_reason_goes_keep_their_old_meaning_with_a_hint() -> None:
    study, problems = _screened("screen:TA:include:AB", extraction=True)
    assert (study["screening"], study["exclusion_reason"], study["screening_votes"]) == ("TA:include", "AB", "TA:include")
    (hint,) = problems
    assert hint.severity == "warning" and "write screen:TA:include@AB" in hint.message


def test_every_screening_tag_on_the_contributing_page_is_understood() -> None:
    import re

    from conftest import ROOT

    page = (ROOT / "book" / "contributing.md").read_text(encoding="utf-8")
    tags = sorted(set(re.findall(r"`(screen:[^`<>]+)`", page)))
    assert len(tags) >= 10 and any("@" in t for t in tags) and any(":resolved:" in t for t in tags)
    for tag in tags:
        _, problems = _screened(tag)
        assert [p for p in problems if p.severity == "error"] == [], tag


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


def test_duplicate_finding_ids_are_reported_on_the_newcomer() -> None:
    coding = eb.code_items([parent("AAAAAAAA", dateAdded="2024-05-01T00:00:00Z"), note("NNNNNNN1", "AAAAAAAA", GOOD_NOTE),
                            parent("BBBBBBBB", dateAdded="2023-01-01T00:00:00Z"), note("NNNNNNN2", "BBBBBBBB", GOOD_NOTE)])
    (finding,) = coding.outcomes
    assert finding["study_id"] == "BBBBBBBB"  # added to Zotero first, although its key sorts last
    (error,) = coding.errors
    assert (error.item_key, error.line, error.field) == ("NNNNNNN1", 7, "id")
    assert "already used by item BBBBBBBB (Tester 2020, \u201cSynthetic study BBBBBBBB\u201d), note NNNNNNN2, line 7" \
        in error.message and "this finding was left out" in error.message


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


# --- quarantine: each bad value is reported once, by item, field and line, and left out --------------------


def _finding(*lines: str) -> list[str]:
    """An extraction note with GOOD_NOTE's study and one finding X1 made of ``lines`` (its heading is line 7)."""
    return [*GOOD_NOTE[:6], "# Outcome X1", *lines]


@pytest.mark.parametrize("lines,field,line", [
    (("estimate: 0.2", "ci_low: -1e308", "ci_high: 0.5"), "ci_low", 12),
    (("estimate: 0.2", "ci_low: 0.1", "ci_high: 1e308"), "ci_high", 13),
    (("estimate: 2e6", "ci_low: 0.1", "ci_high: 0.5"), "estimate", 11),  # beyond |x| <= 1e6
    (("estimate: inf", "ci_low: 0.1", "ci_high: 0.5"), "estimate", 11),
    (("estimate: nan", "ci_low: 0.1", "ci_high: 0.5"), "estimate", 11),
    (("estimate: 0.2", "ci_low: 0.2", "ci_high: 0.2"), "ci_high", 13),  # no width: no variance to pool with
])
def test_an_implausible_number_is_one_problem_naming_its_field(lines: tuple[str, ...], field: str, line: int) -> None:
    note_lines_ = _finding("outcome: hope", "domain: hope", "measure: SMD", *lines, "better: higher", "quote: q")
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", note_lines_),
                            parent("CCCCCCCC"), note("GOODNOTE", "CCCCCCCC", GOOD_NOTE)])
    (error,) = coding.errors
    assert (error.item_key, error.line, error.field) == ("NNNNNNNN", line, field), error
    assert "(note of item AAAAAAAA: Tester 2020, \u201cSynthetic study AAAAAAAA\u201d)" in error.message
    assert [o["finding_id"] for o in coding.outcomes] == ["T1"]  # the other study's finding is still read


@pytest.mark.parametrize("estimate,ci_low,ci_high,fields", [
    ("1e-9", "1e-10", "0.5", ["ci_low", "estimate"]), ("2", "1", "2e6", ["ci_high"]), ("0.5", "0", "1", ["ci_low"]),
])
def test_a_ratio_lies_between_one_millionth_and_a_million(estimate: str, ci_low: str, ci_high: str,
                                                           fields: list[str]) -> None:
    lines = _finding("outcome: o", "domain: hope", "measure: RR", f"estimate: {estimate}", f"ci_low: {ci_low}",
                     f"ci_high: {ci_high}", "better: higher", "quote: q")
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    assert sorted(p.field for p in coding.errors) == fields and coding.outcomes == []


def test_a_count_too_large_for_the_tables_is_reported_and_the_rest_is_read() -> None:
    lines = [*GOOD_NOTE, "n_participants: 99999999999999999999"]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines),
                            parent("CCCCCCCC"), note("GOODNOTE", "CCCCCCCC", [*GOOD_NOTE[:6], "# Outcome T2",
                                                                            *GOOD_NOTE[7:], "n_participants: 1,029"])])
    (error,) = coding.errors
    assert (error.item_key, error.line, error.field) == ("NNNNNNNN", len(lines), "n_participants")
    assert "'99999999999999999999' is more than 1,000,000,000" in error.message
    assert [(o["finding_id"], o["n_participants"]) for o in coding.outcomes] == [("T2", "1,029")]


def test_an_estimate_without_better_is_reported_as_never_plotted() -> None:
    lines = [line for line in GOOD_NOTE if not line.startswith("better:")]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    (warning,) = coding.problems
    assert (warning.severity, warning.line, warning.field) == ("warning", 7, "better")
    assert "will not be plotted or pooled" in warning.message
    assert len(coding.outcomes) == 1  # a warning: the finding is kept (narrative tables still show it)


def test_the_contributing_example_pasted_verbatim_is_coded_without_a_problem() -> None:
    import re

    from conftest import ROOT

    page = (ROOT / "book" / "contributing.md").read_text(encoding="utf-8")
    example = re.search(r"```text\n(Extraction\n.*?)```", page, re.DOTALL)[1].splitlines()
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", example)])
    assert coding.problems == []
    (finding,) = coding.outcomes
    assert finding["better"] in ("higher", "lower") and finding["estimate"] == 0.71


# --- section headings: a finding is never lost silently --------------------------------------------------------


@pytest.mark.parametrize("heading", ["Outcome: M12", "Outcome M12:", "outcome:M12", "Outcome #M12", "# Outcome: M12"])
def test_the_usual_ways_of_writing_a_finding_heading_all_open_the_finding(heading: str) -> None:
    lines = [*GOOD_NOTE[:6], heading, *GOOD_NOTE[7:]]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    assert coding.problems == []
    assert [(o["finding_id"], o["outcome"], o["note_line"]) for o in coding.outcomes] == [
        ("M12", "readmission at 12 months", 7)]


def test_outcome_colon_after_a_finding_with_its_outcome_opens_the_next_finding() -> None:
    second = ["Outcome: M13", "outcome: hope", "domain: hope", "measure: narrative", "quote: q"]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", [*GOOD_NOTE, *second])])
    assert coding.problems == [] and [o["finding_id"] for o in coding.outcomes] == ["T1", "M13"]


def test_a_malformed_heading_is_an_error_naming_its_line_and_its_lines_are_not_read_into_another_finding() -> None:
    lines = [*GOOD_NOTE, "# Outcomes M13", "outcome: hope", "domain: hope", "quote: q"]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    (error,) = coding.errors
    assert (error.item_key, error.line) == ("NNNNNNNN", len(GOOD_NOTE) + 1)
    assert "'Outcomes M13' is not a section" in error.message and "were not read" in error.message
    assert [o["finding_id"] for o in coding.outcomes] == ["T1"]  # the finding above keeps its own values
    assert coding.outcomes[0]["outcome"] == "readmission at 12 months"


def test_finding_fields_under_the_study_heading_are_an_error_not_a_warning() -> None:
    lines = [*GOOD_NOTE[:6], "outcome: readmission within a year", *GOOD_NOTE[8:]]  # the Outcome heading forgotten
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    (error,) = coding.problems  # once, not once per line
    assert (error.severity, error.line, error.field) == ("error", 7, "outcome")
    assert "needs its heading first ('Outcome <id>')" in error.message and coding.outcomes == []


# --- places: us_state and region are checked against the known regions -----------------------------------------

SUBSTATE = {"southern-oregon": {"name": "Southern Oregon", "state": "OR", "aliases": ["SoOR"]}}


def _study_with(*lines: str) -> tuple[dict, list]:
    note_lines_ = ["Extraction", "# Study", "study_type: primary", *lines]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", note_lines_)],
                           regions=eb.region_records(SUBSTATE))
    return coding.studies[0], coding.problems


def test_a_misspelt_state_is_an_error_with_a_suggestion_and_the_known_states_are_kept() -> None:
    study, problems = _study_with("us_state: Oregon; Texsa")
    (error,) = problems
    assert (error.item_key, error.line, error.field) == ("NNNNNNNN", 4, "us_state")
    assert "'Texsa' is not a US state" in error.message and "did you mean Texas?" in error.message
    assert study["us_state"] == "Oregon"


@pytest.mark.parametrize("typed", ["Southern Oregon", "southern-oregon", "SoOR", "SOUTHERN OREGON"])
def test_a_region_is_resolved_to_its_id_through_its_aliases(typed: str) -> None:
    study, problems = _study_with("us_state: OR", f"region: {typed}")
    assert problems == [] and study["region"] == "southern-oregon"


def test_an_unknown_region_is_an_error_with_suggestions() -> None:
    study, problems = _study_with("us_state: Oregon", "region: Southern Oregan")
    (error,) = problems
    assert (error.line, error.field, error.severity) == (5, "region", "error")
    assert "unknown region 'Southern Oregan'; did you mean southern-oregon" in error.message
    assert study["region"] == ""


# --- identities: first come, first served ---------------------------------------------------------------------


def test_a_pinned_key_goes_to_the_item_added_first_and_the_newcomer_is_told() -> None:
    items = [parent("AAAAAAAA", citationKey="core2020", dateAdded="2025-02-01T00:00:00Z"),
             parent("BBBBBBBB", citationKey="core2020", dateAdded="2024-01-01T00:00:00Z")]
    coding = eb.code_items(items)
    keys = {s["study_id"]: s["citation_key"] for s in coding.studies}
    assert keys == {"AAAAAAAA": "tester2020synthetic", "BBBBBBBB": "core2020"}
    (error,) = coding.errors
    assert (error.item_key, error.field) == ("AAAAAAAA", "citationKey")
    assert "'core2020' is already the key of item BBBBBBBB (Tester 2020" in error.message


def test_citation_keys_that_collide_after_the_suffix_are_still_made_unique() -> None:
    items = [parent("AAAAAAAA", citationKey="k-cccccccc"), parent("BBBBBBBB", citationKey="k"),
             parent("CCCCCCCC", citationKey="k"), parent("DDDDDDDD", citationKey="K"),
             parent("EEEEEEEE"), parent("FFFFFFFF"), parent("GGGGGGGG", citationKey="tester2020synthetic-ffffffff")]
    keys = [s["citation_key"] for s in eb.code_items(items).studies]
    assert len({k.casefold() for k in keys}) == len(keys), keys  # BibTeX compares keys without case


def test_published_identities_stay_with_their_items() -> None:
    items = [parent("AAAAAAAA", citationKey="smith2024", dateAdded="2020-01-01T00:00:00Z"),
             note("NNNNNNN1", "AAAAAAAA", GOOD_NOTE),
             parent("BBBBBBBB", citationKey="smith2024", dateAdded="2025-01-01T00:00:00Z"),
             note("NNNNNNN2", "BBBBBBBB", GOOD_NOTE)]
    published = eb.Published(citation_keys={"BBBBBBBB": "smith2024"}, finding_ids={"T1": "BBBBBBBB"})
    coding = eb.code_items(items, published)
    assert {s["study_id"]: s["citation_key"] for s in coding.studies} == {
        "AAAAAAAA": "tester2020synthetic", "BBBBBBBB": "smith2024"}
    assert [(o["finding_id"], o["study_id"]) for o in coding.outcomes] == [("T1", "BBBBBBBB")]
    assert sorted((p.item_key, p.field) for p in coding.errors) == [("AAAAAAAA", "citationKey"), ("NNNNNNN1", "id")]


def test_a_published_finding_keeps_its_id_while_its_own_note_has_an_error() -> None:
    broken = [line.replace("estimate: 0.71", "estimate: oops") for line in GOOD_NOTE]
    items = [parent("AAAAAAAA"), note("NNNNNNN1", "AAAAAAAA", GOOD_NOTE),
             parent("BBBBBBBB"), note("NNNNNNN2", "BBBBBBBB", broken)]
    coding = eb.code_items(items, eb.Published(finding_ids={"T1": "BBBBBBBB"}))
    assert coding.outcomes == []  # the publisher's finding is left out for its error; the newcomer does not take T1
    assert {(p.item_key, p.field) for p in coding.errors} == {("NNNNNNN2", "estimate"), ("NNNNNNN1", "id")}


def test_a_line_break_in_a_paragraphs_source_is_a_space_as_on_screen_so_line_numbers_match() -> None:
    lines = eb.note_lines("<p>a\nb</p><p>c<br>d</p><p>e\r\nf <b>g\nh</b></p><pre>x\ny</pre><p>z</p>")
    assert [(l.number, l.text) for l in lines] == [(1, "a b"), (2, "c"), (3, "d"), (4, "e f g h"), (5, "x"),
                                                  (6, "y"), (7, "z")]


def test_a_lone_surrogate_is_replaced_and_reported_not_a_crash_when_the_tables_are_written() -> None:
    lines = [*GOOD_NOTE[:-1], "quote: readmission was lower \ud83d (RR 0.71)"]
    item = parent("AAAAAAAA", creators=[{"creatorType": "author", "lastName": "Sm\udf58ith", "firstName": "J"}])
    coding = eb.code_items([item, note("NNNNNNNN", "AAAAAAAA", lines)])
    assert coding.studies[0]["authors"] == "Sm\ufffdith"
    assert coding.outcomes[0]["quote"] == "readmission was lower \ufffd (RR 0.71)"  # the rest of the line is kept
    assert {(p.item_key, p.field, p.severity) for p in coding.problems} == {("AAAAAAAA", "creators", "warning"),
                                                                          ("NNNNNNNN", "note", "warning")}
    eb.derive_tables(coding, {})["studies.csv"].to_csv().encode("utf-8")


def test_an_item_whose_pin_is_refused_keeps_its_published_fallback_key() -> None:
    items = [parent("AAAAAAAA", citationKey="smith2024", dateAdded="2025-01-01T00:00:00Z"),
             parent("BBBBBBBB", citationKey="smith2024", dateAdded="2024-01-01T00:00:00Z"),
             parent("CCCCCCCC", dateAdded="2020-01-01T00:00:00Z")]  # added first, same generated key as A's
    published = eb.Published(citation_keys={"AAAAAAAA": "tester2020synthetic", "BBBBBBBB": "smith2024"})
    keys = {s["study_id"]: s["citation_key"] for s in eb.code_items(items, published).studies}
    assert keys == {"AAAAAAAA": "tester2020synthetic", "BBBBBBBB": "smith2024",
                    "CCCCCCCC": "tester2020synthetic-cccccccc"}


def test_a_control_character_after_a_line_break_does_not_make_the_note_unreadable() -> None:
    lines = eb.note_lines("<h1>Extraction</h1><p>design: RCT<br>country: US\x01</p><ul><li><p>a\x1b</p><p>b</p></li></ul>")
    assert [(l.number, l.text) for l in lines] == [(1, "Extraction"), (2, "design: RCT"), (3, "country: US\x01"),
                                                  (4, "a\x1b b")]


def test_a_pin_waiting_for_a_fallback_key_that_its_holder_gives_up_gets_it_in_the_same_build() -> None:
    # B was refused its pin 'core2020' and published under its generated key; A pins that generated key.
    # Now B's pin is free (its holder is gone): B takes it, gives its fallback up, and A gets its pin at once.
    items = [parent("AAAAAAAA", (), citationKey="tester2020synthetic", dateAdded="2020-01-01T00:00:00Z"),
             parent("BBBBBBBB", (), citationKey="core2020", dateAdded="2021-01-01T00:00:00Z")]
    published = eb.Published(citation_keys={"BBBBBBBB": "tester2020synthetic", "CCCCCCCC": "core2020"})
    coding = eb.code_items(items, published)
    assert {s["study_id"]: s["citation_key"] for s in coding.studies} == {
        "AAAAAAAA": "tester2020synthetic", "BBBBBBBB": "core2020"}
    assert coding.problems == []
    again = eb.code_items(items, eb.Published(citation_keys={"AAAAAAAA": "tester2020synthetic",
                                                             "BBBBBBBB": "core2020"}))
    assert again.studies == coding.studies and again.problems == []


def test_the_note_writer_and_reader_round_trip() -> None:
    # One writer of the note format (used by the seed importer, the emulator, the benchmarks and these tests).
    sections = [("Study", [("study_type", "primary"), ("design", "RCT <blinded> & \"open\"")]),
                ("Outcome T1", [("outcome", "readmission"), ("domain", "hospitalisation"), ("measure", "RR"),
                                ("better", "lower"), ("estimate", 0.71), ("ci_low", 0.52), ("ci_high", 0.97),
                                ("quote", "a < b & c > d, 'quoted'")])]
    html = eb.write_note("Extraction", sections)
    lines = eb.note_lines(html)
    assert [line.text for line in lines] == ["Extraction", "Study", "study_type: primary",
                                             'design: RCT <blinded> & "open"', "Outcome T1", "outcome: readmission",
                                             "domain: hospitalisation", "measure: RR", "better: lower",
                                             "estimate: 0.71", "ci_low: 0.52", "ci_high: 0.97",
                                             "quote: a < b & c > d, 'quoted'"]
    assert [line.heading for line in lines[:2]] == [True, True]
    coding = eb.code_items([parent("AAAAAAAA"), {**note("NNNNNNNN", "AAAAAAAA", []), "data": {
        **note("NNNNNNNN", "AAAAAAAA", [])["data"], "note": html}}])
    assert coding.problems == [] and coding.outcomes[0]["estimate"] == 0.71
    assert coding.studies[0]["design"] == 'RCT <blinded> & "open"'
    with pytest.raises(ValueError, match="one line"):
        eb.write_note("Extraction", [("Study", [("design", "two\nlines")])])


# --- risk of bias: RoB 2 and ROBINS-I sections ------------------------------------------------------------------

ROB2 = ["# Risk of bias", "tool: RoB 2", "randomisation process: low (central computer allocation)",
        "D2: some concerns (open label; no deviations reported)", "missing outcome data: low",
        "Measurement: high (unblinded assessors rated the outcome)", "reporting: low"]
ROBINS = ["# Risk of bias", "tool: ROBINS-I", "confounding: moderate", "selection of participants: low",
          "D3: low", "deviations from intended interventions: low", "missing data: no information",
          "measurement of outcomes: low", "D7: low"]


def _rob(lines: list[str], study: list[str] | None = None) -> eb.Coding:
    head = GOOD_NOTE[:7] if study is None else ["Extraction", "# Study", *study, *GOOD_NOTE[6:7]]
    return eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", [*head, *GOOD_NOTE[7:], *lines])])


def _judged(coding: eb.Coding) -> list[tuple[str, str, str, str]]:
    return [(r["finding_id"], r["domain_id"], r["judgement"], r["reason"]) for r in coding.risk_of_bias]


def test_a_rob2_section_gives_a_row_per_domain_and_the_worst_domain_overall() -> None:
    coding = _rob(ROB2)
    assert coding.problems == []
    assert _judged(coding) == [
        ("", "D1", "low", "central computer allocation"),
        ("", "D2", "some concerns", "open label; no deviations reported"),
        ("", "D3", "low", ""), ("", "D4", "high", "unblinded assessors rated the outcome"), ("", "D5", "low", ""),
        ("", "overall", "high", "derived from the domains: worst D4")]
    assert [r["domain"] for r in coding.risk_of_bias][:5] == list(eb.ROB_DOMAINS["RoB 2"])
    assert {r["tool"] for r in coding.risk_of_bias} == {"RoB 2"}
    assert [r["note_line"] for r in coding.risk_of_bias] == [19, 20, 21, 22, 23, 17]  # the overall: its heading
    (study,) = coding.studies
    assert study["risk_of_bias"] == "high (RoB 2; derived from the domains: worst D4)"


def test_a_robins_i_section_with_no_information_and_its_derived_overall() -> None:
    coding = _rob(ROBINS)
    assert coding.problems == []
    assert _judged(coding)[-1] == ("", "overall", "no information", "derived from the domains: worst D5")
    serious = _rob([line.replace("confounding: moderate", "confounding: serious (no adjustment for severity)")
                    for line in ROBINS])
    assert _judged(serious)[-1] == ("", "overall", "serious", "derived from the domains: worst D1")
    assert serious.studies[0]["risk_of_bias"].startswith("serious (ROBINS-I; ")


@pytest.mark.parametrize(("tool", "levels", "overall"), [
    ("RoB 2", ["low"] * 5, "low"), ("RoB 2", ["low", "some concerns", "low", "low", "low"], "some concerns"),
    ("RoB 2", ["some concerns", "high", "some concerns", "low", "low"], "high"),
    ("ROBINS-I", ["low", "moderate", "low", "low", "low", "low", "low"], "moderate"),
    ("ROBINS-I", ["low", "moderate", "no information", "low", "low", "low", "low"], "no information"),
    ("ROBINS-I", ["critical", "serious", "no information", "low", "low", "low", "low"], "critical"),
])
def test_the_overall_rule_of_thumb_is_the_worst_domain(tool: str, levels: list[str], overall: str) -> None:
    assert eb.overall_risk_of_bias(tool, levels) == overall


def test_a_stated_overall_with_its_reason_is_kept_and_a_milder_one_is_reported() -> None:
    graver = _rob([*ROB2[:5], "D4: low", *ROB2[6:], "overall: high (some concerns in D2 with a subjective outcome)"])
    assert graver.problems == []
    assert _judged(graver)[-1] == ("", "overall", "high", "some concerns in D2 with a subjective outcome")
    assert graver.risk_of_bias[-1]["note_line"] == 24  # the line the overall was stated on
    milder = _rob([*ROB2, "overall: some concerns (the outcome is objective)"])
    (warning,) = milder.problems
    assert (warning.severity, warning.line, warning.field) == ("warning", 24, "overall")
    assert "milder than a domain (high in D4)" in warning.message and "'high' is used" in warning.message
    assert _judged(milder)[-1][:3] == ("", "overall", "high")
    unexplained = _rob([*ROB2[:5], "D4: low", *ROB2[6:], "overall: high"])
    (warning,) = unexplained.problems
    assert warning.severity == "warning" and "give the reason" in warning.message
    assert unexplained.studies[0]["risk_of_bias"] == "high (RoB 2)"


def test_per_finding_sections_and_the_study_takes_the_worst() -> None:
    second = ["# Outcome T2", "outcome: hope", "domain: hope", "measure: narrative", "quote: q"]
    low = [ROB2[0] + " T1", *[line.replace("high (unblinded", "low (blinded") for line in ROB2[1:]]]
    high = [ROB2[0] + " T2", *ROB2[1:]]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", [*GOOD_NOTE, *second, *low, *high])])
    assert coding.problems == []
    overall = [j for j in _judged(coding) if j[1] == "overall"]
    assert overall == [("T1", "overall", "some concerns", "derived from the domains: worst D2"),
                       ("T2", "overall", "high", "derived from the domains: worst D4")]
    assert coding.studies[0]["risk_of_bias"] == ("high (RoB 2; the worst over findings T1, T2 is T2: derived from "
                                                 "the domains: worst D4)")
    # a whole-study section, where there is one, is the study's judgement
    whole = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA",
                                                    [*GOOD_NOTE, *second, *high, "# Risk of bias", *low[1:]])])
    assert whole.problems == [] and whole.studies[0]["risk_of_bias"].startswith("some concerns (RoB 2; ")


def test_a_section_for_a_finding_the_note_does_not_have_is_an_error() -> None:
    coding = _rob([ROB2[0] + " T9", *ROB2[1:]])
    (error,) = coding.problems
    assert (error.line, error.severity) == (17, "error")
    assert "names finding T9, but this note has no 'Outcome T9' section" in error.message
    assert coding.risk_of_bias == [] and coding.studies[0]["risk_of_bias"] == ""


@pytest.mark.parametrize(("typed", "field", "said"), [
    ("randomsation process: low", "randomsation process", "did you mean 'randomisation process' (D1)?"),
    ("D1: lwo", "d1", "'lwo' is not a RoB 2 judgement; did you mean 'low'?"),
    ("D1: some concern", "d1", "did you mean 'some concerns'?"),
    ("D1: serious", "d1", "'serious' is a ROBINS-I judgement; RoB 2 judges low, some concerns, high"),
    ("D1: unclear", "d1", "'unclear' is the old RoB 1's word"),
    ("confounding: low", "confounding", "'confounding' is a domain of ROBINS-I, not of RoB 2"),
    ("D6: low", "d6", "RoB 2 has 5 domains, D1 to D5"),
    ("D1 missing outcome data: low", "d1 missing outcome data",
     "D1 of RoB 2 is randomisation process, not missing outcome data"),
])
def test_a_misspelt_domain_or_judgement_is_one_error_with_a_suggestion(typed: str, field: str, said: str) -> None:
    coding = _rob([*ROB2[:2], typed, *ROB2[3:]])
    (error,) = coding.problems  # one mistake, one message (a misspelt domain is not also 'missing')
    assert (error.severity, error.line, error.field) == ("error", 19, field)
    assert said in error.message and "the Risk of bias section was left out" in error.message
    assert coding.risk_of_bias == [] and coding.studies[0]["risk_of_bias"] == ""  # nothing half-read
    assert [o["finding_id"] for o in coding.outcomes] == ["T1"]  # the finding is not affected


@pytest.mark.parametrize(("typed", "expected"), [("RoB2", "RoB 2"), ("rob 2.0", "RoB 2"), ("ROBINS I", "ROBINS-I"),
                                                 ("robins-i", "ROBINS-I")])
def test_the_tools_name_as_people_type_it(typed: str, expected: str) -> None:
    lines = ROB2 if expected == "RoB 2" else ROBINS
    coding = _rob([lines[0], f"tool: {typed}", *lines[2:]])
    assert coding.problems == [] and {r["tool"] for r in coding.risk_of_bias} == {expected}


def test_an_unknown_or_missing_tool_and_a_missing_domain_are_errors() -> None:
    (error,) = _rob([ROB2[0], "tool: ROB-1", *ROB2[2:]]).problems
    assert (error.line, error.field) == (18, "tool") and "did you mean 'RoB 2'?" in error.message
    (error,) = _rob([ROB2[0], *ROB2[2:]]).problems
    assert error.field == "tool" and "needs its tool: 'tool: RoB 2'" in error.message
    (error,) = _rob(ROB2[:-1]).problems
    assert error.line == 17 and "RoB 2 judges every domain; missing: D5 selection of the reported result" in error.message
    (error,) = _rob([*ROB2, "D1: high"]).problems
    assert error.line == 24 and "D1 (randomisation process) is judged twice (first on line 19)" in error.message


def test_the_section_wins_over_the_field_and_a_different_field_is_a_warning() -> None:
    coding = _rob(ROB2, study=["study_type: primary", "design_type: RCT", "risk_of_bias: low (as reported)"])
    (warning,) = coding.problems
    assert (warning.severity, warning.line, warning.field) == ("warning", 5, "risk_of_bias")
    assert "risk_of_bias says 'low', but the Risk of bias section gives 'high' overall" in warning.message
    assert coding.studies[0]["risk_of_bias"].startswith("high (RoB 2; ")
    assert _rob(ROB2, study=["risk_of_bias: not assessed"]).problems == []  # no judgement to disagree with
    assert _rob(ROB2, study=["risk_of_bias: high"]).problems == []


def test_risk_of_bias_with_a_value_under_study_is_still_the_field_not_a_heading() -> None:
    coding = _rob([], study=["study_type: primary", "Risk of bias: some concerns (RoB 2)"])
    assert coding.problems == [] and coding.risk_of_bias == []
    assert coding.studies[0]["risk_of_bias"] == "some concerns (RoB 2)"


def test_a_tool_that_does_not_fit_the_design_is_a_warning() -> None:
    coding = _rob(ROB2, study=["study_type: primary", "design_type: observational cohort"])
    (warning,) = coding.problems
    assert warning.severity == "warning" and "RoB 2 is for randomised trials" in warning.message
    assert len(coding.risk_of_bias) == 6


def test_a_study_field_after_the_risk_of_bias_heading_is_said_once() -> None:
    coding = _rob([*ROB2[:3], "population: adults", "setting: clinic", *ROB2[3:]])
    (error,) = coding.problems
    assert (error.line, error.field) == (20, "population") and "a study's field in a Risk of bias section" in error.message
    assert coding.risk_of_bias == []


def test_robvis_style_domain_names_and_the_d_keys_are_read() -> None:
    lines = ["# Risk of bias", "tool: RoB 2", "Bias arising from the randomization process: low",
             "Bias due to deviations from intended interventions: low", "Domain 3: low",
             "Bias in measurement of the outcome: low risk", "Bias in selection of the reported result: low"]
    coding = _rob(lines)
    assert coding.problems == []
    assert _judged(coding)[-1] == ("", "overall", "low", "derived from the domains: all low")
    assert _judged(coding)[3] == ("", "D4", "low", "")  # 'low risk' is 'low', with no reason


def test_every_example_note_on_the_contributing_page_is_coded_without_a_problem() -> None:
    import re

    from conftest import ROOT

    page = (ROOT / "book" / "contributing.md").read_text(encoding="utf-8")
    examples = re.findall(r"```text\n(Extraction\n.*?)```", page, re.DOTALL)
    assert len(examples) >= 3  # the first study, its risk of bias, and risk of bias per finding
    for example in examples:
        coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", example.splitlines())])
        assert coding.problems == [], example.splitlines()[:3]
        assert coding.outcomes
        # ...and a finding with an estimate (reported, or computed from its raw data) reaches a forest plot
        tables = eb.derive_tables(coding, {})
        outcomes, studies = tables["outcomes.csv"], tables["studies.csv"]
        for finding in outcomes[outcomes["estimate"].notna()].itertuples():
            scale = {"RR": "ratio", "OR": "ratio", "HR": "ratio", "SMD": "standardised", "Hedges g": "standardised",
                     "MD": "mean difference", "RD": "risk difference"}[finding.measure]
            plotted = eb.effect_rows(outcomes, studies, scale)
            assert plotted.set_index("finding_id").loc[finding.finding_id, "h_estimate"] > 0, finding.finding_id


def test_the_contributing_risk_of_bias_examples_give_what_the_page_says() -> None:
    import re

    from conftest import ROOT

    page = (ROOT / "book" / "contributing.md").read_text(encoding="utf-8")
    whole, per_finding = [e.splitlines() for e in re.findall(r"```text\n(Extraction\n.*?)```", page, re.DOTALL)
                          if "Risk of bias" in e]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", whole)])
    assert coding.studies[0]["risk_of_bias"].startswith("some concerns (RoB 2; ")  # 'here some concerns'
    assert {r["source"] for r in coding.risk_of_bias} == {"judged by A. Reviewer and B. Reviewer, agreed"}
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", per_finding)])
    assert [(r["finding_id"], r["judgement"]) for r in coding.risk_of_bias if r["domain_id"] == "overall"] == [
        ("LEE-1", "moderate"), ("LEE-2", "serious")]
    assert coding.studies[0]["risk_of_bias"].startswith("serious (ROBINS-I; the worst over findings LEE-1, LEE-2")


@pytest.mark.parametrize("field, value, hint", [
    ("estimate", "0,80", "use a decimal point: 0.80"),
    ("ci_low", "0.5-0.9", "a range goes in two fields: ci_low and ci_high"),
    ("estimate", "0.8 (0.5 to 0.9)", "give the estimate alone, and its CI as ci_low and ci_high"),
    ("domain", "readmissions", "did you mean 'hospitalisation'?"),
    ("measure", "RRR", "did you mean 'RR'?"),
    ("comparison_type", "added to usual", "did you mean 'added to usual care'?"),
])
def test_the_mistakes_people_make_get_a_hint_and_one_message(field: str, value: str, hint: str) -> None:
    lines = [f"{field}: {value}" if line.startswith(f"{field}:") else line for line in GOOD_NOTE]
    if not any(line.startswith(f"{field}:") for line in lines):
        lines.append(f"{field}: {value}")
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)])
    messages = [p.message for p in coding.problems if p.severity == "error"]
    assert len(messages) == 1 and hint in messages[0], messages


def test_problems_link_to_the_item_in_the_app_and_on_the_web() -> None:
    assert eb.zotero_links("group", 4242, "ABCD2345") == (
        '<a href="zotero://select/groups/4242/items/ABCD2345">ABCD2345</a> '
        '(<a href="https://www.zotero.org/groups/4242/items/ABCD2345" rel="noopener">web</a>)')
    assert eb.zotero_links("user", 7, "ABCD2345") == '<a href="zotero://select/library/items/ABCD2345">ABCD2345</a>'
    assert eb.zotero_links("group", 0, "ABCD2345") == "ABCD2345"  # the bundled snapshot is no online library
    assert "<script" not in eb.zotero_links("group", 12, '"><script>')


def test_a_misspelt_screening_tag_gets_a_suggestion() -> None:
    coding = eb.code_items([parent("AAAAAAAA", tags=("screen:FT:includ",))])
    (problem,) = coding.problems
    assert "did you mean 'screen:FT:include'?" in problem.message and problem.field == "tags"
