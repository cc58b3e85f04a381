"""``AddRFactor``: split the reduction of a block with little spatial parallelism (a softmax
row maximum, a GEMV-like sum over a long axis) and ``rfactor`` it, so the partial reductions
become spatial work that can run in parallel and in vectors.

It applies to an untiled reduction block whose reduction loops are innermost, with a spatial
extent below ``cores * max_jobs_per_core`` and a longer reduction. The reduction loops are
fused, split in two by ``sample_perfect_tile``, and either part becomes the factor axis: a
fork of three sketches (unchanged, outer factored, inner factored).
"""

from __future__ import annotations

from math import prod

from tvmscript.ir import stmt as S
from tvmscript.schedule import BlockRV, Schedule, ScheduleError

from .analysis import block_of, is_reduction, simple_loops
from .rule import ScheduleRule, SpaceContext


class AddRFactor(ScheduleRule):
    name = "add-rfactor"

    def __init__(self, max_jobs_per_core: int = 16, max_innermost_factor: int = 64) -> None:
        self.max_jobs_per_core = max_jobs_per_core
        self.max_innermost_factor = max_innermost_factor

    def applies(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> bool:
        blk, _ = block_of(sch, block)
        loops = simple_loops(sch, block) if is_reduction(blk) else None
        if loops is None:
            return False
        kinds = [iv.iter_type for iv in blk.iter_vars]
        n_spatial = kinds.count(S.IterType.SPATIAL)
        if any(k != S.IterType.SPATIAL for k in kinds[:n_spatial]):
            return False  # reduction loops are not innermost
        spatial = prod(lp.extent.value for lp in loops[:n_spatial])
        reduce = prod(lp.extent.value for lp in loops[n_spatial:])
        return spatial < ctx.num_cores * self.max_jobs_per_core and reduce > spatial

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        if not self.applies(sch, block, ctx):
            return [sch]
        blk, _ = block_of(sch, block)
        n_spatial = sum(iv.iter_type == S.IterType.SPATIAL for iv in blk.iter_vars)
        out = [sch]
        for which in (0, 1):
            fork = sch.copy()
            try:
                reduce_loops = fork.get_loops(block)[n_spatial:]
                fused = fork.fuse(*reduce_loops) if len(reduce_loops) > 1 else reduce_loops[0]
                sizes = fork.sample_perfect_tile(fused, n=2,
                                                 max_innermost_factor=self.max_innermost_factor)
                parts = fork.split(fused, sizes)
                fork.rfactor(parts[which], 0)
            except ScheduleError:
                continue
            out.append(fork)
        return out
