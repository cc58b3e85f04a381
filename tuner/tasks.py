"""Task extraction: the kernels of a model that tuning works on.

A model's tuning tasks are the loop-level functions ``build`` would compile for it: the module
after the graph passes, legalization and fusion (``model_pipeline``), deduplicated by
structure (``dedupe-kernels``: ResNet's repeated blocks share kernels). Each task carries its
*weight*, how many times one run of the model calls it, and its FLOP count per call: the model's
latency is estimated as the sum of weight × latency, which is what the task scheduler spends
the budget to reduce. Because the kernels are taken from the same pipeline that ``build`` runs,
the records tuning stores are found again at build time (a workload is the kernel's structure
and the target).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir import graph as G
from tvmscript.ir.function import GlobalVar
from tvmscript.ir.functor import Visitor

from .result import flop_count
from .space.analysis import const_extents


@dataclass(frozen=True)
class TuneTask:
    """One kernel to tune: its name in the lowered module, the unscheduled function, how many
    times a model run calls it, and its floating-point operations per call."""

    name: str
    func: PrimFunc
    weight: int
    flops: int
    const_params: frozenset[int] = frozenset()
    """Parameters every call passes a constant (a weight): a schedule's copy of such a weight
    into another layout runs once at build time (``layout_rewrite``), not on each call."""

    @property
    def total_flops(self) -> int:
        return self.weight * self.flops

    def timed_variant(self, scheduled: PrimFunc) -> PrimFunc | None:
        """What a model runs of ``scheduled`` (a schedule of this task), when that is not
        ``scheduled`` itself: without the copies of constant weights that the build hoists.
        Tuning times this, so a packed layout is judged by what it costs in the model."""
        from .layout_rewrite import find_prepacks, without_prepacks

        prepacks = [p for p in find_prepacks(scheduled) if p.index in self.const_params]
        return without_prepacks(scheduled, prepacks) if prepacks else None


@dataclass(frozen=True)
class SkippedKernel:
    """A kernel no schedule search applies to, and why (it keeps the default schedule)."""

    name: str
    reason: str


class _CallCounter(Visitor):
    """Counts ``call_tir`` calls per callee in a graph function, and the arguments that every
    call passes a constant."""

    def __init__(self, calls: Counter[str], consts: dict[str, set[int]]) -> None:
        self.calls, self.consts = calls, consts
        self.constants: dict[Any, Any] = {}

    def count(self, func: G.Function) -> None:
        from .layout_rewrite import _constants

        self.constants = _constants(func)
        self.visit(func)

    def visit_Call(self, call: G.Call) -> None:
        if isinstance(call.op, G.Op) and call.op.name == "relax.call_tir" \
                and isinstance(call.args[0], GlobalVar):
            name = call.args[0].name_hint
            self.calls[name] += 1
            args = call.args[1]
            fields = args.fields if isinstance(args, G.Tuple) else (args,)
            here = {i for i, a in enumerate(fields)
                    if isinstance(a, G.Constant) or a in self.constants}
            self.consts[name] = here if name not in self.consts else self.consts[name] & here
        for arg in call.args:
            self.visit(arg)


def lowered_model(mod: IRModule) -> IRModule:
    """``mod`` after graph passes, legalization and fusion: the kernels before scheduling."""
    from .model_pipeline import graph_passes, lowering_passes

    return lowering_passes()(graph_passes()(mod))


def extract_tasks(mod: IRModule, target: Any = "llvm"
                  ) -> tuple[list[TuneTask], list[SkippedKernel], IRModule]:
    """The tuning tasks of model ``mod``, heaviest first (weight × FLOPs), the kernels left to
    the default schedule with the reason, and the lowered module they come from."""
    from backends.target import Target

    if not isinstance(mod, IRModule):
        raise TypeError(f"extract_tasks takes an IRModule (a model), got {type(mod).__name__}")
    graphs = [f for f in mod.functions.values() if isinstance(f, G.Function)]
    if not graphs:
        raise ValueError("the module has no graph-level function (R.function): it is not a "
                         "model; tune its loop-level functions with tvmscript.tune")
    Target.parse(target)
    lowered = lowered_model(mod)
    calls: Counter[str] = Counter()
    consts: dict[str, set[int]] = {}
    for func in lowered.functions.values():
        if isinstance(func, G.Function):
            _CallCounter(calls, consts).count(func)
    from .tune import _has_loops

    tasks, skipped = [], []
    for name, func in lowered.functions.items():
        if not isinstance(func, PrimFunc):
            continue
        if calls[name] == 0:
            continue
        if not _has_loops(func):
            skipped.append(SkippedKernel(name, "no loops"))
        elif not const_extents(func):
            skipped.append(SkippedKernel(name, "symbolic sizes (specialize the model's shapes "
                                               "to tune it)"))
        else:
            tasks.append(TuneTask(name, func, calls[name], flop_count(func),
                                  frozenset(consts.get(name, ()))))
    tasks.sort(key=lambda t: (-t.total_flops, t.name))
    return tasks, skipped, lowered


__all__ = ["SkippedKernel", "TuneTask", "extract_tasks", "lowered_model"]
