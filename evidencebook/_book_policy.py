"""The book's policy pages: every state policy fact with how it is read (:func:`policy_table`), the Medicaid
coverage maps and per-state table (:func:`policy_landscape`), and the index of regions and their briefs
(:func:`regions_index`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._display import HTML, e, html_table
from ._evidence import Evidence
from ._plots import figure_html

__all__ = ["policy_landscape", "policy_table", "regions_index"]


def _fact_readings(evidence: Evidence) -> dict[str, str]:
    """Per fact id: how the fact is read for Medicaid coverage, in words, with its role in its
    state's status (the status it rests, sources that disagree, history, or not read and why)."""
    from ._policy import SERVICES, read_facts, state_coverage

    readings = read_facts(evidence.policy)
    by_state: dict[str, list[Any]] = {}
    for r in readings:
        by_state.setdefault(r.state_code, []).append(r)
    words: dict[str, str] = {}
    for code, state_readings in by_state.items():
        coverage = state_coverage(code, state_readings)
        for r in state_readings:
            if not r.statuses:
                if r.medicaid:
                    words[r.fact_id] = f"not read as coverage: {r.reason}"
                continue
            parts = []
            for service, status in r.statuses.items():
                c = coverage[service]
                role = ("sources disagree" if c.conflict and r.fact_id in c.fact_ids
                        else "history, superseded by " + ", ".join(c.fact_ids) if r.fact_id in c.history else "")
                parts.append(f"{SERVICES[service]}: {status}" + (f" ({role})" if role else ""))
            words[r.fact_id] = "; ".join(parts)
    return words


def policy_table(evidence: Evidence, state_codes: list[str] | None = None) -> HTML:
    """State policy facts, newest first by each fact's own date within a state and topic, each
    with its source and date, and how a Medicaid fact is read: the status it gives each service,
    flagged where sources disagree or where a newer fact superseded it."""
    from ._policy import newest_first

    policy = evidence.policy if state_codes is None else evidence.policy[evidence.policy["state_code"].isin(state_codes)]
    readings = _fact_readings(evidence)
    policy = newest_first(policy, by=["state_code", "topic"]).assign(
        reading=lambda f: f["fact_id"].map(lambda k: readings.get(k, "")))
    headers = {"state": "State", "topic": "Topic", "fact_id": "Id", "fact": "Fact", "value": "Value", "as_of": "As of",
               "reading": "Read as (Medicaid coverage)", "source_type": "Source"}
    return html_table(policy, headers, links={"source_type": "source_url"})


def _status_cell(c: Any) -> str:
    """One service's coverage in a state, as HTML: the status in bold, its date and facts."""
    from ._policy import CONFLICTING, NOT_DOCUMENTED

    if c.status == NOT_DOCUMENTED:
        seen = [*c.unread]
        return "not documented" + (f" (Medicaid facts read: {e(', '.join(seen))})" if seen else "")
    if c.status == CONFLICTING:
        return ('<strong class="eb-conflict">sources disagree</strong>: '
                + "; ".join(f"{e(k)} says {e(v)}" for k, v in c.says.items()) + f" (newest: {e(c.as_of)})")
    when = f"as of {c.as_of}" if c.date_key else "date not given"
    text = f"<strong>{e(c.status)}</strong>, {e(when)} ({e(', '.join(c.fact_ids))})"
    if c.general:
        text += "; the source names no service"
    if c.history:
        text += f"; older: {e(', '.join(c.history))}"
    return text


def policy_landscape(evidence: Evidence, briefs_href: str = "briefs/{region_id}.html") -> HTML:
    """The tile maps of Medicaid coverage by status (mental health, substance use), and a
    per-state table: each service's status with its date and facts, conflicts flagged, and the
    facts recorded per topic, linking each state's brief."""
    from ._maps import coverage_alt_text, coverage_tile_map, policy_tile_counts
    from ._policy import CONFLICTING, SERVICES, STATUSES, coverage_table, read_facts, state_coverage

    coverage = coverage_table(evidence.policy)
    title = "Medicaid coverage of peer support, by state"
    figure = figure_html(coverage_tile_map(coverage, title), coverage_alt_text(coverage, title),
                         f"{title}: what the newest sourced facts say, for mental health (top) and substance use "
                         "(bottom). C covered, N not covered, ! sources disagree (heavy border), ? not documented "
                         "(hatched): no fact read says whether Medicaid covers the service, which is not the same as "
                         "no coverage. The table below gives each status its date and facts.")
    summary = "".join(
        f"<li>{e(words.capitalize())}: " + ", ".join(
            f"{int((rows['status'] == s).sum())} {e('sources disagree' if s == CONFLICTING else s)}"
            + (f" ({e(', '.join(rows.loc[rows['status'] == s, 'state_code']))})" if s == CONFLICTING
               and (rows["status"] == s).any() else "") for s in STATUSES) + "</li>"
        for service, words in SERVICES.items() for rows in [coverage[coverage["service"] == service]])
    readings = read_facts(evidence.policy)
    counts = policy_tile_counts(evidence.policy)
    regions = evidence.regions.set_index("state_code")
    states = regions[regions["kind"] != "sub-state"]
    rows = []
    for r in counts.itertuples():
        status = state_coverage(r.state_code, readings)
        conflicts = [SERVICES[s] for s, c in status.items() if c.conflict]
        state = states.loc[r.state_code] if r.state_code in states.index else None
        rows.append({
            "state": (f'<a href="{e(briefs_href.format(region_id=state["region_id"]))}">{e(state["name"])}</a>'
                      if state is not None else e(r.state_code)),
            "mh": _status_cell(status["MH"]), "sud": _status_cell(status["SUD"]),
            "conflict": ('<strong class="eb-conflict">sources disagree: ' + e(", ".join(conflicts)) + "</strong>"
                         if conflicts else ""),
            "medicaid": r.medicaid, "total": r.total})
    table = html_table(pd.DataFrame(rows), {"state": "State (brief)", "mh": "Mental health", "sud": "Substance use",
                                            "conflict": "Conflict", "medicaid": "Medicaid facts",
                                            "total": "All facts"},
                       safe=("state", "mh", "sud", "conflict"))
    return HTML(figure + f"<ul>{summary}</ul><h2>Medicaid coverage per state</h2>"
                "<p>Each status rests on the newest sourced facts for the service; a fact whose date is clearly later "
                "supersedes an older one, which is kept as history; facts that disagree without one being clearly "
                "newer are flagged, never silently resolved. A fact that names no service counts for both.</p>"
                + table)


def regions_index(evidence: Evidence, href: str = "briefs/{region_id}.html") -> HTML:
    """Every region with a link to its brief and what the evidence base holds for it."""
    regions = evidence.regions.copy()
    regions["region"] = [f'<a href="{e(href.format(region_id=r.region_id))}">{e(r.name)}</a>'
                         for r in regions.itertuples()]
    return html_table(regions, {"region": "Region", "kind": "Kind", "state_code": "State",
                                "n_local_studies": "Local studies", "n_policy_facts": "Policy facts"}, safe=("region",))

