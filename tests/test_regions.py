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
        eb.region_table({"nowhere": {"state": "XX"}})
