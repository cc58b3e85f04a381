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

from .space.analysis import const_extents
from .result import flop_count


@dataclass(frozen=True)
class TuneTask:
    """One kernel to tune: its name in the lowered module, the unscheduled function, how many
    times a model run calls it, and its floating-point operations per call."""

    name: str
    func: PrimFunc
    weight: int
    flops: int

    @property
    def total_flops(self) -> int:
        return self.weight * self.flops


@dataclass(frozen=True)
class SkippedKernel:
    """A kernel no schedule search applies to, and why (it keeps the default schedule)."""

    name: str
    reason: str


class _CallCounter(Visitor):
    """Counts ``call_tir`` calls per callee in graph functions."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def visit_Call(self, call: G.Call) -> None:
        if isinstance(call.op, G.Op) and call.op.name == "relax.call_tir" \
                and isinstance(call.args[0], GlobalVar):
            self.calls[call.args[0].name_hint] += 1
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
    counter = _CallCounter()
    for func in lowered.functions.values():
        if isinstance(func, G.Function):
            counter.visit(func)
    from .tune import _has_loops

    tasks, skipped = [], []
    for name, func in lowered.functions.items():
        if not isinstance(func, PrimFunc):
            continue
        if counter.calls[name] == 0:
            continue
        if not _has_loops(func):
            skipped.append(SkippedKernel(name, "no loops"))
        elif not const_extents(func):
            skipped.append(SkippedKernel(name, "symbolic sizes (specialize the model's shapes "
                                               "to tune it)"))
        else:
            tasks.append(TuneTask(name, func, counter.calls[name], flop_count(func)))
    tasks.sort(key=lambda t: (-t.total_flops, t.name))
    return tasks, skipped, lowered


__all__ = ["SkippedKernel", "TuneTask", "extract_tasks", "lowered_model"]
