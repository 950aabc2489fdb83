"""What each line of an extraction or policy note means: field parsers, sections and a finding's checks.

A note is read section by section (``Study``, ``Outcome <id>``, ``Risk of bias``, ``Policy fact <id>``); each
``key: value`` line is parsed by its field's parser, and a refused value becomes a problem naming the note
line and the field.  A finding's fields are then checked together (an estimate needs its CI, raw data its
measure).  Risk of bias lines are kept as typed here and read by :mod:`._rob_sections` once the tool is known.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ._errors import Problem
from ._notes import NoteLine
from ._vocabulary import (BINARY_ARMS, CERTAINTY, COMPARISON_ALIASES, COMPARISON_TYPES, CONTINUOUS_ARMS,
                          DESIGN_TYPES, DOMAIN_WORDS, DOMAINS, MEASURE_ALIASES, MEASURES, PEER_ROLES,
                          POPULATION_GROUPS, RATIO_MEASURES, RAW_FIELDS, REVIEW_QUALITY, RISK_OF_BIAS, SETTING_TYPES,
                          STUDY_TYPES, THEMES, BINARY_MEASURES, CONTINUOUS_MEASURES)

__all__: list[str] = []


class BadValue(ValueError):
    """A value a field's parser refuses; its message says why, in the reviewer's words."""


def _text(value: str) -> str:
    return value


# Sane bounds for an effect estimate and its CI bounds: beyond them a value is a typo (or an attack) that
# would overflow the synthesis; ratio measures are also bounded away from 0 (see check_outcome).
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
        raise BadValue(f"{value!r} is not a number{_number_hint(cleaned)}") from None
    if not math.isfinite(number):
        raise BadValue(f"{value!r} is not a finite number")
    if abs(number) > LARGEST_EFFECT:
        raise BadValue(f"{value!r} is beyond any plausible effect (|x| > {LARGEST_EFFECT:,.0f}); check the note")
    return number


def _count(value: str) -> str:
    """A count as typed ('240', '1,029' or 'about 240'): kept as text, but a whole number must be plausible."""
    cleaned = value.replace(",", "").strip()
    if re.fullmatch(r"\d+", cleaned) and int(cleaned) > LARGEST_COUNT:
        raise BadValue(f"{value[:40]!r} is more than {LARGEST_COUNT:,}; check the note")
    return value


# Checks applied after a field's parser (the field tables above stay plain name -> type).
_AFTER_PARSE: dict[str, Callable[[str], Any]] = {"n_studies": _count, "n_participants": _count}


def _whole(value: str) -> int:
    """A count of people or events in one arm: a whole number, at most :data:`LARGEST_COUNT`."""
    cleaned = value.replace(",", "").strip()
    if not re.fullmatch(r"\d+", cleaned):
        raise BadValue(f"{value[:40]!r} is not a whole number (a count of people or events)")
    if int(cleaned) > LARGEST_COUNT:
        raise BadValue(f"{value[:40]!r} is more than {LARGEST_COUNT:,}; check the note")
    return int(cleaned)



def _choice(options: tuple[str, ...], aliases: dict[str, str] | None = None) -> Callable[[str], str]:
    lookup = {o.lower(): o for o in options} | (aliases or {})

    def parse(value: str) -> str:
        try:
            return lookup[value.strip().lower()]
        except KeyError:
            typed = value.strip().lower()
            close = difflib.get_close_matches(typed, list(lookup), n=1, cutoff=0.6)
            meant = lookup[close[0]] if close else next((d for word, d in DOMAIN_WORDS.items() if word in typed
                                                         and d in options), "")
            hint = f"; did you mean {meant!r}?" if meant else ""
            raise BadValue(f"{value!r} is not one of: {', '.join(options)}{hint}") from None

    return parse


def _judgement(options: tuple[str, ...]) -> Callable[[str], str]:
    """A judgement from ``options``, optionally followed by its reason: ``high (allocation not concealed)``."""
    by_length = sorted(options, key=len, reverse=True)  # 'some concerns' before 'some'

    def parse(value: str) -> str:
        text = value.strip()
        level = next((o for o in by_length if text.lower().startswith(o)
                      and not text[len(o):len(o) + 1].isalnum()), None)
        if level is None:
            raise BadValue(f"{value!r} does not start with one of: {', '.join(options)}")
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
    "comparison_type": _choice(COMPARISON_TYPES, COMPARISON_ALIASES),
    "review_certainty": _choice(CERTAINTY),
    "measure": _choice(MEASURES, MEASURE_ALIASES),
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
class Section:
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


def _section_start(line: NoteLine, current: Section | None) -> tuple[str, str] | None:
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


def read_sections(item_key: str, lines: list[NoteLine], problems: list[Problem]) -> list[Section]:
    sections: list[Section] = []
    for line in lines[1:]:  # line 1 is the note's title ("Extraction" / "Policy facts")
        opened = _section_start(line, sections[-1] if sections else None)
        if opened:
            sections.append(Section(opened[0], opened[1], line.number))
            continue
        if line.heading:
            # A heading that is not a section: the lines under it would silently join the section above.
            problems.append(Problem(item_key, line.number, "", f"heading {line.text[:60]!r} is not a section: "
                                    f"expected {_HEADING_WORDS}; the lines under it were not read"))
            sections.append(Section("", line.text, line.number, errors=1, unread=True))
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
            if words(pair[1]) not in ROB_OVERALL and (name in STUDY_FIELDS or name in OUTCOME_FIELDS):
                # A Study or finding field after a Risk of bias heading: said once, not as a dozen unknown domains.
                problems.append(Problem(item_key, line.number, name, f"a {'study' if name in STUDY_FIELDS else 'finding'}"
                                        "'s field in a Risk of bias section: the Risk of bias section was left out "
                                        "and the lines from here to the next heading were not read (put the Risk "
                                        "of bias section after the Study and Outcome sections)"))
                section.errors += 1
                sections.append(Section("", "", line.number, errors=1, unread=True))
                continue
            keep_rob_line(item_key, section, pair[1], pair[2].strip(), line.number, problems)
            continue
        parsers = _SECTIONS[section.kind]
        if section.kind == "study" and name in OUTCOME_FIELDS:
            # A finding's field under the Study heading: its 'Outcome <id>' heading is missing.  Said once here,
            # rather than once per line or (worse) as warnings while the finding is lost.
            problems.append(Problem(item_key, line.number, name, "a finding's field in the Study section: the "
                                    "finding needs its heading first ('Outcome <id>'); the lines from here to the "
                                    "next heading were not read"))
            sections.append(Section("", "", line.number, errors=1, unread=True))
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
        except BadValue as exc:
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


def check_outcome(item_key: str, section: Section, problems: list[Problem]) -> bool:
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


# The keys a Risk of bias section gives its overall judgement under (read in _rob_sections); here they tell a
# section's own line from a Study field typed after its heading ('risk of bias' is both).
ROB_OVERALL = ("overall", "overall risk of bias", "overall judgement", "overall judgment", "risk of bias")


def words(text: str) -> str:
    """A key as words: 'Missing_outcome-data ' -> 'missing outcome data'."""
    return " ".join(re.sub(r"[_-]", " ", text).lower().split())


def keep_rob_line(item_key: str, section: Section, key: str, value: str, number: int,
                   problems: list[Problem]) -> None:
    """Keep one line of a Risk of bias section as typed, by its key in words; a repeated key is an error."""
    name = words(key)
    if value == "":
        return
    if name in section.values:
        problems.append(Problem(item_key, number, name, f"repeated (first on line {section.lines[name]}); the "
                                "Risk of bias section was left out"))
        section.errors += 1
        return
    section.values[name] = value
    section.lines[name] = number

