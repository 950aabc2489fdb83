"""Running the brief template: one region, or many regions fanned out over workers.

``Brief`` computes what a brief shows (pure functions over the evidence); the template
``notebooks/brief.ipynb`` only calls it.  :func:`render_brief` executes the template for one
region into the book's briefs section (``book/briefs/<id>.ipynb``) and writes a standalone
HTML page and its PDF beside the book (``_build/briefs/<id>.html`` and ``.pdf``).

:func:`render_all_briefs` fans the regions out over workers that each keep one kernel (and
one headless Chromium) for all their briefs: every brief is still a complete papermill
execution of the template, but no brief pays for starting a kernel or a browser, connecting
a kernel client, importing the package or loading the evidence, which are done once per
worker and evidence version (and its PDF fits two pages in one or two prints: see
:func:`._brief_page.fit`); the
summary of findings, the same in every brief, is computed once per evidence version and kept
on disk (``_build/.evidencebook-cache``) for every later kernel.  The workers run on any
``concurrent.futures`` executor: a process pool by default, or a Dask cluster
(:func:`dask_executor`).

Heavy imports (pandas, papermill, Playwright) happen inside the functions that
need them, so that naming a region, and a worker's start, stay cheap.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from ._brief_page import (
    MAX_PAGES,
    Printer,
    check_publishable,
    chromium_path,
    notebook_html,
    scrub_notebook,
    standalone_links,
    standalone_page,
)
from ._briefs import (
    evidence_for,
    frame_digest,
    judgements_for,
    judgements_hash,
    kept_on_disk,
    national_summary,
    region_input_keys,
    workforce_findings,
)
from ._cache import write_atomic
from ._config import Settings, code_version, load_settings
from ._errors import BriefError
from ._kernels import launch_kernel, run_sync
from ._regions import find_region, region_records

if TYPE_CHECKING:
    import nbformat


__all__ = ["BriefOutput", "dask_executor", "render_all_briefs", "render_brief"]

T = TypeVar("T")
CELL_TIMEOUT = 300  # seconds: a hung cell fails its region instead of holding a worker for ever


@dataclass(frozen=True)
class BriefOutput:
    region_id: str
    notebook: Path
    html: Path
    pdf: Path | None = None
    rebuilt: bool = True  # False: its content had not changed, the files were kept as they were



_PAGES_LABEL = '<span class="eb-pdf-pages">two pages</span>'


def label_pages_html(html: str, pages: int) -> str:
    """The page's link to its PDF, saying how many pages were printed (the template says two)."""
    words = {1: "one page", 2: "two pages"}.get(pages, f"{pages} pages")
    return html.replace(_PAGES_LABEL, f'<span class="eb-pdf-pages">{words}</span>')


def label_pages(nb: "nbformat.NotebookNode", pages: int) -> "nbformat.NotebookNode":
    """:func:`label_pages_html` in every HTML output of the notebook."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                text = data["text/html"]
                data["text/html"] = label_pages_html("".join(text) if isinstance(text, list) else text, pages)
    return nb


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
    """papermill's nbclient engine, but on the kernel client of the worker that runs it.

    nbclient makes a kernel client for every notebook and waits for it to be ready, which ends
    by listening for 0.2 s to a quiet IOPub channel: a fifth of a second idle a brief, about a
    third of a brief's time.  A worker makes one client with its kernel and hands it to every
    notebook (``kc``); the notebook leaves it open for the next one (with a kernel it did not
    start, nbclient never closes it) and the worker closes it with the kernel, so a worker that
    briefs thousands of regions still holds the five sockets of one client.  Registered once,
    by name.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class Client(PapermillNotebookClient):  # type: ignore[misc]
        def __init__(self, nb_man: Any, kc: Any = None, **kwargs: Any) -> None:
            super().__init__(nb_man, **kwargs)
            self.kc = kc  # set: nbclient's setup_kernel does not make one

        def execute(self, **kwargs: Any) -> Any:
            try:
                return super().execute(**kwargs)
            finally:
                self.kc = None  # the worker's, not this notebook's: it stays open for the next brief

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


def _import_runner() -> None:
    """Import what runs a notebook and renders its page (papermill, nbclient, mistune) and register the engine."""
    import mistune  # noqa: F401  (notebook_html's Markdown)

    _papermill_engine()


def _ready_client(km: Any, timeout: float = 60) -> Any:
    """A kernel client of ``km`` with its channels started, once the kernel answers (what nbclient does per
    notebook; a worker does it once per kernel)."""
    kc = km.client()
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready, timeout=timeout)
    except BaseException:
        kc.stop_channels()
        raise
    kc.allow_stdin = False
    return kc


_WARM_BRIEF_KERNEL = ("import evidencebook, evidencebook._briefs, evidencebook._policy, evidencebook._synthesis, "
                      "evidencebook._display, evidencebook._publish")


class _Worker:
    """A kernel and (for PDFs) a browser that brief region after region."""

    def __init__(self, settings: Settings, pdf: bool, browser_first: bool = True) -> None:
        self.settings = settings
        self.records = region_records(settings.regions)
        self.pdf = pdf
        # A worker of a fan-out starts Chromium while its kernel starts; one brief on demand starts it
        # once the HTML is written (on two cores it would otherwise slow the HTML down).
        self.printer = Printer(chromium_path()) if pdf and browser_first else None
        self.kc: Any = None
        try:
            self.km = _start_kernel(settings.root)
            _import_runner()  # while the kernel starts in its own process, not after: a second of a brief on demand
            self.kc = _ready_client(self.km)
            # What every brief imports, imported before the first brief comes (a worker started ahead, or kept
            # by `evidencebook watch`, then has it done); papermill's run of the template finds it imported.
            run_sync(self.kc.execute_interactive, _WARM_BRIEF_KERNEL, store_history=False, timeout=120,
                     output_hook=lambda msg: None)
        except BaseException:
            self.close()
            raise

    def _execute(self, region_id: str) -> "nbformat.NotebookNode":
        import papermill

        for attempt in (1, 2):
            if not run_sync(self.km.is_alive):  # an earlier brief killed the kernel: start it afresh
                self._stop_client()
                run_sync(self.km.restart_kernel, now=True)
            if self.kc is None:
                self.kc = _ready_client(self.km)
            try:
                # No cwd: the kernel already runs in the project, and papermill would chdir this process.
                return papermill.execute_notebook(
                    str(self.settings.brief_template), None, parameters={"region": region_id, "pdf": self.pdf},
                    engine_name=_papermill_engine(), kernel_name="python3", progress_bar=False, log_output=False,
                    execution_timeout=CELL_TIMEOUT, km=self.km, kc=self.kc)
            except papermill.PapermillExecutionError as exc:
                raise BriefError(f"brief for {region_id}: cell {exc.cell_index} failed: {exc.ename}: "
                                 f"{exc.evalue}") from exc
            except Exception as exc:  # the kernel died or hung: one more try on a fresh kernel
                if attempt == 2 or run_sync(self.km.is_alive):
                    raise BriefError(f"brief for {region_id}: the kernel failed: {type(exc).__name__}: "
                                     f"{exc}") from exc
        raise AssertionError("unreachable")

    def brief(self, name: str, key: str | Callable[[], str] = "") -> BriefOutput:
        """``key``: the brief's key (:func:`brief_keys`), or what returns it once the notebook has run."""
        import nbformat

        region = find_region(name, self.records)
        region_id, title = str(region["region_id"]), f"{region['name']}: peer support services brief"
        nb = scrub_notebook(self._execute(region_id), title)
        key = key() if callable(key) else key
        if key:  # what it shows, so that an unchanged brief is not rendered again (see brief_keys)
            nb.metadata["evidencebook"] = {"brief_key": key}
        body = notebook_html(nb)
        s = self.settings
        book_prefix = Path(os.path.relpath(s.book_html_dir / "book", s.brief_html_dir)).as_posix() + "/"
        page = standalone_page(title, standalone_links(body, book_prefix))
        notebook_text = nbformat.writes(nb)
        check_publishable(region_id, [notebook_text, page], s)
        out = BriefOutput(region_id, s.briefs_dir / f"{region_id}.ipynb", s.brief_html_dir / f"{region_id}.html",
                          s.brief_html_dir / f"{region_id}.pdf" if self.pdf else None)
        write_atomic(out.notebook, notebook_text)
        write_atomic(out.html, page)  # readable now; the PDF follows
        if out.pdf is not None:
            if self.printer is None:
                self.printer = Printer(chromium_path(region_id))
            try:
                printed = self.printer.print_brief(page, title)
            except Exception as exc:
                raise BriefError(f"brief for {region_id}: printing the PDF failed: {type(exc).__name__}: "
                                 f"{exc}") from exc
            write_atomic(out.pdf, printed.pdf)
            pages = printed.pages
            if pages != MAX_PAGES:  # the page and the notebook said two pages: say what was printed
                write_atomic(out.notebook, nbformat.writes(label_pages(nb, pages)))
                write_atomic(out.html, label_pages_html(page, pages))
        return out

    def _stop_client(self) -> None:
        if self.kc is not None:
            kc, self.kc = self.kc, None
            kc.stop_channels()

    def close(self) -> None:
        try:
            if self.printer is not None:
                self.printer.close()
        finally:
            km = getattr(self, "km", None)
            try:
                self._stop_client()
                if km is not None:
                    run_sync(km.shutdown_kernel, now=True)
            finally:
                shutil.rmtree(getattr(km, "_evidencebook_sockets", ""), ignore_errors=True)


def render_brief(settings: Settings, name: str, pdf: bool = True) -> BriefOutput:
    """Execute the brief template for the region ``name`` means; write its notebook, HTML page and PDF.

    While its kernel starts, this process makes the summary of findings (once per evidence version and
    judgements, kept on disk) that the kernel then reads: the first brief of a new version is not slower.

    Raises :class:`RegionError` (nothing written, no kernel started) for an unknown region,
    and :class:`BriefError` naming the region if Chromium is missing (before any work), the
    notebook fails to execute, or its output would carry a path or secret of this machine.
    """
    region_id = str(find_region(name, region_records(settings.regions))["region_id"])
    if pdf:
        chromium_path(region_id)
    # The summary of findings, while the kernel starts: the first brief of an evidence version then finds it
    # kept (or waits for it: it is made once) instead of making it after its kernel has started.
    summary = threading.Thread(target=_keep_summary_quietly, args=(settings,), name="evidencebook-summary",
                               daemon=True)
    summary.start()
    worker = _Worker(settings, pdf, browser_first=False)
    try:
        return worker.brief(region_id)
    finally:
        try:
            worker.close()
        finally:
            summary.join()


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
    from concurrent.futures import ThreadPoolExecutor

    worker = _worker_for(root, pdf)
    if key is not None:
        return worker.brief(region_id, key)
    # While the kernel runs the notebook this process only waits for its messages: work the key out meanwhile.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidencebook-key") as keys:
        later = keys.submit(lambda: brief_keys(worker.settings, [region_id], pdf)[region_id])
        return worker.brief(region_id, later.result)


def kept_summary(settings: Settings) -> str:
    """What is the same in every brief (:func:`._brief_text.national_summary`), made once per evidence version
    and judgements and kept on disk, as the briefs' kernels keep and read it (:meth:`Brief._national`)."""
    evidence = evidence_for(settings)
    judgements = judgements_for(settings, evidence)
    return kept_on_disk(settings.cache_dir, "national",
                        str(evidence.manifest.get("content_hash", "")) + judgements_hash(judgements),
                        lambda: national_summary(evidence, judgements))


def _keep_summary_quietly(settings: Settings) -> None:
    """:func:`kept_summary`, for a brief on demand; a failure is the kernel's to report (it makes it again)."""
    try:
        kept_summary(settings)
    except Exception:
        pass


def brief_keys(settings: Settings, region_ids: list[str], pdf: bool) -> dict[str, str]:
    """Per region, a hash of everything its brief is drawn from except the evidence version's label.

    What each region reads of the evidence (its state's policy facts and the national ones, its
    studies and their findings, its regions rows: :func:`._briefs.region_input_keys`, one pass
    over the tables for all regions), what every brief reads (the parts of the summary of findings
    a brief shows, the judgements, the workforce recommendations, the manifest's counts, the site's
    address, the day it is built), the template and the code that draws and prints it.  A brief
    whose key has not changed shows exactly what it showed: it is not executed again, so a sync
    that touches one state re-renders only the briefs that read the change.
    """
    import datetime as dt
    import hashlib

    evidence = evidence_for(settings)
    judgements = judgements_for(settings, evidence)
    national = json.loads(kept_summary(settings))
    # What a brief shows of the summary: the headline table, the first two sentences, each question's certainty.
    shown = json.dumps([national["headline"], national["sentences"][:2], national["certainty"]], sort_keys=True)
    # The label (version, date, content hash) names the version a brief was built from; alone it is no reason
    # to rebuild 52 briefs.  The day is: a brief flags deadlines passed by the day it is built, and says it.
    common = hashlib.sha256()
    for part in (settings.brief_template.read_bytes(), code_version().encode(), str(pdf).encode(),
                 shown.encode("utf-8"), judgements_hash(judgements).encode(), settings.site_url.encode("utf-8"),
                 dt.date.today().isoformat().encode(),
                 json.dumps(evidence.manifest.get("counts", {}), sort_keys=True, default=str).encode("utf-8"),
                 frame_digest(workforce_findings(evidence)).encode()):
        common.update(part + b"\0")
    records = region_records(settings.regions)
    inputs = region_input_keys(evidence, records)
    keys = {}
    for region_id in region_ids:
        digest = common.copy()
        digest.update(inputs[region_id].encode())
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

    By default ``workers`` processes (one brief to write: this process, on a worker of its own); pass
    any ``concurrent.futures.Executor`` (for example
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
    # One brief (a sync that touched one state): a worker process would first import what this one has.
    own = executor is None and len(todo) > 1
    # forkserver: workers start clean, whatever threads this process runs (a Dask client, tqdm).
    pool = executor or (ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))),
                                            mp_context=get_context("forkserver"),
                                            initializer=_start_pool_worker, initargs=(root, pdf)) if own
                        else _HereExecutor(settings))
    try:
        futures = {pool.submit(_brief_task, root, region_id, pdf, keys[region_id]): region_id for region_id in todo}
        for future in tqdm(as_completed(futures), total=len(futures), desc="briefs", unit="region",
                           disable=not progress):
            try:
                done.append(future.result())
            except Exception as exc:  # one region's failure never stops the others
                failed[futures[future]] = str(exc)
    finally:
        if executor is None:
            pool.shutdown(wait=True)
    if regions is None:
        _prune(settings, set(wanted))
    return sorted(done, key=lambda o: o.region_id), dict(sorted(failed.items()))


class _HereExecutor(Executor):
    """Briefs run in this thread as they are submitted, on a worker of its own (:func:`_worker_for`): for one
    brief, which a pool would first start a process for.  (In this thread: the kernel client's event loop is
    then this thread's, not one left behind by a thread that ended.)"""

    def __init__(self, settings: Settings) -> None:
        self.root = str(settings.root)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "Future[T]":
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the caller reads it from the future, as from a pool's
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        _close_workers(self.root)


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
