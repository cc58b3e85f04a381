"""``MultiLevelTiling``: tile a reduction block's loops in TVM's CPU structure ``"SSRSRS"``.

Each spatial loop is split into as many tiles as the structure has ``S`` (sizes drawn by
``sample_perfect_tile``), each reduction loop into as many as it has ``R``, and the tiles are
reordered level by level. A local accumulator is a fork: the sketch without one, and one per
level in ``write_levels`` where the result is written back from a ``local`` copy
(``cache_write`` + ``reverse_compute_at`` under the last loop of that spatial level). When the
block's only consumer is element-wise (a ReLU after a dense layer), that consumer is moved
under the tile instead (``reverse_compute_at``): it then reads the tile while it is in cache.
"""

from __future__ import annotations

from tvmscript.ir import stmt as S
from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError

from .analysis import block_of, has_reuse, is_reduction, is_spatial, simple_loops
from .rule import ScheduleRule, SpaceContext


class MultiLevelTiling(ScheduleRule):
    name = "multi-level-tiling"

    def __init__(self, structure: str = "SSRSRS", max_innermost_factor: int = 64,
                 write_levels: tuple[int, ...] = (1, 2), accumulator: str = "may") -> None:
        if set(structure) - {"S", "R"} or "S" not in structure or "R" not in structure:
            raise ValueError(f"structure {structure!r}: use the letters S and R, each at least once")
        if accumulator not in ("may", "must", "never"):
            raise ValueError(f"accumulator is 'may', 'must' or 'never', got {accumulator!r}")
        self.structure = structure
        self.max_innermost_factor = max_innermost_factor
        self.write_levels = tuple(write_levels)
        self.accumulator = accumulator

    def applies(self, sch: Schedule, block: BlockRV) -> bool:
        blk, _ = block_of(sch, block)
        return is_reduction(blk) and has_reuse(blk) and simple_loops(sch, block) is not None

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        if not self.applies(sch, block):
            return [sch]
        levels = self.tile(sch, block)
        out = [] if self.accumulator == "must" else [sch]
        if self.accumulator != "never":
            for level in self.write_levels:
                fork = self.write_back(sch.copy(), block, levels, level)
                if fork is not None:
                    out.append(fork)
        return out or [sch]

    def tile(self, sch: Schedule, block: BlockRV) -> list[list[LoopRV]]:
        """Split and reorder; returns the loops of each level of the structure, outermost first."""
        blk, _ = block_of(sch, block)
        counts = {"S": self.structure.count("S"), "R": self.structure.count("R")}
        tiles: dict[str, list[list[LoopRV]]] = {k: [[] for _ in range(n)] for k, n in counts.items()}
        for iv, loop in zip(blk.iter_vars, sch.get_loops(block)):
            kind = "S" if iv.iter_type == S.IterType.SPATIAL else "R"
            sizes = sch.sample_perfect_tile(loop, n=counts[kind],
                                            max_innermost_factor=self.max_innermost_factor)
            for level, part in enumerate(sch.split(loop, sizes)):
                tiles[kind][level].append(part)
        return order_levels(sch, self.structure, tiles)

    def write_back(self, sch: Schedule, block: BlockRV, levels: list[list[LoopRV]],
                   level: int) -> Schedule | None:
        """Write the result back under the last loop of the ``level``-th spatial level (1-based),
        through a local accumulator or by moving an element-wise consumer there."""
        spatial_levels = [lv for kind, lv in zip(self.structure, levels) if kind == "S"]
        if not 1 <= level <= len(spatial_levels) or not spatial_levels[level - 1]:
            return None
        at = spatial_levels[level - 1][-1]
        try:
            consumers = sch.get_consumers(block)
            if len(consumers) == 1 and is_spatial(block_of(sch, consumers[0])[0]):
                sch.reverse_compute_at(consumers[0], at)
            else:
                local = sch.cache_write(block, 0, "local")
                sch.reverse_compute_at(local, at)
        except ScheduleError:
            return None
        return sch


def order_levels(sch: Schedule, structure: str, tiles: dict[str, list[list[LoopRV]]]
                 ) -> list[list[LoopRV]]:
    """Reorder the split loops level by level as ``structure`` (``"SSRSRS"``) lays them out:
    its n-th ``S`` takes the spatial loops' n-th parts, its n-th ``R`` the reductions'."""
    seen = {"S": 0, "R": 0}
    levels = []
    for kind in structure:
        levels.append(tiles[kind][seen[kind]])
        seen[kind] += 1
    sch.reorder(*[loop for level in levels for loop in level])
    return levels
