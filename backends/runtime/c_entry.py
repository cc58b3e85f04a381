"""One graph function of an exported model as C: the bindings the graph executor runs
(``backends/runtime/executor.py``), as straight-line kernel calls.

Where each tensor lives: an input at ``in[k]``; a weight at its offset in the library's payload
(``W(offset)``), a small constant in a C array of its own; an intermediate in the workspace at
the offset of its storage in the static memory plan (``passes/memory_plan.py``, the plan the
executor uses); a result directly in the caller's output buffer ``out[j]`` (the first output
that returns it: another output returning the same tensor, an input or a constant gets a copy at
the end). Variables bound to variables, tuples and tuple items only rename these places, as in
the executor. A function the C entry cannot run (symbolic shapes, a call of another graph
function, scalar parameters) gets the reason instead (``CFunction.unsupported``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tvmscript.ir import graph as G
from tvmscript.ir.expr import FloatImm, IntImm
from tvmscript.ir.function import GlobalVar

from .spec import KernelSpec

WORKSPACE_ALIGNMENT = 64


class Unsupported(Exception):
    """Why the C entry cannot run a graph function (a sentence, shown by model_create)."""


@dataclass(frozen=True)
class TensorInfo:
    """An input or output as the C API describes it (``tvmscript_tensor_info``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    itemsize: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize


@dataclass(frozen=True)
class Tensor:
    """A tensor's place in the generated C: ``expr`` is a ``void*`` expression."""

    expr: str
    info: TensorInfo


@dataclass
class CFunction:
    """The C of one graph function: its interface and the statements of its run function."""

    name: str
    unsupported: str | None = None
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    workspace_bytes: int = 0
    body: list[str] = field(default_factory=list)


class Symbols:
    """What the functions of one model share in its C file: kernel prototypes, assert messages,
    small constants, and where the payload holds each weight (``weights``: id of a constant
    node -> offset)."""

    def __init__(self, specs: Mapping[str, KernelSpec], weights: Mapping[int, int]) -> None:
        self.specs = specs
        self.weights = weights
        self.kernels: dict[str, str] = {}  # kernel name -> its C alias
        self.types: dict[str, list[str]] = {}  # kernel name -> the C types of its arguments
        self.constants: dict[int, tuple[str, G.Constant]] = {}  # id -> (C array name, node)

    def kernel(self, name: str) -> tuple[str, KernelSpec]:
        spec = self.specs.get(name)
        if spec is None:
            raise Unsupported(f"it calls {name!r}, which is not a compiled kernel of the module")
        if name not in self.kernels:
            self.types[name] = [*("void*" if p.kind == "buffer" else c_type(p.dtype)
                                  for p in spec.params),
                                *(c_type(s.dtype) for s in spec.size_vars)]
            self.kernels[name] = f"tvms_k{len(self.kernels)}"
        return self.kernels[name], spec

    def parameter_types(self, spec: KernelSpec) -> list[str]:
        """The C types of the kernel's arguments (buffers, scalars, then size variables)."""
        return self.types[spec.name]

    def messages(self, spec: KernelSpec) -> str:
        """The C array of the kernel's assert messages (``NULL`` when it has none)."""
        if not spec.assert_messages:
            return "NULL"
        self.kernel(spec.name)
        return f"{self.kernels[spec.name]}_messages"

    def constant(self, const: G.Constant) -> str:
        """A ``void*`` expression for the constant's data (in place when it is a weight)."""
        offset = self.weights.get(id(const))
        if offset is not None:
            return f"W({offset})"
        entry = self.constants.setdefault(id(const), (f"tvms_c{len(self.constants)}", const))
        return f"(void*){entry[0]}"


def translate(name: str, func: G.Function, symbols: Symbols) -> CFunction:
    """The C of graph function ``name`` (normalized), or the reason it has none."""
    try:
        return _Translator(name, func, symbols).run()
    except Unsupported as why:
        return CFunction(name, unsupported=str(why))


Leaf = tuple  # ("in", k) | ("call", var, field) | ("const", constant)


class _Translator:
    def __init__(self, name: str, func: G.Function, symbols: Symbols) -> None:
        self.name, self.func, self.symbols = name, func, symbols
        self.bindings = [b for block in func.body.blocks for b in block.bindings]
        self.holds: dict[G.GraphVar, Any] = {}
        self.inputs: list[TensorInfo] = []
        self.calls: dict[tuple[G.GraphVar, int | None], TensorInfo] = {}

    def run(self) -> CFunction:
        for p in self.func.params:
            self.holds[p] = self._param(p.sinfo, p.name)
        for b in self.bindings:
            self.holds[b.var] = self._holding(b)
        results = list(self._results(self.func.body.body, "output"))
        outputs = [self._info(leaf, where) for where, leaf in results]
        places, workspace = self._places([leaf for _, leaf in results])
        body = [line for b in self.bindings if _is_call_tir(b.value)
                for line in self._call(b, places)]
        for j, (_, leaf) in enumerate(results):
            if leaf[0] != "call" or places[leaf[1:]] != f"out[{j}]":
                body.append(f"memcpy(out[{j}], {self._place(leaf, places)}, "
                            f"{outputs[j].nbytes});")
        return CFunction(self.name, None, self.inputs, outputs, workspace, body)

    # ------------------------------------------------------------ what each variable holds

    def _param(self, sinfo: G.StructInfo, where: str) -> Any:
        if isinstance(sinfo, G.TupleStructInfo):
            return tuple(self._param(f, f"{where}[{i}]") for i, f in enumerate(sinfo.fields))
        if not isinstance(sinfo, G.TensorStructInfo):
            kind = type(sinfo).__name__.removesuffix("StructInfo").lower()
            raise Unsupported(f"parameter '{where}' is a {kind} value; the C entry takes tensors")
        self.inputs.append(_static_info(sinfo, where, f"parameter '{where}'"))
        return ("in", len(self.inputs) - 1)

    def _holding(self, b: G.VarBinding) -> Any:
        value = b.value
        if _is_call_tir(value):
            out = value.sinfo_args[0]
            fields = out.fields if isinstance(out, G.TupleStructInfo) else None
            for i, sinfo in enumerate(fields if fields is not None else (out,)):
                key = (b.var, i if fields is not None else None)
                self.calls[key] = _static_info(sinfo, "", f"'{b.var.name}' (made by "
                                               f"{value.args[0].name_hint})")
            if fields is None:
                return ("call", b.var, None)
            return tuple(("call", b.var, i) for i in range(len(fields)))
        return self._resolve(value)

    def _resolve(self, expr: G.GraphExpr) -> Any:
        if isinstance(expr, G.GraphVar):
            return self.holds[expr]
        if isinstance(expr, G.Constant):
            return ("const", expr)
        if isinstance(expr, G.Tuple):
            return tuple(self._resolve(f) for f in expr.fields)
        if isinstance(expr, G.TupleGetItem):
            inner = self._resolve(expr.tuple_value)
            if _is_leaf(inner) or not 0 <= expr.index < len(inner):
                raise Unsupported(f"it takes item {expr.index} of a value that has none")
            return inner[expr.index]
        if isinstance(expr, G.Call) and isinstance(expr.op, GlobalVar):
            raise Unsupported(f"it calls graph function '{expr.op.name_hint}'; the C entry runs "
                              "functions whose bindings call kernels (R.call_tir) only")
        if isinstance(expr, G.Call):
            op = expr.op.name if isinstance(expr.op, G.Op) else repr(expr.op)
            raise Unsupported(f"operator R.{op.removeprefix('relax.')} has no kernel")
        raise Unsupported(f"it uses a {type(expr).__name__} value, which the C entry has no "
                          "place for")

    def _results(self, expr: G.GraphExpr, where: str):
        """``(name, leaf)`` for each returned tensor, in order: a returned variable gives its
        name (an imported model's output names), a tuple of them theirs."""
        if isinstance(expr, G.Tuple):
            for i, item in enumerate(expr.fields):
                yield from self._results(item, f"{where}[{i}]")
        elif isinstance(expr, G.GraphVar):
            yield from _flatten(self.holds[expr], expr.name)
        else:
            yield from _flatten(self._resolve(expr), where)

    def _info(self, leaf: Leaf, where: str) -> TensorInfo:
        if leaf[0] == "in":
            info = self.inputs[leaf[1]]
        elif leaf[0] == "call":
            info = self.calls[leaf[1:]]
        else:
            data = leaf[1].data
            info = TensorInfo("", str(data.dtype), tuple(data.shape), data.dtype.itemsize)
        return TensorInfo(where, info.dtype, info.shape, info.itemsize) if where else info

    # ------------------------------------------------------------ memory

    def _places(self, results: list[Leaf]) -> tuple[dict, int]:
        """Where each call output lives (``(var, field)`` -> C expression), and the bytes of
        the workspace."""
        from passes.memory_plan import plan_memory  # passes sit below backends

        plan = plan_memory(self.func)
        offsets = np.cumsum((0, *plan.storage_bytes)).tolist()
        places = {(t.var, t.field): f"ws + {offsets[t.storage]}" for t in plan.tensors}
        for j, leaf in enumerate(results):
            if leaf[0] == "call":
                places.setdefault(leaf[1:], f"out[{j}]")
        size = offsets[-1]
        for key, info in self.calls.items():  # escaping in the plan, yet not returned
            if key not in places:
                places[key] = f"ws + {size}"
                size += -(-info.nbytes // WORKSPACE_ALIGNMENT) * WORKSPACE_ALIGNMENT
        return places, size

    def _place(self, leaf: Leaf, places: dict) -> str:
        if leaf[0] == "in":
            return f"(void*)in[{leaf[1]}]"
        if leaf[0] == "call":
            return places[leaf[1:]]
        return self.symbols.constant(leaf[1])

    # ------------------------------------------------------------ kernel calls

    def _call(self, b: G.VarBinding, places: dict) -> list[str]:
        gv, args = b.value.args[0], b.value.args[1]
        alias, spec = self.symbols.kernel(gv.name_hint)
        fields = args.fields if isinstance(args, G.Tuple) else (args,)
        outs = self.holds[b.var]
        actual = [f if isinstance(f, G.PrimValue) else self._resolve(f) for f in fields]
        actual += outs if isinstance(outs, tuple) and not isinstance(outs[0], str) else [outs]
        if len(actual) != len(spec.params):
            raise Unsupported(f"the call of {spec.name} passes {len(actual)} arguments, but the "
                              f"kernel takes {len(spec.params)}")
        values: list[Any] = []
        for value, p in zip(actual, spec.params):
            where = f"{spec.name}: argument '{p.name}'"
            if p.kind == "buffer":
                values.append(self._buffer(value, p, where, places))
            else:
                values.append(_scalar(value, p.dtype, where))
        c_args = [v.expr if isinstance(v, Tensor) else v for v in values]
        c_args += [_size_var(s, values) for s in spec.size_vars]
        failed = (f"if (rc) return tvms_kernel_failed({c_string(self.name)}, "
                  f"{c_string(spec.name)}, rc, {self.symbols.messages(spec)}, "
                  f"{len(spec.assert_messages)});")
        return [f"rc = {alias}({', '.join(c_args)});", failed]

    def _buffer(self, leaf: Any, p: Any, where: str, places: dict) -> Tensor:
        if not _is_leaf(leaf):
            raise Unsupported(f"{where} is not a tensor")
        info = self._info(leaf, "")
        fits = len(p.shape) == len(info.shape) and all(
            not isinstance(want, int) or want == got for want, got in zip(p.shape, info.shape))
        if not fits:
            raise Unsupported(f"{where} has shape {info.shape}, but the kernel takes "
                              f"{tuple(p.shape)}")
        if p.writable and leaf[0] != "call":
            what = "an input of the model" if leaf[0] == "in" else "a weight"
            raise Unsupported(f"{where} is written by the kernel, but it is {what}")
        return Tensor(self._place(leaf, places), info)


def _is_leaf(holding: Any) -> bool:
    return isinstance(holding, tuple) and bool(holding) and isinstance(holding[0], str)


def _static_info(sinfo: G.StructInfo, name: str, what: str) -> TensorInfo:
    """The info of a tensor of static shape and known dtype, else ``Unsupported``."""
    if not isinstance(sinfo, G.TensorStructInfo) or sinfo.shape is None or sinfo.dtype.is_void:
        raise Unsupported(f"{what} has no static shape and dtype ({sinfo}); the C entry runs "
                          "functions of static shapes only")
    if not all(isinstance(s, IntImm) for s in sinfo.shape):
        shape = ", ".join(str(s.value) if isinstance(s, IntImm) else str(s) for s in sinfo.shape)
        raise Unsupported(f"{what} has the symbolic shape ({shape}); the C entry runs functions "
                          "of static shapes only: import or build the model with fixed input "
                          "shapes (tvmscript.load_module runs it from Python)")
    itemsize = np.dtype(sinfo.dtype.numpy_name()).itemsize
    return TensorInfo(name, str(sinfo.dtype), tuple(s.value for s in sinfo.shape), itemsize)


def _flatten(holding: Any, where: str):
    """``(name, leaf)`` for each tensor of a returned value, tuples flattened in order."""
    if _is_leaf(holding):
        yield where, holding
        return
    if not isinstance(holding, tuple):
        raise Unsupported(f"it returns a value that is not a tensor or a tuple ({where})")
    for i, item in enumerate(holding):
        yield from _flatten(item, f"{where}[{i}]")


def _is_call_tir(value: G.GraphExpr) -> bool:
    return isinstance(value, G.Call) and isinstance(value.op, G.Op) \
        and value.op.name == "relax.call_tir"


_C_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
            "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t",
            "uint64": "uint64_t", "float32": "float", "float64": "double", "bool": "_Bool",
            "float16": "uint16_t", "bfloat16": "uint16_t"}


def c_type(dtype: str) -> str:
    """The C type a kernel takes a scalar of ``dtype`` as (as ctypes passes it)."""
    try:
        return _C_TYPES[dtype]
    except KeyError:
        raise Unsupported(f"a kernel takes a scalar of dtype {dtype}, which the C entry cannot "
                          "pass") from None


def _scalar(value: Any, dtype: str, where: str) -> str:
    """A C literal for a scalar argument (a constant ``R.prim_value``), exact: floats in hex."""
    if not isinstance(value, G.PrimValue) or not isinstance(value.value, (IntImm, FloatImm)):
        raise Unsupported(f"{where} is not a constant scalar")
    v = value.value.value
    if dtype == "float16":
        return f"(uint16_t){int(np.array(v, np.float16).view(np.uint16))}"
    if dtype == "bfloat16":
        from .arguments import bfloat16_bits

        return f"(uint16_t){int(bfloat16_bits(v))}"
    if dtype in ("float32", "float64"):
        v = float(v)
        text = ('__builtin_nan("")' if math.isnan(v) else ("-" if v < 0 else "")
                + "__builtin_inf()" if math.isinf(v) else v.hex())
        return f"({c_type(dtype)})({text})"
    return f"({c_type(dtype)}){int(v)}"


def _size_var(s: Any, values: list[Any]) -> str:
    """The value of a kernel's size variable, read off the static shape of its buffer."""
    shape = values[s.param].info.shape
    value = shape[s.dim] if s.field == "shape" else math.prod(shape[s.dim + 1:])
    return f"({c_type(s.dtype)}){value}"


def c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8; octal escapes outside printable ASCII)."""
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":  # "?" escaped: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


__all__ = ["CFunction", "Symbols", "TensorInfo", "Unsupported", "c_string", "c_type",
           "translate"]
