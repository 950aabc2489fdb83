"""The levers a state controls, as a brief shows them.

Which lever a policy fact is about (:func:`lever_of`), the date it says something ends on
(:func:`deadline_of`) and which facts name a sub-state region (:func:`region_words`); a state's facts
sorted by topic, per sub-state region, per lever and with the national facts beside them
(:class:`StatePolicy`); and the lever panel itself (:func:`levers_table`), each fact with its date and
source, a passed date and disagreeing sources flagged.

Heavy imports (pandas) happen inside the functions that need them, so that a worker's start stays cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping

from ._brief_text import optional_item, shorten
from ._policy import as_of_key

if TYPE_CHECKING:
    import pandas as pd

    from ._display import HTML
    from ._policy import Coverage, FactDate

__all__: list[str] = []

POLICY_TOPICS = ["Medicaid coverage", "certification and training", "workforce", "pay", "turnover", "programmes", "other"]

# --- the levers a state controls --------------------------------------------------------------

# The levers of the panel, in the order a reader meets them: key -> the words a reader sees.
LEVERS: dict[str, str] = {
    "coverage-MH": "Medicaid coverage: mental health",
    "coverage-SUD": "Medicaid coverage: substance use",
    "certification": "Certification",
    "training": "Training hours",
    "supervision": "Supervision",
    "billing": "Billing codes and rates",
    "workforce": "Workforce counts",
    "pay": "Pay",
    "turnover": "Turnover",
}
# Which lever a fact is about, from its name (the ``fact`` column): the first rule that matches, in this order
# (a pay survey names certification; a count of certified peers names certification too).
_LEVER_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("pay", re.compile(r"\bpay\b|\bwages?\b|compensation|salar|\bearn", re.IGNORECASE)),
    ("turnover", re.compile(r"turnover|job stability|retention|leaving", re.IGNORECASE)),
    ("supervision", re.compile(r"supervis", re.IGNORECASE)),
    ("workforce", re.compile(r"per 100,000|\bcounts?\b|workforce adequacy|employed|\bnumbers?\b|\bsize of\b"
                             r"|trained/certified|certified workforce|workforce identified|nationwide", re.IGNORECASE)),
    ("billing", re.compile(r"billing codes?|codes? and rates|\brates?\b|billing of|spending", re.IGNORECASE)),
    ("training", re.compile(r"\bhours\b|training requirement|\bexam|continuing education|curriculum"
                            r"|certification training|training and certification requirements", re.IGNORECASE)),
    ("certification", re.compile(r"certif|credential|reciprocity|\bTHW\b", re.IGNORECASE)),
]
# A date the fact says something ends on: a deadline, a sunset, an expiry.
_DEADLINE = re.compile(r"\b(?:deadline|sunset\w*|expir\w*|until|ends?|ending|by)\b", re.IGNORECASE)


# A fact whose name says no lever goes by its topic (the evidence tables' _TOPICS): programmes and 'other' have none.
_TOPIC_LEVERS = {"certification and training": "certification", "workforce": "workforce", "pay": "pay",
                 "turnover": "turnover"}


def lever_of(fact: Mapping[str, Any]) -> str:
    """The lever a policy fact is about (a key of :data:`LEVERS` but coverage), or '' if none.

    Coverage of a service is not decided here but by :mod:`._policy` (what the fact says, not what it is called).
    """
    name = str(fact.get("fact", ""))
    return next((key for key, rule in _LEVER_RULES if rule.search(name)),
                _TOPIC_LEVERS.get(str(fact.get("topic", "")), ""))


def deadline_of(fact: Mapping[str, Any]) -> "FactDate | None":
    """The date a fact says something ends on ('application by June 30, 2025', 'sunsetting from July 1, 2025'),
    read from its name and value; None when it names no such date."""
    from ._policy import parse_as_of

    for text in (str(fact.get("fact", "")), str(fact.get("value", ""))):
        for found in _DEADLINE.finditer(text):
            when = parse_as_of(text[found.end(): found.end() + 40])
            if when.kind == "dated" and when.latest is not None:
                return when
    return None


def region_words(region: Mapping[str, Any]) -> list[re.Pattern[str]]:
    """What names a sub-state region in a fact's text: its name, its aliases and its counties, as whole words."""
    names = [str(region.get("name", "")), *str(region.get("aliases", "") or "").split("|"),
             *str(region.get("counties", "") or "").split("|")]
    names = [n for n in dict.fromkeys(n.strip() for n in names) if len(n) > 2]
    return [re.compile(rf"(?<!\w){re.escape(n)}(?!\w)", re.IGNORECASE) for n in names]


def names_region(fact: Mapping[str, Any], words: list[re.Pattern[str]]) -> bool:
    """Whether a fact is about the region ``words`` name (its name, value or quote names it)."""
    text = " ".join(str(fact.get(c, "")) for c in ("fact", "value", "quote"))
    return any(w.search(text) for w in words)



@dataclass(frozen=True)
class StatePolicy:
    """What the sources say about one state's policy: its facts by topic, those that name each of its sub-state
    regions, Medicaid coverage, the statewide facts on each lever, and the national facts beside them."""

    policy: "pd.DataFrame"  # the evidence's policy table: every state, and the national (US) facts
    state_code: str
    regions: tuple[Mapping[str, Any], ...]  # the state's sub-state regions

    @cached_property
    def facts(self) -> "pd.DataFrame":
        """The state's facts, by topic (Medicaid first), newest first within a topic."""
        from ._policy import newest_first

        facts = self.policy[self.policy["state_code"] == self.state_code]
        order = {t: i for i, t in enumerate(POLICY_TOPICS)}
        # Newest first by each fact's own date (not its text: 'after July 2021' is older than '2024-07').
        return newest_first(facts.assign(_order=facts["topic"].map(lambda t: order.get(t, len(order)))),
                            by=["_order"]).drop(columns="_order")

    @cached_property
    def regional(self) -> "dict[str, pd.DataFrame]":
        """Per sub-state region of the state, the state's facts that name it (its name, an alias, a county)."""
        facts = self.facts
        out = {}
        for r in self.regions:
            words = region_words(r)
            out[str(r["region_id"])] = facts[[names_region(f, words) for f in facts.to_dict("records")]]
        return out

    def region_facts(self, region_id: str) -> "pd.DataFrame":
        """The facts about one sub-state region (empty for a region that is not one of the state's)."""
        import pandas as pd

        return self.regional.get(region_id, pd.DataFrame(columns=self.facts.columns))

    def statewide_facts(self) -> "pd.DataFrame":
        """The state's facts that name none of its sub-state regions."""
        regional = {f for facts in self.regional.values() for f in facts["fact_id"]}
        return self.facts[~self.facts["fact_id"].isin(regional)]

    def coverage(self) -> "dict[str, Coverage]":
        """Medicaid coverage of peer support in the state, per service (``MH``, ``SUD``)."""
        from ._policy import read_facts, state_coverage

        return state_coverage(self.state_code, read_facts(self.facts))

    def lever_facts(self) -> "dict[str, pd.DataFrame]":
        """The statewide facts about each lever but coverage (which :meth:`coverage` reads), newest first."""
        from ._policy import newest_first

        facts = newest_first(self.statewide_facts())  # by date alone, whatever the fact's topic
        levers = facts.apply(lambda f: lever_of(f), axis=1) if not facts.empty else facts["fact"]
        return {k: facts[levers == k] for k in LEVERS if not k.startswith("coverage")}

    def other_facts(self) -> "pd.DataFrame":
        """Statewide facts on no lever and not read as coverage: programmes, laws, other."""
        from ._policy import read_facts

        facts = self.statewide_facts()
        read = {r.fact_id for r in read_facts(facts) if r.statuses or r.medicaid}
        return facts[[not lever_of(f) and f["fact_id"] not in read for f in facts.to_dict("records")]]

    @cached_property
    def national_facts(self) -> "dict[str, list[dict[str, Any]]]":
        """Per lever, the national facts to show beside the state's: one a lever (two for substance use, where a
        fact names the service), preferring a count of states, then the newest."""
        from ._policy import services_named

        us = self.policy[self.policy["state_code"] == "US"].to_dict("records")
        about_states = re.compile(r"^\s*(?:states|jurisdictions)\b", re.IGNORECASE)  # 'States funding ...'

        def best(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            ranked = sorted(rows, key=lambda f: (bool(about_states.search(str(f["fact"]))), as_of_key(f["as_of"])),
                            reverse=True)
            return ranked[:1]

        by_lever: dict[str, list[dict[str, Any]]] = {}
        for f in us:
            lever = lever_of(f)
            if not lever and f["topic"] == "Medicaid coverage":
                lever = "coverage"
            if lever:
                by_lever.setdefault(lever, []).append(f)
        out = {k: best(v) for k, v in by_lever.items() if k != "coverage"}
        coverage = by_lever.get("coverage", [])
        general = [f for f in coverage if not services_named(f"{f['fact']} {f['value']}")]
        for service in ("MH", "SUD"):
            named = [f for f in coverage if service in services_named(f"{f['fact']} {f['value']}")]
            out[f"coverage-{service}"] = best(general) + [f for f in best(named) if f not in best(general)]
        return out


# --- the lever panel --------------------------------------------------------------------------


def passed(fact: Mapping[str, Any], today: date) -> "FactDate | None":
    """The date a fact says something ends on, when it is before ``today``; else None."""
    ends = deadline_of(fact)
    return ends if ends is not None and ends.latest is not None and ends.latest < today else None


def fact_html(f: Mapping[str, Any], today: date, limit: int = 150) -> str:
    """One fact: its name, its value (shortened at a word), its date, its source and id; a deadline that has
    passed by ``today`` (the brief's date) is flagged."""
    from ._display import e, link

    flag = ""
    ends = passed(f, today)
    if ends is not None and ends.latest is not None:
        flag = (f' <strong class="eb-expired">Date passed: {e(ends.latest.strftime("%-d %B %Y"))} is before this '
                f"brief's date ({e(today.isoformat())}); the sources reviewed do not say what "
                "happened since.</strong>")
    return (f"{e(f['fact'])}: <strong>{e(shorten(f['value'], limit))}</strong> "
            f"({e(f['as_of'] or 'undated')}; {link(shorten(f['source_type'], 60), f['source_url'])}; "
            f"{e(f['fact_id'])}){flag}")


@dataclass(frozen=True)
class LeverPanel:
    """What one brief shows of a state's levers: a row per lever with the state's facts (status, date, source;
    a passed date and disagreeing sources flagged; 'not documented' with the evidence version's date where
    nothing is known) and a national line where a sourced national fact exists."""

    policy: StatePolicy
    state_name: str
    evidence_date: str  # the date of the evidence version: what 'not documented as of' means
    today: date  # the brief's date: a deadline before it is flagged as passed
    within: str = ""  # the sub-state region the brief is for ('' for a state's own brief)

    def coverage_cell(self, service: str) -> str:
        """Medicaid coverage of one service (``MH``, ``SUD``): its status, the facts it rests on and their history."""
        from ._display import e
        from ._policy import CONFLICTING, NOT_DOCUMENTED

        c = self.policy.coverage()[service]
        facts = self.policy.facts.set_index("fact_id", drop=False)
        if c.status == NOT_DOCUMENTED:
            read = [*c.elsewhere, *c.unread]
            why = ("; ".join([f"{k} speaks only to {'substance use' if service == 'MH' else 'mental health'}"
                              for k in c.elsewhere] + [f"{k} {reason}" for k, reason in c.unread.items()]))
            listed = "".join(f"<li{optional_item(10 * i + 5, 'policy fact|policy facts')}>"
                             f"{fact_html(facts.loc[k], self.today)}</li>"
                             for i, k in enumerate(k for k in c.unread if k in facts.index))
            if not read:
                return f"<strong>Not documented</strong> in the sources reviewed as of {e(self.evidence_date)}."
            # Medicaid facts are listed: never 'not documented' beside them (issue 14), but why none settles it.
            # The unread facts are the same for both services: listed once, under mental health, unless that
            # service is settled (then its cell shows its own facts, and these would be shown nowhere).
            once = service == "MH" or self.policy.coverage()["MH"].status != NOT_DOCUMENTED
            return (f"<strong>No fact settles it</strong> in the sources reviewed as of {e(self.evidence_date)}: "
                    f"{e(why)}."
                    + (f"<ul>{listed}</ul>" if listed and once else ""))
        if c.status == CONFLICTING:
            head = ('<strong class="eb-conflict">Sources disagree</strong>: '
                    + e("; ".join(f"{k} ({c.dates[k] or 'undated'}) says {v}" for k, v in c.says.items()))
                    + "; none can be shown to be the newer.")
        else:
            head = (f"<strong>{e(c.status.capitalize())}</strong>, as of {e(c.as_of or 'an undated source')}"
                    + (" (the source says peer support, without naming the service)" if c.general else "") + ".")
        shown = "".join(f"<li>{fact_html(facts.loc[k], self.today)}</li>" for k in c.fact_ids if k in facts.index)
        history = ""
        if c.history:
            history = "<li>" + e("Older facts, kept as history: " + "; ".join(
                f"{k} ({c.dates[k] or 'undated'}) said {c.earlier[k]}" for k in c.history) + ".") + "</li>"
        return head + (f"<ul>{shown}{history}</ul>" if shown or history else "")

    def lever_cell(self, facts: "pd.DataFrame") -> str:
        """The state's facts on one lever but coverage, newest first (only the first, or a passed date, is sure
        to be printed)."""
        from ._display import e

        if facts.empty:
            return f"Not documented in the sources reviewed as of {e(self.evidence_date)}."
        items = []
        for i, f in enumerate(facts.to_dict("records")):
            attrs = optional_item(10 * i + 1, "policy fact|policy facts") if i and passed(f, self.today) is None else ""
            items.append(f"<li{attrs}>{fact_html(f, self.today)}</li>")
        return "<ul>" + "".join(items) + "</ul>"

    def national_cell(self, lever: str) -> str:
        from ._display import e

        rows = self.policy.national_facts.get(lever, [])
        if not rows:
            return f"No national figure in the sources reviewed as of {e(self.evidence_date)}."
        return "".join(f"<p>{fact_html(f, self.today, 110)}</p>" for f in rows)

    def html(self) -> "HTML":
        from ._display import HTML, e, table_cell

        facts = self.policy.lever_facts()
        rows = []
        for lever, label in LEVERS.items():
            cell = (self.coverage_cell(lever.split("-")[1]) if lever.startswith("coverage")
                    else self.lever_cell(facts[lever]))
            # A cell holding a word longer than a line may break it (as html_table does); other words stay whole.
            rows.append(f'<tr><th scope="row">{e(label)}</th>{table_cell(cell)}'
                        f"{table_cell(self.national_cell(lever))}</tr>")
        scope = f" (state policy, which applies in {e(self.within)})" if self.within else ""
        return HTML(f"<p>The levers a state controls, with what the sources say for {e(self.state_name)}{scope} and "
                    "nationally. Each fact has its date and source.</p>"
                    '<div class="eb-table eb-levers" style="overflow-x:auto"><table><thead><tr><th scope="col">Lever</th>'
                    f'<th scope="col">{e(self.state_name)}</th><th scope="col">Nationally</th></tr></thead>'
                    f"<tbody>{''.join(rows)}</tbody></table></div>")
