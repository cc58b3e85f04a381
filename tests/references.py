"""Inputs and numpy references for the corpus programs, shared by the interpreter, build and
schedule tests."""

from __future__ import annotations

import numpy as np

import tvmscript
from backends.signature import BufferParam, KernelSignature


def random_args(func: tvmscript.PrimFunc, rng: np.random.Generator, size: int = 16) -> list:
    """Random arrays for every buffer (symbolic sizes become ``size``), 7 for int scalars."""
    args: list = []
    for p in KernelSignature.of(func).params:
        if not isinstance(p, BufferParam):
            args.append(np.float32(1.5) if p.var.dtype.is_float else 7)
            continue
        shape = [int(getattr(s, "value", size)) for s in p.buffer.shape]
        dt = np.dtype(p.buffer.dtype.numpy_name())
        if p.buffer.dtype.kind == "bfloat":
            args.append(tvmscript.bfloat16.from_float32(rng.standard_normal(shape)))
        elif dt.kind == "f":
            args.append(rng.standard_normal(shape).astype(dt))
        elif dt.kind == "b":
            args.append(rng.integers(0, 2, shape).astype(dt))
        else:
            args.append(rng.integers(0, 50, shape).astype(dt))
    return args



def _conv2d(x, w):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).astype(np.float64)
    out = np.zeros((1, 16, 14, 14))
    for r in range(3):
        for s in range(3):
            out += np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 14, s:s + 14], w[:, :, r, s])
    return out


def _layer_norm(x, g, b, y):
    mean = x.mean(axis=1, keepdims=True)
    var = (x * x).mean(axis=1, keepdims=True) - mean * mean
    return {3: (x - mean) / np.sqrt(var + 1e-5) * g + b}


def _softmax(a, out):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return {1: e / e.sum(axis=1, keepdims=True)}


REFERENCES = {
    "matmul": lambda a, b, c: {2: a @ b},
    "matmul_explicit_regions": lambda a, b, c: {2: a @ b},
    "vector_add_range": lambda a, b, c: {2: a + b},
    "elementwise_blocks_relu": lambda a, bias, out: {2: np.maximum(a + bias, 0)},
    "dense_relu_fused": lambda x, w, y: {2: np.maximum(x @ w.T, 0)},
    "softmax": _softmax,
    "layer_norm": _layer_norm,
    "conv2d_pad": lambda x, w, y: {2: _conv2d(x, w)},
    "pooling": lambda x, y: {1: x.reshape(1, 4, 8, 2, 8, 2).max(axis=(3, 5))},
    "symbolic_2d": lambda a, b: {1: a.T},
    "symbolic_shape": lambda a, b: {1: a * 2},
    "loop_kinds": lambda a, b: {1: a * 2},
    "match_buffer_region": lambda a, b: {1: a},
    "nested_blocks": lambda a, b: {1: a * 2},
    "block_predicate": lambda a, b: {1: a + 1},
    "block_attr_alloc_in_block": lambda a, b: {1: a.sum(axis=1)},
    "scan_and_opaque_axes": lambda a, b: {1: np.cumsum(a)},
    "thread_binding": lambda a, b, c: {2: a + b},
    "if_else": lambda a, b: {1: np.clip(a, 0, 10)},
    "vector_ramp_broadcast": lambda a, b: {1: _vec_reference(a, b)},
}


def _vec_reference(a, b):
    out = a + 1
    for i in range(2):
        out[i:i + 16:2] = a[i * 32:i * 32 + 8] * 3
    return out


