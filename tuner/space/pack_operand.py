"""``PackOperand``: copy a read-only operand into a blocked layout inside the kernel, so the
innermost tile reads it from few cache lines.

It applies to a reduction block with data reuse whose loops are untiled, to each parameter
buffer the block only reads, packed along one of its spatial dimensions whose extent ``lanes``
divides (more than once): that dimension is split in two, its blocks first and ``lanes``
elements last (``d -> (d // lanes, ..., d % lanes)``). Two kinds of operand:

* a *vector* operand is indexed by the block's innermost spatial iterator, the one that ends up
  vectorized (B of a matmul, ``[n // 16, k, n % 16]``): a tile's vector becomes contiguous;
* a *broadcast* operand is not (a conv2d's weights ``W[k, c, r, s]`` against an output
  vectorized along its columns; A of a matmul): it is packed along its last spatial dimension
  (``W[k // 16, c, r, s, k % 16]``), so the values one step of the reduction broadcasts to a
  tile's rows or channels share a cache line instead of lying a whole row apart.

It forks: the sketch without packing, the one with the vector operands packed, and the one with
every candidate packed (when that differs). The copy is ``transform_layout`` of the parameter,
which keeps the signature and adds a ``<X>_pack`` block (a ``cache_read`` whose copy is laid out
anew, in one primitive).
"""

from __future__ import annotations

from tvmscript.ir import stmt as S
from tvmscript.ir.expr import Var
from tvmscript.schedule import BlockRV, Schedule, ScheduleError
from tvmscript.schedule.index_map import IndexMap

from .analysis import block_of, has_reuse, is_reduction, simple_loops
from .rule import ScheduleRule, SpaceContext


def blocked_map(ndim: int, lanes: int, dim: int | None = None) -> IndexMap:
    """``(d0, ..., dn) -> (dk // lanes, d0, ..., dn without dk, dk % lanes)`` for ``dk`` the
    dimension ``dim`` (default: the last)."""
    dims = [Var(f"d{i}", "int32") for i in range(ndim)]
    dim = ndim - 1 if dim is None else dim
    packed = dims[dim]
    rest = [d for i, d in enumerate(dims) if i != dim]
    return IndexMap.make(dims, [packed // lanes, *rest, packed % lanes])


class PackOperand(ScheduleRule):
    name = "pack-operand"

    def __init__(self, lanes: int = 16, broadcast: bool = True) -> None:
        self.lanes = lanes
        self.broadcast = broadcast

    def candidates(self, sch: Schedule, block: BlockRV) -> list[tuple[int, int, bool]]:
        """``(read index, dimension, is a vector operand)`` of each read region packing would
        help."""
        blk, _ = block_of(sch, block)
        if not is_reduction(blk) or not has_reuse(blk) or simple_loops(sch, block) is None:
            return []
        params = set(sch.func.buffer_map.values())
        written = {w.buffer for w in blk.writes}
        spatial = {iv.var: iv for iv in blk.iter_vars if iv.iter_type == S.IterType.SPATIAL}
        innermost = [iv.var for iv in blk.iter_vars if iv.iter_type == S.IterType.SPATIAL][-1:]
        out = []
        for index, region in enumerate(blk.reads):
            buf = region.buffer
            if buf not in params or buf in written or len(region.region) < 2:
                continue
            dims = [d for d, r in enumerate(region.region)
                    if getattr(r.extent, "value", None) == 1 and r.min in spatial
                    and self._divides(spatial[r.min])]
            if not dims:
                continue
            vector = [d for d in dims if region.region[d].min in innermost]
            if vector and vector[-1] == len(region.region) - 1:
                out.append((index, vector[-1], True))
            elif not vector and self.broadcast:
                out.append((index, dims[-1], False))
        return out

    def _divides(self, iv: S.IterVar) -> bool:
        size = getattr(iv.dom.extent, "value", 0)
        return size % self.lanes == 0 and size > self.lanes

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        found = self.candidates(sch, block)
        if not found:
            return [sch]
        choices = [[f for f in found if f[2]], found]
        out = [sch]
        for i, choice in enumerate(choices):
            if not choice or choice in choices[:i]:
                continue
            packed = self._pack(sch, block, choice)
            if packed is not None:
                out.append(packed)
        return out

    def _pack(self, sch: Schedule, block: BlockRV, choice: list[tuple[int, int, bool]]
              ) -> Schedule | None:
        packed = sch.copy()
        blk, _ = block_of(sch, block)
        for index, dim, _ in choice:
            region = blk.reads[index]
            try:
                packed.transform_layout(block, region.buffer.name,
                                        blocked_map(len(region.region), self.lanes, dim))
            except ScheduleError:
                return None
        return packed
