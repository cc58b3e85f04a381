"""Expressions → Python source text, one ``visit_<Class>`` per node kind.

Why bounds: integer scalars are Python ints, which never overflow, while the IR's integers wrap
around at their width. Wrapping every operation would make index arithmetic several times
slower, so each translated integer carries the range it can take; wrap-around code is emitted
only where that range may leave the dtype's (loads, unknown sizes, large products).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tvmscript.ir import expr as E
from tvmscript.ir.buffer import Buffer
from tvmscript.ir.dtype import DataType

from .context import Bounds, Code, Context, Layout
from .values import int_range, np_dtype, value_np_dtype, wrap_text

_ARITH_SYMBOL = {"Add": "+", "Sub": "-", "Mul": "*"}
_CMP_SYMBOL = {"EQ": "==", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}
# Python's tokenizer refuses more than 200 nested brackets; a sub-expression nested deeper than
# this becomes a thunk defined before its statement, so generated lines stay under ~150 levels.
_HOIST_NESTING = 96
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")


def _interval(op: str, a: Bounds, b: Bounds) -> Bounds:
    if op == "+":
        return a[0] + b[0], a[1] + b[1]
    if op == "-":
        return a[0] - b[1], a[1] - b[0]
    products = [x * y for x in a for y in b]
    return min(products), max(products)


class ExprTranslator:
    """Translates one expression at a time against a shared :class:`Context`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._table: dict[type, Callable[[E.PrimExpr], Code]] = {}
        self._let_names: list[str] = []  # variables of the Lets whose body is being translated

    def __call__(self, expr: E.PrimExpr) -> Code:
        cls = type(expr)
        method = self._table.get(cls)
        if method is None:
            for base in cls.__mro__:
                method = getattr(self, "visit_" + base.__name__, None)
                if method is not None:
                    break
            else:
                raise NotImplementedError(f"the interpreter cannot evaluate {cls.__name__}")
            self._table[cls] = method
        return self.hoisted(method(expr))

    def hoisted(self, code: Code) -> Code:
        """``code``, or a call of a thunk holding it when its brackets nest too deeply.

        A thunk (``_d = lambda: ...``) rather than a plain temporary keeps evaluation where it
        was: inside a ``while`` condition, an ``if_then_else`` branch or a short-circuit. The
        variables of enclosing Lets are its parameters: a Let bound inside another thunk is
        local to that thunk, out of this one's sight."""
        pending = self.ctx.pending
        if pending is None or code.text.count("(") + code.text.count("[") <= _HOIST_NESTING:
            return code
        if bracket_nesting(code.text) <= _HOIST_NESTING:
            return code
        name, params = self.ctx.fresh("_d"), ", ".join(self._let_names)
        pending.append(f"{name} = lambda{' ' if params else ''}{params}: {code.text}")
        return Code(f"{name}({params})", code.bounds)

    # ------------------------------------------------------------ helpers

    def fit(self, text: str, bounds: Bounds | None, dt: DataType) -> Code:
        """An integer scalar result: wrapped into ``dt`` unless ``bounds`` prove it fits."""
        lo, hi = int_range(dt)
        if bounds is not None and lo <= bounds[0] and bounds[1] <= hi:
            return Code(text, bounds)
        return Code(wrap_text(text, dt), (lo, hi))

    def float_result(self, text: str, dt: DataType) -> Code:
        """A float result, rounded to bfloat16 when that is the dtype (numpy rounds the rest)."""
        return Code(f"_bf({text})" if dt.kind == "bfloat" else text)

    def temp(self) -> str:
        return self.ctx.fresh("_t")

    @staticmethod
    def is_scalar_int(dt: DataType) -> bool:
        return dt.lanes == 1 and (dt.is_integer or dt.is_bool)

    # ------------------------------------------------------------ leaves

    def visit_Var(self, var: E.Var) -> Code:
        if var not in self.ctx.defined:
            raise NameError(f"variable {var.name!r} is used where it is not defined")
        return Code(self.ctx.name_of(var), self.ctx.var_bounds(var))

    def visit_IntImm(self, imm: E.IntImm) -> Code:
        if imm.dtype.is_bool:
            return Code("True" if imm.value else "False", (int(bool(imm.value)),) * 2)
        return Code(f"({imm.value})" if imm.value < 0 else str(imm.value), (imm.value, imm.value))

    def visit_FloatImm(self, imm: E.FloatImm) -> Code:
        value = np.array(imm.value, dtype=value_np_dtype(imm.dtype))[()]
        if imm.dtype.kind == "bfloat":
            from .values import _bf

            value = _bf(value)
        return Code(self.ctx.const(value, ("float", str(imm.dtype), repr(imm.value))))

    def visit_StringImm(self, imm: E.StringImm) -> Code:
        return Code(repr(imm.value))

    # ------------------------------------------------------------ arithmetic

    def visit_BinaryOp(self, op: E.PrimExpr) -> Code:
        a, b = self(op.a), self(op.b)
        name = type(op).__name__
        dt = op.dtype
        if name in _ARITH_SYMBOL:
            symbol = _ARITH_SYMBOL[name]
            text = f"({a.text} {symbol} {b.text})"
            if self.is_scalar_int(dt):
                return self.fit(text, _interval(symbol, a.bounds, b.bounds), dt)
            if dt.is_integer:
                return Code(text, clamp(_vector_bounds(a, b, symbol), dt))
            return self.float_result(text, dt)
        return getattr(self, "_" + name)(a, b, dt)

    def _Div(self, a: Code, b: Code, dt: DataType) -> Code:
        if not dt.is_integer:
            return self.float_result(f"({a.text} / {b.text})", dt)
        if dt.lanes > 1:
            return Code(f"_vtdiv({a.text}, {b.text})", int_range(dt))
        if a.bounds[0] >= 0 and b.bounds[0] > 0:
            bounds = (a.bounds[0] // b.bounds[1], a.bounds[1] // b.bounds[0])
            return Code(f"({a.text} // {b.text})", bounds)
        return self.fit(f"_tdiv({a.text}, {b.text})", _div_bounds(a.bounds, b.bounds), dt)

    def _Mod(self, a: Code, b: Code, dt: DataType) -> Code:
        if not dt.is_integer:
            return self.float_result(f"_np.fmod({a.text}, {b.text})", dt)
        if dt.lanes > 1:
            return Code(f"_vtmod({a.text}, {b.text})", int_range(dt))
        if a.bounds[0] >= 0 and b.bounds[0] > 0:
            return Code(f"({a.text} % {b.text})", (0, min(a.bounds[1], b.bounds[1] - 1)))
        m = max(abs(b.bounds[0]), abs(b.bounds[1]))
        return Code(f"_tmod({a.text}, {b.text})", (-m, m))

    def _FloorDiv(self, a: Code, b: Code, dt: DataType) -> Code:
        if not dt.is_integer:
            return self.float_result(f"_np.floor({a.text} / {b.text})", dt)
        if dt.lanes > 1:
            return Code(f"({a.text} // {b.text})", int_range(dt))
        return self.fit(f"({a.text} // {b.text})", _div_bounds(a.bounds, b.bounds), dt)

    def _FloorMod(self, a: Code, b: Code, dt: DataType) -> Code:
        if not dt.is_integer:
            q = f"_np.floor({a.text} / {b.text})"
            return self.float_result(f"({a.text} - {q} * {b.text})", dt)
        if dt.lanes > 1:
            return Code(f"({a.text} % {b.text})", int_range(dt))
        if b.bounds[0] > 0:
            return Code(f"({a.text} % {b.text})", (0, b.bounds[1] - 1))
        m = max(abs(b.bounds[0]), abs(b.bounds[1]))
        return Code(f"({a.text} % {b.text})", (-m, m))

    def _min_max(self, a: Code, b: Code, dt: DataType, symbol: str, pick) -> Code:
        bounds = None
        if a.bounds is not None and b.bounds is not None:
            bounds = (pick(a.bounds[0], b.bounds[0]), pick(a.bounds[1], b.bounds[1]))
        if dt.lanes > 1:
            helper = "_vmin" if symbol == "<" else "_vmax"
            return Code(f"{helper}({a.text}, {b.text})", bounds)
        ta, tb = self.temp(), self.temp()
        return Code(f"({ta} if (({ta} := {a.text}) {symbol} ({tb} := {b.text})) else {tb})", bounds)

    def _Min(self, a: Code, b: Code, dt: DataType) -> Code:
        return self._min_max(a, b, dt, "<", min)

    def _Max(self, a: Code, b: Code, dt: DataType) -> Code:
        return self._min_max(a, b, dt, ">", max)

    # ------------------------------------------------------------ logic

    def visit_CmpOp(self, op: E.PrimExpr) -> Code:
        name = type(op).__name__
        a, b = self(op.a), self(op.b)
        if name in _CMP_SYMBOL:
            return Code(f"({a.text} {_CMP_SYMBOL[name]} {b.text})", (0, 1))
        vector = op.dtype.lanes > 1
        if name == "And":
            return Code(f"({a.text} & {b.text})" if vector else f"({a.text} and {b.text})", (0, 1))
        return Code(f"({a.text} | {b.text})" if vector else f"({a.text} or {b.text})", (0, 1))

    def visit_Not(self, op: E.Not) -> Code:
        a = self(op.a)
        return Code(f"(~{a.text})" if op.dtype.lanes > 1 else f"(not {a.text})", (0, 1))

    def visit_Select(self, op: E.Select) -> Code:
        c, a, b = self(op.condition), self(op.true_value), self(op.false_value)
        bounds = _union(a.bounds, b.bounds)
        if op.dtype.lanes > 1:
            return Code(f"_np.where({c.text}, {a.text}, {b.text})", bounds)
        return Code(f"_select({c.text}, {a.text}, {b.text})", bounds)

    def visit_Let(self, op: E.Let) -> Code:
        value = self(op.value)
        name = self.ctx.define(op.var, value.bounds)
        self._let_names.append(name)  # a thunk in the body takes it as a parameter
        try:
            body = self(op.body)
        finally:
            self._let_names.pop()
        return Code(f"(({name} := {value.text}), {body.text})[1]", body.bounds)

    # ------------------------------------------------------------ casts and vectors

    def visit_Cast(self, op: E.Cast) -> Code:
        from .casts import translate_cast

        return translate_cast(self, op, self(op.value))

    def visit_Ramp(self, op: E.Ramp) -> Code:
        base, stride = self(op.base), self(op.stride)
        arange = np.arange(op.lanes, dtype=value_np_dtype(op.dtype))
        lanes = self.ctx.const(arange, ("arange", str(op.dtype), op.lanes))
        bounds = None
        if base.bounds is not None and stride.bounds is not None:
            span = [(op.lanes - 1) * s for s in stride.bounds]
            bounds = (base.bounds[0] + min(0, *span), base.bounds[1] + max(0, *span))
        return Code(f"({lanes} * {stride.text} + {base.text})", bounds)

    def visit_Broadcast(self, op: E.Broadcast) -> Code:
        value = self(op.value)
        npdt = value_np_dtype(op.dtype)
        dtname = self.ctx.dtype_const(npdt)
        return Code(f"_np.full({op.lanes}, {value.text}, {dtname})", value.bounds)

    # ------------------------------------------------------------ memory

    def layout(self, buffer: Buffer) -> Layout:
        """The buffer's flat array and offset/strides (row-major unless given)."""
        layout = self.ctx.layouts.get(buffer)
        if layout is not None:
            return layout
        if buffer.data not in self.ctx.defined:
            raise NameError(
                f"buffer {buffer.name!r} is accessed where its data {buffer.data.name!r} is not "
                "allocated (no parameter, Allocate or alloc_buffer defines it)"
            )
        array = self.ctx.buffer_arrays.get(buffer) or self.ctx.name_of(buffer.data, "d_")
        if buffer.strides:
            strides = [self(s) for s in buffer.strides]
        else:
            strides = row_major_strides([self(s) for s in buffer.shape])
        layout = Layout(array, self(buffer.elem_offset), strides)
        self.ctx.layouts[buffer] = layout
        return layout

    def offset(self, buffer: Buffer, indices: tuple[E.PrimExpr, ...]) -> tuple[str, Code]:
        """The flat array and the element offset of ``buffer[indices]`` (checked when needed)."""
        if buffer.dtype.lanes > 1:
            raise NotImplementedError(
                f"the interpreter does not support buffers of vector dtype ({buffer.name}: "
                f"{buffer.dtype})"
            )
        layout = self.layout(buffer)
        if len(indices) != len(layout.strides):
            raise IndexError(
                f"buffer {buffer.name!r} has {len(layout.strides)} dimensions, accessed with "
                f"{len(indices)} indices"
            )
        terms = [layout.offset] + [mul(self(i), s) for i, s in zip(indices, layout.strides)]
        total = add_all(terms)
        if total.bounds is None or total.bounds[0] < 0:
            total = Code(f"_chk({total.text}, {buffer.name!r})", total.bounds)
        return layout.array, total

    def visit_BufferLoad(self, op: E.BufferLoad) -> Code:
        array, off = self.offset(op.buffer, op.indices)
        text = f"{array}[{off.text}]"
        dt = op.dtype
        if dt.kind == "bfloat":
            return Code(f"_bf2f({text})")
        if dt.lanes == 1 and (dt.is_integer or dt.is_bool):
            return Code(f"{array}.item({off.text})", int_range(dt))
        return Code(text, int_range(dt) if dt.is_integer else None)

    def visit_Call(self, op: E.Call) -> Code:
        from .intrinsics import translate_call

        return translate_call(self, op)


# ---------------------------------------------------------------- offset arithmetic (exact)


def mul(a: Code, b: Code) -> Code:
    if b.is_const and b.bounds[0] == 1:
        return a
    if a.is_const and b.is_const:
        v = a.bounds[0] * b.bounds[0]
        return Code(str(v) if v >= 0 else f"({v})", (v, v))
    bounds = _interval("*", a.bounds, b.bounds) if a.bounds and b.bounds else None
    return Code(f"({a.text} * {b.text})", bounds)


def add_all(terms: list[Code]) -> Code:
    const = sum(t.bounds[0] for t in terms if t.is_const)
    rest = [t for t in terms if not t.is_const]
    if not rest:
        return Code(str(const) if const >= 0 else f"({const})", (const, const))
    if const:
        rest.append(Code(str(const) if const >= 0 else f"({const})", (const, const)))
    bounds = None
    if all(t.bounds is not None for t in rest):
        bounds = (sum(t.bounds[0] for t in rest), sum(t.bounds[1] for t in rest))
    text = rest[0].text if len(rest) == 1 else "(" + " + ".join(t.text for t in rest) + ")"
    return Code(text, bounds)


def row_major_strides(shape: list[Code]) -> list[Code]:
    strides: list[Code] = []
    running = Code("1", (1, 1))
    for extent in reversed(shape):
        strides.append(running)
        running = mul(extent, running)
    return strides[::-1]


def _div_bounds(a: Bounds, b: Bounds) -> Bounds | None:
    if b[0] <= 0 <= b[1]:
        m = max(abs(a[0]), abs(a[1]))
        return (-m, m)
    quotients = [x // y for x in a for y in b] + [-(-x // y) for x in a for y in b]
    return min(quotients), max(quotients)


def clamp(bounds: Bounds | None, dt: DataType) -> Bounds | None:
    """``bounds`` when they lie inside ``dt``'s range (vectors wrap silently), else the range."""
    lo, hi = int_range(dt)
    if bounds is None or bounds[0] < lo or bounds[1] > hi:
        return (lo, hi)
    return bounds


def _union(a: Bounds | None, b: Bounds | None) -> Bounds | None:
    if a is None or b is None:
        return None
    return min(a[0], b[0]), max(a[1], b[1])


def _vector_bounds(a: Code, b: Code, symbol: str) -> Bounds | None:
    if a.bounds is None or b.bounds is None:
        return None
    return _interval(symbol, a.bounds, b.bounds)


def bracket_nesting(text: str) -> int:
    """How deeply brackets nest in generated Python ``text`` (outside string literals)."""
    depth = deepest = 0
    quote, escaped = "", False
    for ch in text:
        if quote:
            if ch == quote and not escaped:
                quote = ""
            escaped = ch == "\\" and not escaped
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif ch in _CLOSE:
            depth -= 1
    return deepest


__all__ = ["ExprTranslator", "np_dtype"]
