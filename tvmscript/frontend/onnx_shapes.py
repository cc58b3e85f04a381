"""Import-time values: shape arrays whose symbolic sizes are size expressions (object arrays),
inputs that must be known at import time, axes, and arithmetic on sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.expr import IntImm, PrimExpr
from ..ir.structural import structural_equal
from .onnx_registry import Node, OnnxImportError, Value


def _show(values: Any) -> str:
    return "(" + ", ".join(str(v) for v in np.asarray(values, dtype=object).ravel()) + ")"


def _simplify(e: Any) -> Any:
    if isinstance(e, (bool, np.bool_)):
        return e
    if isinstance(e, (int, np.integer)):
        return int(e)
    if isinstance(e, IntImm):
        return e.value
    if isinstance(e, PrimExpr):
        from ..arith import Analyzer

        e = Analyzer().simplify(e)
        return e.value if isinstance(e, IntImm) else e
    return e


def _tidy(value: Value) -> Value:
    """An object array of sizes with its expressions simplified; int64 when none is left.
    (numpy scalars, which numpy returns for 0-d results, become arrays.)"""
    if isinstance(value, np.generic):
        return np.asarray(value)
    if isinstance(value, PrimExpr):  # one symbolic size picked out of a shape (0-d)
        array = np.empty((), dtype=object)
        array[()] = value
        value = array
    if not isinstance(value, np.ndarray) or value.dtype != object:
        return value
    flat = [_simplify(v) for v in value.ravel()]
    if all(isinstance(v, int) for v in flat):
        return np.array(flat, dtype="int64").reshape(value.shape)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(value.shape)


def _ints(value: Any, what: str) -> list[int]:
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.integer):
        raise OnnxImportError(f"{what} must be integers known at import time, got "
                              f"{_show(array)}")
    return [int(v) for v in array.ravel()]


def _static(node: Node, i: int, what: str) -> np.ndarray | None:
    """Input ``i`` as an import-time array (None when absent); an error when computed."""
    value = node.input(i)
    if value is None or isinstance(value, np.ndarray):
        return value
    raise node.unsupported(f"{what} (input {i}) must be known at import time (a constant or "
                           "computed from shapes); it is computed by the graph")


def _static_ints(node: Node, i: int, what: str) -> list[int] | None:
    value = _static(node, i, what)
    return None if value is None else _ints(value, f"{node.where()}: {what}")


def _axis(node: Node, axis: int, ndim: int, what: str = "axis") -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise node.error(f"{what} {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim if ndim else 0


def _axes_of(node: Node, ndim: int) -> list[int] | None:
    """The ``axes`` of Squeeze/Unsqueeze/Reduce*: an input from some opset, else an attribute."""
    since = {"Squeeze": 13, "Unsqueeze": 13, "ReduceSum": 13}.get(node.op_type, 18)
    axes = _static_ints(node, 1, "axes") if node.opset >= since else node.attr("axes")
    if axes is None:
        return None
    axes = [_axis(node, a, ndim, "axes entry") for a in axes]
    if len(set(axes)) != len(axes):
        raise node.error(f"axes {axes} repeat an axis")
    return axes


def _prod(values: Sequence[Any]) -> Any:
    out: Any = 1
    for v in values:
        out = out * v
    return _simplify(out)


def _factors(e: Any) -> list[Any]:
    from ..ir.expr import Mul

    if isinstance(e, Mul):
        return _factors(e.a) + _factors(e.b)
    return [e.value if isinstance(e, IntImm) else e]


def _divide_sizes(total: Sequence[Any], known: Sequence[Any]) -> Any:
    """prod(total) / prod(known) for sizes, cancelling symbolic factors that appear in both."""
    num = [f for t in total for f in _factors(t)]
    den = [f for k in known for f in _factors(k)]
    rest = []
    for f in den:
        if isinstance(f, int):
            rest.append(f)
            continue
        hit = next((i for i, g in enumerate(num) if not isinstance(g, int)
                    and structural_equal(f, g)), None)
        if hit is None:
            rest.append(f)
        else:
            num.pop(hit)
    cnum = math.prod(f for f in num if isinstance(f, int))
    cden = math.prod(f for f in rest if isinstance(f, int))
    syms_num = [f for f in num if not isinstance(f, int)]
    syms_den = [f for f in rest if not isinstance(f, int)]
    if not syms_den and cden and cnum % cden == 0:
        return _prod([cnum // cden] + syms_num)
    if cden == 0:
        raise ValueError("cannot infer -1 in a shape whose other sizes include 0")
    return _simplify(_prod([cnum] + syms_num) // _prod([cden] + syms_den))


def _same_size(a: Any, b: Any) -> bool:
    if isinstance(a, int) or isinstance(b, int):
        return isinstance(a, int) and isinstance(b, int) and a == b
    return structural_equal(a, b)
