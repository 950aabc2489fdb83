"""Fuzzing the boundary: generated Zotero items and extraction notes (SYNTHETIC) through the whole evidence stage.

A hypothesis strategy writes a small library as the Web API returns it: items with every field a member can type
(titles, creators with commas, dates, DOIs, URLs, Extra with pinned citation keys, screening tags, dateAdded) and
extraction notes with every Study and Outcome field, filled with plausible values, extreme and non-finite numbers,
Unicode, control characters and markup, plus duplicate finding ids and citation keys across items.  The library
goes through :func:`code_items`, :func:`derive_tables`, :func:`validate_tables` and :func:`build_evidence` on a
temporary evidence folder, twice (half of it, then all of it, so that published identities are exercised).

What must hold, whatever the input:

* nothing raises, not even through the project's error tree: quarantine means the tables always validate;
* every note can be read, every value the strategy knows to be bad is reported at its note, line and field, and
  every finding either reaches the tables or has an error on its note;
* every problem about a note names the item the note belongs to;
* published identities are stable: a finding id or citation key published by the first build stays with its item,
  and building an unchanged library again changes nothing.
"""

from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evidencebook as eb
from evidencebook._vocabulary import (DESIGN_TYPES, DOMAINS, MEASURES, PEER_ROLES, POPULATION_GROUPS,
                                      SETTING_TYPES, STUDY_TYPES, THEMES)

ALPHABET = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
SUBSTATE = {"southern-oregon": {"name": "Southern Oregon", "state": "OR", "aliases": ["SoOR"]}}
PYPROJECT = ('[tool.evidencebook]\nlibrary_id = 0\n\n[tool.evidencebook.regions.southern-oregon]\n'
             'name = "Southern Oregon"\nstate = "OR"\naliases = ["SoOR"]\ncounties = []\n')

# Text a member can type: any Unicode but a line break (a paragraph is one line), and the usual suspects.
HOSTILE = ["<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\u202egnp.exe",
           "zero\u200bwidth", "\x1b[2J", "tab\there", "\x00nul", "{}\\}", "Doe, Jr., PhD", "Outcome: M1", "Study",
           "a" * 500, "\u00e9\u0301 NFD", "\U0001f600", "key: value", "# Outcome X", "&amp; &lt;b&gt;"]
text = st.one_of(st.text(st.characters(exclude_characters="\n"), max_size=40), st.sampled_from(HOSTILE))
one_word = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8)


@dataclass
class Value:
    """One field's text in a note, and whether the coding must refuse it."""

    text: str
    bad: bool = False


@dataclass
class Note:
    key: str
    lines: list[str] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, field) that must be reported
    findings: list[int] = field(default_factory=list)  # the lines of its Outcome headings


def choice(options: tuple[str, ...]) -> st.SearchStrategy[Value]:
    good = st.sampled_from(options).map(lambda o: Value(o))
    upper = st.sampled_from(options).map(lambda o: Value(o.upper()))
    bad = st.sampled_from(["nonsense", "RCTT", "<b>x</b>", "\u202eRCT", "n/a"]).map(lambda t: Value(t, True))
    return st.one_of(good, upper, bad)


GOOD_NUMBERS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: Value(repr(x)))
BAD_NUMBERS = st.sampled_from(["nan", "inf", "-Infinity", "1e308", "-1e308", "1e400", "99999999999999999999",
                               "2e6", "abc", "1,5", "0x10", "", "\u2212"]).map(lambda t: Value(t, t != ""))
COUNTS = st.one_of(st.integers(0, 10**6).map(lambda n: Value(f"{n:,}")), st.sampled_from(["about 240", "n/a"]).map(Value),
                   st.sampled_from(["99999999999999999999", "1000000001", "9" * 400]).map(lambda t: Value(t, True)))
STATES = st.one_of(st.sampled_from(["Oregon", "OR", "Texas; Oregon", "US", "US (national)", "District of Columbia",
                                    "new york"]).map(Value),
                   st.sampled_from(["Texsa", "Oregon; Atlantis", "Nowhere", "<b>TX</b>"]).map(lambda t: Value(t, True)))
REGIONS = st.one_of(st.sampled_from(["southern-oregon", "Southern Oregon", "SoOR", "oregon", "TX"]).map(Value),
                    st.sampled_from(["Southern Oregan", "atlantis", "\u202e"]).map(lambda t: Value(t, True)))


@st.composite
def effect(draw: st.DrawFn) -> dict[str, Value]:
    """estimate, ci_low and ci_high: a coherent triple (a difference or a ratio) or any three numbers."""
    if draw(st.booleans()):
        ratio = draw(st.booleans())
        center = draw(st.floats(0.01, 100) if ratio else st.floats(-1000, 1000))
        width = draw(st.floats(0.001, 10))
        low, high = (center / (1 + width), center * (1 + width)) if ratio else (center - width, center + width)
        measure = draw(st.sampled_from(["RR", "OR", "HR"] if ratio else ["SMD", "Hedges g", "MD", "RD"]))
        return {"measure": Value(measure), "estimate": Value(repr(center)), "ci_low": Value(repr(low)),
                "ci_high": Value(repr(high))}
    number = st.one_of(GOOD_NUMBERS, BAD_NUMBERS)
    return {"measure": draw(choice(MEASURES)), "estimate": draw(number), "ci_low": draw(number),
            "ci_high": draw(number)}


def fields_of(draw: st.DrawFn, strategies: dict[str, st.SearchStrategy[Value]]) -> dict[str, Value]:
    names = draw(st.lists(st.sampled_from(sorted(strategies)), unique=True))
    return {name: draw(strategies[name]) for name in names}


STUDY = {"study_type": choice(STUDY_TYPES), "design": text.map(Value), "design_type": choice(DESIGN_TYPES),
         "population": text.map(Value), "population_group": choice(POPULATION_GROUPS), "setting": text.map(Value),
         "setting_type": choice(SETTING_TYPES), "peer_role": choice(PEER_ROLES), "country": text.map(Value),
         "us_state": STATES, "region": REGIONS, "risk_of_bias": text.map(Value), "confidence": text.map(Value),
         "confidence_reason": text.map(Value), "coded_by": text.map(Value)}
OUTCOME = {"comparison": text.map(Value), "measure_as_reported": text.map(Value), "synthesis_group": text.map(Value),
           "theme": choice(THEMES), "reported_statistic": text.map(Value), "n_studies": COUNTS, "n_participants": COUNTS,
           "direction": text.map(Value), "page": text.map(Value), "source_url": text.map(Value),
           "source_type": text.map(Value), "notes": text.map(Value), "better": choice(("higher", "lower", "unclear"))}


@st.composite
def extraction_note(draw: st.DrawFn, key: str, finding_ids: list[str]) -> Note:
    note = Note(key, ["Extraction", "# Study"])

    def add(name: str, value: Value) -> None:
        note.lines.append(f"{name}: {value.text}")
        if value.bad:
            note.bad.append((len(note.lines), name))

    for name, value in fields_of(draw, STUDY).items():
        add(name, value)
    has_outcome = True
    for _ in range(draw(st.integers(0, 3))):
        # 'Outcome: X' under a finding that has no outcome yet is that finding's outcome field (the one reading
        # the coding cannot tell apart from a heading); anywhere else it opens the finding X.
        styles = ["# Outcome {}", "Outcome {}", "Outcome {}:", *(["Outcome: {}"] if has_outcome else [])]
        note.lines.append(draw(st.sampled_from(styles)).format(draw(st.sampled_from(finding_ids))))
        note.findings.append(len(note.lines))
        values = {"outcome": draw(st.one_of(one_word, text).map(Value)), "domain": draw(choice(DOMAINS)),
                  "quote": draw(text.map(Value))}
        values = {k: v for k, v in values.items() if draw(st.integers(0, 9))}  # now and then a required one is missing
        values |= fields_of(draw, OUTCOME)
        if draw(st.booleans()):
            values |= draw(effect())
        has_outcome = "outcome" in values
        if has_outcome:  # right under its heading, as people write it
            add("outcome", values.pop("outcome"))
        for name in draw(st.permutations(sorted(values))):
            add(name, values[name])
    # Markup and free lines come last: they may open blocks of their own, and the lines above keep their numbers.
    note.lines += draw(st.lists(st.sampled_from(["free text without a colon", "<b>bold</b>: x", "Outcomes Z9",
                                                 "<h2>Results</h2>", "<table><tr><td>a</td><td>1</td></tr></table>"]),
                                max_size=2))
    return note


def note_html(note: Note) -> str:
    """The note as Zotero stores it: one paragraph per line, typed text escaped, '# ' lines as headings."""
    parts = []
    for line in note.lines:
        if line.startswith("<"):  # markup pasted as HTML
            parts.append(line)
        elif line.startswith("# "):
            parts.append(f"<h2>{html.escape(line[2:])}</h2>")
        else:
            parts.append(f"<p>{html.escape(line)}</p>")
    return f'<div data-schema-version="9">{"".join(parts)}</div>'


def api_item(key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "version": 1, "library": {"type": "group", "id": 1}, "meta": {}, "data": {"key": key, **data}}


@st.composite
def library(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Note]]:
    size = draw(st.integers(1, 6))
    keys = draw(st.lists(st.text(ALPHABET, min_size=8, max_size=8), min_size=2 * size, max_size=2 * size, unique=True))
    keys, note_keys = keys[:size], keys[size:]
    finding_ids = draw(st.lists(st.one_of(st.sampled_from(["O01", "T1", "M-12"]), one_word), min_size=1, max_size=4))
    pinned = st.sampled_from(["", "smith2024", "Smith2024", "smith2024-aaaaaaaa", "core:2020", "bad key {}"])
    items, notes = [], []
    for n, key in enumerate(keys):
        creators = draw(st.lists(st.fixed_dictionaries({"creatorType": st.just("author"), "lastName": text,
                                                        "firstName": text}), max_size=3))
        data: dict[str, Any] = {
            "itemType": draw(st.sampled_from(["journalArticle", "report", "webpage", "book"])),
            "title": draw(text), "creators": creators, "date": draw(st.one_of(text, st.sampled_from(["2024", "2014-05"]))),
            "DOI": draw(st.one_of(st.just(""), text)), "url": draw(st.one_of(st.just(""), text)),
            "extra": draw(st.one_of(st.just(""), pinned.map(lambda k: f"Citation Key: {k}"))),
            "citationKey": draw(pinned), "relations": {},
            "tags": [{"tag": t} for t in draw(st.lists(st.sampled_from(["screen:FT:include", "screen:TA:exclude:x",
                                                                         "screen:FT:includ", "policy-source"]),
                                                       max_size=2, unique=True))],
        }
        if draw(st.booleans()):
            data["dateAdded"] = f"2024-0{draw(st.integers(1, 9))}-01T00:00:00Z"
        items.append(api_item(key, data))
        if draw(st.integers(0, 4)):
            note = draw(extraction_note(note_keys[n], finding_ids))
            items.append(api_item(note.key, {"itemType": "note", "parentItem": key, "note": note_html(note),
                                             "tags": [], "relations": {}}))
            notes.append(note)
    return items, notes


def _project(root: Path) -> eb.Settings:
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return eb.load_settings(root)


def _check_coding(coding: eb.Coding, items: list[dict[str, Any]], notes: list[Note]) -> None:
    parent_of = {i["key"]: i["data"]["parentItem"] for i in items if i["data"].get("parentItem")}
    policy = {i["key"] for i in items if {"tag": "policy-source"} in i["data"].get("tags", [])}
    reported = {(p.item_key, p.line, p.field) for p in coding.problems}
    unreadable = {p.item_key for p in coding.problems if p.field == "note" and p.line == 1}
    erring = {p.item_key for p in coding.errors}
    kept = {(o["note_key"], o["note_line"]) for o in coding.outcomes}
    for note in notes:
        if parent_of[note.key] in policy:  # not read: a policy source has no findings, and the note is told so
            assert any(p.item_key == note.key for p in coding.problems), f"{note.key} ignored silently"
            continue
        assert note.key not in unreadable, f"{note.key} could not be read"  # the HTML Zotero writes always can
        for line, name in note.bad:
            assert (note.key, line, name) in reported, f"bad {name} on line {line} of {note.key} not reported"
        for line in note.findings:
            assert (note.key, line) in kept or note.key in erring, f"finding on line {line} of {note.key} lost silently"
    for problem in coding.problems:
        if problem.item_key in parent_of:  # a note's problem names the item the note belongs to
            assert f"item {parent_of[problem.item_key]}" in problem.message, problem
    keys = [s["citation_key"] for s in coding.studies]
    assert len({k.casefold() for k in keys}) == len(keys), keys


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(library())
def test_no_item_can_crash_or_block_the_evidence_and_every_bad_value_is_reported(
        generated: tuple[list[dict[str, Any]], list[Note]]) -> None:
    items, notes = generated
    coding = eb.code_items(items, regions=eb.region_records(SUBSTATE))
    _check_coding(coding, items, notes)
    tables = eb.derive_tables(coding, SUBSTATE)
    failures = eb.validate_tables(tables)
    assert failures.empty, failures.to_string()

    with tempfile.TemporaryDirectory() as folder:
        project = _project(Path(folder))
        parents = [i["key"] for i in items if not i["data"].get("parentItem")]
        half = [i for i in items if parents.index(i["data"].get("parentItem") or i["key"]) % 2 == 0]
        first = eb.build_evidence(project, eb.Snapshot({"version": 1}, half))
        published = eb.load_evidence(project)
        eb.build_evidence(project, eb.Snapshot({"version": 2}, items))
        assert eb.build_evidence(project, eb.Snapshot({"version": 2}, items)).changed == []  # an unchanged library
        now = eb.load_evidence(project)
        keys = dict(zip(now.studies["study_id"], now.studies["citation_key"]))
        for study_id, key in zip(published.studies["study_id"], published.studies["citation_key"]):
            assert keys[study_id] == key, f"{study_id} was {key}, now {keys[study_id]}"
        owners = dict(zip(now.outcomes["finding_id"], now.outcomes["study_id"]))
        for finding_id, study_id in zip(published.outcomes["finding_id"], published.outcomes["study_id"]):
            assert owners.get(finding_id) == study_id, f"finding {finding_id} moved from {study_id}"
        assert first.manifest["evidence_version"] == 1


@pytest.mark.parametrize("value", ["99999999999999999999", "1e308", "-1e308", "nan"])
def test_the_fuzzer_knows_a_bad_number_when_it_sees_one(value: str) -> None:
    """The oracle above is not empty: a known-bad value is flagged by the strategy and reported by the coding."""
    field_name = "n_participants" if value.startswith("9") else "estimate"
    lines = ["Extraction", "# Outcome F1", "outcome: o", "domain: hope", "quote: q", f"{field_name}: {value}"]
    note = Note("NAAAAAAA", lines, bad=[(6, field_name)], findings=[2])
    items = [api_item("AAAAAAAA", {"itemType": "journalArticle", "title": "t", "tags": [], "relations": {}}),
             api_item("NAAAAAAA", {"itemType": "note", "parentItem": "AAAAAAAA", "note": note_html(note)})]
    _check_coding(eb.code_items(items), items, [note])
