"""A conv2d scheduled by hand (N=1, C=K=64, 56x56, 3x3, pad 1, float32, NCHW) against torch.

The schedule (``schedule`` below): the output is tiled 4 channels x 2 rows x 8 columns (eight
256-bit accumulators), the weights are packed so the 4 channels of a tile are adjacent
(``W_packed[k // 4, c, r, s, k % 4]``), the tile is accumulated in a local buffer initialised
outside the reduction loops, the 8 columns are vectorized, channels and rows unrolled, and the
16 channel blocks run in parallel; the padding copy is parallel over channels.

torch (``pip install -e ".[bench]"``, a benchmark-only dependency) runs the same convolution
(``torch.nn.functional.conv2d``, oneDNN) in the same process, interleaved with ours; each call
starts after a short pause so neither runtime's idle threads steal a core. Without torch the
reference is numpy (im2col + OpenBLAS matmul), and the line says so.

Run: ``python benchmarks/conv2d_cpu.py [--rounds 50]`` (a few seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript
from benchmarks.timing import interleaved
from tvmscript.schedule.index_map import IndexMap

TARGET = "llvm -mcpu=native"
KB, HB, WB = 4, 2, 8  # output tile: channels x rows x columns (columns = one AVX2 vector)
FLOPS = 2 * 64 * 64 * 9 * 56 * 56


def conv2d_of(channels: int, filters: int, size: int, name: str = "conv2d"):
    """A ``size``×``size`` NCHW convolution of ``channels`` inputs with ``filters`` 3×3
    filters, padding 1, float32 (also the tuning benchmarks' workloads)."""
    c, k, n, p = channels, filters, size, size + 2
    return tvmscript.from_source(f'''
@T.prim_func
def {name}(X: T.Buffer((1, {c}, {n}, {n}), "float32"), W: T.Buffer(({k}, {c}, 3, 3), "float32"),
           Y: T.Buffer((1, {k}, {n}, {n}), "float32")):
    T.func_attr({{"tir.noalias": True}})
    Xp = T.alloc_buffer((1, {c}, {p}, {p}), "float32")
    for n, c, h, w in T.grid(1, {c}, {p}, {p}):
        with T.block("pad"):
            vn, vc, vh, vw = T.axis.remap("SSSS", [n, c, h, w])
            Xp[vn, vc, vh, vw] = T.if_then_else(1 <= vh and vh < {n + 1} and 1 <= vw and vw < {n + 1},
                                                X[vn, vc, vh - 1, vw - 1], T.float32(0))
    for n, k, h, w, c, r, s in T.grid(1, {k}, {n}, {n}, {c}, 3, 3):
        with T.block("conv"):
            vn, vk, vh, vw, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, h, w, c, r, s])
            with T.init():
                Y[vn, vk, vh, vw] = T.float32(0)
            Y[vn, vk, vh, vw] = Y[vn, vk, vh, vw] + Xp[vn, vc, vh + vr, vw + vs] * W[vk, vc, vr, vs]
''')


conv2d = conv2d_of(64, 64, 56)


def schedule(func=conv2d) -> tvmscript.Schedule:
    sch = tvmscript.Schedule(func)
    conv = sch.get_block("conv")
    n, k, h, w, c, r, s = sch.get_loops(conv)
    k_0, k_1 = sch.split(k, [None, KB])
    h_0, h_1 = sch.split(h, [None, HB])
    w_0, w_1 = sch.split(w, [None, WB])
    sch.reorder(n, k_0, h_0, w_0, c, r, s, k_1, h_1, w_1)
    sch.transform_layout(conv, ("read", 1),
                         IndexMap.from_func(lambda k, c, r, s: (k // KB, c, r, s, k % KB)))
    y_local = sch.cache_write(conv, 0, "local")
    sch.reverse_compute_at(y_local, w_0)
    sch.decompose_reduction(conv, c)
    for name in ("conv_init", "conv", "Y_local"):
        *_, channels, rows, cols = sch.get_loops(sch.get_block(name))
        sch.unroll(channels)
        sch.unroll(rows)
        sch.vectorize(cols)
    sch.parallel(sch.fuse(n, k_0))
    pn, pc, _, _ = sch.get_loops(sch.get_block("pad"))
    sch.parallel(sch.fuse(pn, pc))
    return sch


def numpy_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """im2col + matmul (the fallback reference when torch is missing)."""
    xp = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # c, h, w, r, s
    cols = cols.transpose(0, 3, 4, 1, 2).reshape(64 * 9, 56 * 56)
    return (w.reshape(64, 64 * 9) @ cols).reshape(1, 64, 56, 56)


def reference():
    """(name, fn(x, w) -> y) of the reference convolution."""
    try:
        import torch
    except ImportError:
        return "numpy im2col+matmul (torch is not installed)", numpy_conv
    torch.set_grad_enabled(False)
    tensors: dict = {}

    def run(x, w):
        key = (x.ctypes.data, w.ctypes.data)
        if key not in tensors:  # wrap each array once: the timing is the convolution's
            tensors.clear()
            tensors[key] = torch.from_numpy(x), torch.from_numpy(w)
        tx, tw = tensors[key]
        return torch.nn.functional.conv2d(tx, tw, padding=1)

    return f"torch {torch.__version__} ({torch.get_num_threads()} threads)", run




def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="hand-scheduled conv2d vs torch")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.02)
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    rt = tvmscript.build(schedule().mod, target=TARGET)
    kernel = rt["conv2d"]
    name, ref_fn = reference()
    rng = np.random.default_rng(0)
    x = rng.random((1, 64, 56, 56), dtype=np.float32)
    w = rng.random((64, 64, 3, 3), dtype=np.float32)
    y = np.zeros((1, 64, 56, 56), "float32")
    kernel(x, w, y)
    np.testing.assert_allclose(y, np.asarray(ref_fn(x, w)), rtol=1e-4, atol=1e-3)
    ours, ref = interleaved(lambda: kernel(x, w, y), lambda: ref_fn(x, w), args.rounds, args.pause)
    g, r = FLOPS / ours / 1e9, FLOPS / ref / 1e9
    print(f"reference: {name}")
    print(f"load average before the run: {load:.2f} (with another job on a core, both sides drop and the ratio is unreliable)")
    print(f"| conv2d 1x64x56x56, 64 3x3 filters, pad 1, hand-scheduled | {ours * 1e3:.2f} ms "
          f"({g:.1f} GFLOPS) | {ref * 1e3:.2f} ms ({r:.1f} GFLOPS) | {g / r:.2f}x |")
    print(f"conv2d 1x64x56x56 k64 3x3 pad1 float32: {g:.1f} GFLOPS, {name.split(' (')[0]} "
          f"{r:.1f} GFLOPS, ratio {g / r:.2f}")
    return g / r


if __name__ == "__main__":
    main()
