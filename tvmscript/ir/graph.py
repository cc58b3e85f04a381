"""Graph-level IR (TVM's Relax): a model as bindings of operator calls over tensors.

Every value carries a ``StructInfo`` (tensor shape and dtype, tuple, shape, scalar) so that
operators can check their inputs and infer their outputs; symbolic sizes are loop-level
``Var``s (int64) shared between shapes.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .dtype import INT64, DataType, dtype as as_dtype
from .expr import PrimExpr, convert
from .frozendict import EMPTY, FrozenDict, freeze
from .function import BaseFunc, GlobalVar
from .node import IdentityNode, Node, defines, node

# ---------------------------------------------------------------- struct info


class StructInfo(Node):
    """What is statically known about a graph-level value."""

    __slots__ = ()


@node
class ObjectStructInfo(StructInfo):
    """Nothing is known (``R.Object``)."""


@node
class PrimStructInfo(StructInfo):
    """A scalar of ``dtype`` (``R.Prim("int64")``)."""

    dtype: DataType

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))


@node
class ShapeStructInfo(StructInfo):
    """A shape value (``R.Shape([n, 4])``); ``values`` is None when only ``ndim`` is known."""

    values: tuple[PrimExpr, ...] | None = None
    ndim: int = -1

    def __post_init__(self) -> None:
        if self.values is not None:
            values = tuple(_as_int64(v) for v in self.values)
            object.__setattr__(self, "values", values)
            object.__setattr__(self, "ndim", len(values))


@node
class TensorStructInfo(StructInfo):
    """A tensor; ``shape`` None means unknown shape (then ``ndim`` may still be known, or -1)."""

    shape: tuple[PrimExpr, ...] | None = None
    dtype: DataType = "void"
    ndim: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        if self.shape is not None:
            shape = tuple(_as_int64(s) for s in self.shape)
            object.__setattr__(self, "shape", shape)
            object.__setattr__(self, "ndim", len(shape))


@node
class TupleStructInfo(StructInfo):
    fields: tuple[StructInfo, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))


@node
class FuncStructInfo(StructInfo):
    """A callable: parameter and return struct info."""

    params: tuple[StructInfo, ...] | None = None
    ret: StructInfo = None


def _as_int64(value: Any) -> PrimExpr:
    expr = convert(value)
    if expr.dtype != INT64 and type(expr).__name__ == "IntImm":
        from .expr import IntImm

        return IntImm(INT64, expr.value)
    return expr


# ---------------------------------------------------------------- expressions


class GraphExpr(Node):
    """Base of graph-level expressions."""

    __slots__ = ()

    @property
    def struct_info(self) -> StructInfo:
        from .graph_infer import infer_struct_info

        return infer_struct_info(self)


@node
class GraphVar(IdentityNode, GraphExpr):
    """A graph-level variable (function parameter or binding), compared by identity."""

    name: str
    sinfo: StructInfo = ObjectStructInfo()

    @property
    def struct_info(self) -> StructInfo:
        return self.sinfo

    @property
    def script_kind(self) -> str:
        """How error messages of the parser name it (``got graph variable x``)."""
        return f"graph variable {self.name}"

    def __hash__(self) -> int:
        return id(self) >> 4

    def __eq__(self, other: object) -> bool:
        return self is other


@node
class DataflowVar(GraphVar):
    """A variable bound inside a dataflow block and not exported by ``R.output``."""

    def __hash__(self) -> int:
        return id(self) >> 4

    def __eq__(self, other: object) -> bool:
        return self is other


@node
class Constant(GraphExpr):
    """A constant tensor (``R.const(value, dtype)``), e.g. a model weight."""

    data: np.ndarray

    def __post_init__(self) -> None:
        data = self.data
        # an array nobody else can write (read-only, owning its memory: what the loaders make)
        # is kept as it is; anything else is copied, so a constant never changes under us
        frozen = isinstance(data, np.ndarray) and not data.flags.writeable and data.base is None
        array = data if frozen else np.array(data, copy=True)
        array.setflags(write=False)
        object.__setattr__(self, "data", array)

    def __hash__(self) -> int:
        return hash(("Constant", str(self.data.dtype), self.data.shape, self.data.tobytes()))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Constant)
            and self.data.dtype == other.data.dtype
            and self.data.shape == other.data.shape
            and self.data.tobytes() == other.data.tobytes()
        )


@node
class Tuple(GraphExpr):
    fields: tuple[GraphExpr, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))


@node
class TupleGetItem(GraphExpr):
    tuple_value: GraphExpr
    index: int


@node
class ShapeExpr(GraphExpr):
    values: tuple[PrimExpr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(_as_int64(v) for v in self.values))


@node
class PrimValue(GraphExpr):
    value: PrimExpr


@node
class StringImm(GraphExpr):
    value: str


@node
class Op(GraphExpr):
    """A registered operator, by name (``relax.add``); see ``graph_ops``."""

    name: str


@node
class Call(GraphExpr):
    """``op(*args, **attrs)``; ``sinfo_args`` give output struct info where the op needs it
    (``call_tir``'s ``out_sinfo``)."""

    op: "Op | GlobalVar | GraphVar"
    args: tuple[GraphExpr, ...] = ()
    attrs: FrozenDict = EMPTY
    sinfo_args: tuple[StructInfo, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(self.args))
        attrs = dict(self.attrs)
        if isinstance(self.op, Op):  # canonical form: every attribute present, defaults filled
            from .graph_ops import get_op

            opdef = get_op(self.op.name)
            if opdef is not None:
                attrs = {**opdef.attrs, **attrs}
                if opdef.normalize is not None:
                    attrs = opdef.normalize(attrs)
        object.__setattr__(self, "attrs", FrozenDict(freeze(attrs)))
        object.__setattr__(self, "sinfo_args", tuple(self.sinfo_args))


# ---------------------------------------------------------------- bindings and functions


@node
class VarBinding(Node):
    var: GraphVar = defines()
    value: GraphExpr = None


@node
class BindingBlock(Node):
    bindings: tuple[VarBinding, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "bindings", tuple(self.bindings))


@node
class DataflowBlock(BindingBlock):
    """Side-effect-free bindings (``with R.dataflow():``); only ``R.output`` vars escape."""


@node
class SeqExpr(GraphExpr):
    blocks: tuple[BindingBlock, ...] = ()
    body: GraphExpr = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))


@node
class Function(BaseFunc):
    """A graph-level function (``@R.function``)."""

    params: tuple[GraphVar, ...] = defines()
    body: SeqExpr = None
    ret_struct_info: StructInfo = ObjectStructInfo()
    attrs: FrozenDict = EMPTY
    name: str = ""  # what the printer calls it outside a module; not structural

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "attrs", FrozenDict(freeze(dict(self.attrs))))


def const(value: Any, dtype: "str | None" = None) -> Constant:
    """A Constant from a Python number, nested list or numpy array."""
    array = np.asarray(value, dtype=dtype if dtype is not None else None)
    if dtype is None and array.dtype == np.float64:
        array = array.astype("float32")
    if dtype is None and array.dtype == np.int64:
        array = array.astype("int32")
    return Constant(array)


def call_tir(func: GlobalVar, args: Sequence[GraphExpr], out_sinfo: StructInfo | Sequence[StructInfo]) -> Call:
    """``R.call_tir(func, args, out_sinfo)``: call a loop-level function in destination-passing
    style, with outputs allocated by the caller."""
    if not isinstance(out_sinfo, StructInfo):
        out_sinfo = TupleStructInfo(tuple(out_sinfo))
    return Call(Op("relax.call_tir"), (func, Tuple(tuple(args))), sinfo_args=(out_sinfo,))


