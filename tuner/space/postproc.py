"""Postprocessors: steps derived from a sketch's decisions, run after each replay.

They follow the ``enter_postproc`` marker in the trace, so the full trace replays the program
as measured, while ``trace.sketch()`` drops them before decisions are redrawn or mutated.

- ``rewrite_reduction_blocks``: ``decompose_reduction`` at a reduction block's outermost
  reduction loop, so the init is a loop nest of its own instead of a test in the inner loop.
- ``rewrite_parallel_vectorize_unroll``: reads the root block's marks (see
  ``parallel_vectorize_unroll``) and fuses + parallelizes the outer spatial loops of each nest,
  vectorizes innermost spatial loops (splitting off ``lanes`` when longer than allowed), and
  unrolls innermost loops while the product of their extents stays within the unroll depth.
"""

from __future__ import annotations

import math

from tvmscript.ir import stmt as S
from tvmscript.ir.expr import IntImm
from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError
from tvmscript.schedule.trace import POSTPROC_MARK, Instruction

from .analysis import vars_in
from .parallel_vectorize_unroll import PARALLEL, UNROLL, VECTORIZE


def postprocess(sch: Schedule, lanes: int = 8) -> None:
    """Run every postprocessor on ``sch`` (recorded after the marker)."""
    sch.trace.append(Instruction(POSTPROC_MARK, (), {}, None))
    body = sch.func.body
    if not (isinstance(body, S.BlockRealize) and body.block.name_hint == "root"):
        return
    root = sch.get_block("root")
    marks = dict(sch.get(root).annotations)
    for key in (PARALLEL, VECTORIZE, UNROLL):
        if key in marks:
            sch.unannotate(root, key)
    rewrite_reduction_blocks(sch)
    rewrite_parallel_vectorize_unroll(sch, root, int(marks.get(PARALLEL, 0)),
                                      int(marks.get(VECTORIZE, 0)), int(marks.get(UNROLL, 0)),
                                      lanes)


def leaf_blocks(func) -> list[S.Block]:
    """Blocks with no block inside, in program order (tensorized ones, which hold views of
    their operands, excluded)."""
    out: list[S.Block] = []

    def visit(stmt: S.Stmt) -> bool:
        from tvmscript.schedule.state import children

        found = False
        for child in children(stmt):
            found |= visit(child)
        if isinstance(stmt, S.Block):
            if not found and stmt.name_hint != "root" and not stmt.match_buffers:
                out.append(stmt)
            return True
        return found

    visit(func.body)
    return out


def _realizes(stmt: S.Stmt) -> list[S.BlockRealize]:
    """BlockRealizes under ``stmt`` that are not inside another block."""
    from tvmscript.schedule.state import children

    if isinstance(stmt, S.BlockRealize):
        return [stmt]
    return [r for child in children(stmt) for r in _realizes(child)]


def _binding_kinds(realize: S.BlockRealize, var) -> set[S.IterType]:
    return {iv.iter_type for iv, value in zip(realize.block.iter_vars, realize.iter_values)
            if var in vars_in(value)}


def _spatial_everywhere(loop: S.For, params: set) -> bool:
    """Whether the iterations of ``loop`` may run in parallel: every block under it binds its
    variable, and only to spatial iterators (its iterations write disjoint data), except
    *recomputed producers* (``_recomputed_producers``)."""
    realizes = _realizes(loop.body)
    bound = [r for r in realizes
             if _binding_kinds(r, loop.loop_var) == {S.IterType.SPATIAL}]
    unbound = [r for r in realizes if not _binding_kinds(r, loop.loop_var)]
    if not bound or len(bound) + len(unbound) != len(realizes):
        return False
    return _recomputed_producers(realizes, unbound, params)


def _recomputed_producers(realizes: list[S.BlockRealize], unbound: list[S.BlockRealize],
                          params: set) -> bool:
    """Whether every block that does not bind the loop is a recomputed producer (a padding
    copy computed inside a tile): a spatial block (every iterator spatial, no init) that
    writes temporaries no other block under the loop writes, before any block under the
    loop reads them, and reads nothing written under the loop. Every iteration then writes
    the same values into the same temporary elements before reading them, so whichever
    iteration wrote last, each reads what it needs (Apache TVM parallelizes such nests too).
    This holds because a temporary is allocated once, outside the loop: it would not for a
    buffer made per iteration."""
    blocks = [r.block for r in realizes]
    for r in unbound:
        blk = r.block
        mine = {w.buffer for w in blk.writes}
        if (not blk.iter_vars or blk.init is not None or mine & params
                or any(iv.iter_type != S.IterType.SPATIAL for iv in blk.iter_vars)):
            return False
        position = blocks.index(blk)
        for i, other in enumerate(blocks):
            if other is blk:
                continue
            if mine & {w.buffer for w in other.writes}:
                return False  # another block writes the same temporary
            if mine & {rd.buffer for rd in other.reads} and i < position:
                return False  # read before the producer wrote it
            if {rd.buffer for rd in blk.reads} & {w.buffer for w in other.writes}:
                return False  # it reads what the loop computes
        if {rd.buffer for rd in blk.reads} & mine:
            return False
    return True


def rewrite_reduction_blocks(sch: Schedule) -> None:
    for blk in leaf_blocks(sch.func):
        if blk.init is None:
            continue
        block = sch.get_block(blk.name_hint)
        realize = sch.loc(block).path[-2]
        for loop in sch.get_loops(block):
            if S.IterType.REDUCE in _binding_kinds(realize, sch.get(loop).loop_var):
                try:
                    sch.decompose_reduction(block, loop)
                except ScheduleError:
                    pass
                break


def rewrite_parallel_vectorize_unroll(sch: Schedule, root: BlockRV, max_parallel: int,
                                      max_vectorize: int, max_unroll: int, lanes: int) -> None:
    if max_parallel > 0:
        done: set = set()
        for child in sch.get_child_blocks(root):
            loops = sch.get_loops(child)
            if loops and sch.get(loops[0]).loop_var not in done:
                done.add(sch.get(loops[0]).loop_var)
                _parallelize(sch, loops, max_parallel)
    for blk in leaf_blocks(sch.func):
        block = sch.get_block(blk.name_hint)
        if max_vectorize > 1:
            _vectorize(sch, block, max_vectorize, lanes)
        if max_unroll > 0:
            _unroll(sch, block, max_unroll)


def _parallelize(sch: Schedule, loops: list[LoopRV], max_parallel: int) -> None:
    """Fuse the outer loops that may run in parallel (up to ``max_parallel`` iterations) and
    parallelize the fused loop; fewer loops when fusing more fails."""
    params = set(sch.func.buffer_map.values())
    chosen: list[tuple[LoopRV, int]] = []
    extent = 1
    previous = None
    for handle in loops:
        node = sch.get(handle)
        if node.kind != S.ForKind.SERIAL or not isinstance(node.extent, IntImm):
            break
        if previous is not None and previous.body is not node:
            break  # not perfectly nested
        trivial = node.extent.value == 1 and not any(
            _binding_kinds(r, node.loop_var) - {S.IterType.SPATIAL}
            for r in _realizes(node.body))
        if not trivial and (not _spatial_everywhere(node, params)
                            or (extent > 1 and extent * node.extent.value > max_parallel)):
            break
        chosen.append((handle, node.extent.value))
        extent *= node.extent.value
        previous = node
    while chosen and math.prod(n for _, n in chosen) > 1:
        handles = [h for h, _ in chosen]
        try:
            work = sch.copy()
            fused = work.fuse(*handles) if len(handles) > 1 else handles[0]
            work.parallel(fused)
        except ScheduleError:
            chosen.pop()
            continue
        sch.mod, sch.trace = work.mod, work.trace
        return


def _vectorize(sch: Schedule, block: BlockRV, max_vectorize: int, lanes: int) -> None:
    loops = sch.get_loops(block)
    if not loops:
        return
    handle = loops[-1]
    node = sch.get(handle)
    realize = sch.loc(block).path[-2]
    if (node.kind != S.ForKind.SERIAL or not isinstance(node.extent, IntImm)
            or node.body is not realize
            or _binding_kinds(realize, node.loop_var) != {S.IterType.SPATIAL}):
        return
    try:
        if node.extent.value > max_vectorize:
            if node.extent.value % lanes:
                return
            handle = sch.split(handle, [None, lanes])[1]
        sch.vectorize(handle)
    except ScheduleError:
        pass


def _unroll(sch: Schedule, block: BlockRV, max_unroll: int) -> None:
    steps = 1
    for handle in reversed(sch.get_loops(block)):
        node = sch.get(handle)
        if not isinstance(node.extent, IntImm):
            return
        steps *= node.extent.value
        if steps > max_unroll:
            return
        if node.kind == S.ForKind.VECTORIZED:
            continue
        if node.kind != S.ForKind.SERIAL:
            return
        try:
            sch.unroll(handle)
        except ScheduleError:
            return
