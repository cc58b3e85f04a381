"""What the runtime must know about a compiled kernel, independent of the IR.

A ``KernelSpec`` is built from a PrimFunc at build time and serialised to JSON inside exported
libraries, so ``load_module`` can check arguments without the IR and without recompiling.
Shape entries are encoded as an ``int``, a size-variable name (``str``), or a small expression
tree ``[op, a, b]`` evaluated once the size variables are bound.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from tvmscript.ir import PrimFunc, Var
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import Visitor

from ..signature import BufferParam, KernelSignature

Entry = int | str | list

_OPS = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.FloorDiv: "//", E.Div: "//", E.FloorMod: "%",
        E.Min: "min", E.Max: "max"}
_EVAL = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
         "//": lambda a, b: a // b, "%": lambda a, b: a % b, "min": min, "max": max}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # "buffer" or "scalar"
    dtype: str
    shape: tuple = ()
    strides: tuple | None = None  # None: C-contiguous
    writable: bool = False


@dataclass(frozen=True)
class SizeVarSpec:
    name: str
    dtype: str
    param: int
    field: str  # "shape" or "strides" ("elem_offset" is always 0)
    dim: int


@dataclass(frozen=True)
class KernelSpec:
    name: str
    symbol: str
    params: tuple[ParamSpec, ...]
    size_vars: tuple[SizeVarSpec, ...]
    assert_messages: tuple[str, ...]

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> KernelSpec:
        params = tuple(ParamSpec(**{**p, "shape": tuple(p["shape"]),
                                    "strides": None if p["strides"] is None else tuple(p["strides"])})
                       for p in data["params"])
        size_vars = tuple(SizeVarSpec(**s) for s in data["size_vars"])
        return KernelSpec(data["name"], data["symbol"], params, size_vars,
                          tuple(data["assert_messages"]))

    @staticmethod
    def of(name: str, symbol: str, func: PrimFunc) -> KernelSpec:
        sig = KernelSignature.of(func)
        names = _VarNames()
        written = written_data_vars(func)
        params = []
        for p in sig.params:
            if isinstance(p, BufferParam):
                buf = p.buffer
                strides = tuple(names.encode(s) for s in buf.strides) if buf.strides else None
                params.append(ParamSpec(p.name, "buffer", str(buf.dtype),
                                        tuple(names.encode(s) for s in buf.shape), strides,
                                        buf.data in written))
            else:
                params.append(ParamSpec(p.name, "scalar", str(p.var.dtype)))
        size_vars = tuple(SizeVarSpec(names.encode(s.var), str(s.var.dtype), s.param, s.field,
                                      s.dim) for s in sig.size_vars)
        messages = tuple(message for _, message in collect_asserts(func))
        return KernelSpec(name, symbol, tuple(params), size_vars, messages)


class _VarNames:
    """Unique names for the size variables of one kernel (two ``n``s become ``n``, ``n_1``)."""

    def __init__(self) -> None:
        self.names: dict[Var, str] = {}

    def encode(self, e: E.PrimExpr) -> Entry:
        if isinstance(e, E.IntImm):
            return e.value
        if isinstance(e, Var):
            if e not in self.names:
                taken = set(self.names.values())
                name, k = e.name, 0
                while name in taken:
                    k += 1
                    name = f"{e.name}_{k}"
                self.names[e] = name
            return self.names[e]
        if isinstance(e, E.Cast):
            return self.encode(e.value)
        op = _OPS.get(type(e))
        if op is None:
            return ["?"]  # not checkable; the runtime skips it
        return [op, self.encode(e.a), self.encode(e.b)]


def evaluate(entry: Entry, env: dict[str, int]) -> int | None:
    """The value of an encoded shape entry, or None when it cannot be decided."""
    if isinstance(entry, int):
        return entry
    if isinstance(entry, str):
        return env.get(entry)
    if entry[0] == "?":
        return None
    a, b = evaluate(entry[1], env), evaluate(entry[2], env)
    if a is None or b is None:
        return None
    return _EVAL[entry[0]](a, b)


def show(entry: Entry) -> str:
    if isinstance(entry, (int, str)):
        return str(entry)
    if entry[0] == "?":
        return "?"
    if entry[0] in ("min", "max"):
        return f"{entry[0]}({show(entry[1])}, {show(entry[2])})"
    return f"{show(entry[1])} {entry[0]} {show(entry[2])}"


class _AssertCollector(Visitor):
    def __init__(self) -> None:
        self.found: dict[int, tuple[S.AssertStmt, str]] = {}

    def visit_AssertStmt(self, op: S.AssertStmt) -> None:
        message = op.message.value if isinstance(op.message, E.StringImm) else str(op.message)
        self.found.setdefault(id(op), (op, message))
        self.generic_visit(op)


def collect_asserts(func: PrimFunc) -> list[tuple[S.AssertStmt, str]]:
    """The function's asserts in order of appearance (pre-order); assert k fails with code k."""
    collector = _AssertCollector()
    collector.visit(func.body)
    return list(collector.found.values())


class _WriteCollector(Visitor):
    def __init__(self) -> None:
        self.written: set[Var] = set()

    def visit_BufferStore(self, op: S.BufferStore) -> None:
        self.written.add(op.buffer.data)
        self.generic_visit(op)

    def visit_Call(self, op: E.Call) -> None:
        if op.op in ("tir.address_of", "tir.tvm_access_ptr"):
            load = op.args[0]
            if isinstance(load, E.BufferLoad):
                self.written.add(load.buffer.data)
            for arg in op.args:
                if isinstance(arg, Var) and arg.dtype.is_handle:
                    self.written.add(arg)
        elif op.op in ("tir.call_extern", "tir.call_llvm_intrin"):
            self.written.update(a for a in op.args if isinstance(a, Var) and a.dtype.is_handle)
        self.generic_visit(op)


def written_data_vars(func: PrimFunc) -> set[Var]:
    """Data handles the kernel may write through (outputs must be writable arrays)."""
    collector = _WriteCollector()
    collector.visit(func.body)
    return collector.written


def dumps(specs: list[KernelSpec], target: str = "llvm", needs: tuple[str, ...] = ()) -> str:
    """The metadata of a library: its kernels, the target it was compiled for, and what the
    process must be granted to run it (``needs``: ``"amx"``)."""
    return json.dumps({"version": 1, "target": target, "needs": list(needs),
                       "kernels": [s.to_json() for s in specs]})


def loads(text: str) -> list[KernelSpec]:
    data: Any = json.loads(text)
    return [KernelSpec.from_json(k) for k in data["kernels"]]


def target_of(text: str) -> str:
    """The target a library was compiled for (``llvm`` for libraries that do not say)."""
    return json.loads(text).get("target", "llvm")


def needs_of(text: str) -> tuple[str, ...]:
    """What a library's process must be granted (``("amx",)``; empty for older libraries)."""
    return tuple(json.loads(text).get("needs", ()))
