"""Graph-level shape and data-movement operators: registration, attributes and shape/dtype
inference (their kernels are in ``passes/legalize/shape_ops.py``).

Names, argument order and attributes are Apache TVM's. Where TVM passes a shape or a scalar as a
graph value (``R.reshape(x, R.shape([2, 12]))``, ``R.arange(0, 10, 2)``, ``R.full(R.shape([2]),
R.const(1.5, "float32"))``), it is an attribute here, so kernels take tensors only; TVM's
positional spelling is read into the attribute. Sizes may be symbolic (int64 expressions of the
function's size variables); what cannot be decided statically is assumed to hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import expr as E
from .dtype import DataType, DTypeError
from .dtype import dtype as as_dtype
from .expr import FloatImm, IntImm, PrimExpr
from .graph import (
    Call,
    Constant,
    PrimValue,
    ShapeExpr,
    StructInfo,
    TensorStructInfo,
    TupleStructInfo,
)
from .graph_ops import GraphTypeError, _axes, _fmt, _fold, _same, register_op, tensor_arg

# ---------------------------------------------------------------- attribute forms


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _plain(v: Any) -> Any:
    """An attribute value as a script writes it: integer constants as ints, tuples for lists,
    a shape value's sizes (``R.shape([2, n])``) as a tuple, a ``R.prim_value`` as its value."""
    if isinstance(v, PrimValue):
        v = v.value
    if isinstance(v, ShapeExpr):
        return tuple(_plain(x) for x in v.values)
    if isinstance(v, IntImm) and not v.dtype.is_bool:
        return v.value
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def _listed(*keys: str) -> Callable[[dict], dict]:
    """Normalizer: these attributes are tuples (an int ``axis=1`` is ``(1,)``, as TVM stores
    it); None stays None."""
    def normalize(attrs: dict) -> dict:
        out = dict(attrs)
        for key in keys:
            v = _plain(out.get(key))
            out[key] = (v,) if _is_int(v) or isinstance(v, PrimExpr) else v
        return out
    return normalize


def _dtype_str(attrs: dict, key: str = "dtype") -> dict:
    v = attrs.get(key)
    return {**attrs, key: str(v)} if isinstance(v, DataType) else attrs


def _ints(op: str, key: str, value: Any, low: int | None = None) -> tuple[int, ...]:
    """A list-of-integers attribute, each at least ``low``."""
    if not isinstance(value, tuple) or not all(_is_int(v) for v in value):
        raise GraphTypeError(f"R.{op}: {key} must be a list of integers, got {value!r}")
    for v in value:
        if low is not None and v < low:
            raise GraphTypeError(f"R.{op}: {key} entries must be at least {low}, got {value}")
    return value


def _int(op: str, key: str, value: Any, low: int | None = None) -> int:
    if not _is_int(value):
        raise GraphTypeError(f"R.{op}: {key} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise GraphTypeError(f"R.{op}: {key} must be at least {low}, got {value}")
    return value


def _dtype(op: str, value: Any, default: DataType | None = None) -> DataType:
    if value is None or value == "":
        if default is None:
            raise GraphTypeError(f"R.{op} needs a dtype (dtype=\"float32\", ...)")
        return default
    try:
        return as_dtype(value)
    except (DTypeError, TypeError, ValueError) as exc:
        raise GraphTypeError(f"R.{op}: dtype: {exc}") from None


def target_shape(op: str, shape: Any, key: str = "shape") -> tuple:
    """A shape attribute: non-negative ints and integer size expressions."""
    if not isinstance(shape, tuple):
        raise GraphTypeError(f"R.{op}: {key} must be a list of sizes, got {shape!r}")
    for size in shape:
        if isinstance(size, str):
            raise GraphTypeError(f"R.{op}: the size {size!r} is a string; a symbolic size is "
                                 f"a variable of the function (`{size} = T.int64()`, then "
                                 f"`{key}=({size}, ...)`)")
        if _is_int(size):
            if size < 0:
                raise GraphTypeError(f"R.{op}: sizes are non-negative, got {shape}")
        elif not (isinstance(size, PrimExpr) and size.dtype.is_integer):
            raise GraphTypeError(f"R.{op}: a size is an integer or an integer expression, "
                                 f"got {size!r} in {key} {shape}")
    return shape


# ---------------------------------------------------------------- size arithmetic


def _c(v: int) -> IntImm:
    return IntImm("int64", v)


def _static(e: Any) -> int | None:
    if _is_int(e):
        return e
    return e.value if isinstance(e, IntImm) else None


def _prod(sizes: Any) -> PrimExpr:
    """The product of sizes, constants multiplied out."""
    const, rest = 1, []
    for s in sizes:
        v = _static(s)
        if v is None:
            rest.append(s)
        else:
            const *= v
    if const == 0 or not rest:
        return _c(const)
    out = rest[0]
    for s in rest[1:]:
        out = out * s
    return out if const == 1 else _fold(out * _c(const))


def _quotient(dims: tuple, by: list) -> PrimExpr:
    """``prod(dims) // prod(by)`` with equal symbolic factors cancelled."""
    num = [d for d in dims if _static(d) is None]
    den = []
    for s in by:
        if _static(s) is not None:
            continue
        match = next((i for i, d in enumerate(num) if _same(d, E.convert(s))), None)
        if match is None:
            den.append(s)
        else:
            num.pop(match)
    nc = math.prod(_static(d) for d in dims if _static(d) is not None)
    dc = math.prod(_static(s) for s in by if _static(s) is not None)
    if den or (num and nc % dc):
        return _fold(_prod(dims) // _prod(by))
    return _prod(num + [nc // dc])


def _min(a: Any, b: Any) -> PrimExpr:
    return _fold(E.Min(E.convert(a) if not _is_int(a) else _c(a), _c(b) if _is_int(b) else b))


def _max(a: Any, b: Any) -> PrimExpr:
    return _fold(E.Max(E.convert(a) if not _is_int(a) else _c(a), _c(b) if _is_int(b) else b))


def _add(a: Any, b: int) -> PrimExpr:
    return _c(a + b) if _is_int(a) else _fold(a + _c(b))


# ---------------------------------------------------------------- reshape, flatten, permute_dims


def _reshape_attrs(attrs: dict) -> dict:
    """``shape`` as sizes: ``R.shape([2, 12])`` (TVM's spelling) is the tuple ``(2, 12)``."""
    return _listed("shape")(attrs)


@register_op("reshape", 1, {"shape": ()}, doc="same elements, new shape (one -1 is inferred)",
             positional=("shape",), normalize=_reshape_attrs)
def _reshape(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    return TensorStructInfo(reshaped(a, call.attrs.get("shape", ())), a.dtype)


def reshaped(a: TensorStructInfo, shape: Any) -> tuple:
    """The new shape, its one ``-1`` inferred (symbolic factors cancelled); the element count
    must stay the same where it is static."""
    if isinstance(shape, tuple):
        infer = [s for s in shape if _is_int(s) and s < 0]
        if len(infer) > 1 or any(s < -1 for s in infer):
            raise GraphTypeError(f"R.reshape: sizes are non-negative, with at most one -1 to "
                                 f"infer, got {shape}")
    rest = target_shape("reshape", tuple(s for s in shape if not _minus_one(s))
                        if isinstance(shape, tuple) else shape)
    inferring = len(rest) < len(shape)
    if inferring and any(_static(s) == 0 for s in rest):
        raise GraphTypeError(f"R.reshape: the -1 in shape {shape} is ambiguous beside a size 0")
    total = _count(a)
    if all(_is_int(s) for s in rest) and total is not None:
        known = math.prod(rest)
        if not (total % known == 0 if inferring and known else total == known):
            counted = "" if inferring else f" ({known} elements)"
            raise GraphTypeError(f"R.reshape: cannot reshape {total} elements (shape "
                                 f"{_fmt(a.shape)}) into shape {shape}{counted}")
    if not inferring:
        return shape
    if a.shape is None:
        raise GraphTypeError(f"R.reshape: cannot infer the -1 in shape {shape} for an input "
                             "of unknown shape")
    inferred = _quotient(a.shape, list(rest))
    return tuple(inferred if _minus_one(s) else s for s in shape)


def _minus_one(s: Any) -> bool:
    return _is_int(s) and s == -1


def _count(a: TensorStructInfo) -> int | None:
    """How many elements ``a`` has, when its shape is static."""
    if a.shape is None or not all(isinstance(s, IntImm) for s in a.shape):
        return None
    return math.prod(s.value for s in a.shape)


@register_op("flatten", 1, doc="all elements in one dimension (a scalar becomes shape (1,))")
def _flatten(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, 1)
    return TensorStructInfo((_prod(a.shape),), a.dtype)


def permutation(op: str, axes: Any, ndim: int) -> list[int]:
    """The permutation ``axes`` (None reverses the axes; negative axes count from the end)."""
    if axes is None:
        return list(range(ndim))[::-1]
    if not isinstance(axes, tuple) or len(axes) != ndim:
        raise GraphTypeError(f"R.{op}: axes {axes!r} are not a permutation of 0..{ndim - 1}")
    return _axes(op, axes, ndim)


@register_op("permute_dims", 1, {"axes": None}, doc="transpose; axes None reverses them",
             positional=("axes",), normalize=_listed("axes"))
def _permute(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, a.ndim)
    axes = permutation("permute_dims", call.attrs.get("axes"), len(a.shape))
    return TensorStructInfo(tuple(a.shape[i] for i in axes), a.dtype)


# ---------------------------------------------------------------- squeeze, expand_dims, broadcast


@register_op("squeeze", 1, {"axis": None}, positional=("axis",), normalize=_listed("axis"),
             doc="drop axes of size 1 (all static ones when axis is None)")
def _squeeze(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    axis = call.attrs.get("axis")
    if a.shape is None:
        ndim = a.ndim - len(axis) if axis is not None and a.ndim >= 0 else -1
        return TensorStructInfo(None, a.dtype, ndim)
    if axis is None:
        return TensorStructInfo(tuple(s for s in a.shape if _static(s) != 1), a.dtype)
    axes = _axes("squeeze", axis, len(a.shape))
    for i in axes:
        if _static(a.shape[i]) not in (None, 1):
            raise GraphTypeError(f"R.squeeze: axis {i} has size {a.shape[i].value}, not 1, "
                                 f"in shape {_fmt(a.shape)}")
    return TensorStructInfo(tuple(s for i, s in enumerate(a.shape) if i not in axes), a.dtype)


@register_op("expand_dims", 1, {"axis": None}, positional=("axis",), normalize=_listed("axis"),
             doc="insert axes of size 1 (axis counts positions of the result)")
def _expand_dims(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    axis = call.attrs.get("axis")
    if axis is None:
        raise GraphTypeError("R.expand_dims needs axis (an int or a list of ints)")
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, a.ndim + len(axis) if a.ndim >= 0 else -1)
    ndim = len(a.shape) + len(axis)
    axes = _axes("expand_dims", axis, ndim)
    rest = iter(a.shape)
    return TensorStructInfo(tuple(_c(1) if i in axes else next(rest) for i in range(ndim)),
                            a.dtype)


@register_op("broadcast_to", 1, {"shape": ()}, positional=("shape",), normalize=_listed("shape"),
             doc="repeat along axes of size 1 (numpy broadcasting) to the given shape")
def _broadcast_to(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    shape = target_shape("broadcast_to", call.attrs.get("shape"))
    if a.shape is None:
        return TensorStructInfo(shape, a.dtype)
    if len(a.shape) > len(shape):
        raise GraphTypeError(f"R.broadcast_to: cannot broadcast rank {len(a.shape)} "
                             f"{_fmt(a.shape)} to the lower rank {len(shape)} of {shape}")
    for d, t in zip(reversed(a.shape), reversed(shape)):
        if _static(d) not in (None, 1) and _static(t) is not None and _static(t) != _static(d):
            raise GraphTypeError(f"R.broadcast_to: shape {_fmt(a.shape)} does not broadcast "
                                 f"to {shape} (size {_static(d)} against {_static(t)})")
    return TensorStructInfo(shape, a.dtype)


# ---------------------------------------------------------------- concat, split


def _tuple_arg(call: Call, op: str) -> list[TensorStructInfo]:
    sinfo = call.args[0].struct_info
    if not isinstance(sinfo, TupleStructInfo) or not sinfo.fields:
        raise GraphTypeError(f"R.{op} expects a non-empty tuple of tensors as argument 0, "
                             f"e.g. R.{op}((a, b), axis=0)")
    for i, f in enumerate(sinfo.fields):
        if not isinstance(f, TensorStructInfo):
            raise GraphTypeError(f"R.{op}: field {i} of the tuple is not a tensor")
    return list(sinfo.fields)


@register_op("concat", 1, {"axis": 0}, positional=("axis",),
             doc="join tensors along an axis (axis None: flattened, as numpy)")
def _concat(call: Call) -> StructInfo:
    parts = _tuple_arg(call, "concat")
    dts = {p.dtype for p in parts if not p.dtype.is_void}
    if len(dts) > 1:
        raise GraphTypeError(f"R.concat: the tensors have different dtypes "
                             f"{', '.join(sorted(map(str, dts)))}")
    dt = dts.pop() if dts else parts[0].dtype
    axis = call.attrs.get("axis", 0)
    if axis is None:
        if any(p.shape is None for p in parts):
            return TensorStructInfo(None, dt, 1)
        return TensorStructInfo((_fold(_add_all([_prod(p.shape) for p in parts])),), dt)
    if any(p.shape is None for p in parts):
        ndims = {p.ndim for p in parts} - {-1}
        return TensorStructInfo(None, dt, ndims.pop() if len(ndims) == 1 else -1)
    ranks = {len(p.shape) for p in parts}
    if len(ranks) > 1:
        raise GraphTypeError(f"R.concat: the tensors have different ranks "
                             f"{', '.join(_fmt(p.shape) for p in parts)}")
    ndim = ranks.pop()
    if ndim == 0:
        raise GraphTypeError("R.concat cannot join scalars (rank 0); expand_dims them first")
    ax = _axes("concat", axis, ndim)[0]
    first = parts[0].shape
    for p in parts[1:]:
        for i, (x, y) in enumerate(zip(first, p.shape)):
            if i != ax and _static(x) is not None and _static(y) is not None and \
                    _static(x) != _static(y):
                raise GraphTypeError(f"R.concat: shapes {_fmt(first)} and {_fmt(p.shape)} "
                                     f"differ in axis {i}, which is not the joined axis {ax}")
    size = _fold(_add_all([p.shape[ax] for p in parts]))
    return TensorStructInfo(first[:ax] + (size,) + first[ax + 1:], dt)


def _add_all(sizes: list) -> PrimExpr:
    out = sizes[0]
    for s in sizes[1:]:
        out = out + s
    return out


def split_ranges(op_attrs: Any, dim: PrimExpr) -> list[tuple[PrimExpr, PrimExpr]] | None:
    """(begin, size) of each piece of ``R.split`` along an axis of size ``dim``; None for
    ``indices_or_sections=1`` (TVM's split then returns the tensor, not a tuple)."""
    spec = op_attrs.get("indices_or_sections")
    n = _static(dim)
    if _is_int(spec):
        if spec == 1:
            return None
        chunk = -(-n // spec) if n is not None else _fold((dim + _c(spec - 1)) // _c(spec))
        if n is not None:
            return [(_c(min(i * chunk, n)), _c(max(0, min(chunk, n - i * chunk))))
                    for i in range(spec)]
        last = _fold(dim - chunk * _c(spec - 1))
        return [(_fold(chunk * _c(i)), chunk if i < spec - 1 else last) for i in range(spec)]
    bounds = [0, *spec]
    out = []
    for i, b in enumerate(bounds):
        if n is not None:
            end = min(bounds[i + 1], n) if i + 1 < len(bounds) else n
            out.append((_c(min(b, n)), _c(max(0, end - min(b, n)))))
            continue
        begin = _min(b, dim) if b else _c(0)
        if i + 1 == len(bounds):
            out.append((begin, _max(_fold(dim - _c(b)), 0)))
        else:
            end = _min(bounds[i + 1], dim)
            out.append((begin, end if not b else _max(_fold(end - begin), 0)))
    return out


def _split_attrs(attrs: dict) -> dict:
    return {**attrs, "indices_or_sections": _plain(attrs.get("indices_or_sections"))}


@register_op("split", 1, {"indices_or_sections": None, "axis": 0},
             positional=("indices_or_sections", "axis"), normalize=_split_attrs,
             doc="cut into equal sections (the last may be smaller) or at the given indices")
def _split(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    spec = call.attrs.get("indices_or_sections")
    if _is_int(spec):
        _int("split", "indices_or_sections", spec, 1)
        count = spec
    elif isinstance(spec, tuple):
        _ints("split", "indices_or_sections", spec, 0)
        count = len(spec) + 1
    else:
        raise GraphTypeError(f"R.split: indices_or_sections must be a number of sections or a "
                             f"list of indices, got {spec!r}")
    axis = _int("split", "axis", call.attrs.get("axis", 0))
    if a.shape is None:
        if count == 1:
            return a
        return TupleStructInfo(tuple(TensorStructInfo(None, a.dtype, a.ndim)
                                     for _ in range(count)))
    ax = _axes("split", axis, len(a.shape))[0]
    ranges = split_ranges(call.attrs, a.shape[ax])
    if ranges is None:
        return a
    return TupleStructInfo(tuple(
        TensorStructInfo(a.shape[:ax] + (size,) + a.shape[ax + 1:], a.dtype)
        for _, size in ranges))


# ---------------------------------------------------------------- strided_slice


def slice_ranges(attrs: Any, shape: tuple) -> dict[int, tuple[PrimExpr, int, PrimExpr]]:
    """axis -> (first index, stride, size) of ``R.strided_slice``, as numpy slicing: negative
    bounds count from the end and every bound is clamped to the axis."""
    axes = attrs.get("axes")
    begin, end = attrs.get("begin"), attrs.get("end")
    strides = attrs.get("strides") or (1,) * len(axes)
    out = {}
    for ax, b, e, s in zip(_axes("strided_slice", axes, len(shape)), begin, end, strides):
        n = shape[ax]
        low = 0 if s > 0 else -1
        first, stop = _bound(b, n, low, low), _bound(e, n, low, low)
        span = stop - first if s > 0 else first - stop
        if _static(first) is not None and _static(stop) is not None:
            steps = (_static(stop) - _static(first)) // s
            size = _c(max(0, steps + ((_static(stop) - _static(first)) % s != 0)))
        elif abs(s) == 1:  # symbolic: TVM's forms, the bounds assumed ordered
            size = _fold(span)
        else:
            size = _fold(((stop + _c(s - 1)) - first if s > 0 else (first + _c(-s - 1)) - stop)
                         // _c(abs(s)))
        out[ax] = (first, s, size)
    return out


def _bound(v: int, n: PrimExpr, low: int, high_offset: int) -> PrimExpr:
    """``v`` (negative: from the end) clamped to ``[low, n + high_offset]``."""
    if _static(n) is not None:
        top = _static(n) + high_offset
        return _c(max(low, min(v + _static(n) if v < 0 else v, top)))
    if v < 0:
        return _min(_max(_add(n, v), low), _add(n, high_offset))
    return _min(v, _add(n, high_offset))


def _slice_attrs(attrs: dict) -> dict:
    out = _listed("axes", "begin", "end", "strides")(attrs)
    return {**out, "strides": out.get("strides") or None}


@register_op("strided_slice", 1, {"axes": None, "begin": None, "end": None, "strides": None,
                                  "assume_inbound": False},
             positional=("axes", "begin", "end", "strides", "assume_inbound"),
             normalize=_slice_attrs,
             doc="x[begin:end:stride] along the given axes (numpy / ONNX Slice bounds)")
def _strided_slice(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    lists = {k: call.attrs.get(k) for k in ("axes", "begin", "end")}
    for key, value in lists.items():
        if value is None:
            raise GraphTypeError(f"R.strided_slice needs {key} (a list of integers)")
        _ints("strided_slice", key, value)
    strides = call.attrs.get("strides")
    if strides is not None:
        _ints("strided_slice", "strides", strides)
        if 0 in strides:
            raise GraphTypeError(f"R.strided_slice: strides cannot be 0, got {strides}")
    counts = {k: len(v) for k, v in {**lists, "strides": strides}.items() if v is not None}
    if len(set(counts.values())) > 1:
        raise GraphTypeError("R.strided_slice: axes, begin, end and strides have different "
                             f"lengths ({', '.join(f'{k} {n}' for k, n in counts.items())})")
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, a.ndim)
    ranges = slice_ranges(call.attrs, a.shape)
    return TensorStructInfo(tuple(ranges[i][2] if i in ranges else s
                                  for i, s in enumerate(a.shape)), a.dtype)


# ---------------------------------------------------------------- take, gather_elements


def _indices(op: str, call: Call, i: int) -> TensorStructInfo:
    idx = tensor_arg(call, i)
    if not idx.dtype.is_void and not idx.dtype.is_integer:
        raise GraphTypeError(f"R.{op}: indices must be integers (int32 or int64), got "
                             f"{idx.dtype}")
    return idx


TAKE_MODES = ("fast", "wrap", "clip")


@register_op("take", 2, {"axis": None, "mode": "fast"}, positional=("axis", "mode"),
             doc="pick slices of x along axis at the indices (ONNX Gather)")
def _take(call: Call) -> StructInfo:
    a, idx = tensor_arg(call, 0), _indices("take", call, 1)
    mode = call.attrs.get("mode", "fast")
    if mode not in TAKE_MODES:
        raise GraphTypeError(f"R.take: mode must be one of {', '.join(TAKE_MODES)}, "
                             f"got {mode!r}")
    axis = call.attrs.get("axis")
    if a.shape is None or idx.shape is None:
        known = a.ndim >= 0 and idx.ndim >= 0
        return TensorStructInfo(None, a.dtype, a.ndim - 1 + idx.ndim if known else -1)
    if axis is None:
        if len(a.shape) != 1:
            raise GraphTypeError(f"R.take without axis needs 1-D data, got shape "
                                 f"{_fmt(a.shape)}; give axis=")
        axis = 0
    ax = _axes("take", _int("take", "axis", axis), len(a.shape))[0]
    return TensorStructInfo(a.shape[:ax] + idx.shape + a.shape[ax + 1:], a.dtype)


@register_op("gather_elements", 2, {"axis": 0}, positional=("axis",),
             doc="out[i..] = data[i.. with indices[i..] at axis] (ONNX GatherElements)")
def _gather_elements(call: Call) -> StructInfo:
    a, idx = tensor_arg(call, 0), _indices("gather_elements", call, 1)
    axis = _int("gather_elements", "axis", call.attrs.get("axis", 0))
    if a.ndim >= 0 and idx.ndim >= 0 and a.ndim != idx.ndim:
        raise GraphTypeError(f"R.gather_elements: data and indices have different ranks "
                             f"({a.ndim} and {idx.ndim})")
    if a.ndim >= 0:
        _axes("gather_elements", axis, a.ndim)
    if idx.shape is None:
        return TensorStructInfo(None, a.dtype, idx.ndim)
    return TensorStructInfo(idx.shape, a.dtype)


# ---------------------------------------------------------------- pad, tile, repeat


PAD_MODES = ("constant", "edge", "reflect")


def _pad_attrs(attrs: dict) -> dict:
    value = _plain(attrs.get("pad_value"))
    if isinstance(value, FloatImm):
        value = value.value
    return {**_listed("pad_width")(attrs),
            "pad_value": float(value) if _is_int(value) else value}


@register_op("nn.pad", 1, {"pad_width": (), "pad_value": 0.0, "pad_mode": "constant"},
             positional=("pad_width", "pad_mode", "pad_value"), normalize=_pad_attrs,
             doc="pad each axis (pad_width: before and after per axis, in axis order)")
def _pad(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    width = _ints("nn.pad", "pad_width", call.attrs.get("pad_width"))
    mode = call.attrs.get("pad_mode", "constant")
    if mode not in PAD_MODES:
        raise GraphTypeError(f"R.nn.pad: pad_mode must be one of {', '.join(PAD_MODES)}, "
                             f"got {mode!r}")
    if not isinstance(call.attrs.get("pad_value"), float):
        raise GraphTypeError(f"R.nn.pad: pad_value must be a number, got "
                             f"{call.attrs.get('pad_value')!r}")
    if a.ndim >= 0 and len(width) != 2 * a.ndim:
        raise GraphTypeError(f"R.nn.pad: pad_width needs 2 entries per axis (before, after), "
                             f"{2 * a.ndim} for rank {a.ndim}, got {len(width)}")
    if mode != "constant" and min(width, default=0) < 0:
        raise GraphTypeError(f"R.nn.pad: negative pad_width (cropping) needs "
                             f"pad_mode='constant', got {width} with {mode!r}")
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, a.ndim)
    out = []
    for i, n in enumerate(a.shape):
        lo, hi = width[2 * i], width[2 * i + 1]
        size = _add(_static(n) if _static(n) is not None else n, lo + hi)
        if _static(size) is not None and _static(size) < 0:
            raise GraphTypeError(f"R.nn.pad: axis {i} of size {_static(n)} cropped by "
                                 f"{-(lo + hi)} would have size {_static(size)}")
        n0 = _static(n)
        if mode == "edge" and (lo or hi) and n0 == 0:
            raise GraphTypeError(f"R.nn.pad: edge padding of axis {i} needs a non-empty axis")
        if mode == "reflect" and n0 is not None and max(lo, hi) > n0 - 1:
            raise GraphTypeError(f"R.nn.pad: reflect padding of axis {i} by ({lo}, {hi}) "
                                 f"needs pads below its size {n0}")
        out.append(size)
    return TensorStructInfo(tuple(out), a.dtype)


@register_op("tile", 1, {"repeats": ()}, positional=("repeats",), normalize=_listed("repeats"),
             doc="repeat the whole tensor along each axis (numpy.tile)")
def _tile(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    reps = _ints("tile", "repeats", call.attrs.get("repeats"), 0)
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, max(a.ndim, len(reps)) if a.ndim >= 0 else -1)
    rank = max(len(a.shape), len(reps))
    dims = (_c(1),) * (rank - len(a.shape)) + a.shape
    reps = (1,) * (rank - len(reps)) + reps
    return TensorStructInfo(tuple(_prod((d, r)) for d, r in zip(dims, reps)), a.dtype)


@register_op("repeat", 1, {"repeats": None, "axis": None}, positional=("repeats", "axis"),
             doc="repeat each element along axis (axis None: of the flattened tensor)")
def _repeat(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    reps = _int("repeat", "repeats", call.attrs.get("repeats"), 0)
    axis = call.attrs.get("axis")
    if axis is None:
        size = _prod((_prod(a.shape), reps)) if a.shape is not None else None
        return TensorStructInfo(None if size is None else (size,), a.dtype, 1)
    _int("repeat", "axis", axis)
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, a.ndim)
    ax = _axes("repeat", axis, len(a.shape))[0]
    return TensorStructInfo(a.shape[:ax] + (_prod((a.shape[ax], reps)),) + a.shape[ax + 1:],
                            a.dtype)


# ---------------------------------------------------------------- one_hot


def _scalar(v: Any) -> Any:
    """A scalar attribute as TVM stores it: Python ints are int64, floats float64."""
    v = v.value if isinstance(v, PrimValue) else v
    if isinstance(v, bool):
        return E.const(v, "bool")
    if _is_int(v):
        return E.const(v, "int64")
    if isinstance(v, float):
        return E.const(v, "float64")
    return v


def _one_hot_attrs(attrs: dict) -> dict:
    return {**attrs, "on_value": _scalar(attrs.get("on_value")),
            "off_value": _scalar(attrs.get("off_value")), "depth": _plain(attrs.get("depth"))}


@register_op("one_hot", 1, {"on_value": None, "off_value": None, "depth": None, "axis": -1},
             positional=("on_value", "off_value", "depth", "axis"), normalize=_one_hot_attrs,
             doc="on_value where the index equals the position along the new axis, else "
                 "off_value (negative indices count from depth, as in ONNX OneHot)")
def _one_hot(call: Call) -> StructInfo:
    idx = _indices("one_hot", call, 0)
    on, off = call.attrs.get("on_value"), call.attrs.get("off_value")
    for key, v in (("on_value", on), ("off_value", off)):
        if not isinstance(v, (IntImm, FloatImm)):
            raise GraphTypeError(f"R.one_hot: {key} must be a constant number (1.0, "
                                 f"T.float32(1)), got {v!r}")
    if on.dtype != off.dtype:
        raise GraphTypeError(f"R.one_hot: on_value and off_value have different dtypes "
                             f"{on.dtype} and {off.dtype}")
    depth = _int("one_hot", "depth", call.attrs.get("depth"), 0)
    axis = _int("one_hot", "axis", call.attrs.get("axis", -1))
    if idx.shape is None:
        return TensorStructInfo(None, on.dtype, idx.ndim + 1 if idx.ndim >= 0 else -1)
    ax = _axes("one_hot", axis, len(idx.shape) + 1)[0]
    return TensorStructInfo(idx.shape[:ax] + (_c(depth),) + idx.shape[ax:], on.dtype)


# ---------------------------------------------------------------- creation: arange, full, ...


def _arange_attrs(attrs: dict) -> dict:
    start, end, step = (_plain(attrs.get(k)) for k in ("start", "end", "step"))
    start, end, step = (v.value if isinstance(v, FloatImm) else v for v in (start, end, step))
    if end is None and start is not None:
        start, end = 0, start
    dtype = attrs.get("dtype")
    if dtype is None:
        ints = all(_is_int(v) or isinstance(v, PrimExpr) and v.dtype.is_integer
                   for v in (start, end, step))
        dtype = "int64" if ints else "float32"
    return _dtype_str({**attrs, "start": start, "end": end, "step": step, "dtype": dtype})


def arange_size(attrs: Any) -> PrimExpr:
    """How many values ``R.arange`` makes: ceil((end - start) / step), at least 0 where the
    bounds are numbers (symbolic bounds are assumed ordered, as TVM does)."""
    start, end, step = (attrs.get(k) for k in ("start", "end", "step"))
    for key, v in (("start", start), ("end", end), ("step", step)):
        if not (isinstance(v, (int, float)) and not isinstance(v, bool)) and \
                not (isinstance(v, PrimExpr) and v.dtype.is_integer and key != "step"):
            raise GraphTypeError(f"R.arange: {key} must be a number (or an integer size "
                                 f"expression for start and end), got {v!r}")
    if step == 0:
        raise GraphTypeError("R.arange: step cannot be 0")
    if all(isinstance(v, (int, float)) for v in (start, end)):
        return _c(max(0, math.ceil((end - start) / step)))
    if not all(_is_int(v) or isinstance(v, PrimExpr) for v in (start, end, step)):
        raise GraphTypeError("R.arange with a symbolic start or end needs integer start, end "
                             "and step")
    lo, hi = (E.convert(v) if not _is_int(v) else _c(v) for v in (start, end))
    span = hi - lo if step > 0 else lo - hi
    return _fold(span if abs(step) == 1 else (span + _c(abs(step) - 1)) // _c(abs(step)))


# start has no default so that it is always printed (TVM's arange requires it)
@register_op("arange", 0, {"start": None, "end": None, "step": 1, "dtype": None},
             positional=("start", "end", "step", "dtype"), normalize=_arange_attrs,
             doc="start, start + step, ... below end (R.arange(n) is 0..n-1)")
def _arange(call: Call) -> StructInfo:
    return TensorStructInfo((arange_size(call.attrs),), _dtype("arange", call.attrs["dtype"]))


def _full_attrs(attrs: dict) -> dict:
    out = _dtype_str(_listed("shape")(attrs))
    fill = _plain(out.get("fill_value"))
    if isinstance(fill, FloatImm):
        fill = fill.value
    if isinstance(fill, (int, float)):
        dtype = out.get("dtype")
        try:
            fill = _constant(fill, dtype)
        except (TypeError, ValueError):
            pass  # reported by the inference, at the call
    return {**out, "fill_value": fill}


def _constant(value: Any, dtype: Any) -> Constant:
    from .graph import const

    return const(value, dtype if dtype else None)


def _fill(op: str, value: Any) -> DataType:
    """The dtype of a fill value, which is a scalar constant (``R.const(1.5, "float32")``)."""
    if not isinstance(value, Constant) or value.data.ndim != 0:
        got = f"a constant of shape {value.data.shape}" if isinstance(value, Constant) else \
            f"variable {value.name}" if hasattr(value, "name") else repr(value)
        raise GraphTypeError(f"R.{op}: fill_value must be a scalar constant such as "
                             f"R.const(1.5, \"float32\") or a number, got {got}; for a "
                             f"computed value use R.full_like or R.broadcast_to")
    return value.struct_info.dtype


@register_op("full", 0, {"shape": (), "fill_value": None, "dtype": None},
             positional=("shape", "fill_value", "dtype"), normalize=_full_attrs,
             doc="a tensor of one value (dtype None: the fill value's)")
def _full(call: Call) -> StructInfo:
    shape = target_shape("full", call.attrs.get("shape"))
    if call.attrs.get("dtype") is not None:
        _dtype("full", call.attrs["dtype"])
    dt = _fill("full", call.attrs.get("fill_value"))
    return TensorStructInfo(shape, _dtype("full", call.attrs.get("dtype"), dt))


def _constant_op(name: str) -> None:
    def infer(call: Call) -> StructInfo:
        shape = target_shape(name, call.attrs.get("shape"))
        return TensorStructInfo(shape, _dtype(name, call.attrs.get("dtype")))

    register_op(name, 0, {"shape": (), "dtype": None}, positional=("shape", "dtype"),
                normalize=lambda attrs: _dtype_str(_listed("shape")(attrs)),
                doc=f"a tensor of {name}")(infer)


_constant_op("zeros")
_constant_op("ones")


@register_op("full_like", 2, {"dtype": None}, positional=("dtype",), normalize=_dtype_str,
             doc="x's shape filled with a scalar tensor's value (dtype None: x's)")
def _full_like(call: Call) -> StructInfo:
    a, fill = tensor_arg(call, 0), tensor_arg(call, 1)
    if fill.ndim > 0:
        raise GraphTypeError(f"R.full_like: fill_value must be a scalar (rank 0) tensor, "
                             f"got rank {fill.ndim}")
    return TensorStructInfo(a.shape, _dtype("full_like", call.attrs.get("dtype"), a.dtype),
                            a.ndim)


def _like_op(name: str) -> None:
    def infer(call: Call) -> StructInfo:
        a = tensor_arg(call, 0)
        return TensorStructInfo(a.shape, _dtype(name, call.attrs.get("dtype"), a.dtype), a.ndim)

    register_op(name, 1, {"dtype": None}, positional=("dtype",), normalize=_dtype_str,
                doc=f"x's shape filled with {name[:-5]} (dtype None: x's)")(infer)


_like_op("zeros_like")
_like_op("ones_like")


__all__ = [
    "PAD_MODES",
    "TAKE_MODES",
    "arange_size",
    "permutation",
    "reshaped",
    "slice_ranges",
    "split_ranges",
    "target_shape",
]
