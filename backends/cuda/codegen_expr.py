"""Expressions to CUDA C text, with as few parentheses as C's precedence allows.

Each ``visit_<Expr>`` returns ``(text, precedence)``; an operand is parenthesized only when its
precedence is lower than its position needs (bitwise operands always are, as compilers warn).
Vector arithmetic has no C operators on CUDA's vector structs: operands are bound to
temporaries (``float4 v0 = ...;`` emitted before the statement) and combined lane by lane.
Integer ``//`` and ``%`` floor (Python's and TVM's semantics): a plain ``/`` where both sides
are provably non-negative, else the ``floordiv<T>``/``floormod<T>`` helpers of the prelude.
A vector load or store is one ``*(float4*)`` access only where its first element is provably
at a multiple of the lane count (an aligned address); otherwise it is read or written lane by
lane, as a misaligned vector access faults on the GPU.
"""

from __future__ import annotations

from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType
from tvmscript.ir.dtype import dtype as as_dtype

from .codegen_types import LANES, float_literal, int_literal, make_function

PRIMARY, UNARY, MUL, ADD, SHIFT, REL, EQUAL, BAND, BXOR, BOR, LAND, LOR, TERNARY = (
    16, 15, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3)

_ARITH = {"Add": ("+", ADD), "Sub": ("-", ADD), "Mul": ("*", MUL), "Div": ("/", MUL),
          "Mod": ("%", MUL)}
_CMP = {"EQ": ("==", EQUAL), "NE": ("!=", EQUAL), "LT": ("<", REL), "LE": ("<=", REL),
        "GT": (">", REL), "GE": (">=", REL)}
_LOGIC = {"And": ("&&", LAND), "Or": ("||", LOR)}
_BITWISE = {"tir.shift_left": ("<<", SHIFT), "tir.shift_right": (">>", SHIFT),
            "tir.bitwise_and": ("&", BAND), "tir.bitwise_or": ("|", BOR),
            "tir.bitwise_xor": ("^", BXOR)}
_SMALL_INTS = ("int8", "int16", "uint8", "uint16")
FLOAT32 = as_dtype("float32")


class ExprCodegen:
    """``visit_<Expr>`` methods; mixed into ``CUDACodegen``."""

    def expr(self, e: E.PrimExpr) -> str:
        """The CUDA C text of ``e`` (what tensor-core emitters call for their operands)."""
        return self.visit(e)[0]

    def operand(self, e: E.PrimExpr, min_prec: int) -> str:
        text, prec = self.visit(e)
        return text if prec >= min_prec else f"({text})"

    # ------------------------------------------------------------- leaves

    def visit_Var(self, op: E.Var):
        return self.name_of(op), PRIMARY

    def visit_IntImm(self, op: E.IntImm):
        self.type_of(op.dtype, op)
        text = int_literal(op.dtype, op.value)
        return text, PRIMARY if text[0] not in "-(" else UNARY

    def visit_FloatImm(self, op: E.FloatImm):
        self.type_of(op.dtype, op)
        text = float_literal(op.dtype, op.value)
        return text, UNARY if text.startswith("-") else PRIMARY

    def visit_StringImm(self, op: E.StringImm):
        return '"' + op.value.replace("\\", "\\\\").replace('"', '\\"') + '"', PRIMARY

    # ------------------------------------------------------------- arithmetic

    def vector(self, op: E.PrimExpr):
        """An element-wise vector operation as ``make_<vec>(lane 0, lane 1, ...)``."""
        lanes = self.lane_texts(op, op.dtype.lanes)
        return self._make(op.dtype, [text for text, _ in lanes]), PRIMARY

    def visit_BinaryOp(self, op: E.BinaryOp):
        if op.dtype.lanes > 1:
            return self.vector(op)
        return self._scalar_binary(type(op).__name__, op.dtype, op.a, op.b)

    visit_CmpOp = visit_BinaryOp

    def _scalar_binary(self, name: str, dt: DataType, a, b):
        """``a <name> b`` on scalars; ``a``/``b`` are IR or already-printed lane texts."""
        if name in _ARITH:
            sym, prec = _ARITH[name]
            if dt.is_float and name == "Mod":
                return self._math_call("fmod", dt, [a, b])
            text = f"{self._side(a, prec)} {sym} {self._side(b, prec + 1)}"
            if str(dt) in _SMALL_INTS and name in ("Add", "Sub", "Mul"):
                return f"({self.type_of(dt)})({text})", UNARY  # wraps like the IR's int8
            return text, prec
        if name in _CMP or name in _LOGIC:
            sym, prec = _CMP.get(name) or _LOGIC[name]
            side = EQUAL if name in _LOGIC else prec
            return f"{self._side(a, side)} {sym} {self._side(b, side + 1)}", prec
        if name in ("Min", "Max"):
            return self._minmax(name.lower(), dt, a, b)
        return self._floor_op(name, dt, a, b)

    def _side(self, x, min_prec: int) -> str:
        if isinstance(x, tuple):  # (text, precedence) of an already printed lane
            return x[0] if x[1] >= min_prec else f"({x[0]})"
        return self.operand(x, min_prec)

    def _minmax(self, fn: str, dt: DataType, a, b):
        a, b = self._side(a, TERNARY), self._side(b, TERNARY)
        if dt.kind == "float" and dt.bits == 32:
            return f"f{fn}f({a}, {b})", PRIMARY
        if dt.kind == "float" and dt.bits == 64:
            return f"f{fn}({a}, {b})", PRIMARY
        if dt.bits == 16 and dt.is_float:
            return f"__h{fn}({a}, {b})", PRIMARY
        return f"{fn}({a}, {b})", PRIMARY

    def _floor_op(self, name: str, dt: DataType, a, b):
        """FloorDiv / FloorMod with floor semantics for every sign."""
        if dt.is_float:
            q = self._math_call("floor", dt, [(f"{self._side(a, MUL)} / {self._side(b, MUL + 1)}",
                                               MUL)])[0]
            if name == "FloorDiv":
                return q, PRIMARY
            return f"{self._side(a, ADD)} - {q} * {self._side(b, MUL + 1)}", ADD
        sym = "/" if name == "FloorDiv" else "%"
        if dt.is_uint or dt.is_bool or (self._non_negative(a) and self._positive(b)):
            return f"{self._side(a, MUL)} {sym} {self._side(b, MUL + 1)}", MUL
        self.helpers.add(name)
        fn = "floordiv" if name == "FloorDiv" else "floormod"
        # the type explicit: ``signed char`` and an ``int`` literal would not deduce one ``T``
        return (f"{fn}<{self.type_of(dt)}>({self._side(a, TERNARY)}, {self._side(b, TERNARY)})",
                PRIMARY)

    def _non_negative(self, x) -> bool:
        return isinstance(x, E.PrimExpr) and self.analyzer.const_int_bound(x).min >= 0

    def _positive(self, x) -> bool:
        return isinstance(x, E.PrimExpr) and self.analyzer.const_int_bound(x).min > 0

    def visit_Not(self, op: E.Not):
        if op.dtype.lanes > 1:
            return self.vector(op)
        return f"!{self.operand(op.a, UNARY)}", UNARY

    def visit_Select(self, op: E.Select):
        if op.dtype.lanes > 1:
            return self.vector(op)
        return self._ternary(op.condition, op.true_value, op.false_value)

    def _ternary(self, c, t, f):
        return (f"{self._side(c, LOR)} ? {self._side(t, LOR)} : {self._side(f, LOR)}",
                TERNARY)

    def visit_Cast(self, op: E.Cast):
        if op.dtype.lanes > 1:
            return self.vector(op)
        return self._scalar_cast(op.value.dtype, op.dtype, op.value)

    def _scalar_cast(self, src: DataType, dst: DataType, v):
        """A conversion; half and bfloat16 convert through float with CUDA's functions."""
        if src == dst:
            return v if isinstance(v, tuple) else self.visit(v)
        low = {"float16": ("__float2half", "__half2float"),
               "bfloat16": ("__float2bfloat16", "__bfloat162float")}
        self.type_of(src), self.type_of(dst)
        if str(src) in low:
            as_float = f"{low[str(src)][1]}({self._side(v, TERNARY)})"
            if str(dst) == "float32":
                return as_float, PRIMARY
            return self._scalar_cast(FLOAT32, dst, (as_float, PRIMARY))
        if str(dst) in low:
            inner = self._side(v, TERNARY) if str(src) == "float32" \
                else f"(float){self._side(v, UNARY)}"
            return f"{low[str(dst)][0]}({inner})", PRIMARY
        return f"({self.type_of(dst)}){self._side(v, UNARY)}", UNARY

    # ------------------------------------------------------------- vectors

    def visit_Broadcast(self, op: E.Broadcast):
        value = self.temp(op.value)
        return self._make(op.dtype, [value] * op.lanes), PRIMARY

    def visit_Ramp(self, op: E.Ramp):
        return self._make(op.dtype, self._ramp_lanes(op)), PRIMARY

    def _make(self, dt: DataType, lanes: list[str]) -> str:
        return f"{make_function(self.type_of(dt))}({', '.join(lanes)})"

    def lanewise(self, dt: DataType, operands: list, fn) -> str:
        """``make_<vec>(fn(a_0, b_0), fn(a_1, b_1), ...)`` over the lanes of the operands."""
        per_lane = [self.lane_texts(x, dt.lanes) for x in operands]
        return self._make(dt, [fn(*(texts[k] for texts in per_lane))[0]
                               for k in range(dt.lanes)])

    def lane_texts(self, e: E.PrimExpr, lanes: int) -> list[tuple[str, int]]:
        """(text, precedence) of each lane of ``e``. Element-wise operations are split lane by
        lane (so a ``boolx4`` comparison, which has no CUDA type, needs no variable); anything
        else is computed once into a temporary whose ``.x .y .z .w`` are the lanes; a scalar
        is the same in every lane."""
        if e.dtype.lanes == 1:
            return [(self.temp(e), PRIMARY)] * lanes
        if isinstance(e, E.Broadcast):
            return [(self.temp(e.value), PRIMARY)] * lanes
        if isinstance(e, E.Ramp):
            return [(text, PRIMARY if k == 0 else ADD)
                    for k, text in enumerate(self._ramp_lanes(e))]
        elem = e.dtype.element_of()
        if isinstance(e, (E.BinaryOp, E.CmpOp)):
            a, b = self.lane_texts(e.a, lanes), self.lane_texts(e.b, lanes)
            name = type(e).__name__
            return [self._scalar_binary(name, elem, x, y) for x, y in zip(a, b)]
        if isinstance(e, E.Not):
            return [(f"!{self._side(x, UNARY)}", UNARY) for x in self.lane_texts(e.a, lanes)]
        if isinstance(e, E.Select):
            parts = [self.lane_texts(x, lanes) for x in (e.condition, e.true_value,
                                                         e.false_value)]
            return [self._ternary(*lane) for lane in zip(*parts)]
        if isinstance(e, E.Cast):
            src = e.value.dtype.element_of()
            return [self._scalar_cast(src, elem, x) for x in self.lane_texts(e.value, lanes)]
        name = self.temp(e)
        return [(f"{name}.{LANES[k]}", PRIMARY) for k in range(lanes)]

    def _ramp_lanes(self, op: E.Ramp) -> list[str]:
        base = self.temp(op.base)
        if isinstance(op.stride, E.IntImm):
            return [base] + [f"{base} + {self.expr(E.const(k * op.stride.value, op.stride.dtype))}"
                             for k in range(1, op.lanes)]
        stride = self.operand(op.stride, MUL + 1)
        return [base] + [f"{base} + {k} * {stride}" for k in range(1, op.lanes)]

    def temp(self, e: E.PrimExpr) -> str:
        """A name holding the value of ``e``: ``e`` itself when it is a name or a constant,
        else a new ``T vN = e;`` emitted before the current statement."""
        text, prec = self.visit(e)
        if isinstance(e, (E.IntImm, E.FloatImm)):
            return text if prec == PRIMARY else f"({text})"
        if prec == PRIMARY and text.replace("_", "a").isalnum():
            return text
        ctype = self.type_of(e.dtype, e)
        name = self.temps.get(f"{ctype} {text}")
        if name is None:
            name = self.names.fresh("v")
            self.line(f"{ctype} {name} = {text};", temp=name)
            self.temps[f"{ctype} {text}"] = name
        return name

    # ------------------------------------------------------------- memory

    def visit_BufferLoad(self, op: E.BufferLoad):
        ptr, index = self.access(op.buffer, op.indices, op)
        if op.dtype.lanes == op.buffer.dtype.lanes:
            return f"{ptr}[{self.expr(index)}]", PRIMARY
        ramp = self.vector_base(op.buffer, index, op.dtype)
        if ramp is not None:
            return f"*({self.type_of(op.dtype, op)}*){self.address(ptr, ramp)}", UNARY
        indices = self.lane_indices(index)
        return self._make(op.dtype, [f"{ptr}[{i}]" for i in indices]), PRIMARY

    def address(self, ptr: str, offset: E.PrimExpr) -> str:
        """``(ptr + offset)``, or ``ptr`` alone for offset 0 (the operand of a vector cast)."""
        if isinstance(offset, E.IntImm) and offset.value == 0:
            return ptr if ptr.startswith("(") else f"({ptr})" if not ptr.isidentifier() else ptr
        return f"({ptr} + {self.operand(offset, ADD)})"

    def contiguous_ramp(self, index: E.PrimExpr) -> E.PrimExpr | None:
        """The base of a ``Ramp(base, 1, lanes)`` index (a whole-vector access), else None."""
        if isinstance(index, E.Ramp) and isinstance(index.stride, E.IntImm) \
                and index.stride.value == 1:
            return index.base
        return None

    def vector_base(self, buffer, index: E.PrimExpr, dt: DataType) -> E.PrimExpr | None:
        """The base of a whole-vector access that may be one vector load/store: contiguous
        lanes starting at a multiple of the lane count (so the address is aligned to the
        vector's size, given an aligned array), else None (lane by lane). Notes the alignment
        a kernel parameter then needs (``vector_bytes``: the host checks device arrays)."""
        base = self.contiguous_ramp(index)
        if base is None:
            return None
        lanes = E.const(dt.lanes, base.dtype)
        if not self.analyzer.can_prove(E.binary(E.EQ, E.binary(E.FloorMod, base, lanes),
                                                E.const(0, base.dtype))):
            return None
        param = self.param_of.get(buffer.data)
        if param is not None:
            need = self.vector_bytes.setdefault(self.kernel_name, {})
            need[param] = max(need.get(param, 1), dt.bits * dt.lanes // 8)
        return base

    def lane_indices(self, index: E.PrimExpr) -> list[str]:
        """The index of every lane of a gathered / scattered access."""
        return [text for text, _ in self.lane_texts(index, index.dtype.lanes)]

    # ------------------------------------------------------------- calls

    def visit_Call(self, op: E.Call):
        return self.call(op)

    def visit_Let(self, op: E.Let):
        name = self.bind_name(op.var)
        self.line(f"{self.type_of(op.var.dtype, op)} {name} = {self.expr(op.value)};")
        return self.visit(op.body)
