"""LLVM initialisation, cached target machines, the O3 pipeline and the MCJIT engine.

LLVM is initialised once per process and a target machine is created once per (target, reloc)
pair: both are expensive compared with compiling a small kernel.
"""

from __future__ import annotations

import ctypes.util
from functools import cache

import llvmlite.binding as llvm
from llvmlite import ir

from ..target import Target


@cache
def init_llvm() -> None:
    """Initialise the native target (``llvm.initialize()`` raises in llvmlite 0.50)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    load_runtime_libraries()


def load_runtime_libraries() -> None:
    """Make the C libraries generated code calls visible to the JIT before any symbol is
    resolved: libm (``tanhf``, ``erff``: the process's own libm is not searched, so without
    this they resolved only after some other library such as libgomp had pulled libm in) and
    libgcc_s (helpers like ``__truncdfhf2`` for float64 -> float16)."""
    for name in ("m", "gcc_s"):
        path = ctypes.util.find_library(name)
        if path:
            llvm.load_library_permanently(path)


@cache
def load_libgomp() -> None:
    """Make libgomp's symbols (``GOMP_parallel``, ``omp_get_thread_num``) visible to the JIT."""
    name = ctypes.util.find_library("gomp") or "libgomp.so.1"
    llvm.load_library_permanently(name)


@cache
def target_machine(target: Target, pic: bool = False) -> llvm.TargetMachine:
    """The cached target machine for ``target``: JIT code, or position-independent code for
    export. Never hand it to an execution engine, which takes ownership and frees it."""
    return new_target_machine(target, pic)


def new_target_machine(target: Target, pic: bool = False) -> llvm.TargetMachine:
    init_llvm()
    tgt = llvm_target(target.triple)
    check_cpu_name(target.cpu, target.triple)
    if pic:
        return tgt.create_target_machine(cpu=target.cpu, features=target.features, opt=3,
                                         reloc="pic", codemodel="default")
    return tgt.create_target_machine(cpu=target.cpu, features=target.features, opt=3, jit=True)


@cache
def llvm_target(triple: str) -> llvm.Target:
    """LLVM's code generator for ``triple``; other machines' generators are initialised only
    when a ``-mtriple`` asks for one."""
    if triple != llvm.get_process_triple():
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
    try:
        return llvm.Target.from_triple(triple)
    except RuntimeError as err:
        raise ValueError(f"LLVM cannot generate code for -mtriple={triple} ({err}); use a "
                         "triple such as 'x86_64-linux-gnu' or 'aarch64-linux-gnu'") from None


_PROBE = """
import llvmlite.binding as llvm
llvm.initialize_all_targets(); llvm.initialize_all_asmprinters()
tm = llvm.Target.from_triple({triple!r}).create_target_machine(cpu={cpu!r})
m = llvm.parse_assembly("define i32 @f(i32 %x) {{ ret i32 %x }}")
m.triple = {triple!r}
tm.emit_object(m)
"""


@cache
def check_cpu_name(cpu: str, triple: str) -> None:
    """Refuse a ``-mcpu`` LLVM does not know: LLVM only warns, then aborts the whole process
    when it generates code for it. A one-off child process tries it (cached per name)."""
    import subprocess
    import sys

    host = triple == llvm.get_process_triple()
    if cpu in ("", "native", "generic") or (host and cpu == llvm.get_host_cpu_name()):
        return
    probe = _PROBE.format(cpu=cpu, triple=triple)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0 or "not a recognized processor" in done.stderr:
        from .codegen import CodegenError

        raise CodegenError(f"LLVM does not know the CPU {cpu!r} (-mcpu) for {triple}; use a "
                           "name such as 'skylake-avx512', 'sapphirerapids', 'znver3' or "
                           "'native' (for aarch64: 'cortex-a72', 'neoverse-v1')")


def parse(module: ir.Module, target: Target) -> llvm.ModuleRef:
    """The llvmlite IR as an LLVM module, verified."""
    init_llvm()
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    tm = target_machine(target)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    return mod


def optimize(mod: llvm.ModuleRef, target: Target, speed_level: int = 3) -> None:
    """The new pass manager's O3 pipeline with loop and SLP vectorisation."""
    tm = target_machine(target)
    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    pto.slp_vectorization = True
    pto.loop_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


class JITModule:
    """Machine code for one LLVM module, kept alive as long as this object is."""

    def __init__(self, mod: llvm.ModuleRef, target: Target, uses_gomp: bool) -> None:
        if uses_gomp:
            load_libgomp()
        _check_externs(mod)
        # the engine owns (and frees) its target machine, so it gets a fresh one
        self.engine = llvm.create_mcjit_compiler(mod, new_target_machine(target))
        self.engine.finalize_object()
        self.engine.run_static_constructors()

    def address(self, symbol: str) -> int:
        addr = self.engine.get_function_address(symbol)
        if not addr:
            raise LookupError(f"symbol {symbol!r} is not in the compiled module")
        return addr


def _check_externs(mod: llvm.ModuleRef) -> None:
    """Refuse to JIT calls of C functions that no loaded library defines: MCJIT would resolve
    them to address 0 and the first call would crash the process."""
    missing = [f.name for f in mod.functions
               if f.is_declaration and not f.name.startswith("llvm.")
               and not llvm.address_of_symbol(f.name)]
    if missing:
        from .codegen import CodegenError

        raise CodegenError(
            f"the kernel calls {', '.join(repr(m) for m in missing)}, which no loaded library "
            "defines; load the library first (llvmlite.binding.load_library_permanently)"
        )


def compile_module(module: ir.Module,
                   target: Target) -> tuple[llvm.ModuleRef, JITModule | None]:
    """Parse, verify, optimise at O3 and JIT ``module``; code for another machine
    (``-mtriple``) is not loaded into this process (no JIT module)."""
    mod = parse(module, target)
    optimize(mod, target)
    if not target.is_host_triple:
        return mod, None
    uses_gomp = "GOMP_parallel" in module.globals
    return mod, JITModule(mod, target, uses_gomp)
