"""ONNX converters for constants, shapes and shape manipulation (Reshape, Slice, Gather, Pad,
Range, ...): computed with numpy when the input is known at import time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir import graph as G
from .onnx_ops_math import _cast, _np_dtype, _number
from .onnx_registry import Node, Value, converter
from .onnx_shapes import (_axes_of, _axis, _divide_sizes, _prod, _same_size, _show, _simplify,
                          _static, _static_ints, _tidy)

if TYPE_CHECKING:
    from .onnx_importer import _Importer


# ---------------------------------------------------------------- constants and shapes


@converter("Constant")
def _constant(cx: _Importer, node: Node) -> Value:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            value = node.attrs[key]
            if key.startswith("value_float"):
                return np.array(value, dtype="float32")
            if key.startswith("value_int"):
                return np.array(value, dtype="int64")
            return value
    raise node.unsupported(f"Constant with attribute {sorted(node.attrs)} is not supported "
                           "(only value, value_float(s), value_int(s))")


@converter("Shape")
def _shape(cx: _Importer, node: Node) -> Value:
    dims = node.input(0).shape if isinstance(node.input(0), np.ndarray) else \
        cx.dims(node.input(0), "the input of Shape")
    n = len(dims)
    start, end = node.attr("start", 0), node.attr("end", n)
    return _sizes_array(list(dims)[slice(start, end)])


@converter("Size")
def _size(cx: _Importer, node: Node) -> Value:
    dims = node.input(0).shape if isinstance(node.input(0), np.ndarray) else \
        cx.dims(node.input(0), "the input of Size")
    return _sizes_array([_prod(dims)]).reshape(())


def _sizes_array(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [_simplify(v) for v in values]
    return _tidy(out)


# ---------------------------------------------------------------- shape manipulation


@converter("Reshape")
def _reshape(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    shape = _static(node, 1, "the target shape of Reshape")
    if shape is None:
        raise node.error("Reshape needs its shape input")
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    out = _reshape_dims(node, dims, list(shape.ravel()), bool(node.attr("allowzero", 0)))
    if isinstance(x, np.ndarray):
        return x.reshape([int(d) for d in out])
    if len(out) == len(dims) and all(map(_same_size, out, dims)):
        return x
    return cx.call("reshape", x, tuple(out))


def _reshape_dims(node: Node, dims: list, shape: list, allowzero: bool) -> list:
    shape = [_simplify(s) for s in shape]
    if sum(1 for s in shape if isinstance(s, int) and s == -1) > 1:
        raise node.error(f"the shape {_show(shape)} has more than one -1")
    out = []
    for i, s in enumerate(shape):
        if isinstance(s, int) and s == 0 and not allowzero:
            if i >= len(dims):
                raise node.error(f"shape[{i}] is 0 (copy the input's size) but the input has "
                                 f"rank {len(dims)}")
            s = dims[i]
        out.append(s)
    if any(isinstance(s, int) and s < -1 for s in out):
        raise node.error(f"the shape {_show(shape)} has a negative size")
    if -1 in [s for s in out if isinstance(s, int)]:
        k = next(i for i, s in enumerate(out) if isinstance(s, int) and s == -1)
        out[k] = _divide_sizes(dims, out[:k] + out[k + 1:])
    if all(isinstance(s, int) for s in out + dims) and math.prod(out) != math.prod(dims):
        raise node.error(f"cannot reshape a tensor of shape {_show(dims)} into "
                         f"{_show(shape)}")
    return out


@converter("Flatten")
def _flatten(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    axis = node.attr("axis", 1)
    axis = axis + len(dims) if axis < 0 else axis
    if not 0 <= axis <= len(dims):
        raise node.error(f"axis {node.attr('axis')} is out of range for rank {len(dims)}")
    out = (_prod(dims[:axis]), _prod(dims[axis:]))
    if isinstance(x, np.ndarray):
        return x.reshape(out)
    return cx.call("reshape", x, out)


@converter("Transpose")
def _transpose(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = x.ndim if isinstance(x, np.ndarray) else len(cx.dims(x))
    perm = node.attr("perm", list(range(ndim))[::-1])
    if sorted(perm) != list(range(ndim)):
        raise node.error(f"perm {perm} is not a permutation of the {ndim} axes")
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(np.transpose(x, perm))
    if perm == list(range(ndim)):
        return x
    return cx.call("permute_dims", x, axes=list(perm))


@converter("Unsqueeze")
def _unsqueeze(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = x.ndim if isinstance(x, np.ndarray) else len(cx.dims(x))
    raw = _static_ints(node, 1, "axes") if node.opset >= 13 else node.attr("axes")
    if raw is None:
        raise node.error("Unsqueeze needs axes")
    axes = sorted(_axis(node, a, ndim + len(raw), "axes entry") for a in raw)
    if isinstance(x, np.ndarray):
        return np.expand_dims(x, tuple(axes))
    return cx.call("expand_dims", x, axis=axes)


@converter("Squeeze")
def _squeeze(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    axes = _axes_of(node, len(dims))
    if axes is None:
        if not all(isinstance(d, int) for d in dims):
            raise node.unsupported(f"Squeeze without axes on a tensor of symbolic shape "
                                   f"{_show(dims)}: which sizes are 1 is not known")
        axes = [i for i, d in enumerate(dims) if d == 1]
    for a in axes:
        if isinstance(dims[a], int) and dims[a] != 1:
            raise node.error(f"cannot squeeze axis {a} of size {dims[a]}")
    if isinstance(x, np.ndarray):
        return np.squeeze(x, tuple(axes))
    return cx.call("squeeze", x, axis=axes) if axes else x


@converter("Concat")
def _concat(cx: _Importer, node: Node) -> Value:
    values = [v for v in node.inputs if v is not None]
    ndim = values[0].ndim if isinstance(values[0], np.ndarray) else len(cx.dims(values[0]))
    axis = _axis(node, node.attr("axis"), ndim)
    if all(isinstance(v, np.ndarray) for v in values):
        return np.concatenate(values, axis=axis)
    if len(values) == 1:
        return values[0]
    return cx.call("concat", tuple(cx.expr(v) for v in values), axis=axis)


@converter("Split")
def _split(cx: _Importer, node: Node) -> list[Value]:
    x = node.input(0)
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    axis = _axis(node, node.attr("axis", 0), len(dims))
    sizes = _static_ints(node, 1, "split") if node.opset >= 13 else node.attr("split")
    n = len(node.outputs)
    if sizes is None:
        n = node.attr("num_outputs", n)
        if not isinstance(dims[axis], int):
            return _split_equal(cx, node, x, n, axis)
        chunk = -(-dims[axis] // n)
        if node.opset < 18 and dims[axis] % n:
            raise node.error(f"cannot split size {dims[axis]} into {n} equal parts")
        sizes = [chunk] * (dims[axis] // chunk) + ([dims[axis] % chunk] if dims[axis] % chunk
                                                    else [])
    if len(sizes) != n:
        raise node.error(f"split has {len(sizes)} sizes for {n} outputs")
    if isinstance(dims[axis], int) and sum(sizes) != dims[axis]:
        raise node.error(f"split sizes {sizes} do not add up to the size {dims[axis]} of "
                         f"axis {axis}")
    cuts = list(np.cumsum(sizes)[:-1])
    if isinstance(x, np.ndarray):
        return np.split(x, cuts, axis=axis)
    if len(set(sizes)) == 1:
        return _split_equal(cx, node, x, n, axis)
    parts = cx.call("split", x, [int(c) for c in cuts], axis=axis)
    return [cx.item(parts, i) for i in range(n)]


def _split_equal(cx: _Importer, node: Node, x: Value, n: int, axis: int) -> list[Value]:
    if n == 1:
        return [x]
    parts = cx.call("split", x, n, axis=axis)
    return [cx.item(parts, i) for i in range(n)]


@converter("Slice")
def _slice(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    if node.opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes"), None
    else:
        starts = _static(node, 1, "starts")
        ends = _static(node, 2, "ends")
        axes = _static_ints(node, 3, "axes")
        steps = _static_ints(node, 4, "steps")
    starts, ends = [_simplify(v) for v in np.ravel(starts)], [_simplify(v) for v in
                                                            np.ravel(ends)]
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise node.error("starts, ends, axes and steps have different lengths")
    axes = [_axis(node, a, len(dims), "axes entry") for a in axes]
    if 0 in steps:
        raise node.error("a step of Slice is 0")
    known = all(isinstance(v, int) for v in starts + ends)
    if isinstance(x, np.ndarray) and known:
        index = [slice(None)] * x.ndim
        for a, b, e, s in zip(axes, starts, ends, steps):
            index[a] = slice(b, e, s)
        return x[tuple(index)]
    return _slice_graph(cx, node, x, dims, list(zip(axes, starts, ends, steps)))


_BIG = 2 ** 62  # ends like INT64_MAX mean "to the end"


def _slice_graph(cx: _Importer, node: Node, x: Value, dims: list, items: list) -> Value:
    axes, begin, end, strides = [], [], [], []
    for a, b, e, s in items:
        d = dims[a]
        if s > 0 and all(isinstance(v, int) for v in (d, b, e)):
            b, e, _ = slice(b, e, s).indices(d)
            e = max(e, b)
            if b == 0 and e == d and s == 1:
                continue  # the whole axis
        elif s > 0:
            b, e = _bound(b, d), _bound(e, d)
            if not (isinstance(b, int) and isinstance(e, int)):  # a bound is a size expression
                x = _take_range(cx, x, a, b, e, s)
                continue
        axes.append(a), begin.append(b), end.append(e), strides.append(s)
    if not axes:
        return x
    return cx.call("strided_slice", x, axes, begin, end, strides)


def _take_range(cx: _Importer, x: Value, axis: int, b: Any, e: Any, s: int) -> Value:
    """``x[b:e:s]`` along ``axis`` for symbolic bounds (``bias[:, :, :seq, :seq]``): the
    indices ``R.arange(b, e, s)``; the bounds are taken as lying inside the axis, as sizes
    derived from the inputs' shapes do (mode="clip" keeps other values in memory)."""
    indices = cx.call("arange", b, e, s, dtype="int64")
    return cx.call("take", x, indices, axis=axis, mode="clip")


def _bound(v: Any, d: Any) -> Any:
    """A slice bound against a symbolic size: huge means the end (R.strided_slice clamps the
    others as numpy does)."""
    return d if isinstance(v, int) and v >= _BIG else v


@converter("Gather")
def _gather(cx: _Importer, node: Node) -> Value:
    x, idx = node.input(0), node.input(1)
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    axis = _axis(node, node.attr("axis", 0), len(dims))
    if isinstance(idx, np.ndarray):
        if isinstance(dims[axis], int):
            idx = np.where(idx < 0, idx + dims[axis], idx)
        elif (idx < 0).any():
            raise node.unsupported("negative indices along an axis of symbolic size")
        if isinstance(x, np.ndarray):
            return np.take(x, idx, axis=axis)
        return cx.call("take", x, idx, axis=axis)
    return cx.call("take", x, idx, axis=axis, mode="wrap")  # ONNX allows negative indices


@converter("GatherElements")
def _gather_elements(cx: _Importer, node: Node) -> Value:
    x, idx = node.input(0), node.input(1)
    dims = cx.dims(x)
    axis = _axis(node, node.attr("axis", 0), len(dims))
    if isinstance(idx, np.ndarray) and isinstance(dims[axis], int):
        idx = np.where(idx < 0, idx + dims[axis], idx)
    return cx.call("gather_elements", x, idx, axis=axis)


@converter("Expand")
def _expand(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    shape = _static(node, 1, "the shape of Expand")
    dims = list(x.shape) if isinstance(x, np.ndarray) else cx.dims(x)
    out = _broadcast(node, dims, [_simplify(s) for s in shape.ravel()])
    if isinstance(x, np.ndarray) and all(isinstance(s, int) for s in out):
        return np.ascontiguousarray(np.broadcast_to(x, out))
    if len(out) == len(dims) and all(map(_same_size, out, dims)):
        return x
    return cx.call("broadcast_to", x, G.ShapeExpr(tuple(out)))


def _broadcast(node: Node, a: list, b: list) -> list:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if isinstance(x, int) and x == 1:
            out.append(y)
        elif isinstance(y, int) and y == 1 or _same_size(x, y):
            out.append(x)
        elif isinstance(x, int) and isinstance(y, int):
            raise node.error(f"shapes {_show(a)} and {_show(b)} do not broadcast")
        else:
            out.append(y if isinstance(x, int) else x)
    return out[::-1]


@converter("Tile")
def _tile(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    repeats = _static_ints(node, 1, "repeats")
    if isinstance(x, np.ndarray):
        return np.tile(x, repeats)
    return cx.call("tile", x, repeats)


@converter("Pad")
def _pad(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = len(cx.dims(x))
    mode = node.attr("mode", "constant")
    if node.opset < 11:
        pads, value, axes = node.attr("pads"), node.attr("value", 0.0), None
    else:
        pads = _static_ints(node, 1, "pads")
        value = _static(node, 2, "constant_value")
        value = 0 if value is None else np.asarray(value).item()
        axes = _static_ints(node, 3, "axes")
    axes = list(range(ndim)) if axes is None else [_axis(node, a, ndim) for a in axes]
    if len(pads) != 2 * len(axes):
        raise node.error(f"pads has {len(pads)} entries for {len(axes)} axes")
    if any(p < 0 for p in pads):
        raise node.unsupported(f"negative pads {pads} (cropping) are not supported")
    width = [0] * (2 * ndim)
    for k, a in enumerate(axes):
        width[2 * a], width[2 * a + 1] = pads[k], pads[k + len(axes)]
    if not any(width):
        return x
    if mode not in ("constant", "reflect", "edge"):
        raise node.unsupported(f"mode={mode!r} is not supported (constant, reflect, edge)")
    dt = _np_dtype(cx.sinfo(x).dtype)
    return cx.call("nn.pad", x, width, mode, _number(value, dt))


@converter("ConstantOfShape")
def _constant_of_shape(cx: _Importer, node: Node) -> Value:
    shape = _static(node, 0, "the shape of ConstantOfShape")
    value = node.attr("value", np.zeros(1, "float32"))
    value = np.asarray(value).reshape(())
    if shape.dtype != object:
        return np.full([int(s) for s in shape], value, dtype=value.dtype)
    sizes = [_simplify(s) for s in shape.ravel()]
    return cx.call("full", G.ShapeExpr(tuple(sizes)), value, str(value.dtype))


@converter("Range")
def _range(cx: _Importer, node: Node) -> Value:
    start, limit, delta = (_static(node, i, what) for i, what in
                           enumerate(("start", "limit", "delta")))
    if all(v.dtype != object for v in (start, limit, delta)):
        n = max(math.ceil((limit.item() - start.item()) / delta.item()), 0)
        return (start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype)
    values = [_simplify(np.asarray(v).reshape(()).item()) for v in (start, limit, delta)]
    return cx.call("arange", *values, dtype="int64")


@converter("OneHot")
def _one_hot(cx: _Importer, node: Node) -> Value:
    idx = node.input(0)
    depth = _static(node, 1, "depth")
    values = _static(node, 2, "values")
    if depth is None or values is None or values.size != 2:
        raise node.error("OneHot needs depth and values (off, on) known at import time")
    depth = int(np.asarray(depth).item())
    ndim = len(cx.dims(idx))
    axis = _axis(node, node.attr("axis", -1), ndim + 1)
    idx = _cast(cx, idx, "int64")
    if isinstance(idx, np.ndarray):
        idx = np.where(idx < 0, idx + depth, idx)
    else:  # negative indices count from the end of depth
        negative = cx.call("less", idx, np.array(0, "int64"))
        idx = cx.call("where", negative, cx.call("add", idx, np.array(depth, "int64")), idx)
    off, on = (_number(v, values.dtype) for v in values.ravel())
    dt = str(values.dtype)
    return cx.call("one_hot", idx, _prim(on, dt), _prim(off, dt), depth, axis)


def _prim(value: Any, dtype: str) -> G.PrimValue:
    from ..ir.expr import const

    return G.PrimValue(const(value, dtype))
