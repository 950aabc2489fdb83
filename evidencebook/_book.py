"""The book: what each generated page shows, the Sphinx hook that stamps the evidence
version on every page, and the build itself.

Pages are notebooks that stay thin: each code cell calls one function here and displays
the HTML it returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from ._config import Settings
from ._display import HTML, e, html_table, link
from ._evidence import Evidence
from ._plots import figure_html, forest_alt_text, forest_plot, funnel_plot
from ._synthesis import (cumulative_by_year, domain_findings, effect_rows, pooled_groups, summary_of_findings,
                         vote_count)

__all__ = ["FOREST_ROWS", "pooled_table", "study_anchor", "study_entries", "data_quality", "evidence_map", "findings_table", "sof_table", "forest_figure", "outcome_summary", "policy_table", "regions_index",
           "implementation_themes", "policy_landscape",
           "whats_new"]


def _study_label(row: Any) -> str:
    return f"{row['authors'] or row['title'][:40]} {row['year']}".strip()


def study_anchor(citation_key: str) -> str:
    """The id of a study's entry on the Studies page (stable: the citation key)."""
    return "study-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in citation_key)


def _study_link(row: Any, studies_page: str = "../studies.html") -> str:
    """A link to the study's entry (its coding and quotes) on the Studies page."""
    return f'<a href="{e(studies_page)}#{e(study_anchor(row["citation_key"]))}">{e(_study_label(row))}</a>'


def study_entries(evidence: Evidence, library: dict[str, Any] | None = None) -> HTML:
    """Every included study with its coding, its Zotero item and each finding with the quoted passage.

    Each entry has a stable anchor (see :func:`study_anchor`) that tables elsewhere link to.
    """
    library = library or evidence.manifest.get("zotero", {})
    online = library.get("library_id") not in (None, 0)
    prefix = f"https://www.zotero.org/{library.get('library_type', 'group')}s/{library.get('library_id')}/items/"
    outcomes = evidence.outcomes
    fields = [("design", "Design"), ("design_type", "Design type"), ("population", "Population"),
              ("population_group", "Population group"), ("setting", "Setting"), ("peer_role", "Peer role"),
              ("country", "Country"), ("us_state", "US state"), ("risk_of_bias", "Risk of bias"),
              ("screening", "Screening"), ("confidence", "Confidence")]
    parts = []
    by_study: dict[str, list[SimpleNamespace]] = {}  # one pass over the findings, not one filter per study
    for finding in outcomes.to_dict("records"):
        by_study.setdefault(finding["study_id"], []).append(SimpleNamespace(**finding))
    for study in evidence.included.sort_values(["authors", "year"]).itertuples():
        row = study._asdict()
        item = (f'<a href="{e(prefix + study.study_id)}" rel="noopener">Zotero item {e(study.study_id)}</a>'
                if online else f"Zotero item {e(study.study_id)}")
        source = link("full text / record", f"https://doi.org/{study.doi}" if study.doi else study.url)
        coding = "".join(f"<dt>{e(label)}</dt><dd>{e(row[name])}</dd>" for name, label in fields if row.get(name))
        if study.confidence == "low":
            coding += f"<dt>Why low confidence</dt><dd>{e(study.confidence_reason)}</dd>"
        items = []
        for f in by_study.get(study.study_id, []):
            result = (f"{f.measure} {f.estimate:.2f} (95% CI {f.ci_low:.2f} to {f.ci_high:.2f})" if pd.notna(f.estimate)
                      else f.reported_statistic or "narrative finding")
            items.append(f'<li id="finding-{e(f.finding_id)}"><strong>{e(f.finding_id)}</strong> {e(f.outcome)} '
                         f"({e(f.domain)}): {e(result)}. “{e(f.quote)}” "
                         f"({link(f.source_type or 'source', f.source_url)}; note line {e(f.note_line)})</li>")
        parts.append(f'<section class="eb-study" id="{e(study_anchor(study.citation_key))}">'
                     f"<h3>{e(_study_label(row))}: {e(study.title)}</h3><p>{item} · {source} · "
                     f"cite as <code>{e(study.citation_key)}</code></p><dl>{coding}</dl>"
                     f"<ul>{''.join(items) or '<li>No findings coded.</li>'}</ul></section>")
    return HTML("".join(parts))


def outcome_summary(evidence: Evidence, domains: list[str]) -> HTML:
    """A plain-language summary written from the numbers of the findings in ``domains``."""
    findings = domain_findings(evidence.outcomes, domains)
    if findings.empty:
        return HTML("<p>The evidence base has no findings in this domain yet.</p>")
    n_studies = findings["study_id"].nunique()
    reviews = findings.loc[findings["evidence_level"] == "review", "study_id"].nunique()
    effects = int(findings["estimate"].notna().sum())
    votes = vote_count(findings)
    secondary = int(findings["secondary"].sum())
    verdict = (f"<strong>{votes['benefit']} of {votes['total']}</strong> findings with a direction point towards "
               f"benefit from peer support ({round(100 * votes['share'])}%, 95% CI {round(100 * votes['ci_low'])} to "
               f"{round(100 * votes['ci_high'])}%; sign test p = {votes['p']:.3g})"
               if votes["total"] else "No finding reports a direction of effect yet")
    return HTML(
        f"<p><strong>{len(findings)} findings</strong> from <strong>{n_studies} sources</strong> "
        f"({reviews} reviews, {n_studies - reviews} primary studies or reports). {verdict}. "
        f"{effects} findings come with an effect estimate and its 95% confidence interval; the rest are narrative. "
        f"{secondary} are read from another review's table or summary (marked <em>secondary</em>).</p>"
        "<p>This is vote counting by direction of effect (SWiM), not a pooled effect size: review-level estimates "
        "share primary trials and are shown side by side as an overview of reviews, never combined.</p>"
    )


def sof_table(evidence: Evidence, domains: list[str]) -> HTML:
    """Summary of findings with a proposed certainty per domain and a column for the reviewers' sign-off."""
    table = summary_of_findings(evidence.outcomes, evidence.studies, domains)
    if table.empty:
        return HTML("<p>No findings yet.</p>")
    table["votes"] = [f"{a} of {b}" for a, b in zip(table["votes_favouring"], table["votes_total"])]
    return html_table(table, {"domain": "Outcome domain", "findings": "Findings", "sources": "Sources",
                              "effect_estimates": "With estimate + CI", "votes": "Favouring peer support",
                              "proposed_certainty": "Proposed certainty", "reasons": "Why",
                              "reviewer_sign_off": "Reviewer sign-off"})


def findings_table(evidence: Evidence, domains: list[str], narrative_only: bool = False,
                   studies_page: str = "../studies.html") -> HTML:
    """Every finding in ``domains``, with its study, estimate or statistic, and the quoted passage."""
    findings = domain_findings(evidence.outcomes, domains)
    if narrative_only:
        findings = findings[findings["estimate"].isna()]
    studies = {s["study_id"]: s for s in evidence.studies.to_dict("records")}  # thousands of rows: no .loc per row
    rows = []
    for r in findings.sort_values(["evidence_level", "finding_id"]).itertuples():
        s = studies[r.study_id]
        result = (f"{r.measure} {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})" if pd.notna(r.estimate)
                  else r.reported_statistic or "narrative")
        flags = [f for f in ("secondary source" if r.secondary else "",
                             f"low confidence: {s['confidence_reason']}" if s["confidence"] == "low" else "") if f]
        rows.append({"study": _study_link(s, studies_page), "finding": r.finding_id, "outcome": r.outcome,
                     "level": r.evidence_level, "result": result, "direction": r.direction,
                     "quote": r.quote, "flags": "; ".join(flags), "url": r.source_url})
    table = pd.DataFrame(rows, columns=["study", "finding", "outcome", "level", "result", "direction", "quote", "flags", "url"])
    headers = {"study": "Study", "finding": "Finding", "outcome": "Outcome", "level": "Level", "result": "Result",
               "direction": "Direction (as reported)", "quote": "Quoted passage", "flags": "Flags"}
    return html_table(table, headers, links={"quote": "url"}, safe=("study",))


def _interval(low: Any, high: Any) -> str:
    return f"{low:.2f} to {high:.2f}" if pd.notna(low) and pd.notna(high) else ""


FOREST_ROWS = 40  # more rows than this make a plot no one can read (and one that takes a minute to draw)


def pooled_table(pooled: pd.DataFrame) -> HTML:
    """The pooled estimates, one row per synthesis group: k, estimate, 95% CI, prediction interval, tau², I²."""
    rows = pooled.assign(ci=[_interval(a, b) for a, b in zip(pooled["ci_low"], pooled["ci_high"])],
                         pi=[_interval(a, b) for a, b in zip(pooled["pi_low"], pooled["pi_high"])],
                         est=pooled["estimate"].map("{:.2f}".format), t2=pooled["tau2"].map("{:.3g}".format),
                         i2=pooled["I2"].map("{:.0f}%".format))
    return html_table(rows, {"synthesis_group": "Synthesis group", "measure": "Measure", "k": "k",
                             "est": "Pooled estimate", "ci": "95% CI (HKSJ)", "pi": "Prediction interval",
                             "t2": "tau²", "i2": "I²"},
                      caption="Random-effects (REML) pooled estimates, harmonised so that values above no effect "
                              "favour peer support.")


def forest_figure(evidence: Evidence, domains: list[str], scale: str, title: str) -> HTML:
    """Forest plot of the estimates on one scale in ``domains``, pooled where primary studies allow.

    Past :data:`FOREST_ROWS` estimates the plot shows the newest ones only (the caption says so)
    and the pooled estimates move to the table, which always lists them all.
    """
    effects = effect_rows(domain_findings(evidence.outcomes, domains), evidence.studies, scale)
    unclear = effects[effects["h_estimate"].isna()]
    effects = effects[effects["h_estimate"].notna()]
    if effects.empty:
        return HTML(f"<p>No estimates on this scale ({e(scale)}) yet.</p>")
    pooled = pooled_groups(effects)
    pooled_note = (f"{len(pooled)} pooled estimate(s) (REML, Hartung-Knapp-Sidik-Jonkman CI, prediction interval "
                   "with t(k-1))." if len(pooled) else
                   "Nothing is pooled: pooling needs two or more primary studies coded with the same synthesis "
                   "group and measure, and none are yet.")
    shown, drawn_pooled = effects, pooled
    if len(effects) > FOREST_ROWS:
        shown, drawn_pooled = effects.head(FOREST_ROWS), pooled.iloc[:0]
        pooled_note += (f" The plot shows the {FOREST_ROWS} newest of {len(effects)} estimates; every estimate is "
                        "in the table of findings below, and the pooled estimates in the table under the plot.")
    caption = (f"{title}. Each row is one estimate with its 95% CI, turned so that values right of the dashed line "
               f"favour peer support (for outcomes where lower is better, differences are negated and ratios "
               f"inverted). {pooled_note}"
               + (f" Not shown, direction unclear: {', '.join(unclear['finding_id'])}." if len(unclear) else ""))
    parts = [figure_html(forest_plot(shown, scale, title, drawn_pooled), forest_alt_text(shown, title, drawn_pooled),
                         caption)]
    if len(pooled):
        parts.append(pooled_table(pooled))
    for r in pooled.itertuples():
        group = effects[effects["synthesis_group"] == r.synthesis_group]
        moves = cumulative_by_year(effects, r.synthesis_group)
        parts.append(f"<h4>How the pooled estimate for {e(r.synthesis_group)} moved as studies arrived</h4>")
        parts.append(html_table(moves.round(3), {"added": "Study added", "k": "k", "estimate": "Estimate",
                                                 "ci_low": "CI low", "ci_high": "CI high"}))
        if r.k >= 10:
            funnel_title = f"Funnel plot: {r.synthesis_group}"
            parts.append(figure_html(funnel_plot(group, r.estimate, scale, funnel_title),
                                     f"{funnel_title}: {r.k} estimates plotted against their standard errors "
                                     f"around the pooled estimate {r.estimate:.2f}.", funnel_title))
    return HTML("".join(parts))


def evidence_map(evidence: Evidence, settings: Settings | None = None) -> HTML:
    """The evidence gap map (figure and a linked table) and the PRISMA 2020 flow, current version and cumulative."""
    from ._coding import DOMAINS, POPULATION_GROUPS
    from ._plots import gap_map_alt_text, gap_map_plot, prisma_alt_text, prisma_plot
    from ._synthesis import gap_map_counts, prisma_counts

    cells = gap_map_counts(evidence.outcomes, evidence.studies, list(DOMAINS), list(POPULATION_GROUPS))
    title = "Evidence gap map: outcome domain by population"
    figure = figure_html(gap_map_plot(cells, list(DOMAINS), list(POPULATION_GROUPS), title),
                         gap_map_alt_text(cells, title),
                         f"{title}. Bubble size: number of sources; colour: share of findings reported as favouring "
                         "peer support. Empty cells are gaps.")
    studies = evidence.studies.set_index("study_id")
    cells["sources_linked"] = [
        ", ".join(link(f"{studies.loc[k, 'authors'] or studies.loc[k, 'title'][:30]} {studies.loc[k, 'year']}".strip(),
                       f"https://doi.org/{studies.loc[k, 'doi']}" if studies.loc[k, "doi"] else studies.loc[k, "url"])
                  for k in ids.split("|"))
        for ids in cells["study_ids"]
    ]
    table = html_table(cells, {"domain": "Outcome domain", "population_group": "Population", "findings": "Findings",
                               "sources_linked": "Sources"}, safe=("sources_linked",))
    changelog_path = (settings.evidence if settings else Path()) / "changelog.json"
    latest = json.loads(changelog_path.read_text(encoding="utf-8"))[-1] if changelog_path.is_file() else {}
    new_ids = {a.split()[0] for a in latest.get("studies", {}).get("added", [])}
    flows = []
    for label, counts in (("this evidence version (new records)", prisma_counts(evidence.studies, new_ids)),
                          ("all evidence versions (cumulative)", prisma_counts(evidence.studies))):
        flow_title = f"PRISMA 2020 flow: {label}"
        flows.append(figure_html(prisma_plot(counts, flow_title), prisma_alt_text(counts, flow_title), flow_title))
    return HTML("<h2>Gap map</h2>" + figure + table + "<h2>PRISMA 2020 flow</h2>" + "".join(flows))


def policy_table(evidence: Evidence, state_codes: list[str] | None = None) -> HTML:
    """State policy facts (newest first within a state and topic), each with its source and date."""
    policy = evidence.policy if state_codes is None else evidence.policy[evidence.policy["state_code"].isin(state_codes)]
    policy = policy.sort_values(["state_code", "topic", "as_of"], ascending=[True, True, False])
    headers = {"state": "State", "topic": "Topic", "fact": "Fact", "value": "Value", "as_of": "As of",
               "source_type": "Source"}
    return html_table(policy, headers, links={"source_type": "source_url"})


def policy_landscape(evidence: Evidence, briefs_href: str = "briefs/{region_id}.html") -> HTML:
    """The tile map of what is recorded per state, and a per-state summary linking each state's brief."""
    from ._maps import policy_tile_counts, tile_map, tile_map_alt_text

    counts = policy_tile_counts(evidence.policy)
    title = "Medicaid coverage of peer support recorded, by state"
    figure = figure_html(tile_map(counts, title), tile_map_alt_text(counts, title),
                         f"{title}. Each tile is a state; the number is how many sourced facts the evidence base "
                         "holds for it (Medicaid coverage, certification and training, workforce and other). A grey "
                         "tile means no Medicaid coverage fact is recorded yet, not that there is no coverage.")
    regions = evidence.regions.set_index("state_code")
    states = regions[regions["kind"] != "sub-state"]
    counts["state"] = [f'<a href="{e(briefs_href.format(region_id=states.loc[c, "region_id"]))}">'
                       f'{e(states.loc[c, "name"])}</a>' if c in states.index else e(c) for c in counts["state_code"]]
    table = html_table(counts, {"state": "State (brief)", "medicaid": "Medicaid coverage",
                                "certification": "Certification and training", "workforce": "Workforce",
                                "other": "Other", "total": "All facts"}, safe=("state",))
    return HTML(figure + "<h2>Facts recorded per state</h2>" + table)


def implementation_themes(evidence: Evidence, studies_page: str = "studies.html") -> HTML:
    """The qualitative findings on putting peers to work, grouped by theme, each quote with its source."""
    from ._coding import THEMES

    coded = evidence.outcomes[evidence.outcomes["theme"].ne("")]
    if coded.empty:
        return HTML("<p>No implementation findings are coded with a theme yet.</p>")
    studies = evidence.studies.set_index("study_id")
    summary = coded.groupby("theme").agg(findings=("finding_id", "size"), sources=("study_id", "nunique"))
    summary = summary.reindex([t for t in THEMES if t in summary.index]).reset_index()
    summary["theme_link"] = [f'<a href="#theme-{e(t.replace(" ", "-"))}">{e(t)}</a>' for t in summary["theme"]]
    parts = [html_table(summary, {"theme_link": "Theme", "findings": "Findings", "sources": "Sources"},
                        safe=("theme_link",))]
    missing = [t for t in THEMES if t not in set(summary["theme"]) and t != "other"]
    if missing:
        parts.append(f"<p>No coded source speaks to: {e(', '.join(missing))}. These are gaps in the evidence "
                     "base, not findings that the theme does not matter.</p>")
    for theme in summary["theme"]:
        items = []
        for r in coded[coded["theme"] == theme].sort_values("finding_id").itertuples():
            s = studies.loc[r.study_id]
            items.append(f'<li><strong>{e(r.outcome)}</strong>: “{e(r.quote)}” '
                         f"({_study_link(s.to_dict(), studies_page)}, finding "
                         f'<a href="{e(studies_page)}#finding-{e(r.finding_id)}">{e(r.finding_id)}</a>; '
                         f"{link(r.source_type or 'source', r.source_url or s['url'])})</li>")
        parts.append(f'<h2 id="theme-{e(theme.replace(" ", "-"))}">{e(theme.capitalize())}</h2><ul>{"".join(items)}</ul>')
    return HTML("".join(parts))


def regions_index(evidence: Evidence, href: str = "briefs/{region_id}.html") -> HTML:
    """Every region with a link to its brief and what the evidence base holds for it."""
    regions = evidence.regions.copy()
    regions["href"] = [href.format(region_id=r) for r in regions["region_id"]]
    rows = "".join(
        f"<tr><td><a href=\"{e(r.href)}\">{e(r.name)}</a></td><td>{e(r.kind)}</td><td>{e(r.state_code)}</td>"
        f"<td>{r.n_local_studies}</td><td>{r.n_policy_facts}</td></tr>"
        for r in regions.itertuples()
    )
    return HTML('<div class="eb-table" style="overflow-x:auto"><table><thead><tr><th scope="col">Region</th>'
                '<th scope="col">Kind</th><th scope="col">State</th><th scope="col">Local studies</th>'
                f'<th scope="col">Policy facts</th></tr></thead><tbody>{rows}</tbody></table></div>')


def data_quality(evidence: Evidence) -> HTML:
    """What a reader should know about the state of the coding: problems, flags and gaps, from the tables."""
    from ._evidence import validate_tables

    tables = {"studies.csv": evidence.studies, "outcomes.csv": evidence.outcomes,
              "state_policy.csv": evidence.policy, "regions.csv": evidence.regions}
    failures = validate_tables(tables)
    studies, outcomes = evidence.included, evidence.outcomes
    errors = evidence.problems[evidence.problems["severity"] == "error"]
    medicaid = evidence.policy[evidence.policy["topic"] == "Medicaid coverage"]
    several = medicaid.groupby("state_code").size()
    facts = [
        ("Schema checks (declared types, vocabularies, CI contains the estimate, ratios positive)",
         "all pass" if failures.empty else f"{len(failures)} failures"),
        ("Coding errors in the Zotero library (findings left out until fixed)", f"{len(errors)}"),
        ("Coding warnings", f"{int((evidence.problems['severity'] == 'warning').sum())}"),
        ("Included sources", f"{len(studies)}"),
        ("Sources flagged low confidence (authors or year not confirmed)",
         f"{int((studies['confidence'] == 'low').sum())}"),
        ("Sources whose risk of bias is not yet assessed",
         f"{int(studies['risk_of_bias'].isin(['', 'not assessed']).sum())}"),
        ("Findings read from another review or a summary (secondary)", f"{int(outcomes['secondary'].sum())}"),
        ("Findings with an estimate and 95% CI / narrative only",
         f"{int(outcomes['estimate'].notna().sum())} / {int(outcomes['estimate'].isna().sum())}"),
        ("States with more than one Medicaid-coverage fact (shown newest first, never merged)",
         ", ".join(sorted(several[several > 1].index)) or "none"),
        ("States and DC with no Medicaid-coverage fact yet",
         ", ".join(sorted(set(evidence.regions.loc[evidence.regions["kind"] != "sub-state", "state_code"])
                          - set(medicaid["state_code"]))) or "none"),
    ]
    rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in facts)
    table = ('<div class="eb-table" style="overflow-x:auto"><table><thead><tr><th scope="col">Check</th>'
             f'<th scope="col">Result</th></tr></thead><tbody>{rows}</tbody></table></div>')
    if len(evidence.problems):
        table += "<h3>Coding problems</h3>" + html_table(
            evidence.problems, {"severity": "Severity", "item_key": "Zotero item", "line": "Note line",
                                "field": "Field", "message": "Problem"})
    low = studies[studies["confidence"] == "low"]
    if len(low):
        table += "<h3>Low-confidence sources</h3>" + html_table(
            low, {"citation_key": "Source", "title": "Title", "confidence_reason": "Why"})
    return HTML(table)


def _stance(r: dict[str, Any], side: str) -> str:
    """One version's standing of an outcome, in a table cell: estimate (CI; PI), k, direction, certainty."""
    k = r.get(f"k_{side}")
    if pd.isna(k):
        return ""
    parts = [f"{int(k)} source(s)" if r.get("kind") == "domain" else f"k = {int(k)}"]
    if pd.notna(r.get(f"estimate_{side}")):
        parts.insert(0, f"{r[f'estimate_{side}']:.2f} (95% CI {_interval(r[f'ci_low_{side}'], r[f'ci_high_{side}'])}"
                        + (f"; PI {_interval(r[f'pi_low_{side}'], r[f'pi_high_{side}'])}" if pd.notna(r.get(f"pi_low_{side}")) else "")
                        + (f"; tau² {r[f'tau2_{side}']:.3g}" if pd.notna(r.get(f"tau2_{side}")) else "") + ")")
    parts += [str(r.get(f"direction_{side}") or ""), f"certainty {r.get(f'certainty_{side}') or 'not rated'}"]
    return ", ".join(p for p in parts if p)


def _version_status(settings: Settings, number: int) -> pd.DataFrame:
    """:func:`~evidencebook._synthesis.outcome_status` of an archived evidence version.

    Archives never change, so each version's status is computed once (per code version) and
    kept in the build cache: a new version then costs What's new one synthesis, not one per version.
    """
    import io

    from ._briefs import _write_atomic
    from ._config import code_version
    from ._evidence import load_version
    from ._synthesis import outcome_status

    manifest = json.loads((settings.evidence / "versions" / f"v{number:04d}" / "manifest.json").read_text(encoding="utf-8"))
    # Keyed on all of the package's code: the synthesis reads constants from the coding module too.
    path = (settings.cache_dir / f"outcome-status-v{number:04d}-{str(manifest.get('content_hash'))[:16]}-"
            f"{code_version()}.json")
    try:
        return pd.read_json(io.StringIO(path.read_text(encoding="utf-8")), orient="table")
    except (OSError, ValueError):
        pass
    version = load_version(settings, number)
    status = outcome_status(version.outcomes, version.studies)
    try:
        _write_atomic(path, status.to_json(orient="table", double_precision=15))  # pages run side by side
        for old in settings.cache_dir.glob(f"outcome-status-v{number:04d}-*.json"):  # kept by older code
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:  # a read-only project: computed each time
        pass
    return status


def whats_new(settings: Settings, archive_href: str = "../evidence-versions") -> HTML:
    """Each evidence version, newest first: the studies and findings it added, updated and removed, and
    for each outcome the change in pooled estimate, CI, PI, tau², k and certainty, with the changes
    Cochrane treats as triggers for a new citable version flagged.

    Versions are compared through their archived tables (``evidence/versions/``), which the site
    also publishes under ``archive_href`` so that old versions stay readable.
    """
    from ._evidence import evidence_versions
    from ._synthesis import version_changes

    path = settings.evidence / "changelog.json"
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    if not entries:
        return HTML("<p>No evidence versions are recorded yet.</p>")
    kept = set(evidence_versions(settings))
    status, failed = {}, {}
    for number in kept:
        # An archive is history: a value today's code cannot synthesise (ci_low -1e308 on a ratio), or a damaged
        # file, must not stop every later build.  The version is named as not recomputed; the rest goes on.
        try:
            status[number] = _version_status(settings, number)
        except Exception as exc:  # noqa: BLE001 - whatever it was, it is shown, not raised
            reason = " ".join(str(exc).split())
            failed[number] = f"{type(exc).__name__}: {reason[:200]}{'…' if len(reason) > 200 else ''}"
    parts = []
    for entry in reversed(entries):
        number = int(entry["evidence_version"])
        rows = []
        for kind in ("studies", "outcomes"):
            for what in ("added", "updated", "removed"):
                names = entry.get(kind, {}).get(what, [])
                if names:
                    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
                    rows.append(f"<li><strong>{len(names)} {'findings' if kind == 'outcomes' else 'studies'} "
                                f"{what}</strong>: {e(shown)}</li>")
        section = [f'<section class="eb-version" id="version-{number}">'
                   f"<h2>Evidence version {number} ({e(entry['date'])})</h2>"
                   f"<p>Synced from Zotero library version {e(entry['zotero_library_version'])}.</p>"
                   f"<ul>{''.join(rows) or '<li>No study or finding changed.</li>'}</ul>"]
        if number in failed:
            section.append(f'<p class="eb-not-recomputed">This version\'s outcomes could not be recomputed '
                           f"({e(failed[number])}), so they are not compared with the versions before and after "
                           "it.</p>")
        elif number in status and (number - 1) in status:
            changes = version_changes(status[number - 1], status[number])
            moved = changes[changes["change"] != "unchanged"]
            triggers = moved[moved["triggers"] != ""]
            verdict = (f'<p class="eb-trigger"><strong>New citable version:</strong> {len(triggers)} outcome(s) changed '
                       "in a way Cochrane's living-review guidance treats as a trigger (a CI that now includes or "
                       "excludes no effect, a change of direction or of certainty).</p>" if len(triggers) else
                       "<p>No outcome changed in a way that calls for a new citable version.</p>")
            table = moved.assign(before=[_stance(r, "old") for r in moved.to_dict("records")],
                                 after=[_stance(r, "new") for r in moved.to_dict("records")])
            section.append(verdict + (html_table(table, {"outcome": "Outcome", "kind": "Level", "change": "Change",
                                                         "before": f"Version {number - 1}", "after": f"Version {number}",
                                                         "triggers": "Trigger", "notes": "Other changes"})
                                      if len(moved) else "<p>No outcome's estimate, k or certainty moved.</p>"))
        elif number in status:
            first = status[number].rename(columns={c: f"{c}_new" for c in status[number].columns if c not in ("outcome", "kind")})
            first["stance"] = [_stance(r, "new") for r in first.to_dict("records")]
            since = ("(the version before could not be recomputed)" if (number - 1) in failed
                     else "(the first kept for comparison)")
            section.append(f"<p>Where each outcome stood in this version {since}:</p>"
                           + html_table(first, {"outcome": "Outcome", "kind": "Level", "stance": f"Version {number}"}))
        else:
            section.append("<p>This version's tables were not kept, so its outcomes cannot be compared.</p>")
        if number in kept:
            base = f"{archive_href}/v{number:04d}"
            section.append(f'<p>Read this version as published: <a href="{e(base)}/studies.csv">studies.csv</a>, '
                           f'<a href="{e(base)}/outcomes.csv">outcomes.csv</a>, '
                           f'<a href="{e(base)}/manifest.json">manifest.json</a> (with the SHA-256 of every file).</p>')
        parts.append("".join(section) + "</section>")
    return HTML("".join(parts))
