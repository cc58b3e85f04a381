"""``T`` entries that build expression nodes exactly as written: ``T.Add(a, b)`` ... ``T.Not(a)``,
``T.Let(body, where={x: v})``; and the ``T`` functions whose IR TVM canonicalizes (``T.abs``,
``T.call_llvm_intrin``).

The operators (``a + b``) fold constants the way Apache TVM does (``fold.py``); these never do, so
the printer spells with them a node that an operator would fold away (``T.Mul(i, 1)``), as TVM's
printer does, and the text parses back to the same node.
"""

from __future__ import annotations

from ..ir import expr as E
from ..ir import op as intrin
from .parser.builtin import ArgError, table
from .parser.values import as_prim, describe, loaded


def _node(cls):
    def make(p, a, b):
        return cls(*E.match_dtypes(loaded(a), loaded(b)))

    return make


def _bitwise_node(op: str):
    """``T.BitwiseAnd(a, b)`` ...: TVM 0.27's node spellings of the bitwise operators, which it
    prints for operands an operator would fold (``T.BitwiseNot(3)``); never folded."""

    def make(p, *args):
        if op == "tir.bitwise_not":
            if len(args) != 1:
                raise TypeError("T.BitwiseNot takes one argument")
            x = as_prim(args[0])
            return E.Call(x.dtype, op, (x,))
        if len(args) != 2:
            raise TypeError(f"T.{_BITWISE_NODES[op]} takes two arguments")
        a, b = E.match_dtypes(loaded(args[0]), loaded(args[1]))
        return E.Call(a.dtype, op, (a, b))

    return make


_BITWISE_NODES = {"tir.bitwise_and": "BitwiseAnd", "tir.bitwise_or": "BitwiseOr",
                  "tir.bitwise_xor": "BitwiseXor", "tir.bitwise_not": "BitwiseNot",
                  "tir.shift_left": "ShiftLeft", "tir.shift_right": "ShiftRight"}


def not_node(p, a):
    return E.Not(as_prim(a))


def let_node(p, body, where):
    """``T.Let(body, where={x: value})``: TVM's spelling of a let expression."""
    if not isinstance(where, dict) or len(where) != 1:
        raise ArgError("where", "T.Let binds exactly one variable: where={x: value}, with x "
                                f"declared as x = T.int32(); got {describe(where)}")
    (var, value), = where.items()
    if not isinstance(var, E.Var):
        raise ArgError("where", "T.Let binds a variable declared with x = T.int32(), "
                                f"got {describe(var)} as the key of where")
    return E.Let(var, as_prim(value), as_prim(body))


def abs_call(p, x):
    """``T.abs`` as TVM builds it: ``tir.fabs`` on floats, ``Select(x >= 0, x, 0 - x)`` on
    signed integers, ``x`` on unsigned ones, and the value itself for a constant."""
    x = as_prim(x)
    dt = x.dtype.element_of()
    if type(x) in (E.IntImm, E.FloatImm):
        return type(x)(x.dtype, abs(x.value)) if not dt.is_uint else x
    if dt.is_float:
        return E.Call(x.dtype, "tir.fabs", (x,))
    if dt.is_int:
        zero = E.const(0, x.dtype)
        return E.Select(E.GE(x, zero), x, E.Sub(zero, x))
    if dt.is_uint:
        return x
    raise ArgError(0, f"T.abs needs a number, got {describe(x)}")


def _llvm_call(script_name: str):
    """``T.call_llvm_(pure_)intrin``: the overloaded intrinsic's name gets the suffix of the
    result dtype (``llvm.fabs`` on float32 is ``llvm.fabs.f32``), as LLVM names the function and
    as TVM, which stores the intrinsic id and prints its base name, means it."""
    info = intrin.by_script_name(script_name)

    def make(p, *args):
        from .tir_ns import make_intrinsic

        call = make_intrinsic(info, args)
        name = call.args[0] if call.args else None
        if isinstance(name, E.StringImm):
            full = intrin.llvm_intrinsic_name(name.value, call.dtype)
            if full != name.value:
                call = E.Call(call.dtype, call.op, (E.StringImm(full), *call.args[1:]))
        return call

    return make


def storage_sync(p, scope, *rest):
    """``T.tvm_storage_sync(scope)``; TVM spells out its defaults (``scope, False, -1``), which
    are left out here, so both spellings are one call."""
    from .tir_ns import make_intrinsic

    args = [scope, *rest]
    defaults = (False, -1)
    while len(args) > 1 and _is_value(args[-1], defaults[len(args) - 2]):
        args.pop()
    return make_intrinsic(intrin.by_script_name("tvm_storage_sync"), tuple(args))


def _is_value(arg, value) -> bool:
    if isinstance(arg, (E.IntImm, E.FloatImm)):
        arg = arg.value
    return isinstance(arg, (bool, int)) and arg == value


EXPR_ENTRIES = dict(table("T", {
    **{name: _node(getattr(E, name)) for name in (
        "Add", "Sub", "Mul", "Div", "Mod", "FloorDiv", "FloorMod", "Min", "Max",
        "EQ", "NE", "LT", "LE", "GT", "GE", "And", "Or")},
    "Not": not_node, "Let": let_node, "abs": abs_call, "tvm_storage_sync": storage_sync,
    "call_llvm_intrin": _llvm_call("call_llvm_intrin"),
    "call_llvm_pure_intrin": _llvm_call("call_llvm_pure_intrin"),
    **{name: _bitwise_node(op) for op, name in _BITWISE_NODES.items()},
}))
