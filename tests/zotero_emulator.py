"""A local emulator of the Zotero Web API v3, for tests and benchmarks (synthetic data only).

It serves one library on 127.0.0.1 with the contract a read-only sync relies on
(``../shared/notes/zotero-sync.md`` section 7): ``/items`` (``since``, ``format=json|versions|keys``,
``itemKey`` batches of at most 50, ``includeTrashed``, ``start``/``limit`` with ``Link``
rel=next/last and ``Total-Results``), ``/items/top``, ``/items/trash``, ``/items/{key}``,
``/items/{key}/children``, ``/deleted`` (409 when ``since`` predates the delete log),
``/keys/{key}``, ``Last-Modified-Version`` on every response, ``If-Modified-Since-Version``
-> 304, 403 for a wrong key, 404 for another library, and scripted faults (429/503 with
``Retry-After``, ``Backoff``, a version bump between requests, a 200 whose body or headers are
not the API's, a connection dropped before the answer or halfway through its body).  With
``local=True`` it serves the desktop local API instead: paths under ``/api``, user 0, no
``/deleted``, no key.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

KEY_RE = r"[23456789ABCDEFGHIJKLMNPQRSTUVWXYZ]{8}"


DROP_BEFORE = "before"  # close the connection without answering
DROP_MID_BODY = "mid-body"  # send the real answer's headers and half its body, then close


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path contains ``path`` (and whose query contains
    ``query``) with ``status``, ``headers`` and ``body``, after letting the first ``skip`` such
    requests through.  With ``drop`` the connection is cut instead (``DROP_BEFORE`` or
    ``DROP_MID_BODY``); with ``status=200`` and no ``body`` the real answer is sent with
    ``headers`` laid over its own (a header-only fault such as a bad ``Last-Modified-Version``).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    times: int = 1
    body: str | None = ""
    query: str = ""
    skip: int = 0
    drop: str = ""

    def matches(self, path: str, query: str) -> bool:
        if self.times <= 0 or self.path not in path or self.query not in query:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        self.times -= 1
        return True


class ZoteroEmulator:
    def __init__(self, library_type: str = "group", library_id: int = 4242, api_key: str | None = "secret-key-1234",
                 local: bool = False) -> None:
        self.library_type, self.library_id, self.api_key, self.local = library_type, library_id, api_key, local
        self.version = 0
        self.items: dict[str, dict[str, Any]] = {}
        self.delete_log: list[tuple[int, str]] = []
        self.delete_log_start = 0
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.after_request: dict[int, Callable[[], None]] = {}
        self.extra_headers: dict[str, str] = {}  # e.g. {"Backoff": "0.01"} on every response
        self.delay = 0.0  # seconds to wait before answering (to land a kill mid-sync)
        self.dropping = ""  # set by a fault for the answer being sent
        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> "ZoteroEmulator":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}" + ("/api" if self.local else "")

    # -- the library's history ------------------------------------------------------------

    def _stamp(self, key: str) -> None:
        item = self.items[key]
        item["version"] = item["data"]["version"] = self.version

    def put(self, *items: dict[str, Any]) -> int:
        """Add or replace items in one write (one version bump, as Zotero does)."""
        with self.lock:
            self.version += 1
            for item in items:
                self.items[item["key"]] = json.loads(json.dumps(item))
                self._stamp(item["key"])
            return self.version

    def edit(self, key: str, **data: Any) -> int:
        with self.lock:
            self.version += 1
            self.items[key]["data"].update(data)
            self._stamp(key)
            return self.version

    def trash(self, key: str) -> int:
        return self.edit(key, deleted=1)

    def restore(self, key: str) -> int:
        with self.lock:
            self.version += 1
            self.items[key]["data"].pop("deleted", None)
            self._stamp(key)
            return self.version

    def purge(self, *keys: str) -> int:
        with self.lock:
            self.version += 1
            for key in keys:
                del self.items[key]
                self.delete_log.append((self.version, key))
            return self.version

    def truncate_delete_log(self) -> None:
        """Forget the delete log, as the server does after a while: old ``since`` values get 409."""
        with self.lock:
            self.delete_log_start = self.version
            self.delete_log = []

    # -- HTTP ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                if emulator.delay:
                    threading.Event().wait(emulator.delay)
                with emulator.lock:
                    status, headers, body = emulator.respond(self.path, {k.lower(): v for k, v in self.headers.items()})
                    hook = emulator.after_request.pop(len(emulator.requests), None)
                    drop = emulator.dropping
                    emulator.dropping = ""
                if hook:
                    hook()
                if drop == DROP_BEFORE:
                    self.close_connection = True
                    return
                data = body.encode("utf-8")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if drop == DROP_MID_BODY:
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

        return Handler

    def respond(self, raw_path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
        self.requests.append(raw_path)
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        for fault in self.faults:
            if fault.matches(parts.path, parts.query):
                self.dropping = fault.drop
                if fault.drop == DROP_MID_BODY or (fault.status == 200 and fault.body is None):
                    status, real_headers, body = self._answer(parts, query, headers)
                    return status, {**real_headers, **fault.headers}, body
                base = {"Zotero-API-Version": "3", "Last-Modified-Version": str(self.version), **self.extra_headers}
                return fault.status, {**base, "Content-Type": "text/plain", **fault.headers}, fault.body or ""
        return self._answer(parts, query, headers)

    def _answer(self, parts: Any, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """The answer Zotero would give, faults aside."""
        base = {"Zotero-API-Version": "3", "Last-Modified-Version": str(self.version), **self.extra_headers}
        path = parts.path
        if self.local:
            if not path.startswith("/api/"):
                return 404, base, "Not found"
            path = path[4:]
        elif self.api_key is not None:
            given = (headers.get("zotero-api-key") or query.get("key")
                     or headers.get("authorization", "").removeprefix("Bearer ").strip())
            if given != self.api_key:
                return 403, {**base, "Content-Type": "text/plain"}, "Invalid key."
        owner = f"/{self.library_type}s/{0 if self.local and self.library_type == 'user' else self.library_id}"
        if path.startswith("/keys/"):
            return 200, {**base, "Content-Type": "application/json"}, json.dumps({"key": "***", "userID": 1, "access": {}})
        if not path.startswith(owner + "/"):
            return 404, {**base, "Content-Type": "text/plain"}, "Not found"
        rest = path[len(owner):]
        since = int(query.get("since", 0) or 0)
        if "if-modified-since-version" in headers and int(headers["if-modified-since-version"]) >= self.version:
            return 304, base, ""
        if rest == "/deleted":
            if self.local:
                return 404, base, "Not found"
            if since < self.delete_log_start:
                return 409, {**base, "Content-Type": "text/plain"}, "since is older than the delete log"
            gone = sorted({k for v, k in self.delete_log if v > since})
            body = {"collections": [], "searches": [], "items": gone, "tags": [], "settings": []}
            return 200, {**base, "Content-Type": "application/json"}, json.dumps(body)
        if rest in ("/collections", "/collections/top", "/searches"):
            return self._listing(parts.path, query, [], base)
        match = re.fullmatch(rf"/items/({KEY_RE})(/children)?", rest)
        if match:
            key = match[1]
            if key not in self.items:
                return 404, {**base, "Content-Type": "text/plain"}, "Not found"
            if match[2]:
                kids = [i for i in self.items.values() if i["data"].get("parentItem") == key and not i["data"].get("deleted")]
                return self._listing(parts.path, query, kids, base)
            return 200, {**base, "Last-Modified-Version": str(self.items[key]["version"]),
                         "Content-Type": "application/json"}, json.dumps(self.items[key])
        if rest not in ("/items", "/items/top", "/items/trash"):
            return 404, {**base, "Content-Type": "text/plain"}, "Not found"
        trashed = query.get("includeTrashed") == "1" or (not self.local and query.get("includeTrashed") == "true")
        if "itemKey" in query:  # look the keys up rather than scanning the library (a server uses an index)
            wanted = [k for k in query["itemKey"].split(",") if k]
            if len(wanted) > 50:
                return 400, {**base, "Content-Type": "text/plain"}, "Cannot specify more than 50 item keys"
            candidates = [self.items[k] for k in wanted if k in self.items]
        else:
            candidates = list(self.items.values())
        selected = [i for i in candidates if i["version"] > since]
        if rest == "/items/trash":
            selected = [i for i in selected if i["data"].get("deleted")]
        elif not trashed:
            selected = [i for i in selected if not i["data"].get("deleted")]
        if rest == "/items/top":
            selected = [i for i in selected if not i["data"].get("parentItem")]
        item_type = query.get("itemType", "")
        if item_type.startswith("-"):
            selected = [i for i in selected if i["data"]["itemType"] != item_type[1:]]
        elif item_type:
            selected = [i for i in selected if i["data"]["itemType"] in item_type.split(" || ")]
        selected.sort(key=lambda i: i["key"])
        fmt = query.get("format", "json")
        if fmt == "versions":
            return 200, {**base, "Content-Type": "application/json", "Total-Results": str(len(selected))}, json.dumps(
                {i["key"]: i["version"] for i in selected})
        if fmt == "keys":
            return 200, {**base, "Content-Type": "text/plain", "Total-Results": str(len(selected))}, "\n".join(
                i["key"] for i in selected)
        return self._listing(parts.path, query, selected, base)

    def _listing(self, path: str, query: dict[str, str], rows: list[dict[str, Any]],
                 base: dict[str, str]) -> tuple[int, dict[str, str], str]:
        total = len(rows)
        default = None if self.local else 25
        limit = min(int(query["limit"]), 100) if query.get("limit") else default
        start = int(query.get("start", 0) or 0)
        page = rows[start:start + limit] if limit else rows[start:]
        headers = {**base, "Content-Type": "application/json", "Total-Results": str(total)}
        if limit:
            host = f"http://127.0.0.1:{self.server.server_address[1]}"

            def at(offset: int) -> str:
                return f"<{host}{path}?{urlencode({**query, 'start': str(offset)})}>"

            links = []
            if start > 0:
                links += [f'{at(0)}; rel="first"', f'{at(max(start - limit, 0))}; rel="prev"']
            if start + limit < total:
                links.append(f'{at(start + limit)}; rel="next"')
            links.append(f'{at(max((total - 1) // limit * limit, 0))}; rel="last"')
            headers["Link"] = ", ".join(links)
        return 200, headers, json.dumps(page)


def make_item(key: str, title: str = "", **data: Any) -> dict[str, Any]:
    """A synthetic top-level journal article."""
    body = {"key": key, "version": 0, "itemType": "journalArticle", "title": title or f"Synthetic study {key}",
            "creators": [{"creatorType": "author", "firstName": "A", "lastName": "Tester"}], "date": "2021",
            "tags": [{"tag": "screen:FT:include"}], "extra": "", "relations": {}, "collections": [], **data}
    return {"key": key, "version": 0, "library": {"type": "group", "id": 4242, "name": "Test library"},
            "links": {}, "meta": {}, "data": body}


def make_note(key: str, parent: str, finding: str, estimate: float = 0.5, **data: Any) -> dict[str, Any]:
    """A synthetic extraction note with one effect finding."""
    from evidencebook import write_note

    html = write_note("Extraction", [
        ("Study", [("study_type", "primary"), ("design", "RCT")]),
        (f"Outcome {finding}", [("outcome", "readmission"), ("domain", "hospitalisation"), ("measure", "RR"),
                                ("better", "lower"), ("estimate", estimate), ("ci_low", estimate / 2),
                                ("ci_high", estimate * 2), ("direction", "favours peer"),
                                ("quote", f"synthetic RR {estimate}")])])
    body = {"key": key, "version": 0, "itemType": "note", "parentItem": parent, "note": html,
            "tags": [], "relations": {}, **data}
    return {"key": key, "version": 0, "library": {"type": "group", "id": 4242, "name": "Test library"},
            "links": {}, "meta": {}, "data": body}
