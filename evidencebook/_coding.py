"""How a study is coded in Zotero, and how that coding becomes records.

A researcher codes a study with three things Zotero already has (see the book's
"Contributing a study" page for the reviewer's version of this contract):

* **Screening tags** on the item: ``screen:TA:include``, ``screen:FT:exclude:wrong population``
  (stage ``TA`` = title/abstract, ``FT`` = full text; the full-text decision wins).
* **An extraction note** (a child note whose first line is ``Extraction``): a ``Study``
  section and one ``Outcome <id>`` section per finding, each made of ``key: value`` lines
  (paragraphs) or two-column table rows, as Zotero's note editor writes them.
* **Policy facts** (a child note whose first line is ``Policy facts``) on items tagged
  ``policy-source``: one ``Policy fact <id>`` section per fact.

Parsing never stops at the first problem: every problem is returned with the item key and
the note line, and the rest of the library is still read.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

import lxml.etree
import lxml.html

from ._errors import Problem

__all__ = [
    "CERTAINTY",
    "COMPARISON_TYPES",
    "Coding",
    "DESIGN_TYPES",
    "DOMAINS",
    "MEASURES",
    "PEER_ROLES",
    "NoteLine",
    "POPULATION_GROUPS",
    "RATIO_MEASURES",
    "REVIEW_QUALITY",
    "RISK_OF_BIAS",
    "SETTING_TYPES",
    "STUDY_TYPES",
    "THEMES",
    "code_items",
    "note_lines",
]

DOMAINS = (
    "service use", "hospitalisation", "crisis/ED use", "engagement", "recovery", "hope",
    "empowerment", "quality of life", "symptoms", "substance use", "housing", "employment",
    "cost", "workforce", "other",
)
POPULATION_GROUPS = ("SMI", "SUD", "co-occurring", "youth", "family", "mental health (mixed)", "other")
STUDY_TYPES = ("review", "primary", "gray literature")
DESIGN_TYPES = (
    "umbrella review", "systematic review with meta-analysis", "systematic review", "RCT", "cluster RCT",
    "quasi-experimental", "observational cohort", "pre-post or single group", "qualitative or mixed methods",
    "gray literature", "other",
)
SETTING_TYPES = (
    "community mental health", "inpatient and transition from hospital", "emergency department",
    "substance use treatment and recovery support", "primary care", "criminal justice", "housing and homelessness",
    "schools and youth services", "online", "mixed or not stated",
)
PEER_ROLES = (
    "peer support specialist", "recovery coach or peer recovery specialist", "peer mentor", "peer navigator",
    "peer case manager", "consumer-provider", "group or mutual support", "family peer", "youth peer",
    "mixed or not stated",
)
# Implementation themes (qualitative findings on putting peers to work), for the Implementation chapter.
THEMES = (
    "role clarity", "supervision by peers", "pay and benefits", "training and certification", "career paths",
    "integration into teams", "stigma and organisational culture", "culturally specific services",
    "funding and billing", "other",
)
# What peer support is compared with: findings of different comparisons answer different questions and are
# never pooled, plotted or vote-counted together.
COMPARISON_TYPES = ("added to usual care", "replacing staff", "versus active intervention", "mixed or not stated")
_COMPARISON_ALIASES = {"peers added to usual care": "added to usual care", "added to care": "added to usual care",
                       "replacing staff in the same role": "replacing staff", "peers replacing staff": "replacing staff",
                       "vs active intervention": "versus active intervention",
                       "versus another active intervention": "versus active intervention",
                       "not stated": "mixed or not stated", "mixed": "mixed or not stated"}
# Risk of bias: RoB 2 (randomised) and ROBINS-I (non-randomised) judgements, and 'not assessed'.
RISK_OF_BIAS = ("low", "some concerns", "high", "moderate", "serious", "critical", "no information", "not assessed")
REVIEW_QUALITY = ("high", "moderate", "low", "critically low")  # AMSTAR 2's overall confidence in a review
CERTAINTY = ("high", "moderate", "low", "very low")  # GRADE
RATIO_MEASURES = ("RR", "OR", "HR")
MEASURES = ("SMD", "Hedges g", "MD", *RATIO_MEASURES, "RD", "narrative")
_MEASURE_ALIASES = {m.lower(): m for m in MEASURES} | {
    "hedges' g": "Hedges g", "g": "Hedges g", "risk ratio": "RR", "odds ratio": "OR", "hazard ratio": "HR",
}


@dataclass(frozen=True)
class NoteLine:
    """One line of a note as a person sees it in Zotero: a paragraph, list item, heading or table row."""

    number: int
    text: str
    heading: bool


_BLOCKS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote"})


def note_lines(note_html: str) -> list[NoteLine]:
    """Split a Zotero note's HTML into the lines a reviewer sees, numbered from 1.

    A paragraph, heading, list item or table row is a line (an empty paragraph too, so that
    line numbers match what the reviewer counts); a two-cell table row reads as
    ``first cell: second cell``; ``<br>`` splits a line; blocks nested in a block join its
    line with a space; text outside any block (a plain-text note) still counts.
    Raises ``ValueError`` for HTML that cannot be read at all.
    """
    if not note_html.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(note_html, create_parent="div")
    except (lxml.etree.ParserError, AssertionError) as exc:  # e.g. a bare <html> document with no body
        raise ValueError(f"note HTML could not be read ({type(exc).__name__})") from None
    lines: list[NoteLine] = []
    number = 0

    def emit(text: str, heading: bool, counts: bool = True) -> None:
        nonlocal number
        parts = text.split("\n")
        for part in parts:
            part = " ".join(part.split())
            if part or (counts and len(parts) == 1):
                number += 1
            if part:
                lines.append(NoteLine(number, unicodedata.normalize("NFC", part), heading))

    def has_block(element: Any) -> bool:
        return any(isinstance(d.tag, str) and d.tag in _BLOCKS for d in element.iterdescendants())

    def text_of(element: Any) -> str:
        for br in element.iter("br"):
            br.tail = "\n" + (br.tail or "")
        for inner in element.iterdescendants():
            if isinstance(inner.tag, str) and inner.tag in _BLOCKS:
                inner.tail = " " + (inner.tail or "")
                if inner.text:
                    inner.text = " " + inner.text
        return element.text_content()

    def walk(element: Any) -> None:
        if element.text and element.text.strip():
            emit(element.text, False, counts=False)
        for child in element:
            if isinstance(child.tag, str):
                if child.tag == "tr":
                    cells = [" ".join(c.text_content().split()) for c in child if c.tag in ("td", "th")]
                    emit(": ".join(cells[:2]) if len(cells) >= 2 and cells[1] else (cells[0] if cells else ""), False)
                elif child.tag in _BLOCKS:
                    emit(text_of(child), child.tag in ("h1", "h2", "h3", "h4", "h5", "h6"))
                elif has_block(child):
                    walk(child)
                else:
                    emit(text_of(child), False, counts=False)
            if child.tail and child.tail.strip():
                emit(child.tail, False, counts=False)

    walk(root)
    return lines


# --- field types -----------------------------------------------------------------------


class _Bad(ValueError):
    pass


def _text(value: str) -> str:
    return value


def _number(value: str) -> float:
    cleaned = value.replace("\u2212", "-").replace(" ", "")
    try:
        number = float(cleaned)
    except ValueError:
        raise _Bad(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise _Bad(f"{value!r} is not a finite number")
    return number


def _choice(options: tuple[str, ...], aliases: dict[str, str] | None = None) -> Callable[[str], str]:
    lookup = {o.lower(): o for o in options} | (aliases or {})

    def parse(value: str) -> str:
        try:
            return lookup[value.strip().lower()]
        except KeyError:
            raise _Bad(f"{value!r} is not one of: {', '.join(options)}") from None

    return parse


def _judgement(options: tuple[str, ...]) -> Callable[[str], str]:
    """A judgement from ``options``, optionally followed by its reason: ``high (allocation not concealed)``."""
    by_length = sorted(options, key=len, reverse=True)  # 'some concerns' before 'some'

    def parse(value: str) -> str:
        text = value.strip()
        level = next((o for o in by_length if text.lower().startswith(o)
                      and not text[len(o):len(o) + 1].isalnum()), None)
        if level is None:
            raise _Bad(f"{value!r} does not start with one of: {', '.join(options)}")
        reason = text[len(level):].strip(" :;,-–—()")
        return f"{level} ({reason})" if reason else level

    return parse


STUDY_FIELDS: dict[str, Callable[[str], Any]] = {
    "study_type": _choice(STUDY_TYPES),
    "design": _text,
    "design_type": _choice(DESIGN_TYPES),
    "population": _text,
    "population_group": _choice(POPULATION_GROUPS),
    "setting": _text,
    "setting_type": _choice(SETTING_TYPES),
    "peer_role": _choice(PEER_ROLES),
    "country": _text,
    "us_state": _text,
    "region": _text,
    "risk_of_bias": _judgement(RISK_OF_BIAS),
    "review_quality": _judgement(REVIEW_QUALITY),
    "review_quality_source": _text,
    "same_study_as": _text,
    "includes": _text,
    "confidence": _text,
    "confidence_reason": _text,
    "coded_by": _text,
}
OUTCOME_FIELDS: dict[str, Callable[[str], Any]] = {
    "outcome": _text,
    "domain": _choice(DOMAINS),
    "comparison": _text,
    "comparison_type": _choice(COMPARISON_TYPES, _COMPARISON_ALIASES),
    "review_certainty": _choice(CERTAINTY),
    "measure": _choice(MEASURES, _MEASURE_ALIASES),
    "measure_as_reported": _text,
    "better": _choice(("higher", "lower", "unclear")),
    "synthesis_group": _text,
    "theme": _choice(THEMES),
    "estimate": _number,
    "ci_low": _number,
    "ci_high": _number,
    "reported_statistic": _text,
    "n_studies": _text,
    "n_participants": _text,
    "direction": _text,
    "quote": _text,
    "page": _text,
    "source_url": _text,
    "source_type": _text,
    "notes": _text,
}
POLICY_FIELDS: dict[str, Callable[[str], Any]] = {
    k: _text for k in ("state", "fact", "value", "as_of", "quote", "source_type", "notes")
}
_SECTIONS = {"study": STUDY_FIELDS, "outcome": OUTCOME_FIELDS, "policy fact": POLICY_FIELDS}
_SECTION_RE = re.compile(r"^(study|outcome|policy fact)\b[\s:#-]*(.*)$", re.IGNORECASE)
_FIELD_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _-]*?)\s*:\s*(.*)$")


@dataclass
class _Section:
    kind: str
    label: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # field-level errors: a finding with any is left out


def _sections(item_key: str, lines: list[NoteLine], problems: list[Problem]) -> list[_Section]:
    sections: list[_Section] = []
    for line in lines[1:]:  # line 1 is the note's title ("Extraction" / "Policy facts")
        start = _SECTION_RE.match(line.text)
        if start and (line.heading or ":" not in line.text or start[1].lower() == "policy fact"):
            sections.append(_Section(start[1].lower(), start[2].strip(), line.number))
            continue
        pair = _FIELD_RE.match(line.text)
        if not pair:
            problems.append(Problem(item_key, line.number, "", f"not a 'key: value' line: {line.text[:60]!r}", "warning"))
            continue
        if not sections:
            problems.append(Problem(item_key, line.number, pair[1], "field before any Study/Outcome section"))
            continue
        section = sections[-1]
        name = pair[1].strip().lower().replace(" ", "_").replace("-", "_")
        parsers = _SECTIONS[section.kind]
        if name not in parsers:
            problems.append(Problem(item_key, line.number, name,
                                    f"unknown field in a {section.kind} section; known: {', '.join(parsers)}",
                                    "warning"))
            continue
        if name in section.values:
            problems.append(Problem(item_key, line.number, name, f"repeated (first on line {section.lines[name]})"))
            section.errors += 1
            continue
        raw = pair[2].strip()
        if raw == "":
            continue
        try:
            section.values[name] = parsers[name](raw)
            section.lines[name] = line.number
        except _Bad as exc:
            problems.append(Problem(item_key, line.number, name, str(exc)))
            section.errors += 1
    return sections


def _check_outcome(item_key: str, section: _Section, problems: list[Problem]) -> bool:
    """Cross-field rules. Returns False if the finding cannot be used at all."""
    v, before = section.values, len(problems)

    def bad(name: str, message: str) -> None:
        problems.append(Problem(item_key, section.lines.get(name, section.line), name, message))

    if not section.label:
        bad("", "an Outcome section needs an id after the word Outcome, e.g. 'Outcome O12'")
    for required in ("outcome", "domain", "quote"):
        if required not in v:
            bad(required, "missing (every finding needs an outcome, a domain and the quoted passage)")
    numbers = [k for k in ("estimate", "ci_low", "ci_high") if k in v]
    if numbers and len(numbers) < 3:
        bad(numbers[0], "an estimate needs its 95% CI (estimate, ci_low, ci_high); "
                        "otherwise record the figure as reported_statistic and measure: narrative")
    if len(numbers) == 3:
        measure = v.get("measure")
        if measure in (None, "narrative"):
            bad("measure", "an estimate needs its effect measure (one of " + ", ".join(MEASURES[:-1]) + ")")
        if not v["ci_low"] <= v["estimate"] <= v["ci_high"]:
            bad("estimate", f"{v['estimate']} lies outside its CI [{v['ci_low']}, {v['ci_high']}]")
        if measure in RATIO_MEASURES and min(v["ci_low"], v["estimate"]) <= 0:
            bad("estimate", f"a ratio measure ({measure}) must be positive")
    elif not numbers and v.get("measure") not in (None, "narrative"):
        bad("measure", f"measure {v['measure']} given without estimate and CI; use measure: narrative")
    return len(problems) == before and section.errors == 0


# --- records ---------------------------------------------------------------------------

_SCREEN_RE = re.compile(r"^screen\s*:\s*(ta|ft)\s*:\s*(include|exclude|maybe)\s*(?::\s*(.*))?$", re.IGNORECASE)


def _screening(item: dict[str, Any], problems: list[Problem]) -> tuple[str, str]:
    """The item's screening decision from its tags: full text beats title/abstract."""
    decisions: dict[str, tuple[str, str]] = {}
    for tag in item["data"].get("tags", []):
        text = unicodedata.normalize("NFC", tag.get("tag", "")).strip()
        match = _SCREEN_RE.match(text)
        if match:
            decisions[match[1].upper()] = (match[2].lower(), (match[3] or "").strip())
        elif text.lower().startswith("screen:"):
            problems.append(Problem(item["key"], 0, "tags", f"screening tag {text!r} not understood; "
                                    "use screen:TA|FT:include|exclude|maybe[:reason]"))
    for stage in ("FT", "TA"):
        if stage in decisions:
            decision, reason = decisions[stage]
            return f"{stage}:{decision}", reason
    return "unscreened", ""


def _citation_key(data: dict[str, Any]) -> str:
    """Zotero 8's citationKey, else Better BibTeX's pinned key in Extra, else ''."""
    if data.get("citationKey", "").strip():
        return str(data["citationKey"]).strip()
    for line in data.get("extra", "").splitlines():
        match = re.match(r"^\s*(citation key|bibtex)\s*:\s*(\S+)\s*$", line, re.IGNORECASE)
        if match:
            return match[2]
    return ""


_KEY_CHARS = re.compile(r"[A-Za-z0-9_:.+/-]+")  # what BibTeX, Sphinx and an HTML anchor all accept


def _usable_key(key: str) -> bool:
    return bool(_KEY_CHARS.fullmatch(key))


def _generated_key(data: dict[str, Any]) -> str:
    """firstauthorYEARword, e.g. lloydevans2014systematic (ASCII, lower case)."""
    creators = data.get("creators") or [{}]
    first = creators[0].get("lastName") or creators[0].get("name") or "anon"
    year = (re.search(r"\d{4}", data.get("date", "")) or [""])[0]
    word = next((w for w in re.findall(r"[A-Za-z]+", data.get("title", "")) if len(w) > 3), "item")
    ascii_name = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower()) + year + word.lower()


def _citation_keys(parents: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every item's citation key.  A generated key that two items share gets each item's own
    key as a suffix, so that editing one item never renames another."""
    pinned = {key: _citation_key(item["data"]) for key, item in parents.items()}
    pinned = {key: value if _usable_key(value) else "" for key, value in pinned.items()}
    generated = {key: _generated_key(item["data"]) for key, item in parents.items() if not pinned[key]}
    counts: dict[str, int] = {}
    for base in [*generated.values(), *filter(None, pinned.values())]:
        counts[base] = counts.get(base, 0) + 1
    return {key: pinned[key] or (generated[key] if counts[generated[key]] == 1 else f"{generated[key]}-{key.lower()}")
            for key in parents}


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

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _replaced_keys(data: dict[str, Any]) -> list[str]:
    """Keys of the items this one replaced when duplicates were merged (``relations["dc:replaces"]``)."""
    uris = data.get("relations", {}).get("dc:replaces", [])
    return [uri.rstrip("/").rsplit("/", 1)[-1] for uri in ([uris] if isinstance(uris, str) else uris)]


def _is_extraction(note: dict[str, Any]) -> bool:
    try:
        return _title_of(note_lines(note["data"].get("note", ""))).startswith("extraction")
    except ValueError:
        return False


def _title_of(lines: list[NoteLine]) -> str:
    return lines[0].text.strip().lower() if lines else ""


def code_items(items: list[dict[str, Any]]) -> Coding:
    """Turn Zotero items (parents and child notes) into study, outcome and policy records.

    Trashed items (``data.deleted``) are left out.  Every problem is collected; one bad
    item or finding never stops the others.
    """
    live = [i for i in items if not i["data"].get("deleted")]
    parents = {i["key"]: i for i in live if not i["data"].get("parentItem") and i["data"]["itemType"] not in ("note", "attachment", "annotation")}
    notes: dict[str, list[dict[str, Any]]] = {}
    every_note: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        parent = item["data"].get("parentItem")
        if item["data"]["itemType"] == "note" and parent:
            every_note.setdefault(parent, []).append(item)
            if not item["data"].get("deleted"):
                notes.setdefault(parent, []).append(item)
    by_key = {i["key"]: i for i in items}

    problems: list[Problem] = []
    studies, outcomes, facts = [], [], []
    citation_keys = _citation_keys(parents)
    taken_keys: set[str] = set()
    seen_facts: dict[str, str] = {}
    for key in sorted(parents):
        data = parents[key]["data"]
        tags = {unicodedata.normalize("NFC", t.get("tag", "")).lower() for t in data.get("tags", [])}
        screening, reason = _screening(parents[key], problems)
        # Zotero's Merge Items trashes the duplicates and records them in dc:replaces on the
        # survivor: their screening and extraction carry over when the survivor has none.
        for lost in _replaced_keys(data):
            if lost in parents or lost not in by_key:
                continue
            if screening == "unscreened":
                screening, reason = _screening(by_key[lost], problems)
            if not any(_is_extraction(n) for n in notes.get(key, [])):
                notes.setdefault(key, []).extend(every_note.get(lost, []))
        citation = citation_keys[key]
        if _citation_key(data) and not _usable_key(_citation_key(data)):
            problems.append(Problem(key, 0, "citationKey", f"citation key {_citation_key(data)!r} has characters a "
                                    f"bibliography cannot use (letters, digits and _:.+/- only); using {citation!r}",
                                    "warning"))
        if citation in taken_keys:
            problems.append(Problem(key, 0, "citationKey", f"citation key {citation!r} is used by another item"))
            citation = f"{citation}-{key.lower()}"
        taken_keys.add(citation)
        extraction, policy_notes = [], []
        for note in sorted(notes.get(key, []), key=lambda n: n["key"]):
            try:
                lines = note_lines(note["data"].get("note", ""))
            except ValueError as exc:
                problems.append(Problem(note["key"], 1, "note", str(exc)))
                continue
            title = _title_of(lines)
            if title.startswith("extraction"):
                extraction.append((note["key"], lines))
            elif title.startswith("policy facts"):
                policy_notes.append((note["key"], lines))

        if "policy-source" in tags:
            for note_key, lines in policy_notes:
                for section in _sections(note_key, lines, problems):
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
                                  "source_url": data.get("url", ""), "source_item": key, "note_key": note_key,
                                  "note_line": section.line})
            continue

        authors, author_list = _authors(data)
        study: dict[str, Any] = {
            "study_id": key, "citation_key": citation, "authors": authors, "author_list": author_list,
            "year": (re.search(r"\d{4}", data.get("date", "")) or [""])[0], "title": data.get("title", ""),
            "journal": data.get("publicationTitle") or data.get("websiteTitle") or data.get("blogTitle", ""),
            "doi": data.get("DOI", ""), "url": data.get("url", ""), "item_type": data["itemType"],
            "screening": screening, "exclusion_reason": reason,
            **{f: "" for f in STUDY_FIELDS}, "extraction_note": "",
        }
        if screening.endswith("include") and not extraction:
            problems.append(Problem(key, 0, "note", "included but has no extraction note (a child note whose "
                                    "first line is 'Extraction')", "warning"))
        for note_key, lines in extraction[:1]:
            study["extraction_note"] = note_key
            for section in _sections(note_key, lines, problems):
                if section.kind == "study":
                    study.update(section.values)
                elif section.kind == "outcome":
                    if _check_outcome(note_key, section, problems):
                        outcomes.append({"finding_id": section.label, "study_id": key, "citation_key": citation,
                                         **section.values, "note_key": note_key, "note_line": section.line})
                else:
                    problems.append(Problem(note_key, section.line, "", "a policy fact section in an Extraction note"))
        for note_key, _ in extraction[1:]:
            problems.append(Problem(note_key, 1, "", f"item {key} has more than one extraction note; "
                                    f"only {extraction[0][0]} was read"))
        studies.append(study)

    seen: dict[str, str] = {}
    unique = []
    for record in outcomes:
        if record["finding_id"] in seen:
            problems.append(Problem(record["note_key"], record["note_line"], "id",
                                    f"finding id {record['finding_id']} also used in note {seen[record['finding_id']]}"))
            continue
        seen[record["finding_id"]] = record["note_key"]
        unique.append(record)
    outcomes = unique
    return Coding(studies, outcomes, facts, sorted(set(problems)))
