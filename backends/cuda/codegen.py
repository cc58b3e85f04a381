"""Readable CUDA C for the device kernels of ``passes.gpu_pipeline.lower_gpu``.

``generate_cuda({"f_kernel": kernel, ...})`` returns one translation unit: the headers the
kernels need, small helpers (floor division), then one function per kernel::

    extern "C" __global__ void __launch_bounds__(64) f_kernel(float* __restrict__ B,
                                                               const float* __restrict__ A) {
      int bx = blockIdx.x;
      ...

Thread axes (``T.launch_thread``) become named ints, storage scopes become ``__shared__``,
``extern __shared__`` and local arrays, buffers never written are ``const``. A construct with
no CUDA C form raises ``CodegenError`` naming the kernel and the construct. Expressions,
intrinsic calls and statements live in mixins (``codegen_expr``, ``codegen_call``,
``codegen_stmt``); this file holds the per-kernel state and the kernel's signature.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from tvmscript.arith import Analyzer
from tvmscript.ir import PrimFunc, Var
from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType
from tvmscript.ir.functor import Visitor
from tvmscript.ir.node import Node

from ..llvm.codegen import CodegenError
from ..runtime.spec import written_data_vars
from .codegen_call import CallCodegen
from .codegen_expr import ExprCodegen
from .codegen_stmt import StmtCodegen
from .codegen_types import ctype
from .launch_info import dynamic_shared_layout, thread_extents, uses_wmma

__all__ = ["CUDACodegen", "CodegenError", "generate_cuda"]

INDENT = "  "
_RESERVED = frozenset({
    "auto", "bool", "break", "case", "char", "const", "continue", "default", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "int", "long", "register", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned",
    "void", "volatile", "while", "class", "delete", "new", "this", "template", "namespace",
    "half", "half2", "nv_bfloat16", "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize",
    "min", "max", "floordiv", "floormod", "dyn_shared", "true", "false", "nullptr",
}) | frozenset(keyword.kwlist)

_HELPERS = {
    "FloorDiv": "template <typename T>\n__device__ __forceinline__ T floordiv(T a, T b) {\n"
                "  T q = a / b;\n  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;\n}",
    "FloorMod": "template <typename T>\n__device__ __forceinline__ T floormod(T a, T b) {\n"
                "  T r = a % b;\n  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;\n}",
}
_INCLUDES = {"fp16": "#include <cuda_fp16.h>", "bf16": "#include <cuda_bf16.h>",
             "mma": "#include <mma.h>"}


class NameTable:
    """Unique C identifiers within one kernel (``A``, ``A_1``; keywords and CUDA names
    avoided)."""

    def __init__(self) -> None:
        self.taken: set[str] = set(_RESERVED)
        self.counter: dict[str, int] = {}

    def fresh(self, hint: str) -> str:
        base = re.sub(r"\W", "_", hint) or "v"
        if base[0].isdigit():
            base = "v" + base
        name, k = base, self.counter.get(base, 0)
        while name in self.taken or name.startswith("__"):
            k += 1
            name = f"{base}_{k}"
        self.counter[base] = k
        self.taken.add(name)
        return name


def generate_cuda(kernels: Mapping[str, PrimFunc]) -> str:
    """One CUDA C translation unit holding every kernel of ``kernels`` (name -> PrimFunc)."""
    gen = CUDACodegen()
    for name, func in kernels.items():
        gen.add_kernel(name, func)
    return gen.finish()


class CUDACodegen(ExprCodegen, CallCodegen, StmtCodegen, Visitor):
    """Emits kernels into one source; ``finish()`` prepends the headers and helpers used."""

    def __init__(self) -> None:
        self.functions: list[str] = []
        self.uses: set[str] = set()  # headers: "fp16", "bf16", "mma"
        self.helpers: set[str] = set()  # prelude functions: "FloorDiv", "FloorMod"
        self.kernel_name = ""
        # kernel -> parameter index -> bytes of its widest vector access (its alignment)
        self.vector_bytes: dict[str, dict[int, int]] = {}

    def finish(self) -> str:
        parts = [_INCLUDES[k] for k in ("fp16", "bf16", "mma") if k in self.uses]
        head = "\n".join(parts) + "\n\n" if parts else ""
        helpers = "".join(_HELPERS[h] + "\n\n" for h in ("FloorDiv", "FloorMod")
                          if h in self.helpers)
        return head + helpers + "\n\n".join(self.functions)

    # ------------------------------------------------------------- one kernel

    def add_kernel(self, name: str, func: PrimFunc) -> None:
        """Emit ``func`` as the ``extern "C" __global__`` function ``name``."""
        self.kernel_name = name
        self.names = NameTable()
        self.names.taken.add(name)
        self.vars: dict[Var, str] = {}
        self.storage: dict[Var, tuple[str, DataType | None]] = {}
        self.analyzer = Analyzer()
        self.lines: list[str] = []
        self.temps: dict[str, str] = {}  # value text -> temporary, within one statement
        self.indent = 1
        extents = thread_extents(func, name)
        self.uses_wmma = uses_wmma(func.body)
        self.param_of = {buf.data: i for i, p in enumerate(func.params)
                         if (buf := func.buffer_map.get(p)) is not None}
        self.dyn_offsets = self._dynamic_shared(func)
        params = self._params(func)
        try:
            self.visit(func.body)
        except ValueError as exc:  # a tensor-core emitter's error: say which kernel
            exc.add_note(f"in CUDA kernel {name!r}")
            raise
        prefix = f'extern "C" __global__ void {self._launch_bounds(extents)}{name}('
        one_line = len(prefix) + len(", ".join(params)) < 98
        signature = prefix + (", " if one_line else ",\n" + " " * len(prefix)).join(params)
        self.functions.append(f"{signature}) {{\n" + "\n".join(self.lines) + "\n}\n")

    def _params(self, func: PrimFunc) -> list[str]:
        written = written_data_vars(func)
        out = []
        for p in func.params:
            buf = func.buffer_map.get(p)
            if buf is None:
                out.append(f"{self.type_of(p.dtype, p)} {self.bind_name(p)}")
                continue
            name = self.names.fresh(buf.name)
            self.vars[p] = self.vars[buf.data] = name
            self.storage[p] = self.storage[buf.data] = (name, buf.dtype)
            const = "" if (buf.data in written or p in written) else "const "
            out.append(f"{const}{self.type_of(buf.dtype, p)}* __restrict__ {name}")
        return out

    def _launch_bounds(self, extents: dict[str, E.PrimExpr]) -> str:
        threads = 1
        for tag in ("threadIdx.x", "threadIdx.y", "threadIdx.z"):
            ext = extents.get(tag)
            if ext is None:
                continue
            if not isinstance(ext, E.IntImm):
                return ""
            threads *= ext.value
        return f"__launch_bounds__({threads}) "

    def _dynamic_shared(self, func: PrimFunc) -> dict[Var, E.PrimExpr]:
        offsets, _ = dynamic_shared_layout(func)
        if offsets:  # each buffer at a multiple of launch_info.DYN_ALIGN (32) bytes
            align = 32 if self.uses_wmma else 16
            self.line(f"extern __shared__ __align__({align}) unsigned char dyn_shared[];")
        return {alloc.buffer_var: off for alloc, off in offsets}

    # ------------------------------------------------------------- helpers for the mixins

    def line(self, text: str, temp: str = "") -> None:
        """Append a line; ``temp`` names the value a temporary's line computes (reused by the
        rest of the statement: ``self.temps``), any other line starts a new statement."""
        self.lines.append(INDENT * self.indent + text)
        if not temp:
            self.temps = {}

    def fail(self, message: str, node: Any = None) -> NoReturn:
        where = f": {node}" if node is not None else ""
        text = f"CUDA codegen of kernel {self.kernel_name!r}: {message}{where}"
        raise CodegenError(text if len(text) < 400 else text[:397] + "...")

    def generic_visit(self, node: Node) -> Any:
        self.fail(f"{type(node).__name__} has no CUDA C form (is the kernel lowered with "
                  "lower_gpu?)", node)

    def type_of(self, dt: DataType, node: Any = None) -> str:
        """The C type of ``dt``, noting the header it needs."""
        text = ctype(dt)
        if text is None:
            self.fail(f"the dtype {dt} has no CUDA C type (vectors have 2 or 4 lanes of 32-bit "
                      "types, 2 of half/bfloat16/float64/int64, 4 of int8/uint8/int16)", node)
        elem = str(dt.element_of())
        if elem == "float16":
            self.uses.add("fp16")
        elif elem == "bfloat16":
            self.uses.add("bf16")
        return text

    def bind_name(self, var: Var) -> str:
        name = self.names.fresh(var.name)
        self.vars[var] = name
        return name

    def name_of(self, var: Var) -> str:
        name = self.vars.get(var)
        if name is None:
            self.fail(f"the variable {var.name!r} is used where it is not defined")
        return name

    def pointer(self, data: E.PrimExpr, dtype: DataType | None) -> str:
        """The C pointer to ``data``'s storage, cast when viewed as another dtype."""
        if not isinstance(data, Var) or data not in self.storage:
            self.fail("a pointer that is not a buffer's data", data)
        name, stored = self.storage[data]
        if dtype is None or dtype == stored:
            return name
        return f"(({self.type_of(dtype)}*){name})"

    def access(self, buffer, indices, node) -> tuple[str, E.PrimExpr]:
        """(pointer text, flat index) of a buffer access."""
        if len(indices) != 1:
            self.fail(f"buffer {buffer.name} is accessed with {len(indices)} indices; CUDA "
                      "codegen takes flattened (1-D) buffers", node)
        index = indices[0]
        offset = buffer.elem_offset
        if not (isinstance(offset, E.IntImm) and offset.value == 0):
            if isinstance(index, E.Ramp):
                index = E.Ramp(E.binary(E.Add, index.base, offset), index.stride, index.lanes)
            else:
                index = E.binary(E.Add, index, offset)
        return self.pointer(buffer.data, buffer.dtype), index
