"""``verify-gpu-code``: every kernel fits the device: threads per block (in all and per
dimension), blocks per grid dimension and shared memory per block (static and dynamic). A
kernel that does not is refused with ``GPULimitError`` naming the kernel, the limit, its value
and what the target allows::

    kernel 'matmul_kernel' launches 2048 threads per block (threadIdx.x=64 x threadIdx.y=32);
    the target allows 1024 (-max_threads_per_block)

Grid extents and ``shared.dyn`` sizes may depend on the kernel's scalar parameters: those
that do are only known at launch, and are left to the host to check there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tvmscript.ir import Allocate, AttrStmt, IntImm, IRModule, PrimFunc, post_order_visit
from tvmscript.ir.rewrite import product

from .infra import Pass, PassContext, module_pass


class GPULimitError(ValueError):
    """A kernel needs more of the device than the target allows."""


@dataclass(frozen=True)
class KernelUsage:
    """What one block of a kernel needs."""

    threads: dict[str, int]        # threadIdx.x/y/z -> extent
    shared: dict[str, int]         # shared allocation (static or constant dynamic) -> bytes
    blocks: dict[str, int] = field(default_factory=dict)  # blockIdx.x/y/z -> constant extent

    @property
    def threads_per_block(self) -> int:
        n = 1
        for extent in self.threads.values():
            n *= extent
        return n

    @property
    def shared_bytes(self) -> int:
        return sum(self.shared.values())


def kernel_usage(kernel: PrimFunc, name: str) -> KernelUsage:
    """The threads per block, constant grid extents and shared memory of ``kernel`` (thread
    extents and static shared sizes must be constants)."""
    threads: dict[str, int] = {}
    blocks: dict[str, int] = {}
    shared: dict[str, int] = {}

    def look(node) -> None:
        if isinstance(node, AttrStmt) and node.attr_key == "thread_extent":
            tag = node.node.thread_tag
            if tag.startswith("threadIdx."):
                threads[tag] = _const(node.value, f"the extent of {tag}", name)
            elif tag.startswith("blockIdx."):
                extent = _fold(node.value)
                if extent is not None:  # else it depends on the arguments: checked at launch
                    blocks[tag] = extent
        elif isinstance(node, Allocate) and node.scope == "shared":
            elements = _const(product(node.extents), f"the size of `{node.buffer_var.name}`",
                              name)
            shared[node.buffer_var.name] = elements * node.dtype.bits * node.dtype.lanes // 8
        elif isinstance(node, Allocate) and node.scope == "shared.dyn":
            elements = _fold(product(node.extents))
            # a size depending on the arguments is only known at launch, where the host checks
            if elements is not None:
                shared[node.buffer_var.name] = elements * node.dtype.bits * node.dtype.lanes // 8

    post_order_visit(kernel.body, look)
    return KernelUsage({t: threads[t] for t in _THREADS if t in threads}, shared,
                       {t: blocks[t] for t in _BLOCKS if t in blocks})


_THREADS = ("threadIdx.x", "threadIdx.y", "threadIdx.z")
_BLOCKS = ("blockIdx.x", "blockIdx.y", "blockIdx.z")


def _fold(expr) -> int | None:
    """``expr``'s value when it is a constant."""
    if isinstance(expr, IntImm):
        return expr.value
    from tvmscript.arith import Analyzer

    simplified = Analyzer().simplify(expr)
    return simplified.value if isinstance(simplified, IntImm) else None


def _const(expr, what: str, kernel: str) -> int:
    value = _fold(expr)
    if value is not None:
        return value
    raise GPULimitError(f"kernel '{kernel}': {what} is {expr}, not a constant; the device "
                        f"limits cannot be checked (specialize the function's sizes)")


def check_kernel(kernel: PrimFunc, name: str, limits) -> None:
    """Raise GPULimitError when ``kernel`` exceeds ``limits`` (a ``GPULimits``)."""
    usage = kernel_usage(kernel, name)
    per_dim = {"threadIdx.x": limits.max_thread_x, "threadIdx.y": limits.max_thread_y,
               "threadIdx.z": limits.max_thread_z}
    for tag, extent in usage.threads.items():
        if extent > per_dim[tag]:
            raise GPULimitError(
                f"kernel '{name}' launches {tag}={extent} threads; the target allows "
                f"{per_dim[tag]} (max_thread_{tag[-1]})")
    per_grid_dim = {"blockIdx.x": limits.max_grid_x, "blockIdx.y": limits.max_grid_y,
                    "blockIdx.z": limits.max_grid_z}
    for tag, extent in usage.blocks.items():
        if extent > per_grid_dim[tag]:
            raise GPULimitError(
                f"kernel '{name}' launches {tag}={extent} blocks; the target allows "
                f"{per_grid_dim[tag]} (max_grid_{tag[-1]})")
    total = usage.threads_per_block
    if total > limits.max_threads_per_block:
        dims = " x ".join(f"{t}={e}" for t, e in usage.threads.items())
        raise GPULimitError(
            f"kernel '{name}' launches {total} threads per block ({dims}); the target allows "
            f"{limits.max_threads_per_block} (-max_threads_per_block)")
    if usage.shared_bytes > limits.max_shared_memory_per_block:
        parts = " + ".join(f"{b} {n}" for b, n in usage.shared.items())
        raise GPULimitError(
            f"kernel '{name}' uses {usage.shared_bytes} bytes of shared memory per block "
            f"({parts}); the target allows {limits.max_shared_memory_per_block} "
            f"(-max_shared_memory_per_block)")


def verify_gpu_code_pass(limits) -> Pass:
    """``verify-gpu-code`` for ``limits`` (the registered pass uses the default GPULimits)."""

    def transform(mod: IRModule, ctx: PassContext) -> IRModule:
        for name, func in mod.functions.items():
            if isinstance(func, PrimFunc) and func.attrs.get("tvmscript.kernel"):
                check_kernel(func, name, limits)
        return mod

    return Pass("verify-gpu-code", 0, transform, True, (__doc__ or "").strip())


@module_pass("verify-gpu-code", opt_level=0, required=True)
def verify_gpu_code(mod: IRModule, ctx: PassContext) -> IRModule:
    """Refuse kernels beyond the default GPU limits (``gpu_pipeline`` passes the target's)."""
    from .gpu_pipeline import GPULimits

    return verify_gpu_code_pass(GPULimits()).transform(mod, ctx)
