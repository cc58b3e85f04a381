"""Passes: transformations of IR modules, and the default lowering pipeline."""

from .infra import (
    Pass,
    PassContext,
    PassInstrument,
    Sequential,
    get_pass,
    list_passes,
    module_pass,
    prim_func_pass,
)

__all__ = ["Pass", "PassContext", "PassInstrument", "Sequential", "get_pass", "list_passes",
           "module_pass", "prim_func_pass"]

# the lowering passes register themselves when their modules are imported (through the pipeline)
from .pipeline import default_pipeline, lower

__all__ += ["default_pipeline", "lower"]

# the GPU pipeline: thread binding, shared/local buffers, barriers, host/device split
from .gpu_pipeline import GPULimits, lower_gpu

__all__ += ["GPULimits", "lower_gpu"]

# instruments for PassContext, and the simplify pass (registered on import)
from . import simplify as _simplify  # noqa: F401
from .instruments import (
    PassTimer,
    PassVerificationError,
    PrintDiff,
    PrintIR,
    VerifyWellFormed,
)

__all__ += ["PassTimer", "PassVerificationError", "PrintDiff", "PrintIR", "VerifyWellFormed"]

# the graph-level passes (registered on import): simplifications, fusion and the memory plan
from . import (  # noqa: F401
    common_subexpr,
    dead_code,
    dedupe_kernels,
    fold_batch_norm,
    fold_constant,
    fuse_ops,
    fuse_tir,
    legalize_ops,
    memory_plan,
    op_pattern,
)
