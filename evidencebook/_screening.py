"""Screening tags: a reviewer's decision on an item at title/abstract or full text, and the item's screening.

``screen:TA:include``, ``screen:FT:exclude:wrong population``, optionally naming the reviewer
(``screen:TA:include@AB``); two reviewers who disagree make a conflict until ``screen:TA:resolved:include@EF``
or ``screen:TA:include@consensus`` settles it.  The full-text decision wins.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ._errors import Problem
from ._notes import plain

__all__: list[str] = []

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
    said = ", ".join(f"{v.who} {v.decision}" + (f" ({plain(v.reason, 60)})" if v.reason else "")
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


def screening_of(item: dict[str, Any], problems: list[Problem]) -> Screening:
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
