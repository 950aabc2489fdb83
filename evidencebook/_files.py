"""How the evidence files are written and read back: CSV cells neutralised against spreadsheet formulas and
restored exactly, the BibTeX bibliography, and each file's exact text and hash.

One owner for the format of ``evidence/``'s files: what :func:`write_csv` writes, :func:`read_csv` reads back
cell for cell, and a file's hash (:func:`sha256`) is taken over the text :func:`exact_text` reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ._errors import EvidenceError

__all__: list[str] = []


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


def write_csv(table: pd.DataFrame) -> str:
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


def read_csv(text: str) -> pd.DataFrame:
    """A published table read back as text, every cell as it was before :func:`write_csv` neutralised it."""
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


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_table(text: str | None) -> pd.DataFrame:
    return read_csv(text) if text else pd.DataFrame()


def exact_text(path: Path) -> str:
    """A file's text exactly as written: a carriage return typed into a Zotero title stays one (read_text's
    newline translation would turn it into a line feed, and the file would no longer match its hash).  Bytes
    that are not UTF-8 (a file damaged outside the pipeline) read as U+FFFD: the hash check then names the file."""
    return path.read_bytes().decode("utf-8", errors="replace")


def read_checked(path: Path, expected: str | None) -> str:
    if not path.is_file():
        raise EvidenceError(f"{path}: missing. Run 'evidencebook sync' to rebuild it from the Zotero snapshot.")
    text = exact_text(path)
    if sha256(text) != expected:
        raise EvidenceError(
            f"{path}: content does not match the manifest (sha256 {sha256(text)[:12]}, expected "
            f"{str(expected)[:12]}). The file is corrupt or was edited by hand; tables are derived "
            "from the Zotero snapshot: run 'evidencebook sync', or restore it from git."
        )
    return text

