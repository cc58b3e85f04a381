"""What T-level builtins leave for the statement parser: frames being filled and binders.

A ``BlockFrame`` collects ``T.axis``/``T.reads``/``T.alloc_buffer``... until the block's body is
parsed; a ``Binder`` is a value that defines names when assigned (``vi = T.axis.spatial(...)``);
a ``Wrap`` is a statement that scopes over the rest of its body (``LetStmt``, ``Allocate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...ir import stmt as S
from ...ir.buffer import Buffer, BufferRegion, MatchBufferRegion
from ...ir.dtype import DataType
from ...ir.expr import PrimExpr, Range, Var
from .builtin import Binder


@dataclass
class Wrap:
    """A statement over the rest of the current body."""

    make: Callable[[S.Stmt], S.Stmt]


@dataclass
class BlockFrame:
    name: str
    iter_vars: list[S.IterVar] = field(default_factory=list)
    iter_values: list[PrimExpr] = field(default_factory=list)
    reads: list[BufferRegion] | None = None
    writes: list[BufferRegion] | None = None
    predicate: PrimExpr | None = None
    annotations: dict = field(default_factory=dict)
    alloc_buffers: list[Buffer] = field(default_factory=list)
    match_buffers: list[MatchBufferRegion] = field(default_factory=list)
    init: S.Stmt | None = None


@dataclass
class FuncFrame:
    params: list[Var] = field(default_factory=list)
    buffer_map: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    alloc_buffers: list[Buffer] = field(default_factory=list)


# ---------------------------------------------------------------- `with` and `for` specs


@dataclass
class BlockSpec:
    name: str
    script_kind = "T.block"


@dataclass
class InitSpec:
    script_kind = "T.init"


@dataclass
class AttrSpec:
    node: Any
    key: str
    value: PrimExpr
    script_kind = "T.attr"


@dataclass
class AttrScope:
    """``T.attr({"k1": v1, "k2": v2})`` (TVM 0.27): one AttrStmt per key on node 0, the first
    outermost."""

    attrs: list[AttrSpec]
    script_kind = "T.attr"

    def wrap(self, body: S.Stmt, span: Any = None) -> S.Stmt:
        for spec in reversed(self.attrs):
            body = S.AttrStmt(spec.node, spec.key, spec.value, body)
            if span is not None:
                body = body.with_span(span)
        return body


@dataclass
class LetSpec:
    """``with T.LetStmt(value) as x:``: a let binding scoped to the `with` body."""

    value: PrimExpr
    script_kind = "T.LetStmt"


@dataclass
class AssertSpec:
    """``with T.Assert(cond, "message"):``: an assertion scoped to the `with` body."""

    condition: PrimExpr
    message: str
    error_kind: str = "RuntimeError"
    parts: tuple[str, ...] = ()
    script_kind = "T.Assert"

    def make(self, body: S.Stmt) -> S.Stmt:
        from ...ir.expr import StringImm

        return S.AssertStmt(self.condition, StringImm(self.message), body, self.error_kind,
                            self.parts)


@dataclass
class LoopSpec:
    kind: S.ForKind
    min: PrimExpr
    extent: PrimExpr
    thread: str = ""
    annotations: dict = field(default_factory=dict)
    script_kind = "a loop range"


@dataclass
class GridSpec:
    extents: list[PrimExpr]
    script_kind = "T.grid"


# ---------------------------------------------------------------- binders


def _one(names: list[str], what: str) -> str:
    if len(names) != 1:
        raise TypeError(f"{what} defines one name, but {len(names)} are assigned")
    return names[0]


@dataclass
class PendingVar(Binder):
    """``n = T.int32()``: a symbolic variable, defined by the assignment's name."""

    dtype: DataType
    script_kind = "a variable declaration"

    def bind(self, parser: Any, names: list[str], node: Any) -> None:
        name = _one(names, f"T.{self.dtype}()")
        known = getattr(parser, "signature_vars", {}).get(name)
        if known is not None and parser.lookup_local(name) is known:
            # TVM 0.27 prints ``A: T.Buffer(("n",), ...)`` and then ``n = T.int32()`` in the
            # body: the declaration names the variable the signature made, as in TVM.
            if known.dtype != self.dtype:
                raise TypeError(f"'{name}' is {known.dtype} in the signature (a quoted size in "
                                f"T.Buffer) but is declared here as T.{self.dtype}()")
            return
        parser.define(name, Var(name, self.dtype))


@dataclass
class AxisSpec(Binder):
    kind: S.IterType
    dom: Range
    value: PrimExpr
    script_kind = "T.axis"

    def bind(self, parser: Any, names: list[str], node: Any) -> None:
        name = _one(names, f"T.axis.{self.kind.value}")
        frame = parser.block_frame(f"T.axis.{self.kind.value}")
        var = Var(name, self.value.dtype)
        frame.iter_vars.append(S.IterVar(var, self.dom, self.kind))
        frame.iter_values.append(self.value)
        parser.define(name, var)


@dataclass
class RemapSpec(Binder):
    kinds: list[S.IterType]
    doms: list[Range]
    values: list[PrimExpr]
    text: str
    script_kind = "T.axis.remap"

    def bind(self, parser: Any, names: list[str], node: Any) -> None:
        if len(names) != len(self.kinds):
            raise TypeError(f"T.axis.remap(\"{self.text}\", ...) defines {len(self.kinds)} "
                            f"iterator(s), but {len(names)} name(s) are assigned")
        for name, kind, dom, value in zip(names, self.kinds, self.doms, self.values):
            AxisSpec(kind, dom, value).bind(parser, [name], node)


@dataclass
class BufferDef(Binder):
    """A buffer declaration; ``role`` says where the new buffer goes."""

    role: str  # "param", "region", "alloc", "flat", "decl", "view"
    args: dict
    target: Any = None  # the handle parameter, the matched region or the data of a decl
    annotations: dict = field(default_factory=dict)  # of a flat allocation
    script_kind = "a buffer declaration"

    def bind(self, parser: Any, names: list[str], node: Any) -> Any:
        name = _one(names, "a buffer declaration")
        buffer = Buffer(name, **self.args)
        parser.define(name, buffer)
        return getattr(self, "_" + self.role)(parser, buffer)

    def _param(self, parser: Any, buffer: Buffer) -> None:
        parser.func.buffer_map[self.target] = buffer

    def _region(self, parser: Any, buffer: Buffer) -> None:
        frame = parser.block_frame("T.match_buffer of a region")
        frame.match_buffers.append(MatchBufferRegion(buffer, self.target))

    def _alloc(self, parser: Any, buffer: Buffer) -> None:
        parser.alloc_frame().alloc_buffers.append(buffer)

    def _view(self, parser: Any, buffer: Buffer) -> None:
        return None

    def _decl(self, parser: Any, buffer: Buffer) -> Wrap:
        if self.target is not None:
            return Wrap(lambda body: S.DeclBuffer(buffer, body))
        return self._flat(parser, buffer)

    def _flat(self, parser: Any, buffer: Buffer) -> Wrap:
        """Storage and its buffer for the rest of the body: ``T.decl_buffer`` without data, and
        TVM 0.27's flat ``T.alloc_buffer`` (its ``AllocBuffer`` statement)."""
        return Wrap(lambda body: S.Allocate(buffer.data, buffer.dtype, buffer.shape,
                                            buffer.scope, None, S.DeclBuffer(buffer, body),
                                            self.annotations))


@dataclass
class AllocateSpec(Binder):
    extents: tuple
    dtype: DataType
    scope: str
    condition: Any
    annotations: dict
    script_kind = "T.allocate"

    def bind(self, parser: Any, names: list[str], node: Any) -> Wrap:
        from ...ir.dtype import HANDLE

        var = Var(_one(names, "T.allocate"), HANDLE)
        parser.define(var.name, var)
        return Wrap(lambda body: S.Allocate(var, self.dtype, self.extents, self.scope,
                                            self.condition, body, self.annotations))


@dataclass
class LaunchSpec(Binder):
    tag: str
    extent: PrimExpr
    script_kind = "T.launch_thread"

    def bind(self, parser: Any, names: list[str], node: Any) -> Wrap:
        from ...ir.expr import const

        var = Var(_one(names, "T.launch_thread"), self.extent.dtype)
        parser.define(var.name, var)
        iv = S.IterVar(var, Range(const(0, self.extent.dtype), self.extent),
                       thread_tag=self.tag)
        return Wrap(lambda body: S.AttrStmt(iv, "thread_extent", self.extent, body))
