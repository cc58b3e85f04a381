"""ONNX converters for reductions, normalizations, matrix products (MatMul, Gemm, Einsum),
convolutions, pooling and Resize."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir import graph as G
from ..ir.graph_ops import get_op
from .onnx_ops_math import _np_dtype
from .onnx_registry import Node, Value, converter
from .onnx_shapes import _axes_of, _axis, _prod, _same_size, _show, _simplify, _static

if TYPE_CHECKING:
    from .onnx_importer import _Importer


# ---------------------------------------------------------------- reductions

_REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
           "ReduceProd": "prod", "ReduceSumSquare": "sum", "ReduceL1": "sum", "ReduceL2": "sum"}


@converter(*_REDUCE)
def _reduce(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = len(cx.dims(x))
    axes = _axes_of(node, ndim)
    keep = bool(node.attr("keepdims", 1))
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(ndim))
    if node.op_type in ("ReduceSumSquare", "ReduceL2"):
        x = cx.call("multiply", x, x)
    elif node.op_type == "ReduceL1":
        x = cx.call("abs", x)
    out = cx.call(_REDUCE[node.op_type], x, axis=axes, keepdims=keep)
    return cx.call("sqrt", out) if node.op_type == "ReduceL2" else out


@converter("ArgMax", "ArgMin")
def _arg_reduce(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    if node.attr("select_last_index", 0):
        raise node.unsupported("select_last_index=1 is not supported")
    axis = _axis(node, node.attr("axis", 0), len(cx.dims(x)))
    op = "argmax" if node.op_type == "ArgMax" else "argmin"
    return cx.call(op, x, axis=axis, keepdims=bool(node.attr("keepdims", 1)))


# ---------------------------------------------------------------- normalization


@converter("BatchNormalization")
def _batch_norm(cx: _Importer, node: Node) -> Value:
    if node.attr("training_mode", 0) or any(node.wants(i) for i in (1, 2, 3, 4)) or \
            node.attr("spatial", 1) != 1:
        raise node.unsupported("BatchNormalization in training mode (or with its running "
                               "mean/var outputs) is not supported; export in eval mode")
    x, scale, bias, mean, var = (node.input(i) for i in range(5))
    out = cx.call("nn.batch_norm", x, scale, bias, mean, var, axis=1,
                  epsilon=float(node.attr("epsilon", 1e-5)), training=False)
    return cx.item(out, 0)


@converter("LayerNormalization")
def _layer_norm(cx: _Importer, node: Node) -> Value:
    if node.wants(1) or node.wants(2):
        raise node.unsupported("the Mean and InvStdDev outputs of LayerNormalization are not "
                               "supported")
    x, scale, bias = node.input(0), node.input(1), node.input(2)
    ndim = len(cx.dims(x))
    axis = _axis(node, node.attr("axis", -1), ndim)
    normalized = cx.dims(x)[axis:]
    dt = _np_dtype(cx.sinfo(x).dtype)
    scale = _broadcast_param(cx, scale, normalized)
    bias = _broadcast_param(cx, np.zeros((), dt) if bias is None else bias, normalized)
    return cx.call("nn.layer_norm", x, scale, bias, axes=list(range(axis, ndim)),
                   epsilon=float(node.attr("epsilon", 1e-5)))


def _broadcast_param(cx: _Importer, value: Value, dims: list) -> Value:
    """A scale or bias with the normalized axes' shape (ONNX lets them broadcast)."""
    have = list(value.shape) if isinstance(value, np.ndarray) else cx.dims(value)
    if len(have) == len(dims) and all(map(_same_size, have, dims)):
        return value
    if isinstance(value, np.ndarray) and all(isinstance(d, int) for d in dims):
        return np.ascontiguousarray(np.broadcast_to(value, dims))
    return cx.call("broadcast_to", value, G.ShapeExpr(tuple(dims)))


@converter("InstanceNormalization")
def _instance_norm(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = cx.dims(x)
    eps = float(node.attr("epsilon", 1e-5))
    if get_op("nn.instance_norm") is not None:
        return cx.call("nn.instance_norm", x, node.input(1), node.input(2), channel_axis=1,
                       axes=list(range(2, len(dims))), epsilon=eps)
    if not isinstance(dims[1], int):
        raise node.unsupported("InstanceNormalization needs a static number of channels")
    # one group per channel: the same statistics, the same per-channel scale and bias
    return cx.call("nn.group_norm", x, node.input(1), node.input(2), num_groups=dims[1],
                   channel_axis=1, axes=list(range(2, len(dims))), epsilon=eps)


@converter("GroupNormalization")
def _group_norm(cx: _Importer, node: Node) -> Value:
    x, scale, bias = node.input(0), node.input(1), node.input(2)
    dims = cx.dims(x)
    groups = node.attr("num_groups")
    if node.opset < 21:  # scale and bias per group: repeated for the channels of each group
        if not isinstance(dims[1], int):
            raise node.unsupported("GroupNormalization before opset 21 needs a static number "
                                   "of channels")
        scale, bias = (_static(node, i, what) for i, what in ((1, "scale"), (2, "bias")))
        scale, bias = (np.repeat(v, dims[1] // groups) for v in (scale, bias))
    return cx.call("nn.group_norm", x, scale, bias, num_groups=groups, channel_axis=1,
                   axes=list(range(2, len(dims))), epsilon=float(node.attr("epsilon", 1e-5)))


# ---------------------------------------------------------------- matrix products


@converter("MatMul")
def _matmul(cx: _Importer, node: Node) -> Value:
    return cx.call("matmul", node.input(0), node.input(1))


@converter("Gemm")
def _gemm(cx: _Importer, node: Node) -> Value:
    a, b, c = node.input(0), node.input(1), node.input(2)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    if node.attr("transA", 0):
        a = a.T.copy() if isinstance(a, np.ndarray) else cx.call("permute_dims", a, axes=[1, 0])
    if node.attr("transB", 0):
        b = b.T.copy() if isinstance(b, np.ndarray) else cx.call("permute_dims", b, axes=[1, 0])
    dt = _np_dtype(cx.sinfo(a).dtype)
    if alpha != 1.0 and isinstance(b, np.ndarray):
        b, alpha = (b * np.array(alpha, dt)).astype(dt), 1.0
    y = cx.call("matmul", a, b)
    if alpha != 1.0:
        y = cx.call("multiply", y, np.array(alpha, dt))
    if c is None or beta == 0.0:
        return y
    if beta != 1.0:
        c = (c * np.array(beta, dt)).astype(dt) if isinstance(c, np.ndarray) else \
            cx.call("multiply", c, np.array(beta, dt))
    return cx.call("add", y, c)


@converter("Einsum")
def _einsum(cx: _Importer, node: Node) -> Value:
    eq = node.attr("equation", "").replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if "." in eq or len(terms) != len(node.inputs) or not 1 <= len(terms) <= 2:
        raise node.unsupported(f"Einsum {eq!r}: only one- and two-operand equations without "
                               "'...' are supported")
    if not arrow:
        rhs = "".join(sorted(c for c in set(lhs.replace(",", "")) if lhs.count(c) == 1))
    if any(len(set(t)) != len(t) for t in terms + [rhs]):
        raise node.unsupported(f"Einsum {eq!r}: repeated indices in one operand (diagonals) "
                               "are not supported")
    # an index that is in one operand only and not in the result is summed first
    keep = set(rhs) | (set(terms[0]) & set(terms[-1]) if len(terms) == 2 else set())
    ops = [_einsum_sum(cx, t, v, keep) for t, v in zip(terms, node.inputs)]
    if len(ops) == 1:
        (t, v), = ops
        return _permute_to(cx, v, t, rhs)
    (ta, a), (tb, b) = ops
    batch = [c for c in rhs if c in ta and c in tb]
    left = [c for c in rhs if c in ta and c not in tb]
    right = [c for c in rhs if c in tb and c not in ta]
    inner = [c for c in ta if c in tb and c not in rhs]
    # batch axes stay axes of R.matmul (no merged sizes): the others become one axis each
    a = _grouped(cx, _permute_to(cx, a, ta, "".join(batch + left + inner)), len(batch),
                 [len(left), len(inner)])
    b = _grouped(cx, _permute_to(cx, b, tb, "".join(batch + inner + right)), len(batch),
                 [len(inner), len(right)])
    y = cx.call("matmul", a, b)
    sizes = {c: d for t, v in zip(terms, node.inputs) for c, d in zip(t, cx.dims(v))}
    dims = cx.dims(y)[:len(batch)] + [sizes[c] for c in left + right]
    y = _reshaped(cx, y, dims)
    return _permute_to(cx, y, "".join(batch + left + right), rhs)


def _grouped(cx: _Importer, v: Value, keep: int, groups: list[int]) -> Value:
    """``v`` with its first ``keep`` axes kept and the next ones merged by ``groups`` counts."""
    dims = cx.dims(v)
    out, k = dims[:keep], keep
    for n in groups:
        out.append(_prod(dims[k:k + n]))
        k += n
    return _reshaped(cx, v, out)


def _reshaped(cx: _Importer, v: Value, dims: list) -> Value:
    have = cx.dims(v)
    if len(have) == len(dims) and all(map(_same_size, have, dims)):
        return v
    return cx.call("reshape", v, tuple(dims))


def _einsum_sum(cx: _Importer, t: str, v: Value, keep: set) -> tuple[str, Value]:
    gone = [i for i, c in enumerate(t) if c not in keep]
    if not gone:
        return t, v
    return "".join(c for c in t if c in keep), cx.call("sum", v, axis=gone, keepdims=False)


def _permute_to(cx: _Importer, v: Value, have: str, want: str) -> Value:
    if have == want:
        return v
    return cx.call("permute_dims", v, axes=[have.index(c) for c in want])


# ---------------------------------------------------------------- convolution and pooling


def _spatial_attrs(node: Node, n: int, kernel: list) -> tuple[list, list]:
    strides = list(node.attr("strides", [1] * n))
    dilations = list(node.attr("dilations", [1] * n))
    if len(kernel) != n or len(strides) != n or len(dilations) != n:
        raise node.error(f"kernel_shape {kernel}, strides {strides} and dilations "
                         f"{dilations} must each have {n} entries")
    return strides, dilations


def _pads(node: Node, sizes: list, kernel: list, strides: list, dilations: list) -> list[int]:
    """ONNX pads (all begins, then all ends) from ``pads`` or ``auto_pad``."""
    n = len(kernel)
    auto = node.attr("auto_pad", "NOTSET")
    if auto == "NOTSET":
        pads = list(node.attr("pads", [0] * 2 * n))
        if len(pads) != 2 * n:
            raise node.error(f"pads {pads} must have {2 * n} entries")
        return pads
    if auto == "VALID":
        return [0] * 2 * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.error(f"auto_pad={auto!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, "
                         "VALID")
    if not all(isinstance(s, int) for s in sizes):
        raise node.unsupported(f"auto_pad={auto} needs static spatial sizes, got "
                               f"{_show(sizes)}")
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin + end


_NDIM_OP = {1: "1d", 2: "2d", 3: "3d"}


@converter("Conv")
def _conv(cx: _Importer, node: Node) -> Value:
    x, w, b = node.input(0), node.input(1), node.input(2)
    dims, wdims = cx.dims(x), cx.dims(w, "the weight")
    n = len(dims) - 2
    if n not in _NDIM_OP:
        raise node.unsupported(f"Conv on a tensor of rank {len(dims)} is not supported")
    kernel = list(node.attr("kernel_shape", wdims[2:]))
    strides, dilations = _spatial_attrs(node, n, kernel)
    pads = _pads(node, dims[2:], kernel, strides, dilations)
    y = cx.call("nn.conv" + _NDIM_OP[n], x, w, strides=strides, padding=pads,
                dilation=dilations, groups=int(node.attr("group", 1)))
    return _bias(cx, y, b, n)


def _bias(cx: _Importer, y: Value, b: Value, n: int) -> Value:
    if b is None:
        return y
    if isinstance(b, np.ndarray):
        b = b.reshape([1, -1] + [1] * n)
    else:
        b = cx.call("reshape", b, (1, cx.dims(b)[0]) + (1,) * n)
    return cx.call("add", y, b)


@converter("ConvTranspose")
def _conv_transpose(cx: _Importer, node: Node) -> Value:
    x, w, b = node.input(0), node.input(1), node.input(2)
    dims, wdims = cx.dims(x), cx.dims(w, "the weight")
    n = len(dims) - 2
    if n not in (1, 2):
        raise node.unsupported(f"ConvTranspose on a tensor of rank {len(dims)} is not "
                               "supported")
    kernel = list(node.attr("kernel_shape", wdims[2:]))
    strides, dilations = _spatial_attrs(node, n, kernel)
    extra = list(node.attr("output_padding", [0] * n))
    auto = node.attr("auto_pad", "NOTSET")
    out_shape = node.attr("output_shape")
    if out_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        sizes = [d * s for d, s in zip(dims[2:], strides)] if out_shape is None else \
            list(out_shape)[-n:]
        pads = _transpose_pads(node, dims[2:], sizes, kernel, strides, dilations, extra)
    else:
        pads = [0] * 2 * n if auto == "VALID" else list(node.attr("pads", [0] * 2 * n))
    y = cx.call("nn.conv" + _NDIM_OP[n] + "_transpose", x, w, strides=strides, padding=pads,
                output_padding=extra, dilation=dilations, groups=int(node.attr("group", 1)))
    return _bias(cx, y, b, n)


def _transpose_pads(node: Node, sizes: list, out: list, kernel: list, strides: list,
                    dilations: list, extra: list) -> list[int]:
    begin, end = [], []
    for size, o, k, s, d, e in zip(sizes, out, kernel, strides, dilations, extra):
        if not isinstance(size, int):
            raise node.unsupported("output_shape/auto_pad need static spatial sizes")
        total = s * (size - 1) + e + (k - 1) * d + 1 - o
        if total < 0 or total % 2:  # runtimes disagree on where an odd padding goes
            raise node.unsupported(f"output size {o} needs a total padding of {total}; only "
                                   "an even, non-negative total is supported")
        begin.append(total // 2)
        end.append(total // 2)
    return begin + end


@converter("MaxPool", "AveragePool")
def _pool(cx: _Importer, node: Node) -> Value:
    if node.wants(1):
        raise node.unsupported("the Indices output of MaxPool is not supported")
    x = node.input(0)
    dims = cx.dims(x)
    n = len(dims) - 2
    if n not in _NDIM_OP:
        raise node.unsupported(f"{node.op_type} on a tensor of rank {len(dims)} is not "
                               "supported")
    kernel = list(node.attr("kernel_shape"))
    strides, dilations = _spatial_attrs(node, n, kernel)
    pads = _pads(node, dims[2:], kernel, strides, dilations)
    base = "nn.max_pool" if node.op_type == "MaxPool" else "nn.avg_pool"
    attrs = {"pool_size": kernel, "strides": strides, "padding": pads, "dilation": dilations,
             "ceil_mode": bool(node.attr("ceil_mode", 0))}
    if node.op_type == "AveragePool":
        attrs["count_include_pad"] = bool(node.attr("count_include_pad", 0))
    if n == 1 and get_op(base + "1d") is None:  # as a 2-D pool over a height of 1
        attrs = {k: [1] + list(v) if isinstance(v, list) else v for k, v in attrs.items()}
        attrs["padding"] = [0, pads[0], 0, pads[1]]
        y = cx.call(base + "2d", cx.call("expand_dims", x, axis=[2]), **attrs)
        return cx.call("squeeze", y, axis=[2])
    return cx.call(base + _NDIM_OP[n], x, **attrs)


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = len(cx.dims(x))
    if node.op_type == "GlobalAveragePool" and ndim == 4 and \
            get_op("nn.adaptive_avg_pool2d") is not None:
        return cx.call("nn.adaptive_avg_pool2d", x, output_size=[1, 1])
    op = "mean" if node.op_type == "GlobalAveragePool" else "max"
    return cx.call(op, x, axis=list(range(2, ndim)), keepdims=True)


# ---------------------------------------------------------------- resizing


@converter("Resize", "Upsample")
def _resize(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = cx.dims(x, f"the input of {node.op_type}")
    if len(dims) != 4:
        raise node.unsupported(f"{node.op_type} of a rank-{len(dims)} tensor (only NCHW)")
    mode = node.attr("mode", "nearest")
    method = {"nearest": "nearest_neighbor", "linear": "linear", "bilinear": "linear",
              "cubic": "cubic"}.get(mode)
    if method is None:
        raise node.error(f"mode={mode!r} is not one of nearest, linear, cubic")
    if node.op_type == "Upsample" or node.opset < 11:
        scales = node.attr("scales") if node.opset < 9 else _static(node, 1, "scales")
        sizes, coord = None, "asymmetric"
        nearest = "floor"
    else:
        scales, sizes = _static(node, 2, "scales"), _static(node, 3, "sizes")
        coord = node.attr("coordinate_transformation_mode", "half_pixel")
        nearest = node.attr("nearest_mode", "round_prefer_floor")
        for key, ok in (("antialias", 0), ("keep_aspect_ratio_policy", "stretch"),
                        ("exclude_outside", 0)):
            if node.attr(key, ok) != ok:
                raise node.unsupported(f"{key}={node.attr(key)!r} is not supported")
        if node.attr("axes") is not None:
            raise node.unsupported("the axes attribute of Resize is not supported")
    if coord == "tf_crop_and_resize":
        raise node.unsupported("coordinate_transformation_mode='tf_crop_and_resize'")
    out = _resize_sizes(node, dims, scales, sizes)
    return cx.call("image.resize2d", x, G.ShapeExpr(tuple(out)), layout="NCHW",
                   method=method, coordinate_transformation_mode=coord,
                   rounding_method=nearest if method == "nearest_neighbor" else "",
                   cubic_alpha=float(node.attr("cubic_coeff_a", -0.75)),
                   extrapolation_value=float(node.attr("extrapolation_value", 0.0)))


def _resize_sizes(node: Node, dims: list, scales: Any, sizes: Any) -> list[int]:
    """The output's height and width; the batch and channel sizes must stay."""
    if sizes is not None and np.size(sizes):
        out = [_simplify(v) for v in np.ravel(sizes)]
        keeps = len(out) == 4 and all(map(_same_size, out[:2], dims[:2]))
    elif scales is not None and np.size(scales):
        scales = [float(v) for v in np.ravel(scales)]
        keeps = len(scales) == 4 and scales[:2] == [1.0, 1.0]
        if not all(isinstance(d, int) for d in dims[2:]):
            raise node.unsupported(f"scales need a static height and width, got "
                                   f"{_show(dims)}")
        out = [None, None] + [math.floor(d * s) for d, s in zip(dims[2:], scales[2:])]
        if any(o != d * s for d, s, o in zip(dims[2:], scales[2:], out[2:])):
            # the runtimes map coordinates with the given scale, not out/in: only exact scales
            raise node.unsupported(f"scales {scales} do not give whole sizes for the input "
                                   f"{_show(dims)}; give sizes instead")
    else:
        raise node.error(f"{node.op_type} needs scales or sizes")
    if not keeps or not all(isinstance(v, int) for v in out[2:]):
        shown = _show(out) if sizes is not None and np.size(sizes) else f"scales {scales}"
        raise node.unsupported(f"resizing {_show(dims)} to {shown}: only the height and "
                               "width (the last two sizes, known at import time) may change")
    return out[2:]
