"""CUDA C spellings of dtypes and constants.

Integer types use C's builtin names (``long long``, not ``int64_t``) so the generated source
needs no ``<cstdint>``; ``half`` and ``nv_bfloat16`` need ``cuda_fp16.h`` / ``cuda_bf16.h``.
Vector dtypes map to CUDA's vector structs (``float32x4`` is ``float4``), whose lanes are
``.x .y .z .w``.
"""

from __future__ import annotations

import math
import struct

from tvmscript.ir.dtype import DataType

SCALAR = {
    "int8": "signed char", "int16": "short", "int32": "int", "int64": "long long",
    "uint8": "unsigned char", "uint16": "unsigned short", "uint32": "unsigned int",
    "uint64": "unsigned long long", "float16": "half", "bfloat16": "nv_bfloat16",
    "float32": "float", "float64": "double", "bool": "bool", "handle": "void*",
}
VECTOR = {
    ("float32", 2): "float2", ("float32", 4): "float4", ("float64", 2): "double2",
    ("int32", 2): "int2", ("int32", 4): "int4", ("uint32", 2): "uint2", ("uint32", 4): "uint4",
    ("int16", 2): "short2", ("int16", 4): "short4", ("int8", 4): "char4", ("uint8", 4): "uchar4",
    ("int64", 2): "longlong2", ("float16", 2): "half2", ("bfloat16", 2): "nv_bfloat162",
}
# the make_ function of each vector type (half2 and nv_bfloat162 have their own spellings)
MAKE = {"half2": "make_half2", "nv_bfloat162": "make_bfloat162"}
LANES = ("x", "y", "z", "w")


def ctype(dt: DataType) -> str | None:
    """The CUDA C type of ``dt``, or None when CUDA has none (``float32x8``)."""
    if dt.lanes == 1:
        return SCALAR.get(str(dt))
    return VECTOR.get((str(dt.element_of()), dt.lanes))


def make_function(vector_type: str) -> str:
    return MAKE.get(vector_type, "make_" + vector_type)


def int_literal(dt: DataType, value: int) -> str:
    """An integer constant of dtype ``dt`` (``5``, ``5LL``, ``5u``)."""
    if dt.is_bool:
        return "true" if value else "false"
    name = str(dt)
    if name == "int32" and value == -(1 << 31):
        return "(-2147483647 - 1)"
    if name == "int64" and value == -(1 << 63):
        return "(-9223372036854775807LL - 1)"
    # 8- and 16-bit values are written as plain ints: C computes with them as ints anyway
    return str(value) + {"int64": "LL", "uint32": "u", "uint64": "ull"}.get(name, "")


def float_literal(dt: DataType, value: float) -> str:
    """A float constant: ``1.5f`` for float32, ``1.5`` for float64; infinities and NaN through
    their bit patterns; half and bfloat16 converted from a float32 literal."""
    name = str(dt)
    if name == "float64":
        if math.isfinite(value):
            return repr(value)
        bits = struct.unpack("<q", struct.pack("<d", value))[0]
        return f"__longlong_as_double({bits}LL)"
    if math.isfinite(value):
        f32 = repr(float(value)) + "f"
    else:
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        f32 = f"__int_as_float(0x{bits:08x})"
    if name == "float16":
        return f"__float2half({f32})"
    if name == "bfloat16":
        return f"__float2bfloat16({f32})"
    return f32
