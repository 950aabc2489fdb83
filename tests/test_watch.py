"""`evidencebook watch`: one request per poll, a sync and a rebuild only when the library moved, a site that
reloads, and Ctrl-C that leaves evidence/ as it was or fully updated."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from zotero_emulator import Fault, ZoteroEmulator, make_item, make_note

import evidencebook as eb
from evidencebook._watch import LONGEST_PAUSE, RELOAD_SCRIPT, STAMP_PATH, PollPause, stored_version

KEY = "secret-key-1234"
ROOT = Path(__file__).resolve().parents[1]


def make_project(root: Path) -> eb.Settings:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n',
                                         encoding="utf-8")
    return eb.load_settings(root)


def study(n: int, estimate: float = 0.5) -> tuple[dict, dict]:
    return make_item(f"AAAAAAA{n}"), make_note(f"NNNNNNN{n}", f"AAAAAAA{n}", f"F{n}", estimate)


def set_estimate(emu: ZoteroEmulator, n: int, estimate: float) -> int:
    return emu.put(make_note(f"NNNNNNN{n}", f"AAAAAAA{n}", f"F{n}", estimate))


@pytest.fixture
def emu():
    with ZoteroEmulator(api_key=KEY) as emulator:
        for n in range(2, 5):
            emulator.put(*study(n))
        yield emulator


class Recorder:
    """A stand-in for the build: records the reports it was given, says what it would have built."""

    def __init__(self) -> None:
        self.reports: list[eb.SyncReport] = []

    def __call__(self, report: eb.SyncReport) -> tuple[list[str], int]:
        self.reports.append(report)
        return ["book/outcomes/service-use.ipynb", "book/whats-new.ipynb"], 1


def watcher(settings: eb.Settings, emu: ZoteroEmulator, rebuild, said: list[str]) -> eb.Watcher:
    probe = eb.VersionProbe(settings, KEY, endpoint=emu.url)
    return eb.Watcher(probe, stored_version(settings, False, probe.endpoint),
                      lambda: eb.sync_library(settings, KEY, endpoint=emu.url, progress=False, sleep=lambda s: None),
                      rebuild, say=said.append)


def outcomes(settings: eb.Settings) -> str:
    return (settings.evidence / "outcomes.csv").read_text(encoding="utf-8")


def test_a_round_that_sees_an_edit_syncs_and_rebuilds_once(tmp_path: Path, emu: ZoteroEmulator) -> None:
    settings = make_project(tmp_path / "project")
    said: list[str] = []
    rebuild = Recorder()
    w = watcher(settings, emu, rebuild, said)
    first = w.round()  # nothing synced yet: version 0 -> the emulator's
    assert first is not None and first.old_version == 0 and first.new_version == emu.version
    assert len(rebuild.reports) == 1 and "F2" in outcomes(settings)
    version = set_estimate(emu, 3, 0.42)
    emu.requests.clear()
    seen = w.round()
    assert seen is not None and (seen.old_version, seen.new_version) == (first.new_version, version)
    assert seen.evidence_changed and seen.briefs == 1 and len(seen.pages) == 2
    assert len(rebuild.reports) == 2 and rebuild.reports[-1].fetched == 1
    assert "0.42" in outcomes(settings)
    assert stored_version(settings, False, w.probe.endpoint) == version  # the sync's watermark, on disk
    assert said[-2] == f"library version {first.new_version} → {version}: syncing…"
    assert said[-1].startswith(f"library version {first.new_version} → {version}: built 2 pages, 1 brief in ")
    # one poll, then the sync's own requests (versions since, the changed item, deleted since)
    assert emu.requests[0].startswith("/groups/4242/items?") and f"since={first.new_version}" in emu.requests[0]
    assert len(emu.requests) == 4, emu.requests


def test_a_304_round_sends_one_request_and_does_nothing(tmp_path: Path, emu: ZoteroEmulator) -> None:
    settings = make_project(tmp_path / "project")
    rebuild = Recorder()
    said: list[str] = []
    w = watcher(settings, emu, rebuild, said)
    assert w.round() is not None
    before = {p: p.read_bytes() for p in settings.evidence.rglob("*") if p.is_file()}
    emu.requests.clear()
    said.clear()
    for _ in range(3):
        assert w.round() is None
    assert len(emu.requests) == 3 and len(rebuild.reports) == 1 and said == []
    assert {p: p.read_bytes() for p in settings.evidence.rglob("*") if p.is_file()} == before


def test_the_probe_sends_the_conditional_header_and_reads_304_as_unchanged(emu: ZoteroEmulator,
                                                                          tmp_path: Path) -> None:
    settings = make_project(tmp_path / "project")
    probe = eb.VersionProbe(settings, KEY, endpoint=emu.url)
    assert probe.poll(0) == emu.version
    assert probe.poll(emu.version) is None  # the emulator answers 304 only to If-Modified-Since-Version
    emu.faults.append(Fault(503, {"Retry-After": "7"}))
    with pytest.raises(PollPause) as paused:
        probe.poll(emu.version)
    assert paused.value.wait == 7
    for huge in ("1e300", "inf"):  # a wait no clock can hold: capped, not an OverflowError in the watch's sleep
        emu.faults.append(Fault(503, {"Retry-After": huge}))
        with pytest.raises(PollPause) as paused:
            probe.poll(emu.version)
        assert paused.value.wait == LONGEST_PAUSE
    with pytest.raises(eb.SyncError, match="refused access"):
        eb.VersionProbe(settings, "wrong-key", endpoint=emu.url).poll(0)


def test_an_edit_that_changes_no_finding_is_synced_but_builds_nothing(tmp_path: Path, emu: ZoteroEmulator) -> None:
    settings = make_project(tmp_path / "project")
    rebuild = Recorder()
    w = watcher(settings, emu, rebuild, [])
    w.round()
    emu.edit("AAAAAAA2", dateModified="2026-12-06T00:00:00Z")  # a field no table reads
    seen = w.round()
    assert seen is not None and not seen.evidence_changed and len(rebuild.reports) == 1
    assert w.round() is None  # the watermark moved: the next poll is a 304


def test_the_site_adds_the_reload_script_only_when_serving(tmp_path: Path) -> None:
    folder = tmp_path / "_build"
    (folder / "html").mkdir(parents=True)
    page = "<html><body><p>hello</p></body></html>"
    (folder / "html" / "index.html").write_text(page, encoding="utf-8")
    site = eb.WatchSite(folder)
    try:
        served = urllib.request.urlopen(site.url + "html/index.html").read().decode()
        assert RELOAD_SCRIPT in served and served.index(RELOAD_SCRIPT) < served.index("</body>")
        assert (folder / "html" / "index.html").read_text(encoding="utf-8") == page  # the file stays as built
        stamp = json.loads(urllib.request.urlopen(site.url + STAMP_PATH.lstrip("/")).read())
        site.built(eb.WatchRound(1, 2, True))
        assert json.loads(urllib.request.urlopen(site.url + STAMP_PATH.lstrip("/")).read())["build"] == stamp["build"] + 1
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(site.url + "../pyproject.toml")
    finally:
        site.close()


# --- Ctrl-C in the middle of a sync, through the real command's process --------------------------

WATCH = r"""
import sys
import evidencebook as eb
from evidencebook._watch import watch_library
code = watch_library(eb.load_settings(sys.argv[1]), sys.argv[3], endpoint=sys.argv[2], interval=1, serve=False,
                     builder=lambda report: ([], 0), say=lambda m: print(m, flush=True))
print("exit", code, flush=True)
sys.exit(code)
"""


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("at", ["listing", "downloading", "deleted", "tables"])
def test_ctrl_c_mid_sync_leaves_evidence_as_it_was_or_fully_updated(tmp_path: Path, emu: ZoteroEmulator,
                                                                     at: str) -> None:
    settings = make_project(tmp_path / "project")
    eb.sync_library(settings, KEY, endpoint=emu.url, progress=False)
    before = digest(settings.evidence)
    version = set_estimate(emu, 3, 0.42)
    emu.requests.clear()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1", "CI": "true"}
    # Ctrl-C as a terminal delivers it, also when this suite runs in a background job (which ignores SIGINT).
    proc = subprocess.Popen([sys.executable, "-c", WATCH, str(settings.root), emu.url, KEY], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Requests: 1 the poll, 2 the versions since, 3 the changed item, 4 deleted since; then the tables are built.
    interrupt = lambda: proc.send_signal(signal.SIGINT)  # noqa: E731
    if at == "tables":
        emu.after_request[4] = lambda: threading.Timer(0.05, interrupt).start()
    else:
        emu.after_request[{"listing": 2, "downloading": 3, "deleted": 4}[at]] = interrupt
    out, _ = proc.communicate(timeout=60)
    assert "library version" in out and "syncing…" in out, out
    after = digest(settings.evidence)
    assert not {".staging", ".retired", ".journal.json"} & {p.name for p in settings.evidence.iterdir()}
    if after != before:  # then fully updated: the new version, its finding, every file as the manifest says
        assert stored_version(settings, False, eb.normalise_endpoint(emu.url)) == version
        assert "0.42" in outcomes(settings)
        eb.load_evidence(settings)  # checks every table against the manifest's hashes
    if at != "tables":  # the interrupt came while a request was unanswered: nothing was written
        assert after == before
    assert proc.returncode == 130 and "stopped; evidence/ holds the last complete sync" in out, out


def test_sigterm_stops_the_watch_as_ctrl_c_does_even_where_ctrl_c_is_ignored(tmp_path: Path,
                                                                           emu: ZoteroEmulator) -> None:
    # A watch started in the background of a script ignores SIGINT (POSIX; Python then installs no handler):
    # SIGTERM, what `kill` and service managers send, still stops it cleanly, mid-sync too.
    settings = make_project(tmp_path / "project")
    eb.sync_library(settings, KEY, endpoint=emu.url, progress=False)
    before = digest(settings.evidence)
    set_estimate(emu, 3, 0.42)
    emu.requests.clear()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1", "CI": "true"}
    proc = subprocess.Popen([sys.executable, "-c", "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                             + WATCH, str(settings.root), emu.url, KEY], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    emu.after_request[3] = lambda: (proc.send_signal(signal.SIGINT), proc.send_signal(signal.SIGTERM))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped; evidence/ holds the last complete sync" in out, out
    assert digest(settings.evidence) == before  # stopped while a request was unanswered: nothing was written


def test_the_cli_watch_refuses_the_bundled_snapshot(project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from evidencebook._cli import main

    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(main, ["watch", "--no-serve", "--no-pdf"])
    assert result.exit_code == 1 and "library_id = 0 is the bundled snapshot" in result.output


def test_watch_polls_until_stopped_and_times_each_round(tmp_path: Path, emu: ZoteroEmulator) -> None:
    settings = make_project(tmp_path / "project")
    rebuild, said, stop = Recorder(), [], threading.Event()
    done = threading.Thread(target=eb.watch_library, args=(settings, KEY),
                            kwargs={"endpoint": emu.url, "interval": 1, "serve": False, "builder": rebuild,
                                    "say": said.append, "stop": stop})
    done.start()
    deadline = time.monotonic() + 20
    while len(rebuild.reports) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    set_estimate(emu, 4, 0.33)
    while len(rebuild.reports) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    done.join(10)
    assert len(rebuild.reports) == 2 and "0.33" in outcomes(settings)
    assert said[0].startswith("watching group library 4242 from library version 0")


def test_a_failed_sync_is_tried_again_and_a_failed_build_does_not_stop_the_watch(tmp_path: Path,
                                                                               emu: ZoteroEmulator) -> None:
    settings = make_project(tmp_path / "project")
    said: list[str] = []
    calls: list[eb.SyncReport] = []

    def rebuild(report: eb.SyncReport) -> tuple[list[str], int]:
        calls.append(report)
        if len(calls) == 1:
            raise eb.EvidencebookError("book pages failed to execute: book/studies.ipynb")
        return [], 0

    w = watcher(settings, emu, rebuild, said)
    emu.faults.append(Fault(400, path="/items", query="itemKey"))  # the download fails: nothing written
    assert w.round() is None and w.version == 0 and not settings.evidence.joinpath("outcomes.csv").exists()
    assert "the sync failed, trying again at the next poll: Zotero answered 400" in said[-1]
    failed = w.round()  # the same version again: synced now; its build fails
    assert failed is not None and failed.failed and w.version == emu.version
    assert "synced, but the build failed" in said[-1] and "book/studies.ipynb" in said[-1]
    set_estimate(emu, 2, 0.61)
    assert w.round().failed == "" and len(calls) == 2  # the watch went on


KILLED = r"""
import sys, time
import evidencebook as eb
from evidencebook._watch import WarmBuilder
builder = WarmBuilder(eb.load_settings(sys.argv[1]), pdf=False, workers=1)
builder.pool.submit(int).result()  # the worker and its kernel are up
print("ready", flush=True)
time.sleep(600)
"""


def test_the_brief_workers_end_with_their_kernels_when_the_watch_is_killed(tmp_path: Path) -> None:
    import psutil

    settings = make_project(tmp_path / "project")
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(settings.root)], cwd=tmp_path / "project",
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        tree = psutil.Process(proc.pid).children(recursive=True)
        kernels = [p for p in tree if "ipykernel" in " ".join(p.cmdline())]
        assert kernels, [p.cmdline()[:3] for p in tree]
    finally:
        proc.kill()  # no Ctrl-C, no clean-up in the watch: SIGKILL
        proc.wait()
        proc.stdout.close()
    _, alive = psutil.wait_procs(kernels, timeout=20)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    for p in [*alive, *(p for p in tree if p.is_running())]:  # what is left of the test's own processes
        with contextlib.suppress(psutil.Error):
            p.kill()
    assert not alive, "the kernel outlived the killed watch"
