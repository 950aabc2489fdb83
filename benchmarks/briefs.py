"""Brief fan-out benchmark: a plain sequential papermill loop against ``evidencebook brief --all``,
over the same regions and the same template, in the same run; and one brief on demand.

Run from the project folder (needs ``make chromium`` for the PDF parts)::

    .venv/bin/python benchmarks/briefs.py              # every region (52), about 5-10 minutes
    .venv/bin/python benchmarks/briefs.py --regions 20 # the first 20 regions only

Everything runs in a temporary copy of the project (pyproject, evidence, notebooks, book), so
the working tree is never touched.  It measures, with wall clocks:

(a) baseline: ``papermill notebooks/brief.ipynb out/<id>.ipynb -p region <id>``, one CLI process
    per region, one after another (each starts its own kernel, as a plain loop would);
(b) ``evidencebook brief --all --no-pdf`` (notebook + HTML per region) and ``evidencebook brief
    --all`` (notebook + HTML + PDF), with ``--workers`` worker processes each reusing one kernel;
    ratio = (a) / (b), PASS at >= 5x (``--force``: every brief executed, none kept as unchanged);
    then the same command again without ``--force``, as after a sync that changed nothing;
(c) ``evidencebook brief oregon`` on demand, from launching the command to the HTML file
    (target < 5 s), to the PDF file (target < 10 s), and to the command's exit; ``--repeat``
    times, median reported; once as any brief after the fan-out (the summary of findings is kept
    on disk per evidence version) and once as the first brief of a new evidence version (that
    cache removed first).  The HTML and PDF times are the files' modification times (each is
    written once, by a rename) measured from the moment the command was launched.

The machine's load average is printed before and after: other work on the machine slows both
sides of the ratio, but not by the same factor, so read the ratio with it.  CPU seconds (user +
system of each command and everything it starts: CLIs, workers, kernels, browsers; sampled every
50 ms) are printed beside wall times: they move much less with the machine's load.
Exits 1 if a target is missed or a command fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RATIO_TARGET = 5.0
HTML_TARGET, PDF_TARGET = 5.0, 10.0


def copy_project(target: Path) -> None:
    """The project's configuration, evidence, template and book pages (no built briefs)."""
    for name in ("pyproject.toml", "_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, target / name)
    for name in ("evidence", "notebooks", "book"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("briefs", "seed"))


def region_ids(project: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from evidencebook import load_settings, region_records

    return [r["region_id"] for r in region_records(load_settings(project).regions)]


def tree_cpu(pid: int, stop: threading.Event, seen: dict[int, float]) -> None:
    """Sample the CPU seconds (user + system) of a process and all its descendants until ``stop``.

    Sampled every 50 ms, so a process's last few milliseconds may be missed; resource.getrusage
    would miss more (worker processes started by a fork server are not its children).
    """
    while True:
        try:
            root = psutil.Process(pid)
            for proc in (root, *root.children(recursive=True)):
                try:
                    times = proc.cpu_times()
                    seen[proc.pid] = max(seen.get(proc.pid, 0.0), times.user + times.system)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        if stop.wait(0.05):
            return


def run(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (of the command and everything it starts); stops the benchmark if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "1"})
    stop, seen = threading.Event(), {}
    sampler = threading.Thread(target=tree_cpu, args=(proc.pid, stop, seen))
    sampler.start()
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"FAILED ({proc.returncode}): {' '.join(command)}\n{stdout[-2000:]}\n{stderr[-4000:]}")
    return elapsed, sum(seen.values())


def papermill_loop(project: Path, regions: list[str]) -> tuple[float, float]:
    out = project / "papermill-out"
    out.mkdir(exist_ok=True)
    wall = cpu = 0.0
    for region in regions:
        w, c = run([str(BIN / "papermill"), "notebooks/brief.ipynb", str(out / f"{region}.ipynb"), "-p", "region",
                    region], project)
        wall, cpu = wall + w, cpu + c
    return wall, cpu


def on_demand(project: Path, region: str, cold: bool) -> tuple[float, float, float]:
    """Seconds from launching ``evidencebook brief <region>`` to its HTML file, its PDF file and its exit.

    ``cold``: as the first brief of a new evidence version (the summary of findings kept on disk
    is removed first); otherwise as any later one.
    """
    html = project / "_build" / "briefs" / f"{region}.html"
    pdf = html.with_suffix(".pdf")
    for path in (html, pdf):
        path.unlink(missing_ok=True)
    if cold:
        shutil.rmtree(project / "_build" / ".evidencebook-cache", ignore_errors=True)
    launched = time.time()
    total, _ = run([str(BIN / "evidencebook"), "brief", region], project)
    return html.stat().st_mtime - launched, pdf.stat().st_mtime - launched, total


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=0, help="only the first N regions (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="fan-out worker processes (default: 2)")
    parser.add_argument("--repeat", type=int, default=3, help="on-demand runs of one brief (default: 3)")
    args = parser.parse_args()
    if not shutil.which("chromium"):
        sys.exit("Chromium is not installed: run 'make chromium' first.")

    with tempfile.TemporaryDirectory(prefix="eb-bench-briefs-") as tmp:
        project = Path(tmp)
        copy_project(project)
        regions = region_ids(project)
        regions = regions[: args.regions] if args.regions else regions
        print(f"{len(regions)} regions, {os.cpu_count()} cores, {args.workers} fan-out workers; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        fan_out = [str(BIN / "evidencebook"), "brief", "--force", "--workers", str(args.workers),
                   *(["--all"] if len(regions) == len(region_ids(project)) else regions)]

        run([str(BIN / "papermill"), "notebooks/brief.ipynb", str(project / "warm-up.ipynb"), "-p", "region",
             "oregon"], project)  # untimed: both sides then read the same warm file cache
        baseline, baseline_cpu = papermill_loop(project, regions)
        n = len(regions)
        print(f"(a) sequential papermill CLI loop:        {baseline:7.1f} s wall ({baseline / n:.2f} s a region), "
              f"{baseline_cpu:6.1f} s CPU")
        html_only, html_cpu = run([*fan_out, "--no-pdf"], project)
        print(f"(b) evidencebook brief (notebook + HTML):  {html_only:7.1f} s wall ({html_only / n:.2f} s a region), "
              f"{html_cpu:6.1f} s CPU; ratio {baseline / html_only:5.1f}x wall, {baseline_cpu / html_cpu:5.1f}x CPU"
              f"  {verdict(baseline / html_only >= RATIO_TARGET)} (>= {RATIO_TARGET:.0f}x wall)")
        with_pdf, pdf_cpu = run(fan_out, project)
        print(f"    evidencebook brief (+ PDF):           {with_pdf:7.1f} s wall ({with_pdf / n:.2f} s a region), "
              f"{pdf_cpu:6.1f} s CPU; ratio {baseline / with_pdf:5.1f}x wall, {baseline_cpu / pdf_cpu:5.1f}x CPU"
              f"  {verdict(baseline / with_pdf >= RATIO_TARGET)} (>= {RATIO_TARGET:.0f}x wall)")
        pdfs = sorted((project / "_build" / "briefs").glob("*.pdf"))
        print(f"    {len(pdfs)} PDFs written for {n} regions")
        unchanged, _ = run([a for a in fan_out if a != "--force"], project)
        print(f"    again, nothing changed (briefs kept, not executed): {unchanged:5.1f} s wall")

        on_demand_ok = True
        for cold in (False, True):
            timings = [on_demand(project, "oregon", cold) for _ in range(args.repeat)]
            html_s, pdf_s, total_s = (statistics.median(t[i] for t in timings) for i in range(3))
            on_demand_ok = on_demand_ok and html_s < HTML_TARGET and pdf_s < PDF_TARGET
            label = "first brief of a new evidence version" if cold else "summary of findings already kept"
            print(f"(c) evidencebook brief oregon ({label}), median of {args.repeat}: HTML after {html_s:.1f} s "
                  f"{verdict(html_s < HTML_TARGET)} (< {HTML_TARGET:.0f} s), PDF after {pdf_s:.1f} s "
                  f"{verdict(pdf_s < PDF_TARGET)} (< {PDF_TARGET:.0f} s), command done after {total_s:.1f} s")
            print("    runs (HTML, PDF, exit): " + "; ".join(f"{h:.1f}, {p:.1f}, {t:.1f}" for h, p, t in timings))
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        ok = (baseline / html_only >= RATIO_TARGET and baseline / with_pdf >= RATIO_TARGET
              and on_demand_ok and len(pdfs) == len(regions))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
