"""``PackOperand``: copy a read-only operand into a blocked layout inside the kernel, so the
innermost tile reads contiguous vectors (B of a matmul as ``[n // 16, k, n % 16]``).

It applies to a reduction block with data reuse whose loops are untiled, for each parameter
buffer it only reads whose last index is a spatial iterator with an extent that ``lanes``
divides (more than once). It forks: the sketch without packing and the one with it. The copy is
``transform_layout`` of the parameter, which keeps the signature and adds a ``<X>_pack`` block
(a ``cache_read`` whose copy is laid out anew, in one primitive).
"""

from __future__ import annotations

from tvmscript.ir import stmt as S
from tvmscript.ir.expr import Var
from tvmscript.schedule import BlockRV, Schedule, ScheduleError
from tvmscript.schedule.index_map import IndexMap

from .analysis import block_of, has_reuse, is_reduction, simple_loops
from .rule import ScheduleRule, SpaceContext


def blocked_map(ndim: int, lanes: int) -> IndexMap:
    """``(d0, ..., dn) -> (dn // lanes, d0, ..., dn-1, dn % lanes)``."""
    dims = [Var(f"d{i}", "int32") for i in range(ndim)]
    last = dims[-1]
    return IndexMap.make(dims, [last // lanes, *dims[:-1], last % lanes])


class PackOperand(ScheduleRule):
    name = "pack-operand"

    def __init__(self, lanes: int = 16) -> None:
        self.lanes = lanes

    def candidates(self, sch: Schedule, block: BlockRV) -> list[int]:
        """Indices of the block's read regions that packing would help."""
        blk, _ = block_of(sch, block)
        if not is_reduction(blk) or not has_reuse(blk) or simple_loops(sch, block) is None:
            return []
        params = set(sch.func.buffer_map.values())
        written = {w.buffer for w in blk.writes}
        spatial = {iv.var: iv for iv in blk.iter_vars if iv.iter_type == S.IterType.SPATIAL}
        out = []
        for index, region in enumerate(blk.reads):
            buf = region.buffer
            if buf not in params or buf in written or len(region.region) < 2:
                continue
            last = region.region[-1]
            iv = spatial.get(last.min)
            extent = getattr(last.extent, "value", None)
            size = getattr(iv.dom.extent, "value", 0) if iv is not None else 0
            if iv is not None and extent == 1 and size % self.lanes == 0 and size > self.lanes:
                out.append(index)
        return out

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        found = self.candidates(sch, block)
        if not found:
            return [sch]
        packed = sch.copy()
        blk, _ = block_of(sch, block)
        for index in found:
            ndim = len(blk.reads[index].region)
            buf_name = blk.reads[index].buffer.name
            try:
                packed.transform_layout(block, buf_name, blocked_map(ndim, self.lanes))
            except ScheduleError:
                return [sch]
        return [sch, packed]
