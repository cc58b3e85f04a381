"""Loads the conformance cases from ``../shared/conformance`` (checked against Apache TVM).

The folder sits beside the checkout; ``TVMSCRIPT_CONFORMANCE`` may point elsewhere. A missing
folder is an error, not a skip: CI always has it, and silently running none would hide that.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def conformance_dir() -> Path:
    configured = os.environ.get("TVMSCRIPT_CONFORMANCE")
    return Path(configured) if configured else ROOT.parent / "shared" / "conformance"


def load_cases() -> dict[str, ModuleType]:
    folder = conformance_dir()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"conformance cases not found at {folder}; set TVMSCRIPT_CONFORMANCE to their folder"
        )
    cases = {}
    for path in sorted(folder.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"conformance_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases[path.stem] = module
    if not cases:
        raise FileNotFoundError(f"no conformance cases (*.py) in {folder}")
    return cases
