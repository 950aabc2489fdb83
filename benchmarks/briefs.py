"""Brief fan-out benchmark: a plain sequential papermill loop against ``evidencebook brief --all``,
over the same regions and the same template, in the same run; and one brief on demand.

Run from the project folder (needs ``make chromium`` for the PDF parts)::

    .venv/bin/python benchmarks/briefs.py              # every region (52), about 5-10 minutes
    .venv/bin/python benchmarks/briefs.py --regions 20 # the first 20 regions only
    .venv/bin/python benchmarks/briefs.py --only on-demand  # part (c) alone, about a minute
    .venv/bin/python benchmarks/briefs.py --only dask --studies 10000 --findings-per-study 5
                                       # (d) alone, on 10,000 generated SYNTHETIC studies

Everything runs in a temporary copy of the project (pyproject, evidence, notebooks, book), so
the working tree is never touched.  It measures, with wall clocks:

(a) baseline, one region after another, as a plain loop would: ``papermill notebooks/brief.ipynb
    out/<id>.ipynb -p region <id>`` (one CLI process, its own kernel), then its PDF printed by
    ``benchmarks/briefs.py --print-one out/<id>.ipynb out/<id>.pdf <title>`` (one process, its own
    Chromium; the same page and the same two-page fitting as the fan-out's, so both sides print
    the same PDF).  Timed apart: the papermill runs alone are the loop the HTML is measured
    against; papermill and print together, the loop the PDFs are measured against;
(b) ``evidencebook brief --all --no-pdf`` (notebook + HTML per region) and ``evidencebook brief
    --all`` (notebook + HTML + PDF), with ``--workers`` worker processes each reusing one kernel
    and one Chromium; ratio = (a) / (b): HTML against the papermill loop, PASS at >= 5x; PDFs
    against the papermill + print loop, PASS at >= 10x (issue 14); for reference, PDFs against
    the papermill loop alone (which prints nothing).  ``--force``: every brief executed, none
    kept as unchanged (a cold run); then the same command again without ``--force``, as after a
    sync that changed nothing (a warm run, labelled so);
(c) ``evidencebook brief oregon`` on demand, from launching the command to the HTML file
    (target < 5 s), to the PDF file (target < 10 s), and to the command's exit; ``--repeat``
    times, median reported; once as any brief after the fan-out (the summary of findings is kept
    on disk per evidence version) and once as the first brief of a new evidence version (that
    cache removed first).  The HTML and PDF times are the files' modification times (each is
    written once, by a rename) measured from the moment the command was launched.

(d) with ``--only dask``: the fan-out through Dask, as a cluster would run it: a ``LocalCluster`` of
    ``--workers`` worker processes (one thread each) started here, and ``evidencebook brief --all --force
    --dask <its scheduler>`` (notebook + HTML + PDF), against the same command on the local process pool
    (``--workers``); both must write every region's brief, and the two runs' briefs must show the same
    content (cell sources and outputs, apart from the evidence-version label).  With ``--studies N`` the
    copy's studies are first replaced by N generated SYNTHETIC ones (``benchmarks/build.py``'s seeded
    generator; ``--findings-per-study`` as there) and ``evidencebook sync --offline`` writes their tables.

The machine's 1-minute load average is printed before and after, and beside each figure: other work on the machine slows both
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
RATIO_TARGET = 5.0  # HTML fan-out against the papermill loop
PDF_RATIO_TARGET = 10.0  # PDF fan-out against the papermill + print loop (issue 14)
HTML_TARGET, PDF_TARGET = 5.0, 10.0


def copy_project(target: Path) -> None:
    """The project's configuration, evidence, template and book pages (no built briefs)."""
    for name in ("pyproject.toml", "_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, target / name)
    for name in ("evidence", "notebooks", "book"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("briefs", "seed"))


def region_titles(project: Path) -> dict[str, str]:
    """Each region's id and its brief's title, as the fan-out titles it."""
    sys.path.insert(0, str(ROOT))
    from evidencebook import load_settings, region_records

    return {str(r["region_id"]): f"{r['name']}: peer support services brief"
            for r in region_records(load_settings(project).regions)}


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


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


def print_one(notebook: Path, pdf: Path, title: str) -> None:
    """The baseline's print step: an executed brief notebook as the standalone page, printed on two pages."""
    import nbformat

    sys.path.insert(0, str(ROOT))
    from evidencebook._brief_page import Printer, chromium_path, notebook_html, scrub_notebook, standalone_page

    page = standalone_page(title, notebook_html(scrub_notebook(nbformat.read(notebook, as_version=4), title)))
    printer = Printer(chromium_path())
    try:
        pdf.write_bytes(printer.pdf(page, title))
    finally:
        printer.close()


def papermill_loop(project: Path, regions: dict[str, str]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Wall and CPU seconds of the papermill runs alone, and of their PDF prints."""
    out = project / "papermill-out"
    out.mkdir(exist_ok=True)
    wall = cpu = print_wall = print_cpu = 0.0
    for region, title in regions.items():
        notebook = out / f"{region}.ipynb"
        w, c = run([str(BIN / "papermill"), "notebooks/brief.ipynb", str(notebook), "-p", "region", region],
                   project)
        wall, cpu = wall + w, cpu + c
        w, c = run([sys.executable, str(Path(__file__).resolve()), "--print-one", str(notebook),
                    str(notebook.with_suffix(".pdf")), title], project)
        print_wall, print_cpu = print_wall + w, print_cpu + c
    return (wall, cpu), (print_wall, print_cpu)


def on_demand(project: Path, region: str, cold: bool) -> tuple[float, float, float, float]:
    """Seconds from launching ``evidencebook brief <region>`` to its HTML file, its PDF file and its exit, and
    the CPU seconds of the command and everything it starts.

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
    total, cpu = run([str(BIN / "evidencebook"), "brief", region], project)
    return html.stat().st_mtime - launched, pdf.stat().st_mtime - launched, total, cpu


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def on_demand_part(project: Path, repeat: int) -> bool:
    """Part (c): one brief on demand, as any later brief and as the first of a new evidence version; True if
    both meet the targets."""
    ok = True
    for cold in (False, True):
        timings = [on_demand(project, "oregon", cold) for _ in range(repeat)]
        html_s, pdf_s, total_s, cpu_s = (statistics.median(t[i] for t in timings) for i in range(4))
        ok = ok and html_s < HTML_TARGET and pdf_s < PDF_TARGET
        label = "first brief of a new evidence version" if cold else "summary of findings already kept"
        print(f"(c) evidencebook brief oregon ({label}), median of {repeat}: HTML after {html_s:.1f} s "
              f"{verdict(html_s < HTML_TARGET)} (< {HTML_TARGET:.0f} s), PDF after {pdf_s:.1f} s "
              f"{verdict(pdf_s < PDF_TARGET)} (< {PDF_TARGET:.0f} s), command done after {total_s:.1f} s, "
              f"{cpu_s:.1f} s CPU; {load()}")
        print("    runs (HTML, PDF, exit, CPU): " + "; ".join(f"{h:.1f}, {p:.1f}, {t:.1f}, {c:.1f}"
                                                          for h, p, t, c in timings))
    return ok


def synthetic_library(project: Path, studies: int, findings_per_study: float | None) -> None:
    """Replace the copy's studies by ``studies`` generated SYNTHETIC ones and write their evidence tables."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build import findings_counts, generate_library  # the build benchmark's seeded SYNTHETIC generator

    kept, written, _ = generate_library(project, studies, findings_per_study)
    counts = findings_counts(findings_per_study)
    elapsed, _ = run([str(BIN / "evidencebook"), "sync", "--offline"], project)
    print(f"SYNTHETIC library: {studies} included studies with {counts[0]}-{counts[-1]} findings each "
          f"({written} items), {kept} bundled policy items kept; sync --offline {elapsed:.1f} s")


def shown(folder: Path) -> dict[str, str]:
    """Each brief notebook's content (cell sources and outputs) apart from its evidence-version label."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build import digest

    return {p.stem: digest(p, unlabel=True) for p in sorted(folder.glob("*.ipynb"))}


def dask_part(project: Path, workers: int, n: int) -> bool:
    """Part (d): ``brief --all --force`` on the local process pool, then on a LocalCluster through ``--dask``."""
    from distributed import LocalCluster

    briefs, pdfs = project / "book" / "briefs", project / "_build" / "briefs"
    local, local_cpu = run([str(BIN / "evidencebook"), "brief", "--all", "--force", "--workers", str(workers)],
                           project)
    local_briefs, local_pdfs = shown(briefs), len(list(pdfs.glob("*.pdf")))
    print(f"(d) evidencebook brief --all (process pool, {workers} workers; notebook + HTML + PDF): {local:7.1f} s wall "
          f"({local / n:.2f} s a region), {local_cpu:6.1f} s CPU, {local_pdfs} PDFs; {load()}")
    for path in [*briefs.glob("*.ipynb"), *pdfs.glob("*")]:
        path.unlink()
    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        started = time.perf_counter() - start
        wall, cpu = run([str(BIN / "evidencebook"), "brief", "--all", "--force", "--dask", cluster.scheduler_address],
                        project)
        # The cluster's worker processes are not the command's children: their CPU is sampled apart.
        workers_cpu = sum(p.cpu_times().user + p.cpu_times().system for p in psutil.Process().children(recursive=True))
    dask_briefs, dask_pdfs = shown(briefs), len(list(pdfs.glob("*.pdf")))
    same = dask_briefs == local_briefs
    print(f"    evidencebook brief --all --dask (LocalCluster, {workers} worker processes x 1 thread, started in "
          f"{started:.1f} s): {wall:7.1f} s wall ({wall / n:.2f} s a region), {cpu:6.1f} s CPU in the command and "
          f"{workers_cpu:6.1f} s in the cluster's processes, {dask_pdfs} PDFs; {wall / local:.2f}x the process pool; "
          f"{load()}")
    print(f"    {verdict(same and len(dask_briefs) == n == dask_pdfs)}: every region's brief written through Dask "
          f"({len(dask_briefs)} notebooks, {dask_pdfs} PDFs of {n}), showing the same content as the process pool's"
          + ("" if same else f" (differ: {sorted(k for k in dask_briefs if dask_briefs[k] != local_briefs.get(k))})"))
    return same and len(dask_briefs) == n == dask_pdfs == local_pdfs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=0, help="only the first N regions (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="fan-out worker processes (default: 2)")
    parser.add_argument("--repeat", type=int, default=3, help="on-demand runs of one brief (default: 3)")
    parser.add_argument("--only", choices=("all", "on-demand", "dask"), default="all",
                        help="on-demand: part (c) alone, after one untimed brief (no fan-out); dask: part (d) alone, "
                             "the fan-out on a LocalCluster against the process pool (default: all)")
    parser.add_argument("--studies", type=int, default=0,
                        help="replace the bundled studies by N generated SYNTHETIC ones (default: bundled evidence)")
    parser.add_argument("--findings-per-study", type=float, default=None, metavar="MEAN",
                        help="with --studies: MEAN-2..MEAN+2 findings per study (default: 1-4)")
    parser.add_argument("--print-one", nargs=3, metavar=("NOTEBOOK", "PDF", "TITLE"),
                        help="the baseline's print step for one executed notebook (run by the benchmark)")
    args = parser.parse_args()
    if args.print_one:
        notebook, pdf, title = args.print_one
        print_one(Path(notebook), Path(pdf), title)
        return 0
    if not shutil.which("chromium"):
        sys.exit("Chromium is not installed: run 'make chromium' first.")

    with tempfile.TemporaryDirectory(prefix="eb-bench-briefs-") as tmp:
        project = Path(tmp)
        copy_project(project)
        if args.studies:
            synthetic_library(project, args.studies, args.findings_per_study)
        every = region_titles(project)
        regions = dict(list(every.items())[: args.regions]) if args.regions else every
        print(f"{len(regions)} regions, {os.cpu_count()} cores, {args.workers} fan-out workers; "
              f"load average (1 minute) before: {os.getloadavg()[0]:.1f}")
        if args.only == "dask":
            ok = dask_part(project, args.workers, len(regions))
            print(f"load average (1 minute) after: {os.getloadavg()[0]:.1f}")
            return 0 if ok else 1
        if args.only == "on-demand":  # one untimed brief: the file cache warm and the summary kept, as after (b)
            run([str(BIN / "evidencebook"), "brief", "oregon"], project)
            ok = on_demand_part(project, args.repeat)
            print(f"load average (1 minute) after: {os.getloadavg()[0]:.1f}")
            return 0 if ok else 1
        fan_out = [str(BIN / "evidencebook"), "brief", "--force", "--workers", str(args.workers),
                   *(["--all"] if len(regions) == len(every) else list(regions))]

        run([str(BIN / "papermill"), "notebooks/brief.ipynb", str(project / "warm-up.ipynb"), "-p", "region",
             "oregon"], project)  # untimed: both sides then read the same warm file cache
        (baseline, baseline_cpu), (printing, printing_cpu) = papermill_loop(project, regions)
        n = len(regions)
        loop, loop_cpu = baseline + printing, baseline_cpu + printing_cpu
        print(f"(a) sequential papermill CLI loop:        {baseline:7.1f} s wall ({baseline / n:.2f} s a region), "
              f"{baseline_cpu:6.1f} s CPU; {load()}")
        print(f"    + a PDF printed after each:           {loop:7.1f} s wall ({loop / n:.2f} s a region), "
              f"{loop_cpu:6.1f} s CPU (the prints: {printing:.1f} s wall, {printing_cpu:.1f} s CPU)")
        html_only, html_cpu = run([*fan_out, "--no-pdf"], project)
        html_ok = baseline / html_only >= RATIO_TARGET
        print(f"(b) evidencebook brief (notebook + HTML):  {html_only:7.1f} s wall ({html_only / n:.2f} s a region), "
              f"{html_cpu:6.1f} s CPU; against the papermill loop {baseline / html_only:5.1f}x wall, "
              f"{baseline_cpu / html_cpu:5.1f}x CPU  {verdict(html_ok)} (>= {RATIO_TARGET:.0f}x wall); {load()}")
        with_pdf, pdf_cpu = run(fan_out, project)
        pdf_ok = loop / with_pdf >= PDF_RATIO_TARGET
        print(f"    evidencebook brief (+ PDF):           {with_pdf:7.1f} s wall ({with_pdf / n:.2f} s a region), "
              f"{pdf_cpu:6.1f} s CPU; against the papermill + print loop {loop / with_pdf:5.1f}x wall, "
              f"{loop_cpu / pdf_cpu:5.1f}x CPU; {load()}")
        print(f"    against the papermill loop alone (it prints nothing): {baseline / with_pdf:5.1f}x wall, "
              f"{baseline_cpu / pdf_cpu:5.1f}x CPU")
        print(f"    {verdict(pdf_ok)}: fan-out with PDFs {loop / with_pdf:.1f}x the sequential papermill + print loop "
              f"(target >= {PDF_RATIO_TARGET:.0f}x wall, issue 14)")
        pdfs = sorted((project / "_build" / "briefs").glob("*.pdf"))
        print(f"    {len(pdfs)} PDFs written for {n} regions")
        unchanged, _ = run([a for a in fan_out if a != "--force"], project)
        print(f"    warm run, nothing changed (briefs kept, not executed): {unchanged:5.1f} s wall; {load()}")

        on_demand_ok = on_demand_part(project, args.repeat)
        print(f"load average (1 minute) after: {os.getloadavg()[0]:.1f}")
        ok = html_ok and pdf_ok and on_demand_ok and len(pdfs) == len(regions)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
