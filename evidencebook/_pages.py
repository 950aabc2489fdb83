"""Building the book: which pages must run again, running them, and jupyter-book.

Each page's cache key is a hash of exactly what it reads from ``evidence/`` (:class:`PageReads`,
written into the page by :func:`stamp_notebooks`), since jupyter-cache keys on code only.
The pages that must run again are executed by :func:`execute_stale_pages` on warm kernels
before jupyter-book runs, which then finds every page in its cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import pandas as pd

from ._config import Settings, code_version
from ._errors import EvidencebookError
from ._evidence import read_changelog, read_manifest
from ._plain import INTRO_DOMAINS

T = TypeVar("T")

__all__ = ["BOOK_NOTEBOOKS", "BOOK_PAGES", "OUTCOME_CHAPTERS", "PageReads", "build_book", "execute_stale_pages",
           "page_stamp", "stamp_notebooks"]


@dataclass(frozen=True)
class PageReads:
    """What one book page reads from ``evidence/``: its cache key is a hash of exactly that.

    ``tables`` maps a table to the columns read (``None``: every column); ``domains`` keeps
    only the findings in those outcome domains (and their studies); ``files`` are read whole;
    ``library`` means the Zotero library's identity (for item links); ``new_records`` the
    studies the latest evidence version added (for its PRISMA flow); of the columns in
    ``filled`` the page reads only whether each cell is filled (a count of estimates, say).
    """

    tables: dict[str, tuple[str, ...] | None]
    domains: tuple[str, ...] | None = None
    filled: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    library: bool = False
    new_records: bool = False


OUTCOME_CHAPTERS = {
    "book/outcomes/recovery.ipynb": ("recovery", "hope", "empowerment", "quality of life"),
    "book/outcomes/service-use.ipynb": ("hospitalisation", "crisis/ED use", "engagement", "service use", "substance use"),
    "book/outcomes/other-outcomes.ipynb": ("symptoms", "cost", "housing", "employment", "workforce", "other"),
}
_STUDY_LINK = ("study_id", "citation_key", "authors", "title", "year", "url", "doi")
BOOK_PAGES: dict[str, PageReads] = {
    # The signed judgements are checked against the archived versions they name (archives never change).
    **{page: PageReads({"outcomes.csv": None, "studies.csv": None}, domains=domains, files=("judgements.toml",))
       for page, domains in OUTCOME_CHAPTERS.items()},
    # Its "What we found" box: the summary of findings of the domains the briefs' bottom line names.
    "book/intro.ipynb": PageReads({"outcomes.csv": None, "studies.csv": None}, domains=INTRO_DOMAINS,
                                  files=("judgements.toml",)),
    "book/evidence-map.ipynb": PageReads({"outcomes.csv": ("study_id", "domain", "direction"),
                                          "studies.csv": (*_STUDY_LINK, "screening", "exclusion_reason",
                                                          "screening_votes", "population_group")}, new_records=True),
    "book/studies.ipynb": PageReads({"studies.csv": None, "outcomes.csv": None}, library=True),
    "book/risk-of-bias.ipynb": PageReads({"risk_of_bias.csv": None,
                                          "studies.csv": (*_STUDY_LINK, "screening", "study_type", "risk_of_bias"),
                                          "outcomes.csv": ("finding_id", "study_id", "n_participants")}),
    "book/implementation.ipynb": PageReads({"outcomes.csv": ("finding_id", "study_id", "theme", "outcome", "quote",
                                                             "source_type", "source_url"),
                                            "studies.csv": _STUDY_LINK}),
    "book/policy.ipynb": PageReads({"state_policy.csv": None, "regions.csv": None}),
    "book/briefs.ipynb": PageReads({"regions.csv": None}),
    "book/whats-new.ipynb": PageReads({}, files=("changelog.json", "judgements.toml")),
    # Its schema line needs no column: evidence/ holds only tables that validated when they were written
    # (and load_evidence checks their hashes), so that line changes only with the code.
    "book/data-quality.ipynb": PageReads({"studies.csv": ("screening", "screening_votes", "citation_key", "title",
                                                          "confidence", "confidence_reason", "risk_of_bias"),
                                          "outcomes.csv": ("secondary", "estimate"),
                                          "state_policy.csv": ("topic", "state_code"),
                                          "regions.csv": ("kind", "state_code"), "problems.csv": None},
                                         filled=("estimate",)),
}
BOOK_NOTEBOOKS = tuple(BOOK_PAGES)


def page_stamp(settings: Settings, reads: PageReads, loaded: dict[str, pd.DataFrame] | None = None) -> str:
    """SHA-256 of exactly what a page reads from the evidence base (see :class:`PageReads`).

    ``loaded`` keeps tables already read, so stamping every page reads each table once.
    """
    folder = settings.evidence
    digest = hashlib.sha256()
    loaded = {} if loaded is None else loaded
    for name in reads.tables:
        if name not in loaded:
            loaded[name] = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
    tables = {name: loaded[name] for name in reads.tables}
    if reads.domains is not None and "outcomes.csv" in tables:
        outcomes = tables["outcomes.csv"] = tables["outcomes.csv"][tables["outcomes.csv"]["domain"].isin(reads.domains)]
        if "studies.csv" in tables:
            tables["studies.csv"] = tables["studies.csv"][tables["studies.csv"]["study_id"].isin(outcomes["study_id"])]
    for name, columns in sorted(reads.tables.items()):
        table = tables[name] if columns is None else tables[name][[c for c in columns if c in tables[name].columns]]
        for column in set(reads.filled) & set(table.columns):
            table = table.assign(**{column: table[column].ne("")})
        digest.update(name.encode() + b"\0" + table.to_csv(index=False).encode("utf-8"))
    for name in reads.files:
        path = folder / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    if reads.new_records:
        changelog = read_changelog(settings)
        digest.update(json.dumps(changelog[-1]["studies"].get("added", []) if changelog else []).encode())
    if reads.library:
        library = read_manifest(settings).get("zotero", {})
        digest.update(json.dumps([library.get("library_type"), library.get("library_id")]).encode())
    return digest.hexdigest()


def stamp_notebooks(settings: Settings) -> list[str]:
    """Write into the first code cell's metadata of every book page the hash of what it reads.

    jupyter-cache keys on code cells (source and metadata) only, so without this a page that
    reads evidence/ would be served stale after a sync.  Only pages whose stamp differs are
    rewritten, so an unchanged rebuild executes nothing and a change re-executes only the pages
    that read it.  Returns the notebooks rewritten.
    """
    import nbformat

    changed, loaded = [], {}
    for name, reads in BOOK_PAGES.items():
        path = settings.root / name
        if not path.is_file():
            continue
        stamp = page_stamp(settings, reads, loaded)
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "code")
        if cell.metadata.get("evidencebook", {}).get("reads") != stamp:
            cell.metadata["evidencebook"] = {"reads": stamp}
            nbformat.write(nb, path)
            changed.append(name)
    return changed


def _page_cache(settings: Settings) -> Any:
    """jupyter-cache's database of executed pages (the one jupyter-book reads), emptied when the code changed."""
    from jupyter_cache import get_cache

    folder = settings.root / "_build" / ".jupyter_cache"
    code = folder / "evidencebook-code"
    version = code_version()  # pages draw with all of it
    if folder.is_dir() and (not code.is_file() or code.read_text(encoding="utf-8") != version):
        shutil.rmtree(folder)
    cache = get_cache(str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    code.write_text(version, encoding="utf-8")
    return cache


# Run before a page, in its kernel: the namespace a fresh kernel would have, and the page's folder as
# the working directory, as jupyter-cache gives it.  Imported modules stay: that is the point.
_FRESH = ("get_ipython().run_line_magic('reset', '-f')\nget_ipython().execution_count = 1\n"
          "import os as _os\n_os.chdir({folder!r})\ndel _os")
# What every page imports, once per kernel (each page imports the rest of what it uses: matplotlib, scipy).
_WARM = "import evidencebook, pandas"


async def _run_pages(cache: Any, pages: list[tuple[int, str]], root: Path, workers: int, timeout: int,
                     cancel: threading.Event | None = None) -> tuple[list[str], dict[str, str]]:
    """Execute ``pages`` (cache pk, path) on ``workers`` kernels, each kept from page to page."""
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.cache.db import NbProjectRecord
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from ._kernels import launch_kernel

    queue = list(pages)
    done: list[str] = []
    failed: dict[str, str] = {}

    async def run_on(kc: Any, code: str) -> None:
        reply = await kc.execute_interactive(code, timeout=timeout, store_history=False, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code!r}: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")

    async def start_kernel(ip: str) -> tuple[Any, Any]:
        km = await launch_kernel(root, ip)
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            await run_on(kc, _WARM)
        except BaseException:
            await stop_kernel(km, kc)
            raise
        return km, kc

    async def stop_kernel(km: Any, kc: Any) -> None:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)

    async def worker(number: int) -> None:
        # IPC sockets in a private folder: no TCP ports for kernels started together to race for.
        ip = os.path.join(sockets, f"k{number}")
        km, kc = await start_kernel(ip)
        try:
            while queue and not (cancel is not None and cancel.is_set()):
                pk, uri = queue.pop(0)
                nb = cache.get_project_notebook(pk).nb
                start = time.perf_counter()
                try:
                    await run_on(kc, _FRESH.format(folder=str(Path(uri).parent)))
                    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=False, kernel_name="python3",
                                            record_timing=False)  # timings in cell metadata would change its cache key
                    # Our client, not a second one: clients of one kernel manager share its session, and
                    # the kernel answers only the last of them to connect.
                    client.kc = kc
                    await client.async_execute()
                except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError, TimeoutError) as exc:
                    failed[uri] = f"{type(exc).__name__}: {str(exc)[-2000:]}"
                    NbProjectRecord.set_traceback(uri, traceback.format_exc(), cache.db)
                    # A cell that timed out is still running, a dead kernel is dead, and nbclient may still be
                    # reading the old client's messages: the next page gets a new kernel and a new client.
                    await stop_kernel(km, kc)
                    km, kc = await start_kernel(ip)
                    continue
                seconds = time.perf_counter() - start
                cache.cache_notebook_bundle(CacheBundleIn(nb, uri, data={"execution_seconds": seconds}),
                                            check_validity=False, overwrite=True)
                # Sphinx reads a page again only when its file is newer than its last reading: a page run
                # again because the code changed (its file did not) must still reach the site.
                os.utime(uri)
                done.append(uri)
        finally:
            await stop_kernel(km, kc)

    sockets = tempfile.mkdtemp(prefix="eb-pages-")
    try:
        await asyncio.gather(*(worker(n) for n in range(min(workers, len(pages)))))
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    return done, failed


def execute_stale_pages(settings: Settings, workers: int = 2, timeout: int = 300,
                        pages: Iterable[str] = BOOK_NOTEBOOKS, cancel: threading.Event | None = None) -> list[str]:
    """Execute the book ``pages`` whose cached outputs no longer match, and cache them; return those pages.

    ``jupyter-book build`` would run them one at a time, each in a new kernel that imports
    everything again.  Here ``workers`` kernels, warmed with the imports while they wait, take
    the pages in turn; before each page the kernel's namespace is emptied and its working
    directory set to the page's folder, as a new kernel would have them.  A page that fails
    is reported with its error after the others have run (and been cached); once ``cancel``
    is set no further page starts.
    """
    cache = _page_cache(settings)
    stale = []
    for page in pages:
        path = str(settings.root / page)
        try:
            cache.match_cache_file(path)
        except KeyError:
            stale.append((cache.add_nb_to_project(path).pk, path))
    if not stale:
        return []
    # Longest first (as long as last time; a page never run before counts as longest): two kernels
    # then finish close together.
    took = {r.uri: (r.data or {}).get("execution_seconds", 0.0)
            for r in sorted(cache.list_cache_records(), key=lambda r: r.created)}
    stale.sort(key=lambda page: -took.get(page[1], float("inf")))
    try:
        done, failed = asyncio.run(_run_pages(cache, stale, settings.root, workers, timeout, cancel))
    except Exception as exc:  # a kernel that would not start or restart
        raise EvidencebookError(f"book pages could not be executed: {type(exc).__name__}: {exc}") from exc
    if failed:
        raise EvidencebookError("book pages failed to execute:\n" + "\n".join(
            f"  {Path(uri).relative_to(settings.root)}: {message}" for uri, message in failed.items()))
    return sorted(str(Path(uri).relative_to(settings.root)) for uri in done)


# Imported by a jupyter-book process started ahead (see _JupyterBook): its extensions and theme,
# about two seconds of imports, done while the pages execute and the briefs render.
_SPHINX_IMPORTS = ("jupyter_book.cli.main", "sphinx.application", "myst_nb", "sphinx_book_theme", "sphinx_togglebutton",
                   "sphinx_copybutton", "sphinx_thebe", "sphinx_comments", "sphinx_external_toc", "sphinx_design",
                   "sphinx.ext.intersphinx", "sphinxcontrib.bibtex", "evidencebook._sphinx",
                   "evidencebook._glossary")
_JUPYTER_BOOK = """
import importlib, json, sys
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except ImportError:  # jupyter-book loads what it needs itself
        pass
if sys.stdin.readline().strip() == "build":
    from jupyter_book.cli.main import main
    main(args=["build", *json.loads(sys.argv[1])], prog_name="jupyter-book")
"""


class _JupyterBook:
    """``jupyter-book build``, started ahead: its process imports Sphinx and the theme at once,
    then waits for :meth:`build` (or for :meth:`cancel`, which ends it without building)."""

    def __init__(self, settings: Settings, quiet: bool) -> None:
        arguments = [str(settings.root), "--keep-going", *(["--quiet"] if quiet else [])]
        self.process = subprocess.Popen([sys.executable, "-c", _JUPYTER_BOOK, json.dumps(arguments),
                                         json.dumps(_SPHINX_IMPORTS)], cwd=settings.root, stdin=subprocess.PIPE,
                                        text=True)

    def build(self) -> int:
        self.process.communicate("build\n")
        return self.process.returncode

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.communicate("")


def build_book(settings: Settings, quiet: bool = False, meanwhile: Callable[[], T] | None = None) -> tuple[Path, T | None]:
    """Build the site with ``jupyter-book build``; return the path of its index and what ``meanwhile`` returned.

    Every book page is stamped with what it reads (:func:`stamp_notebooks`); then, side by side,
    the pages that must run again execute on their kernels (:func:`execute_stale_pages`, in a
    thread that only passes messages), jupyter-book starts and imports Sphinx in its own process,
    and ``meanwhile`` (the briefs, which the book includes) runs here.  jupyter-book builds once
    all are done, and finds every page in its cache.
    """
    from concurrent.futures import ThreadPoolExecutor

    stamp_notebooks(settings)
    jupyter_book = _JupyterBook(settings, quiet)
    try:
        cancel = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidencebook-pages") as pool:
            pages = pool.submit(execute_stale_pages, settings, cancel=cancel)
            try:
                result = meanwhile() if meanwhile is not None else None
            except BaseException:  # the briefs failed or were interrupted: start no further page, keep their error
                cancel.set()
                with contextlib.suppress(Exception):
                    pages.result()
                raise
            pages.result()  # a page that failed is raised here, after the briefs
        code = jupyter_book.build()
    finally:
        jupyter_book.cancel()
    index = settings.root / "_build" / "html" / "index.html"
    if code != 0 or not index.is_file():
        raise EvidencebookError(f"jupyter-book build failed (exit {code}); see the log above.")
    return index, result
