"""What the site publishes for re-users: the Atom feed, the cite line, CITATION.cff and .zenodo.json, schema.org
metadata, the Frictionless data packages and the static JSON.

``tests/cff-schema-1.2.0.json`` is the Citation File Format 1.2.0 JSON schema
(``$id`` https://citation-file-format.github.io/1.2.0/schema.json, from the citation-file-format/citation-file-format
repository on GitHub, CC-BY-4.0), copied byte for byte from the cffconvert 2.0.0 wheel
(``cffconvert/schemas/1.2.0/schema.json``, sha256 0b8d2214...cc169b): cffconvert itself pins jsonschema 3.2, which
the rest of the stack cannot use, so the file is validated with jsonschema 4 here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import evidencebook as eb
from conftest import GOOD_NOTE, ROOT, note, parent
from evidencebook import _publish, _sphinx

SCHEMA = ROOT / "tests" / "cff-schema-1.2.0.json"
HOSTILE = '</script><script>alert(1)</script><!-- & "quotes" \u2028 </SCRIPT >'


@pytest.fixture(scope="module")
def bundled() -> eb.Settings:
    return eb.load_settings(ROOT)


@pytest.fixture(scope="module")
def evidence(bundled: eb.Settings) -> eb.Evidence:
    return eb.load_evidence(bundled)


class _Scripts(HTMLParser):
    """The JSON-LD script elements of a page and the tags that follow, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.tags: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in = tag == "script" and ("type", "application/ld+json") in attrs
        if self._in:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.scripts[-1] += data


def _scripts(page: str) -> _Scripts:
    parser = _Scripts()
    parser.feed(page)
    return parser


# -- the cite line ------------------------------------------------------------------------------


def test_the_cite_line_names_the_review_the_version_its_date_and_the_address() -> None:
    label = "Evidence version 8 (2026-12-05, 4dd2c2242660)"
    assert eb.cite_as(label, "https://example.org/review/") == (
        "Peer support in behavioral health: a living evidence review. Evidence version 8 (2026-12-05, "
        "4dd2c2242660). https://example.org/review/")
    assert eb.cite_as(label, "https://example.org/review/book/briefs/oregon.html",
                      part="Oregon: peer support services brief", built=dt.date(2026, 12, 6)) == (
        "Peer support in behavioral health: a living evidence review. Oregon: peer support services brief. "
        "Evidence version 8 (2026-12-05, 4dd2c2242660). Built 2026-12-06. "
        "https://example.org/review/book/briefs/oregon.html")
    # no site configured: no address is made up
    assert eb.cite_as(label) == ("Peer support in behavioral health: a living evidence review. Evidence version 8 "
                                 "(2026-12-05, 4dd2c2242660).")


def test_a_briefs_cite_line_is_the_one_cite_as_writes(evidence: eb.Evidence) -> None:
    brief = eb.Brief(eb.resolve_region("OR", evidence.regions), evidence, "https://example.org/review/",
                     today=dt.date(2026, 12, 6))
    html = str(brief.sources())
    shown = html.split("<strong>Cite as:</strong> ", 1)[1].split("</p>", 1)[0]
    assert shown == eb.cite_as(evidence.version_label, brief.brief_url, part=brief.title, built=brief.build_date)


# -- CITATION.cff and .zenodo.json --------------------------------------------------------------------


def _cff() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8")))


def test_citation_cff_is_valid_citation_file_format_1_2_0() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest().startswith("0b8d2214")  # the file vendored, unchanged
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    cff = _cff()
    assert sorted(e.message for e in validator.iter_errors(cff)) == []
    # the check can fail: without authors, or with a licence that is no SPDX id, the file is not valid
    assert not validator.is_valid({k: v for k, v in cff.items() if k != "authors"})
    assert not validator.is_valid({**cff, "license": "MIT-ish"})


def test_zenodo_json_has_what_zenodo_requires_and_says_what_citation_cff_says() -> None:
    zenodo = json.loads((ROOT / ".zenodo.json").read_text(encoding="utf-8"))
    for key in ("title", "upload_type", "description", "creators", "license"):
        assert zenodo.get(key), key
    assert zenodo["upload_type"] in {"publication", "poster", "presentation", "dataset", "image", "video",
                                     "software", "lesson", "physicalobject", "other"}
    assert all(c.get("name") for c in zenodo["creators"])
    cff = _cff()
    assert zenodo["title"] == cff["title"] == eb.REVIEW_TITLE
    assert zenodo["description"] == " ".join(cff["abstract"].split()) == _publish.DESCRIPTION
    assert [c["name"] for c in zenodo["creators"]] == [a["name"] for a in cff["authors"]] == [_publish.AUTHOR]
    assert zenodo["license"] == cff["license"] == _publish.LICENSE
    assert zenodo["keywords"] == cff["keywords"]
    assert zenodo["upload_type"] == cff["type"] == "dataset"


# -- the feed -----------------------------------------------------------------------------------


def _changelog() -> list[dict[str, Any]]:
    return [{"evidence_version": 1, "date": "2030-01-01", "zotero_library_version": 3,
             "studies": {"added": ["AAAAAAAA", "BBBBBBBB"], "updated": [], "removed": []},
             "outcomes": {"added": ["T1", "T2"], "updated": [], "removed": []},
             "citation_keys": {"AAAAAAAA": "tester2020a", "BBBBBBBB": "tester2020b"}},
            {"evidence_version": 2, "date": "2030-02-01", "zotero_library_version": 5,
             "studies": {"added": ["CCCCCCCC"], "updated": ["AAAAAAAA"], "removed": ["BBBBBBBB"]},
             "outcomes": {"added": ["T3"], "updated": [], "removed": ["T2"]},
             "citation_keys": {"BBBBBBBB": "tester2020b", "CCCCCCCC": "tester2021"}}]


def test_one_feed_entry_per_version_newest_first_with_what_it_changed_and_the_triggers() -> None:
    import feedparser

    triggers = {1: None, 2: ["hope (added to usual care): certainty changed: low → moderate"]}
    entries = eb.feed_entries(_changelog(), triggers, "https://example.org/review")
    feed = feedparser.parse(eb.evidence_feed(entries, "https://example.org/review"))
    assert not feed.bozo and feed.version == "atom10"
    assert [e.title for e in feed.entries] == ["Evidence version 2 (2030-02-01)", "Evidence version 1 (2030-01-01)"]
    assert [e.id for e in feed.entries] == ["https://example.org/review/book/whats-new.html#version-2",
                                            "https://example.org/review/book/whats-new.html#version-1"]
    assert [e.link for e in feed.entries] == [e.id for e in feed.entries]
    assert feed.entries[0].updated == "2030-02-01T00:00:00+00:00" and feed.feed.updated == feed.entries[0].updated
    newest, first = feed.entries[0].summary, feed.entries[1].summary
    assert "Studies added: 1: CCCCCCCC (tester2021)." in newest
    assert "Studies removed: 1: BBBBBBBB (tester2020b)." in newest
    assert "Findings: 1 added, 0 updated, 1 removed; studies updated: 1." in newest
    assert "Cochrane triggers fired (1): hope (added to usual care): certainty changed: low → moderate." in newest
    assert "Cochrane triggers: not computed" in first
    assert any(link.rel == "self" and link.href == "https://example.org/review/feed.xml" for link in feed.feed.links)


def test_the_feed_and_its_ids_are_the_same_in_every_build() -> None:
    def build(site_url: str) -> bytes:
        return eb.evidence_feed(eb.feed_entries(_changelog(), {1: None, 2: []}, site_url), site_url)

    assert build("") == build("")
    assert build("https://example.org/a/") == build("https://example.org/a/")
    ids = [e["id"] for e in eb.feed_entries(_changelog(), {}, "")]
    assert ids == [e["id"] for e in eb.feed_entries(_changelog()[:2], {}, "")]  # a new version leaves old ids alone
    assert len(set(ids)) == 2 and all(i.startswith("urn:uuid:") for i in ids)
    # without a site the links lead from the feed (the site's root) to What's new
    assert [e["link"] for e in eb.feed_entries(_changelog(), {}, "")] == ["book/whats-new.html#version-2",
                                                                        "book/whats-new.html#version-1"]


def test_hostile_text_in_a_version_stays_text_in_the_feed() -> None:
    # A pooled question is named by its synthesis group, typed in a Zotero note: markup, a control character
    # or a lone surrogate there must neither break the feed (lxml refuses them) nor become markup in it.
    import feedparser

    changelog = [{**_changelog()[0], "citation_keys": {"AAAAAAAA": "a\x0bb\ud800c", "BBBBBBBB": HOSTILE}}]
    trigger = "group </summary><script>x</script> ]]> \x00 (added to usual care, RR): pooled estimate lost"
    feed_bytes = eb.evidence_feed(eb.feed_entries(changelog, {1: [trigger]}), "")
    feed = feedparser.parse(feed_bytes)
    assert not feed.bozo and len(feed.entries) == 1
    summary = feed.entries[0].summary
    assert "AAAAAAAA (a[U+000B]b[U+D800]c)" in summary and "[U+0000]" in summary
    assert "</summary><script>x</script> ]]>" in summary and b"<script>" not in feed_bytes


def test_the_bundled_evidence_feed_names_the_triggers_whats_new_flags(project: eb.Settings) -> None:
    # Version 5 of the bundled evidence is the one whose change What's new flags as a trigger (symptoms' certainty).
    triggers = _publish.version_triggers(project, [4, 5, 6])
    assert triggers[4] is None  # version 3 not asked for: nothing to compare with
    assert triggers[5] == ["symptoms (added to usual care): certainty changed: not rated → moderate"]
    assert triggers[6] == []
    entries = eb.feed_entries(eb.read_changelog(project), triggers)
    current = int(eb.read_manifest(project)["evidence_version"])  # every version kept, newest first
    assert [e["number"] for e in entries] == list(range(current, 0, -1))
    five = next(e for e in entries if e["number"] == 5)
    assert "Cochrane triggers fired (1): symptoms (added to usual care)" in five["summary"]


# -- schema.org -----------------------------------------------------------------------------------


def test_json_ld_describes_the_review_and_its_evidence_with_a_download_per_table(evidence: eb.Evidence) -> None:
    data = eb.json_ld(evidence.manifest, "https://example.org/review/")
    article, dataset = data["@graph"]
    assert data["@context"] == "https://schema.org"
    assert article["@type"] == "ScholarlyArticle" and article["name"] == eb.REVIEW_TITLE
    assert article["version"] == dataset["version"] == str(evidence.manifest["evidence_version"])
    assert article["isBasedOn"] == {"@id": dataset["@id"]} and dataset["@type"] == "Dataset"
    assert article["creditText"] == eb.cite_as(evidence.version_label, "https://example.org/review/")
    urls = {d["contentUrl"] for d in dataset["distribution"]}
    assert {f"https://example.org/review/data/{name}" for name in eb.DATA_TABLES} <= urls
    assert "https://example.org/review/data/datapackage.json" in urls
    # no site configured: links lead from the page to the site's root
    relative = eb.json_ld(evidence.manifest, "", "../../")["@graph"][1]
    assert "../../data/studies.csv" in {d["contentUrl"] for d in relative["distribution"]}


def test_json_ld_stays_inside_its_script_element_whatever_a_title_holds() -> None:
    data = {"@type": "Dataset", "name": HOSTILE, "nested": [{"title": HOSTILE}]}
    script = eb.json_ld_script(data)
    page = f"<html><head>{script}<title>x</title></head><body><p>after</p></body></html>"
    found = _scripts(page)
    assert len(found.scripts) == 1 and json.loads(found.scripts[0]) == data
    assert found.tags.count("script") == 1  # the hostile '<script>' never became an element
    assert "</script" not in script[:-len("</script>")].lower() and "<!--" not in script


def test_every_page_gets_the_label_the_cite_line_and_its_own_metadata(tmp_path: Path, evidence: eb.Evidence) -> None:
    # The slots Sphinx writes in every build; the build fills them, in pages written earlier too.
    head: dict[str, Any] = {"metatags": "", "pathto": lambda p, n: f"../{p}"}
    _sphinx._head_links(None, "book/studies", "page.html", head, None)
    theme = SimpleNamespace(html_theme_options={})
    _sphinx._version_banner(None, theme)
    footer = theme.html_theme_options["extra_footer"]
    page = (f'<html><head>{head["metatags"]}</head><body>{theme.html_theme_options["announcement"]}'
            f"{footer}</body></html>")
    assert '<link rel="alternate" type="application/atom+xml" title="Evidence versions" href="../feed.xml">' in page
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "studies.html").write_text(page, encoding="utf-8")
    (tmp_path / "index.html").write_text(page.replace("../feed.xml", "feed.xml"), encoding="utf-8")
    manifest = {**evidence.manifest, "date": HOSTILE}  # what a page prints is escaped, whatever it is
    cite = eb.cite_as(_publish.version_label(manifest), "https://example.org/review/")

    changed = eb.stamp_version(tmp_path, "Evidence version 8", cite, lambda root: eb.json_ld(manifest, "", root))

    assert len(changed) == 2
    inner = (tmp_path / "book" / "studies.html").read_text(encoding="utf-8")
    found = _scripts(inner)
    assert len(found.scripts) == 1 and found.tags.count("script") == 1
    assert json.loads(found.scripts[0]) == eb.json_ld(manifest, "", "../")
    assert json.loads(_scripts((tmp_path / "index.html").read_text(encoding="utf-8")).scripts[0]) == eb.json_ld(
        manifest, "", "")
    from html import escape
    assert f'<span class="eb-cite-version">{escape(cite)}</span>' in inner
    assert eb.stamp_version(tmp_path, "Evidence version 8", cite, lambda root: eb.json_ld(manifest, "", root)) == []


# -- the data packages ----------------------------------------------------------------------------


def test_every_pandera_column_appears_in_the_table_schema_with_its_type_and_checks(bundled: eb.Settings) -> None:
    from evidencebook._schemas import OutcomeSchema, PolicyFactSchema, RegionSchema, RiskOfBiasSchema, StudySchema

    models = {"studies.csv": StudySchema, "outcomes.csv": OutcomeSchema, "state_policy.csv": PolicyFactSchema,
              "regions.csv": RegionSchema, "risk_of_bias.csv": RiskOfBiasSchema}
    assert set(models) == set(eb.DATA_TABLES)
    types = {"str": "string", "string[python]": "string", "float64": "number"}
    for name, model in models.items():
        header = _publish.csv_header((bundled.evidence / name).read_text(encoding="utf-8"))
        fields = {f["name"]: f for f in eb.table_schema(model, header)["fields"]}
        assert list(fields) == header, name  # every column of the file, in its order
        for column_name, column in model.to_schema().columns.items():
            assert column_name in fields, f"{name}: {column_name} declared but not in the file"
            field, constraints = fields[column_name], fields[column_name].get("constraints", {})
            assert field["type"] == types[str(column.dtype)], (name, column_name)
            assert constraints.get("unique", False) == column.unique, (name, column_name)
            for check in column.checks:
                if check.name == "str_matches":
                    assert constraints["pattern"] == check.statistics["pattern"]
                elif check.name == "isin":
                    assert set(constraints["enum"]) == set(check.statistics["allowed_values"]) - {""}
                elif check.name == "str_length":
                    assert constraints["minLength"] == check.statistics["min_value"]
                else:
                    raise AssertionError(f"{name}: {column_name}: check {check.name} has no Table Schema form")
    # what is required follows what pandera rejects as empty: a Zotero key is, a title may be blank
    studies = {f["name"]: f for f in eb.table_schema(StudySchema, ["study_id", "title", "screening"])["fields"]}
    assert studies["study_id"]["constraints"]["required"] and studies["screening"]["constraints"]["required"]
    assert "required" not in studies["title"].get("constraints", {})


def _package_folder(settings: eb.Settings, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    headers = {}
    for name in eb.DATA_TABLES:
        shutil.copy(settings.evidence / name, folder / name)
        headers[name] = _publish.csv_header((folder / name).read_text(encoding="utf-8"))
    manifest = json.loads((settings.evidence / "manifest.json").read_text(encoding="utf-8"))
    (folder / "datapackage.json").write_text(json.dumps(eb.data_package(manifest, headers)), encoding="utf-8")
    return folder / "datapackage.json"


def _errors(package: Path) -> list[tuple[str, str, str]]:
    from frictionless import validate

    report = validate(str(package))
    return [(task.name, error.type, getattr(error, "field_name", "")) for task in report.tasks for error in task.errors]


def test_frictionless_validates_the_bundled_evidence_as_a_data_package(bundled: eb.Settings, tmp_path: Path) -> None:
    package = _package_folder(bundled, tmp_path / "data")
    assert _errors(package) == []
    described = json.loads(package.read_text(encoding="utf-8"))
    assert [r["path"] for r in described["resources"]] == list(eb.DATA_TABLES)
    assert described["resources"][0]["hash"] == "sha256:" + hashlib.sha256(
        (bundled.evidence / "studies.csv").read_bytes()).hexdigest()


def test_frictionless_finds_a_cell_the_pandera_schema_forbids(bundled: eb.Settings, tmp_path: Path) -> None:
    # The validation can fail: a bad Zotero key, a domain outside the vocabulary, text in a number column.
    package = _package_folder(bundled, tmp_path / "data")
    manifest = json.loads(package.read_text(encoding="utf-8"))
    for resource in manifest["resources"]:
        resource.pop("hash")  # the edited files no longer match the manifest: the cells must be what fails
    package.write_text(json.dumps(manifest), encoding="utf-8")
    outcomes = (tmp_path / "data" / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    head = outcomes[0].split(",")
    for line, (column, value) in enumerate((("domain", "astrology"), ("estimate", "big"), ("study_id", "nokey")), 1):
        cells = outcomes[line].split(",")
        assert cells[head.index("finding_id")] and "\"" not in ",".join(cells[:head.index(column) + 1])
        cells[head.index(column)] = value
        outcomes[line] = ",".join(cells)
    (tmp_path / "data" / "outcomes.csv").write_text("\n".join(outcomes) + "\n", encoding="utf-8")
    found = _errors(package)
    assert ("outcomes", "constraint-error", "domain") in found
    assert ("outcomes", "type-error", "estimate") in found
    assert ("outcomes", "constraint-error", "study_id") in found


def test_every_published_version_folder_is_a_valid_data_package(bundled: eb.Settings, tmp_path: Path) -> None:
    for number in eb.evidence_versions(bundled):
        source = bundled.evidence / "versions" / f"v{number:04d}"
        folder = tmp_path / f"v{number:04d}"
        shutil.copytree(source, folder)
        manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
        headers = {p.name: _publish.csv_header(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.csv"))}
        package = eb.data_package(manifest, headers)
        assert package["version"] == str(number) and {r["path"] for r in package["resources"]} == {
            "studies.csv", "outcomes.csv"}
        (folder / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
        assert _errors(folder / "datapackage.json") == [], number


# -- a small generated evidence folder, published through the Sphinx hook --------------------------


def _small_project(tmp_path: Path) -> eb.Settings:
    tmp_path.mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_id = 0\nsite_url = "https://example.org/r/"\n',
                                             encoding="utf-8")
    settings = eb.load_settings(tmp_path)
    def lines(finding: str) -> list[str]:
        return [line.replace("# Outcome T1", f"# Outcome {finding}") for line in GOOD_NOTE]

    first = [parent("AAAAAAAA"), note("NNNNNNNA", "AAAAAAAA", GOOD_NOTE),
             parent("BBBBBBBB", title="</script><b>hostile</b>"), note("NNNNNNNB", "BBBBBBBB", lines("T2"))]
    eb.build_evidence(settings, eb.Snapshot({"version": 1}, first), today=dt.date(2030, 1, 1))
    second = [parent("AAAAAAAA"), note("NNNNNNNA", "AAAAAAAA", GOOD_NOTE),
              parent("CCCCCCCC"), note("NNNNNNNC", "CCCCCCCC", lines("T3"))]
    eb.build_evidence(settings, eb.Snapshot({"version": 2}, second), today=dt.date(2030, 2, 1))
    return settings


def test_the_sphinx_hook_publishes_feed_data_packages_and_json_for_a_small_evidence(tmp_path: Path) -> None:
    import feedparser

    settings = _small_project(tmp_path / "project")
    site = tmp_path / "site"
    (site / "book").mkdir(parents=True)
    theme = SimpleNamespace(html_theme_options={})
    _sphinx._version_banner(None, theme)
    head: dict[str, Any] = {"metatags": "", "pathto": lambda p, n: f"../{p}"}
    _sphinx._head_links(None, "book/intro", "page.html", head, None)
    (site / "book" / "intro.html").write_text(f"<html><head>{head['metatags']}</head><body>"
                                              f"{theme.html_theme_options['extra_footer']}</body></html>",
                                              encoding="utf-8")
    app = SimpleNamespace(outdir=str(site), srcdir=str(settings.root), builder=SimpleNamespace(format="html"))

    _sphinx._publish_files(app, None)

    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert [e.id for e in feed.entries] == ["https://example.org/r/book/whats-new.html#version-2",
                                            "https://example.org/r/book/whats-new.html#version-1"]
    assert "Studies removed: 1: BBBBBBBB" in feed.entries[0].summary
    assert "Cochrane triggers" in feed.entries[0].summary and "not computed" not in feed.entries[0].summary
    page = (site / "book" / "intro.html").read_text(encoding="utf-8")
    assert ("Evidence version 2 (2030-02-01, " in page
            and "a living evidence review. Evidence version 2 (2030-02-01, " in page and "https://example.org/r/</span>" in page)
    data = json.loads(_scripts(page).scripts[0])
    assert data["@graph"][1]["version"] == "2" and data["@graph"][1]["url"] == "https://example.org/r/data/"
    assert _errors(site / "data" / "datapackage.json") == []
    for number in (1, 2):  # the archived versions, as the site publishes them
        assert _errors(site / "evidence-versions" / f"v{number:04d}" / "datapackage.json") == [], number
    studies = json.loads((site / "data" / "studies.json").read_text(encoding="utf-8"))
    assert studies["evidence_version"] == 2 and [s["study_id"] for s in studies["studies"]] == ["AAAAAAAA", "CCCCCCCC"]
    assert all(s["included"] for s in studies["studies"])
    findings = json.loads((site / "data" / "findings.json").read_text(encoding="utf-8"))["findings"]
    assert [(f["finding_id"], f["study_id"], f["estimate"], f["ci_low"], f["n_studies"]) for f in findings] == [
        ("T1", "AAAAAAAA", 0.71, 0.52, None), ("T3", "CCCCCCCC", 0.71, 0.52, None)]
    oregon = json.loads((site / "data" / "briefs" / "oregon.json").read_text(encoding="utf-8"))
    assert oregon["region"]["state_code"] == "OR" and oregon["url"] == "https://example.org/r/book/briefs/oregon.html"
    assert len(oregon["local_results"]) == 2 and len(oregon["bottom_line"]) == 3
    assert len(list((site / "data" / "briefs").glob("*.json"))) == 51  # the states and DC: no sub-state region here
    # a second build with nothing changed writes nothing again
    stamps = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}
    _sphinx._publish_files(app, None)
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()} == stamps


def test_json_files_hold_any_text_zotero_sends(tmp_path: Path) -> None:
    # Zotero's API can send a lone surrogate (the snapshot keeps it escaped); UTF-8 cannot hold it.
    data = {"title": "a\ud800b", "quote": HOSTILE, "name": "Café"}
    path = tmp_path / "studies.json"
    assert _publish._write(path, _publish._dump(data))
    assert json.loads(path.read_text(encoding="utf-8")) == data
    assert "Café" in _publish._dump({"name": "Café"})  # readable UTF-8 where it can be


def test_the_hostile_library_is_published_as_data_not_markup(project: eb.Settings, tmp_path: Path) -> None:
    # The generated hostile library (SYNTHETIC: script, markup, formula and link payloads in every field it can
    # type): everything it publishes is written, reads back, and validates.
    import feedparser
    from hostile_library import hostile_library

    items, library = hostile_library()
    eb.write_snapshot(project.snapshot, items, library)
    eb.build_evidence(project)
    site = tmp_path / "site"
    _publish.publish_site(project, site)
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    kept = len(eb.read_changelog(project))  # the bundled versions and the hostile one on top
    assert not feed.bozo and len(feed.entries) == kept and "Studies added: 13" in feed.entries[0].summary
    assert b"<script" not in (site / "feed.xml").read_bytes()
    assert _errors(site / "data" / "datapackage.json") == []
    studies = json.loads((site / "data" / "studies.json").read_text(encoding="utf-8"))["studies"]
    titles = {s["title"] for s in studies}
    assert titles == set(eb.load_evidence(project).studies["title"]) and any("<script>" in t for t in titles)
    oregon = json.loads((site / "data" / "briefs" / "oregon.json").read_text(encoding="utf-8"))
    assert oregon["local_results"] and any("<script>" in r["title"] for s in oregon["local_results"]
                                           for r in s["reports"])


def test_a_regions_json_says_what_its_brief_shows(evidence: eb.Evidence) -> None:
    brief = eb.Brief(eb.resolve_region("OR", evidence.regions), evidence, today=dt.date(2026, 12, 5), pdf=False)
    content = eb.brief_content(brief)
    assert json.loads(json.dumps(content)) == content  # plain JSON
    assert content["bottom_line"] == brief.bottom_line_sentences()
    from evidencebook._brief_levers import LEVERS
    assert [lever["lever"] for lever in content["levers"]] == list(LEVERS)
    coverage = brief.coverage()
    for service in ("MH", "SUD"):
        lever = next(x for x in content["levers"] if x["lever"] == f"coverage-{service}")
        assert lever["status"] == coverage[service].status and lever["fact_ids"] == list(coverage[service].fact_ids)
    facts = brief.lever_facts()
    for lever in content["levers"]:
        if "facts" in lever:
            assert [f["fact_id"] for f in lever["facts"]] == list(facts[lever["lever"]]["fact_id"])
            assert all({"value", "as_of", "source_url"} <= set(f) for f in lever["facts"])
    assert [s["study"] for s in content["local_results"]] == [s["study"] for s in brief.local_results()]
    assert content["evidence_version"] == evidence.manifest["evidence_version"]


def test_the_regions_json_reuse_the_summary_of_findings_the_briefs_kept(project: eb.Settings,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing after the briefs does not compute the summary of findings again (seconds per evidence version)."""
    import evidencebook._briefs as briefs

    evidence = eb.load_evidence(project)
    first = _publish.brief_files(project, evidence)  # computes it, and keeps it as the briefs do

    def again(*args: Any) -> str:
        raise AssertionError("the summary of findings was computed again")

    monkeypatch.setattr(briefs, "national_summary", again)
    assert _publish.brief_files(project, evidence) == first


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The regions whose JSON content :func:`_publish.brief_content` computes from now on."""
    made: list[str] = []
    real = _publish.brief_content

    def counting(brief: Any) -> dict[str, Any]:
        made.append(brief.region_id)
        return real(brief)

    monkeypatch.setattr(_publish, "brief_content", counting)
    return made


def test_a_changed_fact_computes_the_json_of_its_state_s_regions_only_and_none_is_stale(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each region's JSON is kept under a hash of what it reads: after one Oregon fact changed, the Oregon regions'
    JSON is computed again (and shows the change), the others' are read back, and everything equals what is
    computed with nothing kept."""
    import dataclasses

    from evidencebook._regions import region_records

    evidence = eb.load_evidence(project)
    first = _publish.brief_files(project, evidence)
    made = _counted(monkeypatch)
    assert _publish.brief_files(project, evidence) == first and made == []
    policy = evidence.policy.copy()
    row = policy.index[(policy["state_code"] == "OR") & policy["topic"].eq("Medicaid coverage")][0]
    policy.loc[row, "value"] = "not covered (changed)"
    changed = dataclasses.replace(evidence, policy=policy)
    after = _publish.brief_files(project, changed)
    oregon = {f"{r['region_id']}.json" for r in region_records(project.regions) if r["state_code"] == "OR"}
    assert {f"{m}.json" for m in made} == oregon
    assert {name for name in first if first[name] != after[name]} == oregon
    for kept in project.cache_dir.glob("brief-json-*.cache"):  # nothing kept: every region computed afresh
        kept.unlink()
    assert _publish.brief_files(project, changed) == after


def test_a_new_evidence_date_or_code_version_computes_every_regions_json(
        project: eb.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import evidencebook._config as config

    evidence = eb.load_evidence(project)
    _publish.brief_files(project, evidence)
    made = _counted(monkeypatch)
    later = dataclasses.replace(evidence, manifest={**evidence.manifest, "date": "2099-01-01"})
    assert all(c["levers"] for c in _publish.brief_files(project, later).values()) and len(made) == 52
    made.clear()
    monkeypatch.setattr(config, "code_version", lambda: "another-code-version")
    _publish.brief_files(project, evidence)
    assert len(made) == 52


def test_a_regions_json_works_out_its_local_results_once(evidence: eb.Evidence,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON and its bottom line read the same local results: worked out once per brief (seconds a region at
    2,000 studies), and a caller that filters its list leaves the next caller's whole."""
    import evidencebook._briefs as briefs

    calls = []
    real = briefs.Brief.local_studies

    def counting(self: Any) -> Any:
        calls.append(self.region_id)
        return real(self)

    monkeypatch.setattr(briefs.Brief, "local_studies", counting)
    brief = eb.Brief.for_region("southern-oregon", ROOT, pdf=False)
    content = eb.brief_content(brief)
    assert calls == ["southern-oregon"] and content["local_results"]
    brief.local_results().clear()
    assert len(brief.local_results()) == len(content["local_results"])


def test_a_data_package_of_tables_seen_before_is_made_without_pandera(bundled: eb.Settings, tmp_path: Path) -> None:
    # Its resources depend on the code and the tables' columns only: kept on disk, a later build (a new process, as
    # each jupyter-book process is) makes the package without importing pandera, and makes the same package.
    import subprocess
    import sys

    from conftest import ROOT

    script = (
        "import json, sys\nfrom pathlib import Path\nimport evidencebook as eb\nfrom evidencebook import _publish\n"
        "from evidencebook._cache import DiskCache\n"
        "s = eb.load_settings(Path(sys.argv[1]))\n"
        "manifest = json.loads((s.evidence / 'manifest.json').read_text())\n"
        "headers = {n: _publish.csv_header((s.evidence / n).read_text()) for n in _publish.DATA_TABLES}\n"
        "package = _publish._dump(_publish.data_package(manifest, headers, '', DiskCache(Path(sys.argv[2]))))\n"
        "print(json.dumps(['pandera' in sys.modules, package]))\n")
    runs = [json.loads(subprocess.run([sys.executable, "-c", script, str(bundled.root), str(tmp_path)], cwd=ROOT,
                                      capture_output=True, text=True, check=True).stdout) for _ in range(2)]
    assert [imported for imported, _ in runs] == [True, False]
    assert runs[0][1] == runs[1][1]
