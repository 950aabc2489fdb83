"""Medicaid coverage by status: what each fact says, how a state's facts combine, dates, and
where the status is shown (the map, the policy page, the briefs)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from conftest import ROOT

import evidencebook as eb
from evidencebook._errors import EvidenceError
from evidencebook._policy import (CONFLICTING, COVERED, NOT_COVERED, NOT_DOCUMENTED, as_of_key, clearly_newer,
                                  coverage_table, newest_first, parse_as_of, read_fact, read_facts,
                                  state_coverage)

GAP_TABLE = "Row of the table headed 'StateMH Medicaid ReimbursementSUD Medicaid Reimbursement'"


def fact(fact_id: str, state_code: str, value: str, as_of: str = "2024", quote: str = "",
         fact: str = "Medicaid coverage of peer support", topic: str = "Medicaid coverage",
         **more: Any) -> dict[str, Any]:
    return {"fact_id": fact_id, "state": state_code, "state_code": state_code, "topic": topic, "fact": fact,
            "value": value, "as_of": as_of, "quote": quote or value, "notes": "", "source_type": "test",
            "source_url": f"https://example.org/{fact_id}", **more}


def gap_row(fact_id: str, state_code: str, name: str, mh: str, sud: str,
            as_of: str = "2024-07 (gap analysis; follow-up Sept 2024)") -> dict[str, Any]:
    """A row of the 2024 Policy Center gap table: cells run together in the quote."""
    return fact(fact_id, state_code, f"MH: {mh}; SUD: {sud}", as_of, quote=f"{name}{mh}{sud}",
                fact="Medicaid reimbursement of peer support (MH / SUD)", notes=GAP_TABLE)


def policy(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def coverage(*rows: dict[str, Any], state: str) -> dict[str, Any]:
    return state_coverage(state, read_facts(policy(*rows)))


@pytest.fixture(scope="module")
def evidence() -> eb.Evidence:
    return eb.load_evidence(eb.load_settings(ROOT))


# --- each status, from one fact -------------------------------------------------------------

def test_a_yes_no_gap_table_row_gives_each_service_its_status() -> None:
    c = coverage(gap_row("P1", "MD", "Maryland", "No", "Yes"), state="MD")
    assert (c["MH"].status, c["SUD"].status) == (NOT_COVERED, COVERED)
    assert c["MH"].as_of == "2024-07 (gap analysis; follow-up Sept 2024)" and c["MH"].fact_ids == ("P1",)


def test_sd_and_vt_like_no_no_rows_are_not_covered_although_a_fact_exists() -> None:
    c = coverage(gap_row("P1", "SD", "South Dakota", "No", "No"), state="SD")
    assert c["MH"].status == c["SUD"].status == NOT_COVERED


def test_a_gap_table_row_whose_quote_disagrees_with_its_value_is_not_read() -> None:
    row = gap_row("P1", "MD", "Maryland", "No", "Yes") | {"quote": "MarylandYesYes"}
    reading = read_fact(row)
    assert not reading.statuses and "disagree" in reading.reason
    assert coverage(row, state="MD")["MH"].status == NOT_DOCUMENTED


@pytest.mark.parametrize("value,quote,mh,sud", [
    ("Peer support made a Medicaid-billable service in 2011", "", COVERED, COVERED),
    ("Yes - offered as complement to clinical treatment", "state Medicaid programs offered peer-support services",
     COVERED, COVERED),
    ("Not billable to Medicaid", "the state doesn’t allow for peer services to be billed through Medicaid.",
     NOT_COVERED, NOT_COVERED),
    ("Not Medicaid-reimbursable as an individual service",  # the quote names recovery coaching only
     "neither Certified Peer Support nor Peer Recovery Coaching is eligible for Medicaid reimbursement",
     NOT_DOCUMENTED, NOT_COVERED),
    ("No", "Medicaid does not reimburse", NOT_COVERED, NOT_COVERED),
])
def test_words_that_say_medicaid_pays_or_does_not(value: str, quote: str, mh: str, sud: str) -> None:
    c = coverage(fact("P1", "AK", value, quote=quote), state="AK")
    assert (c["MH"].status, c["SUD"].status) == (mh, sud)


@pytest.mark.parametrize("value,why", [
    ("SB765/HB772 (2018) - Medical Assistance coverage of peer services (outcome not captured)", "bill"),
    ("'They will be' Medicaid reimbursable - 'Just added to 115 waiver'", "planned or sought"),
    ("Department to seek CMS approval by Jan 1, 2023 to cover SUD peer recovery support under Medicaid",
     "planned or sought"),
    ("PRSS credential policies set by AHCCCS (state Medicaid)", "does not say whether"),
    ("Peer support billable for members of the state behavioral health plan", "does not say the payer is Medicaid"),
])
def test_bills_plans_and_mere_mentions_are_not_documented_with_a_reason(value: str, why: str) -> None:
    c = coverage(fact("P1", "MD", value, fact="Billing of peer services", topic="other"), state="MD")
    for service in ("MH", "SUD"):
        assert c[service].status == NOT_DOCUMENTED
        assert why in c[service].reason and "P1" in c[service].reason


def test_a_bill_that_passed_is_law_and_is_read() -> None:
    c = coverage(fact("S1", "TX", "HB 1486 (85th Legislature, 2017)", "2017",
                      quote="In 2017, the Legislature passed HB 1486, the Peer Medicaid Bill, which allowed services "
                            "provided by mental health peer specialists and substance use recovery coaches",
                      fact="Medicaid coverage of peer services legislated"), state="TX")
    assert c["MH"].status == c["SUD"].status == COVERED


def test_a_state_with_no_medicaid_fact_is_not_documented_and_says_so() -> None:
    c = coverage(fact("P1", "AL", "Alabama Department of Mental Health", fact="Certifying body",
                      topic="certification and training"), state="AL")
    assert c["MH"].status == NOT_DOCUMENTED and c["MH"].reason == (
        "No fact says whether Medicaid covers mental health peer support.")


def test_national_facts_never_colour_a_state() -> None:
    readings = read_facts(policy(fact("S7", "US", "47 states + DC fund peer services using Medicaid dollars")))
    assert not readings[0].statuses
    assert set(coverage_table(policy(fact("S7", "US", "Medicaid covers peer support")))["status"]) == {NOT_DOCUMENTED}


# --- which service a fact speaks to ----------------------------------------------------------

def test_a_fact_naming_one_service_leaves_the_other_not_documented() -> None:
    c = coverage(fact("P1", "NY", "All CRPA titles eligible for Medicaid reimbursement",
                      fact="Medicaid coverage of peer support (SUD)"), state="NY")
    assert c["SUD"].status == COVERED and c["MH"].status == NOT_DOCUMENTED
    assert "P1 speaks only to substance use" in c["MH"].reason


def test_a_fact_naming_no_service_counts_for_both_and_says_so() -> None:
    c = coverage(fact("P1", "AK", "Peer support made a Medicaid-billable service"), state="AK")
    assert c["MH"].status == c["SUD"].status == COVERED
    assert c["MH"].general and "no service" in c["MH"].reason


def test_the_quote_names_the_service_when_fact_and_value_do_not() -> None:
    c = coverage(fact("S1", "GA", "July 1999 (statewide Rehabilitation Option service)", "1999",
                      quote="Georgia received Medicaid reimbursement for Peer Support as a statewide mental health "
                            "Rehabilitation Option service."), state="GA")
    assert c["MH"].status == COVERED and c["SUD"].status == NOT_DOCUMENTED


# --- a state's facts together -----------------------------------------------------------------

def test_two_facts_of_the_same_date_that_disagree_are_conflicting_sources() -> None:
    # Ohio-like: the gap table (July 2024, follow-up Sept 2024) against a rule current through Sept 16, 2024.
    c = coverage(gap_row("P108", "OH", "Ohio", "No", "Yes"),
                 fact("P176", "OH", "Behavioral health peer support covered by Medicaid for MH or SUD",
                      "current through Sept 16, 2024"), state="OH")
    assert c["MH"].status == CONFLICTING and c["MH"].conflict
    assert set(c["MH"].fact_ids) == {"P108", "P176"} and c["MH"].says == {"P176": COVERED, "P108": NOT_COVERED}
    assert c["MH"].reason.startswith("sources disagree: P176")
    assert c["SUD"].status == COVERED and not c["SUD"].conflict  # both say covered


def test_an_undated_fact_that_disagrees_conflicts_with_a_dated_one() -> None:
    c = coverage(gap_row("P1", "DC", "District of Columbia", "No", "No"),
                 fact("P2", "DC", "Peer services Medicaid-reimbursable (MH)", "page undated"), state="DC")
    assert c["MH"].status == CONFLICTING and c["SUD"].status == NOT_COVERED


def test_a_newer_dated_fact_supersedes_an_older_one_which_is_kept_as_history() -> None:
    # Vermont-like: the 2024 gap table says no; a 2025 Department of Mental Health rule lets peers bill Medicaid.
    c = coverage(gap_row("P111", "VT", "Vermont", "No", "No"),
                 fact("P190", "VT", "Peer support providers may bill Medicaid under DMH interim credentialing", "2025"),
                 state="VT")
    assert c["MH"].status == COVERED and c["MH"].fact_ids == ("P190",) and c["MH"].history == ("P111",)
    assert c["MH"].as_of == "2025" and "history: P111" in c["MH"].reason
    assert c["SUD"].status == NOT_COVERED and c["SUD"].history == ()  # the DMH rule speaks to mental health


def test_agreeing_facts_rest_on_all_of_them_and_take_the_newest_dated_date() -> None:
    c = coverage(gap_row("P101", "DC", "District of Columbia", "Yes", "No"),
                 fact("P133", "DC", "CPS services are Medicaid reimbursable (MH)", "rule current"), state="DC")
    assert c["MH"].status == COVERED and set(c["MH"].fact_ids) == {"P101", "P133"}
    assert c["MH"].as_of.startswith("2024-07")  # the dated fact's date, not "rule current"


def test_a_date_known_only_as_after_a_month_is_not_shown_older() -> None:
    # Connecticut: an article 'after July 2021' says not billable; the 2024 table says MH yes.
    c = coverage(gap_row("P100", "CT", "Connecticut", "Yes", "No"),
                 fact("P131", "CT", "Not billable to Medicaid", "after July 2021 (article date not captured)"),
                 state="CT")
    assert c["MH"].status == CONFLICTING and c["SUD"].status == NOT_COVERED


# --- dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_of,key", [
    ("2024-07 (gap analysis; follow-up Sept 2024)", "2024-09"), ("current through Sept 16, 2024", "2024-09-16"),
    ("2018-2020 (GAO-20-616, Aug 2020)", "2020-08"), ("after July 2021 (article date not captured)", "2021-07"),
    ("undated older Copeland page (pre-2020)", "2019"), ("c. 2023-2024", "2024"), ("2007-", "2007"),
    ("rule current (DCMR 22-A7300)", "9999"), ("report date not captured", ""), ("", ""), (float("nan"), ""),
    ("2024-13", "2024"), ("January 1, 2023", "2023-01-01"),
])
def test_as_of_dates_are_read_with_their_precision(as_of: Any, key: str) -> None:
    assert as_of_key(as_of) == key


def test_clearly_newer_needs_the_whole_of_one_date_after_the_other() -> None:
    sept_2024, sept_16 = parse_as_of("follow-up Sept 2024"), parse_as_of("current through Sept 16, 2024")
    assert not clearly_newer(sept_16, sept_2024) and not clearly_newer(sept_2024, sept_16)
    assert clearly_newer(parse_as_of("2025"), sept_2024)
    assert not clearly_newer(parse_as_of("c. 2014"), parse_as_of("2013"))  # circa: a year either side
    assert clearly_newer(parse_as_of("2024"), parse_as_of("c. 2013"))
    assert not clearly_newer(parse_as_of("2024"), parse_as_of("page current"))
    assert not clearly_newer(parse_as_of("2024"), parse_as_of("after July 2021"))
    assert clearly_newer(parse_as_of("after July 2021"), parse_as_of("2013"))


def test_newest_first_sorts_by_the_facts_own_date_not_its_text() -> None:
    # As text, 'after July 2021' sorts above '2024-07 ...': the Connecticut bug.
    facts = policy(fact("P131", "CT", "Not billable", "after July 2021 (article date not captured)"),
                   fact("P100", "CT", "MH: Yes; SUD: No", "2024-07 (gap analysis; follow-up Sept 2024)"),
                   fact("P9", "CT", "x", "page undated"), fact("P8", "CT", "x", "page current"))
    assert newest_first(facts)["fact_id"].tolist() == ["P8", "P100", "P131", "P9"]


def test_a_policy_table_without_a_needed_column_is_one_clear_error() -> None:
    with pytest.raises(EvidenceError, match="state policy table: column 'as_of' is missing"):
        read_facts(policy(fact("P1", "AK", "x")).drop(columns="as_of"))


# --- the bundled evidence -----------------------------------------------------------------------

def test_the_bundled_table_sd_not_covered_vt_superseded_ohio_conflicting(evidence: eb.Evidence) -> None:
    table = coverage_table(evidence.policy).set_index(["state_code", "service"])
    assert len(table) == 2 * 51
    assert table.loc[("SD", "MH"), "status"] == table.loc[("SD", "SUD"), "status"] == NOT_COVERED
    # Vermont: the 2024 gap table says no for both; the 2025 DMH interim rule lets peers bill Medicaid.
    assert table.loc[("VT", "SUD"), "status"] == NOT_COVERED
    assert table.loc[("VT", "MH"), "status"] == COVERED and table.loc[("VT", "MH"), "history"] == "P111"
    # Ohio: the gap table (MH no) and OAC 5160-27-14 (MH or SUD covered), both September 2024.
    assert table.loc[("OH", "MH"), "status"] == CONFLICTING
    assert set(table.loc[("OH", "MH"), "fact_ids"].split("|")) == {"P108", "P176"}
    assert table.loc[("OH", "SUD"), "status"] == COVERED and table.loc[("OH", "SUD"), "history"] == "P177"
    for code in ("AL", "DE", "MS", "TN", "UT"):  # no sourced coverage fact found yet
        assert table.loc[(code, "MH"), "status"] == table.loc[(code, "SUD"), "status"] == NOT_DOCUMENTED, code
    # Filled from sources the search tool holds (seed P208-P212, P227, P228), each for one service only:
    for code, covered, undocumented in (("LA", "MH", "SUD"), ("NV", "MH", "SUD"), ("IN", "SUD", "MH"),
                                        ("OK", "SUD", "MH"), ("KS", "MH", "SUD"), ("IA", "MH", "SUD")):
        assert table.loc[(code, covered), "status"] == COVERED, code
        assert table.loc[(code, undocumented), "status"] == NOT_DOCUMENTED, code
    # Nebraska: a Heritage Health plan's 2023 grid names peer support without a service (P226): both, flagged general.
    for service in ("MH", "SUD"):
        assert table.loc[("NE", service), "status"] == COVERED and table.loc[("NE", service), "fact_ids"] == "P226"
        assert table.loc[("NE", service), "general"]
    # Iowa's coverage rests on the Iowa Plan page (c. 2015); the 2025 IHH FAQ (P213) stays unread, and the
    # undocumented service's reason names both.
    assert table.loc[("IA", "MH"), "fact_ids"] == "P228" and table.loc[("IA", "MH"), "as_of"] == "c. 2015"
    assert "P213" in table.loc[("IA", "SUD"), "reason"] and "P228" in table.loc[("IA", "SUD"), "reason"]
    for code in ("AZ", "ID", "WV"):  # Medicaid facts that do not settle coverage: the reason names them
        assert table.loc[(code, "MH"), "status"] == NOT_DOCUMENTED
        assert table.loc[(code, "MH"), "reason"] != "No fact says whether Medicaid covers mental health peer support."


# --- the map ------------------------------------------------------------------------------------

def _tiles(fig: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (panel title's service, state): the tile's face, edge width, hatch, and the texts drawn on it."""
    from matplotlib.colors import to_hex

    tiles = {}
    for ax, service in zip(fig.axes, ("MH", "SUD")):
        for patch in ax.patches:
            x, y = patch.get_xy()
            texts = [t for t in ax.texts
                     if x <= t.get_position()[0] <= x + 0.92 and y <= t.get_position()[1] <= y + 0.92]
            code = texts[0].get_text()
            tiles[(service, code)] = {"face": to_hex(patch.get_facecolor()), "edge": patch.get_linewidth(),
                                      "hatch": patch.get_hatch(), "letter": texts[1].get_text(),
                                      "text_colours": {to_hex(t.get_color()) for t in texts}}
    return tiles


@pytest.fixture(scope="module")
def ohio_like_map() -> Any:
    from evidencebook._maps import coverage_tile_map

    table = coverage_table(policy(gap_row("P110", "SD", "South Dakota", "No", "No"),
                                  gap_row("P108", "OH", "Ohio", "No", "Yes"),
                                  fact("P176", "OH", "Peer support covered by Medicaid for MH or SUD",
                                       "current through Sept 16, 2024"),
                                  fact("P120", "AK", "Peer support made a Medicaid-billable service", "2011")))
    fig = coverage_tile_map(table, "Medicaid coverage of peer support, by state")
    yield table, fig
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_the_map_colours_and_letters_each_state_by_what_its_facts_say(ohio_like_map: Any) -> None:
    from evidencebook._maps import STATE_TILES, STATUS_STYLE

    _, fig = ohio_like_map
    tiles = _tiles(fig)
    assert len(tiles) == 2 * len(STATE_TILES) == 2 * 51
    for service in ("MH", "SUD"):  # SD's facts say no: not covered, although a fact exists
        assert tiles[(service, "SD")]["face"] == STATUS_STYLE[NOT_COVERED].face.lower()
        assert tiles[(service, "SD")]["letter"] == "N"
        assert tiles[(service, "AK")]["letter"] == "C" and tiles[(service, "AL")]["letter"] == "?"
        assert tiles[(service, "AL")]["hatch"]  # not documented: a pattern, not colour alone
    assert tiles[("MH", "OH")]["letter"] == "!" and tiles[("MH", "OH")]["edge"] > 2  # the conflict, flagged
    assert tiles[("SUD", "OH")]["letter"] == "C" and tiles[("SUD", "OH")]["edge"] < 1


def test_every_letter_on_the_map_has_4_5_to_1_contrast_with_its_tile(ohio_like_map: Any) -> None:
    from evidencebook._maps import contrast_ratio

    _, fig = ohio_like_map
    for key, tile in _tiles(fig).items():
        for colour in tile["text_colours"]:
            assert contrast_ratio(colour, tile["face"]) >= 4.5, key
    assert round(contrast_ratio("#777777", "#FFFFFF"), 2) == 4.48  # WCAG's own borderline grey


def test_the_map_has_a_title_axis_labels_and_a_legend_of_the_four_statuses(ohio_like_map: Any) -> None:
    _, fig = ohio_like_map
    assert fig._suptitle.get_text() == "Medicaid coverage of peer support, by state"
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["Mental health peer support",
                                                                  "Substance use peer support"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    [legend] = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["C: covered", "N: not covered",
                                                          "!: sources disagree (flagged)", "?: not documented"]


def test_the_alt_text_lists_the_states_of_each_status_and_the_conflicts(ohio_like_map: Any) -> None:
    from evidencebook._maps import coverage_alt_text

    table, _ = ohio_like_map
    alt = coverage_alt_text(table, "Coverage")
    assert "Mental health peer support: covered in 1 (AK); not covered in 1 (SD); sources disagree in 1 (OH); " \
           "not documented in 48" in alt
    assert "Substance use peer support: covered in 2 (AK, OH); not covered in 1 (SD); sources disagree in 0;" in alt
    assert alt.endswith("Conflicting sources flagged: OH (mental health).")


# --- the policy page and the briefs, on the bundled evidence ------------------------------------

def test_the_policy_page_lists_facts_newest_first_by_their_own_date(evidence: eb.Evidence) -> None:
    html = str(eb.policy_table(evidence, ["CT", "OH"]))
    assert html.index(">P100<") < html.index(">P131<")  # 2024-07 before 'after July 2021'
    assert html.index(">P176<") < html.index(">P108<") < html.index(">P177<")  # Sept 16 2024, Sept 2024, 2013
    assert "mental health: not covered (sources disagree)" in html  # P108, flagged in the table
    assert "substance use: not covered (history, superseded by P176, P108)" in html  # P177


def test_the_policy_landscape_gives_each_state_its_status_date_and_conflicts(evidence: eb.Evidence) -> None:
    html = str(eb.policy_landscape(evidence))
    row = lambda name: html[html.index(f">{name}</a>"):].split("</tr>")[0]  # noqa: E731
    assert row("South Dakota").count("<strong>not covered</strong>, as of 2024-07") == 2
    assert "sources disagree: mental health" in row("Ohio") and "sources disagree: mental health" in row("Connecticut")
    assert "sources disagree" not in row("South Dakota") and "older: P111" in row("Vermont")
    assert "Conflicting sources flagged: CT (mental health), OH (mental health)." in html


def test_briefs_state_both_statuses_with_dates_and_flag_conflicts(evidence: eb.Evidence) -> None:
    ohio = str(eb.Brief(eb.resolve_region("OH", evidence.regions), evidence).levers())  # the brief's lever panel
    assert '<strong class="eb-conflict">Sources disagree</strong>: ' in ohio
    assert "P176 (current through Sept 16, 2024) says covered; P108 (2024-07" in ohio
    assert "<strong>Covered</strong>, as of current through Sept 16, 2024." in ohio and "; P108)" in ohio
    assert "P177 (c. 2013) said not covered" in ohio
    vermont = str(eb.Brief(eb.resolve_region("VT", evidence.regions), evidence).levers())
    assert "<strong>Covered</strong>, as of 2025." in vermont and "; P190)" in vermont and "; P111)" in vermont


def test_no_brief_calls_coverage_undocumented_beside_a_medicaid_fact_it_lists(evidence: eb.Evidence) -> None:
    from evidencebook._regions import STATE_NAMES

    for code in STATE_NAMES:
        b = eb.Brief(eb.resolve_region(code, evidence.regions), evidence)
        listed = b.policy_facts()  # the lever panel lists every fact
        medicaid = listed[listed[["fact", "value", "quote"]].apply(" ".join, axis=1).str.contains(
            "medicaid|medi-cal|ahcccs|billing|billable|reimburs", case=False)]
        context = "".join(r for r in str(b.levers()).split("</tr>") if "Medicaid coverage:" in r).lower()
        if not medicaid.empty:
            assert "not documented" not in context and "not yet documented" not in context, code
    for code in ("AZ", "ID", "WV"):  # issue 14: these said 'not documented' while listing Medicaid facts
        context = str(eb.Brief(eb.resolve_region(code, evidence.regions), evidence).levers())
        assert "No fact settles it" in context


def test_a_brief_on_synthetic_facts_says_sources_disagree_and_lists_newest_first(evidence: eb.Evidence) -> None:
    import dataclasses

    synthetic = policy(fact("P131", "CT", "Not billable to Medicaid", "after July 2021 (article date not captured)"),
                       gap_row("P100", "CT", "Connecticut", "Yes", "No"))
    b = eb.Brief(eb.resolve_region("CT", evidence.regions), dataclasses.replace(evidence, policy=synthetic))
    assert b.policy_facts()["fact_id"].tolist() == ["P100", "P131"]
    context = str(b.levers())
    assert '<strong class="eb-conflict">Sources disagree</strong>: P100' in context
    assert "<strong>Not covered</strong>, as of 2024-07" in context
    assert context.index("; P100)") < context.index("; P131)")
