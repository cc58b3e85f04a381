"""The rule interface: what a design-space rule is and what it is told about the target.

A rule looks at one block of a schedule and returns the schedules it leads to: none changed (the
rule does not apply), one (a deterministic step), or several (a fork: each a different sketch).
Every step a rule takes is a schedule primitive, so it lands in the trace; random choices are
sampling primitives, so their decisions can be redrawn and mutated later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from backends.target import Target
from tvmscript.ir.function import PrimFunc
from tvmscript.schedule import BlockRV, Schedule


@dataclass(frozen=True)
class SpaceContext:
    """What rules may consult: the target, the function as the user wrote it, the cores, the
    SIMD width in float32 lanes, and the tensor intrinsics this CPU can run."""

    target: Target
    func: PrimFunc
    num_cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    vector_lanes: int = 8
    intrinsics: tuple[str, ...] = ()

    @staticmethod
    def for_target(target: Target | str, func: PrimFunc) -> SpaceContext:
        from .intrinsics import available_intrinsics

        target = Target.parse(target)
        lanes = 16 if target.kind == "llvm" and target.has_feature("avx512f") else 8
        return SpaceContext(target, func, vector_lanes=lanes,
                            intrinsics=tuple(available_intrinsics(target)))


class ScheduleRule:
    """Base of design-space rules. Subclasses set ``name`` and implement ``apply``.

    ``apply(sch, block, ctx)`` returns a list of schedules: ``[sch]`` when the rule does not
    apply (or after changing ``sch`` in place), several for a fork (``sch.copy()`` each branch).
    A primitive that raises ``ScheduleError`` leaves the schedule unchanged and records nothing,
    so a rule may try something and fall back.
    """

    name: str = "rule"
    on_root: bool = False
    """Whether the rule is also shown the root block (which has no loops); most rules are not."""

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"
