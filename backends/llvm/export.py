"""Shared libraries: object code from a position-independent target machine, linked by ``cc``.

The JIT's target machine gives text relocations, so export uses its own PIC machine (see
shared/PLATFORM.md). The runtime metadata (``KernelSpec`` JSON) travels inside the library as
the NUL-terminated global ``__tvmscript_metadata``; ``load_module`` reads it back with ctypes.

A model's library also carries its C entry (``backends/runtime/c_api.py``): the generic runtime,
the model's generated C and the CPU check of the target, compiled by the same ``cc`` in the
same link, for a generic CPU of the target's architecture (so the check runs before any
kernel) and with hidden visibility except for the ``tvmscript_*`` API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import llvmlite.binding as llvm
from llvmlite import ir

from ..runtime.c_api import ModelPayload
from ..runtime.c_cpu import cpu_check_source
from ..target import Target
from .jit import init_llvm, target_machine

METADATA_SYMBOL = "__tvmscript_metadata"


def add_metadata_global(module: ir.Module, text: str) -> None:
    """Embed ``text`` as an exported constant byte string."""
    data = bytearray(text.encode()) + b"\0"
    ty = ir.ArrayType(ir.IntType(8), len(data))
    gv = ir.GlobalVariable(module, ty, METADATA_SYMBOL)
    gv.global_constant = True
    gv.initializer = ir.Constant(ty, data)


PAYLOAD_SYMBOL = "__tvmscript_graph"


def export_library(path: str, llvm_ir: str, target: Target, uses_gomp: bool,
                   payload: bytes | ModelPayload | None = None) -> None:
    """Compile the (already optimised) LLVM IR to a PIC object and link ``path`` with cc; a
    path ending in ``.o`` gets the object file itself (for linking elsewhere).

    ``payload`` (a model's graph and weights) is linked in as the read-only bytes
    ``__tvmscript_graph`` with their length in ``__tvmscript_graph_size``, so the library is
    the whole model in one file; a ``ModelPayload`` also brings the model's C entry."""
    init_llvm()
    mod = llvm.parse_assembly(llvm_ir)
    obj = target_machine(target, pic=True).emit_object(mod)
    if str(path).endswith(".o"):
        if payload is not None:
            raise ValueError(f"{path}: a model with graph-level functions exports as a shared "
                             "library (.so), which carries its graph and weights; an object "
                             "file holds only the kernels")
        with open(path, "wb") as f:
            f.write(obj)
        return
    cc = _linker(target)
    with tempfile.TemporaryDirectory() as tmp:
        obj_path = os.path.join(tmp, "kernels.o")
        with open(obj_path, "wb") as f:
            f.write(obj)
        objects = [obj_path]
        if payload is not None:
            data = payload.data if isinstance(payload, ModelPayload) else payload
            objects.append(_payload_object(cc, tmp, data))
        if isinstance(payload, ModelPayload):
            objects += _c_entry(payload, target, cc, tmp)
        libs = ["-lm", "-lpthread"] + (["-lgomp"] if uses_gomp else [])
        cmd = [cc, "-shared", "-o", str(path), *objects, *libs]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            what = "compiling the model's C entry and linking" if isinstance(
                payload, ModelPayload) else "linking"
            raise RuntimeError(f"{what} {path} failed ({' '.join(cmd)}):\n{done.stderr}")


def _c_entry(payload: ModelPayload, target: Target, cc: str, tmp: str) -> list[str]:
    """The link command's arguments that compile the model's C entry (see the module
    docstring) into the library."""
    sources = list(payload.c_files())
    for name, text in (("model.c", payload.model_source),
                       ("cpu.c", cpu_check_source(target, cc))):
        sources.append(os.path.join(tmp, name))
        with open(sources[-1], "w") as f:
            f.write(text)
    return ["-O2", "-fPIC", "-fvisibility=hidden", "-I", payload.include_dir, *sources]


def _payload_object(cc: str, tmp: str, payload: bytes) -> str:
    """An object file holding ``payload`` (assembled with ``.incbin``: no giant IR constant)."""
    data = os.path.join(tmp, "payload.bin")
    with open(data, "wb") as f:
        f.write(payload)
    asm = os.path.join(tmp, "payload.S")
    with open(asm, "w") as f:
        f.write(f"""    .section .rodata
    .globl {PAYLOAD_SYMBOL}
    .p2align 6
{PAYLOAD_SYMBOL}:
    .incbin "{data}"
    .globl {PAYLOAD_SYMBOL}_size
    .p2align 3
{PAYLOAD_SYMBOL}_size:
    .quad {len(payload)}
    .section .note.GNU-stack,"",@progbits
""")
    out = os.path.join(tmp, "payload.o")
    cmd = [cc, "-c", "-o", out, asm]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"assembling the model's weights failed ({' '.join(cmd)}):\n"
                           f"{done.stderr}")
    return out


def _linker(target: Target) -> str:
    """``$CC``, else this machine's cc; code for another machine needs ``$CC`` to be a cross
    linker (this machine's cc would fail on the foreign object with a confusing message)."""
    cc = os.environ.get("CC")
    if cc:
        return cc
    if not target.is_host_triple:
        raise RuntimeError(f"linking a shared library for {target.mtriple} needs a cross linker: "
                           f"set CC (e.g. CC={target.mtriple}-gcc), or export the object file "
                           "(a path ending in .o) and link it on that machine")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("export_library needs a C compiler (cc) to link the shared library")
    return cc
