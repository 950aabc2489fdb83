"""Regional briefs: one parameterised notebook, executed by papermill for each region.

``Brief`` computes what a brief shows (pure functions over the evidence); the template
``notebooks/brief.ipynb`` only calls it.  ``render_brief`` executes the template for one
region into the book's briefs section and writes a standalone HTML page beside the book.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nbformat
import pandas as pd

from ._config import Settings, load_settings
from ._display import HTML, e, html_table, link
from ._errors import BriefError
from ._evidence import Evidence, load_evidence
from ._regions import resolve_region
from ._synthesis import summary_of_findings

__all__ = ["Brief", "BriefOutput", "render_all_briefs", "render_brief"]

HEADLINE_DOMAINS = ["recovery", "hope", "empowerment", "quality of life", "hospitalisation", "crisis/ED use",
                    "engagement", "substance use", "symptoms", "cost"]


@lru_cache(maxsize=4)
def _evidence_at(root: str) -> Evidence:
    return load_evidence(load_settings(Path(root)))


@dataclass(frozen=True)
class Brief:
    """What the brief for one region shows."""

    region: pd.Series
    evidence: Evidence
    site_url: str = ""

    @classmethod
    def for_region(cls, name: str, root: Path | None = None) -> "Brief":
        settings = load_settings(root)
        evidence = _evidence_at(str(settings.root))
        return cls(resolve_region(name, evidence.regions), evidence, settings.site_url)

    # -- the parts of the brief -------------------------------------------------------

    @property
    def state_name(self) -> str:
        regions = self.evidence.regions
        return str(regions.loc[regions["region_id"] == (self.region["parent"] or self.region["region_id"]), "name"].iloc[0])

    def header(self) -> HTML:
        r = self.region
        scope = (f"{e(r['name'])}, a region of {e(self.state_name)}" if r["kind"] == "sub-state" else e(r["name"]))
        return HTML(f'<p class="eb-brief-lede">What the evidence says about peer support services in behavioral '
                    f"health (peer support specialists, recovery coaches, family and youth peers), and what is known "
                    f"for {scope}.</p><p><strong>{e(self.evidence.version_label)}</strong></p>")

    def headline(self) -> HTML:
        outcomes, studies = self.evidence.outcomes, self.evidence.studies
        sof = summary_of_findings(outcomes, studies, [d for d in HEADLINE_DOMAINS if d in set(outcomes["domain"])])
        sof["votes"] = [f"{a} of {b}" for a, b in zip(sof["votes_favouring"], sof["votes_total"])]
        table = html_table(sof, {"domain": "Outcome domain", "findings": "Findings", "sources": "Sources",
                                 "votes": "Point to benefit", "proposed_certainty": "Certainty (proposed)"})
        return HTML("<p>Findings from reviews and studies in the United States and elsewhere. <em>Point to "
                    "benefit</em> counts the findings whose direction favours peer support (vote counting, not a "
                    "pooled effect). Certainty is proposed from the coding and awaits the review team's sign-off; "
                    "it is lowered for every domain because risk of bias is not yet assessed.</p>" + table)

    def local_studies(self) -> pd.DataFrame:
        studies = self.evidence.included
        local = studies[studies["state_codes"].str.split("|").map(lambda codes: self.region["state_code"] in codes)]
        if self.region["kind"] == "sub-state":
            local = local.assign(in_region=local["region"].eq(self.region["region_id"]))
            local = local.sort_values("in_region", ascending=False)
        return local

    def local_evidence(self) -> HTML:
        local = self.local_studies()
        if local.empty:
            return HTML(f"<p><strong>No studies from {e(self.state_name)} are in the evidence base yet.</strong> "
                        "The findings above come from other states and countries and are the best available "
                        "guide.</p>")
        outcomes = self.evidence.outcomes
        rows = pd.DataFrame({
            "source": [link(f"{s.authors or s.title} {s.year}".strip(), s.url) for s in local.itertuples()],
            "design": local["design"],
            "findings": ["; ".join(outcomes.loc[outcomes["study_id"] == k, "outcome"]) for k in local["study_id"]],
        })
        return html_table(rows, {"source": "Source", "design": "Design", "findings": "Outcomes studied"},
                          safe=("source",))

    def policy_context(self) -> HTML:
        policy = self.evidence.policy
        facts = policy[policy["state_code"] == self.region["state_code"]]
        notes = []
        if not (facts["topic"] == "Medicaid coverage").any():
            notes.append(f"Medicaid coverage of peer support in {self.state_name} is not yet documented in the "
                         "evidence base.")
        if facts.empty:
            return HTML("".join(f"<p>{e(n)}</p>" for n in notes) + "<p>No state policy facts are recorded yet.</p>")
        facts = facts.sort_values(["topic", "as_of"], ascending=[True, False])
        table = html_table(facts, {"topic": "Topic", "fact": "Fact", "value": "Value", "as_of": "As of",
                                   "source_type": "Source"}, links={"source_type": "source_url"})
        return HTML("".join(f"<p>{e(n)}</p>" for n in notes) +
                    "<p>Every fact is shown with its date; where sources disagree, all are listed, newest first.</p>"
                    + table)

    def implementation(self) -> HTML:
        outcomes = self.evidence.outcomes
        workforce = outcomes[outcomes["domain"] == "workforce"].join(
            self.evidence.studies.set_index("study_id")[["title", "region", "url"]], on="study_id")
        if workforce.empty:
            return HTML("<p>No implementation findings are coded yet.</p>")
        workforce = workforce.assign(local=workforce["region"].eq(self.region["region_id"]))
        items = "".join(f"<li>“{e(r.quote)}” ({link(r.title, r.url)})</li>"
                        for r in workforce.sort_values("local", ascending=False).itertuples())
        return HTML("<p>What regional work on the peer workforce recommends:</p><ul>" + items + "</ul>")

    def sources(self) -> HTML:
        review_url = (self.site_url.rstrip("/") + "/intro.html") if self.site_url else "../intro.html"
        return HTML(f"<p>{e(self.evidence.version_label)}. Counts: {self.evidence.manifest['counts']['included']} "
                    f"included sources, {self.evidence.manifest['counts']['outcomes']} findings, "
                    f"{self.evidence.manifest['counts']['policy_facts']} policy facts. "
                    f'The full review, with every study, quote and reference: <a href="{e(review_url)}">'
                    "Peer support workforce: a living evidence review</a>.</p>")


@dataclass(frozen=True)
class BriefOutput:
    region_id: str
    notebook: Path
    html: Path


def _scrub(nb: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """Title the brief, and keep only metadata a reader needs (no paths of the build machine)."""
    nb = copy.deepcopy(nb)
    nb.cells[0].source = f"# {title}"
    papermill = nb.metadata.get("papermill", {})
    nb.metadata["papermill"] = {"parameters": papermill.get("parameters", {})}
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":  # a reused kernel counts on: number this brief's cells from 1
            count += 1
            cell.execution_count = count
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output["execution_count"] = count
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            cell.metadata["tags"] = sorted({*tags, "remove-cell"})  # kept in the notebook, not shown
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def render_brief(settings: Settings, name: str, km: object | None = None) -> BriefOutput:
    """Execute the brief template for the region ``name`` means; write its notebook and HTML page.

    ``km`` is an already started ``jupyter_client.KernelManager`` to reuse (the fan-out passes
    one per worker); without it papermill starts and stops a kernel for this brief.
    Raises :class:`RegionError` (nothing written) for an unknown region, and
    :class:`BriefError` if the notebook fails to execute.
    """
    import papermill
    from nbconvert import HTMLExporter

    region = resolve_region(name, load_evidence(settings).regions)
    region_id = str(region["region_id"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{region_id}.ipynb"
        try:
            papermill.execute_notebook(
                str(settings.brief_template), str(out), parameters={"region": region_id}, cwd=str(settings.root),
                kernel_name="python3", progress_bar=False, log_output=False, **({"km": km} if km else {}),
            )
        except papermill.PapermillExecutionError as exc:
            raise BriefError(f"brief for {region_id}: cell {exc.cell_index} failed: {exc.ename}: {exc.evalue}") from exc
        except Exception as exc:  # a dead or unreachable kernel: reported per region, the fan-out goes on
            raise BriefError(f"brief for {region_id}: the kernel failed: {type(exc).__name__}: {exc}") from exc
        nb = _scrub(nbformat.read(out, as_version=4), f"{region['name']}: peer support services brief")
    notebook_path = settings.briefs_dir / f"{region_id}.ipynb"
    html_path = settings.brief_html_dir / f"{region_id}.html"
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": f"{region['name']} brief"}})
    _write_atomic(notebook_path, nbformat.writes(nb))
    _write_atomic(html_path, body)
    return BriefOutput(region_id, notebook_path, html_path)


# --- fan-out: each worker process keeps one kernel and runs many briefs on it -------------

_worker: dict[str, object] = {}


def _start_worker(root: str) -> None:
    """Worker initialiser: start one kernel in the project folder, shut it down when the worker exits."""
    from multiprocessing import util

    from jupyter_client import KernelManager

    for attempt in range(3):  # kernels starting at once can race for ports (papermill #511)
        try:
            km = KernelManager(kernel_name="python3")
            km.start_kernel(cwd=root)
            break
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))
    _worker.update(km=km, settings=load_settings(Path(root)))
    util.Finalize(None, km.shutdown_kernel, kwargs={"now": True}, exitpriority=10)


def _brief_in_worker(region_id: str) -> BriefOutput:
    km = _worker["km"]
    if not km.is_alive():  # a brief killed its kernel: start a fresh one and go on
        km.restart_kernel(now=True)
    return render_brief(_worker["settings"], region_id, km=km)


def render_all_briefs(settings: Settings, progress: bool = True, workers: int = 2,
                      executor: Executor | None = None,
                      regions: list[str] | None = None) -> tuple[list[BriefOutput], dict[str, str]]:
    """Every region's brief, on ``workers`` processes that each reuse one kernel.

    Every brief is still a complete papermill execution of the template; what is shared is
    the kernel (and, inside it, the evidence loaded once).  Keeps going past a failing region
    and returns the failures.  ``regions`` limits the run to some regions (any of their names).
    Pass any ``concurrent.futures.Executor`` whose workers ran :func:`_start_worker` to run elsewhere.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    known = load_evidence(settings).regions
    regions = known["region_id"].tolist() if regions is None else [
        str(resolve_region(name, known)["region_id"]) for name in regions]
    own = executor is None
    pool = executor or ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                                           initargs=(str(settings.root),))
    done, failed = [], {}
    try:
        futures = {pool.submit(_brief_in_worker, region_id): region_id for region_id in regions}
        for future in tqdm(as_completed(futures), total=len(futures), desc="briefs", unit="region",
                           disable=not progress):
            try:
                done.append(future.result())
            except Exception as exc:  # one region's failure never stops the others
                failed[futures[future]] = str(exc)
    finally:
        if own:
            pool.shutdown(wait=True)
    return sorted(done, key=lambda o: o.region_id), dict(sorted(failed.items()))
