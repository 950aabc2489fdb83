"""Each technical word linked to the glossary the first time a page uses it (a Sphinx extension, in ``_config.yml``).

The glossary page (``book/glossary.md``, Sphinx's ``glossary`` directive) is the one list of terms: every term
line of it is a word that gets linked, to that term's own anchor, with its definition's first sentence as the
link's title.  On every other page, as it is written, the first use of each glossary entry (any of its names) is
made a link: in the page's text and in the HTML the notebook cells put out (tables, the "What we found" box), in
reading order, but never inside a link, code, a heading, a table header or a script.

Words that are ordinary English as often as they are terms are left unlinked (:data:`UNLINKED`).  A term
written with a capital letter after its first (an abbreviation: CI, RR, SMD) matches only as written, so that
"or" never links "OR"; a term in lower case matches in any case ("Random effects" at the start of a sentence).
A plural counts as a use ("RCTs", "peer support specialists", "recovery coaches").

It imports nothing heavy: jupyter-book loads it on every build.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["GLOSSARY_PAGE", "GlossaryTerm", "link_first_uses_in_html", "link_first_uses_in_text", "term_pattern"]

GLOSSARY_PAGE = "book/glossary"
# Defined in the glossary, but too often plain English on these pages to link ("as proposed by the state").
UNLINKED = frozenset({"finding", "proposed", "signed off"})
# HTML elements whose text is never linked: links themselves, code, headings, table headers, scripts, forms.
_SKIP_TAGS = frozenset({"a", "code", "pre", "kbd", "samp", "script", "style", "h1", "h2", "h3", "h4", "h5", "h6", "th",
                        "summary", "button", "label", "select", "option", "textarea", "svg", "title", "caption"})
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)([^>]*)>|<!--.*?-->", re.DOTALL)
_RAW_TEXT = {"script": re.compile(r"</script\s*>", re.IGNORECASE), "style": re.compile(r"</style\s*>", re.IGNORECASE)}


@dataclass(frozen=True)
class GlossaryTerm:
    """One name of a glossary entry: the words matched, the entry it belongs to, its anchor and a short title."""

    name: str
    entry: str  # the entry's first name: a page links each entry once, whichever of its names comes first
    anchor: str
    title: str = ""


def _exact(name: str) -> bool:
    """Whether a name matches only as written: it has a capital letter after its first character."""
    return any(c.isupper() for c in name[1:])


def term_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for every name, longest first (so '95% CI' wins over 'CI'), as whole words only."""
    names = sorted({n for n in names if n.strip()}, key=lambda n: (-len(n), n))
    if not names:
        return None
    # A name ending in a letter also matches its plural ('peer support specialists', 'RCTs', 'recovery coaches').
    parts = [(re.escape(n) if _exact(n) else f"(?i:{re.escape(n)})") + ("(?:e?s)?" if n[-1].isalpha() else "")
             for n in names]
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])")


def _lookup(terms: dict[str, GlossaryTerm], matched: str) -> GlossaryTerm | None:
    """The term ``matched`` names: as written, in lower case, or (a plural) without its final 's' or 'es'."""
    for name in (matched, *((matched[:-1], matched[:-2]) if matched.endswith("s") else ())):
        term = terms.get(name) or terms.get(name.lower())
        if term is not None:
            return term
    return None


def first_uses(text: str, pattern: re.Pattern[str], terms: dict[str, GlossaryTerm],
               seen: set[str]) -> list[tuple[int, int, GlossaryTerm]]:
    """The spans in ``text`` that are the first use of their entry on the page; ``seen`` (entries already linked
    on the page) is updated."""
    spans = []
    for found in pattern.finditer(text):
        term = _lookup(terms, found[0])
        if term is not None and term.entry not in seen:
            seen.add(term.entry)
            spans.append((found.start(), found.end(), term))
    return spans


def link_first_uses_in_text(text: str, pattern: re.Pattern[str], terms: dict[str, GlossaryTerm], seen: set[str],
                            make_link: Callable[[str, GlossaryTerm], Any]) -> list[Any]:
    """``text`` cut into pieces: plain strings, and ``make_link(words, term)`` for each first use."""
    pieces: list[Any] = []
    at = 0
    for start, end, term in first_uses(text, pattern, terms, seen):
        pieces += [text[at:start], make_link(text[start:end], term)]
        at = end
    pieces.append(text[at:])
    return [p for p in pieces if p != ""]


def link_first_uses_in_html(markup: str, pattern: re.Pattern[str], terms: dict[str, GlossaryTerm], seen: set[str],
                            href: Callable[[GlossaryTerm], str]) -> str:
    """``markup`` (HTML a notebook cell put out) with the first use of each entry in its text made a link.

    Only text outside :data:`_SKIP_TAGS` is touched; it is unescaped to match and escaped again, so an entity
    never splits a term and nothing the source escaped comes back as markup.
    """
    out: list[str] = []
    skipping: list[str] = []  # open elements whose text is left alone
    at = 0
    while at < len(markup):
        tag = _TAG.search(markup, at)
        end = tag.start() if tag else len(markup)
        text = markup[at:end]
        spans = first_uses(html.unescape(text), pattern, terms, seen) if text and not skipping else []
        out.append(_linked_html(html.unescape(text), spans, href) if spans else text)
        if not tag:
            break
        out.append(tag[0])
        at = tag.end()
        if tag[2] is None:  # a comment
            continue
        name, closing, self_closing = tag[2].lower(), bool(tag[1]), tag[3].rstrip().endswith("/")
        if name in _RAW_TEXT and not closing:  # script or style: its text is not HTML, copy it to its end tag
            close = _RAW_TEXT[name].search(markup, at)
            stop = close.end() if close else len(markup)
            out.append(markup[at:stop])
            at = stop
        elif name in _SKIP_TAGS and not self_closing:
            if not closing:
                skipping.append(name)
            elif name in skipping:
                del skipping[len(skipping) - 1 - skipping[::-1].index(name):]
    return "".join(out)


def _linked_html(text: str, spans: list[tuple[int, int, GlossaryTerm]], href: Callable[[GlossaryTerm], str]) -> str:
    """Plain ``text`` as HTML again, each span a link to its term."""
    out, at = [], 0
    for start, end, term in spans:
        out += [html.escape(text[at:start], quote=False),
                f'<a class="reference internal eb-term" href="{html.escape(href(term))}" title="{html.escape(term.title)}">'
                f"{html.escape(text[start:end], quote=False)}</a>"]
        at = end
    out.append(html.escape(text[at:], quote=False))
    return "".join(out)


# --- Sphinx ---------------------------------------------------------------------------------------


def _glossary_terms(app: Any) -> dict[str, GlossaryTerm]:
    """The glossary's terms, read from its doctree once per build: each name (lower-cased unless it matches only
    as written) -> its term."""
    cached = getattr(app, "_eb_glossary_terms", None)
    if cached is not None:
        return cached
    from docutils import nodes
    from sphinx import addnodes

    terms: dict[str, GlossaryTerm] = {}
    if GLOSSARY_PAGE in app.env.all_docs:
        doctree = app.env.get_doctree(GLOSSARY_PAGE)
        for glossary in doctree.findall(addnodes.glossary):
            for item in glossary.findall(nodes.definition_list_item):
                names = [t for t in item.findall(nodes.term) if t.get("ids")]
                definition = next(iter(item.findall(nodes.definition)), None)
                said = " ".join(definition.astext().split()) if definition is not None else ""
                title = re.split(r"(?<=[.!?])\s", said, maxsplit=1)[0]
                for term in names:
                    name = term.astext()
                    if name.lower() in UNLINKED:
                        continue
                    key = name if _exact(name) else name.lower()
                    terms[key] = GlossaryTerm(name, names[0].astext(), term["ids"][0], title)
    app._eb_glossary_terms = terms
    return terms


_SKIP_NODES: tuple[type, ...] | None = None


def _skipped(node: Any) -> bool:
    """Whether a text node is somewhere no link belongs: a link, code, a heading, a term, a caption of a figure..."""
    global _SKIP_NODES
    if _SKIP_NODES is None:
        from docutils import nodes
        from sphinx import addnodes

        _SKIP_NODES = (nodes.reference, nodes.literal, nodes.literal_block, nodes.title, nodes.subtitle, nodes.rubric,
                       nodes.term, nodes.raw, nodes.target, nodes.comment, nodes.math, nodes.math_block,
                       nodes.citation_reference, nodes.footnote_reference, nodes.citation, nodes.footnote,
                       nodes.image, nodes.FixedTextElement, addnodes.pending_xref, addnodes.glossary,
                       addnodes.toctree, addnodes.desc_signature)
    parent = node.parent
    while parent is not None:
        if isinstance(parent, _SKIP_NODES):
            return True
        parent = parent.parent
    return False


def link_page(doctree: Any, terms: dict[str, GlossaryTerm], href: Callable[[GlossaryTerm], str]) -> int:
    """Link the first use of each glossary entry in ``doctree`` (text and raw HTML, in reading order); return how
    many links were made."""
    from docutils import nodes

    pattern = term_pattern(terms)
    if pattern is None:
        return 0
    seen: set[str] = set()

    def is_text_or_html(node: Any) -> bool:
        return isinstance(node, nodes.Text) or (isinstance(node, nodes.raw) and "html" in node.get("format", "").split())

    def make_link(words: str, term: GlossaryTerm) -> Any:
        return nodes.reference(words, words, internal=True, refuri=href(term), reftitle=term.title,
                               classes=["eb-term"])

    for node in list(doctree.findall(is_text_or_html)):
        if isinstance(node, nodes.raw):
            if not _skipped(node):
                source = node.astext()
                linked = link_first_uses_in_html(source, pattern, terms, seen, href)
                if linked != source:
                    node.children[:] = [nodes.Text(linked)]  # what the HTML writer writes
            continue
        if _skipped(node):
            continue
        pieces = link_first_uses_in_text(str(node), pattern, terms, seen, make_link)
        if len(pieces) > 1 or (pieces and not isinstance(pieces[0], str)):
            node.parent.replace(node, [nodes.Text(p) if isinstance(p, str) else p for p in pieces])
    return len(seen)


def _link_terms(app: Any, doctree: Any, docname: str) -> None:
    if app.builder.format != "html" or docname == GLOSSARY_PAGE:
        return
    terms = _glossary_terms(app)
    if not terms:
        return
    page = app.builder.get_relative_uri(docname, GLOSSARY_PAGE)
    link_page(doctree, terms, lambda term: f"{page}#{term.anchor}")


def _forget_terms(app: Any) -> None:
    app._eb_glossary_terms = None


def _glossary_changed(app: Any, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Every page is written again when the glossary's text changed: its terms are what they link."""
    path = Path(app.srcdir) / f"{GLOSSARY_PAGE}.md"
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    if getattr(env, "eb_glossary_digest", None) == digest:
        return []
    env.eb_glossary_digest = digest
    return sorted(set(env.found_docs) - added - changed - removed)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (listed in _config.yml under sphinx.extra_extensions)."""
    app.connect("builder-inited", _forget_terms)
    app.connect("env-get-outdated", _glossary_changed)
    app.connect("doctree-resolved", _link_terms)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
