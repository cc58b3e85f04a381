"""Converters of shape and view operators, new tensors, symbolic sizes and Python arithmetic
on sizes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import graph as G
from .torch_importer import _Importer
from .torch_ops_math import _dims
from .torch_registry import _converts
from .torch_values import _axis, _first, _what

# ---------------------------------------------------------------- shapes


def _same_shape(a: tuple, b: tuple) -> bool:
    from ..ir.structural import structural_equal

    return len(a) == len(b) and all(
        x == y if isinstance(x, int) and isinstance(y, int) else
        not isinstance(x, int) and not isinstance(y, int) and structural_equal(x, y)
        for x, y in zip(a, b))


@_converts("view", "reshape", "_unsafe_view", "flatten", "unflatten", "view_as", "reshape_as",
           "_reshape_alias")
def _reshape(im: _Importer, a: dict) -> Any:
    x = _first(a)
    if im.node.target._overloadname == "dtype":
        raise im.error("view(dtype) (a bit cast) is not supported")
    shape = im.out_shape()
    if _same_shape(shape, im.shape(x)):
        return x
    return im.call("reshape", [x], shape=shape)


def _permute_to(im: _Importer, x: Any, axes: list) -> Any:
    if axes == sorted(axes):
        return x
    return im.call("permute_dims", [x], axes=axes)


@_converts("permute")
def _permute(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return _permute_to(im, x, [_axis(d, im.ndim(x)) for d in a["dims"]])


@_converts("transpose", "t", "swapaxes", "numpy_T")
def _transpose(im: _Importer, a: dict) -> Any:
    x = a["self"]
    ndim = im.ndim(x)
    axes = list(range(ndim))
    dims = list(a.values())[1:3]  # transpose's dim0, dim1; swapaxes' axis0, axis1
    d0, d1 = dims if len(dims) == 2 else (0, 1) if ndim == 2 else (0, 0)
    d0, d1 = _axis(d0, ndim), _axis(d1, ndim)
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return _permute_to(im, x, axes)


@_converts("unsqueeze")
def _unsqueeze(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return im.call("expand_dims", [x], axis=[_axis(a["dim"], im.ndim(x) + 1)])


@_converts("squeeze")
def _squeeze(im: _Importer, a: dict) -> Any:
    x = a["self"]
    shape = im.shape(x)
    dims = _dims(im, x, a.get("dim"))
    dims = range(len(shape)) if dims is None else dims
    axes = [d for d in dims if isinstance(shape[d], int) and shape[d] == 1]
    return x if not axes else im.call("squeeze", [x], axis=axes)


@_converts("expand", "expand_as", "broadcast_to")
def _expand(im: _Importer, a: dict) -> Any:
    x = a["self"]
    shape = im.out_shape()
    if _same_shape(shape, im.shape(x)):
        return x
    return im.call("broadcast_to", [x], shape=shape)


_END = 2 ** 62  # torch writes `x[a:]` as an end of 2**63 - 1


def _bound(value: Any, size: Any, default: Any) -> Any:
    """A slice bound as numpy takes it, clamped into 0..size where both are static."""
    if value is None or (isinstance(value, int) and value >= _END):
        return default
    if isinstance(value, int) and value < 0:
        value = value + size
        return max(value, 0) if isinstance(value, int) else value
    return min(value, size) if isinstance(value, int) and isinstance(size, int) else value


def _slice(im: _Importer, x: Any, dim: int, start: Any, end: Any, step: int = 1) -> Any:
    dim = _axis(dim, im.ndim(x))
    size = im.shape(x)[dim]
    begin, stop = _bound(start, size, 0), _bound(end, size, size)
    if isinstance(begin, int) and begin == 0 and step == 1 and \
            (stop is size or isinstance(stop, int) and isinstance(size, int) and stop >= size):
        return x
    if not all(isinstance(v, int) for v in (begin, stop)):  # symbolic bounds: gather them
        if stop is size and step == 1 and isinstance(start, int) and start < 0:  # x[-k:]
            index = G.Constant(np.arange(start, 0, dtype="int64"))
            return im.call("take", [x, index], axis=dim, mode="wrap")
        index = im.call("arange", [], start=begin, end=stop, step=step, dtype="int64")
        return im.call("take", [x, index], axis=dim)
    return im.call("strided_slice", [x], axes=[dim], begin=[begin], end=[stop],
                   strides=[step])


@_converts("slice")
def _slice_tensor(im: _Importer, a: dict) -> Any:
    return _slice(im, a["self"], a["dim"], a["start"], a["end"], a["step"])


@_converts("narrow")
def _narrow(im: _Importer, a: dict) -> Any:
    start = a["start"]
    return _slice(im, a["self"], a["dim"], start, start + a["length"])


@_converts("select")
def _select(im: _Importer, a: dict) -> Any:
    x, index = a["self"], a["index"]
    dim = _axis(a["dim"], im.ndim(x))
    size = im.shape(x)[dim]
    if isinstance(index, int):  # from the end (wrapped) where the size is symbolic
        index = index + size if index < 0 and isinstance(size, int) else index
        return im.call("take", [x, G.Constant(np.array(index, dtype="int64"))], axis=dim,
                       mode="wrap" if index < 0 else "fast")
    return im.call("squeeze", [_slice(im, x, dim, index, index + 1)], axis=[dim])


@_converts("cat", "concat", "concatenate")
def _cat(im: _Importer, a: dict) -> Any:
    dtype = im.out_dtype()
    tensors = [im.cast(t, dtype) for t in a["tensors"] if im.shape(t) != (0,)]
    if len(tensors) == 1:
        return tensors[0]
    axis = _axis(a["dim"], im.ndim(tensors[0]))
    return im.call("concat", [G.Tuple(tuple(tensors))], axis=axis)


@_converts("stack")
def _stack(im: _Importer, a: dict) -> Any:
    tensors = a["tensors"]
    axis = _axis(a["dim"], im.ndim(tensors[0]) + 1)
    parts = [im.call("expand_dims", [t], axis=[axis]) for t in tensors]
    return parts[0] if len(parts) == 1 else \
        im.call("concat", [G.Tuple(tuple(parts))], axis=axis)


def _split_at(im: _Importer, x: Any, dim: int, sizes: list) -> Any:
    if len(sizes) == 1:
        return (x,)
    indices = list(np.cumsum(sizes[:-1]).tolist())
    return im.call("split", [x], indices_or_sections=indices, axis=dim)


@_converts("split", "split_with_sizes", "chunk", "unbind", needs=("split",))
def _split(im: _Importer, a: dict) -> Any:
    x = a["self"]
    dim = _axis(a.get("dim", 0), im.ndim(x))
    size = im.shape(x)[dim]
    name = im.node.target._opname
    if not isinstance(size, int):
        raise im.error(f"splitting the symbolic dimension {dim} is not supported")
    if name == "chunk":
        step = -(-size // a["chunks"])
    elif name == "unbind":
        step = 1
    else:
        step = a.get("split_size", a.get("split_sizes"))
    sizes = list(step) if isinstance(step, (list, tuple)) else \
        [min(step, size - i) for i in range(0, size, step)]
    parts = _split_at(im, x, dim, sizes)
    if name != "unbind":
        return parts
    items = [_getitem(im, {"arg0": parts, "arg1": i}) for i in range(len(sizes))]
    return tuple(im.call("squeeze", [p], axis=[dim]) for p in items)


@_converts("operator.getitem")
def _getitem(im: _Importer, a: dict) -> Any:
    obj, index = a["arg0"], a["arg1"]
    if isinstance(obj, (tuple, list)):
        return obj[index]
    if isinstance(obj, G.GraphExpr) and isinstance(obj.struct_info, G.TupleStructInfo):
        return im.emit(G.TupleGetItem(obj, index))
    raise im.error(f"indexing {_what(obj)} is not supported")


@_converts("_to_copy", "to", "type_as", "_to_dim_order_copy")
def _to(im: _Importer, a: dict) -> Any:
    return im.cast(im.tensor(_first(a)), im.out_dtype())


@_converts("triu", needs=("triu",))
@_converts("tril", needs=("tril",))
def _triangle(im: _Importer, a: dict) -> Any:
    return im.call(im.node.target._opname, [a["self"]], k=int(a["diagonal"]))


@_converts("index_select", needs=("take",))
def _index_select(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return im.call("take", [x, a["index"]], axis=_axis(a["dim"], im.ndim(x)))


@_converts("index", needs=("take",))
def _index(im: _Importer, a: dict) -> Any:
    x, indices = a["self"], list(a["indices"])
    used = [i for i, t in enumerate(indices) if t is not None]
    if len(used) != 1 or im.dtype(indices[used[0]]) == "bool":
        raise im.error("indexing is supported with one integer index tensor (x[:, idx]); "
                       "several index tensors or boolean masks are not")
    return im.call("take", [x, indices[used[0]]], axis=used[0])


@_converts("repeat", needs=("tile",))
def _repeat(im: _Importer, a: dict) -> Any:
    return im.call("tile", [a["self"]], repeats=list(a["repeats"]))


@_converts("flip", needs=("flip",))
def _flip(im: _Importer, a: dict) -> Any:
    x = a["self"]
    for d in a["dims"]:
        x = im.call("flip", [x], axis=_axis(d, im.ndim(x)))
    return x


@_converts("cumsum", needs=("cumsum",))
def _cumsum(im: _Importer, a: dict) -> Any:
    x = im.cast(a["self"], im.out_dtype())
    return im.call("cumsum", [x], axis=_axis(a["dim"], im.ndim(x)))


# ---------------------------------------------------------------- new tensors


@_converts("arange", needs=("arange",))
def _arange(im: _Importer, a: dict) -> Any:
    start, end, step = (0, a["end"], 1) if "start" not in a else \
        (a["start"], a["end"], a.get("step", 1))
    return im.call("arange", [], start=start, end=end, step=step, dtype=im.out_dtype())


@_converts("full", "zeros", "ones", "empty", "new_full", "new_zeros", "new_ones", "new_empty",
           "full_like", "zeros_like", "ones_like", "empty_like", "scalar_tensor", "fill")
def _full(im: _Importer, a: dict) -> Any:
    name = im.node.target._opname
    value = a.get("fill_value", a.get("value", a.get("s")))
    if value is None:
        value = 1 if "ones" in name else 0
    if isinstance(value, G.GraphExpr):
        raise im.error("a fill value that is a tensor is not supported")
    dtype = im.out_dtype()
    return im.call("full", [], shape=im.out_shape(),
                   fill_value=G.Constant(np.array(value, dtype=dtype)), dtype=dtype)


# ---------------------------------------------------------------- symbolic sizes


@_converts("sym_size")
def _sym_size(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return im.shape(x)[a["dim"]] if a.get("dim") is not None else im.shape(x)


@_converts("sym_numel")
def _sym_numel(im: _Importer, a: dict) -> Any:
    return math.prod(im.shape(a["self"]))


def _python(fn: Callable) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        return fn(*a.values())

    return convert


for _name, _fn in {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                   "floordiv": operator.floordiv, "mod": operator.mod,
                   "neg": operator.neg}.items():
    _converts(f"operator.{_name}")(_python(_fn))
