"""Book pages: each page's cache key is what it reads, so a change re-executes exactly the pages that show it."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import evidencebook as eb


def _edit_table(settings: eb.Settings, name: str, edit) -> None:
    """Hand-edit one evidence table (as a sync would rewrite it) and keep the manifest's hash in step."""
    path = settings.evidence / name
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    path.write_text(edit(table).to_csv(index=False), encoding="utf-8")


def test_committed_pages_carry_the_stamp_of_the_committed_evidence(project: eb.Settings) -> None:
    assert eb.stamp_notebooks(project) == []


def test_a_corrected_estimate_re_executes_only_the_pages_that_read_it(project: eb.Settings) -> None:
    def correct(outcomes: pd.DataFrame) -> pd.DataFrame:
        row = outcomes.index[outcomes["domain"].eq("hospitalisation") & outcomes["estimate"].ne("")][0]
        outcomes.loc[row, "estimate"] = str(float(outcomes.loc[row, "estimate"]) * 0.99)
        return outcomes

    _edit_table(project, "outcomes.csv", correct)
    # Data quality counts estimates but shows none: a corrected one leaves it as it is.
    # The intro's "What we found" box counts hospitalisation findings too.
    assert sorted(eb.stamp_notebooks(project)) == ["book/intro.ipynb", "book/outcomes/service-use.ipynb",
                                                   "book/studies.ipynb"]
    assert eb.stamp_notebooks(project) == []  # stamped once: the next build executes nothing more


def test_a_new_version_re_executes_whats_new_and_a_policy_fact_the_policy_pages(project: eb.Settings) -> None:
    changelog = project.evidence / "changelog.json"
    entries = json.loads(changelog.read_text(encoding="utf-8"))
    changelog.write_text(json.dumps([*entries, {**entries[-1], "evidence_version": 2}]), encoding="utf-8")
    assert sorted(eb.stamp_notebooks(project)) == ["book/whats-new.ipynb"]  # it added no study: same PRISMA flow

    def retitle(policy: pd.DataFrame) -> pd.DataFrame:
        policy.loc[0, "value"] = policy.loc[0, "value"] + " (corrected)"
        return policy

    _edit_table(project, "state_policy.csv", retitle)
    assert sorted(eb.stamp_notebooks(project)) == ["book/policy.ipynb"]


def test_a_study_flagged_low_confidence_re_executes_data_quality(project: eb.Settings) -> None:
    def flag(studies: pd.DataFrame) -> pd.DataFrame:
        studies.loc[0, ["confidence", "confidence_reason"]] = ["low", "year not confirmed"]
        return studies

    _edit_table(project, "studies.csv", flag)
    assert "book/data-quality.ipynb" in eb.stamp_notebooks(project)


def test_every_page_of_the_book_declares_what_it_reads() -> None:
    from conftest import ROOT
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "book").rglob("*.ipynb") if "briefs/" not in p.as_posix()}
    assert pages == set(eb.BOOK_PAGES)


def test_every_page_shows_the_current_evidence_version_whether_sphinx_rewrote_it_or_not(tmp_path) -> None:
    # The theme writes an empty slot; the build fills it on every page, old or newly written.
    slot = '<span class="eb-evidence-version">{}</span>'
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "kept.html").write_text(f"<p>{slot.format('Evidence version 2 (old)')}</p>", encoding="utf-8")
    (tmp_path / "written.html").write_text(f"<div>{slot.format('Evidence version')}</div><p>Built from "
                                           f"{slot.format('Evidence version')}.</p>", encoding="utf-8")
    (tmp_path / "plain.html").write_text("<p>no slot</p>", encoding="utf-8")
    label = "Evidence version 3 (2026-11-28, 0123456789ab) · Zotero library version 340 <&>"

    changed = eb.stamp_version(tmp_path, label)

    assert sorted(p.name for p in changed) == ["kept.html", "written.html"]
    shown = slot.format("Evidence version 3 (2026-11-28, 0123456789ab) · Zotero library version 340 &lt;&amp;&gt;")
    assert (tmp_path / "book" / "kept.html").read_text(encoding="utf-8") == f"<p>{shown}</p>"
    assert (tmp_path / "written.html").read_text(encoding="utf-8").count(shown) == 2
    assert eb.stamp_version(tmp_path, label) == []  # a second pass changes nothing


def _page(path, *sources: str) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _cached_outputs(settings: eb.Settings, page: str) -> list[str]:
    from jupyter_cache import get_cache

    cache = get_cache(str(settings.root / "_build" / ".jupyter_cache"))
    nb = cache.get_cache_bundle(cache.match_cache_file(str(settings.root / page)).pk).nb
    return ["".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", [])]


def test_pages_share_a_warm_kernel_but_each_starts_as_a_new_kernel_would(project: eb.Settings) -> None:
    # Synthetic pages: the first leaves a variable behind; the second, on the same kernel, must not see it.
    _page(project.root / "book" / "a.ipynb", "leaked = 1\nprint('a ran')")
    _page(project.root / "book" / "sub" / "b.ipynb",
          "import os\nprint('leaked' in globals(), os.path.basename(os.getcwd()))")

    ran = eb.execute_stale_pages(project, workers=1, pages=["book/a.ipynb", "book/sub/b.ipynb"])

    assert ran == ["book/a.ipynb", "book/sub/b.ipynb"]
    assert _cached_outputs(project, "book/sub/b.ipynb") == ["False sub\n"]  # no leak; run in its own folder
    assert eb.execute_stale_pages(project, workers=1, pages=["book/a.ipynb", "book/sub/b.ipynb"]) == []


def test_kernels_kept_between_builds_run_the_next_builds_pages_as_new_kernels_would(project: eb.Settings) -> None:
    import evidencebook._pages as pages

    _page(project.root / "book" / "a.ipynb", "import os\nleaked = 1\nprint(os.getpid())")
    _page(project.root / "book" / "b.ipynb", "import os\nprint(os.getpid(), 'leaked' in globals())")
    with pages.PageKernels(project.root, workers=1) as kernels:  # as `evidencebook watch` keeps them
        assert eb.execute_stale_pages(project, pages=["book/a.ipynb"], kernels=kernels) == ["book/a.ipynb"]
        assert eb.execute_stale_pages(project, pages=["book/b.ipynb"], kernels=kernels) == ["book/b.ipynb"]
    first, = _cached_outputs(project, "book/a.ipynb")
    second, = _cached_outputs(project, "book/b.ipynb")
    assert second == f"{first.strip()} False\n"  # the same kernel, and nothing left from the first build's page


def test_a_second_kernel_starts_for_pages_never_run_but_not_for_a_few_short_ones(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import evidencebook._pages as pages

    monkeypatch.setattr(pages, "SECOND_KERNEL_AFTER", 8.0)  # two pages of 3 s: 6 s, under it

    def run_both(tag: str) -> set[str]:
        for name in ("a", "b"):  # long enough for the second kernel to be ready before the first is free
            _page(project.root / "book" / f"{name}.ipynb",
                  f"import os, time\ntime.sleep(3)\nprint(os.getpid()) # {tag}, page {name}")
        with pages.PageKernels(project.root, workers=2, ahead=1) as kernels:  # as a build starts them
            eb.execute_stale_pages(project, pages=["book/a.ipynb", "book/b.ipynb"], kernels=kernels)
        return {_cached_outputs(project, f"book/{name}.ipynb")[0] for name in ("a", "b")}

    assert len(run_both("never run")) == 2  # no time on record: as long as can be, so two kernels
    assert len(run_both("run before")) == 1  # 6 s on record: one kernel runs both


def test_a_failing_page_is_named_with_its_error_and_the_others_are_still_cached(project: eb.Settings) -> None:
    _page(project.root / "book" / "bad.ipynb", "raise ValueError('no such table: stud1es')")
    _page(project.root / "book" / "good.ipynb", "print('fine')")
    _page(project.root / "book" / "dies.ipynb", "import os\nos._exit(1)")

    with pytest.raises(eb.EvidencebookError, match=r"(?s)book/bad.ipynb: .*no such table: stud1es.*book/dies.ipynb"):
        eb.execute_stale_pages(project, workers=1, pages=["book/bad.ipynb", "book/dies.ipynb", "book/good.ipynb"])
    # the kernel the third page killed was restarted for the next one
    assert eb.execute_stale_pages(project, workers=1, pages=["book/good.ipynb"]) == []


def test_a_change_to_the_code_runs_every_page_again(project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import evidencebook._pages as pages

    _page(project.root / "book" / "a.ipynb", "print(1)")
    assert eb.execute_stale_pages(project, pages=["book/a.ipynb"]) == ["book/a.ipynb"]
    assert eb.execute_stale_pages(project, pages=["book/a.ipynb"]) == []
    monkeypatch.setattr(pages, "code_version", lambda: "a new version of evidencebook")
    page = project.root / "book" / "a.ipynb"
    read_at = page.stat().st_mtime_ns
    assert eb.execute_stale_pages(project, pages=["book/a.ipynb"]) == ["book/a.ipynb"]
    assert page.stat().st_mtime_ns > read_at  # so Sphinx reads the page's new outputs, though its file did not change


def test_a_page_that_times_out_is_named_and_the_next_page_gets_a_new_kernel(project: eb.Settings) -> None:
    _page(project.root / "book" / "slow.ipynb", "import time\ntime.sleep(60)")
    _page(project.root / "book" / "next.ipynb", "print('fine')")

    with pytest.raises(eb.EvidencebookError, match=r"book/slow.ipynb: CellTimeoutError"):
        eb.execute_stale_pages(project, workers=1, timeout=3, pages=["book/slow.ipynb", "book/next.ipynb"])
    assert _cached_outputs(project, "book/next.ipynb") == ["fine\n"]


def test_once_cancelled_no_further_page_starts(project: eb.Settings) -> None:
    import threading

    _page(project.root / "book" / "a.ipynb", "print(1)")
    cancel = threading.Event()
    cancel.set()
    assert eb.execute_stale_pages(project, pages=["book/a.ipynb"], cancel=cancel) == []
    assert eb.execute_stale_pages(project, pages=["book/a.ipynb"]) == ["book/a.ipynb"]  # still stale, so it runs


def test_whats_new_synthesises_each_archived_version_once(project: eb.Settings) -> None:
    first = eb.whats_new(project)
    versions = len(eb.evidence_versions(project))
    assert len(sorted(project.cache_dir.glob("outcome-status-*.cache"))) == versions >= 2
    kept = sorted(project.cache_dir.glob("version-changes-*.cache"))
    assert len(kept) == versions - 1
    # What the page shows of what a version changed is what was kept for it, read back and not worked out
    # again: kept changes altered on disk are what the next page shows (observed in the output).
    changes = json.loads(kept[-1].read_text(encoding="utf-8"))
    assert changes["data"]
    for row in changes["data"]:
        row["change"], row["notes"] = "changed", "read-back-marker"
    kept[-1].write_text(json.dumps(changes), encoding="utf-8")
    assert "read-back-marker" not in first and "read-back-marker" in eb.whats_new(project)
    kept[-1].write_text("{half a fi", encoding="utf-8")  # a torn file is worked out again
    assert eb.whats_new(project) == first


def test_jupyter_book_started_ahead_builds_nothing_when_cancelled(project: eb.Settings) -> None:
    import evidencebook._pages as pages

    jupyter_book = pages._JupyterBook(project, quiet=True)
    jupyter_book.cancel()
    assert jupyter_book.process.returncode == 0
    assert not (project.root / "_build" / "html").exists()


def test_a_build_publishes_the_data_files_while_the_pages_run(project: eb.Settings) -> None:
    import time

    site = project.root / "_build" / "html"

    def briefs() -> int:  # the briefs' turn comes before the site is built: the data files appear meanwhile
        deadline = time.monotonic() + 120
        while not (site / "data" / ".published").is_file():
            assert time.monotonic() < deadline, "the data files were not written while the pages ran"
            time.sleep(0.05)
        raise eb.EvidencebookError("stopped before the site was built")

    with pytest.raises(eb.EvidencebookError, match="stopped before the site"):
        eb.build_book(project, quiet=True, meanwhile=briefs)
    assert (site / "feed.xml").is_file() and (site / "data" / "datapackage.json").is_file()
    assert not list(site.rglob("*.html"))  # published, not built
    # The build that follows finds them current: the Sphinx extension does not write them again.
    assert not eb.publish_if_changed(project, site)


def test_a_build_whose_briefs_fail_raises_their_error_starts_no_further_page_and_builds_no_site(
        project: eb.Settings) -> None:
    def briefs_fail() -> int:
        raise eb.EvidencebookError("brief for oregon: Chromium is missing")

    with pytest.raises(eb.EvidencebookError, match="Chromium is missing"):
        eb.build_book(project, quiet=True, meanwhile=briefs_fail)
    # No page was built (the data files for re-users may be: they are written from evidence/ while the pages run).
    assert not list((project.root / "_build" / "html").rglob("*.html"))
    # at most the page each kernel had started was finished (and kept); the rest run in the next build
    assert len(eb.execute_stale_pages(project)) >= len(eb.BOOK_PAGES) - 2


def test_the_book_pages_are_listed_once_and_everything_else_agrees() -> None:
    # The package's BOOK_PAGES and scripts/make_notebooks.py's PAGES (their sources) are the one list; the table of
    # contents, pytest's test paths and the Makefile must not keep a list of their own that drifts.
    import importlib.util
    import tomllib

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    make_notebooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_notebooks)
    assert set(make_notebooks.PAGES) == {*eb.BOOK_PAGES, "notebooks/brief.ipynb"}
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert {p.removesuffix(".ipynb") for p in eb.BOOK_PAGES} <= set(re.findall(r"(?:file|root): (\S+)", toc))
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]["testpaths"]
    for page in make_notebooks.PAGES:
        assert any(page == t or page.startswith(t.rstrip("/") + "/") for t in testpaths), page
    assert ".ipynb" not in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_sphinx_extension_follows_evidence_dir(tmp_path) -> None:
    # evidence_dir is configurable: the book's banner, its excluded folder and its published versions follow it.
    from types import SimpleNamespace

    from evidencebook import _sphinx

    (tmp_path / "pyproject.toml").write_text('[tool.evidencebook]\nevidence_dir = "data"\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps(
        {"evidence_version": 9, "date": "2030-01-01", "content_hash": "ab" * 32, "zotero": {"library_version": 5}}),
        encoding="utf-8")
    config = SimpleNamespace(exclude_patterns=["evidence/*"])
    _sphinx._exclude_evidence(SimpleNamespace(srcdir=str(tmp_path)), config)
    assert config.exclude_patterns == ["evidence/*", "data/*"]
    assert _sphinx._version_label(tmp_path).startswith("Evidence version 9 (2030-01-01")


def test_each_page_starts_on_a_kernel_as_fresh_as_a_new_one(project: eb.Settings) -> None:
    """Pages share a kernel (its imports are the point), never a name: the second page sees nothing the first
    defined, and it runs in its own folder."""
    import nbformat

    folder = project.root / "book" / "scratch"
    folder.mkdir()
    first = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("leftover = 1\nimport json")])
    second = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, pathlib\n"
        "pathlib.Path('seen.json').write_text(__import__('json').dumps({'leftover': 'leftover' in dir(), "
        "'json': 'json' in dir(), 'cwd': os.getcwd()}))")])
    nbformat.write(first, folder / "first.ipynb")
    nbformat.write(second, folder / "second.ipynb")
    done = eb.execute_stale_pages(project, workers=1, pages=["book/scratch/first.ipynb", "book/scratch/second.ipynb"])
    assert done == ["book/scratch/first.ipynb", "book/scratch/second.ipynb"]
    seen = json.loads((folder / "seen.json").read_text(encoding="utf-8"))
    assert seen == {"leftover": False, "json": False, "cwd": str(folder)}
