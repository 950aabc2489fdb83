"""The project's configuration: one typed object, read from ``pyproject.toml``.

Everything configurable lives under ``[tool.evidencebook]`` in the project's
``pyproject.toml``.  The Zotero API key is never configured here: it is read from the
``ZOTERO_API_KEY`` environment variable at the moment a sync needs it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._regions import validate_regions

__all__ = ["Settings", "code_version", "find_project_root", "load_settings"]


@dataclass(frozen=True)
class Settings:
    """Where things are and which Zotero library feeds them.

    Keys of ``[tool.evidencebook]`` (all optional except where noted):

    ``library_type``  ``"user"`` or ``"group"`` (the Zotero library the review lives in)
    ``library_id``    the numeric Zotero library ID (0 for the bundled snapshot)
    ``evidence_dir``  the versioned evidence base, default ``evidence``
    ``site_url``      where the published book lives (``https://...``); briefs link to it
    ``regions``       sub-state regions: a table per region id with ``name``, ``state``
                      (name or postal code), ``aliases`` and ``counties`` (checked on load:
                      see :func:`evidencebook.validate_regions`)
    """

    root: Path
    library_type: str = "group"
    library_id: int = 0
    evidence_dir: Path = Path("evidence")
    site_url: str = ""
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def evidence(self) -> Path:
        return self.root / self.evidence_dir

    @property
    def snapshot(self) -> Path:
        return self.evidence / "zotero"

    @property
    def briefs_dir(self) -> Path:
        """Executed brief notebooks, as pages of the book (build output, git-ignored)."""
        return self.root / "book" / "briefs"

    @property
    def brief_html_dir(self) -> Path:
        """Standalone brief pages and their PDFs, to hand on (build output, git-ignored)."""
        return self.root / "_build" / "briefs"

    @property
    def cache_dir(self) -> Path:
        """What is computed once per evidence version and shared by every brief (build output, git-ignored)."""
        return self.root / "_build" / ".evidencebook-cache"

    @property
    def book_html_dir(self) -> Path:
        """Where ``jupyter-book build`` writes the site (its pages sit under ``book/``)."""
        return self.root / "_build" / "html"

    @property
    def brief_template(self) -> Path:
        return self.root / "notebooks" / "brief.ipynb"


def find_project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` whose pyproject.toml has [tool.evidencebook]."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "[tool.evidencebook]" in candidate.read_text(encoding="utf-8"):
            return folder
    raise ConfigError(
        f"No evidencebook project found at or above {here}: expected a pyproject.toml with a "
        "[tool.evidencebook] table. Run evidencebook from inside the project."
    )


def load_settings(root: str | Path | None = None) -> Settings:
    """Read ``[tool.evidencebook]`` from the project's pyproject.toml."""
    root = find_project_root(root)
    try:
        table = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["evidencebook"]
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise ConfigError(f"{root / 'pyproject.toml'}: cannot read [tool.evidencebook]: {exc}") from exc
    known = {"library_type", "library_id", "evidence_dir", "site_url", "regions"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"[tool.evidencebook] has unknown keys {unknown}; known keys are {sorted(known)}")
    if table.get("library_type", "group") not in ("user", "group"):
        raise ConfigError(f"library_type must be 'user' or 'group', got {table['library_type']!r}")
    if "evidence_dir" in table:
        table["evidence_dir"] = Path(table["evidence_dir"])
    site_url = table.get("site_url", "")
    if not isinstance(site_url, str) or (site_url and not site_url.startswith(("https://", "http://"))):
        raise ConfigError(f"site_url must be empty or an http(s) address, got {site_url!r}")
    table["regions"] = validate_regions(table.get("regions", {}))
    return Settings(root=root, **table)


def code_version(*modules: str) -> str:
    """A hash of this package's code (of the named modules, such as ``"_synthesis"``, or all of it):
    what is kept from one build to the next keys on it, so a change to the code that drew it
    draws it again."""
    return source_version(Path(__file__).parent, *modules)


def source_version(folder: Path, *modules: str) -> str:
    """:func:`code_version` of the Python package in ``folder``."""
    import hashlib

    paths = [folder / f"{m}.py" for m in modules] if modules else sorted(folder.rglob("*.py"))  # subpackages too
    # Every cache entry's name carries it (hundreds a build): the files are read again only when one changed.
    stamp = tuple((str(path), s.st_mtime_ns, s.st_size) for path in paths for s in (path.stat(),))
    if stamp not in _CODE_VERSIONS:
        digest = hashlib.sha256()
        for path in paths:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
        if len(_CODE_VERSIONS) > 64:  # a long watch session while the code is being edited
            _CODE_VERSIONS.clear()
        _CODE_VERSIONS[stamp] = digest.hexdigest()[:16]
    return _CODE_VERSIONS[stamp]


_CODE_VERSIONS: dict[tuple[tuple[str, int, int], ...], str] = {}

