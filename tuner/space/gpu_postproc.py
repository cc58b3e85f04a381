"""Postprocessors of GPU candidates: steps derived from a sketch's decisions, run after each
replay (after the ``enter_postproc`` marker, as the CPU ones in ``postproc``), then the checks
that reject a candidate no GPU could launch.

- ``rewrite_cooperative_fetch``: a loop marked ``meta_schedule.cooperative_fetch`` (the fused
  copy loops of a shared-memory stage, see ``gpu_multi_level_tiling``) is split by the block's
  ``threadIdx`` extents and the marked vector length; the thread parts are bound, the vector
  part vectorized (MetaSchedule's RewriteCooperativeFetch).
- ``rewrite_unbound_blocks``: a block still outside the thread grid gets bound as
  ``AutoBind`` would (MetaSchedule's RewriteUnboundBlock).
- ``rewrite_gpu_reduction_blocks``: ``decompose_reduction`` as on the CPU, except for blocks
  reduced across threads (their init stays for the cross-thread lowering).
- unrolling: the root's ``meta_schedule.unroll_explicit`` mark, as on the CPU.
- ``check_thread_extent_low``: a tiled block marked with the fewest threads per block its
  tiling may have (``gpu_multi_level_tiling.THREAD_EXTENT_LOW``) has at least that many.
- ``check_bound``: every block runs inside a ``blockIdx`` and a ``threadIdx`` loop.
- ``check_gpu_limits``: threads per block (in total and per dimension) and the shared memory a
  block uses stay within the target's limits (``gpu_limits``).

A candidate that fails a check raises ``GPUCandidateError`` (a ``ScheduleError``), which the
sampling functions turn into "invalid candidate" (None).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from backends.target import Target
from tvmscript.arith import Analyzer
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer, BufferRegion
from tvmscript.ir.expr import IntImm
from tvmscript.ir.function import PrimFunc
from tvmscript.schedule import LoopRV, Schedule, ScheduleError
from tvmscript.schedule.region import block_regions, bound_loops, union_regions
from tvmscript.schedule.state import children, walk
from tvmscript.schedule.trace import POSTPROC_MARK, Instruction

from .analysis import vars_in
from .gpu_multi_level_tiling import COOPERATIVE_FETCH, THREAD_EXTENT_LOW
from .parallel_vectorize_unroll import PARALLEL, UNROLL, VECTORIZE
from .postproc import leaf_blocks, rewrite_parallel_vectorize_unroll

if TYPE_CHECKING:
    from passes.gpu_pipeline import GPULimits


class GPUCandidateError(ScheduleError):
    """A GPU candidate that cannot run: a block outside the thread grid, or a kernel over the
    device's limits."""


def gpu_limits(target: Target | str) -> GPULimits:
    """The device limits of a cuda target (``-max_threads_per_block=``,
    ``-max_shared_memory_per_block=``), as the lowering checks them."""
    from backends.cuda.module import gpu_limits as from_target

    return from_target(Target.parse(target))


def gpu_postprocess(sch: Schedule, target: Target | str = "cuda") -> None:
    """Run every GPU postprocessor on ``sch`` (recorded after the marker), then the checks."""
    sch.trace.append(Instruction(POSTPROC_MARK, (), {}, None))
    body = sch.func.body
    unroll = 0
    if isinstance(body, S.BlockRealize) and body.block.name_hint == "root":
        root = sch.get_block("root")
        marks = dict(sch.get(root).annotations)
        for key in (PARALLEL, VECTORIZE, UNROLL):
            if key in marks:
                sch.unannotate(root, key)
        unroll = int(marks.get(UNROLL, 0))
    check_thread_extent_low(sch)
    rewrite_cooperative_fetch(sch)
    rewrite_unbound_blocks(sch, target)
    rewrite_gpu_reduction_blocks(sch)
    if unroll > 0:
        rewrite_parallel_vectorize_unroll(sch, sch.get_block("root"), 0, 0, unroll, 1)
    check_bound(sch.func)
    check_gpu_limits(sch.func, gpu_limits(target))


# ---------------------------------------------------------------- cooperative fetch


def rewrite_cooperative_fetch(sch: Schedule) -> None:
    """Spread each loop marked ``meta_schedule.cooperative_fetch`` over its block's threads."""
    for blk in leaf_blocks(sch.func):
        block = sch.get_block(blk.name_hint)
        loops = sch.get_loops(block)
        nodes = [sch.get(lp) for lp in loops]
        marked = [i for i, n in enumerate(nodes) if COOPERATIVE_FETCH in n.annotations]
        if not marked:
            continue
        i = marked[0]
        vector = int(nodes[i].annotations[COOPERATIVE_FETCH])
        sch.unannotate(loops[i], COOPERATIVE_FETCH)
        threads = {n.thread_tag: n.extent.value for n in nodes[:i]
                   if n.thread_tag in ("threadIdx.x", "threadIdx.y")
                   and isinstance(n.extent, IntImm)}
        spread(sch, loops[i], threads.get("threadIdx.y", 1), threads.get("threadIdx.x", 1), vector)


def spread(sch: Schedule, loop: LoopRV, ty: int, tx: int, vector: int) -> None:
    """Split ``loop`` as ``[rest, ty, tx, vector]`` (parts of one left out), bind the thread
    parts and vectorize the vector part."""
    extent = sch.get(loop).extent.value
    if extent % vector:
        vector = 1  # a vector cut by the loop's end would need a mask
    parts = [(n, tag) for n, tag in ((ty, "threadIdx.y"), (tx, "threadIdx.x"), (vector, None))
             if n > 1]
    if not parts:
        return
    loops = sch.split(loop, [None] + [n for n, _ in parts])
    for handle, (_, tag) in zip(loops[1:], parts):
        if tag is None:
            sch.vectorize(handle)
        else:
            sch.bind(handle, tag)


# ---------------------------------------------------------------- unbound blocks


def rewrite_unbound_blocks(sch: Schedule, target: Target | str) -> None:
    """Bind what the rules left unbound (an epilogue the tiling could not fold in) as
    ``AutoBind`` does, with a fixed 256 threads (MetaSchedule's RewriteUnboundBlock)."""
    from .auto_bind import AutoBind, is_bound
    from .rule import SpaceContext

    binder = AutoBind(thread_extents=(256,))
    ctx = SpaceContext(Target.parse(target), sch.func)
    for blk in leaf_blocks(sch.func):
        loc = sch.loc(sch.get_block(blk.name_hint))
        scope = loc.enclosing_block()
        if not is_bound(loc.path) and (scope is None or scope.name_hint == "root"):
            binder.bind_block(sch, sch.get_block(blk.name_hint), ctx)


# ---------------------------------------------------------------- reductions


def rewrite_gpu_reduction_blocks(sch: Schedule) -> None:
    """``decompose_reduction`` at each reduction block's outermost reduction loop, unless one of
    its reduction loops is bound to threads (a cross-thread reduction keeps its init)."""
    for blk in leaf_blocks(sch.func):
        if blk.init is None:
            continue
        block = sch.get_block(blk.name_hint)
        realize = sch.loc(block).path[-2]
        reducing = [lp for lp in sch.get_loops(block) if _reduces(realize, sch.get(lp))]
        if not reducing or any(sch.get(lp).kind == S.ForKind.THREAD_BINDING for lp in reducing):
            continue
        try:
            sch.decompose_reduction(block, reducing[0])
        except ScheduleError:
            pass


def _reduces(realize: S.BlockRealize, loop: S.For) -> bool:
    return any(iv.iter_type != S.IterType.SPATIAL and loop.loop_var in vars_in(value)
               for iv, value in zip(realize.block.iter_vars, realize.iter_values))


# ---------------------------------------------------------------- checks


def check_thread_extent_low(sch: Schedule) -> None:
    """A block marked with the fewest threads per block its tiling may have runs on at least
    that many (the mark is removed)."""
    for blk in leaf_blocks(sch.func):
        low = blk.annotations.get(THREAD_EXTENT_LOW)
        if low is None:
            continue
        loc = sch.loc(sch.get_block(blk.name_hint))
        threads = math.prod(s.extent.value for s in loc.path if isinstance(s, S.For)
                            and s.thread_tag.startswith("threadIdx.")
                            and isinstance(s.extent, IntImm))
        if threads < int(low):
            raise GPUCandidateError(f"block `{blk.name_hint}` has {threads} threads per block "
                                    f"(threadIdx), fewer than the {low} its tiling asks for")
        sch.unannotate(sch.get_block(blk.name_hint), THREAD_EXTENT_LOW)


def check_bound(func: PrimFunc) -> None:
    """Every block (but the root) runs inside a ``blockIdx`` and a ``threadIdx`` loop."""
    for loc in walk(func.body):
        if not isinstance(loc.node, S.Block) or loc.node.name_hint == "root":
            continue
        tags = {s.thread_tag.split(".")[0] for s in loc.path
                if isinstance(s, S.For) and s.kind == S.ForKind.THREAD_BINDING}
        missing = [t for t in ("blockIdx", "threadIdx") if t not in tags]
        if missing:
            raise GPUCandidateError(f"block `{loc.node.name_hint}` is not inside a "
                                    f"{' or a '.join(missing)} loop: it would run on the host")


def kernels(func: PrimFunc) -> list[S.Stmt]:
    """The launches of ``func``: the statements directly in its root block's body."""
    body = func.body
    if isinstance(body, S.BlockRealize) and body.block.name_hint == "root":
        body = body.block.body
    return list(body.seq) if isinstance(body, S.SeqStmt) else [body]


def check_gpu_limits(func: PrimFunc, limits) -> None:
    """Each kernel's threads per block and shared memory per block are within ``limits``."""
    for index, kernel in enumerate(kernels(func)):
        where = f"kernel {index} of `{func.name or 'main'}`"
        dims = thread_extents(kernel)
        for axis in "xyz":
            limit = getattr(limits, f"max_thread_{axis}", None)
            if limit is not None and dims.get(axis, 1) > limit:
                raise GPUCandidateError(f"{where} has {dims[axis]} threads along threadIdx.{axis}"
                                        f", more than the device's {limit}")
        threads = math.prod(dims.values())
        if threads > limits.max_threads_per_block:
            raise GPUCandidateError(f"{where} has {threads} threads per block, more than the "
                                    f"device's {limits.max_threads_per_block}")
        used = shared_bytes(kernel)
        if used > limits.max_shared_memory_per_block:
            raise GPUCandidateError(f"{where} uses {used} bytes of shared memory per block, "
                                    f"more than the device's {limits.max_shared_memory_per_block}")


def thread_extents(stmt: S.Stmt) -> dict[str, int]:
    """The largest extent bound to each of ``threadIdx.x/y/z`` under ``stmt``."""
    out: dict[str, int] = {}
    for loc in walk(stmt):
        node = loc.node
        if isinstance(node, S.For) and node.thread_tag.startswith("threadIdx."):
            extent = node.extent.value if isinstance(node.extent, IntImm) else 1 << 30
            axis = node.thread_tag[-1]
            out[axis] = max(out.get(axis, 1), extent)
    return out


def shared_bytes(kernel: S.Stmt) -> int:
    """Bytes of shared memory one thread block of ``kernel`` allocates: per shared buffer, the
    region its blocks access inside the innermost loop around all of them (where the lowering
    allocates it), relaxed over the thread loops (the buffer is shared by the block's
    threads), or the whole buffer where that region's size is not a constant."""
    uses: dict[Buffer, list[tuple[S.BlockRealize, list[S.For]]]] = {}
    for loc in walk(kernel):
        if isinstance(loc.node, S.BlockRealize) and not _has_block_inside(loc.node.block):
            block = loc.node.block
            for buffer in {r.buffer for r in (*block.reads, *block.writes)}:
                if buffer.scope.startswith("shared"):
                    uses.setdefault(buffer, []).append(
                        (loc.node, [s for s in loc.path if isinstance(s, S.For)]))
    return sum(_allocated_bytes(buffer, found) for buffer, found in uses.items())


def _allocated_bytes(buffer: Buffer, uses: list[tuple[S.BlockRealize, list[S.For]]]) -> int:
    common = uses[0][1]
    for _, loops in uses[1:]:
        n = 0
        while n < min(len(common), len(loops)) and common[n] is loops[n]:
            n += 1
        common = common[:n]
    fixed = [lp for lp in common if lp.kind != S.ForKind.THREAD_BINDING
             or lp.thread_tag.startswith("blockIdx.")]
    ana = bound_loops(Analyzer(), fixed)
    region: BufferRegion | None = None
    for realize, loops in uses:
        relax = [lp for lp in loops if not any(lp is f for f in fixed)]
        for reads in (True, False):
            found = block_regions(realize, relax, reads=reads, ana=ana, buffers={buffer})
            if buffer in found:
                new = found[buffer]
                region = new if region is None else union_regions(region, new, ana)
    sizes = [r.extent.value if isinstance(r.extent, IntImm) else dim.value
             for r, dim in zip(region.region, buffer.shape)]
    return math.prod(sizes) * buffer.dtype.itemsize * buffer.dtype.lanes


def _has_block_inside(block: S.Block) -> bool:
    return any(isinstance(loc.node, S.Block) for child in children(block) for loc in walk(child))
