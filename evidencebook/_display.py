"""Safe HTML for the book and the briefs.

Everything that comes from Zotero (titles, names, notes, quotes) is text, never markup:
each value is escaped before it is placed in HTML, and links are only made from
``http(s)`` URLs.  Characters that are not drawn but change what is (bidi overrides,
zero-width characters) are shown as their code point, e.g. ``[U+202E]``.  Tables sit in a
scrolling wrapper so that they stay readable on a phone.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

__all__ = ["HTML", "e", "html_table", "link", "record_url", "safe_url", "study_label", "visible", "zotero_links"]


class HTML(str):
    """A string of HTML that Jupyter displays as HTML (and nbval compares as text)."""

    def _repr_html_(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Jupyter keeps a text/plain output beside the HTML; for a str it was the whole HTML once more, doubling
        # every page's notebook, cache entry and Sphinx doctree (42 MB for the Studies page at 10,000 studies).
        printer.text("<HTML output: see text/html>")


# Not drawn, yet they change what is: bidi embeddings, overrides and isolates (U+202E makes "gpj.exe" read
# "exe.jpg"), directional marks, zero-width spaces and joiners, invisible operators, the byte-order mark, and the
# tag characters that can carry hidden text.
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
                        "\U000e0000-\U000e007f]")


def visible(text: str) -> str:
    """The text with every invisible or direction-changing character shown as its code point, e.g. '[U+202E]'."""
    return _INVISIBLE.sub(lambda found: f"[U+{ord(found[0]):04X}]", text)


def e(value: Any) -> str:
    """Escape a value for HTML text or an attribute, invisible characters shown; missing values become ''."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return html.escape(visible(str(value)), quote=True)


def safe_url(url: Any) -> str:
    """The URL if it is http(s), else '' (a javascript: or data: link never becomes a link)."""
    text = str(url or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


def study_label(authors: Any, title: Any, year: Any) -> str:
    """How a study is named everywhere: 'Lloyd-Evans et al. 2014' (the title's start when no author is coded)."""
    name = str(authors or "") or str(title or "")[:40]
    return f"{name} {year or ''}".strip()


def record_url(doi: Any, url: Any) -> str:
    """Where a study's record is: its DOI when it has one, else its URL."""
    return f"https://doi.org/{doi}" if str(doi or "").strip() else str(url or "")


def zotero_links(library_type: Any, library_id: Any, key: Any) -> str:
    """Links that open an item (or note) where the researcher fixes it: the desktop app (``zotero://select``)
    and, for a group library, the web library.  Only a real item key and library id make a link."""
    key, library = str(key or ""), str(library_id or "")
    if not re.fullmatch(r"[A-Z0-9]{8}", key) or not library.isdigit() or library == "0":
        return e(key)
    group = str(library_type) == "group"
    app = f"zotero://select/{'groups/' + library if group else 'library'}/items/{key}"
    web = f"https://www.zotero.org/groups/{library}/items/{key}" if group else ""
    return (f'<a href="{e(app)}">{e(key)}</a>' + (f' (<a href="{e(web)}" rel="noopener">web</a>)' if web else ""))


def interval(low: Any, high: Any) -> str:
    """An interval's bounds in words, '0.12 to 0.34' (two decimals); '' when a bound is missing."""
    return f"{low:.2f} to {high:.2f}" if pd.notna(low) and pd.notna(high) else ""


def link(text: Any, url: Any) -> str:
    href = safe_url(url)
    return f'<a href="{e(href)}" rel="noopener">{e(text)}</a>' if href else e(text)


def html_table(rows: pd.DataFrame, columns: dict[str, str], links: dict[str, str] | None = None,
               caption: str = "", css_class: str = "eb-table", safe: tuple[str, ...] = ()) -> HTML:
    """An escaped HTML table.

    ``columns`` maps column -> header; ``links`` maps column -> the column holding its URL;
    ``safe`` names columns that already hold HTML built by this module (never raw input).
    """
    links = links or {}
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in columns.values())
    body = []
    for _, row in rows.iterrows():
        cells = (str(row[c]) if c in safe else link(row[c], row[links[c]]) if c in links else e(row[c])
                 for c in columns)
        body.append("<tr>" + "".join(table_cell(c) for c in cells) + "</tr>")
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return HTML(f'<div class="{css_class}" style="overflow-x:auto"><table>{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table></div>")


# A word longer than this (a URL, a 100,000-character title) is longer than a line: a cell that holds one may break
# it anywhere, so that the table keeps its width (it made pages thousands of pixels wide, and was cut off in print).
# Only that cell: elsewhere words stay whole, and a table too wide for a phone scrolls inside its wrapper.
LONG_WORD = 80
_LONG = re.compile(r"[^\s<>]{%d,}" % LONG_WORD)


def table_cell(content: str) -> str:
    """A table cell holding ``content`` (HTML), free to break a word longer than a line."""
    text = re.sub(r"<[^>]*>", " ", content)
    return f'<td style="overflow-wrap:anywhere">{content}</td>' if _LONG.search(text) else f"<td>{content}</td>"
