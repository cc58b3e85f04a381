"""The graph walker: binds each node of an ``ExportedProgram`` to a graph value (through the
converter table), folds constant-only nodes with torch, and builds ``main``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..ir import graph as G
from ..ir.dtype import INT64
from ..ir.expr import IntImm, Var
from ..ir.graph_ops import GraphTypeError, get_op
from .torch_errors import (
    TorchImportError,
    UnsupportedOperatorError,
    _describe_target,
    _key,
    _location,
)
from .torch_registry import _CONVERTERS, _NO_FOLD
from .torch_values import _dtype, _numpy, _scalar_dtype, _Unavailable, _what

_NOT_FOLDED = object()
_FOLD_BYTES = 1 << 16


class _Importer:
    """Walks the graph once, binding each node's value in one dataflow block."""

    def __init__(self, program: Any, fold: bool) -> None:
        self.program = program
        self.fold = fold
        self.env: dict[Any, Any] = {}
        self.bindings: list[G.VarBinding] = []
        self.symbols: dict[str, Var] = {}
        self.node: Any = None
        self.exported_vars: set[G.GraphVar] = set()
        self.outputs_in_order = self._user_outputs()
        self.outputs = {a for a in self.outputs_in_order if hasattr(a, "op")}

    # ------------------------------------------------------------ driving
    def run(self) -> G.Function:
        params = self._placeholders()
        for node in self.program.graph.nodes:
            if node.op == "call_function":
                self.node = node
                self.env[node] = self._convert(node)
                if node in self.outputs:
                    self.env[node] = self._exported(self.env[node])
            elif node.op not in ("placeholder", "output"):
                raise self.error(f"graph nodes of kind {node.op!r} ({node.target}) are not "
                                 "supported (control flow and sub-modules are not)")
        self.node = None
        results = [self._output(self.env.get(n, n)) for n in self.outputs_in_order]
        body = results[0] if len(results) == 1 else G.Tuple(tuple(results))
        seq = G.SeqExpr((G.DataflowBlock(tuple(self.bindings)),), body)
        return G.Function(tuple(params), seq, body.struct_info, {"global_symbol": "main"},
                          name="main")

    def _convert(self, node: Any) -> Any:
        args = self._args(node)
        folded = self._fold(node) if self.fold else _NOT_FOLDED
        if folded is not _NOT_FOLDED:
            return folded
        try:
            return _CONVERTERS[_key(node.target)](self, args)
        except TorchImportError:
            raise
        except GraphTypeError as exc:
            raise self.error(f"its translation is ill-typed: {exc}") from exc
        except Exception as exc:  # any other failure, reported at the node
            raise self.error(f"translating it failed ({type(exc).__name__}: {exc})") from exc

    def error(self, message: str, cls: type = TorchImportError) -> TorchImportError:
        node = self.node
        if node is None:
            return cls(message)
        head = f"{_describe_target(node.target)} (graph node '{node.name}'): {message}"
        return cls("\n".join([head] + _location(node)))

    # ------------------------------------------------------------ inputs and outputs
    def _placeholders(self) -> list[G.GraphVar]:
        from torch.export.graph_signature import InputKind

        nodes = {n.name: n for n in self.program.graph.nodes if n.op == "placeholder"}
        params = []
        for spec in self.program.graph_signature.input_specs:
            node = nodes[spec.arg.name]
            self.node = node
            if spec.kind == InputKind.USER_INPUT:
                var = G.GraphVar(node.name, self._input_sinfo(node))
                params.append(var)
                self.env[node] = var
            elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER,
                               InputKind.CONSTANT_TENSOR):
                self.env[node] = G.Constant(self._weight(spec))
            else:
                raise self.error(f"inputs of kind {spec.kind.name} are not supported")
        self.node = None
        return params

    def _input_sinfo(self, node: Any) -> G.TensorStructInfo:
        import torch

        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise self.error(f"the input '{node.name}' is a {type(val).__name__}; only tensor "
                             "inputs are supported")
        return G.TensorStructInfo(self.shape_of(val), _dtype(val.dtype))

    def _weight(self, spec: Any) -> np.ndarray:
        program = self.program
        name = spec.target
        tensor = program.state_dict[name] if name in program.state_dict else \
            program.constants[name]
        return _numpy(tensor.detach(), f"the weight '{name}'")

    def _output(self, value: Any) -> G.GraphVar:
        if not isinstance(value, G.GraphVar) or isinstance(value, G.DataflowVar) or \
                value in self.exported_vars:
            value = self._alias(value)
        self.exported_vars.add(value)
        return value

    def _exported(self, value: Any) -> Any:
        """An output node's value becomes a non-dataflow variable (it escapes the block)."""
        if isinstance(value, G.DataflowVar) and self.bindings and \
                self.bindings[-1].var is value:
            var = G.GraphVar(value.name, value.sinfo)
            self.bindings[-1] = G.VarBinding(var, self.bindings[-1].value)
            return var
        return value

    def _alias(self, value: Any) -> G.GraphVar:
        if isinstance(value, _Unavailable) or not isinstance(value, G.GraphExpr):
            raise TorchImportError(f"an output of the program is not a tensor ({_what(value)});"
                                   " only tensor outputs are supported")
        var = G.GraphVar("gv", value.struct_info)
        self.bindings.append(G.VarBinding(var, value))
        return var

    def _user_outputs(self) -> list:
        from torch.export.graph_signature import OutputKind

        out_node = next(n for n in self.program.graph.nodes if n.op == "output")
        order = []
        for spec, arg in zip(self.program.graph_signature.output_specs, out_node.args[0]):
            if spec.kind != OutputKind.USER_OUTPUT:
                self.node = arg if hasattr(arg, "meta") else None
                raise self.error(f"the program mutates {spec.target!r} ({spec.kind.name}); "
                                 "export the model in inference mode (model.eval()) without "
                                 "in-place updates of its inputs or buffers")
            order.append(arg)
        self.node = None
        return order

    # ------------------------------------------------------------ values
    def _args(self, node: Any) -> dict:
        """The node's arguments by schema name (defaults filled), nodes replaced by values."""
        schema = getattr(node.target, "_schema", None)
        if schema is None:
            values = {f"arg{i}": a for i, a in enumerate(node.args)}
            values.update(node.kwargs)
        else:
            values = {}
            for i, arg in enumerate(schema.arguments):
                if i < len(node.args):
                    values[arg.name] = node.args[i]
                elif arg.name in node.kwargs:
                    values[arg.name] = node.kwargs[arg.name]
                else:
                    values[arg.name] = arg.default_value if arg.has_default_value() else None
        return {k: self._value(v) for k, v in values.items()}

    def _value(self, value: Any) -> Any:
        import torch

        if isinstance(value, torch.fx.Node):
            out = self.env[value]
            if isinstance(out, _Unavailable):
                raise self.error(f"it uses {out.what}, which the translation does not compute")
            return out
        if isinstance(value, (list, tuple)):
            return type(value)(self._value(v) for v in value)
        return value

    def _fold(self, node: Any) -> Any:
        """The node computed by torch when its tensors are all constants (small results)."""
        import torch

        target = node.target
        if not isinstance(target, torch._ops.OpOverload) or target.namespace != "aten" or \
                torch.Tag.nondeterministic_seeded in target.tags or _key(target) in _NO_FOLD:
            return _NOT_FOLDED
        sizes: list[int] = []

        def real(n: Any) -> Any:
            value = self.env[n]
            if isinstance(value, G.Constant):
                sizes.append(value.data.nbytes)
                return torch.from_numpy(np.array(value.data))
            if isinstance(value, IntImm):
                return value.value
            if isinstance(value, (int, float, bool)) or value is None:
                return value
            raise _Abort

        try:
            args = torch.fx.node.map_arg(node.args, real)
            kwargs = torch.fx.node.map_arg(node.kwargs, real)
            result = target(*args, **kwargs)
        except Exception:  # noqa: BLE001 - not computable now: translated instead
            return _NOT_FOLDED
        limit = max(sizes + [_FOLD_BYTES])
        outs = result if isinstance(result, (tuple, list)) else (result,)
        if not outs or not all(isinstance(t, torch.Tensor) and t.numel() * t.element_size()
                               <= limit for t in outs):
            return _NOT_FOLDED
        try:
            consts = tuple(G.Constant(_numpy(t, "a folded constant")) for t in outs)
        except TorchImportError:
            return _NOT_FOLDED
        return consts if isinstance(result, (tuple, list)) else consts[0]

    # ------------------------------------------------------------ emitting
    def emit(self, expr: G.GraphExpr, hint: str | None = None) -> G.DataflowVar:
        var = G.DataflowVar(hint or self.node.name, expr.struct_info)
        self.bindings.append(G.VarBinding(var, expr))
        return var

    def call(self, op: str, args: list, **attrs: Any) -> G.DataflowVar:
        """Bind ``R.<op>(*args, **attrs)``; what the operator library lacks is an error."""
        opdef = get_op(op)
        if opdef is None:
            raise self.error(f"it is translated to R.{op}, which the operator library does "
                             "not have", UnsupportedOperatorError)
        args = [self.tensor(a) if isinstance(a, (int, float, bool)) else a for a in args]
        return self.emit(G.Call(G.Op(opdef.name), tuple(args), attrs))

    def tensor(self, value: Any, dtype: str | None = None) -> G.GraphExpr:
        """A tensor operand: graph values as they are, Python numbers as 0-d constants."""
        if isinstance(value, G.GraphExpr):
            return value
        if isinstance(value, (bool, int, float)):
            return G.Constant(np.array(value, dtype=dtype or _scalar_dtype(value)))
        raise self.error(f"expected a tensor or a number, got {_what(value)}")

    def cast(self, value: G.GraphExpr, dtype: str) -> G.GraphExpr:
        if self.dtype(value) == dtype:
            return value
        if isinstance(value, G.Constant):
            return G.Constant(value.data.astype(dtype))
        return self.call("astype", [value], dtype=dtype)

    # ------------------------------------------------------------ struct info
    def dtype(self, value: G.GraphExpr) -> str:
        return str(value.struct_info.dtype)

    def shape(self, value: G.GraphExpr) -> tuple:
        """Sizes: ints where static, size expressions where symbolic."""
        sinfo = value.struct_info
        if not isinstance(sinfo, G.TensorStructInfo) or sinfo.shape is None:
            raise self.error(f"expected a tensor of known shape, got {_what(value)}")
        return tuple(s.value if isinstance(s, IntImm) else s for s in sinfo.shape)

    def ndim(self, value: G.GraphExpr) -> int:
        return len(self.shape(value))

    def out_val(self) -> Any:
        return self.node.meta.get("val")

    def out_shape(self) -> tuple:
        return self.shape_of(self.out_val())

    def out_dtype(self) -> str:
        val = self.out_val()
        val = val[0] if isinstance(val, (tuple, list)) else val
        return _dtype(val.dtype)

    def shape_of(self, val: Any) -> tuple:
        return tuple(self.size(s) for s in val.shape)

    def size(self, s: Any) -> Any:
        """A torch size (int or SymInt) as an int or a size expression."""
        import torch

        if isinstance(s, torch.SymInt):
            expr = s.node.expr
            return self._sympy(expr) if not expr.is_Integer else int(expr)
        return int(s)

    def _sympy(self, e: Any) -> Any:
        if e.is_Integer:
            return int(e)
        if e.is_Symbol:
            var = self.symbols.get(e.name)
            if var is None:
                var = self.symbols[e.name] = Var(e.name, INT64)
            return var
        parts = [self._sympy(a) for a in e.args]
        kind = type(e).__name__
        fold = {"Add": operator.add, "Mul": operator.mul, "FloorDiv": operator.floordiv,
                "Mod": operator.mod, "PythonMod": operator.mod}.get(kind)
        if fold is not None:
            out = parts[0]
            for p in parts[1:]:
                out = fold(out, p)
            return out
        if kind == "Pow" and isinstance(parts[1], int) and parts[1] > 0:
            return math.prod([parts[0]] * parts[1])
        raise self.error(f"the symbolic size {e} is not supported (sizes are sums, products, "
                         "floor divisions and remainders of symbols)")


class _Abort(Exception):
    pass
