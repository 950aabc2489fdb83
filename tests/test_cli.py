"""The command line translates arguments into one call and errors into exit codes."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import evidencebook as eb
from evidencebook._cli import main


@pytest.fixture
def run(project: eb.Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project.root)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args))

    return invoke


def test_sync_of_the_bundled_snapshot_changes_nothing(run) -> None:
    result = run("sync", "--offline")
    assert result.exit_code == 0, result.output
    assert "42 studies, 99 findings, 195 policy facts, 52 regions; nothing changed" in result.output


def _break_a_note(project: eb.Settings) -> Path:
    note = next(p for p in (project.snapshot / "items").glob("*.json") if '"parentItem"' in p.read_text("utf-8")
                and "ci_low: " in p.read_text("utf-8"))
    note.write_text(note.read_text("utf-8").replace("ci_low: ", "ci_low: not-a-number ", 1), "utf-8")
    return note


def _book_built_with(briefs_failed: int) -> type:
    """A stand-in for the book's builder: builds nothing, and its briefs report ``briefs_failed`` failures."""
    class Built(contextlib.nullcontext):  # type: ignore[type-arg]
        def __init__(self, settings: eb.Settings, quiet: bool) -> None:
            super().__init__(self)

        def build(self, meanwhile: object) -> tuple[list[str], int]:
            return [], briefs_failed

    return Built


def test_coding_errors_are_quarantined_and_exit_1_only_with_strict_in_every_command(
        run, project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """One policy: a coding error is reported and left out (exit 0); --strict makes sync, check and build exit 1."""
    import evidencebook._pages as pages

    monkeypatch.setattr(pages, "BookBuilder", _book_built_with(briefs_failed=0))
    note = _break_a_note(project)
    result = run("sync", "--offline")
    assert result.exit_code == 0, result.output
    assert f"item {note.stem}, line" in result.output and "[ci_low]" in result.output
    assert "98 findings" in result.output  # the other findings still built
    assert "--strict makes this exit 1" in result.output
    for command in (("sync", "--offline"), ("check",), ("build", "--no-pdf")):
        assert run(*command).exit_code == 0, command
        strict = run(*command, "--strict")
        assert strict.exit_code == 1, (command, strict.output)
        assert "--strict: the evidence holds 1 coding error(s); exit 1" in strict.output, command


def test_strict_judges_the_evidence_as_it_stands_not_what_this_sync_changed(
        run, project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync that finds nothing new in Zotero still fails --strict while evidence/problems.csv holds errors."""
    from zotero_emulator import ZoteroEmulator, make_item, make_note

    (project.root / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n',
                                                 encoding="utf-8")
    monkeypatch.setenv("ZOTERO_API_KEY", "secret-key-1234")
    monkeypatch.setenv("CI", "true")
    with ZoteroEmulator() as emu:
        note = make_note("NNNNNNNN", "AAAAAAAA", "F1")
        note["data"]["note"] = note["data"]["note"].replace("estimate: 0.5", "estimate: ?")
        emu.put(make_item("AAAAAAAA"), note)
        assert run("sync", "--endpoint", emu.url, "--replace-library").exit_code == 0  # the bundled library was 0
        again = run("sync", "--endpoint", emu.url, "--strict")
    assert "nothing changed; nothing written" in again.output
    assert again.exit_code == 1 and "the evidence holds 1 coding error(s)" in again.output


def test_a_brief_that_fails_fails_the_build_with_or_without_strict(run, project: eb.Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import evidencebook._pages as pages

    monkeypatch.setattr(pages, "BookBuilder", _book_built_with(briefs_failed=1))
    assert run("build", "--no-pdf").exit_code == 1


def test_sync_without_a_configured_library_says_what_to_do(run) -> None:
    result = run("sync")
    assert result.exit_code == 1 and "library_id = 0 is the bundled snapshot" in result.output


def test_check_passes_on_the_bundled_evidence(run) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "every file matches the manifest" in result.output and "outcomes.csv         99 rows  schema ok" in result.output
    assert "risk_of_bias.csv      0 rows  schema ok" in result.output  # the RoB table is checked too


def test_check_names_a_corrupt_file(run, project: eb.Settings) -> None:
    (project.evidence / "regions.csv").write_text("garbage\n", encoding="utf-8")
    result = run("check")
    assert result.exit_code == 1 and "regions.csv" in result.output


def test_unknown_region_exits_2_with_suggestions_and_writes_nothing(run, project: eb.Settings) -> None:
    result = run("brief", "oregan")
    assert result.exit_code == 2
    assert "Unknown region 'oregan'" in result.output and "oregon" in result.output
    assert not Path(project.briefs_dir).exists()


@pytest.mark.parametrize("args,message", [
    (("brief",), "name a region"),
    (("brief", "oregon", "--all"), "not both"),
    (("brief", "oregon", "--workers", "2"), "name more than one, or use --all"),
    (("brief", "oregon", "--dask", "tcp://127.0.0.1:8786"), "name more than one, or use --all"),
    (("brief", "--all", "--workers", "0"), "0 is not in the range x>=1"),
    (("brief", "--all", "--workers", "2", "--dask", "tcp://127.0.0.1:8786"), "the cluster decides"),
    (("brief", "oregon", "atlantis", "--no-pdf"), "Unknown region 'atlantis'"),
])
def test_bad_brief_arguments_exit_2_and_write_nothing(run, project: eb.Settings, args: tuple[str, ...],
                                                      message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not project.briefs_dir.exists() and not project.brief_html_dir.exists()


def test_brief_prints_where_its_notebook_html_and_pdf_are(run, project: eb.Settings) -> None:
    result = run("brief", "Oregon")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "brief for oregon:", f"  notebook: {project.briefs_dir / 'oregon.ipynb'}",
        f"  html:     {project.brief_html_dir / 'oregon.html'}", f"  pdf:      {project.brief_html_dir / 'oregon.pdf'}"]
    assert all((project.root / p).is_file() for p in ("book/briefs/oregon.ipynb", "_build/briefs/oregon.html",
                                                      "_build/briefs/oregon.pdf"))


def test_brief_without_chromium_exits_1_naming_the_region_and_the_fix(run, monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = run("brief", "TX")
    assert result.exit_code == 1
    assert "brief for texas" in result.output and "make chromium" in result.output


def test_several_regions_fan_out_list_the_failures_and_exit_1(run, project: eb.Settings) -> None:
    import nbformat

    template = nbformat.read(project.brief_template, as_version=4)
    template.cells.append(nbformat.v4.new_code_cell('assert region != "wyoming", "synthetic failure for the test"'))
    nbformat.write(template, project.brief_template)
    result = run("brief", "WY", "oregon", "DC", "--no-pdf", "--workers", "2")
    assert result.exit_code == 1
    assert "2 briefs written to" in result.output and "(notebook, HTML)" in result.output
    assert "1 region(s) failed:" in result.output and "wyoming: brief for wyoming: cell" in result.output
    assert sorted(p.name for p in project.briefs_dir.iterdir()) == ["district-of-columbia.ipynb", "oregon.ipynb"]


def test_brief_list(run) -> None:
    result = run("brief", "--list")
    assert result.exit_code == 0 and "southern-oregon" in result.output and len(result.output.splitlines()) == 52


def test_readme_and_contributing_state_the_same_exit_code_policy() -> None:
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    contributing = (ROOT / "book" / "contributing.md").read_text(encoding="utf-8")
    policy = readme[readme.index("**Exit codes**"):]
    assert "- **0**: the command did its job. Coding problems" in policy
    assert "`--strict` was given (`sync`, `check`, `build`) and the evidence as it\n  now stands holds coding errors" \
        in policy
    assert "the command exits 0" in contributing and "`--strict` to `sync`, `check` or `build`: it exits 1" in contributing
    assert "exits non-zero" not in contributing


def test_a_dry_run_says_what_the_change_would_do_to_the_review(run, project: eb.Settings) -> None:
    chien = next(p for p in (project.snapshot / "items").glob("*.json") if "Outcome O15" in p.read_text("utf-8"))
    chien.write_text(chien.read_text("utf-8").replace("estimate: 0.44", "estimate: 0.45")
                     .replace("review_certainty: very low", "review_certainty: low", 1), "utf-8")
    before = {p: p.read_bytes() for p in project.evidence.glob("*.csv")}
    result = run("sync", "--offline", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would mark 1 outcomes updated: O15" in result.output
    assert "finding O15: review_certainty very low -> low; estimate 0.44 -> 0.45" in result.output
    assert "hospitalisation (added to usual care): changed" in result.output  # the question, before and after
    assert {p: p.read_bytes() for p in project.evidence.glob("*.csv")} == before  # and nothing was written


def test_whats_new_prints_an_evidence_version_as_markdown(run) -> None:
    result = run("whats-new", "--version", "5")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("## What's new in evidence version 5 (2026-12-05)\n")
    assert "### Studies added (1)\n\n- Mahlke et al. 2017: Effectiveness of one-to-one peer support" in result.output
    assert "- O35, Sledge et al. 2011, number of rehospitalizations \\(9 months\\) (MD): narrative: no estimate → " \
        "-0.64 (-1.301 to 0.02129)" in result.output
    current = run("whats-new")
    assert current.exit_code == 0 and current.output.startswith(f"## What's new in evidence version {NOW} (")


# The bundled evidence's version, read once: these tests hold for whatever version the repository is at.
NOW = int(eb.read_manifest(eb.load_settings(Path(__file__).resolve().parents[1]))["evidence_version"])


@pytest.mark.parametrize("args,code,message", [
    (("--since", str(NOW)), 3, f"nothing new: no evidence version after version {NOW}"),
    (("--version", "99"), 2, "evidence version 99 is not recorded (the changelog has "
                             f"{', '.join(map(str, range(1, NOW + 1)))})"),
    (("--version", "0"), 2, "0 is not in the range x>=1"),
    (("--version", "5", "--since", "4"), 2, "use one"),
])
def test_whats_new_says_nothing_new_with_exit_3_and_a_bad_version_with_exit_2(run, args, code, message) -> None:
    result = run("whats-new", *args)
    assert result.exit_code == code, result.output
    assert message in result.output and "##" not in result.output
