"""Book pages: each page's cache key is what it reads, so a change re-executes exactly the pages that show it."""

from __future__ import annotations

import json

import pandas as pd

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
    assert sorted(eb.stamp_notebooks(project)) == ["book/data-quality.ipynb", "book/outcomes/service-use.ipynb",
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
    assert sorted(eb.stamp_notebooks(project)) == ["book/data-quality.ipynb", "book/policy.ipynb"]


def test_every_page_of_the_book_declares_what_it_reads() -> None:
    from conftest import ROOT
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "book").rglob("*.ipynb") if "briefs/" not in p.as_posix()}
    assert pages == set(eb.BOOK_PAGES)
