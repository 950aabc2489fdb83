"""The versioned evidence base: tables derived from the Zotero snapshot, and their manifest.

``evidence/`` holds, besides the snapshot (``zotero/``), plain files a diff can read:

``studies.csv``       one row per screened item
``outcomes.csv``      one row per finding (effect or narrative), with its quote
``state_policy.csv``  one row per sourced policy fact
``regions.csv``       every region a brief can be made for
``problems.csv``      every coding problem found in the snapshot
``risk_of_bias.csv``  one row per RoB 2 / ROBINS-I domain judged (and the overall), per study or study x finding
``references.bib``    the bibliography, generated from the items
``manifest.json``     evidence version, Zotero library version, and a hash of every file
``versions/vNNNN/``   each evidence version's studies and findings with its manifest, kept so
                      that old versions stay readable and What's new can compare them

Files are only rewritten when their content changes, so an unchanged rebuild leaves the
tree (and every timestamp) as it was.  The evidence version goes up by one each time the
content hash changes.

This module owns the folder (building, loading, versions and the changelog); the tables are derived
in ``_tables`` and their files written and read back in ``_files``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._cache import DiskCache, keep_content_in
from ._coding import Coding, Published, code_items
from ._config import Settings
from ._errors import EvidenceError, Problem
from ._files import exact_text, read_checked, read_csv, read_table, references_bib, sha256, write_csv
from ._regions import region_records
from ._tables import RISK_OF_BIAS_COLUMNS, derive_tables, typed_outcomes, validate_tables
from ._zotero import Snapshot, read_snapshot, write_snapshot_files

__all__ = ["BuildReport", "Evidence", "EvidenceVersion", "build_evidence", "changes_between",
           "field_changes", "read_changelog", "read_manifest",
           "evidence_versions", "load_evidence", "load_version", "published_identities"]

TABLES = ("studies.csv", "outcomes.csv", "state_policy.csv", "regions.csv", "problems.csv", "risk_of_bias.csv")
FILES = (*TABLES, "references.bib")
ARCHIVED = ("studies.csv", "outcomes.csv")  # what a later version is compared with


def version_folder(number: int) -> str:
    """The entry of ``evidence/`` that keeps evidence version ``number``."""
    return f"versions/v{number:04d}"


@dataclass(frozen=True)
class Evidence:
    """The evidence base as loaded for synthesis, the book and the briefs."""

    studies: pd.DataFrame
    outcomes: pd.DataFrame
    policy: pd.DataFrame
    regions: pd.DataFrame
    problems: pd.DataFrame
    manifest: dict[str, Any]
    # RoB 2 / ROBINS-I judgements, domain by domain (empty when nothing is assessed)
    risk_of_bias: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RISK_OF_BIAS_COLUMNS))

    @property
    def version_label(self) -> str:
        m = self.manifest
        return f"Evidence version {m['evidence_version']} ({m['date']}, {m['content_hash'][:12]})"

    @property
    def included(self) -> pd.DataFrame:
        """Studies included at the last screening stage (gray literature too)."""
        return self.studies[self.studies["screening"].str.endswith(":include")]


def _diff_rows(old: pd.DataFrame, new: pd.DataFrame, key: str) -> dict[str, list[str]]:
    # A column added since the old version is a change of the tables' shape, not of every row.
    columns = [c for c in new.columns if not len(old) or c in old.columns]
    if not len(new) or new[key].duplicated().any() or (len(old) and old[key].duplicated().any()):
        return _diff_rows_by_record(old, new, key, columns)  # a key twice: the last row stands for it, as ever
    new_keys = set(new[key])
    if not len(old):  # the first version: every row is new
        return {"added": sorted(new_keys), "updated": [], "removed": []}
    old_keys = set(old[key])
    both = sorted(new_keys & old_keys)
    # Column by column over the rows both have (as dicts, 50,000 findings took half a minute to compare).
    before = old.set_index(key).reindex(index=both, columns=[c for c in columns if c != key], fill_value="")
    after = new.set_index(key).reindex(index=both, columns=[c for c in columns if c != key])
    differs = (before.fillna("").astype(str) != after.fillna("").astype(str)).any(axis=1) if both else pd.Series([], dtype=bool)
    return {"added": sorted(new_keys - old_keys), "updated": sorted(differs.index[differs]),
            "removed": sorted(old_keys - new_keys)}


def _diff_rows_by_record(old: pd.DataFrame, new: pd.DataFrame, key: str, columns: list[str]) -> dict[str, list[str]]:
    old_rows = {r[key]: {c: r.get(c, "") for c in columns} for r in old.to_dict("records")} if len(old) else {}
    new_rows = {r[key]: {c: r[c] for c in columns} for r in new.to_dict("records")}
    return {
        "added": sorted(new_rows.keys() - old_rows.keys()),
        "updated": sorted(k for k in new_rows.keys() & old_rows.keys() if new_rows[k] != old_rows[k]),
        "removed": sorted(old_rows.keys() - new_rows.keys()),
    }


def _no_change() -> dict[str, list[str]]:
    return {"added": [], "updated": [], "removed": []}


def changes_between(old: dict[str, str | None], new: dict[str, str]) -> dict[str, Any]:
    """Studies (item keys) and findings (ids) added, updated and removed between two sets of table texts,
    with the citation key of every study named (so a removed study can still be named)."""
    if old.get("studies.csv") == new["studies.csv"] and old.get("outcomes.csv") == new["outcomes.csv"]:
        return {"studies": _no_change(), "outcomes": _no_change(), "citation_keys": {}}  # a rebuild
    old_studies, new_studies = read_table(old.get("studies.csv")), read_table(new["studies.csv"])
    studies = _diff_rows(old_studies, new_studies, "study_id")
    named = {k for ids in studies.values() for k in ids}
    keys = {k: c for frame in (old_studies, new_studies) if len(frame)
            for k, c in zip(frame["study_id"], frame["citation_key"]) if k in named}
    return {"studies": studies, "outcomes": _diff_rows(read_table(old.get("outcomes.csv")), read_table(new["outcomes.csv"]),
                                                      "finding_id"),
            "citation_keys": dict(sorted(keys.items()))}


def field_changes(old_text: str, new: pd.DataFrame, key: str) -> dict[str, list[tuple[str, str, str]]]:
    """For each row of a table (its written text before, the derived frame after) whose values differ:
    the fields that change, with their old and new text as the CSV holds them."""
    before = {r[key]: r for r in read_table(old_text).to_dict("records")} if old_text else {}
    after = read_table(write_csv(new))
    columns = [c for c in after.columns if c != key]
    out = {}
    for r in after.to_dict("records"):
        was = before.get(r[key])
        if was is not None:
            moved = [(c, str(was.get(c, "")), str(r[c])) for c in columns if str(was.get(c, "")) != str(r[c])]
            if moved:
                out[r[key]] = moved
    return out


def read_changelog(settings: Settings) -> list[dict[str, Any]]:
    """Every evidence version's entry in ``changelog.json``, oldest first (``[]`` before the first sync).

    Entries name studies by item key and findings by id, with ``citation_keys`` for the studies.
    Entries written before that (studies as ``"KEY (citationkey)"``) are read into the same shape.
    """
    path = settings.evidence / "changelog.json"
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    for entry in entries:
        keys = entry.setdefault("citation_keys", {})
        for what, names in entry.get("studies", {}).items():
            ids = []
            for name in names:
                study_id, _, rest = str(name).partition(" (")
                if rest:
                    keys.setdefault(study_id, rest.rstrip(")"))
                ids.append(study_id)
            entry["studies"][what] = ids
    return entries


def read_manifest(settings: Settings, number: int | None = None) -> dict[str, Any]:
    """The manifest of the current evidence (or of kept version ``number``), or a clear EvidenceError."""
    path = settings.evidence / (version_folder(number) if number is not None else "") / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"{path}: missing. Run 'evidencebook sync' to rebuild the evidence tables.") from None
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}: corrupt ({exc}). Restore it with 'git checkout -- {path}'.") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):  # every file is checked by it
        raise EvidenceError(f"{path}: corrupt (no hash of each file). Restore it with 'git checkout -- {path}'.")
    return manifest


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_evidence` did (or, with ``dry_run``, would do)."""

    manifest: dict[str, Any]
    changed: list[str]
    problems: list[Problem]
    changes: dict[str, Any]
    tables: dict[str, pd.DataFrame] | None = None  # the tables derived (what a dry run would write)


def published_identities(texts: dict[str, str | None]) -> Published:
    """The citation keys and finding ids that the current ``studies.csv`` and ``outcomes.csv`` publish.

    A table that is missing or cannot be read publishes nothing (the tables are rebuilt from the snapshot).
    """
    def rows(name: str, columns: tuple[str, str]) -> list[tuple[str, str]]:
        try:
            table = read_table(texts.get(name))
        except (ValueError, pd.errors.ParserError):
            return []
        return list(zip(table[columns[0]], table[columns[1]])) if set(columns) <= set(table.columns) else []

    return Published(citation_keys=dict(rows("studies.csv", ("study_id", "citation_key"))),
                     finding_ids=dict(rows("outcomes.csv", ("finding_id", "study_id"))))


def build_evidence(settings: Settings, snapshot: Snapshot | None = None, today: dt.date | None = None,
                   write_snapshot: bool = False, dry_run: bool = False,
                   changed_items: set[str] | None = None) -> BuildReport:
    """Derive the evidence tables from a snapshot and swap in every file that changed.

    With ``write_snapshot`` the snapshot itself (``evidence/zotero/``) is replaced too, in
    the same atomic swap; ``changed_items`` (keys) lets unchanged item files be linked, not rewritten.  Nothing is written unless every table validates; coding problems
    are reported in ``problems.csv`` and returned, and the findings they affect are left out.
    An unchanged snapshot writes nothing at all.
    """
    from ._store import commit_entries, evidence_lock

    folder = settings.evidence
    cache = DiskCache(settings.cache_dir)
    with evidence_lock(folder):
        old_texts = {name: exact_text(folder / name) if (folder / name).is_file() else None for name in FILES}
        old = _current_manifest(folder)
        inputs = None
        if snapshot is None:
            inputs = _snapshot_inputs(settings)
            if not dry_run and cache.read(_DERIVED, inputs) == _evidence_state(folder, old_texts, old):
                # The files are what this snapshot derives (this code wrote them from it, and nothing has touched
                # them since): nothing to derive or write.  At 10,000 studies deriving took 20 s of every build.
                return BuildReport(old, [], _problems_of({"problems.csv": read_table(old_texts["problems.csv"])}),
                                   {"studies": _no_change(), "outcomes": _no_change(), "citation_keys": {}})
            snapshot = read_snapshot(settings.snapshot)
            write_snapshot = False
        coding, tables = _derive(settings, snapshot, old_texts)
        texts = {name: write_csv(table) for name, table in tables.items()}
        _validate_once(cache, tables, texts, old_texts, old)
        texts["references.bib"] = references_bib(snapshot.items, tables["studies.csv"])
        changes = changes_between(old_texts, texts)
        writes: dict[str, Any] = {name: texts[name] for name in FILES if texts[name] != old_texts[name]}
        manifest, logged = _manifest_and_log(settings, snapshot, old, texts, tables, coding, changes, today)
        writes.update(logged)
        archive = version_folder(int(manifest["evidence_version"]))
        if old.get("content_hash") != manifest["content_hash"] or not (folder / archive / "manifest.json").is_file():
            writes[archive] = _archive_writer(manifest, texts)
        if write_snapshot:
            writes["zotero"] = lambda target: write_snapshot_files(
                target, snapshot.items, snapshot.library, settings.snapshot if changed_items is not None else None,
                changed_items)
        if not dry_run:
            commit_entries(folder, writes)
            if inputs is not None or write_snapshot:  # evidence/zotero/ now holds the snapshot these files came from
                inputs = inputs or _snapshot_inputs(settings)
                now = {name: exact_text(folder / name) if (folder / name).is_file() else None for name in FILES}
                cache.write(_DERIVED, inputs, _evidence_state(folder, now, _current_manifest(folder)))
    return BuildReport(manifest, sorted(writes), _problems_of(tables), changes, tables)


_DERIVED = "evidence-derived"  # build cache: the snapshot's inputs -> the state of evidence/ they derived


def _snapshot_inputs(settings: Settings) -> str:
    """A hash of everything the tables are derived from besides the tables themselves: the snapshot's files
    (every item and the library), the configured regions and this package's code."""
    import hashlib

    from ._config import code_version

    digest = hashlib.sha256(f"{code_version()}\0{settings.regions!r}\0".encode())
    root = settings.snapshot
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _evidence_state(folder: Path, texts: dict[str, str | None], manifest: dict[str, Any]) -> str:
    """A hash of what ``evidence/`` holds that a derivation writes: the tables, the manifest, and whether the
    manifest's version is archived.  A table edited by hand, or a version not archived, differ from it."""
    import hashlib

    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
    for name in FILES:
        digest.update(f"\0{name}\0{texts.get(name) is None}\0".encode() + (texts.get(name) or "").encode())
    number = manifest.get("evidence_version")
    archived = number is not None and (folder / version_folder(int(number)) / "manifest.json").is_file()
    digest.update(f"\0archived {archived}".encode())
    return digest.hexdigest()


def _current_manifest(folder: Path) -> dict[str, Any]:
    """The manifest the last build wrote, or ``{}`` before the first (read as it is: a build replaces it)."""
    path = folder / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _derive(settings: Settings, snapshot: Snapshot, old_texts: dict[str, str | None],
            ) -> tuple[Coding, dict[str, pd.DataFrame]]:
    """The coding of the snapshot and the tables derived from it."""
    # What is published keeps its identity: a newcomer cannot take a finding id or citation key over.
    coding = code_items(snapshot.items, published_identities(old_texts), region_records(settings.regions))
    return coding, derive_tables(coding, settings.regions)


def _validate_once(cache: DiskCache, tables: dict[str, pd.DataFrame], texts: dict[str, str],
                   old_texts: dict[str, str | None], old: dict[str, Any]) -> None:
    """Validate the tables, or raise :class:`EvidenceError` listing every failure; nothing is written then.

    Tables the same as those this pipeline wrote (their hashes in the manifest), and already validated by this
    code's schemas (a marker in the build cache), are not validated again: the rebuild that changes nothing
    skips importing pandera.
    """
    hashes = {name: sha256(texts[name]) for name in tables}
    tables_hash = sha256(json.dumps(hashes, sort_keys=True))
    unchanged = all(texts[name] == old_texts[name] and old.get("files", {}).get(name) == hashes[name]
                    for name in tables)
    if unchanged and cache.read("validated", tables_hash) is not None:
        return
    failures = validate_tables(tables)
    if len(failures):
        raise EvidenceError("The derived tables do not validate; nothing was written:\n"
                            + failures.to_string(index=False))
    cache.write("validated", tables_hash, "")


def _manifest_and_log(settings: Settings, snapshot: Snapshot, old: dict[str, Any], texts: dict[str, str],
                      tables: dict[str, pd.DataFrame], coding: Coding, changes: dict[str, Any],
                      today: dt.date | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The manifest for these files, and what to write for it (the manifest, and the changelog when the
    evidence version goes up)."""
    hashes = {name: sha256(text) for name, text in texts.items()}
    # The evidence is what the files say: a Zotero edit that changes no table (an abstract, a PDF
    # annotation) is not a new evidence version; the library version is kept as provenance.
    content_hash = sha256(json.dumps(hashes, sort_keys=True))
    if old.get("content_hash") == content_hash:
        if old.get("zotero", {}).get("library_version") == snapshot.version:
            return old, {}
        manifest = {**old, "zotero": {**old["zotero"], "library_version": snapshot.version}}
        return manifest, {"manifest.json": json.dumps(manifest, indent=2, sort_keys=True) + "\n"}
    manifest = {
        "evidence_version": int(old.get("evidence_version", 0)) + 1,
        "date": (today or dt.datetime.now(dt.timezone.utc).date()).isoformat(),
        "content_hash": content_hash,
        "zotero": {"library_type": snapshot.library.get("type", settings.library_type),
                   "library_id": snapshot.library.get("id", settings.library_id),
                   "library_version": snapshot.version},
        "counts": _counts(tables, coding),
        "files": hashes,
    }
    changelog = read_changelog(settings)
    changelog.append({"evidence_version": manifest["evidence_version"], "date": manifest["date"],
                      "zotero_library_version": snapshot.version, **changes})
    return manifest, {"manifest.json": json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                      "changelog.json": json.dumps(changelog, indent=2, ensure_ascii=False) + "\n"}


def _counts(tables: dict[str, pd.DataFrame], coding: Coding) -> dict[str, int]:
    """What the manifest counts: studies, included studies, findings, estimates, facts, regions, assessments."""
    return {"studies": int(len(tables["studies.csv"])),
            "included": int(tables["studies.csv"]["screening"].str.endswith(":include").sum()),
            "outcomes": int(len(tables["outcomes.csv"])),
            "effect_estimates": int(tables["outcomes.csv"]["estimate"].notna().sum()),
            "policy_facts": int(len(tables["state_policy.csv"])),
            "regions": int(len(tables["regions.csv"])),
            "risk_of_bias_assessments": int(len(tables["risk_of_bias.csv"].drop_duplicates(
                ["study_id", "finding_id"]))),
            "coding_errors": len(coding.errors)}


def _problems_of(tables: dict[str, pd.DataFrame]) -> list[Problem]:
    """The coding problems, as ``problems.csv`` lists them."""
    return [Problem(r["item_key"], int(r["line"]), r["field"], r["message"], r["severity"])
            for r in tables["problems.csv"].to_dict("records")]


def _archive_writer(manifest: dict[str, Any], texts: dict[str, str]) -> Any:
    def write(target: Path) -> None:
        target.mkdir(parents=True)
        for name in ARCHIVED:
            (target / name).write_text(texts[name], encoding="utf-8")
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return write


@dataclass(frozen=True)
class EvidenceVersion:
    """An earlier (or the current) evidence version's studies and findings, as archived."""

    number: int
    manifest: dict[str, Any]
    studies: pd.DataFrame
    outcomes: pd.DataFrame


def evidence_versions(settings: Settings) -> list[int]:
    """The evidence versions kept in ``evidence/versions/``, oldest first."""
    folder = settings.evidence / "versions"
    found = (re.fullmatch(r"v(\d+)", p.name) for p in folder.iterdir()) if folder.is_dir() else ()
    return sorted(int(m[1]) for m in found if m)


def load_version(settings: Settings, number: int) -> EvidenceVersion:
    """Evidence version ``number`` as it was published, checked against its own manifest's hashes."""
    folder = settings.evidence / version_folder(number)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"evidence version {number} is not kept in {folder.parent}") from None
    frames = {name: read_csv(read_checked(folder / name, manifest["files"].get(name))) for name in ARCHIVED}
    keep_content_in(settings.cache_dir)  # a question's summary is kept there, by content (see _certainty)
    return EvidenceVersion(number, manifest, frames["studies.csv"], typed_outcomes(frames["outcomes.csv"]))


def load_evidence(settings: Settings) -> Evidence:
    """Load the evidence base, checking every file against the manifest's hashes.

    Raises :class:`EvidenceError` naming the file that is missing, corrupt or was edited
    outside the pipeline.
    """
    from ._store import finish_interrupted

    folder = settings.evidence
    finish_interrupted(folder)
    manifest = read_manifest(settings)
    frames = {name: read_csv(read_checked(folder / name, manifest["files"].get(name))) for name in TABLES}
    outcomes = typed_outcomes(frames["outcomes.csv"])
    regions = frames["regions.csv"]
    for col in ("n_local_studies", "n_policy_facts"):
        regions[col] = regions[col].astype(int)
    risk_of_bias = frames["risk_of_bias.csv"]
    risk_of_bias["note_line"] = pd.to_numeric(risk_of_bias["note_line"].replace("", None)).astype("Int64")
    keep_content_in(settings.cache_dir)  # a question's summary is kept there, by content (see _certainty)
    return Evidence(frames["studies.csv"], outcomes, frames["state_policy.csv"], regions,
                    frames["problems.csv"], manifest, risk_of_bias)

