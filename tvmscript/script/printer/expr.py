"""Loop-level expressions: Python operator syntax with only the parentheses precedence needs.

Every ``e_<Class>`` method returns ``(text, precedence)``; a parent wraps a child in parentheses
when the child binds more loosely than the parent's operator needs (right operands of a
left-associative operator need strictly tighter binding; comparisons never chain).
"""

from __future__ import annotations

import math
from typing import Any

from ...ir import expr as E
from ...ir.buffer import Buffer
from ...ir.dtype import BOOL, INT32
from ...ir.op import by_op
from ...ir.structural import structural_equal
from ..fold import fold_binary, fold_bitwise, folds
from ..parser.values import extent_between
from .base import lookup, str_lit

OR, AND, NOT, CMP, BOR, BXOR, BAND, SHIFT, ADD, MUL, UNARY, POW, ATOM = range(1, 14)

_BINARY: dict[type, tuple[str, int]] = {
    E.Add: (" + ", ADD), E.Sub: (" - ", ADD), E.Mul: (" * ", MUL), E.Div: (" / ", MUL),
    E.FloorDiv: (" // ", MUL), E.FloorMod: (" % ", MUL),
    E.EQ: (" == ", CMP), E.NE: (" != ", CMP), E.LT: (" < ", CMP), E.LE: (" <= ", CMP),
    E.GT: (" > ", CMP), E.GE: (" >= ", CMP), E.And: (" and ", AND), E.Or: (" or ", OR),
}
_INFIX_PREC = {"|": BOR, "^": BXOR, "&": BAND, "<<": SHIFT, ">>": SHIFT}
_CALL_NAMES = {E.Min: "T.min", E.Max: "T.max", E.Mod: "T.truncmod"}
_ORDERINGS = (E.LT, E.LE, E.GT, E.GE)


def _would_fold(e: Any) -> bool:
    """Whether the operator spelling of ``e`` parses to something else (TVM folds it too)."""
    try:
        return folds(e)
    except (ArithmeticError, ValueError):  # a constant zero divisor: the operator refuses it
        return True


def _is_negation(e: Any) -> bool:
    """``x * -1``, printed ``-x``: what ``-x`` parses to (as in TVM)."""
    if type(e) is not E.Mul or type(e.b) not in (E.IntImm, E.FloatImm) or e.b.value != -1:
        return False
    elem = e.dtype.element_of()
    return (e.a.dtype == e.b.dtype and type(e.a) not in (E.IntImm, E.FloatImm)
            and not (elem.is_uint or elem.is_bool))


def _both_const(e: Any) -> bool:
    return type(e.a) in (E.IntImm, E.FloatImm) and type(e.b) in (E.IntImm, E.FloatImm)


def _is_bare(e: Any) -> bool:
    """An int32 constant, printed as a plain Python int."""
    return type(e) is E.IntImm and e.dtype is INT32


class ExprMixin:
    """Prints PrimExprs; needs ``names`` and ``loc`` from the base printer."""

    # set by the statement printer while it prints a buffer definition (symbolic sizes)
    in_buffer_def = False

    def expr(self, e: Any) -> str:
        """The text of an expression (or a plain Python value standing in for one)."""
        return self.px(e)[0]

    def px(self, e: Any) -> tuple[str, int]:
        fn = self._E.get(type(e))
        if fn is None:
            fn = lookup(type(self), "e", type(e)) or type(self).e_fallback
            self._E[type(e)] = fn
        return fn(self, e)

    def e_fallback(self, e: Any) -> tuple[str, int]:
        return self.value(e), ATOM

    def wrap(self, e: Any, min_prec: int) -> str:
        """Text of ``e``, parenthesised when it binds more loosely than ``min_prec``."""
        text, prec = self.px(e)
        return text if prec >= min_prec else f"({text})"

    # ------------------------------------------------------------ leaves

    def e_Var(self, v: E.Var) -> tuple[str, int]:
        if self.locs is not None:
            self.loc(v)
        name = self.names.names.get(v)
        if name is None:
            name = self.use_undefined(v)
        elif self.in_buffer_def and v in self.free_vars:
            self.declare(v)
        return name, ATOM

    def use_undefined(self, v: E.Var) -> str:
        """A variable met before any definition: symbolic (declared) or free (by its name)."""
        name = self.names.define(v, v.name)
        if self.in_buffer_def or self.declare_all:
            self.declare(v)
        else:
            self.free_vars.add(v)
        return name

    def declare(self, v: E.Var) -> None:
        """Declare ``v`` at the top of the function body (``n = T.int32()``)."""
        self.free_vars.discard(v)
        if v not in self.decl_set:
            self.decl_set.add(v)
            self.decls.append(v)

    def decl_lines(self, indent: str) -> list[str]:
        names = self.names.names
        return [f"{indent}{names[v]} = T.{v.dtype}()" for v in self.decls]

    def e_IntImm(self, e: E.IntImm) -> tuple[str, int]:
        dt = e.dtype
        if dt is INT32:
            return str(e.value), (ATOM if e.value >= 0 else UNARY)
        if dt is BOOL:
            return f"T.bool({bool(e.value)})", ATOM
        return f"T.{dt}({e.value})", ATOM

    def e_FloatImm(self, e: E.FloatImm) -> tuple[str, int]:
        v = e.value
        text = repr(v) if math.isfinite(v) else f'"{v}"'
        return f"T.{e.dtype}({text})", ATOM

    def e_StringImm(self, e: E.StringImm) -> tuple[str, int]:
        return str_lit(e.value), ATOM

    # ------------------------------------------------------------ operators

    def e_BinaryOp(self, e: Any) -> tuple[str, int]:
        """A left-leaning chain ``a + b + c + ...`` is printed in a loop, not recursively, so a
        long sum prints (and parses back) without exhausting Python's stack."""
        chain = [e]
        while self.continues_chain(chain[-1]):
            chain.append(chain[-1].a)
        text, prec = self.binary_op(chain[-1])
        for link in reversed(chain[:-1]):
            op, prec = _BINARY[type(link)]
            b, pb = self.px(link.b)
            text = text + op + (f"({b})" if pb <= prec else b)
        return text, prec

    def continues_chain(self, e: Any) -> bool:
        """Whether ``e.a`` prints as the left part of ``e``'s operator chain, without parentheses."""
        prec = _BINARY[type(e)][1]
        left = _BINARY.get(type(e.a))
        return (prec != CMP and left is not None and left[1] == prec and not _is_negation(e)
                and not _is_negation(e.a)
                and self.call_spelling(e) is None and self.call_spelling(e.a) is None)

    def call_spelling(self, e: Any) -> str | None:
        """The call that spells binary ``e`` where its operator would not parse back to it: the
        node constructor (``T.Mul(i, 1)``) where the operator folds, as TVM's printer does; in
        the tvm dialect ``T.truncdiv`` for an integer ``Div`` (TVM refuses ``/`` on integers)."""
        cls = type(e)
        if cls in (E.EQ, E.NE, E.And, E.Or):
            return None  # never folded by a parser
        if _would_fold(e) if cls not in _ORDERINGS else _both_const(e):
            return f"T.{cls.__name__}"
        if self.tvm and not e.dtype.element_of().is_float and cls is E.Div:
            return "T.truncdiv"
        if self.tvm and e.a.dtype.element_of().is_float and cls in (E.FloorDiv, E.FloorMod):
            return f"T.{cls.__name__}"  # TVM's // and % take integers only
        return None

    def binary_op(self, e: Any) -> tuple[str, int]:
        call = self.call_spelling(e)
        if call is not None:
            return f"{call}({self.expr(e.a)}, {self.expr(e.b)})", ATOM
        if _is_negation(e):
            return "-" + self.wrap(e.a, UNARY), UNARY
        op, prec = _BINARY[type(e)]
        a, pa = self.px(e.a)
        b, pb = self.px(e.b)
        if _is_bare(e.a) and _is_bare(e.b):  # Python would fold two plain ints
            a, pa = f"T.int32({e.a.value})", ATOM
        if pa < prec or (pa == prec and prec == CMP):
            a = f"({a})"
        if pb <= prec:
            b = f"({b})"
        return a + op + b, prec

    e_CmpOp = e_BinaryOp

    def e_Min(self, e: Any) -> tuple[str, int]:
        name = f"T.{type(e).__name__}" if _would_fold(e) else _CALL_NAMES[type(e)]
        return f"{name}({self.expr(e.a)}, {self.expr(e.b)})", ATOM

    e_Max = e_Mod = e_Min

    def e_Not(self, e: E.Not) -> tuple[str, int]:
        return "not " + self.wrap(e.a, NOT), NOT

    def e_Select(self, e: E.Select) -> tuple[str, int]:
        args = f"{self.expr(e.condition)}, {self.expr(e.true_value)}, {self.expr(e.false_value)}"
        return f"T.Select({args})", ATOM

    def e_Cast(self, e: E.Cast) -> tuple[str, int]:
        return f'T.Cast("{e.dtype}", {self.expr(e.value)})', ATOM

    def e_Ramp(self, e: E.Ramp) -> tuple[str, int]:
        return f"T.Ramp({self.expr(e.base)}, {self.expr(e.stride)}, {e.lanes})", ATOM

    def e_Broadcast(self, e: E.Broadcast) -> tuple[str, int]:
        return f"T.Broadcast({self.expr(e.value)}, {e.lanes})", ATOM

    def e_Let(self, e: E.Let) -> tuple[str, int]:
        value = self.expr(e.value)
        var = self.names.names.get(e.var) or self.names.define(e.var, e.var.name)
        self.declare(e.var)
        if self.locs is not None:
            self.loc(e.var)
        if self.tvm:  # TVM's spelling; its T.let is the statement annotation
            return f"T.Let({self.expr(e.body)}, where={{{var}: {value}}})", ATOM
        return f"T.let({var}, {value}, {self.expr(e.body)})", ATOM

    def e_BufferLoad(self, e: E.BufferLoad) -> tuple[str, int]:
        if self.locs is not None:
            self.loc(e)
        if self.tvm:  # TVM reads a slice on the right-hand side as a region, not a load
            indices = ", ".join(self.expr(i) for i in e.indices) or "()"
            return f"{self.buffer_name(e.buffer)}[{indices}]", ATOM
        return f"{self.buffer_name(e.buffer)}[{self.indices(e.indices)}]", ATOM

    def e_Call(self, e: E.Call) -> tuple[str, int]:
        info = by_op(e.op)
        if info is None:
            args = "".join(", " + self.expr(a) for a in e.args)
            return f'T.call_intrin("{e.dtype}", {str_lit(e.op)}{args})', ATOM
        if info.infix is not None and not self.bitwise_folds(e):
            if len(e.args) == 1:
                arg = e.args[0]
                text = f"T.int32({arg.value})" if _is_bare(arg) else self.wrap(arg, UNARY)
                return info.infix + text, UNARY
            prec = _INFIX_PREC[info.infix]
            a, b = e.args
            left = f"T.int32({a.value})" if _is_bare(a) and _is_bare(b) else self.wrap(a, prec)
            return f"{left} {info.infix} {self.wrap(b, prec + 1)}", prec
        args = ", ".join(self.expr(a) for a in e.args)
        if info.dtype_rule == "explicit":
            return f'T.{info.script_name}("{e.dtype}"{", " if args else ""}{args})', ATOM
        return f"T.{info.script_name}({args})", ATOM

    def bitwise_folds(self, e: E.Call) -> bool:
        """Whether ``a & b`` ... ``a >> b`` would parse to something else (TVM folds it)."""
        if len(e.args) != 2:
            return False
        try:
            return fold_bitwise(e.op, *e.args) is not None
        except ValueError:  # a shift out of range: the operator refuses it
            return True

    # ------------------------------------------------------------ buffers and indices

    def e_Buffer(self, b: Buffer) -> tuple[str, int]:
        return self.buffer_name(b), ATOM

    def buffer_name(self, b: Buffer) -> str:
        name = self.names.names.get(b)
        if name is None:  # a buffer defined outside what is printed
            name = self.names.define(b, b.name)
        return name

    def indices(self, indices: tuple[Any, ...]) -> str:
        if not indices:
            return "()"
        return ", ".join(self.index(i) for i in indices)

    def index(self, i: Any) -> str:
        if type(i) is E.Ramp and type(i.stride) is E.IntImm and i.stride.value == 1:
            return self.slice(i.base, E.IntImm(i.base.dtype, i.lanes))
        return self.expr(i)

    def slice(self, start: Any, extent: Any) -> str:
        """``start:end`` where the parser recovers ``extent`` from ``end``."""
        return f"{self.expr(start)}:{self.end(start, extent)}"

    def end(self, start: Any, extent: Any) -> str:
        """``start + extent``: folded when both are constants, else written as a sum."""
        if type(start) is E.IntImm and type(extent) is E.IntImm and start.dtype == extent.dtype:
            return self.expr(E.IntImm(start.dtype, start.value + extent.value))
        if start.dtype == extent.dtype:
            stop = fold_binary(E.Add, start, extent)
            if type(stop) is not E.Add:  # ``0 + n`` is ``n`` when parsed
                if structural_equal(extent_between(start, stop), extent):
                    return self.expr(stop)
                return f"T.Add({self.expr(start)}, {self.expr(extent)})"
        return f"{self.wrap(start, ADD)} + {self.wrap(extent, ADD + 1)}"

    def range_text(self, r: E.Range) -> str:
        """A region entry: a point when the extent is 1, else ``min:min + extent``."""
        if type(r.extent) is E.IntImm and r.extent.value == 1:
            return self.expr(r.min)
        return self.slice(r.min, r.extent)
