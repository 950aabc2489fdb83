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
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._cache import DiskCache
from ._coding import BINARY_ARMS, CONTINUOUS_ARMS, RAW_FIELDS, Coding, Published, code_items
from ._config import Settings
from ._errors import EvidenceError, Problem
from ._regions import REGION_COLUMNS, region_records, region_studies, region_table, state_code
from ._zotero import Snapshot, read_snapshot, write_snapshot_files

__all__ = ["BuildReport", "Evidence", "EvidenceVersion", "build_evidence", "changes_between", "derive_tables",
           "field_changes", "read_changelog", "read_manifest",
           "evidence_versions", "load_evidence", "load_version", "published_identities", "validate_tables"]

TABLES = ("studies.csv", "outcomes.csv", "state_policy.csv", "regions.csv", "problems.csv", "risk_of_bias.csv")
FILES = (*TABLES, "references.bib")
ARCHIVED = ("studies.csv", "outcomes.csv")  # what a later version is compared with


def version_folder(number: int) -> str:
    """The entry of ``evidence/`` that keeps evidence version ``number``."""
    return f"versions/v{number:04d}"

STUDY_COLUMNS = [
    "study_id", "citation_key", "authors", "author_list", "year", "title", "journal", "doi", "url",
    "item_type", "screening", "exclusion_reason", "screening_votes", "study_type", "design", "design_type", "population",
    "population_group", "setting", "setting_type", "peer_role", "country", "us_state", "state_codes", "region", "risk_of_bias",
    "review_quality", "review_quality_source", "same_study_as", "report_of", "includes", "confidence",
    "confidence_reason", "coded_by", "extraction_note",
]
OUTCOME_COLUMNS = [
    "finding_id", "study_id", "citation_key", "outcome", "domain", "comparison", "comparison_type", "review_certainty", "measure", "measure_as_reported", "better", "synthesis_group", "theme", "estimate",
    "ci_low", "ci_high", "computed_from", *RAW_FIELDS, "reported_statistic", "n_studies", "n_participants",
    "sample_note", "direction", "evidence_level", "secondary", "quote", "page", "source_url", "source_type", "notes",
    "note_key", "note_line",
]
POLICY_COLUMNS = [
    "fact_id", "state", "state_code", "topic", "fact", "value", "as_of", "quote", "source_type", "notes",
    "source_url", "source_item", "note_key", "note_line",
]
PROBLEM_COLUMNS = ["item_key", "line", "field", "severity", "message"]
RISK_OF_BIAS_COLUMNS = ["study_id", "citation_key", "finding_id", "tool", "domain_id", "domain", "judgement", "reason",
                        "source", "note_key", "note_line"]

_TOPICS = [
    (r"medicaid|reimburs|billable|state plan", "Medicaid coverage"),
    (r"certif|credential|training|exam|thw|reciprocity", "certification and training"),
    (r"workforce|employed|per 100,000|counts|specialists certified|number", "workforce"),
    (r"program|navigator|relay|save lives|coach", "programmes"),
    (r"\bpay\b|\bwages?\b|compensation|salar", "pay"), (r"turnover|job stability|retention", "turnover"),
]


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


_INT64_MAX = 2**63 - 1


def _int_or_na(text: Any) -> Any:
    """A whole number as an int; anything else (text, or a number too large for the table) as NA."""
    cleaned = str(text).replace(",", "").strip()
    return int(cleaned) if re.fullmatch(r"\d+", cleaned) and int(cleaned) <= _INT64_MAX else pd.NA


def _records(records: list[dict[str, Any]], columns: list[str], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame with exactly ``columns``: text columns as strings ('' when absent), numeric ones as floats."""
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in columns:
        if col in numeric:
            frame[col] = pd.to_numeric(frame[col])
        else:  # object dtype even when empty, so that .str works on a table with no rows
            frame[col] = pd.Series([("" if v is None or (isinstance(v, float) and v != v) else v) for v in frame[col]],
                                   index=frame.index, dtype=object)
    return frame


def link_reports(studies: pd.DataFrame) -> tuple[pd.Series, list[Problem]]:
    """Which study each item reports: the item key of the study's first report (``report_of``).

    Reports of one study are linked by ``same_study_as`` (another report's citation key or item
    key) in either direction and in chains; the study is named after its earliest report (then
    the lowest item key), so that adding a later report never renames it.  A link to no known
    item is reported and left out.
    """
    ids = list(studies["study_id"])
    lookup = {**dict(zip(studies["citation_key"], ids)), **{i: i for i in ids}}
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    problems = []
    for study_id, target in zip(ids, studies["same_study_as"]):
        for name in filter(None, (t.strip() for t in str(target).split(";"))):
            if name not in lookup:
                problems.append(Problem(study_id, 0, "same_study_as", f"{name!r} is neither the citation key nor "
                                        "the item key of an item in the library; the link was left out"))
                continue
            a, b = root(study_id), root(lookup[name])
            if a != b:
                parent[max(a, b)] = min(a, b)
    first = {}
    for study_id, year in sorted(zip(ids, studies["year"]), key=lambda p: (str(p[1]) or "9999", p[0])):
        first.setdefault(root(study_id), study_id)
    return pd.Series([first[root(i)] for i in ids], index=studies.index, dtype=object), problems


_COUNTS = tuple(f for f in RAW_FIELDS if f.startswith(("n_", "events_")))
_RAW_KINDS = {"binary": ("2x2 counts", BINARY_ARMS), "continuous": ("means and SDs", CONTINUOUS_ARMS)}


def effects_from_arms(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Estimates and 95% CIs computed from per-arm data with the statistics engine (metafor's escalc).

    A finding with raw data and no reported estimate gets the computed one; one with both keeps
    the reported estimate, and a difference beyond rounding is reported (an adjusted estimate,
    or a typo).  ``computed_from`` says which ("2x2 counts", "means and SDs", with "reported" when
    the reported figure stands).  Pure: returns a new frame and the problems.
    """
    from ._meta import binary_effects, continuous_effects
    from ._synthesis import Z95

    outcomes = outcomes.copy()
    problems: list[Problem] = []
    for kind, (label, fields) in _RAW_KINDS.items():
        rows = outcomes[outcomes[list(fields)].notna().all(axis=1)
                        & (outcomes[list(RAW_FIELDS)].notna().sum(axis=1) == len(fields))]
        for measure, cell in rows.groupby("measure"):
            if kind == "binary":
                eff = binary_effects(measure, cell["events_peer"], ci=cell["events_comparison"],
                                     n1i=cell["n_peer"], n2i=cell["n_comparison"])
            else:
                eff = continuous_effects("SMD" if measure in ("SMD", "Hedges g") else measure, cell["mean_peer"],
                                         cell["sd_peer"], cell["n_peer"], cell["mean_comparison"],
                                         cell["sd_comparison"], cell["n_comparison"])
            log = measure in ("RR", "OR")
            half = Z95 * eff["vi"].to_numpy() ** 0.5
            yi = eff["yi"].to_numpy()
            computed = np.stack([yi, yi - half, yi + half], axis=1)
            computed = np.exp(computed) if log else computed
            for (index, row), (est, low, high) in zip(cell.iterrows(), computed):
                if pd.isna(row["estimate"]):
                    outcomes.loc[index, ["estimate", "ci_low", "ci_high"]] = [est, low, high]
                    outcomes.loc[index, "computed_from"] = label
                    continue
                outcomes.loc[index, "computed_from"] = f"reported; {label} agree"
                if abs(row["estimate"] - est) > max(0.0051, 0.0051 * abs(est)):  # beyond rounding to 2 places
                    outcomes.loc[index, "computed_from"] = f"reported; {label} give {est:.3g}"
                    problems.append(Problem(row["note_key"], int(row["note_line"]), "estimate",
                                            f"finding {row['finding_id']}: the reported {measure} {row['estimate']:g} "
                                            f"differs from {est:.3g} computed from the {label} (an adjusted "
                                            "estimate, or a typo?); the reported one is used", "warning"))
    return outcomes, problems


def derive_tables(coding: Coding, substate_regions: dict[str, dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Pure: the evidence tables from parsed coding, sorted and with fixed columns."""
    studies = _records(coding.studies, STUDY_COLUMNS)
    studies["report_of"], link_problems = link_reports(studies)
    region_states = {r["region_id"]: r["state_code"] for r in region_records(substate_regions)}
    # A study in a sub-state region is a study in its state, whether or not us_state says so.
    studies["state_codes"] = pd.Series([
        "|".join(sorted({c for part in str(s).split(";") if (c := state_code(part)) and c != "US"}
                        | ({region_states[r]} if r in region_states else set())))
        for s, r in zip(studies["us_state"], studies["region"])
    ], index=studies.index, dtype=object)  # object even with no rows, so that .str works
    studies = studies.sort_values("study_id", kind="stable")

    outcomes = _records(coding.outcomes, OUTCOME_COLUMNS,
                        numeric=("estimate", "ci_low", "ci_high", "note_line", *RAW_FIELDS))
    outcomes, raw_problems = effects_from_arms(outcomes)
    for col in _COUNTS:
        outcomes[col] = outcomes[col].astype("Int64")
    study_type = studies.set_index("study_id")["study_type"]
    outcomes["evidence_level"] = outcomes["study_id"].map(study_type).fillna("")
    outcomes["secondary"] = outcomes["source_type"].str.lower().str.startswith("secondary").astype(bool)
    outcomes["measure"] = outcomes["measure"].replace("", "narrative")
    raw_n = outcomes[["n_studies", "n_participants"]].astype(str)
    outcomes["sample_note"] = [
        "; ".join(f"{col}: {val}" for col, val in row.items() if val and pd.isna(_int_or_na(val)))
        for _, row in raw_n.iterrows()
    ]
    for col in ("n_studies", "n_participants"):
        outcomes[col] = pd.array([_int_or_na(v) for v in raw_n[col]], dtype="Int64")
    outcomes["note_line"] = outcomes["note_line"].astype("Int64")
    outcomes = outcomes.sort_values(["study_id", "finding_id"], kind="stable")

    policy = _records(coding.policy_facts, POLICY_COLUMNS)
    policy["state_code"] = policy["state"].map(state_code)
    policy["topic"] = policy["fact"].map(
        lambda f: next((t for pat, t in _TOPICS if re.search(pat, str(f), re.IGNORECASE)), "other")
    )
    policy = policy.sort_values(["state_code", "fact_id"], kind="stable")

    regions = region_table(substate_regions)
    regions["n_local_studies"] = [  # studies, not reports: two reports of one trial count once
        int(region_studies(studies, r)["report_of"].nunique()) for r in regions.to_dict("records")
    ]
    regions["n_policy_facts"] = [int((policy["state_code"] == r.state_code).sum()) for r in regions.itertuples()]

    problems = pd.DataFrame(
        [{"item_key": p.item_key, "line": p.line, "field": p.field, "severity": p.severity, "message": p.message}
         for p in sorted({*coding.problems, *link_problems, *raw_problems})],
        columns=PROBLEM_COLUMNS,
    )
    risk_of_bias = _records(coding.risk_of_bias, RISK_OF_BIAS_COLUMNS)
    risk_of_bias["note_line"] = risk_of_bias["note_line"].astype("Int64")
    risk_of_bias = risk_of_bias.sort_values(["study_id", "finding_id"], kind="stable")  # domains in the tool's order
    return {"studies.csv": studies, "outcomes.csv": outcomes, "state_policy.csv": policy,
            "regions.csv": regions[[*REGION_COLUMNS, "n_local_studies", "n_policy_facts"]], "problems.csv": problems,
            "risk_of_bias.csv": risk_of_bias}


def validate_tables(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Validate every table lazily; return all failure cases (empty when the tables are valid)."""
    # pandera (and the dask it pulls in) costs about a second to import: only what validates pays it,
    # not every notebook kernel that loads the evidence.
    import pandera.errors

    from ._schemas import OutcomeSchema, PolicyFactSchema, RegionSchema, RiskOfBiasSchema, StudySchema

    schemas = {"studies.csv": StudySchema, "outcomes.csv": OutcomeSchema,
               "state_policy.csv": PolicyFactSchema, "regions.csv": RegionSchema, "risk_of_bias.csv": RiskOfBiasSchema}
    failures = []
    for name, schema in schemas.items():
        if name not in tables:  # a caller that checks some tables only (the Data quality page)
            continue
        try:
            schema.validate(tables[name], lazy=True)
        except pandera.errors.SchemaErrors as exc:
            cases = exc.failure_cases.copy()
            cases.insert(0, "file", name)
            failures.append(cases)
    columns = ["file", "schema_context", "column", "check", "failure_case", "index"]
    return pd.concat(failures)[columns] if failures else pd.DataFrame(columns=columns)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
# Text cells that do, after any leading single quotes, get one more single quote in front; a
# number such as -0.24 is left as it is.  The readers below take that one quote off again, so
# the rule is reversible; evidence/README.md states it for other programs.
_FORMULA_START = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")
_QUOTE_THEN_FORMULA = re.compile(r"'[=+\-@\t\r']")  # in the text of a table with a neutralised cell: a fast search
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _neutralise(cell: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, with a single quote in front; other cells as they are."""
    if isinstance(cell, str) and _FORMULA_START.match(cell) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _restore(cell: str) -> str:
    """The text :func:`_neutralise` was given."""
    return cell[1:] if _NEUTRALISED.match(cell) else cell


def _csv(table: pd.DataFrame) -> str:
    """A table as published: numeric columns as written by pandas, text cells neutralised against formulas."""
    text_columns = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    safe = table.assign(**{c: table[c].map(_neutralise) for c in text_columns}) if text_columns else table
    buffer = io.StringIO()
    safe.to_csv(buffer, index=False, lineterminator="\n")
    if "\r" not in buffer.getvalue():
        return buffer.getvalue()
    # The csv module quotes a cell only for the characters of its line ending: with "\n" a cell holding a "\r"
    # was left bare, and every reader ends the row there.  Written with "\r\n" (pandas formats the numbers), read
    # back into cells, and each cell quoted where it holds a "\r", "\n", comma or quote, lines ending in "\n".
    buffer = io.StringIO()
    safe.to_csv(buffer, index=False, lineterminator="\r\n")
    rows = csv.reader(io.StringIO(buffer.getvalue(), newline=""))
    return "".join(",".join(_csv_cell(cell) for cell in row) + "\n" for row in rows)


def _csv_cell(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


def _read_csv(text: str) -> pd.DataFrame:
    """A published table read back as text, every cell as it was before :func:`_csv` neutralised it."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if not _QUOTE_THEN_FORMULA.search(text):  # most tables: no cell to undo, and no pass over every cell
        return frame
    return frame.assign(**{c: frame[c].map(_restore) for c in frame.columns})


_BIB_TYPES = {"journalArticle": "article", "report": "techreport", "book": "book", "bookSection": "incollection",
              "thesis": "phdthesis"}


def _bib_escape(text: str) -> str:
    """Zotero text as a BibTeX field value that cannot end the field or the entry.

    BibTeX counts braces even after a backslash, so braces cannot be escaped: they (and
    backslashes, which start LaTeX commands) are replaced by look-alikes. The tables keep the
    text verbatim; only the bibliography shows the substitutes.  Bidi overrides and zero-width
    characters are shown as their code point, as on every page; other unprintable ones are dropped.
    """
    from ._display import visible

    text = "".join(ch for ch in visible(" ".join(str(text).split())) if ch.isprintable())
    text = text.translate(str.maketrans({"{": "(", "}": ")", "\\": "/"}))
    return re.sub(r"([&%$#_])", r"\\\1", text)


def _bib_name_part(text: str) -> str:
    """A last or first name for BibTeX's author list, read as one name part whatever it holds.

    BibTeX splits a name at its commas ("Last, Jr, First") and a list at the word "and": a last
    name "Doe, Jr., PhD" is "Too many commas" for pybtex and stops the book.  Inside braces both
    are plain text, so such a part is braced (braces in the text itself are already replaced).
    """
    escaped = _bib_escape(text)
    return f"{{{escaped}}}" if re.search(r",|\band\b", escaped, re.IGNORECASE) else escaped


def _bib_url(url: str) -> str:
    """An http(s) URL, percent-encoded where BibTeX or LaTeX would read a character; else ''."""
    from urllib.parse import quote

    from ._display import safe_url

    return quote(safe_url(url), safe=":/?=&;@!$'()*+,-._~[]")  # no braces, backslash, %, # or spaces left raw


def references_bib(items: list[dict[str, Any]], studies: pd.DataFrame) -> str:
    """A BibTeX file with one entry per study, keyed by the study's citation key."""
    by_key = {i["key"]: i["data"] for i in items}
    entries = []
    for study in studies.itertuples():
        data = by_key[study.study_id]
        kind = _BIB_TYPES.get(data["itemType"], "misc")
        if kind == "article" and not study.journal:
            kind = "misc"  # BibTeX styles require a journal for @article
        people = [c for c in data.get("creators", []) if c.get("creatorType", "author") == "author"]
        authors = " and ".join(
            f"{{{_bib_escape(c['name'])}}}" if c.get("name")
            else f"{_bib_name_part(c.get('lastName', ''))}, {_bib_name_part(c.get('firstName', ''))}".rstrip(", ")
            for c in people
        )
        fields = {
            "author": authors,
            "title": _bib_escape(data.get("title", "")),
            "journal" if kind == "article" else "howpublished": _bib_escape(study.journal),
            "year": study.year,
            "volume": _bib_escape(data.get("volume", "")),
            "number": _bib_escape(data.get("issue", "")),
            "pages": _bib_escape(data.get("pages", "")).replace("-", "--"),
            "doi": doi if re.fullmatch(r"10\.\d{4,9}/[-._;()/:A-Za-z0-9]+", doi := data.get("DOI", "").strip()) else "",
            "url": _bib_url(data.get("url", "")),
            "note": f"Zotero item {study.study_id}",
        }
        if not fields["author"]:
            fields["author"] = "{" + _bib_escape(data.get("websiteTitle") or "Anonymous") + "}"
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
        entries.append(f"@{kind}{{{study.citation_key},\n{body}\n}}\n")
    return "\n".join(entries)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _table(text: str | None) -> pd.DataFrame:
    return _read_csv(text) if text else pd.DataFrame()


def _diff_rows(old: pd.DataFrame, new: pd.DataFrame, key: str) -> dict[str, list[str]]:
    # A column added since the old version is a change of the tables' shape, not of every row.
    columns = [c for c in new.columns if not len(old) or c in old.columns]
    old_rows = {r[key]: {c: r.get(c, "") for c in columns} for r in old.to_dict("records")} if len(old) else {}
    new_rows = {r[key]: {c: r[c] for c in columns} for r in new.to_dict("records")}
    return {
        "added": sorted(new_rows.keys() - old_rows.keys()),
        "updated": sorted(k for k in new_rows.keys() & old_rows.keys() if new_rows[k] != old_rows[k]),
        "removed": sorted(old_rows.keys() - new_rows.keys()),
    }


def changes_between(old: dict[str, str | None], new: dict[str, str]) -> dict[str, Any]:
    """Studies (item keys) and findings (ids) added, updated and removed between two sets of table texts,
    with the citation key of every study named (so a removed study can still be named)."""
    old_studies, new_studies = _table(old.get("studies.csv")), _table(new["studies.csv"])
    studies = _diff_rows(old_studies, new_studies, "study_id")
    named = {k for ids in studies.values() for k in ids}
    keys = {r["study_id"]: r["citation_key"] for frame in (old_studies, new_studies) if len(frame)
            for r in frame.to_dict("records") if r["study_id"] in named}
    return {"studies": studies, "outcomes": _diff_rows(_table(old.get("outcomes.csv")), _table(new["outcomes.csv"]),
                                                      "finding_id"),
            "citation_keys": dict(sorted(keys.items()))}


def field_changes(old_text: str, new: pd.DataFrame, key: str) -> dict[str, list[tuple[str, str, str]]]:
    """For each row of a table (its written text before, the derived frame after) whose values differ:
    the fields that change, with their old and new text as the CSV holds them."""
    before = {r[key]: r for r in _table(old_text).to_dict("records")} if old_text else {}
    after = _table(_csv(new))
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
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"{path}: missing. Run 'evidencebook sync' to rebuild the evidence tables.") from None
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}: corrupt ({exc}). Restore it with 'git checkout -- {path}'.") from exc


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
            table = _table(texts.get(name))
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
    with evidence_lock(folder):
        if snapshot is None:
            snapshot = read_snapshot(settings.snapshot)
            write_snapshot = False
        old_texts = {name: _exact_text(folder / name) if (folder / name).is_file() else None for name in FILES}
        # What is published keeps its identity: a newcomer cannot take a finding id or citation key over.
        coding = code_items(snapshot.items, published_identities(old_texts), region_records(settings.regions))
        tables = derive_tables(coding, settings.regions)
        texts = {name: _csv(table) for name, table in tables.items()}
        hashes = {name: _sha256(texts[name]) for name in texts}
        manifest_path = folder / "manifest.json"
        old = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
        # Tables the same as those this pipeline wrote (their hashes in the manifest), and already validated
        # by this code's schemas (a marker in the build cache), are not validated again: the rebuild that
        # changes nothing skips importing pandera.
        cache, tables_hash = DiskCache(settings.cache_dir), _sha256(json.dumps(hashes, sort_keys=True))
        unchanged = all(texts[name] == old_texts[name] and old.get("files", {}).get(name) == hashes[name]
                        for name in tables)
        if not (unchanged and cache.read("validated", tables_hash) is not None):
            failures = validate_tables(tables)
            if len(failures):
                raise EvidenceError("The derived tables do not validate; nothing was written:\n"
                                    + failures.to_string(index=False))
            cache.write("validated", tables_hash, "")
        texts["references.bib"] = references_bib(snapshot.items, tables["studies.csv"])
        hashes["references.bib"] = _sha256(texts["references.bib"])
        # The evidence is what the files say: a Zotero edit that changes no table (an abstract, a PDF
        # annotation) is not a new evidence version; the library version is kept as provenance.
        content_hash = _sha256(json.dumps(hashes, sort_keys=True))
        changes = changes_between(old_texts, texts)
        writes: dict[str, Any] = {name: texts[name] for name in FILES if texts[name] != old_texts[name]}
        if old.get("content_hash") == content_hash:
            manifest = old
            if old.get("zotero", {}).get("library_version") != snapshot.version:
                manifest = {**old, "zotero": {**old["zotero"], "library_version": snapshot.version}}
                writes["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        else:
            manifest = {
                "evidence_version": int(old.get("evidence_version", 0)) + 1,
                "date": (today or dt.datetime.now(dt.timezone.utc).date()).isoformat(),
                "content_hash": content_hash,
                "zotero": {"library_type": snapshot.library.get("type", settings.library_type),
                           "library_id": snapshot.library.get("id", settings.library_id),
                           "library_version": snapshot.version},
                "counts": {"studies": int(len(tables["studies.csv"])),
                           "included": int(tables["studies.csv"]["screening"].str.endswith(":include").sum()),
                           "outcomes": int(len(tables["outcomes.csv"])),
                           "effect_estimates": int(tables["outcomes.csv"]["estimate"].notna().sum()),
                           "policy_facts": int(len(tables["state_policy.csv"])),
                           "regions": int(len(tables["regions.csv"])),
                           "risk_of_bias_assessments": int(len(tables["risk_of_bias.csv"].drop_duplicates(
                               ["study_id", "finding_id"]))),
                           "coding_errors": len(coding.errors)},
                "files": hashes,
            }
            writes["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            changelog = read_changelog(settings)
            changelog.append({"evidence_version": manifest["evidence_version"], "date": manifest["date"],
                              "zotero_library_version": snapshot.version, **changes})
            writes["changelog.json"] = json.dumps(changelog, indent=2, ensure_ascii=False) + "\n"
        archive = version_folder(int(manifest["evidence_version"]))
        if old.get("content_hash") != content_hash or not (folder / archive / "manifest.json").is_file():
            writes[archive] = _archive_writer(manifest, texts)
        if write_snapshot:
            writes["zotero"] = lambda target: write_snapshot_files(
                target, snapshot.items, snapshot.library, settings.snapshot if changed_items is not None else None,
                changed_items)
        if not dry_run:
            commit_entries(folder, writes)
    problems = [Problem(r["item_key"], int(r["line"]), r["field"], r["message"], r["severity"])
                for r in tables["problems.csv"].to_dict("records")]
    return BuildReport(manifest, sorted(writes), problems, changes, tables)


def _archive_writer(manifest: dict[str, Any], texts: dict[str, str]) -> Any:
    def write(target: Path) -> None:
        target.mkdir(parents=True)
        for name in ARCHIVED:
            (target / name).write_text(texts[name], encoding="utf-8")
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return write


def _exact_text(path: Path) -> str:
    """A file's text exactly as written: a carriage return typed into a Zotero title stays one (read_text's
    newline translation would turn it into a line feed, and the file would no longer match its hash).  Bytes
    that are not UTF-8 (a file damaged outside the pipeline) read as U+FFFD: the hash check then names the file."""
    return path.read_bytes().decode("utf-8", errors="replace")


def _read_checked(path: Path, expected: str | None) -> str:
    if not path.is_file():
        raise EvidenceError(f"{path}: missing. Run 'evidencebook sync' to rebuild it from the Zotero snapshot.")
    text = _exact_text(path)
    if _sha256(text) != expected:
        raise EvidenceError(
            f"{path}: content does not match the manifest (sha256 {_sha256(text)[:12]}, expected "
            f"{str(expected)[:12]}). The file is corrupt or was edited by hand; tables are derived "
            "from the Zotero snapshot: run 'evidencebook sync', or restore it from git."
        )
    return text


def _typed_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    for col in ("estimate", "ci_low", "ci_high", *(c for c in RAW_FIELDS if c in outcomes)):
        outcomes[col] = pd.to_numeric(outcomes[col].replace("", None))
    for col in ("n_studies", "n_participants", "note_line"):
        outcomes[col] = pd.to_numeric(outcomes[col].replace("", None)).astype("Int64")
    outcomes["secondary"] = outcomes["secondary"] == "True"
    return outcomes


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
    frames = {name: _read_csv(_read_checked(folder / name, manifest["files"].get(name))) for name in ARCHIVED}
    return EvidenceVersion(number, manifest, frames["studies.csv"], _typed_outcomes(frames["outcomes.csv"]))


def load_evidence(settings: Settings) -> Evidence:
    """Load the evidence base, checking every file against the manifest's hashes.

    Raises :class:`EvidenceError` naming the file that is missing, corrupt or was edited
    outside the pipeline.
    """
    from ._store import JOURNAL, STAGING, evidence_lock

    folder = settings.evidence
    if (folder / JOURNAL).exists() or (folder / STAGING).exists():
        with evidence_lock(folder):  # finishes (or discards) an interrupted swap first
            pass
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = manifest["files"]
    except FileNotFoundError:
        raise EvidenceError(f"{manifest_path}: missing. Run 'evidencebook sync' to rebuild the evidence tables.") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EvidenceError(f"{manifest_path}: corrupt ({exc}). Restore it with 'git checkout -- {manifest_path}'.") from exc
    frames = {}
    for name in TABLES:
        text = _read_checked(folder / name, expected.get(name))
        frames[name] = _read_csv(text)
    outcomes = _typed_outcomes(frames["outcomes.csv"])
    regions = frames["regions.csv"]
    for col in ("n_local_studies", "n_policy_facts"):
        regions[col] = regions[col].astype(int)
    risk_of_bias = frames["risk_of_bias.csv"]
    risk_of_bias["note_line"] = pd.to_numeric(risk_of_bias["note_line"].replace("", None)).astype("Int64")
    return Evidence(frames["studies.csv"], outcomes, frames["state_policy.csv"], regions,
                    frames["problems.csv"], manifest, risk_of_bias)
