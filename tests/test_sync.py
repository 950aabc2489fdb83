"""Syncing from Zotero, end to end: the real pyzotero code path against a local Web API v3 emulator.

Every scenario drives ``evidencebook.sync_library`` (and, for kills and the CLI, the
``evidencebook`` command) against ``tests/zotero_emulator.py``; nothing is mocked.
The library in these tests is synthetic.
"""

from __future__ import annotations

import email.utils
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pytest
from zotero_emulator import DROP_BEFORE, DROP_MID_BODY, Fault, ZoteroEmulator, make_item, make_note

import evidencebook as eb

KEY = "secret-key-1234"
ALPHABET = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"


def k(n: int, prefix: str = "S") -> str:
    """The n-th synthetic Zotero key (prefix + 7 characters of the key alphabet)."""
    digits = ""
    for _ in range(7):
        n, r = divmod(n, len(ALPHABET))
        digits = ALPHABET[r] + digits
    return prefix + digits


def make_project(root: Path, library_id: int = 4242, library_type: str = "group") -> eb.Settings:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[tool.evidencebook]\nlibrary_type = "{library_type}"\nlibrary_id = {library_id}\n', encoding="utf-8")
    return eb.load_settings(root)


def study(n: int, estimate: float = 0.5, **data) -> tuple[dict, dict]:
    return make_item(k(n), **data), make_note(k(n, "N"), k(n), f"F{n}", estimate)


@pytest.fixture
def emu():
    with ZoteroEmulator() as emulator:
        for n in range(1, 4):
            emulator.put(*study(n))
        yield emulator


@pytest.fixture
def settings(tmp_path: Path) -> eb.Settings:
    return make_project(tmp_path / "project")


def sync(settings: eb.Settings, emu: ZoteroEmulator, **kwargs) -> eb.SyncReport:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("sleep", lambda s: None)
    return eb.sync_library(settings, endpoint=emu.url, progress=False, local=emu.local, **kwargs)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != ".lock"}


def findings(settings: eb.Settings) -> dict[str, float]:
    outcomes = eb.load_evidence(settings).outcomes
    return dict(zip(outcomes["finding_id"], outcomes["estimate"]))


def test_first_sync_uses_the_minimum_requests(settings, emu) -> None:
    report = sync(settings, emu)
    assert report.requests == 2  # versions + one batch of 6 items; no /deleted on a first sync
    assert findings(settings) == {"F1": 0.5, "F2": 0.5, "F3": 0.5}
    library = json.loads((settings.snapshot / "library.json").read_text(encoding="utf-8"))
    assert library["version"] == emu.version and library["watermarks"] == {f"web:{emu.url}": emu.version}
    assert eb.load_evidence(settings).manifest["zotero"]["library_version"] == emu.version


def test_unchanged_library_is_one_request_and_writes_nothing(settings, emu) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.requests.clear()
    report = sync(settings, emu)
    assert report.requests == 1 and len(emu.requests) == 1 and "since=" in emu.requests[0]
    assert report.build is None and tree(settings.evidence) == before


def test_add_edit_parent_and_edit_child_only(settings, emu) -> None:
    sync(settings, emu)
    emu.put(*study(9, estimate=0.8))
    emu.edit(k(1), title="Retitled study")
    child = emu.items[k(2, "N")]
    emu.edit(k(2, "N"), note=child["data"]["note"].replace("estimate: 0.5", "estimate: 0.6"))
    report = sync(settings, emu)
    assert report.fetched == 4 and report.requests == 3  # versions, one batch, /deleted
    assert findings(settings) == {"F1": 0.5, "F2": 0.6, "F3": 0.5, "F9": 0.8}
    entry = json.loads((settings.evidence / "changelog.json").read_text(encoding="utf-8"))[-1]
    # k(1), retitled, gives up the generated key it held; first come, first served: the new item gets it
    assert entry["studies"]["added"] == [k(9)] and entry["citation_keys"][k(9)] == "tester2021synthetic"
    assert entry["studies"]["updated"] == [k(1)]  # only the retitled study (ids, not display strings)
    assert "F2" in entry["outcomes"]["updated"] and "F3" not in entry["outcomes"]["updated"]
    assert eb.load_evidence(settings).manifest["evidence_version"] == 2


def test_reparented_note_moves_its_finding(settings, emu) -> None:
    emu.put(make_item(k(7)))
    sync(settings, emu)
    emu.edit(k(1, "N"), parentItem=k(7))
    sync(settings, emu)
    outcomes = eb.load_evidence(settings).outcomes.set_index("finding_id")
    assert outcomes.loc["F1", "study_id"] == k(7)


def test_trash_restore_and_purge(settings, emu) -> None:
    sync(settings, emu)
    emu.trash(k(1))
    report = sync(settings, emu)
    assert report.trashed == [k(1)]
    assert k(1) not in set(eb.load_evidence(settings).studies["study_id"])
    ledger = json.loads((settings.snapshot / "items" / f"{k(1)}.json").read_text(encoding="utf-8"))
    assert ledger["data"]["deleted"] == 1  # kept in the ledger, out of the evidence
    emu.restore(k(1))
    sync(settings, emu)
    assert "F1" in findings(settings)
    emu.purge(k(3), k(3, "N"))
    report = sync(settings, emu)
    assert report.purged == sorted([k(3), k(3, "N")]) and "F3" not in findings(settings)
    assert not (settings.snapshot / "items" / f"{k(3)}.json").exists()


def test_merged_duplicate_carries_its_coding_to_the_survivor(settings, emu) -> None:
    sync(settings, emu)
    survivor = make_item(k(8), tags=[], relations={"dc:replaces": f"http://zotero.org/groups/4242/items/{k(2)}"})
    emu.put(survivor)
    emu.trash(k(2))
    sync(settings, emu)
    evidence = eb.load_evidence(settings)
    assert set(evidence.studies["study_id"]) == {k(1), k(3), k(8)}
    assert evidence.studies.set_index("study_id").loc[k(8), "screening"] == "FT:include"
    assert evidence.outcomes.set_index("finding_id").loc["F2", "study_id"] == k(8)


def test_version_race_restarts_from_the_old_version(settings, emu) -> None:
    sync(settings, emu)
    emu.put(*study(5))
    emu.after_request[len(emu.requests) + 1] = lambda: emu.edit(k(5, "N"), note=emu.items[k(5, "N")]["data"]["note"]
                                                                .replace("estimate: 0.5", "estimate: 0.7"))
    report = sync(settings, emu)
    assert findings(settings)["F5"] == 0.7
    assert report.new_version == emu.version


def test_delete_log_too_old_reconciles_by_key_set(settings, emu) -> None:
    sync(settings, emu)
    emu.purge(k(3), k(3, "N"))
    emu.truncate_delete_log()
    report = sync(settings, emu)
    assert report.purged == sorted([k(3), k(3, "N")]) and "full key set" in " ".join(report.notes)


@pytest.mark.parametrize("fault,expected", [
    (Fault(429, {"Retry-After": "0.01"}), "ok"),
    (Fault(429, {"Backoff": "0.01"}), "ok"),
    (Fault(503, {"Retry-After": "1"}, times=2), "ok"),
    (Fault(500, times=2), "ok"),
    (Fault(503, {"Retry-After": "1"}, times=99), "Zotero answered 503"),
    (Fault(429, {}), "ok"),  # no Retry-After: pyzotero gives up at once, the sync backs off and retries
])
def test_server_faults_are_retried_within_bounds(settings, emu, fault: Fault, expected: str) -> None:
    emu.faults.append(fault)
    if expected == "ok":
        sync(settings, emu)
        assert set(findings(settings)) == {"F1", "F2", "F3"}
    else:
        with pytest.raises(eb.SyncError, match=expected):
            sync(settings, emu)
        assert not settings.evidence.exists() or tree(settings.evidence) == {}


def test_backoff_on_success_is_honoured(settings, emu) -> None:
    emu.extra_headers["Backoff"] = "0.01"
    sync(settings, emu)
    assert set(findings(settings)) == {"F1", "F2", "F3"}


def test_bad_key_is_one_sentence_exit_2_and_nothing_written(settings, emu) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(6))
    with pytest.raises(eb.SyncError) as info:
        sync(settings, emu, api_key="wrong-key-9999")
    assert info.value.exit_code == 2 and "403" in str(info.value) and "wrong-key-9999" not in str(info.value)
    assert tree(settings.evidence) == before


def test_unknown_library_is_a_clear_404(tmp_path, emu) -> None:
    with pytest.raises(eb.SyncError, match="has no group library 99 .404"):
        sync(make_project(tmp_path / "other", library_id=99), emu)


def test_network_down_writes_nothing(settings) -> None:
    with ZoteroEmulator() as gone:
        url = gone.url
    with pytest.raises(eb.SyncError, match="Cannot reach Zotero"):
        eb.sync_library(settings, api_key=KEY, endpoint=url, progress=False, sleep=lambda s: None)
    assert not (settings.evidence / "manifest.json").exists()


def test_dry_run_reports_without_writing(settings, emu) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    report = sync(settings, emu, dry_run=True)
    assert report.build.changes["outcomes"]["added"] == ["F4"] and tree(settings.evidence) == before


def test_malformed_item_is_reported_and_the_rest_synced(settings, emu) -> None:
    note = emu.items[k(2, "N")]
    emu.edit(k(2, "N"), note=note["data"]["note"].replace("estimate: 0.5", "estimate: lots"))
    report = sync(settings, emu)
    errors = [p for p in report.build.problems if p.severity == "error"]
    assert {p.item_key for p in errors} == {k(2, "N")} and "estimate" in {p.field for p in errors}
    assert set(findings(settings)) == {"F1", "F3"}


def test_item_text_is_kept_exactly_as_the_api_returns_it(settings, emu) -> None:
    # Old Zotero data can be NFD; the snapshot keeps it as sent (README), and the coding normalises what it compares.
    title = unicodedata.normalize("NFD", "Peer support in Ålesund – café workers")
    emu.put(make_item(k(12), title=title, tags=[{"tag": "screen:FT:include"},
                                                 {"tag": unicodedata.normalize("NFD", "Ålesund")}]))
    sync(settings, emu)
    stored = json.loads((settings.snapshot / "items" / f"{k(12)}.json").read_text(encoding="utf-8"))
    assert stored == emu.items[k(12)] and stored["data"]["title"] == title != unicodedata.normalize("NFC", title)
    assert eb.read_snapshot(settings.snapshot).items == sorted(emu.items.values(), key=lambda i: i["key"])
    studies = eb.load_evidence(settings).studies.set_index("study_id")
    assert studies.loc[k(12), "screening"] == "FT:include"


def _hold_the_lock_mid_swap(settings: eb.Settings) -> tuple[threading.Thread, threading.Event]:
    """Another sync, in another thread, holding the lock while its snapshot is halfway through the swap."""
    from evidencebook._store import evidence_lock
    held, release = threading.Event(), threading.Event()

    def other_sync() -> None:
        with evidence_lock(settings.evidence):
            (settings.evidence / ".retired").mkdir()
            settings.snapshot.rename(settings.evidence / ".retired" / "zotero")
            held.set()
            release.wait(30)
            (settings.evidence / ".retired" / "zotero").rename(settings.snapshot)

    thread = threading.Thread(target=other_sync)
    thread.start()
    assert held.wait(30)
    return thread, release


def test_a_second_sync_fails_at_once_without_reading_the_snapshot_or_downloading(settings, emu) -> None:
    sync(settings, emu)
    emu.put(*study(4))
    before = tree(settings.evidence)
    emu.requests.clear()
    thread, release = _hold_the_lock_mid_swap(settings)
    try:
        with pytest.raises(eb.SyncError, match="Another sync is running") as info:
            sync(settings, emu)
    finally:
        release.set()
        thread.join()
    assert "corrupt" not in str(info.value) and "missing" not in str(info.value)
    assert emu.requests == []  # refused before any download
    assert tree(settings.evidence) == before


def test_two_syncs_started_apart_the_second_is_refused_and_the_first_completes(settings, emu) -> None:
    sync(settings, emu)
    for n in range(20, 80):
        emu.put(*study(n))
    emu.delay = 0.3  # the first sync takes a few seconds
    env = {**os.environ, "CI": "true"}
    seen = len(emu.requests)
    first = subprocess.Popen([sys.executable, "-c", SYNC_SCRIPT, str(settings.root), emu.url, KEY], env=env,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(emu.requests) == seen and time.monotonic() < deadline:
            time.sleep(0.01)  # the first sync is now talking to Zotero
        with ZoteroEmulator() as mirror:  # the second sync's own server, so its requests can be counted
            mirror.put(*emu.items.values())
            with pytest.raises(eb.SyncError, match="Another sync is running"):
                sync(settings, mirror)
            assert mirror.requests == []
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert len(findings(settings)) == 63


@pytest.fixture
def pyzotero_sleeps(monkeypatch) -> list[float]:
    """Sleeps pyzotero would make on its own (uncapped and unshown); recorded instead of slept."""
    import pyzotero._client as client
    slept: list[float] = []
    monkeypatch.setattr(client, "time", SimpleNamespace(time=time.time, sleep=slept.append))
    return slept


def assert_one_sentence(message: str) -> None:
    """A sync error a researcher can act on: one line, no traceback, no request URL, no pyzotero dump."""
    assert "\n" not in message and "Traceback" not in message and len(message) < 400, message
    assert not any(marker in message for marker in ("URL:", "Code:", "Method:", "Response:", "/groups/4242")), message
    assert message.endswith("."), message


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_waited_until_that_date(settings, emu, status, capfd, pyzotero_sleeps) -> None:
    emu.faults.append(Fault(status, {"Retry-After": email.utils.formatdate(time.time() + 5, usegmt=True)}))
    slept: list[float] = []
    sync(settings, emu, sleep=slept.append)
    assert set(findings(settings)) == {"F1", "F2", "F3"}
    assert len(slept) == 1 and 3.5 <= slept[0] <= 6, slept  # the date has one-second resolution
    assert "Zotero asked to wait" in capfd.readouterr().err and pyzotero_sleeps == []


def test_retry_after_as_a_far_http_date_stops_with_one_sentence(settings, emu, pyzotero_sleeps) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(Fault(429, {"Retry-After": email.utils.formatdate(time.time() + 7200, usegmt=True)}))
    slept: list[float] = []
    with pytest.raises(eb.SyncError, match=r"Zotero asked to wait 7[12]\d\d s .*more than the 60 s") as info:
        sync(settings, emu, sleep=slept.append)
    assert_one_sentence(str(info.value))
    assert slept == [] and pyzotero_sleeps == [] and tree(settings.evidence) == before


def test_a_long_retry_after_stops_with_one_sentence_instead_of_waiting(settings, emu, pyzotero_sleeps) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(Fault(429, {"Retry-After": "3600"}))
    slept: list[float] = []
    with pytest.raises(eb.SyncError, match="Zotero asked to wait 3600 s") as info:
        sync(settings, emu, sleep=slept.append)
    assert_one_sentence(str(info.value))
    assert slept == [] and pyzotero_sleeps == [] and tree(settings.evidence) == before


@pytest.mark.parametrize("fault", [Fault(429, {"Retry-After": "2"}), Fault(503, {"Retry-After": "2"}),
                                   Fault(200, {"Backoff": "2"}, query="format=versions", body=None)])
def test_waits_within_the_cap_are_shown_and_made_by_the_sync(settings, emu, capfd, pyzotero_sleeps, fault) -> None:
    emu.faults.append(fault)
    slept: list[float] = []
    sync(settings, emu, sleep=slept.append)
    assert slept == [2.0] and pyzotero_sleeps == []
    assert "Zotero asked to wait 2 s" in capfd.readouterr().err
    assert set(findings(settings)) == {"F1", "F2", "F3"}


def test_a_backoff_beyond_the_cap_stops_before_the_next_request(settings, emu, pyzotero_sleeps) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(Fault(200, {"Backoff": "900"}, query="format=versions", body=None))
    with pytest.raises(eb.SyncError, match="Zotero asked to wait 900 s") as info:
        sync(settings, emu)
    assert_one_sentence(str(info.value))
    assert pyzotero_sleeps == [] and tree(settings.evidence) == before


NOT_THE_APIS_JSON = [
    ({"Content-Type": "application/json"}, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ({"Content-Type": "text/html; charset=utf-8"}, "<!DOCTYPE html><html><title>Sign in to the network</title></html>"),
    ({"Content-Type": "application/json"}, '{"SAAAAAA2": 1'),
    ({"Content-Type": "text/plain"}, "down for maintenance"),
    ({"Content-Type": "application/json"}, '["not", "items"]'),
    ({"Content-Type": "application/json"}, "null"),
    ({"Content-Type": "application/json"}, '[{"key": "../../../escape", "data": {}}]'),
]


@pytest.mark.parametrize("query", ["format=versions", "itemKey"])
@pytest.mark.parametrize("headers,body", NOT_THE_APIS_JSON)
def test_a_200_whose_body_is_not_the_apis_json_is_one_sentence(settings, emu, query, headers, body) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(Fault(200, headers, query=query, body=body))
    with pytest.raises(eb.SyncError) as info:
        sync(settings, emu)
    assert_one_sentence(str(info.value))
    assert tree(settings.evidence) == before


@pytest.mark.parametrize("query", ["format=versions", "itemKey", ""])
@pytest.mark.parametrize("value", ["12abc", "", "1e3", "-4"])
def test_a_last_modified_version_that_is_not_a_number_is_one_sentence(settings, emu, query, value) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(Fault(200, {"Last-Modified-Version": value}, query=query, body=None,
                            path="/deleted" if not query else ""))
    with pytest.raises(eb.SyncError, match="Last-Modified-Version") as info:
        sync(settings, emu)
    assert_one_sentence(str(info.value))
    assert tree(settings.evidence) == before


@pytest.mark.parametrize("query", ["format=versions", "itemKey"])
def test_a_library_version_older_than_the_last_sync_is_one_sentence(settings, emu, query) -> None:
    # Versions only grow; an older one is another server or a restored backup, not a state to sync back to.
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(Fault(200, {"Last-Modified-Version": "2"}, query=query, body=None, times=99))
    with pytest.raises(eb.SyncError, match="older than") as info:
        sync(settings, emu)
    assert_one_sentence(str(info.value))
    assert tree(settings.evidence) == before


@pytest.mark.parametrize("fault,words", [
    (Fault(503, times=99), "503 Service Unavailable"),
    (Fault(500, times=99, body="Traceback (most recent call last):\n  boom"), "500 Internal Server Error"),
    (Fault(429, times=99), "429 Too Many Requests"),
    (Fault(400, body="Invalid 'since' value"), "400 Bad Request"),
    (Fault(418, body="I'm a teapot"), "418"),
    (Fault(0, drop=DROP_BEFORE, times=99), "Cannot reach Zotero"),
    (Fault(0, drop=DROP_MID_BODY, times=99), "Cannot reach Zotero"),
])
def test_every_sync_error_is_one_sentence(settings, emu, fault, words) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    emu.put(*study(4))
    emu.faults.append(fault)
    with pytest.raises(eb.SyncError) as info:
        sync(settings, emu)
    assert words in str(info.value)
    assert_one_sentence(str(info.value))
    assert tree(settings.evidence) == before


def test_a_dropped_connection_is_retried(settings, emu) -> None:
    emu.faults += [Fault(0, drop=DROP_BEFORE, query="format=versions"), Fault(0, drop=DROP_MID_BODY, query="itemKey")]
    sync(settings, emu)
    assert set(findings(settings)) == {"F1", "F2", "F3"}


def test_an_endpoint_spelled_differently_is_the_same_server(settings, emu) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    for spelling in (emu.url + "/", emu.url.replace("http://", "HTTP://") + "//", f" {emu.url}/ "):
        emu.requests.clear()
        report = eb.sync_library(settings, api_key=KEY, endpoint=spelling, progress=False, sleep=lambda s: None)
        assert report.requests == 1 and report.build is None and len(emu.requests) == 1, spelling
    assert tree(settings.evidence) == before


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8080", "ftp://127.0.0.1/api", "http://user:pw@127.0.0.1:9/",
                                      "http://127.0.0.1:9/?key=abc", "http://"])
def test_an_endpoint_that_is_not_a_web_address_is_one_sentence(settings, endpoint) -> None:
    with pytest.raises(eb.SyncError, match="--endpoint") as info:
        eb.sync_library(settings, api_key=KEY, endpoint=endpoint, progress=False, sleep=lambda s: None)
    assert_one_sentence(str(info.value))
    assert "pw" not in str(info.value) and "abc" not in str(info.value)


def test_a_sync_of_another_library_refuses_and_says_what_it_would_remove(settings, emu) -> None:
    sync(settings, emu)
    before = tree(settings.evidence)
    other = make_project(settings.root, library_id=99)  # the same project, library_id changed in pyproject.toml
    with ZoteroEmulator(library_id=99) as emu99:
        emu99.put(*study(7))
        with pytest.raises(eb.SyncError) as info:
            sync(other, emu99)
        message = str(info.value)
        assert "group library 4242" in message and "6 items" in message and "--replace-library" in message
        assert_one_sentence(message)
        assert emu99.requests == [] and tree(settings.evidence) == before
        report = sync(other, emu99, replace_library=True)
        assert report.fetched == 2 and set(findings(other)) == {"F7"}
        library = json.loads((settings.snapshot / "library.json").read_text(encoding="utf-8"))
        assert library["id"] == 99 and set(library["watermarks"]) == {f"web:{emu99.url}"}


def test_local_api_reconciles_by_key_set(tmp_path) -> None:
    settings = make_project(tmp_path / "local", library_id=0, library_type="user")
    with ZoteroEmulator(library_type="user", library_id=0, api_key=None, local=True) as emu:
        for n in range(1, 3):
            emu.put(*study(n))
        report = sync(settings, emu, api_key=None)
        assert report.api == "local" and set(findings(settings)) == {"F1", "F2"}
        emu.purge(k(1), k(1, "N"))
        report = sync(settings, emu, api_key=None)
        assert report.purged == sorted([k(1), k(1, "N")]) and set(findings(settings)) == {"F2"}
        assert not any("/deleted" in r for r in emu.requests)


def test_the_api_key_never_reaches_a_file_or_the_output(settings, emu, capfd) -> None:
    sync(settings, emu)
    emu.faults.append(Fault(503, {"Retry-After": "0"}, times=99, body=f"echo {KEY}"))
    with pytest.raises(eb.SyncError) as info:
        sync(settings, emu)
    assert KEY not in str(info.value)
    for content in tree(settings.evidence).values():
        assert KEY.encode() not in content
    out, err = capfd.readouterr()
    assert KEY not in out + err


SYNC_SCRIPT = """
import sys, evidencebook as eb
settings = eb.load_settings(sys.argv[1])
eb.sync_library(settings, api_key=sys.argv[3], endpoint=sys.argv[2], progress=False)
"""


def _timed_run(root: Path, emu: ZoteroEmulator, env: dict) -> tuple[float, float]:
    """Run a sync subprocess to the end: seconds until its first request reached the server, and in all."""
    seen, start = len(emu.requests), time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", SYNC_SCRIPT, str(root), emu.url, KEY], env=env)
    first = None
    while proc.poll() is None:
        if first is None and len(emu.requests) > seen:
            first = time.monotonic() - start
        time.sleep(0.01)
    assert proc.returncode == 0
    return (first if first is not None else 0.0), time.monotonic() - start


def test_kill_9_at_many_points_leaves_old_or_new_and_the_next_sync_completes(settings, emu, tmp_path) -> None:
    sync(settings, emu)
    old = findings(settings)
    for n in range(20, 60):
        emu.put(*study(n, estimate=0.9))
    new = {**old, **{f"F{n}": 0.9 for n in range(20, 60)}}
    emu.delay = 0.3  # each request takes a while, so kills can land while the sync talks to the server
    env = {**os.environ, "CI": "true"}
    # Time one complete run on a copy, then aim the kills across that run (machines differ in speed).
    probe = tmp_path / "probe"
    shutil.copytree(settings.root, probe)
    first, total = _timed_run(probe, emu, env)
    waits = [first * 0.5, *[first + (total - first) * f for f in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97)]]
    killed_mid_sync = 0
    for wait in waits:
        seen = len(emu.requests)
        proc = subprocess.Popen([sys.executable, "-c", SYNC_SCRIPT, str(settings.root), emu.url, KEY], env=env)
        time.sleep(wait)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = findings(settings)  # recovers an interrupted swap first
        assert state in (old, new), f"mixed evidence after kill at {wait:.2f}s"
        if state == new:
            break
        killed_mid_sync += len(emu.requests) > seen
    assert killed_mid_sync >= 2, "fewer than two kills landed after the sync had started talking to Zotero"
    emu.delay = 0.0
    sync(settings, emu)
    assert findings(settings) == new
    assert not (settings.evidence / ".staging").exists() and not (settings.evidence / ".journal.json").exists()


def run_cli(settings: eb.Settings, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    env.pop("ZOTERO_API_KEY", None)
    if key:
        env["ZOTERO_API_KEY"] = key
    return subprocess.run([str(Path(sys.executable).with_name("evidencebook")), "sync", *args],
                          cwd=settings.root, env=env, capture_output=True, text=True)


def test_cli_sync_reads_the_key_from_the_environment(settings, emu) -> None:
    done = run_cli(settings, "--endpoint", emu.url)
    assert done.returncode == 0, done.stderr
    assert "3 items fetched" not in done.stdout and "6 items fetched" in done.stdout
    assert "2 requests" in done.stdout and KEY not in done.stdout + done.stderr
    again = run_cli(settings, "--endpoint", emu.url)
    assert again.returncode == 0 and "nothing changed; nothing written" in again.stdout


def test_cli_bad_key_exits_2_with_one_clear_sentence(settings, emu) -> None:
    done = run_cli(settings, "--endpoint", emu.url, key="not-the-key")
    assert done.returncode == 2
    assert done.stderr.startswith("error: Zotero refused access to group library 4242 (403 Forbidden)")
    assert "Traceback" not in done.stderr and "not-the-key" not in done.stderr
    assert not (settings.evidence / "manifest.json").exists()


def test_cli_errors_are_one_line_and_exit_1(settings, emu) -> None:
    emu.faults.append(Fault(200, {"Content-Type": "text/html"}, body="<html><title>Sign in</title></html>"))
    done = run_cli(settings, "--endpoint", emu.url)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    emu.faults.append(Fault(503, {"Retry-After": "0"}, times=99))
    done = run_cli(settings, "--endpoint", emu.url)
    *waits, last = done.stderr.splitlines()
    assert done.returncode == 1 and last.startswith("error: Zotero answered 503"), done.stderr
    assert len(waits) == 4 and all(w.startswith("Zotero asked to wait 0 s") for w in waits), done.stderr
    assert not (settings.evidence / "manifest.json").exists()


def test_cli_shows_waits_and_replaces_a_library_only_when_asked(settings, emu) -> None:
    emu.faults.append(Fault(429, {"Retry-After": "1"}))
    done = run_cli(settings, "--endpoint", emu.url)
    assert done.returncode == 0 and "Zotero asked to wait 1 s" in done.stderr, done.stderr
    other = make_project(settings.root, library_id=99)
    with ZoteroEmulator(library_id=99) as emu99:
        emu99.put(*study(7))
        done = run_cli(other, "--endpoint", emu99.url)
        assert done.returncode == 2 and "--replace-library" in done.stderr and emu99.requests == []
        done = run_cli(other, "--endpoint", emu99.url, "--replace-library")
        assert done.returncode == 0, done.stderr
    assert set(findings(other)) == {"F7"}


def test_cli_dry_run_and_strict(settings, emu) -> None:
    done = run_cli(settings, "--endpoint", emu.url, "--dry-run")
    assert done.returncode == 0 and "would mark 3 outcomes added" in done.stdout
    assert not (settings.evidence / "manifest.json").exists()
    note = emu.items[k(1, "N")]
    emu.edit(k(1, "N"), note=note["data"]["note"].replace("estimate: 0.5", "estimate: ?"))
    done = run_cli(settings, "--endpoint", emu.url, "--strict")
    assert done.returncode == 1 and f"item {k(1, 'N')}" in done.stderr
    assert set(findings(settings)) == {"F2", "F3"}  # the rest still synced


def test_an_edit_that_changes_no_table_is_not_a_new_evidence_version(settings, emu) -> None:
    sync(settings, emu)
    emu.edit(k(1), abstractNote="A longer abstract.")
    report = sync(settings, emu)
    manifest = eb.load_evidence(settings).manifest
    assert manifest["evidence_version"] == 1 and manifest["zotero"]["library_version"] == emu.version
    assert report.build.changed == ["manifest.json", "zotero"]
    assert len(json.loads((settings.evidence / "changelog.json").read_text(encoding="utf-8"))) == 1


def test_a_locked_library_is_a_clear_error(settings, emu) -> None:
    emu.faults.append(Fault(409, path="/items", body=f"locked {KEY}"))
    with pytest.raises(eb.SyncError, match="409 Conflict") as info:
        sync(settings, emu)
    assert KEY not in str(info.value)


def test_an_unreadable_journal_means_the_swap_never_began(tmp_path) -> None:
    from evidencebook._store import JOURNAL, STAGING, recover
    folder = tmp_path / "evidence"
    (folder / STAGING).mkdir(parents=True)
    (folder / STAGING / "a.txt").write_text("new")
    (folder / "a.txt").write_text("old")
    (folder / JOURNAL).write_text("")  # power lost before the journal reached the disk
    recover(folder)
    assert (folder / "a.txt").read_text() == "old" and not (folder / STAGING).exists()
