"""Errors raised by evidencebook.

Every error the package raises on purpose derives from :class:`EvidencebookError`, so a
caller (or the CLI) can catch one class.  The tree::

    EvidencebookError
    ├── ConfigError             the project's configuration is missing or wrong
    ├── SyncError               Zotero could not be read
    ├── EvidenceError           a file in evidence/ is missing, corrupt or inconsistent
    │   └── CodingError         items were read but some coding could not be parsed
    ├── SynthesisError          findings cannot be pooled as asked (k = 1, no convergence)
    ├── RegionError             a region name matches no known region
    └── BriefError              a brief could not be produced
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BriefError",
    "CodingError",
    "ConfigError",
    "EvidenceError",
    "EvidencebookError",
    "Problem",
    "RegionError",
    "SyncError",
    "SynthesisError",
]


class EvidencebookError(Exception):
    """Base class of every error evidencebook raises on purpose."""

    exit_code = 1


class ConfigError(EvidencebookError):
    """The project's configuration is missing or invalid."""


class SyncError(EvidencebookError):
    """The Zotero library could not be read."""


class EvidenceError(EvidencebookError):
    """A file in the evidence base is missing, corrupt or inconsistent."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found while reading the coding of a Zotero item.

    ``line`` counts the paragraphs (or table rows) of the note as Zotero's note editor
    shows them, starting at 1; it is 0 for problems with the item itself (its tags or fields).
    """

    item_key: str
    line: int
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"item {self.item_key}" + (f", line {self.line}" if self.line else "")
        field = f" [{self.field}]" if self.field else ""
        return f"{self.severity}: {where}{field}: {self.message}"


class CodingError(EvidenceError):
    """Some items' coding could not be parsed; the rest of the library was still read.

    ``problems`` lists every problem; ``str()`` shows them all, one per line.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        head = f"{len(errors)} coding error(s) in {len({p.item_key for p in errors})} item(s):"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


class SynthesisError(EvidencebookError):
    """Findings cannot be pooled as asked; the message names the outcome and k."""


class RegionError(EvidencebookError):
    """A region name matches no known region.  ``suggestions`` holds the closest names."""

    exit_code = 2

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"Unknown region {name!r}.{hint} Run 'evidencebook brief --list' to see every region."
        )


class BriefError(EvidencebookError):
    """A brief could not be produced."""
