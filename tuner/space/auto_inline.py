"""``AutoInline``: fold element-wise producers into their consumers (``compute_inline``) and
element-wise consumers into their producers (``reverse_compute_inline``) where legal.

As in TVM's CPU defaults, blocks whose value uses ``if_then_else`` (padding) or an operator in
``disallow_ops`` (``exp``: recomputing it per use costs more than storing it) are left for
``RandomComputeLocation`` instead. Deterministic: no fork, no sampling.
"""

from __future__ import annotations

from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import Visitor
from tvmscript.schedule import BlockRV, Schedule, ScheduleError

from .analysis import block_of, is_spatial
from .rule import ScheduleRule, SpaceContext


class _Ops(Visitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Call(self, call: E.Call) -> None:
        self.names.add(str(getattr(call.op, "name", call.op)).split(".")[-1])
        self.generic_visit(call)


def called_ops(stmt: S.Stmt) -> set[str]:
    """Short names of the operators a statement calls (``exp``, ``if_then_else`` ...)."""
    finder = _Ops()
    finder.visit(stmt)
    return finder.names


class AutoInline(ScheduleRule):
    name = "auto-inline"

    def __init__(self, into_consumer: bool = True, into_producer: bool = True,
                 disallow_if_then_else: bool = True,
                 disallow_ops: tuple[str, ...] = ("exp",)) -> None:
        self.into_consumer = into_consumer
        self.into_producer = into_producer
        self.disallow_if_then_else = disallow_if_then_else
        self.disallow_ops = tuple(disallow_ops)

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        blk, _ = block_of(sch, block)
        if not is_spatial(blk) or not isinstance(blk.body, S.BufferStore) or blk.alloc_buffers:
            return [sch]
        ops = called_ops(blk.body)
        if self.disallow_if_then_else and "if_then_else" in ops:
            return [sch]
        if ops & set(self.disallow_ops):
            return [sch]
        attempts = ([sch.compute_inline] if self.into_consumer else []) + \
                   ([sch.reverse_compute_inline] if self.into_producer else [])
        for attempt in attempts:
            try:
                attempt(block)
                break
            except ScheduleError:
                continue
        return [sch]
