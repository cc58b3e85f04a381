"""Import-time evaluation (folders) of ONNX nodes whose inputs are all known, so that shape
computations like ``Shape -> Gather -> Concat`` never reach the graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_ops_math import _target_dtype
from .onnx_registry import Node, folder
from .onnx_shapes import _axes_of, _simplify


# ---------------------------------------------------------------- import-time evaluation
# A folder returns the outputs of a node whose inputs are all known at import time, or None
# when it cannot (then the converter emits graph operators). Object arrays hold symbolic sizes.

_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "And": np.logical_and,
                 "Or": np.logical_or, "Xor": np.logical_xor}
_NUMPY_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
                  "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal}
_NUMPY_UNARY = {"Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil,
                "Sqrt": np.sqrt, "Not": np.logical_not, "Reciprocal": np.reciprocal,
                "Exp": np.exp, "Log": np.log, "Relu": lambda x: np.maximum(x, 0)}


def _like(result: Any, *inputs: np.ndarray) -> np.ndarray:
    """``result`` with the ONNX output dtype (numpy promotes scalars; ONNX does not)."""
    result = np.asarray(result)
    if result.dtype == object or result.dtype == bool:
        return result
    return result.astype(inputs[0].dtype)


@folder(*_NUMPY_BINARY)
def _fold_binary(node: Node, a: np.ndarray, b: np.ndarray) -> Any:
    return _like(_NUMPY_BINARY[node.op_type](a, b), a, b)


@folder("Div")
def _fold_div(node: Node, a: np.ndarray, b: np.ndarray) -> Any:
    if a.dtype == object or b.dtype == object:  # sizes: non-negative, so floor is truncation
        return np.vectorize(lambda x, y: x // y, otypes=[object])(a, b)
    if np.issubdtype(a.dtype, np.integer):
        q = np.abs(a) // np.abs(b)
        return _like(np.where((a < 0) != (b < 0), -q, q), a)
    return _like(a / b, a)


@folder(*_NUMPY_COMPARE)
def _fold_compare(node: Node, a: np.ndarray, b: np.ndarray) -> Any:
    fn = _NUMPY_COMPARE[node.op_type]
    if a.dtype != object and b.dtype != object:
        return fn(a, b)
    return np.vectorize(lambda x, y: _decide(node, fn, x, y), otypes=[bool])(a, b)


def _decide(node: Node, fn: Any, x: Any, y: Any) -> bool:
    x, y = _simplify(x), _simplify(y)
    if isinstance(x, int) and isinstance(y, int):
        return bool(fn(x, y))
    diff = _simplify(x - y)
    if isinstance(diff, int):
        return bool(fn(diff, 0))
    if fn is np.equal and any(isinstance(v, int) and v < 0 for v in (x, y)):
        return False  # a size is never negative
    raise node.unsupported(f"cannot decide {node.op_type}({x}, {y}) on symbolic sizes at "
                           "import time")


@folder(*_NUMPY_UNARY)
def _fold_unary(node: Node, x: np.ndarray) -> Any:
    if x.dtype == object:
        return -x if node.op_type == "Neg" else None
    with np.errstate(all="ignore"):
        return _like(_NUMPY_UNARY[node.op_type](x), x)


@folder("Cast", "CastLike")
def _fold_cast(node: Node, x: np.ndarray, like: Any = None) -> Any:
    dtype = like.dtype if like is not None else _target_dtype(None, node)
    if x.dtype == object:
        return x if np.issubdtype(np.dtype(dtype), np.integer) else None
    return x.astype(dtype)


@folder("Where")
def _fold_where(node: Node, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> Any:
    out = np.where(c, a, b)
    return out if out.dtype == object else out.astype(a.dtype)


@folder("Max", "Min")
def _fold_extreme(node: Node, *values: np.ndarray) -> Any:
    if any(v.dtype == object for v in values):
        return None
    fn = np.maximum if node.op_type == "Max" else np.minimum
    out = values[0]
    for v in values[1:]:
        out = fn(out, v)
    return _like(out, values[0])


@folder("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin")
def _fold_reduce(node: Node, x: np.ndarray, *rest: Any) -> Any:
    if x.dtype == object and node.op_type not in ("ReduceProd", "ReduceSum"):
        return None
    axes = _axes_of(node, x.ndim)
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    fn = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max,
          "ReduceMin": np.min}[node.op_type]
    out = fn(x, axis=tuple(axes), keepdims=bool(node.attr("keepdims", 1)))
    return _like(out, x) if x.dtype != object else np.asarray(out, dtype=object)
