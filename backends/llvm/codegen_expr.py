"""Expressions to LLVM values: arithmetic with C semantics, casts, vectors, loads.

Integer division truncates (``Div``/``Mod``) or floors (``FloorDiv``/``FloorMod``, correct for
negative operands); comparisons are signed or unsigned by dtype and ordered for floats (``!=`` is
unordered, as C's). bfloat16 arithmetic runs in float32 and rounds back to nearest even.
"""

from __future__ import annotations

from llvmlite import ir

from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType
from tvmscript.ir.dtype import dtype as as_dtype

from .types import F32, I32, I64, PTR, const_float, const_int, llvm_type, memory_type

FLOAT32 = as_dtype("float32")

_INT_CMP = {"EQ": "==", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}

_CONTRACTIBLE = frozenset({"fadd", "fsub", "fmul"})


class ExprCodegen:
    """``visit_<Expr>`` methods; mixed into ``CodeGenLLVM``."""

    # ------------------------------------------------------------- leaves

    def visit_Var(self, op: E.Var) -> ir.Value:
        try:
            return self.state.vars[op]
        except KeyError:
            from .codegen import CodegenError

            raise CodegenError(f"variable {op.name!r} is used where it is not defined") from None

    def visit_IntImm(self, op: E.IntImm) -> ir.Value:
        if op.dtype.is_bool:
            return ir.Constant(ir.IntType(1), int(bool(op.value)))
        return const_int(op.dtype, op.value)

    def visit_FloatImm(self, op: E.FloatImm) -> ir.Value:
        return const_float(op.dtype, op.value)

    def visit_StringImm(self, op: E.StringImm) -> ir.Value:
        return self.string_constant(op.value)

    # ------------------------------------------------------------- arithmetic

    def _arith(self, op: E.BinaryOp, signed: str, unsigned: str, flt: str) -> ir.Value:
        dt = op.dtype
        if dt.kind == "bfloat":
            return self._via_float32(op, lambda a, b: getattr(self.b, flt)(a, b))
        a, b = self.visit(op.a), self.visit(op.b)
        name = flt if dt.is_float else unsigned if (dt.is_uint or dt.is_bool) else signed
        if dt.is_float and flt in _CONTRACTIBLE and self.target.option("fp-contract", "fast") == "fast":
            # let LLVM fuse a * b + c into one FMA, as TVM does (``-fp-contract=off`` keeps the
            # separate roundings)
            return getattr(self.b, name)(a, b, flags=("contract",))
        return getattr(self.b, name)(a, b)

    def _via_float32(self, op: E.BinaryOp, fn) -> ir.Value:
        """bfloat16 arithmetic: widen both sides to float32, compute, round back."""
        f32 = FLOAT32.with_lanes(op.dtype.lanes)
        a = self.cast_value(self.visit(op.a), op.a.dtype, f32)
        b = self.cast_value(self.visit(op.b), op.b.dtype, f32)
        return self.cast_value(fn(a, b), f32, op.dtype)

    def visit_Add(self, op): return self._arith(op, "add", "add", "fadd")
    def visit_Sub(self, op): return self._arith(op, "sub", "sub", "fsub")
    def visit_Mul(self, op): return self._arith(op, "mul", "mul", "fmul")
    def visit_Div(self, op): return self._arith(op, "sdiv", "udiv", "fdiv")
    def visit_Mod(self, op): return self._arith(op, "srem", "urem", "frem")

    def visit_FloorDiv(self, op: E.FloorDiv) -> ir.Value:
        dt = op.dtype
        if dt.is_float:
            return self._float_floor(op, mod=False)
        a, b = self.visit(op.a), self.visit(op.b)
        if not dt.is_int:
            return self.b.udiv(a, b)
        q, r = self.b.sdiv(a, b), self.b.srem(a, b)
        return self.b.select(self._floor_adjust(r, b), self.b.sub(q, self._splat(1, q.type)), q)

    def visit_FloorMod(self, op: E.FloorMod) -> ir.Value:
        dt = op.dtype
        if dt.is_float:
            return self._float_floor(op, mod=True)
        a, b = self.visit(op.a), self.visit(op.b)
        if not dt.is_int:
            return self.b.urem(a, b)
        r = self.b.srem(a, b)
        return self.b.select(self._floor_adjust(r, b), self.b.add(r, b), r)

    def _floor_adjust(self, r: ir.Value, b: ir.Value) -> ir.Value:
        """Whether a truncated remainder ``r`` of a division by ``b`` needs the floor fix-up."""
        zero = self._splat(0, r.type)
        nonzero = self.b.icmp_signed("!=", r, zero)
        differ = self.b.icmp_signed("!=", self.b.icmp_signed("<", r, zero),
                                    self.b.icmp_signed("<", b, zero))
        return self.b.and_(nonzero, differ)

    def _float_floor(self, op: E.BinaryOp, mod: bool) -> ir.Value:
        def compute(a: ir.Value, b: ir.Value) -> ir.Value:
            q = self.call_intrinsic("llvm.floor", a.type, [self.b.fdiv(a, b)])
            return self.b.fsub(a, self.b.fmul(q, b)) if mod else q

        if op.dtype.kind == "bfloat":
            return self._via_float32(op, compute)
        return compute(self.visit(op.a), self.visit(op.b))

    def _minmax(self, op: E.BinaryOp, pred: str) -> ir.Value:
        dt = op.dtype
        if dt.kind == "bfloat":
            return self._via_float32(op, lambda a, b: self.b.select(self.b.fcmp_ordered(pred, a, b), a, b))
        a, b = self.visit(op.a), self.visit(op.b)
        return self.b.select(self.compare(pred, a, b, dt), a, b)

    def visit_Min(self, op): return self._minmax(op, "<")
    def visit_Max(self, op): return self._minmax(op, ">")

    def _splat(self, value: int, ty: ir.Type) -> ir.Constant:
        if isinstance(ty, ir.VectorType):
            return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)
        return ir.Constant(ty, value)

    # ------------------------------------------------------------- comparisons and logic

    def compare(self, pred: str, a: ir.Value, b: ir.Value, dt: DataType) -> ir.Value:
        if dt.is_float:
            if dt.kind == "bfloat":
                f32 = FLOAT32.with_lanes(dt.lanes)
                a, b = self.cast_value(a, dt, f32), self.cast_value(b, dt, f32)
            if pred == "!=":
                return self.b.fcmp_unordered(pred, a, b)
            return self.b.fcmp_ordered(pred, a, b)
        if dt.is_int:
            return self.b.icmp_signed(pred, a, b)
        return self.b.icmp_unsigned(pred, a, b)

    def visit_CmpOp(self, op: E.CmpOp) -> ir.Value:
        pred = _INT_CMP[type(op).__name__]
        return self.compare(pred, self.visit(op.a), self.visit(op.b), op.a.dtype)

    def visit_And(self, op: E.And) -> ir.Value:
        return self.b.and_(self.visit(op.a), self.visit(op.b))

    def visit_Or(self, op: E.Or) -> ir.Value:
        return self.b.or_(self.visit(op.a), self.visit(op.b))

    def visit_Not(self, op: E.Not) -> ir.Value:
        value = self.visit(op.a)
        if op.a.dtype.is_bool:
            return self.b.not_(value)
        return self.b.icmp_unsigned("==", value, self._splat(0, value.type))

    def visit_Select(self, op: E.Select) -> ir.Value:
        cond = self.visit(op.condition)
        t, f = self.visit(op.true_value), self.visit(op.false_value)
        return self.b.select(cond, t, f)

    def visit_Let(self, op: E.Let) -> ir.Value:
        self.state.vars[op.var] = self.visit(op.value)
        try:
            return self.visit(op.body)
        finally:
            del self.state.vars[op.var]

    # ------------------------------------------------------------- vectors

    def broadcast(self, value: ir.Value, lanes: int) -> ir.Value:
        vty = ir.VectorType(value.type, lanes)
        undef = ir.Constant(vty, ir.Undefined)
        one = self.b.insert_element(undef, value, ir.Constant(I32, 0))
        mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)
        return self.b.shuffle_vector(one, undef, mask)

    def visit_Broadcast(self, op: E.Broadcast) -> ir.Value:
        return self.broadcast(self.visit(op.value), op.lanes)

    def visit_Ramp(self, op: E.Ramp) -> ir.Value:
        base = self.broadcast(self.visit(op.base), op.lanes)
        stride = self.broadcast(self.visit(op.stride), op.lanes)
        elem = base.type.element
        iota = ir.Constant(base.type, [ir.Constant(elem, i) for i in range(op.lanes)])
        return self.b.add(base, self.b.mul(stride, iota))

    # ------------------------------------------------------------- casts

    def visit_Cast(self, op: E.Cast) -> ir.Value:
        return self.cast_value(self.visit(op.value), op.value.dtype, op.dtype)

    def cast_value(self, value: ir.Value, src: DataType, dst: DataType) -> ir.Value:
        """Convert with C semantics; bfloat16 goes through float32."""
        if src.lanes != dst.lanes:
            if src.lanes == 1:
                value, src = self.broadcast(value, dst.lanes), src.with_lanes(dst.lanes)
            else:
                raise TypeError(f"cannot cast {src} to {dst}: lane counts differ")
        if src == dst:
            return value
        if src.kind == "bfloat":
            return self.cast_value(self._bf16_to_f32(value, src.lanes), FLOAT32.with_lanes(src.lanes), dst)
        if dst.kind == "bfloat":
            f32 = FLOAT32.with_lanes(dst.lanes)
            return self._f32_to_bf16(self.cast_value(value, src, f32), dst.lanes)
        return self._cast_plain(value, src, dst)

    def _cast_plain(self, value: ir.Value, src: DataType, dst: DataType) -> ir.Value:
        b, ty = self.b, llvm_type(dst)
        if dst.is_bool:
            zero = self._splat(0, value.type) if not src.is_float else ir.Constant(value.type, None)
            if src.is_float:
                return b.fcmp_unordered("!=", value, zero)
            return b.icmp_unsigned("!=", value, zero)
        if src.is_handle or dst.is_handle:
            return b.ptrtoint(value, ty) if src.is_handle else b.inttoptr(value, ty)
        if src.is_float and dst.is_float:
            return b.fpext(value, ty) if dst.bits > src.bits else b.fptrunc(value, ty)
        if src.is_float:
            return b.fptosi(value, ty) if dst.is_int else b.fptoui(value, ty)
        if dst.is_float:
            return b.sitofp(value, ty) if src.is_int else b.uitofp(value, ty)
        if dst.bits < src.bits:
            return b.trunc(value, ty)
        if dst.bits == src.bits:
            return value
        return b.sext(value, ty) if src.is_int else b.zext(value, ty)

    def _vec_const(self, ty: ir.Type, value: int, lanes: int) -> ir.Constant:
        return ir.Constant(ir.VectorType(ty, lanes), [value] * lanes) if lanes > 1 else ir.Constant(ty, value)

    def _bf16_to_f32(self, value: ir.Value, lanes: int) -> ir.Value:
        i32 = ir.VectorType(I32, lanes) if lanes > 1 else I32
        f32 = ir.VectorType(F32, lanes) if lanes > 1 else F32
        wide = self.b.shl(self.b.zext(value, i32), self._vec_const(I32, 16, lanes))
        return self.b.bitcast(wide, f32)

    def _f32_to_bf16(self, value: ir.Value, lanes: int) -> ir.Value:
        """Round to nearest even; a NaN stays a quiet NaN."""
        b = self.b
        i32 = ir.VectorType(I32, lanes) if lanes > 1 else I32
        i16 = ir.VectorType(ir.IntType(16), lanes) if lanes > 1 else ir.IntType(16)
        c = lambda v: self._vec_const(I32, v, lanes)
        bits = b.bitcast(value, i32)
        lsb = b.and_(b.lshr(bits, c(16)), c(1))
        rounded = b.lshr(b.add(bits, b.add(c(0x7FFF), lsb)), c(16))
        quiet = b.or_(b.lshr(bits, c(16)), c(0x40))
        is_nan = b.fcmp_unordered("uno", value, value)
        return b.trunc(b.select(is_nan, quiet, rounded), i16)

    # ------------------------------------------------------------- memory

    def index64(self, value: ir.Value, dt: DataType) -> ir.Value:
        """An index widened to i64 (sign- or zero-extended by its dtype)."""
        target = ir.VectorType(I64, dt.lanes) if dt.lanes > 1 else I64
        if value.type == target:
            return value
        return self.b.sext(value, target) if dt.is_int else self.b.zext(value, target)

    def element_ptr(self, buffer, index: ir.Value, index_dtype: DataType) -> ir.Value:
        base = self.visit(buffer.data)
        return self.b.gep(base, [self.index64(index, index_dtype)],
                          source_etype=memory_type(buffer.dtype))

    def to_memory(self, value: ir.Value, dt: DataType) -> ir.Value:
        if dt.is_bool:
            return self.b.zext(value, memory_type(dt))
        return value

    def from_memory(self, value: ir.Value, dt: DataType) -> ir.Value:
        if dt.is_bool:
            return self.b.icmp_unsigned("!=", value, self._splat(0, value.type))
        return value

    def _contiguous(self, index: E.PrimExpr, buffer) -> bool:
        return (isinstance(index, E.Ramp) and E.is_const_int(index.stride, 1)
                and buffer.dtype.lanes == 1)

    def visit_BufferLoad(self, op: E.BufferLoad) -> ir.Value:
        (index,) = op.indices
        buf, align = op.buffer, op.buffer.dtype.itemsize
        if index.dtype.lanes == 1 or self._contiguous(index, buf):
            base = index.base if index.dtype.lanes > 1 else index
            ptr = self.element_ptr(buf, self.visit(base), base.dtype)
            value = self.b.load(ptr, typ=memory_type(op.dtype), align=align)
            return self.from_memory(value, op.dtype)
        lanes = self.visit(index)
        result = ir.Constant(llvm_type(op.dtype), ir.Undefined)
        for i in range(index.dtype.lanes):
            lane = self.b.extract_element(lanes, ir.Constant(I32, i))
            ptr = self.element_ptr(buf, lane, index.dtype.element_of())
            value = self.b.load(ptr, typ=memory_type(buf.dtype), align=align)
            value = self.from_memory(value, buf.dtype)
            result = self.b.insert_element(result, value, ir.Constant(I32, i))
        return result

    def store(self, buf, index: E.PrimExpr, value: ir.Value, dt: DataType) -> None:
        align = buf.dtype.itemsize
        if index.dtype.lanes == 1 or self._contiguous(index, buf):
            base = index.base if index.dtype.lanes > 1 else index
            ptr = self.element_ptr(buf, self.visit(base), base.dtype)
            self.b.store(self.to_memory(value, dt), ptr, align=align)
            return
        lanes = self.visit(index)
        for i in range(index.dtype.lanes):
            lane = self.b.extract_element(lanes, ir.Constant(I32, i))
            elem = self.b.extract_element(value, ir.Constant(I32, i))
            ptr = self.element_ptr(buf, lane, index.dtype.element_of())
            self.b.store(self.to_memory(elem, dt.element_of()), ptr, align=align)


__all__ = ["PTR", "ExprCodegen"]
