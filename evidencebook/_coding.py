"""How a study is coded in Zotero, and how that coding becomes records.

A researcher codes a study with three things Zotero already has (see the book's
"Contributing a study" page for the reviewer's version of this contract):

* **Screening tags** on the item: ``screen:TA:include``, ``screen:FT:exclude:wrong population``
  (stage ``TA`` = title/abstract, ``FT`` = full text; the full-text decision wins), optionally naming
  the reviewer (``screen:TA:include@AB``); two reviewers who disagree make a conflict until
  ``screen:TA:resolved:include@EF`` or ``screen:TA:include@consensus`` settles it.
* **An extraction note** (a child note whose first line is ``Extraction``): a ``Study``
  section and one ``Outcome <id>`` section per finding, each made of ``key: value`` lines
  (paragraphs) or two-column table rows, as Zotero's note editor writes them.
* **Policy facts** (a child note whose first line is ``Policy facts``) on items tagged
  ``policy-source``: one ``Policy fact <id>`` section per fact.

Parsing never stops at the first problem: every problem is returned with the item key and
the note line, and the rest of the library is still read.

This module walks the library (:func:`code_items`); each part of the contract has its own module:
``_screening`` (tags), ``_notes`` (the note format), ``_fields`` (sections and values, against
``_vocabulary``), ``_rob_sections`` (risk of bias) and ``_identities`` (citation keys and finding ids).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ._errors import Problem, RegionError
from ._fields import POLICY_FIELDS, STUDY_FIELDS, Section, check_outcome, read_sections
from ._identities import Claim, Published, first_come, pinned_key, unique_citation_keys, unique_findings, usable_key
from ._notes import NoteLine, note_lines, note_title, plain
from ._regions import find_region, region_records, state_code, state_suggestions
from ._rob_sections import assessments
from ._screening import Screening, screening_of

__all__ = ["Coding", "code_items"]


def _authors(data: dict[str, Any]) -> tuple[str, str]:
    people = [c for c in data.get("creators", []) if c.get("creatorType", "author") == "author"]
    names = [c.get("lastName") or c.get("name", "") for c in people]
    full = "; ".join(
        (f"{c['lastName']}, {c.get('firstName', '')}".rstrip(", ") if c.get("lastName") else c.get("name", ""))
        for c in people
    )
    if not names:
        return "", ""
    short = names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al."
    return short, full


@dataclass
class Coding:
    """What the coding in a library says: records ready to become the evidence tables."""

    studies: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    policy_facts: list[dict[str, Any]]
    problems: list[Problem]
    risk_of_bias: list[dict[str, Any]] = field(default_factory=list)  # one row per domain judged, and the overall

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _replaced_keys(data: dict[str, Any]) -> list[str]:
    """Keys of the items this one replaced when duplicates were merged (``relations["dc:replaces"]``)."""
    uris = data.get("relations", {}).get("dc:replaces", [])
    return [uri.rstrip("/").rsplit("/", 1)[-1] for uri in ([uris] if isinstance(uris, str) else uris)]


def _is_extraction(note: dict[str, Any]) -> bool:
    try:
        return note_title(note_lines(note["data"].get("note", ""))).startswith("extraction")
    except ValueError:
        return False


def _description(data: dict[str, Any]) -> str:
    """'Tester 2020, "Synthetic study"': how a reviewer finds the item in Zotero."""
    authors, _ = _authors(data)
    year = (re.search(r"[0-9]{4}", str(data.get("date", ""))) or [""])[0]
    who = plain(f"{authors} {year}".strip(), 40)
    title = plain(data.get("title", ""), 60)
    return ", ".join(part for part in (who, f"\u201c{title}\u201d" if title else "") if part) or "no author or title"


def _check_places(note_key: str, section: Section, regions: list[Mapping[str, Any]],
                  problems: list[Problem]) -> None:
    """``us_state`` and ``region`` against the known regions; a part that names none is reported and left out."""
    values = section.values
    if "us_state" in values:
        parts = [part.strip() for part in str(values["us_state"]).split(";") if part.strip()]
        known = [part for part in parts if state_code(part)]
        for part in parts:
            if part not in known:
                hint = state_suggestions(part)
                problems.append(Problem(note_key, section.lines["us_state"], "us_state",
                                        f"{plain(part, 40)!r} is not a US state, DC, a postal code or 'US'"
                                        + (f"; did you mean {' or '.join(hint)}?" if hint else "")
                                        + " It was left out; separate several states with ';'"))
        if len(known) < len(parts):
            values["us_state"] = "; ".join(known)
    if "region" in values:
        try:
            region = find_region(str(values["region"]), list(regions))
        except RegionError as exc:
            hint = f"; did you mean {' or '.join(exc.suggestions)}?" if exc.suggestions else ""
            problems.append(Problem(note_key, section.lines["region"], "region",
                                    f"unknown region {plain(values.pop('region'), 40)!r}{hint} It was left out "
                                    "('evidencebook brief --list' lists the regions)"))
            return
        values["region"] = region["region_id"]
        states = {state_code(part) for part in str(values.get("us_state", "")).split(";")} - {""}
        if states and region["state_code"] not in states:
            problems.append(Problem(note_key, section.lines["region"], "region",
                                    f"region {region['region_id']} is in {region['state_code']}, but us_state names "
                                    f"{', '.join(sorted(states))}; the study counts for both", "warning"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(value: Any) -> Any:
    """``value`` with every lone surrogate (JSON can carry one; UTF-8 cannot) replaced by U+FFFD, at any depth."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


def _repaired(items: list[dict[str, Any]], problems: list[Problem]) -> list[dict[str, Any]]:
    """The items with text no file could hold made valid, each repair reported (a warning: the item is kept)."""
    repaired = []
    for item in items:
        data = _valid_text(item["data"])
        for name in sorted(k for k in data if data[k] != item["data"][k]):
            problems.append(Problem(str(item["key"]), 0, name, "invalid Unicode (a lone surrogate) was replaced by "
                                    "\ufffd; retype the text in Zotero", "warning"))
        repaired.append(item if data == item["data"] else {**item, "data": data})
    return repaired


def code_items(items: list[dict[str, Any]], published: Published | None = None,
               regions: list[Mapping[str, Any]] | None = None) -> Coding:
    """Turn Zotero items (parents and child notes) into study, outcome and policy records.

    Trashed items (``data.deleted``) are left out.  Every problem is collected and names the
    item (and the note line); one bad item, finding or value is left out and never stops the others.
    ``published`` holds the identities the evidence tables already publish (they stay with their
    items); ``regions`` the known regions (:func:`region_records`; default: the states and DC).
    """
    published = published or Published()
    regions = regions if regions is not None else region_records({})
    problems: list[Problem] = []
    items = _repaired(items, problems)
    parents = _parents(items)
    notes, every_note = _child_notes(items, live=True), _child_notes(items, live=False)
    by_key = {i["key"]: i for i in items}
    order = first_come(parents)
    descriptions = {key: _description(parents[key]["data"]) for key in parents}
    citations, key_problems = unique_citation_keys(
        parents, [k for k in order if not _is_policy_source(parents[k])], published.citation_keys,
        descriptions.__getitem__)
    problems += key_problems
    studies, facts, risk_of_bias, claims = [], [], [], []
    seen_facts: dict[str, str] = {}
    for key in sorted(parents):
        screening = _merge_replaced(parents[key], by_key, parents, notes, every_note, problems)
        extraction, policy_notes = _notes_by_kind(notes.get(key, []), problems)
        if _is_policy_source(parents[key]):
            facts += _policy_facts(parents[key], extraction, policy_notes, seen_facts, problems)
            continue
        study = _study_record(parents[key], citations[key], screening, problems)
        if screening.decision.endswith("include") and not extraction:
            problems.append(Problem(key, 0, "note", "included but has no extraction note (a child note whose "
                                    "first line is 'Extraction')", "warning"))
        for note_key, lines in extraction[:1]:
            found, rows = _read_extraction(study, note_key, lines, regions, problems)
            claims += found
            risk_of_bias += rows
        for note_key, _ in extraction[1:]:
            problems.append(Problem(note_key, 1, "", f"item {key} has more than one extraction note; "
                                    f"only {extraction[0][0]} was read"))
        studies.append(study)

    outcomes, id_problems = unique_findings(claims, order, published.finding_ids, descriptions)
    problems += id_problems
    parent_of = {n["key"]: key for key in sorted(parents) for n in notes.get(key, [])}
    located = {_located(p, parent_of, descriptions) for p in problems}
    return Coding(studies, outcomes, facts, sorted(located), risk_of_bias)


def _parents(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The items that can be studies or policy sources (not trashed, not notes, attachments or annotations)."""
    return {i["key"]: i for i in items if not i["data"].get("deleted") and not i["data"].get("parentItem")
            and i["data"]["itemType"] not in ("note", "attachment", "annotation")}


def _child_notes(items: list[dict[str, Any]], live: bool) -> dict[str, list[dict[str, Any]]]:
    """Each parent's child notes (with ``live``, those not in the trash), in the library's order."""
    notes: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        parent = item["data"].get("parentItem")
        if item["data"]["itemType"] == "note" and parent and not (live and item["data"].get("deleted")):
            notes.setdefault(parent, []).append(item)
    return notes


def _is_policy_source(item: dict[str, Any]) -> bool:
    return any(unicodedata.normalize("NFC", t.get("tag", "")).lower() == "policy-source"
               for t in item["data"].get("tags", []))


def _merge_replaced(item: dict[str, Any], by_key: Mapping[str, dict[str, Any]], parents: Mapping[str, Any],
                    notes: dict[str, list[dict[str, Any]]], every_note: Mapping[str, list[dict[str, Any]]],
                    problems: list[Problem]) -> Screening:
    """The item's screening, and its notes (in ``notes``), with what it inherits from the items it replaced.

    Zotero's Merge Items trashes the duplicates and records them in dc:replaces on the survivor: their
    screening and extraction carry over when the survivor has none.
    """
    key = item["key"]
    screening = screening_of(item, problems)
    for lost in _replaced_keys(item["data"]):
        if lost in parents or lost not in by_key:
            continue
        if screening.decision == "unscreened":
            screening = screening_of(by_key[lost], problems)
        if not any(_is_extraction(n) for n in notes.get(key, [])):
            notes.setdefault(key, []).extend(every_note.get(lost, []))
    return screening


Notes = list[tuple[str, list[NoteLine]]]  # (note key, its lines)


def _notes_by_kind(notes: list[dict[str, Any]], problems: list[Problem]) -> tuple[Notes, Notes]:
    """An item's extraction notes and Policy facts notes, read into lines, by note key (other notes are not
    coding and are passed over)."""
    extraction, policy_notes = [], []
    for note in sorted(notes, key=lambda n: n["key"]):
        try:
            lines = note_lines(note["data"].get("note", ""))
        except ValueError as exc:
            problems.append(Problem(note["key"], 1, "note", str(exc)))
            continue
        title = note_title(lines)
        if title.startswith("extraction"):
            extraction.append((note["key"], lines))
        elif title.startswith("policy facts"):
            policy_notes.append((note["key"], lines))
    return extraction, policy_notes


def _policy_facts(item: dict[str, Any], extraction: Notes, policy_notes: Notes, seen_facts: dict[str, str],
                  problems: list[Problem]) -> list[dict[str, Any]]:
    """The policy facts of a policy source's notes; a fact id already used (``seen_facts``) is refused."""
    for note_key, _ in extraction:
        problems.append(Problem(note_key, 1, "", "an Extraction note on an item tagged policy-source is not "
                                "read (a policy source has Policy facts, not findings)", "warning"))
    facts = []
    for note_key, lines in policy_notes:
        for section in read_sections(note_key, lines, problems):
            if section.unread:
                continue
            if section.kind != "policy fact":
                problems.append(Problem(note_key, section.line, "", f"a {section.kind} section in a Policy facts note"))
                continue
            missing = [f for f in ("state", "fact", "quote") if f not in section.values]
            if missing or not section.label:
                problems.append(Problem(note_key, section.line, ",".join(missing) or "id",
                                        "a policy fact needs an id, a state, the fact and the quoted passage"))
                continue
            if section.label in seen_facts:
                problems.append(Problem(note_key, section.line, "id", f"policy fact id {section.label} also "
                                        f"used in note {seen_facts[section.label]}; this one was left out"))
                continue
            seen_facts[section.label] = note_key
            facts.append({"fact_id": section.label, **{f: section.values.get(f, "") for f in POLICY_FIELDS},
                          "source_url": item["data"].get("url", ""), "source_item": item["key"],
                          "note_key": note_key, "note_line": section.line})
    return facts


def _study_record(item: dict[str, Any], citation: str, screening: Screening,
                  problems: list[Problem]) -> dict[str, Any]:
    """A study's record from its Zotero fields and screening, its coded fields still empty."""
    key, data = item["key"], item["data"]
    if pinned_key(data) and not usable_key(pinned_key(data)):
        problems.append(Problem(key, 0, "citationKey", f"citation key {plain(pinned_key(data), 60)!r} has "
                                "characters a bibliography cannot use (letters, digits and _:.+/- only); "
                                f"using {citation!r}", "warning"))
    authors, author_list = _authors(data)
    return {
        "study_id": key, "citation_key": citation, "authors": authors, "author_list": author_list,
        "year": (re.search(r"[0-9]{4}", data.get("date", "")) or [""])[0], "title": data.get("title", ""),
        "journal": data.get("publicationTitle") or data.get("websiteTitle") or data.get("blogTitle", ""),
        "doi": data.get("DOI", ""), "url": data.get("url", ""), "item_type": data["itemType"],
        "screening": screening.decision, "exclusion_reason": screening.reason,
        "screening_votes": screening.votes_text,
        **{f: "" for f in STUDY_FIELDS}, "extraction_note": "",
    }


def _read_extraction(study: dict[str, Any], note_key: str, lines: list[NoteLine], regions: list[Mapping[str, Any]],
                     problems: list[Problem]) -> tuple[list[Claim], list[dict[str, Any]]]:
    """Read a study's extraction note into ``study`` (its Study section and risk of bias); return the findings
    it claims (each with its record, or None when it was left out) and its risk of bias rows."""
    key, citation = study["study_id"], study["citation_key"]
    study["extraction_note"] = note_key
    sections = read_sections(note_key, lines, problems)
    claims: list[Claim] = []
    for section in sections:
        if section.unread or section.kind == "risk of bias":
            continue
        if section.kind == "study":
            _check_places(note_key, section, regions, problems)
            study.update(section.values)
        elif section.kind == "outcome":
            record = None
            if check_outcome(note_key, section, problems):
                record = {"finding_id": section.label, "study_id": key, "citation_key": citation,
                          **section.values, "note_key": note_key, "note_line": section.line}
            if section.label:  # a finding left out still holds its id: nobody takes it meanwhile
                claims.append((section.label, key, note_key, section.line, record))
        else:
            problems.append(Problem(note_key, section.line, "", "a policy fact section in an Extraction note"))
    judged = [s for s in sections if s.kind == "risk of bias" and not s.unread]
    rows = assessments(note_key, judged, sections, study, problems) if judged else []
    return claims, [{"study_id": key, "citation_key": citation, **row} for row in rows]


def _located(problem: Problem, parent_of: Mapping[str, str], descriptions: Mapping[str, str]) -> Problem:
    """The problem with the item it concerns named in its message: a note's key alone is hard to find in Zotero."""
    parent = problem.item_key if problem.item_key in descriptions else parent_of.get(problem.item_key)
    if parent is None:
        return problem
    where = descriptions[parent] if parent == problem.item_key else f"note of item {parent}: {descriptions[parent]}"
    return replace(problem, message=f"{problem.message} ({where})")
