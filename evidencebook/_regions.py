"""Regions a brief can be made for: every state, DC, and the sub-state regions the project defines.

A region has a stable id (its slug: ``oregon``, ``district-of-columbia``, ``southern-oregon``),
a display name, the postal code of its state, and aliases a person may type (``OR``,
``Oregon``).  A sub-state region belongs to a state: it inherits the state's policy facts
and its state's studies.  Users add their own under ``[tool.evidencebook.regions.<id>]``
with ``name``, ``state``, ``aliases`` and ``counties``; :func:`validate_regions` checks them.

Everything here is plain Python until a table is asked for, so that naming a region (the
first thing ``evidencebook brief`` does) costs no pandas import.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any, Mapping

from ._errors import ConfigError, RegionError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STATES", "STATE_NAMES", "find_region", "region_records", "region_studies", "region_table", "resolve_region",
           "slugify", "state_code", "state_suggestions", "validate_regions"]

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
STATE_NAMES = {code: name for code, name, _ in STATES}

REGION_COLUMNS = ["region_id", "name", "kind", "state_code", "parent", "aliases", "counties"]
_FIELDS = {"name": "a name", "state": "a state", "aliases": "a list of names", "counties": "a list of counties"}


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


def state_suggestions(text: str, n: int = 3) -> list[str]:
    """The states a misspelt name probably means ('Texsa' -> ['Texas']); empty when none is close."""
    names = {name.lower(): name for _, name, _ in STATES} | {code.lower(): name for code, name, _ in STATES}
    wanted = text.split(" (")[0].strip().lower()
    close = difflib.get_close_matches(wanted, list(names), n=n * 2, cutoff=0.6)
    return list(dict.fromkeys(names[c] for c in close))[:n]


def _names(*texts: str) -> list[str]:
    """The slugs a person could type for these names (what resolution compares)."""
    return list(dict.fromkeys(s for t in texts if (s := slugify(t))))


def _text_list(region_id: str, spec: Mapping[str, Any], key: str) -> list[str]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"region {region_id!r}, field {key!r}: must be a list of non-empty strings, got {value!r}")
    cleaned = [v.strip() for v in value]
    repeated = sorted({v for v in cleaned if [c.lower() for c in cleaned].count(v.lower()) > 1})
    if repeated:
        raise ConfigError(f"region {region_id!r}, field {key!r}: {', '.join(repeated)} listed more than once")
    return cleaned


def _validate_one(region_id: str, spec: Any) -> dict[str, Any]:
    """One sub-state region's table, checked and normalised (each error names the region and field)."""
    if not region_id.strip():
        raise ConfigError("a region under [tool.evidencebook.regions] has an empty id: name it like 'southern-oregon'")
    if region_id != slugify(region_id):
        raise ConfigError(f"region {region_id!r}, field 'id': must be a slug like {slugify(region_id)!r}")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"region {region_id!r}: must be a table with {', '.join(_FIELDS)}")
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"region {region_id!r}: unknown field(s) {unknown}; known fields are {sorted(_FIELDS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"region {region_id!r}, field 'name': required, a non-empty string")
    code = state_code(str(spec.get("state", ""))) if isinstance(spec.get("state"), str) else ""
    if not code or code == "US":
        raise ConfigError(f"region {region_id!r}, field 'state': must be a US state, DC or its postal code, "
                          f"got {spec.get('state')!r}")
    return {"name": name.strip(), "state": code, "aliases": _text_list(region_id, spec, "aliases"),
            "counties": _text_list(region_id, spec, "counties")}


def validate_regions(substate: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The sub-state regions of ``[tool.evidencebook.regions]``, checked and normalised.

    Raises :class:`ConfigError` naming the region and field: an empty or non-slug id, a
    missing name, an unknown state, a malformed list, or a name (id, name or alias) that
    another region or a state already answers to (a person typing it would get either).
    """
    if not isinstance(substate, Mapping):
        raise ConfigError("[tool.evidencebook.regions] must be a table of regions, one per region id")
    taken = {n: f"the state {name}" for code, name, _ in STATES for n in _names(code, name)}
    regions = {}
    for region_id in sorted(substate):
        spec = _validate_one(region_id, substate[region_id])
        for field, texts in (("id", [region_id]), ("name", [spec["name"]]), ("aliases", spec["aliases"])):
            for text in texts:
                for n in _names(text):
                    owner = taken.get(n)
                    if owner and owner != f"region {region_id!r}":
                        what = "duplicates" if field == "id" else "is already a name of"
                        raise ConfigError(f"region {region_id!r}, field {field!r}: {text!r} {what} {owner}")
                    taken[n] = f"region {region_id!r}"
        regions[region_id] = spec
    return regions


def region_records(substate: Mapping[str, Any]) -> list[dict[str, str]]:
    """All regions as plain rows: the states and DC, then the sub-state regions (validated)."""
    rows = [
        {"region_id": slugify(name), "name": name, "kind": "district" if code == "DC" else "state",
         "state_code": code, "parent": "", "aliases": f"{code}|{name}", "counties": ""}
        for code, name, _ in STATES
    ]
    for region_id, spec in validate_regions(substate).items():
        rows.append({
            "region_id": region_id, "name": spec["name"], "kind": "sub-state", "state_code": spec["state"],
            "parent": slugify(STATE_NAMES[spec["state"]]), "aliases": "|".join(spec["aliases"]),
            "counties": "|".join(spec["counties"]),
        })
    return rows


def region_table(substate: Mapping[str, Any]) -> "pd.DataFrame":
    """All regions as a table (see :func:`region_records`)."""
    import pandas as pd

    return pd.DataFrame(region_records(substate), columns=REGION_COLUMNS)


def find_region(name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The row a person means by ``name`` (id, name, postal code or alias, any case and punctuation).

    Raises :class:`RegionError` with the three closest region ids when nothing matches.
    """
    names: dict[str, int] = {}
    for position, row in enumerate(records):
        for candidate in _names(row["region_id"], row["name"], *str(row["aliases"]).split("|")):
            names.setdefault(candidate, position)
    wanted = slugify(name)
    if wanted and wanted in names:
        return records[names[wanted]]
    close = difflib.get_close_matches(wanted, list(names), n=8, cutoff=0.0)
    raise RegionError(name, list(dict.fromkeys(records[names[c]]["region_id"] for c in close))[:3])


def resolve_region(name: str, regions: "pd.DataFrame") -> "pd.Series":
    """The region a person means by ``name``, as a row of ``regions`` (see :func:`find_region`)."""
    records = regions.to_dict("records")
    wanted = find_region(name, records)["region_id"]
    return regions.iloc[[r["region_id"] for r in records].index(wanted)]


def region_studies(studies: "pd.DataFrame", region: Mapping[str, Any]) -> "pd.DataFrame":
    """A region's studies: the included studies of its state, the one definition the tables and briefs share.

    A study belongs to a state when its ``state_codes`` name it (``us_state``, or the state of the
    sub-state region its ``region`` names).  A sub-state region inherits its state's studies, so
    that a brief for it is never emptier than its state's: its own studies (``region`` is its id)
    come first, marked by an ``in_region`` column.  ``studies`` is the studies table as derived
    (``screening``, ``state_codes``, ``region``); regions.csv counts these rows' studies and a brief
    lists them.
    """
    included = studies[studies["screening"].str.endswith(":include")]
    # A boolean mask even with no rows: an empty mask of another dtype would select columns, not rows.
    local = included[included["state_codes"].str.split("|").map(lambda codes: region["state_code"] in codes)
                     .astype(bool)]
    if region["kind"] == "sub-state":
        local = local.assign(in_region=local["region"].eq(region["region_id"]))
        local = local.sort_values("in_region", ascending=False, kind="stable")
    return local
