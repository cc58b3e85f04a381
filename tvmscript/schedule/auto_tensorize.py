"""Auto-tensorize: find how to split and reorder a block's loops so ``tensorize`` applies.

``find_tensorize_mapping(sch, block, intrin)`` assigns each loop of the intrinsic's description to
one iterator of the block (same kind, extent divisible by the description's), and tries each
assignment on a copy of the schedule: split the loop that drives the iterator by the
description's extent, move the inner parts innermost in the description's order, tensorize. The
first assignment that tensorizes is returned as a ``TensorizeMapping`` (which loops to split by
what, the loop order, where to tensorize); when none does, ``ScheduleError`` explains why for
each candidate (extent 100 is not divisible by 16 — pad it; dtype; operand order ...).

``auto_tensorize(sch, block, intrin)`` applies the mapping to ``sch`` (``split``, ``reorder``,
``tensorize``, all recorded in the trace) and returns the tensorized outer block. This is what a
tuner uses to place an intrinsic without a hand-written schedule.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..ir import stmt as S
from ..ir.expr import IntImm, Var
from .errors import ScheduleError
from .handles import BlockRV, LoopRV
from .reduction import vars_of
from .schedule import Schedule
from .tensor_intrin import TensorIntrin
from .tensorize import desc_nest, resolve_intrin

_MAX_CANDIDATES = 64


@dataclass(frozen=True)
class LoopAssignment:
    """Description loop ``desc_loop`` (extent ``extent``) is played by the block's iterator
    ``iterator``, driven by loop ``loop``; ``split`` is None when the loop already has the
    extent, else the loop is split into ``[None, extent]``."""

    desc_loop: str
    iterator: str
    loop: str
    extent: int
    split: "int | None"


@dataclass(frozen=True)
class TensorizeMapping:
    intrin: str
    block: str
    assignments: tuple[LoopAssignment, ...]
    order: tuple[str, ...]  # the loop order after splitting (names as split would make them)

    def __str__(self) -> str:
        parts = [f"tensorize block `{self.block}` with `{self.intrin}`:"]
        for a in self.assignments:
            how = (f"split loop `{a.loop}` into [{'None'}, {a.extent}]" if a.split
                   else f"use loop `{a.loop}` as it is")
            parts.append(f"  description loop `{a.desc_loop}` ({a.extent}) <- iterator "
                         f"`{a.iterator}`: {how}")
        parts.append(f"  then reorder to ({', '.join(self.order)}) and tensorize at the first "
                     f"of the last {len(self.assignments)} loops")
        return "\n".join(parts)


def _candidates(sch: Schedule, block: BlockRV, ti: TensorIntrin):
    """For each description loop, the block iterators that could play it, and why others can't."""
    desc = desc_nest(ti)
    loc = sch.loc(block)
    blk: S.Block = loc.node
    realize: S.BlockRealize = loc.path[-2]
    loops = loc.loops()
    loop_of = {l.loop_var: l for l in loops}
    options: list[list[tuple[int, S.For, int | None]]] = []
    why: list[str] = []
    for p, dl in enumerate(desc.loops):
        ext = dl.extent.value
        kind = "reduce" if desc.kinds[p] == "reduce" else "spatial"
        opts = []
        for n, (iv, value) in enumerate(zip(blk.iter_vars, realize.iter_values)):
            ivkind = "reduce" if iv.iter_type == S.IterType.REDUCE else "spatial"
            name = iv.var.name
            if ivkind != kind:
                why.append(f"iterator `{name}` is {_word(ivkind)}, description loop "
                           f"`{dl.loop_var.name}` is {_word(kind)}")
                continue
            loop = _innermost_loop(value, loop_of)
            if loop is None:
                why.append(f"iterator `{name}` is bound to `{value.script()}`, not to a loop "
                           "(or a sum ending in one)")
                continue
            if not isinstance(loop.extent, IntImm):
                why.append(f"loop `{loop.loop_var.name}` of iterator `{name}` has a symbolic "
                           "extent")
                continue
            le = loop.extent.value
            if le == ext:
                opts.append((n, loop, None))
            elif le % ext == 0:
                opts.append((n, loop, ext))
            else:
                why.append(f"iterator `{name}` has extent {le}, which is not divisible by {ext} "
                           f"(the extent of description loop `{dl.loop_var.name}`): pad the "
                           f"computation to a multiple of {ext} (e.g. {-(-le // ext) * ext})")
        options.append(opts)
    return desc, blk, loops, options, why


def _innermost_loop(value, loop_of: dict) -> "S.For | None":
    if isinstance(value, Var):
        return loop_of.get(value)
    # ``outer * E + inner``: the last term of a sum, a loop with coefficient one
    from ..ir import expr as E

    if isinstance(value, E.Add) and isinstance(value.b, Var) and value.b in loop_of:
        if value.b not in vars_of(value.a):
            return loop_of[value.b]
    return None


def _word(kind: str) -> str:
    return "a reduction" if kind == "reduce" else "spatial"


def find_tensorize_mapping(sch: Schedule, block: BlockRV,
                           intrin: "str | TensorIntrin") -> TensorizeMapping:
    """How to split and reorder the loops of ``block`` so ``intrin`` tensorizes it (``sch`` is not
    changed); ScheduleError explains why no mapping exists."""
    ti = resolve_intrin(intrin)
    mapping, _ = _search(sch, block, ti)
    return mapping


def _search(sch: Schedule, block: BlockRV, ti: TensorIntrin):
    desc, blk, loops, options, why = _candidates(sch, block, ti)
    head = f"auto-tensorize: no way to map block `{blk.name_hint}` onto intrinsic `{ti.name}`"
    for p, opts in enumerate(options):
        if not opts:
            dl = desc.loops[p]
            reasons = sorted(set(w for w in why if f"`{dl.loop_var.name}`" in w)) or why
            raise ScheduleError(
                f"{head}: no iterator of the block can play description loop "
                f"`{dl.loop_var.name}` ({_word('reduce' if desc.kinds[p] == 'reduce' else 'spatial')}, "
                f"extent {dl.extent.value}):\n  " + "\n  ".join(reasons))
    failures: list[str] = []
    tried = 0
    for combo in itertools.product(*options):
        if len({n for n, _, _ in combo}) != len(combo) or len({id(l) for _, l, _ in combo}) != len(combo):
            continue
        tried += 1
        if tried > _MAX_CANDIDATES:
            break
        trial = _scratch_copy(sch)
        try:
            mapping, _ = _apply(trial, block, ti, desc, blk, loops, combo)
            return mapping, combo
        except ScheduleError as err:
            reason = getattr(err, "reason", None) or str(err).splitlines()[0]
            its = ", ".join(f"{desc.loops[p].loop_var.name}<-{blk.iter_vars[n].var.name}"
                            for p, (n, _, _) in enumerate(combo))
            failures.append(f"[{its}] {reason}")
    if not failures:
        raise ScheduleError(f"{head}: the description's loops need distinct iterators of the "
                            "block, and there are not enough of the right kinds")
    ruled_out = ("\n  ruled out before trying:\n    " + "\n    ".join(sorted(set(why)))) if why else ""
    raise ScheduleError(f"{head}; tried {len(failures)} assignment(s):\n  " + "\n  ".join(failures)
                        + ruled_out)


def _apply(sch: Schedule, block: BlockRV, ti: TensorIntrin, desc, blk, loops, combo):
    """Split, reorder and tensorize on ``sch`` (a copy when searching)."""
    handles = sch.get_loops(block)  # recorded, so the trace replays with its own handles
    by_var = {sch.get(h).loop_var: h for h in handles}
    rvs = {id(l): by_var[l.loop_var] for l in loops}
    order = [rvs[id(l)] for l in loops]
    names = [l.loop_var.name for l in loops]
    inner: list[LoopRV] = []
    inner_names: list[str] = []
    assignments = []
    for p, (n, loop, factor) in enumerate(combo):
        rv = rvs[id(loop)]
        idx = order.index(rv)
        if factor is None:
            order.pop(idx)
            names.pop(idx)
            inner.append(rv)
            inner_names.append(loop.loop_var.name)
        else:
            outer_rv, inner_rv = sch.split(rv, [None, factor])
            order[idx] = outer_rv
            names[idx] = sch.get(outer_rv).loop_var.name
            inner.append(inner_rv)
            inner_names.append(sch.get(inner_rv).loop_var.name)
        assignments.append(LoopAssignment(desc.loops[p].loop_var.name, blk.iter_vars[n].var.name,
                                          loop.loop_var.name, desc.loops[p].extent.value, factor))
    full = order + inner
    sch.reorder(*full)
    out = sch.tensorize(inner[0], ti)
    mapping = TensorizeMapping(ti.name, blk.name_hint, tuple(assignments),
                               tuple(names + inner_names))
    return mapping, out


def auto_tensorize(sch: Schedule, block: BlockRV, intrin: "str | TensorIntrin") -> BlockRV:
    """Split, reorder and tensorize ``block`` with ``intrin`` (all recorded in the trace);
    returns the tensorized outer block. ScheduleError (schedule unchanged) when impossible."""
    ti = resolve_intrin(intrin)
    _, combo = _search(sch, block, ti)
    desc, blk, loops, _, _ = _candidates(sch, block, ti)
    saved_mod, saved_len = sch.mod, len(sch.trace)
    try:
        _, out = _apply(sch, block, ti, desc, blk, loops, combo)
    except BaseException:
        sch.mod = saved_mod
        sch.trace.truncate(saved_len)
        raise
    return out


def _scratch_copy(sch: Schedule) -> Schedule:
    """A copy to try things on that leaves ``sch`` (its random state included) untouched."""
    import numpy as np

    from .trace import Trace

    other = Schedule.__new__(Schedule)
    other.mod, other.func_name = sch.mod, sch.func_name
    other.trace = Trace()
    other.rng = np.random.default_rng(0)
    return other


__all__ = ["LoopAssignment", "TensorizeMapping", "auto_tensorize", "find_tensorize_mapping"]
