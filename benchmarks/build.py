"""Build benchmark: a cold `evidencebook build`, a rebuild with nothing changed, and a rebuild after one
study changed, all in one run, in a throw-away copy of the project.

Run: .venv/bin/python benchmarks/build.py                 (the bundled evidence; 6-10 min on 2 cores)
     .venv/bin/python benchmarks/build.py --studies 2000  (2,000 generated SYNTHETIC studies, 1-4 findings each)
     .venv/bin/python benchmarks/build.py --studies 10000 --findings-per-study 5
                                         (10,000 SYNTHETIC studies, 3-7 findings each: ~50,000 findings;
                                          ~13 min on 2 cores, or ~6 min with --cold-only)

What it does, in a copy of the git-tracked files (as tests/test_book.py does):

1. cold build: `_build/`, `.jupyter_cache` and `book/briefs/` removed, then `evidencebook build`;
2. no-op rebuild: `evidencebook build` again, nothing changed;
3. one study changes: one finding's estimate in one included study's Extraction note (a Zotero
   item JSON in evidence/zotero/items/) is corrected, as a reviewer would in Zotero; then
   `evidencebook sync --offline` writes the new evidence version and `evidencebook build` runs again.

With `--studies N` the copy's library is first replaced by N generated, SYNTHETIC included studies
(seeded; titles, authors and extra field say so; each with a Study section and 1-4 findings with
estimates and 95% CIs in realistic domains, spread over the 50 states and DC; with --findings-per-study MEAN,
MEAN-2 to MEAN+2 findings each). The bundled policy
sources and their policy-fact notes are kept, so every region's brief still has its policy context.

Each build runs `evidencebook build` through the CLI's own code path (`evidencebook._cli.main`), in a
child process whose stages are timed by wrapping the functions the command calls: `build_evidence`
(evidence tables), `_run_briefs` (the brief fan-out), `execute_stale_pages` (the book's pages, in a thread
while the briefs render) and `_JupyterBook.build` (jupyter-book, started ahead).  Stages that overlap count
once in 'other'.  If a stage is renamed the table says n/a and the wall time still counts.
Every child process gets PYTHONPATH=<copy>, so the whole run uses the package as it was copied, even
while the package in the checkout is being edited.

What it counts, and how:
- pages executed: jupyter-cache (the database in `_build/.jupyter_cache`, opened with its own API) adds
  one `NbCacheRecord` per notebook it executes and only reads a record on a cache hit; records that are
  new after a build are the pages executed in that build (with their `execution_seconds`).
- pages that read the change: for every book notebook, its outputs after the change are compared with
  its outputs from the build before (cache records of the same notebook).  A page whose outputs differ
  read the change; a page re-executed with identical outputs was re-executed for nothing.  A page that
  was *not* re-executed is executed once more out of band (nbclient, after the timings) and compared with
  the outputs the cache served: if they differ, the site shows a stale page.
- briefs: `book/briefs/*.ipynb` rewritten (mtime), and changed in what they show (cell sources and
  outputs; then the same apart from the evidence-version label every brief carries).
- HTML: files under `_build/html` that Sphinx wrote (mtime) and, of the book's pages, how many Sphinx
  re-read (its `.doctrees/*.doctree` files rewritten).
- page sizes: after the cold build, each book page's HTML size, the brief pages' largest and total.
- memory: the largest single process (getrusage of the build process and of its reaped children) and
  the sampled sum of PSS over the build's process tree (psutil, every 0.25 s; shared pages split, not doubled).

The baseline, measured in the same run, is the cold build: the targets are ratios to it.  Targets:
the no-op rebuild executes 0 pages; the one-study rebuild takes <= 0.3x the cold build; the pages that
read the change are re-executed (> 0) and none is stale; with --studies N, the cold build is under 10 min.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RATIO_TARGET = 0.3
COLD_TARGET_S = 600.0
SEED = 20251128

# The child: `evidencebook build` through the CLI, with its three stages timed and memory measured.
CHILD = r"""
import json, os, resource, sys, threading, time

out_path = sys.argv[1]
start = time.perf_counter()
phases, seen = {}, []

import psutil

peak_tree = [0]
stop = threading.Event()

def sample():
    me = psutil.Process()
    while not stop.is_set():
        total = 0
        try:
            procs = [me, *me.children(recursive=True)]
        except psutil.Error:
            procs = [me]
        for p in procs:
            try:
                total += p.memory_full_info().pss  # proportional: pages shared by forked workers count once
            except psutil.Error:
                pass
        peak_tree[0] = max(peak_tree[0], total)
        stop.wait(0.25)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()

import evidencebook._cli as cli
import evidencebook._evidence as ev
import evidencebook._pages as pages


spans = []


def timed(module, name, label):
    fn = getattr(module, name, None)
    if fn is None:
        return
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            end = time.perf_counter()
            phases[label] = phases.get(label, 0.0) + end - t
            spans.append((t, end))
            seen.append(label)
    setattr(module, name, wrapper)


def covered():
    # Seconds inside any timed stage (stages that overlap, as the pages and the briefs do, count once).
    total, reach = 0.0, None
    for t, end in sorted(spans):
        if reach is None or t > reach:
            total += end - t
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


timed(ev, "build_evidence", "evidence")
timed(cli, "_run_briefs", "briefs")
timed(pages._JupyterBook, "build", "book")  # jupyter-book, once the pages and briefs are done
timed(pages, "stamp_notebooks", "stamp")
timed(pages, "execute_stale_pages", "pages")
code = 0
try:
    cli.main(["build"], prog_name="evidencebook")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
stop.set()
sampler.join()
maxrss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
with open(out_path, "w") as handle:
    json.dump({"code": code, "phases": phases, "covered": covered(), "wall_inside": time.perf_counter() - start,
               "max_process_mb": maxrss / 1024, "peak_tree_mb": peak_tree[0] / 2**20}, handle)
"""


# --- the project copy ----------------------------------------------------------------------


def copy_project(dest: Path) -> None:
    """Copy the git-tracked files of the checkout (as they are on disk) into ``dest``."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def child_env(project: Path) -> dict[str, str]:
    env = {"CI": "true", "PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(project),
           "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    for name in ("HOME", "LANG", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_logged(command: list[str], project: Path, log: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with open(log, "w") as handle:
        code = subprocess.run(command, cwd=project, env=child_env(project), stdout=handle,
                              stderr=subprocess.STDOUT).returncode
    return code, time.perf_counter() - start


def fail(message: str, log: Path | None = None) -> None:
    tail = log.read_text(errors="replace")[-4000:] if log and log.is_file() else ""
    raise SystemExit(f"benchmark step failed: {message}\n{tail}")


# --- what a build touched ------------------------------------------------------------------


def mtimes(folder: Path, pattern: str) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.glob(pattern) if p.is_file()} \
        if folder.is_dir() else {}


def digest(path: Path, unlabel: bool = False) -> str:
    """A hash of what a notebook shows: cell sources and outputs (not cell ids, counts or metadata)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    shown = [[c.get("cell_type"), c.get("source"),
              [{k: o[k] for k in ("output_type", "name", "text", "data") if k in o} for o in c.get("outputs", [])]]
             for c in nb.get("cells", [])]
    text = json.dumps(shown, sort_keys=True)
    if unlabel:  # every brief carries the evidence version label; compare what is left
        text = re.sub(r"Evidence version \d+ \([^)]*\)", "Evidence version N", text)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_records(project: Path) -> dict[int, dict[str, Any]]:
    """Every record in the jupyter-cache database: pk -> notebook (relative), hash key, seconds."""
    folder = project / "_build" / ".jupyter_cache"
    if not folder.is_dir():
        return {}
    from jupyter_cache import get_cache

    records = {}
    for r in get_cache(str(folder)).list_cache_records():
        try:
            uri = str(Path(r.uri).resolve().relative_to(project.resolve()))
        except ValueError:
            uri = r.uri
        records[r.pk] = {"uri": uri, "hashkey": r.hashkey, "seconds": (r.data or {}).get("execution_seconds")}
    return records


class State:
    """What is on disk before a build, to diff against after it."""

    def __init__(self, project: Path) -> None:
        self.html = mtimes(project / "_build" / "html", "**/*.html")
        # What each page shows apart from its evidence-version label (filled in on every page after Sphinx writes)
        self.html_unlabelled = {name: hashlib.sha256(re.sub(
            r'(<span class="eb-evidence-version">)[^<]*', r"\1", (project / "_build" / "html" / name).read_text(
                encoding="utf-8", errors="replace")).encode()).hexdigest() for name in self.html}
        self.doctrees = mtimes(project / "_build" / ".doctrees", "**/*.doctree")
        self.briefs = mtimes(project / "book" / "briefs", "*.ipynb")
        self.brief_digests = {name: digest(project / "book" / "briefs" / name) for name in self.briefs}
        self.brief_digests_unlabelled = {name: digest(project / "book" / "briefs" / name, True)
                                         for name in self.briefs}
        self.records = cache_records(project)


def touched(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(k for k, v in after.items() if before.get(k) != v)


def run_build(project: Path, label: str, logs: Path) -> dict[str, Any]:
    before = State(project)
    out, log = logs / f"{label}.json", logs / f"{label}.log"
    load_before = os.getloadavg()[0]
    code, wall = run_logged([sys.executable, "-c", CHILD, str(out)], project, log)
    load_after = os.getloadavg()[0]
    if code != 0 or not out.is_file():
        fail(f"{label}: the build process exited {code}", log)
    child = json.loads(out.read_text())
    if child["code"] != 0:
        fail(f"{label}: evidencebook build exited {child['code']}", log)
    after = State(project)
    new = {pk: r for pk, r in after.records.items() if pk not in before.records}
    briefs_rewritten = touched(before.briefs, after.briefs)
    return {
        "label": label, "wall": wall, **child, "load": (load_before, load_after),
        "executed": sorted(new.values(), key=lambda r: r["uri"]),
        "book_notebooks": sorted({r["uri"] for r in after.records.values()}),
        "briefs_total": len(after.briefs), "briefs_rewritten": len(briefs_rewritten),
        "briefs_changed": sum(before.brief_digests.get(k) != v for k, v in after.brief_digests.items()),
        "briefs_changed_unlabelled": sum(before.brief_digests_unlabelled.get(k) != v
                                         for k, v in after.brief_digests_unlabelled.items()),
        "html_total": len(after.html), "html_written": touched(before.html, after.html),
        "html_changed_unlabelled": sum(before.html_unlabelled.get(k) != v for k, v in after.html_unlabelled.items()),
        "doctrees_total": len(after.doctrees), "reread": touched(before.doctrees, after.doctrees),
        "records_after": after.records,
    }


# --- changing one study --------------------------------------------------------------------

_ESTIMATE = re.compile(r"<p>estimate: (-?[0-9.]+)</p>")


def finding_fields(note: str, start: int) -> dict[str, str]:
    end = note.find("<h2>", start + 1)
    section = note[start:end if end != -1 else len(note)]
    return dict(re.findall(r"<p>(\w+): ([^<]*)</p>", section))


def change_one_study(project: Path, prefer: str | None = None) -> str:
    """Correct one finding's estimate by 0.01 (inside its CI) in one included study's Extraction note."""
    items = project / "evidence" / "zotero" / "items"
    paths = sorted(items.glob("*.json"))
    if prefer:
        paths.sort(key=lambda p: p.stem != prefer)
    for path in paths:
        item = json.loads(path.read_text(encoding="utf-8"))
        note = item["data"].get("note", "")
        if item["data"].get("itemType") != "note" or "Extraction" not in note[:200]:
            continue
        for match in _ESTIMATE.finditer(note):
            section_start = note.rfind("<h2>", 0, match.start())
            fields = finding_fields(note, section_start)
            try:
                old, high = float(fields["estimate"]), float(fields["ci_high"])
            except (KeyError, ValueError):
                continue
            low = float(fields.get("ci_low", old))
            new = round(old + 0.01, 2) if round(old + 0.01, 2) <= high else round(old - 0.01, 2)
            if not low <= new <= high:
                continue
            label = re.match(r"<h2>([^<]*)</h2>", note[section_start:])
            item["data"]["note"] = note[:match.start()] + f"<p>estimate: {new:.2f}</p>" + note[match.end():]
            library_path = project / "evidence" / "zotero" / "library.json"
            library = json.loads(library_path.read_text(encoding="utf-8"))
            library["version"] = int(library.get("version", 0)) + 1
            item["version"] = item["data"]["version"] = library["version"]
            path.write_text(json.dumps(item, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            library_path.write_text(json.dumps(library, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                    encoding="utf-8")
            return (f"item {item['data']['parentItem']} (note {item['key']}), "
                    f"{label[1] if label else 'a finding'}: {fields.get('outcome', '?')} "
                    f"[{fields.get('domain', '?')}], {fields.get('measure', '')} {old:g} -> {new:g}")
    raise SystemExit("no included study with a numeric estimate to change")


# --- a generated library of N SYNTHETIC studies --------------------------------------------

STATES = ["Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
          "District of Columbia", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas",
          "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi",
          "Missouri", "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York",
          "North Carolina", "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island",
          "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington",
          "West Virginia", "Wisconsin", "Wyoming"]
# (domain, outcome, synthesis group, measure, better, true effect on the analysis scale, SE range)
OUTCOMES = [
    ("hospitalisation", "psychiatric readmission at 12 months", "readmission 12m", "RR", "lower", math.log(0.85), (0.08, 0.35)),
    ("hospitalisation", "inpatient days at 6 months", "inpatient days", "SMD", "lower", -0.10, (0.08, 0.30)),
    ("crisis/ED use", "emergency department visits at 6 months", "ED visits 6m", "RR", "lower", math.log(0.90), (0.08, 0.35)),
    ("crisis/ED use", "crisis service contact", "crisis contact", "OR", "lower", math.log(0.88), (0.12, 0.45)),
    ("engagement", "attended outpatient follow-up within 30 days", "follow-up 30d", "OR", "higher", math.log(1.30), (0.10, 0.40)),
    ("recovery", "personal recovery (QPR or RAS)", "personal recovery", "SMD", "higher", 0.18, (0.07, 0.30)),
    ("hope", "hope (Herth Hope Index)", "hope", "SMD", "higher", 0.15, (0.08, 0.30)),
    ("empowerment", "empowerment scale", "empowerment", "SMD", "higher", 0.12, (0.08, 0.30)),
    ("quality of life", "quality of life (MANSA)", "quality of life", "MD", "higher", 0.15, (0.08, 0.25)),
    ("symptoms", "psychiatric symptoms (BPRS)", "symptoms", "SMD", "lower", -0.05, (0.08, 0.30)),
    ("substance use", "return to use at 6 months", "return to use 6m", "RR", "lower", math.log(0.90), (0.10, 0.40)),
    ("substance use", "days abstinent at 6 months", "days abstinent", "MD", "higher", 4.0, (1.5, 5.0)),
    ("cost", "service costs per participant", "", "narrative", "lower", 0.0, (0, 0)),
    ("workforce", "peer worker retention", "", "narrative", "higher", 0.0, (0, 0)),
]
DESIGNS = [("primary", "RCT", "RCT", 0.35), ("primary", "cluster RCT", "cluster RCT", 0.08),
           ("primary", "quasi-experimental", "quasi-experimental", 0.15),
           ("primary", "retrospective cohort", "observational cohort", 0.22),
           ("primary", "pre-post evaluation", "pre-post or single group", 0.12),
           ("gray literature", "state programme evaluation", "gray literature", 0.08)]
GROUPS = ["SMI", "SUD", "co-occurring", "youth", "family", "mental health (mixed)"]
SETTINGS = ["community mental health", "inpatient and transition from hospital", "emergency department",
            "substance use treatment and recovery support", "primary care", "criminal justice",
            "housing and homelessness", "schools and youth services", "online"]
ROLES = ["peer support specialist", "recovery coach or peer recovery specialist", "peer mentor", "peer navigator",
         "family peer", "youth peer"]
from sync import key as zkey  # noqa: E402  (the sync benchmark's Zotero-style item keys, beside this file)


def note_html(title: str, sections: list[tuple[str, dict[str, str]]]) -> str:
    from evidencebook import write_note

    return write_note(title, [(heading, list(fields.items())) for heading, fields in sections])


def findings_counts(mean: float | None) -> list[int]:
    """The counts of findings a SYNTHETIC study draws from (uniformly): 1-4 by default (2.5 on average, as
    earlier runs of this benchmark), or five consecutive counts centred on ``mean`` (at most one per outcome)."""
    if mean is None:
        return [1, 2, 2, 3, 3, 4]
    centre = min(max(round(mean), 3), len(OUTCOMES) - 2)
    return list(range(centre - 2, centre + 3))


def synthetic_study(n: int, rng: random.Random, library: dict[str, Any],
                    counts: list[int] | None = None) -> list[dict[str, Any]]:
    """One SYNTHETIC included study: a journal article and its Extraction note (a count of findings drawn
    from ``counts``: 1-4 unless given)."""
    key, note_key = zkey(n, "Y"), zkey(n, "Z")
    state = STATES[n % len(STATES)]
    year = 2000 + rng.randrange(26)
    study_type, design, design_type, _ = rng.choices(DESIGNS, weights=[d[3] for d in DESIGNS])[0]
    group = rng.choice(GROUPS)
    sections = [("Study", {
        "study_type": study_type, "design": design, "design_type": design_type,
        "population": f"synthetic adults ({group}) in {state}", "population_group": group,
        "setting": "synthetic benchmark setting", "setting_type": rng.choice(SETTINGS), "peer_role": rng.choice(ROLES),
        "country": "United States", "us_state": state, "risk_of_bias": "not assessed", "confidence": "as recorded",
        "coded_by": "benchmarks/build.py (SYNTHETIC)"})]
    for j, index in enumerate(rng.sample(range(len(OUTCOMES)), rng.choice(counts or findings_counts(None)))):
        domain, outcome, group_name, measure, better, effect, (se_lo, se_hi) = OUTCOMES[index]
        n_part = int(rng.lognormvariate(math.log(180), 0.7)) + 20
        fields = {"outcome": outcome, "domain": domain, "comparison": "peer support + usual care vs usual care",
                  "measure": measure, "better": better}
        if measure == "narrative":
            fields |= {"reported_statistic": "described narratively", "direction": rng.choice(
                ["favours peer support", "no clear difference"]),
                "quote": f"SYNTHETIC: {outcome} was described without an effect estimate"}
        else:
            se = rng.uniform(se_lo, se_hi)
            y = rng.gauss(effect, 0.15 if measure != "MD" else 3.0) + rng.gauss(0, se)
            lo, hi = y - 1.96 * se, y + 1.96 * se
            if measure in ("RR", "OR"):
                est, lo, hi = (round(math.exp(v), 2) for v in (y, lo, hi))
                lo, null = max(lo, 0.01), 1.0
            else:
                est, lo, hi = round(y, 2), round(lo, 2), round(hi, 2)
                null = 0.0
            favours = (hi < null) if better == "lower" else (lo > null)
            against = (lo > null) if better == "lower" else (hi < null)
            fields |= {"synthesis_group": group_name, "estimate": f"{est:.2f}", "ci_low": f"{lo:.2f}",
                       "ci_high": f"{hi:.2f}", "n_participants": str(n_part),
                       "direction": "favours peer support" if favours else "favours control" if against
                       else "no difference",
                       "quote": f"SYNTHETIC: {outcome} {measure} {est:.2f} (95% CI {lo:.2f} to {hi:.2f})"}
        fields["source_url"] = f"https://example.org/synthetic/{key}"
        sections.append((f"Outcome S{n:05d}-{j + 1}", fields))
    meta = {"library": {"type": library.get("type", "group"), "id": library.get("id", 0),
                        "name": library.get("name", "")}, "meta": {}, "version": 1}
    parent = {"key": key, **meta, "data": {
        "key": key, "version": 1, "itemType": "journalArticle",
        "title": f"SYNTHETIC benchmark study {n}: peer support services in {state}",
        "creators": [{"creatorType": "author", "firstName": "S.", "lastName": f"Synthetic{n:05d}"}],
        "date": str(year), "DOI": "", "url": f"https://example.org/synthetic/{key}",
        "publicationTitle": "SYNTHETIC Journal of Benchmarks", "citationKey": f"synthetic{n:05d}",
        "extra": "SYNTHETIC item generated by benchmarks/build.py; not a real study",
        "tags": [{"tag": "screen:TA:include"}, {"tag": "screen:FT:include"}, {"tag": "synthetic"}],
        "collections": [], "relations": {}, "abstractNote": "", "dateAdded": "2026-01-01T00:00:00Z",
        "dateModified": "2026-01-01T00:00:00Z"}}
    child = {"key": note_key, **meta, "data": {
        "key": note_key, "version": 1, "itemType": "note", "parentItem": key,
        "note": note_html("Extraction", sections), "tags": [{"tag": "extraction"}], "collections": [],
        "relations": {}, "dateAdded": "2026-01-01T00:00:00Z", "dateModified": "2026-01-01T00:00:00Z"}}
    return [parent, child]


def generate_library(project: Path, n_studies: int, findings_mean: float | None = None) -> tuple[int, int, int]:
    """Replace the copy's studies by ``n_studies`` SYNTHETIC ones; keep the policy sources and their notes.
    Returns the policy items kept, the items written and the bundled items removed."""
    items_dir = project / "evidence" / "zotero" / "items"
    items = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in items_dir.glob("*.json")}

    def is_policy_source(item: dict[str, Any]) -> bool:
        tags = {t["tag"] for t in item["data"].get("tags", [])}
        return "policy-source" in tags and not any(t.startswith("screen:") for t in tags)

    keep = {k for k, item in items.items() if is_policy_source(item)}
    keep |= {k for k, item in items.items() if item["data"].get("parentItem") in keep}
    for k in set(items) - keep:
        (items_dir / f"{k}.json").unlink()
    library_path = project / "evidence" / "zotero" / "library.json"
    library = json.loads(library_path.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    written = 0
    counts = findings_counts(findings_mean)
    for n in range(n_studies):
        for item in synthetic_study(n, rng, library, counts):
            (items_dir / f"{item['key']}.json").write_text(
                json.dumps(item, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            written += 1
    library["version"] = int(library.get("version", 0)) + 1
    library_path.write_text(json.dumps(library, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                            encoding="utf-8")
    return len(keep), written, len(items) - len(keep)


# --- did the pages that read the change get re-executed? ----------------------------------


def outputs_of(nb: Any) -> list[Any]:
    """The code cells' outputs, without execution counts or metadata (what a reader sees)."""
    shown = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            shown.append({k: out[k] for k in ("output_type", "name", "text", "data", "ename", "evalue") if k in out})
    return shown


OUT_OF_BAND = r"""
import sys, nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[3])
"""


def execute_out_of_band(project: Path, notebook: str, logs: Path) -> list[Any]:
    """Execute a book notebook as it is now, outside the build (the kernel sees the copy's package)."""
    import nbformat

    path = project / notebook
    out, log = logs / (notebook.replace("/", "_") + ".out-of-band.ipynb"), logs / (notebook.replace("/", "_") + ".log")
    code, _ = run_logged([sys.executable, "-c", OUT_OF_BAND, str(path), str(path.parent), str(out)], project, log)
    if code != 0:
        fail(f"executing {notebook} out of band", log)
    return outputs_of(nbformat.read(out, as_version=4))


def change_readers(project: Path, before: dict[int, dict[str, Any]], build: dict[str, Any],
                   logs: Path) -> dict[str, Any]:
    """Classify each book notebook after the change: read it (outputs differ), re-executed for nothing, stale."""
    from jupyter_cache import get_cache

    cache = get_cache(str(project / "_build" / ".jupyter_cache"))
    executed = {r["uri"] for r in build["executed"]}
    new_pks = {pk for pk in build["records_after"] if pk not in before}
    result = {"changed": [], "needless": [], "stale": [], "unchanged": []}
    for notebook in build["book_notebooks"]:
        old_pks = sorted(pk for pk, r in before.items() if r["uri"] == notebook)
        if not old_pks:
            continue
        old = outputs_of(cache.get_cache_bundle(old_pks[-1]).nb)
        if notebook in executed:
            pk = max(pk for pk in new_pks if build["records_after"][pk]["uri"] == notebook)
            now = outputs_of(cache.get_cache_bundle(pk).nb)
            result["changed" if now != old else "needless"].append(notebook)
        else:
            fresh = execute_out_of_band(project, notebook, logs)
            result["stale" if fresh != old else "unchanged"].append(notebook)
    return result


# --- report ---------------------------------------------------------------------------------


def phase(run: dict[str, Any], name: str) -> str:
    return f"{run['phases'][name]:7.1f}" if name in run["phases"] else "    n/a"


def print_table(runs: list[dict[str, Any]], cold: dict[str, Any]) -> None:
    print(f"\n{'build':22} {'wall s':>7} {'x cold':>6} | {'tables':>7} {'briefs':>7} {'pages':>7} {'j-book':>7} "
          f"{'other':>6} | {'pages exec':>10} {'exec s':>6} | {'briefs rewr/chg/chg-label':>25} | "
          f"{'HTML written/chg-label':>22} {'re-read':>7} | {'proc MB':>7} {'tree MB':>7}")
    for r in runs:
        known = r.get("covered", sum(r["phases"].get(k, 0) for k in ("evidence", "briefs", "book")))
        exec_s = sum(x["seconds"] or 0 for x in r["executed"])
        briefs = f"{r['briefs_rewritten']}/{r['briefs_changed']}/{r['briefs_changed_unlabelled']} of {r['briefs_total']}"
        print(f"{r['label']:22} {r['wall']:7.1f} {r['wall'] / cold['wall']:6.2f} | {phase(r, 'evidence')} "
              f"{phase(r, 'briefs')} {phase(r, 'pages')} {phase(r, 'book')} {r['wall'] - known:6.1f} | "
              f"{len(r['executed']):4d} of {len(r['book_notebooks']):3d} {exec_s:6.1f} | {briefs:>25} | "
              f"{len(r['html_written']):9d}/{r['html_changed_unlabelled']:3d} of {r['html_total']:4d} {len(r['reread']):7d} | "
              f"{r['max_process_mb']:7.0f} {r['peak_tree_mb']:7.0f}")
    print("  tables/briefs/pages/j-book: the CLI's build_evidence, _run_briefs (fan-out), execute_stale_pages (the book "
          "pages' kernels, in a thread while the briefs render) and jupyter-book's build (started ahead, it imports "
          "Sphinx meanwhile); other: the wall time outside all of them (interpreter start, imports, stamping, exit)")
    print("  pages exec: book notebooks executed by jupyter-cache (new cache records) of those it knows; exec s: "
          "their execution_seconds")
    print("  briefs rewr/chg/chg-label: book/briefs/*.ipynb rewritten (mtime) / what they show changed (cell sources "
          "and outputs) / changed apart from the evidence-version label")
    print("  HTML written/chg-label: files under _build/html with a new mtime / whose content changed apart from the "
          "evidence-version label (filled in on every page after Sphinx writes); re-read: doctrees Sphinx rewrote "
          "(pages it parsed again)")
    print("  load (1-min load average before/after each build, on %d CPUs): " % (os.cpu_count() or 0)
          + "; ".join(f"{r['label']} {r['load'][0]:.1f}/{r['load'][1]:.1f}" for r in runs))
    print("  proc MB: largest single process (max RSS); tree MB: sampled peak of the sum of PSS over the build's "
          "process tree")


def print_pages(run: dict[str, Any]) -> None:
    pages = [Path(d).with_suffix("").as_posix() for d in run["reread"] if "/briefs/" not in d]
    briefs = len(run["reread"]) - len(pages)
    print(f"  {run['label']}: Sphinx re-read {briefs} brief pages and {len(pages)} others: {', '.join(pages) or 'none'}")
    if run["executed"]:
        print(f"  {run['label']}: pages executed, slowest first: " + ", ".join(
            f"{x['uri']} {x['seconds'] or 0:.1f}s" for x in sorted(run["executed"], key=lambda x: -(x["seconds"] or 0))))


def count_rows(path: Path) -> int:
    """Rows of a CSV table (quoted fields may hold line breaks)."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def print_html_sizes(project: Path) -> None:
    """Each book page's HTML size (what a browser must load and lay out), and the briefs' largest and total."""
    html = project / "_build" / "html"
    pages = sorted(p for p in html.glob("book/**/*.html") if "briefs" not in p.relative_to(html).parts[1:-1])
    briefs = sorted(html.glob("book/briefs/*.html"), key=lambda p: -p.stat().st_size)
    print("  HTML size of each book page (KB): " + ", ".join(
        f"{p.relative_to(html / 'book').with_suffix('').as_posix()} {p.stat().st_size / 1024:.0f}"
        for p in sorted(pages, key=lambda p: -p.stat().st_size)))
    if briefs:
        print(f"  brief pages: {len(briefs)}, largest {briefs[0].stem} {briefs[0].stat().st_size / 1024:.0f} KB, "
              f"total {sum(p.stat().st_size for p in briefs) / 2**20:.1f} MB")
    images = list((html / "_images").glob("*")) if (html / "_images").is_dir() else []
    if images:
        biggest = max(images, key=lambda p: p.stat().st_size)
        print(f"  images: {len(images)}, largest {biggest.name} {biggest.stat().st_size / 1024:.0f} KB, "
              f"total {sum(p.stat().st_size for p in images) / 2**20:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=0,
                        help="replace the bundled studies by N generated SYNTHETIC ones (default: bundled evidence)")
    parser.add_argument("--findings-per-study", type=float, default=None, metavar="MEAN",
                        help="with --studies: SYNTHETIC studies draw MEAN-2..MEAN+2 findings each (default: 1-4, "
                             "2.5 on average)")
    parser.add_argument("--cold-only", action="store_true", help="with --studies: only the cold build")
    parser.add_argument("--keep", action="store_true", help="keep the project copy (its path is printed)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="evidencebook-build-bench-"))
    project, logs = tmp / "project", tmp / "logs"
    project.mkdir()
    logs.mkdir()
    try:
        copy_project(project)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.count("\n")
        print(f"project copy of {ROOT} at {head} (+{dirty} modified tracked files, copied as they are) in {project}")
        checks: dict[str, bool] = {}
        sync_s = 0.0
        if args.studies:
            kept, written, removed = generate_library(project, args.studies, args.findings_per_study)
            counts = findings_counts(args.findings_per_study)
            print(f"generated a SYNTHETIC library (seed {SEED}): {args.studies} included studies with "
                  f"{counts[0]}-{counts[-1]} findings each ({written} items with their Extraction notes) "
                  f"replacing {removed} bundled study items; "
                  f"kept {kept} bundled policy sources and policy-fact notes")
            code, sync_s = run_logged([str(BIN / "evidencebook"), "sync", "--offline"], project, logs / "sync0.log")
            if code != 0:
                fail("evidencebook sync --offline of the synthetic library", logs / "sync0.log")
            print(f"evidence tables: {count_rows(project / 'evidence' / 'studies.csv')} studies, "
                  f"{count_rows(project / 'evidence' / 'outcomes.csv')} findings (SYNTHETIC)")
            print(f"evidencebook sync --offline (synthetic library -> tables): {sync_s:.1f} s; "
                  + (logs / "sync0.log").read_text().strip().splitlines()[-1][:200])
        else:
            print("evidence: the bundled snapshot (evidence/zotero)")
        for name in ("_build", ".jupyter_cache", "book/briefs"):
            shutil.rmtree(project / name, ignore_errors=True)

        runs = [run_build(project, "cold", logs)]
        cold = runs[0]
        print_html_sizes(project)
        readers = None
        if not (args.studies and args.cold_only):
            runs.append(run_build(project, "no-op rebuild", logs))
            before = runs[-1]["records_after"]
            what = change_one_study(project, prefer=zkey(0, "Z") if args.studies else None)
            code, sync_one = run_logged([str(BIN / "evidencebook"), "sync", "--offline"], project,
                                        logs / "sync1.log")
            if code != 0:
                fail("evidencebook sync --offline after the one-study change", logs / "sync1.log")
            print(f"one study changed: {what}")
            print(f"  evidencebook sync --offline: {sync_one:.1f} s; "
                  + (logs / "sync1.log").read_text().strip().splitlines()[-1][:300])
            runs.append(run_build(project, "one-study rebuild", logs))
            one = runs[-1]
            readers = change_readers(project, before, one, logs)

        print_table(runs, cold)
        print()
        for r in runs:
            print_pages(r)
        if readers is not None:
            one = runs[-1]
            print(f"  one-study rebuild incl. its sync: {one['wall'] + sync_one:.1f} s = "
                  f"{(one['wall'] + sync_one) / cold['wall']:.2f}x cold")
            print(f"  pages that read the change (outputs differ from the build before): {len(readers['changed'])}: "
                  f"{', '.join(readers['changed']) or 'none'}")
            print(f"  pages re-executed with identical outputs (needless): {len(readers['needless'])}: "
                  f"{', '.join(readers['needless']) or 'none'}")
            print(f"  pages served from cache, checked out of band: {len(readers['unchanged'])} up to date, "
                  f"{len(readers['stale'])} STALE{': ' + ', '.join(readers['stale']) if readers['stale'] else ''}")
            noop = runs[1]
            checks["no-op rebuild executes 0 pages"] = len(noop["executed"]) == 0
            checks[f"one-study rebuild <= {RATIO_TARGET}x cold ({one['wall'] / cold['wall']:.2f}x)"] = \
                one["wall"] <= RATIO_TARGET * cold["wall"]
            checks[f"pages that read the change re-executed ({len(readers['changed'])} > 0, none stale)"] = \
                len(readers["changed"]) > 0 and not readers["stale"]
        if args.studies:
            checks[f"cold build of {args.studies} studies under {COLD_TARGET_S / 60:.0f} min ({cold['wall']:.0f} s)"] = \
                cold["wall"] < COLD_TARGET_S
        print()
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
        return 0 if all(checks.values()) else 1
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
