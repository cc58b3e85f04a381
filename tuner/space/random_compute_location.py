"""``RandomComputeLocation``: move a producer (padding, an ``exp`` left un-inlined) under a
loop of its consumer, the loop drawn by ``sample_compute_location``.

The draw may be -1 (stay where it is). So that one trace covers both outcomes when decisions
are redrawn or mutated, the move is the primitive ``compute_at_or_stay(block, loop)``: a
``compute_at``, or nothing when ``loop`` is None. It is registered when ``tuner.space`` is
imported; traces that use it replay after that import.
"""

from __future__ import annotations

from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError, register_primitive
from tvmscript.schedule.compute_location import compute_at
from tvmscript.schedule.sampling import compute_location_candidates

from .analysis import block_of, is_spatial
from .rule import ScheduleRule, SpaceContext


@register_primitive("compute_at_or_stay")
def compute_at_or_stay(sch: Schedule, block: BlockRV, loop: LoopRV | None) -> None:
    """``compute_at(block, loop)``, or nothing when ``loop`` is None (a sampled -1).

    Before: ``l = sch.sample_compute_location(b)`` drew the loop ``i`` of the consumer.
    After ``sch.compute_at_or_stay(b, l)``: as ``sch.compute_at(b, l)``.
    """
    if loop is not None:
        compute_at(sch, block, loop)


class RandomComputeLocation(ScheduleRule):
    name = "random-compute-location"

    def apply(self, sch: Schedule, block: BlockRV, ctx: SpaceContext) -> list[Schedule]:
        blk, _ = block_of(sch, block)
        if not is_spatial(blk) or _writes_param(sch, blk):
            return [sch]
        scope = sch.loc(block).enclosing_block()
        if scope is None or scope.name_hint != "root":
            return [sch]
        try:
            if not sch.get_consumers(block):
                return [sch]
        except ScheduleError:
            return [sch]
        fork = sch.copy()
        try:
            # the sketch's own draw must be a loop: a None output is no handle, so a redrawn
            # loop could not reach compute_at_or_stay
            loops = compute_location_candidates(fork, block)[1:]
            if not loops:
                return [sch]
            first = loops[int(fork.rng.integers(len(loops)))]
            loop = fork.sample_compute_location(block, decision=first)
            fork.compute_at_or_stay(block, loop)
        except ScheduleError:
            return [sch]
        return [fork]


def _writes_param(sch: Schedule, blk) -> bool:
    params = set(sch.func.buffer_map.values())
    return any(w.buffer in params for w in blk.writes)
