"""The note format: how Zotero's note editor stores a note, read as the lines a reviewer sees, and written back.

The reader (:func:`note_lines`) and the writer (:func:`write_note`, :func:`note_from_lines`) live together so
that what one writes the other reads; tests, the seed importer and the benchmarks write notes only through them.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

import lxml.etree
import lxml.html

__all__ = ["NoteLine", "note_from_lines", "note_lines", "write_note"]


@dataclass(frozen=True)
class NoteLine:
    """One line of a note as a person sees it in Zotero: a paragraph, list item, heading or table row."""

    number: int
    text: str
    heading: bool


_BLOCKS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote"})


# Zotero 7's note editor wraps a note in this element; the reader ignores it, the writer keeps it.
_NOTE_WRAPPER = '<div data-schema-version="9">{}</div>'


def write_note(title: str, sections: Iterable[tuple[str, Iterable[tuple[str, Any]]]]) -> str:
    """A note as Zotero's note editor stores it (the writer beside :func:`note_lines`, the reader).

    ``title`` is the first line ("Extraction", "Policy facts"); each section is a heading
    ("Study", "Outcome O12", "Policy fact P1") and its ``key: value`` fields, one paragraph
    each, the text escaped as the editor escapes typed text.  Tests, the seed importer and the
    benchmarks write notes only through this function (or :func:`note_from_lines`).
    """
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, fields in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for key, value in fields:
            text = str(value)
            if "\n" in text or "\r" in text:
                raise ValueError(f"a note field is one line; {key!r} has a line break: {text[:40]!r}")
            parts.append(f"<p>{html.escape(key)}: {html.escape(text, quote=False)}</p>")
    return _NOTE_WRAPPER.format("\n".join(parts))


def note_from_lines(lines: Iterable[str]) -> str:
    """A note from the lines a person types: ``# text`` is a heading, every other line a paragraph (escaped).

    For notes that are not well formed on purpose (tests of the reader's messages)."""
    parts = [f"<h2>{html.escape(line[2:])}</h2>" if line.startswith("# ") else f"<p>{html.escape(line)}</p>"
             for line in lines]
    return _NOTE_WRAPPER.format("".join(parts))


def note_lines(note_html: str) -> list[NoteLine]:
    """Split a Zotero note's HTML into the lines a reviewer sees, numbered from 1.

    A paragraph, heading, list item or table row is a line (an empty paragraph too, so that
    line numbers match what the reviewer counts); a two-cell table row reads as
    ``first cell: second cell``; ``<br>`` splits a line; blocks nested in a block join its
    line with a space; text outside any block (a plain-text note) still counts.
    Raises ``ValueError`` for HTML that cannot be read at all.
    """
    if not note_html.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(note_html, create_parent="div")
    except (lxml.etree.ParserError, AssertionError) as exc:  # e.g. a bare <html> document with no body
        raise ValueError(f"note HTML could not be read ({type(exc).__name__})") from None
    lines: list[NoteLine] = []
    number = 0

    def emit(text: str, heading: bool, counts: bool = True) -> None:
        nonlocal number
        parts = text.split("\n")
        for part in parts:
            part = " ".join(part.split())
            if part or (counts and len(parts) == 1):
                number += 1
            if part:
                lines.append(NoteLine(number, unicodedata.normalize("NFC", part), heading))

    def has_block(element: Any) -> bool:
        return any(isinstance(d.tag, str) and d.tag in _BLOCKS for d in element.iterdescendants())

    def text_of(element: Any) -> str:
        """The element's text as shown: <br> breaks the line, a nested block is set off by spaces, and a line
        break in the HTML source is a space (except in <pre>).  The tree is read, never modified (lxml refuses
        to store text with control characters, which a note may hold)."""
        parts: list[str] = []

        def flat(text: str | None, pre: bool) -> None:
            if text:
                parts.append(text if pre else text.replace("\r", " ").replace("\n", " "))

        def visit(node: Any, pre: bool) -> None:
            pre = pre or node.tag == "pre"
            flat(node.text, pre)
            for child in node:
                if isinstance(child.tag, str):
                    if child.tag == "br":
                        parts.append("\n")
                    elif child.tag in _BLOCKS:
                        parts.append(" ")
                        visit(child, pre)
                        parts.append(" ")
                    else:
                        visit(child, pre)
                flat(child.tail, pre)

        visit(element, False)
        return "".join(parts)

    def walk(element: Any) -> None:
        if element.text and element.text.strip():
            emit(element.text, False, counts=False)
        for child in element:
            if isinstance(child.tag, str):
                if child.tag == "tr":
                    cells = [" ".join(c.text_content().split()) for c in child if c.tag in ("td", "th")]
                    emit(": ".join(cells[:2]) if len(cells) >= 2 and cells[1] else (cells[0] if cells else ""), False)
                elif child.tag in _BLOCKS:
                    emit(text_of(child), child.tag in ("h1", "h2", "h3", "h4", "h5", "h6"))
                elif has_block(child):
                    walk(child)
                else:
                    emit(text_of(child), False, counts=False)
            if child.tail and child.tail.strip():
                emit(child.tail, False, counts=False)

    walk(root)
    return lines



def note_title(lines: list[NoteLine]) -> str:
    """A note's first line in lower case ('extraction', 'policy facts'): what kind of note it is."""
    return lines[0].text.strip().lower() if lines else ""


def plain(text: Any, limit: int) -> str:
    """Text fit for a one-line message: whitespace collapsed, invisible and control characters shown as '?'."""
    flat = "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[:limit - 1] + "\u2026"
