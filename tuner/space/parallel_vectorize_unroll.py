"""``ParallelizeVectorizeUnroll``: mark the root block with how far to parallelize, vectorize
and unroll; ``postproc.rewrite_parallel_vectorize_unroll`` turns the marks into loop kinds
once the rest of the schedule is known (as in TVM's MetaSchedule).

Marks (annotations of the root block): ``meta_schedule.parallel`` (the most iterations the
fused outer spatial loops may have; drawn from ``parallel_jobs_per_core`` times the cores),
``meta_schedule.vectorize`` (the longest innermost loop made a vector), and
``meta_schedule.unroll_explicit`` (the most iterations of innermost loops unrolled, drawn from
``unroll_depths``: 0, 16, 64, 512 by default). The unroll pass of ``passes/`` takes only
``T.unroll`` loops, so the postprocessor makes those; a loop annotation alone would be ignored.
"""

from __future__ import annotations

from tvmscript.schedule import BlockRV, Schedule

from .rule import ScheduleRule, SpaceContext

PARALLEL = "meta_schedule.parallel"
VECTORIZE = "meta_schedule.vectorize"
UNROLL = "meta_schedule.unroll_explicit"


class ParallelizeVectorizeUnroll(ScheduleRule):
    name = "parallelize-vectorize-unroll"
    on_root = True

    def __init__(self, parallel_jobs_per_core: tuple[int, ...] = (1, 4, 16, 64),
                 max_vectorize_extent: int = 64,
                 unroll_depths: tuple[int, ...] = (0, 16, 64, 512)) -> None:
        self.parallel_jobs_per_core = tuple(parallel_jobs_per_core)
        self.max_vectorize_extent = max_vectorize_extent
        self.unroll_depths = tuple(unroll_depths)

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        if block.name != "root" or sch.loc(block).enclosing_block() is not None:
            return [sch]
        if self.parallel_jobs_per_core:
            jobs = [ctx.num_cores * j for j in self.parallel_jobs_per_core]
            value = sch.sample_categorical(jobs, [1.0] * len(jobs))
            sch.annotate(block, PARALLEL, value)
        if self.max_vectorize_extent > 1:
            sch.annotate(block, VECTORIZE, self.max_vectorize_extent)
        if self.unroll_depths:
            depth = sch.sample_categorical(list(self.unroll_depths), [1.0] * len(self.unroll_depths))
            sch.annotate(block, UNROLL, depth)
        return [sch]
