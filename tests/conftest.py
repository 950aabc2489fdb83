"""Shared fixtures: small Zotero items built in code, and a throw-away copy of the project."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import evidencebook as eb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_secrets_or_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOTERO_API_KEY", raising=False)


def parent(key: str, tags: tuple[str, ...] = ("screen:FT:include",), **data: Any) -> dict[str, Any]:
    """A top-level Zotero item as the Web API returns it (synthetic, for tests)."""
    body = {"key": key, "version": 1, "itemType": "journalArticle", "title": f"Synthetic study {key}",
            "creators": [{"creatorType": "author", "firstName": "A", "lastName": "Tester"}], "date": "2020",
            "tags": [{"tag": t} for t in tags], "extra": "", "relations": {}, **data}
    return {"key": key, "version": 1, "library": {"type": "group", "id": 1}, "meta": {}, "data": body}


def note(key: str, parent_key: str, lines: list[str], **data: Any) -> dict[str, Any]:
    """A child note whose paragraphs are ``lines`` (headings written as '# text'), as typed: text, not markup."""
    body = {"key": key, "version": 1, "itemType": "note", "parentItem": parent_key,
            "note": eb.note_from_lines(lines), "tags": [], "relations": {}, **data}
    return {"key": key, "version": 1, "library": {"type": "group", "id": 1}, "meta": {}, "data": body}


GOOD_NOTE = [
    "Extraction", "# Study", "study_type: primary", "design: RCT", "us_state: Oregon", "population_group: SMI",
    "# Outcome T1", "outcome: readmission at 12 months", "domain: hospitalisation", "measure: RR", "better: lower",
    "estimate: 0.71", "ci_low: 0.52", "ci_high: 0.97", "direction: favours peer",
    "quote: readmission was lower (RR 0.71, 95% CI 0.52 to 0.97)",
]


@pytest.fixture
def project(tmp_path: Path) -> eb.Settings:
    """A copy of the project's configuration, evidence and notebooks in a temporary folder."""
    for name in ("pyproject.toml", "_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("evidence", "notebooks", "book"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("briefs", "seed"))
    return eb.load_settings(tmp_path)
