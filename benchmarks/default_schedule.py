"""Model kernels with the default schedule (``tuner.default_schedule``) against the same kernels
unscheduled and against numpy / torch: how far analysis alone gets without measurement.

    python -m benchmarks.default_schedule [--kernels conv3x3 dense1 ...] [--rounds 7]

The kernels are the fused shapes a whole model leaves after legalization and fusion (ResNet-18,
MobileNet-V2, an MLP): a padding block, the convolution or matmul, and a bias + ReLU epilogue in
one function. Each is built twice (default schedule, unscheduled), checked against the reference,
and timed interleaved with the reference, best of ``--rounds`` calls. The unscheduled kernel is
timed once (it is slow) and only for the small kernels unless ``--unscheduled`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tvmscript import te  # noqa: E402
from tvmscript.ir.function import PrimFunc  # noqa: E402


# ----------------------------------------------------------------------------- kernels
# Each maker returns (func, input shapes, reference(inputs) -> output). The kernels are written
# with tensor expressions in the shape TVM's legalization and FuseTIR give them.


def conv2d_kernel(n: int, c: int, h: int, k: int, r: int, stride: int = 1, pad: int | None = None,
                  groups: int = 1, bias: bool = True, relu: bool = True, w: int | None = None
                  ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    """NCHW conv2d (``groups == c`` is depthwise) with a padding block in front and bias + ReLU
    behind."""
    w = h if w is None else w
    pad = r // 2 if pad is None else pad
    X = te.placeholder((n, c, h, w), name="X")
    W = te.placeholder((k, c // groups, r, r), name="W")
    B = te.placeholder((1, k, 1, 1), name="B")
    hp, wp = h + 2 * pad, w + 2 * pad
    oh, ow = (hp - r) // stride + 1, (wp - r) // stride + 1
    if pad:
        P = te.compute((n, c, hp, wp), lambda b, i, y, x: te.if_then_else(
            te.all_of(y >= pad, y < h + pad, x >= pad, x < w + pad),
            X[b, i, y - pad, x - pad], te.const(0.0)), name="pad_temp")
    else:
        P = X
    cpg, kpg = c // groups, k // groups
    rc = te.reduce_axis((0, cpg), "rc")
    ry = te.reduce_axis((0, r), "ry")
    rx = te.reduce_axis((0, r), "rx")
    Y = te.compute((n, k, oh, ow), lambda b, f, y, x: te.sum(
        P[b, (f // kpg * cpg + rc.var) if groups > 1 else rc, y * stride + ry.var,
          x * stride + rx.var] * W[f, rc, ry, rx],
        axis=[rc, ry, rx]), name="conv2d_nchw")
    out = Y
    if bias:
        out = te.compute(out.shape, lambda b, f, y, x: out[b, f, y, x] + B[0, f, 0, 0],
                         name="T_add")
    if relu:
        prev = out
        out = te.compute(out.shape, lambda *i: _relu(prev[i]), name="compute")
    params = [X, W] + ([B] if bias else []) + [out]
    func = te.create_prim_func(params, name="conv2d")

    def reference(x, wt, *rest):
        import torch

        y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt), stride=stride,
                                       padding=pad, groups=groups)
        if bias:
            y = y + torch.from_numpy(rest[0])
        return torch.relu(y) if relu else y

    shapes = [(n, c, h, w), (k, c // groups, r, r)] + ([(1, k, 1, 1)] if bias else [])
    return func, shapes, reference


def _relu(v):
    from tvmscript.ir import expr as E

    return E.Max(v, te.const(0.0))


def dense_kernel(m: int, k: int, n: int, bias: bool = True, relu: bool = True
                 ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    """``relu(A @ W + b)`` with W laid out (K, N), as after the graph folds the transpose of a
    constant weight."""
    A = te.placeholder((m, k), name="A")
    W = te.placeholder((k, n), name="W")
    B = te.placeholder((n,), name="B")
    rk = te.reduce_axis((0, k), "k")
    out = te.compute((m, n), lambda i, j: te.sum(A[i, rk] * W[rk, j], axis=rk), name="matmul")
    if bias:
        mm = out
        out = te.compute((m, n), lambda i, j: mm[i, j] + B[j], name="T_add")
    if relu:
        prev = out
        out = te.compute((m, n), lambda i, j: _relu(prev[i, j]), name="compute")
    func = te.create_prim_func([A, W] + ([B] if bias else []) + [out], name="dense")

    def reference(a, wt, *rest):
        y = a @ wt
        if bias:
            y = y + rest[0]
        return np.maximum(y, 0) if relu else y

    return func, [(m, k), (k, n)] + ([(n,)] if bias else []), reference


def batch_matmul_kernel(b: int, m: int, k: int, n: int
                        ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    """``A @ B`` over a batch (attention's QK^T and PV)."""
    A = te.placeholder((b, m, k), name="A")
    Bt = te.placeholder((b, k, n), name="B")
    rk = te.reduce_axis((0, k), "k")
    out = te.compute((b, m, n), lambda z, i, j: te.sum(A[z, i, rk] * Bt[z, rk, j], axis=rk),
                     name="matmul")
    return te.create_prim_func([A, Bt, out], name="batch_matmul"), [(b, m, k), (b, k, n)], \
        lambda a, bb: a @ bb


def max_pool_kernel(n: int, c: int, h: int, r: int = 3, stride: int = 2, pad: int = 1
                    ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    X = te.placeholder((n, c, h, h), name="X")
    hp = h + 2 * pad
    low = te.min_value("float32")
    P = te.compute((n, c, hp, hp), lambda b, i, y, x: te.if_then_else(
        te.all_of(y >= pad, y < h + pad, x >= pad, x < h + pad), X[b, i, y - pad, x - pad], low),
        name="pad_temp")
    oh = (hp - r) // stride + 1
    ry, rx = te.reduce_axis((0, r), "ry"), te.reduce_axis((0, r), "rx")
    Y = te.compute((n, c, oh, oh), lambda b, i, y, x: te.max(
        P[b, i, y * stride + ry.var, x * stride + rx.var], axis=[ry, rx]), name="pool_max")

    def reference(x):
        import torch

        return torch.nn.functional.max_pool2d(torch.from_numpy(x), r, stride, pad)

    return te.create_prim_func([X, Y], name="max_pool"), [(n, c, h, h)], reference


def global_avg_pool_kernel(n: int, c: int, h: int
                           ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    X = te.placeholder((n, c, h, h), name="X")
    ry, rx = te.reduce_axis((0, h), "ry"), te.reduce_axis((0, h), "rx")
    S = te.compute((n, c, 1, 1), lambda b, i, y, x: te.sum(X[b, i, ry, rx], axis=[ry, rx]),
                   name="pool_sum")
    Y = te.compute((n, c, 1, 1), lambda *i: S[i] * te.const(1.0 / (h * h)), name="pool_avg")
    return te.create_prim_func([X, Y], name="avg_pool"), [(n, c, h, h)], \
        lambda x: x.mean(axis=(2, 3), keepdims=True)


def softmax_kernel(rows: int, cols: int
                   ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    X = te.placeholder((rows, cols), name="X")
    k1, k2 = te.reduce_axis((0, cols), "k"), te.reduce_axis((0, cols), "k")
    M = te.compute((rows,), lambda i: te.max(X[i, k1], axis=k1), name="T_softmax_maxelem")
    Ex = te.compute((rows, cols), lambda i, j: te.exp(X[i, j] - M[i]), name="T_softmax_exp")
    Sm = te.compute((rows,), lambda i: te.sum(Ex[i, k2], axis=k2), name="T_softmax_expsum")
    Y = te.compute((rows, cols), lambda i, j: Ex[i, j] / Sm[i], name="T_softmax_norm")

    def reference(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return te.create_prim_func([X, Y], name="softmax"), [(rows, cols)], reference


def layer_norm_kernel(rows: int, cols: int
                      ) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    X = te.placeholder((rows, cols), name="X")
    G = te.placeholder((cols,), name="gamma")
    Bt = te.placeholder((cols,), name="beta")
    k1, k2 = te.reduce_axis((0, cols), "k"), te.reduce_axis((0, cols), "k")
    Sm = te.compute((rows,), lambda i: te.sum(X[i, k1], axis=k1), name="x_sum")
    Sq = te.compute((rows,), lambda i: te.sum(X[i, k2] * X[i, k2], axis=k2), name="x_sqsum")
    inv = 1.0 / cols
    Y = te.compute((rows, cols), lambda i, j: (X[i, j] - Sm[i] * inv) * te.rsqrt(
        Sq[i] * inv - Sm[i] * inv * (Sm[i] * inv) + te.const(1e-5)) * G[j] + Bt[j],
        name="T_layer_norm")

    def reference(x, g, b):
        mu = x.mean(axis=1, keepdims=True)
        var = x.var(axis=1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * g + b

    return te.create_prim_func([X, G, Bt, Y], name="layer_norm"), [(rows, cols), (cols,), (cols,)], \
        reference


def add_relu_kernel(*shape: int) -> tuple[PrimFunc, list[tuple[int, ...]], Callable[..., np.ndarray]]:
    """A residual add + ReLU: the pure element-wise kernel."""
    A = te.placeholder(shape, name="A")
    B = te.placeholder(shape, name="B")
    S = te.compute(shape, lambda *i: A[i] + B[i], name="T_add")
    Y = te.compute(shape, lambda *i: _relu(S[i]), name="compute")
    return te.create_prim_func([A, B, Y], name="add_relu"), [shape, shape], \
        lambda a, b: np.maximum(a + b, 0)
