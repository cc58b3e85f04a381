"""Sampling primitives: random choices that the trace records as decisions.

Each takes ``decision=None``. Without one it draws from ``sch.rng``; with one (a replayed or
mutated trace) it checks the decision and uses it, so a recorded trace replays the same
program and a changed decision gives the mutated one. An invalid decision is a ScheduleError.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from typing import Any

from ..ir.expr import IntImm
from .errors import ScheduleError
from .get import get_consumers  # the plain function: calling it records nothing
from .handles import BlockRV, IntRV, LoopRV
from .schedule import Schedule, register_primitive

ROOT = -1
"""The ``sample_compute_location`` decision that leaves the block where it is (TVM's root mark)."""


# ---------------------------------------------------------------- perfect tiles

MAX_TILES = 16
"""The most tile sizes ``sample_perfect_tile`` draws: it enumerates the tilings, whose number
grows combinatorially with ``n`` (a fuzzer's ``n=100`` exhausted memory)."""


@functools.lru_cache(maxsize=256)
def perfect_tilings(extent: int, n: int, max_innermost_factor: int) -> tuple[tuple[int, ...], ...]:
    """Every ordered ``n``-tuple of positive factors with product ``extent`` and innermost
    factor at most ``max_innermost_factor`` (lexicographic order)."""
    if n == 1:
        return ((extent,),) if extent <= max_innermost_factor else ()
    out = []
    for d in _divisors(extent):
        for rest in perfect_tilings(extent // d, n - 1, max_innermost_factor):
            out.append((d,) + rest)
    return tuple(out)


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


@register_primitive("sample_perfect_tile", sampling=True)
def sample_perfect_tile(sch: Schedule, loop: LoopRV, n: int, max_innermost_factor: int = 16, *,
                        decision: Sequence[int] | None = None) -> tuple[list[IntRV], list[int]]:
    """Draw ``n`` tile sizes whose product is the loop's (constant) extent, uniformly among all
    such tilings whose innermost size is at most ``max_innermost_factor``.

    Before: ``for i in range(128):``
    After ``v0, v1 = sch.sample_perfect_tile(i, n=2)`` (say ``[16, 8]``) and
    ``sch.split(i, [v0, v1])``: ``for i_0, i_1 in T.grid(16, 8):`` (the program itself
    changes only when the factors are used).
    """
    node = sch.get(loop)
    name = f"loop `{node.loop_var.name}`"
    if not isinstance(node.extent, IntImm):
        raise ScheduleError(f"cannot sample perfect tiles of {name}: its extent "
                            f"{node.extent.script()} is not a constant")
    n, limit = int(n), int(max_innermost_factor)
    if n < 1 or limit < 1:
        raise ScheduleError(f"sample_perfect_tile needs n >= 1 and max_innermost_factor >= 1, "
                            f"got n={n}, max_innermost_factor={limit}")
    if n > MAX_TILES:
        raise ScheduleError(f"sample_perfect_tile draws at most {MAX_TILES} tile sizes, got n={n}")
    extent = node.extent.value
    if decision is None:
        choices = perfect_tilings(extent, n, limit)
        if not choices:  # pragma: no cover - (extent, 1, ..., 1) always qualifies
            raise ScheduleError(f"{name} has no perfect tiling into {n} factors")
        chosen = list(choices[int(sch.rng.integers(len(choices)))])
    else:
        chosen = _check_tile_decision(decision, name, extent, n, limit)
    return [IntRV(f) for f in chosen], chosen


def _check_tile_decision(decision: Any, name: str, extent: int, n: int, limit: int) -> list[int]:
    if not isinstance(decision, (list, tuple)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in decision):
        raise ScheduleError(f"a perfect-tile decision is a list of {n} integers, got {decision!r}")
    values = [int(v) for v in decision]
    product = 1
    for v in values:
        product *= v
    if len(values) != n or any(v < 1 for v in values) or product != extent:
        raise ScheduleError(f"the decision {values} is not a tiling of {name} (extent {extent}) into "
                            f"{n} positive factors")
    if values[-1] > limit:
        raise ScheduleError(f"the decision {values} for {name} has innermost factor {values[-1]}, "
                            f"more than max_innermost_factor={limit}")
    return values


# ---------------------------------------------------------------- categorical


@register_primitive("sample_categorical", sampling=True)
def sample_categorical(sch: Schedule, candidates: Sequence[int], probs: Sequence[float], *,
                       decision: int | None = None) -> tuple[IntRV, int]:
    """Draw one of ``candidates`` with probabilities ``probs``; the decision is its index.

    Before: ``for i in range(64):``
    After ``v = sch.sample_categorical([0, 16, 64], [0.2, 0.3, 0.5])`` (say 16) and
    ``sch.annotate(i, "pragma_auto_unroll_max_step", v)``:
    ``for i in T.serial(64, annotations={"pragma_auto_unroll_max_step": 16}):``
    """
    cands = [int(c) for c in candidates]
    ps = [float(p) for p in probs]
    if not cands or len(cands) != len(ps):
        raise ScheduleError(f"sample_categorical needs as many probabilities as candidates (and at "
                            f"least one), got {len(cands)} candidates and {len(ps)} probabilities")
    if not all(0 <= p < math.inf for p in ps) or not 0 < sum(ps) < math.inf:
        raise ScheduleError(f"sample_categorical probabilities must be finite and non-negative "
                            f"with a positive sum, got {ps}")
    if decision is None:
        total = sum(ps)
        index = int(sch.rng.choice(len(cands), p=[p / total for p in ps]))
    else:
        if isinstance(decision, bool) or not isinstance(decision, int) or not 0 <= decision < len(cands):
            raise ScheduleError(f"the decision {decision!r} is not an index into the "
                                f"{len(cands)} candidates {cands}")
        index = int(decision)
    return IntRV(cands[index]), index


# ---------------------------------------------------------------- compute location


def compute_location_candidates(sch: Schedule, block: BlockRV) -> list[int]:
    """The decisions ``sample_compute_location`` may take for ``block``: ``ROOT`` (-1), then
    the position ``i`` (0 = outermost) of each loop around the block's first consumer that also
    encloses every other consumer, and is not a loop around ``block`` itself."""
    loc = sch.loc(block)
    consumers = [sch.loc(c) for c in get_consumers(sch, block)]
    out = [ROOT]
    if not consumers:
        return out
    own = {id(s) for s in loc.path}
    first = consumers[0]
    loops = first.loops()
    for i, lp in enumerate(loops):
        if id(lp) in own:
            continue
        if all(any(s is lp for s in c.path) for c in consumers):
            out.append(i)
    return out


@register_primitive("sample_compute_location", sampling=True)
def sample_compute_location(sch: Schedule, block: BlockRV, *,
                            decision: int | None = None) -> tuple[LoopRV | None, int]:
    """Draw a loop under which ``block`` could be computed (for ``compute_at``), or None (-1:
    leave it where it is), uniformly among the candidates.

    The candidates (TVM's ``CollectComputeLocation``, without its legality and performance
    filters, and without the inline mark) are -1 and the positions ``i`` of the loops around
    the block's first consumer that enclose all its consumers; the decision is that integer.

    Before (``B`` produces what ``C`` reads)::

        for i in range(64):
            with T.block("B"): ...
        for i, j in T.grid(64, 64):
            with T.block("C"): ...

    After ``l = sch.sample_compute_location(b)``: ``l`` is None, the ``i`` or the ``j`` loop of
    ``C`` (decision -1, 0 or 1); the program is unchanged until ``sch.compute_at(b, l)``.
    """
    cands = compute_location_candidates(sch, block)
    if decision is None:
        decision = cands[int(sch.rng.integers(len(cands)))]
    elif isinstance(decision, bool) or not isinstance(decision, int) or decision not in cands:
        raise ScheduleError(f"the decision {decision!r} is not a compute location of block "
                            f"`{block.name}`; the candidates are {cands} (-1: where it is)")
    if decision == ROOT:
        return None, ROOT
    consumer = sch.loc(get_consumers(sch, block)[0])
    return LoopRV(consumer.loops()[decision].loop_var), int(decision)


__all__ = [
    "ROOT",
    "compute_location_candidates",
    "perfect_tilings",
    "sample_categorical",
    "sample_compute_location",
    "sample_perfect_tile",
]
