"""ONNX models as graph-level IRModules: ``from_onnx(path_or_model)``.

The result has one function ``main`` whose parameters are the graph inputs (those that are not
initializers, in order) and whose weights are ``R.const`` constants. Each ONNX operator has one
converter in ``_CONVERTERS`` that emits calls of the operator library (TVM's relax names).

Shape computations (``Shape -> Gather -> Concat -> Reshape``) are evaluated while importing: a
value known at import time is a numpy array, and a size that is symbolic (a named dimension like
``batch``) is a size variable inside an object array, so ``Reshape`` gets ``(batch, seq, 12, 64)``
rather than a shape tensor. Operators that are not supported, and attribute values that are not,
are refused with the node's name and op type; nothing is dropped or approximated.

The code: ``onnx_registry`` (errors, ``Node``, the ``@converter``/``@folder`` tables),
``onnx_importer`` (the graph walk and emission), ``onnx_shapes`` (import-time shape values),
the converters in ``onnx_ops_math``, ``onnx_ops_shape`` and ``onnx_ops_nn``, and the import-time
folders in ``onnx_fold``; importing this module registers them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir import IRModule
# the converter and folder modules register themselves when imported
from . import onnx_fold, onnx_ops_math, onnx_ops_nn, onnx_ops_shape  # noqa: F401
from .onnx_importer import _Importer, _load
from .onnx_registry import (Node, OnnxImportError, UnsupportedOperatorError, converter, folder,
                            supported_operators)


def from_onnx(model: Any, shape_dict: dict[str, Sequence[int | str]] | None = None,
              dtype_dict: dict[str, str] | None = None) -> IRModule:
    """Import an ONNX model (a path or an ``onnx.ModelProto``) as an IRModule with ``main``.

    ``shape_dict``/``dtype_dict`` override input shapes (ints, or names for symbolic sizes) and
    dtypes, for models whose inputs are not fully described."""
    proto = _load(model)
    return _Importer(proto, dict(shape_dict or {}), dict(dtype_dict or {})).run()


__all__ = [
    "Node",
    "OnnxImportError",
    "UnsupportedOperatorError",
    "converter",
    "folder",
    "from_onnx",
    "supported_operators",
]
