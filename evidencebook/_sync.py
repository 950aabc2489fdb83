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
evidence base validates, and then it is swapped in atomically (see ``_store``).  The
evidence base's lock is taken before the snapshot is read, so a second sync stops at once.

Every answer is checked where it enters: a status, a ``Last-Modified-Version`` or a body that
is not what the Web API sends ends the sync with one sentence (what failed, what to do) and
nothing written.  Waits that Zotero asks for (``Retry-After`` in seconds or as an HTTP date,
``Backoff``) are made here, shown, and capped at ``MAX_WAIT``: pyzotero would sleep them
itself, silently and without a cap, and crashes on an HTTP date.

The API key is read from ``ZOTERO_API_KEY`` by the CLI and passed in; it is never written,
logged or put in an error message.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import math
import random
import re
import sys
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import urlsplit

from ._config import Settings
from ._errors import SyncError
from ._evidence import BuildReport, build_evidence
from ._store import evidence_lock
from ._zotero import Snapshot, read_library, read_snapshot

__all__ = ["SyncReport", "normalise_endpoint", "sync_library"]

WEB_ENDPOINT = "https://api.zotero.org"
LOCAL_ENDPOINT = "http://127.0.0.1:23119/api"
BATCH = 50  # Zotero's itemKey limit
MAX_RESTARTS = 5  # the library kept changing under us
MAX_RETRIES = 5  # tries per request through 429 / 5xx / network blips
MAX_WAIT = 60.0  # seconds: the longest single wait a sync sits through; Zotero asking for more stops it
ITEM_KEY = re.compile(r"[A-Za-z0-9]{1,32}")  # Zotero keys are 8 of [2-9A-Z]; anything else is not safe as a file name
VERSION = re.compile(r"[0-9]{1,18}")


class SyncAuthError(SyncError):
    """The key, the library or the endpoint configured is wrong: exit 2, like a wrong argument."""

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
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_endpoint(url: str) -> str:
    """One spelling per server (``HTTP://Host:80/api/`` is ``http://host/api``), so it keeps one watermark.

    Raises :class:`SyncAuthError` for anything that is not an http(s) base address; the
    address is not repeated, as it may hold a password or a key.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    if scheme not in ("http", "https") or not host:
        raise SyncAuthError("--endpoint must be an http:// or https:// address with a host name, such as "
                            "https://api.zotero.org; nothing was synced.")
    if parts.username is not None or parts.password is not None:
        raise SyncAuthError("--endpoint must not carry a user name or password (the API key is read from "
                            "ZOTERO_API_KEY); nothing was synced.")
    if parts.query or parts.fragment:
        raise SyncAuthError("--endpoint must be the API's base address, without a query (?...) or fragment (#...); "
                            "nothing was synced.")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def parse_wait(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` or ``Backoff`` value: a number of seconds or an HTTP date.

    None when there is no value or it is neither (the caller then backs off on its own).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        try:
            seconds = when.timestamp() - now
        except (OverflowError, ValueError, OSError):
            return None
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)


def _shown_seconds(seconds: float) -> str:
    """``2``, ``0.5``, ``3600``: how a wait is written in a message."""
    if seconds >= 10 or math.isinf(seconds):
        return f"{seconds:.0f}" if math.isfinite(seconds) else "forever"
    return f"{round(seconds, 2):g}"


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _shown_value(value: str | None, limit: int = 24) -> str:
    """A header value from the server, short and printable, for a message."""
    if value is None:
        return "none"
    clean = "".join(c if c.isprintable() else "?" for c in value)
    return repr(clean if len(clean) <= limit else clean[:limit] + "...")


class _Client:
    """pyzotero with the errors, retries, waits, version checks and request count a sync needs.

    A response hook reads ``Retry-After`` and ``Backoff`` into ``hint`` and removes them, so
    pyzotero never sleeps (nor parses them) on its own: every wait goes through :meth:`_wait`.
    """

    def __init__(self, settings: Settings, api_key: str | None, local: bool, endpoint: str,
                 sleep: Callable[[float], None], notify: Callable[[str], None],
                 clock: Callable[[], float] = time.time) -> None:
        import httpx2
        from pyzotero import zotero

        self.local = local
        self.endpoint = endpoint
        self.secret = api_key or ""
        self.clock = clock
        client = httpx2.Client(follow_redirects=True, timeout=30, trust_env=not _is_loopback(self.endpoint),
                               event_hooks={"response": [self._on_response]})
        library_id = 0 if local and settings.library_type == "user" else settings.library_id
        self.zot = zotero.Zotero(library_id, settings.library_type, api_key=None if local else api_key,
                                 local=local, client=client)
        self.zot.endpoint = self.endpoint
        self.library = f"{settings.library_type} library {settings.library_id}"
        self.requests = 0
        self.sleep = sleep
        self.notify = notify
        self.base: int | None = None
        self.floor = 0  # the library version of the last sync: no answer may be older
        self.hint: float | None = None  # seconds the last answer asked for (Retry-After / Backoff)
        self.backoff_next = 0.0  # a Backoff on a good answer: wait this long before the next request

    def _on_response(self, response: Any) -> None:
        self.requests += 1
        hints = [parse_wait(response.headers.get(name), self.clock()) for name in ("retry-after", "backoff")]
        for name in ("retry-after", "backoff"):
            if name in response.headers:
                del response.headers[name]
        known = [h for h in hints if h is not None]
        self.hint = max(known) if known else None

    def _status(self) -> int:
        return int(getattr(self.zot.request, "status_code", 0) or 0)

    def _content_type(self) -> str:
        headers = getattr(self.zot.request, "headers", None) or {}
        return headers.get("content-type", "") if hasattr(headers, "get") else ""

    def call(self, what: str, method: str, conflict_ok: bool = False, **params: Any) -> Any:
        """One pyzotero read, retried on 429/5xx/network errors, checked against the base version.

        ``what`` says what the request was for ("listing the changed items"), for messages.
        """
        import httpx2
        from pyzotero import errors as ze

        for attempt in range(1, MAX_RETRIES + 1):
            if self.backoff_next:
                wait, self.backoff_next = self.backoff_next, 0.0
                self._wait(wait, "Backoff")
            self.hint = None
            before = self.zot.request
            try:
                result = getattr(self.zot, method)(**params)
            except ze.UserNotAuthorisedError:
                raise SyncAuthError(
                    f"Zotero refused access to {self.library} (403 Forbidden): the API key in ZOTERO_API_KEY is "
                    "missing, wrong or lacks read access to this library. Nothing was written.") from None
            except ze.ResourceNotFoundError:
                raise SyncAuthError(
                    f"Zotero has no {self.library} (404 Not Found) at {self.endpoint}: check library_id and "
                    "library_type in [tool.evidencebook]. Nothing was written.") from None
            except ze.ConflictError:
                if conflict_ok:
                    raise
                raise SyncError(f"Zotero answered 409 Conflict for {self.library} (the library is locked); try again "
                                "later. Nothing was written.") from None
            except ze.PyZoteroError as exc:  # any other status pyzotero refused (5xx, 429, 400, 418, ...)
                status = self._status() if self.zot.request is not before else 0
                if not status:  # refused before any answer came
                    raise SyncError(f"The request while {what} for {self.library} failed before Zotero answered "
                                    f"({type(exc).__name__}); check library_id, library_type and --endpoint. "
                                    "Nothing was written.") from None
                if not (status == 429 or status >= 500):
                    raise SyncError(f"Zotero answered {_status_text(status)} while {what} for {self.library}; "
                                    "check library_id, library_type and --endpoint, or try again later. "
                                    "Nothing was written.") from None
                if attempt == MAX_RETRIES:
                    raise SyncError(f"Zotero answered {_status_text(status)} {MAX_RETRIES} times in a row while "
                                    f"{what} for {self.library}; try again later. Nothing was written.") from None
                self._retry_wait(attempt, _status_text(status))
                continue
            except httpx2.TransportError as exc:  # refused, reset, dropped mid-body, timed out
                if attempt == MAX_RETRIES:
                    raise SyncError(f"Cannot reach Zotero at {self.endpoint} ({type(exc).__name__}) while {what}, "
                                    f"after {MAX_RETRIES} tries; check the network or --endpoint. "
                                    "Nothing was written.") from None
                self.hint = None
                self._retry_wait(attempt, f"no answer: {type(exc).__name__}")
                continue
            except json.JSONDecodeError:
                raise self.bad_answer(what, "a body that is not JSON") from None
            except Exception as exc:  # an answer pyzotero could not take apart: still one sentence
                raise self.bad_answer(what, f"an answer that could not be read: {type(exc).__name__}") from None
            finally:
                self.zot.url_params = None  # pyzotero leaks query parameters after an error
            self._check_version(what)
            if self.hint:
                self.backoff_next = self.hint
            return result
        raise AssertionError("unreachable")

    def bad_answer(self, what: str, detail: str) -> SyncError:
        """The error for a 200 whose body is not what the Web API sends (an HTML sign-in page, a cut-off body)."""
        ctype = self._content_type()
        page = " (an HTML page)" if "html" in ctype.lower() else ""
        return SyncError(f"Zotero's answer while {what} for {self.library} was {detail}{page}, Content-Type "
                         f"{_shown_value(ctype or None, 40)}; check --endpoint (a proxy or sign-in page may be "
                         "answering instead of Zotero), or try again later. Nothing was written.")

    def _wait(self, seconds: float, reason: str) -> None:
        """Wait as Zotero asked, saying so; beyond ``MAX_WAIT``, stop instead."""
        if seconds > MAX_WAIT:
            until = time.strftime("%H:%M UTC", time.gmtime(self.clock() + min(seconds, 86400 * 365)))
            raise SyncError(f"Zotero asked to wait {_shown_seconds(seconds)} s ({reason}), more than the "
                            f"{MAX_WAIT:.0f} s a sync waits, so the sync stopped; try again after {until}. "
                            "Nothing was written.")
        self.notify(f"Zotero asked to wait {_shown_seconds(seconds)} s ({reason}); waiting.")
        self.sleep(seconds)

    def _retry_wait(self, attempt: int, reason: str) -> None:
        """Before another try: the wait Zotero asked for, else a growing one with jitter."""
        if self.hint is not None:
            self._wait(self.hint, reason)
            return
        seconds = min(2.0 ** (attempt - 1), MAX_WAIT) + random.uniform(0, 0.25)
        self.notify(f"Zotero gave {reason}; trying again in {_shown_seconds(seconds)} s "
                    f"(try {attempt + 1} of {MAX_RETRIES}).")
        self.sleep(seconds)

    def _check_version(self, what: str) -> None:
        raw = self.zot.request.headers.get("last-modified-version")
        if raw is None or not VERSION.fullmatch(raw.strip()):
            header = "no Last-Modified-Version header" if raw is None else (
                f"a Last-Modified-Version header that is not a version number ({_shown_value(raw)})")
            raise SyncError(f"Zotero's answer while {what} for {self.library} had {header}, so the library version "
                            "is unknown; check --endpoint, or try again later. Nothing was written.")
        version = int(raw)
        seen = max(self.floor, self.base or 0)
        if version < seen:  # versions only grow: this is another server, or a library restored from a backup
            raise SyncError(f"Zotero's answer while {what} for {self.library} gave library version {version}, older "
                            f"than version {seen} {'synced before' if seen == self.floor else 'seen in this sync'}; "
                            "check --endpoint and library_id (versions only grow). Nothing was written.")
        if self.base is None:
            self.base = version
        elif version != self.base:
            raise _LibraryChanged(f"library version moved from {self.base} to {version}")


def _kind(result: Any) -> str:
    """What a body was, in the API's terms (pyzotero hands a non-JSON body back as bytes)."""
    if isinstance(result, (bytes, str)):
        return "a body that is not JSON"
    names = {dict: "a JSON object", list: "a JSON array", type(None): "JSON null", bool: "a JSON boolean"}
    return names.get(type(result), "a JSON number" if isinstance(result, (int, float)) else "something else")


def _as_versions(client: _Client, result: Any, what: str) -> dict[str, int]:
    """``format=versions``: a JSON object of item keys to integer versions."""
    if not isinstance(result, dict):
        raise client.bad_answer(what, f"{_kind(result)}, not the JSON object of item versions")
    for key, version in result.items():
        if not (isinstance(key, str) and ITEM_KEY.fullmatch(key)):
            raise client.bad_answer(what, f"an item key that is not a Zotero key ({_shown_value(str(key))})")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise client.bad_answer(what, f"a version that is not a whole number for item {key}")
    return result


def _as_items(client: _Client, result: Any, asked: list[str], what: str) -> dict[str, dict]:
    """A batch of items: a JSON array of objects with a key asked for and a ``data`` object."""
    if not isinstance(result, list):
        raise client.bad_answer(what, f"{_kind(result)}, not the JSON array of items")
    wanted, items = set(asked), {}
    for item in result:
        if not (isinstance(item, dict) and isinstance(item.get("key"), str) and isinstance(item.get("data"), dict)):
            raise client.bad_answer(what, "an entry that is not a Zotero item (no key or no data)")
        if item["key"] not in wanted:
            raise client.bad_answer(what, f"an item that was not asked for ({_shown_value(item['key'])})")
        items[item["key"]] = item
    return items


def _as_deleted(client: _Client, result: Any, what: str) -> set[str]:
    """``/deleted``: a JSON object whose ``items`` is an array of keys."""
    keys = result.get("items", []) if isinstance(result, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise client.bad_answer(what, f"{_kind(result)}, not the JSON object of deleted keys")
    return set(keys)


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

    client.base, client.floor = None, since
    full = client.local or since == 0
    what = "listing the changed items"
    remote = _as_versions(client, client.call(what, "item_versions", includeTrashed=1,
                                              **({} if full else {"since": since})), what)
    # Local API (Zotero 7-9): version 0 means "never synced", so such items may hold local edits.
    wanted = sorted(k for k, v in remote.items() if stored.get(k) != v or (client.local and not v))
    fetched: dict[str, dict] = {}
    with tqdm(total=len(wanted), desc="items", unit="item", disable=not progress) as bar:
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start:start + BATCH]
            what = f"downloading {len(batch)} changed items"
            fetched.update(_as_items(client, client.call(what, "items", itemKey=",".join(batch), includeTrashed=1,
                                                         limit=BATCH), batch, what))
            bar.update(len(batch))
    if set(wanted) - set(fetched):
        raise _LibraryChanged(f"{len(set(wanted) - set(fetched))} changed items vanished while downloading")
    if full:
        return fetched, known - set(remote), True
    if client.base == since:
        return fetched, set(), False  # purging bumps the version: nothing can be gone
    try:
        what = "listing the deleted items"
        return fetched, _as_deleted(client, client.call(what, "deleted", conflict_ok=True, since=since), what) & known, False
    except ze.ConflictError:  # 'since' predates the delete log: compare the full key sets
        what = "listing every item key"
        return fetched, known - set(_as_versions(client, client.call(what, "item_versions", includeTrashed=1), what)), True


def _refuse_another_library(settings: Settings, library_now: dict[str, Any]) -> None:
    """The snapshot holds another library than the one configured: say what a sync would remove, and stop."""
    count = len(_known_keys(settings))
    if not count:
        return  # nothing to lose
    try:
        where = settings.snapshot.relative_to(settings.root)
    except ValueError:
        where = settings.snapshot
    held = f"{library_now.get('type', 'an unknown')} library {library_now.get('id', '?')}"
    raise SyncAuthError(
        f"{where}/ holds {held} ({count} items), not the {settings.library_type} library {settings.library_id} "
        f"named in [tool.evidencebook]: syncing would remove those {count} items and every study and finding coded "
        f"from them; run 'evidencebook sync --replace-library' to do that, or set library_id back to "
        f"{library_now.get('id', '?')}. Nothing was written.")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sync_library(settings: Settings, api_key: str | None = None, *, local: bool = False, endpoint: str | None = None,
                 dry_run: bool = False, progress: bool = True, sleep: Callable[[float], None] = time.sleep,
                 notify: Callable[[str], None] = _say, replace_library: bool = False) -> SyncReport:
    """Bring every change in the configured Zotero library into the evidence base.

    Raises :class:`SyncError` (nothing written, one sentence) for a refused key, an unknown
    library, a server or network that stays down, an answer that is not the Web API's, a wait
    longer than ``MAX_WAIT``, a library that keeps changing during the sync, another sync
    running, or a snapshot of another library (unless ``replace_library``).  Waits are
    announced through ``notify`` (standard error by default) and made with ``sleep``.
    """
    if settings.library_id == 0 and not local:
        raise SyncError("No Zotero library is configured (library_id = 0 is the bundled snapshot). Set library_id and "
                        "library_type under [tool.evidencebook] in pyproject.toml, or use 'evidencebook sync --offline'.")
    endpoint = normalise_endpoint(endpoint) if endpoint else (LOCAL_ENDPOINT if local else WEB_ENDPOINT)
    # The lock comes before the snapshot is read: a second sync stops here, at once, without downloading,
    # and never reads a snapshot that the first is swapping in.  The rebuild below takes it again.
    with evidence_lock(settings.evidence):
        return _sync_locked(settings, api_key, local, endpoint, dry_run, progress, sleep, notify, replace_library)


def _sync_locked(settings: Settings, api_key: str | None, local: bool, endpoint: str, dry_run: bool, progress: bool,
                 sleep: Callable[[float], None], notify: Callable[[str], None], replace_library: bool) -> SyncReport:
    library_now = read_library(settings.snapshot)
    same_library = (library_now.get("id"), library_now.get("type")) == (settings.library_id, settings.library_type)
    if library_now and not same_library and not replace_library:
        _refuse_another_library(settings, library_now)
    client = _Client(settings, api_key, local, endpoint, sleep, notify)
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
        except _LibraryChanged as changed:
            if restart + 1 < MAX_RESTARTS:
                seconds = min(2.0 ** restart, 30.0) + random.uniform(0, 0.5)
                notify(f"The Zotero library changed during the sync ({changed}); starting again in "
                       f"{_shown_seconds(seconds)} s.")
                sleep(seconds)
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
    items.update(fetched)  # kept exactly as the API sent them
    library = {"type": settings.library_type, "id": settings.library_id,
               "name": next((i.get("library", {}).get("name") for i in fetched.values()),
                            library_now.get("name", "")),
               "version": new_version, "api": mark, "watermarks": {**watermarks, mark: new_version}}
    reuse = same_library and bool(library_now)
    report.build = build_evidence(settings, Snapshot(library, list(items.values())), write_snapshot=True,
                                  dry_run=dry_run, changed_items=set(fetched) if reuse else None)
    return report
