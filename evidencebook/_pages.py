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

__all__ = ["BOOK_NOTEBOOKS", "BOOK_PAGES", "OUTCOME_CHAPTERS", "BookBuilder", "PageKernels", "PageReads", "build_book",
           "execute_stale_pages", "page_stamp", "stamp_notebooks"]


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
# the working directory, as jupyter-cache gives it.  Imported modules stay: that is the point.  (What
# ``%reset -f`` does, without its full garbage collection: a fifth of a second a page, with pandas loaded.)
_FRESH = ("get_ipython().reset(new_session=False)\nget_ipython().execution_count = 1\n"
          "import os as _os\n_os.chdir({folder!r})\ndel _os")
# What the pages import, once per kernel, while the kernel waits for its first page (the pages that draw
# import matplotlib through the package's plots; a page imports whatever else it uses itself).
_WARM = "import evidencebook, pandas, evidencebook._book, evidencebook._book_quality"


class PageKernels:
    """Kernels for the book's pages, started at once in a thread of their own and kept from page to page
    (and, for :mod:`._watch`, from build to build).

    Starting a kernel and importing the package takes a second or two; a build starts them before it
    knows which pages are stale, so they are ready when it does.  Every page still starts as a new
    kernel would (:data:`_FRESH`).  Kernels started under other code (the package changed on disk) are
    started again before they run a page.
    """

    def __init__(self, root: Path, workers: int = 2, ahead: int | None = None) -> None:
        self.root, self.workers = root, workers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="evidencebook-page-kernels", daemon=True)
        self.thread.start()
        self.sockets = tempfile.mkdtemp(prefix="eb-pages-")  # IPC sockets: no TCP ports for kernels to race for
        self.started = 0
        self.code = code_version()  # pages draw with all of the package
        # ``ahead`` of them start now; the others when a build's pages are many (see run).
        self.kernels = [self._submit(self._start()) for _ in range(workers if ahead is None else min(ahead, workers))]

    def _submit(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def _start(self) -> tuple[Any, Any]:
        from ._kernels import launch_kernel

        self.started += 1
        km = await launch_kernel(self.root, os.path.join(self.sockets, f"k{self.started}"))
        if self.started == 1:  # while the kernel boots in its own process: a third of a second a build waited for
            _import_page_runner()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            await _run_on(kc, _WARM, 60)
        except BaseException:
            await _stop(km, kc)
            raise
        return km, kc

    def run(self, cache: Any, pages: list[tuple[int, str]], timeout: int, cancel: threading.Event | None = None,
            more: bool = True) -> tuple[list[str], dict[str, str]]:
        """Execute ``pages`` (cache pk, path) on the kernels started, and on up to ``workers`` if ``more``; return
        those done and the errors of those that failed."""
        if self.code != code_version():
            self.code = code_version()
            old, self.kernels = self.kernels, [self._submit(self._start()) for _ in self.kernels]
            for kernel in old:
                self._submit(self._stop_started(kernel))
        while more and len(self.kernels) < min(self.workers, len(pages)):
            self.kernels.append(self._submit(self._start()))
        return self._submit(self._run(cache, pages, timeout, cancel)).result()

    async def _stop_started(self, kernel: Any) -> None:
        with contextlib.suppress(Exception):
            await _stop(*await asyncio.wrap_future(kernel))

    async def _run(self, cache: Any, pages: list[tuple[int, str]], timeout: int,
                   cancel: threading.Event | None) -> tuple[list[str], dict[str, str]]:
        queue = list(pages)
        done: list[str] = []
        failed: dict[str, str] = {}

        async def worker(slot: int) -> None:
            km, kc = await asyncio.wrap_future(self.kernels[slot])
            while queue and not (cancel is not None and cancel.is_set()):
                pk, uri = queue.pop(0)
                if await _run_page(cache, km, kc, pk, uri, timeout, failed):
                    done.append(uri)
                    continue
                # A cell that timed out is still running, a dead kernel is dead, and nbclient may still be
                # reading the old client's messages: the next page gets a new kernel and a new client.
                await _stop(km, kc)
                self.kernels[slot] = self._submit(self._start())
                km, kc = await asyncio.wrap_future(self.kernels[slot])

        await asyncio.gather(*(worker(slot) for slot in range(min(len(self.kernels), len(pages)))))
        return done, failed

    def close(self) -> None:
        """Stop the kernels (those still starting too) and the thread."""
        async def stop_all() -> None:
            await asyncio.gather(*(self._stop_started(k) for k in self.kernels))

        try:
            if self.thread.is_alive():
                self._submit(stop_all()).result(timeout=30)
        except Exception:
            pass
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            if not self.thread.is_alive():
                self.loop.close()
            shutil.rmtree(self.sockets, ignore_errors=True)

    def __enter__(self) -> "PageKernels":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _import_page_runner() -> None:
    """Import what finds and runs the stale pages (jupyter-cache, its database, nbclient)."""
    import jupyter_cache  # noqa: F401
    import jupyter_cache.base  # noqa: F401
    import jupyter_cache.cache.db  # noqa: F401
    import nbclient  # noqa: F401


async def _run_on(kc: Any, code: str, timeout: int) -> None:
    reply = await kc.execute_interactive(code, timeout=timeout, store_history=False, output_hook=lambda msg: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r}: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")


async def _stop(km: Any, kc: Any) -> None:
    kc.stop_channels()
    await km.shutdown_kernel(now=True)


async def _run_page(cache: Any, km: Any, kc: Any, pk: int, uri: str, timeout: int, failed: dict[str, str]) -> bool:
    """Execute one page on a kernel and cache its outputs; False (its error in ``failed``) if it failed."""
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.cache.db import NbProjectRecord
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = cache.get_project_notebook(pk).nb
    start = time.perf_counter()
    try:
        await _run_on(kc, _FRESH.format(folder=str(Path(uri).parent)), timeout)
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=False, kernel_name="python3",
                                record_timing=False)  # timings in cell metadata would change its cache key
        # Our client, not a second one: clients of one kernel manager share its session, and
        # the kernel answers only the last of them to connect.
        client.kc = kc
        await client.async_execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError, TimeoutError) as exc:
        failed[uri] = f"{type(exc).__name__}: {str(exc)[-2000:]}"
        NbProjectRecord.set_traceback(uri, traceback.format_exc(), cache.db)
        return False
    seconds = time.perf_counter() - start
    cache.cache_notebook_bundle(CacheBundleIn(nb, uri, data={"execution_seconds": seconds}),
                                check_validity=False, overwrite=True)
    # Sphinx reads a page again only when its file is newer than its last reading: a page run
    # again because the code changed (its file did not) must still reach the site.
    os.utime(uri)
    return True


# Seconds of page runs (as long as the pages took last time) past which a build runs them on a second kernel too.
# Measured on 2 cores (benchmarks/end_to_end.py): a rebuild of four pages (about 7 s) was 0.6 s faster on one
# kernel; a cold build (pages never run) uses two.
SECOND_KERNEL_AFTER = 10.0


def stale_pages(settings: Settings, pages: Iterable[str] = BOOK_NOTEBOOKS) -> tuple[Any, list[tuple[int, str]]]:
    """jupyter-cache's database, and the ``pages`` (its project pk, path) whose cached outputs no longer match."""
    cache = _page_cache(settings)
    stale = []
    for page in pages:
        path = str(settings.root / page)
        try:
            cache.match_cache_file(path)
        except KeyError:
            stale.append((cache.add_nb_to_project(path).pk, path))
    return cache, stale


def execute_stale_pages(settings: Settings, workers: int = 2, timeout: int = 300,
                        pages: Iterable[str] = BOOK_NOTEBOOKS, cancel: threading.Event | None = None,
                        kernels: PageKernels | None = None, found: tuple[Any, list[tuple[int, str]]] | None = None
                        ) -> list[str]:
    """Execute the book ``pages`` whose cached outputs no longer match (or those ``found`` by :func:`stale_pages`),
    and cache them; return those pages.

    ``jupyter-book build`` would run them one at a time, each in a new kernel that imports
    everything again.  Here ``workers`` kernels (or those of ``kernels``, started ahead), warmed with
    the imports while they wait, take the pages in turn; before each page the kernel's namespace is
    emptied and its working directory set to the page's folder, as a new kernel would have them.  A
    page that fails is reported with its error after the others have run (and been cached); once
    ``cancel`` is set no further page starts.
    """
    cache, stale = found if found is not None else stale_pages(settings, pages)
    if not stale:
        return []
    # Longest first (as long as last time; a page never run before counts as longest): two kernels
    # then finish close together.
    took = {r.uri: (r.data or {}).get("execution_seconds", 0.0)
            for r in sorted(cache.list_cache_records(), key=lambda r: r.created)}
    stale.sort(key=lambda page: -took.get(page[1], float("inf")))
    # A second kernel takes seconds of a core to start: worth it for a long run of pages, not for a few short ones.
    more = sum(took.get(uri, float("inf")) for _, uri in stale) > SECOND_KERNEL_AFTER
    try:
        if kernels is not None:
            done, failed = kernels.run(cache, stale, timeout, cancel, more=more)
        else:
            with PageKernels(settings.root, min(workers, len(stale)) if more else 1) as own:
                done, failed = own.run(cache, stale, timeout, cancel)
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
# The jupyter-book process started ahead (see _JupyterBook): it imports, then follows its orders on stdin.
# "ready" (evidence/ is final): run jupyter-book up to Sphinx's build (its configuration, extensions, pickled
# environment and builder set up) and wait there for "build".  End of input
# ends it without building.
_JUPYTER_BOOK = """
import importlib, json, os, sys
root, arguments, imports = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
for name in imports:
    try:
        importlib.import_module(name)
    except ImportError:  # jupyter-book loads what it needs itself
        pass
import sphinx.application
sphinx_build, waiting = sphinx.application.Sphinx.build, []


def build_when_told(app, *args, **kwargs):
    if waiting and sys.stdin.readline().strip() != "build":
        os._exit(0)  # cancelled: nothing built
    return sphinx_build(app, *args, **kwargs)


def build():
    from jupyter_book.cli.main import main
    try:
        main(args=["build", *arguments], prog_name="jupyter-book")
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the site is written and closed: skip tearing down Sphinx's thousands of objects


sphinx.application.Sphinx.build = build_when_told
for line in sys.stdin:
    if line.strip() == "ready":
        waiting.append(True)
        build()
    elif line.strip() == "build":
        build()
"""


class _JupyterBook:
    """``jupyter-book build``, started ahead: its process imports Sphinx and the theme at once, then waits.

    :meth:`ready` (once ``evidence/`` is final) has it set Sphinx up while the pages and briefs run;
    :meth:`build` builds; :meth:`cancel` ends it without building.
    """

    def __init__(self, settings: Settings, quiet: bool) -> None:
        arguments = [str(settings.root), "--keep-going", *(["--quiet"] if quiet else [])]
        self.process = subprocess.Popen([sys.executable, "-c", _JUPYTER_BOOK, str(settings.root), json.dumps(arguments),
                                         json.dumps(_SPHINX_IMPORTS)], cwd=settings.root, stdin=subprocess.PIPE,
                                        text=True)

    def ready(self) -> None:
        """``evidence/`` is final: set Sphinx up now; the build then starts at once."""
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.write("ready\n")
                self.process.stdin.flush()

    def build(self) -> int:
        self.process.communicate("build\n")
        return self.process.returncode

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.communicate("")


def _publish(settings: Settings) -> None:
    """The data files for re-users (:func:`~evidencebook._publish.publish_if_changed`), written while the pages run."""
    from ._publish import publish_if_changed

    try:
        publish_if_changed(settings, settings.root / "_build" / "html")
    except Exception as exc:  # the Sphinx extension publishes again after the build, and fails the build there
        print(f"publishing the data files failed (tried again after the build): {exc}", file=sys.stderr)


class BookBuilder:
    """Builds the site: made before a build needs it, it starts the pages' kernels (:class:`PageKernels`) and a
    jupyter-book process (Sphinx imported) at once, so that both are ready by the time the evidence is.

    ``keep_warm`` (for :mod:`._watch`): after each build a new jupyter-book process starts warming for the next.
    """

    def __init__(self, settings: Settings, quiet: bool = False, workers: int = 2, keep_warm: bool = False) -> None:
        self.settings, self.quiet, self.keep_warm = settings, quiet, keep_warm
        # One kernel ahead; a second when the stale pages are many (a watch keeps both once started).
        self.kernels = PageKernels(settings.root, workers, ahead=1)
        self.book: _JupyterBook | None = _JupyterBook(settings, quiet)

    def build(self, meanwhile: Callable[[], T] | None = None) -> tuple[list[str], T | None]:
        """One build: return the pages executed and what ``meanwhile`` returned.

        Every book page is stamped with what it reads (:func:`stamp_notebooks`); then, side by side, the pages
        that must run again execute on the kernels (in a thread that only passes messages), the data files for
        re-users are written (another thread), the jupyter-book process sets Sphinx up, and ``meanwhile`` (the
        briefs, which the book includes) runs here.
        jupyter-book builds once all are done, and finds every page in its cache.
        """
        from concurrent.futures import ThreadPoolExecutor

        book = self.book or _JupyterBook(self.settings, self.quiet)
        self.book = None
        try:
            stamp_notebooks(self.settings)
            book.ready()
            cancel = threading.Event()
            # Found before the briefs start: their keys would hold this process for half a second first.
            found = stale_pages(self.settings)
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="evidencebook-build") as pool:
                pages = pool.submit(execute_stale_pages, self.settings, cancel=cancel, kernels=self.kernels,
                                    found=found)
                # Here, not in the jupyter-book process: this one has the evidence, the summary and pandas loaded.
                published = pool.submit(_publish, self.settings)
                try:
                    result = meanwhile() if meanwhile is not None else None
                except BaseException:  # the briefs failed or were interrupted: start no further page, keep their error
                    cancel.set()
                    with contextlib.suppress(Exception):
                        pages.result()
                    raise
                executed = pages.result()  # a page that failed is raised here, after the briefs
                published.result()
            code = book.build()
        finally:
            book.cancel()
            if self.keep_warm:
                self.book = _JupyterBook(self.settings, self.quiet)  # the next build's, warming now
        index = self.settings.root / "_build" / "html" / "index.html"
        if code != 0 or not index.is_file():
            raise EvidencebookError(f"jupyter-book build failed (exit {code}); see the log above.")
        return executed, result

    def close(self) -> None:
        try:
            if self.book is not None:
                self.book.cancel()
        finally:
            self.kernels.close()

    def __enter__(self) -> "BookBuilder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def build_book(settings: Settings, quiet: bool = False, meanwhile: Callable[[], T] | None = None) -> tuple[Path, T | None]:
    """Build the site (see :meth:`BookBuilder.build`); return the path of its index and what ``meanwhile`` returned."""
    with BookBuilder(settings, quiet) as builder:
        _, result = builder.build(meanwhile)
    return settings.root / "_build" / "html" / "index.html", result
