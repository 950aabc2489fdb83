"""Everything from Zotero is rendered inert: escaped text, links only to http(s)."""

from __future__ import annotations

import re

import pandas as pd

import evidencebook as eb

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_table_cells_are_escaped_and_javascript_links_dropped() -> None:
    rows = pd.DataFrame({"title": [HOSTILE], "url": ["javascript:alert(3)"], "n": [1]})
    out = eb.html_table(rows, {"title": "Title", "n": "N"}, links={"title": "url"})
    assert "<script>" not in out and "<img" not in out and "javascript:" not in out
    assert "&lt;script&gt;" in out and 'style="overflow-x:auto"' in out


def test_http_links_are_kept_and_attribute_quotes_escaped() -> None:
    rows = pd.DataFrame({"t": ["x"], "url": ['https://example.org/?a="b"']})
    out = eb.html_table(rows, {"t": "T"}, links={"t": "url"})
    assert 'href="https://example.org/?a=&quot;b&quot;"' in out


def test_safe_url_and_escape() -> None:
    assert eb.safe_url(" data:text/html,x") == "" and eb.safe_url("http://a.b") == "http://a.b"
    assert eb.e(float("nan")) == "" and eb.e('"') == "&quot;"


def test_study_entries_carry_anchors_quotes_and_zotero_links() -> None:
    from conftest import ROOT
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    html = eb.study_entries(evidence)
    assert f'id="{eb.study_anchor("lloydevans2014systematic")}"' in html and 'id="finding-O02"' in html
    assert "Zotero item XN33W4LG" in html and "zotero.org" not in html  # the bundled library is not online
    online = eb.study_entries(evidence, {"library_type": "group", "library_id": 4242})
    assert 'href="https://www.zotero.org/groups/4242/items/' in online
    table = eb.findings_table(evidence, ["hope"])
    assert f'href="../studies.html#{eb.study_anchor("fuhr2014effectiveness")}"' in table


SPOOFED = "invoice\u202efdp.exe and zero\u200bwidth\u2060joined\ufeff, isolate \u2067x\u2069, tag \U000e0041"


def test_bidi_overrides_and_zero_width_characters_are_shown_as_code_points() -> None:
    """U+202E makes 'invoice\u202efdp.exe' display as 'invoiceexe.pdf': every page and brief shows it instead."""
    shown = ("invoice[U+202E]fdp.exe and zero[U+200B]width[U+2060]joined[U+FEFF], isolate [U+2067]x[U+2069], "
             "tag [U+E0041]")
    assert eb.e(SPOOFED) == shown
    rows = pd.DataFrame({"title": [SPOOFED], "url": ["https://example.org/"]})
    table = eb.html_table(rows, {"title": "Title"}, links={"title": "url"})
    assert shown in table and not any(ch in table for ch in "\u202e\u200b\u2060\ufeff\u2067\u2069\U000e0041")
    assert eb.e("plain, accented é, CJK 中文, Arabic عربي") == "plain, accented é, CJK 中文, Arabic عربي"


def test_a_cell_with_a_word_longer_than_a_line_may_break_it_and_other_cells_keep_their_words() -> None:
    """A 100,000-character title made its table (and page) hundreds of thousands of pixels wide."""
    long_word = "W" * 100_000
    rows = pd.DataFrame({"title": [f"A title {long_word}", "hospitalisation " * 20],
                         "url": ["https://example.org/", ""]})
    out = eb.html_table(rows, {"title": "Title"}, links={"title": "url"})
    cells = re.findall(r"<td[^>]*>", out)
    assert cells == ['<td style="overflow-wrap:anywhere">', "<td>"]
    assert long_word in out  # wrapped, not cut
    assert '<td style="overflow-wrap:anywhere">' in eb.html_table(pd.DataFrame({"a": ["x" * 80]}), {"a": "A"})
    assert "<td>" in eb.html_table(pd.DataFrame({"a": ["x" * 79]}), {"a": "A"})
