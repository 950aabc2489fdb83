"""The References page as the text cites it, and what it costs to build.

A Sphinx extension (listed in ``_config.yml``) around sphinxcontrib-bibtex:

- **the style** ``evidencebook`` (a pybtex formatting style, ``bibtex_default_style``): entries in
  author-year order, labelled author-year as the text cites them ("Min et al., 2007"; "2020a", "2020b"
  when two would read the same), titles exactly as written in Zotero (pybtex's ``plain`` lowercases
  them: "CORE: Strengthening the peer workforce in Southern Oregon" became "Core: strengthening ...
  southern oregon");
- **anchors from citation keys**: every entry's id is :func:`reference_anchor` of its key
  (``references.html#ref-min2007peer``), the same in every build, and in-text citations link to it
  (sphinxcontrib-bibtex numbers them ``id1``, ``id2``... in the order of the .bib file otherwise);
- **formatting once per entry change**: sphinxcontrib-bibtex formats every entry of the bibliography
  on every build (twice: once more for its tooltip).  The style keeps each entry's formatted text and
  label in the project's disk cache (:class:`~evidencebook._cache.DiskCache`), keyed on the entry's
  text, so a build formats only the entries that are new or changed.

It imports nothing heavy (no pandas): jupyter-book loads it on every build.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Iterator

import pybtex.plugin
from pybtex.richtext import BaseText, HRef, Protected, String, Symbol, Tag, Text
from pybtex.style import FormattedEntry
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from pybtex.style.template import FieldIsMissing
from pybtex.style.template import field as bib_field
from pybtex.style.template import sentence

from ._cache import DiskCache

__all__ = ["reference_anchor"]  # the rest is the extension and its style, used by name from _config.yml

STYLE_NAME = "evidencebook"
# Bump when what the style produces changes in a way the entries' text does not show.
_FORMAT_VERSION = "1"
_CACHE_NAME = "bibliography"


# --- anchors ----------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def reference_anchor(citation_key: str) -> str:
    """The id of a citation key's entry on the References page: ``ref-`` and the key in lower case.

    Sphinx turns ids into ``[a-z0-9-]`` (docutils' ``make_id``), so two keys that differ only in
    punctuation ("smith2020.a", "smith2020_a") would share an id and sphinxcontrib-bibtex would
    stop on the second; a key with anything but letters, digits and single hyphens therefore
    gets a short hash of itself too.  Either way the anchor depends on the key alone: adding or
    removing other entries never moves it.  (Keys differ without case already: BibTeX compares
    them so, and the coding keeps them unique so.)
    """
    if _PLAIN_KEY.fullmatch(citation_key):
        return f"ref-{citation_key.lower()}"
    readable = "-".join(re.findall(r"[a-z0-9]+", citation_key.lower()))
    digest = hashlib.sha256(citation_key.encode("utf-8")).hexdigest()[:8]
    return f"ref-{readable}-{digest}" if readable else f"ref-{digest}"


class _CiteId(str):
    """``bibtex_cite_id``: sphinxcontrib-bibtex calls ``.format(bibliography_count=..., key=...)`` on it
    to get each entry's id; this one answers :func:`reference_anchor` of the key (a plain format
    string can only lower-case it, and collides as :func:`reference_anchor` explains)."""

    def format(self, *args: Any, **kwargs: Any) -> str:  # noqa: A003 - the name sphinxcontrib-bibtex calls
        return reference_anchor(str(kwargs["key"]))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with Sphinx's environment: stays itself
        return (_CiteId, (str(self),))


# --- labels -----------------------------------------------------------------------------------


@functools.cache
def _text_backend() -> Any:
    # Made once: pybtex's find_plugin reads every installed package's entry points on each call (60 ms here),
    # and render_as("text") calls it for every text it renders.
    return pybtex.plugin.find_plugin("pybtex.backends", "text")()


@functools.cache
def _label_template() -> tuple[Any, Any]:
    from sphinxcontrib.bibtex.style.referencing import PersonStyle
    from sphinxcontrib.bibtex.style.template import join, year

    person = PersonStyle()
    return join(sep=", ")[person.author_or_editor_or_title(full=False), year], SimpleNamespace(person=person)


def author_year(entry: Any) -> str:
    """An entry's label as the text cites it, with sphinxcontrib-bibtex's ``author_year`` defaults:
    "Min et al., 2007", "Resnick and Rosenheck, 2008", "n.d." without a year."""
    template, style = _label_template()
    return str(template.format_data({"entry": entry, "style": style}).render(_text_backend()))


def _suffix(n: int) -> str:
    """a, b, ..., z, aa, ab, ...: the letters that tell apart two entries with the same label."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def disambiguate(labels: list[str]) -> list[str]:
    """Labels made unique in their order: a label shared by several entries gets a, b, c... after its
    year ("n.d.-a" after no year), as author-year styles do."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        if counts[label] == 1:
            out.append(label)
            continue
        n = seen.get(label, 0)
        seen[label] = n + 1
        out.append(label + ("-" if label.endswith("n.d.") else "") + _suffix(n))
    return out


class AuthorYearLabels(BaseLabelStyle):
    """pybtex label style: author-year, unique within the list."""

    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        cache = _active_cache()
        return iter(disambiguate([cache.label(entry) if cache else author_year(entry) for entry in sorted_entries]))


# --- order ----------------------------------------------------------------------------------


def _plain(latex: str) -> str:
    """A BibTeX field or name as a reader sees it (braces and accents decoded), for sorting."""
    try:
        return str(Text.from_latex(latex).render(_text_backend()))
    except Exception:  # noqa: BLE001 - pybtex's LaTeX reader raises its own kinds; sort by the raw text then
        return latex


def sort_key(entry: Any) -> list[str]:
    """Authors' last names (of the editors without authors; the title without either), year, first names,
    title: as plain text without case, so entries that read alike in the text ("Landers and Zhou, 2011",
    "..., 2014") follow each other by year whatever their initials.  pybtex's ``author_year_title``
    compares names as written in BibTeX, so a corporate author (``{{Providence Center ...}}``, in
    braces) sorted after every "Z", and "Landers, G" before "Landers, GM" whatever their years."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = "\x01".join(_plain(" ".join([*p.prelast_names, *p.last_names])) for p in people)
    first = "\x01".join(_plain(" ".join([*p.first_names, *p.middle_names])) for p in people)
    title = _plain(entry.fields.get("title", ""))
    return [(last or title).casefold(), entry.fields.get("year", ""), first.casefold(), title.casefold()]


class AuthorYearTitleOrder(BaseSortingStyle):
    """pybtex sorting style: author-year-title, on the names and titles as a reader sees them."""

    def sorting_key(self, entry: Any) -> list[str]:
        cache = _active_cache()
        return cache.sort_key(entry) if cache else sort_key(entry)


# --- the formatting style -------------------------------------------------------------------


class ReviewStyle(PlainStyle):
    """pybtex's ``plain`` with author-year labels, author-year-title order and titles as written."""

    default_label_style = STYLE_NAME  # AuthorYearLabels and AuthorYearTitleOrder, registered by _register()
    default_sorting_style = STYLE_NAME

    def __init__(self, **kwargs: Any) -> None:
        _register()
        super().__init__(**kwargs)

    def format_title(self, e: Any, which_field: str, as_sentence: bool = True) -> Any:
        # plain's title is field(..., apply_func=capitalize): lower case but for the first letter
        formatted = bib_field(which_field)
        return sentence[formatted] if as_sentence else formatted

    def format_entry(self, label: str, entry: Any, bib_data: Any = None) -> FormattedEntry:
        cache = _active_cache()
        if cache is None or bib_data is not None:  # crossrefs read other entries: not keyed on this one alone
            return FormattedEntry(entry.key, self._text(label, entry, bib_data), label)
        return FormattedEntry(entry.key, cache.text(entry, lambda: self._text(label, entry, None)), label)

    def _text(self, label: str, entry: Any, bib_data: Any) -> BaseText:
        try:
            return super().format_entry(label, entry, bib_data=bib_data).text
        except FieldIsMissing:
            # Zotero does not ask for what a BibTeX type requires (a report's institution, a thesis' school):
            # the entry is shown as @misc, with what it has, instead of an error in bold on the page.
            context = {"entry": entry, "style": self, "bib_data": bib_data}
            return self.get_misc_template(entry).format_data(context)


# --- rich text to JSON and back (the disk cache holds text) -----------------------------------


def text_to_json(text: BaseText) -> Any:
    """A pybtex rich text as JSON-able lists (see :func:`text_from_json`)."""
    if isinstance(text, String):
        return text.value
    if isinstance(text, Symbol):
        return ["sym", text.name]
    parts = [text_to_json(p) for p in text.parts]
    if isinstance(text, HRef):
        return ["href", text.url, bool(text.external), parts]
    if isinstance(text, Tag):
        return ["tag", text.name, parts]
    if isinstance(text, Protected):
        return ["protected", parts]
    if type(text) is Text:
        return ["text", parts]
    raise TypeError(f"pybtex rich text of an unknown kind: {type(text).__name__}")


def text_from_json(data: Any) -> BaseText:
    """The rich text :func:`text_to_json` wrote."""
    if isinstance(data, str):
        return String(data)
    kind = data[0]
    if kind == "sym":
        return Symbol(data[1])
    if kind == "href":
        return HRef(data[1], *map(text_from_json, data[3]), external=data[2])
    if kind == "tag":
        return Tag(data[1], *map(text_from_json, data[2]))
    if kind == "protected":
        return Protected(*map(text_from_json, data[1]))
    return Text(*map(text_from_json, data[1]))


# --- the cache ----------------------------------------------------------------------------------


def entry_digest(entry: Any) -> str:
    """A hash of everything of an entry that formatting reads: its key, type, fields and people, as written."""
    persons = [[role, [str(p) for p in people]] for role, people in entry.persons.items()]
    text = json.dumps([entry.key, entry.type, list(entry.fields.items()), persons], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class EntryCache:
    """Each entry's formatted text and label, by :func:`entry_digest`, kept in ``disk`` between builds.

    :meth:`save` keeps the entries used since it was loaded (a removed entry is forgotten) and
    writes only when one was formatted (a build that formats nothing writes nothing).
    """

    disk: DiskCache
    key: str
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    used: dict[str, dict[str, Any]] = field(default_factory=dict)
    formatted: int = 0  # labels, sort keys and texts made since loaded
    reused: int = 0  # texts taken from the disk
    _saved_formatted: int = 0
    _texts: dict[str, BaseText] = field(default_factory=dict)  # decoded this build (the tooltip asks again)

    @classmethod
    def load(cls, disk: DiskCache, style: str = STYLE_NAME) -> "EntryCache":
        key = hashlib.sha256(f"{style}\0{_FORMAT_VERSION}\0{_versions()}".encode()).hexdigest()
        raw = disk.read(_CACHE_NAME, key)
        try:
            kept = json.loads(raw) if raw else {}
        except ValueError:  # a torn or foreign file: format again
            kept = {}
        return cls(disk, key, kept if isinstance(kept, dict) else {})

    def _slot(self, entry: Any) -> dict[str, Any]:
        digest = entry_digest(entry)  # hashed up to 3 times per entry: about 20 ms per 1,000 entries
        slot = self.used.get(digest)
        if slot is None:
            slot = self.used[digest] = dict(self.kept.get(digest) or {})
        return slot

    def sort_key(self, entry: Any) -> list[str]:
        slot = self._slot(entry)
        if not isinstance(slot.get("sort"), list):
            slot["sort"] = sort_key(entry)
            self.formatted += 1
        return list(slot["sort"])

    def label(self, entry: Any) -> str:
        slot = self._slot(entry)
        if not isinstance(slot.get("label"), str):
            slot["label"] = author_year(entry)
            self.formatted += 1
        return str(slot["label"])

    def text(self, entry: Any, make: Any) -> BaseText:
        digest = entry_digest(entry)
        if digest in self._texts:
            return self._texts[digest]
        slot = self._slot(entry)
        text = None
        if "text" in slot:
            try:
                text = text_from_json(slot["text"])
                self.reused += 1
            except (TypeError, ValueError, IndexError, KeyError):  # damaged: formatted again below
                text = None
        if text is None:
            text = make()
            slot["text"] = text_to_json(text)
            self.formatted += 1
        self._texts[digest] = text
        return text

    def save(self) -> None:
        if self.formatted != self._saved_formatted or self.used.keys() != self.kept.keys():
            self.disk.write(_CACHE_NAME, self.key, json.dumps(self.used, ensure_ascii=False, sort_keys=True))
            self.kept, self._saved_formatted = dict(self.used), self.formatted


def _versions() -> str:
    from importlib.metadata import version

    return f"pybtex {version('pybtex')} sphinxcontrib-bibtex {version('sphinxcontrib-bibtex')}"


_ACTIVE: list[EntryCache] = []  # the running Sphinx build's cache (one build per process)


def _active_cache() -> EntryCache | None:
    return _ACTIVE[-1] if _ACTIVE else None


# --- the Sphinx extension -------------------------------------------------------------------


def _register() -> None:
    pybtex.plugin.register_plugin("pybtex.style.formatting", STYLE_NAME, ReviewStyle)
    pybtex.plugin.register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabels)
    pybtex.plugin.register_plugin("pybtex.style.sorting", STYLE_NAME, AuthorYearTitleOrder)


_CITE_ID = "ref-{key}"


def _stable_ids(app: Any, config: Any) -> None:
    """Each entry's id from its citation key (unless the project set ``bibtex_cite_id`` itself).

    Set as a plain string at ``config-inited`` (Sphinx compares it with the last build's, and its type checks,
    also run again when the theme loads, warn about a subclass of str), and made a :class:`_CiteId` once the
    builder is set up, before any page is read: the same text, so Sphinx sees no change in its configuration."""
    if not config.bibtex_cite_id:
        config.bibtex_cite_id = _CITE_ID


def _cite_ids_from_keys(app: Any) -> None:
    if app.config.bibtex_cite_id == _CITE_ID:
        app.config.bibtex_cite_id = _CiteId(_CITE_ID)


def _open_cache(app: Any) -> None:
    from ._config import load_settings
    from ._errors import ConfigError

    try:
        folder: Path | None = load_settings(Path(app.srcdir)).cache_dir
    except ConfigError:  # not an evidencebook project (a bare Sphinx one): no cache, the same pages
        folder = None
    _ACTIVE[:] = [EntryCache.load(DiskCache(folder))]


def _save_cache(app: Any, env: Any) -> list[str]:
    # Connected after sphinxcontrib-bibtex's env-updated, which formats the entries.
    cache = _active_cache()
    if cache is not None:
        cache.save()
    return []


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (listed in _config.yml under sphinx.extra_extensions)."""
    app.setup_extension("sphinxcontrib.bibtex")
    _register()
    app.connect("config-inited", _stable_ids, priority=900)
    app.connect("builder-inited", _cite_ids_from_keys)
    app.connect("builder-inited", _open_cache)
    app.connect("env-updated", _save_cache, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
