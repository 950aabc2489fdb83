"""The public namespace is exactly what the modules export; nothing leaks, nothing is missing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import evidencebook as eb


def test_all_names_exist_and_are_unique() -> None:
    assert len(eb.__all__) == len(set(eb.__all__))
    for name in eb.__all__:
        assert hasattr(eb, name), name


def test_every_public_attribute_is_exported() -> None:
    public = {name for name in dir(eb) if not name.startswith("_")} - {"annotations"}  # from __future__
    assert public == set(eb.__all__)


def test_the_lazy_namespace_matches_each_module_and_no_name_is_exported_twice() -> None:
    seen: dict[str, str] = {}
    for module in eb._MODULES:
        exported = importlib.import_module(f"evidencebook.{module}").__all__
        assert sorted(exported) == sorted(eb._declared_exports(module)), module
        for name in exported:
            assert name not in seen, f"{name} exported by {seen.get(name)} and {module}"
            seen[name] = module
            assert getattr(eb, name) is getattr(importlib.import_module(f"evidencebook.{module}"), name)
    assert set(seen) == set(eb.__all__)


def test_importing_the_package_and_the_brief_does_not_load_scipy_or_matplotlib() -> None:
    # A brief's kernel imports the package for every region: it must not pay for the book's plots.
    code = ("import sys, evidencebook as eb; eb.Brief; eb.load_evidence; "
            "print(sorted(m for m in ('scipy', 'matplotlib', 'statsmodels') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_error_is_an_evidencebook_error() -> None:
    for name in ("ConfigError", "SyncError", "EvidenceError", "CodingError", "RegionError", "BriefError",
                 "SynthesisError"):
        assert issubclass(getattr(eb, name), eb.EvidencebookError)
