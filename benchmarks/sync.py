"""Sync benchmark: a generated library (synthetic: 5,000 items with 10,000 child notes) served
by the test emulator of the Zotero Web API; full sync, no-op sync, and a sync after 10 edits.

Run: .venv/bin/python benchmarks/sync.py   (about a minute)

Prints wall time, peak memory (of the sync subprocess) and HTTP requests against the
minimum Zotero's algorithm needs, and the ratio to a baseline measured in the same run
(pyzotero's plain `everything(items())`, which pages 100 at a time and sees no deletions).
Targets (issue 3): requests <= 1.05x the minimum; no-op in 1-2 requests and < 1 s;
full sync < 20 s and < 400 MB.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from zotero_emulator import ZoteroEmulator, make_item, make_note  # noqa: E402

N_ITEMS, NOTES_PER_ITEM = 5_000, 2
KEY = "bench-key-0000"
ALPHABET = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"

CHILD = """
import json, sys, time, resource
import evidencebook as eb
settings = eb.load_settings(sys.argv[1])
start = time.perf_counter()
report = eb.sync_library(settings, api_key=sys.argv[3], endpoint=sys.argv[2], progress=False)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "peak_mb": peak, "requests": report.requests, "fetched": report.fetched}))
"""

BASELINE = """
import json, sys, time
from pyzotero import zotero
zot = zotero.Zotero(4242, "group", api_key=sys.argv[2])
zot.endpoint = sys.argv[1]
start = time.perf_counter()
items = zot.everything(zot.items(limit=100))
print(json.dumps({"wall": time.perf_counter() - start, "items": len(items)}))
"""


def key(n: int, prefix: str) -> str:
    digits = ""
    for _ in range(7):
        n, r = divmod(n, len(ALPHABET))
        digits = ALPHABET[r] + digits
    return prefix + digits


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
                         env={"CI": "true", "PATH": "/usr/bin:/bin", "NO_PROXY": "127.0.0.1"})
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    import json
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with ZoteroEmulator(api_key=KEY) as emu, tempfile.TemporaryDirectory() as tmp:
        print(f"generating a synthetic library: {N_ITEMS} items, {N_ITEMS * NOTES_PER_ITEM} child notes")
        batch = []
        for n in range(N_ITEMS):
            batch.append(make_item(key(n, "S")))
            batch.append(make_note(key(n, "N"), key(n, "S"), f"F{n}", 0.5 + (n % 7) / 10))
            batch.append(make_note(key(n, "M"), key(n, "S"), f"G{n}", 0.6))
        # the second note of each item repeats a finding id pattern; give it a plain comment instead
        for item in batch:
            if item["key"].startswith("M"):
                item["data"]["note"] = "<p>Reviewer comment: checked against the PDF.</p>"
        emu.put(*batch)
        project = Path(tmp)
        (project / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n')
        total = len(emu.items)
        emu.requests.clear()
        base = run(BASELINE, emu.url, KEY)
        base_requests = len(emu.requests)

        rows = []
        for label, minimum, prepare in [
            ("full sync", 1 + math.ceil(total / 50), lambda: None),
            ("no-op sync", 1, lambda: None),
            ("10 edits", 3, lambda: [emu.edit(key(n * 97, "N"), note=emu.items[key(n * 97, "N")]["data"]["note"]
                                              .replace("estimate:", "estimate: ", 1)) for n in range(10)]),
        ]:
            prepare()
            emu.requests.clear()
            result = run(CHILD, str(project), emu.url, KEY)
            rows.append((label, result, len(emu.requests), minimum))

        print(f"\nbaseline: pyzotero everything(items()) of {base['items']} items: {base['wall']:.2f} s, "
              f"{base_requests} requests (no trash, no deletions, no version checks)")
        print(f"\n{'case':12} {'wall s':>8} {'peak MB':>8} {'requests':>9} {'minimum':>8} {'ratio':>6}  vs baseline wall")
        for label, result, requests, minimum in rows:
            print(f"{label:12} {result['wall']:8.2f} {result['peak_mb']:8.0f} {requests:9d} {minimum:8d} "
                  f"{requests / minimum:6.2f}  {result['wall'] / base['wall']:.2f}x")
        full, noop = rows[0][1], rows[1][1]
        checks = {
            "requests <= 1.05x minimum (every case)": all(r / m <= 1.05 for _, _, r, m in rows),
            "no-op in 1-2 requests": rows[1][2] <= 2,
            "no-op under 1 s": noop["wall"] < 1.0,
            "full sync under 20 s": full["wall"] < 20,
            "full sync under 400 MB": full["peak_mb"] < 400,
        }
        print()
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
