"""Briefs: the content for a region; the notebook, HTML and PDF for one region; the fan-out on
a process pool and on a Dask cluster; and what a published brief must never carry."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import pypdf
import pytest
from click.testing import CliRunner
from conftest import ROOT

import evidencebook as eb
from evidencebook._brief_page import leaked, notebook_html, standalone_links
from evidencebook._brief_runs import _prune
from evidencebook._policy import as_of_key
from evidencebook._cli import main


@pytest.fixture(scope="module")
def evidence() -> eb.Evidence:
    return eb.load_evidence(eb.load_settings(ROOT))


def brief(evidence: eb.Evidence, name: str, site_url: str = "") -> eb.Brief:
    return eb.Brief(eb.resolve_region(name, evidence.regions), evidence, site_url)


def add_cells(settings: eb.Settings, *sources: str) -> None:
    """Append code cells to the project's brief template (a failing region, a probe of the kernel)."""
    template = nbformat.read(settings.brief_template, as_version=4)
    template.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(template, settings.brief_template)


def kernel_pid(notebook: Path) -> str:
    """The pid printed by the probe cell ``print("kernel pid", os.getpid())``."""
    text = notebook.read_text(encoding="utf-8")
    return re.search(r"kernel pid (\d+)", text).group(1)


def pdf_text(path: Path) -> str:
    """Everything a PDF shows or links to: page text, link targets and document metadata."""
    reader = pypdf.PdfReader(path)
    parts = [page.extract_text() or "" for page in reader.pages]
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            parts.append(str(annotation.get_object().get("/A", {}).get("/URI", "")))
    parts += [str(v) for v in (reader.metadata or {}).values()]
    return "\n".join(parts)


# --- what a brief shows -------------------------------------------------------------------

def test_a_state_without_local_studies_says_so_and_still_shows_national_evidence(evidence: eb.Evidence) -> None:
    b = brief(evidence, "WY")
    assert "No studies from Wyoming are in the evidence base yet" in b.local_evidence()
    assert "recovery" in b.headline() and "Wyoming" in b.header()
    assert "proposed: moderate" in b.headline() and 'class="eb-certainty eb-proposed"' in b.headline()


def test_the_briefs_counts_are_the_chapters_counts(evidence: eb.Evidence) -> None:
    # One summary of findings feeds the chapters and every brief: the same counts in both.
    from evidencebook._brief_text import HEADLINE_DOMAINS

    headline = brief(evidence, "OR").headline()
    sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, HEADLINE_DOMAINS)
    for r in sof.itertuples():
        assert f"<td>{r.favour_peer} / {r.favour_comparison} / {r.unclear}</td>" in headline, r.domain


def test_states_without_a_medicaid_fact_say_it_is_not_documented(evidence: eb.Evidence) -> None:
    undocumented = f"<strong>Not documented</strong> in the sources reviewed as of {evidence.manifest['date']}."
    for code in ("AL", "DE", "MS", "TN", "UT"):
        assert brief(evidence, code).levers().count(undocumented) == 2, code
    for code in ("IA", "KS"):  # mental health sourced (P228, P227); for substance use, Medicaid facts that do not
        levers = brief(evidence, code).levers()  # settle it (a wound-down programme; a planned code), listed
        assert "<strong>No fact settles it</strong>" in levers and levers.count("<strong>Covered</strong>") == 1, code
        assert ("P213" if code == "IA" else "P214") + ")" in levers, code
    indiana = brief(evidence, "IN").levers()  # one service sourced, the other said to be unsettled
    assert "<strong>Covered</strong>, as of 2018-02" in indiana and indiana.count("No fact settles it") == 1


def test_conflicting_facts_are_all_shown_newest_first_with_source_and_date(evidence: eb.Evidence) -> None:
    ct = brief(evidence, "CT")
    context = ct.levers()
    assert '<strong class="eb-conflict">Sources disagree</strong>' in context
    medicaid = ct.policy_facts().query("topic == 'Medicaid coverage'")
    assert len(medicaid) >= 2 and ct.policy_facts()["topic"].iloc[0] == "Medicaid coverage"
    assert [as_of_key(d)[:4] for d in medicaid["as_of"]] == ["2024", "2021"]  # 2024-07 before 'after July 2021'
    for fact in medicaid.itertuples():  # each fact with its date and a link to its source
        assert fact.as_of in context and f'href="{fact.source_url}"' in context
    assert context.index(medicaid["fact_id"].iloc[0]) < context.index(medicaid["fact_id"].iloc[1])


def test_substate_region_inherits_its_state_and_shows_its_own_sources_first(evidence: eb.Evidence) -> None:
    so = brief(evidence, "southern-oregon")
    assert "a region of Oregon" in so.header()
    scope = " (state policy, which applies in Southern Oregon)"
    assert so.levers().replace(scope, "") == brief(evidence, "oregon").levers()  # the state's levers
    assert "Encourage direct supervision by peers" in so.implementation()
    assert so.local_studies()["region"].iloc[0] == "southern-oregon"
    assert "(this region)" in so.local_evidence()
    assert so.recommendations()["fit"].iloc[0] == "from Southern Oregon"


@pytest.mark.parametrize("as_of,key", [("2018-08-31", "2018-08-31"), ("2011 (amended 2013, 2017, 2021)", "2021"),
                                        ("after July 2021 (article date not captured)", "2021-07"),
                                        ("page current", "9999"), ("rule version viewed", "9999"),
                                        ("page undated", ""), ("c. 2025 (job posting)", "2025")])
def test_free_text_dates_sort_by_the_latest_date_they_name(as_of: str, key: str) -> None:
    assert as_of_key(as_of) == key


def test_recommendations_that_fit_a_state_come_first_and_cover_several_themes(evidence: eb.Evidence) -> None:
    mn = brief(evidence, "MN")  # no certification facts for Minnesota: training recommendations fit first
    first = mn.recommendations().iloc[0]
    assert first["theme"] == "training and certification"
    assert first["fit"] == "Minnesota has no documented policy on training and certification"
    shown = brief(evidence, "WY").recommendations().head(5)  # the first five: five themes
    assert shown["outcome"].str.startswith("recommendation").all()  # no barriers or descriptions
    assert shown["theme"].is_unique and shown["study_id"].nunique() >= 3


def test_the_summary_of_findings_is_computed_once_per_evidence_version_and_kept_on_disk(
        evidence: eb.Evidence, tmp_path: Path) -> None:
    import dataclasses
    import subprocess
    import sys

    region = eb.resolve_region("OR", evidence.regions)
    first = eb.Brief(region, evidence, cache_dir=tmp_path).headline()
    [kept] = tmp_path.glob("national-*.cache")  # one entry: the headline and the bottom line's national sentences
    summary = json.loads(kept.read_text(encoding="utf-8"))
    assert summary["headline"] == first
    assert summary["sentences"] == eb.Brief(region, evidence).bottom_line_sentences()[:2]
    kept.write_text(json.dumps({**summary, "headline": "<p>as kept on disk</p>"}), encoding="utf-8")
    # Another kernel (another process: only the disk is shared) shows what is kept and computes nothing.
    script = ("import sys; from pathlib import Path; import evidencebook as eb\n"
              "evidence = eb.load_evidence(eb.load_settings(Path(sys.argv[1])))\n"
              "print(eb.Brief(eb.resolve_region('OR', evidence.regions), evidence, cache_dir=Path(sys.argv[2]))"
              ".headline())")
    shown = subprocess.run([sys.executable, "-c", script, str(ROOT), str(tmp_path)], capture_output=True, text=True,
                           check=True).stdout
    assert shown == "<p>as kept on disk</p>\n"
    newer = dataclasses.replace(evidence, manifest={**evidence.manifest, "content_hash": "f" * 64})
    assert eb.Brief(region, newer, cache_dir=tmp_path).headline() == first  # a new version is recomputed
    [now] = tmp_path.glob("national-*.cache")
    assert now != kept  # the new version's summary replaced the old one


def test_a_sync_that_changes_the_evidence_shows_its_new_counts_in_the_next_brief(project: eb.Settings) -> None:
    from evidencebook._evidence import build_evidence

    def recovery_counts() -> str:  # the headline's row for recovery (no comparison type stated)
        headline = eb.Brief.for_region("oregon", project.root, pdf=False).headline()
        return re.search(r"<tr><td>recovery</td><td>([^<]+)</td>", headline)[1]

    assert recovery_counts() == "10 / 0 / 0"
    assert list(project.cache_dir.glob("national-*.cache"))  # kept for every later brief
    # A reviewer recodes finding O29 (for peer support) from recovery to hope in Zotero; the sync rebuilds the tables.
    item = project.evidence / "zotero" / "items" / "JLEUBLTQ.json"
    data = json.loads(item.read_text(encoding="utf-8"))
    coded = "<h2>Outcome O29</h2>\n<p>outcome: recovery (last follow-up)</p>\n<p>domain: recovery</p>"
    assert coded in data["data"]["note"]
    data["data"]["note"] = data["data"]["note"].replace(coded, coded.replace("domain: recovery", "domain: hope"))
    item.write_text(json.dumps(data, indent=2), encoding="utf-8")
    build_evidence(project)
    outcomes = eb.load_evidence(project).outcomes
    assert outcomes.loc[outcomes["finding_id"] == "O29", "domain"].tolist() == ["hope"]
    assert recovery_counts() == "9 / 0 / 0"  # the new version's counts, in this process and from the disk
    assert len(list(project.cache_dir.glob("national-*.cache"))) == 1  # the old version's summary is gone


def test_a_judgement_signed_after_a_brief_was_built_shows_in_the_next_brief(evidence: eb.Evidence,
                                                                            tmp_path: Path) -> None:
    from evidencebook._brief_text import headline_summary

    region = eb.resolve_region("OR", evidence.regions)
    assert eb.Brief(region, evidence, cache_dir=tmp_path).bottom_line_sentences()[1].endswith("(proposed).")
    # The team signs every rated question off (judgements.toml is not part of the evidence: same version).
    rated = headline_summary(evidence).query("proposed_certainty != 'not rated'")
    signed = pd.DataFrame([{"domain": r.domain, "comparison_type": r.comparison_type, "certainty": "low",
                            "signed_by": "A. Reviewer", "signed_on": "2026-12-01", "evidence_version": 6,
                            "reasons": "x", "status": "signed"} for r in rated.itertuples()])
    after = eb.Brief(region, evidence, cache_dir=tmp_path, judgements=signed)
    assert after.bottom_line_sentences()[1] == "How sure we can be: low (signed off by the review team)."
    assert after.headline().count("signed off by A. Reviewer") == len(rated)


def test_local_studies_are_listed_for_a_state_that_has_them(evidence: eb.Evidence) -> None:
    nj = brief(evidence, "New Jersey").local_evidence()
    assert "Treitler" in nj and "No studies" not in nj


def test_the_page_shows_every_lever_fact_and_marks_what_print_may_hold_back(evidence: eb.Evidence) -> None:
    oregon = brief(evidence, "oregon")
    levers = oregon.levers()
    for facts in oregon.lever_facts().values():
        for fact_id in facts["fact_id"]:
            assert f"; {fact_id})" in levers, fact_id  # the page holds them all; print may hold some back
    optional = re.findall(r'<li class="eb-optional" data-eb-rank="\d+" data-eb-group="policy fact\|policy facts">'
                          r".*?; (\w+)\)", levers)
    first = {k: f["fact_id"].iloc[0] for k, f in oregon.lever_facts().items() if not f.empty}
    assert optional and not set(optional) & set(first.values())  # each lever's newest fact is always printed


def test_the_full_review_link_uses_site_url_or_a_relative_link(evidence: eb.Evidence) -> None:
    assert 'href="../intro.html"' in brief(evidence, "OR").sources()
    published = brief(evidence, "OR", site_url="https://example.org/review/").sources()
    assert 'href="https://example.org/review/"' in published
    body = brief(evidence, "OR").sources()
    assert 'href="../html/book/intro.html"' in standalone_links(body, "../html/book/")
    reordered = '<a href="../intro.html" class="eb-book-link">review</a> <a href="../x.html">other</a>'
    assert standalone_links(reordered, "../html/book/") == (
        '<a href="../html/book/intro.html" class="eb-book-link">review</a> <a href="../x.html">other</a>')
    assert 'href="https://example.org/review/"' in standalone_links(published, "../html/book/")


def test_the_page_shows_markdown_and_outputs_but_no_code_hidden_cells_or_warnings() -> None:
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Rogue &lt;Valley&gt; brief\n\n## Local *evidence*"),
        v4.new_code_cell("region = 'x'", metadata={"tags": ["parameters", "remove-cell"]},
                         outputs=[v4.new_output("stream", name="stdout", text="hidden\n")]),
        v4.new_code_cell("brief.header()", outputs=[
            v4.new_output("execute_result", data={"text/html": "<p class='eb'>drawn</p>", "text/plain": "x"}),
            v4.new_output("stream", name="stderr", text="Warning at /root/x.py\n"),
            v4.new_output("stream", name="stdout", text="a < b\n"),
            v4.new_output("display_data", data={"text/plain": "<not html>"})]),
    ])
    body = notebook_html(nb)
    assert "<h1>Rogue &lt;Valley&gt; brief</h1>" in body and "<h2>Local <em>evidence</em></h2>" in body
    assert "<p class='eb'>drawn</p>" in body and "<pre>a &lt; b\n</pre>" in body and "&lt;not html&gt;" in body
    assert "hidden" not in body and "Warning" not in body and "brief.header()" not in body


# --- one brief: notebook, HTML and PDF -------------------------------------------------------

def test_render_brief_writes_a_clean_notebook_html_and_a_two_page_pdf(project: eb.Settings) -> None:
    out = eb.render_brief(project, "OR")
    assert out.region_id == "oregon"
    assert (out.notebook, out.html, out.pdf) == (project.briefs_dir / "oregon.ipynb",
                                                 project.brief_html_dir / "oregon.html",
                                                 project.brief_html_dir / "oregon.pdf")
    text = out.notebook.read_text(encoding="utf-8")
    nb = json.loads(text)
    assert "".join(nb["cells"][0]["source"]) == "# Oregon: peer support services brief"
    assert nb["metadata"]["papermill"] == {"parameters": {"region": "oregon", "pdf": True}}
    assert not any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    html = out.html.read_text(encoding="utf-8")
    assert "<title>Oregon: peer support services brief</title>" in html and "Evidence version" in html
    assert "brief.headline()" not in html and "<script" not in html  # inputs hidden; no script, no network
    assert 'href="../html/book/intro.html"' in html  # the full review, from _build/briefs/
    pdf_link = re.search(r'<a [^>]*href="oregon.pdf"[^>]*>', html)  # the PDF beside it (and the book's page)
    assert pdf_link and "download" in pdf_link[0]
    reader = pypdf.PdfReader(out.pdf)
    assert len(reader.pages) == 2 and reader.metadata.title == "Oregon: peer support services brief"
    assert "What this state can do" in pdf_text(out.pdf) and "Download this brief" not in pdf_text(out.pdf)


def test_unknown_region_writes_nothing(project: eb.Settings) -> None:
    with pytest.raises(eb.RegionError) as info:
        eb.render_brief(project, "atlantis")
    assert info.value.exit_code == 2
    assert not project.briefs_dir.exists() and not project.brief_html_dir.exists()


def test_missing_chromium_names_the_region_and_the_fix_and_writes_nothing(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(eb.BriefError, match=r"brief for oregon: .*Chromium is not installed.*make chromium"):
        eb.render_brief(project, "Oregon")
    assert not project.briefs_dir.exists() and not project.brief_html_dir.exists()


def test_a_user_region_by_counties_inherits_its_state(project: eb.Settings) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + (
        '\n[tool.evidencebook.regions.rogue-valley]\nname = "Rogue Valley"\nstate = "Oregon"\n'
        'aliases = ["Rogue Valley OR"]\ncounties = ["Jackson", "Josephine"]\n'), encoding="utf-8")
    settings = eb.load_settings(project.root)
    rogue = eb.Brief.for_region("rogue valley or", project.root)
    oregon = eb.Brief.for_region("OR", project.root)
    assert rogue.region_id == "rogue-valley" and rogue.counties == ["Jackson", "Josephine"]
    assert rogue.levers().replace(" (state policy, which applies in Rogue Valley)", "") == oregon.levers()
    assert "P201" in rogue.local_context()  # the fact that names its counties is about it
    assert set(rogue.local_studies()["study_id"]) == set(oregon.local_studies()["study_id"]) != set()
    out = eb.render_brief(settings, "rogue-valley", pdf=False)
    html = out.html.read_text(encoding="utf-8")
    assert "Rogue Valley, a region of Oregon (Jackson and Josephine counties)" in html
    assert "CORE: Strengthening the peer" in html and out.pdf is None
    assert "rogue-valley.pdf" not in html and "Download this brief" not in html  # no PDF, so no link to one


# --- the fan-out ---------------------------------------------------------------------------------

FAIL_WYOMING = 'assert region != "wyoming", "synthetic failure for the test"'
PID_PROBE = 'import os\nprint("kernel pid", os.getpid())'


def test_fan_out_keeps_going_past_a_failing_region_reuses_kernels_and_fits_two_pages(project: eb.Settings) -> None:
    add_cells(project, PID_PROBE, FAIL_WYOMING)
    done, failed = eb.render_all_briefs(project, progress=False, workers=2,
                                        regions=["OR", "WY", "southern-oregon", "CT", "Texas", "VA", "DC"])
    assert [o.region_id for o in done] == ["connecticut", "district-of-columbia", "oregon", "southern-oregon",
                                           "texas", "virginia"]
    assert list(failed) == ["wyoming"] and "synthetic failure" in failed["wyoming"]
    assert not (project.briefs_dir / "wyoming.ipynb").exists()
    assert len({kernel_pid(o.notebook) for o in done}) <= 2  # six briefs, two kernels
    counts = [c.get("execution_count") for c in json.loads(done[0].notebook.read_text())["cells"]
              if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1))  # numbered per brief, though the kernel was reused
    for out in done:
        reader = pypdf.PdfReader(out.pdf)
        assert len(reader.pages) <= 2, (out.region_id, len(reader.pages))
        assert reader.metadata.title.endswith(": peer support services brief")


def test_a_region_that_kills_its_kernel_fails_alone_and_the_worker_goes_on(project: eb.Settings) -> None:
    add_cells(project, PID_PROBE, 'if region == "texas":\n    os._exit(1)  # a crash, not an exception')
    done, failed = eb.render_all_briefs(project, progress=False, workers=1, pdf=False,
                                        regions=["oregon", "texas", "DC"])
    assert [o.region_id for o in done] == ["district-of-columbia", "oregon"]
    assert list(failed) == ["texas"] and "the kernel failed" in failed["texas"]
    assert kernel_pid(done[0].notebook) != kernel_pid(done[1].notebook)  # DC ran on a restarted kernel


def test_fan_out_on_a_dask_cluster(project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import LocalCluster

    add_cells(project, PID_PROBE, FAIL_WYOMING)
    monkeypatch.chdir(project.root)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = CliRunner().invoke(main, ["brief", "oregon", "wyoming", "texas", "DC", "ME",
                                           "--dask", cluster.scheduler_address])
    assert result.exit_code == 1
    assert "4 briefs written to" in result.output and "(notebook, HTML, PDF)" in result.output
    assert "1 region(s) failed:" in result.output and "synthetic failure" in result.output
    done = sorted(project.briefs_dir.glob("*.ipynb"))
    assert [p.stem for p in done] == ["district-of-columbia", "maine", "oregon", "texas"]
    assert len({kernel_pid(p) for p in done}) <= 2  # each Dask worker reused its kernel
    assert all(len(pypdf.PdfReader(project.brief_html_dir / f"{p.stem}.pdf").pages) <= 2 for p in done)


def test_an_unreachable_dask_scheduler_is_a_brief_error(project: eb.Settings) -> None:
    with pytest.raises(eb.BriefError, match="cannot reach the Dask scheduler"):
        with eb.dask_executor("tcp://127.0.0.1:9", project, timeout=1):
            pass


def test_a_full_run_removes_briefs_of_regions_no_longer_configured(project: eb.Settings) -> None:
    for path in (project.briefs_dir / "atlantis.ipynb", project.brief_html_dir / "atlantis.pdf",
                 project.briefs_dir / "oregon.ipynb", project.brief_html_dir / "notes.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    _prune(project, {"oregon"})
    assert sorted(p.name for p in [*project.briefs_dir.iterdir(), *project.brief_html_dir.iterdir()]) == [
        "notes.txt", "oregon.ipynb"]


def test_a_word_longer_than_the_line_wraps_in_the_standalone_page_at_phone_width_and_in_the_pdf() -> None:
    """A 10,000-character title in a brief's list and tables: the page fits a 390 px phone (a wide table scrolls
    inside its own wrapper) and the PDF shows every character (it showed 101 of them)."""
    import io
    import shutil

    from playwright.sync_api import sync_playwright

    from evidencebook._brief_page import CHROMIUM_ARGS, Printer, chromium_path, standalone_page

    word = "W" * 10_000
    wide = pd.DataFrame({c: ["a fairly long cell of ordinary words " * 3] for c in "abcdefgh"})
    body = (f"<h2>Implementation</h2><ul><li>“a quote” (<a href='https://example.org/'>Title {word}</a>)</li></ul>"
            f"<p>{word}</p>" + eb.html_table(pd.DataFrame({"t": [word]}), {"t": "Heading"})
            + eb.html_table(wide, {c: c.upper() for c in wide.columns}))
    page = standalone_page("Region: peer support services brief", body)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            tab = phone.new_page()
            tab.set_content(page)
            widths = tab.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            inner = tab.evaluate("() => Array.from(document.querySelectorAll('.eb-table'))"
                                 ".map(d => d.scrollWidth > d.clientWidth)")
        finally:
            browser.close()
    assert max(widths) <= 390, widths
    assert inner == [False, True]  # the long word wraps in its cell; the wide table scrolls inside its wrapper
    printer = Printer(chromium_path())
    try:
        pdf = pypdf.PdfReader(io.BytesIO(printer.pdf(page, "Region")))
    finally:
        printer.close()
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in pdf.pages))
    text = re.sub(r"Region·page\d+of\d+|Heading", "", text)  # the footer, and the table's head on each page
    assert text.count(word) == 3, [len(run) for run in re.findall("W+", text)]


# --- what a published brief never carries ---------------------------------------------------------

@pytest.mark.parametrize("text,found", [
    ("read at /home/ana/.venv/lib/site.py", "the home folder"), ("file:///home/ana/x.html", "the home folder"),
    ("built in /srv/review/book", "the project's path"), ("key s3cr3t-value-1", "a secret"),
    ("set ZOTERO_API_KEY first", ""),  # a variable's name is not its value: a quote may name it
    ("source: https://example.org/home/ana/report", ""), ("nothing to see", ""),
])
def test_the_leak_check_finds_machine_paths_and_secrets_but_not_web_addresses(text: str, found: str) -> None:
    result = leaked(text, Path("/srv/review"), Path("/home/ana"), ["s3cr3t-value-1"])
    assert (found in result) if found else result == ""


TYPED = "Store ZOTERO_API_KEY in /home/runner/.bashrc, never in /srv/review/book &amp; co"  # a quote, as rendered


@pytest.mark.parametrize("text,found", [
    (f"<li>“{TYPED}”</li>", ""),  # what a Zotero member typed is evidence, not the machine
    (f"<li>“{TYPED[:40]}…”</li>", ""),  # shortened in the brief: cut inside the path
    (f'{{"text/html": "<p>{TYPED}</p>\\n"}}', ""),  # in the notebook's JSON
    (f"<li>{TYPED}</li> /home/runner/.local/lib/x.py", "the home folder"),  # and a real path beside it
    (f"<li>{TYPED}</li> cwd /srv/review", "the project's path"),  # part of a typed word, not all of it
    (f"<li>{TYPED}</li> /home/runner/.cache…", "the home folder"),  # the start of no typed word
    (f"<li>{TYPED} s3cr3t-value-1</li>", "a secret"),
])
def test_the_leak_check_passes_paths_the_evidence_holds_and_finds_the_machine_s_own(text: str, found: str) -> None:
    result = leaked(text, Path("/srv/review"), Path("/home/runner"), ["s3cr3t-value-1"], typed=f"x\n{TYPED}\ny")
    assert (found in result) if found else result == ""


def test_a_quote_that_names_the_key_variable_and_this_machine_s_paths_is_published(project: eb.Settings) -> None:
    """A recommendation quoting the key's name, the home folder and the project's path is in every brief it fits,
    not a reason to refuse them; a path the brief itself adds still is."""
    from conftest import note, parent

    from evidencebook._brief_page import check_publishable

    quote = f"keep ZOTERO_API_KEY out of {Path.home()}/notes and {project.root}/book"
    snapshot = eb.read_snapshot(project.snapshot)
    lines = ["Extraction", "# Study", "study_type: primary", "design: survey", "us_state: Oregon",
             "# Outcome W9", "outcome: recommendation: keep keys out of notes", "domain: workforce",
             "measure: narrative", f"quote: {quote}"]
    items = [*snapshot.items, parent("KEYQUTE2"), note("KEYQUTN2", "KEYQUTE2", lines)]
    eb.build_evidence(project, eb.Snapshot(snapshot.library, items))
    evidence = eb.load_evidence(project)
    shown = str(eb.Brief(eb.resolve_region("oregon", evidence.regions), evidence).implementation())
    assert quote in shown
    page = eb._brief_page.standalone_page("Oregon", shown)
    check_publishable("oregon", [json.dumps({"text/html": shown}), page], project)  # no BriefError
    with pytest.raises(eb.BriefError, match="the home folder"):
        check_publishable("oregon", [page + f"<pre>{Path.home()}/.cache/pip</pre>"], project)
    with pytest.raises(eb.BriefError, match="the project's path"):
        check_publishable("oregon", [page + f"<pre>{project.root}/evidence</pre>"], project)


def test_outputs_carry_no_secret_no_machine_path_and_no_papermill_run_metadata(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = f"zk-{uuid.uuid4().hex}"
    monkeypatch.setenv("ZOTERO_API_KEY", sentinel)  # after conftest's fixture removed any real one
    monkeypatch.chdir(project.root)
    add_cells(project, 'import os\nprint("key in kernel:", "ZOTERO_" "API_KEY" in os.environ)')
    result = CliRunner().invoke(main, ["brief", "oregon"])
    assert result.exit_code == 0, result.output
    done, failed = eb.render_all_briefs(project, progress=False, workers=2, regions=["DC", "southern-oregon"])
    assert len(done) == 2 and not failed
    outputs = sorted([*project.briefs_dir.iterdir(), *project.brief_html_dir.iterdir()])
    assert len(outputs) == 9  # three regions: notebook, HTML, PDF each
    forbidden = [sentinel, str(project.root), str(Path.home()) + "/", "ZOTERO_API_KEY"]
    for path in outputs:
        text = pdf_text(path) if path.suffix == ".pdf" else path.read_text(encoding="utf-8")
        raw = path.read_bytes().decode("latin-1")
        for leak in forbidden:
            assert leak not in text and leak not in raw, (path.name, leak)
        if path.suffix == ".ipynb":
            nb = json.loads(text)
            assert set(nb["metadata"]["papermill"]) == {"parameters"}
            assert set(nb["metadata"]["papermill"]["parameters"]) == {"region", "pdf"}
            for key in ("input_path", "output_path", "environment_variables", "duration", "start_time"):
                assert key not in text, (path.name, key)
            assert "key in kernel: False" in text  # the kernel never saw the secret


def test_a_brief_whose_content_did_not_change_is_kept_and_one_that_did_is_rebuilt(project: eb.Settings) -> None:
    first, failed = eb.render_all_briefs(project, progress=False, workers=1, pdf=False, regions=["oregon", "DC"])
    assert not failed and all(o.rebuilt for o in first)
    stamps = {o.region_id: o.notebook.stat().st_mtime_ns for o in first}
    again, _ = eb.render_all_briefs(project, progress=False, workers=1, pdf=False, regions=["oregon", "DC"])
    assert not any(o.rebuilt for o in again)
    assert {o.region_id: o.notebook.stat().st_mtime_ns for o in again} == stamps
    # a policy fact of Oregon is corrected: Oregon's brief shows it, DC's does not
    policy = project.evidence / "state_policy.csv"
    table = pd.read_csv(policy, dtype=str, keep_default_na=False)
    row = table.index[table["state_code"] == "OR"][0]
    table.loc[row, "value"] = table.loc[row, "value"] + " (corrected)"
    table.to_csv(policy, index=False)
    manifest = json.loads((project.evidence / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["state_policy.csv"] = hashlib.sha256(policy.read_bytes()).hexdigest()
    manifest["content_hash"] = "1" * 64  # a new evidence version (tables edited here stand in for a sync)
    (project.evidence / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    third, _ = eb.render_all_briefs(project, progress=False, workers=1, pdf=False, regions=["oregon", "DC"])
    assert {o.region_id: o.rebuilt for o in third} == {"oregon": True, "district-of-columbia": False}
    assert "(corrected)" in third[1].notebook.read_text(encoding="utf-8")
    forced, _ = eb.render_all_briefs(project, progress=False, workers=1, pdf=False, regions=["DC"], force=True)
    assert forced[0].rebuilt
    # a forced run's workers stamp the same key the parent works out: the next run keeps the brief
    after, _ = eb.render_all_briefs(project, progress=False, workers=1, pdf=False, regions=["DC"])
    assert not after[0].rebuilt


# --- issue 14: briefs a legislator can act on -----------------------------------------------------

TODAY = __import__("datetime").date(2026, 12, 5)


def region_brief(evidence: eb.Evidence, name: str, today=TODAY) -> eb.Brief:
    """A brief with the configured sub-state regions and a fixed build date."""
    records = eb._regions.region_records(eb.load_settings(ROOT).regions)
    region = pd.Series(eb._regions.find_region(name, records))
    return eb.Brief(region, evidence, today=today, substate=tuple(r for r in records if r["kind"] == "sub-state"))


def sentences(text: str) -> list[str]:
    """Sentences as a reader counts them: ended by . ! or ? before a space or the end (not inside '1.345')."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def test_every_bottom_line_has_at_most_three_plain_sentences_at_grade_nine_or_lower(evidence: eb.Evidence) -> None:
    import textstat

    grades = {}
    for region in eb._regions.region_records(eb.load_settings(ROOT).regions):
        said = region_brief(evidence, region["region_id"]).bottom_line_sentences()
        text = " ".join(said)
        assert len(said) <= 3 and len(sentences(text)) == len(said), (region["region_id"], text)
        assert not re.search(r"\d\.\d", text)  # no decimal point that a sentence counter could split on
        grades[region["region_id"]] = textstat.flesch_kincaid_grade(text)
    assert len(grades) == 52
    assert max(grades.values()) <= 9, sorted(grades.items(), key=lambda kv: -kv[1])[:3]


def test_the_bottom_line_says_what_the_summary_of_findings_says_and_never_more(evidence: eb.Evidence) -> None:
    from evidencebook._brief_text import HEADLINE_DOMAINS, PLAIN

    first, how, local = region_brief(evidence, "oregon").bottom_line_sentences()
    sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, HEADLINE_DOMAINS)
    per_domain = sof.groupby("domain")[["findings", "favour_peer"]].sum()
    named = [d for d in HEADLINE_DOMAINS if f" {PLAIN[d][0]}" in first.split("(")[0]]
    assert named and all(per_domain.loc[d, "favour_peer"] * 2 > per_domain.loc[d, "findings"] for d in named)
    assert re.search(r"\((\d+|\w+) stud(y|ies), (\d+|\w+) reviews?\)", first)  # studies and reviews apart
    levels = set(sof.loc[sof["domain"].isin(named) & sof["proposed_certainty"].ne("not rated"), "proposed_certainty"])
    assert "(proposed)" in how and all(level in how for level in (min(levels, key=eb._certainty.LEVELS.index),
                                                                    max(levels, key=eb._certainty.LEVELS.index)))
    assert "Southern Oregon" in local and "substance use care" in local and "no source on mental health" in local


def test_a_signed_judgement_is_said_to_be_signed_and_a_proposal_proposed(evidence: eb.Evidence) -> None:
    from evidencebook._brief_text import national_sentences

    sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, ["recovery", "hospitalisation",
                                                                        "substance use"])
    rated = sof[sof["proposed_certainty"] != "not rated"]
    signed = pd.DataFrame([{"domain": r.domain, "comparison_type": r.comparison_type, "certainty": "low",
                            "signed_by": "A. Reviewer", "signed_on": "2026-12-01", "evidence_version": 6,
                            "reasons": "x", "status": "signed"} for r in rated.itertuples()])
    assert national_sentences(evidence, signed)[1] == "How sure we can be: low (signed off by the review team)."
    some = national_sentences(evidence, signed.head(1))[1]
    assert f"1 of {len(rated)} ratings signed off, the rest proposed" in some


def test_the_lever_panel_has_every_lever_its_status_date_source_and_a_national_line(evidence: eb.Evidence) -> None:
    from evidencebook._brief_levers import LEVERS

    panel = region_brief(evidence, "nevada").levers()
    for label in LEVERS.values():
        assert f'<th scope="row">{label}</th>' in panel
    assert "<strong>Covered</strong>, as of 2020-05-26" in panel and "P212" in panel  # sourced this morning
    assert "47 states + DC" in panel and "S07" in panel  # the national line for coverage
    assert "S65" in panel and "42% considering leaving" in panel  # turnover, nationally
    assert panel.count(f"Not documented in the sources reviewed as of {evidence.manifest['date']}") >= 4
    utah = region_brief(evidence, "UT").lever_facts()
    assert list(utah["pay"]["fact_id"]) == ["P224"] and list(utah["turnover"]["fact_id"]) == ["P225"]
    assert list(utah["training"]["fact_id"]) == ["P223"]


def test_a_date_that_has_passed_by_the_build_date_is_flagged(evidence: eb.Evidence) -> None:
    flag = "Date passed: 30 June 2025 is before this brief's date (2026-12-05)"
    assert flag in region_brief(evidence, "oregon").levers()
    before = region_brief(evidence, "oregon", today=__import__("datetime").date(2025, 6, 1)).levers()
    assert "Date passed" not in before and "application by June 30, 2025" in before
    assert "Date passed: 1 July 2025" in region_brief(evidence, "IA").levers()  # IHH sunsetting from July 1, 2025


def test_local_results_say_what_each_study_found_once_per_study(evidence: eb.Evidence) -> None:
    georgia = region_brief(evidence, "GA").local_evidence()
    assert "+$5,991" in georgia and "higher costs" in georgia
    assert "odds (OR) 1.345" in georgia and "more crisis care" in georgia
    assert "certainty of this question across the review" in georgia and "proposed: very low" in georgia
    ri = region_brief(evidence, "RI")
    [navigator] = ri.local_results()  # two reports of the Navigator RCT: one study
    assert len(navigator["reports"]) == 2
    shown = ri.local_evidence()
    assert shown.count("<li><a") == 1 and " + " in shown
    assert shown.count("no clear difference in substance use") == 2  # the RR 0.86 (0.67 to 1.11) is no difference
    assert "RR 0.86 (95% CI 0.67 to 1.11)" in shown


@pytest.mark.parametrize("row,direction", [
    ({"estimate": 0.86, "ci_low": 0.67, "ci_high": 1.11, "measure": "RR", "better": "lower"}, "none"),
    ({"estimate": 0.6, "ci_low": 0.4, "ci_high": 0.9, "measure": "RR", "better": "lower"}, "for"),
    ({"estimate": 0.4, "ci_low": 0.1, "ci_high": 0.7, "measure": "SMD", "better": "lower"}, "against"),
    ({"direction": "favours peer (point estimate only; not statistically significant)"}, "none"),
    ({"direction": "favours control (higher cost with peer support)"}, "against"),
])
def test_a_finding_is_read_no_further_than_its_interval(row: dict, direction: str) -> None:
    from evidencebook._brief_text import finding_result

    assert finding_result(row)[0] == direction


def test_southern_oregon_differs_from_oregon_in_content_not_only_labels(evidence: eb.Evidence) -> None:
    so, oregon = region_brief(evidence, "southern-oregon"), region_brief(evidence, "oregon")
    assert so.counties == ["Jackson", "Josephine"]
    assert set(so.region_facts()["fact_id"]) == {"P200", "P201", "P202"}
    mine = so.local_context()
    assert "Southern Oregon (Jackson and Josephine counties):" in mine and "$75K Housman Foundation grant" in mine
    assert so.bottom_line_sentences()[2].startswith("One study here ")
    assert oregon.bottom_line_sentences()[2].startswith("One study in Southern Oregon ")
    # Oregon's brief names its region and that region's facts, and keeps them out of its statewide levers
    state = oregon.local_context()
    assert "Southern Oregon (Jackson and Josephine counties)</strong>, which has its own brief" in state
    assert all(f in state for f in ("P200", "P201", "P202"))
    levers = oregon.levers()
    assert "P207" in levers and "Deschutes County" in levers  # a county fact of the state (not a configured region)
    assert not any(f"; {f})" in levers for f in ("P200", "P201", "P202"))
    # With the region's name and the state's made the same, the parts still differ: not only labels
    parts = ("bottom_line", "local_evidence", "local_context", "implementation", "levers")

    def unlabelled(b: eb.Brief, part: str) -> str:
        text = str(getattr(b, part)()).replace(" (state policy, which applies in Southern Oregon)", "")
        return re.sub(r"Southern Oregon|Oregon|this region|this state", "X", text)

    differ = [p for p in parts if unlabelled(so, p) != unlabelled(oregon, p)]
    assert differ == ["bottom_line", "local_context"]  # its own facts in full; the same study, recommendations


@pytest.mark.parametrize("text,limit,short", [
    ("Certified PSS numbers would need to rise", 20, "Certified PSS…"),
    ("one two three", 13, "one two three"),
    ("supercalifragilistic word", 5, "supercalifragilistic…"),  # a first word longer than the limit stays whole
    ("ends with a comma, then more", 19, "ends with a comma…"),
])
def test_shortened_text_is_cut_between_words_never_inside_one(text: str, limit: int, short: str) -> None:
    from evidencebook._brief_text import shorten

    assert shorten(text, limit) == short
    assert all(w in text.replace(",", "").split() for w in short.rstrip("…").replace(",", "").split())


def test_fitting_two_pages_holds_back_the_fewest_items() -> None:
    from evidencebook._brief_page import fit_pages

    hidden = [0]

    def hold_back(n: int) -> int:
        hidden[0] = n
        return 9

    def printed() -> bytes:  # a fake PDF: 4 pages with nothing held back, 2 once 5 or more are
        pages = 2 if hidden[0] >= 5 else 3 if hidden[0] >= 2 else 4
        writer = pypdf.PdfWriter()
        for _ in range(pages):
            writer.add_blank_page(612, 792)
        out = __import__("io").BytesIO()
        writer.write(out)
        return out.getvalue()

    assert len(pypdf.PdfReader(__import__("io").BytesIO(fit_pages(printed, hold_back, 2))).pages) == 2
    assert hidden[0] == 5


# Every brief, printed once for the checks below (about a minute and a half on two workers).
@pytest.fixture(scope="module")
def all_briefs(tmp_path_factory: pytest.TempPathFactory) -> tuple[eb.Settings, list]:
    import shutil

    root = tmp_path_factory.mktemp("all-briefs")
    for name in ("pyproject.toml", "_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("evidence", "notebooks", "book"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("briefs", "seed"))
    settings = eb.load_settings(root)
    done, failed = eb.render_all_briefs(settings, progress=False, workers=2)
    assert not failed and len(done) == 52
    return settings, done


def _lowest_text(page: "pypdf.PageObject") -> float:
    """The lowest y (points from the bottom) of the page's text above the footer."""
    found: list[float] = []

    def visit(text: str, cm: list, tm: list, font: object, size: object) -> None:
        if text.strip():
            found.append(tm[5] * cm[3] + cm[5])

    page.extract_text(visitor_text=visit)
    return min(y for y in found if y > 36)  # the footer sits in the bottom margin (below half an inch)


def test_every_pdf_has_the_pages_its_brief_says_and_prints_address_version_date_and_cite(all_briefs) -> None:
    settings, done = all_briefs
    words = {"one page": 1, "two pages": 2}
    held_back = 0
    for out in done:
        said = re.search(r'<span class="eb-pdf-pages">([^<]+)</span>', out.html.read_text(encoding="utf-8"))[1]
        reader = pypdf.PdfReader(out.pdf)
        assert len(reader.pages) == words[said] <= 2, (out.region_id, said, len(reader.pages))
        assert said in out.notebook.read_text(encoding="utf-8")  # the book's page says the same
        text = re.sub(r"\s+", " ", pdf_text(out.pdf))
        version = f"Evidence version {eb.load_evidence(settings).manifest['evidence_version']}"
        for printed in (version, "this brief was built on", "Cite as:", f"briefs/{out.region_id}.html"):
            assert printed in text, (out.region_id, printed)
        if "Held back from this printed brief" in text:  # page 2 used before anything is held back
            held_back += 1
            assert len(reader.pages) == 2 and _lowest_text(reader.pages[1]) < 150, out.region_id
    assert held_back >= 40  # nearly every brief has more than two pages hold


def _structure(node: object, found: set[str]) -> None:
    node = node.get_object() if hasattr(node, "get_object") else node
    if isinstance(node, pypdf.generic.DictionaryObject):
        if "/S" in node:
            found.add(str(node["/S"]))
        if "/K" in node:
            _structure(node["/K"], found)
    elif isinstance(node, pypdf.generic.ArrayObject):
        for child in node:
            _structure(child, found)


def test_every_pdf_is_tagged_with_structure_outline_title_and_language(all_briefs) -> None:
    _, done = all_briefs
    for out in done:
        reader = pypdf.PdfReader(out.pdf)
        catalog = reader.trailer["/Root"]
        assert bool(catalog["/MarkInfo"]["/Marked"]) and catalog["/Lang"] == "en", out.region_id
        assert bool(catalog["/ViewerPreferences"]["/DisplayDocTitle"])  # the title shows, not the file name
        assert reader.metadata.title.endswith(": peer support services brief")
        tags: set[str] = set()
        _structure(catalog["/StructTreeRoot"], tags)
        assert {"/H1", "/H2", "/Table", "/TH", "/TD", "/L", "/LI", "/Link"} <= tags, (out.region_id, tags)
        outline = [item["/Title"] for item in reader.outline[1]]
        assert outline[:3] == ["Bottom line", "What this state can do", "Local results"], out.region_id
