"""``Call`` nodes: math intrinsics, LLVM intrinsics, libm externs, bit operations.

Dispatch is a dict from the op name to a handler; external and LLVM callees share one table of
math functions keyed by their base name (``expf`` and ``llvm.exp.f32`` are both ``exp``). An
unknown callee compiles to code that raises ``NotImplementedError`` naming it when executed, so
a function that merely contains such a call (on a path not taken) still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType

from ..amx import tile_operand_problem
from .amx import HELPERS as AMX_HELPERS
from .context import Code
from .values import int_range, np_dtype, value_np_dtype

if TYPE_CHECKING:  # pragma: no cover
    from .translate_expr import ExprTranslator

Handler = Callable[["ExprTranslator", E.Call], Code]

# float math by base name → the helper/ufunc the generated code calls
MATH: dict[str, str] = {
    "exp": "_np.exp", "exp2": "_np.exp2", "exp10": "_exp10", "expm1": "_np.expm1",
    "log": "_np.log", "log2": "_np.log2", "log10": "_np.log10", "log1p": "_np.log1p",
    "sqrt": "_np.sqrt", "rsqrt": "_rsqrt", "cbrt": "_np.cbrt", "tanh": "_np.tanh",
    "sigmoid": "_sigmoid", "erf": "_erf", "sin": "_np.sin", "cos": "_np.cos", "tan": "_np.tan",
    "sinh": "_np.sinh", "cosh": "_np.cosh", "asin": "_np.arcsin", "acos": "_np.arccos",
    "atan": "_np.arctan", "fabs": "_np.abs", "floor": "_np.floor", "ceil": "_np.ceil",
    "trunc": "_np.trunc", "rint": "_np.rint", "nearbyint": "_np.rint", "roundeven": "_np.rint",
    "round": "_round_half_away", "pow": "_np.power", "fmod": "_np.fmod", "atan2": "_np.arctan2",
    "hypot": "_np.hypot", "copysign": "_np.copysign", "nextafter": "_np.nextafter",
    "fmax": "_np.fmax", "fmin": "_np.fmin", "maxnum": "_np.fmax", "minnum": "_np.fmin",
    "maximum": "_np.maximum", "minimum": "_np.minimum", "fma": "_fma", "fmuladd": "_fma",
}
# TVM's ``tir.round`` is round-half-to-even (it lowers to ``llvm.nearbyint``)
_TIR_MATH = {**MATH, "round": "_np.rint"}
_INT_BITS = {"ctpop": "_popcount", "ctlz": "_clz", "popcount": "_popcount", "clz": "_clz"}


def _args(tr: ExprTranslator, args: tuple) -> list[Code]:
    return [tr(a) for a in args]


def _as_dtype(tr: ExprTranslator, text: str, dt: DataType) -> Code:
    """Convert a math result to the call's dtype."""
    if dt.is_integer or dt.is_bool:
        if dt.lanes == 1:
            return tr.fit(f"int({text})", None, dt)
        return Code(f"_np.asarray({text}).astype({_npdt(tr, dt)})", int_range(dt))
    if dt.kind == "bfloat":
        return Code(f"_bf({text})")
    if dt.lanes == 1:
        return Code(f"_{value_np_dtype(dt).name}({text})")
    return Code(f"_np.asarray({text}, {_npdt(tr, dt)})")


def _npdt(tr: ExprTranslator, dt: DataType) -> str:
    npdt = value_np_dtype(dt)
    return tr.ctx.dtype_const(npdt)


def _unsupported(message: str) -> Code:
    return Code(f"_unsupported({message!r})")


def _math_call(tr: ExprTranslator, base: str, args: list[Code], dt: DataType,
               table: dict[str, str], what: str) -> Code:
    if base in _INT_BITS and dt.is_integer:
        if dt.lanes > 1:
            return _unsupported(f"the interpreter does not support vector {what}")
        return tr.fit(f"{_INT_BITS[base]}({args[0].text}, {dt.bits})", None, dt)
    fn = table.get(base)
    if fn is None:
        return _unsupported(f"the interpreter does not know {what}")
    return _as_dtype(tr, f"{fn}({', '.join(a.text for a in args)})", dt)


# ---------------------------------------------------------------- tir.* handlers


def _tir_math(tr: ExprTranslator, call: E.Call) -> Code:
    base = call.op[len("tir."):]
    args = _args(tr, call.args)
    if call.dtype.is_integer and base in ("abs", "fabs"):
        return tr.fit(f"abs({args[0].text})", None, call.dtype)
    if base in ("isnan", "isinf"):
        text = f"_np.{base}({args[0].text})"
        return Code(text if call.dtype.lanes > 1 else f"bool({text})", (0, 1))
    if base in _INT_BITS:
        return _math_call(tr, base, args, call.dtype, _TIR_MATH, f"T.{base}")
    fn = _TIR_MATH.get("fabs" if base == "abs" else base)
    if fn is None:
        return _unsupported(f"the interpreter does not know the intrinsic {call.op!r}")
    return tr.float_result(f"{fn}({', '.join(a.text for a in args)})", call.dtype)


def _if_then_else(tr: ExprTranslator, call: E.Call) -> Code:
    c, a, b = _args(tr, call.args)
    from .translate_expr import _union

    if call.dtype.lanes > 1:
        return Code(f"_np.where({c.text}, {a.text}, {b.text})", _union(a.bounds, b.bounds))
    return Code(f"({a.text} if {c.text} else {b.text})", _union(a.bounds, b.bounds))


def _likely(tr: ExprTranslator, call: E.Call) -> Code:
    return tr(call.args[0])


def _reinterpret(tr: ExprTranslator, call: E.Call) -> Code:
    value = tr(call.args[0])
    src, dst = call.args[0].dtype, call.dtype
    text = f"_f2bf({value.text})" if src.kind == "bfloat" else value.text
    out = f"_reinterpret({text}, {np_dtype(src).name!r}, {np_dtype(dst).name!r})"
    if dst.kind == "bfloat":
        return Code(f"_bf2f({out})")
    return Code(out, int_range(dst) if dst.is_integer or dst.is_bool else None)


def _bitwise(symbol: str) -> Handler:
    def handle(tr: ExprTranslator, call: E.Call) -> Code:
        a, b = _args(tr, call.args)
        bounds = (0, 1) if call.dtype.is_bool else int_range(call.dtype)
        return Code(f"({a.text} {symbol} {b.text})", bounds)

    return handle


def _bitwise_not(tr: ExprTranslator, call: E.Call) -> Code:
    a = tr(call.args[0])
    dt = call.dtype
    if dt.lanes > 1:
        return Code(f"(~{a.text})", int_range(dt))
    if dt.is_bool:
        return Code(f"(not {a.text})", (0, 1))
    if dt.is_uint:
        return Code(f"(~{a.text} & {(1 << dt.bits) - 1})", int_range(dt))
    return Code(f"(~{a.text})", int_range(dt))


def _shift_left(tr: ExprTranslator, call: E.Call) -> Code:
    a, b = _args(tr, call.args)
    if call.dtype.lanes > 1:
        return Code(f"({a.text} << {b.text})", int_range(call.dtype))
    return tr.fit(f"({a.text} << {b.text})", None, call.dtype)


def _shift_right(tr: ExprTranslator, call: E.Call) -> Code:
    a, b = _args(tr, call.args)
    return Code(f"({a.text} >> {b.text})", int_range(call.dtype))


def _callee(call: E.Call) -> str:
    first = call.args[0] if call.args else None
    if not isinstance(first, E.StringImm):
        raise NotImplementedError(f"{call.op} expects the callee's name as its first argument")
    return first.value


def _extern(tr: ExprTranslator, call: E.Call) -> Code:
    name = _callee(call)
    args = _args(tr, call.args[1:])
    if name == "printf":
        return Code(f"_printf({', '.join(a.text for a in args)})", int_range(call.dtype))
    base = name[:-1] if name.endswith("f") and name[:-1] in MATH else name
    if base == "abs" and call.dtype.is_integer:
        return tr.fit(f"abs({args[0].text})", None, call.dtype)
    return _math_call(tr, base, args, call.dtype, MATH, f"the external function {name!r}")


def _llvm(tr: ExprTranslator, call: E.Call) -> Code:
    name = _callee(call)
    parts = name.split(".")
    base = parts[1] if len(parts) > 1 and parts[0] == "llvm" else name
    args = _args(tr, call.args[1:])
    if name.startswith("llvm.x86.avx512.vpdpbusd."):
        return Code(f"_vpdpbusd({', '.join(a.text for a in args)})")
    if name in AMX_HELPERS:
        problem = tile_operand_problem(name, call.args[1:])
        if problem is not None:
            return Code(f"_amx_invalid({problem!r})")
        helper, lead = AMX_HELPERS[name]
        return Code(f"{helper}({', '.join([lead] * bool(lead) + [a.text for a in args])})")
    if base == "powi":
        return _as_dtype(tr, f"_np.power({args[0].text}, {args[1].text})", call.dtype)
    if base == "ctlz":
        args = args[:1]
    return _math_call(tr, base, args, call.dtype, MATH, f"the LLVM intrinsic {name!r}")


def _address_of(tr: ExprTranslator, call: E.Call) -> Code:
    load = call.args[0]
    if not isinstance(load, E.BufferLoad):
        return _unsupported("T.address_of of something other than a buffer element")
    array, off = tr.offset(load.buffer, load.indices)
    return Code(f"_Pointer({array}, {off.text})")


def _access_ptr(tr: ExprTranslator, call: E.Call) -> Code:
    data, offset = tr(call.args[1]), tr(call.args[2])
    return Code(f"_Pointer({data.text}, {offset.text})")


def _storage_sync(tr: ExprTranslator, call: E.Call) -> Code:
    return Code("0", (0, 0))  # threads run one after another: every barrier is already met


HANDLERS: dict[str, Handler] = {
    "tir.if_then_else": _if_then_else,
    "tir.likely": _likely,
    "tir.reinterpret": _reinterpret,
    "tir.bitwise_and": _bitwise("&"),
    "tir.bitwise_or": _bitwise("|"),
    "tir.bitwise_xor": _bitwise("^"),
    "tir.bitwise_not": _bitwise_not,
    "tir.shift_left": _shift_left,
    "tir.shift_right": _shift_right,
    "tir.call_extern": _extern,
    "tir.call_pure_extern": _extern,
    "tir.call_llvm_intrin": _llvm,
    "tir.call_llvm_pure_intrin": _llvm,
    "tir.address_of": _address_of,
    "tir.tvm_access_ptr": _access_ptr,
    "tir.tvm_storage_sync": _storage_sync,
}
for _name in (*_TIR_MATH, "abs", "isnan", "isinf", "popcount", "clz"):
    HANDLERS.setdefault("tir." + _name, _tir_math)


def translate_call(tr: ExprTranslator, call: E.Call) -> Code:
    handler = HANDLERS.get(call.op)
    if handler is None:
        return _unsupported(f"the interpreter does not know the intrinsic {call.op!r}")
    return handler(tr, call)
