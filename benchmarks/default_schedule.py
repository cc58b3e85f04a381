"""Model kernels with the default schedule (``tuner.default_schedule``) against the same kernels
unscheduled and against torch / numpy: how far analysis alone gets, without measuring.

    python -m benchmarks.default_schedule [--models resnet18 mlp mobilenet_v2 other] [--rounds 3]
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.default_schedule ...

The kernels are the fused functions a model leaves after legalization and fusion (a padding
block, the convolution or matmul, a bias + ReLU epilogue in one function), written with tensor
expressions; ``--models`` picks the layers of ResNet-18, MobileNet-V2 (ReLU for ReLU6), a
784-512-512-10 MLP, or a few others (batch matmul, softmax, layer norm), each listed once with
how many times the model runs it. Each kernel is scheduled, built, checked against the
reference (torch's oneDNN for convolutions and pooling with torch's own threads, numpy's
OpenBLAS otherwise) and timed alternately with it: rounds of 5 calls each, best call kept,
each round after a pause so that the other library's idle threads stop spinning. The
unscheduled kernel is timed once, for kernels under 2M multiply-adds (or all with
``--unscheduled``). With ``OMP_NUM_THREADS=1`` everything runs on one thread and is timed in
thread CPU time, which another tenant on the machine barely moves; otherwise wall time.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tvmscript import te
from tvmscript.ir.function import PrimFunc

TARGET = "llvm -mcpu=native"


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
        y = numpy_conv2d(x, wt, stride, pad, groups)
        if bias:
            y = y + rest[0]
        return np.maximum(y, 0) if relu else y

    shapes = [(n, c, h, w), (k, c // groups, r, r)] + ([(1, k, 1, 1)] if bias else [])
    return func, shapes, reference


def _windows(x: np.ndarray, r: int, stride: int, pad: int, value: float = 0.0) -> np.ndarray:
    """(n, c, oh, ow, r, r) views of the padded input's windows."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=value)
    win = np.lib.stride_tricks.sliding_window_view(xp, (r, r), axis=(2, 3))
    return win[:, :, ::stride, ::stride]


def numpy_conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0,
                 groups: int = 1) -> np.ndarray:
    """NCHW grouped convolution in numpy (the tests' reference)."""
    k, cpg, r, _ = w.shape
    win = _windows(x, r, stride, pad)
    out = []
    for g in range(groups):
        xs = win[:, g * cpg:(g + 1) * cpg]
        ws = w[g * (k // groups):(g + 1) * (k // groups)]
        out.append(np.einsum("ncyxrs,kcrs->nkyx", xs, ws, optimize=True))
    return np.concatenate(out, axis=1).astype(np.float32)


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
        return _windows(x, r, stride, pad, -np.inf).max(axis=(4, 5))

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


# ----------------------------------------------------------------------------- references


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_grad_enabled(False)
    return torch


def fast_reference(kind: str, args: tuple, numpy_ref: Callable[..., np.ndarray]
                   ) -> tuple[str, Callable[..., Any]]:
    """The library a model would otherwise run the kernel with: torch (oneDNN) for
    convolutions and pooling, numpy (OpenBLAS) for matmuls and the rest."""
    torch = _torch()
    if torch is None or kind not in ("conv2d", "max_pool"):
        return "numpy", numpy_ref
    F = torch.nn.functional
    if kind == "conv2d":
        r, *rest = args[4:]
        stride, pad, groups, bias, relu = (*rest, *(1, None, 1, True, True)[len(rest):])
        pad = r // 2 if pad is None else pad

        def conv(x, w, *b):
            y = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=pad,
                         groups=groups)
            if bias:
                y = y.add_(torch.from_numpy(b[0]))
            return torch.relu_(y) if relu else y

        return f"torch {torch.__version__}", conv
    r, stride, pad = (*args, 3, 2, 1)[3:6]
    return f"torch {torch.__version__}", lambda x: F.max_pool2d(torch.from_numpy(x), r, stride,
                                                                 pad)


# ----------------------------------------------------------------------------- model layers

MAKERS = {"conv2d": conv2d_kernel, "dense": dense_kernel, "batch_matmul": batch_matmul_kernel,
          "max_pool": max_pool_kernel, "global_avg_pool": global_avg_pool_kernel,
          "softmax": softmax_kernel, "layer_norm": layer_norm_kernel, "add_relu": add_relu_kernel}
NO_RELU = (1, True, False)  # conv2d tail: groups 1, bias, no ReLU


def resnet18() -> list[tuple[str, tuple, int]]:
    """(kind, maker arguments, how many times the model runs it), batch 1, 224x224."""
    layers = [("conv2d", (1, 3, 224, 64, 7, 2, 3), 1), ("max_pool", (1, 64, 112), 1)]
    c, h = 64, 56
    for out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        if stride == 2:
            layers += [("conv2d", (1, c, h, out, 3, 2), 1),
                       ("conv2d", (1, c, h, out, 1, 2, 0, *NO_RELU), 1)]
            h //= 2
        layers += [("conv2d", (1, out, h, out, 3), 4 if stride == 1 else 3),
                   ("add_relu", (1, out, h, h), 2)]
        c = out
    return layers + [("global_avg_pool", (1, 512, 7), 1), ("dense", (1, 512, 1000, True, False), 1)]


def mobilenet_v2() -> list[tuple[str, tuple, int]]:
    """The inverted-residual blocks of MobileNet-V2 (ReLU standing in for ReLU6)."""
    layers: dict[tuple, int] = {("conv2d", (1, 3, 224, 32, 3, 2)): 1}
    c, h = 32, 112
    for t, out, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride, hidden = (s if i == 0 else 1), c * t
            steps = [("conv2d", (1, c, h, hidden, 1, 1, 0))] if t != 1 else []
            steps.append(("conv2d", (1, hidden, h, hidden, 3, stride, None, hidden)))
            h //= stride
            steps.append(("conv2d", (1, hidden, h, out, 1, 1, 0, *NO_RELU)))
            if stride == 1 and c == out:
                steps.append(("add_relu", (1, out, h, h)))
            for step in steps:
                layers[step] = layers.get(step, 0) + 1
            c = out
    for step in (("conv2d", (1, 320, 7, 1280, 1, 1, 0)), ("global_avg_pool", (1, 1280, 7)),
                 ("dense", (1, 1280, 1000, True, False))):
        layers[step] = 1
    return [(kind, args, n) for (kind, args), n in layers.items()]


MODELS: dict[str, Callable[[], list[tuple[str, tuple, int]]]] = {
    "resnet18": resnet18,
    "mobilenet_v2": mobilenet_v2,
    "mlp": lambda: [("dense", (1, 784, 512), 1), ("dense", (1, 512, 512), 1),
                    ("dense", (1, 512, 10, True, False), 1)],
    "other": lambda: [("dense", (64, 784, 512), 1), ("batch_matmul", (12, 128, 64, 128), 1),
                      ("softmax", (192, 128), 1), ("layer_norm", (128, 768), 1)],
}


# ----------------------------------------------------------------------------- timing


def _single_threaded() -> bool:
    return os.environ.get("OMP_NUM_THREADS") == "1"


def _best(fn: Callable[[], Any], calls: int) -> float:
    """Best of ``calls`` calls: thread CPU time when single-threaded (a loaded machine then
    barely moves it), wall time otherwise."""
    clock = time.thread_time if _single_threaded() else time.perf_counter
    fn()
    best = float("inf")
    for _ in range(calls):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def interleaved_best(fa: Callable[[], Any], fb: Callable[[], Any], rounds: int,
                     pause: float = 0.2) -> tuple[float, float]:
    """Best seconds per call of each, in alternating rounds of 5 calls; each round starts
    after ``pause`` so that the other library's idle threads have stopped spinning."""
    ta, tb = [], []
    for _ in range(rounds):
        time.sleep(pause)
        ta.append(_best(fa, 5))
        time.sleep(pause)
        tb.append(_best(fb, 5))
    return min(ta), min(tb)


def measure(kind: str, args: tuple, rounds: int, unscheduled: bool) -> dict[str, Any]:
    import tvmscript
    from tuner.default_schedule import default_schedule

    func, shapes, numpy_ref = MAKERS[kind](*args)
    start = time.perf_counter()
    scheduled = default_schedule(func, TARGET)
    schedule_s = time.perf_counter() - start
    kernel = tvmscript.build(scheduled, TARGET)[func.name]
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(s).astype("float32") for s in shapes]
    name, ref = fast_reference(kind, args, numpy_ref)
    expected = np.asarray(ref(*inputs))
    out = np.zeros(expected.shape, "float32")
    kernel(*inputs, out)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)
    ours, theirs = interleaved_best(lambda: kernel(*inputs, out), lambda: ref(*inputs), rounds)
    row = {"kind": kind, "args": args, "ours_s": ours, "ref_s": theirs, "ref": name,
           "schedule_s": schedule_s, "unscheduled_s": None}
    macs = math.prod(out.shape) * max(1, _reduction_size(func))
    if unscheduled or macs < 2e6:
        plain = tvmscript.build(func, TARGET)[func.name]
        row["unscheduled_s"] = _best(lambda: plain(*inputs, out), 1)
    return row


def _reduction_size(func: PrimFunc) -> int:
    from tvmscript.ir import stmt as S
    from tvmscript.schedule.state import walk

    sizes = [math.prod(iv.dom.extent.value for iv in loc.node.iter_vars
                       if iv.iter_type != S.IterType.SPATIAL)
             for loc in walk(func.body) if isinstance(loc.node, S.Block) and loc.node.iter_vars]
    return max(sizes, default=1)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3f}"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["resnet18", "mlp"],
                        choices=sorted(MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--unscheduled", action="store_true",
                        help="also time the unscheduled kernel of big layers (slow)")
    args = parser.parse_args(argv)
    from benchmarks.parse_print import cpu_model

    threads = "1 thread (thread CPU time)" if _single_threaded() else \
        f"{os.cpu_count()} threads (wall time)"
    print(f"{cpu_model()}, {threads}, load average {os.getloadavg()[0]:.2f}")
    rows = []
    for model in args.models:
        print(f"\n### {model}\n\n| kernel | × | default schedule ms | reference ms | ref ÷ ours | "
              "unscheduled ms | schedule s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        total_ours = total_ref = 0.0
        for kind, kargs, count in MODELS[model]():
            row = measure(kind, kargs, args.rounds, args.unscheduled)
            row.update(model=model, count=count)
            rows.append(row)
            total_ours += count * row["ours_s"]
            total_ref += count * row["ref_s"]
            print(f"| {kind}{kargs} | {count} | {_ms(row['ours_s'])} | {_ms(row['ref_s'])} "
                  f"({row['ref'].split(' (')[0]}) | {row['ref_s'] / row['ours_s']:.2f} | "
                  f"{_ms(row['unscheduled_s'])} | {row['schedule_s']:.2f} |", flush=True)
        print(f"| **sum of kernels** | | {_ms(total_ours)} | {_ms(total_ref)} | "
              f"{total_ref / total_ours:.2f} | | |")
    return rows


if __name__ == "__main__":
    main()
