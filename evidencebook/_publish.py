"""What the site publishes for people and programs that re-use the review: the Atom feed of evidence
versions, the cite line, schema.org metadata, Frictionless data packages and static JSON.

Each artefact is built by a pure function from the evidence (its manifest, changelog, tables and briefs);
:mod:`._sphinx` only writes them into the built site (:func:`publish_site`).  The site's layout:

``feed.xml``                          one Atom entry per evidence version (What's new, the triggers fired)
``data/``                             the current evidence: its CSV tables, ``datapackage.json``,
                                      ``studies.json``, ``findings.json``, ``manifest.json`` and
                                      ``briefs/<region>.json`` (what each region's brief shows)
``evidence-versions/vNNNN/``          each kept version's studies and findings, with a ``datapackage.json``

Heavy imports (pandas, pandera, feedgen) happen inside the functions that need them: the Sphinx extension
imports this module on every build.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    import pandas as pd

    from ._briefs import Brief
    from ._cache import DiskCache
    from ._config import Settings
    from ._evidence import Evidence

__all__ = ["DATA_TABLES", "REVIEW_TITLE", "brief_content", "cite_as", "data_package", "evidence_feed",
           "feed_entries", "json_ld", "json_ld_script", "publish_if_changed", "publish_site", "table_schema"]

# The review as the site names it (_config.yml's title, book/intro.md's heading).
REVIEW_TITLE = "Peer support in behavioral health: a living evidence review"
AUTHOR = "The evidencebook review team"  # _config.yml's author
LICENSE = "MIT"  # pyproject.toml's licence: the project publishes no other
LICENSE_URL = "https://spdx.org/licenses/MIT.html"
DESCRIPTION = ("A living systematic review of peer support in behavioral health, built from a Zotero library: "
               "evidence tables with a quote for every finding, a synthesis with GRADE certainty, state policy facts, "
               "and a policy brief for every US state and region.")

# The evidence tables a data package describes, with the pandera schema each is declared by (problems.csv, the
# coding problems of the snapshot, is a report on the library, not evidence, and has no schema).
DATA_TABLES = ("studies.csv", "outcomes.csv", "state_policy.csv", "regions.csv", "risk_of_bias.csv")
_TITLES = {"studies.csv": "Studies: one row per Zotero item screened for the review",
           "outcomes.csv": "Findings: one row per finding, effect or narrative, with its quote",
           "state_policy.csv": "State policy facts: one row per sourced fact",
           "regions.csv": "Regions: every region a brief can be made for",
           "risk_of_bias.csv": "Risk of bias: one row per RoB 2 / ROBINS-I domain judged"}
# Rows of one table that name a row of another (checked by frictionless when it validates the package).
_FOREIGN_KEYS = {"outcomes.csv": [("study_id", "studies", "study_id")],
                 "risk_of_bias.csv": [("study_id", "studies", "study_id")]}
# How evidencebook writes every CSV (evidence/README.md): a text cell a spreadsheet would run gets a quote.
_CSV_RULE = ("A text cell that starts with =, +, -, @, a tab or a carriage return (after any single quotes) is "
             "written with one more single quote in front, so that no spreadsheet runs it as a formula; remove the "
             "first character of a cell matching ^'+[=+\\-@\\t\\r] to read it as typed.")


# -- addresses and the cite line -----------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """Where the site is: ``url`` (``site_url``, '' when none is configured) and the way from a page to the root."""

    url: str
    root: str = ""  # '', '../', '../../': from the page being written to the site's root

    def href(self, path: str) -> str:
        """``path`` (relative to the site's root) as a link: absolute on a configured site, else from the page."""
        return f"{self.url.rstrip('/')}/{path}" if self.url else f"{self.root}{path}" or "./"


def cite_as(version_label: str, address: str = "", part: str = "", built: dt.date | None = None) -> str:
    """The one wording of "cite this version", for the site's pages and each brief: the review, the part cited (a
    brief's title), the evidence version with its date and hash, the build date when it differs from the
    evidence's, and the web address ('' when no site is configured: then nothing is claimed)."""
    parts = [REVIEW_TITLE, part, version_label, f"Built {built.isoformat()}" if built else "", address]
    return ". ".join(p.rstrip(".") for p in parts if p) + ("" if address else ".")


def version_label(manifest: Mapping[str, Any]) -> str:
    """'Evidence version 8 (2026-12-05, 4dd2c2242660)': how a version is named wherever it is cited."""
    return f"Evidence version {manifest['evidence_version']} ({manifest['date']}, {str(manifest['content_hash'])[:12]})"


# -- the feed ----------------------------------------------------------------------------------


# What XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/U+FFFF): lxml refuses the whole feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """``text`` with every character XML cannot hold shown as its code point, e.g. '[U+000B]' (as the pages show
    invisible characters), so that a character typed into Zotero never stops the feed from being written."""
    return _NOT_XML.sub(lambda found: f"[U+{ord(found[0]):04X}]", text)


def _entry_id(site_url: str, number: int) -> str:
    """An entry's id: never changes between builds.  On a configured site, the address of the version's section of
    What's new; without one, a UUID derived from the review's title and the version number."""
    if site_url:
        return f"{site_url.rstrip('/')}/book/whats-new.html#version-{number}"
    return uuid.uuid5(uuid.NAMESPACE_URL, f"evidencebook:{REVIEW_TITLE}#version-{number}").urn


def _named(ids: list[str], keys: Mapping[str, str], limit: int = 12) -> str:
    names = [f"{k} ({keys[k]})" if k in keys else k for k in ids]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def feed_entries(changelog: list[dict[str, Any]], triggers: Mapping[int, list[str] | None],
                 site_url: str = "") -> list[dict[str, Any]]:
    """One entry per evidence version, newest first: ``id``, ``number``, ``title``, ``date``, ``link`` (its section of
    What's new) and ``summary`` (studies added and removed by key, findings added, updated and removed, and the
    Cochrane triggers fired; ``triggers[n]`` None when version n could not be compared with the one before)."""
    site = _Site(site_url)
    entries = []
    for entry in reversed(changelog):
        number = int(entry["evidence_version"])
        keys = entry.get("citation_keys", {})
        studies, findings = entry.get("studies", {}), entry.get("outcomes", {})
        lines = [f"Evidence version {number} ({entry['date']}), synced from Zotero library version "
                 f"{entry.get('zotero_library_version', '?')}."]
        for what in ("added", "removed"):
            ids = list(studies.get(what, []))
            lines.append(f"Studies {what}: {len(ids)}{': ' + _named(ids, keys) if ids else ''}.")
        lines.append("Findings: " + ", ".join(f"{len(findings.get(w, []))} {w}" for w in ("added", "updated", "removed"))
                     + f"; studies updated: {len(studies.get('updated', []))}.")
        fired = triggers.get(number)
        if fired is None:
            lines.append("Cochrane triggers: not computed (no earlier kept version to compare with).")
        elif fired:
            lines.append(f"Cochrane triggers fired ({len(fired)}): " + "; ".join(fired) + ".")
        else:
            lines.append("Cochrane triggers: none fired (no outcome changed in a way that calls for a new citable "
                         "version).")
        entries.append({"id": _entry_id(site_url, number), "number": number, "date": str(entry["date"]),
                        "title": f"Evidence version {number} ({entry['date']})",
                        "link": site.href(f"book/whats-new.html#version-{number}"), "summary": "\n".join(lines)})
    return entries


def evidence_feed(entries: list[dict[str, Any]], site_url: str = "") -> bytes:
    """The Atom feed of ``entries`` (as :func:`feed_entries` gives them): the same bytes for the same entries."""
    from feedgen.feed import FeedGenerator

    def when(day: str) -> dt.datetime:  # versions carry a date: midnight UTC, the same in every build
        return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0, 0), tzinfo=dt.timezone.utc)

    site = _Site(site_url)
    feed = FeedGenerator()
    feed.id(site_url.rstrip("/") + "/" if site_url else uuid.uuid5(uuid.NAMESPACE_URL, f"evidencebook:{REVIEW_TITLE}").urn)
    feed.title(f"{REVIEW_TITLE}: evidence versions")
    feed.subtitle("One entry per evidence version: the studies and findings it changed, and the changes Cochrane's "
                  "guidance on living reviews treats as triggers for a new citable version.")
    feed.author({"name": AUTHOR})
    feed.link(href=site.href("feed.xml"), rel="self", type="application/atom+xml")
    feed.link(href=site.href("book/whats-new.html"), rel="alternate", type="text/html")
    feed.language("en")
    feed.rights(f"{LICENSE} licence")
    feed.generator("evidencebook")  # no version: a new feedgen must not change the feed
    feed.updated(when(entries[0]["date"]) if entries else when("2000-01-01"))
    for item in reversed(entries):  # feedgen prepends: the newest ends up first
        added = feed.add_entry()
        added.id(item["id"])
        added.title(_xml_text(item["title"]))
        added.link(href=item["link"], rel="alternate", type="text/html")
        added.updated(when(item["date"]))
        added.published(when(item["date"]))
        added.summary(_xml_text(item["summary"]))
    return bytes(feed.atom_str(pretty=True))


def version_triggers(settings: "Settings", numbers: Iterable[int]) -> dict[int, list[str] | None]:
    """Per kept evidence version, the Cochrane triggers it fired ('question: trigger'), from its changes since the
    version before (:func:`~evidencebook._living.version_status_changes`, kept in the build cache; What's new reads
    the same); None when the version before is not kept or a version cannot be recomputed."""
    from ._living import version_status_changes

    numbers = sorted(numbers)
    kept = set(numbers)
    out: dict[int, list[str] | None] = {}
    for n in numbers:
        if n - 1 not in kept:
            out[n] = None
            continue
        try:
            changes = version_status_changes(settings, n)
        except Exception:  # noqa: BLE001 - What's new names the version that cannot be recomputed; here: not computed
            out[n] = None
            continue
        fired = changes[changes["triggers"] != ""] if "triggers" in changes else changes.iloc[0:0]
        out[n] = [f"{r['outcome']}: {r['triggers']}" for r in fired.to_dict("records")]
    return out


# -- schema.org --------------------------------------------------------------------------------


def json_ld(manifest: Mapping[str, Any], site_url: str = "", root: str = "",
            files: Iterable[str] = DATA_TABLES) -> dict[str, Any]:
    """schema.org metadata for a page: the review (ScholarlyArticle) and its evidence (Dataset, with a download of
    each table and of the data package).  Links are absolute on a configured site, else relative to the page
    (``root`` leads from the page to the site's root)."""
    site = _Site(site_url, root)
    label = version_label(manifest)
    dataset_id = site.href("data/") + "#dataset"
    author = {"@type": "Organization", "name": AUTHOR}
    downloads = [{"@type": "DataDownload", "name": name, "encodingFormat": "text/csv",
                  "contentUrl": site.href(f"data/{name}")} for name in files]
    downloads += [{"@type": "DataDownload", "name": name, "encodingFormat": "application/json",
                   "contentUrl": site.href(f"data/{name}")}
                  for name in ("datapackage.json", "studies.json", "findings.json")]
    dataset = {"@type": "Dataset", "@id": dataset_id, "name": f"{REVIEW_TITLE}: evidence tables",
               "description": ("The evidence tables of the review, derived from its Zotero library: studies, "
                               "findings with a quote each, state policy facts, regions and risk of bias. " + label + "."),
               "version": str(manifest["evidence_version"]), "dateModified": str(manifest["date"]),
               "url": site.href("data/"), "license": LICENSE_URL, "creator": author, "isAccessibleForFree": True,
               "distribution": downloads}
    article = {"@type": "ScholarlyArticle", "@id": site.href("") + "#review", "headline": REVIEW_TITLE,
               "name": REVIEW_TITLE, "description": DESCRIPTION, "version": str(manifest["evidence_version"]),
               "dateModified": str(manifest["date"]), "url": site.href(""), "author": author,
               "license": LICENSE_URL, "isBasedOn": {"@id": dataset_id},
               # how to cite it (schema.org's `citation` would be the works it cites)
               "creditText": cite_as(label, site_url)}
    return {"@context": "https://schema.org", "@graph": [article, dataset]}


def json_ld_script(data: Mapping[str, Any]) -> str:
    """``data`` as a ``<script type="application/ld+json">`` element that no text in it can end early: ``<``,
    ``>`` and ``&`` are written as JSON escapes, so a title holding ``</script>`` stays inside the JSON."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/ld+json" class="eb-json-ld">{text}</script>'


# -- Frictionless data packages -----------------------------------------------------------------


def _schema_classes() -> dict[str, Any]:
    from ._schemas import OutcomeSchema, PolicyFactSchema, RegionSchema, RiskOfBiasSchema, StudySchema

    return {"studies.csv": StudySchema, "outcomes.csv": OutcomeSchema, "state_policy.csv": PolicyFactSchema,
            "regions.csv": RegionSchema, "risk_of_bias.csv": RiskOfBiasSchema}


def _field_type(dtype: Any) -> str:
    name = str(dtype).lower()
    return ("string" if name.startswith("str") or name == "object" else "number" if name.startswith("float")
            else "integer" if name.startswith(("int", "uint")) else "boolean" if name.startswith("bool") else "any")


@functools.lru_cache(maxsize=None)
def _required(model: Any) -> frozenset[str]:
    """The columns of pandera ``model`` that must hold a value: not nullable, and their checks reject an empty cell
    (how the CSV writes a missing value).  Once per schema: every version's package asks again."""
    import pandas as pd
    import pandera.errors

    def accepts_empty(name: str, column: Any) -> bool:
        try:
            column.validate(pd.DataFrame({name: [""]}))
        except (pandera.errors.SchemaError, pandera.errors.SchemaErrors, ValueError, TypeError):
            return False
        return True

    return frozenset(name for name, column in model.to_schema().columns.items()
                     if not column.nullable and not accepts_empty(name, column))


def table_schema(model: Any, header: list[str]) -> dict[str, Any]:
    """The Table Schema of a table whose columns are ``header``, generated from its pandera ``model``: each declared
    column's type, description, and checks (a pattern, a vocabulary, a minimum length, uniqueness, required when
    pandera rejects an empty cell); a column the model does not declare is described as text.  Checks on whole
    rows, which Table Schema cannot express, are named in the description."""
    schema = model.to_schema()
    fields = []
    for name in header:
        column = schema.columns.get(name)
        if column is None:
            fields.append({"name": name, "type": "string",
                           "description": "Not declared in the pandera schema (evidencebook/_schemas.py): text."})
            continue
        field: dict[str, Any] = {"name": name, "type": _field_type(column.dtype)}
        if column.description:
            field["description"] = column.description
        constraints: dict[str, Any] = {}
        if name in _required(model):
            constraints["required"] = True
        if column.unique:
            constraints["unique"] = True
        for check in column.checks:
            stats = check.statistics or {}
            if check.name == "str_matches":
                constraints["pattern"] = stats["pattern"]
            elif check.name == "isin":
                # an empty cell is a missing value to Table Schema: the vocabulary is what a filled cell may hold
                constraints["enum"] = [v for v in stats["allowed_values"] if v != ""]
            elif check.name == "str_length" and stats.get("min_value") is not None:
                constraints["minLength"] = int(stats["min_value"])
        if constraints:
            field["constraints"] = constraints
        fields.append(field)
    out: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    keys = [n for n in header if n in schema.columns and schema.columns[n].unique]
    if keys:
        out["primaryKey"] = [keys[0]]
    return out


def csv_header(text: str) -> list[str]:
    """The column names of a CSV text (its first row)."""
    return next(csv.reader(io.StringIO(text)), [])


def data_package(manifest: Mapping[str, Any], headers: Mapping[str, list[str]], site_url: str = "",
                 cache: "DiskCache | None" = None) -> dict[str, Any]:
    """The Frictionless data package (``datapackage.json``) of one evidence version: a resource per table in
    ``headers`` (file name -> its columns), each with the Table Schema generated from its pandera schema, and the
    SHA-256 the manifest records for the file.  ``cache`` keeps the resources made for a set of columns (made from
    the code alone: pandera, a second to import, is then not needed again)."""
    from ._cache import DiskCache

    table_columns = json.dumps(list(headers.items()))
    resources = json.loads((cache or DiskCache(None)).get(
        "datapackage-" + hashlib.sha256(table_columns.encode()).hexdigest()[:12], table_columns,
        lambda: json.dumps(_resources(headers))))
    for resource in resources:
        digest = manifest.get("files", {}).get(resource["path"])
        if digest:
            resource["hash"] = f"sha256:{digest}"
    number = int(manifest["evidence_version"])
    package = {"profile": "tabular-data-package", "name": f"peer-support-evidence-v{number}",
               "title": f"{REVIEW_TITLE}: evidence version {number}", "description": DESCRIPTION + " " + _CSV_RULE,
               "version": str(number), "created": f"{manifest['date']}T00:00:00Z",
               "licenses": [{"name": LICENSE, "path": LICENSE_URL, "title": "MIT License"}],
               "contributors": [{"title": AUTHOR, "role": "author"}],
               "keywords": ["peer support", "behavioral health", "living systematic review", "evidence synthesis"],
               "resources": resources}
    if site_url:
        package["homepage"] = site_url.rstrip("/") + "/"
    return package


def _resources(headers: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """The data package's resources (without the files' hashes) of tables with these columns."""
    models = _schema_classes()
    resources = []
    for name, header in headers.items():
        if name not in models:
            continue
        schema = table_schema(models[name], header)
        checks = list(models[name].to_schema().checks)
        for column, table, key in _FOREIGN_KEYS.get(name, []):
            if table + ".csv" in headers and column in header:
                schema.setdefault("foreignKeys", []).append(
                    {"fields": [column], "reference": {"resource": table, "fields": [key]}})
        description = _CSV_RULE
        if checks:
            description += (" Checks on whole rows (evidencebook/_schemas.py): "
                            + ", ".join(c.name.replace("_", " ") for c in checks) + ".")
        resources.append({"name": name.removesuffix(".csv").replace("_", "-"), "path": name,
                          "profile": "tabular-data-resource", "title": _TITLES.get(name, name),
                          "description": description, "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "schema": schema})
    for resource in resources:  # a foreign key names a resource by its name: 'studies'
        for key in resource["schema"].get("foreignKeys", []):
            key["reference"]["resource"] = key["reference"]["resource"].replace("_", "-")
    return resources


# -- static JSON -------------------------------------------------------------------------------


def _records(frame: "pd.DataFrame") -> list[dict[str, Any]]:
    """Rows as JSON objects: numbers as numbers, a missing number as null, text as written."""
    return list(json.loads(frame.to_json(orient="records", force_ascii=False, double_precision=15)))


def studies_json(evidence: "Evidence") -> dict[str, Any]:
    """Every screened study (the columns of studies.csv), with ``included`` (included at the last stage)."""
    studies = evidence.studies.assign(included=evidence.studies["screening"].str.endswith(":include"))
    return {**_head(evidence.manifest), "studies": _records(studies)}


def findings_json(evidence: "Evidence") -> dict[str, Any]:
    """Every finding (the columns of outcomes.csv; estimates and counts as numbers, null when not reported)."""
    return {**_head(evidence.manifest), "findings": _records(evidence.outcomes)}


def _head(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {"evidence_version": int(manifest["evidence_version"]), "date": str(manifest["date"]),
            "content_hash": str(manifest["content_hash"]), "version_label": version_label(manifest)}


def _fact(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("" if row.get(k) is None else str(row.get(k)))
            for k in ("fact_id", "fact", "value", "as_of", "source_type", "source_url")}


def brief_content(brief: "Brief") -> dict[str, Any]:
    """What a region's brief shows, for programs: the bottom line (sentences), each lever with its status (Medicaid
    coverage per service) or its facts (value, date, source), and the local results (each study with what its
    findings found).  Read through :class:`~evidencebook._briefs.Brief`'s public methods only, so the national line
    beside each lever (drawn from its private facts) is left out."""
    from ._brief_levers import LEVERS

    coverage = brief.coverage()
    lever_facts = brief.lever_facts()
    levers = []
    for lever, label in LEVERS.items():
        entry: dict[str, Any] = {"lever": lever, "label": label}
        if lever.startswith("coverage"):
            c = coverage[lever.split("-")[1]]
            entry.update(status=c.status, as_of=c.as_of, fact_ids=list(c.fact_ids),
                         says=dict(c.says), history=list(c.history))
        else:
            facts = lever_facts.get(lever)
            entry["facts"] = [] if facts is None else [_fact(f) for f in facts.to_dict("records")]
            entry["status"] = "documented" if entry["facts"] else f"not documented as of {brief.evidence_date}"
        levers.append(entry)
    local = []
    for study in brief.local_results():
        reports = study["reports"]
        local.append({"study": study["study"], "in_this_region": bool(study["mine"]),
                      "reports": [{"study_id": r["study_id"], "citation_key": r["citation_key"], "title": r["title"],
                                   "year": r["year"]} for r in reports.to_dict("records")],
                      "findings": [{k: f[k] for k in ("finding_id", "outcome", "domain", "comparison", "direction",
                                                      "statistic")} for f in study["findings"]],
                      "recommendations": study["recommendations"], "descriptions": study["descriptions"]})
    return {**_head(brief.evidence.manifest),
            "region": {"region_id": brief.region_id, "name": str(brief.region["name"]),
                       "kind": str(brief.region["kind"]), "state_code": brief.state_code,
                       "counties": brief.counties},
            "title": brief.title, "url": brief.brief_url, "bottom_line": list(brief.bottom_line_sentences()),
            "levers": levers, "local_results": local}


# -- writing it all ---------------------------------------------------------------------------


def _write(path: Path, data: str | bytes) -> bool:
    """Write ``path`` when its content changes (an unchanged build rewrites nothing); True when written."""
    from ._cache import write_atomic

    content = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == content:
        return False
    write_atomic(path, content)
    return True


def _dump(data: Any) -> str:
    """Readable UTF-8 JSON; where a text holds what UTF-8 cannot (a lone surrogate Zotero sent), every non-ASCII
    character is escaped instead, so the file can always be written and read."""
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, indent=1) + "\n"
    return text


def publish_site(settings: "Settings", site: Path, briefs: bool = True) -> list[Path]:
    """Write the feed, the current evidence's data package and JSON, and a data package into every published
    version folder (``site/evidence-versions/vNNNN/``).  Returns the files written (changed)."""
    from ._cache import DiskCache
    from ._evidence import evidence_versions, load_evidence, read_changelog, read_manifest, version_folder

    written = []

    def put(path: Path, data: str | bytes) -> None:
        if _write(path, data):
            written.append(path)

    folder = settings.evidence
    changelog = read_changelog(settings)
    kept = evidence_versions(settings)
    triggers = version_triggers(settings, kept) if changelog else {}
    put(site / "feed.xml", evidence_feed(feed_entries(changelog, triggers, settings.site_url), settings.site_url))
    evidence = load_evidence(settings)  # checked against the manifest's hashes
    data = site / "data"
    headers = {}
    for name in DATA_TABLES:
        text = (folder / name).read_bytes()
        put(data / name, text)
        headers[name] = csv_header(text.decode("utf-8"))
    put(data / "manifest.json", (folder / "manifest.json").read_bytes())
    cache = DiskCache(settings.cache_dir)
    put(data / "datapackage.json", _dump(data_package(evidence.manifest, headers, settings.site_url, cache)))
    put(data / "studies.json", _dump(studies_json(evidence)))
    put(data / "findings.json", _dump(findings_json(evidence)))
    for number in kept:
        archive = site / "evidence-versions" / f"v{number:04d}"
        source = folder / version_folder(number)
        manifest = read_manifest(settings, number)
        version_headers = {p.name: csv_header(p.read_text(encoding="utf-8")) for p in sorted(source.glob("*.csv"))}
        put(archive / "datapackage.json", _dump(data_package(manifest, version_headers, settings.site_url, cache)))
    if briefs:
        for path, content in brief_files(settings, evidence).items():
            put(data / "briefs" / path, _dump(content))
    return written


def _published_from(settings: "Settings") -> str:
    """A hash of everything :func:`publish_site` reads: the code, the site's address, the regions, and the evidence's
    manifest, changelog, judgements and kept versions (each table is named, with its hash, in the manifest)."""
    from ._config import code_version

    digest = hashlib.sha256(code_version().encode() + settings.site_url.encode()
                            + json.dumps(settings.regions, sort_keys=True, default=str).encode())
    folder = settings.evidence
    for path in (folder / "manifest.json", folder / "changelog.json", folder / "judgements.toml",
                 *sorted((folder / "versions").glob("v*/manifest.json"))):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0"
                      + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def publish_if_changed(settings: "Settings", site: Path) -> bool:
    """:func:`publish_site`, only when what it is made from changed since it last wrote into ``site`` (a marker
    file keeps the hash): a build that changes nothing stays quick.  Returns whether it published."""
    digest = _published_from(settings)
    marker = site / "data" / ".published"
    if marker.is_file() and marker.read_text(encoding="utf-8") == digest and (site / "feed.xml").is_file():
        return False
    publish_site(settings, site)
    marker.write_text(digest, encoding="utf-8")
    return True


def brief_files(settings: "Settings", evidence: "Evidence") -> dict[str, dict[str, Any]]:
    """``<region>.json`` -> :func:`brief_content` for every region a brief can be made for.

    Each region's content (all but the version's label, which is the same for all) is kept in the build's disk
    cache under a hash of what it is drawn from (:func:`region_json_key`): a sync that changes one state's facts
    or one study computes the content of the regions that read it, not of all 52."""
    import pandas as pd

    from ._brief_text import national_summary
    from ._briefs import Brief, judgements_for, judgements_hash, kept_on_disk
    from ._cache import DiskCache
    from ._regions import region_records

    records = region_records(settings.regions)
    judgements = judgements_for(settings, evidence)
    # The same for every region, and the briefs of this build already kept it on disk (same name and key).
    national = kept_on_disk(settings.cache_dir, "national",
                            str(evidence.manifest.get("content_hash", "")) + judgements_hash(judgements),
                            lambda: national_summary(evidence, judgements))
    substate = tuple(r for r in records if r["kind"] == "sub-state")
    today = dt.date.fromisoformat(str(evidence.manifest["date"]))  # the evidence's date: the same file every build
    head = _head(evidence.manifest)
    keys = region_json_keys(settings, evidence, records, national)
    cache = DiskCache(settings.cache_dir)
    out = {}
    for record in records:
        def make(record: dict[str, Any] = record) -> str:
            brief = Brief(pd.Series(record), evidence, settings.site_url, judgements=judgements, substate=substate,
                          national=national, today=today, pdf=False)
            content = brief_content(brief)
            return json.dumps({k: v for k, v in content.items() if k not in head})

        region_id = str(record["region_id"])
        # The name holds a hash of the region's id: a new entry replaces the older ones of its name only, and
        # 'CA' must not replace 'CA-bay-area'.
        name = "brief-json-" + hashlib.sha256(region_id.encode("utf-8")).hexdigest()[:12]
        out[f"{region_id}.json"] = {**head, **json.loads(cache.get(name, keys[region_id], make))}
    return out


def region_json_keys(settings: "Settings", evidence: "Evidence", records: list[dict[str, Any]],
                     national: str) -> dict[str, str]:
    """Per region, a hash of what its JSON content (:func:`brief_content` without the version's label) is drawn
    from: the evidence slices the region reads (:func:`._briefs.region_input_keys`), the summary of findings'
    sentences its bottom line shows, the evidence's date (what 'not documented as of' names), the site's
    address and the code."""
    from ._briefs import region_input_keys
    from ._config import code_version

    common = json.dumps([json.loads(national)["sentences"][:2], str(evidence.manifest.get("date", "")),
                         settings.site_url, code_version()])
    return {region_id: hashlib.sha256(f"{common}\0{key}".encode("utf-8")).hexdigest()
            for region_id, key in region_input_keys(evidence, records).items()}
