"""The GPU design space: MetaSchedule's CUDA rules (``generate.default_rules`` for a cuda
target; ``sample_candidate``/``replay_candidate`` postprocess with ``gpu_postprocess``).

``default_gpu_rules(target)`` runs on each block, in order: ``AutoInline`` (padding and ``exp``
folded too: a GPU recomputes them cheaply), ``GPUCrossThreadReduction`` (a fork),
``GPUMultiLevelTiling``, ``ParallelizeVectorizeUnroll`` (unroll depths only) and ``AutoBind``
for whatever is still unbound.
"""

from __future__ import annotations

from backends.target import Target

from .auto_bind import AutoBind
from .auto_inline import AutoInline
from .gpu_cross_thread_reduction import GPUCrossThreadReduction
from .gpu_multi_level_tiling import GPUMultiLevelTiling
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
