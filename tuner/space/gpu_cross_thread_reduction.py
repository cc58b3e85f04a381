"""``GPUCrossThreadReduction``: reduce across the threads of a block where a reduction has
little spatial work and a long reduction (a row sum, softmax's maximum and sum, a GEMV):
MetaSchedule's CrossThreadReduction.

A fork: the sketch as it was (other rules tile or bind the block) and one where the reduction
loops are fused, split by a thread extent drawn from ``thread_extents`` (within the target's
threads per block and the reduction's length), the inner part bound to ``threadIdx.x`` and the
fused spatial loops to ``blockIdx.x``. The block keeps its init: a loop carrying a reduction
bound to ``threadIdx`` is what ``passes/lower_cross_thread_reduction`` turns into warp shuffles
and a shared-memory tree (run sequentially, as the interpreter does, it is the plain sum).

Before::

    for i, k in T.grid(16, 1024):
        with T.block("sum"):
            vi, vk = T.axis.remap("SR", [i, k])
            ...

After (a draw of 128 threads)::

    for i in T.thread_binding(16, thread="blockIdx.x"):
        for k_0 in range(8):
            for k_1 in T.thread_binding(128, thread="threadIdx.x"):
                with T.block("sum"): ...
"""

from __future__ import annotations

from math import prod

from tvmscript.ir import stmt as S
from tvmscript.schedule import BlockRV, Schedule, ScheduleError

from .analysis import block_of, is_reduction, simple_loops
from .gpu_postproc import gpu_limits
from .rule import ScheduleRule, SpaceContext


class GPUCrossThreadReduction(ScheduleRule):
    name = "gpu-cross-thread-reduction"

    def __init__(self, thread_extents: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)) -> None:
        if not thread_extents or any(t < 1 for t in thread_extents):
            raise ValueError(f"thread_extents {thread_extents!r}: positive, at least one")
        self.thread_extents = tuple(sorted(int(t) for t in thread_extents))

    def extents(self, sch: Schedule, block: BlockRV) -> tuple[int, int] | None:
        """(spatial, reduction) iteration counts of an untiled reduction block whose reduction
        loops are innermost; None for any other block."""
        blk, _ = block_of(sch, block)
        loops = simple_loops(sch, block) if is_reduction(blk) else None
        if loops is None:
            return None
        kinds = [iv.iter_type for iv in blk.iter_vars]
        n_spatial = kinds.count(S.IterType.SPATIAL)
        if any(k != S.IterType.SPATIAL for k in kinds[:n_spatial]):
            return None
        return (prod(lp.extent.value for lp in loops[:n_spatial]),
                prod(lp.extent.value for lp in loops[n_spatial:]))

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        sizes = self.extents(sch, block)
        scope = sch.loc(block).enclosing_block()
        if sizes is None or (scope is not None and scope.name_hint != "root"):
            return [sch]
        spatial, reduce = sizes
        limit = gpu_limits(ctx.target).max_threads_per_block
        choices = [t for t in self.thread_extents if t <= limit and t <= reduce]
        if spatial >= reduce or not choices:
            return [sch]
        fork = sch.copy()
        try:
            self.bind(fork, block, choices)
        except ScheduleError:
            return [sch]
        if not lowers(fork):  # e.g. an init that is not the reducer's identity
            return [sch]
        return [sch, fork]

    @staticmethod
    def bind(sch: Schedule, block: BlockRV, choices: list[int]) -> None:
        """Fuse the reduction loops, split off a drawn thread count and bind it to
        ``threadIdx.x``; the fused spatial loops (or a unit loop) go to ``blockIdx.x``."""
        blk, _ = block_of(sch, block)
        n_spatial = sum(iv.iter_type == S.IterType.SPATIAL for iv in blk.iter_vars)
        loops = sch.get_loops(block)
        reduce = loops[n_spatial:]
        fused = sch.fuse(*reduce) if len(reduce) > 1 else reduce[0]
        threads = sch.sample_categorical(choices, [1.0] * len(choices)) if len(choices) > 1 \
            else choices[0]
        _, tx = sch.split(fused, [None, threads])
        spatial = loops[:n_spatial] or [sch.add_unit_loop(sch.get_loops(block)[0])]
        bx = sch.fuse(*spatial) if len(spatial) > 1 else spatial[0]
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")


def lowers(sch: Schedule) -> bool:
    """Whether the cross-thread lowering takes the fork's reductions: it refuses some (an init
    that is not the reducer's identity, a reducer it does not know), and a sketch it refuses
    would only give candidates that fail to build."""
    from passes.infra import get_pass
    from passes.lower_cross_thread_reduction import CrossThreadReductionError

    try:
        get_pass("lower-cross-thread-reduction")(sch.mod)
    except CrossThreadReductionError:
        return False
    return True
