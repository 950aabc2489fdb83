"""The emulator honours the Web API contract that pyzotero and the sync rely on."""

from __future__ import annotations

import httpx2
from pyzotero import zotero
from zotero_emulator import ZoteroEmulator, make_item


def client(emu: ZoteroEmulator) -> zotero.Zotero:
    zot = zotero.Zotero(4242, "group", api_key="secret-key-1234")
    zot.endpoint = emu.url
    return zot


def test_pages_follow_link_next_with_every_parameter() -> None:
    with ZoteroEmulator() as emu:
        emu.put(*[make_item("A" + f"{n:07d}".translate(str.maketrans("0123456789", "23456789AB"))) for n in range(130)])
        zot = client(emu)
        items = zot.everything(zot.items(limit=50, includeTrashed=1))
        assert len(items) == 130 and len({i["key"] for i in items}) == 130
        assert len(emu.requests) == 3 and all("includeTrashed=1" in r for r in emu.requests)
        assert zot.request.headers["Total-Results"] == "130"


def test_conditional_request_gives_304_and_item_key_batches_are_capped() -> None:
    with ZoteroEmulator() as emu:
        emu.put(make_item("AAAAAAAA"))
        headers = {"Zotero-API-Key": "secret-key-1234"}
        url = f"{emu.url}/groups/4242/items"
        assert httpx2.get(url, headers={**headers, "If-Modified-Since-Version": "1"}).status_code == 304
        assert httpx2.get(url, headers={**headers, "If-Modified-Since-Version": "0"}).status_code == 200
        many = ",".join(["AAAAAAAA"] * 51)
        assert httpx2.get(url, params={"itemKey": many}, headers=headers).status_code == 400
        assert httpx2.get(url, headers={"Zotero-API-Key": "wrong"}).text == "Invalid key."


def test_trash_is_hidden_unless_asked_and_deleted_lists_purges() -> None:
    with ZoteroEmulator() as emu:
        emu.put(make_item("AAAAAAAA"), make_item("BBBBBBBB"))
        emu.trash("AAAAAAAA")
        zot = client(emu)
        assert [i["key"] for i in zot.items()] == ["BBBBBBBB"]
        assert {i["key"] for i in zot.items(includeTrashed=1)} == {"AAAAAAAA", "BBBBBBBB"}
        emu.purge("BBBBBBBB")
        assert zot.deleted(since=1)["items"] == ["BBBBBBBB"]


def test_faults_can_be_aimed_and_can_cut_the_connection() -> None:
    import pytest
    from zotero_emulator import DROP_BEFORE, DROP_MID_BODY, Fault

    with ZoteroEmulator() as emu:
        emu.put(*[make_item(f"AAAAAAA{c}") for c in "23456789"])
        headers = {"Zotero-API-Key": "secret-key-1234"}
        url = f"{emu.url}/groups/4242/items"
        emu.faults += [Fault(200, {"Last-Modified-Version": "soon"}, query="format=versions", skip=1, body=None),
                       Fault(0, drop=DROP_BEFORE, path="/deleted"),
                       Fault(0, drop=DROP_MID_BODY, query="itemKey")]
        first = httpx2.get(url, params={"format": "versions"}, headers=headers)
        assert first.headers["Last-Modified-Version"] == "1"  # skipped
        second = httpx2.get(url, params={"format": "versions"}, headers=headers)
        assert second.headers["Last-Modified-Version"] == "soon" and len(second.json()) == 8  # real body, bad header
        with pytest.raises(httpx2.RemoteProtocolError):
            httpx2.get(f"{emu.url}/groups/4242/deleted", params={"since": "0"}, headers=headers)
        with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
            httpx2.get(url, params={"itemKey": "AAAAAAA2"}, headers=headers)
        assert httpx2.get(url, params={"itemKey": "AAAAAAA2"}, headers=headers).json()[0]["key"] == "AAAAAAA2"
