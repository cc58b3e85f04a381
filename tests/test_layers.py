"""The import direction of DESIGN.md: tvmscript <- passes <- backends <- tuner.

A lower layer never imports a higher one at module level (imports inside functions are the
sanctioned way for the public API to re-export ``build`` and the like).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["tvmscript", "passes", "backends", "tuner"]


def module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in tree.body:  # module level only, including `if TYPE_CHECKING` blocks excluded
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", [name for name in LAYERS if (ROOT / name).is_dir()])
def test_layer_imports_only_lower_layers(layer):
    higher = set(LAYERS[LAYERS.index(layer) + 1:])
    offenders = []
    for path in (ROOT / layer).rglob("*.py"):
        bad = module_level_imports(path) & higher
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_no_astor():
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py") if (ROOT / layer).is_dir() else []:
            assert "astor" not in module_level_imports(path), path
