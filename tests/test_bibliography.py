"""The References page: author-year order and labels, titles as written, anchors from citation keys that
stay put between builds, and each entry formatted once per change (evidencebook/_bibliography.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pybtex.database import parse_string

from evidencebook import _bibliography as bib
from evidencebook._cache import DiskCache

ROOT = Path(__file__).resolve().parents[1]

BIB = r"""
@misc{coreSouthernOregon,
  author = {{Providence Center for Outcomes Research \& Education (CORE)}},
  title = {CORE: Strengthening the peer workforce in Southern Oregon},
  howpublished = {Providence Center for Outcomes Research \& Education (CORE)},
  url = {https://example.org/core}
}

@article{min2007peer,
  author = {Min, SY and Whitecraft, J and Rothbard, AB and Salzer, MS},
  title = {Peer support for persons with co-occurring disorders and community tenure: a survival analysis},
  journal = {Psychiatric Rehabilitation Journal},
  year = {2007}
}

@article{resnick2008integrating,
  author = {Resnick, Sandra G. and Rosenheck, Robert A.},
  title = {Integrating peer-provided services: a quasi-experimental study of recovery orientation},
  journal = {Psychiatric Services},
  year = {2008}
}
"""

ADDED = r"""
@article{aaron2020first,
  author = {Aaron, Ann},
  title = {An entry that sorts first, added between two builds},
  journal = {Journal of Tests},
  year = {2020}
}
"""


def _entries(text: str) -> list[Any]:
    return list(parse_string(text, "bibtex").entries.values())


def _formatted(text: str) -> list[Any]:
    return list(bib.ReviewStyle().format_entries(_entries(text)))


# --- the style --------------------------------------------------------------------------------


def test_titles_are_kept_as_written() -> None:
    shown = {e.key: e.text.render_as("text") for e in _formatted(BIB)}
    assert "CORE: Strengthening the peer workforce in Southern Oregon." in shown["coreSouthernOregon"]
    assert "Providence Center for Outcomes Research & Education (CORE)" in shown["coreSouthernOregon"]


def test_entries_are_in_author_year_order_with_author_year_labels() -> None:
    formatted = _formatted(BIB + ADDED)
    assert [(e.key, e.label) for e in formatted] == [
        ("aaron2020first", "Aaron, 2020"),
        ("min2007peer", "Min et al., 2007"),
        ("coreSouthernOregon", "Providence Center for Outcomes Research & Education (CORE), n.d."),
        ("resnick2008integrating", "Resnick and Rosenheck, 2008"),
    ]


def test_entries_by_the_same_authors_follow_each_other_by_year_whatever_their_initials() -> None:
    """pybtex's author_year_title put "Landers, G" (2014) before "Landers, GM" (2011): two entries the
    reader sees as "Landers and Zhou, 2014" then "Landers and Zhou, 2011"."""
    text = ("@article{l2014,\n author = {Landers, G and Zhou, M},\n title = {B},\n journal = {J},\n year = {2014}\n}\n"
            "@article{l2011,\n author = {Landers, GM and Zhou, M},\n title = {A},\n journal = {J},\n year = {2011}\n}\n"
            "@article{t2011,\n author = {Tracy, K and Ann, B and Cole, C},\n title = {C},\n journal = {J},\n year = {2011}\n}\n"
            "@misc{t,\n author = {Tracy, K},\n title = {D}\n}\n")
    assert [e.label for e in _formatted(text)] == ["Landers and Zhou, 2011", "Landers and Zhou, 2014", "Tracy, n.d.",
                                                   "Tracy et al., 2011"]


def test_entries_that_would_read_the_same_get_letters_after_the_year() -> None:
    text = "".join(f"@article{{smith{n},\n author = {{Smith, J}},\n title = {{Title {n}}},\n journal = {{J}},\n"
                   f" year = {{2020}}\n}}\n" for n in "abc")
    text += "@misc{anon1,\n author = {{Agency}},\n title = {One}\n}\n@misc{anon2,\n author = {{Agency}},\n title = {Two}\n}\n"
    labels = [e.label for e in _formatted(text)]
    assert labels == ["Agency, n.d.-a", "Agency, n.d.-b", "Smith, 2020a", "Smith, 2020b", "Smith, 2020c"]


def test_an_entry_without_a_field_its_type_requires_is_shown_with_what_it_has() -> None:
    """A Zotero report without an institution became a techreport pybtex refuses: the page showed
    "missing institution in ..." in bold instead of the entry."""
    text = "@techreport{anon2021,\n title = {A report as written},\n year = {2021},\n note = {Zotero item X}\n}\n"
    (entry,) = _formatted(text)
    assert entry.text.render_as("text") == "A report as written. 2021. Zotero item X."


def test_disambiguate_runs_past_z() -> None:
    assert bib.disambiguate(["X, 2020"] * 28)[25:] == ["X, 2020z", "X, 2020aa", "X, 2020ab"]


# --- anchors ---------------------------------------------------------------------------------


def test_a_plain_key_is_its_own_anchor_in_lower_case() -> None:
    assert bib.reference_anchor("coreSouthernOregon") == "ref-coresouthernoregon"
    assert bib.reference_anchor("min2007peer") == "ref-min2007peer"
    assert bib.reference_anchor("lloyd-evans2014") == "ref-lloyd-evans2014"


@pytest.mark.parametrize("keys", [
    ["smith2020.a", "smith2020_a", "smith2020:a", "smith2020/a", "smith2020+a", "smith2020-a", "smith2020--a"],
    ["2020report", "_2020report", "-2020report"],
])
def test_keys_that_differ_in_punctuation_get_different_anchors(keys: list[str]) -> None:
    """docutils' make_id would give all of these one id, and sphinxcontrib-bibtex would stop on the second."""
    from docutils.nodes import make_id

    anchors = [bib.reference_anchor(k) for k in keys]
    assert len(set(anchors)) == len(keys)
    assert all(make_id(a) == a for a in anchors)  # Sphinx keeps them as they are


# --- the cache ---------------------------------------------------------------------------------


def test_rich_text_survives_the_cache_for_every_entry_of_the_bundled_review() -> None:
    entries = _entries((ROOT / "evidence" / "references.bib").read_text(encoding="utf-8"))
    assert len(entries) > 30
    for formatted in bib.ReviewStyle().format_entries(entries):
        again = bib.text_from_json(bib.text_to_json(formatted.text))
        assert again == formatted.text, formatted.key
        assert again.render_as("html") == formatted.text.render_as("html"), formatted.key


def _format_with_cache(folder: Path, text: str) -> tuple[list[Any], bib.EntryCache]:
    cache = bib.EntryCache.load(DiskCache(folder))
    bib._ACTIVE[:] = [cache]
    try:
        formatted = _formatted(text)
        cache.save()
    finally:
        bib._ACTIVE.clear()
    return formatted, cache


def test_an_entry_is_formatted_once_per_change(tmp_path: Path) -> None:
    plain = [e.text.render_as("html") for e in _formatted(BIB)]
    first, cache = _format_with_cache(tmp_path, BIB)
    assert cache.formatted == 9 and cache.reused == 0  # three sort keys, labels and texts
    again, cache = _format_with_cache(tmp_path, BIB)
    assert (cache.formatted, cache.reused) == (0, 3)
    assert [e.text.render_as("html") for e in again] == [e.text.render_as("html") for e in first] == plain
    changed = BIB.replace("year = {2007}", "year = {2009}")
    formatted, cache = _format_with_cache(tmp_path, changed + ADDED)
    assert (cache.formatted, cache.reused) == (6, 2)  # min2007peer changed, aaron2020first is new: 3 each
    assert {e.key: e.label for e in formatted}["min2007peer"] == "Min et al., 2009"
    assert "2009" in {e.key: e.text.render_as("text") for e in formatted}["min2007peer"]


def test_a_removed_entry_is_forgotten_and_a_build_that_formats_nothing_writes_nothing(tmp_path: Path) -> None:
    _format_with_cache(tmp_path, BIB + ADDED)
    _, cache = _format_with_cache(tmp_path, BIB)
    assert len(cache.kept) == 3
    (written,) = tmp_path.glob("bibliography-*.cache")
    stamp = written.stat().st_mtime_ns
    _format_with_cache(tmp_path, BIB)
    assert written.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("junk", ["", "not json", "[1, 2]", '{"x": {"text": ["tag"]}}'])
def test_a_damaged_cache_formats_again(tmp_path: Path, junk: str) -> None:
    _format_with_cache(tmp_path, BIB)
    for path in tmp_path.glob("bibliography-*.cache"):
        path.write_text(junk, encoding="utf-8")
    formatted, _ = _format_with_cache(tmp_path, BIB)
    assert [e.text.render_as("html") for e in formatted] == [e.text.render_as("html") for e in _formatted(BIB)]


def test_a_cached_text_that_does_not_decode_is_formatted_again(tmp_path: Path) -> None:
    _, cache = _format_with_cache(tmp_path, BIB)
    for slot in cache.kept.values():
        slot["text"] = ["tag"]  # cut short
    cache.formatted = 1
    cache.used = dict(cache.kept)
    cache.save()
    formatted, cache = _format_with_cache(tmp_path, BIB)
    assert cache.reused == 0 and cache.formatted == 3  # the texts (sort keys and labels kept)
    assert [e.text.render_as("html") for e in formatted] == [e.text.render_as("html") for e in _formatted(BIB)]


# --- a small Sphinx project, built twice -------------------------------------------------------

CONF = """
extensions = ["sphinxcontrib.bibtex", "evidencebook._bibliography"]
bibtex_bibfiles = ["refs.bib"]
bibtex_default_style = "evidencebook"
bibtex_reference_style = "author_year"
exclude_patterns = ["_build"]
"""

BUILD = """
import json, sys
from sphinx.cmd.build import build_main
from evidencebook import _bibliography as bib
code = build_main(["-q", "-b", "html", sys.argv[1], sys.argv[2]])
cache = bib._active_cache()
print(json.dumps({"code": code, "formatted": cache.formatted if cache else None, "reused": cache.reused if cache else None}))
"""


def _build(project: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", BUILD, str(project), str(project / "_build")], cwd=project,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    result = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return dict(result)


def _anchors(page: str) -> dict[str, str]:
    """Each entry's label -> its id, as the References page shows them."""
    found = re.findall(r'<div class="citation" id="([^"]+)" role="doc-biblioentry">\s*<span class="label">'
                       r'<span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">\]</span>', page, re.DOTALL)
    return {re.sub(r"<[^>]+>", "", label): anchor for anchor, label in found}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "conf.py").write_text(CONF, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[tool.evidencebook]\n", encoding="utf-8")  # the cache's folder
    (tmp_path / "refs.bib").write_text(BIB, encoding="utf-8")
    (tmp_path / "index.rst").write_text(textwrap.dedent("""\
        Review
        ======

        As the Southern Oregon project put it :cite:p:`coreSouthernOregon`.

        .. toctree::

           references
        """), encoding="utf-8")
    (tmp_path / "references.rst").write_text("References\n==========\n\n.. bibliography::\n   :all:\n", encoding="utf-8")
    return tmp_path


def test_anchors_stay_put_when_an_entry_is_added_and_citations_link_to_them(project: Path) -> None:
    first = _build(project)
    page = (project / "_build" / "references.html").read_text(encoding="utf-8")
    before = _anchors(page)
    assert list(before.items()) == [  # in author-year order, labelled as the text cites them
        ("Min et al., 2007", "ref-min2007peer"),
        ("Providence Center for Outcomes Research &amp; Education (CORE), n.d.", "ref-coresouthernoregon"),
        ("Resnick and Rosenheck, 2008", "ref-resnick2008integrating")]
    assert "CORE: Strengthening the peer workforce in Southern Oregon." in page
    index = (project / "_build" / "index.html").read_text(encoding="utf-8")
    assert 'href="references.html#ref-coresouthernoregon"' in index
    assert first["formatted"] == 9  # each entry's sort key, label and text

    (project / "refs.bib").write_text(BIB + ADDED, encoding="utf-8")
    second = _build(project)
    after = _anchors((project / "_build" / "references.html").read_text(encoding="utf-8"))
    assert {label: after[label] for label in before} == before
    assert after["Aaron, 2020"] == "ref-aaron2020first" and list(after)[0] == "Aaron, 2020"
    assert 'href="references.html#ref-coresouthernoregon"' in (project / "_build" / "index.html").read_text(
        encoding="utf-8")
    assert (second["formatted"], second["reused"]) == (3, 3)  # the added entry's sort key, label, text; others kept


def test_the_hostile_library_builds_a_references_page_with_an_anchor_per_key(project: Path) -> None:
    """Every BibTeX and HTML breaker of tests/hostile_library.py, through the style, the cache and Sphinx: one
    entry per study, each at its own key's anchor, with its title as written (markers intact)."""
    import evidencebook as eb
    from evidencebook._evidence import references_bib
    from hostile_library import hostile_library

    items, _ = hostile_library()
    studies = eb.derive_tables(eb.code_items(items), {})["studies.csv"]
    (project / "refs.bib").write_text(references_bib(items, studies), encoding="utf-8")
    (project / "index.rst").write_text("Review\n======\n\n.. toctree::\n\n   references\n", encoding="utf-8")
    pages = []
    for out in ("_build/html", "_build/again"):  # formatted, then a fresh build from the cache: the same page
        done = subprocess.run([sys.executable, "-c", BUILD, str(project), str(project / out)], cwd=project,
                              capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0 and '"code": 0' in done.stdout, done.stdout + done.stderr
        pages.append((project / out / "references.html").read_text(encoding="utf-8"))
    last = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert (last["formatted"], last["reused"]) == (0, len(studies))  # the second build read every entry from the cache
    ids = re.findall(r'<div class="citation" id="([^"]+)"', pages[0])
    assert sorted(ids) == sorted(bib.reference_anchor(k) for k in studies["citation_key"])
    assert len(ids) == len(set(ids)) == len(studies) >= 10
    assert "<script" not in pages[0].split('<div class="citation"', 1)[1].split("</section>", 1)[0]
    assert pages[1] == pages[0]


def test_the_entry_ids_come_from_the_keys_without_a_config_type_warning() -> None:
    # Sphinx checks config types at config-inited and again when the theme loads (builder init): there the id
    # format is a plain string; once the builder is set up (builder-inited) it answers reference_anchor.
    from types import SimpleNamespace

    config = SimpleNamespace(bibtex_cite_id="")
    app = SimpleNamespace(config=config)
    bib._stable_ids(app, config)
    assert type(config.bibtex_cite_id) is str
    bib._cite_ids_from_keys(app)
    assert config.bibtex_cite_id.format(bibliography_count=1, key="Smith.2020") == bib.reference_anchor("Smith.2020")
    assert config.bibtex_cite_id == "ref-{key}"  # the same text: Sphinx sees no change in its configuration
