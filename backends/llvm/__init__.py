"""LLVM backend: lowered PrimFuncs -> llvmlite IR -> O3 -> MCJIT, and shared-library export."""

from __future__ import annotations

from collections.abc import Mapping

from tvmscript.ir import PrimFunc

from ..runtime.module import Kernel, RuntimeModule
from ..runtime.spec import KernelSpec, dumps
from ..target import Target
from .codegen import CodegenError, CodeGenLLVM
from .export import add_metadata_global, export_library
from .jit import compile_module


def codegen(funcs: Mapping[str, PrimFunc], target: Target) -> tuple[CodeGenLLVM, list[KernelSpec]]:
    """The llvmlite module for lowered ``funcs`` (name -> PrimFunc) and their runtime specs."""
    cg = CodeGenLLVM(target)
    specs = []
    for name, func in funcs.items():
        symbol = str(func.attrs.get("global_symbol", name))
        cg.add_function(symbol, func)
        specs.append(KernelSpec.of(name, symbol, func))
    add_metadata_global(cg.module, dumps(specs, str(target), needs_of(cg)))
    return cg, specs


def source(mod, target: Target, fmt: str = "ll") -> str:
    """The optimised LLVM IR (``"ll"``) or the machine code as assembly (``"asm"``)."""
    if fmt == "ll":
        return str(mod)
    if fmt in ("asm", "s"):
        import llvmlite.binding as llvm

        from .jit import target_machine

        return target_machine(target, pic=True).emit_assembly(llvm.parse_assembly(str(mod)))
    raise ValueError(f"get_source: unknown format {fmt!r}; expected 'll' or 'asm'")


def needs_of(cg: CodeGenLLVM) -> tuple[str, ...]:
    """What the process must be granted before the generated code may run."""
    return ("amx",) if cg.uses_amx else ()


def build_llvm(funcs: Mapping[str, PrimFunc], target: Target | str = "llvm") -> RuntimeModule:
    """Compile lowered loop-level functions into callable kernels."""
    target = Target.parse(target)
    cg, specs = codegen(funcs, target)
    mod, jit = compile_module(cg.module, target)
    uses_gomp = "GOMP_parallel" in cg.module.globals
    kernels = {s.name: Kernel(s, jit.address(s.symbol) if jit else None, jit) for s in specs}

    def export(path: str, payload: bytes | None = None) -> None:
        export_library(path, str(mod), target, uses_gomp, payload)

    rt = RuntimeModule(kernels, owner=(jit, mod), exporter=export)
    rt.get_source = lambda fmt="ll": source(mod, target, fmt)
    rt.needs = needs_of(cg)
    return rt


__all__ = ["CodeGenLLVM", "CodegenError", "build_llvm", "codegen"]
