"""Import a ``torch.export.ExportedProgram`` as an IRModule whose ``main`` is a graph-level
function over the operator library (``R.nn.conv2d``, ``R.matmul``, ...).

The user inputs become ``main``'s parameters (a ``torch.export.Dim`` becomes a symbolic size),
parameters and buffers become constants, and each ATen operator of the graph is translated by
one converter of ``_CONVERTERS``. A program with operators outside that table is first
decomposed by torch into smaller ATen operators (keeping the ones we translate); what is left
over is an ``UnsupportedOperatorError`` that names the operator and the user's source line.

Sub-graphs that depend on constants only (the causal mask of a decoder, a transposed weight)
are computed by torch at import time and become constants.

Layout: ``torch_importer`` walks the graph, ``torch_ops_math`` / ``torch_ops_nn`` /
``torch_ops_shape`` hold the converters (registered in ``torch_registry`` on import),
``torch_values`` the shared value helpers and ``torch_errors`` the errors and source lines;
this module is the entry point and the operator coverage check.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..ir.function import IRModule
from ..ir.graph_ops import get_op

# the converter modules register themselves in _CONVERTERS when imported
from . import torch_ops_math, torch_ops_nn, torch_ops_shape  # noqa: F401
from .torch_errors import (
    TorchImportError,
    UnsupportedOperatorError,
    _describe_target,
    _key,
    _location,
)
from .torch_importer import _Importer
from .torch_registry import _CONVERTERS, _NEEDS, _translatable

__all__ = ["TorchImportError", "UnsupportedOperatorError", "from_exported_program",
           "supported_operators"]


def from_exported_program(program: Any, *, fold_constants: bool = True,
                          decompose: bool | None = None) -> IRModule:
    """The IRModule of a ``torch.export.ExportedProgram`` (its ``main`` computes what the
    program's ``module()`` computes, for the user inputs).

    ``fold_constants`` computes constant-only sub-graphs with torch at import time;
    ``decompose`` runs torch's decompositions first (True), never (False), or only when the
    program has operators that no converter translates (None, the default)."""
    import torch

    if not isinstance(program, torch.export.ExportedProgram):
        raise TypeError(f"from_exported_program expects a torch.export.ExportedProgram "
                        f"(from torch.export.export(model, args)), got "
                        f"{type(program).__name__}")
    program = _supported_form(program, decompose)
    return IRModule.from_function(_Importer(program, fold_constants).run(), "main")


# ---------------------------------------------------------------- operator coverage


def _unsupported(program: Any) -> list:
    return [n for n in program.graph.nodes
            if n.op == "call_function" and not _translatable(_key(n.target))]


def _supported_form(program: Any, decompose: bool | None) -> Any:
    """The program, decomposed by torch when asked or when it has operators we lack, with
    the operators we translate kept whole."""
    if decompose is False or (decompose is None and not _unsupported(program)):
        missing = _unsupported(program)
        if missing:
            raise _unsupported_error(missing)
        return program
    import torch

    table = torch.export.default_decompositions()
    for op in list(table.keys()):
        if _translatable(_key(op)):
            del table[op]
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices, not the user's
            warnings.simplefilter("ignore", FutureWarning)
            decomposed = program.run_decompositions(table)
    except Exception as exc:  # torch's failure, reported at our first gap
        missing = _unsupported(program)
        if not missing:
            raise
        raise _unsupported_error(missing, f"torch could not decompose it: {exc}") from exc
    missing = _unsupported(decomposed)
    if missing:
        raise _unsupported_error(missing)
    return decomposed


def supported_operators() -> list[str]:
    """The ATen operators (and Python functions) the importer translates with the operator
    library as it is now."""
    return sorted(k for k in _CONVERTERS if _translatable(k))


def _unsupported_error(nodes: list, note: str = "") -> UnsupportedOperatorError:
    node = nodes[0]
    key = _key(node.target)
    others = sorted({_key(n.target) for n in nodes[1:]} - {key})
    lacking = [f"R.{op}" for op in _NEEDS.get(key, ()) if get_op(op) is None]
    if lacking and not note:
        note = f"it needs {', '.join(lacking)}, which the operator library does not have"
    lines = [f"{_describe_target(node.target)} is not supported (graph node '{node.name}')"
             + (f": {note}" if note else "")]
    lines += _location(node)
    if others:
        lines.append(f"also not supported in this program: {', '.join(others)}")
    names = supported_operators()
    aten = [k[5:] for k in names if k.startswith("aten.") and not k.startswith("aten._assert")
            and not (k.endswith("_") and k[:-1] in names)]
    lines.append(f"supported ATen operators: {', '.join(aten)}")
    return UnsupportedOperatorError("\n".join(lines))
