"""The command line translates arguments into one call and errors into exit codes."""

from __future__ import annotations

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
    assert "40 studies, 62 findings, 170 policy facts, 52 regions; nothing changed" in result.output


def test_sync_with_a_malformed_note_reports_it_and_exits_1_when_strict(run, project: eb.Settings) -> None:
    note = next(p for p in (project.snapshot / "items").glob("*.json") if '"parentItem"' in p.read_text("utf-8")
                and "ci_low: " in p.read_text("utf-8"))
    note.write_text(note.read_text("utf-8").replace("ci_low: ", "ci_low: not-a-number ", 1), "utf-8")
    result = run("sync", "--offline", "--strict")
    assert result.exit_code == 1
    assert f"item {note.stem}, line" in result.output and "[ci_low]" in result.output
    assert "61 findings" in result.output  # the other findings still built
    assert run("check").exit_code == 1  # check says so too
    assert run("sync", "--offline").exit_code == 0  # without --strict: reported, not fatal


def test_sync_without_a_configured_library_says_what_to_do(run) -> None:
    result = run("sync")
    assert result.exit_code == 1 and "library_id = 0 is the bundled snapshot" in result.output


def test_check_passes_on_the_bundled_evidence(run) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "every file matches the manifest" in result.output and "outcomes.csv         62 rows  schema ok" in result.output


def test_check_names_a_corrupt_file(run, project: eb.Settings) -> None:
    (project.evidence / "regions.csv").write_text("garbage\n", encoding="utf-8")
    result = run("check")
    assert result.exit_code == 1 and "regions.csv" in result.output


def test_unknown_region_exits_2_with_suggestions_and_writes_nothing(run, project: eb.Settings) -> None:
    result = run("brief", "oregan")
    assert result.exit_code == 2
    assert "Unknown region 'oregan'" in result.output and "oregon" in result.output
    assert not Path(project.briefs_dir).exists()


def test_brief_list(run) -> None:
    result = run("brief", "--list")
    assert result.exit_code == 0 and "southern-oregon" in result.output and len(result.output.splitlines()) == 52
