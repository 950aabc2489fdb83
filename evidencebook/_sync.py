"""Syncing from Zotero: Zotero's own read-only sync algorithm, through pyzotero.

Web API (``https://api.zotero.org`` or an ``endpoint`` override)::

    GET items?since=V&format=versions&includeTrashed=1     every changed key, children included
    GET items?itemKey=K1,...,K50&includeTrashed=1           changed items, 50 per request
    GET deleted?since=V                                     purged keys (409: too old -> reconcile)

Every response's ``Last-Modified-Version`` must equal the first one's; if the library
changes mid-sync, the delta is thrown away and the sync restarts from the stored version
``V`` after a growing wait.  The desktop local API has no ``deleted`` and versions that
are not comparable with the web's, so there the full key set is compared instead; each API
keeps its own watermark.  Nothing is written until the whole delta is in and the new
evidence base validates, and then it is swapped in atomically (see ``_store``).

The API key is read from ``ZOTERO_API_KEY`` by the CLI and passed in; it is never written,
logged or put in an error message.
"""

from __future__ import annotations

import ipaddress
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlparse

from ._config import Settings
from ._errors import SyncError
from ._evidence import BuildReport, build_evidence
from ._zotero import Snapshot, _nfc, read_library, read_snapshot

__all__ = ["SyncReport", "sync_library"]

WEB_ENDPOINT = "https://api.zotero.org"
LOCAL_ENDPOINT = "http://127.0.0.1:23119/api"
BATCH = 50  # Zotero's itemKey limit
MAX_RESTARTS = 5  # the library kept changing under us
MAX_RETRIES = 5  # 429 / 5xx / network blips per request


class SyncAuthError(SyncError):
    exit_code = 2


class _LibraryChanged(Exception):
    """The library version moved during a sync: restart from the stored version."""


@dataclass
class SyncReport:
    """What a sync fetched and what it did to the evidence base."""

    api: str
    old_version: int
    new_version: int
    requests: int
    fetched: int
    purged: list[str]
    trashed: list[str]
    build: BuildReport | None
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.build and self.build.changed)


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Client:
    """pyzotero with the errors, retries, version checks and request count a sync needs."""

    def __init__(self, settings: Settings, api_key: str | None, local: bool, endpoint: str | None,
                 sleep: Callable[[float], None]) -> None:
        import httpx2
        from pyzotero import zotero

        self.local = local
        self.endpoint = endpoint or (LOCAL_ENDPOINT if local else WEB_ENDPOINT)
        self.secret = api_key or ""
        client = httpx2.Client(follow_redirects=True, timeout=30, trust_env=not _is_loopback(self.endpoint))
        library_id = 0 if local and settings.library_type == "user" else settings.library_id
        self.zot = zotero.Zotero(library_id, settings.library_type, api_key=None if local else api_key,
                                 local=local, client=client)
        self.zot.endpoint = self.endpoint.rstrip("/")
        self.library = f"{settings.library_type} library {settings.library_id}"
        self.requests = 0
        self.sleep = sleep
        self.base: int | None = None

    def _redact(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text

    def call(self, method: str, conflict_ok: bool = False, **params: Any) -> Any:
        """One pyzotero read, retried on 429/5xx/network errors, checked against the base version."""
        import httpx2
        from pyzotero import errors as ze

        for attempt in range(MAX_RETRIES):
            before = self.zot.request
            try:
                result = getattr(self.zot, method)(**params)
            except ze.UserNotAuthorisedError:
                self._count(before)
                raise SyncAuthError(
                    f"Zotero refused access to {self.library} (403 Forbidden): the API key in ZOTERO_API_KEY is "
                    "missing, wrong or lacks read access to this library. Nothing was written.") from None
            except ze.ResourceNotFoundError:
                self._count(before)
                raise SyncAuthError(
                    f"Zotero has no {self.library} (404 Not Found) at {self.endpoint}: check library_id and "
                    "library_type in [tool.evidencebook]. Nothing was written.") from None
            except ze.ConflictError:
                self._count(before)
                if conflict_ok:
                    raise
                raise SyncError(f"Zotero answered 409 Conflict for {self.library} (the library is locked); try again "
                                "later. Nothing was written.") from None
            except (ze.HTTPError, ze.TooManyRetriesError) as exc:
                self._count(before)
                status = getattr(self.zot.request, "status_code", 0)
                if attempt + 1 == MAX_RETRIES or not (status == 429 or status >= 500):
                    raise SyncError(f"Zotero answered {status} for {self.library}: {self._redact(str(exc))[:300]}. "
                                    "Nothing was written.") from None
                self._wait(attempt)
                continue
            except (httpx2.TransportError, ze.CouldNotReachURLError) as exc:
                if attempt + 1 == MAX_RETRIES:
                    raise SyncError(f"Cannot reach Zotero at {self.endpoint} ({type(exc).__name__}): check the "
                                    "network or the endpoint. Nothing was written.") from None
                self._wait(attempt)
                continue
            except ze.PyZoteroError as exc:  # anything else Zotero refused: one redacted sentence
                self._count(before)
                raise SyncError(f"Zotero refused the request for {self.library}: {self._redact(str(exc))[:300]}. "
                                "Nothing was written.") from None
            finally:
                self.zot.url_params = None  # pyzotero leaks query parameters after an error
            self._count(before)
            self._check_version()
            return result
        raise AssertionError("unreachable")

    def _count(self, before: Any) -> None:
        if self.zot.request is not None and self.zot.request is not before:
            self.requests += 1

    def _wait(self, attempt: int) -> None:
        headers = getattr(self.zot.request, "headers", {}) or {}
        hinted = headers.get("retry-after") or headers.get("backoff")
        try:
            delay = float(hinted) if hinted else 2.0 ** attempt
        except ValueError:
            delay = 2.0 ** attempt  # an HTTP-date Retry-After: fall back to exponential
        self.sleep(min(delay, 120.0) + random.uniform(0, 0.25))

    def _check_version(self) -> None:
        version = int(self.zot.request.headers.get("last-modified-version", 0))
        if self.base is None:
            self.base = version
        elif version != self.base:
            raise _LibraryChanged(f"library version moved from {self.base} to {version}")


def _known_keys(settings: Settings) -> list[str]:
    """Keys of the items in the stored snapshot, from the file names alone."""
    return [p.stem for p in (settings.snapshot / "items").glob("*.json")]


def _watermark_name(local: bool, endpoint: str) -> str:
    return "local" if local else ("web" if endpoint == WEB_ENDPOINT else f"web:{endpoint}")


def _pull(client: _Client, since: int, stored: dict[str, int], known: set[str],
          progress: bool) -> tuple[dict[str, dict], set[str], bool]:
    """Changed items, purged keys, and whether the purge was found by comparing key sets."""
    from pyzotero import errors as ze
    from tqdm import tqdm

    client.base = None
    full = client.local or since == 0
    remote = client.call("item_versions", includeTrashed=1, **({} if full else {"since": since}))
    # Local API (Zotero 7-9): version 0 means "never synced", so such items may hold local edits.
    wanted = sorted(k for k, v in remote.items() if stored.get(k) != v or (client.local and not v))
    fetched: dict[str, dict] = {}
    with tqdm(total=len(wanted), desc="items", unit="item", disable=not progress) as bar:
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start:start + BATCH]
            for item in client.call("items", itemKey=",".join(batch), includeTrashed=1, limit=BATCH):
                fetched[item["key"]] = item
            bar.update(len(batch))
    if set(wanted) - set(fetched):
        raise _LibraryChanged(f"{len(set(wanted) - set(fetched))} changed items vanished while downloading")
    if full:
        return fetched, known - set(remote), True
    if client.base == since:
        return fetched, set(), False  # purging bumps the version: nothing can be gone
    try:
        deleted = client.call("deleted", conflict_ok=True, since=since)
        return fetched, set(deleted.get("items", [])) & known, False
    except ze.ConflictError:  # 'since' predates the delete log: compare the full key sets
        return fetched, known - set(client.call("item_versions", includeTrashed=1)), True


def sync_library(settings: Settings, api_key: str | None = None, *, local: bool = False, endpoint: str | None = None,
                 dry_run: bool = False, progress: bool = True, sleep: Callable[[float], None] = time.sleep) -> SyncReport:
    """Bring every change in the configured Zotero library into the evidence base.

    Raises :class:`SyncError` (nothing written) for a refused key, an unknown library, a
    server or network that stays down, or a library that keeps changing during the sync.
    """
    if settings.library_id == 0 and not local:
        raise SyncError("No Zotero library is configured (library_id = 0 is the bundled snapshot). Set library_id and "
                        "library_type under [tool.evidencebook] in pyproject.toml, or use 'evidencebook sync --offline'.")
    client = _Client(settings, api_key, local, endpoint, sleep)
    library_now = read_library(settings.snapshot)
    same_library = (library_now.get("id"), library_now.get("type")) == (settings.library_id, settings.library_type)
    mark = _watermark_name(local, client.endpoint)
    watermarks = dict(library_now.get("watermarks", {})) if same_library else {}
    since = int(watermarks.get(mark, 0)) if library_now.get("api") == mark else 0
    # Item files are read only when they are needed: a no-op sync reads library.json alone.
    old: Snapshot | None = None

    def snapshot_now() -> Snapshot:
        nonlocal old
        if old is None:
            old = read_snapshot(settings.snapshot) if same_library and library_now else Snapshot({}, [])
        return old

    # Versions are only comparable within one API: after a switch (since = 0), compare nothing.
    needs_items = local or not since
    items = {i["key"]: i for i in snapshot_now().items} if needs_items else {}
    stored = {k: int(i.get("version", 0)) for k, i in items.items()} if since or local else {}
    if local and library_now.get("api") != mark:
        stored = {}
    for restart in range(MAX_RESTARTS):
        try:
            known = set(items) if needs_items else set(k for k in _known_keys(settings))
            fetched, purged, by_key_set = _pull(client, since, stored, known, progress)
            break
        except _LibraryChanged:
            sleep(min(2.0 ** restart, 30.0) + random.uniform(0, 0.5))
    else:
        raise SyncError(f"The Zotero library kept changing during {MAX_RESTARTS} attempts; nothing was written. "
                        "Try again when editing has paused.")
    new_version = int(client.base if client.base is not None else since)
    report = SyncReport(mark, since, new_version, client.requests, len(fetched), sorted(purged),
                        sorted(k for k, i in fetched.items() if i["data"].get("deleted")), None, dry_run)
    if by_key_set and since:
        report.notes.append("deletions found by comparing the full key set")
    if not fetched and not purged and new_version == since and library_now.get("api") == mark:
        return report  # nothing changed: write nothing
    items = {i["key"]: i for i in snapshot_now().items}
    for key in purged:
        items.pop(key, None)
    items.update({k: _nfc(v) for k, v in fetched.items()})
    library = {"type": settings.library_type, "id": settings.library_id,
               "name": next((i.get("library", {}).get("name") for i in fetched.values()),
                            library_now.get("name", "")),
               "version": new_version, "api": mark, "watermarks": {**watermarks, mark: new_version}}
    reuse = same_library and bool(library_now)
    report.build = build_evidence(settings, Snapshot(library, list(items.values())), write_snapshot=True,
                                  dry_run=dry_run, changed_items=set(fetched) if reuse else None)
    return report
