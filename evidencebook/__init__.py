"""evidencebook: a living evidence review built from a Zotero library.

The pipeline reads in one direction, one module per stage::

    _zotero (snapshot) -> _coding (notes and tags) -> _evidence (tables) -> _synthesis (votes, pools; _meta computes,
        _effects owns the effect arithmetic: log-scale measures, the value of no effect, a CI's standard error)
        -> _certainty (GRADE, signed judgements) -> _living (what changed) -> _plots / _display
        -> _briefs (what a brief shows: _brief_text its words, _brief_levers a state's levers),
           _brief_page (page and PDF), _brief_runs (fan-out)
        -> _book (Studies, outcome chapters), _book_policy (policy pages), _book_quality (evidence map,
           data quality, What's new); _pages lists and builds them

``_coding`` reads an item with ``_screening`` (tags), ``_notes`` (the note format), ``_fields`` (each line
against ``_vocabulary``), ``_rob_sections`` (risk of bias) and ``_identities`` (citation keys, finding ids);
``_evidence`` builds ``evidence/`` with ``_tables`` (derivation, validation) and ``_files`` (CSV, BibTeX, hashes).

Notebooks and users only ever write ``import evidencebook as eb``.

Names are imported on first use (PEP 562): ``import evidencebook`` itself is cheap, and a
notebook pays only for what it touches (a brief never loads scipy or matplotlib).  That
matters because every papermill run of the brief template starts a kernel that imports
this package.  ``__all__`` is read from each module's own ``__all__`` without importing it.
"""

from __future__ import annotations

import ast as _ast
import importlib as _importlib
import re as _re
from pathlib import Path as _Path
from typing import Any as _Any

_MODULES = ("_bibliography", "_book", "_book_policy", "_book_quality", "_brief_levers", "_brief_page", "_brief_runs", "_brief_text",
            "_briefs", "_cache", "_certainty", "_coding", "_config", "_display", "_effects", "_errors", "_evidence", "_fields",
            "_files", "_glossary", "_identities", "_kernels", "_living", "_maps", "_meta", "_notes", "_pages", "_plain",
            "_plots", "_policy", "_publish", "_regions", "_risk_of_bias", "_rob_sections", "_schemas", "_screening",
            "_search", "_sphinx", "_store", "_sync", "_synthesis", "_tables", "_vocabulary", "_watch",
            "_zotero")


def _declared_exports(module: str) -> list[str]:
    """The literal ``__all__ = [...]`` of a module of this package, read from its source."""
    path = _Path(__file__).with_name(f"{module}.py")
    if not path.is_file():  # a subpackage (the statistics engine)
        path = _Path(__file__).with_name(module) / "__init__.py"
    source = path.read_text(encoding="utf-8")
    found = _re.search(r"^__all__(?:\s*:[^=]+)?\s*=\s*(\[[^\]]*\])", source, _re.MULTILINE)
    if not found:
        raise ImportError(f"evidencebook.{module} has no literal __all__ list")
    return list(_ast.literal_eval(found.group(1)))


_HOME = {name: module for module in _MODULES for name in _declared_exports(module)}
__all__ = sorted(_HOME)
__version__ = "0.1.0"


def __getattr__(name: str) -> _Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'evidencebook' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
