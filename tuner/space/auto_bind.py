"""``AutoBind``: give every block the other GPU rules left unbound a grid of threads
(MetaSchedule's AutoBind): element-wise kernels, reductions without reuse, what was not tiled.

The block's outer loops that carry no reduction are fused, split by a thread extent drawn from
``thread_extents`` (those within the target's threads per block and the loops' extent) and
bound to ``blockIdx.x`` / ``threadIdx.x``. When that grid would have more than
``max_threadblocks`` blocks for the smallest thread extent, the split keeps that many blocks
and each thread loops over the rest (a grid-stride loop, innermost). A block with no such loop
(a full reduction) gets a unit loop to bind. A block that multi-level tiling will fold into
its producer's tile (a ReLU after a dense layer) is left alone.

Before::

    for i, j in T.grid(64, 100):
        with T.block("C"): ...

After (a draw of 128 threads)::

    for i_j_fused_0 in T.thread_binding(50, thread="blockIdx.x"):
        for i_j_fused_1 in T.thread_binding(128, thread="threadIdx.x"):
            with T.block("C"): ...
"""

from __future__ import annotations

from tvmscript.ir import stmt as S
from tvmscript.ir.expr import IntImm
from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError
from tvmscript.schedule.get import get_consumers, get_producers

from .analysis import is_spatial, vars_in
from .gpu_multi_level_tiling import GPUMultiLevelTiling
from .gpu_postproc import gpu_limits
from .rule import ScheduleRule, SpaceContext


class AutoBind(ScheduleRule):
    name = "auto-bind"

    def __init__(self, thread_extents: tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
                 max_threadblocks: int = 256) -> None:
        if not thread_extents or any(t < 1 for t in thread_extents) or max_threadblocks < 1:
            raise ValueError(f"thread_extents {thread_extents!r} and max_threadblocks "
                             f"{max_threadblocks!r} must be positive")
        self.thread_extents = tuple(sorted(int(t) for t in thread_extents))
        self.max_threadblocks = int(max_threadblocks)

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        loc = sch.loc(block)
        scope = loc.enclosing_block()
        if (scope is not None and scope.name_hint != "root") or is_bound(loc.path) \
                or is_epilogue_of_tiled(sch, block):
            return [sch]
        self.bind_block(sch, block, ctx)
        return [sch]

    def bind_block(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> None:
        """Fuse the block's outer loops that carry no reduction and bind them."""
        loops = sch.get_loops(block)
        outer = outer_spatial_loops(sch, loops)
        if not outer:
            outer = [sch.add_unit_loop(loops[0] if loops else block)]
        fused = sch.fuse(*outer) if len(outer) > 1 else outer[0]
        extent = sch.get(fused).extent
        if not isinstance(extent, IntImm):
            raise ScheduleError(f"cannot bind block `{block.name}`: the fused loop's extent "
                                f"{extent.script()} is not a constant")
        self.bind(sch, fused, extent.value, gpu_limits(ctx.target).max_threads_per_block)

    def bind(self, sch: Schedule, loop: LoopRV, extent: int, max_threads: int) -> None:
        """Split ``loop`` (of ``extent`` iterations) over blocks and threads and bind it."""
        choices = [t for t in self.thread_extents if t <= max_threads and t <= extent] \
            or [min(extent, max_threads)]
        threads = sch.sample_categorical(choices, [1.0] * len(choices)) if len(choices) > 1 \
            else choices[0]
        if extent <= self.max_threadblocks * choices[0]:
            bx, tx = sch.split(loop, [None, threads])
        else:
            serial, bx, tx = sch.split(loop, [None, self.max_threadblocks, threads])
            sch.reorder(bx, tx, serial)
        sch.bind(bx, "blockIdx.x")
        sch.bind(tx, "threadIdx.x")


def is_epilogue_of_tiled(sch: Schedule, block: BlockRV) -> bool:
    """Whether ``block`` is the lone element-wise consumer of a block that multi-level tiling
    applies to: the tiling folds it into its write-back (``gpu_postproc`` binds it if not).
    Bound here first, a predicate from an uneven split would forbid that fold."""
    if not is_spatial(sch.get(block)):
        return False
    producers = get_producers(sch, block)  # the plain functions: nothing recorded
    return (len(producers) == 1
            and [c.name for c in get_consumers(sch, producers[0])] == [block.name]
            and GPUMultiLevelTiling().applies(sch, producers[0]))


def is_bound(path: tuple[S.Stmt, ...]) -> bool:
    """Whether a statement with this path is already inside a GPU thread loop."""
    return any(isinstance(s, S.For) and s.kind == S.ForKind.THREAD_BINDING for s in path)


def outer_spatial_loops(sch: Schedule, loops: list[LoopRV]) -> list[LoopRV]:
    """The outermost perfectly nested serial loops whose iterations are independent: every
    block under them binds their variable only to spatial iterators."""
    out: list[LoopRV] = []
    previous = None
    for handle in loops:
        node = sch.get(handle)
        if node.kind != S.ForKind.SERIAL or node.annotations or \
                (previous is not None and previous.body is not node):
            break
        if not all(carries_only_spatial(r, node) for r in realizes_under(node.body)):
            break
        out.append(handle)
        previous = node
    return out


def realizes_under(stmt: S.Stmt) -> list[S.BlockRealize]:
    """Every block realize under ``stmt``, nested ones included."""
    from tvmscript.schedule.state import walk

    return [loc.node for loc in walk(stmt) if isinstance(loc.node, S.BlockRealize)]


def carries_only_spatial(realize: S.BlockRealize, loop: S.For) -> bool:
    return all(iv.iter_type == S.IterType.SPATIAL
               for iv, value in zip(realize.block.iter_vars, realize.iter_values)
               if loop.loop_var in vars_in(value))
