"""Graph-level math operators: registration, attributes and shape/dtype inference.

Element-wise operators (arithmetic, comparisons, logic, activations, ``where``, ``astype``),
reductions (``sum``, ``mean``, ``variance``, ``argmax``, ...) and normalizations
(``nn.batch_norm``, ``nn.layer_norm``, ...), under Apache TVM 0.27's names, argument order and
attribute names, so scripts round-trip with TVM and the importers can rely on them. Where TVM has
no operator (``nn.hard_sigmoid``, ``nn.hard_swish``) the names follow TVM's style.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dtype import DataType, DTypeError
from .dtype import dtype as as_dtype
from .expr import FloatImm, IntImm, PrimExpr
from .graph import Call, PrimValue, StructInfo, TensorStructInfo, TupleStructInfo
from .graph_ops import (
    GraphTypeError,
    _axes,
    _dtype_of,
    _fmt,
    broadcast_shapes,
    register_op,
    tensor_arg,
)

BOOL = as_dtype("bool")
INT64 = as_dtype("int64")

# which dtypes an operator takes: the check and the words of its error
_KINDS: dict[str, tuple[Callable[[DataType], bool], str]] = {
    "float": (lambda dt: dt.is_float, "a float dtype"),
    "bool": (lambda dt: dt.is_bool, "dtype bool"),
    "number": (lambda dt: not dt.is_bool, "a numeric dtype (not bool)"),
    "any": (lambda dt: True, "any dtype"),
}


def _require(op: str, dt: DataType, kind: str, what: str = "a tensor") -> None:
    """Refuse an operand dtype the operator has no meaning for (unknown dtypes pass)."""
    ok, words = _KINDS[kind]
    if not dt.is_void and not ok(dt):
        raise GraphTypeError(f"R.{op} expects {what} of {words}, got {dt}")


def _number_attr(op: str, call: Call, name: str, optional: bool = False) -> float | None:
    value = call.attrs.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraphTypeError(f"R.{op}: attribute {name} must be a number, got {value!r}")
    return value


def _bool_attr(op: str, call: Call, name: str) -> bool:
    value = call.attrs.get(name)
    if not isinstance(value, bool):
        raise GraphTypeError(f"R.{op}: attribute {name} must be True or False, got {value!r}")
    return value


def _broadcast_sinfo(op: str, tensors: list[TensorStructInfo], dt: DataType) -> StructInfo:
    """The numpy broadcast of the operands' shapes, with dtype ``dt``."""
    if any(t.shape is None for t in tensors):
        ndims = [t.ndim for t in tensors]
        return TensorStructInfo(None, dt, max(ndims) if min(ndims) >= 0 else -1)
    shape = tensors[0].shape
    for t in tensors[1:]:
        shape = broadcast_shapes(op, shape, t.shape)
    return TensorStructInfo(shape, dt)


# ---------------------------------------------------------------- binary

def _binary(op: str, kind: str, out: DataType | None = None) -> Callable[[Call], StructInfo]:
    """Inference of a broadcasting binary operator: same-dtype operands, result dtype ``out``
    (the operands' dtype when None)."""

    def infer(call: Call) -> StructInfo:
        a, b = tensor_arg(call, 0), tensor_arg(call, 1)
        dt = _dtype_of(op, a, b)
        _require(op, dt, kind, "operands")
        return _broadcast_sinfo(op, [a, b], out or dt)

    return infer


_BINARY = {
    "add": "any", "subtract": "any", "multiply": "any", "divide": "any", "maximum": "any",
    "minimum": "any", "power": "any", "floor_divide": "number", "floor_mod": "number",
}
_COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
_LOGICAL = ("logical_and", "logical_or", "logical_xor")

for _name, _kind in _BINARY.items():
    register_op(_name, 2, doc=f"element-wise {_name} with numpy broadcasting")(
        _binary(_name, _kind))
for _name in _COMPARE:
    register_op(_name, 2, doc=f"element-wise {_name} (bool result) with numpy broadcasting")(
        _binary(_name, "any", BOOL))
for _name in _LOGICAL:
    register_op(_name, 2, doc=f"element-wise {_name} of bool tensors with numpy broadcasting")(
        _binary(_name, "bool", BOOL))


# ---------------------------------------------------------------- unary and activations

def _unary(op: str, kind: str, check: Callable[[Call], None] | None = None
           ) -> Callable[[Call], StructInfo]:
    """Inference of an element-wise operator: the result is shaped and typed as its operand."""

    def infer(call: Call) -> StructInfo:
        a = tensor_arg(call, 0)
        _require(op, a.dtype, kind)
        if check is not None:
            check(call)
        return a

    return infer


_UNARY = {
    "exp": "float", "log": "float", "sqrt": "float", "rsqrt": "float", "tanh": "float",
    "sigmoid": "float", "erf": "float", "sin": "float", "cos": "float",
    "negative": "number", "abs": "number", "floor": "number", "ceil": "number",
    "round": "number", "sign": "number", "square": "number", "logical_not": "bool",
    "nn.relu": "number", "nn.relu6": "number", "nn.gelu": "float", "nn.gelu_tanh": "float",
    "nn.silu": "float", "nn.hard_swish": "float",
}
_UNARY_DOC = {
    "round": "round half to even, as numpy and ONNX Round",
    "nn.relu6": "min(max(x, 0), 6)",
    "nn.gelu_tanh": "gelu with the tanh approximation",
    "nn.hard_swish": "x * relu6(x + 3) / 6, as PyTorch's hardswish",
}
for _name, _kind in _UNARY.items():
    register_op(_name, 1, doc=_UNARY_DOC.get(_name, f"element-wise {_name}"))(
        _unary(_name, _kind))


def _numbers(op: str, *names: str) -> Callable[[Call], None]:
    def check(call: Call) -> None:
        for name in names:
            _number_attr(op, call, name)

    return check


register_op("nn.leakyrelu", 1, {"alpha": 0.01},
            doc="x where x > 0, else alpha * x (PyTorch's leaky_relu, ONNX LeakyRelu)")(
    _unary("nn.leakyrelu", "float", _numbers("nn.leakyrelu", "alpha")))

register_op("nn.softplus", 1, {"beta": 1.0, "threshold": 20.0},
            doc="log(1 + exp(beta * x)) / beta, and x where beta * x > threshold")(
    _unary("nn.softplus", "float", _numbers("nn.softplus", "beta", "threshold")))

register_op("nn.hard_sigmoid", 1, {"alpha": 1 / 6, "beta": 0.5},
            doc="clip(alpha * x + beta, 0, 1): PyTorch's hardsigmoid by default, ONNX "
                "HardSigmoid with its alpha and beta")(
    _unary("nn.hard_sigmoid", "float", _numbers("nn.hard_sigmoid", "alpha", "beta")))


def _check_clip(call: Call) -> None:
    lo = _number_attr("clip", call, "min", optional=True)
    hi = _number_attr("clip", call, "max", optional=True)
    if lo is not None and hi is not None and lo > hi:
        raise GraphTypeError(f"R.clip: min {lo} is greater than max {hi}")


def _clip_attrs(attrs: dict) -> dict:
    """Bounds as Python numbers: TVM prints them as values (``R.clip(x, T.float64(-1.5), 6)``,
    or ``R.prim_value(...)``)."""
    out = dict(attrs)
    for key in ("min", "max"):
        value = out.get(key)
        if isinstance(value, PrimValue):
            value = value.value
        if isinstance(value, (IntImm, FloatImm)) and not value.dtype.is_bool:
            out[key] = value.value
    return out


register_op("clip", 1, {"min": None, "max": None}, positional=("min", "max"),
            normalize=_clip_attrs, doc="min(max(x, min), max); a bound of None is no bound")(
    _unary("clip", "number", _check_clip))


@register_op("where", 3, doc="x where cond holds, else y, all three broadcast as numpy does")
def _where(call: Call) -> StructInfo:
    cond, x, y = (tensor_arg(call, i) for i in range(3))
    _require("where", cond.dtype, "bool", "a condition")
    dt = _dtype_of("where", x, y)
    return _broadcast_sinfo("where", [cond, x, y], dt)


def _astype_attrs(attrs: dict) -> dict:
    """The dtype as its canonical name (``T.float32`` or ``"float32"``)."""
    dt = attrs.get("dtype")
    if dt is None or dt == "":
        return attrs
    try:
        return {**attrs, "dtype": str(as_dtype(dt))}
    except (DTypeError, TypeError, ValueError):
        return attrs  # inference names the bad value


@register_op("astype", 1, {"dtype": None}, positional=("dtype",), normalize=_astype_attrs,
             doc="element-wise conversion to another dtype (float to int truncates)")
def _astype(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    dt = call.attrs.get("dtype")
    if dt is None:
        raise GraphTypeError("R.astype needs the dtype to convert to, e.g. "
                             "R.astype(x, \"float16\")")
    try:
        dt = as_dtype(dt)
    except (DTypeError, TypeError, ValueError) as exc:
        raise GraphTypeError(f"R.astype: dtype {dt!r} is not a dtype: {exc}") from None
    return TensorStructInfo(a.shape, dt, a.ndim)


# ---------------------------------------------------------------- reductions

def _axis_attrs(attrs: dict) -> dict:
    """``axis=1`` is ``axis=(1,)``, as TVM stores it."""
    axis = attrs.get("axis")
    return {**attrs, "axis": (axis,)} if isinstance(axis, int) and \
        not isinstance(axis, bool) else attrs


def reduced_axes(op: str, axis: Any, ndim: int) -> list[int]:
    """The axes a reduction removes, non-negative and sorted (``None`` is every axis)."""
    return list(range(ndim)) if axis is None else sorted(_axes(op, axis, ndim))


def _reduced_sinfo(op: str, a: TensorStructInfo, axis: Any, keep: Any,
                   dt: DataType) -> TensorStructInfo:
    if not isinstance(keep, bool):
        raise GraphTypeError(f"R.{op}: attribute keepdims must be True or False, got {keep!r}")
    if a.shape is None:
        if a.ndim < 0:
            return TensorStructInfo(None, dt)
        removed = a.ndim if axis is None else len(_axes(op, axis, a.ndim))
        return TensorStructInfo(None, dt, a.ndim if keep else a.ndim - removed)
    axes = reduced_axes(op, axis, len(a.shape))
    one = IntImm(INT64, 1)
    return TensorStructInfo(tuple(one if i in axes else s for i, s in enumerate(a.shape)
                                  if keep or i not in axes), dt)


def _reduction(op: str, kind: str) -> Callable[[Call], StructInfo]:
    def infer(call: Call) -> StructInfo:
        a = tensor_arg(call, 0)
        _require(op, a.dtype, kind)
        return _reduced_sinfo(op, a, call.attrs.get("axis"), call.attrs.get("keepdims"),
                              a.dtype)

    return infer


_REDUCTIONS = {
    "sum": ("number", "sum over axes (None: all)"),
    "prod": ("number", "product over axes (None: all)"),
    "max": ("any", "maximum over axes (None: all)"),
    "min": ("any", "minimum over axes (None: all)"),
    "mean": ("float", "mean over axes (None: all)"),
    "variance": ("float", "population variance over axes (None: all), as numpy's var"),
}
for _name, (_kind, _doc) in _REDUCTIONS.items():
    register_op(_name, 1, {"axis": None, "keepdims": False}, doc=_doc,
                normalize=_axis_attrs)(_reduction(_name, _kind))


def _arg_reduction(op: str) -> Callable[[Call], StructInfo]:
    def infer(call: Call) -> StructInfo:
        a = tensor_arg(call, 0)
        axis = call.attrs.get("axis")
        if axis is not None and (not isinstance(axis, int) or isinstance(axis, bool)):
            raise GraphTypeError(f"R.{op}: axis must be one int or None, got {axis!r}")
        return _reduced_sinfo(op, a, axis, call.attrs.get("keepdims"), INT64)

    return infer


for _name in ("argmax", "argmin"):
    register_op(_name, 1, {"axis": None, "keepdims": False},
                doc=f"int64 index of the {_name[3:]}imum along one axis (None: of the "
                    "flattened tensor); the first one on ties, as numpy")(_arg_reduction(_name))


# ---------------------------------------------------------------- softmax and normalizations

def _softmax_like(op: str) -> Callable[[Call], StructInfo]:
    def infer(call: Call) -> StructInfo:
        a = tensor_arg(call, 0)
        _require(op, a.dtype, "float")
        if a.ndim >= 0:
            _axes(op, call.attrs.get("axis", -1), a.ndim)
        return a

    return infer


register_op("nn.softmax", 1, {"axis": -1}, doc="softmax along one axis")(
    _softmax_like("nn.softmax"))
register_op("nn.log_softmax", 1, {"axis": -1},
            doc="log of softmax along one axis, computed as x - max - log(sum(exp(x - max)))")(
    _softmax_like("nn.log_softmax"))


def _same_dtype(op: str, data: TensorStructInfo, params: dict[str, TensorStructInfo]) -> None:
    _require(op, data.dtype, "float", "data")
    for name, p in params.items():
        if not (p.dtype.is_void or data.dtype.is_void or p.dtype == data.dtype):
            raise GraphTypeError(f"R.{op}: {name} has dtype {p.dtype}, the data {data.dtype}")


def _check_param_shape(op: str, name: str, p: TensorStructInfo,
                       expected: tuple[PrimExpr, ...]) -> None:
    """A parameter (gamma, beta, ...) must have the data's sizes along the normalized axes."""
    if p.ndim >= 0 and p.ndim != len(expected):
        raise GraphTypeError(f"R.{op}: {name} must have rank {len(expected)} (the sizes "
                             f"{_fmt(expected)} of the normalized axes), got rank {p.ndim}")
    if p.shape is None:
        return
    for got, want in zip(p.shape, expected):
        if isinstance(got, IntImm) and isinstance(want, IntImm) and got.value != want.value:
            raise GraphTypeError(f"R.{op}: {name} has shape {_fmt(p.shape)}, the data's "
                                 f"normalized axes have sizes {_fmt(expected)}")


def _int_list_attrs(*names: str) -> Callable[[dict], dict]:
    """An int attribute that TVM stores as a list of ints becomes a one-element tuple."""

    def normalize(attrs: dict) -> dict:
        out = dict(attrs)
        for name in names:
            value = out.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                out[name] = (value,)
        return out

    return normalize


def _data_axes(op: str, call: Call, data: TensorStructInfo, name: str = "axes") -> list[int]:
    axes = call.attrs.get(name)
    if axes is None:
        raise GraphTypeError(f"R.{op} needs the attribute {name} (the axes to normalize over)")
    if data.ndim < 0:
        return []
    return _axes(op, axes, data.ndim)


def _norm_attrs(op: str, call: Call) -> None:
    _number_attr(op, call, "epsilon")
    for name in ("center", "scale"):
        if name in call.attrs:
            _bool_attr(op, call, name)


_BATCH_NORM = {"axis": None, "epsilon": 1e-5, "center": True, "scale": True, "momentum": 0.1,
               "training": True}


def _batch_norm_attrs(attrs: dict) -> dict:
    """TVM's batch_norm has no default axis: the channel axis 1 is filled in, so every
    printed call names its axis (and TVM reads it)."""
    return {**attrs, "axis": 1} if attrs.get("axis") is None else attrs


@register_op("nn.batch_norm", 5, _BATCH_NORM, normalize=_batch_norm_attrs,
             doc="(data - mean) / sqrt(var + epsilon) * gamma + beta along the channel axis; "
                 "a tuple (out, mean, var). training=False uses the moving statistics and "
                 "returns them; training=True (TVM's default) uses the batch's and returns "
                 "the moving ones updated with momentum")
def _batch_norm(call: Call) -> StructInfo:
    op = "nn.batch_norm"
    data = tensor_arg(call, 0)
    names = ("gamma", "beta", "moving_mean", "moving_var")
    params = {n: tensor_arg(call, i + 1) for i, n in enumerate(names)}
    _same_dtype(op, data, params)
    _norm_attrs(op, call)
    _number_attr(op, call, "momentum")
    _bool_attr(op, call, "training")
    axis = call.attrs.get("axis")
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise GraphTypeError(f"R.{op}: axis must be one int, got {axis!r}")
    channels = None
    if data.ndim >= 0:
        axis = _axes(op, axis, data.ndim)[0]
        if data.shape is not None:
            channels = data.shape[axis]
    stat = TensorStructInfo((channels,), data.dtype) if channels is not None else \
        TensorStructInfo(None, data.dtype, 1)
    for name, p in params.items():
        if channels is not None:
            _check_param_shape(op, name, p, (channels,))
        elif p.ndim not in (-1, 1):
            raise GraphTypeError(f"R.{op}: {name} must have rank 1, got rank {p.ndim}")
    return TupleStructInfo((data, stat, stat))


@register_op("nn.layer_norm", 3, {"axes": None, "epsilon": 1e-5, "center": True, "scale": True},
             positional=("axes",), normalize=_int_list_attrs("axes"),
             doc="(data - mean) / sqrt(var + epsilon) * gamma + beta, statistics over axes")
def _layer_norm(call: Call) -> StructInfo:
    op = "nn.layer_norm"
    data, gamma, beta = (tensor_arg(call, i) for i in range(3))
    _same_dtype(op, data, {"gamma": gamma, "beta": beta})
    _norm_attrs(op, call)
    axes = _data_axes(op, call, data)
    if data.shape is not None:
        sizes = tuple(data.shape[a] for a in axes)
        _check_param_shape(op, "gamma", gamma, sizes)
        _check_param_shape(op, "beta", beta, sizes)
    return data


@register_op("nn.group_norm", 3,
             {"num_groups": None, "channel_axis": None, "axes": None, "epsilon": 1e-5,
              "center": True, "scale": True},
             positional=("num_groups", "channel_axis", "axes"),
             normalize=_int_list_attrs("axes"),
             doc="layer_norm over groups of channels: statistics over each group's channels "
                 "and axes, gamma and beta per channel")
def _group_norm(call: Call) -> StructInfo:
    op = "nn.group_norm"
    data, gamma, beta = (tensor_arg(call, i) for i in range(3))
    _same_dtype(op, data, {"gamma": gamma, "beta": beta})
    _norm_attrs(op, call)
    groups, channel = call.attrs.get("num_groups"), call.attrs.get("channel_axis")
    for name, value in (("num_groups", groups), ("channel_axis", channel)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise GraphTypeError(f"R.{op} needs the attribute {name} as one int, got {value!r}")
    if groups < 1:
        raise GraphTypeError(f"R.{op}: num_groups must be positive, got {groups}")
    axes = _data_axes(op, call, data)
    if data.ndim < 0:
        return data
    channel = _axes(op, channel, data.ndim)[0]
    if channel in axes:
        raise GraphTypeError(f"R.{op}: the channel axis {channel} cannot also be in axes "
                             f"{list(call.attrs['axes'])}")
    if data.shape is not None:
        size = data.shape[channel]
        if isinstance(size, IntImm) and size.value % groups:
            raise GraphTypeError(f"R.{op}: {size.value} channels do not split into "
                                 f"{groups} groups")
        _check_param_shape(op, "gamma", gamma, (size,))
        _check_param_shape(op, "beta", beta, (size,))
    return data


@register_op("nn.rms_norm", 2, {"axes": (-1,), "epsilon": 1e-5}, positional=("axes",),
             normalize=_int_list_attrs("axes"),
             doc="data / sqrt(mean(data ** 2) + epsilon) * weight, the mean over axes")
def _rms_norm(call: Call) -> StructInfo:
    op = "nn.rms_norm"
    data, weight = tensor_arg(call, 0), tensor_arg(call, 1)
    _same_dtype(op, data, {"weight": weight})
    _number_attr(op, call, "epsilon")
    axes = _data_axes(op, call, data)
    if data.shape is not None:
        _check_param_shape(op, "weight", weight, tuple(data.shape[a] for a in axes))
    return data
