"""The book's pages about the evidence base itself: what it holds (:func:`evidence_map`: the gap map,
the PRISMA 2020 flow and the screening reviewers' agreement), how sound its coding is
(:func:`data_quality`), and what changed from one evidence version to the next (:func:`whats_new`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._config import Settings
from ._display import HTML, e, html_table, interval, link, record_url, zotero_links
from ._evidence import Evidence
from ._living import version_status
from ._plots import figure_html

__all__ = ["data_quality", "evidence_map", "screening_conflicts", "whats_new"]


# A gap-map cell names at most this many of its sources (the first in the cell's order) and counts the rest: a cell
# of 2,000 sources listed them all (4 MB of links on one page at 10,000 studies).
GAP_MAP_SOURCES = 20


def evidence_map(evidence: Evidence, settings: Settings | None = None) -> HTML:
    """The evidence gap map (figure and a linked table) and the PRISMA 2020 flow, current version and cumulative."""
    from ._vocabulary import DOMAINS, POPULATION_GROUPS
    from ._plots import gap_map_alt_text, gap_map_plot, prisma_alt_text, prisma_plot
    from ._synthesis import gap_map_counts, prisma_counts

    cells = gap_map_counts(evidence.outcomes, evidence.studies, list(DOMAINS), list(POPULATION_GROUPS))
    title = "Evidence gap map: outcome domain by population"
    figure = figure_html(gap_map_plot(cells, list(DOMAINS), list(POPULATION_GROUPS), title),
                         gap_map_alt_text(cells, title),
                         f"{title}. Bubble size: number of sources; colour: share of findings reported as favouring "
                         "peer support. Empty cells are gaps.")
    studies = {s["study_id"]: s for s in evidence.studies.to_dict("records")}  # thousands of lookups: no .loc

    def source(k: str) -> str:
        s = studies[k]
        return link(f"{s['authors'] or s['title'][:30]} {s['year']}".strip(), record_url(s["doi"], s["url"]))

    def sources(ids: list[str]) -> str:
        listed = ", ".join(source(k) for k in ids[:GAP_MAP_SOURCES])
        if len(ids) <= GAP_MAP_SOURCES:
            return listed
        return (f"{listed} and {len(ids) - GAP_MAP_SOURCES:,} more (all {len(ids):,} are counted here; each is on the "
                f'<a href="studies.html">Studies page</a> and in the data file <a href="../data/studies.csv">'
                "studies.csv</a>)")

    cells["sources_linked"] = [sources(ids.split("|")) for ids in cells["study_ids"]]
    table = html_table(cells, {"domain": "Outcome domain", "population_group": "Population", "findings": "Findings",
                               "sources_linked": "Sources"}, safe=("sources_linked",))
    from ._evidence import read_changelog

    changelog = read_changelog(settings) if settings else []
    new_ids = set(changelog[-1]["studies"].get("added", [])) if changelog else set()
    flows = []
    for label, counts in (("this evidence version (new records)", prisma_counts(evidence.studies, new_ids)),
                          ("all evidence versions (cumulative)", prisma_counts(evidence.studies))):
        flow_title = f"PRISMA 2020 flow: {label}"
        flows.append(figure_html(prisma_plot(counts, flow_title), prisma_alt_text(counts, flow_title), flow_title))
    return HTML("<h2>Gap map</h2>" + figure + table + "<h2>PRISMA 2020 flow</h2>" + "".join(flows)
                + "<h2>Agreement between screening reviewers</h2>" + screening_agreement_html(evidence.studies))


def screening_agreement_html(studies: pd.DataFrame) -> HTML:
    """Per screening stage: items double-screened, percentage agreement and Cohen's kappa, or why there are none."""
    from ._synthesis import screening_agreement

    table = screening_agreement(studies)
    if not table["double_screened"].any():
        return HTML("<p>No item has been screened independently by two reviewers yet (tags naming two reviewers, "
                    "such as <code>screen:TA:include@AB</code> and <code>screen:TA:exclude@CD</code>), so agreement "
                    "between reviewers (Cohen's kappa) is not reported.</p>")
    shown = table.assign(
        percent_agreement=[f"{p:.0f}%" if n else "" for p, n in zip(table["percent_agreement"],
                                                                    table["double_screened"])],
        kappa=[f"{k:.2f}" if pd.notna(k) else "not defined (every decision the same)" if n else "no item double-screened"
               for k, n in zip(table["kappa"], table["double_screened"])])
    return html_table(shown, {"stage": "Stage", "double_screened": "Items screened by two reviewers",
                              "agreed": "Same decision", "percent_agreement": "Agreement",
                              "kappa": "Cohen's kappa"},
                      caption="Agreement between two reviewers screening independently, before conflicts were "
                              "resolved (resolutions and single-reviewer decisions are not counted)")


def screening_conflicts(studies: pd.DataFrame) -> pd.DataFrame:
    """The items whose screening is a conflict: source, title, stage and who decided what there."""
    from ._synthesis import SCREENING_STAGES

    rows = []
    for r in studies[studies["screening"].str.endswith(":conflict")].to_dict("records"):
        stage = r["screening"].split(":")[0]
        votes = [v for v in str(r.get("screening_votes", "")).split("|") if v.startswith(f"{stage}:")]
        decisions = []
        for vote in votes:
            head, _, reviewer = vote.partition("@")
            resolution = ":resolved:" in head
            decisions.append(f"{reviewer or '(no reviewer named)'} {head.split(':')[-1]}"
                             + (" (resolution)" if resolution and reviewer != "consensus" else ""))
        rows.append({"citation_key": r["citation_key"], "title": r["title"],
                     "stage": f"{SCREENING_STAGES[stage]} ({stage})", "decisions": ", ".join(decisions)})
    return pd.DataFrame(rows, columns=["citation_key", "title", "stage", "decisions"])


def data_quality(evidence: Evidence) -> HTML:
    """What a reader should know about the state of the coding: problems, flags and gaps, from the tables."""
    from ._evidence import validate_tables

    tables = {"studies.csv": evidence.studies, "outcomes.csv": evidence.outcomes,
              "state_policy.csv": evidence.policy, "regions.csv": evidence.regions}
    failures = validate_tables(tables)
    studies, outcomes = evidence.included, evidence.outcomes
    errors = evidence.problems[evidence.problems["severity"] == "error"]
    conflicts = screening_conflicts(evidence.studies)
    medicaid = evidence.policy[evidence.policy["topic"] == "Medicaid coverage"]
    several = medicaid.groupby("state_code").size()
    facts = [
        ("Schema checks (declared types, vocabularies, CI contains the estimate, ratios positive)",
         "all pass" if failures.empty else f"{len(failures)} failures"),
        ("Coding errors in the Zotero library (findings left out until fixed)", f"{len(errors)}"),
        ("Coding warnings", f"{int((evidence.problems['severity'] == 'warning').sum())}"),
        ("Included sources", f"{len(studies)}"),
        ("Screening conflicts awaiting resolution (not included until resolved)", f"{len(conflicts)}"),
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
    table = html_table(pd.DataFrame(facts, columns=["check", "result"]), {"check": "Check", "result": "Result"})
    if len(evidence.problems):
        library = evidence.manifest.get("zotero", {})
        problems = evidence.problems.assign(item=[zotero_links(library.get("library_type"), library.get("library_id"), k)
                                                  for k in evidence.problems["item_key"]])
        table += "<h3>Coding problems</h3>" + html_table(
            problems, {"severity": "Severity", "item": "Zotero item (opens it)", "line": "Note line",
                       "field": "Field", "message": "Problem"}, safe=("item",))
    if len(conflicts):
        table += "<h3>Screening conflicts</h3>" + html_table(
            conflicts, {"citation_key": "Source", "title": "Title", "stage": "Stage", "decisions": "Decisions"},
            caption="Reviewers disagree and no resolution tag settles it: add screen:<stage>:resolved:<decision>@<initials> "
                    "or screen:<stage>:<decision>@consensus in Zotero")
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
        parts.insert(0, f"{r[f'estimate_{side}']:.2f} (95% CI {interval(r[f'ci_low_{side}'], r[f'ci_high_{side}'])}"
                        + (f"; PI {interval(r[f'pi_low_{side}'], r[f'pi_high_{side}'])}" if pd.notna(r.get(f"pi_low_{side}")) else "")
                        + (f"; tau² {r[f'tau2_{side}']:.3g}" if pd.notna(r.get(f"tau2_{side}")) else "") + ")")
    parts += [str(r.get(f"direction_{side}") or ""), f"certainty {r.get(f'certainty_{side}') or 'not rated'}"]
    return ", ".join(p for p in parts if p)


def whats_new(settings: Settings, archive_href: str = "../evidence-versions") -> HTML:
    """Each evidence version, newest first: the studies and findings it added, updated and removed, and
    for each outcome the change in pooled estimate, CI, PI, tau², k and certainty, with the changes
    Cochrane treats as triggers for a new citable version flagged.

    Versions are compared through their archived tables (``evidence/versions/``), which the site
    also publishes under ``archive_href`` so that old versions stay readable.
    """
    from ._certainty import load_judgements
    from ._evidence import evidence_versions, read_changelog

    entries = read_changelog(settings)
    if not entries:
        return HTML("<p>No evidence versions are recorded yet.</p>")
    kept = set(evidence_versions(settings))
    status, failed = _archived_statuses(settings, kept)
    judgements = load_judgements(settings.evidence / "judgements.toml").to_dict("records")
    parts = []
    for entry in reversed(entries):
        number = int(entry["evidence_version"])
        section = [f'<section class="eb-version" id="version-{number}">'
                   f"<h2>Evidence version {number} ({e(entry['date'])})</h2>"
                   f"<p>Synced from Zotero library version {e(entry['zotero_library_version'])}.</p>"
                   f"<ul>{_changed_items(entry) or '<li>No study or finding changed.</li>'}</ul>",
                   _outcomes_moved(settings, number, status, failed, judgements)]
        if number in kept:
            base = f"{archive_href}/v{number:04d}"
            section.append(f'<p>Read this version as published: <a href="{e(base)}/studies.csv">studies.csv</a>, '
                           f'<a href="{e(base)}/outcomes.csv">outcomes.csv</a>, '
                           f'<a href="{e(base)}/manifest.json">manifest.json</a> (with the SHA-256 of every file).</p>')
        parts.append("".join(section) + "</section>")
    return HTML("".join(parts))


def _archived_statuses(settings: Settings, kept: set[int]) -> tuple[dict[int, pd.DataFrame], dict[int, str]]:
    """Each kept version's outcome status, and why a version's could not be recomputed."""
    status, failed = {}, {}
    for number in kept:
        # An archive is history: a value today's code cannot synthesise (ci_low -1e308 on a ratio), or a damaged
        # file, must not stop every later build.  The version is named as not recomputed; the rest goes on.
        try:
            status[number] = version_status(settings, number)
        except Exception as exc:  # noqa: BLE001 - whatever it was, it is shown, not raised
            reason = " ".join(str(exc).split())
            failed[number] = f"{type(exc).__name__}: {reason[:200]}{'…' if len(reason) > 200 else ''}"
    return status, failed


def _changed_items(entry: dict[str, Any]) -> str:
    """The studies and findings a version added, updated and removed, as list items (at most 12 named each)."""
    rows = []
    for kind in ("studies", "outcomes"):
        for what in ("added", "updated", "removed"):
            names = entry.get(kind, {}).get(what, [])
            if kind == "studies":  # a study is named by its item key and citation key
                names = [f"{k} ({entry['citation_keys'][k]})" if k in entry["citation_keys"] else k for k in names]
            if names:
                shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
                rows.append(f"<li><strong>{len(names)} {'findings' if kind == 'outcomes' else 'studies'} "
                            f"{what}</strong>: {e(shown)}</li>")
    return "".join(rows)


def _fingerprint(status: dict[int, pd.DataFrame], number: int, j: dict[str, Any]) -> str | None:
    """What a signed judgement's question rested on in one version (None when that version is not known)."""
    table = status.get(number)
    if table is None or "fingerprint" not in table:
        return None
    row = table[(table["kind"] == "domain") & (table["domain"] == j["domain"])
                & (table["comparison_type"] == j["comparison_type"])]
    return str(row["fingerprint"].iloc[0]) if len(row) else ""


def _outcomes_moved(settings: Settings, number: int, status: dict[int, pd.DataFrame], failed: dict[int, str],
                    judgements: list[dict[str, Any]]) -> str:
    """How a version's outcomes moved from the version before: the triggers for a new citable version, the
    signed judgements that need re-review and a table of what changed; or where each outcome stood, for the
    first version kept; or why it cannot be compared."""
    from ._living import version_status_changes

    if number in failed:
        return (f'<p class="eb-not-recomputed">This version\'s outcomes could not be recomputed '
                f"({e(failed[number])}), so they are not compared with the versions before and after "
                "it.</p>")
    if number in status and (number - 1) in status:
        changes = version_status_changes(settings, number)  # kept: the same as version_changes of the two
        moved = changes[changes["change"] != "unchanged"]
        triggers = moved[moved["triggers"] != ""]
        stale = [j for j in judgements if int(j["evidence_version"]) < number
                 and _fingerprint(status, number - 1, j) == _fingerprint(status, int(j["evidence_version"]), j)
                 and _fingerprint(status, number, j) != _fingerprint(status, int(j["evidence_version"]), j)]
        verdict = (f'<p class="eb-trigger"><strong>New citable version:</strong> {len(triggers)} outcome(s) changed '
                   "in a way Cochrane's living-review guidance treats as a trigger (a CI that now includes or "
                   "excludes no effect, a change of direction or of certainty, a pooled estimate lost).</p>"
                   if len(triggers) else "<p>No outcome changed in a way that calls for a new citable version.</p>")
        verdict += "".join(
            f'<p class="eb-trigger"><strong>Signed judgement needs re-review:</strong> the certainty of '
            f"{e(j['domain'])} ({e(j['comparison_type'])}), signed {e(j['certainty'])} by {e(j['signed_by'])} on "
            f"evidence version {e(j['evidence_version'])}, rests on evidence that changed in this version.</p>"
            for j in stale)
        table = moved.assign(before=[_stance(r, "old") for r in moved.to_dict("records")],
                             after=[_stance(r, "new") for r in moved.to_dict("records")])
        return verdict + (html_table(table, {"outcome": "Outcome", "kind": "Level", "change": "Change",
                                             "before": f"Version {number - 1}", "after": f"Version {number}",
                                             "triggers": "Trigger", "notes": "Other changes"})
                          if len(moved) else "<p>No outcome's estimate, k or certainty moved.</p>")
    if number in status:
        first = status[number].rename(columns={c: f"{c}_new" for c in status[number].columns if c not in ("outcome", "kind")})
        first["stance"] = [_stance(r, "new") for r in first.to_dict("records")]
        since = ("(the version before could not be recomputed)" if (number - 1) in failed
                 else "(the first kept for comparison)")
        return (f"<p>Where each outcome stood in this version {since}:</p>"
                + html_table(first, {"outcome": "Outcome", "kind": "Level", "stance": f"Version {number}"}))
    return "<p>This version's tables were not kept, so its outcomes cannot be compared.</p>"
