"""Loop-level statements: loops, blocks, stores, control flow and storage.

Blocks (TensorIR) carry the iteration domain, access regions and init of a computation, which
schedules rely on; lowering turns them into plain loops before code generation.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from .buffer import Buffer, BufferRegion, MatchBufferRegion
from .dtype import DataType, dtype as as_dtype
from .expr import PrimExpr, Range, Var, const
from .frozendict import EMPTY, FrozenDict, freeze
from .node import Node, defines, node


class Stmt(Node):
    __slots__ = ()


class ForKind(str, Enum):
    SERIAL = "serial"
    PARALLEL = "parallel"
    VECTORIZED = "vectorized"
    UNROLLED = "unroll"
    THREAD_BINDING = "thread_binding"


class IterType(str, Enum):
    """The role of a block iterator: spatial, reduction, scan or opaque (``T.axis.*``)."""

    SPATIAL = "spatial"
    REDUCE = "reduce"
    SCAN = "scan"
    OPAQUE = "opaque"

    @property
    def letter(self) -> str:
        return {"spatial": "S", "reduce": "R", "scan": "C", "opaque": "O"}[self.value]


@node
class IterVar(Node):
    """A block iterator with its domain, or a launched GPU thread axis (``thread_tag``)."""

    var: Var = defines()
    dom: Range
    iter_type: IterType = IterType.SPATIAL
    thread_tag: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "iter_type", IterType(self.iter_type))


@node
class BufferStore(Stmt):
    buffer: Buffer
    value: PrimExpr
    indices: tuple[PrimExpr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(self.indices))


@node
class Evaluate(Stmt):
    value: PrimExpr


@node
class SeqStmt(Stmt):
    seq: tuple[Stmt, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "seq", tuple(self.seq))


@node
class IfThenElse(Stmt):
    condition: PrimExpr
    then_case: Stmt
    else_case: Stmt | None = None


@node
class While(Stmt):
    condition: PrimExpr
    body: Stmt


@node
class LetStmt(Stmt):
    """``x: T.int32 = value`` followed by the statements that may use ``x``."""

    var: Var = defines()
    value: PrimExpr = None
    body: Stmt = None


@node
class AssertStmt(Stmt):
    """``assert condition, message`` before ``body``. TVM 0.27's ``assert c, ("Kind", [parts])``
    also names the error kind and may split the message into fragments, which TVM concatenates
    when the assertion fails: ``message`` is always the whole message (what backends raise),
    ``message_parts`` holds the fragments only when there are two or more."""

    condition: PrimExpr
    message: PrimExpr
    body: Stmt
    error_kind: str = "RuntimeError"
    message_parts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parts = tuple(self.message_parts)
        object.__setattr__(self, "message_parts", () if len(parts) == 1 else parts)


@node
class AttrStmt(Stmt):
    """An attribute on a scope: ``T.attr(node, key, value)``, GPU ``thread_extent``, pragmas."""

    node: Any
    attr_key: str
    value: PrimExpr
    body: Stmt


@node
class For(Stmt):
    loop_var: Var = defines()
    min: PrimExpr = None
    extent: PrimExpr = None
    kind: ForKind = ForKind.SERIAL
    body: Stmt = None
    thread_tag: str = ""
    annotations: FrozenDict = EMPTY

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ForKind(self.kind))
        object.__setattr__(self, "annotations", FrozenDict(freeze(dict(self.annotations))))


@node
class Allocate(Stmt):
    """Raw storage of ``extents`` elements in ``scope``, bound to the handle ``buffer_var``."""

    buffer_var: Var = defines()
    dtype: DataType = None
    extents: tuple[PrimExpr, ...] = ()
    scope: str = "global"
    condition: PrimExpr = None
    body: Stmt = None
    annotations: FrozenDict = EMPTY

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        object.__setattr__(self, "extents", tuple(self.extents))
        if self.condition is None:
            object.__setattr__(self, "condition", const(True))
        object.__setattr__(self, "annotations", FrozenDict(freeze(dict(self.annotations))))


@node
class DeclBuffer(Stmt):
    """Declares a buffer (a typed view over a handle) for the statements in ``body``."""

    buffer: Buffer = defines()
    body: Stmt = None


@node
class Block(Stmt):
    """A unit of computation with its iteration domain, access regions and init statement."""

    name_hint: str
    iter_vars: tuple[IterVar, ...] = defines(default=())
    alloc_buffers: tuple[Buffer, ...] = defines(default=())
    match_buffers: tuple[MatchBufferRegion, ...] = defines(default=())
    reads: tuple[BufferRegion, ...] = ()
    writes: tuple[BufferRegion, ...] = ()
    annotations: FrozenDict = EMPTY
    init: Stmt | None = None
    body: Stmt = None

    def __post_init__(self) -> None:
        for name in ("iter_vars", "reads", "writes", "alloc_buffers", "match_buffers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "annotations", FrozenDict(freeze(dict(self.annotations))))


@node
class BlockRealize(Stmt):
    """Executes ``block`` with its iterators bound to ``iter_values`` when ``predicate`` holds."""

    iter_values: tuple[PrimExpr, ...]
    predicate: PrimExpr
    block: Block

    def __post_init__(self) -> None:
        object.__setattr__(self, "iter_values", tuple(self.iter_values))


def seq(*stmts: Stmt) -> Stmt:
    """A SeqStmt of the given statements, flattening nested sequences; one statement stays itself."""
    flat: list[Stmt] = []
    for stmt in stmts:
        if isinstance(stmt, SeqStmt):
            flat.extend(stmt.seq)
        elif stmt is not None:
            flat.append(stmt)
    return flat[0] if len(flat) == 1 else SeqStmt(tuple(flat))
