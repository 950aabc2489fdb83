"""Safe HTML for the book and the briefs.

Everything that comes from Zotero (titles, names, notes, quotes) is text, never markup:
each value is escaped before it is placed in HTML, and links are only made from
``http(s)`` URLs.  Tables sit in a scrolling wrapper so that they stay readable on a phone.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

__all__ = ["HTML", "e", "html_table", "link", "safe_url"]


class HTML(str):
    """A string of HTML that Jupyter displays as HTML (and nbval compares as text)."""

    def _repr_html_(self) -> str:
        return str(self)


def e(value: Any) -> str:
    """Escape a value for HTML text or an attribute; missing values become ''."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


def safe_url(url: Any) -> str:
    """The URL if it is http(s), else '' (a javascript: or data: link never becomes a link)."""
    text = str(url or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


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
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return HTML(f'<div class="{css_class}" style="overflow-x:auto"><table>{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table></div>")
