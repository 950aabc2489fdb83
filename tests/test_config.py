"""The code version that every kept result is keyed on."""

from __future__ import annotations

import os
from pathlib import Path

from evidencebook._config import code_version, source_version


def test_the_code_version_moves_when_any_file_of_the_package_changes(tmp_path: Path) -> None:
    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 1\n")
    first = source_version(package)
    assert source_version(package) == first
    assert source_version(package, "a") != first  # one module's version is another key

    b = package / "sub" / "b.py"
    stat = b.stat()
    b.write_text("B = 2\n")  # same size; the version is kept per file stamp, so the stamp must move too
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    second = source_version(package)
    assert second != first

    (package / "c.py").write_text("")  # a new module counts too
    assert source_version(package) not in (first, second)


def test_the_code_version_of_this_package_is_stable_within_a_process() -> None:
    assert code_version() == code_version() and len(code_version()) == 16
