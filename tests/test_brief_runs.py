"""Printing a brief on two pages with as few prints as it takes: the search that starts from the layout's guess,
the guess's page box against the print CSS, and the guess against real prints of bundled briefs."""

from __future__ import annotations

import io
import re
import shutil

import pypdf
import pytest
from conftest import ROOT

import evidencebook as eb
from evidencebook._brief_page import (
    _HOLD_BACK_JS,
    _PRINT_CSS,
    PAGE_BOX_PX,
    Guess,
    chromium_path,
    fit,
    guess_layout,
)


class FakeBrief:
    """A brief with ``optional`` items that prints on 4 pages with nothing held back, 3 from 2 held back and
    on ``pages`` pages from ``fewest`` held back; counts its prints."""

    def __init__(self, optional: int = 9, fewest: int = 5) -> None:
        self.optional, self.fewest, self.hidden, self.prints = optional, fewest, 0, 0

    def hold_back(self, n: int) -> int:
        self.hidden = n
        return self.optional

    def print_pdf(self) -> bytes:
        self.prints += 1
        pages = 2 if self.hidden >= self.fewest else 3 if self.hidden >= 2 else 4
        writer = pypdf.PdfWriter()
        for _ in range(pages):
            writer.add_blank_page(612, 792)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()


def pages_of(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_a_right_guess_that_is_sure_takes_one_print() -> None:
    brief = FakeBrief()
    fitted = fit(brief.print_pdf, brief.hold_back, 2, Guess(5, sure=True))
    assert (fitted.held, fitted.pages, fitted.prints, brief.prints) == (5, 2, 1, 1)
    assert pages_of(fitted.pdf) == 2 and brief.hidden == 5  # the page is left as printed


def test_a_right_guess_that_is_not_sure_prints_one_item_fewer_to_know() -> None:
    brief = FakeBrief()
    fitted = fit(brief.print_pdf, brief.hold_back, 2, Guess(5, sure=False))
    assert (fitted.held, fitted.prints) == (5, 2)
    assert brief.hidden == 5  # the page shows what the PDF holds back, not the last count tried


@pytest.mark.parametrize("fewest", [0, *range(2, 10)])
@pytest.mark.parametrize("guess", [None, *range(0, 10)])
def test_any_guess_that_is_not_sure_still_finds_the_fewest(fewest: int, guess: int | None) -> None:
    brief = FakeBrief(optional=9, fewest=fewest)
    fitted = fit(brief.print_pdf, brief.hold_back, 2, None if guess is None else Guess(guess, sure=False))
    assert (fitted.held, fitted.pages, brief.hidden) == (fewest, 2, fewest)
    assert fitted.prints == brief.prints <= 6  # never more than a search from nothing (0, then halves)


@pytest.mark.parametrize("guess", range(0, 5))
def test_a_sure_guess_that_is_too_low_is_not_trusted(guess: int) -> None:
    brief = FakeBrief(optional=9, fewest=5)
    fitted = fit(brief.print_pdf, brief.hold_back, 2, Guess(guess, sure=True))
    assert fitted.held == 5 and fitted.pages == 2  # the guess overflowed when printed: searched above it


def test_a_guess_beyond_the_optional_items_is_clamped() -> None:
    brief = FakeBrief(optional=3, fewest=2)
    fitted = fit(brief.print_pdf, brief.hold_back, 2, Guess(40, sure=False))
    assert fitted.held == 2 and fitted.pages == 2


def test_when_nothing_fits_every_optional_item_is_held_back_and_the_pages_are_counted() -> None:
    brief = FakeBrief(optional=4, fewest=99)  # 3 pages however much is held back
    for guess in (None, Guess(4, sure=True), Guess(1, sure=False)):
        fitted = fit(brief.print_pdf, brief.hold_back, 2, guess)
        assert (fitted.held, fitted.pages, brief.hidden) == (4, 3, 4)
        assert pages_of(fitted.pdf) == 3


def test_the_guess_lays_out_the_page_box_the_print_css_sets() -> None:
    """PAGE_BOX_PX is Letter (8.5 x 11 in) less the @page margins, at 96 CSS pixels an inch."""
    margins = re.search(r"@page \{ size: Letter; margin: ([\d.]+)in ([\d.]+)in ([\d.]+)in; \}", _PRINT_CSS)
    assert margins, "the @page rule changed: update PAGE_BOX_PX with it"
    top, sides, bottom = (float(m) for m in margins.groups())
    assert PAGE_BOX_PX == (round((8.5 - 2 * sides) * 96), round((11 - top - bottom) * 96))


# Briefs whose fit the guess gets from the layout alone (one item fewer overflows by 14-16 px a page, just
# above the slack), one that holds nothing back, the longest two and one that printed on one page once.
CHECKED = ["indiana", "montana", "rhode-island", "texas", "oregon", "southern-oregon", "nevada"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[eb.Settings, list[eb.BriefOutput]]:
    root = tmp_path_factory.mktemp("brief-runs")
    for name in ("pyproject.toml", "_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("evidence", "notebooks", "book"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("briefs", "seed"))
    settings = eb.load_settings(root)
    done, failed = eb.render_all_briefs(settings, progress=False, workers=2, regions=CHECKED, force=True)
    assert not failed and [o.region_id for o in done] == sorted(CHECKED)
    return settings, done


def test_the_guided_fit_holds_back_what_printing_alone_finds(rendered) -> None:
    """For real briefs, the fit that starts from the layout's guess (trusting it when it is sure) holds back
    exactly as many items as a search by prints alone, and both print on two pages."""
    from playwright.sync_api import sync_playwright

    from evidencebook._brief_page import CHROMIUM_ARGS, _footer

    _, done = rendered
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        for out in done:
            page.set_content(out.html.read_text(encoding="utf-8"), wait_until="load")

            def print_pdf() -> bytes:
                return page.pdf(format="Letter", print_background=True, prefer_css_page_size=True,
                                display_header_footer=True, header_template="<span></span>",
                                footer_template=_footer("T"))

            def hold_back(n: int) -> int:
                return int(page.evaluate(_HOLD_BACK_JS, n))

            guess = guess_layout(page)
            guided = fit(print_pdf, hold_back, 2, guess)
            printed_only = fit(print_pdf, hold_back, 2, None)
            assert (guided.held, guided.pages) == (printed_only.held, printed_only.pages) == (guided.held, 2), (
                out.region_id, guess, guided.held, printed_only.held)
            assert guess is not None and guess.fewest == guided.held, out.region_id
            assert guided.prints <= 2, out.region_id
        browser.close()


def test_each_rendered_pdf_is_two_pages_and_its_held_back_note_names_the_full_brief(rendered) -> None:
    settings, done = rendered
    for out in done:
        reader = pypdf.PdfReader(out.pdf)
        text = re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))
        assert len(reader.pages) == 2, out.region_id
        if out.region_id != "texas":  # the only one of these that holds nothing back
            assert "Held back from this printed brief for space:" in text, out.region_id
            assert f"briefs/{out.region_id}.html" in text, out.region_id
        assert "two pages" in out.html.read_text(encoding="utf-8")


def test_a_worker_runs_every_brief_on_one_kernel_client_and_holds_no_more_sockets_for_more_briefs(
        project: eb.Settings) -> None:
    """nbclient made a client per notebook and waited for it (0.2 s of a quiet IOPub channel each); the worker
    makes one with its kernel. Each brief is still executed by papermill on that kernel."""
    import json

    import psutil

    from evidencebook._brief_runs import _Worker

    worker = _Worker(project, pdf=False)
    try:
        made = []
        original = worker.km.client
        worker.km.client = lambda **kw: made.append(1) or original(**kw)
        kc = worker.kc
        fds = []
        for region in ("oregon", "texas", "DC", "maine"):
            out = worker.brief(region)
            params = json.loads(out.notebook.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]
            assert params == {"region": out.region_id, "pdf": False}
            fds.append(psutil.Process().num_fds())
        assert made == [] and worker.kc is kc and kc.channels_running
        assert fds[-1] <= fds[1], fds  # no sockets left behind by a brief
    finally:
        worker.close()
    assert worker.kc is None


def test_a_guess_that_counted_the_optional_items_spares_counting_them_again() -> None:
    brief = FakeBrief(optional=9, fewest=5)
    calls: list[int] = []

    def hold_back(n: int) -> int:
        calls.append(n)
        return brief.hold_back(n)

    fitted = fit(brief.print_pdf, hold_back, 2, Guess(5, sure=True, optional=9))
    assert (fitted.held, fitted.prints, calls) == (5, 1, [5])


def test_a_forced_run_stores_each_brief_s_key_worked_out_while_its_kernel_ran(rendered) -> None:
    """A forced run leaves the keys to the workers (worked out beside the notebook's execution): each notebook
    carries the key the parent would compute, so the next run without --force keeps every brief."""
    import json

    from evidencebook._brief_runs import brief_keys

    settings, done = rendered
    keys = brief_keys(settings, CHECKED, True)
    for out in done:
        written = json.loads(out.notebook.read_text(encoding="utf-8"))["metadata"]["evidencebook"]["brief_key"]
        assert written == keys[out.region_id], out.region_id
    again, failed = eb.render_all_briefs(settings, progress=False, workers=1, regions=CHECKED)
    assert not failed and not any(o.rebuilt for o in again)


def test_one_stale_brief_is_rendered_in_this_process_without_starting_a_pool(rendered, monkeypatch) -> None:
    """A sync that touched one state leaves one brief to render: a worker process would first import everything
    this process has, so it is rendered here (its kernel and Chromium as a worker's), and the others are kept."""
    import concurrent.futures
    import json

    settings, done = rendered
    stale = next(o for o in done if o.region_id == "oregon")
    nb = json.loads(stale.notebook.read_text(encoding="utf-8"))
    nb["metadata"]["evidencebook"]["brief_key"] = "drawn from evidence since changed"
    stale.notebook.write_text(json.dumps(nb), encoding="utf-8")

    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started for one brief")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    again, failed = eb.render_all_briefs(settings, progress=False, regions=CHECKED)
    assert not failed
    assert [o.region_id for o in again if o.rebuilt] == ["oregon"]
    assert stale.pdf is not None and stale.pdf.read_bytes().startswith(b"%PDF")
    assert "drawn from evidence since changed" not in stale.notebook.read_text(encoding="utf-8")


def test_a_page_wider_than_the_paper_or_without_main_gets_no_guess() -> None:
    """Chromium shrinks a print wider than the page, which the columns would not: the search goes by prints."""
    from playwright.sync_api import sync_playwright

    from evidencebook._brief_page import CHROMIUM_ARGS, standalone_page

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(standalone_page("Wide", '<div style="width:1400px">a wide figure</div>'))
        assert guess_layout(page) is None
        page.set_content("<p>no main</p>")
        assert guess_layout(page) is None
        page.set_content(standalone_page("Short", '<p class="eb-optional" data-eb-rank="1">one item</p>'))
        assert guess_layout(page) == Guess(0, sure=True, optional=1)
        browser.close()


# -- a standalone brief's tables from the keyboard ---------------------------------------------------------------


def test_every_table_of_a_standalone_brief_is_a_named_tab_stop() -> None:
    # A brief has no scripts: on a phone its wide tables scroll sideways, which a keyboard user can only do when
    # the wrapper takes focus (axe: scrollable-region-focusable). Each is named after its own headers.
    from evidencebook._brief_page import keyboard_scrollable, standalone_page

    levers = ('<div class="eb-table eb-levers" style="overflow-x:auto"><table><thead><tr><th scope="col">Lever</th>'
              '<th scope="col">Oregon</th></tr></thead><tbody></tbody></table></div>')
    hostile = ('<div class="eb-table" style="overflow-x:auto"><table><caption>c</caption><tbody><tr><td>'
               "&quot;&gt;&lt;script&gt;</td></tr></tbody></table></div>")
    header = ('<div class="eb-table" style="overflow-x:auto"><table><thead><tr><th scope="col">'
              '&quot; onfocus=&quot;x</th></tr></thead></table></div>')
    page = standalone_page("Oregon", f"<p>x</p>{levers}{hostile}{header}")
    stops = re.findall(r'<div class="eb-table[^"]*"[^>]*tabindex="0" role="region" aria-label="([^"]*)">', page)
    assert stops == ["Table of Lever, Oregon (scrolls sideways on a narrow screen)",
                     "Table (scrolls sideways on a narrow screen)",  # no headers of its own: not the next table's
                     "Table of &quot; onfocus=&quot;x (scrolls sideways on a narrow screen)"]
    assert "<script>" not in page and ' onfocus="' not in page
    assert keyboard_scrollable("<p>no table</p>") == "<p>no table</p>"


# --- one brief on demand: the summary of findings made once, while its kernel starts -----------------


def test_an_entry_asked_for_while_another_makes_it_is_made_once_and_read(tmp_path) -> None:
    import threading
    import time

    from evidencebook._cache import DiskCache

    made, started, got = [], threading.Event(), {}

    def make() -> str:  # the command's summary, still being made when its kernel asks for the same
        made.append(1)
        started.set()
        time.sleep(1.0)
        return "the summary"

    first = threading.Thread(target=lambda: got.setdefault("command", DiskCache(tmp_path).get("national", "k", make)))
    first.start()
    assert started.wait(30)
    got["kernel"] = DiskCache(tmp_path).get("national", "k", make)  # another reader: it waits, then reads
    first.join()
    assert got == {"command": "the summary", "kernel": "the summary"} and len(made) == 1
    assert DiskCache(None).get("national", "k", make) == "the summary" and len(made) == 2  # nothing kept: made


def test_a_brief_on_demand_keeps_the_summary_of_findings_its_kernel_shows(project: eb.Settings) -> None:
    import json

    import nbformat

    out = eb.render_brief(project, "oregon", pdf=False)
    [kept] = project.cache_dir.glob("national-*.cache")
    headline = json.loads(kept.read_text(encoding="utf-8"))["headline"]
    shown = [output["data"]["text/html"] for cell in nbformat.read(out.notebook, as_version=4).cells
             for output in cell.get("outputs", []) if "text/html" in output.get("data", {})]
    assert headline in shown


# --- brief keys: what each region's brief reads, hashed ------------------------------------------------------


def _rendered_parts(settings: eb.Settings, evidence: eb.Evidence, judgements, national: str) -> dict[str, str]:
    """Per region, every part of its brief as drawn (what brief_keys hashed before it hashed the inputs): the
    oracle a key must follow."""
    import dataclasses

    import pandas as pd

    from evidencebook._briefs import Brief
    from evidencebook._regions import region_records

    # The version's label (number, date, hash) is no reason to draw a brief again: the keys leave it out.
    evidence = dataclasses.replace(evidence, manifest={**evidence.manifest, "evidence_version": "", "date": "",
                                                       "content_hash": ""})
    records = region_records(settings.regions)
    substate = tuple(r for r in records if r["kind"] == "sub-state")
    out = {}
    for record in records:
        brief = Brief(pd.Series(record), evidence, settings.site_url, pdf=False, judgements=judgements,
                      substate=substate, national=national)
        out[record["region_id"]] = "\0".join(str(part()) for part in (
            brief.header, brief.bottom_line, brief.levers, brief.local_evidence, brief.local_context,
            brief.implementation, brief.sources))
    return out


def _keys_after(settings: eb.Settings, evidence: eb.Evidence, monkeypatch: pytest.MonkeyPatch
                ) -> tuple[dict[str, str], dict[str, str]]:
    """brief_keys and the rendered parts of every region for ``evidence`` (as a sync would leave it: its own
    content hash, its own judgements and summary of findings)."""
    from evidencebook import _brief_runs
    from evidencebook._certainty import signed_judgements
    from evidencebook._regions import region_records

    monkeypatch.setattr(_brief_runs, "evidence_for", lambda s: evidence)
    monkeypatch.setattr(_brief_runs, "judgements_for", lambda s, e: signed_judgements(s, e.outcomes, e.studies))
    ids = [r["region_id"] for r in region_records(settings.regions)]
    keys = _brief_runs.brief_keys(settings, ids, False)
    judgements = signed_judgements(settings, evidence.outcomes, evidence.studies)
    return keys, _rendered_parts(settings, evidence, judgements, _brief_runs.kept_summary(settings))


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def _new_version(evidence: eb.Evidence, **tables) -> eb.Evidence:
    import dataclasses

    manifest = {**evidence.manifest, "content_hash": "f" * 64}  # a sync gives a changed table a new hash
    return dataclasses.replace(evidence, manifest=manifest, **tables)


def test_a_changed_policy_fact_changes_the_keys_of_its_state_s_briefs_and_of_no_other(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Oregon (with its sub-state region) reads Oregon's facts: one of them changed, exactly Oregon's briefs get a
    new key, and every brief whose drawn parts changed is among them (none is kept stale)."""
    from evidencebook._regions import region_records

    evidence = eb.load_evidence(project)
    keys, parts = _keys_after(project, evidence, monkeypatch)
    policy = evidence.policy.copy()
    row = policy.index[(policy["state_code"] == "OR") & policy["topic"].eq("Medicaid coverage")][0]
    policy.loc[row, "value"] = "not covered (changed)"
    new_keys, new_parts = _keys_after(project, _new_version(evidence, policy=policy), monkeypatch)
    oregon = {r["region_id"] for r in region_records(project.regions) if r["state_code"] == "OR"}
    assert len(oregon) >= 2  # the state and a sub-state region that inherits its facts
    assert _changed(keys, new_keys) == oregon
    assert "oregon" in _changed(parts, new_parts) and _changed(parts, new_parts) <= oregon


def test_a_changed_finding_changes_the_keys_of_the_briefs_that_list_its_study(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finding of a study from one state: the briefs that list the study (its state's, its regions') get a new
    key, the others keep theirs unless the summary of findings every brief shows changed too (then all do)."""
    import json

    from evidencebook import _brief_runs
    from evidencebook._regions import region_records, region_studies

    evidence = eb.load_evidence(project)
    keys, parts = _keys_after(project, evidence, monkeypatch)
    national = json.loads(_brief_runs.kept_summary(project))
    records = region_records(project.regions)
    included = evidence.studies[evidence.studies["screening"].str.endswith(":include")]
    study = included[included["state_codes"].str.contains("OR")]["study_id"].iloc[0]
    outcomes = evidence.outcomes.copy()
    row = outcomes.index[outcomes["study_id"] == study][0]
    outcomes.loc[row, "quote"] = str(outcomes.loc[row, "quote"]) + " (corrected)"
    changed = _new_version(evidence, outcomes=outcomes)
    new_keys, new_parts = _keys_after(project, changed, monkeypatch)
    new_national = json.loads(_brief_runs.kept_summary(project))
    shown = lambda n: [n["headline"], n["sentences"][:2], n["certainty"]]  # noqa: E731
    readers = ({r["region_id"] for r in records} if shown(national) != shown(new_national) else
               {r["region_id"] for r in records if study in set(region_studies(evidence.studies, r)["study_id"])})
    assert 0 < len(readers) < len(records)  # the quote is not in the summary of findings: only its readers
    assert _changed(keys, new_keys) == readers
    assert _changed(parts, new_parts) <= readers


def test_a_code_change_changes_every_brief_key(project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidencebook import _brief_runs
    from evidencebook._regions import region_records

    ids = [r["region_id"] for r in region_records(project.regions)]
    keys = _brief_runs.brief_keys(project, ids, False)
    monkeypatch.setattr(_brief_runs, "code_version", lambda: "another-code-version")
    assert _changed(keys, _brief_runs.brief_keys(project, ids, False)) == set(ids)


def test_brief_keys_draw_no_brief(project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding the briefs that changed costs a hash of what each reads, not drawing all 52 (seconds per build)."""
    from evidencebook import _briefs
    from evidencebook._brief_runs import brief_keys
    from evidencebook._regions import region_records

    def drawn(*args: object) -> str:
        raise AssertionError("a brief's part was drawn to work out its key")

    for part in ("header", "bottom_line", "levers", "local_evidence", "local_context", "implementation", "sources"):
        monkeypatch.setattr(_briefs.Brief, part, drawn)
    ids = [r["region_id"] for r in region_records(project.regions)]
    assert len(set(brief_keys(project, ids, True).values())) == len(ids)
