"""Reading a Zotero library: the snapshot on disk that every later stage starts from.

The snapshot is the library as Zotero's Web API v3 returns it (``format=json``): one JSON
file per item in ``evidence/zotero/items/<KEY>.json`` and the library's identity and
version in ``evidence/zotero/library.json``.  Files are written with sorted keys, two-space
indents and UTF-8, so ``git diff`` shows exactly which item changed and how.  Every string
is kept exactly as the API sent it: no Unicode normalisation (old Zotero data can be NFD);
the coding normalises what it compares (tags, note lines).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import EvidenceError

__all__ = ["Snapshot", "read_library", "read_snapshot", "write_snapshot", "write_snapshot_files"]

Item = dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """A Zotero library as synced: its identity and version, and every item (notes included)."""

    library: dict[str, Any]
    items: list[Item]

    @property
    def version(self) -> int:
        return int(self.library.get("version", 0))


def _dumps(obj: Any) -> str:
    """Readable UTF-8 JSON; a string UTF-8 cannot hold (a lone surrogate, sent as ``\\ud800``) is escaped instead,
    so the file still reads back to exactly what the API sent."""
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True, indent=2, sort_keys=True) + "\n"
    return text


def read_library(folder: Path) -> dict[str, Any]:
    """Only the snapshot's library.json (identity, version, watermarks): cheap to read."""
    path = folder / "library.json"
    return _load_json(path) if path.is_file() else {}


def read_snapshot(folder: Path) -> Snapshot:
    """Read a library snapshot written by :func:`write_snapshot`.

    Raises :class:`EvidenceError` naming the file if the snapshot is missing or a file is
    not valid JSON or not a Zotero item.
    """
    library_file = folder / "library.json"
    if not library_file.is_file():
        raise EvidenceError(
            f"{library_file}: missing. The Zotero snapshot is incomplete; restore it from git "
            "('git checkout -- evidence/') or run 'evidencebook sync'."
        )
    library = _load_json(library_file)
    items = []
    for path in sorted((folder / "items").glob("*.json")):
        item = _load_json(path)
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict) or item.get("key") != path.stem:
            raise EvidenceError(f"{path}: not a Zotero item whose key is {path.stem!r}")
        items.append(item)
    return Snapshot(library=library, items=items)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError(f"{path}: corrupt ({exc}). Restore it from git or re-run 'evidencebook sync'.") from exc


def write_snapshot_files(target: Path, items: list[Item], library: dict[str, Any],
                         unchanged_from: Path | None = None, changed: set[str] | None = None) -> None:
    """Write a snapshot into the new folder ``target``: library.json and items/<KEY>.json.

    With ``unchanged_from`` (the current snapshot) and ``changed`` (the keys that differ),
    unchanged item files are hard-linked rather than rewritten: a small sync of a large
    library stays fast, and the folder is still swapped in as a whole.
    """
    (target / "items").mkdir(parents=True)
    (target / "library.json").write_text(_dumps(library), encoding="utf-8")
    for item in items:
        path = target / "items" / f"{item['key']}.json"
        old = unchanged_from / "items" / path.name if unchanged_from is not None else None
        if old is not None and changed is not None and item["key"] not in changed and old.is_file():
            os.link(old, path)
        else:
            path.write_text(_dumps(item), encoding="utf-8")


def write_snapshot(folder: Path, items: list[Item], library: dict[str, Any]) -> None:
    """Write a snapshot deterministically, replacing any old one in a single directory swap."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".zotero-", dir=folder.parent)) / "zotero"
    write_snapshot_files(staging, items, library)
    old = folder.with_name(folder.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(staging.parent)
    shutil.rmtree(old, ignore_errors=True)
