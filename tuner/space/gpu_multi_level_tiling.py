"""``GPUMultiLevelTiling``: MetaSchedule's CUDA tiling ``"SSSRRSRS"`` with thread binding,
shared-memory operands fetched cooperatively, and a per-thread ``local`` accumulator.

Each spatial loop is split into five tiles and each reduction loop into three, reordered as
``S0 S1 S2 R0 R1 S3 R2 S4``. Sizes are drawn by ``sample_perfect_tile``; a reduction loop is
drawn in two steps, ``[R0, R1 * R2]`` with the slice ``R1 * R2`` that shared memory holds at
most ``max_reduction_tile`` long, then ``[R1, R2]`` (uniform three-way draws overflow shared
memory in most candidates; the price: a mutation of the first step that changes the slice
makes the second decision invalid, and that mutant is dropped). The loops of each of the
first three spatial levels are fused and bound to ``blockIdx.x``, ``vthread.x`` and
``threadIdx.x``. The result is accumulated in a ``local`` copy written back under the
``threadIdx`` loop (``cache_write`` + ``reverse_compute_at``; a lone element-wise consumer, such
as a ReLU, is folded into that write-back), and each operand is copied into
``shared`` memory under the outermost reduction loop (``cache_read`` + ``compute_at``): the copy
loops are fused and marked ``meta_schedule.cooperative_fetch`` with a sampled vector length,
which the postprocessor ``gpu_postproc.rewrite_cooperative_fetch`` turns into a loop over the
block's threads (and a vector), once the thread extent is known. A block with enough work
(``min_threads * 1024`` output elements or more) is marked so that candidates with fewer than
``min_threads`` threads per block (a warp) are rejected, as MetaSchedule does: they would only
waste measurements (for smaller blocks most draws would be rejected, so any count is allowed).

Before (``matmul``, one block ``C`` over ``i, j, k``); after, with the draws ``i: [2, 1, 8, 2,
8]``, ``j: [4, 2, 4, 2, 2]``, ``k: [16, 16]`` and ``[2, 8]`` (abridged)::

    for i_0_j_0_fused in T.thread_binding(8, thread="blockIdx.x"):
        for i_1_j_1_fused in T.thread_binding(2, thread="vthread.x"):
            for i_2_j_2_fused in T.thread_binding(32, thread="threadIdx.x"):
                for k_0 in range(16):  # fetch = {"meta_schedule.cooperative_fetch": 4}
                    for ax0_ax1_fused in T.serial(2048, annotations=fetch):
                        with T.block("A_shared"): ...
                    for ax0_ax1_fused_1 in T.serial(1024, annotations=...):
                        with T.block("B_shared"): ...
                    for k_1_0, i_3, j_3, k_1_1, i_4, j_4 in T.grid(2, 2, 2, 8, 8, 2):
                        with T.block("C"): ...   # C_local += A_shared * B_shared
                for ax0, ax1 in T.grid(16, 4):
                    with T.block("C_local"): ...  # C = C_local
"""

from __future__ import annotations

from math import prod

from tvmscript.ir import stmt as S
from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError

from .analysis import block_of, is_spatial
from .multi_level_tiling import MultiLevelTiling, order_levels
from .rule import SpaceContext

COOPERATIVE_FETCH = "meta_schedule.cooperative_fetch"
"""Loop annotation: the fused copy loops of a shared-memory stage, to be spread over the
block's threads; the value is the vector length of each thread's access."""
THREAD_EXTENT_LOW = "meta_schedule.thread_extent_low_inclusive"
"""Block annotation: the fewest threads per block a candidate of this tiling may have (checked
and removed by ``gpu_postproc.check_thread_extent_low``)."""


class GPUMultiLevelTiling(MultiLevelTiling):
    name = "gpu-multi-level-tiling"

    def __init__(self, structure: str = "SSSRRSRS",
                 tile_binds: tuple[str, ...] = ("blockIdx.x", "vthread.x", "threadIdx.x"),
                 max_innermost_factor: int = 64, vector_load_lens: tuple[int, ...] = (1, 2, 4),
                 read_level: int = 4, write_level: int = 3, max_reduction_tile: int = 16,
                 min_threads: int = 32) -> None:
        super().__init__(structure, max_innermost_factor, write_levels=(), accumulator="never")
        if len(tile_binds) > structure.find("R"):
            raise ValueError(f"tile_binds {tile_binds!r}: only the {structure.find('R')} "
                             f"spatial levels before the first reduction level can be bound")
        for what, level in (("read_level", read_level), ("write_level", write_level)):
            if not 1 <= level <= len(structure):
                raise ValueError(f"{what}={level}: levels count from 1 to {len(structure)}")
        if structure[write_level - 1] != "S" or write_level <= len(tile_binds) - 1:
            raise ValueError(f"write_level={write_level} must be a spatial level at or inside "
                             f"the last bound one ({len(tile_binds)})")
        if not vector_load_lens or any(v < 1 for v in vector_load_lens):
            raise ValueError(f"vector_load_lens {vector_load_lens!r}: positive lengths, at least "
                             "one")
        self.tile_binds = tuple(tile_binds)
        self.vector_load_lens = tuple(int(v) for v in vector_load_lens)
        self.read_level = read_level
        self.write_level = write_level
        self.max_reduction_tile = max_reduction_tile
        self.min_threads = min_threads

    def tile(self, sch: Schedule, block: BlockRV) -> list[list[LoopRV]]:
        """Split and reorder as ``MultiLevelTiling.tile``, except that a reduction loop is
        first split in two, the inner part (the slice of the operands a thread block holds in
        shared memory) at most ``max_reduction_tile`` long, and that part is then tiled
        further: uniform draws over all tilings would mostly overflow shared memory."""
        blk, _ = block_of(sch, block)
        counts = {"S": self.structure.count("S"), "R": self.structure.count("R")}
        tiles: dict[str, list[list[LoopRV]]] = {k: [[] for _ in range(n)]
                                                for k, n in counts.items()}
        for iv, loop in zip(blk.iter_vars, sch.get_loops(block)):
            kind = "S" if iv.iter_type == S.IterType.SPATIAL else "R"
            if kind == "R" and counts["R"] > 1:
                outer, inner = sch.split(loop, sch.sample_perfect_tile(
                    loop, n=2, max_innermost_factor=self.max_reduction_tile))
                parts = [outer] + self._split(sch, inner, counts["R"] - 1)
            else:
                parts = self._split(sch, loop, counts[kind])
            for level, part in enumerate(parts):
                tiles[kind][level].append(part)
        return order_levels(sch, self.structure, tiles)

    def _split(self, sch: Schedule, loop: LoopRV, n: int) -> list[LoopRV]:
        if n == 1:
            return [loop]
        return sch.split(loop, sch.sample_perfect_tile(
            loop, n=n, max_innermost_factor=self.max_innermost_factor))

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        if not self.applies(sch, block):
            return [sch]
        operands = self._operands(sch, block)
        blk, _ = block_of(sch, block)
        work = prod(iv.dom.extent.value for iv in blk.iter_vars
                    if iv.iter_type == S.IterType.SPATIAL)
        levels = self.tile(sch, block)
        # the write-back is placed while the loops are plain: under a fused blockIdx loop the
        # race check could not tell the iterations' parts of the output apart
        local = sch.cache_write(block, 0, "local")
        sch.reverse_compute_at(local, levels[self.write_level - 1][-1])
        self._fuse_epilogue(sch, local)
        for level, thread in enumerate(self.tile_binds):
            loops = levels[level]
            fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
            sch.bind(fused, thread)
            levels[level] = [fused]
        for name in operands:
            self._fetch(sch, block, name, levels[self.read_level - 1][-1])
        if self.min_threads > 1 and work >= self.min_threads * 1024:
            sch.annotate(block, THREAD_EXTENT_LOW, self.min_threads)
        return [sch]

    @staticmethod
    def _fuse_epilogue(sch: Schedule, local: BlockRV) -> None:
        """Fold a lone element-wise consumer (a bias, a ReLU; visited first, so already bound to
        threads of its own) into the write-back: one kernel instead of two."""
        consumers = sch.get_consumers(local)
        if len(consumers) == 1 and is_spatial(sch.get(consumers[0])):
            try:
                sch.reverse_compute_inline(consumers[0])
            except ScheduleError:
                pass

    @staticmethod
    def _operands(sch: Schedule, block: BlockRV) -> list[str]:
        """Names of the buffers the block reads and does not write, in read order."""
        blk = sch.get(block)
        written = {w.buffer for w in blk.writes}
        out: list[str] = []
        for region in blk.reads:
            if region.buffer not in written and region.buffer.name not in out:
                out.append(region.buffer.name)
        return out

    def _fetch(self, sch: Schedule, block: BlockRV, name: str, at: LoopRV) -> None:
        """Copy operand ``name`` into shared memory under ``at``; fuse the copy loops and mark
        them for cooperative fetching with a sampled vector length."""
        index = [r.buffer.name for r in sch.get(block).reads].index(name)
        shared = sch.cache_read(block, index, "shared")
        sch.compute_at(shared, at, preserve_unit_loops=True)  # as many loops in every draw
        loops = sch.get_loops(shared)
        at_var = sch.get(at).loop_var
        inner = loops[[sch.get(lp).loop_var for lp in loops].index(at_var) + 1:]
        if not inner:
            return
        fused = sch.fuse(*inner) if len(inner) > 1 else inner[0]
        lens = self.vector_load_lens
        length = sch.sample_categorical(list(lens), [1.0] * len(lens)) if len(lens) > 1 else lens[0]
        sch.annotate(fused, COOPERATIVE_FETCH, length)
