"""Regional briefs: what a brief shows.

``Brief`` computes what a brief shows (pure functions over the evidence); the template
``notebooks/brief.ipynb`` only calls it.  Evidence, signed judgements and the summary of
findings are loaded once per evidence version in each kernel (and the summary kept on disk for
every later kernel): that loading is here too.  The brief's words (the plain-language bottom
line, the national summary, the headline table) are in :mod:`._brief_text`; the levers a state
controls (its facts per lever, Medicaid coverage, the lever panel) in :mod:`._brief_levers`.
How a brief becomes a page and a PDF is in :mod:`._brief_page`; running the template for one
region or for many is in :mod:`._brief_runs`.

Heavy imports (pandas) happen inside the functions that need them, so that naming a region,
and a worker's start, stay cheap.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from ._brief_levers import LeverPanel, StatePolicy, fact_html
from ._brief_text import (PLAIN, count_words, finding_result, join_words, national_summary,
                          optional_item, result_words, shorten)
from ._config import Settings, load_settings
from ._errors import EvidencebookError
from ._regions import STATE_NAMES, find_region, region_records

if TYPE_CHECKING:
    import pandas as pd

    from ._display import HTML
    from ._evidence import Evidence
    from ._policy import Coverage

__all__ = ["Brief"]

# The page shows at most this many recommendations; the printed brief holds back what two pages cannot hold,
# the least fitting first, and says what and where (see _brief_page.fit_two_pages).
MAX_RECOMMENDATIONS = 12

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


# --- what each region's brief reads, hashed: a brief is made again only when its inputs change ----

def _row_hashes(frame: "pd.DataFrame") -> "tuple[bytes, Any]":
    """A frame's columns and dtypes (bytes) and one 64-bit hash per row (a numpy array, in row order)."""
    import pandas as pd

    head = "\0".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode("utf-8")
    return head, pd.util.hash_pandas_object(frame, index=False).to_numpy()


def frame_digest(frame: "pd.DataFrame") -> str:
    """A hash of a whole frame: its columns, dtypes and every cell, in row order."""
    head, rows = _row_hashes(frame)
    return hashlib.sha256(head + b"\0" + rows.tobytes()).hexdigest()


def region_input_keys(evidence: "Evidence", records: "list[Mapping[str, Any]]") -> dict[str, str]:
    """Per region (``records`` as :func:`._regions.region_records` gives them), a hash of the evidence slices its
    brief reads apart from what every brief reads: its own regions row and its state's sub-state rows, the policy
    facts of its state and the national (``US``) facts, and its studies (:func:`._regions.region_studies`) with
    all their findings.  Every row is hashed once (pandas' row hashing), then each region's rows are picked, so
    52 regions cost about one pass over the tables.  What every brief reads (the summary of findings, the
    judgements, the workforce recommendations, the manifest's counts, the code) is the caller's to add."""
    from ._regions import region_studies

    studies = evidence.studies.reset_index(drop=True)  # positions: region_studies keeps these labels
    outcomes, policy = evidence.outcomes, evidence.policy.reset_index(drop=True)
    study_head, study_rows = _row_hashes(studies)
    outcome_head, outcome_rows = _row_hashes(outcomes)
    policy_head, policy_rows = _row_hashes(policy)
    heads = b"\0".join((study_head, outcome_head, policy_head))
    by_state = policy["state_code"].astype(str)
    national = policy_rows[(by_state == "US").to_numpy()].tobytes()
    finding_studies = outcomes["study_id"]
    keys = {}
    for record in records:
        state = str(record["state_code"])
        substate = [dict(r) for r in records if r["kind"] == "sub-state" and r["state_code"] == state]
        digest = hashlib.sha256(heads)
        digest.update(json.dumps([dict(record), substate], sort_keys=True, default=str).encode("utf-8") + b"\0")
        digest.update(policy_rows[(by_state == state).to_numpy()].tobytes() + b"\0" + national + b"\0")
        local = region_studies(studies, record)
        digest.update(study_rows[local.index.to_numpy()].tobytes() + b"\0")
        if "in_region" in local:  # a sub-state region lists its own studies first
            digest.update(local["in_region"].to_numpy(dtype=bool).tobytes() + b"\0")
        digest.update(outcome_rows[finding_studies.isin(set(local["study_id"])).to_numpy()].tobytes())
        keys[str(record["region_id"])] = digest.hexdigest()
    return keys



@dataclass(frozen=True)
class Brief:
    """What the brief for one region shows.

    ``region`` is a row of the regions table (a state, DC or sub-state region); a sub-state
    region inherits its state's levers and studies, and shows the facts and studies about it first.
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
    # The day the brief is built: a deadline before it is flagged as passed (None: today).
    today: date | None = None
    # The sub-state regions configured (rows as region_records gives them); None: those of the evidence tables.
    substate: "tuple[Mapping[str, Any], ...] | None" = None
    # What is the same for every region (national_summary, as JSON: the national sentences, each question's
    # certainty, the headline table): computed once when many briefs are drawn.
    national: str | None = None

    @classmethod
    def for_region(cls, name: str, root: Path | None = None, pdf: bool = True) -> "Brief":
        import pandas as pd

        settings = load_settings(root)
        records = region_records(settings.regions)
        region = pd.Series(find_region(name, records))
        evidence = evidence_for(settings)
        return cls(region, evidence, settings.site_url, settings.cache_dir, pdf=pdf,
                   judgements=judgements_for(settings, evidence),
                   substate=tuple(r for r in records if r["kind"] == "sub-state"))

    # -- small facts ------------------------------------------------------------------------

    @property
    def region_id(self) -> str:
        return str(self.region["region_id"])

    @property
    def state_code(self) -> str:
        return str(self.region["state_code"])

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state_code]

    @property
    def is_substate(self) -> bool:
        return self.region["kind"] == "sub-state"

    @property
    def counties(self) -> list[str]:
        return [c for c in str(self.region.get("counties", "") or "").split("|") if c]

    @property
    def title(self) -> str:
        return f"{self.region['name']}: peer support services brief"

    @property
    def build_date(self) -> date:
        return self.today or date.today()

    @property
    def evidence_date(self) -> str:
        """The date of the evidence version: what 'not documented as of' means."""
        return str(self.evidence.manifest.get("date", "") or "")

    def book_href(self, page: str) -> str:
        """A page of the full review: on the published site if configured, else relative to the book's briefs."""
        if self.site_url:
            return f"{self.site_url.rstrip('/')}/book/{page}"
        return f"../{page}"

    @property
    def brief_url(self) -> str:
        """The web address of the full brief (this page on the published site); '' when no site is configured."""
        return f"{self.site_url.rstrip('/')}/book/briefs/{self.region_id}.html" if self.site_url else ""

    def _where(self) -> str:
        """Where the full brief is, in words: its web address, or its place in the review's site."""
        return self.brief_url or f"briefs/{self.region_id}.html in the review's site (no web address is configured)"

    @cached_property
    def _national(self) -> dict[str, Any]:
        if self.national is not None:
            return dict(json.loads(self.national))
        digest = str(self.evidence.manifest.get("content_hash", ""))
        if not digest:
            return dict(json.loads(national_summary(self.evidence, self.judgements)))
        digest += judgements_hash(self.judgements)
        text = kernel_cached(("national", digest, str(self.cache_dir)), lambda: kept_on_disk(
            self.cache_dir, "national", digest, lambda: national_summary(self.evidence, self.judgements)))
        return dict(json.loads(text))

    # -- the parts of the brief ---------------------------------------------------------------

    def header(self) -> "HTML":
        from ._display import HTML, e

        r = self.region
        if self.is_substate:
            scope = f"{e(r['name'])}, a region of {e(self.state_name)}"
            if self.counties:
                scope += f" ({e(join_words(self.counties))} {'county' if len(self.counties) == 1 else 'counties'})"
        else:
            scope = e(r["name"])
        # The PDF sits beside the page: in _build/briefs/, and in the site (the book copies it there).  How many
        # pages it has is known once it is printed: the printer writes the count into the span.
        return HTML(f'<p class="eb-brief-lede">What the evidence says about peer support services in behavioral '
                    f"health (peer support specialists, recovery coaches, family and youth peers), and what is known "
                    f"for {scope}.</p><p class=\"eb-version\"><strong>{e(self.evidence.version_label)}</strong></p>"
                    + (f'<p class="eb-screen-only"><a class="eb-pdf-link" href="{e(self.region_id)}.pdf" download>'
                       'Download this brief as a PDF (<span class="eb-pdf-pages">two pages</span>)</a></p>'
                       if self.pdf else ""))

    # The bottom line ----------------------------------------------------------------------

    def bottom_line_sentences(self) -> list[str]:
        """At most three plain sentences: what peer support does and how sure the evidence is (the same summary
        of findings as the chapters), then what is specific to this region (its studies and what they found,
        and Medicaid coverage in its state)."""
        return [*self._national["sentences"][:2], self._local_sentence()]

    def bottom_line(self) -> "HTML":
        from ._display import HTML, e

        return HTML('<p class="eb-bottom-line">' + " ".join(e(s) for s in self.bottom_line_sentences()) + "</p>")

    def _local_sentence(self) -> str:
        # The brief names its region everywhere: here 'local' is shorter (and a long name lengthens nothing).
        where = "here"
        studies = self.local_results()
        if self.is_substate:
            mine = [s for s in studies if s["mine"]]
            studies = mine or studies
            where = "here" if mine else "in the state"
        else:  # a state whose studies all come from one of its regions says which
            names = {str(r["region_id"]): str(r["name"]) for r in self.state_regions}
            homes = {str(s["reports"].iloc[0].get("region", "")) for s in studies}
            if len(homes) == 1 and next(iter(homes)) in names:
                where = f"in {names[next(iter(homes))]}"
        if not studies:
            here = {"sub-state": "this region", "district": "DC"}.get(str(self.region["kind"]), "this state")
            local = f"No study from {here} is in the review yet"
        else:
            directions: dict[str, set[str]] = {}  # per domain, the directions its local findings point
            for s in studies:
                for f in s["findings"]:
                    directions.setdefault(f["domain"], set()).add(f["direction"])
            found = [result_words(d, next(iter(ds))) if len(ds) == 1 else f"mixed results on {PLAIN[d][0]}"
                     for d, ds in directions.items()][:3]
            advice = sum(s["recommendations"] for s in studies)
            what = (f"found {join_words(found)}" if found else
                    f"gave {count_words(advice, 'piece')} of advice for the peer workforce" if advice else
                    "described local work, without results")
            number, noun = count_words(len(studies), "study").split(" ", 1)
            local = f"{number.capitalize()} {noun} {where} {what}"
        return f"{local}; {self._coverage_words()}."

    def _coverage_words(self) -> str:
        """Medicaid coverage in the state, in a few plain words: the firmer status first, the other in brackets
        ('it' is peer support, the subject of the whole bottom line)."""
        from ._policy import CONFLICTING, COVERED, NOT_COVERED, SERVICES

        status = {service: c.status for service, c in self.coverage().items()}
        firm = [COVERED, NOT_COVERED, CONFLICTING]
        if len(set(status.values())) == 1:
            return {COVERED: "Medicaid pays for it", NOT_COVERED: "Medicaid does not pay for it",
                    CONFLICTING: "sources clash on whether Medicaid pays for it"}.get(
                        status["MH"], "we found no source on whether Medicaid pays for it")
        first, second = sorted(status, key=lambda s: firm.index(status[s]) if status[s] in firm else len(firm))
        one, other = SERVICES[first], SERVICES[second]
        lead = {COVERED: f"Medicaid pays for it in {one} care",
                NOT_COVERED: f"Medicaid does not pay for it in {one} care",
                CONFLICTING: f"sources clash on whether Medicaid pays for it in {one} care"}[status[first]]
        if status[first] == COVERED and status[second] == NOT_COVERED:
            return f"{lead}, not in {other} care"
        return lead + (f" (sources clash on {other})" if status[second] == CONFLICTING
                       else f" (not in {other} care)" if status[second] == NOT_COVERED else f" (no source on {other})")

    def headline(self) -> "HTML":
        """The summary of findings: the same for every region, so computed once per evidence version (with the
        bottom line's national sentences, from the same summary)."""
        from ._display import HTML

        return HTML(self._national["headline"])

    # Local results ------------------------------------------------------------------------

    def local_studies(self) -> "pd.DataFrame":
        """This region's studies (see :func:`._regions.region_studies`, the definition regions.csv counts too)."""
        from ._regions import region_studies

        return region_studies(self.evidence.studies, self.region)

    def local_results(self) -> list[dict[str, Any]]:
        """One entry per local study (its reports joined: two papers on one trial are one study), with what each
        of its findings found: ``study`` (its first report's id), ``reports`` (rows), ``mine`` (in this sub-state
        region), ``findings`` (outcome, domain, comparison, direction 'for'/'against'/'none', statistic) and
        ``recommendations`` and ``descriptions`` (how many of its findings advise or describe)."""
        return list(self._local_results)  # a new list: a caller that filters it leaves the next caller's whole

    @cached_property
    def _local_results(self) -> list[dict[str, Any]]:
        # The page, its bottom line and the region's JSON all read these: computed once per brief, with one pass
        # of pandas over the region's findings (not one per study: at 2,000 studies that was seconds a region).
        from ._synthesis import comparison_types

        local = self.local_studies()
        if local.empty:
            return []
        key = local["report_of"].where(local["report_of"].ne(""), local["study_id"]) if "report_of" in local \
            else local["study_id"]
        outcomes = self.evidence.outcomes
        found = outcomes[outcomes["study_id"].isin(set(local["study_id"]))]
        found = found.assign(comparison_type=comparison_types(found))
        study_of = dict(zip(local["study_id"], key))
        rated_rows: dict[Any, list[dict[str, Any]]] = {}  # per study, its findings in the table's order
        other_rows: dict[Any, list[str]] = {}
        for row, is_rated in zip(found.to_dict("records"), found["domain"].isin(PLAIN)):
            study = study_of[row["study_id"]]
            if is_rated:
                rated_rows.setdefault(study, []).append(row)
            else:
                other_rows.setdefault(study, []).append(str(row["outcome"]).lower())
        entries = []
        for study in dict.fromkeys(key):
            reports = local[key == study]
            findings = []
            for row in rated_rows.get(study, []):
                direction, stat = finding_result(row)
                findings.append({"outcome": row["outcome"], "domain": row["domain"], "direction": direction,
                                 "comparison": row["comparison_type"], "statistic": stat,
                                 "finding_id": row["finding_id"]})
            other = other_rows.get(study, [])
            advice = sum(o.startswith("recommendation") for o in other)
            entries.append({
                "study": study, "reports": reports, "findings": findings,
                "mine": bool(reports["in_region"].any()) if "in_region" in reports else False,
                "recommendations": advice, "descriptions": len(other) - advice})
        return entries

    def local_evidence(self) -> "HTML":
        """Each local study with what it found: per finding, the direction in plain words, the estimate or the
        statistic its source reports, and the certainty of its question (outcome and comparison) across the
        review."""
        from ._display import HTML, e, link, record_url, study_label

        entries = self.local_results()
        if not entries:
            return HTML(f"<p><strong>No studies from {e(self.state_name)} are in the evidence base yet.</strong> "
                        "The findings below come from other states and countries and are the best available "
                        "guide.</p>")
        certainty = self._national["certainty"]
        items = []
        for number, s in enumerate(entries):
            reports = s["reports"]
            first = reports.iloc[0]
            # The authors, else the title shortened at a word (study_label cuts it at 40 characters, mid-word).
            label = " + ".join(link(study_label(r.authors, r.title, r.year) if str(r.authors or "") else
                                    f"{shorten(r.title, 70)} {r.year or ''}".strip(), record_url(r.doi, r.url))
                               for r in reports.itertuples())
            where = " (this region)" if s["mine"] else (
                f" ({e(first['region'].replace('-', ' ').title())})" if self.region["kind"] != "sub-state"
                and str(first.get("region", "")) else "")
            results = "".join(
                f"<li>{e(f['outcome'])}: <strong>{e(result_words(f['domain'], f['direction']))}</strong>"
                + (f" ({e(f['statistic'])})" if f["statistic"] else "")
                + "; certainty of this question across the review: "
                + certainty.get(f"{f['domain']}|{f['comparison']}", "not rated") + "</li>"
                for f in s["findings"])
            extra = join_words([count_words(s["recommendations"], "recommendation") if s["recommendations"] else "",
                                count_words(s["descriptions"], "description") if s["descriptions"] else ""])
            if extra:
                results += f"<li>{e(extra.capitalize())} of the peer workforce (not rated: no direction of effect)</li>"
            attrs = optional_item(10 * number + 2, "local study|local studies") if number >= 3 else ""
            items.append(f"<li{attrs}>{label}{where}: {e(shorten(first['design'], 90))}"
                         f"<ul>{results}</ul></li>")
        return HTML('<ul class="eb-local">' + "".join(items) + "</ul>")

    # The levers --------------------------------------------------------------------------

    def policy_facts(self) -> "pd.DataFrame":
        """The state's facts, by topic (Medicaid first), newest first within a topic."""
        return self._state_policy.facts.copy()

    @cached_property
    def _state_policy(self) -> StatePolicy:  # several parts of the brief read it
        return StatePolicy(self.evidence.policy, self.state_code, tuple(self.state_regions))

    @property
    def state_regions(self) -> list[Mapping[str, Any]]:
        """The sub-state regions of this region's state."""
        rows = (self.substate if self.substate is not None
                else tuple(self.evidence.regions[self.evidence.regions["kind"] == "sub-state"].to_dict("records")))
        return [r for r in rows if r["state_code"] == self.state_code]

    def region_facts(self) -> "pd.DataFrame":
        """The facts about this sub-state region (empty for a state)."""
        return self._state_policy.region_facts(self.region_id)

    def statewide_facts(self) -> "pd.DataFrame":
        """The state's facts that name none of its sub-state regions."""
        return self._state_policy.statewide_facts()

    def coverage(self) -> "dict[str, Coverage]":
        """Medicaid coverage of peer support in the region's state, per service (``MH``, ``SUD``)."""
        return self._state_policy.coverage()

    def lever_facts(self) -> "dict[str, pd.DataFrame]":
        """The statewide facts about each lever but coverage (which :meth:`coverage` reads), newest first."""
        return self._state_policy.lever_facts()

    def other_facts(self) -> "pd.DataFrame":
        """Statewide facts on no lever and not read as coverage: programmes, laws, other."""
        return self._state_policy.other_facts()

    def _fact_html(self, f: Mapping[str, Any]) -> str:
        return fact_html(f, self.build_date)

    def levers(self) -> "HTML":
        """What this state can do: one row per lever with the state's facts (status, date, source; a passed date
        and disagreeing sources flagged; 'not documented' with the evidence version's date where nothing is
        known) and a national line where a sourced national fact exists."""
        return LeverPanel(self._state_policy, self.state_name, self.evidence_date, self.build_date,
                          str(self.region["name"]) if self.is_substate else "").html()

    # Regions, programmes and laws -----------------------------------------------------------

    def local_context(self) -> "HTML":
        """What is specific below or beside the levers: for a sub-state region, the facts and studies about it;
        for a state, its sub-state regions and their facts; then the state's programmes, laws and other facts."""
        from ._display import HTML, e

        parts = []
        if self.is_substate:
            mine = self.region_facts()
            counties = (f" ({e(join_words(self.counties))} {'county' if len(self.counties) == 1 else 'counties'})"
                        if self.counties else "")
            studies = [s for s in self.local_results() if s["mine"]]
            parts.append(f"<p><strong>{e(self.region['name'])}{counties}:</strong> "
                         f"{count_words(len(mine), 'fact')} and {count_words(len(studies), 'study')} "
                         "in this review are about this region.</p>")
            if not mine.empty:
                parts.append("<ul>" + "".join(f"<li{optional_item(10 * i + 3, 'local fact|local facts') if i >= 3 else ''}>"
                                              f"{self._fact_html(f)}</li>"
                                              for i, f in enumerate(mine.to_dict('records'))) + "</ul>")
        else:
            regions = self.state_regions
            if regions:
                items = []
                for r in regions:
                    facts = self._state_policy.regional.get(str(r["region_id"]))
                    counties = [c for c in str(r.get("counties", "") or "").split("|") if c]
                    where = f" ({join_words(counties)} {'county' if len(counties) == 1 else 'counties'})" \
                        if counties else ""
                    listed = "; ".join(f"{f['fact_id']}: {shorten(f['fact'], 70)} ({shorten(f['value'], 90)})"
                                       for f in facts.to_dict("records")) if facts is not None else ""
                    items.append(f"<li><strong>{e(r['name'])}{e(where)}</strong>, which has its own brief"
                                 + (f": {e(listed)}" if listed else ": no fact names it yet") + ".</li>")
                parts.append(f"<p>Regions of {e(self.state_name)} in this review:</p><ul>{''.join(items)}</ul>")
        other = self.other_facts()
        if not other.empty:
            parts.append(f"<p>Programmes, laws and other facts for {e(self.state_name)}:</p><ul>"
                         + "".join(f"<li{optional_item(10 * i + 3, 'local fact|local facts') if i >= 1 else ''}>"
                                   f"{self._fact_html(f)}</li>" for i, f in enumerate(other.to_dict('records')))
                         + "</ul>")
        if not parts:
            parts.append(f"<p>No sub-state region, programme or law of {e(self.state_name)} is recorded in the sources "
                         f"reviewed as of {e(self.evidence_date)}.</p>")
        return HTML("".join(parts))

    # Recommendations ------------------------------------------------------------------------

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
        state = self.state_code
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
            f"<li{optional_item(10 * i + 4, 'recommendation|recommendations') if i >= 1 else ''}>"
            f"<strong>{e(str(r.outcome).split(':', 1)[-1].strip().capitalize())}</strong>: "
            f"“{e(shorten(r.quote, 240))}” ({link(r.title, r.source_url or r.url)}"
            f"{'; ' + e(r.fit) if r.fit else ''})</li>" for i, r in enumerate(shown.itertuples()))
        return HTML("<p>What studies and regional work on the peer workforce recommend, those that fit "
                    f"{e(self.region['name'])} first:</p><ul>{items}</ul>"
                    + _more(len(found) - len(shown), "recommendations, and the barriers they answer,",
                            self.book_href("implementation.html")))

    def sources(self) -> "HTML":
        from ._display import HTML, e
        from ._publish import REVIEW_TITLE, cite_as

        m = self.evidence.manifest
        review = self.book_href("intro.html") if not self.site_url else self.site_url.rstrip("/") + "/"
        cite = cite_as(self.evidence.version_label, self.brief_url, part=self.title, built=self.build_date)
        address = (f'<a class="eb-brief-url" href="{e(self.brief_url)}">{e(self.brief_url)}</a>' if self.brief_url
                   else e(self._where()))
        return HTML(f"<p>{e(self.evidence.version_label)}; this brief was built on {e(self.build_date.isoformat())}. "
                    f"It is built from {m['counts']['included']} included sources, {m['counts']['outcomes']} "
                    f"findings and {m['counts']['policy_facts']} policy facts, each with its quoted source. "
                    f"The full brief: {address}. The full review, with every study, quote and reference: "
                    f'<a class="eb-book-link eb-review-link" href="{e(review)}">{e(REVIEW_TITLE)}</a>. '
                    "This brief is rebuilt whenever what it shows changes.</p>"
                    f'<p class="eb-held-back" data-eb-where="{e(self._where())}" data-eb-href="{e(self.brief_url)}"></p>'
                    f'<p class="eb-cite"><strong>Cite as:</strong> {e(cite)}</p>')
