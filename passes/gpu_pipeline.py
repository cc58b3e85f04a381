"""The GPU lowering pipeline: one straight list of the passes (``docs/gpu-lowering.md``), and
``lower_gpu`` that turns a scheduled function into a host launcher and its device kernels."""

from __future__ import annotations

from dataclasses import dataclass

from tvmscript.ir import IRModule
from tvmscript.ir.function import BaseFunc

from . import (  # noqa: F401  (importing a pass module registers its pass)
    flatten_buffer,
    inject_storage_sync,
    lower_blocks,
    lower_init_block,
    lower_thread_binding,
    lower_warp_memory,
    plan_gpu_buffers,
    split_host_device,
    unroll_loop,
    vectorize_loop,
)
from .infra import Pass, PassContext, Sequential, get_pass
from .pipeline import _name, _simplify, bound_checks, refuse_out_of_bounds
from .verify_gpu_code import verify_gpu_code_pass


@dataclass(frozen=True)
class GPULimits:
    """What one block of threads may use on the device (backends fill it from the Target)."""

    max_threads_per_block: int = 1024
    max_shared_memory_per_block: int = 49152
    max_thread_x: int = 1024
    max_thread_y: int = 1024
    max_thread_z: int = 64
    max_grid_x: int = 2**31 - 1  # blocks per grid dimension: every GPU since sm_30
    max_grid_y: int = 65535
    max_grid_z: int = 65535
    warp_size: int = 32


def _cross_thread_reduction() -> list[Pass]:
    """``lower-cross-thread-reduction``, then its warp shuffles (config ``cuda.warp_reduction``,
    on unless set to False)."""
    from .lower_cross_thread_reduction import cross_thread_reduction_passes

    return cross_thread_reduction_passes()


def gpu_pipeline(limits: GPULimits = GPULimits()) -> Sequential:
    """The passes that turn a GPU-scheduled function into kernels and their launcher.

    No ``lower-intrinsics`` (math calls stay ``T.exp`` etc. for CUDA's math functions) and no
    ``lower-bf16`` (GPUs compute bfloat16 natively).
    """
    simplify = _simplify()
    return Sequential([
        *bound_checks(),
        *_cross_thread_reduction(),
        get_pass("lower-init-block"),
        get_pass("plan-gpu-buffers"),
        get_pass("lower-blocks"),
        get_pass("lower-thread-binding"),
        get_pass("flatten-buffer"),
        *simplify,
        get_pass("lower-warp-memory"),
        get_pass("vectorize-loop"),
        get_pass("unroll-loop"),
        *simplify,
        get_pass("inject-storage-sync"),
        get_pass("split-host-device"),
        verify_gpu_code_pass(limits),
    ], name="gpu-pipeline")


def lower_gpu(obj: IRModule | BaseFunc, limits: GPULimits = GPULimits()) -> IRModule:
    """Run the GPU pipeline under the current PassContext: each function ``f`` becomes a host
    function ``f`` and kernels ``f_kernel``, ``f_kernel_1``, ... (see the contract in
    ``docs/gpu-lowering.md``)."""
    mod = obj if isinstance(obj, IRModule) else IRModule.from_function(obj, _name(obj))
    refuse_out_of_bounds(mod)
    with PassContext.current():
        return gpu_pipeline(limits)(mod)
