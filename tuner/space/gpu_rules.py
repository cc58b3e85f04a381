"""The GPU design space: MetaSchedule's CUDA rules and postprocessors, and entry points that
draw and replay GPU candidates.

``default_gpu_rules(target)`` runs on each block, in order: ``AutoInline`` (padding and ``exp``
folded too: a GPU recomputes them cheaply), ``GPUCrossThreadReduction`` (a fork),
``GPUMultiLevelTiling``, ``ParallelizeVectorizeUnroll`` (unroll depths only) and ``AutoBind``
for whatever is still unbound. ``gpu_postprocs(target)`` is the function that postprocesses and
checks a replayed candidate (``gpu_postproc.gpu_postprocess``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tvmscript
from backends.target import Target
from tvmscript.ir.function import IRModule, PrimFunc
from tvmscript.schedule import Schedule, ScheduleError
from tvmscript.schedule.trace import Trace

from .auto_bind import AutoBind
from .auto_inline import AutoInline
from .generate import _prim_func, _seed, generate_design_spaces
from .gpu_cross_thread_reduction import GPUCrossThreadReduction
from .gpu_multi_level_tiling import GPUMultiLevelTiling
from .gpu_postproc import gpu_postprocess
from .parallel_vectorize_unroll import ParallelizeVectorizeUnroll
from .rule import ScheduleRule

UNROLL_DEPTHS = (0, 16, 64, 512, 1024)
"""MetaSchedule's CUDA choices of how many innermost iterations to unroll."""


def _cuda(target: Target | str) -> Target:
    target = Target.parse(target)
    if not target.is_cuda:
        raise ValueError(f"the GPU rules are for cuda targets ('cuda', 'cuda-emulator'), got "
                         f"{str(target)!r}; use default_rules for a CPU")
    return target


def default_gpu_rules(target: Target | str = "cuda") -> list[ScheduleRule]:
    """The rules for a cuda target, in the order they run on each block (MetaSchedule's CUDA
    defaults, without tensor cores)."""
    _cuda(target)
    return [AutoInline(disallow_if_then_else=False, disallow_ops=()), GPUCrossThreadReduction(),
            GPUMultiLevelTiling(),
            ParallelizeVectorizeUnroll(parallel_jobs_per_core=(), max_vectorize_extent=0,
                                       unroll_depths=UNROLL_DEPTHS),
            AutoBind()]


def gpu_postprocs(target: Target | str = "cuda") -> Callable[[Schedule], None]:
    """The postprocessing of a replayed candidate for ``target``: rewrites, then the checks
    (raising ``GPUCandidateError`` for a candidate no GPU could launch)."""
    target = _cuda(target)
    return lambda sch: gpu_postprocess(sch, target)


def generate_gpu_design_spaces(func: PrimFunc | IRModule, target: Target | str = "cuda",
                               seed: int = 0) -> list[Trace]:
    """The sketches of ``func`` under ``default_gpu_rules(target)``."""
    return generate_design_spaces(func, _cuda(target), rules=default_gpu_rules(target), seed=seed)


def sample_gpu_candidate(func: PrimFunc | IRModule, sketch: Trace, rng: Any = None,
                         target: Target | str = "cuda") -> tuple[Trace, PrimFunc] | None:
    """``sample_candidate`` for a cuda target: every decision redrawn, GPU postprocessing and
    checks; None for an invalid draw."""
    return _gpu_candidate(func, sketch.sketch(), None, True, _seed(rng), target)


def replay_gpu_candidate(func: PrimFunc | IRModule, trace: Trace,
                         decisions: dict[int, Any] | None = None, rng: Any = None,
                         target: Target | str = "cuda") -> tuple[Trace, PrimFunc] | None:
    """``replay_candidate`` for a cuda target (a mutation: some decisions changed)."""
    return _gpu_candidate(func, trace.sketch(), decisions, False, _seed(rng), target)


def _gpu_candidate(func, sketch: Trace, decisions, redraw: bool, seed, target):
    # generate._candidate with the GPU postprocessing: once generate.py dispatches on
    # target.is_cuda, sample_candidate / replay_candidate do this and these wrappers can go
    postproc = gpu_postprocs(target)
    sch = Schedule(_prim_func(func), seed=seed, verify=False)
    try:
        sketch.replay(sch, decisions, redraw=redraw)
        postproc(sch)
        tvmscript.verify(sch.func)
    except (ScheduleError, tvmscript.WellFormedError):
        return None
    return sch.trace, sch.func
