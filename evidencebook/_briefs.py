"""Regional briefs: what a brief shows.

``Brief`` computes what a brief shows (pure functions over the evidence); the template
``notebooks/brief.ipynb`` only calls it.  Evidence, signed judgements and the summary of
findings are loaded once per evidence version in each kernel (and the summary kept on disk for
every later kernel).  How a brief becomes a page and a PDF is in :mod:`._brief_page`; running
the template for one region or for many is in :mod:`._brief_runs`.

Heavy imports (pandas) happen inside the functions that need them, so that naming a region,
and a worker's start, stay cheap.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from ._config import Settings, load_settings
from ._errors import EvidencebookError
from ._policy import as_of_key  # noqa: F401  (moved there; still importable from here)
from ._regions import STATE_NAMES, find_region, region_records

if TYPE_CHECKING:
    import pandas as pd

    from ._display import HTML
    from ._evidence import Evidence
    from ._policy import Coverage

__all__ = ["Brief"]

HEADLINE_DOMAINS = ["recovery", "hope", "empowerment", "quality of life", "hospitalisation", "crisis/ED use",
                    "engagement", "substance use", "symptoms", "cost"]
POLICY_TOPICS = ["Medicaid coverage", "certification and training", "workforce", "programmes", "other"]
# Two printed pages hold about this much; the rest is one link away, in the full review.
MAX_LOCAL_STUDIES = 6
MAX_POLICY_FACTS = 14
MAX_RECOMMENDATIONS = 5

T = TypeVar("T")


# --- the evidence, loaded once per evidence version in each kernel -----------------------

_CACHE: dict[tuple[str, ...], Any] = {}


def content_hash(settings: Settings) -> str:
    from ._evidence import read_manifest

    try:
        return str(read_manifest(settings)["content_hash"])
    except (EvidencebookError, KeyError):
        return ""  # load_evidence will say what is wrong


def kernel_cached(key: tuple[str, ...], make: Callable[[], T]) -> T:
    """``make()`` once per key; keys carry the evidence hash, so a new version is recomputed."""
    if key not in _CACHE:
        if len(_CACHE) > 32:  # a long-lived kernel that saw many versions: forget the old ones
            _CACHE.clear()
        _CACHE[key] = make()
    return _CACHE[key]


def evidence_for(settings: Settings) -> "Evidence":
    from ._evidence import load_evidence

    digest = content_hash(settings)
    if not digest:
        return load_evidence(settings)
    return kernel_cached(("evidence", str(settings.root), digest), lambda: load_evidence(settings))


def judgements_for(settings: Settings, evidence: "Evidence") -> "pd.DataFrame":
    """The signed judgements and their status, once per evidence version and judgements file."""
    from ._certainty import signed_judgements

    path = settings.evidence / "judgements.toml"
    stamp = path.read_bytes() if path.is_file() else b""
    key = ("judgements", str(settings.root), content_hash(settings), hashlib.sha256(stamp).hexdigest())
    return kernel_cached(key, lambda: signed_judgements(settings, evidence.outcomes, evidence.studies))


def judgements_hash(judgements: "pd.DataFrame | None") -> str:
    if judgements is None or judgements.empty:
        return ""
    return hashlib.sha256(judgements.to_csv(index=False).encode("utf-8")).hexdigest()[:16]


def kept_on_disk(folder: Path | None, name: str, evidence_hash: str, make: Callable[[], str]) -> str:
    """``make()`` once per evidence version and code version, kept in ``folder`` for every later brief
    (other kernels, other runs): a brief on demand then skips the summary of findings."""
    from ._cache import DiskCache

    return DiskCache(folder).get(name, evidence_hash, make) if evidence_hash else make()


def _truncate(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _more(count: int, what: str, href: str) -> str:
    from ._display import e

    return (f'<p class="eb-more">And {count} more {what} in <a class="eb-book-link" href="{e(href)}">'
            "the full review</a>.</p>") if count > 0 else ""


# --- what a brief shows -------------------------------------------------------------------

def workforce_findings(evidence: "Evidence") -> "pd.DataFrame":
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
        evidence = evidence_for(settings)
        return cls(region, evidence, settings.site_url, settings.cache_dir, pdf=pdf,
                   judgements=judgements_for(settings, evidence))

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
            return headline_html(self.evidence, self.judgements)
        digest += judgements_hash(self.judgements)
        return kernel_cached(("headline", digest, str(self.cache_dir)), lambda: HTML(
            kept_on_disk(self.cache_dir, "headline", digest, lambda: headline_html(self.evidence, self.judgements))))

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

        from ._display import HTML, e, html_table, link, record_url, study_label

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
                "source": " + ".join(link(study_label(s.authors, s.title, s.year), record_url(s.doi, s.url))
                                     for s in reports.itertuples())
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

        found = self.workforce if self.workforce is not None else workforce_findings(self.evidence)
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


def headline_html(evidence: "Evidence", judgements: "pd.DataFrame | None" = None) -> "HTML":
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


