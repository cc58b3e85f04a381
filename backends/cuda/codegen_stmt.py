"""Statements to CUDA C lines: thread axes, storage scopes, loops, stores and barriers."""

from __future__ import annotations

import math

from tvmscript.ir import Range
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S

from .codegen_expr import ADD

_WMMA = ("wmma.matrix_a", "wmma.matrix_b", "wmma.accumulator")


class StmtCodegen:
    """``visit_<Stmt>`` methods; mixed into ``CUDACodegen``."""

    def block(self, body: S.Stmt) -> None:
        """``body`` one level deeper (the lines between braces)."""
        self.indent += 1
        try:
            self.visit(body)
        finally:
            self.indent -= 1

    def visit_SeqStmt(self, op: S.SeqStmt) -> None:
        for stmt in op.seq:
            self.visit(stmt)

    def visit_Evaluate(self, op: S.Evaluate) -> None:
        if isinstance(op.value, (E.IntImm, E.FloatImm)):
            return
        self.line(self.expr(op.value) + ";")

    def visit_BufferStore(self, op: S.BufferStore) -> None:
        ptr, index = self.access(op.buffer, op.indices, op)
        value = op.value
        if value.dtype.lanes == op.buffer.dtype.lanes:
            self.line(f"{ptr}[{self.expr(index)}] = {self.expr(value)};")
            return
        base = self.vector_base(op.buffer, index, value.dtype)
        if base is not None:
            vtype = self.type_of(value.dtype, op)
            self.line(f"*({vtype}*){self.address(ptr, base)} = {self.expr(value)};")
            return
        name = self.temp(value)
        for k, lane in enumerate(self.lane_indices(index)):
            self.line(f"{ptr}[{lane}] = {name}.{'xyzw'[k]};")

    def visit_LetStmt(self, op: S.LetStmt) -> None:
        value = self.expr(op.value)
        name = self.bind_name(op.var)
        if op.var.dtype.is_handle:
            self.line(f"auto {name} = {value};")
            self.storage[op.var] = (name, self._pointee(op.value))
            self.visit(op.body)
            return
        self.line(f"{self.type_of(op.var.dtype, op)} {name} = {value};")
        if op.var.dtype.is_integer and op.var.dtype.lanes == 1:
            with self.analyzer.binding(op.var, op.value):
                self.visit(op.body)
        else:
            self.visit(op.body)

    def _pointee(self, value: E.PrimExpr):
        """The element dtype a let-bound pointer points to (None: unknown, cast at use)."""
        if isinstance(value, E.Call) and value.op == "tir.tvm_access_ptr":
            return value.args[0].dtype
        if isinstance(value, E.Call) and value.op == "tir.address_of":
            return value.args[0].buffer.dtype
        if isinstance(value, E.Var) and value in self.storage:
            return self.storage[value][1]
        return None

    def visit_AssertStmt(self, op: S.AssertStmt) -> None:
        message = op.message.value if isinstance(op.message, E.StringImm) else str(op.message)
        message = message.replace("*/", "* /").replace("\n", " ")
        self.line(f"if (!({self.expr(op.condition)})) __trap();  /* {message} */")
        self.visit(op.body)

    def visit_IfThenElse(self, op: S.IfThenElse) -> None:
        cond = self.expr(op.condition)
        self.line(f"if ({cond}) {{")
        with self.analyzer.constraint(op.condition):
            self.block(op.then_case)
        if op.else_case is not None:
            self.line("} else {")
            self.block(op.else_case)
        self.line("}")

    def visit_For(self, op: S.For) -> None:
        if op.kind not in (S.ForKind.SERIAL, S.ForKind.UNROLLED):
            self.fail(f"a {op.kind.value} loop inside a kernel (lower_gpu binds thread loops "
                      "and vectorizes before codegen)", op.loop_var)
        var = self.bind_name(op.loop_var)
        ctype = self.type_of(op.loop_var.dtype, op)
        start = self.expr(op.min)
        if isinstance(op.min, E.IntImm) and op.min.value == 0:
            end = self.expr(op.extent)
        elif isinstance(op.min, E.IntImm) and isinstance(op.extent, E.IntImm):
            end = self.expr(E.const(op.min.value + op.extent.value, op.extent.dtype))
        else:
            end = f"{self.operand(op.min, ADD)} + {self.operand(op.extent, ADD + 1)}"
        if op.kind == S.ForKind.UNROLLED:
            self.line("#pragma unroll")
        self.line(f"for ({ctype} {var} = {start}; {var} < {end}; ++{var}) {{")
        with self.analyzer.binding(op.loop_var, Range(op.min, E.binary(E.Add, op.min,
                                                                       op.extent))):
            self.block(op.body)
        self.line("}")

    def visit_While(self, op: S.While) -> None:
        before = len(self.lines)
        cond = self.expr(op.condition)
        if len(self.lines) != before:
            self.fail("a while condition with vector operations", op.condition)
        self.line(f"while ({cond}) {{")
        self.block(op.body)
        self.line("}")

    def visit_AttrStmt(self, op: S.AttrStmt) -> None:
        if op.attr_key != "thread_extent":
            self.visit(op.body)  # pragmas and hints have done their work in lowering
            return
        iv = op.node
        name = self.bind_name(iv.var)
        ctype = self.type_of(iv.var.dtype, op)
        cast = "" if ctype == "int" else f"({ctype})"
        self.line(f"{ctype} {name} = {cast}{iv.thread_tag};")
        with self.analyzer.binding(iv.var, Range(E.const(0, iv.var.dtype), op.value)):
            self.visit(op.body)

    # ------------------------------------------------------------- storage

    def visit_Allocate(self, op: S.Allocate) -> None:
        name = self.bind_name(op.buffer_var)
        self.storage[op.buffer_var] = (name, op.dtype)
        scope = op.scope
        if scope in _WMMA:
            from .tensor_core import declare_fragment

            self.uses.add("mma")
            self.line(declare_fragment(op, name))
        elif scope == "shared.dyn":
            ctype = self.type_of(op.dtype, op)
            offset = self.dyn_offsets[op.buffer_var]
            at = "dyn_shared" if isinstance(offset, E.IntImm) and offset.value == 0 \
                else f"(dyn_shared + {self.operand(offset, ADD + 1)})"
            self.line(f"{ctype}* {name} = ({ctype}*){at};")
        elif scope in ("shared", "local"):
            self.line(self._array(op, name, "__shared__ " if scope == "shared" else ""))
        else:
            self.fail(f"storage scope {scope!r} inside a kernel (global intermediates are "
                      "allocated by the host; warp memory must be lowered)", op.buffer_var)
        self.visit(op.body)

    def _array(self, op: S.Allocate, name: str, qualifier: str) -> str:
        if not all(isinstance(e, E.IntImm) for e in op.extents):
            extents = ", ".join(str(e) for e in op.extents)
            self.fail(f"the {op.scope} allocation {name} has extents ({extents}) that are not "
                      "constants; a size known only at launch needs 'shared.dyn'", op.buffer_var)
        size = math.prod(e.value for e in op.extents)
        # 16 bytes: float4 accesses, ldmatrix rows and mma's reinterpreting casts; 32: WMMA's
        # load/store_matrix_sync pointers
        align = 32 if op.scope == "shared" and self.uses_wmma else 16
        return f"{qualifier}__align__({align}) {self.type_of(op.dtype, op)} {name}[{size}];"

    def visit_DeclBuffer(self, op: S.DeclBuffer) -> None:
        if op.buffer.data not in self.storage:
            self.fail(f"buffer {op.buffer.name} views memory that is not allocated in the "
                      "kernel or passed to it", op.buffer.data)
        self.visit(op.body)

    def visit_Block(self, op: S.Block) -> None:
        self.fail(f"block {op.name_hint!r} is not lowered (run lower_gpu before codegen)")

    def visit_BlockRealize(self, op: S.BlockRealize) -> None:
        self.visit_Block(op.block)

