"""ONNX models as graph-level IRModules: ``from_onnx(path_or_model)``.

The result has one function ``main`` whose parameters are the graph inputs (those that are not
initializers, in order) and whose weights are ``R.const`` constants. Each ONNX operator has one
converter in ``_CONVERTERS`` that emits calls of the operator library (TVM's relax names).

Shape computations (``Shape -> Gather -> Concat -> Reshape``) are evaluated while importing: a
value known at import time is a numpy array, and a size that is symbolic (a named dimension like
``batch``) is a size variable inside an object array, so ``Reshape`` gets ``(batch, seq, 12, 64)``
rather than a shape tensor. Operators that are not supported, and attribute values that are not,
are refused with the node's name and op type; nothing is dropped or approximated.
"""

from __future__ import annotations

import keyword
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import IRModule
from ..ir import graph as G
from ..ir.dtype import INT64
from ..ir.expr import IntImm, PrimExpr, Var
from ..ir.graph_ops import get_op
from ..ir.structural import structural_equal

Value = Any  # a graph expression (GraphVar, Constant), a numpy array known at import time, None


class OnnxImportError(ValueError):
    """The model cannot be imported as given (not ONNX, bad attribute, unknown input shape)."""


class UnsupportedOperatorError(NotImplementedError):
    """An ONNX operator (or one of its forms) that the importer does not convert."""


def from_onnx(model: Any, shape_dict: dict[str, Sequence[int | str]] | None = None,
              dtype_dict: dict[str, str] | None = None) -> IRModule:
    """Import an ONNX model (a path or an ``onnx.ModelProto``) as an IRModule with ``main``.

    ``shape_dict``/``dtype_dict`` override input shapes (ints, or names for symbolic sizes) and
    dtypes, for models whose inputs are not fully described."""
    proto = _load(model)
    return _Importer(proto, dict(shape_dict or {}), dict(dtype_dict or {})).run()


def supported_operators() -> list[str]:
    """The ONNX op types that have a converter."""
    return sorted(_CONVERTERS)


def _load(model: Any) -> Any:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise OnnxImportError(f"from_onnx expects a path or an onnx.ModelProto, got "
                              f"{type(model).__name__}")
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise OnnxImportError(f"from_onnx: no such file: {path!r}")
    try:
        proto = onnx.load(path)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise OnnxImportError(f"from_onnx: {path!r} is not an ONNX model ({exc})") from None
    if not proto.graph.node and not proto.graph.output:
        raise OnnxImportError(f"from_onnx: {path!r} is not an ONNX model (it holds no graph)")
    return proto


# ---------------------------------------------------------------- the importer


class Node:
    """One ONNX node as converters see it: inputs as values, attributes as Python values."""

    def __init__(self, proto: Any, inputs: list[Value], opset: int,
                 consumed: set[str] | frozenset[str] = frozenset()) -> None:
        from onnx import helper

        self.proto = proto
        self.consumed = consumed
        self.op_type: str = proto.op_type
        self.name: str = proto.name or (proto.output[0] if proto.output else proto.op_type)
        self.inputs = inputs
        self.opset = opset
        self.outputs: list[str] = list(proto.output)
        self.attrs: dict[str, Any] = {}
        for a in proto.attribute:
            value = helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode()
            elif a.type == a.TENSOR:
                value = _tensor(value)
            elif isinstance(value, list) and value and isinstance(value[0], bytes):
                value = [v.decode() for v in value]
            self.attrs[a.name] = value

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, i: int) -> Value:
        return self.inputs[i] if i < len(self.inputs) else None

    def wants(self, i: int) -> bool:
        """Whether output ``i`` is used by a node or the graph (optional outputs, like
        Dropout's mask, are often named without being used)."""
        return i < len(self.outputs) and self.outputs[i] in self.consumed

    def error(self, message: str) -> OnnxImportError:
        return OnnxImportError(f"{self.where()}: {message}")

    def unsupported(self, message: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"{self.where()}: {message}")

    def where(self) -> str:
        return f"ONNX node {self.name!r} ({self.op_type}, opset {self.opset})"


class _Importer:
    def __init__(self, model: Any, shape_dict: dict, dtype_dict: dict) -> None:
        self.model = model
        self.graph = model.graph
        self.opset = _opset(model)
        self.shape_dict, self.dtype_dict = shape_dict, dtype_dict
        self.env: dict[str, Value] = {}
        self.bindings: list[G.VarBinding] = []
        self.used: set[str] = set()
        self.sizes: dict[str, Var] = {}
        self.consts: dict[int, tuple[np.ndarray, G.Constant]] = {}
        self.outputs = {o.name for o in self.graph.output}
        self.consumed = self.outputs | {n for p in self.graph.node for n in p.input}
        self.counts: dict[str, int] = {}
        self.hint = "lv"

    def run(self) -> IRModule:
        params = self._params()
        for proto in self.graph.node:
            self._node(proto)
        results = [self._result(o.name) for o in self.graph.output]
        body = results[0] if len(results) == 1 else G.Tuple(tuple(results))
        blocks = (G.DataflowBlock(tuple(self.bindings)),) if self.bindings else ()
        func = G.Function(tuple(params), G.SeqExpr(blocks, body), body.struct_info,
                          {"global_symbol": "main"}, "main")
        return IRModule.from_function(func, "main")

    # ------------------------------------------------------------ inputs and outputs
    def _params(self) -> list[G.GraphVar]:
        from onnx import numpy_helper

        inits = {t.name for t in self.graph.initializer}
        for t in self.graph.initializer:
            self.env[t.name] = numpy_helper.to_array(t)
        unknown = set(self.shape_dict) | set(self.dtype_dict)
        inputs = [i for i in self.graph.input if i.name not in inits]
        unknown -= {i.name for i in inputs}
        if unknown:
            raise OnnxImportError(f"from_onnx: shape_dict/dtype_dict name {sorted(unknown)}, "
                                  f"which are not inputs of the graph (inputs: "
                                  f"{[i.name for i in inputs]})")
        for i in inputs:  # symbolic size names first, so that no variable takes one
            dims = self.shape_dict.get(i.name, [d.dim_param for d in
                                                i.type.tensor_type.shape.dim])
            self.used.update(_ident(d) for d in dims if isinstance(d, str) and d)
        params = []
        for i in inputs:
            var = G.GraphVar(self._name(i.name), self._input_sinfo(i))
            self.env[i.name] = var
            params.append(var)
        return params

    def _input_sinfo(self, info: Any) -> G.TensorStructInfo:
        from onnx import helper

        ttype = info.type.tensor_type
        if not info.type.HasField("tensor_type"):
            raise OnnxImportError(f"from_onnx: input {info.name!r} is not a tensor "
                                  f"({info.type.WhichOneof('value')}); only tensor inputs are "
                                  "supported")
        dtype = self.dtype_dict.get(info.name)
        if dtype is None:
            if ttype.elem_type == 0:
                raise OnnxImportError(f"from_onnx: input {info.name!r} has no element type; "
                                      "give it in dtype_dict")
            dtype = helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
        if info.name in self.shape_dict:
            dims = [self._size(d, info.name, k) for k, d in
                    enumerate(self.shape_dict[info.name])]
        elif ttype.HasField("shape"):
            dims = [self._size(d.dim_value if d.HasField("dim_value") else d.dim_param or None,
                               info.name, k) for k, d in enumerate(ttype.shape.dim)]
        else:
            raise OnnxImportError(f"from_onnx: input {info.name!r} has no shape (not even a "
                                  "rank); give it in shape_dict")
        return G.TensorStructInfo(tuple(dims), str(dtype))

    def _size(self, d: Any, name: str, k: int) -> PrimExpr:
        if d is None:  # an unnamed unknown size: its own variable
            d = f"{name}_dim{k}"
        if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            return IntImm(INT64, int(d))
        if not isinstance(d, str) or not d:
            raise OnnxImportError(f"from_onnx: size {k} of input {name!r} must be a "
                                  f"non-negative int or a name, got {d!r}")
        key = _ident(d)
        if key not in self.sizes:
            self.used.add(key)
            self.sizes[key] = Var(key, INT64)
        return self.sizes[key]

    def _result(self, name: str) -> G.GraphExpr:
        if name not in self.env:
            raise OnnxImportError(f"from_onnx: graph output {name!r} is not computed by any "
                                  "node")
        value = self.expr(self.env[name], f"graph output {name!r}")
        if isinstance(value, G.GraphVar) and not isinstance(value, G.DataflowVar):
            return value  # a parameter, or bound by the node that computes it
        var = G.GraphVar(self._name(name), value.struct_info)
        self.bindings.append(G.VarBinding(var, value))
        return var

    # ------------------------------------------------------------ nodes
    def _node(self, proto: Any) -> None:
        domain = proto.domain or "ai.onnx"
        inputs = [self._lookup(n, proto) if n else None for n in proto.input]
        node = Node(proto, inputs, self.opset.get(domain, 0), self.consumed)
        if domain != "ai.onnx":
            raise node.unsupported(f"operators of domain {domain!r} are not supported (only "
                                   "the default ONNX domain)")
        convert = _CONVERTERS.get(node.op_type)
        if convert is None:
            raise node.unsupported(f"the ONNX operator {node.op_type} is not supported; "
                                   f"supported operators: {', '.join(supported_operators())}")
        self.hint = _ident(node.outputs[0]) if node.outputs and node.outputs[0] else "lv"
        start = len(self.bindings)
        fold = _FOLDERS.get(node.op_type)
        try:
            outs = None
            if fold is not None and all(v is None or isinstance(v, np.ndarray) for v in inputs):
                outs = fold(node, *inputs)
            if outs is None:
                outs = convert(self, node)
        except (OnnxImportError, UnsupportedOperatorError) as exc:
            if str(exc).startswith("ONNX node"):
                raise
            raise type(exc)(f"{node.where()}: {exc}") from exc
        except (TypeError, ValueError, ArithmeticError, IndexError) as exc:
            raise node.error(str(exc)) from exc
        outs = outs if isinstance(outs, list) else [outs]
        for i, name in enumerate(node.outputs):
            if not node.wants(i):
                continue
            if i >= len(outs) or outs[i] is None:
                raise node.unsupported(f"output {i} ({name!r}) is not supported")
            self.env[name] = self._exported(name, _tidy(outs[i]), start)

    def _exported(self, name: str, value: Value, start: int) -> Value:
        """A graph output computed by this node's last binding is bound to a GraphVar there."""
        if name not in self.outputs or not isinstance(value, G.DataflowVar):
            return value
        if len(self.bindings) > start and self.bindings[-1].var is value:
            var = G.GraphVar(value.name, value.sinfo)
            self.bindings[-1] = G.VarBinding(var, self.bindings[-1].value)
            return var
        return value

    def _lookup(self, name: str, proto: Any) -> Value:
        if name not in self.env:
            raise OnnxImportError(f"ONNX node {proto.name or proto.op_type!r} ({proto.op_type}) "
                                  f"reads {name!r}, which no earlier node, input or "
                                  "initializer defines (are the nodes topologically sorted?)")
        return self.env[name]

    # ------------------------------------------------------------ emitting
    def _name(self, hint: str) -> str:
        """A fresh identifier: ONNX names ("/layer.0/Add_output_0") are not Python names."""
        base = _ident(hint)
        name, k = base, self.counts.get(base, 0)
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.counts[base] = k
        self.used.add(name)
        return name

    def expr(self, value: Value, what: str = "a tensor") -> G.GraphExpr:
        """The graph expression of a value: an import-time array becomes a constant."""
        if isinstance(value, G.GraphExpr):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise OnnxImportError(f"{what} is a shape value with symbolic sizes "
                                      f"{_show(value)}; it can only be used as a shape here")
            hit = self.consts.get(id(value))
            if hit is None:
                hit = self.consts[id(value)] = (value, G.Constant(value))
            return hit[1]
        raise OnnxImportError(f"{what} is missing")

    def call(self, op: str, *args: Any, **attrs: Any) -> G.DataflowVar:
        """Bind ``R.<op>(*args, **attrs)`` (the script's calling convention, TVM's names)."""
        from ..script.relax_ns import OpCallable

        if get_op(op) is None:
            raise UnsupportedOperatorError(f"the graph operator R.{op} is not registered")
        args = [self.expr(a) if isinstance(a, (np.ndarray, G.GraphExpr)) else a for a in args]
        value = OpCallable(op).script_callable(None, None, args, attrs)
        return self.bind(value)

    def bind(self, value: G.GraphExpr) -> G.DataflowVar:
        var = G.DataflowVar(self._name(self.hint), value.struct_info)
        self.bindings.append(G.VarBinding(var, value))
        return var

    def item(self, tup: G.GraphExpr, index: int) -> G.DataflowVar:
        return self.bind(G.TupleGetItem(tup, index))

    def sinfo(self, value: Value) -> G.TensorStructInfo:
        sinfo = self.expr(value).struct_info if not isinstance(value, np.ndarray) else None
        if sinfo is None:
            from ..ir.dtype import from_numpy

            dtype = "int64" if value.dtype == object else from_numpy(value.dtype)
            return G.TensorStructInfo(value.shape, dtype)
        if not isinstance(sinfo, G.TensorStructInfo):
            raise OnnxImportError(f"expected a tensor, got {type(sinfo).__name__}")
        return sinfo

    def dims(self, value: Value, what: str = "the input") -> list:
        """The sizes of a tensor: ints where static, size expressions otherwise."""
        sinfo = self.sinfo(value)
        if sinfo.shape is None:
            raise OnnxImportError(f"the shape of {what} is unknown")
        return [s.value if isinstance(s, IntImm) else s for s in sinfo.shape]

    def static_dims(self, value: Value, what: str) -> list[int]:
        dims = self.dims(value, what)
        if not all(isinstance(d, int) for d in dims):
            raise OnnxImportError(f"{what} needs static sizes, got shape {_show(dims)}")
        return dims


# ---------------------------------------------------------------- small helpers


def _opset(model: Any) -> dict[str, int]:
    out = {}
    for o in model.opset_import:
        out[o.domain or "ai.onnx"] = o.version
    return out


def _ident(name: str) -> str:
    name = re.sub(r"\W", "_", name) or "v"
    if name[0].isdigit() or keyword.iskeyword(name) or name in ("R", "T", "I", "metadata"):
        name = "v_" + name
    return name


def _tensor(proto: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(proto)


def _show(values: Any) -> str:
    return "(" + ", ".join(str(v) for v in np.asarray(values, dtype=object).ravel()) + ")"


def _simplify(e: Any) -> Any:
    if isinstance(e, (bool, np.bool_)):
        return e
    if isinstance(e, (int, np.integer)):
        return int(e)
    if isinstance(e, IntImm):
        return e.value
    if isinstance(e, PrimExpr):
        from ..arith import Analyzer

        e = Analyzer().simplify(e)
        return e.value if isinstance(e, IntImm) else e
    return e


def _tidy(value: Value) -> Value:
    """An object array of sizes with its expressions simplified; int64 when none is left.
    (numpy scalars, which numpy returns for 0-d results, become arrays.)"""
    if isinstance(value, np.generic):
        return np.asarray(value)
    if isinstance(value, PrimExpr):  # one symbolic size picked out of a shape (0-d)
        array = np.empty((), dtype=object)
        array[()] = value
        value = array
    if not isinstance(value, np.ndarray) or value.dtype != object:
        return value
    flat = [_simplify(v) for v in value.ravel()]
    if all(isinstance(v, int) for v in flat):
        return np.array(flat, dtype="int64").reshape(value.shape)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(value.shape)


def _ints(value: Any, what: str) -> list[int]:
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.integer):
        raise OnnxImportError(f"{what} must be integers known at import time, got "
                              f"{_show(array)}")
    return [int(v) for v in array.ravel()]


def _static(node: Node, i: int, what: str) -> np.ndarray | None:
    """Input ``i`` as an import-time array (None when absent); an error when computed."""
    value = node.input(i)
    if value is None or isinstance(value, np.ndarray):
        return value
    raise node.unsupported(f"{what} (input {i}) must be known at import time (a constant or "
                           "computed from shapes); it is computed by the graph")


def _static_ints(node: Node, i: int, what: str) -> list[int] | None:
    value = _static(node, i, what)
    return None if value is None else _ints(value, f"{node.where()}: {what}")


def _axis(node: Node, axis: int, ndim: int, what: str = "axis") -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise node.error(f"{what} {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim if ndim else 0


def _prod(values: Sequence[Any]) -> Any:
    out: Any = 1
    for v in values:
        out = out * v
    return _simplify(out)


def _factors(e: Any) -> list[Any]:
    from ..ir.expr import Mul

    if isinstance(e, Mul):
        return _factors(e.a) + _factors(e.b)
    return [e.value if isinstance(e, IntImm) else e]


def _divide_sizes(total: Sequence[Any], known: Sequence[Any]) -> Any:
    """prod(total) / prod(known) for sizes, cancelling symbolic factors that appear in both."""
    num = [f for t in total for f in _factors(t)]
    den = [f for k in known for f in _factors(k)]
    rest = []
    for f in den:
        if isinstance(f, int):
            rest.append(f)
            continue
        hit = next((i for i, g in enumerate(num) if not isinstance(g, int)
                    and structural_equal(f, g)), None)
        if hit is None:
            rest.append(f)
        else:
            num.pop(hit)
    cnum = math.prod(f for f in num if isinstance(f, int))
    cden = math.prod(f for f in rest if isinstance(f, int))
    syms_num = [f for f in num if not isinstance(f, int)]
    syms_den = [f for f in rest if not isinstance(f, int)]
    if not syms_den and cden and cnum % cden == 0:
        return _prod([cnum // cden] + syms_num)
    if cden == 0:
        raise ValueError("cannot infer -1 in a shape whose other sizes include 0")
    return _simplify(_prod([cnum] + syms_num) // _prod([cden] + syms_den))


def _same_size(a: Any, b: Any) -> bool:
    if isinstance(a, int) or isinstance(b, int):
        return isinstance(a, int) and isinstance(b, int) and a == b
    return structural_equal(a, b)


# ---------------------------------------------------------------- registration

Converter = Callable[[_Importer, Node], Any]
_CONVERTERS: dict[str, Converter] = {}
_FOLDERS: dict[str, Callable[..., Any]] = {}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register the converter of ONNX ``op_types`` (one function may serve several)."""

    def wrap(fn: Converter) -> Converter:
        for op in op_types:
            if op in _CONVERTERS:
                raise ValueError(f"ONNX operator {op} already has a converter")
            _CONVERTERS[op] = fn
        return fn

    return wrap


def folder(*op_types: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the import-time evaluation of ``op_types`` when all inputs are known."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in op_types:
            _FOLDERS[op] = fn
        return fn

    return wrap


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


@converter("Identity")
def _identity(cx: _Importer, node: Node) -> Value:
    return node.input(0)


@converter("Dropout")
def _dropout(cx: _Importer, node: Node) -> Value:
    training = node.input(2)
    if training is not None and (not isinstance(training, np.ndarray) or bool(training)):
        raise node.unsupported("Dropout in training mode is not supported (inference only)")
    if node.wants(1):
        raise node.unsupported("the mask output of Dropout is not supported")
    return node.input(0)


# ---------------------------------------------------------------- element-wise

_BINARY = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide", "Pow": "power",
           "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
           "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or",
           "Xor": "logical_xor"}
_UNARY = {"Relu": "nn.relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Sqrt": "sqrt", "Exp": "exp",
          "Log": "log", "Neg": "negative", "Abs": "abs", "Floor": "floor", "Ceil": "ceil",
          "Round": "round", "Sin": "sin", "Cos": "cos", "Erf": "erf", "Not": "logical_not"}


@converter(*_BINARY)
def _binary(cx: _Importer, node: Node) -> Value:
    a, b = node.input(0), node.input(1)
    if node.op_type == "Pow":
        b = _cast(cx, b, cx.sinfo(a).dtype)
    if node.op_type == "Div" and cx.sinfo(a).dtype.is_integer:
        return _trunc_divide(cx, a, b)
    return cx.call(_BINARY[node.op_type], a, b)


def _trunc_divide(cx: _Importer, a: Value, b: Value) -> Value:
    """ONNX divides integers rounding toward zero: sign(a) * sign(b) * (|a| // |b|)."""
    q = cx.call("floor_divide", cx.call("abs", a), cx.call("abs", b))
    return cx.call("multiply", cx.call("multiply", cx.call("sign", a), cx.call("sign", b)), q)


@converter(*_UNARY)
def _unary(cx: _Importer, node: Node) -> Value:
    return cx.call(_UNARY[node.op_type], node.input(0))


@converter("Reciprocal")
def _reciprocal(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    return cx.call("divide", np.array(1, dtype=_np_dtype(cx.sinfo(x).dtype)), x)


@converter("Max", "Min", "Sum", "Mean")
def _variadic(cx: _Importer, node: Node) -> Value:
    op = {"Max": "maximum", "Min": "minimum", "Sum": "add", "Mean": "add"}[node.op_type]
    out = node.input(0)
    for other in node.inputs[1:]:
        out = cx.call(op, out, other)
    if node.op_type == "Mean" and len(node.inputs) > 1:
        n = np.array(len(node.inputs), dtype=_np_dtype(cx.sinfo(out).dtype))
        out = cx.call("divide", out, n)
    return out


@converter("Where")
def _where(cx: _Importer, node: Node) -> Value:
    return cx.call("where", node.input(0), node.input(1), node.input(2))


@converter("Cast", "CastLike")
def _cast_node(cx: _Importer, node: Node) -> Value:
    return _cast(cx, node.input(0), _target_dtype(cx, node))


def _target_dtype(cx: _Importer, node: Node) -> str:
    if node.op_type == "CastLike":
        return str(cx.sinfo(node.input(1)).dtype)
    from onnx import helper

    to = node.attr("to")
    if to in (8, 0):  # STRING, UNDEFINED
        raise node.unsupported(f"Cast to ONNX type {to} is not supported")
    return helper.tensor_dtype_to_np_dtype(to).name


def _cast(cx: _Importer, x: Value, dtype: Any) -> Value:
    dtype = str(dtype)
    if isinstance(x, np.ndarray) and x.dtype != object:
        return x.astype(_np_dtype(dtype))
    if str(cx.sinfo(x).dtype) == dtype:
        return x
    return cx.call("astype", x, dtype)


def _np_dtype(dtype: Any) -> np.dtype:
    from ..ir.dtype import dtype as as_dtype

    return np.dtype(as_dtype(str(dtype)).numpy_name())


@converter("Clip")
def _clip(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    if node.opset < 11:
        lo, hi = node.attr("min"), node.attr("max")
    else:
        lo, hi = node.input(1), node.input(2)
    dt = _np_dtype(cx.sinfo(x).dtype)
    static = [v is None or isinstance(v, (float, int)) or
              (isinstance(v, np.ndarray) and v.dtype != object) for v in (lo, hi)]
    if all(static) and lo is not None and hi is not None:
        lo, hi = np.asarray(lo).item(), np.asarray(hi).item()
        return cx.call("clip", x, _number(lo, dt), _number(hi, dt))
    if lo is not None:
        x = cx.call("maximum", x, _as_array(lo, dt))
    if hi is not None:
        x = cx.call("minimum", x, _as_array(hi, dt))
    return x


def _number(value: Any, dt: np.dtype) -> Any:
    return float(value) if np.issubdtype(dt, np.floating) else int(value)


def _as_array(value: Any, dt: np.dtype) -> Value:
    return np.asarray(value, dtype=dt) if not isinstance(value, G.GraphExpr) else value


# ---------------------------------------------------------------- activations


@converter("LeakyRelu")
def _leaky_relu(cx: _Importer, node: Node) -> Value:
    alpha = float(node.attr("alpha", 0.01))
    op = "nn.leakyrelu" if get_op("nn.leakyrelu") is not None else "nn.leaky_relu"
    return cx.call(op, node.input(0), alpha=alpha)


@converter("HardSigmoid")
def _hard_sigmoid(cx: _Importer, node: Node) -> Value:
    return _hardsig(cx, node.input(0), float(node.attr("alpha", 0.2)),
                    float(node.attr("beta", 0.5)))


def _hardsig(cx: _Importer, x: Value, alpha: float, beta: float) -> Value:
    if get_op("nn.hard_sigmoid") is not None:
        return cx.call("nn.hard_sigmoid", x, alpha=alpha, beta=beta)
    dt = _np_dtype(cx.sinfo(x).dtype)
    y = cx.call("add", cx.call("multiply", x, np.array(alpha, dt)), np.array(beta, dt))
    return cx.call("clip", y, 0.0, 1.0)


@converter("HardSwish")
def _hard_swish(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    if get_op("nn.hard_swish") is not None:
        return cx.call("nn.hard_swish", x)
    return cx.call("multiply", x, _hardsig(cx, x, 1.0 / 6.0, 0.5))


@converter("Gelu")
def _gelu(cx: _Importer, node: Node) -> Value:
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise node.error(f"approximate={approximate!r} is not one of 'none', 'tanh'")
    return cx.call("nn.gelu" if approximate == "none" else "nn.gelu_tanh", node.input(0))


@converter("PRelu")
def _prelu(cx: _Importer, node: Node) -> Value:
    x, slope = node.input(0), node.input(1)
    dt = _np_dtype(cx.sinfo(x).dtype)
    negative = cx.call("less", x, np.array(0, dt))
    return cx.call("where", negative, cx.call("multiply", x, slope), x)


@converter("Softmax", "LogSoftmax")
def _softmax(cx: _Importer, node: Node) -> Value:
    op = "nn.softmax" if node.op_type == "Softmax" else "nn.log_softmax"
    x = node.input(0)
    ndim = len(cx.dims(x))
    if node.opset >= 13:
        return cx.call(op, x, axis=_axis(node, node.attr("axis", -1), ndim))
    axis = _axis(node, node.attr("axis", 1), ndim)  # before 13: the input as a 2-D matrix
    if axis == ndim - 1:
        return cx.call(op, x, axis=axis)
    dims = cx.dims(x)
    flat = cx.call("reshape", x, (_prod(dims[:axis]), _prod(dims[axis:])))
    return cx.call("reshape", cx.call(op, flat, axis=1), tuple(dims))


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


def _axes_of(node: Node, ndim: int) -> list[int] | None:
    """The ``axes`` of Squeeze/Unsqueeze/Reduce*: an input from some opset, else an attribute."""
    since = {"Squeeze": 13, "Unsqueeze": 13, "ReduceSum": 13}.get(node.op_type, 18)
    axes = _static_ints(node, 1, "axes") if node.opset >= since else node.attr("axes")
    if axes is None:
        return None
    axes = [_axis(node, a, ndim, "axes entry") for a in axes]
    if len(set(axes)) != len(axes):
        raise node.error(f"axes {axes} repeat an axis")
    return axes


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


# ---------------------------------------------------------------- reductions

_REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
           "ReduceProd": "prod", "ReduceSumSquare": "sum", "ReduceL1": "sum", "ReduceL2": "sum"}


@converter(*_REDUCE)
def _reduce(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = len(cx.dims(x))
    axes = _axes_of(node, ndim)
    keep = bool(node.attr("keepdims", 1))
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(ndim))
    if node.op_type in ("ReduceSumSquare", "ReduceL2"):
        x = cx.call("multiply", x, x)
    elif node.op_type == "ReduceL1":
        x = cx.call("abs", x)
    out = cx.call(_REDUCE[node.op_type], x, axis=axes, keepdims=keep)
    return cx.call("sqrt", out) if node.op_type == "ReduceL2" else out


@converter("ArgMax", "ArgMin")
def _arg_reduce(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    if node.attr("select_last_index", 0):
        raise node.unsupported("select_last_index=1 is not supported")
    axis = _axis(node, node.attr("axis", 0), len(cx.dims(x)))
    op = "argmax" if node.op_type == "ArgMax" else "argmin"
    return cx.call(op, x, axis=axis, keepdims=bool(node.attr("keepdims", 1)))


# ---------------------------------------------------------------- normalization


@converter("BatchNormalization")
def _batch_norm(cx: _Importer, node: Node) -> Value:
    if node.attr("training_mode", 0) or any(node.wants(i) for i in (1, 2, 3, 4)) or \
            node.attr("spatial", 1) != 1:
        raise node.unsupported("BatchNormalization in training mode (or with its running "
                               "mean/var outputs) is not supported; export in eval mode")
    x, scale, bias, mean, var = (node.input(i) for i in range(5))
    out = cx.call("nn.batch_norm", x, scale, bias, mean, var, axis=1,
                  epsilon=float(node.attr("epsilon", 1e-5)), training=False)
    return cx.item(out, 0)


@converter("LayerNormalization")
def _layer_norm(cx: _Importer, node: Node) -> Value:
    if node.wants(1) or node.wants(2):
        raise node.unsupported("the Mean and InvStdDev outputs of LayerNormalization are not "
                               "supported")
    x, scale, bias = node.input(0), node.input(1), node.input(2)
    ndim = len(cx.dims(x))
    axis = _axis(node, node.attr("axis", -1), ndim)
    normalized = cx.dims(x)[axis:]
    dt = _np_dtype(cx.sinfo(x).dtype)
    scale = _broadcast_param(cx, scale, normalized)
    bias = _broadcast_param(cx, np.zeros((), dt) if bias is None else bias, normalized)
    return cx.call("nn.layer_norm", x, scale, bias, axes=list(range(axis, ndim)),
                   epsilon=float(node.attr("epsilon", 1e-5)))


def _broadcast_param(cx: _Importer, value: Value, dims: list) -> Value:
    """A scale or bias with the normalized axes' shape (ONNX lets them broadcast)."""
    have = list(value.shape) if isinstance(value, np.ndarray) else cx.dims(value)
    if len(have) == len(dims) and all(map(_same_size, have, dims)):
        return value
    if isinstance(value, np.ndarray) and all(isinstance(d, int) for d in dims):
        return np.ascontiguousarray(np.broadcast_to(value, dims))
    return cx.call("broadcast_to", value, G.ShapeExpr(tuple(dims)))


@converter("InstanceNormalization")
def _instance_norm(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = cx.dims(x)
    eps = float(node.attr("epsilon", 1e-5))
    if get_op("nn.instance_norm") is not None:
        return cx.call("nn.instance_norm", x, node.input(1), node.input(2), channel_axis=1,
                       axes=list(range(2, len(dims))), epsilon=eps)
    if not isinstance(dims[1], int):
        raise node.unsupported("InstanceNormalization needs a static number of channels")
    # one group per channel: the same statistics, the same per-channel scale and bias
    return cx.call("nn.group_norm", x, node.input(1), node.input(2), num_groups=dims[1],
                   channel_axis=1, axes=list(range(2, len(dims))), epsilon=eps)


@converter("GroupNormalization")
def _group_norm(cx: _Importer, node: Node) -> Value:
    x, scale, bias = node.input(0), node.input(1), node.input(2)
    dims = cx.dims(x)
    groups = node.attr("num_groups")
    if node.opset < 21:  # scale and bias per group: repeated for the channels of each group
        if not isinstance(dims[1], int):
            raise node.unsupported("GroupNormalization before opset 21 needs a static number "
                                   "of channels")
        scale, bias = (_static(node, i, what) for i, what in ((1, "scale"), (2, "bias")))
        scale, bias = (np.repeat(v, dims[1] // groups) for v in (scale, bias))
    return cx.call("nn.group_norm", x, scale, bias, num_groups=groups, channel_axis=1,
                   axes=list(range(2, len(dims))), epsilon=float(node.attr("epsilon", 1e-5)))


# ---------------------------------------------------------------- matrix products


@converter("MatMul")
def _matmul(cx: _Importer, node: Node) -> Value:
    return cx.call("matmul", node.input(0), node.input(1))


@converter("Gemm")
def _gemm(cx: _Importer, node: Node) -> Value:
    a, b, c = node.input(0), node.input(1), node.input(2)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    if node.attr("transA", 0):
        a = a.T.copy() if isinstance(a, np.ndarray) else cx.call("permute_dims", a, axes=[1, 0])
    if node.attr("transB", 0):
        b = b.T.copy() if isinstance(b, np.ndarray) else cx.call("permute_dims", b, axes=[1, 0])
    dt = _np_dtype(cx.sinfo(a).dtype)
    if alpha != 1.0 and isinstance(b, np.ndarray):
        b, alpha = (b * np.array(alpha, dt)).astype(dt), 1.0
    y = cx.call("matmul", a, b)
    if alpha != 1.0:
        y = cx.call("multiply", y, np.array(alpha, dt))
    if c is None or beta == 0.0:
        return y
    if beta != 1.0:
        c = (c * np.array(beta, dt)).astype(dt) if isinstance(c, np.ndarray) else \
            cx.call("multiply", c, np.array(beta, dt))
    return cx.call("add", y, c)


@converter("Einsum")
def _einsum(cx: _Importer, node: Node) -> Value:
    eq = node.attr("equation", "").replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if "." in eq or len(terms) != len(node.inputs) or not 1 <= len(terms) <= 2:
        raise node.unsupported(f"Einsum {eq!r}: only one- and two-operand equations without "
                               "'...' are supported")
    if not arrow:
        rhs = "".join(sorted(c for c in set(lhs.replace(",", "")) if lhs.count(c) == 1))
    if any(len(set(t)) != len(t) for t in terms + [rhs]):
        raise node.unsupported(f"Einsum {eq!r}: repeated indices in one operand (diagonals) "
                               "are not supported")
    # an index that is in one operand only and not in the result is summed first
    keep = set(rhs) | (set(terms[0]) & set(terms[-1]) if len(terms) == 2 else set())
    ops = [_einsum_sum(cx, t, v, keep) for t, v in zip(terms, node.inputs)]
    if len(ops) == 1:
        (t, v), = ops
        return _permute_to(cx, v, t, rhs)
    (ta, a), (tb, b) = ops
    batch = [c for c in rhs if c in ta and c in tb]
    left = [c for c in rhs if c in ta and c not in tb]
    right = [c for c in rhs if c in tb and c not in ta]
    inner = [c for c in ta if c in tb and c not in rhs]
    # batch axes stay axes of R.matmul (no merged sizes): the others become one axis each
    a = _grouped(cx, _permute_to(cx, a, ta, "".join(batch + left + inner)), len(batch),
                 [len(left), len(inner)])
    b = _grouped(cx, _permute_to(cx, b, tb, "".join(batch + inner + right)), len(batch),
                 [len(inner), len(right)])
    y = cx.call("matmul", a, b)
    sizes = {c: d for t, v in zip(terms, node.inputs) for c, d in zip(t, cx.dims(v))}
    dims = cx.dims(y)[:len(batch)] + [sizes[c] for c in left + right]
    y = _reshaped(cx, y, dims)
    return _permute_to(cx, y, "".join(batch + left + right), rhs)


def _grouped(cx: _Importer, v: Value, keep: int, groups: list[int]) -> Value:
    """``v`` with its first ``keep`` axes kept and the next ones merged by ``groups`` counts."""
    dims = cx.dims(v)
    out, k = dims[:keep], keep
    for n in groups:
        out.append(_prod(dims[k:k + n]))
        k += n
    return _reshaped(cx, v, out)


def _reshaped(cx: _Importer, v: Value, dims: list) -> Value:
    have = cx.dims(v)
    if len(have) == len(dims) and all(map(_same_size, have, dims)):
        return v
    return cx.call("reshape", v, tuple(dims))


def _einsum_sum(cx: _Importer, t: str, v: Value, keep: set) -> tuple[str, Value]:
    gone = [i for i, c in enumerate(t) if c not in keep]
    if not gone:
        return t, v
    return "".join(c for c in t if c in keep), cx.call("sum", v, axis=gone, keepdims=False)


def _permute_to(cx: _Importer, v: Value, have: str, want: str) -> Value:
    if have == want:
        return v
    return cx.call("permute_dims", v, axes=[have.index(c) for c in want])


# ---------------------------------------------------------------- convolution and pooling


def _spatial_attrs(node: Node, n: int, kernel: list) -> tuple[list, list]:
    strides = list(node.attr("strides", [1] * n))
    dilations = list(node.attr("dilations", [1] * n))
    if len(kernel) != n or len(strides) != n or len(dilations) != n:
        raise node.error(f"kernel_shape {kernel}, strides {strides} and dilations "
                         f"{dilations} must each have {n} entries")
    return strides, dilations


def _pads(node: Node, sizes: list, kernel: list, strides: list, dilations: list) -> list[int]:
    """ONNX pads (all begins, then all ends) from ``pads`` or ``auto_pad``."""
    n = len(kernel)
    auto = node.attr("auto_pad", "NOTSET")
    if auto == "NOTSET":
        pads = list(node.attr("pads", [0] * 2 * n))
        if len(pads) != 2 * n:
            raise node.error(f"pads {pads} must have {2 * n} entries")
        return pads
    if auto == "VALID":
        return [0] * 2 * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.error(f"auto_pad={auto!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, "
                         "VALID")
    if not all(isinstance(s, int) for s in sizes):
        raise node.unsupported(f"auto_pad={auto} needs static spatial sizes, got "
                               f"{_show(sizes)}")
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin + end


_NDIM_OP = {1: "1d", 2: "2d", 3: "3d"}


@converter("Conv")
def _conv(cx: _Importer, node: Node) -> Value:
    x, w, b = node.input(0), node.input(1), node.input(2)
    dims, wdims = cx.dims(x), cx.dims(w, "the weight")
    n = len(dims) - 2
    if n not in _NDIM_OP:
        raise node.unsupported(f"Conv on a tensor of rank {len(dims)} is not supported")
    kernel = list(node.attr("kernel_shape", wdims[2:]))
    strides, dilations = _spatial_attrs(node, n, kernel)
    pads = _pads(node, dims[2:], kernel, strides, dilations)
    y = cx.call("nn.conv" + _NDIM_OP[n], x, w, strides=strides, padding=pads,
                dilation=dilations, groups=int(node.attr("group", 1)))
    return _bias(cx, y, b, n)


def _bias(cx: _Importer, y: Value, b: Value, n: int) -> Value:
    if b is None:
        return y
    if isinstance(b, np.ndarray):
        b = b.reshape([1, -1] + [1] * n)
    else:
        b = cx.call("reshape", b, (1, cx.dims(b)[0]) + (1,) * n)
    return cx.call("add", y, b)


@converter("ConvTranspose")
def _conv_transpose(cx: _Importer, node: Node) -> Value:
    x, w, b = node.input(0), node.input(1), node.input(2)
    dims, wdims = cx.dims(x), cx.dims(w, "the weight")
    n = len(dims) - 2
    if n not in (1, 2):
        raise node.unsupported(f"ConvTranspose on a tensor of rank {len(dims)} is not "
                               "supported")
    kernel = list(node.attr("kernel_shape", wdims[2:]))
    strides, dilations = _spatial_attrs(node, n, kernel)
    extra = list(node.attr("output_padding", [0] * n))
    auto = node.attr("auto_pad", "NOTSET")
    out_shape = node.attr("output_shape")
    if out_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        sizes = [d * s for d, s in zip(dims[2:], strides)] if out_shape is None else \
            list(out_shape)[-n:]
        pads = _transpose_pads(node, dims[2:], sizes, kernel, strides, dilations, extra)
    else:
        pads = [0] * 2 * n if auto == "VALID" else list(node.attr("pads", [0] * 2 * n))
    y = cx.call("nn.conv" + _NDIM_OP[n] + "_transpose", x, w, strides=strides, padding=pads,
                output_padding=extra, dilation=dilations, groups=int(node.attr("group", 1)))
    return _bias(cx, y, b, n)


def _transpose_pads(node: Node, sizes: list, out: list, kernel: list, strides: list,
                    dilations: list, extra: list) -> list[int]:
    begin, end = [], []
    for size, o, k, s, d, e in zip(sizes, out, kernel, strides, dilations, extra):
        if not isinstance(size, int):
            raise node.unsupported("output_shape/auto_pad need static spatial sizes")
        total = s * (size - 1) + e + (k - 1) * d + 1 - o
        if total < 0 or total % 2:  # runtimes disagree on where an odd padding goes
            raise node.unsupported(f"output size {o} needs a total padding of {total}; only "
                                   "an even, non-negative total is supported")
        begin.append(total // 2)
        end.append(total // 2)
    return begin + end


@converter("MaxPool", "AveragePool")
def _pool(cx: _Importer, node: Node) -> Value:
    if node.wants(1):
        raise node.unsupported("the Indices output of MaxPool is not supported")
    x = node.input(0)
    dims = cx.dims(x)
    n = len(dims) - 2
    if n not in _NDIM_OP:
        raise node.unsupported(f"{node.op_type} on a tensor of rank {len(dims)} is not "
                               "supported")
    kernel = list(node.attr("kernel_shape"))
    strides, dilations = _spatial_attrs(node, n, kernel)
    pads = _pads(node, dims[2:], kernel, strides, dilations)
    base = "nn.max_pool" if node.op_type == "MaxPool" else "nn.avg_pool"
    attrs = {"pool_size": kernel, "strides": strides, "padding": pads, "dilation": dilations,
             "ceil_mode": bool(node.attr("ceil_mode", 0))}
    if node.op_type == "AveragePool":
        attrs["count_include_pad"] = bool(node.attr("count_include_pad", 0))
    if n == 1 and get_op(base + "1d") is None:  # as a 2-D pool over a height of 1
        attrs = {k: [1] + list(v) if isinstance(v, list) else v for k, v in attrs.items()}
        attrs["padding"] = [0, pads[0], 0, pads[1]]
        y = cx.call(base + "2d", cx.call("expand_dims", x, axis=[2]), **attrs)
        return cx.call("squeeze", y, axis=[2])
    return cx.call(base + _NDIM_OP[n], x, **attrs)


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    ndim = len(cx.dims(x))
    if node.op_type == "GlobalAveragePool" and ndim == 4 and \
            get_op("nn.adaptive_avg_pool2d") is not None:
        return cx.call("nn.adaptive_avg_pool2d", x, output_size=[1, 1])
    op = "mean" if node.op_type == "GlobalAveragePool" else "max"
    return cx.call(op, x, axis=list(range(2, ndim)), keepdims=True)


# ---------------------------------------------------------------- resizing


@converter("Resize", "Upsample")
def _resize(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    dims = cx.dims(x, f"the input of {node.op_type}")
    if len(dims) != 4:
        raise node.unsupported(f"{node.op_type} of a rank-{len(dims)} tensor (only NCHW)")
    mode = node.attr("mode", "nearest")
    method = {"nearest": "nearest_neighbor", "linear": "linear", "bilinear": "linear",
              "cubic": "cubic"}.get(mode)
    if method is None:
        raise node.error(f"mode={mode!r} is not one of nearest, linear, cubic")
    if node.op_type == "Upsample" or node.opset < 11:
        scales = node.attr("scales") if node.opset < 9 else _static(node, 1, "scales")
        sizes, coord = None, "asymmetric"
        nearest = "floor"
    else:
        scales, sizes = _static(node, 2, "scales"), _static(node, 3, "sizes")
        coord = node.attr("coordinate_transformation_mode", "half_pixel")
        nearest = node.attr("nearest_mode", "round_prefer_floor")
        for key, ok in (("antialias", 0), ("keep_aspect_ratio_policy", "stretch"),
                        ("exclude_outside", 0)):
            if node.attr(key, ok) != ok:
                raise node.unsupported(f"{key}={node.attr(key)!r} is not supported")
        if node.attr("axes") is not None:
            raise node.unsupported("the axes attribute of Resize is not supported")
    if coord == "tf_crop_and_resize":
        raise node.unsupported("coordinate_transformation_mode='tf_crop_and_resize'")
    out = _resize_sizes(node, dims, scales, sizes)
    return cx.call("image.resize2d", x, G.ShapeExpr(tuple(out)), layout="NCHW",
                   method=method, coordinate_transformation_mode=coord,
                   rounding_method=nearest if method == "nearest_neighbor" else "",
                   cubic_alpha=float(node.attr("cubic_coeff_a", -0.75)),
                   extrapolation_value=float(node.attr("extrapolation_value", 0.0)))


def _resize_sizes(node: Node, dims: list, scales: Any, sizes: Any) -> list[int]:
    """The output's height and width; the batch and channel sizes must stay."""
    if sizes is not None and np.size(sizes):
        out = [_simplify(v) for v in np.ravel(sizes)]
        keeps = len(out) == 4 and all(map(_same_size, out[:2], dims[:2]))
    elif scales is not None and np.size(scales):
        scales = [float(v) for v in np.ravel(scales)]
        keeps = len(scales) == 4 and scales[:2] == [1.0, 1.0]
        if not all(isinstance(d, int) for d in dims[2:]):
            raise node.unsupported(f"scales need a static height and width, got "
                                   f"{_show(dims)}")
        out = [None, None] + [math.floor(d * s) for d, s in zip(dims[2:], scales[2:])]
        if any(o != d * s for d, s, o in zip(dims[2:], scales[2:], out[2:])):
            # the runtimes map coordinates with the given scale, not out/in: only exact scales
            raise node.unsupported(f"scales {scales} do not give whole sizes for the input "
                                   f"{_show(dims)}; give sizes instead")
    else:
        raise node.error(f"{node.op_type} needs scales or sizes")
    if not keeps or not all(isinstance(v, int) for v in out[2:]):
        shown = _show(out) if sizes is not None and np.size(sizes) else f"scales {scales}"
        raise node.unsupported(f"resizing {_show(dims)} to {shown}: only the height and "
                               "width (the last two sizes, known at import time) may change")
    return out[2:]


# ---------------------------------------------------------------- import-time evaluation
# A folder returns the outputs of a node whose inputs are all known at import time, or None
# when it cannot (then the converter emits graph operators). Object arrays hold symbolic sizes.

_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "And": np.logical_and,
                 "Or": np.logical_or, "Xor": np.logical_xor}
_NUMPY_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
                  "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal}
_NUMPY_UNARY = {"Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil,
                "Sqrt": np.sqrt, "Not": np.logical_not, "Reciprocal": np.reciprocal,
                "Exp": np.exp, "Log": np.log, "Relu": lambda x: np.maximum(x, 0)}


def _like(result: Any, *inputs: np.ndarray) -> np.ndarray:
    """``result`` with the ONNX output dtype (numpy promotes scalars; ONNX does not)."""
    result = np.asarray(result)
    if result.dtype == object or result.dtype == bool:
        return result
    return result.astype(inputs[0].dtype)


@folder(*_NUMPY_BINARY)
def _fold_binary(node: Node, a: np.ndarray, b: np.ndarray) -> Any:
    return _like(_NUMPY_BINARY[node.op_type](a, b), a, b)


@folder("Div")
def _fold_div(node: Node, a: np.ndarray, b: np.ndarray) -> Any:
    if a.dtype == object or b.dtype == object:  # sizes: non-negative, so floor is truncation
        return np.vectorize(lambda x, y: x // y, otypes=[object])(a, b)
    if np.issubdtype(a.dtype, np.integer):
        q = np.abs(a) // np.abs(b)
        return _like(np.where((a < 0) != (b < 0), -q, q), a)
    return _like(a / b, a)


@folder(*_NUMPY_COMPARE)
def _fold_compare(node: Node, a: np.ndarray, b: np.ndarray) -> Any:
    fn = _NUMPY_COMPARE[node.op_type]
    if a.dtype != object and b.dtype != object:
        return fn(a, b)
    return np.vectorize(lambda x, y: _decide(node, fn, x, y), otypes=[bool])(a, b)


def _decide(node: Node, fn: Any, x: Any, y: Any) -> bool:
    x, y = _simplify(x), _simplify(y)
    if isinstance(x, int) and isinstance(y, int):
        return bool(fn(x, y))
    diff = _simplify(x - y)
    if isinstance(diff, int):
        return bool(fn(diff, 0))
    if fn is np.equal and any(isinstance(v, int) and v < 0 for v in (x, y)):
        return False  # a size is never negative
    raise node.unsupported(f"cannot decide {node.op_type}({x}, {y}) on symbolic sizes at "
                           "import time")


@folder(*_NUMPY_UNARY)
def _fold_unary(node: Node, x: np.ndarray) -> Any:
    if x.dtype == object:
        return -x if node.op_type == "Neg" else None
    with np.errstate(all="ignore"):
        return _like(_NUMPY_UNARY[node.op_type](x), x)


@folder("Cast", "CastLike")
def _fold_cast(node: Node, x: np.ndarray, like: Any = None) -> Any:
    dtype = like.dtype if like is not None else _target_dtype(None, node)
    if x.dtype == object:
        return x if np.issubdtype(np.dtype(dtype), np.integer) else None
    return x.astype(dtype)


@folder("Where")
def _fold_where(node: Node, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> Any:
    out = np.where(c, a, b)
    return out if out.dtype == object else out.astype(a.dtype)


@folder("Max", "Min")
def _fold_extreme(node: Node, *values: np.ndarray) -> Any:
    if any(v.dtype == object for v in values):
        return None
    fn = np.maximum if node.op_type == "Max" else np.minimum
    out = values[0]
    for v in values[1:]:
        out = fn(out, v)
    return _like(out, values[0])


@folder("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin")
def _fold_reduce(node: Node, x: np.ndarray, *rest: Any) -> Any:
    if x.dtype == object and node.op_type not in ("ReduceProd", "ReduceSum"):
        return None
    axes = _axes_of(node, x.ndim)
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    fn = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max,
          "ReduceMin": np.min}[node.op_type]
    out = fn(x, axis=tuple(axes), keepdims=bool(node.attr("keepdims", 1)))
    return _like(out, x) if x.dtype != object else np.asarray(out, dtype=object)



__all__ = [
    "Node",
    "OnnxImportError",
    "UnsupportedOperatorError",
    "converter",
    "folder",
    "from_onnx",
    "supported_operators",
]
