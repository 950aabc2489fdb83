"""Regional briefs: one parameterised notebook, executed by papermill for each region.

``Brief`` computes what a brief shows (pure functions over the evidence); the template
``notebooks/brief.ipynb`` only calls it.  :func:`render_brief` executes the template for one
region into the book's briefs section (``book/briefs/<id>.ipynb``) and writes a standalone
HTML page and its PDF beside the book (``_build/briefs/<id>.html`` and ``.pdf``).

:func:`render_all_briefs` fans the regions out over workers that each keep one kernel (and
one headless Chromium) for all their briefs: every brief is still a complete papermill
execution of the template, but no brief pays for starting a kernel or a browser, importing
the package or loading the evidence, which are done once per worker and evidence version; the
summary of findings, the same in every brief, is computed once per evidence version and kept
on disk (``_build/.evidencebook-cache``) for every later kernel.  The workers run on any
``concurrent.futures`` executor: a process pool by default, or a Dask cluster
(:func:`dask_executor`).

Heavy imports (pandas, papermill, Playwright) happen inside the functions that
need them, so that naming a region, and a worker's start, stay cheap.
"""

from __future__ import annotations

import copy
import hashlib
import html as _html
import json
import os
import re
import shutil
import tempfile
import threading
from collections import Counter
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TypeVar

from ._cache import write_atomic
from ._config import Settings, code_version, load_settings
from ._errors import BriefError
from ._kernels import SECRET_NAMES, launch_kernel, run_sync
from ._policy import as_of_key  # noqa: F401  (moved there; still importable from here)
from ._regions import STATE_NAMES, find_region, region_records

if TYPE_CHECKING:
    import nbformat
    import pandas as pd

    from ._display import HTML
    from ._evidence import Evidence
    from ._policy import Coverage

__all__ = ["Brief", "BriefOutput", "dask_executor", "render_all_briefs", "render_brief"]

HEADLINE_DOMAINS = ["recovery", "hope", "empowerment", "quality of life", "hospitalisation", "crisis/ED use",
                    "engagement", "substance use", "symptoms", "cost"]
POLICY_TOPICS = ["Medicaid coverage", "certification and training", "workforce", "programmes", "other"]
# Two printed pages hold about this much; the rest is one link away, in the full review.
MAX_LOCAL_STUDIES = 6
MAX_POLICY_FACTS = 14
MAX_RECOMMENDATIONS = 5
CELL_TIMEOUT = 300  # seconds: a hung cell fails its region instead of holding a worker for ever
# Debian's Chromium, headless; no network features that would phone out while printing.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

T = TypeVar("T")


# --- the evidence, loaded once per evidence version in each kernel -----------------------

_CACHE: dict[tuple[str, ...], Any] = {}


def _content_hash(settings: Settings) -> str:
    try:
        return str(json.loads((settings.evidence / "manifest.json").read_text(encoding="utf-8"))["content_hash"])
    except (OSError, ValueError, KeyError):
        return ""  # load_evidence will say what is wrong


def _cached(key: tuple[str, ...], make: Callable[[], T]) -> T:
    """``make()`` once per key; keys carry the evidence hash, so a new version is recomputed."""
    if key not in _CACHE:
        if len(_CACHE) > 32:  # a long-lived kernel that saw many versions: forget the old ones
            _CACHE.clear()
        _CACHE[key] = make()
    return _CACHE[key]


def _evidence_for(settings: Settings) -> "Evidence":
    from ._evidence import load_evidence

    digest = _content_hash(settings)
    if not digest:
        return load_evidence(settings)
    return _cached(("evidence", str(settings.root), digest), lambda: load_evidence(settings))


def _judgements_for(settings: Settings, evidence: "Evidence") -> "pd.DataFrame":
    """The signed judgements and their status, once per evidence version and judgements file."""
    from ._certainty import signed_judgements

    path = settings.evidence / "judgements.toml"
    stamp = path.read_bytes() if path.is_file() else b""
    key = ("judgements", str(settings.root), _content_hash(settings), hashlib.sha256(stamp).hexdigest())
    return _cached(key, lambda: signed_judgements(settings, evidence.outcomes, evidence.studies))


def _judgements_hash(judgements: "pd.DataFrame | None") -> str:
    if judgements is None or judgements.empty:
        return ""
    return hashlib.sha256(judgements.to_csv(index=False).encode("utf-8")).hexdigest()[:16]


def _on_disk(folder: Path | None, name: str, evidence_hash: str, make: Callable[[], str]) -> str:
    """``make()`` once per evidence version and code version, kept in ``folder`` for every later brief
    (other kernels, other runs): a brief on demand then skips the summary of findings."""
    from ._cache import DiskCache

    return DiskCache(folder).get(name, evidence_hash, make) if evidence_hash else make()


def _truncate(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _more(count: int, what: str, href: str) -> str:
    return (f'<p class="eb-more">And {count} more {what} in <a class="eb-book-link" href="{_html.escape(href)}">'
            "the full review</a>.</p>") if count > 0 else ""


# --- what a brief shows -------------------------------------------------------------------

def _workforce_findings(evidence: "Evidence") -> "pd.DataFrame":
    """The implementation recommendations (workforce or themed findings coded ``recommendation: ...``;
    all of them where none is), with their study's title, region, states and URL."""
    outcomes = evidence.outcomes
    themed = outcomes["theme"].ne("") if "theme" in outcomes else False
    found = outcomes[(outcomes["domain"] == "workforce") | themed]
    advice = found["outcome"].str.lower().str.startswith("recommendation")
    found = found[advice] if advice.any() else found
    found = found if "theme" in found else found.assign(theme="")
    # Only the columns a brief uses: sorting 50 columns 52 times was most of the cost of brief_keys.
    found = found[["finding_id", "study_id", "outcome", "theme", "quote", "source_url"]]
    studies = evidence.studies.set_index("study_id")
    return found.join(studies[["title", "region", "state_codes", "url"]], on="study_id")


@dataclass(frozen=True)
class Brief:
    """What the brief for one region shows.

    ``region`` is a row of the regions table (a state, DC or sub-state region); a sub-state
    region inherits its state's policy facts and includes its state's studies.
    """

    region: "pd.Series | Mapping[str, Any]"
    evidence: "Evidence"
    site_url: str = ""
    cache_dir: Path | None = None  # where shared parts are kept between kernels; None: computed each time
    # The same for every region: computed once when many briefs are drawn from one evidence (brief_keys).
    workforce: "pd.DataFrame | None" = None
    pdf: bool = True  # a PDF is printed beside the page, and the page links it
    # The review team's signed certainty judgements with their status (see _certainty.signed_judgements).
    judgements: "pd.DataFrame | None" = None

    @classmethod
    def for_region(cls, name: str, root: Path | None = None, pdf: bool = True) -> "Brief":
        import pandas as pd

        settings = load_settings(root)
        region = pd.Series(find_region(name, region_records(settings.regions)))
        evidence = _evidence_for(settings)
        return cls(region, evidence, settings.site_url, settings.cache_dir, pdf=pdf,
                   judgements=_judgements_for(settings, evidence))

    # -- small facts ------------------------------------------------------------------------

    @property
    def region_id(self) -> str:
        return str(self.region["region_id"])

    @property
    def state_name(self) -> str:
        return STATE_NAMES[str(self.region["state_code"])]

    @property
    def counties(self) -> list[str]:
        return [c for c in str(self.region.get("counties", "") or "").split("|") if c]

    @property
    def title(self) -> str:
        return f"{self.region['name']}: peer support services brief"

    def book_href(self, page: str) -> str:
        """A page of the full review: on the published site if configured, else relative to the book's briefs."""
        if self.site_url:
            return f"{self.site_url.rstrip('/')}/book/{page}"
        return f"../{page}"

    # -- the parts of the brief ---------------------------------------------------------------

    def header(self) -> "HTML":
        from ._display import HTML, e

        r = self.region
        if r["kind"] == "sub-state":
            scope = f"{e(r['name'])}, a region of {e(self.state_name)}"
            if self.counties:
                scope += f" ({e(', '.join(self.counties))} {'county' if len(self.counties) == 1 else 'counties'})"
        else:
            scope = e(r["name"])
        # The PDF sits beside the page: in _build/briefs/, and in the site (the book copies it there).
        return HTML(f'<p class="eb-brief-lede">What the evidence says about peer support services in behavioral '
                    f"health (peer support specialists, recovery coaches, family and youth peers), and what is known "
                    f"for {scope}.</p><p class=\"eb-version\"><strong>{e(self.evidence.version_label)}</strong></p>"
                    + (f'<p class="eb-screen-only"><a class="eb-pdf-link" href="{e(self.region_id)}.pdf" download>'
                       "Download this brief as a PDF (two pages)</a></p>" if self.pdf else ""))

    def headline(self) -> "HTML":
        """The summary of findings: the same for every region, so computed once per evidence version."""
        from ._display import HTML

        digest = str(self.evidence.manifest.get("content_hash", ""))
        if not digest:
            return _headline(self.evidence, self.judgements)
        digest += _judgements_hash(self.judgements)
        return _cached(("headline", digest, str(self.cache_dir)), lambda: HTML(
            _on_disk(self.cache_dir, "headline", digest, lambda: _headline(self.evidence, self.judgements))))

    def local_studies(self) -> "pd.DataFrame":
        studies = self.evidence.included
        code = self.region["state_code"]
        local = studies[studies["state_codes"].str.split("|").map(lambda codes: code in codes)]
        if self.region["kind"] == "sub-state":
            local = local.assign(in_region=local["region"].eq(self.region_id))
            local = local.sort_values("in_region", ascending=False, kind="stable")
        return local

    def local_evidence(self) -> "HTML":
        """One entry per local study (its reports joined: two papers on one trial are one study)."""
        import pandas as pd

        from ._display import HTML, e, html_table, link

        local = self.local_studies()
        if local.empty:
            return HTML(f"<p><strong>No studies from {e(self.state_name)} are in the evidence base yet.</strong> "
                        "The findings above come from other states and countries and are the best available "
                        "guide.</p>")
        key = local["report_of"].where(local["report_of"].ne(""), local["study_id"]) if "report_of" in local else local["study_id"]
        studies = list(dict.fromkeys(key))
        shown_ids = studies[:MAX_LOCAL_STUDIES]
        outcomes = self.evidence.outcomes
        rows = []
        for study in shown_ids:
            reports = local[key == study]
            first = reports.iloc[0]
            mine = bool(reports["in_region"].any()) if "in_region" in reports else False
            rows.append({
                "source": " + ".join(link(f"{s.authors or s.title} {s.year}".strip(), s.url) for s in reports.itertuples())
                + (" (this region)" if mine else ""),
                "design": _truncate(first["design"], 90),
                "findings": _truncate("; ".join(dict.fromkeys(outcomes.loc[outcomes["study_id"].isin(reports["study_id"]),
                                                                           "outcome"])), 140)})
        table = pd.DataFrame(rows)
        return HTML(html_table(table, {"source": "Study (its reports)", "design": "Design",
                                       "findings": "Outcomes studied"}, safe=("source",))
                    + _more(len(studies) - len(shown_ids), f"studies from {self.state_name}",
                            self.book_href("studies.html")))

    def policy_facts(self) -> "pd.DataFrame":
        """The state's facts, by topic (Medicaid first), newest first within a topic."""
        return self._policy_facts.copy()

    @cached_property
    def _policy_facts(self) -> "pd.DataFrame":  # two parts of the brief read them
        from ._policy import newest_first

        policy = self.evidence.policy
        facts = policy[policy["state_code"] == self.region["state_code"]]
        order = {t: i for i, t in enumerate(POLICY_TOPICS)}
        # Newest first by each fact's own date (not its text: 'after July 2021' is older than '2024-07').
        return newest_first(facts.assign(_order=facts["topic"].map(lambda t: order.get(t, len(order)))),
                            by=["_order"]).drop(columns="_order")

    def coverage(self) -> "dict[str, Coverage]":
        """Medicaid coverage of peer support in the region's state, per service (``MH``, ``SUD``)."""
        from ._policy import read_facts, state_coverage

        return state_coverage(str(self.region["state_code"]), read_facts(self._policy_facts))

    def _coverage_lines(self) -> list[str]:
        """One sentence per service: its status, date and facts; a conflict says that sources
        disagree and what each says; older facts are named as history.  A service no fact settles
        names the Medicaid facts that were read, so the brief never calls coverage undocumented
        beside a Medicaid fact it lists."""
        from ._display import e
        from ._policy import CONFLICTING, NOT_DOCUMENTED, SERVICES

        coverage = self.coverage()
        if all(c.status == NOT_DOCUMENTED and not c.unread and not c.elsewhere for c in coverage.values()):
            return ["Coverage is not yet documented in the evidence base, for mental health or for substance use."]
        lines = []
        for service, c in coverage.items():
            head = f"<strong>{e(SERVICES[service].capitalize())}: "
            if c.status == NOT_DOCUMENTED:
                why = ([f"{k} speaks only to {SERVICES['SUD' if service == 'MH' else 'MH']}" for k in c.elsewhere]
                       + [f"{k} {reason}" for k, reason in c.unread.items()])
                lines.append(head + "not yet documented in the evidence base.</strong>" if not why else
                             head + "no fact settles it.</strong> " + e("; ".join(why)) + ".")
            elif c.status == CONFLICTING:
                lines.append(head + 'sources disagree</strong>: <span class="eb-conflict">'
                             + e("; ".join(f"{k} ({c.dates[k] or 'undated'}) says {v}" for k, v in c.says.items()))
                             + ("; neither can be shown to be the newer" if len(c.says) == 2
                                else "; none can be shown to be newer than the others") + ".</span>")
            else:
                when = f"as of {c.as_of}" if c.date_key else "date not given"
                lines.append(head + f"{e(c.status)}</strong> ({e(when)}; {e(', '.join(c.fact_ids))})"
                             + (" (the source says peer support, without naming the service)" if c.general else "")
                             + ".")
            if c.history:
                lines[-1] += " " + e("Older facts, kept as history: " + "; ".join(
                    f"{k} ({c.dates[k] or 'undated'}) said {c.earlier[k]}" for k in c.history) + ".")
        return lines

    def policy_context(self) -> "HTML":
        from ._display import HTML, e, html_table

        facts = self.policy_facts()
        status = (f"<p><strong>Medicaid coverage of peer support in {e(self.state_name)}:</strong></p>"
                  '<ul class="eb-coverage">'
                  + "".join(f"<li>{line}</li>" for line in self._coverage_lines()) + "</ul>")
        if facts.empty:
            return HTML(status + "<p>No state policy facts are recorded yet.</p>")
        shown = facts.head(MAX_POLICY_FACTS).assign(
            value=lambda f: f["value"].map(lambda v: _truncate(v, 130)),
            topic=lambda f: f["topic"].where(f["topic"].ne(f["topic"].shift()), ""))  # each topic named once
        table = html_table(shown, {"topic": "Topic", "fact_id": "Id", "fact": "Fact", "value": "Value",
                                   "as_of": "As of", "source_type": "Source"}, links={"source_type": "source_url"})
        return HTML(status
                    + "<p>Every fact is shown with its source and date; where sources disagree, all are listed, "
                    "newest first by the fact's own date.</p>" + table
                    + _more(len(facts) - len(shown), f"policy facts for {self.state_name}", self.book_href("policy.html")))

    def recommendations(self) -> "pd.DataFrame":
        """The implementation recommendations, those that fit this region first.

        Recommendations are the workforce findings coded ``recommendation: ...`` (all workforce
        findings where none is).  Fit, in order: from this sub-state region; from this state; on
        a theme where the state's policy record has a gap (no documented Medicaid coverage:
        funding and billing; no certification facts: training and certification); then the
        rest.  Within each level, one per theme before a second, and one per source before a
        second, so that a short list covers more.
        """
        import pandas as pd

        found = self.workforce if self.workforce is not None else _workforce_findings(self.evidence)
        topics = set(self.policy_facts()["topic"])
        gaps = ({"funding and billing"} if "Medicaid coverage" not in topics else set()) | (
            {"training and certification"} if "certification and training" not in topics else set())
        state = self.region["state_code"]
        # In plain Python: a few dozen rows, ordered for each of 52 regions in every build's brief keys.
        rows = []
        for row in found.to_dict("records"):
            in_state = state in str(row["state_codes"] or "").split("|")
            row["fit"], row["_rank"] = ((f"from {self.region['name']}", 0) if row["region"] == self.region_id
                                        else (f"from {self.state_name}", 1) if in_state
                                        else (f"{self.state_name} has no documented policy on {row['theme']}", 2)
                                        if row["theme"] in gaps else ("", 3))
            rows.append(row)
        rows.sort(key=lambda r: (r["_rank"], r["finding_id"]))
        turns: Counter[tuple[Any, ...]] = Counter()
        for row in rows:  # the n-th finding on its theme, then the n-th from its source at that turn
            row["_turn"] = turns[(row["_rank"], row["theme"])]
            turns[(row["_rank"], row["theme"])] += 1
            row["_source_turn"] = turns[(row["_rank"], row["_turn"], "source", row["study_id"])]
            turns[(row["_rank"], row["_turn"], "source", row["study_id"])] += 1
        rows.sort(key=lambda r: (r["_rank"], r["_turn"], r["_source_turn"], r["finding_id"]))
        return pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                            columns=[*found.columns, "fit"])

    def implementation(self) -> "HTML":
        from ._display import HTML, e, link

        found = self.recommendations()
        if found.empty:
            return HTML("<p>No implementation recommendations are coded yet.</p>")
        shown = found.head(MAX_RECOMMENDATIONS)
        items = "".join(
            f"<li><strong>{e(str(r.outcome).split(':', 1)[-1].strip().capitalize())}</strong>: "
            f"“{e(_truncate(r.quote, 240))}” ({link(r.title, r.source_url or r.url)}"
            f"{'; ' + e(r.fit) if r.fit else ''})</li>" for r in shown.itertuples())
        return HTML("<p>What studies and regional work on the peer workforce recommend, those that fit "
                    f"{e(self.region['name'])} first:</p><ul>{items}</ul>"
                    + _more(len(found) - len(shown), "recommendations, and the barriers they answer,",
                            self.book_href("implementation.html")))

    def sources(self) -> "HTML":
        from ._display import HTML, e

        m = self.evidence.manifest
        review = self.book_href("intro.html") if not self.site_url else self.site_url.rstrip("/") + "/"
        cite = (f"Peer support workforce: a living evidence review. {self.title}. {self.evidence.version_label}."
                + (f" {self.site_url.rstrip('/')}/" if self.site_url else ""))
        return HTML(f"<p>{e(self.evidence.version_label)}. This brief is built from {m['counts']['included']} "
                    f"included sources, {m['counts']['outcomes']} findings and {m['counts']['policy_facts']} "
                    "policy facts, each with its quoted source. The full review, with every study, quote and "
                    f'reference: <a class="eb-book-link eb-review-link" href="{e(review)}">Peer support workforce: '
                    "a living evidence review</a>. This brief is rebuilt whenever what it shows changes; the "
                    "evidence version above is the one it was built from.</p>"
                    f'<p class="eb-cite"><strong>Cite as:</strong> {e(cite)}</p>')


def _headline(evidence: "Evidence", judgements: "pd.DataFrame | None" = None) -> "HTML":
    """The chapters' summary of findings, in short: the same counts and certainty as the book shows."""
    from ._certainty import certainty_label, summary_of_findings
    from ._display import HTML, html_table

    outcomes, studies = evidence.outcomes, evidence.studies
    sof = summary_of_findings(outcomes, studies, [d for d in HEADLINE_DOMAINS if d in set(outcomes["domain"])])
    if sof.empty:
        return HTML("<p>No findings are coded yet.</p>")
    judged = {} if judgements is None else {(j["domain"], j["comparison_type"]): j
                                            for j in judgements.to_dict("records")}
    sof["question"] = [d if c == "mixed or not stated" else f"{d} ({c})"
                       for d, c in zip(sof["domain"], sof["comparison_type"])]
    sof["counted"] = [f"{a} / {b} / {c}" for a, b, c in zip(sof["favour_peer"], sof["favour_comparison"], sof["unclear"])]
    sof["studies_cell"] = [f"{a} / {b} / {c}" if s else "none" for a, b, c, s in
                           zip(sof["study_votes_peer"], sof["study_votes_comparison"], sof["study_votes_unclear"],
                               sof["studies"])]
    sof["certainty"] = [certainty_label(p, judged.get((d, c)))
                        for p, d, c in zip(sof["proposed_certainty"], sof["domain"], sof["comparison_type"])]
    table = html_table(sof, {"question": "Outcome", "counted": "Findings: for / against / unclear",
                             "studies_cell": "Studies: for / against / unclear", "reviews": "Reviews",
                             "certainty": "Certainty"}, safe=("certainty",))
    return HTML("<p>Every finding in the review, counted by its direction: for peer support, for the comparison, "
                "or unclear. <em>Studies</em> counts independent primary studies once each (reports of one study "
                "joined); reviews share trials, so they are listed but never counted as votes. This shows the "
                "direction of effects, not their size. A certainty marked <em>proposed</em> is computed from the "
                "coding and awaits the review team's sign-off; the full reasons are in the book's chapters.</p>"
                + table)


# --- outputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BriefOutput:
    region_id: str
    notebook: Path
    html: Path
    pdf: Path | None = None
    rebuilt: bool = True  # False: its content had not changed, the files were kept as they were


# A signed certainty (solid) looks different from a proposal (dashed, italic) and from one that needs re-review.
_CERTAINTY_CSS = """
.eb-certainty { display: inline-block; padding: 0 .3em; border-radius: 3px; }
.eb-signed { border: 2px solid #1b6f5a; font-weight: bold; }
.eb-proposed { border: 1px dashed #555; font-style: italic; }
.eb-stale { border: 2px solid #a3330d; color: #a3330d; font-weight: bold; }
"""
_PRINT_CSS = """
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; color: #1b1b1b; line-height: 1.45;
       max-width: 54rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.15rem; margin: 1.3rem 0 .4rem; padding-bottom: .15rem; border-bottom: 1px solid #c8c8c8; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; padding: .25rem .45rem; border-bottom: 1px solid #dedede; }
th { background: #f1f1f1; }
a { color: #0b57a4; }
.eb-more, .eb-cite { font-size: .9rem; color: #444; }
/* Nothing widens the page on a phone: a word longer than the line (a 100,000-character title, a URL) breaks
   anywhere in text, and in a table cell that holds one (html_table marks it); a table wider than the screen
   scrolls inside its own wrapper; an image shrinks to fit. Words elsewhere in tables stay whole. */
h1, h2, h3, p, li, dd, dt, blockquote, caption, figcaption { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; }
main > table { display: block; overflow-x: auto; }
@page { size: Letter; margin: 0.45in 0.5in 0.55in; }
@media print {
  body { font-size: 8.4pt; line-height: 1.28; max-width: none; margin: 0; padding: 0; }
  h1 { font-size: 14.5pt; margin: 0 0 3pt; }
  h2 { font-size: 10.5pt; margin: 7pt 0 3pt; break-after: avoid; }
  p, ul { margin: 2.5pt 0; } ul { padding-left: 13pt; } li { margin: 1pt 0; }
  table { font-size: 7.4pt; } th, td { padding: 1.2pt 3pt; }
  tr, li { break-inside: avoid; }
  .eb-table { overflow: visible !important; }
  .eb-screen-only { display: none; }
  .eb-review-link[href^="http"]::after { content: " (" attr(href) ")"; }
  .eb-more, .eb-cite { font-size: 7.6pt; }
}
"""


def _scrub(nb: "nbformat.NotebookNode", title: str) -> "nbformat.NotebookNode":
    """Title the brief, and keep only what a reader needs: no paths of the build machine,
    no papermill metadata but the parameters, no kernel warnings (build logs, not content)."""
    nb = copy.deepcopy(nb)
    nb.cells[0].source = f"# {_html.escape(title, quote=False)}"  # a region's name is text, not markup
    papermill = nb.metadata.get("papermill", {})
    nb.metadata["papermill"] = {"parameters": papermill.get("parameters", {})}
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":  # a reused kernel counts on: number this brief's cells from 1
            count += 1
            cell.execution_count = count
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            cell.metadata["tags"] = sorted({*tags, "remove-cell"})  # kept in the notebook, not shown
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_html(output: Mapping[str, Any], markdown: Callable[[str], str]) -> str:
    """One output of a code cell as HTML: rich HTML as the brief drew it (escaped where it was
    built), images inline, plain text escaped; stderr (kernel warnings) and errors left out."""
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{_html.escape(_text(output.get('text', '')))}</pre>" if output.get("name") == "stdout" else ""
    if kind not in ("display_data", "execute_result"):
        return ""
    data = output.get("data", {})
    if "text/html" in data:
        return _text(data["text/html"])
    if "image/svg+xml" in data:
        return _text(data["image/svg+xml"])
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return f'<img src="data:{mime};base64,{_text(data[mime]).strip()}" alt="Figure">'
    if "text/markdown" in data:
        return markdown(_text(data["text/markdown"]))
    return f"<pre>{_html.escape(_text(data.get('text/plain', '')))}</pre>" if "text/plain" in data else ""


def notebook_html(nb: "nbformat.NotebookNode") -> str:
    """The body of the standalone page: the notebook's markdown and outputs, no code, no cell
    tagged ``remove-cell`` or output tagged ``remove-output`` (as the book shows it).

    A few lines of mistune instead of nbconvert: a tenth of the time a brief, no second
    parse of the page (nbconvert re-serialises it with BeautifulSoup), and a clean markup for
    the print layout.
    """
    import mistune

    markdown = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
    parts = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "remove-cell" in tags:
            continue
        if cell.cell_type == "markdown":
            parts.append(str(markdown(_text(cell.source))))
        elif cell.cell_type == "code" and "remove-output" not in tags:
            parts += [_output_html(o, markdown) for o in cell.get("outputs", [])]
    return "\n".join(p for p in parts if p)


def standalone_links(body: str, book_prefix: str) -> str:
    """Point the brief's relative links into the book (``../page.html``) at the built book from where
    the standalone page sits (``book_prefix``, e.g. ``../html/book/``); absolute links stay."""
    def relink(tag: re.Match[str]) -> str:
        return tag[0].replace('href="../', f'href="{book_prefix}', 1) if "eb-book-link" in tag[0] else tag[0]

    return re.sub(r"<a\s[^>]*>", relink, body)  # whatever the order of the link's attributes


def standalone_page(title: str, body: str) -> str:
    """A complete, self-contained HTML page (no scripts, no network) that prints on two Letter pages."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_html.escape(title)}</title>\n<style>{_PRINT_CSS}{_CERTAINTY_CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


def _footer(title: str) -> str:
    return (f'<div style="font-size:7pt;width:100%;text-align:center;color:#555">{_html.escape(title)} · page '
            '<span class="pageNumber"></span> of <span class="totalPages"></span></div>')


# Where a word that holds a path starts and ends: at any character a path (or an HTML entity) does not use, such
# as whitespace, markup, quotes (the brief's “ ” and the backslashes of the notebook's JSON) and the ellipsis a
# shortened quote ends with.
_TOKEN_EDGE = re.compile(r"[^\w./~+@%=,&;#:-]")


def _typed_word(text: str, start: int, end: int, typed_words: set[str]) -> bool:
    """Whether the word of ``text`` that holds ``text[start:end]`` is one of ``typed_words``, or the start of one
    cut short by an ellipsis (a shortened quote)."""
    left = max((m.end() for m in _TOKEN_EDGE.finditer(text, max(0, start - 2000), start)), default=max(0, start - 2000))
    right = _TOKEN_EDGE.search(text, end)
    word = text[left:right.start() if right else len(text)]
    if word in typed_words:
        return True
    cut = bool(right) and text.startswith(("…", "\\u2026"), right.start())  # raw, or as JSON may write it
    return cut and any(typed.startswith(word) for typed in typed_words)


def leaked(text: str, root: Path, home: Path, secrets: list[str], typed: str = "") -> str:
    """What in ``text`` would publish a secret or a path of the build machine (its project path, home folder); ''
    if nothing.

    Secrets are the values of the environment's secret variables, never their names.  A path counts where it
    starts one (``/root/x``, ``file:///root/x``), not inside a web address (``https://example.org/root/x``), and
    not where it is a word of ``typed``: the text of the evidence, as rendered, which holds whatever a Zotero
    member typed (a quote that names ``/home/runner/`` is evidence, not the machine).
    """
    for secret in secrets:
        if secret and secret in text:
            return "a secret from the environment"
    paths = [(re.compile(re.escape(str(root))), f"the project's path {root}")]
    if len(str(home)) > 1:
        paths.append((re.compile(r"(?<![\w.:-])" + re.escape(str(home)) + r"/"), f"the home folder {home}"))
    typed_words = set(_TOKEN_EDGE.split(typed)) - {""}
    for pattern, what in paths:
        for found in pattern.finditer(text):
            if not _typed_word(text, found.start(), found.end(), typed_words):
                return what
    return ""


def _typed_paths(settings: Settings, needles: tuple[str, ...]) -> str:
    """Every cell of the evidence that names one of ``needles``, raw and as the pages render it (one per line)."""
    import pandas as pd

    from ._display import e

    evidence = _evidence_for(settings)
    cells: set[str] = set()
    for frame in (evidence.studies, evidence.outcomes, evidence.policy, evidence.regions, evidence.problems):
        for column in frame.columns:
            if pd.api.types.is_numeric_dtype(frame[column]):
                continue
            values = frame[column].astype(str)
            hits = values[[any(n in v for n in needles) for v in values]]
            cells.update(hits)
    return "\n".join(form for cell in sorted(cells) for form in (cell, e(cell)))


def _publishable(region_id: str, texts: list[str], settings: Settings) -> None:
    """Refuse to publish a brief that carries a secret or a path of the build machine that the evidence does not."""
    secrets = [v for k, v in os.environ.items() if SECRET_NAMES.search(k) and len(v) >= 8]
    root, home = settings.root, Path.home()
    typed = ""
    if any(str(root) in text or str(home) + "/" in text for text in texts):  # rare: only then read the evidence
        needles = (str(root), str(home) + "/")
        typed = _cached(("typed-paths", str(root), _content_hash(settings), *needles),
                        lambda: _typed_paths(settings, needles))
    for text in texts:
        found = leaked(text, root, home, secrets, typed)
        if found:
            raise BriefError(f"brief for {region_id}: its output would publish {found}; nothing written")


# --- the machinery: a kernel and a browser ---------------------------------------------------

def chromium_path(region_id: str = "") -> str:
    """Debian's Chromium on PATH, or a BriefError telling the user how to install it."""
    found = shutil.which("chromium")
    if not found:
        who = f"brief for {region_id}: " if region_id else ""
        raise BriefError(f"{who}cannot print the PDF: Chromium is not installed (no 'chromium' on PATH). "
                         "Run 'make chromium' (Debian's package), or leave the PDF out with --no-pdf.")
    return found


class _Printer:
    """One headless Chromium, started in the background and driven from one thread of its own
    (Playwright's sync API belongs to the thread that started it; briefs run on any thread)."""

    def __init__(self, executable: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidencebook-printer")
        self._executable = executable
        self._state: dict[str, Any] = {}
        self._started = self._thread.submit(self._launch)

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        playwright = self._state.get("playwright") or sync_playwright().start()
        self._state["playwright"] = playwright
        browser = playwright.chromium.launch(executable_path=self._executable, args=CHROMIUM_ARGS)
        self._state.update(browser=browser, page=browser.new_page())

    def _print(self, page_html: str, title: str) -> bytes:
        if not self._state["browser"].is_connected():  # Chromium crashed under an earlier brief
            self._launch()
        page = self._state["page"]
        page.set_content(page_html, wait_until="load")  # from memory: no file:// path in the PDF
        return page.pdf(format="Letter", print_background=True, prefer_css_page_size=True, tagged=True,
                        outline=True, display_header_footer=True, header_template="<span></span>",
                        footer_template=_footer(title))

    def pdf(self, page_html: str, title: str) -> bytes:
        self._started.result()
        return self._thread.submit(self._print, page_html, title).result()

    def _stop(self) -> None:
        for name in ("browser", "playwright"):
            try:
                thing = self._state.pop(name, None)
                if thing is not None:
                    thing.close() if name == "browser" else thing.stop()
            except Exception:  # already gone: nothing left to stop
                pass

    def close(self) -> None:
        try:
            self._thread.submit(self._stop).result(timeout=30)
        finally:
            self._thread.shutdown(wait=False)


def _start_kernel(root: Path) -> Any:
    """Start a Python kernel in the project folder (see :mod:`._kernels`); returns once it is launched."""
    sockets = tempfile.mkdtemp(prefix="eb-kernel-")
    try:
        km = run_sync(launch_kernel, root, os.path.join(sockets, "k"))
    except BaseException:
        shutil.rmtree(sockets, ignore_errors=True)
        raise
    km._evidencebook_sockets = sockets  # removed when the kernel is shut down
    return km


@lru_cache(maxsize=1)
def _papermill_engine() -> str:
    """papermill's nbclient engine, but its kernel client closes its sockets after each notebook.

    With a kernel it did not start, nbclient keeps the client's channels open when it is done
    (it assumes the caller goes on with them): a worker that briefs thousands of regions on
    one kernel would leak five ZMQ sockets a brief.  Registered once, by name.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class Client(PapermillNotebookClient):  # type: ignore[misc]
        def execute(self, **kwargs: Any) -> Any:
            try:
                return super().execute(**kwargs)
            finally:
                if self.kc is not None:
                    self.kc.stop_channels()
                    self.kc = None

    class Engine(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            kwargs = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
            return Client(nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                          log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file, **kwargs).execute()

    papermill_engines.register("evidencebook", Engine)
    return "evidencebook"


class _Worker:
    """A kernel and (for PDFs) a browser that brief region after region."""

    def __init__(self, settings: Settings, pdf: bool, browser_first: bool = True) -> None:
        self.settings = settings
        self.records = region_records(settings.regions)
        self.pdf = pdf
        # A worker of a fan-out starts Chromium while its kernel starts; one brief on demand starts it
        # once the HTML is written (on two cores it would otherwise slow the HTML down).
        self.printer = _Printer(chromium_path()) if pdf and browser_first else None
        try:
            self.km = _start_kernel(settings.root)
        except BaseException:
            if self.printer is not None:
                self.printer.close()
            raise

    def _execute(self, region_id: str) -> "nbformat.NotebookNode":
        import papermill

        for attempt in (1, 2):
            if not run_sync(self.km.is_alive):  # an earlier brief killed the kernel: start it afresh
                run_sync(self.km.restart_kernel, now=True)
            try:
                # No cwd: the kernel already runs in the project, and papermill would chdir this process.
                return papermill.execute_notebook(
                    str(self.settings.brief_template), None, parameters={"region": region_id, "pdf": self.pdf},
                    engine_name=_papermill_engine(), kernel_name="python3", progress_bar=False, log_output=False,
                    execution_timeout=CELL_TIMEOUT, km=self.km)
            except papermill.PapermillExecutionError as exc:
                raise BriefError(f"brief for {region_id}: cell {exc.cell_index} failed: {exc.ename}: "
                                 f"{exc.evalue}") from exc
            except Exception as exc:  # the kernel died or hung: one more try on a fresh kernel
                if attempt == 2 or run_sync(self.km.is_alive):
                    raise BriefError(f"brief for {region_id}: the kernel failed: {type(exc).__name__}: "
                                     f"{exc}") from exc
        raise AssertionError("unreachable")

    def brief(self, name: str, key: str = "") -> BriefOutput:
        import nbformat

        region = find_region(name, self.records)
        region_id, title = str(region["region_id"]), f"{region['name']}: peer support services brief"
        nb = _scrub(self._execute(region_id), title)
        if key:  # what it shows, so that an unchanged brief is not rendered again (see brief_keys)
            nb.metadata["evidencebook"] = {"brief_key": key}
        body = notebook_html(nb)
        s = self.settings
        book_prefix = Path(os.path.relpath(s.book_html_dir / "book", s.brief_html_dir)).as_posix() + "/"
        page = standalone_page(title, standalone_links(body, book_prefix))
        notebook_text = nbformat.writes(nb)
        _publishable(region_id, [notebook_text, page], s)
        out = BriefOutput(region_id, s.briefs_dir / f"{region_id}.ipynb", s.brief_html_dir / f"{region_id}.html",
                          s.brief_html_dir / f"{region_id}.pdf" if self.pdf else None)
        write_atomic(out.notebook, notebook_text)
        write_atomic(out.html, page)  # readable now; the PDF follows
        if out.pdf is not None:
            if self.printer is None:
                self.printer = _Printer(chromium_path(region_id))
            try:
                write_atomic(out.pdf, self.printer.pdf(page, title))
            except Exception as exc:
                raise BriefError(f"brief for {region_id}: printing the PDF failed: {type(exc).__name__}: "
                                 f"{exc}") from exc
        return out

    def close(self) -> None:
        try:
            if self.printer is not None:
                self.printer.close()
        finally:
            try:
                run_sync(self.km.shutdown_kernel, now=True)
            finally:
                shutil.rmtree(getattr(self.km, "_evidencebook_sockets", ""), ignore_errors=True)


def render_brief(settings: Settings, name: str, pdf: bool = True) -> BriefOutput:
    """Execute the brief template for the region ``name`` means; write its notebook, HTML page and PDF.

    Raises :class:`RegionError` (nothing written, no kernel started) for an unknown region,
    and :class:`BriefError` naming the region if Chromium is missing (before any work), the
    notebook fails to execute, or its output would carry a path or secret of this machine.
    """
    region_id = str(find_region(name, region_records(settings.regions))["region_id"])
    if pdf:
        chromium_path(region_id)
    worker = _Worker(settings, pdf, browser_first=False)
    try:
        return worker.brief(region_id)
    finally:
        worker.close()


# --- fan-out: each worker keeps one kernel (and browser) and runs many briefs on it --------

_WORKERS: dict[tuple[int, str, bool], _Worker] = {}
_WORKERS_LOCK = threading.Lock()


def _close_workers(root: str | None = None) -> int:
    """Shut down this process's brief workers (those of the project at ``root``, or all)."""
    with _WORKERS_LOCK:
        keys = [k for k in _WORKERS if root is None or k[1] == root]
        workers = [_WORKERS.pop(k) for k in keys]
    for worker in workers:
        try:
            worker.close()
        except Exception:  # a kernel already gone at exit
            pass
    return len(workers)


def _worker_for(root: str, pdf: bool) -> _Worker:
    """This thread's worker for the project at ``root``, started on first use and kept for the next brief.

    One per thread, so that a Dask worker with several threads never shares a kernel.
    """
    from multiprocessing import util

    key = (threading.get_ident(), root, pdf)
    with _WORKERS_LOCK:
        worker = _WORKERS.get(key)
        first = not _WORKERS
    if worker is None:
        worker = _Worker(load_settings(Path(root)), pdf)
        with _WORKERS_LOCK:
            _WORKERS[key] = worker
        if first:  # stop kernels and browsers when this process ends (pool workers skip atexit)
            util.Finalize(None, _close_workers, exitpriority=10)
    return worker


def _start_pool_worker(root: str, pdf: bool) -> None:
    """Process-pool initialiser: start the kernel and browser before the first brief arrives."""
    _worker_for(root, pdf)


def _brief_task(root: str, region_id: str, pdf: bool, key: str | None = "") -> BriefOutput:
    """One brief, on the calling worker's kernel: what every executor runs.

    ``key`` None: work the brief's key out here (a forced run leaves it to the workers, which
    do it while their kernel runs, instead of the parent doing all of them before any starts).
    """
    worker = _worker_for(root, pdf)
    if key is None:
        key = brief_keys(worker.settings, [region_id], pdf)[region_id]
    return worker.brief(region_id, key)


def brief_keys(settings: Settings, region_ids: list[str], pdf: bool) -> dict[str, str]:
    """Per region, a hash of everything its brief shows except the evidence version's label.

    Computed here from the same :class:`Brief` parts the template displays (the summary of
    findings once), plus the template and the code that draws and prints it.  A brief whose
    key has not changed shows exactly what it showed: it is not executed again, so a sync
    that touches one state re-renders only the briefs that show the change.
    """
    import dataclasses
    import hashlib

    import pandas as pd

    evidence = _evidence_for(settings)
    # The label names the version a brief was built from; alone it is no reason to rebuild 52 briefs.
    unlabelled = dataclasses.replace(evidence, manifest={**evidence.manifest, "evidence_version": "", "date": "",
                                                         "content_hash": ""})
    judgements = _judgements_for(settings, evidence)
    headline = _on_disk(settings.cache_dir, "headline",
                        str(evidence.manifest.get("content_hash", "")) + _judgements_hash(judgements),
                        lambda: _headline(evidence, judgements))  # as the briefs' kernels keep it
    common = hashlib.sha256()
    for part in (settings.brief_template.read_bytes(), code_version().encode(), str(pdf).encode(),
                 str(headline).encode()):
        common.update(part + b"\0")
    records = {str(r["region_id"]): r for r in region_records(settings.regions)}
    keys = {}
    workforce = _workforce_findings(unlabelled)
    for region_id in region_ids:
        brief = Brief(pd.Series(records[region_id]), unlabelled, settings.site_url, workforce=workforce, pdf=pdf)
        digest = common.copy()
        for part in (brief.header, brief.local_evidence, brief.policy_context, brief.implementation, brief.sources):
            digest.update(str(part()).encode("utf-8") + b"\0")
        keys[region_id] = digest.hexdigest()
    return keys


def _unchanged(settings: Settings, region_id: str, key: str, pdf: bool) -> BriefOutput | None:
    """The brief already written for ``region_id`` if it was built with ``key`` and all its files are there."""
    out = BriefOutput(region_id, settings.briefs_dir / f"{region_id}.ipynb",
                      settings.brief_html_dir / f"{region_id}.html",
                      settings.brief_html_dir / f"{region_id}.pdf" if pdf else None, rebuilt=False)
    try:
        written = json.loads(out.notebook.read_text(encoding="utf-8"))["metadata"]["evidencebook"]["brief_key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = [out.html, *([out.pdf] if out.pdf else [])]
    return out if written == key and all(f.is_file() for f in files) else None


def _prune(settings: Settings, keep: set[str]) -> None:
    """Remove briefs of regions that no longer exist, so the book only shows current regions."""
    for folder, suffixes in ((settings.briefs_dir, (".ipynb",)), (settings.brief_html_dir, (".html", ".pdf"))):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.suffix in suffixes and path.stem not in keep and not path.name.startswith("."):
                    path.unlink()


def render_all_briefs(settings: Settings, progress: bool = True, workers: int = 2,
                      executor: Executor | None = None, regions: list[str] | None = None,
                      pdf: bool = True, force: bool = False) -> tuple[list[BriefOutput], dict[str, str]]:
    """Every region's brief (or those ``regions`` name), on workers that each reuse one kernel.

    A brief whose content has not changed since it was written (:func:`brief_keys`) is kept
    as it is, unless ``force``.

    By default ``workers`` processes; pass any ``concurrent.futures.Executor`` (for example
    :func:`dask_executor`) to run elsewhere: its workers start their kernel on their first
    brief.  Keeps going past a failing region; returns the briefs written and, per failed
    region, why.  A full run also removes briefs of regions no longer configured.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm import tqdm

    records = region_records(settings.regions)
    wanted = ([r["region_id"] for r in records] if regions is None
              else list(dict.fromkeys(find_region(n, records)["region_id"] for n in regions)))
    if pdf:
        chromium_path()
    root = str(settings.root)
    keys: dict[str, str | None] = dict.fromkeys(wanted) if force else dict(brief_keys(settings, wanted, pdf))
    done, failed = [], {}
    todo = []
    for region_id in wanted:
        kept = None if force else _unchanged(settings, region_id, str(keys[region_id]), pdf)
        if kept is None:
            todo.append(region_id)
        else:
            done.append(kept)
    own = executor is None
    # forkserver: workers start clean, whatever threads this process runs (a Dask client, tqdm).
    pool = executor or ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))),
                                           mp_context=get_context("forkserver"),
                                           initializer=_start_pool_worker, initargs=(root, pdf))
    try:
        futures = {pool.submit(_brief_task, root, region_id, pdf, keys[region_id]): region_id for region_id in todo}
        for future in tqdm(as_completed(futures), total=len(futures), desc="briefs", unit="region",
                           disable=not progress):
            try:
                done.append(future.result())
            except Exception as exc:  # one region's failure never stops the others
                failed[futures[future]] = str(exc)
    finally:
        if own:
            pool.shutdown(wait=True)
    if regions is None:
        _prune(settings, set(wanted))
    return sorted(done, key=lambda o: o.region_id), dict(sorted(failed.items()))


@contextmanager
def dask_executor(address: str, settings: Settings, timeout: float = 20) -> Iterator[Executor]:
    """A ``concurrent.futures`` executor on the Dask cluster whose scheduler is at ``address``.

    Each Dask worker thread starts one kernel (and browser) on its first brief and keeps it
    for the next; they are shut down when the block ends.  The workers must see the project
    folder at the same path (a shared file system, as on a LocalCluster or an HPC cluster).
    """
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BriefError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    try:
        yield client.get_executor(pure=False)  # a brief writes files: never reuse a result by key
    finally:
        try:  # a worker that died took its kernel with it: nothing to close there
            client.run(_close_workers, str(settings.root), on_error="ignore")
        finally:
            client.close()
