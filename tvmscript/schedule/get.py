"""Primitives that look things up: blocks, loops, children, producers and consumers."""

from __future__ import annotations

from ..ir import stmt as S
from ..ir.buffer import Buffer
from .handles import BlockRV, LoopRV
from .schedule import Schedule, register_primitive
from .state import find_block


@register_primitive("get_block")
def get_block(sch: Schedule, name: str, func_name: str | None = None) -> BlockRV:
    """The block called ``name`` (as in ``with T.block("name")``)."""
    if func_name is not None:
        sch.work_on(func_name)
    find_block(sch.func, name)
    return BlockRV(name)


@register_primitive("get_loops")
def get_loops(sch: Schedule, block: BlockRV) -> list[LoopRV]:
    """The loops around ``block``, outermost first (up to the enclosing block)."""
    return [LoopRV(loop.loop_var) for loop in sch.loc(block).loops()]


def _child_blocks(stmt: S.Stmt) -> list[S.Block]:
    """Blocks directly under ``stmt`` (not inside another block)."""
    found: list[S.Block] = []

    def visit(s: S.Stmt) -> None:
        if isinstance(s, S.BlockRealize):
            found.append(s.block)
            return
        if isinstance(s, S.Block):
            for child in ([s.init] if s.init is not None else []) + [s.body]:
                visit(child)
            return
        from .state import children

        for child in children(s):
            visit(child)

    visit(stmt)
    return found


@register_primitive("get_child_blocks")
def get_child_blocks(sch: Schedule, parent: "BlockRV | LoopRV") -> list[BlockRV]:
    """Blocks directly inside a block or loop, in program order."""
    node = sch.get(parent)
    body = node.body if isinstance(node, (S.Block, S.For)) else node
    return [BlockRV(b.name_hint) for b in _child_blocks(body)]


def _scope_blocks(sch: Schedule, block: BlockRV) -> list[S.Block]:
    """The sibling blocks of ``block`` under the same enclosing block (its init first, as it
    runs first), in program order."""
    scope = sch.loc(block).enclosing_block()
    return _child_blocks(scope if scope is not None else sch.func.body)


def _written(b: S.Block) -> set[Buffer]:
    return {r.buffer for r in b.writes}


def _read(b: S.Block) -> set[Buffer]:
    return {r.buffer for r in b.reads}


@register_primitive("get_producers")
def get_producers(sch: Schedule, block: BlockRV) -> list[BlockRV]:
    """Blocks before ``block`` in its scope that write a buffer it reads."""
    target = sch.get(block)
    out = []
    for b in _scope_blocks(sch, block):
        if b is target:
            break
        if _written(b) & _read(target):
            out.append(BlockRV(b.name_hint))
    return out


@register_primitive("get_consumers")
def get_consumers(sch: Schedule, block: BlockRV) -> list[BlockRV]:
    """Blocks after ``block`` in its scope that read a buffer it writes."""
    target = sch.get(block)
    blocks = _scope_blocks(sch, block)
    after = blocks[[i for i, b in enumerate(blocks) if b is target][0] + 1:]
    return [BlockRV(b.name_hint) for b in after if _read(b) & _written(target)]
