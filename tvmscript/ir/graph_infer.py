"""Struct info of graph-level expressions, from their parts and the operator registry."""

from __future__ import annotations

from functools import singledispatch

from . import graph as G
from .function import GlobalVar
from .graph_ops import GraphTypeError, get_op


@singledispatch
def infer_struct_info(expr) -> G.StructInfo:
    """What is statically known of ``expr``'s value; ``GraphTypeError`` for ill-typed calls."""
    return G.ObjectStructInfo()


@infer_struct_info.register
def _(expr: G.GraphVar) -> G.StructInfo:
    return expr.sinfo


@infer_struct_info.register
def _(expr: G.Constant) -> G.StructInfo:
    from .dtype import from_numpy

    return G.TensorStructInfo(tuple(expr.data.shape), from_numpy(expr.data.dtype))


@infer_struct_info.register
def _(expr: G.Tuple) -> G.StructInfo:
    return G.TupleStructInfo(tuple(f.struct_info for f in expr.fields))


@infer_struct_info.register
def _(expr: G.TupleGetItem) -> G.StructInfo:
    sinfo = expr.tuple_value.struct_info
    if isinstance(sinfo, G.TupleStructInfo):
        if not 0 <= expr.index < len(sinfo.fields):
            raise GraphTypeError(
                f"tuple index {expr.index} is out of range for a tuple of {len(sinfo.fields)} fields"
            )
        return sinfo.fields[expr.index]
    if isinstance(sinfo, G.ObjectStructInfo):
        return G.ObjectStructInfo()
    raise GraphTypeError(f"indexing a value that is not a tuple ({type(sinfo).__name__})")


@infer_struct_info.register
def _(expr: G.ShapeExpr) -> G.StructInfo:
    return G.ShapeStructInfo(expr.values)


@infer_struct_info.register
def _(expr: G.PrimValue) -> G.StructInfo:
    return G.PrimStructInfo(expr.value.dtype)


@infer_struct_info.register
def _(expr: G.SeqExpr) -> G.StructInfo:
    return expr.body.struct_info


@infer_struct_info.register
def _(expr: G.Call) -> G.StructInfo:
    if isinstance(expr.op, G.Op):
        op = get_op(expr.op.name)
        if op is None:
            raise GraphTypeError(f"unknown operator {expr.op.name!r}")
        if op.num_args is not None and len(expr.args) != op.num_args:
            raise GraphTypeError(
                f"R.{op.script_name} takes {op.num_args} argument(s), got {len(expr.args)}"
            )
        return op.infer(expr) if op.infer else G.ObjectStructInfo()
    if expr.sinfo_args:
        return expr.sinfo_args[0]
    if isinstance(expr.op, (GlobalVar, G.GraphVar)):
        return G.ObjectStructInfo()
    return G.ObjectStructInfo()
