"""What a state's policy facts say about Medicaid coverage of peer support, and when.

For each state (and DC) and each service, mental health and substance use, the coverage is
one of :data:`STATUSES`:

``covered``
    the newest facts that speak to the service say Medicaid pays for peer support;
``not covered``
    they say Medicaid does not;
``conflicting sources``
    facts disagree and none can be shown to be newer than the others;
``not documented``
    no fact says either; the reason names the Medicaid facts that were read and why they do
    not settle it.

The rules, in order, for one fact (:func:`read_fact`); they read the fact's ``fact``,
``value`` and ``quote`` text, never its ``notes`` (which hold the curators' caveats):

1. Only facts about a state or DC count; national facts (``US``) never colour a state.
2. The fact must name Medicaid (or Medi-Cal, AHCCCS, TennCare, MassHealth, Medical Assistance):
   a billing rule under a plan the source does not call Medicaid is not read as Medicaid coverage.
3. A per-service answer in the value (``MH: Yes; SUD: No``, as in the 2024 Policy Center for
   Maternal Mental Health gap table) gives each service its status.  That table's page text runs
   its cells together (``MarylandNoYes``): when the quote ends in such a pair, it must agree with
   the value, or the fact is not read.
4. A bill is not law: a fact naming a bill (``SB765``, ``HB 1486``, "Medicaid bill") is read only
   when its text says it passed or was enacted.  A fact that says coverage is planned or sought
   ("will be", "soon", "to seek CMS approval", "proposed", "pending") is not read either.
5. A negation ("not billable", "not Medicaid-reimbursable", "neither ... nor ... eligible", "does
   not allow ... billed", a value that answers "No") reads as ``not covered``.
6. Words that say Medicaid pays ("billable", "bill Medicaid", "reimburs...", "covers",
   "benefit", "State Plan", "rehabilitation option", "paid", "available under", "legislated",
   "received Medicaid approval", a value that answers "Yes") read as ``covered``.
7. Anything else is not read: the fact mentions Medicaid (a credentialing body, a provider
   manual) but does not say whether peer support is covered.

Which service a fact speaks to: the services its ``fact`` and ``value`` name ("MH", "mental
health", "DMH" (a Department of Mental Health); "SUD", "substance use", "addiction", "drug or
alcohol", "recovery coach"); when they name none, those its quote names; when that names none
either, the fact is about peer support in general and counts for both services (and its
reason says that the source names no service).

Then, for one state and service (:func:`resolve_coverage`): a fact is *superseded* when another
fact's date is clearly later, that is, the newer one's earliest possible day falls after the
older one's latest possible day (:func:`clearly_newer`).  Facts that are not superseded decide:
if they agree, that is the status, resting on them, with the superseded facts kept as history;
if they disagree, the status is ``conflicting sources``.  An undated fact, or one dated "page
current", is never shown to be older or newer than another, so it conflicts with any fact
that disagrees with it.

Dates (:func:`parse_as_of`): ``as_of`` is free text.  Its date is the latest date it names
(ISO ``2024-07-01``, ``2024-07``, ``2024``, or ``Sept 16, 2024``, ``July 2021``), at that
precision; "c. 2013" widens it by a year either side; "after July 2021" leaves it open at the
end, "pre-2020" at the start; "page current" or "rule version viewed" is current (sorts
newest, date unknown); no date is undated (sorts last).  :func:`as_of_key` is the sort key that
makes "newest first" mean the fact's own date everywhere.

Pure functions: no I/O, and pandas is imported only where a table is built, so that a brief's
kernel can import this module cheaply.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterable, Mapping

from ._errors import EvidenceError
from ._regions import STATE_NAMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COVERED", "CONFLICTING", "Coverage", "FactDate", "FactReading", "NOT_COVERED", "NOT_DOCUMENTED",
           "SERVICES", "STATUSES", "as_of_key", "clearly_newer", "coverage_table", "newest_first", "parse_as_of",
           "read_fact", "read_facts", "resolve_coverage", "state_coverage"]

COVERED = "covered"
NOT_COVERED = "not covered"
CONFLICTING = "conflicting sources"
NOT_DOCUMENTED = "not documented"
STATUSES = (COVERED, NOT_COVERED, CONFLICTING, NOT_DOCUMENTED)
# Short key -> the words a reader sees.
SERVICES: dict[str, str] = {"MH": "mental health", "SUD": "substance use"}
REQUIRED_COLUMNS = ("fact_id", "state_code", "fact", "value", "as_of", "quote")


# --- dates ---------------------------------------------------------------------------------

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_NAME = "|".join(sorted(_MONTHS, key=len, reverse=True))
# "Sept 16, 2024", "July 2021", "Aug. 2020", "January 1, 2023"
_NAMED_DATE = re.compile(rf"\b({_MONTH_NAME})\.?\s+(?:(\d{{1,2}}),?\s+)?((?:19|20)\d\d)(?!\d)", re.IGNORECASE)
# "2024-07-01", "2024-07", "2024" (a range "2018-2020" names two years)
_ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)(?:-(\d\d)(?!\d))?(?:-(\d\d)(?!\d))?(?!\d)")
_CURRENT = re.compile(r"\bcurrent\b|\bviewed\b", re.IGNORECASE)
_CIRCA = re.compile(r"(?:\bc\.|\bca\.|\bcirca\b|\babout\b)\s*$", re.IGNORECASE)
_AFTER = re.compile(r"\b(?:after|later than)\s*$", re.IGNORECASE)
_BEFORE = re.compile(r"(?:\bpre-?|\bbefore\s*)$", re.IGNORECASE)


@dataclass(frozen=True)
class FactDate:
    """A fact's ``as_of`` read as a date.

    ``kind`` is ``dated``, ``current`` (the source was current when read; its date is unknown)
    or ``undated``.  ``earliest`` and ``latest`` bound the day the fact speaks for; ``None``
    is open (unknown).  ``key`` is the sort key (:func:`as_of_key`).
    """

    text: str
    kind: str
    key: str
    earliest: date | None = None
    latest: date | None = None


def _span(year: int, month: int | None, day: int | None) -> tuple[date, date]:
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    if day is None:
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    return date(year, month, day), date(year, month, day)


def _named_dates(text: str) -> list[tuple[int, int, str, date, date]]:
    """Every date the text names: (start, end of its match, ISO key, first day, last day)."""
    found = []
    for m in _NAMED_DATE.finditer(text):
        year, month = int(m.group(3)), _MONTHS[m.group(1).lower()]
        day = int(m.group(2)) if m.group(2) and 1 <= int(m.group(2)) <= calendar.monthrange(year, month)[1] else None
        key = f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")
        found.append((m.start(), m.end(), key, *_span(year, month, day)))
    blanked = _NAMED_DATE.sub(lambda m: " " * len(m.group(0)), text)  # a named date's year is not a second date
    for m in _ISO_DATE.finditer(blanked):
        year = int(m.group(1))
        month = int(m.group(2)) if m.group(2) and 1 <= int(m.group(2)) <= 12 else None
        day = (int(m.group(3)) if month and m.group(3) and 1 <= int(m.group(3)) <= calendar.monthrange(year, month)[1]
               else None)
        key = f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if day else "")
        found.append((m.start(), m.end(), key, *_span(year, month, day)))
    return found


def parse_as_of(as_of: object) -> FactDate:
    """Read a fact's free-text ``as_of``: its latest named date, with its precision and qualifiers.

    >>> parse_as_of("2024-07 (gap analysis; follow-up Sept 2024)").key
    '2024-09'
    >>> parse_as_of("current through Sept 16, 2024").latest
    datetime.date(2024, 9, 16)
    >>> parse_as_of("after July 2021 (article date not captured)").latest is None
    True
    """
    text = "" if as_of is None or (isinstance(as_of, float) and as_of != as_of) else str(as_of)
    dates = _named_dates(text)
    if not dates:
        kind = "current" if _CURRENT.search(text) else "undated"
        return FactDate(text, kind, "9999" if kind == "current" else "")
    # The latest date named: the one starting last; at the same start, the most precise.
    start, _end, key, earliest, latest = max(dates, key=lambda d: (d[3], -(d[4] - d[3]).days))
    before = text[:start]
    first: date | None = earliest
    last: date | None = latest
    if _CIRCA.search(before):
        first, last = date(earliest.year - 1, 1, 1), date(latest.year + 1, 12, 31)
    elif _AFTER.search(before):
        last = None
    elif _BEFORE.search(before):
        first, last = None, date(earliest.year - 1, 12, 31)
        key = f"{earliest.year - 1:04d}"
    return FactDate(text, "dated", key, first, last)


def as_of_key(as_of: object) -> str:
    """A sort key for a fact's free-text date, newest highest: the ISO form of the latest date it
    names ('2011 (amended 2013, 2017, 2021)' -> '2021'; 'current through Sept 16, 2024' ->
    '2024-09-16'); 'page current' and 'rule version viewed' count as the newest (true when
    read); undated facts sort last ('')."""
    return parse_as_of(as_of).key


def clearly_newer(newer: FactDate, older: FactDate) -> bool:
    """Whether ``newer`` is certainly later than ``older``: its first possible day falls after
    the other's last possible day.  Undated and "current" facts are never clearly either."""
    return (newer.kind == older.kind == "dated" and newer.earliest is not None and older.latest is not None
            and newer.earliest > older.latest)


def newest_first(facts: "pd.DataFrame", by: Iterable[str] = ()) -> "pd.DataFrame":
    """``facts`` sorted by the columns ``by`` (ascending), then by each fact's own date, newest
    first, then by ``fact_id``; undated facts last within their group."""
    by = list(by)
    keyed = facts.assign(_date_key=facts["as_of"].map(as_of_key))
    keyed = keyed.sort_values("fact_id", kind="stable").sort_values("_date_key", ascending=False, kind="stable")
    if by:
        keyed = keyed.sort_values(by, kind="stable")
    return keyed.drop(columns="_date_key")


# --- what one fact says ----------------------------------------------------------------------

_MEDICAID = re.compile(r"medicaid|medi-cal|ahcccs|tenncare|masshealth|medical assistance", re.IGNORECASE)
_PAYMENT = re.compile(r"\bbill(?:ing|able|ed)\b|reimburs", re.IGNORECASE)
_PER_SERVICE = re.compile(r"\b(MH|SUD)\s*:\s*(Yes|No)\b", re.IGNORECASE)
_RUN_TOGETHER = re.compile(r"(Yes|No)(Yes|No)\s*$")
_BILL = re.compile(r"\b(?:H|S|A)\.?\s?B\.?\s?\d+|\b(?:house|senate|assembly|medicaid) bill\b|\blegislation\b",
                   re.IGNORECASE)
_ENACTED = re.compile(r"\b(?:passed|enacted|signed into law|became law|legislated)\b", re.IGNORECASE)
_NOT_YET = re.compile(r"\bwill be\b|\bsoon\b|\bshall seek\b|\bto seek\b|\bseek\w*\s+(?:\w+\s+){0,3}approval\b"
                      r"|\bproposed\b|\bpending\b|\bplans? to\b", re.IGNORECASE)
_NEGATION = re.compile(r"\bnot\s+(?:[a-z]+[- ]){0,2}?(?:billable|reimbursable|covered|eligible|allowed|paid)\b"
                       r"|\bneither\b.*\bnor\b.*\beligible\b"
                       r"|\b(?:doesn['’]t|does not|do not|don['’]t|no longer)\s+allow"
                       r"|\bno medicaid (?:coverage|reimbursement)\b|\bcannot be billed\b", re.IGNORECASE)
_AFFIRMATION = re.compile(r"billable|\bbill(?:ed)?\s+(?:to\s+|through\s+)?medicaid|reimburs|\bcover(?:s|ed)\b"
                          r"|\bbenefit\b|state plan|rehabilitation (?:services )?option|\bpaid\b|\bavailable under\b"
                          r"|\blegislated\b|\breceived medicaid approval\b", re.IGNORECASE)
_ANSWER = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)
_SERVICE_WORDS = {
    "MH": re.compile(r"\bMH\b|mental health|\bDMH\b", re.IGNORECASE),
    "SUD": re.compile(r"\bSUD\b|substance use|addiction|drug or alcohol|recovery coach", re.IGNORECASE),
}


@dataclass(frozen=True)
class FactReading:
    """What one fact says about Medicaid coverage.

    ``statuses`` maps a service key (``MH``, ``SUD``) to ``covered`` or ``not covered``; it is
    empty when the fact is not read as coverage, and ``reason`` says why.  ``medicaid`` tells
    whether the fact is about Medicaid (or payment) at all: such a fact, even when not read,
    is named in a ``not documented`` reason.  ``general`` is true when the fact names no service.
    """

    fact_id: str
    state_code: str
    date: FactDate
    statuses: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""
    medicaid: bool = False
    general: bool = False


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def services_named(text: str) -> tuple[str, ...]:
    """The services (``MH``, ``SUD``) a text names; none when it speaks of peer support in general."""
    return tuple(s for s, words in _SERVICE_WORDS.items() if words.search(text))


def _services(fact: str, value: str, quote: str) -> tuple[tuple[str, ...], bool]:
    """The services a fact speaks to, and whether it names none (peer support in general)."""
    for text in (f"{fact} {value}", quote):
        named = services_named(text)
        if named:
            return named, False
    return tuple(SERVICES), True


def read_fact(row: Mapping[str, object]) -> FactReading:
    """What one policy fact says about Medicaid coverage of peer support (rules: module docstring)."""
    fact_id, code = _text(row.get("fact_id")), _text(row.get("state_code"))
    fact, value, quote = _text(row.get("fact")), _text(row.get("value")), _text(row.get("quote"))
    when = parse_as_of(row.get("as_of"))
    text = f"{fact} {value} {quote}"
    medicaid = bool(_MEDICAID.search(text))
    about_payment = medicaid or bool(_PAYMENT.search(text)) or _text(row.get("topic")) == "Medicaid coverage"

    def unread(reason: str) -> FactReading:
        return FactReading(fact_id, code, when, {}, reason, about_payment)

    if code not in STATE_NAMES:
        return unread("is a national fact, not a state's")
    if not medicaid:
        return unread("is about payment, but its source does not say the payer is Medicaid" if about_payment
                      else "is not about Medicaid")
    per_service = {s.upper(): a.lower() for s, a in _PER_SERVICE.findall(value)}
    if per_service:
        cells = _RUN_TOGETHER.search(quote)
        if cells and {"MH": cells.group(1).lower(), "SUD": cells.group(2).lower()} != {
                s: per_service.get(s, "") for s in SERVICES}:
            return unread(f"has a value ({value}) and a quoted table row ({quote}) that disagree")
        answers = "; ".join(f"{s}: {a}" for s, a in per_service.items())
        return FactReading(fact_id, code, when, {s: COVERED if a == "yes" else NOT_COVERED
                                                 for s, a in per_service.items()},
                           f"gives a per-service answer ({answers})", True)
    if _BILL.search(text) and not _ENACTED.search(text):
        return unread("records a bill, and a bill is not law (its outcome is not recorded)")
    if _NOT_YET.search(text):
        return unread("says coverage is planned or sought, not that it is in place")
    services, general = _services(fact, value, quote)
    scope = " (it names no service: read as peer support in general)" if general else ""
    if _NEGATION.search(text) or (_ANSWER.search(value) and _ANSWER.search(value).group(1).lower() == "no"):
        return FactReading(fact_id, code, when, dict.fromkeys(services, NOT_COVERED),
                           "says Medicaid does not pay for peer support" + scope, True, general)
    if _AFFIRMATION.search(text) or (_ANSWER.search(value) and _ANSWER.search(value).group(1).lower() == "yes"):
        return FactReading(fact_id, code, when, dict.fromkeys(services, COVERED),
                           "says Medicaid pays for peer support" + scope, True, general)
    return unread("mentions Medicaid but does not say whether peer support is covered")


def read_facts(policy: "pd.DataFrame") -> list[FactReading]:
    """:func:`read_fact` for every row of a state policy table.

    Raises :class:`EvidenceError` naming the first missing column.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in policy.columns]
    if missing:
        raise EvidenceError(f"state policy table: column {missing[0]!r} is missing (needed to read Medicaid coverage)")
    return [read_fact(row) for row in policy.to_dict("records")]


# --- what a state's facts say together -------------------------------------------------------

@dataclass(frozen=True)
class Coverage:
    """The Medicaid coverage of one service in one state, and what it rests on.

    ``as_of`` is the date of the fact it rests on, as the source gives it (for a conflict, the
    newest of the disagreeing facts); ``fact_ids`` the facts it rests on, newest first;
    ``says`` what each of them says (fact id -> status); ``history`` the older facts it
    supersedes and ``earlier`` what they said; ``dates`` the ``as_of`` of every fact that speaks
    to the service; ``unread`` the Medicaid facts of the state that speak to no status, with why;
    ``elsewhere`` the facts that speak only to the other service.
    """

    state_code: str
    service: str
    status: str
    as_of: str = ""
    date_key: str = ""
    fact_ids: tuple[str, ...] = ()
    says: Mapping[str, str] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    unread: Mapping[str, str] = field(default_factory=dict)
    earlier: Mapping[str, str] = field(default_factory=dict)
    dates: Mapping[str, str] = field(default_factory=dict)
    elsewhere: tuple[str, ...] = ()
    general: bool = False
    reason: str = ""

    @property
    def conflict(self) -> bool:
        return self.status == CONFLICTING


def _newest(readings: Iterable[FactReading]) -> list[FactReading]:
    return sorted(sorted(readings, key=lambda r: r.fact_id), key=lambda r: r.date.key, reverse=True)


def resolve_coverage(state: str, service: str, readings: Iterable[FactReading]) -> Coverage:
    """The coverage of ``service`` (``MH`` or ``SUD``) in ``state`` from its facts' readings."""
    readings = [r for r in readings if r.state_code == state]
    speaking = _newest(r for r in readings if service in r.statuses)
    unread = {r.fact_id: r.reason for r in _newest(readings) if r.medicaid and not r.statuses}
    words = SERVICES[service]
    elsewhere = tuple(r.fact_id for r in _newest(readings) if r.statuses and service not in r.statuses)
    if not speaking:
        parts = [f"{r.fact_id} speaks only to {' and '.join(SERVICES[s] for s in r.statuses)}"
                 for r in _newest(readings) if r.statuses]
        parts += [f"{k} {why}" for k, why in unread.items()]
        reason = (f"No fact says whether Medicaid covers {words} peer support"
                  + (": " + "; ".join(parts) if parts else "") + ".")
        return Coverage(state, service, NOT_DOCUMENTED, unread=unread, elsewhere=elsewhere, reason=reason)
    current = [r for r in speaking if not any(clearly_newer(o.date, r.date) for o in speaking)]
    history = tuple(r.fact_id for r in speaking if r not in current)
    said = {r.fact_id: r.statuses[service] for r in current}
    lead = next((r for r in current if r.date.kind == "dated"), current[0])
    general = all(r.general for r in current)
    if len(set(said.values())) == 1:
        status = next(iter(said.values()))
        reason = f"{', '.join(said)} {'says' if len(said) == 1 else 'say'} {status}"
        if general:
            reason += f" ({'it names' if len(said) == 1 else 'they name'} no service: peer support in general)"
        if history:
            reason += f"; older facts kept as history: {', '.join(history)}"
    else:
        status = CONFLICTING
        reason = ("sources disagree: " + "; ".join(f"{r.fact_id} ({r.date.text or 'undated'}) says {said[r.fact_id]}"
                                                   for r in current)
                  + "; none can be shown to be newer than the others")
    return Coverage(state, service, status, lead.date.text, lead.date.key, tuple(said), said, history, unread,
                    earlier={r.fact_id: r.statuses[service] for r in speaking if r.fact_id in history},
                    dates={r.fact_id: r.date.text for r in speaking}, elsewhere=elsewhere, general=general,
                    reason=reason + ".")


def state_coverage(state: str, readings: Iterable[FactReading]) -> dict[str, Coverage]:
    """Both services' coverage for one state: ``{"MH": Coverage, "SUD": Coverage}``."""
    readings = list(readings)
    return {s: resolve_coverage(state, s, readings) for s in SERVICES}


def coverage_table(policy: "pd.DataFrame") -> "pd.DataFrame":
    """One row per state (and DC) and service, in postal-code order: ``state_code``, ``service``
    (``MH``/``SUD``), ``status``, ``as_of``, ``date_key``, ``fact_ids``, ``history`` (``|``-joined),
    ``conflict``, ``general`` and ``reason``."""
    import pandas as pd

    readings = read_facts(policy)
    rows = []
    for code in sorted(STATE_NAMES):
        for service, c in state_coverage(code, readings).items():
            rows.append({"state_code": code, "service": service, "status": c.status, "as_of": c.as_of,
                         "date_key": c.date_key, "fact_ids": "|".join(c.fact_ids), "history": "|".join(c.history),
                         "conflict": c.conflict, "general": c.general, "reason": c.reason})
    return pd.DataFrame(rows, columns=["state_code", "service", "status", "as_of", "date_key", "fact_ids", "history",
                                       "conflict", "general", "reason"])
