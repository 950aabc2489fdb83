"""The built site, shared by tests/test_book.py and tests/test_browser.py (registered with ``pytest_plugins``).

`evidencebook build` runs once per test session, in a copy of the git-tracked project, so a test never
sees (or leaves behind) anything in the working tree's `_build/`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<copy>/_build/html` after `evidencebook build` in a fresh copy of the tracked project."""
    copy = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    for name in tracked:
        if not (ROOT / name).is_file():  # tracked but deleted in the working tree
            continue
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    result = subprocess.run([str(Path(sys.executable).with_name("evidencebook")), "build"], cwd=copy,
                            capture_output=True, text=True, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return copy / "_build" / "html"
