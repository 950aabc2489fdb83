"""The public namespace is exactly what the modules export; nothing leaks, nothing is missing."""

from __future__ import annotations

import evidencebook as eb


def test_all_names_exist_and_are_unique() -> None:
    assert len(eb.__all__) == len(set(eb.__all__))
    for name in eb.__all__:
        assert hasattr(eb, name), name


def test_every_public_attribute_is_exported() -> None:
    public = {name for name in vars(eb) if not name.startswith("_")} - {"annotations"}  # from __future__
    assert public == set(eb.__all__)


def test_every_error_is_an_evidencebook_error() -> None:
    for name in ("ConfigError", "SyncError", "EvidenceError", "CodingError", "RegionError", "BriefError",
                 "SynthesisError"):
        assert issubclass(getattr(eb, name), eb.EvidencebookError)
