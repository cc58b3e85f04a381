"""Kernels (written with ``tvmscript.te``) of the shape and data-movement operators.

Each kernel is one spatial block per output (no reductions, no intermediate buffers), so a
fusion pass sees it as injective and can merge it into its neighbours. Reads that depend on a
condition (concatenation, padding) use ``if_then_else``, which evaluates only the chosen side,
so no kernel reads outside its inputs; indices read from tensors are clamped for the same
reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tvmscript import te
from tvmscript.ir import PrimFunc
from tvmscript.ir import expr as E
from tvmscript.ir import graph as G
from tvmscript.ir.expr import PrimExpr, Var
from tvmscript.ir.graph_ops_shape import permutation, slice_ranges, split_ranges

from ..legalize_ops import LegalizeError, register_legalization
from .sizes import OwnSizes

Index = Sequence[PrimExpr]


class _Kernel:
    """The te tensors of one kernel. Graph-level size variables become the kernel's own
    (``te.var``), which it binds from its parameters' shapes; a size that is an expression of
    variables no parameter has as a whole size (``2 * n`` alone) becomes a size of its own."""

    def __init__(self, name: str, args: list, out: G.StructInfo) -> None:
        self.name = name
        self.inputs: list[te.Tensor] = []
        self.own = OwnSizes(d for s in [*args, out] for t in _tensors(s) for d in t.shape
                            if isinstance(d, Var))

    def dim(self, d: Any) -> PrimExpr:
        return self.own.dim(d)

    def shape(self, shape: Sequence[Any]) -> tuple[PrimExpr, ...]:
        return tuple(self.dim(d) for d in shape)

    def input(self, sinfo: G.TensorStructInfo) -> te.Tensor:
        t = te.placeholder(self.shape(sinfo.shape), sinfo.dtype, name="ABCDEFGH"[
            len(self.inputs)] if len(self.inputs) < 8 else f"A{len(self.inputs)}")
        self.inputs.append(t)
        return t

    def finish(self, *outputs: te.Tensor) -> PrimFunc:
        return te.create_prim_func([*self.inputs, *outputs], name=self.name)

    def compute(self, out: G.TensorStructInfo, fn: Callable[..., PrimExpr],
                name: str | None = None) -> te.Tensor:
        return te.compute(self.shape(out.shape), fn, name=name or "T_" + self.name,
                          dtype=out.dtype)


def _tensors(sinfo: G.StructInfo) -> list[G.TensorStructInfo]:
    if isinstance(sinfo, G.TupleStructInfo):
        return [t for f in sinfo.fields for t in _tensors(f)]
    return [sinfo]


def _i64(x: PrimExpr) -> PrimExpr:
    return te.cast(x, "int64")


def _clamp(i: PrimExpr, n: PrimExpr) -> PrimExpr:
    """``i`` within ``[0, n)`` (``n`` at least 1 wherever a read happens)."""
    return E.Max(E.Min(i, n - te.const(1, "int64")), te.const(0, "int64"))


def _unravel(flat: PrimExpr, shape: Sequence[PrimExpr]) -> list[PrimExpr]:
    """The row-major index of element ``flat`` of a tensor of ``shape``."""
    index = []
    for d in reversed(shape[1:]):
        index.append(E.FloorMod(flat, d))
        flat = E.FloorDiv(flat, d)
    return [flat, *index[::-1]] if shape else []


def _ravel(index: Index, shape: Sequence[PrimExpr]) -> PrimExpr:
    if not index:
        return te.const(0, "int64")
    flat = index[0]
    for i, d in zip(index[1:], shape[1:]):
        flat = flat * d + i
    return flat


def _plus(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    """``a + b``, leaving out a constant 0 (so kernels read as they would be written)."""
    return a if _is_zero(b) else b if _is_zero(a) else a + b


def _is_zero(e: PrimExpr) -> bool:
    return isinstance(e, E.IntImm) and e.value == 0


def _one_input(name: str) -> Callable:
    """Register a kernel of one input and one output: ``fn(call, A, out_shape)`` gives the
    value at an output index."""
    def wrap(fn: Callable[..., Callable[..., PrimExpr]]) -> Callable:
        @register_legalization(name)
        def legalize(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
            k = _Kernel(name.split(".")[-1], args, out)
            a = k.input(args[0])
            return k.finish(k.compute(out, fn(call, a, k.shape(out.shape))))
        return legalize
    return wrap


# ---------------------------------------------------------------- same elements, new layout


@_one_input("reshape")
def _reshape(call, a, out_shape):
    return lambda *ivs: a[tuple(_unravel(_ravel(ivs, out_shape), a.shape))]


@_one_input("flatten")
def _flatten(call, a, out_shape):
    return lambda i: a[tuple(_unravel(i, a.shape))]


@_one_input("squeeze")
def _squeeze(call, a, out_shape):
    kept = [i for i, d in enumerate(a.shape) if len(out_shape) == len(a.shape) or
            not _dropped(call, i, len(a.shape), d)]
    zero = te.const(0, "int64")

    def value(*ivs):
        index = [zero] * len(a.shape)
        for axis, iv in zip(kept, ivs):
            index[axis] = iv
        return a[tuple(index)]
    return value


def _dropped(call: G.Call, i: int, ndim: int, d: PrimExpr) -> bool:
    axis = call.attrs.get("axis")
    if axis is None:
        return isinstance(d, E.IntImm) and d.value == 1
    return i in [x % ndim for x in axis]


@_one_input("expand_dims")
def _expand_dims(call, a, out_shape):
    ndim = len(out_shape)
    new = {x % ndim for x in call.attrs["axis"]}
    return lambda *ivs: a[tuple(iv for i, iv in enumerate(ivs) if i not in new)]


@_one_input("permute_dims")
def _permute_dims(call, a, out_shape):
    axes = permutation("permute_dims", call.attrs.get("axes"), len(a.shape))

    def value(*ivs):
        index = [None] * len(axes)
        for out_dim, in_dim in enumerate(axes):
            index[in_dim] = ivs[out_dim]
        return a[tuple(index)]
    return value


@_one_input("broadcast_to")
def _broadcast_to(call, a, out_shape):
    return lambda *ivs: a[_broadcast(a.shape, ivs)]


def _broadcast(shape: Sequence[PrimExpr], ivs: Index) -> tuple[PrimExpr, ...]:
    """The index of an input of ``shape`` broadcast to the rank of ``ivs`` (numpy rules)."""
    ivs = ivs[len(ivs) - len(shape):]
    return tuple(te.const(0, "int64") if isinstance(d, E.IntImm) and d.value == 1 else iv
                 for d, iv in zip(shape, ivs))


@_one_input("tile")
def _tile(call, a, out_shape):
    def value(*ivs):
        ivs = ivs[len(ivs) - len(a.shape):]
        return a[tuple(E.FloorMod(iv, d) for iv, d in zip(ivs, a.shape))]
    return value


@_one_input("repeat")
def _repeat(call, a, out_shape):
    reps = te.const(call.attrs["repeats"], "int64")
    axis = call.attrs.get("axis")
    if axis is None:
        return lambda i: a[tuple(_unravel(E.FloorDiv(i, reps), a.shape))]
    ax = axis % len(a.shape)
    return lambda *ivs: a[tuple(E.FloorDiv(iv, reps) if d == ax else iv
                                for d, iv in enumerate(ivs))]


@_one_input("strided_slice")
def _strided_slice(call, a, out_shape):
    ranges = slice_ranges(call.attrs, a.shape)

    def value(*ivs):
        return a[tuple(ranges[d][0] + iv * te.const(ranges[d][1], "int64") if d in ranges
                       else iv for d, iv in enumerate(ivs))]
    return value


# ---------------------------------------------------------------- joining and cutting


@register_legalization("concat")
def _concat(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
    k = _Kernel("concatenate", args, out)
    parts = [k.input(f) for f in args[0].fields]
    axis = call.attrs.get("axis", 0)
    flat = axis is None
    ax = 0 if flat else axis % len(out.shape)
    sizes = [_numel(p.shape) if flat else p.shape[ax] for p in parts]

    def read(p: te.Tensor, ivs: Index, at: PrimExpr) -> PrimExpr:
        if flat:
            return p[tuple(_unravel(at, p.shape))]
        return p[tuple(at if d == ax else iv for d, iv in enumerate(ivs))]

    offsets = [te.const(0, "int64")]
    for s in sizes[:-1]:
        offsets.append(_plus(offsets[-1], s))

    def value(*ivs):
        i = ivs[ax]
        result = read(parts[-1], ivs, _minus(i, offsets[-1]))
        for p, start, end in reversed(list(zip(parts[:-1], offsets, offsets[1:]))):
            result = te.if_then_else(i < end, read(p, ivs, _minus(i, start)), result)
        return result

    return k.finish(k.compute(out, value))


def _minus(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    return a if _is_zero(b) else a - b


def _numel(shape: Sequence[PrimExpr]) -> PrimExpr:
    n: PrimExpr = shape[0] if shape else te.const(1, "int64")
    for d in shape[1:]:
        n = n * d
    return n


@register_legalization("split")
def _split(call: G.Call, args: list, out: G.StructInfo) -> PrimFunc:
    k = _Kernel("split", args, out)
    a = k.input(args[0])
    ax = call.attrs.get("axis", 0) % len(a.shape)
    ranges = split_ranges(call.attrs, a.shape[ax])
    if ranges is None:  # one section: the tensor itself
        return k.finish(k.compute(out, lambda *ivs: a[ivs]))
    pieces = []
    for n, ((start, _size), sinfo) in enumerate(zip(ranges, out.fields)):
        pieces.append(k.compute(sinfo, lambda *ivs, start=start: a[tuple(
            _plus(iv, start) if d == ax else iv for d, iv in enumerate(ivs))],
            name=f"T_split_{n}"))
    return k.finish(*pieces)


# ---------------------------------------------------------------- indexing


def _normalized(i: PrimExpr, n: PrimExpr, mode: str) -> PrimExpr:
    """A read index from an index value: ``wrap`` takes it modulo ``n``, ``clip`` clamps it;
    ``fast`` counts negative values from the end (as ONNX Gather) and clamps the rest only so
    that a bad index cannot read outside the tensor."""
    i = _i64(i)
    if mode == "wrap":
        return E.FloorMod(i, n)
    if mode == "fast":
        i = E.Select(i < te.const(0, "int64"), i + n, i)
    return _clamp(i, n)


@register_legalization("take")
def _take(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
    k = _Kernel("take", args, out)
    a, idx = k.input(args[0]), k.input(args[1])
    axis = call.attrs.get("axis")
    ax = 0 if axis is None else axis % len(a.shape)
    mode = call.attrs.get("mode", "fast")
    m = len(idx.shape)

    def value(*ivs):
        at = _normalized(idx[tuple(ivs[ax:ax + m])], a.shape[ax], mode)
        return a[tuple(ivs[:ax]) + (at,) + tuple(ivs[ax + m:])]

    return k.finish(k.compute(out, value))


@register_legalization("gather_elements")
def _gather_elements(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
    k = _Kernel("gather_elements", args, out)
    a, idx = k.input(args[0]), k.input(args[1])
    ax = call.attrs.get("axis", 0) % len(a.shape)

    def value(*ivs):
        at = _normalized(idx[ivs], a.shape[ax], "fast")
        return a[tuple(at if d == ax else iv for d, iv in enumerate(ivs))]

    return k.finish(k.compute(out, value))


@register_legalization("one_hot")
def _one_hot(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
    k = _Kernel("one_hot", args, out)
    idx = k.input(args[0])
    depth = te.const(call.attrs["depth"], "int64")
    ax = call.attrs.get("axis", -1) % len(out.shape)
    on, off = (te.const(call.attrs[key].value, out.dtype) for key in ("on_value", "off_value"))

    def value(*ivs):
        i = _i64(idx[tuple(ivs[:ax]) + tuple(ivs[ax + 1:])])
        i = E.Select(i < te.const(0, "int64"), i + depth, i)
        return te.select(E.EQ(i, ivs[ax]), on, off)

    return k.finish(k.compute(out, value))


# ---------------------------------------------------------------- padding


@_one_input("nn.pad")
def _pad(call, a, out_shape):
    width = call.attrs["pad_width"]
    mode = call.attrs.get("pad_mode", "constant")
    fill = te.const(call.attrs.get("pad_value", 0.0), a.dtype)

    def source(d: int, iv: PrimExpr) -> PrimExpr:
        j, n = iv - te.const(width[2 * d], "int64"), a.shape[d]
        if mode == "edge":
            return _clamp(j, n)
        if mode == "reflect":  # numpy's reflect: the edge element is not repeated
            j = E.Select(j < te.const(0, "int64"), te.const(0, "int64") - j, j)
            return E.Select(j >= n, (n - te.const(1, "int64")) * te.const(2, "int64") - j, j)
        return j

    def value(*ivs):
        index = tuple(source(d, iv) for d, iv in enumerate(ivs))
        if mode != "constant":
            return a[index]
        inside = te.all_of(*(E.And(j >= te.const(0, "int64"), j < n)
                             for j, n in zip(index, a.shape)))
        return te.if_then_else(inside, a[index], fill) if index else a[index]

    return value


# ---------------------------------------------------------------- creation


def _filled(name: str, value: Callable[[G.TensorStructInfo], PrimExpr],
            like: bool = False) -> None:
    @register_legalization(name)
    def legalize(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
        k = _Kernel(name, args, out)
        if like:  # the kernel takes x only for its shape, as TVM's does
            k.input(args[0])
        fill = value(call, k, out)
        return k.finish(k.compute(out, lambda *ivs: fill))


def _constant_fill(call: G.Call, k: _Kernel, out: G.TensorStructInfo) -> PrimExpr:
    return te.const(call.attrs["fill_value"].data.item(), out.dtype)


def _tensor_fill(call: G.Call, k: _Kernel, out: G.TensorStructInfo) -> PrimExpr:
    return te.cast(k.input(call.args[1].struct_info)[()], out.dtype)


_filled("full", _constant_fill)
_filled("zeros", lambda call, k, out: te.const(0, out.dtype))
_filled("ones", lambda call, k, out: te.const(1, out.dtype))
_filled("full_like", _tensor_fill, like=True)
_filled("zeros_like", lambda call, k, out: te.const(0, out.dtype), like=True)
_filled("ones_like", lambda call, k, out: te.const(1, out.dtype), like=True)


@register_legalization("arange")
def _arange(call: G.Call, args: list, out: G.TensorStructInfo) -> PrimFunc:
    k = _Kernel("arange", args, out)
    start, step = (call.attrs[key] for key in ("start", "step"))
    if isinstance(start, PrimExpr):
        raise LegalizeError(f"R.arange: a symbolic start ({start}) has no kernel yet; only "
                            "end may be symbolic")
    wide = "float64" if out.dtype.is_float else "int64"
    return k.finish(k.compute(out, lambda i: te.cast(
        te.const(start, wide) + te.cast(i, wide) * te.const(step, wide), out.dtype)))
