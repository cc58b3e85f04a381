"""The graph-level operator registry: each operator's name, attributes and shape/dtype inference.

The parser and printer know operators only through this registry, so adding an operator is one
``register_op`` call: ``R.nn.relu(x)`` in a script is the operator ``relax.nn.relu``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .dtype import DataType, DTypeError
from .dtype import dtype as as_dtype
from .expr import IntImm, PrimExpr
from .graph import Call, ObjectStructInfo, StructInfo, TensorStructInfo, TupleStructInfo


class GraphTypeError(TypeError):
    """An operator was given arguments it cannot take (shape, dtype, rank, attributes)."""


@dataclass(frozen=True)
class OpDef:
    """One operator: ``R.<script_name>(*args, **attrs)`` in scripts."""

    name: str
    num_args: int | None
    attrs: dict[str, Any] = field(default_factory=dict)  # attribute name -> default
    infer: Callable[[Call], StructInfo] | None = None
    doc: str = ""
    # attributes that may also be passed positionally after the arguments, as TVM's
    # ``R.reshape(x, R.shape([2, 12]))`` passes the shape
    positional: tuple[str, ...] = ()
    # the canonical form of the attributes (``padding=1`` is ``(1, 1, 1, 1)``, as in TVM)
    normalize: Callable[[dict], dict] | None = None

    @property
    def script_name(self) -> str:
        return self.name[len("relax."):]


_REGISTRY: dict[str, OpDef] = {}
Inference = Callable[[Call], StructInfo]


def register_op(script_name: str, num_args: int | None, attrs: dict[str, Any] | None = None,
                doc: str = "", positional: tuple[str, ...] = (),
                normalize: Callable[[dict], dict] | None = None
                ) -> Callable[[Inference], Inference]:
    """Register ``R.<script_name>`` with its inference function (used as a decorator)."""

    def wrap(infer: Inference) -> Inference:
        name = "relax." + script_name
        if name in _REGISTRY:
            raise ValueError(f"operator {name!r} is already registered")
        _REGISTRY[name] = OpDef(name, num_args, dict(attrs or {}), infer, doc, positional,
                                normalize)
        return infer

    return wrap


def get_op(name: str) -> OpDef | None:
    """The operator named ``relax.x`` or ``x``; None when there is none."""
    return _REGISTRY.get(name if name.startswith("relax.") else "relax." + name)


def list_ops() -> list[str]:
    return sorted(_REGISTRY)


# ---------------------------------------------------------------- inference helpers


def tensor_arg(call: Call, i: int) -> TensorStructInfo:
    sinfo = call.args[i].struct_info
    if not isinstance(sinfo, TensorStructInfo):
        raise GraphTypeError(
            f"R.{call.op.name[6:]} expects a tensor as argument {i}, got {_describe(sinfo)}"
        )
    return sinfo


def _describe(sinfo: StructInfo) -> str:
    return type(sinfo).__name__.replace("StructInfo", "").lower() or "object"


def _same(a: PrimExpr, b: PrimExpr) -> bool:
    from .structural import structural_equal

    return structural_equal(a, b)


def _is_one(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value == 1


def broadcast_shapes(op: str, a: tuple[PrimExpr, ...],
                     b: tuple[PrimExpr, ...]) -> tuple[PrimExpr, ...]:
    out: list[PrimExpr] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else None
        y = b[-i] if i <= len(b) else None
        if x is None or (y is not None and _is_one(x)):
            out.append(y)
        elif y is None or _is_one(y) or _same(x, y):
            out.append(x)
        elif isinstance(x, IntImm) and isinstance(y, IntImm):
            raise GraphTypeError(f"R.{op}: shapes {_fmt(a)} and {_fmt(b)} do not broadcast")
        else:
            out.append(x)  # symbolic sizes are assumed equal, checked at run time
    return tuple(reversed(out))


def _fmt(shape: tuple[PrimExpr, ...]) -> str:
    return "(" + ", ".join(str(s.value) if isinstance(s, IntImm) else "?" for s in shape) + ")"


def _dtype_of(op: str, a: TensorStructInfo, b: TensorStructInfo) -> DataType:
    if a.dtype != b.dtype and not (a.dtype.is_void or b.dtype.is_void):
        raise GraphTypeError(f"R.{op}: operands have different dtypes {a.dtype} and {b.dtype}")
    return a.dtype if not a.dtype.is_void else b.dtype


def _binary(op: str) -> Callable[[Call], StructInfo]:
    def infer(call: Call) -> StructInfo:
        a, b = tensor_arg(call, 0), tensor_arg(call, 1)
        dt = _dtype_of(op, a, b)
        if a.shape is None or b.shape is None:
            ndim = max(a.ndim, b.ndim) if min(a.ndim, b.ndim) >= 0 else -1
            return TensorStructInfo(None, dt, ndim)
        return TensorStructInfo(broadcast_shapes(op, a.shape, b.shape), dt)

    return infer


def _unary(call: Call) -> StructInfo:
    return tensor_arg(call, 0)


for _name in ("add", "subtract", "multiply", "divide", "maximum", "minimum", "power"):
    register_op(_name, 2, doc=f"element-wise {_name} with numpy broadcasting")(_binary(_name))

for _name in ("exp", "log", "sqrt", "tanh", "sigmoid", "negative", "abs", "nn.relu", "nn.gelu",
              "nn.silu"):
    register_op(_name, 1, doc=f"element-wise {_name}")(_unary)


@register_op("nn.softmax", 1, {"axis": -1}, doc="softmax along one axis")
def _softmax(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    if a.ndim >= 0:
        _axes("nn.softmax", call.attrs.get("axis", -1), a.ndim)
    return a


def _axes(op: str, axis: Any, ndim: int) -> list[int]:
    """Axes as numpy takes them (negative from the end), each in range and given once."""
    listed = [axis] if not isinstance(axis, (tuple, list)) else list(axis)
    out: list[int] = []
    for a in listed:
        if not isinstance(a, int) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise GraphTypeError(f"R.{op}: axis {a} is out of range for a tensor of rank {ndim}")
        if a % ndim in out:
            raise GraphTypeError(f"R.{op}: axis {a} repeats axis {listed[out.index(a % ndim)]}")
        out.append(a % ndim)
    return out


def _out_dtype(op: str, call: Call, dt: DataType) -> DataType:
    """``out_dtype=None`` (TVM's default) keeps the operands' dtype; another is refused."""
    out = call.attrs.get("out_dtype")
    try:
        if out is None or out == "" or as_dtype(out) == dt:
            return dt
    except DTypeError as exc:
        raise GraphTypeError(f"R.{op}: out_dtype: {exc}") from None
    raise GraphTypeError(f"R.{op}: out_dtype={out!r} differs from the operands' dtype {dt}; "
                         "only out_dtype=None or the operands' dtype is supported")


@register_op("matmul", 2, {"out_dtype": None}, doc="matrix product with numpy's batching rules")
def _matmul(call: Call) -> StructInfo:
    a, b = tensor_arg(call, 0), tensor_arg(call, 1)
    dt = _out_dtype("matmul", call, _dtype_of("matmul", a, b))
    if a.shape is None or b.shape is None:
        return TensorStructInfo(None, dt)
    if len(a.shape) < 1 or len(b.shape) < 1:
        raise GraphTypeError("R.matmul needs operands of rank at least 1")
    sa = a.shape if len(a.shape) > 1 else (IntImm(a.shape[0].dtype, 1),) + a.shape
    sb = b.shape if len(b.shape) > 1 else b.shape + (IntImm(b.shape[0].dtype, 1),)
    k1, k2 = sa[-1], sb[-2]
    if isinstance(k1, IntImm) and isinstance(k2, IntImm) and k1.value != k2.value:
        raise GraphTypeError(
            f"R.matmul: reduction sizes differ ({k1.value} in {_fmt(a.shape)} vs "
            f"{k2.value} in {_fmt(b.shape)})"
        )
    batch = broadcast_shapes("matmul", sa[:-2], sb[:-2])
    out = batch + ((sa[-2],) if len(a.shape) > 1 else ()) + ((sb[-1],) if len(b.shape) > 1 else ())
    return TensorStructInfo(out, dt)


@register_op("permute_dims", 1, {"axes": None}, doc="transpose; axes None reverses them")
def _permute(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    if a.shape is None:
        return TensorStructInfo(None, a.dtype, a.ndim)
    axes = call.attrs.get("axes")
    axes = list(range(len(a.shape)))[::-1] if axes is None else list(axes)
    if sorted(axes) != list(range(len(a.shape))):
        raise GraphTypeError(f"R.permute_dims: axes {axes} are not a permutation of "
                             f"0..{len(a.shape) - 1}")
    return TensorStructInfo(tuple(a.shape[i] for i in axes), a.dtype)


def _reshape_attrs(attrs: dict) -> dict:
    """``shape`` as sizes: ``R.shape([2, 12])`` (TVM's spelling) is the tuple ``(2, 12)``."""
    shape = attrs.get("shape")
    values = getattr(shape, "values", None)  # a ShapeExpr
    if values is not None:
        shape = tuple(v.value if isinstance(v, IntImm) else v for v in values)
    elif isinstance(shape, (int, IntImm)) and not isinstance(shape, bool):
        shape = (shape,)
    return {**attrs, "shape": shape}


@register_op("reshape", 1, {"shape": ()}, doc="same elements, new shape",
             positional=("shape",), normalize=_reshape_attrs)
def _reshape(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    return TensorStructInfo(_reshaped(a, tuple(call.attrs.get("shape", ()))), a.dtype)


def _reshaped(a: TensorStructInfo, shape: tuple) -> tuple:
    """The new shape, its one ``-1`` inferred; the element count must stay the same."""
    for size in shape:
        if isinstance(size, str):
            raise GraphTypeError(f"R.reshape: the size {size!r} is a string; a symbolic size is "
                                 f"a variable of the function (`{size} = T.int64()`, then "
                                 f"`shape=({size}, ...)`)")
        dtype = getattr(size, "dtype", None)
        if isinstance(size, (bool, float)) or not isinstance(size, int) and \
                (dtype is None or not dtype.is_integer):
            raise GraphTypeError(f"R.reshape: a size is an integer or an integer expression, "
                                 f"got {size!r} in shape {shape}")
    ints = all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
    if not ints:
        return shape  # symbolic sizes: checked by the kernel at run time
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        raise GraphTypeError(f"R.reshape: sizes are non-negative, with at most one -1 to "
                             f"infer, got {shape}")
    total = _count(a)
    rest = math.prod(s for s in shape if s != -1)
    fits = total is None or (total % rest == 0 if -1 in shape and rest else total == rest)
    if not fits or (-1 in shape and total is None):
        counted = "" if -1 in shape else f" ({rest} elements)"
        have = "an input of unknown shape" if total is None else \
            f"{total} elements (shape {_fmt(a.shape)})"
        raise GraphTypeError(f"R.reshape: cannot reshape {have} into shape {shape}{counted}")
    return tuple(total // rest if s == -1 else s for s in shape)


def _count(a: TensorStructInfo) -> int | None:
    """How many elements ``a`` has, when its shape is static."""
    if a.shape is None or not all(isinstance(s, IntImm) for s in a.shape):
        return None
    return math.prod(s.value for s in a.shape)


def _sum_attrs(attrs: dict) -> dict:
    """``axis=1`` is ``axis=(1,)``, as TVM stores it."""
    axis = attrs.get("axis")
    return {**attrs, "axis": (axis,)} if isinstance(axis, int) and \
        not isinstance(axis, bool) else attrs


@register_op("sum", 1, {"axis": None, "keepdims": False}, doc="sum over axes",
             normalize=_sum_attrs)
def _sum(call: Call) -> StructInfo:
    a = tensor_arg(call, 0)
    if a.shape is None:
        return TensorStructInfo(None, a.dtype)
    axis = call.attrs.get("axis")
    ndim = len(a.shape)
    axes = range(ndim) if axis is None else _axes("sum", axis, ndim)
    keep = bool(call.attrs.get("keepdims", False))
    one = IntImm(a.shape[0].dtype, 1) if ndim else None
    out = tuple(one if i in axes else s for i, s in enumerate(a.shape) if keep or i not in axes)
    return TensorStructInfo(out, a.dtype)


def _pair(value: Any) -> Any:
    return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value


def _conv2d_attrs(attrs: dict) -> dict:
    """TVM's canonical form: int strides and dilation are pairs, padding has four entries
    (top, left, bottom, right; one value for all, two for (height, width)), and the output
    layout defaults to the data layout."""
    pad = attrs.get("padding")
    if isinstance(pad, int) and not isinstance(pad, bool):
        pad = (pad,) * 4
    elif isinstance(pad, (tuple, list)) and len(pad) in (1, 2):
        pad = tuple(pad) * (4 // len(pad))
    out_layout = attrs.get("out_layout")
    return {**attrs, "strides": _pair(attrs.get("strides")), "padding": pad,
            "dilation": _pair(attrs.get("dilation")),
            "out_layout": attrs.get("data_layout") if out_layout is None else out_layout}


_CONV2D_ATTRS = {"strides": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1,
                 "data_layout": "NCHW", "kernel_layout": "OIHW", "out_layout": "NCHW",
                 "out_dtype": None}
_CONV2D_SUPPORTED = {"groups": 1, "data_layout": "NCHW", "kernel_layout": "OIHW",
                     "out_layout": "NCHW"}


@register_op("nn.conv2d", 2, _CONV2D_ATTRS, normalize=_conv2d_attrs,
             doc="2-D convolution, NCHW data and OIHW weights")
def _conv2d(call: Call) -> StructInfo:
    x, w = tensor_arg(call, 0), tensor_arg(call, 1)
    for key, only in _CONV2D_SUPPORTED.items():
        if call.attrs.get(key, only) != only:
            raise GraphTypeError(f"R.nn.conv2d: {key}={call.attrs[key]!r} is not supported; "
                                 f"only {key}={only!r}")
    for key, count in (("strides", 2), ("padding", 4), ("dilation", 2)):
        value = call.attrs.get(key)
        if not isinstance(value, tuple) or len(value) != count:
            raise GraphTypeError(f"R.nn.conv2d: {key} must be an int or a list of "
                                 f"{'1, 2 or 4' if key == 'padding' else '1 or 2'} ints, "
                                 f"got {value!r}")
    dt = _out_dtype("nn.conv2d", call, _dtype_of("nn.conv2d", x, w))
    if x.shape is None or w.shape is None:
        return TensorStructInfo(None, dt, 4)
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise GraphTypeError("R.nn.conv2d expects 4-D data (NCHW) and weights (OIHW)")
    sh, sw = call.attrs["strides"]
    ph0, pw0, ph1, pw1 = call.attrs["padding"]
    dh, dw = call.attrs["dilation"]

    def out(size: PrimExpr, k: PrimExpr, lo: int, hi: int, s: int, d: int) -> PrimExpr:
        return (size + (lo + hi) - ((k - 1) * d + 1)) // s + 1

    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = _fold(out(h, kh, ph0, ph1, sh, dh)), _fold(out(wd, kw, pw0, pw1, sw, dw))
    for name, size in (("height", oh), ("width", ow)):
        if isinstance(size, IntImm) and size.value < 1:
            raise GraphTypeError(
                f"R.nn.conv2d: the output would have {name} {size.value}; the (dilated) kernel "
                f"{_fmt((kh, kw))} is larger than the padded input "
                f"{_fmt((_fold(h + (ph0 + ph1)), _fold(wd + (pw0 + pw1))))}")
    return TensorStructInfo((n, o, oh, ow), dt)


def _fold(e: PrimExpr) -> PrimExpr:
    """Simplify a size expression (so static convolutions get static shapes)."""
    from ..arith import Analyzer  # arith builds on ir: imported when first needed

    return Analyzer().simplify(e)


@register_op("call_tir", None, doc="call a loop-level function, outputs allocated by the caller")
def _call_tir(call: Call) -> StructInfo:
    return call.sinfo_args[0] if call.sinfo_args else ObjectStructInfo()


# the operator library, by family (each module registers its operators)
from . import graph_ops_math, graph_ops_nn, graph_ops_shape  # noqa: E402,F401

__all__ = ["OpDef", "GraphTypeError", "register_op", "get_op", "list_ops", "TupleStructInfo"]
