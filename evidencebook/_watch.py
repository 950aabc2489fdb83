"""Watching a Zotero library while a review team updates it: poll, sync, rebuild, serve, reload.

Every few seconds :class:`VersionProbe` asks Zotero one question, with one request: has the
library changed since version V?  (``GET <library>/items?since=V&format=versions`` with
``If-Modified-Since-Version: V``; Zotero answers ``304 Not Modified`` when it has not.)
pyzotero raises on a 304, so this request goes through httpx directly, as the sync's client
does underneath.  When the version moves, :class:`Watcher` runs the ordinary sync (Zotero's
own algorithm, :func:`sync_library`) and then :class:`WarmBuilder` rebuilds what reads the
change: the stale book pages, the briefs whose content changed (with HTML and PDF), and the site.

What stays warm between rounds: the briefs' workers (a process pool whose workers each keep a
kernel with the package and evidence loaded, and a Chromium for the PDFs), and a jupyter-book
process that has already imported Sphinx, its extensions and the theme and waits for the next
build.  Sphinx itself is not kept running: jupyter-book builds with a new Sphinx application
each time, which sets up its extensions and reloads its pickled environment (about 5 s on a busy
2-core machine) and then reads and writes only what changed.  An application set up ahead would
publish stale text: sphinxcontrib-bibtex parses the bibliography at ``builder-inited``, and a sync
changes it.  The book's pages run on kernels kept from round to round (:class:`~._pages.PageKernels`).

:class:`WatchSite` serves ``_build/`` on 127.0.0.1.  In the HTML it serves (never in the files on disk,
so never in the published site) it adds a small script that polls ``/__evidencebook_watch.json``
and reloads the page when a new build lands.

Ctrl-C (SIGINT), or SIGTERM, at any moment leaves ``evidence/`` as a killed sync leaves it: the old evidence
or the new, never a mix (the store's journaled commit); the watcher finishes or discards an
interrupted commit before it exits, so the folder is consistent on disk straight away.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

from ._config import Settings
from ._errors import EvidencebookError, SyncError

__all__ = ["WatchRound", "WatchSite", "VersionProbe", "WarmBuilder", "Watcher", "watch_library"]

POLL_SECONDS = 5.0
# The longest pause between polls, whatever Zotero's Retry-After or Backoff says: a huge or infinite value would
# overflow the wait (and a watch should ask again within the hour rather than sleep for days).
LONGEST_PAUSE = 3600.0
STAMP_PATH = "/__evidencebook_watch.json"
# Added to every HTML page the watch server sends (not to the files): reload when the build stamp changes.
RELOAD_SCRIPT = (
    "<script>/* evidencebook watch: reload on a new build */(function(){var seen=null;setInterval(function(){"
    f"fetch('{STAMP_PATH}',{{cache:'no-store'}}).then(function(r){{return r.json()}}).then(function(s){{"
    "if(seen!==null&&s.build!==seen){location.reload()}seen=s.build}).catch(function(){})},1000)})();</script>")


class PollPause(SyncError):
    """Zotero could not answer a poll now (429, 5xx, no connection): poll again after ``wait`` seconds."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class VersionProbe:
    """One conditional request per poll: the library's version, or None when it has not moved (304)."""

    def __init__(self, settings: Settings, api_key: str | None = None, *, local: bool = False,
                 endpoint: str | None = None, timeout: float = 10.0) -> None:
        import httpx2

        from ._sync import LOCAL_ENDPOINT, WEB_ENDPOINT, _is_loopback, normalise_endpoint

        self.endpoint = normalise_endpoint(endpoint) if endpoint else (LOCAL_ENDPOINT if local else WEB_ENDPOINT)
        self.local = local
        library_id = 0 if local and settings.library_type == "user" else settings.library_id
        self.url = f"{self.endpoint}/{settings.library_type}s/{library_id}/items"
        self.library = f"{settings.library_type} library {settings.library_id}"
        self.headers = {"Zotero-API-Version": "3", **({"Zotero-API-Key": api_key} if api_key and not local else {})}
        self.client = httpx2.Client(timeout=timeout, follow_redirects=True, trust_env=not _is_loopback(self.endpoint))
        self.requests = 0
        self.backoff = 0.0  # seconds Zotero asked for on its last answer (Backoff): the next poll waits that long

    def poll(self, since: int) -> int | None:
        """The library version if it is newer than ``since``; None if Zotero says it has not changed.

        Raises :class:`PollPause` for a wait Zotero asked for or a passing failure, and
        :class:`SyncError` (its ``SyncAuthError`` for a refused key or unknown library) otherwise.
        """
        import httpx2

        from ._sync import VERSION, SyncAuthError, _status_text, parse_wait

        self.requests += 1
        try:
            response = self.client.get(self.url, params={"since": str(since), "format": "versions",
                                                         "includeTrashed": "1"},
                                       headers={**self.headers, "If-Modified-Since-Version": str(since)})
        except httpx2.TransportError as exc:
            raise PollPause(f"no answer from Zotero at {self.endpoint} ({type(exc).__name__})", POLL_SECONDS) from None
        now = time.time()
        waits = [parse_wait(response.headers.get(name), now) for name in ("retry-after", "backoff")]
        asked = min(max((w for w in waits if w is not None), default=0.0), LONGEST_PAUSE)
        self.backoff = asked
        status = response.status_code
        if status == 304:
            return None
        if status in (401, 403):
            raise SyncAuthError(f"Zotero refused access to {self.library} ({_status_text(status)}): the API key in "
                                "ZOTERO_API_KEY is missing, wrong or lacks read access to this library.")
        if status == 404:
            raise SyncAuthError(f"Zotero has no {self.library} (404 Not Found) at {self.endpoint}: check library_id "
                                "and library_type in [tool.evidencebook].")
        if status == 429 or status >= 500:
            raise PollPause(f"Zotero answered {_status_text(status)}", max(asked, POLL_SECONDS))
        raw = response.headers.get("last-modified-version", "").strip()
        if status != 200 or not VERSION.fullmatch(raw):
            raise SyncError(f"Zotero's answer to the version check for {self.library} was {_status_text(status)} "
                            f"{'without' if not raw else 'with a bad'} Last-Modified-Version header; check --endpoint.")
        return int(raw)

    def close(self) -> None:
        self.client.close()


@dataclass
class WatchRound:
    """One round that saw the library move: versions, what was rebuilt, and how long it took."""

    old_version: int
    new_version: int
    evidence_changed: bool
    pages: list[str] = field(default_factory=list)
    briefs: int = 0
    seconds: float = 0.0
    failed: str = ""  # the build's error, if it failed (the site keeps its last build)

    def summary(self) -> str:
        if self.failed:
            return f"synced, but the build failed after {self.seconds:.1f} s (the site shows the last build): {self.failed}"
        if not self.evidence_changed:
            return f"synced; the evidence did not change, nothing to build ({self.seconds:.1f} s)"
        pages = f"{len(self.pages)} page{'s' if len(self.pages) != 1 else ''}"
        briefs = f"{self.briefs} brief{'s' if self.briefs != 1 else ''}"
        return f"built {pages}, {briefs} in {self.seconds:.1f} s"


Rebuild = Callable[[Any], tuple[list[str], int]]


def stored_version(settings: Settings, local: bool, endpoint: str) -> int:
    """The library version the evidence was last synced to from this API (0: never)."""
    from ._sync import _watermark_name
    from ._zotero import read_library

    library = read_library(settings.snapshot)
    if (library.get("id"), library.get("type")) != (settings.library_id, settings.library_type):
        return 0
    return int(library.get("watermarks", {}).get(_watermark_name(local, endpoint), 0))


# What a sync rewrites even when no table changed: the Zotero snapshot, and the library version in the manifest.
_SNAPSHOT_ONLY = frozenset({"zotero", "manifest.json"})


def evidence_changed(report: Any) -> bool:
    """Whether a sync changed what the book and the briefs read (a table, the changelog), not only the snapshot."""
    return report.build is not None and bool(set(report.build.changed) - _SNAPSHOT_ONLY)


class Watcher:
    """The loop's logic, one round at a time: poll; when the version moved, sync, then rebuild.

    ``sync`` runs a sync and returns its :class:`SyncReport`; ``rebuild`` gets that report and
    returns the pages executed and the number of briefs written.  Both are injected, so the
    logic can be tested without a build.
    """

    def __init__(self, probe: VersionProbe, version: int, sync: Callable[[], Any], rebuild: Rebuild,
                 say: Callable[[str], None] = print, on_built: Callable[[WatchRound], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.probe, self.version, self.sync, self.rebuild = probe, version, sync, rebuild
        self.say, self.on_built, self.clock = say, on_built, clock
        self.pause = 0.0  # extra seconds before the next poll (Zotero asked, or it could not answer)

    def round(self) -> WatchRound | None:
        """Poll once; None when nothing changed (or the poll must wait), else what was synced and built."""
        try:
            seen = self.probe.poll(self.version)
        except PollPause as exc:
            self.pause = exc.wait
            self.say(f"{exc}; polling again in {exc.wait:.0f} s")
            return None
        self.pause = self.probe.backoff
        if seen is None or seen <= self.version:
            return None
        from ._sync import SyncAuthError

        start = self.clock()
        self.say(f"library version {self.version} → {seen}: syncing…")
        try:
            report = self.sync()
        except SyncAuthError:
            raise  # a wrong key or library stays wrong: stop
        except EvidencebookError as exc:  # nothing was written; the next poll sees the same version and tries again
            self.say(f"library version {self.version} → {seen}: the sync failed, trying again at the next poll: {exc}")
            return None
        done = WatchRound(self.version, report.new_version, evidence_changed(report))
        self.version = report.new_version  # evidence/ holds it now, whatever the build does
        if done.evidence_changed:
            try:
                done.pages, done.briefs = self.rebuild(report)
            except EvidencebookError as exc:  # the site keeps its last build; the next edit builds again
                done.failed = str(exc)
        done.seconds = self.clock() - start
        if self.on_built is not None and not done.failed:
            self.on_built(done)
        self.say(f"library version {done.old_version} → {done.new_version}: {done.summary()}")
        return done

    def run(self, interval: float = POLL_SECONDS, stop: threading.Event | None = None) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set (or Ctrl-C)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.round()
            stop.wait(max(interval, self.pause))


def _start_warm_worker(root: str, pdf: bool, watch_pid: int) -> None:
    """A brief worker of the watch: its kernel and Chromium, then deaf to Ctrl-C, and gone with the watch.

    Ctrl-C in a terminal reaches every process of the group; the watch then shuts its workers
    down itself, so that each closes its kernel and browser instead of dying in the middle.  A
    watch that dies without doing so (killed) is noticed within a second: the worker then closes
    its kernel and browser and ends, rather than keeping them running with no one to use them.
    """
    import os
    import signal

    from ._brief_runs import _close_workers, _start_pool_worker

    _start_pool_worker(root, pdf)  # started first: the kernel and browser keep the usual Ctrl-C handling
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def follow_the_watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(watch_pid, 0)
            except ProcessLookupError:
                try:
                    _close_workers()
                finally:
                    os._exit(0)
            except PermissionError:  # alive (another user's process would be a reused pid: keep going)
                pass

    threading.Thread(target=follow_the_watch, name="evidencebook-follow-watch", daemon=True).start()


class WarmBuilder:
    """Rebuilds the stale pages, the changed briefs and the site, keeping the briefs' workers, the pages' kernels and
    a jupyter-book process (Sphinx imported) warm between rounds."""

    def __init__(self, settings: Settings, pdf: bool = True, workers: int = 2, quiet: bool = True) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        from ._brief_page import chromium_path
        from ._pages import BookBuilder

        if pdf:
            chromium_path()  # a clear error before anything starts
        self.settings, self.pdf = settings, pdf
        # Each worker starts its kernel (and Chromium) now and keeps them for every later round.
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"),
                                        initializer=_start_warm_worker, initargs=(str(settings.root), pdf, os.getpid()))
        # A pool starts a worker per task submitted while none is idle: one empty task each starts them all now,
        # in the background, instead of in the first round that needs them.
        for _ in range(workers):
            self.pool.submit(int)
        self.book = BookBuilder(settings, quiet, workers, keep_warm=True)  # kernels and Sphinx imported now

    def __call__(self, report: Any = None) -> tuple[list[str], int]:
        from ._brief_runs import render_all_briefs

        executed, (done, failed) = self.book.build(
            lambda: render_all_briefs(self.settings, progress=False, executor=self.pool, pdf=self.pdf))
        if failed:
            raise EvidencebookError(f"{len(failed)} brief(s) failed: " + "; ".join(
                f"{region}: {message}" for region, message in failed.items()))
        return executed, sum(o.rebuilt for o in done)

    def close(self) -> None:
        try:
            self.book.close()
        finally:
            # Each worker stops its kernel and browser as its process ends (a finaliser of _brief_runs).
            self.pool.shutdown(wait=True, cancel_futures=True)


class WatchSite:
    """``folder`` served on 127.0.0.1; HTML pages carry the reload script, and the stamp says which build is current."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        self.folder = folder
        self.stamp: dict[str, Any] = {"build": 0, "library_version": None, "built_at": None}
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, name="evidencebook-site", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def built(self, round_: WatchRound) -> None:
        """A new build is on disk: pages open in a browser reload."""
        self.stamp = {"build": self.stamp["build"] + 1, "library_version": round_.new_version,
                      "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[SimpleHTTPRequestHandler]:
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(site.folder), **kwargs)

            def log_message(self, *args: Any) -> None:  # the terminal shows the rounds, not every request
                pass

            def end_headers(self) -> None:
                self.send_header("Cache-Control", "no-store")  # a reload must fetch the new build
                super().end_headers()

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                if path == STAMP_PATH:
                    self._send(json.dumps(site.stamp).encode(), "application/json")
                    return
                local = Path(self.translate_path(path))  # confined to the folder by http.server
                if local.is_dir():
                    local = local / "index.html"
                if local.suffix == ".html" and local.is_file():
                    html = local.read_text(encoding="utf-8", errors="replace")
                    marker = html.lower().rfind("</body>")
                    html = html[:marker] + RELOAD_SCRIPT + html[marker:] if marker >= 0 else html + RELOAD_SCRIPT
                    self._send(html.encode("utf-8"), "text/html; charset=utf-8")
                    return
                super().do_GET()

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager's stop): the watch stops as on Ctrl-C."""


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Stop on SIGTERM as on Ctrl-C (SIGINT), in the main thread; restore the previous handler afterwards.

    A watch started in the background of a script ignores SIGINT, as POSIX has background jobs do
    (Python then installs no Ctrl-C handler): SIGTERM is how such a watch is stopped cleanly.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _settle(settings: Settings) -> None:
    """Finish or discard a commit that Ctrl-C interrupted, so evidence/ is consistent on disk now."""
    from ._store import evidence_lock

    try:
        with evidence_lock(settings.evidence):  # taking the lock runs the store's recovery
            pass
    except SyncError:
        pass  # another process holds it: its own commit is whole, and it recovers on its next lock


def watch_library(settings: Settings, api_key: str | None = None, *, local: bool = False, endpoint: str | None = None,
                  interval: float = POLL_SECONDS, pdf: bool = True, serve: bool = True, port: int = 0,
                  say: Callable[[str], None] = print, stop: threading.Event | None = None,
                  builder: Rebuild | None = None) -> int:
    """Watch the configured library until Ctrl-C (or SIGTERM, or ``stop``); return the exit code (130 after Ctrl-C,
    143 after SIGTERM)."""
    from ._sync import sync_library

    if settings.library_id == 0 and not local:
        raise SyncError("No Zotero library is configured (library_id = 0 is the bundled snapshot): set library_id and "
                        "library_type under [tool.evidencebook] in pyproject.toml to watch your library.")
    probe = VersionProbe(settings, api_key, local=local, endpoint=endpoint)
    site = warm = None
    try:
        if builder is None:
            warm = builder = WarmBuilder(settings, pdf=pdf)
        if serve:
            site = WatchSite(settings.root / "_build", port)
            say(f"serving the site at {site.url}html/index.html (briefs under {site.url}briefs/)")
        watcher = Watcher(probe, stored_version(settings, local, probe.endpoint),
                          lambda: sync_library(settings, api_key, local=local, endpoint=probe.endpoint, progress=False,
                                               notify=say),
                          builder, say=say, on_built=site.built if site else None)
        say(f"watching {probe.library} from library version {watcher.version}: one request every {interval:g} s "
            "(Ctrl-C stops)")
        try:
            with _stop_on_sigterm():
                watcher.run(interval, stop)
        except KeyboardInterrupt as exc:
            _settle(settings)
            say("stopped; evidence/ holds the last complete sync")
            return 143 if isinstance(exc, Terminated) else 130
        return 0
    finally:
        probe.close()
        if site is not None:
            site.close()
        if warm is not None:
            warm.close()
