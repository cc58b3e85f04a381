"""Loads the conformance cases from ``../shared/conformance`` (checked against Apache TVM).

The folder sits beside the checkout; ``TVMSCRIPT_CONFORMANCE`` may point elsewhere. In a plain
clone without it the project's own suite still runs, and the tests over these cases are skipped
with that reason. ``.ci/run`` sets ``TVMSCRIPT_REQUIRE_CONFORMANCE=1``: there a missing folder is a
collection error, since CI always has the cases and silently running none would hide that.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def conformance_dir() -> Path:
    configured = os.environ.get("TVMSCRIPT_CONFORMANCE")
    return Path(configured) if configured else ROOT.parent / "shared" / "conformance"


def available() -> bool:
    return any(conformance_dir().glob("*.py"))


def _required() -> bool:
    return os.environ.get("TVMSCRIPT_REQUIRE_CONFORMANCE", "") not in ("", "0")


MISSING_REASON = f"no conformance cases at {conformance_dir()} (a clone without ../shared)"
requires_cases = pytest.mark.skipif(not available() and not _required(), reason=MISSING_REASON)


def case_paths() -> list[Path]:
    """The case files, sorted; empty in a plain clone, an error where they are required."""
    paths = sorted(conformance_dir().glob("*.py"))
    if not paths and _required():
        raise FileNotFoundError(
            f"conformance cases not found at {conformance_dir()}; "
            "set TVMSCRIPT_CONFORMANCE to their folder"
        )
    return paths


def load_cases() -> dict[str, ModuleType]:
    cases = {}
    for path in case_paths():
        spec = importlib.util.spec_from_file_location(f"conformance_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases[path.stem] = module
    return cases


def case_sources() -> list[str]:
    """The ``SOURCE`` text of every case."""
    return [case.SOURCE for case in load_cases().values()]
