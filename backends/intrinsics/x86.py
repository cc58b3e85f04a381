"""x86 tensor intrinsics, each a description and an implementation written in the script.

| name | computes | instruction | needs |
| --- | --- | --- | --- |
| ``fma_8x1_f32_avx2`` | ``C[0:8] += A[0] * B[0:8]`` (float32) | ``vfmadd`` on ymm | fma, avx2 |
| ``fma_16x1_f32_avx512`` | ``C[0:16] += A[0] * B[0:16]`` | ``vfmadd`` on zmm | avx512f |
| ``dot_16x4_u8s8s32_avx512`` | ``C[i] += sum_k u8(A[k]) * s8(B[i, k])``, i < 16, k < 4 | ``vpdpbusd`` zmm | avx512vnni |
| ``dot_8x4_u8s8s32_avxvnni`` | the same for 8 outputs | ``vpdpbusd`` ymm (VEX) | avxvnni |

plus the AMX tile intrinsics of ``amx.py`` (bf16 and int8 16 x 16 tiles).

An intrinsic is registered only where ``backends.target.has_feature`` says the CPU has the
instructions (and, for AMX, Linux granted this process tile state), so tensorize never produces
code this machine cannot run.
"""

from __future__ import annotations

import tvmscript
from tvmscript.schedule.tensor_intrin import TensorIntrin

from .. import amx
from ..target import has_feature
from .amx import AMX_INTRINSICS

# An intrinsic's description and implementation share their signature and root block, so
# each pair is one header with two bodies.
_FMA_HEAD = '''
@T.prim_func
def fma_{kind}(a: T.handle, b: T.handle, c: T.handle):
    A = T.match_buffer(a, (1,), "float32", offset_factor=1)
    B = T.match_buffer(b, ({n},), "float32", offset_factor=1)
    C = T.match_buffer(c, ({n},), "float32", offset_factor=1)
    with T.block("root"):
        T.reads(C[0:{n}], A[0:1], B[0:{n}])
        T.writes(C[0:{n}])
'''

_FMA_DESC_BODY = '''
        for j in range({n}):
            with T.block("update"):
                vj = T.axis.spatial({n}, j)
                C[vj] = C[vj] + A[0] * B[vj]
'''

_FMA_IMPL_BODY = '''
        C[0:{n}] = T.call_llvm_pure_intrin("float32x{n}", "llvm.fma.v{n}f32", T.Broadcast(A[0], {n}), B[0:{n}], C[0:{n}])
'''

_DOT_HEAD = '''
@T.prim_func
def dot_{kind}(a: T.handle, b: T.handle, c: T.handle):
    A = T.match_buffer(a, (4,), "uint8", offset_factor=1)
    B = T.match_buffer(b, ({n}, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, ({n},), "int32", offset_factor=1)
    with T.block("root"):
        T.reads(C[0:{n}], A[0:4], B[0:{n}, 0:4])
        T.writes(C[0:{n}])
'''

_DOT_DESC_BODY = '''
        for i, k in T.grid({n}, 4):
            with T.block("update"):
                vi, vk = T.axis.remap("SR", [i, k])
                C[vi] = C[vi] + T.Cast("int32", A[vk]) * T.Cast("int32", B[vi, vk])
'''

# B is read as one vector of n*4 bytes: its rows are contiguous (B's second dimension is 4)
_DOT_IMPL_BODY = '''
        Bflat = T.decl_buffer(({n4},), "int8", data=B.data, elem_offset=B.elem_offset)
        C[0:{n}] = T.call_llvm_pure_intrin("int32x{n}", "{llvm}", C[0:{n}], T.reinterpret("int8x{n4}", T.Broadcast(T.reinterpret("int32", A[0:4]), {n})), Bflat[0:{n4}])
'''


def _pair(head: str, desc_body: str, impl_body: str, **fields) -> tuple:
    parse = tvmscript.from_source
    return (parse((head + desc_body.lstrip("\n")).format(kind="desc", **fields)),
            parse((head + impl_body.lstrip("\n")).format(kind="impl", **fields)))


def _fma(n: int) -> tuple:
    return _pair(_FMA_HEAD, _FMA_DESC_BODY, _FMA_IMPL_BODY, n=n)


def _dot(n: int, llvm_name: str) -> tuple:
    return _pair(_DOT_HEAD, _DOT_DESC_BODY, _DOT_IMPL_BODY, n=n, n4=4 * n, llvm=llvm_name)


# name -> (features needed, builder of (desc, impl))
X86_INTRINSICS = {
    "fma_8x1_f32_avx2": (("avx2", "fma"), lambda: _fma(8)),
    "fma_16x1_f32_avx512": (("avx512f",), lambda: _fma(16)),
    "dot_16x4_u8s8s32_avx512": (("avx512vnni", "avx512bw"), lambda: _dot(16, "llvm.x86.avx512.vpdpbusd.512")),
    "dot_8x4_u8s8s32_avxvnni": (("avxvnni",), lambda: _dot(8, "llvm.x86.avx512.vpdpbusd.256")),
    **AMX_INTRINSICS,
}


def available(name: str) -> bool:
    """Whether this CPU (and, for AMX, the operating system) can run the intrinsic ``name``."""
    return not missing_features(name)


def missing_features(name: str) -> list[str]:
    """What this machine lacks for ``name``: CPU features, or Linux's AMX permission."""
    missing = [f for f in X86_INTRINSICS[name][0] if not has_feature(f)]
    refusal = amx.unavailable_reason() if not missing and name in AMX_INTRINSICS else None
    return missing + ([f"AMX tile permission ({refusal})"] if refusal else [])


def register_x86_intrinsics() -> list[str]:
    """Register every built-in x86 intrinsic this CPU can run; returns their names."""
    done = []
    for name, (_, build) in X86_INTRINSICS.items():
        if available(name) and name not in TensorIntrin._registry:
            desc, impl = build()
            TensorIntrin.register(name, desc, impl)
            done.append(name)
    return done


def build_intrinsic(name: str) -> tuple:
    """(desc, impl) of a built-in intrinsic, whether or not this CPU has it (for printing)."""
    return X86_INTRINSICS[name][1]()
