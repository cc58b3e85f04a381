"""``build(obj, target)``: lower a PrimFunc or IRModule and compile it to a runtime module.

Loop-level functions go through the default lowering pipeline (``passes.pipeline.lower``) and
the LLVM backend; graph-level functions run on the graph executor
(``backends/runtime/executor.py``) with the compiled kernels. ``target="interpreter"`` gives the
reference interpreter behind the same interface.
"""

from __future__ import annotations

from typing import Any

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir.function import BaseFunc

from .target import Target


def build(obj: IRModule | PrimFunc, target: str | Target = "llvm") -> Any:
    """Compile ``obj``; ``rt["name"](*args)`` calls a function of the result."""
    target = Target.parse(target)
    mod = _as_module(obj)
    if any(not isinstance(f, PrimFunc) for f in mod.functions.values()):
        mod = legalize(mod)
    if target.kind == "interpreter":
        from .interpreter import InterpretedModule

        return InterpretedModule(mod)
    if target.kind != "llvm":
        raise ValueError(f"build does not support target {str(target)!r} yet; use 'llvm' or "
                         "'interpreter'")
    kernels = {n: f for n, f in mod.functions.items() if isinstance(f, PrimFunc)}
    lowered = lower(IRModule(kernels)) if kernels else IRModule({})
    from .llvm import build_llvm

    from .amx import run_refusal
    from .target import cross_compile_reason

    cross = cross_compile_reason(target)
    if cross is not None and len(kernels) != len(mod.functions):
        raise ValueError(f"graph-level functions run in this process, but {cross}; build them "
                         "for this machine's CPU")
    rt = build_llvm({n: f for n, f in lowered.functions.items() if isinstance(f, PrimFunc)},
                    target)
    rt.cross_reason = cross
    if cross is None:  # asks Linux for AMX tile state once, before any AMX code can run
        rt.permission_reason = run_refusal(rt.needs)
        if rt.permission_reason is not None and len(kernels) != len(mod.functions):
            raise ValueError(f"graph-level functions run in this process, but "
                             f"{rt.permission_reason}")
    if len(kernels) != len(mod.functions):
        rt._graph = _graph_executable(mod, rt)
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


def _graph_executable(mod: IRModule, rt: Any) -> Any:
    try:
        from .runtime.executor import Executable
    except ImportError as err:
        names = [n for n, f in mod.functions.items() if not isinstance(f, PrimFunc)]
        return _Missing(names, "graph-level functions need backends/runtime/executor.py "
                               f"(Executable), which is not available: {err}")
    return Executable(mod, rt.kernels)


class _Missing:
    """Stands for the graph executor until it exists; using it says what is missing."""

    def __init__(self, names: list[str], message: str) -> None:
        self.names, self.message = names, message

    def function_names(self) -> list[str]:
        return self.names

    def __getitem__(self, name: str) -> Any:
        raise NotImplementedError(self.message)


def load_module(path: str) -> Any:
    """A library written by ``export_library``, loaded without recompiling."""
    from .runtime.loader import load_module as load

    return load(path)
