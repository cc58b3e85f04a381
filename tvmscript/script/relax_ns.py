"""The ``R`` namespace: struct-info annotations, dataflow blocks, ``call_tir`` and operators.

Operators are not listed here: ``R.add`` and ``R.nn.relu`` resolve through the operator registry
(``ir.graph_ops``), so registering an operator makes it parseable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import expr as E
from ..ir import graph as G
from ..ir.dtype import INT64, DTypeError
from ..ir.expr import IntImm, PrimExpr, Var, widen
from ..ir.graph_ops import get_op, list_ops
from .namespace import Namespace
from .parser.builtin import ArgError, table
from .parser.values import as_dtype_arg, describe


def _size(p, value: Any, key: "int | str") -> PrimExpr:
    if isinstance(value, bool):
        raise ArgError(key, f"a tensor size must be an int or a name, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ArgError(key, f"a tensor size must not be negative, got {value}")
        return IntImm(INT64, value)
    if isinstance(value, str):
        if value.isidentifier():
            return p.symbolic(value) if p is not None else Var(value, INT64)
        value = _size_expression(p, value, key)
    if isinstance(value, PrimExpr) and value.dtype.is_integer and value.dtype.lanes == 1:
        return value if value.dtype == INT64 else widen(value, INT64)  # sizes are int64, as in TVM
    raise ArgError(key, f"a tensor size must be an int, a name such as \"n\" or an integer "
                        f"expression, got {describe(value)}")


class _Sizes(dict):
    """Names in a size written as a string: ``T``, or the function's symbolic sizes."""

    def __init__(self, p) -> None:
        super().__init__(T=_tir_namespace())
        self.p = p

    def __missing__(self, name: str) -> Var:
        return self.p.symbolic(name) if self.p is not None else Var(name, INT64)


def _tir_namespace():
    from .tir_ns import T

    return T


def _size_expression(p, text: str, key: "int | str") -> Any:
    """A size written as a string expression (``"n * 2"``, ``"T.max(n, 16)"``), as TVM prints
    sizes in signatures: its names are the function's symbolic sizes."""
    try:
        code = compile(text, "<size>", "eval")
    except SyntaxError:
        raise ArgError(key, f"a tensor size must be a name such as \"n\" or an expression of "
                            f"sizes, got {text!r}") from None
    try:
        return eval(code, {"__builtins__": {}}, _Sizes(p))
    except Exception as exc:  # the size's own expression failed: say which, at the size
        raise ArgError(key, f"the size {text!r} does not evaluate: {exc}") from None


def _dt(value: Any, key: "int | str"):
    try:
        return as_dtype_arg(value)
    except DTypeError as exc:
        raise ArgError(key, str(exc)) from None


def tensor(p, shape=None, dtype="void", ndim=-1):
    if shape is not None and not isinstance(shape, (tuple, list)):
        if isinstance(shape, str) and dtype == "void":
            return G.TensorStructInfo(None, _dt(shape, 0), ndim)
        raise ArgError(0, f"R.Tensor expects a shape tuple, got {describe(shape)}")
    sizes = None if shape is None else tuple(_size(p, s, 0) for s in shape)
    return G.TensorStructInfo(sizes, _dt(dtype, "dtype"), ndim if sizes is None else -1)


def tuple_(p, *fields):
    for i, f in enumerate(fields):
        if not isinstance(f, G.StructInfo):
            raise ArgError(i, f"R.Tuple expects struct info such as R.Tensor(...), got {describe(f)}")
    return G.TupleStructInfo(tuple(fields))


def shape(p, values=None, ndim=-1):
    if values is None:
        return G.ShapeStructInfo(None, ndim)
    return G.ShapeStructInfo(tuple(_size(p, v, 0) for v in values))


def prim(p, dtype):
    return G.PrimStructInfo(_dt(dtype, 0))


class DataflowSpec:
    script_kind = "R.dataflow()"


def dataflow(p):
    return DataflowSpec()


def output(p, *values):
    p.mark_output(values)


def func_attr(p, attrs):
    if not isinstance(attrs, dict):
        raise ArgError(0, f"R.func_attr expects a dict, got {describe(attrs)}")
    p.attrs.update(attrs)


def call_tir(p, func, args, out_sinfo=None, out_ty=None, tir_vars=None):
    from ..ir.function import GlobalVar

    if not isinstance(func, GlobalVar):
        raise ArgError(0, f"R.call_tir expects a module function cls.f, got {describe(func)}")
    if tir_vars is not None:  # TVM's extra size arguments: refused rather than silently dropped
        raise ArgError("tir_vars", "R.call_tir: tir_vars is not supported; pass sizes and "
                                   "scalars as inputs, e.g. R.prim_value(n)")
    sinfo = out_sinfo if out_sinfo is not None else out_ty
    if sinfo is None:
        raise ArgError(0, "R.call_tir needs out_sinfo=R.Tensor(...)")
    fields = sinfo if isinstance(sinfo, (list, tuple)) else [sinfo]
    if not all(isinstance(s, G.StructInfo) for s in fields):
        raise ArgError("out_sinfo", f"out_sinfo must be R.Tensor(...) or a list of them, "
                                    f"got {describe(sinfo)}")
    args = args if isinstance(args, (tuple, list)) else (args,)
    return G.call_tir(func, [as_graph(a) for a in args], sinfo)


def const(p, value, dtype=None):
    try:
        return G.const(value, dtype)
    except (TypeError, ValueError) as exc:
        raise ArgError(0, f"R.const cannot make a constant of {describe(value)}: {exc}") from None


def prim_value(p, value, dtype=None):
    """``R.prim_value(3)`` (int64, as in TVM), ``R.prim_value(T.int32(3))``, ``(1.5, "float32")``."""
    if isinstance(value, (bool, int, float)):
        default = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) \
            else "float64"
        return G.PrimValue(E.const(value, _dt(dtype if dtype is not None else default, "dtype")))
    if not isinstance(value, PrimExpr):
        raise ArgError(0, f"R.prim_value expects a number or a scalar expression such as "
                          f"T.int32(3), got {describe(value)}")
    if dtype is not None and _dt(dtype, "dtype") != value.dtype:
        raise ArgError("dtype", f"R.prim_value of a {value.dtype} expression cannot have "
                                f"dtype {dtype}")
    return G.PrimValue(value)


def shape_expr(p, values):
    """``R.shape([n, 4])``: a shape value (its struct info is ``R.Shape([n, 4])``)."""
    if not isinstance(values, (tuple, list)):
        raise ArgError(0, f"R.shape expects a list of sizes, got {describe(values)}")
    return G.ShapeExpr(tuple(_size(p, v, 0) for v in values))


def str_(p, value):
    if not isinstance(value, str):
        raise ArgError(0, f"R.str expects a Python string, got {describe(value)}")
    return G.StringImm(value)


def linear(p, data, weight, bias=None, out_dtype=None):
    """``R.linear(x, w, b)`` is ``x @ w.T + b``: as in TVM, sugar that builds ``permute_dims``,
    ``matmul`` and ``add`` (so the printed program shows those), not an operator of its own."""
    from ..ir.graph_ops import GraphTypeError

    args = [as_graph(a) for a in (data, weight)]
    out = G.Call(G.Op("relax.matmul"), (args[0], G.Call(G.Op("relax.permute_dims"), (args[1],),
                                                        {"axes": None})),
                 {"out_dtype": out_dtype})
    if bias is not None:
        out = G.Call(G.Op("relax.add"), (out, as_graph(bias)))
    if not any(map(_calls_module_function, [*args, *out.args])):
        try:
            out.struct_info  # noqa: B018 - infer now so shape and dtype errors point here
        except GraphTypeError as exc:
            raise GraphTypeError(f"R.linear (x @ permute_dims(weight) + bias): {exc}") from None
    return out


def as_graph(value: Any) -> G.GraphExpr:
    """A graph-level expression from a script value (tuples become ``Tuple``)."""
    if isinstance(value, G.GraphExpr):
        return value
    if isinstance(value, (tuple, list)):
        return G.Tuple(tuple(as_graph(v) for v in value))
    if isinstance(value, PrimExpr):
        return G.PrimValue(value)
    if isinstance(value, str):
        return G.StringImm(value)
    if isinstance(value, (bool, int, float, np.ndarray)):
        return G.const(value)
    raise TypeError(f"expected a graph-level value (a tensor variable, tuple or R.const), "
                    f"got {describe(value)}")


class OpCallable:
    """``R.<op>``: checks argument count and attributes against the operator registry."""

    def __init__(self, name: str) -> None:
        self.op = get_op(name)
        self.script_kind = f"R.{name}"

    def script_callable(self, p, node, args, kwargs):
        op = self.op
        args, kwargs = _positional_attrs(op, list(args), dict(kwargs))
        unknown = [k for k in kwargs if k not in op.attrs]
        if unknown:
            expected = ", ".join(op.attrs) or "none"
            raise TypeError(f"R.{op.script_name} has no attribute '{unknown[0]}'; its "
                            f"attributes are: {expected}")
        attrs = {**op.attrs, **kwargs}  # every attribute present: one canonical form
        call = G.Call(G.Op(op.name), tuple(as_graph(a) for a in args), attrs)
        if not any(map(_calls_module_function, call.args)):  # those are known once bound
            call.struct_info  # noqa: B018 - infer now so shape and dtype errors point here
        return call


def _calls_module_function(arg: G.GraphExpr) -> bool:
    from ..ir.function import GlobalVar

    if isinstance(arg, G.Tuple):
        return any(map(_calls_module_function, arg.fields))
    return isinstance(arg, G.Call) and isinstance(arg.op, GlobalVar)


def _positional_attrs(op, args: list, kwargs: dict) -> tuple[list, dict]:
    """Arguments past the operator's count name its positional attributes in order
    (``R.reshape(x, R.shape([2, 12]))`` is ``R.reshape(x, shape=(2, 12))``)."""
    most = None if op.num_args is None else op.num_args + len(op.positional)
    if op.num_args is not None and not op.num_args <= len(args) <= most:
        count = str(op.num_args) if most == op.num_args else f"{op.num_args} to {most}"
        raise TypeError(f"R.{op.script_name} takes {count} argument(s), got {len(args)}")
    extra = args[op.num_args:] if op.num_args is not None else []
    for key, value in zip(op.positional, extra):
        if key in kwargs:
            raise TypeError(f"R.{op.script_name} got {key} both by position and as {key}=")
        kwargs[key] = value
    return (args if op.num_args is None else args[:op.num_args]), kwargs


def _fallback(prefix: str):
    def lookup(name: str) -> Any:
        full = prefix + name
        if get_op(full) is not None:
            return OpCallable(full)
        if any(op.startswith("relax." + full + ".") for op in list_ops()):
            return Namespace("R." + full, {}, _fallback(full + "."))
        return None

    return lookup


def _function(*args, **kwargs):
    from .parser.entry import function

    return function(*args, **kwargs)


_ENTRIES = dict(table("R", {
    "Tensor": tensor, "Tuple": tuple_, "Shape": shape, "Prim": prim, "dataflow": dataflow,
    "output": output, "func_attr": func_attr, "call_tir": call_tir, "const": const,
    "prim_value": prim_value, "shape": shape_expr, "str": str_, "linear": linear,
}))
_ENTRIES.update(Object=G.ObjectStructInfo(), Any=G.ObjectStructInfo(), function=_function)

R = Namespace("R", _ENTRIES, _fallback(""))

__all__ = ["R", "as_graph", "DataflowSpec"]
