"""``build(obj, target)``: lower a PrimFunc or IRModule and compile it to a runtime module.

Loop-level functions go through the default lowering pipeline (``passes.pipeline.lower``) and
the LLVM backend; graph-level functions run on the graph executor
(``backends/runtime/executor.py``) with the compiled kernels. ``target="interpreter"`` gives the
reference interpreter behind the same interface; ``"cuda"`` and ``"cuda-emulator"`` lower with
``passes.gpu_pipeline.lower_gpu`` into a ``backends.cuda.CUDAModule``.
"""

from __future__ import annotations

from typing import Any

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir.depth import (
    BUILD_MAX_DEPTH,
    SPLIT_HINT,
    expr_depth,
    recursion_headroom,
    refuse_too_deep,
)
from tvmscript.ir.function import BaseFunc

from .runtime.executor import Executable
from .target import Target


def build(obj: IRModule | PrimFunc, target: str | Target = "llvm") -> Any:
    """Compile ``obj``; ``rt["name"](*args)`` calls a function of the result.

    Lowering and code generation walk expressions recursively: they run with room on the stack
    for ``BUILD_MAX_DEPTH`` levels (``tvmscript/ir/depth.py``), and deeper expressions are
    refused up front with a ValueError naming the function."""
    target = Target.parse(target)
    mod = _as_module(obj)
    _refuse_too_deep(mod)
    with recursion_headroom():
        try:
            return _build(mod, target)
        except RecursionError:  # a pass made an expression deeper than build handles
            raise ValueError(_deepest_message(mod)) from None


def _refuse_too_deep(mod: IRModule) -> None:
    for name, func in mod.functions.items():
        if isinstance(func, PrimFunc):
            refuse_too_deep(name, func.body)


def _deepest_message(mod: IRModule) -> str:
    """What to say when lowering ran out of stack although no expression was too deep."""
    depths = {name: expr_depth(f.body) for name, f in mod.functions.items()
              if isinstance(f, PrimFunc)}
    name = max(depths, key=depths.__getitem__, default="main")
    return (f"function {name!r} became too deeply nested while lowering (its deepest "
            f"expression is {depths.get(name, 0)} levels deep before lowering; build handles "
            f"{BUILD_MAX_DEPTH}); {SPLIT_HINT}")


def _build(mod: IRModule, target: Target) -> Any:
    if target.is_cuda:  # cuda, cuda-emulator: lower_gpu, CUDA C, NVRTC (backends/cuda)
        from .cuda.module import build_cuda

        return build_cuda(mod, target)
    if any(not isinstance(f, PrimFunc) for f in mod.functions.values()):
        mod = legalize(mod)
    if target.kind == "interpreter":
        from .interpreter import InterpretedModule

        return InterpretedModule(mod)
    if target.kind != "llvm":
        raise ValueError(f"build does not support target {str(target)!r} yet; use 'llvm', "
                         "'interpreter', 'cuda' or 'cuda-emulator'")
    kernels = {n: f for n, f in mod.functions.items() if isinstance(f, PrimFunc)}
    lowered = lower(IRModule(kernels)) if kernels else IRModule({})
    from .amx import run_refusal
    from .llvm import build_llvm
    from .target import cross_compile_reason

    cross = cross_compile_reason(target)
    rt = build_llvm({n: f for n, f in lowered.functions.items() if isinstance(f, PrimFunc)},
                    target)
    rt.cross_reason = cross
    if cross is None:  # asks Linux for AMX tile state once, before any AMX code can run
        rt.permission_reason = run_refusal(rt.needs)
        if rt.permission_reason is not None and len(kernels) != len(mod.functions):
            raise ValueError(f"graph-level functions run in this process, but "
                             f"{rt.permission_reason}")
    if len(kernels) != len(mod.functions):
        rt._graph = Executable(mod, rt.kernels)
    return rt


def _as_module(obj: Any) -> IRModule:
    if isinstance(obj, IRModule):
        return obj
    if isinstance(obj, BaseFunc):
        name = getattr(obj, "attrs", {}).get("global_symbol") or getattr(obj, "name", "") or "main"
        return IRModule.from_function(obj, str(name))
    raise TypeError(f"build expects an IRModule or a PrimFunc, got {type(obj).__name__}")


def legalize(mod: IRModule) -> IRModule:
    """Graph-level operators become ``call_tir`` of generated kernels (``legalize-ops``)."""
    from passes.legalize_ops import legalize_ops

    return legalize_ops(mod)


def lower(mod: IRModule) -> IRModule:
    """The default lowering pipeline (imported here: passes sit below backends)."""
    from passes.pipeline import lower as run_pipeline

    return run_pipeline(mod)


def load_module(path: str) -> Any:
    """A library written by ``export_library``, loaded without recompiling."""
    from .runtime.loader import load_module as load

    return load(path)
