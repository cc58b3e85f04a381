"""Tensorize a bfloat16 matmul (and an int8 one) with Intel AMX tiles.

AMX adds eight tile registers of up to 16 rows x 64 bytes and a tile matrix multiplier:
``tdpbf16ps`` multiplies a 16 x 32 bfloat16 tile of A by a 32 x 16 tile of B and adds the
products to a 16 x 16 float32 tile of C in one instruction (16,384 flops); ``tdpbssd`` /
``tdpbusd`` do the same for int8 with 64-deep tiles. B is read in the "VNNI" layout: each 64-byte
row of its tile holds, for 16 columns, the 2 (bf16) or 4 (int8) consecutive k of that column,
so we keep B packed as ``[k // 2, n, k % 2]``.

The built-in intrinsics (``backends/intrinsics/amx.py``) describe one such tile product in the
script, and implement it with three ``tileloadd``, the multiply and a ``tilestored``; LLVM
writes the tile configuration itself. We schedule the matmul so that its innermost 16 x 16 x 32
block has the description's shape and tensorize it.

On a CPU with AMX (Sapphire Rapids and later, Linux 5.16+), the tutorial runs the kernel at
1024^3 and compares it with numpy's float32 matmul. Anywhere else it checks the tensorized
kernel with the interpreter (which knows what the tile instructions compute) and cross-compiles
it for Sapphire Rapids to show the instructions.

Run: ``python tutorials/tensorize_amx_matmul.py`` (a few seconds without AMX).
"""

from __future__ import annotations

import re
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from tvmscript import TensorIntrin  # noqa: E402
from tvmscript import bfloat16 as bf  # noqa: E402

BF16 = "dot_16x16x32_bf16f32_amx"
INT8 = "dot_16x16x64_u8s8s32_amx"

# ---------------------------------------------------------------- 1. the computation


def amx_matmul(m: int, n: int, k: int, a_dtype: str = "bfloat16", b_dtype: str = "bfloat16",
               acc: str = "float32") -> tvmscript.PrimFunc:
    """C[i, j] = sum_k A[i, k] * B[k, j], B packed as [k // p, n, k % p] (p = 4 / element size)."""
    p = 2 if a_dtype == "bfloat16" else 4
    src = f'''
@T.prim_func
def matmul(A: T.Buffer(({m}, {k}), "{a_dtype}"), B: T.Buffer(({k // p}, {n}, {p}), "{b_dtype}"),
           C: T.Buffer(({m}, {n}), "{acc}")):
    for i, j, k in T.grid({m}, {n}, {k}):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.{acc}(0)
            C[vi, vj] = C[vi, vj] + T.Cast("{acc}", A[vi, vk]) * T.Cast("{acc}", B[vk // {p}, vj, vk % {p}])
'''
    return tvmscript.from_source(src)


def pack_b(b: np.ndarray, p: int) -> np.ndarray:
    """b[k, j] -> [k // p, j, k % p] (the VNNI layout of AMX's B tiles)."""
    k, n = b.shape
    return np.ascontiguousarray(b.reshape(k // p, p, n).transpose(0, 2, 1))


# ---------------------------------------------------------------- 2. the schedule


def schedule(func: tvmscript.PrimFunc, intrin: str, parallel: bool = True) -> tvmscript.Schedule:
    """16 x 16 output tiles, 64 bytes of k per step, the tile product tensorized."""
    kt = 64 // func.buffer_map[func.params[0]].dtype.itemsize  # 64 bytes of A per tile row
    sch = tvmscript.Schedule(func)
    block = sch.get_block("C")
    i, j, k = sch.get_loops(block)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, kt])
    sch.reorder(i0, j0, k0, i1, j1, k1)  # the 16 x 16 x kt block innermost, as described
    if parallel:
        sch.parallel(i0)  # each thread configures its own tiles (LLVM does it per function)
    sch.tensorize(i1, intrin)
    return sch


# ---------------------------------------------------------------- 3. run or cross-compile


def amx_available() -> str | None:
    """None when AMX can run in this process (asks Linux for tile state); else why not."""
    from backends.amx import unavailable_reason
    from backends.intrinsics.x86 import missing_features

    missing = missing_features(BF16)
    return None if not missing else (unavailable_reason() or f"this CPU lacks {missing}")


def register_for_checking(name: str) -> None:
    """Register a built-in intrinsic even where the CPU lacks it, to schedule and interpret it."""
    from backends.intrinsics.x86 import build_intrinsic

    if name not in TensorIntrin.list():
        TensorIntrin.register(name, *build_intrinsic(name))


def tile_instructions(rt) -> dict[str, int]:
    """How often each AMX instruction appears in ``rt``'s code compiled for Sapphire Rapids."""
    asm = rt.get_source("asm")
    found: dict[str, int] = {}
    for word in re.findall(r"^\s+(ldtilecfg|tile\w+|tdp\w+)\b", asm, re.M):
        found[word] = found.get(word, 0) + 1
    return found


def check_small(rng: np.random.Generator) -> None:
    m, n, k = 32, 48, 64
    func = amx_matmul(m, n, k)
    sch = schedule(func, BF16, parallel=False)
    print("== tensorized bfloat16 matmul ==")
    print(sch.mod.script())
    a = bf.from_float32(rng.standard_normal((m, k)))
    b = bf.from_float32(rng.standard_normal((k, n)))
    want = bf.to_float32(a).astype(np.float64) @ bf.to_float32(b).astype(np.float64)
    from backends.interpreter import run

    got, ref = np.zeros((m, n), np.float32), np.zeros((m, n), np.float32)
    run(sch.func, a, pack_b(b, 2), got)
    run(func, a, pack_b(b, 2), ref)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    print(f"interpreter: tensorized == un-tensorized == numpy on {m}x{n}x{k} bfloat16 "
          f"(max |diff| {np.abs(got - want).max():.1e}, rounding order)")

    i8 = amx_matmul(m, n, k, "uint8", "int8", "int32")
    s8 = schedule(i8, INT8, parallel=False)
    a8 = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b8 = rng.integers(-128, 128, (k, n), dtype=np.int8)
    c8 = np.zeros((m, n), np.int32)
    run(s8.func, a8, pack_b(b8, 4), c8)
    assert np.array_equal(c8, a8.astype(np.int32) @ b8.astype(np.int32))
    print(f"interpreter: tensorized u8 x s8 -> s32 == numpy on {m}x{n}x{k} (exact)")


def main() -> None:
    rng = np.random.default_rng(0)
    reason = amx_available()
    if reason is not None:
        register_for_checking(BF16)
        register_for_checking(INT8)
    check_small(rng)
    if reason is not None:
        print(f"no AMX here ({reason}): no speed is measured; cross-compiling for "
              "sapphirerapids instead")
        sch = schedule(amx_matmul(1024, 1024, 1024), BF16)
        rt = tvmscript.build(sch.mod, target="llvm -mcpu=sapphirerapids")
        found = tile_instructions(rt)
        print("AMX instructions in the 1024^3 kernel: "
              + ", ".join(f"{n} x{c}" for n, c in sorted(found.items())))
        assert {"ldtilecfg", "tdpbf16ps", "tileloadd", "tilestored"} <= set(found)
        return

    N = 1024
    sch = schedule(amx_matmul(N, N, N), BF16)
    rt = tvmscript.build(sch.mod, target="llvm -mcpu=native")
    a = bf.from_float32(rng.standard_normal((N, N)))
    b = bf.from_float32(rng.standard_normal((N, N)))
    bp, c = pack_b(b, 2), np.zeros((N, N), np.float32)
    rt["matmul"](a, bp, c)
    af, bf32 = bf.to_float32(a), bf.to_float32(b)
    np.testing.assert_allclose(c, af @ bf32, rtol=1e-3, atol=1e-2)
    best = min(timeit.repeat(lambda: rt["matmul"](a, bp, c), number=1, repeat=5))
    ref = min(timeit.repeat(lambda: af @ bf32, number=1, repeat=5))
    print(f"AMX bf16 {N}^3: {2 * N**3 / best / 1e9:.1f} GFLOPS; numpy float32 "
          f"{2 * N**3 / ref / 1e9:.1f} GFLOPS (ratio {ref / best:.2f}x); see "
          "benchmarks/amx_matmul.py")


if __name__ == "__main__":
    main()
