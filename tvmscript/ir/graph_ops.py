"""The graph-level operator registry: each operator's name, attributes and shape/dtype inference.

The parser and printer know operators only through this registry, so adding an operator is one
``register_op`` call: ``R.nn.relu(x)`` in a script is the operator ``relax.nn.relu``.
"""

from __future__ import annotations

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


# the element-wise operators, reductions, softmax and normalizations: graph_ops_math.py


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


# permute_dims, reshape and the other shape operators: graph_ops_shape.py


# nn.conv2d and the other convolutions, pools and resize: graph_ops_nn.py


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
