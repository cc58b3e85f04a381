"""AMX tile intrinsics: one 16 x 16 output tile += a 16-row A tile times a 64-byte-deep B tile.

| name | computes (i, j < 16) | instruction | needs |
| --- | --- | --- | --- |
| ``dot_16x16x32_bf16f32_amx`` | ``C[i, j] += Σ_{k<32} f32(A[i, k]) · f32(B[k // 2, j, k % 2])`` | ``tdpbf16ps`` | amx-bf16 |
| ``dot_16x16x64_s8s8s32_amx`` | ``C[i, j] += Σ_{k<64} s32(A[i, k]) · s32(B[k // 4, j, k % 4])``, A and B int8 | ``tdpbssd`` | amx-int8 |
| ``dot_16x16x64_u8s8s32_amx`` | the same with A uint8 | ``tdpbusd`` | amx-int8 |

B is in the "VNNI" layout AMX reads: ``B[k // p, j, k % p]`` with p = 4 bytes / element size, so
each row of the B tile holds the p consecutive k of 16 columns (64 bytes). Rows of every tile may
be strided (the implementations take their row strides from the regions tensorize binds); within a
row the elements must be contiguous, which tensorize checks.

The implementation loads the three tiles, multiplies and stores C back: ``tileloadd``,
``tdp*``, ``tilestored`` (see ``backends/amx.py``). An intrinsic is registered only where the CPU
has the instructions and Linux granted this process AMX tile state.

Rounding: ``tdpbf16ps`` adds the products in another order than the description's sequential
sum (and flushes denormals), so float results agree to rounding, as after any reassociation;
the integer forms are exact.
"""

from __future__ import annotations

import tvmscript

_HEAD = '''
@T.prim_func
def amx_{kind}(a: T.handle, b: T.handle, c: T.handle):
{stride_vars}    A = T.match_buffer(a, (16, {k}), "{a_dtype}", offset_factor=1{a_strides})
    B = T.match_buffer(b, (16, 16, {p}), "{b_dtype}", offset_factor=1{b_strides})
    C = T.match_buffer(c, (16, 16), "{acc}", offset_factor=1{c_strides})
    with T.block("root"):
        T.reads(C[0:16, 0:16], A[0:16, 0:{k}], B[0:16, 0:16, 0:{p}])
        T.writes(C[0:16, 0:16])
'''

_DESC_BODY = '''
        for i, j, k in T.grid(16, 16, {k}):
            with T.block("update"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                C[vi, vj] = C[vi, vj] + T.Cast("{acc}", A[vi, vk]) * T.Cast("{acc}", B[vk // {p}, vj, vk % {p}])
'''

# strides are in bytes: rows of C are sc elements of 4 bytes apart, rows of A and B sa and sb
# elements of their size
_IMPL_BODY = '''
        T.evaluate(T.call_llvm_intrin("void", "llvm.x86.tilestored64.internal", 16, 64, T.address_of(C[0, 0]), sc * 4, T.call_llvm_intrin("int32x256", "llvm.x86.{op}.internal", 16, 64, 64, T.call_llvm_intrin("int32x256", "llvm.x86.tileloadd64.internal", 16, 64, T.address_of(C[0, 0]), sc * 4), T.call_llvm_intrin("int32x256", "llvm.x86.tileloadd64.internal", 16, 64, T.address_of(A[0, 0]), {a_bytes}), T.call_llvm_intrin("int32x256", "llvm.x86.tileloadd64.internal", 16, 64, T.address_of(B[0, 0, 0]), {b_bytes}))))
'''

_STRIDE_VARS = "    sa = T.int32()\n    sb = T.int32()\n    sc = T.int32()\n"


def _pair(op: str, a_dtype: str, b_dtype: str, acc: str, size: int) -> tuple:
    fields = dict(k=64 // size, p=4 // size, a_dtype=a_dtype, b_dtype=b_dtype, acc=acc,
                  op=op, a_bytes="sa" if size == 1 else f"sa * {size}",
                  b_bytes="sb" if size == 1 else f"sb * {size}")
    desc = (_HEAD + _DESC_BODY.lstrip("\n")).format(
        kind="desc", stride_vars="", a_strides="", b_strides="", c_strides="", **fields)
    impl = (_HEAD + _IMPL_BODY.lstrip("\n")).format(
        kind="impl", stride_vars=_STRIDE_VARS, a_strides=", strides=(sa, 1)",
        b_strides=f", strides=(sb, {4 // size}, 1)", c_strides=", strides=(sc, 1)", **fields)
    return tvmscript.from_source(desc), tvmscript.from_source(impl)


# name -> (CPU features needed, builder of (desc, impl)); all need Linux's AMX permission too
AMX_INTRINSICS = {
    "dot_16x16x32_bf16f32_amx": (("amx-tile", "amx-bf16"),
                                 lambda: _pair("tdpbf16ps", "bfloat16", "bfloat16", "float32", 2)),
    "dot_16x16x64_s8s8s32_amx": (("amx-tile", "amx-int8"),
                                 lambda: _pair("tdpbssd", "int8", "int8", "int32", 1)),
    "dot_16x16x64_u8s8s32_amx": (("amx-tile", "amx-int8"),
                                 lambda: _pair("tdpbusd", "uint8", "int8", "int32", 1)),
}
