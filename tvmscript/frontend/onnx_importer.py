"""The ONNX importer proper: it walks the graph's nodes in order, hands each to its converter
(or its folder, when all inputs are known at import time) and binds what they emit into the
dataflow block of ``main``. Converters emit through ``_Importer.call``."""

from __future__ import annotations

import keyword
import os
import re
from typing import Any

import numpy as np

from ..ir import IRModule
from ..ir import graph as G
from ..ir.dtype import INT64
from ..ir.expr import IntImm, PrimExpr, Var
from ..ir.graph_ops import get_op
from .onnx_registry import (_CONVERTERS, _FOLDERS, Node, OnnxImportError,
                            UnsupportedOperatorError, Value, supported_operators)
from .onnx_shapes import _show, _tidy


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
