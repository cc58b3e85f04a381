"""Handles that schedules hand out: blocks by name, loops by loop variable, sampled integers.

Handles are what the trace records, so a trace can be replayed on a fresh copy of the function:
replaying maps each recorded handle to the one the replay produced.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..ir.expr import Var

_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class BlockRV:
    """A block, found by its (unique) name."""

    name: str
    rv_id: int = field(default_factory=lambda: next(_ids))

    def __repr__(self) -> str:
        return f"BlockRV({self.name!r})"


@dataclass(frozen=True, eq=False)
class LoopRV:
    """A loop, found by its loop variable (kept while the loop's body is rewritten)."""

    var: Var
    rv_id: int = field(default_factory=lambda: next(_ids))

    def __repr__(self) -> str:
        return f"LoopRV({self.var.name!r})"


class IntRV(int):
    """A sampled integer: behaves as an int, and the trace knows where it came from."""

    rv_id: int

    def __new__(cls, value: int) -> "IntRV":
        obj = super().__new__(cls, int(value))
        obj.rv_id = next(_ids)
        return obj

    def __repr__(self) -> str:
        return f"IntRV({int(self)})"


RV = (BlockRV, LoopRV, IntRV)
