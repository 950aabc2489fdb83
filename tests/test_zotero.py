"""The Zotero snapshot on disk: deterministic, the API's text kept exactly, and loud about damage."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from conftest import parent

import evidencebook as eb


def test_snapshot_round_trips_and_is_byte_stable(tmp_path: Path) -> None:
    items = [parent("BBBBBBBB"), parent("AAAAAAAA", title="Peer support – “hope”")]
    eb.write_snapshot(tmp_path / "zotero", items, {"type": "group", "id": 1, "version": 7})
    first = {p.name: p.read_bytes() for p in (tmp_path / "zotero" / "items").iterdir()}
    eb.write_snapshot(tmp_path / "zotero", list(reversed(items)), {"type": "group", "id": 1, "version": 7})
    assert {p.name: p.read_bytes() for p in (tmp_path / "zotero" / "items").iterdir()} == first
    snapshot = eb.read_snapshot(tmp_path / "zotero")
    assert snapshot.version == 7 and [i["key"] for i in snapshot.items] == ["AAAAAAAA", "BBBBBBBB"]
    assert "“hope”" in first["AAAAAAAA.json"].decode("utf-8")  # UTF-8, not \\u escapes


def test_strings_are_kept_exactly_as_the_api_sent_them(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Ødegård café")
    eb.write_snapshot(tmp_path / "z", [parent("AAAAAAAA", title=decomposed)], {"version": 1})
    assert decomposed != "Ødegård café"
    assert eb.read_snapshot(tmp_path / "z").items[0]["data"]["title"] == decomposed
    assert decomposed in (tmp_path / "z" / "items" / "AAAAAAAA.json").read_text(encoding="utf-8")


def test_a_string_utf8_cannot_hold_is_escaped_not_a_crash(tmp_path: Path) -> None:
    # JSON may carry a lone surrogate ("\\ud800"); Python decodes it, UTF-8 cannot encode it.
    title = "half a pair \ud800 of surrogates"
    eb.write_snapshot(tmp_path / "z", [parent("AAAAAAAA", title=title), parent("BBBBBBBB", title="café")],
                      {"version": 1})
    snapshot = eb.read_snapshot(tmp_path / "z")
    assert [i["data"]["title"] for i in snapshot.items] == [title, "café"]
    assert "café" in (tmp_path / "z" / "items" / "BBBBBBBB.json").read_text(encoding="utf-8")  # others stay readable


def test_removed_items_disappear_on_rewrite(tmp_path: Path) -> None:
    eb.write_snapshot(tmp_path / "z", [parent("AAAAAAAA"), parent("BBBBBBBB")], {"version": 1})
    eb.write_snapshot(tmp_path / "z", [parent("AAAAAAAA")], {"version": 2})
    assert [p.stem for p in (tmp_path / "z" / "items").iterdir()] == ["AAAAAAAA"]


def test_corrupt_item_file_is_named(tmp_path: Path) -> None:
    eb.write_snapshot(tmp_path / "z", [parent("AAAAAAAA")], {"version": 1})
    (tmp_path / "z" / "items" / "AAAAAAAA.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(eb.EvidenceError, match=r"AAAAAAAA\.json: corrupt"):
        eb.read_snapshot(tmp_path / "z")


def test_missing_snapshot_is_named(tmp_path: Path) -> None:
    with pytest.raises(eb.EvidenceError, match=r"library\.json: missing"):
        eb.read_snapshot(tmp_path / "nowhere")
