"""Regions a brief can be made for: every state, DC, and the sub-state regions the project defines.

A region has a stable id (its slug: ``oregon``, ``district-of-columbia``, ``southern-oregon``),
a display name, the postal code of its state, and aliases a person may type (``OR``,
``Oregon``).  A sub-state region belongs to a state: it inherits the state's policy facts
and its state's studies.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import pandas as pd

from ._errors import ConfigError, RegionError

__all__ = ["STATES", "region_table", "resolve_region", "slugify", "state_code"]

# (postal code, name, FIPS): reference data from the US Census Bureau's state FIPS codes.
STATES: tuple[tuple[str, str, str], ...] = (
    ("AL", "Alabama", "01"), ("AK", "Alaska", "02"), ("AZ", "Arizona", "04"), ("AR", "Arkansas", "05"),
    ("CA", "California", "06"), ("CO", "Colorado", "08"), ("CT", "Connecticut", "09"), ("DE", "Delaware", "10"),
    ("DC", "District of Columbia", "11"), ("FL", "Florida", "12"), ("GA", "Georgia", "13"), ("HI", "Hawaii", "15"),
    ("ID", "Idaho", "16"), ("IL", "Illinois", "17"), ("IN", "Indiana", "18"), ("IA", "Iowa", "19"),
    ("KS", "Kansas", "20"), ("KY", "Kentucky", "21"), ("LA", "Louisiana", "22"), ("ME", "Maine", "23"),
    ("MD", "Maryland", "24"), ("MA", "Massachusetts", "25"), ("MI", "Michigan", "26"), ("MN", "Minnesota", "27"),
    ("MS", "Mississippi", "28"), ("MO", "Missouri", "29"), ("MT", "Montana", "30"), ("NE", "Nebraska", "31"),
    ("NV", "Nevada", "32"), ("NH", "New Hampshire", "33"), ("NJ", "New Jersey", "34"), ("NM", "New Mexico", "35"),
    ("NY", "New York", "36"), ("NC", "North Carolina", "37"), ("ND", "North Dakota", "38"), ("OH", "Ohio", "39"),
    ("OK", "Oklahoma", "40"), ("OR", "Oregon", "41"), ("PA", "Pennsylvania", "42"), ("RI", "Rhode Island", "44"),
    ("SC", "South Carolina", "45"), ("SD", "South Dakota", "46"), ("TN", "Tennessee", "47"), ("TX", "Texas", "48"),
    ("UT", "Utah", "49"), ("VT", "Vermont", "50"), ("VA", "Virginia", "51"), ("WA", "Washington", "53"),
    ("WV", "West Virginia", "54"), ("WI", "Wisconsin", "55"), ("WY", "Wyoming", "56"),
)
_BY_NAME = {name.lower(): code for code, name, _ in STATES}
_CODES = {code for code, _, _ in STATES}

REGION_COLUMNS = ["region_id", "name", "kind", "state_code", "parent", "aliases", "counties"]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")


def state_code(text: str) -> str:
    """'Oregon', 'oregon', 'OR', 'Connecticut (Yale affiliation)' -> 'OR'/'CT'; national rows -> 'US'; else ''."""
    text = text.strip()
    if text.upper() in _CODES:
        return text.upper()
    if text.upper().startswith("US"):
        return "US"
    base = text.split(" (")[0].strip().lower()
    return _BY_NAME.get(base, "")


def region_table(substate: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """All regions: the states and DC, then the configured sub-state regions."""
    rows = [
        {"region_id": slugify(name), "name": name, "kind": "district" if code == "DC" else "state",
         "state_code": code, "parent": "", "aliases": f"{code}|{name}", "counties": ""}
        for code, name, _ in STATES
    ]
    for region_id, spec in sorted(substate.items()):
        code = state_code(str(spec.get("state", "")))
        if not code or code == "US":
            raise ConfigError(f"region {region_id!r}: 'state' must be a US state or its postal code, got {spec.get('state')!r}")
        if region_id != slugify(region_id):
            raise ConfigError(f"region id {region_id!r} must be a slug like {slugify(region_id)!r}")
        rows.append({
            "region_id": region_id, "name": spec.get("name", region_id), "kind": "sub-state",
            "state_code": code, "parent": slugify(dict((c, n) for c, n, _ in STATES)[code]),
            "aliases": "|".join(spec.get("aliases", [])), "counties": "|".join(spec.get("counties", [])),
        })
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


def resolve_region(name: str, regions: pd.DataFrame) -> pd.Series:
    """The region a person means by ``name`` (id, name, postal code or alias, any case).

    Raises :class:`RegionError` with the closest matches when nothing matches.
    """
    wanted = slugify(name)
    names: dict[str, int] = {}
    for position, row in enumerate(regions.itertuples(index=False)):
        for candidate in (row.region_id, row.name, *[a for a in str(row.aliases).split("|") if a]):
            names.setdefault(slugify(candidate), position)
    if wanted in names:
        return regions.iloc[names[wanted]]
    close = difflib.get_close_matches(wanted, list(names), n=8, cutoff=0.0)
    suggestions = list(dict.fromkeys(regions.iloc[names[c]]["region_id"] for c in close))[:3]
    raise RegionError(name, suggestions)
