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
    """Every block under ``loop`` binds its variable, and only to spatial iterators (its
    iterations write disjoint data), except *recomputed producers*: a block that does not
    bind the variable at all, has no init and writes no parameter (a padding copy computed
    inside the tile). Its iterations write the same values to the same temporary elements,
    each before reading them, so every iteration reads what it needs whichever one wrote last
    (Apache TVM parallelizes such nests too); the output check of every measured candidate
    against the unscheduled function stands behind it."""
    realizes = _realizes(loop.body)
    if not realizes:
        return False
    bound = False
    for r in realizes:
        kinds = _binding_kinds(r, loop.loop_var)
        if kinds == {S.IterType.SPATIAL}:
            bound = True
        elif kinds or r.block.init is not None \
                or any(w.buffer in params for w in r.block.writes):
            return False
    return bound


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
    params = set(sch.func.buffer_map.values())
    chosen: list[LoopRV] = []
    extent = 1
    previous = None
    for handle in loops:
        node = sch.get(handle)
        if node.kind != S.ForKind.SERIAL or not isinstance(node.extent, IntImm):
            break
        if previous is not None and previous.body is not node:
            break  # not perfectly nested
        if node.extent.value == 1:  # binds nothing; fused away
            chosen.append(handle)
            previous = node
            continue
        if not _spatial_everywhere(node, params) \
                or (extent > 1 and extent * node.extent.value > max_parallel):
            break
        chosen.append(handle)
        extent *= node.extent.value
        previous = node
    while extent > 1 and chosen:  # fewer loops when more would race
        try:
            work = sch.copy()
            fused = work.fuse(*chosen) if len(chosen) > 1 else chosen[0]
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
