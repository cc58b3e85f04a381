"""The LLVM code generator: one ``CodeGenLLVM`` per LLVM module, one function per PrimFunc.

Expression, call, statement and parallel-loop code generation live in mixins (one file each);
this file holds the per-function state and the function prologue. Dispatch is the IR's own
``Visitor`` lookup (``visit_<Class>``), so a node kind without a method is a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llvmlite import ir

from tvmscript.ir import PrimFunc, Var
from tvmscript.ir.functor import Visitor
from tvmscript.ir.node import Node

from ..runtime.spec import collect_asserts
from ..signature import BufferParam, KernelSignature
from ..target import Target
from .codegen_amx import AMXCodegen
from .codegen_call import CallCodegen
from .codegen_expr import ExprCodegen
from .codegen_stmt import StmtCodegen
from .parallel import ParallelCodegen
from .types import I32, PTR, abi_type, llvm_type


class CodegenError(Exception):
    """Lowered IR that code generation cannot handle (a broken lowering contract)."""


class _Attributes(ir.values.FunctionAttributes):
    """Function attributes that also accept LLVM string attributes (``"target-cpu"="x"``)."""

    def add(self, name: str) -> None:
        if name.startswith('"'):
            set.add(self, name)
        else:
            super().add(name)


@dataclass
class FunctionState:
    """What code generation needs while emitting one LLVM function."""

    func: ir.Function
    builder: ir.IRBuilder
    alloca_builder: ir.IRBuilder
    vars: dict[Var, ir.Value]
    fail: Callable[[ir.Value], None]  # emits "assert k failed" (returns from the function)
    heap: list[ir.Value] = field(default_factory=list)  # live heap allocations, freed on exit
    in_parallel: bool = False


class CodeGenLLVM(ExprCodegen, CallCodegen, AMXCodegen, StmtCodegen, ParallelCodegen, Visitor):
    """Emits lowered PrimFuncs into one ``llvmlite.ir.Module``."""

    def __init__(self, target: Target, module_name: str = "tvmscript") -> None:
        import llvmlite.binding as llvm

        self.target = target
        self.module = ir.Module(module_name)
        self.module.triple = llvm.get_process_triple()
        self.state: FunctionState | None = None
        self.assert_codes: dict[int, int] = {}
        self._strings: dict[str, ir.GlobalVariable] = {}
        self._attrs = self._function_attributes()

    # ------------------------------------------------------------- helpers for the mixins

    @property
    def b(self) -> ir.IRBuilder:
        return self.state.builder

    def generic_visit(self, node: Node) -> Any:
        raise CodegenError(f"LLVM codegen does not handle {type(node).__name__}: {node!r}"[:300])

    def declare(self, name: str, fnty: ir.FunctionType) -> ir.Function:
        """The function ``name`` of this module, declared with ``fnty`` when new."""
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        return ir.Function(self.module, fnty, name)

    def string_constant(self, text: str) -> ir.Value:
        """A pointer to a NUL-terminated global copy of ``text``."""
        gv = self._strings.get(text)
        if gv is None:
            data = bytearray(text.encode()) + b"\0"
            ty = ir.ArrayType(ir.IntType(8), len(data))
            gv = ir.GlobalVariable(self.module, ty, f".str.{len(self._strings)}")
            gv.global_constant = True
            gv.linkage = "private"
            gv.initializer = ir.Constant(ty, data)
            gv.type = PTR
            self._strings[text] = gv
        return gv

    def apply_attributes(self, fn: ir.Function) -> None:
        fn.attributes = _Attributes()
        for attr in self._attrs:
            fn.attributes.add(attr)

    def _function_attributes(self) -> list[str]:
        attrs = ["nounwind", f'"target-cpu"="{self.target.cpu}"']
        if self.target.features:
            attrs.append(f'"target-features"="{self.target.features}"')
        if self.target.has_feature("avx512f"):
            attrs.append('"prefer-vector-width"="512"')
        return attrs

    # ------------------------------------------------------------- functions

    def add_function(self, name: str, func: PrimFunc) -> ir.Function:
        """Emit ``func`` as ``int32_t name(...)`` following ``backends/signature.py``."""
        sig = KernelSignature.of(func)
        arg_vars = [p.buffer.data if isinstance(p, BufferParam) else p.var for p in sig.params]
        arg_vars += [s.var for s in sig.size_vars]
        argtys = [PTR if isinstance(p, BufferParam) else abi_type(p.var.dtype) for p in sig.params]
        argtys += [abi_type(s.var.dtype) for s in sig.size_vars]
        fn = ir.Function(self.module, ir.FunctionType(I32, argtys), name)
        self.apply_attributes(fn)
        noalias = bool(func.attrs.get("tir.noalias", False))
        # pointers no other pointer of the function aliases: allocations, and the buffers of a
        # `tir.noalias` function (parallel bodies mark them `noalias`)
        self.distinct_pointers = {p.buffer.data for p in sig.params
                                  if isinstance(p, BufferParam) and noalias}
        for p in sig.params:
            arg = fn.args[p.index]
            arg.name = p.name
            if isinstance(p, BufferParam) and noalias:
                arg.add_attribute("noalias")
        self.assert_codes = {id(stmt): k + 1 for k, (stmt, _) in enumerate(collect_asserts(func))}
        entry = fn.append_basic_block("entry")
        body_block = fn.append_basic_block("body")
        builder = ir.IRBuilder(entry)
        alloca_builder = ir.IRBuilder(entry)
        self.state = FunctionState(fn, builder, alloca_builder, {}, self._return_code)
        for var, arg in zip(arg_vars, fn.args):
            self.state.vars[var] = self.from_abi(arg, var.dtype)
        builder.branch(body_block)
        alloca_builder.position_before(entry.terminator)
        builder.position_at_end(body_block)
        self.visit(func.body)
        if not self.b.block.is_terminated:
            self.b.ret(ir.Constant(I32, 0))
        self.state = None
        return fn

    def from_abi(self, arg: ir.Value, dt) -> ir.Value:
        """A parameter as a register value (bool from i8, float16 from its bits)."""
        if dt.is_bool:
            return self.state.builder.icmp_unsigned("!=", arg, ir.Constant(arg.type, 0))
        if dt.kind == "float" and dt.bits == 16:
            return self.state.builder.bitcast(arg, llvm_type(dt))
        return arg

    def _return_code(self, code: ir.Value) -> None:
        self.free_heap(self.state.heap)
        self.b.ret(code)
