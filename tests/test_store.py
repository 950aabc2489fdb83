"""The evidence base is swapped in atomically: a crash at any step leaves the old or the new one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from evidencebook._store import JOURNAL, STAGING, commit_entries, evidence_lock, finish_interrupted, recover
from evidencebook import SyncError


def state(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.glob("*.txt")} | {
        f"dir/{p.name}": p.read_text() for p in (folder / "dir").glob("*")}


def seed(folder: Path) -> None:
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text("old " + name)
    (folder / "dir").mkdir()
    (folder / "dir" / "x").write_text("old x")


def new_entries() -> dict:
    def write_dir(target: Path) -> None:
        target.mkdir()
        (target / "x").write_text("new x")

    return {"a.txt": "new a.txt", "b.txt": "new b.txt", "dir": write_dir}


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_after", range(0, 12))
def test_a_crash_at_any_rename_leaves_old_or_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  crash_after: int) -> None:
    folder = tmp_path / "evidence"
    seed(folder)
    old = state(folder)
    with evidence_lock(folder):
        expected_new = None
        calls = {"n": 0}
        real_rename, real_replace = Path.rename, __import__("os").replace

        def counting(fn):
            def wrapped(*args, **kwargs):
                if calls["n"] >= crash_after:
                    raise Crash()
                calls["n"] += 1
                return fn(*args, **kwargs)
            return wrapped

        monkeypatch.setattr(Path, "rename", counting(real_rename))
        monkeypatch.setattr("evidencebook._store.os.replace", counting(real_replace))
        try:
            commit_entries(folder, new_entries())
            expected_new = True
        except Crash:
            pass
        monkeypatch.undo()
    recover(folder)  # what the next evidencebook command does first
    after = state(folder)
    new = {"a.txt": "new a.txt", "b.txt": "new b.txt", "dir/x": "new x"}
    assert after in (old, new)
    if expected_new:
        assert after == new
    assert not (folder / STAGING).exists() and not (folder / JOURNAL).exists()


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    refused: list[Exception] = []

    def second_writer() -> None:
        try:
            with evidence_lock(tmp_path):
                pass
        except SyncError as exc:
            refused.append(exc)

    with evidence_lock(tmp_path):
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join()
    assert len(refused) == 1 and "Another sync is running" in str(refused[0])
    second_writer()  # once the first holder is done, the lock is free again
    assert len(refused) == 1


def test_the_holder_can_take_the_lock_again(tmp_path: Path) -> None:
    # A sync holds the lock from before it reads the snapshot; the rebuild it calls takes it again.
    with evidence_lock(tmp_path):
        with evidence_lock(tmp_path):
            commit_entries(tmp_path, {"a.txt": "new"})
        assert (tmp_path / "a.txt").read_text() == "new"


def test_a_reader_finishes_an_interrupted_swap_and_takes_no_lock_when_there_is_none(tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    seed(folder)
    finish_interrupted(folder)
    assert not (folder / ".lock").exists()  # a clean folder: readers do not queue behind one another
    (folder / STAGING).mkdir()
    (folder / STAGING / "a.txt").write_text("new a.txt")
    (folder / JOURNAL).write_text('{"entries": ["a.txt"]}')  # the writer died after its commit point
    finish_interrupted(folder)
    assert state(folder)["a.txt"] == "new a.txt" and not (folder / JOURNAL).exists()
    assert not (folder / STAGING).exists()
