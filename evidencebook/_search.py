"""Sphinx extension (listed in ``_config.yml``): the search index reads every word a notebook's HTML output shows.

A page's tables and lists (studies, findings, summary of findings) are raw-HTML outputs. Sphinx indexes raw HTML
by deleting its tags, which glues the text of neighbouring cells together: "<td>care</td><td>White et al.</td>"
is indexed as "careWhite", so searching "White" missed the Recovery chapter that cites White et al. 2020. This
hook puts, after each raw-HTML node, an invisible node with the same text, tags turned into spaces and entities
decoded; the search index reads it, the HTML writer skips it. Only HTML builds get it.

It imports nothing heavy: jupyter-book loads it on every build, including the no-op ones.
"""

from __future__ import annotations

import html
import re
from typing import Any

from docutils import nodes

__all__: list[str] = []  # a Sphinx extension: nothing for the package namespace

_HIDDEN = re.compile(r"<(style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


class search_words(nodes.Element):  # noqa: N801 (docutils names node classes in lower case)
    """Words for the search index only: never written into a page."""


def html_words(markup: str) -> str:
    """The text a browser shows for ``markup``: styles and scripts dropped, each tag a space, entities decoded."""
    return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", markup)))


def _index_raw_html(app: Any, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "html":
        return
    for raw in list(doctree.findall(nodes.raw)):
        if "html" in raw.get("format", "").split() and raw.parent is not None:
            raw.parent.insert(raw.parent.index(raw) + 1, search_words("", nodes.Text(html_words(raw.astext()))))


def _skip(translator: Any, node: nodes.Node) -> None:
    raise nodes.SkipNode


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (listed in _config.yml under sphinx.extra_extensions)."""
    app.add_node(search_words, html=(_skip, None))
    app.connect("doctree-resolved", _index_raw_html)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
