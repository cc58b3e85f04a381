"""Tensorize an int8 matmul with VNNI (``vpdpbusd``): declare the intrinsic, schedule, tensorize.

``vpdpbusd`` multiplies 4 unsigned bytes by 4 signed bytes, sums the four products and adds them
to a 32-bit accumulator, for 16 lanes at once (a 512-bit register). As a computation::

    C[i] += sum_k  int32(A[k]) * int32(B[i, k])        i < 16, k < 4   (A: u8, B: s8, C: s32)

We write that computation as a *description* and the instruction as an *implementation*, both in
the script, register them as a tensor intrinsic, schedule an int8 matmul so that its innermost
16 x 4 tile has exactly that shape, and let ``tensorize`` replace the tile by the instruction.

On a CPU with AVX-512 VNNI the tutorial runs the kernel natively and compares its speed with
float32 and numpy; on a CPU without it, it says so, checks the tensorized kernel with the
interpreter (which knows what ``vpdpbusd`` computes) and cross-compiles it for Sapphire Rapids
to show the instruction in the generated code.

Run: ``python tutorials/tensorize_int8_matmul.py`` (well under a minute).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from tvmscript import T, TensorIntrin  # noqa: E402

# ---------------------------------------------------------------- 1. the intrinsic


@T.prim_func
def vnni_desc(a: T.handle, b: T.handle, c: T.handle):
    A = T.match_buffer(a, (4,), "uint8", offset_factor=1)
    B = T.match_buffer(b, (16, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (16,), "int32", offset_factor=1)
    with T.block("root"):
        T.reads(C[0:16], A[0:4], B[0:16, 0:4])
        T.writes(C[0:16])
        for i, k in T.grid(16, 4):
            with T.block("update"):
                vi, vk = T.axis.remap("SR", [i, k])
                C[vi] = C[vi] + T.Cast("int32", A[vk]) * T.Cast("int32", B[vi, vk])


# the four bytes of A are broadcast as one int32 to all 16 lanes; B's 16 x 4 tile is read as one
# 64-byte vector (tensorize checks that the tile is contiguous in memory)
@T.prim_func
def vnni_impl(a: T.handle, b: T.handle, c: T.handle):
    A = T.match_buffer(a, (4,), "uint8", offset_factor=1)
    B = T.match_buffer(b, (16, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (16,), "int32", offset_factor=1)
    with T.block("root"):
        T.reads(C[0:16], A[0:4], B[0:16, 0:4])
        T.writes(C[0:16])
        Bflat = T.decl_buffer((64,), "int8", data=B.data, elem_offset=B.elem_offset)
        C[0:16] = T.call_llvm_pure_intrin(
            "int32x16", "llvm.x86.avx512.vpdpbusd.512", C[0:16],
            T.reinterpret("int8x64", T.Broadcast(T.reinterpret("int32", A[0:4]), 16)),
            Bflat[0:64])


INTRIN = "tutorial_vnni_16x4"
TensorIntrin.register(INTRIN, vnni_desc, vnni_impl, override=True)

# ---------------------------------------------------------------- 2. the computation


def int8_matmul(m: int, n: int, k: int):
    """C[i, j] = sum_k A[i, k] * B[j, k], with B packed as [n/16, k/4, 16, 4] so each 16 x 4 tile
    the instruction reads is contiguous (the usual VNNI weight layout)."""
    src = f'''
@T.prim_func
def matmul(A: T.Buffer(({m}, {k}), "uint8"), B: T.Buffer(({n // 16}, {k // 4}, 16, 4), "int8"),
           C: T.Buffer(({m}, {n}), "int32")):
    for i, j, k in T.grid({m}, {n}, {k}):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = 0
            C[vi, vj] = C[vi, vj] + T.Cast("int32", A[vi, vk]) * T.Cast("int32", B[vj // 16, vk // 4, vj % 16, vk % 4])
'''
    return tvmscript.from_source(src)


def pack_b(b: np.ndarray) -> np.ndarray:
    """b[j, k] (int8) -> [j // 16, k // 4, j % 16, k % 4]."""
    n, k = b.shape
    return np.ascontiguousarray(b.reshape(n // 16, 16, k // 4, 4).transpose(0, 2, 1, 3))


# ---------------------------------------------------------------- 3. the schedule


def schedule(func, parallel: bool = True) -> tvmscript.Schedule:
    sch = tvmscript.Schedule(func)
    block = sch.get_block("C")
    i, j, k = sch.get_loops(block)
    j0, j1 = sch.split(j, [None, 16])   # 16 output lanes
    k0, k1 = sch.split(k, [None, 4])    # 4 bytes summed per lane
    sch.reorder(i, j0, k0, j1, k1)      # the 16 x 4 tile innermost, in the description's order
    if parallel:
        sch.parallel(i)
    sch.tensorize(j1, INTRIN)           # blockize j1's subtree, match it, use the instruction
    return sch


def has_vnni() -> bool:
    from backends.target import has_feature

    return has_feature("avx512vnni") and has_feature("avx512bw")


def main() -> None:
    rng = np.random.default_rng(0)

    # a small size first: the tensorized kernel against the un-tensorized one and numpy
    m, n, k = 32, 64, 64
    func = int8_matmul(m, n, k)
    sch = schedule(func, parallel=False)
    print("== tensorized int8 matmul ==")
    print(sch.mod.script())
    print("== trace ==")
    print(sch.trace)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    want = a.astype(np.int32) @ b.astype(np.int32).T
    from backends.interpreter import run

    got, ref = np.zeros((m, n), np.int32), np.zeros((m, n), np.int32)
    run(sch.func, a, pack_b(b), got)
    run(func, a, pack_b(b), ref)
    assert np.array_equal(ref, want) and np.array_equal(got, want)
    print(f"interpreter: tensorized == un-tensorized == numpy on {m}x{n}x{k} (max |diff| 0)")

    if not has_vnni():
        print("this CPU has no AVX-512 VNNI (avx512vnni + avx512bw): the tensorized kernel cannot "
              "run natively here, so no speed is measured; cross-compiling for sapphirerapids "
              "instead")
        rt = tvmscript.build(sch.mod, target="llvm -mcpu=sapphirerapids")
        ir = rt.get_source()
        calls = ir.count("llvm.x86.avx512.vpdpbusd.512")
        asm = rt.get_source("asm")  # the machine code for Sapphire Rapids
        lines = [l.strip() for l in asm.splitlines() if "vpdpbusd" in l]
        print(f"LLVM IR mentions llvm.x86.avx512.vpdpbusd.512 {calls} time(s); assembly has "
              f"{len(lines)} vpdpbusd instruction(s), e.g. `{lines[0] if lines else '-'}`")
        assert calls and lines
        return

    # natively, at 1024^3: GOPS against numpy float32
    N = 1024
    func = int8_matmul(N, N, N)
    sch = schedule(func)
    rt = tvmscript.build(sch.mod, target="llvm -mcpu=native")
    a = rng.integers(0, 256, (N, N), dtype=np.uint8)
    b = rng.integers(-128, 128, (N, N), dtype=np.int8)
    bp, c = pack_b(b), np.zeros((N, N), np.int32)
    rt["matmul"](a, bp, c)
    assert np.array_equal(c, a.astype(np.int32) @ b.astype(np.int32).T)
    best = min(_time(lambda: rt["matmul"](a, bp, c)) for _ in range(5))
    af, bf = a.astype(np.float32), b.astype(np.float32).T.copy()
    ref = min(_time(lambda: af @ bf) for _ in range(5))
    gops = 2 * N**3 / best / 1e9
    print(f"int8 VNNI {N}^3: {gops:.1f} GOPS; numpy float32 {2 * N**3 / ref / 1e9:.1f} GFLOPS "
          f"(ratio {ref / best:.2f}x); see benchmarks/int8_matmul.py for the comparison with the "
          "best float32 schedule")


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
