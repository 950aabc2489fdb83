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
"""

from __future__ import annotations

import html
import difflib
import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

import lxml.etree
import lxml.html

from ._errors import Problem, RegionError
from ._regions import find_region, region_records, state_code, state_suggestions

__all__ = [
    "BINARY_ARMS",
    "CERTAINTY",
    "CONTINUOUS_ARMS",
    "COMPARISON_TYPES",
    "Coding",
    "DESIGN_TYPES",
    "DOMAINS",
    "MEASURES",
    "PEER_ROLES",
    "NoteLine",
    "POPULATION_GROUPS",
    "Published",
    "RATIO_MEASURES",
    "RAW_FIELDS",
    "REVIEW_QUALITY",
    "RISK_OF_BIAS",
    "ROB_DOMAINS",
    "ROB_JUDGEMENTS",
    "SETTING_TYPES",
    "STUDY_TYPES",
    "THEMES",
    "code_items",
    "note_from_lines",
    "note_lines",
    "write_note",
    "overall_risk_of_bias",
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


# Zotero 7's note editor wraps a note in this element; the reader ignores it, the writer keeps it.
_NOTE_WRAPPER = '<div data-schema-version="9">{}</div>'


def write_note(title: str, sections: Iterable[tuple[str, Iterable[tuple[str, Any]]]]) -> str:
    """A note as Zotero's note editor stores it (the writer beside :func:`note_lines`, the reader).

    ``title`` is the first line ("Extraction", "Policy facts"); each section is a heading
    ("Study", "Outcome O12", "Policy fact P1") and its ``key: value`` fields, one paragraph
    each, the text escaped as the editor escapes typed text.  Tests, the seed importer and the
    benchmarks write notes only through this function (or :func:`note_from_lines`).
    """
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, fields in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for key, value in fields:
            text = str(value)
            if "\n" in text or "\r" in text:
                raise ValueError(f"a note field is one line; {key!r} has a line break: {text[:40]!r}")
            parts.append(f"<p>{html.escape(key)}: {html.escape(text, quote=False)}</p>")
    return _NOTE_WRAPPER.format("\n".join(parts))


def note_from_lines(lines: Iterable[str]) -> str:
    """A note from the lines a person types: ``# text`` is a heading, every other line a paragraph (escaped).

    For notes that are not well formed on purpose (tests of the reader's messages)."""
    parts = [f"<h2>{html.escape(line[2:])}</h2>" if line.startswith("# ") else f"<p>{html.escape(line)}</p>"
             for line in lines]
    return _NOTE_WRAPPER.format("".join(parts))


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
        """The element's text as shown: <br> breaks the line, a nested block is set off by spaces, and a line
        break in the HTML source is a space (except in <pre>).  The tree is read, never modified (lxml refuses
        to store text with control characters, which a note may hold)."""
        parts: list[str] = []

        def flat(text: str | None, pre: bool) -> None:
            if text:
                parts.append(text if pre else text.replace("\r", " ").replace("\n", " "))

        def visit(node: Any, pre: bool) -> None:
            pre = pre or node.tag == "pre"
            flat(node.text, pre)
            for child in node:
                if isinstance(child.tag, str):
                    if child.tag == "br":
                        parts.append("\n")
                    elif child.tag in _BLOCKS:
                        parts.append(" ")
                        visit(child, pre)
                        parts.append(" ")
                    else:
                        visit(child, pre)
                flat(child.tail, pre)

        visit(element, False)
        return "".join(parts)

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


# Sane bounds for an effect estimate and its CI bounds: beyond them a value is a typo (or an attack) that
# would overflow the synthesis; ratio measures are also bounded away from 0 (see _check_outcome).
LARGEST_EFFECT = 1e6
SMALLEST_RATIO = 1e-6
# A count beyond this is a typo: no study has a billion participants (and pandas' Int64 would overflow).
LARGEST_COUNT = 10**9


def _number_hint(text: str) -> str:
    """What a researcher probably meant by a number that is not one: the mistakes people make."""
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        return f"; use a decimal point: {text.replace(',', '.')}"
    if re.fullmatch(r"[+-]?\d*\.?\d+\s*(?:-|to|\u2013|\u2014)\s*[+-]?\d*\.?\d+", text):
        return "; a range goes in two fields: ci_low and ci_high"
    if re.fullmatch(r"[+-]?\d*\.?\d+\s*\(.*\)", text):
        return "; give the estimate alone, and its CI as ci_low and ci_high"
    if text.endswith("%"):
        return "; write the number without % (or record it as reported_statistic with measure: narrative)"
    return ""


def _number(value: str) -> float:
    cleaned = value.replace("\u2212", "-").replace(" ", "")
    try:
        number = float(cleaned)
    except ValueError:
        raise _Bad(f"{value!r} is not a number{_number_hint(cleaned)}") from None
    if not math.isfinite(number):
        raise _Bad(f"{value!r} is not a finite number")
    if abs(number) > LARGEST_EFFECT:
        raise _Bad(f"{value!r} is beyond any plausible effect (|x| > {LARGEST_EFFECT:,.0f}); check the note")
    return number


def _count(value: str) -> str:
    """A count as typed ('240', '1,029' or 'about 240'): kept as text, but a whole number must be plausible."""
    cleaned = value.replace(",", "").strip()
    if re.fullmatch(r"\d+", cleaned) and int(cleaned) > LARGEST_COUNT:
        raise _Bad(f"{value[:40]!r} is more than {LARGEST_COUNT:,}; check the note")
    return value


# Checks applied after a field's parser (the field tables above stay plain name -> type).
_AFTER_PARSE: dict[str, Callable[[str], Any]] = {"n_studies": _count, "n_participants": _count}


def _whole(value: str) -> int:
    """A count of people or events in one arm: a whole number, at most :data:`LARGEST_COUNT`."""
    cleaned = value.replace(",", "").strip()
    if not re.fullmatch(r"\d+", cleaned):
        raise _Bad(f"{value[:40]!r} is not a whole number (a count of people or events)")
    if int(cleaned) > LARGEST_COUNT:
        raise _Bad(f"{value[:40]!r} is more than {LARGEST_COUNT:,}; check the note")
    return int(cleaned)


# Raw data per arm ("peer" is the peer support arm, "comparison" the other): the effect size and its
# variance are computed from them at sync (metafor's escalc conventions), so no one types them twice.
BINARY_ARMS = ("events_peer", "n_peer", "events_comparison", "n_comparison")
CONTINUOUS_ARMS = ("mean_peer", "sd_peer", "n_peer", "mean_comparison", "sd_comparison", "n_comparison")
RAW_FIELDS = tuple(dict.fromkeys((*BINARY_ARMS, *CONTINUOUS_ARMS)))
BINARY_MEASURES = ("RR", "OR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD", "Hedges g")


# Words people write for an outcome domain (a hint only: the domain is never guessed into the tables).
_MEANT = {"readmission": "hospitalisation", "admission": "hospitalisation", "inpatient": "hospitalisation",
          "emergency": "crisis/ED use", "crisis": "crisis/ED use", "depress": "symptoms", "anxiety": "symptoms",
          "psychosis": "symptoms", "qol": "quality of life", "wellbeing": "quality of life", "relapse": "substance use",
          "overdose": "substance use", "alcohol": "substance use", "retention": "engagement",
          "attendance": "engagement", "self-efficacy": "empowerment", "activation": "empowerment",
          "homeless": "housing", "job": "employment", "spending": "cost", "burnout": "workforce",
          "turnover": "workforce"}


def _choice(options: tuple[str, ...], aliases: dict[str, str] | None = None) -> Callable[[str], str]:
    lookup = {o.lower(): o for o in options} | (aliases or {})

    def parse(value: str) -> str:
        try:
            return lookup[value.strip().lower()]
        except KeyError:
            typed = value.strip().lower()
            close = difflib.get_close_matches(typed, list(lookup), n=1, cutoff=0.6)
            meant = lookup[close[0]] if close else next((d for word, d in _MEANT.items() if word in typed
                                                         and d in options), "")
            hint = f"; did you mean {meant!r}?" if meant else ""
            raise _Bad(f"{value!r} is not one of: {', '.join(options)}{hint}") from None

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
    **{name: (_whole if name.startswith(("n_", "events_")) else _number) for name in RAW_FIELDS},
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
_SECTION_RE = re.compile(r"^(study|outcome|policy fact|risk[ -]of[ -]bias)\b[\s:#-]*(.*)$", re.IGNORECASE)
_FIELD_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _-]*?)\s*:\s*(.*)$")
_HEADING_WORDS = "'Study', 'Outcome <id>', 'Risk of bias [<finding id>]' or 'Policy fact <id>'"


@dataclass
class _Section:
    kind: str
    label: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # field-level errors: a finding with any is left out
    failed: set[str] = field(default_factory=set)  # fields whose value was refused (cross-field checks skip them)
    unread: bool = False  # under a malformed heading: its lines are not read (the heading's error says so)


def _field_name(text: str) -> str:
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def _section_start(line: NoteLine, current: _Section | None) -> tuple[str, str] | None:
    """The (kind, label) a line opens, or None when it is not a section heading.

    A heading, or a paragraph with no colon ('Outcome M12'), opens a section; so do the colon forms people
    type: 'Outcome M12:' and 'Study:'.  'Outcome: M12' is ambiguous with the ``outcome`` field: it opens a
    finding when it cannot be that field (outside a finding, or the finding already has its outcome) and
    what follows the colon is one word, the obvious reading of a heading.
    """
    start = _SECTION_RE.match(line.text)
    if not start:
        return None
    kind, label = start[1].lower(), start[2].strip()
    kind = "risk of bias" if kind.startswith("risk") else kind
    # 'Risk of bias: high' under Study is the study's risk_of_bias field (the colon form with a value), not a heading.
    if line.heading or ":" not in line.text or kind == "policy fact":
        return kind, label.rstrip(":").strip()
    head, _, rest = line.text.partition(":")
    if not rest.strip():  # 'Outcome M12:' or 'Study:'
        return kind, head[len(start[1]):].strip(" #-")
    if kind == "outcome" and _field_name(head) == "outcome" and re.fullmatch(r"\S{1,40}", rest.strip()):
        if current is None or current.kind == "study":
            return kind, rest.strip()
        if current.kind == "outcome" and ("outcome" in current.values or "outcome" in current.failed):
            return kind, rest.strip()
    return None


def _sections(item_key: str, lines: list[NoteLine], problems: list[Problem]) -> list[_Section]:
    sections: list[_Section] = []
    for line in lines[1:]:  # line 1 is the note's title ("Extraction" / "Policy facts")
        opened = _section_start(line, sections[-1] if sections else None)
        if opened:
            sections.append(_Section(opened[0], opened[1], line.number))
            continue
        if line.heading:
            # A heading that is not a section: the lines under it would silently join the section above.
            problems.append(Problem(item_key, line.number, "", f"heading {line.text[:60]!r} is not a section: "
                                    f"expected {_HEADING_WORDS}; the lines under it were not read"))
            sections.append(_Section("", line.text, line.number, errors=1, unread=True))
            continue
        if sections and sections[-1].unread:
            continue
        pair = _FIELD_RE.match(line.text)
        if not pair:
            problems.append(Problem(item_key, line.number, "", f"not a 'key: value' line: {line.text[:60]!r}", "warning"))
            continue
        if not sections:
            problems.append(Problem(item_key, line.number, pair[1], "field before any Study/Outcome section"))
            continue
        section = sections[-1]
        name = _field_name(pair[1])
        if section.kind == "risk of bias":  # read once its tool is known (the tool line may come last)
            if _words(pair[1]) not in _ROB_OVERALL and (name in STUDY_FIELDS or name in OUTCOME_FIELDS):
                # A Study or finding field after a Risk of bias heading: said once, not as a dozen unknown domains.
                problems.append(Problem(item_key, line.number, name, f"a {'study' if name in STUDY_FIELDS else 'finding'}"
                                        "'s field in a Risk of bias section: the Risk of bias section was left out "
                                        "and the lines from here to the next heading were not read (put the Risk "
                                        "of bias section after the Study and Outcome sections)"))
                section.errors += 1
                sections.append(_Section("", "", line.number, errors=1, unread=True))
                continue
            _keep_rob_line(item_key, section, pair[1], pair[2].strip(), line.number, problems)
            continue
        parsers = _SECTIONS[section.kind]
        if section.kind == "study" and name in OUTCOME_FIELDS:
            # A finding's field under the Study heading: its 'Outcome <id>' heading is missing.  Said once here,
            # rather than once per line or (worse) as warnings while the finding is lost.
            problems.append(Problem(item_key, line.number, name, "a finding's field in the Study section: the "
                                    "finding needs its heading first ('Outcome <id>'); the lines from here to the "
                                    "next heading were not read"))
            sections.append(_Section("", "", line.number, errors=1, unread=True))
            continue
        if name not in parsers:
            problems.append(Problem(item_key, line.number, name,
                                    f"unknown field in a {section.kind} section; known: {', '.join(parsers)}",
                                    "warning"))
            continue
        if name in section.values or name in section.failed:
            first = section.lines.get(name)
            problems.append(Problem(item_key, line.number, name, "repeated" + (f" (first on line {first})" if first else "")))
            section.errors += 1
            continue
        raw = pair[2].strip()
        if raw == "":
            continue
        try:
            value = parsers[name](raw)
            section.values[name] = _AFTER_PARSE[name](value) if name in _AFTER_PARSE else value
            section.lines[name] = line.number
        except _Bad as exc:
            problems.append(Problem(item_key, line.number, name, str(exc)))
            section.errors += 1
            section.failed.add(name)
            section.lines[name] = line.number
    return sections


def _check_raw_data(v: dict[str, Any], failed: set[str], bad: Callable[..., None]) -> str:
    """Check a finding's per-arm data; return 'binary', 'continuous' or '' (none, or not usable)."""
    given = [f for f in RAW_FIELDS if f in v or f in failed]
    if not given:
        return ""
    if any(f in failed for f in given):
        return ""  # the refused value was reported where it was read
    kind = ("binary" if any(f.startswith("events_") for f in given) else "continuous")
    fields = BINARY_ARMS if kind == "binary" else CONTINUOUS_ARMS
    missing = [f for f in fields if f not in v]
    stray = [f for f in given if f not in fields]
    if missing or stray:
        bad(given[0], f"{kind} raw data needs {', '.join(fields)}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; {', '.join(stray)} belong to the other kind of data" if stray else ""))
        return ""
    measures = BINARY_MEASURES if kind == "binary" else CONTINUOUS_MEASURES
    if v.get("measure") not in measures:
        bad("measure", f"{kind} raw data needs its measure: one of {', '.join(measures)}")
        return ""
    if min(v["n_peer"], v["n_comparison"]) < (1 if kind == "binary" else 2):
        bad("n_peer", "each arm needs at least one participant (two for means and SDs)")
        return ""
    if kind == "binary" and (v["events_peer"] > v["n_peer"] or v["events_comparison"] > v["n_comparison"]):
        bad("events_peer", "an arm has more events than participants")
        return ""
    if kind == "continuous" and min(v["sd_peer"], v["sd_comparison"]) <= 0:
        bad("sd_peer", "standard deviations must be positive")
        return ""
    return kind


def _check_outcome(item_key: str, section: _Section, problems: list[Problem]) -> bool:
    """Cross-field rules. Returns False if the finding cannot be used at all.

    A field whose value was already refused is not judged again: each bad value is one problem.
    """
    v, before = section.values, len(problems)

    def bad(name: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(item_key, section.lines.get(name, section.line), name, message, severity))

    if not section.label:
        bad("", "an Outcome section needs an id after the word Outcome, e.g. 'Outcome O12'")
    for required in ("outcome", "domain", "quote"):
        if required not in v and required not in section.failed:
            bad(required, "missing (every finding needs an outcome, a domain and the quoted passage)")
    numbers = [k for k in ("estimate", "ci_low", "ci_high") if k in v]
    refused = [k for k in ("estimate", "ci_low", "ci_high") if k in section.failed]
    raw = _check_raw_data(v, section.failed, bad)
    if numbers and len(numbers) < 3 and not refused:
        bad(numbers[0], "an estimate needs its 95% CI (estimate, ci_low, ci_high); "
                        "otherwise record the figure as reported_statistic and measure: narrative")
    if len(numbers) == 3:
        measure = v.get("measure")
        if measure in (None, "narrative") and "measure" not in section.failed:
            bad("measure", "an estimate needs its effect measure (one of " + ", ".join(MEASURES[:-1]) + ")")
        if not v["ci_low"] <= v["estimate"] <= v["ci_high"]:
            bad("estimate", f"{v['estimate']} lies outside its CI [{v['ci_low']}, {v['ci_high']}]")
        elif v["ci_low"] == v["ci_high"]:  # a CI of zero width has no variance: it cannot be weighed or pooled
            bad("ci_high", f"the CI [{v['ci_low']}, {v['ci_high']}] has no width; check the bounds")
        if measure in RATIO_MEASURES:
            for name in numbers:
                if not SMALLEST_RATIO < v[name] < LARGEST_EFFECT:
                    bad(name, f"a ratio measure ({measure}) must be positive, between {SMALLEST_RATIO:g} and "
                              f"{LARGEST_EFFECT:g}; {name} is {v[name]}")
        if "better" not in v and "better" not in section.failed:
            bad("better", "no 'better' (higher or lower): this estimate will not be plotted or pooled; "
                          "add 'better: higher', 'better: lower' or 'better: unclear'", "warning")
    elif raw and "better" not in v and "better" not in section.failed:
        bad("better", "no 'better' (higher or lower): the effect computed from the raw data will not be plotted "
                      "or pooled; add 'better: higher', 'better: lower' or 'better: unclear'", "warning")
    elif (not numbers and not refused and not any(f in v or f in section.failed for f in RAW_FIELDS)
          and v.get("measure") not in (None, "narrative")):
        bad("measure", f"measure {v['measure']} given without estimate and CI; use measure: narrative")
    errors = [p for p in problems[before:] if p.severity == "error"]
    return not errors and section.errors == 0


# --- risk of bias: RoB 2 and ROBINS-I, domain by domain ------------------------------------------------------

# Each tool's domains in its own order (D1, D2, ...) and its judgements, mildest first (Sterne et al., BMJ 2019
# and BMJ 2016).  ROBINS-I's 'no information' is not a level of risk: see _SEVERITY.
ROB_DOMAINS: dict[str, tuple[str, ...]] = {
    "RoB 2": ("randomisation process", "deviations from intended interventions", "missing outcome data",
              "measurement of the outcome", "selection of the reported result"),
    "ROBINS-I": ("confounding", "selection of participants", "classification of interventions",
                 "deviations from intended interventions", "missing data", "measurement of outcomes",
                 "selection of the reported result"),
}
ROB_JUDGEMENTS: dict[str, tuple[str, ...]] = {
    "RoB 2": ("low", "some concerns", "high"),
    "ROBINS-I": ("low", "moderate", "serious", "critical", "no information"),
}
# How severe a judgement is, to find the worst domain.  ROBINS-I's 'no information' gives 'no information'
# overall only where no domain is serious or critical (ROBINS-I's guidance), so it ranks between those.
_SEVERITY: dict[str, dict[str, int]] = {
    "RoB 2": {"low": 0, "some concerns": 1, "high": 2},
    "ROBINS-I": {"low": 0, "moderate": 1, "no information": 2, "serious": 3, "critical": 4},
}
# Across tools (a study judged per finding with both): low, then moderate-like, then high-like.
_ACROSS_TOOLS = {"low": 0, "some concerns": 1, "moderate": 1, "no information": 2, "high": 3, "serious": 3,
                 "critical": 4}
# Short names people type for a domain (besides 'D1', 'domain 1' and the full name), per tool.
_ROB_SHORT: dict[str, dict[str, int]] = {
    "RoB 2": {"randomisation": 1, "randomization": 1, "randomization process": 1, "deviations": 2,
              "missing data": 3, "missing": 3, "measurement": 4, "measurement of outcomes": 4,
              "outcome measurement": 4, "reporting": 5, "reported result": 5, "selective reporting": 5,
              "selection of reported result": 5},
    "ROBINS-I": {"selection": 2, "participants": 2, "selection of participants into the study": 2,
                 "classification": 3, "deviations": 4, "missing": 5, "missing outcome data": 5, "measurement": 6,
                 "measurement of the outcome": 6, "outcome measurement": 6, "reporting": 7, "reported result": 7,
                 "selective reporting": 7, "selection of reported result": 7},
}
_ROB_TOOL_NAMES = {"rob2": "RoB 2", "robinsi": "ROBINS-I"}  # the tool's name without case, spaces or dashes
_ROB_OVERALL = ("overall", "overall risk of bias", "overall judgement", "overall judgment", "risk of bias")
_ROB_OTHER = ("tool", "source")
# The words robvis and the tools' own forms put before a domain's name: 'Bias arising from the randomization process'.
_BIAS_PREFIX = re.compile(r"^bias (?:due to|arising from|in)(?: the)? ")


def _words(text: str) -> str:
    """A key as words: 'Missing_outcome-data ' -> 'missing outcome data'."""
    return " ".join(re.sub(r"[_-]", " ", text).lower().split())


def _keep_rob_line(item_key: str, section: _Section, key: str, value: str, number: int,
                   problems: list[Problem]) -> None:
    """Keep one line of a Risk of bias section as typed, by its key in words; a repeated key is an error."""
    name = _words(key)
    if value == "":
        return
    if name in section.values:
        problems.append(Problem(item_key, number, name, f"repeated (first on line {section.lines[name]}); the "
                                "Risk of bias section was left out"))
        section.errors += 1
        return
    section.values[name] = value
    section.lines[name] = number


def _rob_tool(value: str) -> str:
    tool = _ROB_TOOL_NAMES.get(re.sub(r"[^a-z0-9]", "", value.lower()).removesuffix("0"))  # 'RoB 2.0' too
    if tool:
        return tool
    close = difflib.get_close_matches(re.sub(r"[^a-z0-9]", "", value.lower()), list(_ROB_TOOL_NAMES), n=1, cutoff=0.6)
    hint = f"; did you mean {_ROB_TOOL_NAMES[close[0]]!r}?" if close else ""
    raise _Bad(f"tool {_plain(value, 40)!r} is not RoB 2 (randomised trials) or ROBINS-I (non-randomised "
               f"studies){hint}")


def _rob_domain(tool: str, key: str) -> int:
    """The number (1 = D1) of the domain ``key`` names in ``tool``; a misspelt one is refused with the closest."""
    names = ROB_DOMAINS[tool]
    key = _BIAS_PREFIX.sub("", key)
    match = re.fullmatch(r"(?:d|domain) ?([0-9]+)(?: (.+))?", key)  # 'D1', 'domain 1', 'D1 randomisation process'
    if match:
        if not 1 <= int(match[1]) <= len(names):
            raise _Bad(f"{tool} has {len(names)} domains, D1 to D{len(names)}")
        if match[2] is None or _rob_domain(tool, match[2]) == int(match[1]):
            return int(match[1])
        raise _Bad(f"D{match[1]} of {tool} is {names[int(match[1]) - 1]}, not {match[2]}")
    known = {name: i + 1 for i, name in enumerate(names)} | _ROB_SHORT[tool]
    if key in known:
        return known[key]
    other = next(t for t in ROB_DOMAINS if t != tool)
    if key in ROB_DOMAINS[other] or key in _ROB_SHORT[other]:
        raise _Bad(f"{key!r} is a domain of {other}, not of {tool}; {tool}'s domains are "
                   f"{', '.join(names)} (or is the tool {other}?)")
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {names[known[close[0]] - 1]!r} (D{known[close[0]]})?" if close else ""
    raise _Bad(f"{_plain(key, 40)!r} is not a {tool} domain{hint} {tool}'s domains are D1 to D{len(names)}: "
               f"{', '.join(names)}")


def _rob_judgement(tool: str, value: str) -> tuple[str, str]:
    """(judgement, reason) from 'high (allocation not concealed)'; 'low risk' reads as 'low'."""
    options = ROB_JUDGEMENTS[tool]
    text = value.strip()
    level = next((o for o in sorted(options, key=len, reverse=True)
                  if text.lower().startswith(o) and not text[len(o):len(o) + 1].isalnum()), None)
    if level is not None:
        rest = re.sub(r"^\s*risk(?: of bias)?\b", "", text[len(level):], flags=re.IGNORECASE)
        return level, rest.strip(" :;,-–—()")
    head = re.split(r"[(:;,–—]| - ", text, maxsplit=1)[0].strip().lower()
    head = re.sub(r"\s+risk(?: of bias)?$", "", head)
    other = next(t for t in ROB_JUDGEMENTS if t != tool)
    if head in ROB_JUDGEMENTS[other]:
        raise _Bad(f"{head!r} is a {other} judgement; {tool} judges {', '.join(options)}")
    if head == "unclear":
        raise _Bad(f"'unclear' is the old RoB 1's word; {tool} judges {', '.join(options)}")
    close = difflib.get_close_matches(head, options, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise _Bad(f"{_plain(text, 40)!r} is not a {tool} judgement{hint} ({tool} judges {', '.join(options)}, "
               "optionally followed by the reason: 'high (no blinding)')")


def overall_risk_of_bias(tool: str, judgements: list[str]) -> str:
    """The overall judgement the tool's rule of thumb gives for its domain judgements: the worst domain.

    RoB 2: high if any domain is high, else some concerns if any is, else low.  ROBINS-I: critical if any
    domain is, else serious, else no information if any domain has none, else moderate, else low.
    """
    return max(judgements, key=_SEVERITY[tool].__getitem__)


def _rob_rows(item_key: str, section: _Section, design_type: str, findings: set[str],
              problems: list[Problem]) -> list[dict[str, Any]]:
    """One Risk of bias section as rows (one per domain, then the overall), or none when it has an error.

    Every problem names its line; a section with an error is left out whole (a judgement without all its
    domains would be a guess), and the study keeps its ``risk_of_bias`` field.
    """
    values, before = dict(section.values), len(problems)
    left_out = "; the Risk of bias section was left out"

    def bad(name: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(item_key, section.lines.get(name, section.line), name,
                                message + (left_out if severity == "error" else ""), severity))

    if section.errors:  # a repeated key, or a line that belongs to another section: said where it was read
        return []
    if section.label and section.label not in findings:
        bad("", f"'Risk of bias {_plain(section.label, 40)}' names finding {_plain(section.label, 40)}, but this "
                "note has no 'Outcome " + _plain(section.label, 40) + "' section (write 'Risk of bias' alone for "
                "the whole study)")
        return []
    if "tool" not in values:
        bad("tool", "a Risk of bias section needs its tool: 'tool: RoB 2' (randomised trials) or "
                    "'tool: ROBINS-I' (non-randomised studies)")
        return []
    try:
        tool = _rob_tool(values.pop("tool"))
    except _Bad as exc:
        bad("tool", str(exc))
        return []
    source = values.pop("source", "")
    given = sorted((k for k in _ROB_OVERALL if k in values), key=section.lines.__getitem__)
    stated_key = given[0] if given else None
    stated = values.pop(stated_key) if stated_key else None
    for again in given[1:]:
        values.pop(again)
        bad(again, f"the overall judgement is given twice (first on line {section.lines[given[0]]})")
    judged: dict[int, tuple[str, str, str]] = {}  # domain number -> (judgement, reason, key as typed)
    unknown = 0
    for key, value in values.items():
        try:
            number = _rob_domain(tool, key)
        except _Bad as exc:
            bad(key, str(exc))
            unknown += 1
            continue
        if number in judged:
            bad(key, f"D{number} ({ROB_DOMAINS[tool][number - 1]}) is judged twice (first on line "
                     f"{section.lines[judged[number][2]]})")
            continue
        try:
            level, reason = _rob_judgement(tool, value)
        except _Bad as exc:
            bad(key, str(exc))
            judged[number] = ("", "", key)
            continue
        judged[number] = (level, reason, key)
    missing = [f"D{n} {name}" for n, name in enumerate(ROB_DOMAINS[tool], 1) if n not in judged]
    if missing and not unknown:  # a misspelt domain is one mistake, said once (where it was typed)
        bad("", f"{tool} judges every domain; missing: {', '.join(missing)}")
    overall_reason = ""
    if stated is not None:
        try:
            overall, overall_reason = _rob_judgement(tool, stated)
        except _Bad as exc:
            bad(stated_key or "overall", str(exc))
    if any(p.severity == "error" for p in problems[before:]):
        return []
    levels = [judged[n][0] for n in sorted(judged)]
    derived = overall_risk_of_bias(tool, levels)
    worst = [f"D{n}" for n in sorted(judged) if judged[n][0] == derived]
    derived_reason = f"derived from the domains: {'all low' if derived == 'low' else 'worst ' + ', '.join(worst)}"
    if stated is None:
        overall, overall_reason = derived, derived_reason
    else:
        severity = _SEVERITY[tool]
        floor = max((severity[level] for level in levels if level != "no information"), default=0)
        if severity[overall] < floor:
            bad(stated_key or "overall", f"overall {overall!r} is milder than a domain ({derived} in "
                f"{', '.join(worst)}); {tool}'s overall is at least as severe as its worst domain, so "
                f"{derived!r} is used", "warning")
            overall, overall_reason = derived, derived_reason
        elif overall != derived and not overall_reason:
            bad(stated_key or "overall", f"overall {overall!r} differs from the worst domain ({derived}): "
                                         f"give the reason, as in 'overall: {overall} (why)'", "warning")
    randomised = design_type in ("RCT", "cluster RCT")
    if design_type and (tool == "RoB 2") != randomised:
        bad("tool", f"{tool} is for {'randomised trials' if tool == 'RoB 2' else 'non-randomised studies'}, "
                    f"but the study's design_type is {design_type!r}", "warning")
    rows = [{"domain_id": f"D{n}", "domain": ROB_DOMAINS[tool][n - 1], "judgement": judged[n][0],
             "reason": judged[n][1], "note_line": section.lines[judged[n][2]]} for n in sorted(judged)]
    rows.append({"domain_id": "overall", "domain": "overall", "judgement": overall, "reason": overall_reason,
                 "note_line": section.lines.get(stated_key or "", section.line)})
    return [{"finding_id": section.label, "tool": tool, **row, "source": source, "note_key": item_key}
            for row in rows]


def _study_risk_of_bias(rows: list[dict[str, Any]]) -> str:
    """The study's ``risk_of_bias`` from its assessments: the whole-study one, else the worst over its findings."""
    overall = [r for r in rows if r["domain_id"] == "overall"]
    whole = [r for r in overall if not r["finding_id"]]
    if whole:
        r = whole[0]
        return f"{r['judgement']} ({r['tool']}; {r['reason']})" if r["reason"] else f"{r['judgement']} ({r['tool']})"
    r = max(overall, key=lambda r: _ACROSS_TOOLS[r["judgement"]])
    ids = ", ".join(o["finding_id"] for o in overall)
    return f"{r['judgement']} ({r['tool']}; the worst over findings {ids} is {r['finding_id']}" + (
        f": {r['reason']})" if r["reason"] else ")")


def _assessments(note_key: str, assessments: list[_Section], sections: list[_Section], study: dict[str, Any],
                 problems: list[Problem]) -> list[dict[str, Any]]:
    """The rows of a note's Risk of bias sections; the study's ``risk_of_bias`` becomes their overall judgement.

    The section wins over the ``risk_of_bias`` field (it holds the domains behind the judgement); a field that
    says otherwise is reported, unless it says 'not assessed'.
    """
    findings = {s.label for s in sections if s.kind == "outcome" and s.label}
    rows: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for section in assessments:
        if section.label in first:
            what = f"finding {_plain(section.label, 40)}" if section.label else "the whole study"
            problems.append(Problem(note_key, section.line, "", f"a second Risk of bias section for {what} (the "
                                    f"first is on line {first[section.label]}); this one was left out"))
            continue
        first[section.label] = section.line
        rows += _rob_rows(note_key, section, str(study.get("design_type", "")), findings, problems)
    if not rows:
        return []
    judged = _study_risk_of_bias(rows)
    said = str(study.get("risk_of_bias", "")).split(" (")[0]
    if said not in ("", "not assessed") and said != judged.split(" (")[0]:
        where = next((s for s in sections if s.kind == "study"), None)
        line = where.lines.get("risk_of_bias", where.line) if where else 0
        problems.append(Problem(note_key, line, "risk_of_bias", f"risk_of_bias says {said!r}, but the Risk of bias "
                                f"section gives {judged.split(' (')[0]!r} overall; the section's judgement is used "
                                "(make them agree, or remove the field)", "warning"))
    study["risk_of_bias"] = judged
    return rows


# --- records ---------------------------------------------------------------------------

_SCREEN_RE = re.compile(r"^screen\s*:\s*(ta|ft)\s*:\s*(?:(resolved)\s*:\s*)?(include|exclude|maybe)\s*(?::\s*(.*))?$",
                        re.IGNORECASE)
# The reviewer follows the last '@' (initials, or 'consensus'); a reason never needs an '@', and the tags
# written before reviewers were named have none, so every one of them reads exactly as before.
_REVIEWER_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,29}")
_STAGE_NAMES = {"TA": "title/abstract", "FT": "full text"}
CONSENSUS = "consensus"


@dataclass(frozen=True)
class Vote:
    """One screening tag: a reviewer's decision at a stage, or a resolution of a conflict there.

    ``reviewer`` is the initials after ``@`` in upper case, ``consensus``, or ``""`` when the tag names nobody
    (one reviewer's tags, as before reviewers were named).  ``resolves`` is true for ``screen:FT:resolved:...``
    and for a decision reached by consensus (``@consensus``).
    """

    stage: str
    decision: str
    reason: str = ""
    reviewer: str = ""
    resolves: bool = False

    def __str__(self) -> str:
        """The vote as ``studies.csv``'s ``screening_votes`` records it (the reason is in ``exclusion_reason``)."""
        return (f"{self.stage}:{'resolved:' if self.resolves else ''}{self.decision}"
                + (f"@{self.reviewer}" if self.reviewer else ""))

    @property
    def who(self) -> str:
        return self.reviewer or "(no reviewer named)"


@dataclass(frozen=True)
class Screening:
    """An item's screening: ``decision`` is ``TA|FT:include|exclude|maybe|conflict`` or ``unscreened``."""

    decision: str = "unscreened"
    reason: str = ""
    votes: tuple[Vote, ...] = ()

    @property
    def votes_text(self) -> str:
        return "|".join(str(v) for v in self.votes)


def _vote(text: str) -> Vote | None:
    """The vote a ``screen:`` tag records, or None when the tag does not follow the pattern."""
    body, at, reviewer = text.rpartition("@") if "@" in text else (text, "", "")
    reviewer = reviewer.strip()
    if at and not _REVIEWER_RE.fullmatch(reviewer):
        return None
    match = _SCREEN_RE.match(body.strip())
    if not match:
        return None
    consensus = reviewer.lower() == CONSENSUS
    return Vote(match[1].upper(), match[3].lower(), (match[4] or "").strip(),
                CONSENSUS if consensus else reviewer.upper(), bool(match[2]) or consensus)


def _stage_outcome(votes: list[Vote]) -> tuple[str, str]:
    """(decision, reason) at one stage: the resolutions decide when there are any, else the votes must agree;
    ``conflict`` when they do not (an unnamed tag is one more voice, so two bare tags that disagree conflict too)."""
    deciding = [v for v in votes if v.resolves] or votes
    decisions = {v.decision for v in deciding}
    if len(decisions) > 1:
        return "conflict", ""
    reasons = dict.fromkeys(v.reason for v in deciding if v.reason)  # distinct, in the votes' order
    return decisions.pop(), "; ".join(reasons)


def _conflict_problem(key: str, stage: str, votes: list[Vote]) -> Problem:
    """The warning for an unresolved conflict: who said what, and the tag that settles it."""
    resolutions = [v for v in votes if v.resolves]
    said = ", ".join(f"{v.who} {v.decision}" + (f" ({_plain(v.reason, 60)})" if v.reason else "")
                     for v in (resolutions or votes))
    what = "the resolutions disagree" if resolutions else "the reviewers disagree"
    return Problem(key, 0, "tags", f"screening conflict at {_STAGE_NAMES[stage]} ({stage}): {what}: {said}; the item "
                   f"is not included until it is resolved: add screen:{stage}:resolved:<decision>@<initials> (a third "
                   f"reviewer) or screen:{stage}:<decision>@consensus", "warning")


def _tag_hint(text: str) -> str:
    """'; did you mean screen:FT:include?' for a misspelt stage or decision."""
    parts = text.split(":")
    if len(parts) < 3:
        return ""
    stage = difflib.get_close_matches(parts[1].upper(), ["TA", "FT"], n=1, cutoff=0.4)
    decision = difflib.get_close_matches(parts[2].split("@")[0].lower(), ["include", "exclude", "maybe"], n=1,
                                         cutoff=0.6)
    if not (stage and decision):
        return ""
    return f"; did you mean {':'.join(['screen', stage[0], decision[0], *parts[3:]])!r}?"


def _screening(item: dict[str, Any], problems: list[Problem]) -> Screening:
    """The item's screening decision from its tags: full text beats title/abstract.

    Several reviewers may tag the same stage (``screen:TA:include@AB``, ``screen:TA:exclude@CD``): when they
    disagree and no resolution settles it, the stage is a ``conflict``, which includes nothing.  A conflict at
    title/abstract is reported only while the item has no full-text decision (a team may send every item one
    reviewer includes on to full text); it still counts in the agreement statistics.
    """
    votes: dict[Vote, None] = {}
    for tag in item["data"].get("tags", []):
        text = unicodedata.normalize("NFC", tag.get("tag", "")).strip()
        if not text.lower().startswith("screen"):
            continue
        vote = _vote(text)
        if vote is not None:
            votes[vote] = None
            # 'screen:TA:include:AB' (initials where a reason goes) is the likely slip; an exclusion's
            # reason may well be an acronym ('SUD'), so only an include or maybe is questioned.
            if not vote.reviewer and vote.decision != "exclude" and re.fullmatch(r"[A-Z]{2,3}", vote.reason):
                problems.append(Problem(item["key"], 0, "tags", f"screening tag {text!r} reads {vote.reason!r} as "
                                        f"the reason; to name the reviewer write screen:{vote.stage}:{vote.decision}"
                                        f"@{vote.reason}", "warning"))
        elif text.lower().startswith("screen:"):
            problems.append(Problem(item["key"], 0, "tags", f"screening tag {text!r} not understood{_tag_hint(text)}; "
                                    "use screen:TA|FT:include|exclude|maybe[:reason][@reviewer initials]"))
    order = {"TA": 0, "FT": 1}
    ordered = tuple(sorted(votes, key=lambda v: (order[v.stage], v.resolves, v.reviewer, v.decision, v.reason)))
    for stage in ("FT", "TA"):
        at_stage = [v for v in ordered if v.stage == stage]
        if not at_stage:
            continue
        decision, reason = _stage_outcome(at_stage)
        if decision == "conflict":
            problems.append(_conflict_problem(item["key"], stage, at_stage))
        return Screening(f"{stage}:{decision}", reason, ordered)
    return Screening()


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
    year = (re.search(r"[0-9]{4}", data.get("date", "")) or [""])[0]  # ASCII digits: the key goes into BibTeX
    word = next((w for w in re.findall(r"[A-Za-z]+", data.get("title", "")) if len(w) > 3), "item")
    ascii_name = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower()) + year + word.lower()


@dataclass(frozen=True)
class Published:
    """Identities the evidence tables already publish: each stays with its item.

    ``citation_keys`` maps a study's item key to its published citation key; ``finding_ids`` maps a
    published finding id to the item key of its study.  :func:`code_items` gives a contested identity
    to the item that publishes it, then to the item added to Zotero first (then the lower key).
    """

    citation_keys: Mapping[str, str] = field(default_factory=dict)
    finding_ids: Mapping[str, str] = field(default_factory=dict)


def _first_come(parents: Mapping[str, dict[str, Any]]) -> list[str]:
    """Item keys in the order the items were added to Zotero, then by key (an item without a date comes last)."""
    return sorted(parents, key=lambda k: (str(parents[k]["data"].get("dateAdded") or "~"), k))


def _citation_keys(parents: Mapping[str, dict[str, Any]], order: list[str], published: Mapping[str, str],
                   describe: Callable[[str], str]) -> tuple[dict[str, str], list[Problem]]:
    """Every item's citation key, unique (BibTeX compares keys without case), and the collisions met.

    A published key stays with its item as long as the item still asks for it (its pin, or its generated
    key); then pinned keys, then generated ones, each first come first served.  A pinned key that another
    item holds is refused (error) and the item keeps its published key or gets its generated one; a
    generated key that another item holds gets the item's own key as a suffix (warning).  Suffixing never
    fails: a suffixed key that is taken too gets a number.
    """
    pinned = {k: _citation_key(parents[k]["data"]) for k in order}
    pinned = {k: value if _usable_key(value) else "" for k, value in pinned.items()}
    base = {k: _generated_key(parents[k]["data"]) for k in order}
    holder: dict[str, str] = {}  # casefolded key -> item key
    keys: dict[str, str] = {}

    def take(item: str, key: str) -> None:
        holder[key.casefold()] = item
        keys[item] = key

    def asks_for(item: str, key: str) -> bool:  # its pinned key, or a generated one (a refused pin falls back to it)
        own = f"{base[item]}-{item.lower()}"
        return key in (pinned[item], base[item], own) or re.fullmatch(re.escape(own) + r"-[0-9]+", key) is not None

    reserved: dict[str, str] = {}  # item -> the published key it keeps (unless its pin is free)
    for item in order:
        key = published.get(item, "")
        if key and asks_for(item, key) and key.casefold() not in holder:
            holder[key.casefold()] = item
            reserved[item] = key
    refused: dict[str, str] = {}  # item -> the holder of the key it pinned
    waiting = [item for item in order if pinned[item]]
    while waiting:  # an item that gets its pin frees its published fallback, which another pin may be waiting for
        freed = False
        for item in waiting:
            owner = holder.get(pinned[item].casefold(), item)
            if owner != item:
                refused[item] = owner
                continue
            refused.pop(item, None)
            fallback = reserved.pop(item, pinned[item])
            if fallback.casefold() != pinned[item].casefold():
                del holder[fallback.casefold()]
                freed = True
            take(item, pinned[item])
        waiting = [item for item in refused if freed]
    for item in order:
        if item not in keys and item in reserved:
            take(item, reserved[item])
    for item in order:
        if item not in keys:
            key, number = base[item], 1
            while key.casefold() in holder:
                number += 1
                key = f"{base[item]}-{item.lower()}" + (f"-{number - 1}" if number > 2 else "")
            take(item, key)
    # Said on every build while it holds (not only when first given), so that the tables of an unchanged library
    # are the same from one build to the next.
    problems = []
    for item in order:
        key = keys[item]
        if item in refused:
            owner = refused[item]
            problems.append(Problem(item, 0, "citationKey", f"citation key {pinned[item]!r} is already the key of "
                                    f"item {owner} ({describe(owner)}); this item is cited as {key!r} until you "
                                    "pin another key in Zotero"))
        elif key not in (pinned[item], base[item]) and holder.get(base[item].casefold(), item) != item:
            owner = holder[base[item].casefold()]
            problems.append(Problem(item, 0, "citationKey", f"the generated citation key {base[item]!r} is already "
                                    f"the key of item {owner} ({describe(owner)}); this item is cited as {key!r} "
                                    "(pin a key in Zotero to choose another)", "warning"))
    return keys, problems


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
        return _title_of(note_lines(note["data"].get("note", ""))).startswith("extraction")
    except ValueError:
        return False


def _title_of(lines: list[NoteLine]) -> str:
    return lines[0].text.strip().lower() if lines else ""


def _plain(text: Any, limit: int) -> str:
    """Text fit for a one-line message: whitespace collapsed, invisible and control characters shown as '?'."""
    flat = "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[:limit - 1] + "\u2026"


def _description(data: dict[str, Any]) -> str:
    """'Tester 2020, "Synthetic study"': how a reviewer finds the item in Zotero."""
    authors, _ = _authors(data)
    year = (re.search(r"[0-9]{4}", str(data.get("date", ""))) or [""])[0]
    who = _plain(f"{authors} {year}".strip(), 40)
    title = _plain(data.get("title", ""), 60)
    return ", ".join(part for part in (who, f"\u201c{title}\u201d" if title else "") if part) or "no author or title"


def _check_places(note_key: str, section: _Section, regions: list[Mapping[str, Any]],
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
                                        f"{_plain(part, 40)!r} is not a US state, DC, a postal code or 'US'"
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
                                    f"unknown region {_plain(values.pop('region'), 40)!r}{hint} It was left out "
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
    order = _first_come(parents)
    descriptions = {key: _description(parents[key]["data"]) for key in parents}

    def is_policy_source(key: str) -> bool:
        return any(unicodedata.normalize("NFC", t.get("tag", "")).lower() == "policy-source"
                   for t in parents[key]["data"].get("tags", []))

    studies, outcomes, facts, risk_of_bias = [], [], [], []
    claims: list[tuple[str, str, str, int, dict[str, Any] | None]] = []  # (finding id, item, note, line, record)
    citation_keys, key_problems = _citation_keys(parents, [k for k in order if not is_policy_source(k)],
                                                 published.citation_keys, descriptions.__getitem__)
    problems += key_problems
    seen_facts: dict[str, str] = {}
    for key in sorted(parents):
        data = parents[key]["data"]
        screening = _screening(parents[key], problems)
        # Zotero's Merge Items trashes the duplicates and records them in dc:replaces on the
        # survivor: their screening and extraction carry over when the survivor has none.
        for lost in _replaced_keys(data):
            if lost in parents or lost not in by_key:
                continue
            if screening.decision == "unscreened":
                screening = _screening(by_key[lost], problems)
            if not any(_is_extraction(n) for n in notes.get(key, [])):
                notes.setdefault(key, []).extend(every_note.get(lost, []))
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

        if is_policy_source(key):
            for note_key, _ in extraction:
                problems.append(Problem(note_key, 1, "", "an Extraction note on an item tagged policy-source is not "
                                        "read (a policy source has Policy facts, not findings)", "warning"))
            for note_key, lines in policy_notes:
                for section in _sections(note_key, lines, problems):
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
                                  "source_url": data.get("url", ""), "source_item": key, "note_key": note_key,
                                  "note_line": section.line})
            continue

        citation = citation_keys[key]
        if _citation_key(data) and not _usable_key(_citation_key(data)):
            problems.append(Problem(key, 0, "citationKey", f"citation key {_plain(_citation_key(data), 60)!r} has "
                                    "characters a bibliography cannot use (letters, digits and _:.+/- only); "
                                    f"using {citation!r}", "warning"))
        authors, author_list = _authors(data)
        study: dict[str, Any] = {
            "study_id": key, "citation_key": citation, "authors": authors, "author_list": author_list,
            "year": (re.search(r"[0-9]{4}", data.get("date", "")) or [""])[0], "title": data.get("title", ""),
            "journal": data.get("publicationTitle") or data.get("websiteTitle") or data.get("blogTitle", ""),
            "doi": data.get("DOI", ""), "url": data.get("url", ""), "item_type": data["itemType"],
            "screening": screening.decision, "exclusion_reason": screening.reason,
            "screening_votes": screening.votes_text,
            **{f: "" for f in STUDY_FIELDS}, "extraction_note": "",
        }
        if screening.decision.endswith("include") and not extraction:
            problems.append(Problem(key, 0, "note", "included but has no extraction note (a child note whose "
                                    "first line is 'Extraction')", "warning"))
        for note_key, lines in extraction[:1]:
            study["extraction_note"] = note_key
            sections = _sections(note_key, lines, problems)
            assessments = [s for s in sections if s.kind == "risk of bias" and not s.unread]
            for section in sections:
                if section.unread or section.kind == "risk of bias":
                    continue
                if section.kind == "study":
                    _check_places(note_key, section, regions, problems)
                    study.update(section.values)
                elif section.kind == "outcome":
                    record = None
                    if _check_outcome(note_key, section, problems):
                        record = {"finding_id": section.label, "study_id": key, "citation_key": citation,
                                  **section.values, "note_key": note_key, "note_line": section.line}
                    if section.label:  # a finding left out still holds its id: nobody takes it meanwhile
                        claims.append((section.label, key, note_key, section.line, record))
                else:
                    problems.append(Problem(note_key, section.line, "", "a policy fact section in an Extraction note"))
            if assessments:
                rows = _assessments(note_key, assessments, sections, study, problems)
                risk_of_bias += [{"study_id": key, "citation_key": citation, **row} for row in rows]
        for note_key, _ in extraction[1:]:
            problems.append(Problem(note_key, 1, "", f"item {key} has more than one extraction note; "
                                    f"only {extraction[0][0]} was read"))
        studies.append(study)

    outcomes, id_problems = _unique_findings(claims, order, published.finding_ids, descriptions)
    problems += id_problems
    parent_of = {n["key"]: key for key in sorted(parents) for n in notes.get(key, [])}
    located = {_located(p, parent_of, descriptions) for p in problems}
    return Coding(studies, outcomes, facts, sorted(located), risk_of_bias)


def _unique_findings(claims: list[tuple[str, str, str, int, dict[str, Any] | None]], order: list[str],
                     published: Mapping[str, str], descriptions: Mapping[str, str],
                     ) -> tuple[list[dict[str, Any]], list[Problem]]:
    """One finding per id: the item that publishes it keeps it, else the item added first; the others are
    reported (at their own note line, naming the holder) and left out."""
    rank = {key: position for position, key in enumerate(order)}
    by_id: dict[str, list[tuple[str, str, str, int, dict[str, Any] | None]]] = {}
    for claim in claims:
        by_id.setdefault(claim[0], []).append(claim)
    kept, problems = [], []
    for finding_id, rivals in by_id.items():
        rivals.sort(key=lambda c: (rank[c[1]], c[2], c[3]))
        # The publisher keeps its id even while its finding has an error (a newcomer cannot slip in meanwhile);
        # otherwise the first finding that can be used, else the first.
        owner = published.get(finding_id)
        mine = [c for c in rivals if c[1] == owner] or rivals
        winner = next((c for c in mine if c[4] is not None), mine[0])
        if winner[4] is not None:
            kept.append(winner[4])
        for _, item, note_key, line, _record in rivals:
            if (item, note_key, line) == winner[1:4]:
                continue
            where = (f"line {winner[3]} of this note" if note_key == winner[2] else
                     f"item {winner[1]} ({descriptions[winner[1]]}), note {winner[2]}, line {winner[3]}")
            problems.append(Problem(note_key, line, "id", f"finding id {_plain(finding_id, 40)} is already used by "
                                    f"{where}; this finding was left out: give it another id"))
    return kept, problems


def _located(problem: Problem, parent_of: Mapping[str, str], descriptions: Mapping[str, str]) -> Problem:
    """The problem with the item it concerns named in its message: a note's key alone is hard to find in Zotero."""
    parent = problem.item_key if problem.item_key in descriptions else parent_of.get(problem.item_key)
    if parent is None:
        return problem
    where = descriptions[parent] if parent == problem.item_key else f"note of item {parent}: {descriptions[parent]}"
    return replace(problem, message=f"{problem.message} ({where})")
