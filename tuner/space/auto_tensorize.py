"""``AutoTensorize``: map a block onto each tensor intrinsic the target has (issue 5's
``auto_tensorize``: split, reorder, tensorize), as a fork beside the untensorized sketch.

The intrinsics come from ``SpaceContext.intrinsics`` (``available_intrinsics(target)``: FMA,
VNNI, AMX where the CPU has them) unless given. A block no intrinsic matches is left as it is.
The tensorized block is opaque to the other rules, which leave it alone.
"""

from __future__ import annotations

from tvmscript.schedule import BlockRV, Schedule, ScheduleError
from tvmscript.schedule.auto_tensorize import auto_tensorize

from .analysis import block_of, is_reduction
from .rule import ScheduleRule, SpaceContext


class AutoTensorize(ScheduleRule):
    name = "auto-tensorize"

    def __init__(self, intrinsics: tuple[str, ...] | None = None) -> None:
        self.intrinsics = None if intrinsics is None else tuple(intrinsics)

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        blk, _ = block_of(sch, block)
        if not is_reduction(blk):
            return [sch]
        out = [sch]
        for name in self.intrinsics if self.intrinsics is not None else ctx.intrinsics:
            fork = sch.copy()
            try:
                auto_tensorize(fork, block, name)
            except ScheduleError:
                continue
            out.append(fork)
        return out
