"""How tvmscript dtypes map to LLVM types, in registers and in memory.

- bool is ``i1`` in registers and ``i8`` in memory (numpy's layout);
- float16 is ``half``; bfloat16 is ``i16`` everywhere (its bits), converted through float32;
- handles are opaque ``ptr``;
- vectors are ``<lanes x T>``.
The ABI type of a scalar parameter is its memory type, with float16 passed as its 16 bits, so
that ctypes (which has no half type) can call every kernel.
"""

from __future__ import annotations

from functools import cache

from llvmlite import ir

from tvmscript.ir.dtype import DataType

PTR = ir.PointerType()
I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F32 = ir.FloatType()
VOID = ir.VoidType()


@cache
def _scalar(kind: str, bits: int, memory: bool) -> ir.Type:
    if kind == "bool":
        return I8 if memory else I1
    if kind in ("int", "uint"):
        return ir.IntType(bits)
    if kind == "float":
        return {16: ir.HalfType(), 32: ir.FloatType(), 64: ir.DoubleType()}[bits]
    if kind == "bfloat":
        return I16
    if kind == "handle":
        return PTR
    if kind == "void":
        return VOID
    raise TypeError(f"no LLVM type for dtype kind {kind!r}")


def llvm_type(dt: DataType) -> ir.Type:
    """The register type of ``dt``."""
    scalar = _scalar(dt.kind, dt.bits, False)
    return ir.VectorType(scalar, dt.lanes) if dt.lanes > 1 else scalar


def memory_type(dt: DataType) -> ir.Type:
    """The in-memory type of ``dt`` (bool as i8)."""
    scalar = _scalar(dt.kind, dt.bits, True)
    return ir.VectorType(scalar, dt.lanes) if dt.lanes > 1 else scalar


def abi_type(dt: DataType) -> ir.Type:
    """The type of a scalar parameter passed by value (float16 as i16 bits)."""
    if dt.kind == "float" and dt.bits == 16:
        return I16
    return memory_type(dt)


def mangle(ty: ir.Type) -> str:
    """The overload suffix LLVM intrinsics use: ``f32``, ``v16f32``, ``i8``, ``p0``."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{mangle(ty.element)}"
    if isinstance(ty, ir.IntType):
        return f"i{ty.width}"
    if isinstance(ty, ir.HalfType):
        return "f16"
    if isinstance(ty, ir.FloatType):
        return "f32"
    if isinstance(ty, ir.DoubleType):
        return "f64"
    if isinstance(ty, ir.PointerType):
        return "p0"
    raise TypeError(f"cannot mangle {ty}")


def const_int(dt: DataType, value: int) -> ir.Constant:
    """An integer constant, wrapped to the type's width (uint64 max becomes -1 bits)."""
    ty = llvm_type(dt.element_of())
    width = ty.width
    value &= (1 << width) - 1
    if width > 1 and value >= 1 << (width - 1):
        value -= 1 << width
    return ir.Constant(ty, value)


def const_float(dt: DataType, value: float) -> ir.Constant:
    """A float constant rounded to the dtype (half constants must be exact in LLVM text)."""
    import numpy as np

    if dt.kind == "bfloat":
        return ir.Constant(I16, float_to_bf16_bits(value))
    if dt.bits == 16:
        value = float(np.float16(value))
    elif dt.bits == 32:
        value = float(np.float32(value))
    return ir.Constant(llvm_type(dt.element_of()), value)


def float_to_bf16_bits(value: float) -> int:
    """The bfloat16 bits of ``value``, rounded to nearest even (NaN stays a quiet NaN)."""
    import numpy as np

    bits = int(np.array(value, dtype=np.float32).view(np.uint32))
    if (bits & 0x7FFFFFFF) > 0x7F800000:
        return (bits >> 16) | 0x40
    bits += 0x7FFF + ((bits >> 16) & 1)
    return (bits >> 16) & 0xFFFF
