"""Finding and replacing blocks and loops in an immutable function.

Schedules refer to loops by their loop variable (a Var object, stable while a loop's body is
rewritten, since ``with_`` keeps it) and to blocks by their unique name. After a primitive
rebuilds part of a function, the same handles still find the same loops and blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ..ir import stmt as S
from ..ir.expr import Var
from ..ir.function import PrimFunc
from ..ir.functor import Mutator
from ..ir.node import Node
from .errors import ScheduleError


@dataclass(frozen=True)
class Location:
    """A statement and the chain of statements from the function body down to it (inclusive)."""

    node: S.Stmt
    path: tuple[S.Stmt, ...]

    @property
    def parent(self) -> S.Stmt | None:
        return self.path[-2] if len(self.path) > 1 else None

    def loops(self) -> list[S.For]:
        """Enclosing loops, outermost first, up to the nearest enclosing block."""
        out: list[S.For] = []
        for stmt in self.path[:-1]:
            if isinstance(stmt, S.Block):
                out = []
            elif isinstance(stmt, S.For):
                out.append(stmt)
        return out

    def enclosing_block(self) -> S.Block | None:
        for stmt in reversed(self.path[:-1]):
            if isinstance(stmt, S.Block):
                return stmt
        return None


def walk(stmt: S.Stmt, path: tuple[S.Stmt, ...] = ()) -> Iterator[Location]:
    """Every statement under ``stmt`` (pre-order) with its path; blocks' init included."""
    path = path + (stmt,)
    yield Location(stmt, path)
    for child in children(stmt):
        yield from walk(child, path)


def children(stmt: S.Stmt) -> list[S.Stmt]:
    if isinstance(stmt, S.SeqStmt):
        return list(stmt.seq)
    if isinstance(stmt, S.BlockRealize):
        return [stmt.block]
    if isinstance(stmt, S.Block):
        return ([stmt.init] if stmt.init is not None else []) + [stmt.body]
    if isinstance(stmt, S.IfThenElse):
        return [stmt.then_case] + ([stmt.else_case] if stmt.else_case is not None else [])
    body = getattr(stmt, "body", None)
    return [body] if isinstance(body, S.Stmt) else []


def find_block(func: PrimFunc, name: str) -> Location:
    """The block named ``name`` (its Block node; ``path[-2]`` is its BlockRealize)."""
    found = [loc for loc in walk(func.body) if isinstance(loc.node, S.Block) and loc.node.name_hint == name]
    if not found:
        names = block_names(func)
        raise ScheduleError(f"there is no block named `{name}`; the function has blocks {names}")
    if len(found) > 1:
        raise ScheduleError(f"there are {len(found)} blocks named `{name}`; block names must be unique")
    return found[0]


def find_loop(func: PrimFunc, var: Var) -> Location:
    for loc in walk(func.body):
        if isinstance(loc.node, S.For) and loc.node.loop_var is var:
            return loc
    raise ScheduleError(f"loop `{var.name}` is no longer in the function (a primitive replaced it)")


def block_names(func: PrimFunc) -> list[str]:
    return [loc.node.name_hint for loc in walk(func.body)
            if isinstance(loc.node, S.Block) and loc.node.name_hint != "root"]


def fresh_block_name(func: PrimFunc, base: str) -> str:
    taken = set(block_names(func)) | {"root"}
    if base not in taken:
        return base
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


class _Replace(Mutator):
    def __init__(self, mapping: dict[int, Any]) -> None:
        self.mapping = mapping

    def visit(self, obj: Any) -> Any:
        if isinstance(obj, Node) and id(obj) in self.mapping:
            return self.mapping[id(obj)]
        return super().visit(obj)


def replace(func: PrimFunc, old: S.Stmt, new: S.Stmt | None) -> PrimFunc:
    """``func`` with the statement ``old`` (by identity) replaced by ``new``.

    ``new=None`` removes ``old`` from its enclosing sequence.
    """
    return replace_many(func, {old: new})


def replace_many(func: PrimFunc, mapping: dict[S.Stmt, S.Stmt | None]) -> PrimFunc:
    ids = {id(k): v for k, v in mapping.items()}
    out = _Replace(ids).visit(func)
    if any(v is None for v in mapping.values()):
        out = _DropNone().visit(out)
    return out


class _DropNone(Mutator):
    def visit_SeqStmt(self, s: S.SeqStmt) -> S.Stmt:
        s = self.generic_visit(s)
        kept = tuple(x for x in s.seq if x is not None)
        return S.seq(*kept) if len(kept) != len(s.seq) else s
