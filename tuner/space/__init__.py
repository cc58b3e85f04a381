"""Design spaces from rules (issue 11, part 1).

``generate_design_spaces(func, target, rules)`` -> sketches (traces with sampling
instructions); ``sample_candidate(func, sketch, rng)`` draws a candidate; ``replay_candidate``
replays one with changed decisions. Rules are ``ScheduleRule`` objects; ``default_rules``
gives TVM's CPU set plus operand packing for a CPU, MetaSchedule's CUDA set
(``default_gpu_rules``) for a cuda target. Importing this package registers the primitive
``compute_at_or_stay`` that sketches with a sampled compute location use.
"""

from .add_rfactor import AddRFactor
from .auto_bind import AutoBind
from .auto_inline import AutoInline
from .auto_tensorize import AutoTensorize
from .generate import (
    SymbolicSizeError,
    check_tunable,
    default_rules,
    generate_design_spaces,
    replay_candidate,
    sample_candidate,
)
from .gpu_cross_thread_reduction import GPUCrossThreadReduction
from .gpu_multi_level_tiling import GPUMultiLevelTiling
from .gpu_postproc import GPUCandidateError, gpu_postprocess
from .gpu_rules import default_gpu_rules
from .intrinsics import available_intrinsics
from .multi_level_tiling import MultiLevelTiling
from .pack_operand import PackOperand
from .parallel_vectorize_unroll import ParallelizeVectorizeUnroll
from .postproc import postprocess
from .random_compute_location import RandomComputeLocation
from .rule import ScheduleRule, SpaceContext

__all__ = ["AddRFactor", "AutoBind", "AutoInline", "AutoTensorize", "GPUCandidateError",
           "GPUCrossThreadReduction", "GPUMultiLevelTiling", "MultiLevelTiling", "PackOperand",
           "ParallelizeVectorizeUnroll", "RandomComputeLocation", "ScheduleRule", "SpaceContext",
           "SymbolicSizeError", "available_intrinsics", "check_tunable", "default_gpu_rules",
           "default_rules", "generate_design_spaces", "gpu_postprocess",
           "postprocess", "replay_candidate", "sample_candidate"]
