"""The Risk of bias sections of an extraction note: RoB 2 and ROBINS-I, domain by domain.

A section's lines are kept as typed while the note is read (:func:`._fields.keep_rob_line`); here they are read
once the tool is known: each domain named, each judgement checked, the overall judgement derived (the worst
domain) or checked against the domains, and the study's ``risk_of_bias`` set from them.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from ._errors import Problem
from ._fields import ROB_OVERALL, BadValue, Section
from ._notes import plain

__all__ = ["ROB_DOMAINS", "ROB_JUDGEMENTS", "overall_risk_of_bias"]

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
# The words robvis and the tools' own forms put before a domain's name: 'Bias arising from the randomization process'.
_BIAS_PREFIX = re.compile(r"^bias (?:due to|arising from|in)(?: the)? ")


def _rob_tool(value: str) -> str:
    tool = _ROB_TOOL_NAMES.get(re.sub(r"[^a-z0-9]", "", value.lower()).removesuffix("0"))  # 'RoB 2.0' too
    if tool:
        return tool
    close = difflib.get_close_matches(re.sub(r"[^a-z0-9]", "", value.lower()), list(_ROB_TOOL_NAMES), n=1, cutoff=0.6)
    hint = f"; did you mean {_ROB_TOOL_NAMES[close[0]]!r}?" if close else ""
    raise BadValue(f"tool {plain(value, 40)!r} is not RoB 2 (randomised trials) or ROBINS-I (non-randomised "
               f"studies){hint}")


def _rob_domain(tool: str, key: str) -> int:
    """The number (1 = D1) of the domain ``key`` names in ``tool``; a misspelt one is refused with the closest."""
    names = ROB_DOMAINS[tool]
    key = _BIAS_PREFIX.sub("", key)
    match = re.fullmatch(r"(?:d|domain) ?([0-9]+)(?: (.+))?", key)  # 'D1', 'domain 1', 'D1 randomisation process'
    if match:
        if not 1 <= int(match[1]) <= len(names):
            raise BadValue(f"{tool} has {len(names)} domains, D1 to D{len(names)}")
        if match[2] is None or _rob_domain(tool, match[2]) == int(match[1]):
            return int(match[1])
        raise BadValue(f"D{match[1]} of {tool} is {names[int(match[1]) - 1]}, not {match[2]}")
    known = {name: i + 1 for i, name in enumerate(names)} | _ROB_SHORT[tool]
    if key in known:
        return known[key]
    other = next(t for t in ROB_DOMAINS if t != tool)
    if key in ROB_DOMAINS[other] or key in _ROB_SHORT[other]:
        raise BadValue(f"{key!r} is a domain of {other}, not of {tool}; {tool}'s domains are "
                   f"{', '.join(names)} (or is the tool {other}?)")
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {names[known[close[0]] - 1]!r} (D{known[close[0]]})?" if close else ""
    raise BadValue(f"{plain(key, 40)!r} is not a {tool} domain{hint} {tool}'s domains are D1 to D{len(names)}: "
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
        raise BadValue(f"{head!r} is a {other} judgement; {tool} judges {', '.join(options)}")
    if head == "unclear":
        raise BadValue(f"'unclear' is the old RoB 1's word; {tool} judges {', '.join(options)}")
    close = difflib.get_close_matches(head, options, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BadValue(f"{plain(text, 40)!r} is not a {tool} judgement{hint} ({tool} judges {', '.join(options)}, "
               "optionally followed by the reason: 'high (no blinding)')")


def overall_risk_of_bias(tool: str, judgements: list[str]) -> str:
    """The overall judgement the tool's rule of thumb gives for its domain judgements: the worst domain.

    RoB 2: high if any domain is high, else some concerns if any is, else low.  ROBINS-I: critical if any
    domain is, else serious, else no information if any domain has none, else moderate, else low.
    """
    return max(judgements, key=_SEVERITY[tool].__getitem__)


def _rob_rows(item_key: str, section: Section, design_type: str, findings: set[str],
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
        bad("", f"'Risk of bias {plain(section.label, 40)}' names finding {plain(section.label, 40)}, but this "
                "note has no 'Outcome " + plain(section.label, 40) + "' section (write 'Risk of bias' alone for "
                "the whole study)")
        return []
    if "tool" not in values:
        bad("tool", "a Risk of bias section needs its tool: 'tool: RoB 2' (randomised trials) or "
                    "'tool: ROBINS-I' (non-randomised studies)")
        return []
    try:
        tool = _rob_tool(values.pop("tool"))
    except BadValue as exc:
        bad("tool", str(exc))
        return []
    source = values.pop("source", "")
    given = sorted((k for k in ROB_OVERALL if k in values), key=section.lines.__getitem__)
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
        except BadValue as exc:
            bad(key, str(exc))
            unknown += 1
            continue
        if number in judged:
            bad(key, f"D{number} ({ROB_DOMAINS[tool][number - 1]}) is judged twice (first on line "
                     f"{section.lines[judged[number][2]]})")
            continue
        try:
            level, reason = _rob_judgement(tool, value)
        except BadValue as exc:
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
        except BadValue as exc:
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


def assessments(note_key: str, assessments: list[Section], sections: list[Section], study: dict[str, Any],
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
            what = f"finding {plain(section.label, 40)}" if section.label else "the whole study"
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
