"""Constant folding at parse time, as Apache TVM's expression operators do it.

TVM folds while it builds an expression from script operators (``x * 1`` is ``x``, ``2 + 3`` is
``5``), so a script means the folded program there; folding the same way here keeps one script
one program on both stacks. The node constructors ``T.Add``, ``T.Mul`` ... never fold: the printer
uses them for a node that the operator spelling would fold away.

The rules are those of ``TryConstFold`` (``src/arith/const_fold.h`` in apache/tvm) and of the
bitwise operators in ``src/tir/op/op.cc``, checked against TVM 0.27 in
``tests/test_interop_expr.py``:

- integers fold in int64 and wrap to the dtype's width; ``Div``/``Mod`` truncate, ``FloorDiv``/
  ``FloorMod`` floor; ``Mod``/``FloorMod`` (and ``&``, ``|``, ``^``, ``<<``, ``>>``) fold only for
  scalar ``int32``/``int64``;
- float32 constants fold in float32 precision, float64 in float64, other floats never;
- ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x``, ``x / 1``, ``x // 1``, ``x << 0``,
  ``x >> 0`` are ``x``; ``x * 0`` and ``0 * x`` are the zero, ``0 / x`` and ``0 // x`` are ``0``,
  ``x % 1`` is ``0`` and ``0 % x`` is ``0``; ``min(x, x)`` is ``x`` (the same object);
- a division by a zero constant is an error;
- comparisons of two constants give a bool constant; ``and``/``or`` with a constant side and
  ``not`` of a constant fold to one side (``fold_binary(And, ...)``, ``fold_not``).

Which script spellings fold is the parser's business (``parser/core.py``): TVM's parser folds the
arithmetic operators, unary minus (``-x`` is ``x * -1``), ``T.min`` ... and an ordering whose left
side is an expression, but never ``==``, ``!=``, ``and``, ``or``, ``not``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import expr as E
from ..ir.dtype import BOOL, DataType
from ..ir.expr import FloatImm, IntImm, PrimExpr

_CMP: dict[type, Callable[[Any, Any], bool]] = {
    E.EQ: lambda x, y: x == y, E.NE: lambda x, y: x != y, E.LT: lambda x, y: x < y,
    E.LE: lambda x, y: x <= y, E.GT: lambda x, y: x > y, E.GE: lambda x, y: x >= y,
}
# script operator -> fold of two index-typed constants (op.cc: bitwise and shift operators)
_BITWISE: dict[str, Callable[[int, int], int]] = {
    "tir.bitwise_and": lambda x, y: x & y, "tir.bitwise_or": lambda x, y: x | y,
    "tir.bitwise_xor": lambda x, y: x ^ y, "tir.shift_left": lambda x, y: x << y,
    "tir.shift_right": lambda x, y: x >> y,
}


def fold_binary(cls: type, a: PrimExpr, b: PrimExpr) -> PrimExpr:
    """``cls(a, b)``, folded where TVM's ``TryConstFold<cls>`` folds it (operands already of
    one dtype)."""
    rule = _RULES.get(cls)
    folded = rule(a, b) if rule is not None else None
    return cls(a, b) if folded is None else folded


def folds(node: PrimExpr) -> bool:
    """Whether the operator spelling of binary ``node`` would fold it to something else."""
    rule = _RULES.get(type(node))
    return rule is not None and rule(node.a, node.b) is not None


def fold_not(a: PrimExpr) -> PrimExpr:
    """``not a``, folded for a constant as TVM's ``TryConstFold<Not>`` does."""
    if type(a) is IntImm:
        return IntImm(BOOL, not a.value)
    return E.Not(a)


def negate(a: PrimExpr) -> PrimExpr:
    """Unary minus as TVM's script spells it: ``x * -1`` (folded for a constant)."""
    if a.dtype.element_of().is_uint or a.dtype.element_of().is_bool:
        raise TypeError(f"unary minus needs a signed operand, got a {a.dtype} expression; "
                        f"write 0 - x for the wrapped difference")
    return fold_binary(E.Mul, a, E.const(-1, a.dtype))


def fold_bitwise(op: str, a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    """``a & b`` ... ``a >> b`` as TVM folds them: two index-typed constants, or a shift by 0;
    None when it does not fold."""
    if not (_is_index(a.dtype) and _is_index(b.dtype)):
        return None
    pa, pb = _int(a), _int(b)
    if op in ("tir.shift_left", "tir.shift_right") and pb is not None:
        if not 0 <= pb < a.dtype.bits:
            raise ValueError(f"a shift amount must be in [0, {a.dtype.bits}) for {a.dtype}, "
                             f"got {pb}")
        if pa is None and pb == 0:
            return a
    if pa is not None and pb is not None:
        return IntImm(a.dtype, _wrap(_BITWISE[op](pa, pb), a.dtype))
    return None


# ---------------------------------------------------------------- TryConstFold<Op>


def _int(e: PrimExpr) -> int | None:
    return e.value if type(e) is IntImm else None


def _float(e: PrimExpr) -> float | None:
    return e.value if type(e) is FloatImm else None


def _is_index(dt: DataType) -> bool:
    return dt.is_int and dt.lanes == 1 and dt.bits in (32, 64)


def _wrap(value: int, dt: DataType) -> int:
    """``GetFoldResultInt64Repr``: the value in int64, then truncated and sign-extended."""
    bits = 1 if dt.is_bool else min(dt.bits, 64)
    value &= (1 << bits) - 1
    if dt.is_int and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _float_result(dt: DataType, fn: Callable[[Any, Any], Any], x: float, y: float) -> PrimExpr | None:
    """``fn`` in float32 precision for float32 (overflow to inf), in double for float64."""
    if dt.kind != "float" or dt.bits not in (32, 64):
        return None
    with np.errstate(all="ignore"):
        value = fn(np.float32(x), np.float32(y)) if dt.bits == 32 else fn(x, y)
    return FloatImm(dt, float(value))


def _nonzero(b: PrimExpr) -> None:
    if (type(b) in (IntImm, FloatImm)) and b.value == 0:
        raise ValueError("division by a constant zero")


def _add(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    pa, pb, fa, fb = _int(a), _int(b), _float(a), _float(b)
    if pa is not None and pb is not None:
        return IntImm(a.dtype, _wrap(pa + pb, a.dtype))
    if pa == 0:
        return b
    if pb == 0:
        return a
    if fa is not None and fb is not None:
        folded = _float_result(a.dtype, lambda x, y: x + y, fa, fb)
        if folded is not None:  # float16 and others go on to the 0/1 rules
            return folded
    if fa == 0:
        return b
    return a if fb == 0 else None


def _sub(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    pa, pb, fa, fb = _int(a), _int(b), _float(a), _float(b)
    if a.dtype.is_uint and pa == 0 and pb is not None and pb > 0:
        raise ValueError(f"0 - {pb} is negative, which {a.dtype} cannot hold")
    if pa is not None and pb is not None:
        return IntImm(a.dtype, _wrap(pa - pb, a.dtype))
    if pb == 0:
        return a
    if fa is not None and fb is not None:
        folded = _float_result(a.dtype, lambda x, y: x - y, fa, fb)
        if folded is not None:  # float16 and others go on to the 0/1 rules
            return folded
    return a if fb == 0 else None


def _mul(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    pa, pb, fa, fb = _int(a), _int(b), _float(a), _float(b)
    if pa is not None and pb is not None:
        return IntImm(a.dtype, _wrap(pa * pb, a.dtype))
    found = _unit_or_zero(a, b, pa, pb)
    if found is not None:
        return found
    if fa is not None and fb is not None:
        folded = _float_result(a.dtype, lambda x, y: x * y, fa, fb)
        if folded is not None:  # float16 and others go on to the 0/1 rules
            return folded
    return _unit_or_zero(a, b, fa, fb)


def _unit_or_zero(a: PrimExpr, b: PrimExpr, va: Any, vb: Any) -> PrimExpr | None:
    """``1 * x``, ``0 * x``, ``x * 1``, ``x * 0`` in TVM's order of tests."""
    if va is not None and va in (0, 1):
        return b if va == 1 else a
    if vb is not None and vb in (0, 1):
        return a if vb == 1 else b
    return None


def _division(int_fn: Callable[[int, int], int], float_fn: Callable[[Any, Any], Any],
              floor: bool = False):
    """``Div`` and ``FloorDiv``: the same order of tests, truncating or flooring (TVM's
    ``FloorDiv`` gives up on two float constants it cannot fold, ``Div`` goes on)."""

    def rule(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
        pa, pb, fa, fb = _int(a), _int(b), _float(a), _float(b)
        _nonzero(b)
        if pa is not None and pb is not None:
            return IntImm(a.dtype, _wrap(int_fn(pa, pb), a.dtype))
        if pa == 0 or pb == 1:
            return a
        if fa is not None and fb is not None:
            folded = _float_result(a.dtype, float_fn, fa, fb)
            if folded is not None or floor:  # Div of float16 goes on to the 0/1 rules
                return folded
        return a if fa == 0 or fb == 1 else None

    return rule


def _mod_rule(mod: Callable[[int, int], int]) -> Callable[[PrimExpr, PrimExpr], PrimExpr | None]:
    def rule(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
        if not (_is_index(a.dtype) and _is_index(b.dtype)):
            return None
        pa, pb = _int(a), _int(b)
        _nonzero(b)
        if pa is not None and pb is not None:
            return IntImm(a.dtype, _wrap(mod(pa, pb), a.dtype))
        if pa == 0:
            return a
        if pb == 1:
            return IntImm(a.dtype, 0)
        return None

    return rule


def _truncdiv(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def _truncmod(x: int, y: int) -> int:
    return x - _truncdiv(x, y) * y


def _extremum(pick: Callable[[Any, Any], Any]) -> Callable[[PrimExpr, PrimExpr], PrimExpr | None]:
    def rule(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
        pa, pb, fa, fb = _int(a), _int(b), _float(a), _float(b)
        if pa is not None and pb is not None:
            return IntImm(a.dtype, pick(pa, pb))
        if fa is not None and fb is not None:
            return FloatImm(a.dtype, _std_pick(pick, fa, fb))
        return a if a is b else None

    return rule


def _std_pick(pick: Callable[[Any, Any], Any], x: float, y: float) -> float:
    """``std::min``/``std::max`` (the first argument when unordered, as with nan)."""
    if math.isnan(x) or math.isnan(y):
        return x
    return pick(x, y)


def _compare(cls: type) -> Callable[[PrimExpr, PrimExpr], PrimExpr | None]:
    fn = _CMP[cls]

    def rule(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
        pa, pb, fa, fb = _int(a), _int(b), _float(a), _float(b)
        if pa is not None and pb is not None:
            return IntImm(BOOL, fn(pa, pb))
        if fa is not None and fb is not None:
            return IntImm(BOOL, fn(fa, fb))
        return None

    return rule


def _and(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    pa, pb = _int(a), _int(b)
    if pa is not None:
        return b if pa else a
    if pb is not None:
        return a if pb else b
    return None


def _or(a: PrimExpr, b: PrimExpr) -> PrimExpr | None:
    pa, pb = _int(a), _int(b)
    if pa is not None:
        return a if pa else b
    if pb is not None:
        return b if pb else a
    return None


_RULES: dict[type, Callable[[PrimExpr, PrimExpr], PrimExpr | None]] = {
    E.Add: _add, E.Sub: _sub, E.Mul: _mul, E.Div: _division(_truncdiv, lambda x, y: x / y),
    E.FloorDiv: _division(lambda x, y: x // y, lambda x, y: np.floor(x / y), floor=True),
    E.Mod: _mod_rule(_truncmod), E.FloorMod: _mod_rule(lambda x, y: x % y),
    E.Min: _extremum(min), E.Max: _extremum(max),
    **{cls: _compare(cls) for cls in _CMP}, E.And: _and, E.Or: _or,
}
