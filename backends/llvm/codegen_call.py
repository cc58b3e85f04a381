"""``Call`` nodes: LLVM intrinsics, extern C functions, lazy ``if_then_else``, bit operations.

Intrinsics are declared with ``ir.Function(module, fnty, name)`` because llvmlite's
``declare_intrinsic`` fails for vector overloads. Math calls the lowering pipeline left
(``tir.exp`` ...) are emitted directly too, so code generation does not depend on it.
"""

from __future__ import annotations

from typing import ClassVar

from llvmlite import ir

from tvmscript.ir import expr as E

from ..amx import is_tile_intrinsic
from .intrin_features import missing_features
from .types import I32, llvm_type, mangle

# tir math op -> LLVM intrinsic base name (overloaded on the operand type)
_LLVM_MATH = {"exp": "exp", "exp2": "exp2", "exp10": "exp10", "log": "log", "log2": "log2",
              "log10": "log10", "sqrt": "sqrt", "floor": "floor", "ceil": "ceil",
              "round": "round", "trunc": "trunc", "nearbyint": "nearbyint", "fabs": "fabs",
              "sin": "sin", "cos": "cos", "tan": "tan", "pow": "pow", "copysign": "copysign",
              "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos",
              "atan": "atan", "atan2": "atan2"}
# tir math op -> libm function (float32 spelling gets an "f" suffix)
_LIBM = {"log1p": "log1p", "erf": "erf", "fmod": "fmod", "hypot": "hypot",
         "nextafter": "nextafter"}
_BITWISE = {"tir.bitwise_and": "and_", "tir.bitwise_or": "or_", "tir.bitwise_xor": "xor"}


class CallCodegen:
    """``visit_Call`` and the per-op emitters; mixed into ``CodeGenLLVM``."""

    _CALLS: ClassVar[dict[str, str]] = {
        "tir.call_llvm_intrin": "_call_llvm_intrin",
        "tir.call_llvm_pure_intrin": "_call_llvm_intrin",
        "tir.call_extern": "_call_extern",
        "tir.call_pure_extern": "_call_extern",
        "tir.if_then_else": "_if_then_else",
        "tir.address_of": "_address_of",
        "tir.reinterpret": "_reinterpret",
        "tir.likely": "_likely",
        "tir.shift_left": "_shift",
        "tir.shift_right": "_shift",
        "tir.bitwise_not": "_bitwise_not",
        "tir.tvm_access_ptr": "_access_ptr",
        "tir.isnan": "_isnan",
        "tir.isinf": "_isinf",
        "tir.abs": "_abs",
        "tir.sigmoid": "_sigmoid",
        "tir.rsqrt": "_rsqrt",
        "tir.popcount": "_popcount",
        "tir.clz": "_clz",
    }

    def visit_Call(self, op: E.Call) -> ir.Value:
        method = self._CALLS.get(op.op)
        if method is not None:
            return getattr(self, method)(op)
        if op.op in _BITWISE:
            a, b = self.visit(op.args[0]), self.visit(op.args[1])
            return getattr(self.b, _BITWISE[op.op])(a, b)
        short = op.op.removeprefix("tir.")
        if short in _LLVM_MATH:
            return self._math(op, f"llvm.{_LLVM_MATH[short]}")
        if short in _LIBM:
            return self._libm(op, _LIBM[short])
        from .codegen import CodegenError

        raise CodegenError(f"LLVM codegen does not know the call {op.op!r}")

    # ------------------------------------------------------------- intrinsics and externs

    def call_intrinsic(self, name: str, ret: ir.Type, args: list[ir.Value]) -> ir.Value:
        """Call an overloaded LLVM intrinsic, e.g. ``llvm.floor`` on ``<8 x float>``."""
        full = f"{name}.{mangle(ret)}"
        fn = self.declare(full, ir.FunctionType(ret, [a.type for a in args]))
        return self.b.call(fn, args)

    def _callee_args(self, op: E.Call) -> tuple[str, list]:
        name = op.args[0].value
        rest = list(op.args[1:])
        # TVM spells call_llvm_intrin(dtype, name, T.uint32(nargs), *args); drop that count
        if (op.op.startswith("tir.call_llvm") and len(rest) > 1 and isinstance(rest[0], E.IntImm)
                and rest[0].dtype.is_uint and rest[0].value == len(rest) - 1):
            rest = rest[1:]
        return name, rest

    def _may_use(self, feature: str) -> bool:
        """Host targets: what the CPU has. A named ``-mcpu`` (cross-compiling) is trusted to
        have it unless ``-mattr`` turns it off: LLVM cannot list a CPU model's features here."""
        t = self.target
        if t.mcpu in ("", "native"):
            return t.has_feature(feature)
        return f"-{feature}" not in t.mattr

    def _call_llvm_intrin(self, op: E.Call) -> ir.Value:
        name, args = self._callee_args(op)
        missing = missing_features(name, self._may_use)
        if missing:
            from .codegen import CodegenError

            raise CodegenError(
                f"{name} needs the CPU feature(s) {', '.join(missing)}, which target "
                f"'{self.target}' (cpu {self.target.cpu}) does not have"
            )
        if is_tile_intrinsic(name):
            return self.amx_call(op, name, args)
        values = [self.visit(a) for a in args]
        ret = llvm_type(op.dtype)
        if name.count(".") == 1:  # "llvm.exp": add the overload suffix of the result type
            name = f"{name}.{mangle(ret)}"
        fn = self.declare(name, ir.FunctionType(ret, [v.type for v in values]))
        return self.b.call(fn, values)

    def _call_extern(self, op: E.Call) -> ir.Value:
        name, args = self._callee_args(op)
        if op.dtype.lanes > 1 and not any(a.dtype.is_handle for a in args):
            return self._per_lane(op, name, args)
        values = [self.visit(a) for a in args]
        fn = self.declare(name, ir.FunctionType(llvm_type(op.dtype), [v.type for v in values]))
        return self.b.call(fn, values)

    def _per_lane(self, op: E.Call, name: str, args: list) -> ir.Value:
        """A scalar C function applied to each lane of vector arguments."""
        lanes = op.dtype.lanes
        values = [self.visit(a) for a in args]
        scalar_ty = llvm_type(op.dtype.element_of())
        arg_tys = [v.type.element if isinstance(v.type, ir.VectorType) else v.type for v in values]
        fn = self.declare(name, ir.FunctionType(scalar_ty, arg_tys))
        result = ir.Constant(llvm_type(op.dtype), ir.Undefined)
        for i in range(lanes):
            idx = ir.Constant(I32, i)
            lane_args = [self.b.extract_element(v, idx) if isinstance(v.type, ir.VectorType)
                         else v for v in values]
            result = self.b.insert_element(result, self.b.call(fn, lane_args), idx)
        return result

    def _math(self, op: E.Call, name: str) -> ir.Value:
        values = [self.visit(a) for a in op.args]
        return self.call_intrinsic(name, llvm_type(op.dtype), values)

    def _libm(self, op: E.Call, base: str) -> ir.Value:
        suffix = "f" if op.dtype.bits == 32 else ""
        return self._per_lane(op, base + suffix, list(op.args)) if op.dtype.lanes > 1 else \
            self._call_extern(E.Call(op.dtype, "tir.call_pure_extern",
                                     (E.StringImm(base + suffix), *op.args)))

    # ------------------------------------------------------------- control and memory

    def _if_then_else(self, op: E.Call) -> ir.Value:
        """Branches and a phi: only the chosen side runs (a guarded load stays guarded)."""
        cond, then_expr, else_expr = op.args
        if cond.dtype.lanes > 1:
            return self.b.select(self.visit(cond), self.visit(then_expr), self.visit(else_expr))
        with self.b.if_else(self.visit(cond)) as (then, otherwise):
            with then:
                then_value = self.visit(then_expr)
                then_block = self.b.block
            with otherwise:
                else_value = self.visit(else_expr)
                else_block = self.b.block
        phi = self.b.phi(then_value.type)
        phi.add_incoming(then_value, then_block)
        phi.add_incoming(else_value, else_block)
        return phi

    def _address_of(self, op: E.Call) -> ir.Value:
        load = op.args[0]
        if not isinstance(load, E.BufferLoad):
            from .codegen import CodegenError

            raise CodegenError("T.address_of expects a buffer element")
        (index,) = load.indices
        base = index.base if isinstance(index, E.Ramp) else index
        return self.element_ptr(load.buffer, self.visit(base), base.dtype)

    def _access_ptr(self, op: E.Call) -> ir.Value:
        ptype, data, offset = op.args[0], op.args[1], op.args[2]
        from .types import memory_type

        return self.b.gep(self.visit(data), [self.index64(self.visit(offset), offset.dtype)],
                          source_etype=memory_type(ptype.dtype))

    def _reinterpret(self, op: E.Call) -> ir.Value:
        value, src, dst = self.visit(op.args[-1]), op.args[-1].dtype, op.dtype
        if src.is_handle or dst.is_handle:
            return self.cast_value(value, src, dst)
        return self.b.bitcast(value, llvm_type(dst))

    def _likely(self, op: E.Call) -> ir.Value:
        return self.visit(op.args[0])

    # ------------------------------------------------------------- bits and composite math

    def _shift(self, op: E.Call) -> ir.Value:
        a, b = self.visit(op.args[0]), self.visit(op.args[1])
        if op.op == "tir.shift_left":
            return self.b.shl(a, b)
        return self.b.ashr(a, b) if op.dtype.is_int else self.b.lshr(a, b)

    def _bitwise_not(self, op: E.Call) -> ir.Value:
        return self.b.not_(self.visit(op.args[0]))

    def _isnan(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        return self.b.fcmp_unordered("uno", x, x)

    def _isinf(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        ax = self.call_intrinsic("llvm.fabs", x.type, [x])
        return self.b.fcmp_ordered("==", ax, self._float_splat(x.type, float("inf")))

    def _float_splat(self, ty: ir.Type, value: float) -> ir.Constant:
        if isinstance(ty, ir.VectorType):
            return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)
        return ir.Constant(ty, value)

    def _abs(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        if op.dtype.is_float:
            return self.call_intrinsic("llvm.fabs", x.type, [x])
        if op.dtype.is_uint:
            return x
        neg = self.b.icmp_signed("<", x, self._splat(0, x.type))
        return self.b.select(neg, self.b.neg(x), x)

    def _sigmoid(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        one = self._float_splat(x.type, 1.0)
        e = self.call_intrinsic("llvm.exp", x.type, [self.b.fneg(x)])
        return self.b.fdiv(one, self.b.fadd(one, e))

    def _rsqrt(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        return self.b.fdiv(self._float_splat(x.type, 1.0),
                           self.call_intrinsic("llvm.sqrt", x.type, [x]))

    def _popcount(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        return self.call_intrinsic("llvm.ctpop", x.type, [x])

    def _clz(self, op: E.Call) -> ir.Value:
        x = self.visit(op.args[0])
        fn = self.declare(f"llvm.ctlz.{mangle(x.type)}",
                          ir.FunctionType(x.type, [x.type, ir.IntType(1)]))
        return self.b.call(fn, [x, ir.Constant(ir.IntType(1), 0)])
