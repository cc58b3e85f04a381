"""1024^3 matmuls tensorized with AMX tiles, against numpy's float32 matmul in the same run.

The kernels are ``tutorials/tensorize_amx_matmul.py``'s: bfloat16 inputs with float32
accumulation (``tdpbf16ps``), and u8 x s8 -> s32 (``tdpbusd``); 16 x 16 output tiles, B packed in
the VNNI layout, rows of tiles in parallel. Each is timed alternately with numpy float32 on the
same values, best call kept. The last lines are::

    bf16 matmul 1024^3 AMX: <G> GFLOPS, numpy float32 <N> GFLOPS (<G/N>x, target >= 3x)
    int8 matmul 1024^3 AMX: <G> GOPS, numpy float32 <N> GFLOPS (<G/N>x)

Where the CPU has no AMX, or Linux refuses this process tile state, it prints why the figures
cannot be measured and exits 0 (no stand-in numbers). Run:
``python benchmarks/amx_matmul.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402
from tvmscript import bfloat16 as bf  # noqa: E402

N = 1024


def main(argv: list[str] | None = None) -> "float | None":
    parser = argparse.ArgumentParser(description="AMX bf16 / int8 matmul vs numpy float32")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.15)
    args = parser.parse_args(argv)

    from tutorials import tensorize_amx_matmul as tut
    reason = tut.amx_available()
    if reason is not None:
        print(f"bf16 matmul 1024^3 AMX: not measured: {reason}, so the tile kernels cannot run "
              "here (tutorials/tensorize_amx_matmul.py checks them with the interpreter and "
              "cross-compiles them instead)")
        return None

    rng = np.random.default_rng(0)
    a = bf.from_float32(rng.standard_normal((N, N)))
    b = bf.from_float32(rng.standard_normal((N, N)))
    af, bf32 = bf.to_float32(a), bf.to_float32(b)
    bp, c, d = tut.pack_b(b, 2), np.zeros((N, N), np.float32), np.empty((N, N), np.float32)
    kernel = tvmscript.build(tut.schedule(tut.amx_matmul(N, N, N), tut.BF16).mod,
                             target="llvm -mcpu=native")["matmul"]
    kernel(a, bp, c)
    np.testing.assert_allclose(c, af @ bf32, rtol=1e-3, atol=1e-2)
    t16, tnp = interleaved(lambda: kernel(a, bp, c), lambda: np.matmul(af, bf32, out=d),
                           args.rounds, args.pause)

    a8 = rng.integers(0, 256, (N, N), dtype=np.uint8)
    b8 = rng.integers(-128, 128, (N, N), dtype=np.int8)
    b8p, c8 = tut.pack_b(b8, 4), np.zeros((N, N), np.int32)
    int8 = tvmscript.build(tut.schedule(tut.amx_matmul(N, N, N, "uint8", "int8", "int32"),
                                        tut.INT8).mod, target="llvm -mcpu=native")["matmul"]
    int8(a8, b8p, c8)
    np.testing.assert_array_equal(c8, a8.astype(np.int32) @ b8.astype(np.int32))
    t8, _ = interleaved(lambda: int8(a8, b8p, c8), lambda: None, args.rounds, args.pause)

    g16, g8, gnp = (2 * N**3 / t / 1e9 for t in (t16, t8, tnp))
    print(f"| 1024^3 bf16 matmul, AMX tdpbf16ps | {g16:.1f} GFLOPS | numpy float32 {gnp:.1f} "
          f"GFLOPS | {g16 / gnp:.2f}x |")
    print(f"| 1024^3 u8 x s8 matmul, AMX tdpbusd | {g8:.1f} GOPS | numpy float32 {gnp:.1f} "
          f"GFLOPS | {g8 / gnp:.2f}x |")
    print(f"bf16 matmul 1024^3 AMX: {g16:.1f} GFLOPS, numpy float32 {gnp:.1f} GFLOPS "
          f"({g16 / gnp:.2f}x, target >= 3x)")
    print(f"int8 matmul 1024^3 AMX: {g8:.1f} GOPS, numpy float32 {gnp:.1f} GFLOPS "
          f"({g8 / gnp:.2f}x)")
    return g16 / gnp


if __name__ == "__main__":
    main()
