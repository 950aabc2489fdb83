"""The seed importer's coding rules (scripts/import_seed.py) and the bundled seed they code."""

from __future__ import annotations

import csv
import runpy
from pathlib import Path

import pytest

from evidencebook._coding import code_items
from evidencebook._zotero import read_snapshot

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "evidence" / "seed"
IMPORTER = runpy.run_path(str(ROOT / "scripts" / "import_seed.py"), run_name="import_seed")


def row(**fields: str) -> dict[str, str]:
    base = {"id": "T1", "outcome": "x", "direction": "favours peer", "effect_measure": "narrative",
            "estimate": "", "ci_low": "", "ci_high": ""}
    return base | fields


@pytest.mark.parametrize("outcome, direction, better", [
    # Chinman 2014 (O05): inpatient use, lower is better; the rule had no 'inpatient'.
    ("inpatient service use (peers vs professional staff in same role)", "favours peer", "lower"),
    # 'within 30 days' / '60 days' made engagement and MOUD initiation 'lower' (O52, O57).
    ("SUD treatment engagement within 30 days (primary); MOUD access within 30 days", "no difference", "higher"),
    ("MOUD initiation within 60 days of discharge", "favours peer", "higher"),
    ("time out of hospital; substance use; symptoms; functioning", "favours peer", "higher"),  # O37
    ("hospital days (9 months)", "favours peer", "lower"),
    ("days of substance use (treatment weeks 1-12)", "favours peer", "lower"),
    # A descriptive finding compares nothing (O59, O31): no direction.
    ("engagement with peer recovery coach at 30/60/90 days", "n/a (descriptive)", "unclear"),
])
def test_better_follows_the_outcome_and_descriptive_findings_have_none(outcome: str, direction: str, better: str) -> None:
    assert IMPORTER["better_direction"](row(outcome=outcome, direction=direction), False) == better


def test_a_checked_sign_convention_in_the_seed_wins_and_a_significant_sign_still_decides() -> None:
    lloyd_evans = row(outcome="hope (post-intervention)", effect_measure="SMD", estimate="-0.14", ci_low="-0.27",
                      ci_high="-0.02")
    assert IMPORTER["better_direction"](lloyd_evans, True) == "lower"  # negative and significant, favours peer
    assert IMPORTER["better_direction"](lloyd_evans | {"better": "higher"}, True) == "higher"


@pytest.mark.parametrize("design, design_type", [
    ("systematic review (no meta-analysis)", "systematic review"),  # Bassuk 2016
    ("systematic evidence review (levels of evidence; no meta-analysis)", "systematic review"),  # Chinman 2014
    ("systematic review + meta-analysis of RCTs", "systematic review with meta-analysis"),
    ("umbrella review (review of reviews)", "umbrella review"),
])
def test_design_type_reads_no_meta_analysis_as_none(design: str, design_type: str) -> None:
    assert IMPORTER["classify"](design, IMPORTER["DESIGN_RULES"], "other") == design_type


def seed_row(**fields: str) -> dict[str, str]:
    with (SEED / "outcomes.csv").open(encoding="utf-8", newline="") as f:
        columns = next(csv.reader(f))
    return {c: "" for c in columns} | {"id": "T1", "authors": "Doe J", "year": "2020", "title": "A trial",
                                        "journal": "J 1:1", "design": "RCT", "outcome": "recovery",
                                        "comparison": "peer vs usual care", "effect_measure": "narrative",
                                        "direction": "favours peer", "quote": "q"} | fields


def test_new_coding_fields_are_written_only_where_the_seed_gives_them() -> None:
    given = seed_row(comparison_type="replacing staff", review_quality="low", review_quality_source="Cooper 2024",
                     risk_of_bias="high (reason)", same_study_as="doe2019trial")
    items, _ = IMPORTER["study_items"]([given, seed_row(id="T2", authors="Roe J")], 0)
    notes = [i["data"]["note"] for i in items if i["data"]["itemType"] == "note"]
    assert all(f"<p>{line}</p>" in notes[0] for line in (
        "comparison_type: replacing staff", "review_quality: low", "review_quality_source: Cooper 2024",
        "risk_of_bias: high (reason)", "same_study_as: doe2019trial"))
    assert "review_certainty" not in notes[0] and "includes:" not in notes[0]
    assert "<p>risk_of_bias: not assessed</p>" in notes[1]
    assert not any(f in notes[1] for f in ("comparison_type", "review_quality", "same_study_as"))


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("seed") / "zotero"
    IMPORTER["main"](SEED, folder)
    from evidencebook import load_settings, region_records

    # the project's regions (Southern Oregon is configured in pyproject.toml), as a sync reads them
    return code_items(read_snapshot(folder).items, regions=region_records(load_settings(ROOT).regions))


def test_the_bundled_seed_codes_without_problems(bundled) -> None:
    assert [str(p) for p in bundled.problems] == []


def test_the_bundled_corrections_hold(bundled) -> None:
    outcomes = {o["finding_id"]: o for o in bundled.outcomes}
    studies = {s["citation_key"]: s for s in bundled.studies}
    assert outcomes["O05"]["better"] == "lower"
    assert outcomes["O59"]["better"] == "unclear" and outcomes["O31"]["better"] == "unclear"
    assert outcomes["O45"]["domain"] == "empowerment"  # activation, not recovery
    assert {outcomes[i]["domain"] for i in ("O60", "O61", "O62")} == {"recovery", "quality of life", "symptoms"}
    assert all(outcomes[i]["direction"].startswith("no difference") for i in ("O60", "O61", "O62", "O63", "O64"))
    assert outcomes["O42"]["direction"].startswith("favours peer")  # not significant, counted on its estimate's side
    assert "+$5,991" in outcomes["O44"]["reported_statistic"]
    assert outcomes["O11"]["comparison_type"] == "added to usual care"
    assert outcomes["O14"]["comparison_type"] == "replacing staff"
    assert outcomes["O15"]["review_certainty"] == "very low"
    assert studies["bassuk2016peer"]["design_type"] == "systematic review"
    # Every same_study_as names a study in the library.
    links = {s["same_study_as"] for s in bundled.studies if s["same_study_as"]}
    assert links == {"beaudoin2022effect", "treitler2024emergency"} and links <= set(studies)
    # Every finding keeps its quote and the address it was read at.
    assert all(o["quote"] for o in bundled.outcomes)
    assert all(o["source_url"] for o in bundled.outcomes if o["finding_id"].startswith("O"))


def test_raw_data_per_arm_is_written_complete_and_only_once_the_parser_reads_it() -> None:
    trial = seed_row(effect_measure="mean ± SD", raw_measure="MD", mean_peer="0.89", sd_peer="1.35", n_peer="38",
                     mean_comparison="1.53", sd_comparison="1.54", n_comparison="36", synthesis_group="g")
    later = IMPORTER["study_items"]([trial], 0, write_raw_data=True)[0][1]["data"]["note"]
    now = IMPORTER["study_items"]([trial], 0, write_raw_data=False)[0][1]["data"]["note"]
    assert all(f"<p>{line}</p>" in later for line in ("measure: MD", "mean_peer: 0.89", "n_comparison: 36"))
    assert "<p>measure: narrative</p>" in now and "mean_peer" not in now
    assert "<p>synthesis_group: g</p>" in now  # the parser already reads it
    assert IMPORTER["raw_data_is_read"]({"mean_peer"}) is False


@pytest.mark.parametrize("fields, message", [
    ({"events_peer": "64", "n_peer": "218", "events_comparison": "83"}, "T1: binary raw data needs n_comparison"),
    ({"events_peer": "6a", "n_peer": "2", "events_comparison": "1", "n_comparison": "2"}, "T1: events_peer '6a' is not"),
    ({"events_peer": "1", "n_peer": "2", "events_comparison": "1", "n_comparison": "2", "raw_measure": "MD"},
     "T1: raw_measure 'MD' does not suit binary data"),
    ({"events_peer": "1", "n_peer": "2", "events_comparison": "1", "n_comparison": "2"}, "T1: raw data without an estimate"),
])
def test_incomplete_or_unreadable_raw_data_is_refused_naming_the_row_and_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        IMPORTER["study_items"]([seed_row(**fields)], 0)
