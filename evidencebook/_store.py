"""Writing the evidence base safely: one lock, a staged copy, and a journaled swap.

A sync or rebuild never edits ``evidence/`` in place.  It writes every changed entry (the
``zotero/`` snapshot folder, tables, manifest, changelog) into ``evidence/.staging/``,
validates it, then writes a journal listing the entries and swaps them in.  If the process
is killed before the journal exists, the staging folder is thrown away and the old evidence
base stands; once the journal exists, the next evidencebook command finishes the swap.
Either way a reader that goes through :func:`recover` sees the old or the new evidence
base, never a mix.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

from ._errors import SyncError

__all__ = ["commit_entries", "evidence_lock", "recover"]

STAGING = ".staging"
RETIRED = ".retired"
JOURNAL = ".journal.json"
LOCK = ".lock"

# The evidence folders this thread of control holds the lock of: a sync takes the lock before it reads the
# snapshot and keeps it until its commit, and the rebuild it calls takes it again (a second flock on the
# same file from the same process would refuse it).
_HELD: ContextVar[frozenset[str]] = ContextVar("evidencebook_locks_held", default=frozenset())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(folder: Path) -> None:
    """Finish a swap whose journal was written; discard one that never got that far."""
    journal = folder / JOURNAL
    if journal.is_file():
        try:
            entries = json.loads(journal.read_text(encoding="utf-8"))["entries"]
        except (ValueError, KeyError, TypeError):
            # A journal that never reached the disk whole: the swap had not begun (the journal is
            # synced before any rename), so the old evidence stands and the staging is discarded.
            entries = []
        _swap(folder, entries)
        journal.unlink()
        _fsync_dir(folder)
    for leftover in (STAGING, RETIRED):
        if (folder / leftover).exists():
            shutil.rmtree(folder / leftover)


def finish_interrupted(folder: Path) -> None:
    """Finish (or discard) a swap that an interrupted writer left in ``folder``; nothing when there is none.

    A reader calls it first so that it never reads half a swap; taking the lock runs :func:`recover`, and
    a folder with no journal or staging is not locked at all (readers do not wait for one another).
    """
    if (folder / JOURNAL).exists() or (folder / STAGING).exists():
        with evidence_lock(folder):
            pass


def _swap(folder: Path, entries: list[str]) -> None:
    """Move each staged entry into place; safe to run again after an interruption."""
    (folder / RETIRED).mkdir(exist_ok=True)
    for name in entries:
        staged, live, retired = folder / STAGING / name, folder / name, folder / RETIRED / name
        if not staged.exists():
            continue  # already swapped before an interruption
        live.parent.mkdir(parents=True, exist_ok=True)  # entries may be nested (versions/v0002)
        retired.parent.mkdir(parents=True, exist_ok=True)
        if live.exists():
            if retired.exists():
                shutil.rmtree(retired) if retired.is_dir() else retired.unlink()
            live.rename(retired)
        staged.rename(live)


@contextmanager
def evidence_lock(folder: Path) -> Iterator[None]:
    """Hold the evidence base's lock; a second holder (another process or thread) gets a clear SyncError at once.

    Taking it again where it is already held (the rebuild inside a sync) just goes on.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    held = _HELD.get()
    if key in held:
        yield
        return
    handle = (folder / LOCK).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncError(f"Another sync is running on {folder} (or a rebuild that holds its lock); wait for it "
                            "to finish, then try again. Nothing was done.") from None
        token = _HELD.set(held | {key})
        try:
            recover(folder)
            yield
        finally:
            _HELD.reset(token)
    finally:
        handle.close()


def commit_entries(folder: Path, write: dict[str, Any]) -> None:
    """Atomically replace the named entries of ``folder``.

    ``write`` maps an entry name to its new text, or to a callable that writes the entry
    (a file or folder) at the path it is given.  Call under :func:`evidence_lock`.
    """
    if not write:
        return
    staging = folder / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, content in write.items():
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(target)
        else:
            target.write_text(content, encoding="utf-8")
    os.sync()  # every staged file and folder on disk before the commit point (one call, not one per file)
    tmp = folder / (JOURNAL + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"entries": sorted(write)}))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / JOURNAL)  # the commit point
    _fsync_dir(folder)
    recover(folder)
