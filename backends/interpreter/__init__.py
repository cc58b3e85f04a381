"""The reference interpreter: runs loop-level functions on numpy arrays by the IR's semantics.

``run(func, *args)`` runs one PrimFunc in place; ``InterpretedModule(mod)`` offers the compiled
runtime module's interface (``m["name"](*arrays)``), graph-level functions included (through the
graph executor with interpreted kernels). See docs/lowering.md, "The interpreter".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tvmscript.ir import IRModule, PrimFunc

from .kernel import InterpretedKernel, compile_prim_func, run
from .values import InterpreterAssertError


class InterpretedModule:
    """``m["f"](*arrays)`` runs function ``f`` of the module through the interpreter.

    A loop-level function is called in destination-passing style; a graph-level function
    returns its result (it runs on the graph executor, whose kernels are this module's).
    """

    def __init__(self, mod_or_func: IRModule | PrimFunc) -> None:
        if isinstance(mod_or_func, PrimFunc):
            name = mod_or_func.attrs.get("global_symbol") or mod_or_func.name or "main"
            mod_or_func = IRModule.from_function(mod_or_func, str(name))
        if not isinstance(mod_or_func, IRModule):
            raise TypeError(f"expected an IRModule or PrimFunc, got {type(mod_or_func).__name__}")
        self.mod = _with_bound_checks(mod_or_func)
        self._kernels: dict[str, InterpretedKernel] = {}
        self._executable = None

    def __getitem__(self, name: str) -> Callable[..., Any]:
        func = self.mod[name]
        if isinstance(func, PrimFunc):
            kernel = self._kernels.get(name)
            if kernel is None:
                kernel = self._kernels[name] = compile_prim_func(func, name)
            return kernel
        if self._executable is None:
            from backends.runtime.executor import Executable

            self._executable = Executable(self.mod, _LazyKernels(self))
        return self._executable[name]

    def get_function(self, name: str) -> Callable[..., Any]:
        return self[name]

    def __contains__(self, name: object) -> bool:
        return name in self.mod

    def __iter__(self) -> Iterator[str]:
        return iter(self.mod)

    def keys(self) -> list[str]:
        return list(self.mod)

    def __repr__(self) -> str:
        return f"InterpretedModule({list(self.mod)})"


def _with_bound_checks(mod: IRModule) -> IRModule:
    """``mod`` with an assert before each access not provably in bounds, when the current
    PassContext sets ``"tir.instrument_bound_checkers"`` (the LLVM target gets the same pass
    in its lowering pipeline; the interpreter runs the unlowered module)."""
    from passes.pipeline import bound_checks

    for check in bound_checks():
        mod = check(mod)
    return mod


class _LazyKernels:
    """The module's loop-level functions as a mapping, translated on first use."""

    def __init__(self, module: InterpretedModule) -> None:
        self.module = module

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if not isinstance(self.module.mod.functions.get(name), PrimFunc):
            raise KeyError(name)
        return self.module[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(self.module.mod.functions.get(name), PrimFunc)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default


__all__ = ["InterpretedKernel", "InterpretedModule", "InterpreterAssertError",
           "compile_prim_func", "run"]
