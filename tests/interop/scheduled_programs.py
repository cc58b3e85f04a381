"""Kernels that Apache TVM 0.27 schedules for the interop tests, in TVM 0.27's own spelling.

Each entry names the kernel's source (``T.sblock``, ``@T.prim_func(s_tir=True)``), the recipe in
``tests/interop/tvm_recipes.py`` that TVM applies to it, and a numpy reference computing its outputs
from its inputs. The tests send the source to TVM, parse TVM's printed result here, build it with
LLVM and compare with the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MATMUL = """
@T.prim_func(s_tir=True)
def main(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), C: T.Buffer((64, 64), "float32")):
    T.func_attr({"tirx.noalias": True})
    for i, j, k in T.grid(64, 64, 64):
        with T.sblock("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(A[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
"""

MATMUL_BIAS_RELU = """
@T.prim_func(s_tir=True)
def main(A: T.Buffer((32, 48), "float32"), W: T.Buffer((48, 64), "float32"), bias: T.Buffer((64,), "float32"), D: T.Buffer((32, 64), "float32")):
    T.func_attr({"tirx.noalias": True})
    Y = T.sblock_alloc_buffer((32, 64))
    for i, j, k in T.grid(32, 64, 48):
        with T.sblock("matmul"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(A[vi, vk], W[vk, vj])
            T.writes(Y[vi, vj])
            with T.init():
                Y[vi, vj] = T.float32(0)
            Y[vi, vj] = Y[vi, vj] + A[vi, vk] * W[vk, vj]
    for i, j in T.grid(32, 64):
        with T.sblock("bias_relu"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(Y[vi, vj], bias[vj])
            T.writes(D[vi, vj])
            D[vi, vj] = T.max(Y[vi, vj] + bias[vj], T.float32(0))
"""

BATCH_MATMUL = """
@T.prim_func(s_tir=True)
def main(A: T.Buffer((4, 32, 16), "float32"), B: T.Buffer((4, 16, 24), "float32"), C: T.Buffer((4, 32, 24), "float32")):
    T.func_attr({"tirx.noalias": True})
    for b, i, j, k in T.grid(4, 32, 24, 16):
        with T.sblock("C"):
            vb, vi, vj, vk = T.axis.remap("SSSR", [b, i, j, k])
            T.reads(A[vb, vi, vk], B[vb, vk, vj])
            T.writes(C[vb, vi, vj])
            with T.init():
                C[vb, vi, vj] = T.float32(0)
            C[vb, vi, vj] = C[vb, vi, vj] + A[vb, vi, vk] * B[vb, vk, vj]
"""

ADD_RELU_SCALE = """
@T.prim_func(s_tir=True)
def main(A: T.Buffer((64, 32), "float32"), B: T.Buffer((64, 32), "float32"), C: T.Buffer((64, 32), "float32")):
    T.func_attr({"tirx.noalias": True})
    T_add = T.sblock_alloc_buffer((64, 32))
    for i, j in T.grid(64, 32):
        with T.sblock("add"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(A[vi, vj], B[vi, vj])
            T.writes(T_add[vi, vj])
            T_add[vi, vj] = A[vi, vj] + B[vi, vj]
    for i, j in T.grid(64, 32):
        with T.sblock("relu_scale"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(T_add[vi, vj])
            T.writes(C[vi, vj])
            C[vi, vj] = T.max(T_add[vi, vj], T.float32(0)) * T.float32(0.5)
"""

CONV2D = """
@T.prim_func(s_tir=True)
def main(X: T.Buffer((1, 4, 10, 10), "float32"), W: T.Buffer((8, 4, 3, 3), "float32"), Y: T.Buffer((1, 8, 10, 10), "float32")):
    T.func_attr({"tirx.noalias": True})
    pad = T.sblock_alloc_buffer((1, 4, 12, 12))
    for n, c, h, w in T.grid(1, 4, 12, 12):
        with T.sblock("pad"):
            vn, vc, vh, vw = T.axis.remap("SSSS", [n, c, h, w])
            T.reads(X[vn, vc, vh - 1, vw - 1])
            T.writes(pad[vn, vc, vh, vw])
            pad[vn, vc, vh, vw] = T.if_then_else(1 <= vh and vh < 11 and 1 <= vw and vw < 11, X[vn, vc, vh - 1, vw - 1], T.float32(0))
    for n, f, h, w, c, r, s in T.grid(1, 8, 10, 10, 4, 3, 3):
        with T.sblock("conv"):
            vn, vf, vh, vw, vc, vr, vs = T.axis.remap("SSSSRRR", [n, f, h, w, c, r, s])
            T.reads(pad[vn, vc, vh + vr, vw + vs], W[vf, vc, vr, vs])
            T.writes(Y[vn, vf, vh, vw])
            with T.init():
                Y[vn, vf, vh, vw] = T.float32(0)
            Y[vn, vf, vh, vw] = Y[vn, vf, vh, vw] + pad[vn, vc, vh + vr, vw + vs] * W[vf, vc, vr, vs]
"""


def _conv2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, _, h, wd = x.shape
    out = np.zeros((n, w.shape[0], h, wd), dtype=np.float64)
    for r in range(3):
        for s in range(3):
            window = padded[:, :, r : r + h, s : s + wd].astype(np.float64)
            out += np.einsum("nchw,fc->nfhw", window, w[:, :, r, s].astype(np.float64))
    return out


@dataclass(frozen=True)
class Scheduled:
    source: str
    shapes: tuple[tuple[int, ...], ...]  # every parameter, inputs then outputs
    outputs: tuple[int, ...]  # indices of the parameters the kernel writes
    reference: Callable[..., tuple[np.ndarray, ...]]  # inputs -> outputs
    tvm_text: tuple[str, ...]  # what TVM's printed result must contain to be scheduled
    ir_facts: tuple[str, ...]  # what our parse of it must hold (see test_tvm_scheduled.ir_facts)


PROGRAMS: dict[str, Scheduled] = {
    # split/reorder/parallel/vectorize
    "tile_parallel_vectorize": Scheduled(
        MATMUL,
        ((64, 64), (64, 64), (64, 64)),
        (2,),
        lambda a, b: (a.astype(np.float64) @ b.astype(np.float64),),
        ("for i_0 in T.parallel(8):", "for j_1 in T.vectorized(16):"),
        ("parallel i_0 8", "vectorized j_1 16", "serial k 64", "block C"),
    ),
    # cache_write + reverse_compute_at
    "cache_write_reverse_compute_at": Scheduled(
        MATMUL_BIAS_RELU,
        ((32, 48), (48, 64), (64,), (32, 64)),
        (3,),
        lambda a, w, bias: (np.maximum(a.astype(np.float64) @ w.astype(np.float64) + bias, 0),),
        ('with T.sblock("Y_local"):', 'Y_local = T.sblock_alloc_buffer((32, 64), scope="local")'),
        ("block Y_local", "buffer Y_local (32, 64) local", "serial ax0 4", "serial i_0 8"),
    ),
    # decompose_reduction
    "decompose_reduction": Scheduled(
        BATCH_MATMUL,
        ((4, 32, 16), (4, 16, 24), (4, 32, 24)),
        (2,),
        lambda a, b: (np.einsum("bik,bkj->bij", a.astype(np.float64), b.astype(np.float64)),),
        ('with T.sblock("C_init"):', 'with T.sblock("C_update"):'),
        ("block C_init", "block C_update", "serial j_1_init 8", "no init C_update"),
    ),
    # transform_layout
    "transform_layout": Scheduled(
        ADD_RELU_SCALE,
        ((64, 32), (64, 32), (64, 32)),
        (2,),
        lambda a, b: (np.maximum(a + b, 0) * 0.5,),
        ("T_add = T.sblock_alloc_buffer((4, 2, 16, 16))",),
        ("buffer T_add (4, 2, 16, 16) global", "serial ax3 16"),
    ),
    # compute_at + fuse
    "compute_at_fuse": Scheduled(
        CONV2D,
        ((1, 4, 10, 10), (8, 4, 3, 3), (1, 8, 10, 10)),
        (2,),
        lambda x, w: (_conv2d(x, w),),
        ("for n_f_h_fused in range(80):",),
        ("serial n_f_h_fused 80", "serial ax1 3", "block pad", "block conv"),
    ),
}
