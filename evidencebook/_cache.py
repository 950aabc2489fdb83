"""Files written whole or not at all, and the one disk cache kept between builds.

What a build keeps (the briefs' headline, each archived version's synthesis, the mark that
tables passed their schemas) is keyed on what it was made from *and* on all of the package's
code: a change to any module may change what is drawn (the headline reads the coding's
vocabularies, the synthesis reads the certainty rules), so no cache keys on a hand-picked list
of modules.  A new entry replaces the older entries of its name.  A project that cannot be
written (a read-only checkout) computes every time and fails for none of it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ._config import code_version

__all__ = ["DiskCache", "content_cache", "keep_content_in", "write_atomic"]


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write beside the target, then rename: a reader (or the book) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "xb") as handle:  # "x": a fresh file with the user's umask, never another's
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class DiskCache:
    """Text kept in ``folder`` under a name and a key (a hash of what it was made from).

    ``folder`` None keeps nothing: every :meth:`get` computes.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, name: str, key: str) -> Path | None:
        # The whole key, hashed: a key made of several hashes (the evidence's, then the judgements') differs
        # in its tail too, and a name cut from its start would serve a summary signed off since as proposed.
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        return None if self.folder is None else self.folder / f"{name}-{digest}-{code_version()}.cache"

    def read(self, name: str, key: str) -> str | None:
        """The text kept for ``name`` and ``key`` by this code, or None."""
        path = self._path(name, key)
        try:
            return None if path is None else path.read_text(encoding="utf-8")
        except OSError:
            return None

    def write(self, name: str, key: str, text: str) -> None:
        """Keep ``text`` (atomically: other processes read while it is written) and forget older entries."""
        path = self._path(name, key)
        if path is None:
            return
        try:
            write_atomic(path, text)
            for old in path.parent.glob(f"{name}-*.cache"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError:  # read-only: computed again next time
            pass

    def get(self, name: str, key: str, make: Callable[[], str]) -> str:
        """The kept text, or ``make()`` kept for next time.

        Made once: a process (or thread) that asks while another makes the same entry waits for it
        and reads it, instead of making it too (a brief's kernel and the command that started it).
        """
        text = self.read(name, key)
        if text is None:
            with self._making(name):
                text = self.read(name, key)
                if text is None:
                    text = make()
                    self.write(name, key, text)
        return text

    @contextmanager
    def _making(self, name: str) -> Iterator[None]:
        """Hold the entry's lock file (beside the entries) while it is made; none where nothing can be kept."""
        handle = None
        if self.folder is not None:
            try:
                import fcntl

                self.folder.mkdir(parents=True, exist_ok=True)
                handle = open(self.folder / f".{name}.lock", "ab")
            except (ImportError, OSError):  # no flock (Windows), or a read-only project: each makes its own
                handle = None
        if handle is None:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, also if this process dies
            yield
        finally:
            handle.close()


# Where work keyed by its content alone is kept (see content_cache): the build cache of the project whose
# evidence was loaded last in this process.
_CONTENT_FOLDER: list[Path | None] = [None]


def keep_content_in(folder: Path | None) -> None:
    """Keep work keyed by its content alone (a question's summary of findings) in ``folder`` from now on."""
    _CONTENT_FOLDER[0] = folder


def content_cache() -> DiskCache:
    """The cache of work keyed by its content alone: any project's folder is right, since such a key is everything
    the work reads (a summary row under its findings and studies); none (every call computes) until evidence is
    loaded (:func:`keep_content_in`)."""
    return DiskCache(_CONTENT_FOLDER[0])
