"""Soak: seeded fault storms against the test emulator of the Zotero Web API (issue 12).

Run: .venv/bin/python benchmarks/soak.py [--notes 10000] [--storms 50] [--seed 12]   (a few minutes)

Part one generates SYNTHETIC extraction notes, good ones and ones with a known mistake (a decimal comma, a range
in one field, a non-finite or overflowing number, an estimate outside its CI, an unknown domain or measure...),
with hostile text in titles and quotes, and builds them like ``sync --offline``: no crash, every mistake reported
by its note's key.  Part two:

The library is SYNTHETIC, generated here (``Synthetic study ...`` items with one extraction note
each, from ``tests/zotero_emulator.py``); no real data is used.

Each storm starts from a copy of one good evidence base, changes the library (studies added,
notes edited, items retitled, trashed, purged), then syncs while the emulator throws a seeded
mix of faults at it: 429 (``Retry-After`` in seconds, as an HTTP date, or none), 500/502/503/504,
``Backoff`` on good answers, version races (the library changes mid-sync, once or again and
again), 200 answers whose body is not the API's JSON (an HTML page, cut-off JSON, the wrong
shape), a non-numeric ``Last-Modified-Version``, and connections dropped before the answer or
halfway through its body.  Waits are not slept: the sync's ``sleep`` is a recorder, and the
waits asked for are summed in the report.

A storm passes when the sync either
  * ended correct: its ``evidence/`` is byte-identical to a clean sync (no faults) from the same
    good base to the library as it was at the version the storm's sync reports; or
  * stopped with one clean sentence (a ``SyncError`` on one line, no traceback, no request URL,
    no pyzotero dump) and ``evidence/`` byte-identical to before the storm.
Any other exception is a crash.  Targets: crashes 0, storms passed 100%.
"""

from __future__ import annotations

import argparse
import copy
import email.utils
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from zotero_emulator import DROP_BEFORE, DROP_MID_BODY, Fault, ZoteroEmulator, make_item, make_note  # noqa: E402

import evidencebook as eb  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync import key  # noqa: E402  (the sync benchmark's synthetic Zotero keys, beside this file)

KEY = "soak-key-0000"
BASE_STUDIES = 40  # the good evidence base every storm starts from
NOT_JSON = [  # 200 answers that are not the Web API's JSON
    ({"Content-Type": "text/html; charset=utf-8"}, "<!DOCTYPE html><html><title>Sign in to the network</title></html>"),
    ({"Content-Type": "application/json"}, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ({"Content-Type": "application/json"}, '{"S2222223": 4'),
    ({"Content-Type": "application/json"}, '["not", "items"]'),
    ({"Content-Type": "application/json"}, "null"),
    ({"Content-Type": "text/plain"}, "down for maintenance"),
]
BAD_VERSIONS = ["abc", "", "1e3", "-1", "12.0", "9 "]  # "9 " is a number, but older than the last sync's
KINDS = ["429", "5xx", "backoff", "http-date", "race", "not-json", "bad-version", "drop"]
URL_DUMP_MARKERS = ("URL:", "Code:", "Method:", "Response:", "Traceback", "/groups/4242")




def study(n: int, estimate: float = 0.5) -> tuple[dict, dict]:
    return make_item(key(n, "S")), make_note(key(n, "N"), key(n, "S"), f"F{n}", estimate)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file of an evidence base, byte for byte (the lock file aside)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def clean_sentence(message: str) -> bool:
    """One sentence a researcher can act on: one line, short, no traceback or request URL or pyzotero dump."""
    return ("\n" not in message and len(message) < 400 and message.endswith(".")
            and not any(marker in message for marker in URL_DUMP_MARKERS))


# --- the emulator's history, so that a storm's result can be checked at any version it reports ----------------------

class History:
    """Every state the library passed through, by version; each change is made through :meth:`change`."""

    def __init__(self, emu: ZoteroEmulator) -> None:
        self.emu = emu
        self.states: dict[int, dict[str, Any]] = {}
        self.record()

    def record(self) -> None:
        with self.emu.lock:
            self.states[self.emu.version] = copy.deepcopy({
                "items": self.emu.items, "version": self.emu.version, "delete_log": self.emu.delete_log,
                "delete_log_start": self.emu.delete_log_start})

    def change(self, fn: Callable[[], Any]) -> None:
        with self.emu.lock:
            fn()
            self.record()

    def restore(self, version: int) -> None:
        """Put the library back as it was at ``version``, with no faults armed."""
        state = copy.deepcopy(self.states[version])
        with self.emu.lock:
            self.emu.items, self.emu.version = state["items"], state["version"]
            self.emu.delete_log, self.emu.delete_log_start = state["delete_log"], state["delete_log_start"]
            self.emu.faults, self.emu.after_request, self.emu.extra_headers = [], {}, {}
            self.emu.requests.clear()
        self.states = {v: s for v, s in self.states.items() if v <= version}


# --- one storm ------------------------------------------------------------------------------------------------------

@dataclass
class Storm:
    seed: int
    changes: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    outcome: str = ""  # "correct", "sentence", "crash", "wrong"
    detail: str = ""
    waits: list[float] = field(default_factory=list)
    requests: int = 0
    armed: list[tuple[str, Any]] = field(default_factory=list)  # (kind, Fault or race counter)
    fired: set[str] = field(default_factory=set)  # the kinds that hit at least one request

    def note_fired(self) -> None:
        for kind, armed in self.armed:
            if (armed[0] < armed[1]) if isinstance(armed, list) else armed.times < armed.initial_times:
                self.fired.add(kind)


def change_library(rng: random.Random, history: History, storm: Storm, next_study: list[int]) -> None:
    """The edits researchers made since the good base was synced (each one a Zotero write)."""
    emu = history.emu
    added = rng.choice([0, 1, 5, 20, 55, 70])
    for _ in range(added):
        n = next_study[0]
        next_study[0] += 1
        history.change(lambda n=n: emu.put(*study(n, round(rng.uniform(0.2, 2.0), 2))))
    notes = [k for k in sorted(emu.items) if k.startswith("N") and not emu.items[k]["data"].get("deleted")]
    edited = rng.sample(notes, k=min(len(notes), rng.randint(0, 6)))
    for note in edited:
        text = emu.items[note]["data"]["note"]
        new = text.replace("estimate: ", f"estimate: {rng.randint(1, 9)}", 1)
        history.change(lambda note=note, new=new: emu.edit(note, note=new))
    parents = [k for k in sorted(emu.items) if k.startswith("S") and not emu.items[k]["data"].get("deleted")]
    retitled = rng.sample(parents, k=rng.randint(0, 3))
    for item in retitled:
        history.change(lambda item=item: emu.edit(item, title=f"Retitled synthetic study {item} ({rng.random():.3f})"))
    trashed = rng.sample(parents, k=rng.randint(0, 2))
    for item in trashed:
        history.change(lambda item=item: emu.trash(item))
    alive = [k for k in parents if k not in trashed]
    purged = rng.sample(alive, k=rng.randint(0, 2))
    for item in purged:
        history.change(lambda item=item: emu.purge(item, "N" + item[1:]))
    storm.changes = [f"+{added} studies", f"{len(edited)} notes edited", f"{len(retitled)} retitled",
                     f"{len(trashed)} trashed", f"{len(purged)} purged"]


def target(rng: random.Random) -> dict[str, Any]:
    """Which requests a fault hits: the version list, an item batch, /deleted, or any."""
    where = rng.choice([{}, {}, {"query": "format=versions"}, {"query": "itemKey"}, {"path": "/deleted"}])
    return {**where, "skip": rng.choice([0, 0, 0, 1, 2])}


def arm(storm: Storm, kind: str, fault: Fault) -> Fault:
    fault.initial_times = fault.times  # type: ignore[attr-defined]  # to tell afterwards whether it fired
    storm.armed.append((kind, fault))
    return fault


def arm_faults(rng: random.Random, history: History, storm: Storm) -> None:
    """A seeded mix of 1-4 kinds of fault."""
    emu = history.emu
    kinds = rng.sample(KINDS, k=rng.randint(1, 4))
    for kind in kinds:
        times = rng.choice([1, 1, 2, 3, 6])
        if kind == "429":
            headers = rng.choice([{"Retry-After": "0"}, {"Retry-After": "0.5"}, {"Retry-After": "2"}, {},
                                  {"Backoff": "1"}, {"Retry-After": "3600"}])
            emu.faults.append(arm(storm, kind, Fault(429, headers, times=times, **target(rng))))
            storm.faults.append(f"429 {headers or 'no hint'} x{times}")
        elif kind == "5xx":
            status = rng.choice([500, 502, 503, 504])
            headers = rng.choice([{}, {"Retry-After": "1"}])
            emu.faults.append(arm(storm, kind, Fault(status, headers, times=times, **target(rng))))
            storm.faults.append(f"{status} {headers or ''} x{times}".replace("  ", " "))
        elif kind == "backoff":
            seconds = rng.choice(["0.5", "2", "5", "120"])
            emu.faults.append(arm(storm, kind, Fault(200, {"Backoff": seconds}, body=None, times=times, **target(rng))))
            storm.faults.append(f"Backoff {seconds} on a 200 x{times}")
        elif kind == "http-date":
            ahead = rng.choice([1, 3, 30, 7200])
            status = rng.choice([429, 503])
            date = email.utils.formatdate(time.time() + ahead, usegmt=True)
            emu.faults.append(arm(storm, kind, Fault(status, {"Retry-After": date}, times=times, **target(rng))))
            storm.faults.append(f"{status} Retry-After date +{ahead} s x{times}")
        elif kind == "race":
            races = rng.choice([1, 2, 3, 6])
            left = [races, races]  # races left, races armed
            storm.armed.append((kind, left))

            def race() -> None:  # runs after a request is answered: the next answer has a newer version
                note = rng.choice(sorted(k for k in emu.items if k.startswith("N")))
                text = emu.items[note]["data"]["note"]
                history.change(lambda: emu.edit(note, note=text.replace("quote: ", "quote: edited ", 1)))
                left[0] -= 1
                if left[0]:
                    emu.after_request[len(emu.requests) + 1] = race

            emu.after_request[rng.randint(1, 3)] = race
            storm.faults.append(f"version race x{races}")
        elif kind == "not-json":
            headers, body = rng.choice(NOT_JSON)
            emu.faults.append(arm(storm, kind, Fault(200, headers, body=body, times=times, **target(rng))))
            storm.faults.append(f"200 not JSON ({headers['Content-Type'].split(';')[0]}: {body[:16]!r})")
        elif kind == "bad-version":
            value = rng.choice(BAD_VERSIONS)
            emu.faults.append(arm(storm, kind, Fault(200, {"Last-Modified-Version": value}, body=None, times=times,
                                                     **target(rng))))
            storm.faults.append(f"Last-Modified-Version {value!r}")
        else:
            drop = rng.choice([DROP_BEFORE, DROP_MID_BODY])
            emu.faults.append(arm(storm, kind, Fault(0, drop=drop, times=times, **target(rng))))
            storm.faults.append(f"connection dropped {drop} x{times}")


def run_storm(seed: int, emu: ZoteroEmulator, history: History, good: Path, good_version: int,
              work: Path) -> Storm:
    rng = random.Random(seed)
    storm = Storm(seed)
    history.restore(good_version)
    next_study = [1000]
    change_library(rng, history, storm, next_study)
    before = tree(good / "evidence")
    project = work / f"storm-{seed}"
    shutil.copytree(good, project)
    settings = eb.load_settings(project)
    emu.requests.clear()
    arm_faults(rng, history, storm)
    notes: list[str] = []
    try:
        report = eb.sync_library(settings, api_key=KEY, endpoint=emu.url, progress=False, sleep=storm.waits.append,
                                 notify=notes.append)
    except eb.EvidencebookError as exc:
        storm.requests = len(emu.requests)
        storm.note_fired()
        unchanged = tree(settings.evidence) == before
        storm.outcome = "sentence" if clean_sentence(str(exc)) and unchanged else "wrong"
        storm.detail = str(exc) if unchanged else f"evidence/ changed after: {exc}"
        return storm
    except Exception as exc:  # noqa: BLE001 - the soak counts these
        storm.requests = len(emu.requests)
        storm.note_fired()
        storm.outcome = "crash"
        storm.detail = f"{type(exc).__name__}: {exc} | {traceback.format_exc().strip().splitlines()[-3:]}"
        return storm
    storm.requests = len(emu.requests)
    storm.note_fired()
    if report.new_version not in history.states:
        storm.outcome = "wrong"
        storm.detail = f"synced to library version {report.new_version}, which the library never had"
        return storm
    # The reference: a clean sync from the same good base to the library as it was at the version reported.
    history.restore(report.new_version)
    reference = work / f"reference-{seed}"
    shutil.copytree(good, reference)
    eb.sync_library(eb.load_settings(reference), api_key=KEY, endpoint=emu.url, progress=False,
                    sleep=lambda s: None, notify=lambda m: None)
    same = tree(settings.evidence) == tree(reference / "evidence")
    storm.outcome = "correct" if same else "wrong"
    storm.detail = (f"library v{report.old_version} -> v{report.new_version}, {report.fetched} fetched"
                    + ("" if same else "; evidence/ differs from a clean sync to the same version"))
    shutil.rmtree(reference)
    shutil.rmtree(project)
    return storm


@dataclass
class Section:
    """One part of the soak: its result lines, and whether it met its targets."""

    title: str
    lines: list[str]
    passed: bool


def soak_fault_storms(storms: int, seed: int) -> Section:
    """``storms`` seeded fault storms, each from a copy of one good evidence base (synthetic library)."""
    with ZoteroEmulator(api_key=KEY) as emu, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in range(1, BASE_STUDIES + 1):
            emu.put(*study(n, round(0.3 + (n % 9) / 10, 2)))
        good = work / "good"
        good.mkdir()
        (good / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n',
                                             encoding="utf-8")
        eb.sync_library(eb.load_settings(good), api_key=KEY, endpoint=emu.url, progress=False)
        history = History(emu)
        good_version = emu.version
        results = []
        for i in range(storms):
            storm = run_storm(seed * 1000 + i, emu, history, good, good_version, work)
            results.append(storm)
            print(f"storm {i + 1:3d} (seed {storm.seed}): {storm.outcome:8} {storm.requests:3d} requests, "
                  f"waits asked {sum(storm.waits):6.1f} s | fired: {', '.join(sorted(storm.fired)) or 'none'} | "
                  f"armed: {'; '.join(storm.faults)} | "
                  f"{', '.join(storm.changes)} | {storm.detail[:110]}", flush=True)
    crashes = [s for s in results if s.outcome == "crash"]
    passed = [s for s in results if s.outcome in ("correct", "sentence")]
    waits = [w for s in results for w in s.waits]
    lines = [
        f"fault storms: {storms} (seed {seed}), each from a good evidence base of {BASE_STUDIES} synthetic studies",
        f"crashes: {len(crashes)} (target 0)",
        f"ended correct (evidence/ byte-identical to a clean sync to the same library version): "
        f"{sum(s.outcome == 'correct' for s in results)}",
        f"ended in one clean sentence with evidence/ byte-identical to before: "
        f"{sum(s.outcome == 'sentence' for s in results)}",
        f"storms that ended correct or in one clean sentence: {len(passed)}/{storms} = "
        f"{100 * len(passed) / max(storms, 1):.0f}% (target 100%)",
        f"waits Zotero asked for and the sync made (recorded, not slept): {len(waits)}, longest "
        f"{max(waits, default=0):.1f} s, total {sum(waits):.1f} s",
        "storms in which each kind of fault hit at least one request: " + ", ".join(
            f"{kind} {sum(kind in s.fired for s in results)}" for kind in KINDS),
        f"storms in which no fault hit: {sum(not s.fired for s in results)}",
    ]
    for s in results:
        if s.outcome not in ("correct", "sentence"):
            lines.append(f"  FAILED storm seed {s.seed} ({s.outcome}): {s.detail}")
    return Section("fault storms", lines, not crashes and len(passed) == storms)


# --- the generated-notes half: SYNTHETIC notes, good and known-bad, through the coding and the tables ----------

GOOD_FIELDS = [("outcome", "readmission"), ("domain", "hospitalisation"), ("measure", "RR"), ("better", "lower"),
               ("estimate", "0.7"), ("ci_low", "0.5"), ("ci_high", "0.95"), ("direction", "favours peer"),
               ("quote", "synthetic passage")]
# Mistakes a member can make (or an attacker can type), each one a problem the sync must report on its note.
BAD = {
    "decimal comma": ("estimate", "0,70"), "range in one field": ("ci_low", "0.5-0.9"), "not finite": ("ci_high", "inf"),
    "overflow": ("estimate", "1e400"), "huge count": ("n_participants", "99999999999999999999"),
    "outside its CI": ("estimate", "3.5"), "unknown domain": ("domain", "readmissions"),
    "unknown measure": ("measure", "RRR"), "negative ratio": ("ci_low", "-0.2"), "zero width": ("ci_high", "0.5"),
}
NOISE = ["<script>alert(1)</script>", "\u202eevil", "=HYPERLINK(\"x\")", "a\u200bb", "Ω≈ç√", "x" * 3000, "{}\\%$#_",
         "\x07bell", "emoji 🧪"]


def generated_library(n_notes: int, rng: random.Random, offset: int) -> tuple[list[dict], set[str]]:
    """``n_notes`` SYNTHETIC studies with one extraction note each; returns the items and the keys of the notes
    that carry a known mistake (each must be reported by its key)."""
    from conftest import parent

    items, bad_notes = [], set()
    for i in range(n_notes):
        n = offset + i
        parent_key, note_key = key(n, "P"), key(n, "Q")
        fields = dict(GOOD_FIELDS)
        fields["quote"] = rng.choice(NOISE) if rng.random() < 0.3 else "synthetic passage"
        if rng.random() < 0.4:  # a known mistake
            kind = rng.choice(sorted(BAD))
            name, value = BAD[kind]
            fields[name] = value
            bad_notes.add(note_key)
        title = rng.choice(NOISE) if rng.random() < 0.2 else f"Synthetic study {n}"
        items.append(parent(parent_key, title=title))
        html = eb.write_note("Extraction", [("Study", [("study_type", "primary"), ("design", "RCT")]),
                                            (f"Outcome G{n}", list(fields.items()))])
        items.append({"key": note_key, "version": 1, "library": {"type": "group", "id": 4242}, "meta": {},
                      "data": {"key": note_key, "version": 1, "itemType": "note", "parentItem": parent_key,
                               "note": html, "tags": [], "relations": {}}})
    return items, bad_notes


def soak_generated_notes(n_notes: int, seed: int, batch: int = 1000) -> Section:
    """``n_notes`` generated notes (SYNTHETIC), in libraries of ``batch``, through build_evidence (sync --offline)."""
    rng = random.Random(seed)
    crashes, reported, bad_total, findings = [], 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for start in range(0, n_notes, batch):
            project = Path(tmp) / f"b{start}"
            project.mkdir()
            (project / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n',
                                                    encoding="utf-8")
            items, bad_notes = generated_library(min(batch, n_notes - start), rng, start)
            bad_total += len(bad_notes)
            try:
                report = eb.build_evidence(eb.load_settings(project), eb.Snapshot({"type": "group", "id": 4242,
                                                                                    "version": 1}, items))
            except Exception as exc:  # noqa: BLE001 - a crash is what the soak counts
                crashes.append(f"notes {start}-{start + batch}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            named = {p.item_key for p in report.problems if p.severity == "error"}
            reported += len(bad_notes & named)
            findings += int(report.manifest["counts"]["outcomes"])
            print(f"notes {start + 1:5d}-{start + len(items) // 2:5d}: {len(bad_notes)} with a mistake, "
                  f"{len(bad_notes & named)} reported by their key, {report.manifest['counts']['outcomes']} findings "
                  "built", flush=True)
    lines = [f"generated notes: {n_notes} (seed {seed}, SYNTHETIC), in libraries of {batch}",
             f"crashes: {len(crashes)} (target 0)", *crashes,
             f"notes with a known mistake: {bad_total}; reported by their item key: {reported} (target all)",
             f"good notes built into findings: {findings}"]
    return Section("generated notes", lines, not crashes and reported == bad_total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storms", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--notes", type=int, default=10_000)
    args = parser.parse_args()
    start = time.perf_counter()
    sections = [soak_generated_notes(args.notes, args.seed), soak_fault_storms(args.storms, args.seed)]
    print()
    for section in sections:
        print(f"== {section.title}: {'PASS' if section.passed else 'MISS'}")
        for line in section.lines:
            print(line)
    print(f"wall time: {time.perf_counter() - start:.0f} s")
    sys.exit(0 if all(s.passed for s in sections) else 1)


if __name__ == "__main__":
    main()
