"""Import a ``torch.export.ExportedProgram`` as an IRModule whose ``main`` is a graph-level
function over the operator library (``R.nn.conv2d``, ``R.matmul``, ...).

The user inputs become ``main``'s parameters (a ``torch.export.Dim`` becomes a symbolic size),
parameters and buffers become constants, and each ATen operator of the graph is translated by
one converter of ``_CONVERTERS``. A program with operators outside that table is first
decomposed by torch into smaller ATen operators (keeping the ones we translate); what is left
over is an ``UnsupportedOperatorError`` that names the operator and the user's source line.

Sub-graphs that depend on constants only (the causal mask of a decoder, a transposed weight)
are computed by torch at import time and become constants.
"""

from __future__ import annotations

import math
import operator
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import graph as G
from ..ir.dtype import INT64
from ..ir.dtype import dtype as as_dtype
from ..ir.expr import IntImm, PrimExpr, Var
from ..ir.function import IRModule
from ..ir.graph_ops import GraphTypeError, get_op


class TorchImportError(ValueError):
    """The exported program uses something the importer cannot translate; the message names
    the ATen operator, the graph node and the user's source line."""


class UnsupportedOperatorError(TorchImportError, NotImplementedError):
    """An ATen operator (or Python function) that no converter translates."""


def from_exported_program(program: Any, *, fold_constants: bool = True,
                          decompose: bool | None = None) -> IRModule:
    """The IRModule of a ``torch.export.ExportedProgram`` (its ``main`` computes what the
    program's ``module()`` computes, for the user inputs).

    ``fold_constants`` computes constant-only sub-graphs with torch at import time;
    ``decompose`` runs torch's decompositions first (True), never (False), or only when the
    program has operators that no converter translates (None, the default)."""
    import torch

    if not isinstance(program, torch.export.ExportedProgram):
        raise TypeError(f"from_exported_program expects a torch.export.ExportedProgram "
                        f"(from torch.export.export(model, args)), got "
                        f"{type(program).__name__}")
    program = _supported_form(program, decompose)
    return IRModule.from_function(_Importer(program, fold_constants).run(), "main")


# ---------------------------------------------------------------- operator coverage


def _key(target: Any) -> str:
    """``aten.conv2d`` for an ATen overload, ``operator.getitem`` for a Python function."""
    namespace = getattr(target, "namespace", None)
    if namespace is not None and hasattr(target, "_opname"):
        return f"{namespace}.{target._opname}"
    module = getattr(target, "__module__", None) or ""
    module = module.split(".")[0].lstrip("_") or "python"  # operator.add lives in _operator
    return f"{module}.{getattr(target, '__name__', repr(target))}"


def _translatable(key: str) -> bool:
    return key in _CONVERTERS and all(get_op(op) is not None for op in _NEEDS[key])


def _unsupported(program: Any) -> list:
    return [n for n in program.graph.nodes
            if n.op == "call_function" and not _translatable(_key(n.target))]


def _supported_form(program: Any, decompose: bool | None) -> Any:
    """The program, decomposed by torch when asked or when it has operators we lack, with
    the operators we translate kept whole."""
    if decompose is False or (decompose is None and not _unsupported(program)):
        missing = _unsupported(program)
        if missing:
            raise _unsupported_error(missing)
        return program
    import torch

    table = torch.export.default_decompositions()
    for op in list(table.keys()):
        if _translatable(_key(op)):
            del table[op]
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices, not the user's
            warnings.simplefilter("ignore", FutureWarning)
            decomposed = program.run_decompositions(table)
    except Exception as exc:  # torch's failure, reported at our first gap
        missing = _unsupported(program)
        if not missing:
            raise
        raise _unsupported_error(missing, f"torch could not decompose it: {exc}") from exc
    missing = _unsupported(decomposed)
    if missing:
        raise _unsupported_error(missing)
    return decomposed


def supported_operators() -> list[str]:
    """The ATen operators (and Python functions) the importer translates with the operator
    library as it is now."""
    return sorted(k for k in _CONVERTERS if _translatable(k))


def _unsupported_error(nodes: list, note: str = "") -> UnsupportedOperatorError:
    node = nodes[0]
    key = _key(node.target)
    others = sorted({_key(n.target) for n in nodes[1:]} - {key})
    lacking = [f"R.{op}" for op in _NEEDS.get(key, ()) if get_op(op) is None]
    if lacking and not note:
        note = f"it needs {', '.join(lacking)}, which the operator library does not have"
    lines = [f"{_describe_target(node.target)} is not supported (graph node '{node.name}')"
             + (f": {note}" if note else "")]
    lines += _location(node)
    if others:
        lines.append(f"also not supported in this program: {', '.join(others)}")
    names = supported_operators()
    aten = [k[5:] for k in names if k.startswith("aten.") and not k.startswith("aten._assert")
            and not (k.endswith("_") and k[:-1] in names)]
    lines.append(f"supported ATen operators: {', '.join(aten)}")
    return UnsupportedOperatorError("\n".join(lines))


def _describe_target(target: Any) -> str:
    name = getattr(target, "__name__", None) if not hasattr(target, "_schema") else None
    return f"the Python function {_key(target)}" if name else f"the ATen operator {target}"


def _location(node: Any) -> list[str]:
    """The user's frame of the node's stack trace (the deepest one outside torch)."""
    trace = node.meta.get("stack_trace") if hasattr(node, "meta") else None
    if not trace:
        return []
    frames: list[tuple[str, str]] = []
    lines = trace.strip("\n").splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("File "):
            code = lines[i + 1].strip() if i + 1 < len(lines) and \
                not lines[i + 1].strip().startswith("File ") else ""
            frames.append((text, code))
    if not frames:
        return []
    import torch

    torch_dir = os.path.dirname(torch.__file__)
    user = [f for f in frames if torch_dir not in f[0]]
    where, code = (user or frames)[-1]
    parts = where[5:].split(", ")  # '"path", line N, in func'
    path = parts[0].strip('"')
    line = parts[1].replace("line ", "") if len(parts) > 1 else "?"
    func = parts[2].replace("in ", "") if len(parts) > 2 else "?"
    out = [f"  --> {path}:{line} (in {func})"]
    if code:
        out.append(f"   |     {code}")
    return out


# ---------------------------------------------------------------- the importer


class _Unavailable:
    """An output of an ATen operator that the translation does not compute (the indices of
    ``max_pool2d_with_indices``, the statistics of ``native_layer_norm``)."""

    def __init__(self, what: str) -> None:
        self.what = what


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


# ---------------------------------------------------------------- helpers


def _dtype(torch_dtype: Any) -> str:
    return str(torch_dtype).replace("torch.", "")


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _numpy(tensor: Any, what: str) -> np.ndarray:
    try:
        return tensor.cpu().contiguous().numpy().copy()
    except (TypeError, RuntimeError) as exc:
        raise TorchImportError(f"{what} has dtype {_dtype(tensor.dtype)}, which numpy cannot "
                               f"hold ({exc})") from None


def _scalar_dtype(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else \
        "float32"


def _what(value: Any) -> str:
    if isinstance(value, _Unavailable):
        return value.what
    if isinstance(value, G.GraphExpr):
        return f"a value of struct info {type(value.struct_info).__name__}"
    return f"{type(value).__name__} {value!r}"


def _axis(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _first(a: dict) -> Any:
    return next(iter(a.values()))


def _ints(value: Any, count: int) -> tuple:
    """A torch ``int[2]`` argument (one int, or a list of one or ``count``) as ``count`` ints."""
    if isinstance(value, (list, tuple)):
        value = tuple(value)
        return value * count if len(value) == 1 else value
    return (value,) * count


_CONVERTERS: dict[str, Callable[[_Importer, dict], Any]] = {}
_NEEDS: dict[str, tuple[str, ...]] = {}  # the library operators each converter cannot do without
# shape and view operators folded by the converters themselves, and those that must not run
_NO_FOLD = {"aten.sym_size", "aten._assert_tensor_metadata", "aten._assert_scalar",
            "aten.sym_constrain_range_for_size", "aten.sym_constrain_range"}


def _converts(*names: str, needs: tuple[str, ...] = ()) -> Callable:
    def register(fn: Callable) -> Callable:
        for name in names:
            key = name if "." in name else "aten." + name
            _CONVERTERS[key] = fn
            _NEEDS[key] = needs
        return fn

    return register


# ---------------------------------------------------------------- element-wise


def _unary(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        if a.get("decimals"):
            raise im.error(f"decimals={a['decimals']} is not supported (only 0)")
        x = im.tensor(_first(a))
        out = im.out_dtype()
        if as_dtype(out).is_float and im.dtype(x) != out:
            x = im.cast(x, out)  # sqrt of an int tensor is a float tensor, as in torch
        return im.call(op, [x])

    return convert


for _aten, _op in {
    "relu": "nn.relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log",
    "sqrt": "sqrt", "abs": "abs", "neg": "negative", "silu": "nn.silu", "erf": "erf",
    "sin": "sin", "cos": "cos", "floor": "floor", "ceil": "ceil", "round": "round",
    "sign": "sign", "square": "square", "tan": "tan",
    "log2": "log2", "log10": "log10", "exp2": "exp2", "trunc": "trunc", "rsqrt": "rsqrt",
    "relu6": "nn.relu6", "hardswish": "nn.hard_swish",
}.items():
    _converts(_aten, _aten + "_", needs=(_op,))(_unary(_op))


@_converts("elu")
def _elu(im: _Importer, a: dict) -> Any:
    """scale · (x if x > 0 else alpha · (exp(input_scale · x) - 1))."""
    x = a["self"]
    dtype = im.dtype(x)
    alpha, scale, input_scale = (float(a[k]) for k in ("alpha", "scale", "input_scale"))
    scaled = x if input_scale == 1 else im.call("multiply", [x, im.tensor(input_scale, dtype)])
    negative = im.call("multiply", [im.call("subtract", [im.call("exp", [scaled]),
                                                         im.tensor(1.0, dtype)]),
                                    im.tensor(alpha, dtype)])
    positive = im.call("greater", [x, im.tensor(0.0, dtype)])
    out = im.call("where", [positive, x, negative])
    return out if scale == 1 else im.call("multiply", [out, im.tensor(scale, dtype)])


@_converts("reciprocal")
def _reciprocal(im: _Importer, a: dict) -> Any:
    x = im.cast(im.tensor(a["self"]), im.out_dtype())
    return im.call("divide", [im.tensor(1.0, im.out_dtype()), x])


@_converts("gelu")
def _gelu(im: _Importer, a: dict) -> Any:
    approximate = a.get("approximate") or "none"
    if approximate not in ("none", "tanh"):
        raise im.error(f"approximate={approximate!r} is not one of 'none', 'tanh'")
    return im.call("nn.gelu" if approximate == "none" else "nn.gelu_tanh", [a["self"]])


def _clip(im: _Importer, x: Any, lo: Any, hi: Any) -> Any:
    """``min(max(x, lo), hi)``; a bound that is None (or a tensor) takes maximum/minimum."""
    dtype = im.dtype(x)
    if lo is not None and hi is not None and not isinstance(lo, G.GraphExpr) and \
            not isinstance(hi, G.GraphExpr):
        number = float if as_dtype(dtype).is_float else int
        return im.call("clip", [x], min=number(lo), max=number(hi))
    if lo is not None:
        x = im.call("maximum", [x, im.cast(im.tensor(lo, dtype), dtype)])
    if hi is not None:
        x = im.call("minimum", [x, im.cast(im.tensor(hi, dtype), dtype)])
    return x


@_converts("clamp", "clamp_min", "clamp_max", "hardtanh", "hardtanh_", "clip",
           needs=("clip", "maximum", "minimum"))
def _clamp(im: _Importer, a: dict) -> Any:
    x = im.tensor(a["self"])
    if "min_val" in a:
        return _clip(im, x, a["min_val"], a["max_val"])
    return _clip(im, x, a.get("min"), a.get("max"))


@_converts("hardsigmoid", "hardsigmoid_", needs=("nn.hard_sigmoid",))
def _hardsigmoid(im: _Importer, a: dict) -> Any:
    return im.call("nn.hard_sigmoid", [a["self"]], alpha=1.0 / 6.0, beta=0.5)


@_converts("leaky_relu", "leaky_relu_", needs=("nn.leakyrelu",))
def _leaky_relu(im: _Importer, a: dict) -> Any:
    return im.call("nn.leakyrelu", [a["self"]], alpha=float(a["negative_slope"]))


@_converts("softplus", needs=("nn.softplus",))
def _softplus(im: _Importer, a: dict) -> Any:
    return im.call("nn.softplus", [a["self"]], beta=float(a["beta"]),
                   threshold=float(a["threshold"]))


@_converts("softmax", "_softmax", needs=("nn.softmax",))
@_converts("log_softmax", "_log_softmax", needs=("nn.log_softmax",))
def _softmax(im: _Importer, a: dict) -> Any:
    x = im.cast(im.tensor(a["self"]), im.out_dtype())
    op = "nn.log_softmax" if "log" in im.node.target._opname else "nn.softmax"
    return im.call(op, [x], axis=a["dim"])


def _promoted(im: _Importer, x: Any, y: Any) -> str:
    """torch's computation dtype for an element-wise operator of ``x`` and ``y``."""
    import torch

    def probe(v: Any) -> Any:
        if isinstance(v, G.GraphExpr):
            shape = (1,) * im.ndim(v)
            return torch.zeros(shape, dtype=_torch_dtype(im.dtype(v)))
        return v

    return _dtype(torch.result_type(probe(x), probe(y)))


def _operands(im: _Importer, x: Any, y: Any, dtype: str) -> list:
    for v in (x, y):
        if isinstance(v, PrimExpr):
            raise im.error(f"the symbolic size {v} as an operand is not supported")
    return [im.cast(im.tensor(v, dtype), dtype) for v in (x, y)]


def _binary(op: str, compare: bool = False, swap: bool = False) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x, y = list(a.values())[:2]
        if swap:
            x, y = y, x
        alpha = a.get("alpha", 1)
        if alpha is not None and alpha != 1:
            y = y * alpha if not isinstance(y, G.GraphExpr) else \
                im.call("multiply", [y, im.tensor(alpha, im.dtype(y))])
        dtype = _promoted(im, x, y) if compare else im.out_dtype()
        return im.call(op, _operands(im, x, y, dtype))

    return convert


for _aten, _op in {"add": "add", "sub": "subtract", "mul": "multiply", "maximum": "maximum",
                   "minimum": "minimum", "floor_divide": "floor_divide",
                   "remainder": "floor_mod", "fmod": "mod", "atan2": "atan2"}.items():
    _converts(_aten, _aten + "_", needs=(_op,))(_binary(_op))
for _aten, _op in {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                   "gt": "greater", "ge": "greater_equal"}.items():
    _converts(_aten, needs=(_op,))(_binary(_op, compare=True))


def _logical(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        return im.call(op, [_bool(im, im.tensor(v)) for v in list(a.values())[:2]])

    return convert


for _name in ("logical_and", "logical_or", "logical_xor"):
    _converts(_name, needs=(_name,))(_logical(_name))


@_converts("logical_not", needs=("logical_not",))
def _logical_not(im: _Importer, a: dict) -> Any:
    return im.call("logical_not", [_bool(im, im.tensor(a["self"]))])
_converts("rsub")(_binary("subtract", swap=True))


@_converts("div", "div_")
def _div(im: _Importer, a: dict) -> Any:
    mode = a.get("rounding_mode")
    if mode is None:
        return _binary("divide")(im, a)
    if mode == "floor":
        return _binary("floor_divide")(im, a)
    if mode == "trunc":
        quotient = _binary("divide")(im, {"self": a["self"], "other": a["other"]}) \
            if as_dtype(im.out_dtype()).is_float else None
        if quotient is None:
            raise im.error("integer division with rounding_mode='trunc' is not supported")
        return im.call("trunc", [quotient])
    raise im.error(f"rounding_mode={mode!r} is not one of None, 'floor', 'trunc'")


@_converts("pow")
def _pow(im: _Importer, a: dict) -> Any:
    base, exponent = a["self"], a["exponent"]
    if exponent == 0.5 and isinstance(base, G.GraphExpr):
        return _unary("sqrt")(im, {"self": base})
    if exponent in (1, 1.0):
        return im.cast(base, im.out_dtype())
    dtype = im.out_dtype()
    return im.call("power", _operands(im, base, exponent, dtype))


@_converts("where")
def _where(im: _Importer, a: dict) -> Any:
    if a.get("self") is None:
        raise im.error("where(condition) with one argument (nonzero) is not supported")
    dtype = im.out_dtype()
    x, y = _operands(im, a["self"], a["other"], dtype)
    return im.call("where", [_bool(im, a["condition"]), x, y])


def _bool(im: _Importer, x: Any) -> Any:
    return x if im.dtype(x) == "bool" else \
        im.call("not_equal", [x, im.tensor(0, im.dtype(x))])


@_converts("masked_fill", "masked_fill_")
def _masked_fill(im: _Importer, a: dict) -> Any:
    x = im.tensor(a["self"])
    value = im.cast(im.tensor(a["value"], im.dtype(x)), im.dtype(x))
    return im.call("where", [_bool(im, a["mask"]), value, x])


# ---------------------------------------------------------------- reductions


def _dims(im: _Importer, x: Any, dim: Any) -> list | None:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return [_axis(d, im.ndim(x)) for d in dims]


def _reduce(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x = im.tensor(a["self"])
        out = im.out_dtype()
        if out != im.dtype(x):
            x = im.cast(x, out)  # torch sums bools and ints in int64, means in the float dtype
        dims = _dims(im, x, a.get("dim"))
        if im.ndim(x) == 0:
            return x
        return im.call(op, [x], axis=dims, keepdims=bool(a.get("keepdim", False)))

    return convert


for _aten, _op in {"sum": "sum", "mean": "mean", "amax": "max", "amin": "min",
                   "prod": "prod"}.items():
    _converts(_aten, needs=(_op,))(_reduce(_op))


def _extreme(op: str, arg_op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        overload = im.node.target._overloadname
        if overload == "other":
            return _binary("maximum" if op == "max" else "minimum")(im, a)
        if overload == "default":
            return im.call(op, [a["self"]], axis=None, keepdims=False)
        keep = bool(a.get("keepdim", False))
        dim = _axis(a["dim"], im.ndim(a["self"]))
        values = im.call(op, [a["self"]], axis=[dim], keepdims=keep)
        indices = im.call(arg_op, [a["self"]], axis=dim, keepdims=keep)
        return (values, indices)

    return convert


_converts("max", needs=("max", "argmax", "maximum"))(_extreme("max", "argmax"))
_converts("min", needs=("min", "argmin", "minimum"))(_extreme("min", "argmin"))


def _arg_extreme(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        dim = a.get("dim")
        x = a["self"]
        if dim is None and a.get("keepdim"):
            raise im.error("keepdim=True without dim is not supported")
        return im.call(op, [x], axis=None if dim is None else _axis(dim, im.ndim(x)),
                       keepdims=bool(a.get("keepdim", False)))

    return convert


_converts("argmax", needs=("argmax",))(_arg_extreme("argmax"))
_converts("argmin", needs=("argmin",))(_arg_extreme("argmin"))


@_converts("var", "std")
def _var(im: _Importer, a: dict) -> Any:
    x = im.tensor(a["self"])
    dims = _dims(im, x, a.get("dim"))
    correction = a.get("correction")
    if correction is None:
        correction = 1 if a.get("unbiased", True) else 0
    keep = bool(a.get("keepdim", False))
    shape = im.shape(x)
    count = math.prod(shape[d] for d in (dims if dims is not None else range(len(shape))))
    if not isinstance(count, int):
        raise im.error("var/std over symbolic sizes is not supported")
    mean = im.call("mean", [x], axis=dims, keepdims=True)
    diff = im.call("subtract", [x, mean])
    total = im.call("sum", [im.call("multiply", [diff, diff])], axis=dims, keepdims=keep)
    dtype = im.dtype(x)
    var = im.call("divide", [total, im.tensor(float(max(count - correction, 0)), dtype)])
    return im.call("sqrt", [var]) if im.node.target._opname == "std" else var


# ---------------------------------------------------------------- linear algebra


def _transposed(im: _Importer, w: Any) -> Any:
    """``w.T`` (the weight of a linear layer): computed now for a constant."""
    if isinstance(w, G.Constant) and im.fold:
        return G.Constant(np.ascontiguousarray(w.data.T))
    return im.call("permute_dims", [w], axes=[1, 0])


@_converts("linear")
def _linear(im: _Importer, a: dict) -> Any:
    y = im.call("matmul", [a["input"], _transposed(im, a["weight"])])
    return y if a["bias"] is None else im.call("add", [y, a["bias"]])


@_converts("matmul", "mm", "bmm")
def _matmul(im: _Importer, a: dict) -> Any:
    x, y = list(a.values())[:2]
    return im.call("matmul", [x, y])


@_converts("addmm", "baddbmm")
def _addmm(im: _Importer, a: dict) -> Any:
    x, m1, m2 = list(a.values())[:3]
    product = im.call("matmul", [m1, m2])
    dtype = im.dtype(product)
    if a["alpha"] != 1:
        product = im.call("multiply", [product, im.tensor(a["alpha"], dtype)])
    if a["beta"] == 0:
        return product
    if a["beta"] != 1:
        x = im.call("multiply", [x, im.tensor(a["beta"], dtype)])
    return im.call("add", [x, product])


# ---------------------------------------------------------------- neural network layers


def _channel_bias(im: _Importer, b: Any, ndim: int) -> Any:
    """A per-channel bias shaped to broadcast over NC... data."""
    shape = (1, -1) + (1,) * (ndim - 2)
    if isinstance(b, G.Constant):
        return G.Constant(b.data.reshape(shape))
    return im.call("reshape", [b], shape=(1, im.shape(b)[0]) + (1,) * (ndim - 2))


def _same_padding(im: _Importer, w: Any, dilation: tuple) -> tuple:
    """torch's padding='same' (stride 1): the odd pixel goes after."""
    kernel = im.shape(w)[2:]
    total = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)


_CONV_OPS = {(1, False): ("nn.conv1d", "NCW", "OIW"), (2, False): ("nn.conv2d", "NCHW", "OIHW"),
             (1, True): ("nn.conv1d_transpose", "NCW", "IOW"),
             (2, True): ("nn.conv2d_transpose", "NCHW", "IOHW")}


@_converts("conv1d", needs=("nn.conv1d",))
@_converts("conv2d", needs=("nn.conv2d",))
@_converts("conv_transpose1d", needs=("nn.conv1d_transpose",))
@_converts("conv_transpose2d", needs=("nn.conv2d_transpose",))
@_converts("convolution")
def _conv(im: _Importer, a: dict) -> Any:
    x, w, b = a["input"], a["weight"], a["bias"]
    spatial = im.ndim(w) - 2
    transposed = bool(a.get("transposed", False)) or "transpose" in im.node.target._opname
    if (spatial, transposed) not in _CONV_OPS:
        raise im.error(f"{spatial}-D convolutions are not supported (1-D and 2-D are)")
    op, data_layout, kernel_layout = _CONV_OPS[(spatial, transposed)]
    dilation = _ints(a["dilation"], spatial)
    padding = a["padding"]
    if isinstance(padding, str):
        before, after = ((0,) * spatial, (0,) * spatial) if padding == "valid" else \
            _same_padding(im, w, dilation)
    else:
        before = after = _ints(padding, spatial)
    attrs = {"strides": _ints(a["stride"], spatial), "padding": before + after,
             "dilation": dilation, "groups": int(a["groups"]), "data_layout": data_layout,
             "kernel_layout": kernel_layout}
    if transposed:
        attrs["output_padding"] = _ints(a["output_padding"], spatial)
    y = im.call(op, [x, w], **attrs)
    return y if b is None else im.call("add", [y, _channel_bias(im, b, spatial + 2)])


def _or_filled(value: Any, shape: tuple, fill: float, dtype: str) -> Any:
    """An optional affine parameter, or the constant that leaves the values as they are."""
    return value if value is not None else G.Constant(np.full(shape, fill, dtype=dtype))


@_converts("batch_norm", "_native_batch_norm_legit_no_training", needs=("nn.batch_norm",))
def _batch_norm(im: _Importer, a: dict) -> Any:
    if a.get("training"):
        raise im.error("batch normalization in training mode is not supported; call "
                       "model.eval() before torch.export.export")
    x = a["input"]
    if a["running_mean"] is None or a["running_var"] is None:
        raise im.error("batch normalization without running statistics is not supported")
    dtype, channels = im.dtype(x), (im.shape(x)[1],)
    gamma = _or_filled(a["weight"], channels, 1.0, dtype)
    beta = _or_filled(a["bias"], channels, 0.0, dtype)
    bn = im.call("nn.batch_norm", [x, gamma, beta, a["running_mean"], a["running_var"]],
                 axis=1, epsilon=float(a["eps"]), center=True, scale=True,
                 momentum=float(a["momentum"]), training=False)
    out = im.emit(G.TupleGetItem(bn, 0))
    if im.node.target._opname == "batch_norm":
        return out
    return (out, _Unavailable("the saved mean of batch normalization"),
            _Unavailable("the saved inverse deviation of batch normalization"))


@_converts("layer_norm", "native_layer_norm", needs=("nn.layer_norm",))
def _layer_norm(im: _Importer, a: dict) -> Any:
    x, shape = a["input"], tuple(a["normalized_shape"])
    dtype = im.dtype(x)
    gamma = _or_filled(a["weight"], shape, 1.0, dtype)
    beta = _or_filled(a["bias"], shape, 0.0, dtype)
    out = im.call("nn.layer_norm", [x, gamma, beta], axes=list(range(-len(shape), 0)),
                  epsilon=float(a["eps"]), center=True, scale=True)
    if im.node.target._opname == "layer_norm":
        return out
    return (out, _Unavailable("the mean of native_layer_norm"),
            _Unavailable("the inverse deviation of native_layer_norm"))


@_converts("group_norm", needs=("nn.group_norm",))
def _group_norm(im: _Importer, a: dict) -> Any:
    x = a["input"]
    dtype, channels = im.dtype(x), (im.shape(x)[1],)
    gamma = _or_filled(a["weight"], channels, 1.0, dtype)
    beta = _or_filled(a["bias"], channels, 0.0, dtype)
    return im.call("nn.group_norm", [x, gamma, beta], num_groups=int(a["num_groups"]),
                   channel_axis=1, axes=list(range(2, im.ndim(x))), epsilon=float(a["eps"]),
                   center=True, scale=True)


def _pool(kind: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x = a["self"]
        spatial = im.ndim(x) - 2
        if spatial not in (1, 2):
            raise im.error(f"{spatial}-D pooling is not supported (1-D and 2-D are)")
        kernel = _ints(a["kernel_size"], spatial)
        pad = _ints(a["padding"], spatial)
        attrs = {"pool_size": kernel, "strides": _ints(a["stride"] or kernel, spatial),
                 "padding": pad + pad, "ceil_mode": bool(a["ceil_mode"]),
                 "layout": "NCW" if spatial == 1 else "NCHW"}
        if kind == "max":
            attrs["dilation"] = _ints(a["dilation"], spatial)
        else:
            if a.get("divisor_override") is not None:
                raise im.error("divisor_override is not supported")
            attrs["count_include_pad"] = bool(a["count_include_pad"])
        out = im.call(f"nn.{kind}_pool{spatial}d", [x], **attrs)
        if im.node.target._opname.endswith("with_indices"):
            return (out, _Unavailable("the indices of max pooling"))
        return out

    return convert


_converts("max_pool1d", needs=("nn.max_pool1d",))(_pool("max"))
_converts("max_pool2d", "max_pool2d_with_indices", needs=("nn.max_pool2d",))(_pool("max"))
_converts("avg_pool1d", needs=("nn.avg_pool1d",))(_pool("avg"))
_converts("avg_pool2d", needs=("nn.avg_pool2d",))(_pool("avg"))


@_converts("adaptive_avg_pool1d", needs=("nn.adaptive_avg_pool1d",))
@_converts("adaptive_avg_pool2d", "_adaptive_avg_pool2d", needs=("nn.adaptive_avg_pool2d",))
def _adaptive_avg_pool(im: _Importer, a: dict) -> Any:
    x = a["self"]
    spatial = im.ndim(x) - 2
    return im.call(f"nn.adaptive_avg_pool{spatial}d", [x],
                   output_size=_ints(a["output_size"], spatial),
                   layout="NCW" if spatial == 1 else "NCHW")


@_converts("embedding", needs=("take",))
def _embedding(im: _Importer, a: dict) -> Any:
    return im.call("take", [a["weight"], a["indices"]], axis=0)


@_converts("scaled_dot_product_attention")
def _attention(im: _Importer, a: dict) -> Any:
    """softmax(q kᵀ · scale + mask) v, as matmuls and a softmax."""
    q, k, v, mask = a["query"], a["key"], a["value"], a["attn_mask"]
    if a.get("enable_gqa"):
        raise im.error("enable_gqa=True is not supported")
    if a["dropout_p"]:
        raise im.error("attention dropout (dropout_p > 0) is not supported in inference")
    dtype, ndim = im.dtype(q), im.ndim(k)
    depth = im.shape(q)[-1]
    scale = a["scale"] if a["scale"] is not None else 1.0 / math.sqrt(depth)
    axes = list(range(ndim - 2)) + [ndim - 1, ndim - 2]
    scores = im.call("matmul", [q, im.call("permute_dims", [k], axes=axes)])
    scores = im.call("multiply", [scores, im.tensor(float(scale), dtype)])
    if a["is_causal"]:
        mask = _causal_mask(im, im.shape(q)[-2], im.shape(k)[-2])
    if mask is not None and im.dtype(mask) == "bool":
        scores = im.call("where", [mask, scores, im.tensor(float("-inf"), dtype)])
    elif mask is not None:
        scores = im.call("add", [scores, mask])
    return im.call("matmul", [im.call("nn.softmax", [scores], axis=-1), v])


def _causal_mask(im: _Importer, rows: Any, cols: Any) -> Any:
    if isinstance(rows, int) and isinstance(cols, int):
        return G.Constant(np.tril(np.ones((rows, cols), dtype=bool)))
    ones = im.call("full", [], shape=(rows, cols), fill_value=im.tensor(True), dtype="bool")
    return im.call("tril", [ones], k=0)


@_converts("upsample_nearest2d", "upsample_bilinear2d", needs=("image.resize2d",))
def _upsample(im: _Importer, a: dict) -> Any:
    x = _first(a)
    size = im.out_shape()[2:]
    if "nearest" in im.node.target._opname:
        mode = {"method": "nearest_neighbor", "coordinate_transformation_mode": "asymmetric",
                "rounding_method": "floor"}
    else:
        corners = "align_corners" if a["align_corners"] else "half_pixel"
        mode = {"method": "linear", "coordinate_transformation_mode": corners}
    return im.call("image.resize2d", [x], size=size, layout="NCHW", **mode)


def _pad_width(im: _Importer, x: Any, pad: list) -> list:
    if any(not isinstance(p, int) or p < 0 for p in pad):
        raise im.error(f"pad={list(pad)}: only non-negative static padding is supported")
    ndim = im.ndim(x)
    width = [0] * (2 * ndim)
    for i in range(len(pad) // 2):
        dim = ndim - 1 - i
        width[2 * dim], width[2 * dim + 1] = pad[2 * i], pad[2 * i + 1]
    return width


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@_converts("pad", "constant_pad_nd", needs=("nn.pad",))
def _pad(im: _Importer, a: dict) -> Any:
    x = a["self"]
    mode = a.get("mode", "constant")
    if mode not in _PAD_MODES:
        raise im.error(f"mode={mode!r} is not one of {sorted(_PAD_MODES)}")
    value = a.get("value") or 0
    return im.call("nn.pad", [x], pad_width=_pad_width(im, x, a["pad"]),
                   pad_mode=_PAD_MODES[mode], pad_value=float(value))


def _mode_pad(mode: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x = a["self"]
        return im.call("nn.pad", [x], pad_width=_pad_width(im, x, a["padding"]),
                       pad_mode=mode, pad_value=0.0)

    return convert


_converts("reflection_pad1d", "reflection_pad2d", needs=("nn.pad",))(_mode_pad("reflect"))
_converts("replication_pad1d", "replication_pad2d", needs=("nn.pad",))(_mode_pad("edge"))


def _identity(im: _Importer, a: dict) -> Any:
    if a.get("train"):
        raise im.error("dropout in training mode is not supported; call model.eval() before "
                       "torch.export.export")
    x = _first(a)
    if im.node.target._opname == "native_dropout":
        return (x, _Unavailable("the dropout mask"))
    return x


_converts("alias", "clone", "contiguous", "detach", "detach_", "lift_fresh_copy", "dropout",
          "dropout_", "native_dropout", "feature_dropout", "alpha_dropout")(_identity)


@_converts("_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size",
           "sym_constrain_range")
def _check(im: _Importer, a: dict) -> Any:
    return None  # run-time checks of the export; the struct info already says as much


# ---------------------------------------------------------------- shapes


def _same_shape(a: tuple, b: tuple) -> bool:
    from ..ir.structural import structural_equal

    return len(a) == len(b) and all(
        x == y if isinstance(x, int) and isinstance(y, int) else
        not isinstance(x, int) and not isinstance(y, int) and structural_equal(x, y)
        for x, y in zip(a, b))


@_converts("view", "reshape", "_unsafe_view", "flatten", "unflatten", "view_as", "reshape_as",
           "_reshape_alias")
def _reshape(im: _Importer, a: dict) -> Any:
    x = _first(a)
    if im.node.target._overloadname == "dtype":
        raise im.error("view(dtype) (a bit cast) is not supported")
    shape = im.out_shape()
    if _same_shape(shape, im.shape(x)):
        return x
    return im.call("reshape", [x], shape=shape)


def _permute_to(im: _Importer, x: Any, axes: list) -> Any:
    if axes == sorted(axes):
        return x
    return im.call("permute_dims", [x], axes=axes)


@_converts("permute")
def _permute(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return _permute_to(im, x, [_axis(d, im.ndim(x)) for d in a["dims"]])


@_converts("transpose", "t", "swapaxes", "numpy_T")
def _transpose(im: _Importer, a: dict) -> Any:
    x = a["self"]
    ndim = im.ndim(x)
    axes = list(range(ndim))
    dims = list(a.values())[1:3]  # transpose's dim0, dim1; swapaxes' axis0, axis1
    d0, d1 = dims if len(dims) == 2 else (0, 1) if ndim == 2 else (0, 0)
    d0, d1 = _axis(d0, ndim), _axis(d1, ndim)
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return _permute_to(im, x, axes)


@_converts("unsqueeze")
def _unsqueeze(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return im.call("expand_dims", [x], axis=[_axis(a["dim"], im.ndim(x) + 1)])


@_converts("squeeze")
def _squeeze(im: _Importer, a: dict) -> Any:
    x = a["self"]
    shape = im.shape(x)
    dims = _dims(im, x, a.get("dim"))
    dims = range(len(shape)) if dims is None else dims
    axes = [d for d in dims if isinstance(shape[d], int) and shape[d] == 1]
    return x if not axes else im.call("squeeze", [x], axis=axes)


@_converts("expand", "expand_as", "broadcast_to")
def _expand(im: _Importer, a: dict) -> Any:
    x = a["self"]
    shape = im.out_shape()
    if _same_shape(shape, im.shape(x)):
        return x
    return im.call("broadcast_to", [x], shape=shape)


_END = 2 ** 62  # torch writes `x[a:]` as an end of 2**63 - 1


def _bound(value: Any, size: Any, default: Any) -> Any:
    """A slice bound as numpy takes it, clamped into 0..size where both are static."""
    if value is None or (isinstance(value, int) and value >= _END):
        return default
    if isinstance(value, int) and value < 0:
        value = value + size
        return max(value, 0) if isinstance(value, int) else value
    return min(value, size) if isinstance(value, int) and isinstance(size, int) else value


def _slice(im: _Importer, x: Any, dim: int, start: Any, end: Any, step: int = 1) -> Any:
    dim = _axis(dim, im.ndim(x))
    size = im.shape(x)[dim]
    begin, stop = _bound(start, size, 0), _bound(end, size, size)
    if isinstance(begin, int) and begin == 0 and step == 1 and \
            (stop is size or isinstance(stop, int) and isinstance(size, int) and stop >= size):
        return x
    if not all(isinstance(v, int) for v in (begin, stop)):  # symbolic bounds: gather them
        if stop is size and step == 1 and isinstance(start, int) and start < 0:  # x[-k:]
            index = G.Constant(np.arange(start, 0, dtype="int64"))
            return im.call("take", [x, index], axis=dim, mode="wrap")
        index = im.call("arange", [], start=begin, end=stop, step=step, dtype="int64")
        return im.call("take", [x, index], axis=dim)
    return im.call("strided_slice", [x], axes=[dim], begin=[begin], end=[stop],
                   strides=[step])


@_converts("slice")
def _slice_tensor(im: _Importer, a: dict) -> Any:
    return _slice(im, a["self"], a["dim"], a["start"], a["end"], a["step"])


@_converts("narrow")
def _narrow(im: _Importer, a: dict) -> Any:
    start = a["start"]
    return _slice(im, a["self"], a["dim"], start, start + a["length"])


@_converts("select")
def _select(im: _Importer, a: dict) -> Any:
    x, index = a["self"], a["index"]
    dim = _axis(a["dim"], im.ndim(x))
    size = im.shape(x)[dim]
    if isinstance(index, int):  # from the end (wrapped) where the size is symbolic
        index = index + size if index < 0 and isinstance(size, int) else index
        return im.call("take", [x, G.Constant(np.array(index, dtype="int64"))], axis=dim,
                       mode="wrap" if index < 0 else "fast")
    return im.call("squeeze", [_slice(im, x, dim, index, index + 1)], axis=[dim])


@_converts("cat", "concat", "concatenate")
def _cat(im: _Importer, a: dict) -> Any:
    dtype = im.out_dtype()
    tensors = [im.cast(t, dtype) for t in a["tensors"] if im.shape(t) != (0,)]
    if len(tensors) == 1:
        return tensors[0]
    axis = _axis(a["dim"], im.ndim(tensors[0]))
    return im.call("concat", [G.Tuple(tuple(tensors))], axis=axis)


@_converts("stack")
def _stack(im: _Importer, a: dict) -> Any:
    tensors = a["tensors"]
    axis = _axis(a["dim"], im.ndim(tensors[0]) + 1)
    parts = [im.call("expand_dims", [t], axis=[axis]) for t in tensors]
    return parts[0] if len(parts) == 1 else \
        im.call("concat", [G.Tuple(tuple(parts))], axis=axis)


def _split_at(im: _Importer, x: Any, dim: int, sizes: list) -> Any:
    if len(sizes) == 1:
        return (x,)
    indices = list(np.cumsum(sizes[:-1]).tolist())
    return im.call("split", [x], indices_or_sections=indices, axis=dim)


@_converts("split", "split_with_sizes", "chunk", "unbind", needs=("split",))
def _split(im: _Importer, a: dict) -> Any:
    x = a["self"]
    dim = _axis(a.get("dim", 0), im.ndim(x))
    size = im.shape(x)[dim]
    name = im.node.target._opname
    if not isinstance(size, int):
        raise im.error(f"splitting the symbolic dimension {dim} is not supported")
    if name == "chunk":
        step = -(-size // a["chunks"])
    elif name == "unbind":
        step = 1
    else:
        step = a.get("split_size", a.get("split_sizes"))
    sizes = list(step) if isinstance(step, (list, tuple)) else \
        [min(step, size - i) for i in range(0, size, step)]
    parts = _split_at(im, x, dim, sizes)
    if name != "unbind":
        return parts
    items = [_getitem(im, {"arg0": parts, "arg1": i}) for i in range(len(sizes))]
    return tuple(im.call("squeeze", [p], axis=[dim]) for p in items)


@_converts("operator.getitem")
def _getitem(im: _Importer, a: dict) -> Any:
    obj, index = a["arg0"], a["arg1"]
    if isinstance(obj, (tuple, list)):
        return obj[index]
    if isinstance(obj, G.GraphExpr) and isinstance(obj.struct_info, G.TupleStructInfo):
        return im.emit(G.TupleGetItem(obj, index))
    raise im.error(f"indexing {_what(obj)} is not supported")


@_converts("_to_copy", "to", "type_as", "_to_dim_order_copy")
def _to(im: _Importer, a: dict) -> Any:
    return im.cast(im.tensor(_first(a)), im.out_dtype())


@_converts("triu", needs=("triu",))
@_converts("tril", needs=("tril",))
def _triangle(im: _Importer, a: dict) -> Any:
    return im.call(im.node.target._opname, [a["self"]], k=int(a["diagonal"]))


@_converts("index_select", needs=("take",))
def _index_select(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return im.call("take", [x, a["index"]], axis=_axis(a["dim"], im.ndim(x)))


@_converts("index", needs=("take",))
def _index(im: _Importer, a: dict) -> Any:
    x, indices = a["self"], list(a["indices"])
    used = [i for i, t in enumerate(indices) if t is not None]
    if len(used) != 1 or im.dtype(indices[used[0]]) == "bool":
        raise im.error("indexing is supported with one integer index tensor (x[:, idx]); "
                       "several index tensors or boolean masks are not")
    return im.call("take", [x, indices[used[0]]], axis=used[0])


@_converts("repeat", needs=("tile",))
def _repeat(im: _Importer, a: dict) -> Any:
    return im.call("tile", [a["self"]], repeats=list(a["repeats"]))


@_converts("flip", needs=("flip",))
def _flip(im: _Importer, a: dict) -> Any:
    x = a["self"]
    for d in a["dims"]:
        x = im.call("flip", [x], axis=_axis(d, im.ndim(x)))
    return x


@_converts("cumsum", needs=("cumsum",))
def _cumsum(im: _Importer, a: dict) -> Any:
    x = im.cast(a["self"], im.out_dtype())
    return im.call("cumsum", [x], axis=_axis(a["dim"], im.ndim(x)))


# ---------------------------------------------------------------- new tensors


@_converts("arange", needs=("arange",))
def _arange(im: _Importer, a: dict) -> Any:
    start, end, step = (0, a["end"], 1) if "start" not in a else \
        (a["start"], a["end"], a.get("step", 1))
    return im.call("arange", [], start=start, end=end, step=step, dtype=im.out_dtype())


@_converts("full", "zeros", "ones", "empty", "new_full", "new_zeros", "new_ones", "new_empty",
           "full_like", "zeros_like", "ones_like", "empty_like", "scalar_tensor", "fill")
def _full(im: _Importer, a: dict) -> Any:
    name = im.node.target._opname
    value = a.get("fill_value", a.get("value", a.get("s")))
    if value is None:
        value = 1 if "ones" in name else 0
    if isinstance(value, G.GraphExpr):
        raise im.error("a fill value that is a tensor is not supported")
    dtype = im.out_dtype()
    return im.call("full", [], shape=im.out_shape(),
                   fill_value=G.Constant(np.array(value, dtype=dtype)), dtype=dtype)


# ---------------------------------------------------------------- symbolic sizes


@_converts("sym_size")
def _sym_size(im: _Importer, a: dict) -> Any:
    x = a["self"]
    return im.shape(x)[a["dim"]] if a.get("dim") is not None else im.shape(x)


@_converts("sym_numel")
def _sym_numel(im: _Importer, a: dict) -> Any:
    return math.prod(im.shape(a["self"]))


def _python(fn: Callable) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        return fn(*a.values())

    return convert


for _name, _fn in {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                   "floordiv": operator.floordiv, "mod": operator.mod,
                   "neg": operator.neg}.items():
    _converts(f"operator.{_name}")(_python(_fn))
