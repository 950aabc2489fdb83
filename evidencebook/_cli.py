"""The command line: ``evidencebook sync | check | build | brief | watch | whats-new``, a thin shell over the package.

Each command parses its options, loads the settings and calls one function.  Errors that
evidencebook raises on purpose are printed as one message (no traceback unless --debug).

Exit codes, one policy for every command:

0  the command did its job.  Coding problems (a bad note, tag or value) do not fail it: they are
   quarantined, that is listed by item and note line and left out, and everything else goes on.
1  the command could not do its job (Zotero unreachable, a corrupt evidence file, a table that
   fails its schema, a brief or page that failed), or ``--strict`` and the evidence as it now
   stands (``evidence/problems.csv``, not only what this run changed) holds coding errors.
2  a wrong argument or credential: an unknown region, a bad option, a key Zotero refuses.
3  ``whats-new --since N`` only: there is no evidence version after N, so nothing is new (the scheduled
   sync workflow opens no pull request).
130 ``watch`` only: stopped by Ctrl-C (evidence/ holds the last complete sync).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import click

from ._config import load_settings
from ._errors import EvidencebookError

__all__ = ["main"]


def _quiet() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EvidencebookError as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(debug: bool) -> None:
    """A living evidence review of the peer support workforce, from Zotero to book and briefs."""


def _report_build(report: Any) -> int:
    """Print a rebuild's problems and summary; return the number of coding errors."""
    for problem in report.problems:
        click.echo(str(problem), err=True)
    m = report.manifest
    click.echo(f"evidence version {m['evidence_version']} ({m['content_hash'][:12]}): "
               f"{m['counts']['studies']} studies, {m['counts']['outcomes']} findings, "
               f"{m['counts']['policy_facts']} policy facts, {m['counts']['regions']} regions; "
               f"{'changed: ' + ', '.join(report.changed) if report.changed else 'nothing changed'}")
    errors = sum(p.severity == "error" for p in report.problems)
    if errors:
        click.echo(f"{errors} coding error(s): those values and findings were left out, everything else was "
                   "built; see evidence/problems.csv (--strict makes this exit 1)", err=True)
    return errors


_STRICT_HELP = "Exit 1 if the evidence holds coding errors (all of evidence/problems.csv, not only this run's)."


def _errors_in_evidence(settings: Any) -> int:
    """Coding errors the evidence holds now: the rows of evidence/problems.csv whose severity is error."""
    import csv

    path = settings.evidence / "problems.csv"
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8", newline="") as f:
        return sum(row.get("severity") == "error" for row in csv.DictReader(f))


def _strict_exit(errors: int) -> None:
    if errors:
        click.echo(f"--strict: the evidence holds {errors} coding error(s); exit 1", err=True)
        sys.exit(1)


def _print_dry_run(settings: Any, report: Any) -> None:
    """What the change would do to the review: studies and findings marked, the fields of each changed finding,
    and for each question and pooled estimate its estimate, CI, k and certainty before and after."""
    from ._evidence import field_changes, load_evidence
    from ._living import outcome_status, version_changes

    for kind in ("studies", "outcomes"):
        for what, keys in report.changes[kind].items():
            if keys:
                click.echo(f"would mark {len(keys)} {kind} {what}: {', '.join(keys[:10])}")
    if report.tables is None:
        return
    try:
        current = load_evidence(settings)
    except EvidencebookError:  # no evidence yet: everything is new
        return
    new_outcomes, new_studies = report.tables["outcomes.csv"], report.tables["studies.csv"]
    written = (settings.evidence / "outcomes.csv").read_text(encoding="utf-8")
    for finding, moved in list(field_changes(written, new_outcomes, "finding_id").items())[:20]:
        click.echo(f"  finding {finding}: " + "; ".join(f"{f} {a or '(empty)'} -> {b or '(empty)'}"
                                                     for f, a, b in moved[:6]))
    changes = version_changes(outcome_status(current.outcomes, current.studies), outcome_status(new_outcomes, new_studies))
    for r in changes[changes["change"] != "unchanged"].to_dict("records"):
        said = r.get("notes") or ""
        flag = f" [new citable version: {r['triggers']}]" if r.get("triggers") else ""
        click.echo(f"  {r['outcome']}: {r['change']}" + (f", {said}" if said else "") + flag)


@main.command()
@click.option("--offline", is_flag=True, help="Do not contact Zotero: rebuild the tables from evidence/zotero/.")
@click.option("--local", is_flag=True, help="Read the Zotero desktop app's local API (port 23119) instead of the web.")
@click.option("--endpoint", metavar="URL", help="Another Web API server (self-hosted, or a test emulator).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--strict", is_flag=True, help=_STRICT_HELP)
@click.option("--replace-library", is_flag=True,
              help="Sync even though evidence/zotero/ holds another library than library_id names: its items are removed.")
def sync(offline: bool, local: bool, endpoint: str | None, dry_run: bool, strict: bool, replace_library: bool) -> None:
    """Bring every change in the Zotero library into the evidence base.

    The API key is read from the ZOTERO_API_KEY environment variable (public libraries and
    the local API need none).  Waits that Zotero asks for are shown; one longer than a minute
    stops the sync.
    """
    from ._evidence import build_evidence
    from ._sync import sync_library

    settings = load_settings()
    if offline:
        report = build_evidence(settings, dry_run=dry_run)
    else:
        result = sync_library(settings, os.environ.get("ZOTERO_API_KEY") or None, local=local, endpoint=endpoint,
                              dry_run=dry_run, progress=not _quiet(), replace_library=replace_library,
                              notify=lambda message: click.echo(message, err=True))
        click.echo(f"Zotero ({result.api}): library version {result.old_version} -> {result.new_version}, "
                   f"{result.fetched} items fetched, {len(result.purged)} purged, {len(result.trashed)} trashed, "
                   f"{result.requests} requests" + "".join(f"; {n}" for n in result.notes))
        if result.build is None:
            click.echo("nothing changed; nothing written")
            if strict:  # judged on the evidence as it stands, not on what this sync changed (nothing)
                _strict_exit(_errors_in_evidence(settings))
            return
        report = result.build
    errors = _report_build(report)
    if dry_run:
        _print_dry_run(settings, report)
    if strict:  # the build coded the whole library: its problems are the evidence's (or would be, in a dry run)
        _strict_exit(errors)


@main.command()
@click.option("--strict", is_flag=True, help=_STRICT_HELP)
def check(strict: bool) -> None:
    """Validate the evidence base: file hashes and schemas (exit 1 if any fail); list the coding problems."""
    from ._evidence import load_evidence, validate_tables

    evidence = load_evidence(load_settings())
    tables = {"studies.csv": evidence.studies, "outcomes.csv": evidence.outcomes,
              "state_policy.csv": evidence.policy, "regions.csv": evidence.regions,
              "risk_of_bias.csv": evidence.risk_of_bias}
    failures = validate_tables(tables)
    errors = evidence.problems[evidence.problems["severity"] == "error"]
    click.echo(f"{evidence.version_label}")
    click.echo("  files: every file matches the manifest's SHA-256")
    for name, table in tables.items():
        bad = failures[failures["file"] == name]
        verdict = "ok" if bad.empty else f"{len(bad)} failing cell(s)"
        click.echo(f"  {name:17} {len(table):5d} rows  schema {verdict}")
        for (column, check_name), cases in bad.groupby(["column", "check"], dropna=False):
            shown = ", ".join(str(c) for c in cases["failure_case"].head(5))
            click.echo(f"      {column}: {check_name}: {len(cases)} (e.g. {shown}) at rows "
                       f"{', '.join(str(i) for i in cases['index'].head(5))}")
    counts = evidence.problems["severity"].value_counts()
    click.echo(f"  coding: {counts.get('error', 0)} error(s), {counts.get('warning', 0)} warning(s)")
    for row in evidence.problems.itertuples():
        click.echo(f"    {row.severity}: item {row.item_key}, line {row.line} [{row.field}]: {row.message}")
    if len(failures):
        sys.exit(1)
    if strict:
        _strict_exit(len(errors))


def _run_briefs(settings: Any, workers: int = 2, dask: str | None = None, pdf: bool = True,
                regions: list[str] | None = None, force: bool = False) -> int:
    """Briefs for every region (or those named), fanned out; print the failures; 1 if any region failed."""
    from contextlib import nullcontext

    from ._brief_runs import dask_executor, render_all_briefs

    with dask_executor(dask, settings) if dask else nullcontext() as executor:
        done, failed = render_all_briefs(settings, progress=not _quiet(), workers=workers, executor=executor,
                                         regions=regions, pdf=pdf, force=force)
    kinds = "notebook, HTML, PDF" if pdf else "notebook, HTML"
    kept = sum(not o.rebuilt for o in done)
    click.echo(f"{len(done) - kept} briefs written to {settings.briefs_dir} and {settings.brief_html_dir} ({kinds})"
               + (f"; {kept} unchanged since they were written, kept" if kept else ""))
    if failed:
        click.echo(f"{len(failed)} region(s) failed:", err=True)
    for region_id, message in failed.items():
        click.echo(f"  {region_id}: {message}", err=True)
    return 1 if failed else 0


@main.command()
@click.option("--no-pdf", is_flag=True, help="Leave out the briefs' PDFs (no Chromium needed).")
@click.option("--strict", is_flag=True, help=_STRICT_HELP)
def build(no_pdf: bool, strict: bool) -> None:
    """Rebuild the tables, every brief and the book (into _build/html)."""
    from ._evidence import build_evidence
    from ._pages import BookBuilder

    settings = load_settings()
    with BookBuilder(settings, quiet=_quiet()) as book:  # its kernels and Sphinx start while the tables are checked
        errors = _report_build(build_evidence(settings))  # quarantined: the book and briefs are built without them
        # The briefs render while the book's pages execute.
        _, briefs = book.build(meanwhile=lambda: _run_briefs(settings, pdf=not no_pdf))
    click.echo(f"book: {settings.root / '_build' / 'html' / 'index.html'}")
    if briefs:
        sys.exit(1)
    if strict:
        _strict_exit(errors)


@main.command()
@click.argument("regions", nargs=-1, metavar="[REGION]...")
@click.option("--all", "all_regions", is_flag=True, help="Brief every region (keeps going past a failing one).")
@click.option("--list", "list_regions", is_flag=True, help="List the regions and their aliases.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Several regions: worker processes, each reusing one kernel  [default: 2].")
@click.option("--dask", metavar="ADDRESS", help="Several regions: run on the Dask cluster whose scheduler is at ADDRESS.")
@click.option("--no-pdf", is_flag=True, help="Write the notebook and HTML only (no Chromium needed).")
@click.option("--force", is_flag=True, help="Several regions: rebuild briefs whose content has not changed too.")
def brief(regions: tuple[str, ...], all_regions: bool, list_regions: bool, workers: int | None, dask: str | None,
          no_pdf: bool, force: bool) -> None:
    """Write the brief for REGION (a state, postal code, DC or sub-state region id): its notebook, HTML and PDF.

    Name several regions, or use --all, to fan them out over workers that each reuse one kernel.
    """
    settings = load_settings()
    if list_regions:
        from ._regions import region_records

        for r in region_records(settings.regions):
            click.echo(f"{r['region_id']:24} {r['name']:24} {r['aliases']}")
        return
    if regions and all_regions:
        raise click.UsageError("name regions or use --all, not both")
    if not regions and not all_regions:
        raise click.UsageError("name a region (for example: evidencebook brief oregon), or use --all / --list")
    if workers and dask:
        raise click.UsageError("--workers sets local worker processes; with --dask the cluster decides")
    if all_regions or len(regions) > 1:
        from ._regions import find_region, region_records

        records = region_records(settings.regions)
        for name in regions:  # every name checked before any work: exit 2, nothing written
            find_region(name, records)
        sys.exit(_run_briefs(settings, workers or 2, dask, pdf=not no_pdf, regions=list(regions) or None, force=force))
    if workers or dask:
        raise click.UsageError("--workers and --dask fan several regions out: name more than one, or use --all")
    from ._brief_runs import render_brief

    out = render_brief(settings, regions[0], pdf=not no_pdf)
    click.echo(f"brief for {out.region_id}:\n  notebook: {out.notebook}\n  html:     {out.html}"
               + (f"\n  pdf:      {out.pdf}" if out.pdf else ""))


@main.command()
@click.option("--interval", type=click.FloatRange(min=1), default=5.0, show_default=True, metavar="SECONDS",
              help="How often to ask Zotero whether the library changed (one request each time).")
@click.option("--local", is_flag=True, help="Watch the Zotero desktop app's local API (port 23119) instead of the web.")
@click.option("--endpoint", metavar="URL", help="Another Web API server (self-hosted, or a test emulator).")
@click.option("--no-pdf", is_flag=True, help="Leave out the briefs' PDFs (no Chromium needed).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Serve the site on 127.0.0.1 at this port (0: any free port).")
@click.option("--no-serve", is_flag=True, help="Do not serve the site.")
def watch(interval: float, local: bool, endpoint: str | None, no_pdf: bool, port: int, no_serve: bool) -> None:
    """Keep the site current while the library is being edited: poll Zotero, sync, rebuild, serve and reload.

    Every few seconds one request asks Zotero whether the library version moved; when it does, the
    library is synced and the pages and briefs that read the change are rebuilt, and pages open in a
    browser reload.  Ctrl-C stops; evidence/ then holds the last complete sync.
    """
    from ._watch import watch_library

    sys.exit(watch_library(load_settings(), os.environ.get("ZOTERO_API_KEY") or None, local=local, endpoint=endpoint,
                           interval=interval, pdf=not no_pdf, serve=not no_serve, port=port,
                           say=lambda message: click.echo(message, err=True)))


NOTHING_NEW = 3  # whats-new --since: no evidence version after the one named


@main.command("whats-new")
@click.option("--version", "number", type=click.IntRange(min=1), metavar="N",
              help="The evidence version to describe  [default: the current one].")
@click.option("--since", type=click.IntRange(min=0), metavar="N",
              help="Describe every evidence version after N, newest first; exit 3 if there is none.")
def whats_new(number: int | None, since: int | None) -> None:
    """Print What's new in an evidence version as Markdown: triggers for a new citable version, studies added
    and removed, estimates that moved, certainty changes and signed judgements to re-review.

    The scheduled sync workflow uses it as the description of its pull request.
    """
    from ._evidence import read_changelog
    from ._living import version_news, whats_new_markdown

    if number is not None and since is not None:
        raise click.UsageError("--version names one evidence version and --since those after one: use one")
    settings = load_settings()
    recorded = sorted(int(entry["evidence_version"]) for entry in read_changelog(settings))
    if number is not None and number not in recorded:
        raise click.BadParameter(f"evidence version {number} is not recorded (the changelog has "
                                 f"{', '.join(map(str, recorded)) or 'none'})", param_hint="--version")
    if since is not None:
        newer = [n for n in recorded if n > since]
        if not newer:
            click.echo(f"nothing new: no evidence version after version {since}", err=True)
            sys.exit(NOTHING_NEW)
        click.echo("\n".join(whats_new_markdown(version_news(settings, n)) for n in reversed(newer)), nl=False)
        return
    click.echo(whats_new_markdown(version_news(settings, number)), nl=False)


_: Callable[..., Any] = main
