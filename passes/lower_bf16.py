"""``lower-bf16``: no arithmetic is done in bfloat16; it is done in float32 and rounded back.

Every operation on bfloat16 operands (``+ - * / min max``, comparisons, ...) casts its operands
to float32, computes there and casts the result back to bfloat16, so each operation rounds
exactly as bfloat16 arithmetic does. Casts between bfloat16 and a type other than float32 go
through float32 (code generation implements only bfloat16 ↔ float32). Constants are folded::

    C[i] = A[i] + B[i]               (bfloat16)
        →
    C[i] = T.Cast("bfloat16", T.Cast("float32", A[i]) + T.Cast("float32", B[i]))
"""

from __future__ import annotations

import numpy as np

from tvmscript.ir import Cast, FloatImm, Mutator, PrimExpr, PrimFunc
from tvmscript.ir.dtype import DataType
from tvmscript.ir.dtype import dtype as as_dtype

from .infra import PassContext, prim_func_pass

F32 = as_dtype("float32")


def is_bf16(dt: DataType) -> bool:
    return dt.kind == "bfloat"


def round_to_bf16(value: float) -> float:
    """``value`` rounded to the nearest bfloat16 (ties to even), as a Python float."""
    bits = int(np.array(value, dtype=np.float32).view(np.uint32))
    if (bits & 0x7F800000) == 0x7F800000:  # inf or nan: truncate (keeps nan a nan)
        rounded = bits & 0xFFFF0000 | (0x00400000 if bits & 0x007FFFFF else 0)
    else:
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.array(rounded, dtype=np.uint32).view(np.float32))


def to_f32(expr: PrimExpr) -> PrimExpr:
    """A bfloat16 expression as float32."""
    if isinstance(expr, FloatImm):
        return FloatImm(F32, round_to_bf16(expr.value))
    return Cast(F32.with_lanes(expr.dtype.lanes), expr)


class _LowerBF16(Mutator):
    def visit_BinaryOp(self, op) -> PrimExpr:
        op = self.generic_visit(op)
        if not is_bf16(op.a.dtype):
            return op
        return Cast(op.dtype, type(op)(to_f32(op.a), to_f32(op.b)))

    def visit_CmpOp(self, op) -> PrimExpr:
        op = self.generic_visit(op)
        if not is_bf16(op.a.dtype):
            return op
        return type(op)(to_f32(op.a), to_f32(op.b))

    def visit_Cast(self, cast: Cast) -> PrimExpr:
        cast = self.generic_visit(cast)
        src, dst = cast.value.dtype, cast.dtype
        if src == dst:
            return cast
        if is_bf16(dst) and src.element_of() != F32:
            return Cast(dst, Cast(F32.with_lanes(src.lanes), cast.value))
        if is_bf16(src) and dst.element_of() != F32:
            return Cast(dst, to_f32(cast.value))
        return cast


@prim_func_pass("lower-bf16", opt_level=0, required=True)
def lower_bf16(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Compute bfloat16 arithmetic in float32, rounding each result back to bfloat16."""
    return _LowerBF16().visit(func)
