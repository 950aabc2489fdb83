"""Regions: every state, DC and configured sub-state regions, found by any name a person types."""

from __future__ import annotations

import pandas as pd
import pytest

import evidencebook as eb

SUBSTATE = {"southern-oregon": {"name": "Southern Oregon", "state": "OR", "aliases": ["Southern Oregon"]}}


@pytest.fixture(scope="module")
def regions() -> pd.DataFrame:
    return eb.region_table(SUBSTATE)


def test_every_state_dc_and_the_substate_region(regions: pd.DataFrame) -> None:
    assert len(regions) == 52 and (regions["kind"] == "state").sum() == 50
    so = regions.set_index("region_id").loc["southern-oregon"]
    assert (so["kind"], so["state_code"], so["parent"]) == ("sub-state", "OR", "oregon")


@pytest.mark.parametrize("typed", ["oregon", "OR", "Oregon", "or", " OREGON "])
def test_aliases_resolve_to_the_state(regions: pd.DataFrame, typed: str) -> None:
    assert eb.resolve_region(typed, regions)["region_id"] == "oregon"


@pytest.mark.parametrize("typed,expected", [("DC", "district-of-columbia"), ("District of Columbia", "district-of-columbia"),
                                            ("southern-oregon", "southern-oregon"), ("Southern Oregon", "southern-oregon"),
                                            ("new_york", "new-york")])
def test_other_names(regions: pd.DataFrame, typed: str, expected: str) -> None:
    assert eb.resolve_region(typed, regions)["region_id"] == expected


def test_unknown_region_suggests_the_closest(regions: pd.DataFrame) -> None:
    with pytest.raises(eb.RegionError) as info:
        eb.resolve_region("oregan", regions)
    assert info.value.suggestions[0] == "oregon" and "Did you mean" in str(info.value)
    with pytest.raises(eb.RegionError) as info:
        eb.resolve_region("atlantis", regions)
    assert info.value.suggestions and info.value.exit_code == 2


def test_state_code_reads_seed_wording() -> None:
    assert eb.state_code("Connecticut (Yale affiliation; site not verified)") == "CT"
    assert eb.state_code("US (federal)") == "US" and eb.state_code("Narnia") == ""


def test_substate_region_must_name_a_state() -> None:
    with pytest.raises(eb.ConfigError, match="must be a US state"):
        eb.region_table({"nowhere": {"name": "Nowhere", "state": "XX"}})


def test_region_records_need_no_pandas_and_match_the_table(regions: pd.DataFrame) -> None:
    records = eb.region_records(SUBSTATE)
    assert records == regions.to_dict("records")
    assert eb.find_region("SOUTHERN oregon", records)["region_id"] == "southern-oregon"


@pytest.mark.parametrize("substate,message", [
    ({"": {"name": "Nowhere", "state": "OR"}}, "empty id"),
    ({"Rogue Valley": {"name": "Rogue Valley", "state": "OR"}}, "region 'Rogue Valley', field 'id': must be a slug"),
    ({"oregon": {"name": "Oregon proper", "state": "OR"}}, "region 'oregon', field 'id': 'oregon' duplicates the state Oregon"),
    ({"rogue": {"state": "OR"}}, "region 'rogue', field 'name': required"),
    ({"rogue": {"name": "Rogue", "state": "Cascadia"}}, "region 'rogue', field 'state': must be a US state"),
    ({"rogue": {"name": "Rogue", "state": "US"}}, "region 'rogue', field 'state'"),
    ({"rogue": {"name": "Rogue", "state": "OR", "aliases": ["OR"]}},
     "region 'rogue', field 'aliases': 'OR' is already a name of the state Oregon"),
    ({"rogue": {"name": "Rogue", "state": "OR", "aliases": "Rogue Valley"}}, "field 'aliases': must be a list"),
    ({"rogue": {"name": "Rogue", "state": "OR", "counties": ["Jackson", "jackson"]}},
     "region 'rogue', field 'counties': Jackson, jackson listed more than once"),
    ({"rogue": {"name": "Rogue", "state": "OR", "counties": [""]}}, "field 'counties': must be a list of non-empty"),
    ({"rogue": {"name": "Rogue", "state": "OR", "county": ["Jackson"]}}, "region 'rogue': unknown field(s) ['county']"),
    ({"a-valley": {"name": "Valley", "state": "OR"}, "b-valley": {"name": "Other", "state": "WA", "aliases": ["valley"]}},
     "region 'b-valley', field 'aliases': 'valley' is already a name of region 'a-valley'"),
    ({"a-valley": {"name": "Valley", "state": "OR"}, "b-valley": {"name": "A Valley", "state": "WA"}},
     "region 'b-valley', field 'name': 'A Valley' is already a name of region 'a-valley'"),
])
def test_bad_substate_regions_name_the_region_and_field(substate: dict, message: str) -> None:
    with pytest.raises(eb.ConfigError) as info:
        eb.validate_regions(substate)
    assert message in str(info.value)


def test_a_region_by_counties_is_normalised() -> None:
    regions = eb.validate_regions({"rogue-valley": {"name": " Rogue Valley ", "state": "oregon",
                                                    "aliases": ["Rogue"], "counties": ["Jackson ", "Josephine"]}})
    assert regions == {"rogue-valley": {"name": "Rogue Valley", "state": "OR", "aliases": ["Rogue"],
                                        "counties": ["Jackson", "Josephine"]}}
    row = eb.region_table(regions).set_index("region_id").loc["rogue-valley"]
    assert (row["parent"], row["counties"], row["kind"]) == ("oregon", "Jackson|Josephine", "sub-state")


def test_load_settings_rejects_a_bad_region(project: eb.Settings) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8")
                         + '\n[tool.evidencebook.regions.rogue]\nname = "Rogue"\nstate = "Atlantis"\n', encoding="utf-8")
    with pytest.raises(eb.ConfigError, match="region 'rogue', field 'state'"):
        eb.load_settings(project.root)


def test_load_settings_rejects_a_site_url_that_is_not_a_web_address(project: eb.Settings) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace('site_url = ""', 'site_url = "javascript:x"'),
                         encoding="utf-8")
    with pytest.raises(eb.ConfigError, match="site_url"):
        eb.load_settings(project.root)


@pytest.mark.parametrize("typed,expected", [("Texsa", ["Texas"]), ("new yrok", ["New York"]), ("tx", ["Texas"]),
                                            ("Atlantis", [])])
def test_a_misspelt_state_gets_the_closest_state_names(typed: str, expected: list[str]) -> None:
    assert eb.state_suggestions(typed) == expected
