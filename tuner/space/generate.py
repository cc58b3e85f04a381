"""Design spaces: apply rules block by block to get sketches, and draw candidates from them.

``generate_design_spaces(func, target)`` starts from the unscheduled function and visits the
root block and then every block of the function in program order; each rule in turn maps every
schedule so far to the schedules it leads to (forks multiply them). Each final schedule's trace
is a sketch: primitives plus sampling instructions whose decisions are redrawn by
``sample_candidate`` and changed by the search's mutators (``replay_candidate``). Candidates are
postprocessed (``postproc``) and must verify, or they are rejected (None), never returned.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

import tvmscript
from backends.target import Target
from tvmscript.ir import stmt as S
from tvmscript.ir.function import IRModule, PrimFunc
from tvmscript.schedule import BlockRV, Schedule, ScheduleError
from tvmscript.schedule.trace import Trace

from .add_rfactor import AddRFactor
from .analysis import const_extents, symbolic_names
from .auto_inline import AutoInline
from .auto_tensorize import AutoTensorize
from .multi_level_tiling import MultiLevelTiling
from .pack_operand import PackOperand
from .parallel_vectorize_unroll import ParallelizeVectorizeUnroll
from .postproc import postprocess
from .random_compute_location import RandomComputeLocation
from .rule import ScheduleRule, SpaceContext

MAX_SKETCHES = 64
"""Forks multiply; past this many sketches the rest of the rules keep only the first ones."""


class SymbolicSizeError(ValueError):
    """The function has symbolic sizes: tile sizes need constant extents."""


def default_rules(target: Target | str = "llvm") -> list[ScheduleRule]:
    """The rules for ``target``, in the order they run on each block: TVM's llvm defaults plus
    operand packing for a CPU, MetaSchedule's CUDA rules for a cuda target."""
    if Target.parse(target).is_cuda:  # a bad target is an error here, not deep in a rule
        from .gpu_rules import default_gpu_rules

        return default_gpu_rules(target)
    return [AutoInline(), AutoTensorize(), PackOperand(), MultiLevelTiling(), AddRFactor(),
            ParallelizeVectorizeUnroll(), RandomComputeLocation()]


def _prim_func(func: PrimFunc | IRModule) -> PrimFunc:
    if isinstance(func, IRModule):
        prims = [f for f in func.functions.values() if isinstance(f, PrimFunc)]
        if len(prims) != 1:
            raise ValueError(f"the module has {len(prims)} loop-level functions; pass one of them")
        return prims[0]
    if not isinstance(func, PrimFunc):
        raise TypeError(f"expected a PrimFunc, got {type(func).__name__}")
    return func


def check_tunable(func: PrimFunc) -> None:
    """Refuse symbolic sizes, saying what to do instead."""
    if not const_extents(func):
        found = symbolic_names(func)
        what = ", ".join(found) or "a loop extent"
        example = (f"`tune(func.specialize({found[0]}=1024), ...)`" if found
                   else "with `func.specialize(...)`")
        raise SymbolicSizeError(
            f"function `{func.name or 'main'}` has symbolic sizes ({what}): tile sizes need "
            f"constant extents. Tune it for the sizes you run, e.g. {example}, and build that "
            f"one; Apache TVM refuses dynamic loops too")


def block_names(func: PrimFunc) -> list[str]:
    """``root`` (when there is one), then the other blocks from last to first: consumers are
    tiled before their producers are moved under the tiles (``compute_at`` needs the
    consumer's final loops) or folded in."""
    from tvmscript.schedule.state import walk

    names = [loc.node.name_hint for loc in walk(func.body) if isinstance(loc.node, S.Block)]
    roots = [n for n in names if n == "root"]
    return roots + [n for n in reversed(names) if n != "root"]


def generate_design_spaces(func: PrimFunc | IRModule, target: Target | str = "llvm",
                           rules: list[ScheduleRule] | None = None, seed: int = 0) -> list[Trace]:
    """The sketches of ``func`` under ``rules`` (``default_rules(target)`` when None).

    A function with no blocks (nothing the rules can act on) has one empty sketch.
    """
    func = _prim_func(func)
    check_tunable(func)
    ctx = SpaceContext.for_target(target, func)
    rules = default_rules(target) if rules is None else list(rules)
    states = [Schedule(func, seed=seed)]
    for name in block_names(func):
        states = _apply_rules(rules, states, name, ctx)
    return [sch.trace for sch in states]


def _apply_rules(rules: list[ScheduleRule], states: list[Schedule], name: str,
                 ctx: SpaceContext) -> list[Schedule]:
    """Every rule in turn on block ``name`` of every state (a state that lost the block, to an
    inline say, passes through). The block handle is fetched once per state; forks share it."""
    current: list[tuple[Schedule, Any]] = [
        (sch, sch.get_block(name) if has_block(sch, name) else None) for sch in states]
    for rule in rules:
        following: list[tuple[Schedule, Any]] = []
        for sch, block in current:
            if block is None or (name == "root" and not rule.on_root):
                following.append((sch, block))
                continue
            if not has_block(sch, name):
                following.append((sch, None))
                continue
            try:  # on a copy: a rule that fails half-way leaves the state as it was
                produced = rule.apply(sch.copy(), block, ctx)
            except ScheduleError:
                produced = [sch]
            following.extend((s, block) for s in produced)
        current = following[:MAX_SKETCHES]
    out = []
    for sch, block in current:
        last = sch.trace.instructions[-1] if len(sch.trace) else None
        if block is not None and last is not None and last.kind == "get_block" \
                and last.outputs is block:
            sch.trace.truncate(len(sch.trace) - 1)  # no rule used it
        out.append(sch)
    return out


def has_block(sch: Schedule, name: str) -> bool:
    """Whether the schedule's function still has a block of that name."""
    try:
        sch.loc(BlockRV(name))
        return True
    except ScheduleError:
        return False


def _seed(rng: Any) -> int:
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(1 << 62))
    if isinstance(rng, random.Random):
        return rng.getrandbits(62)
    if rng is None or isinstance(rng, (int, np.integer)):
        return rng
    raise TypeError(f"rng is a random.Random, a numpy Generator or an int seed, got {rng!r}")


def sample_candidate(func: PrimFunc | IRModule, sketch: Trace, rng: Any = None,
                     target: Target | str = "llvm") -> tuple[Trace, PrimFunc] | None:
    """Replay ``sketch`` with every decision drawn afresh, postprocess, verify.

    Returns the full trace (replays to the same program with ``trace.apply_to(func)``) and the
    scheduled function, or None when the draw is invalid (a primitive refuses it, or the result
    does not verify).
    """
    return _candidate(func, sketch.sketch(), None, True, _seed(rng), target)


def replay_candidate(func: PrimFunc | IRModule, trace: Trace,
                     decisions: dict[int, Any] | None = None, rng: Any = None,
                     target: Target | str = "llvm") -> tuple[Trace, PrimFunc] | None:
    """Replay a candidate's sketch with some decisions changed (a mutation: indices as in
    ``trace.sampling_indices()``, all before the postprocessing marker), postprocess, verify;
    None when the changed decisions are invalid."""
    return _candidate(func, trace.sketch(), decisions, False, _seed(rng), target)


def _candidate(func, sketch: Trace, decisions, redraw: bool, seed, target):
    func = _prim_func(func)
    target = Target.parse(target)
    sch = Schedule(func, seed=seed, verify=False)
    try:
        sketch.replay(sch, decisions, redraw=redraw)
        if target.is_cuda:  # thread binding, shared-memory fetches, the device's limits
            from .gpu_postproc import gpu_postprocess

            gpu_postprocess(sch, target)
        else:
            postprocess(sch, SpaceContext.for_target(target, func).vector_lanes)
        tvmscript.verify(sch.func)
    except (ScheduleError, tvmscript.WellFormedError):
        return None
    return sch.trace, sch.func
