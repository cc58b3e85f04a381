"""``lower-intrinsics``: math calls become LLVM intrinsics, libm calls or plain arithmetic.

By dtype: ``float32``/``float64`` (and their vectors) call the LLVM intrinsic named with the
type suffix, or the libm function (``tanhf``/``tanh``) where LLVM has none; ``float16`` and
``bfloat16`` are computed in float32 and cast back. ``round`` is ``llvm.nearbyint`` (half to
even, as TVM and numpy round)::

    B[i] = T.exp(A[i]) + T.tanh(A[i])
        →
    B[i] = T.call_llvm_pure_intrin("float32", "llvm.exp.f32", A[i])
           + T.call_pure_extern("float32", "tanhf", A[i])

Composite ones become arithmetic on those: ``sigmoid(x) = 1 / (1 + exp(0 - x))``,
``rsqrt(x) = 1 / sqrt(x)``, ``exp10(x) = pow(10, x)``, ``abs`` of an integer is
``Select(x < 0, 0 - x, x)``, ``isnan(x) = x != x``, ``isinf(x) = fabs(x) == inf``. Integer
``popcount``/``clz`` become ``llvm.ctpop``/``llvm.ctlz``.

Vectors: LLVM intrinsics take their vector form (``llvm.exp.v16f32``). A libm function has no
vector form: ``vectorize-loop`` leaves loops that call one serial (``VECTOR_OPS`` lists what it
may vectorize), and a vector libm call written by hand stays a ``call_pure_extern`` of vector
dtype, which code generation must apply lane by lane.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tvmscript.ir import (
    EQ,
    LT,
    NE,
    Call,
    Cast,
    DataType,
    Mutator,
    PrimExpr,
    PrimFunc,
    Select,
    StringImm,
    const,
)
from tvmscript.ir.dtype import dtype as as_dtype

from .infra import PassContext, prim_func_pass

# tir op -> LLVM intrinsic base name (floats)
LLVM_FLOAT = {
    "tir.exp": "exp", "tir.exp2": "exp2", "tir.log": "log", "tir.log2": "log2",
    "tir.log10": "log10", "tir.sqrt": "sqrt", "tir.floor": "floor", "tir.ceil": "ceil",
    "tir.trunc": "trunc", "tir.round": "nearbyint", "tir.nearbyint": "nearbyint",
    "tir.fabs": "fabs", "tir.sin": "sin", "tir.cos": "cos", "tir.pow": "pow",
    "tir.copysign": "copysign",
}
# tir op -> libm function (the float64 name; float32 adds "f")
LIBM = {
    "tir.tanh": "tanh", "tir.erf": "erf", "tir.log1p": "log1p", "tir.tan": "tan",
    "tir.sinh": "sinh", "tir.cosh": "cosh", "tir.asin": "asin", "tir.acos": "acos",
    "tir.atan": "atan", "tir.atan2": "atan2", "tir.hypot": "hypot", "tir.fmod": "fmod",
    "tir.nextafter": "nextafter",
}
COMPOSITE = ("tir.sigmoid", "tir.rsqrt", "tir.exp10", "tir.abs", "tir.isnan", "tir.isinf")
INTEGER = {"tir.popcount": "ctpop", "tir.clz": "ctlz"}
BITWISE = ("tir.bitwise_and", "tir.bitwise_or", "tir.bitwise_xor", "tir.bitwise_not",
           "tir.shift_left", "tir.shift_right")

# calls that have a vector form after lowering (what vectorize-loop may vectorize)
VECTOR_OPS = frozenset({*LLVM_FLOAT, *COMPOSITE, *INTEGER, *BITWISE})


def type_suffix(dt: DataType) -> str:
    """LLVM's overload suffix: ``f32``, ``v16f32``, ``i32``."""
    letter = "f" if dt.is_float else "i"
    scalar = f"{letter}{dt.bits}"
    return scalar if dt.lanes == 1 else f"v{dt.lanes}{scalar}"


def llvm_intrin(name: str, dt: DataType, *args: PrimExpr) -> PrimExpr:
    return Call(dt, "tir.call_llvm_pure_intrin", (StringImm(f"llvm.{name}.{type_suffix(dt)}"),
                                                  *args))


def libm(name: str, dt: DataType, *args: PrimExpr) -> PrimExpr:
    callee = name + "f" if dt.bits == 32 else name
    return Call(dt, "tir.call_pure_extern", (StringImm(callee), *args))


# ---------------------------------------------------------------- rules (float32/64 inputs)


def _sigmoid(call: Call) -> PrimExpr:
    x, dt = call.args[0], call.dtype
    one = const(1, dt)
    return one / (one + llvm_intrin("exp", dt, const(0, dt) - x))


def _rsqrt(call: Call) -> PrimExpr:
    return const(1, call.dtype) / llvm_intrin("sqrt", call.dtype, call.args[0])


def _exp10(call: Call) -> PrimExpr:
    return llvm_intrin("pow", call.dtype, const(10, call.dtype), call.args[0])


def _abs(call: Call) -> PrimExpr:
    x = call.args[0]
    if x.dtype.is_float:
        return llvm_intrin("fabs", x.dtype, x)
    if x.dtype.is_int:
        zero = const(0, x.dtype)
        return Select(LT(x, zero), zero - x, x)
    return x  # unsigned, bool


def _isnan(call: Call) -> PrimExpr:
    x = call.args[0]
    return NE(x, x) if x.dtype.is_float else const(False, call.dtype)


def _isinf(call: Call) -> PrimExpr:
    x = call.args[0]
    if not x.dtype.is_float:
        return const(False, call.dtype)
    return EQ(llvm_intrin("fabs", x.dtype, x), const(math.inf, x.dtype))


_COMPOSITE_RULES: dict[str, Callable[[Call], PrimExpr]] = {
    "tir.sigmoid": _sigmoid, "tir.rsqrt": _rsqrt, "tir.exp10": _exp10, "tir.abs": _abs,
    "tir.isnan": _isnan, "tir.isinf": _isinf,
}


def lower_call(call: Call) -> PrimExpr:
    """The lowered form of a float32/float64 (or integer) math call; other calls unchanged."""
    op = call.op
    operand = call.args[0].dtype if call.args else call.dtype
    if op in _COMPOSITE_RULES:
        return _COMPOSITE_RULES[op](call)
    if op in INTEGER and operand.is_integer:
        return _integer(call)
    if not operand.is_float:
        return call
    if op in LLVM_FLOAT:
        return llvm_intrin(LLVM_FLOAT[op], call.dtype, *call.args)
    if op in LIBM:
        return libm(LIBM[op], call.dtype, *call.args)
    return call


def _integer(call: Call) -> PrimExpr:
    name = INTEGER[call.op]
    extra = (const(False),) if name == "ctlz" else ()  # ctlz(x, is_zero_poison=false)
    return llvm_intrin(name, call.dtype, call.args[0], *extra)


def is_math(op: str) -> bool:
    return op in LLVM_FLOAT or op in LIBM or op in COMPOSITE or op in INTEGER


def is_half(dt: DataType) -> bool:
    return dt.is_float and dt.bits == 16


def in_float32(call: Call) -> PrimExpr:
    """A float16/bfloat16 call computed in float32 and cast back (bool results stay)."""
    f32 = as_dtype("float32")
    args = tuple(Cast(f32.with_lanes(a.dtype.lanes), a) if is_half(a.dtype) else a
                 for a in call.args)
    result = call.dtype if call.dtype.is_bool else f32.with_lanes(call.dtype.lanes)
    lowered = lower_call(Call(result, call.op, args))
    return lowered if call.dtype.is_bool else Cast(call.dtype, lowered)


class _LowerIntrinsics(Mutator):
    def visit_Call(self, call: Call) -> PrimExpr:
        call = self.generic_visit(call)
        if not is_math(call.op):
            return call
        if call.args and is_half(call.args[0].dtype):
            return in_float32(call)
        return lower_call(call)


@prim_func_pass("lower-intrinsics", opt_level=0, required=True)
def lower_intrinsics(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Replace math calls by LLVM intrinsics, libm calls or arithmetic on them."""
    return _LowerIntrinsics().visit(func)
