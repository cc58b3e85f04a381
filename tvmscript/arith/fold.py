"""Constant folding with the IR's exact semantics.

Integers wrap at their dtype width; ``Div``/``Mod`` truncate and ``FloorDiv``/``FloorMod``
floor; floats are computed in their own precision with numpy (``float32`` rounds after every
operation, as the generated code does). Whatever has no single defined result is left unfolded:
division by zero, ``INT_MIN / -1``, float-to-int casts out of range, bfloat16 arithmetic.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import numpy as np

from ..ir.dtype import BOOL, DataType
from ..ir.expr import FloatImm, IntImm, PrimExpr, const
from .int_bound import dtype_range, floordiv, truncdiv, truncmod
from .linear import wrap

__all__ = ["fold_binary", "fold_compare", "fold_cast", "is_const", "const_value"]

Imm = (IntImm, FloatImm)


def is_const(expr: object) -> bool:
    """A scalar integer, bool or float constant."""
    return isinstance(expr, Imm)


def const_value(expr: PrimExpr) -> int | float:
    return expr.value


def _no_zero(fn: Callable[[int, int], int]) -> Callable[[int, int], int | None]:
    return lambda a, b: None if b == 0 else fn(a, b)


_INT_OPS: dict[str, Callable[[int, int], int | None]] = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Mul": operator.mul,
    "Div": _no_zero(truncdiv),
    "Mod": _no_zero(truncmod),
    "FloorDiv": _no_zero(floordiv),
    "FloorMod": _no_zero(lambda a, b: a % b),
    "Min": min,
    "Max": max,
}

_FLOAT_OPS: dict[str, Callable] = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Mul": operator.mul,
    "Div": operator.truediv,
}

_CMP_OPS: dict[str, Callable] = {
    "EQ": operator.eq, "NE": operator.ne, "LT": operator.lt,
    "LE": operator.le, "GT": operator.gt, "GE": operator.ge,
}


def fold_binary(name: str, a: PrimExpr, b: PrimExpr, dt: DataType) -> PrimExpr | None:
    """``a <name> b`` for two constants of dtype ``dt``; None when it has no defined value."""
    if dt.is_integer:
        return _fold_int(name, a.value, b.value, dt)
    if dt.is_float and dt.kind == "float":
        return _fold_float(name, a.value, b.value, dt)
    return None


def _fold_int(name: str, a: int, b: int, dt: DataType) -> PrimExpr | None:
    fn = _INT_OPS.get(name)
    if fn is None:
        return None
    value = fn(a, b)
    if value is None:
        return None
    if name in ("Div", "FloorDiv") and value > dtype_range(dt).max:
        return None  # INT_MIN / -1 overflows: undefined in the generated code
    return IntImm(dt, wrap(value, dt))


def _fold_float(name: str, a: float, b: float, dt: DataType) -> PrimExpr | None:
    np_type = np.dtype(dt.numpy_name()).type
    x, y = np_type(a), np_type(b)
    if name in ("Min", "Max"):
        if math.isnan(x) or math.isnan(y):
            return None  # the backends' min/max differ on nan
        return FloatImm(dt, float(min(x, y) if name == "Min" else max(x, y)))
    fn = _FLOAT_OPS.get(name)
    if fn is None:
        return None
    with np.errstate(all="ignore"):
        return FloatImm(dt, float(np_type(fn(x, y))))


def fold_compare(name: str, a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    """A comparison of two scalar constants as a bool constant."""
    fn = _CMP_OPS.get(name)
    if fn is None or a.dtype.lanes != 1:
        return None
    x, y = _as_dtype_value(a), _as_dtype_value(b)
    if x is None or y is None:
        return None
    return const(bool(fn(x, y)), BOOL)


def _as_dtype_value(imm: PrimExpr) -> int | float | None:
    if isinstance(imm, IntImm):
        return imm.value
    if imm.dtype.kind != "float":
        return None
    return float(np.dtype(imm.dtype.numpy_name()).type(imm.value))


def fold_cast(dt: DataType, value: PrimExpr) -> PrimExpr | None:
    """``Cast(dt, value)`` of a scalar constant."""
    if dt.lanes != 1 or value.dtype.lanes != 1:
        return None
    src = _as_dtype_value(value)
    if src is None:
        return None
    if dt.is_bool:
        return const(bool(src != 0), BOOL) if not _isnan(src) else None
    if dt.is_integer:
        return _cast_to_int(src, dt)
    if dt.kind == "float":
        with np.errstate(all="ignore"):
            return FloatImm(dt, float(np.dtype(dt.numpy_name()).type(src)))
    return None


def _cast_to_int(src: int | float, dt: DataType) -> PrimExpr | None:
    if isinstance(src, int):
        return IntImm(dt, wrap(src, dt))
    if _isnan(src) or math.isinf(src):
        return None
    value = math.trunc(src)
    if value not in range(dtype_range(dt).min, dtype_range(dt).max + 1):
        return None  # out of range: undefined in the generated code
    return IntImm(dt, value)


def _isnan(value: int | float) -> bool:
    return isinstance(value, float) and math.isnan(value)
