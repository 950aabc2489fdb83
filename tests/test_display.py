"""Everything from Zotero is rendered inert: escaped text, links only to http(s)."""

from __future__ import annotations

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
