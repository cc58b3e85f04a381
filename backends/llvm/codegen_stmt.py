"""Statements to LLVM control flow: loops (with loop metadata), branches, asserts, storage.

Allocations of a small constant size live on the stack (an ``alloca`` in the entry block, so a
loop does not grow the stack); larger or dynamic ones use ``aligned_alloc(64, ...)`` and are freed
at the end of their scope, and on an early return from a failed assert.
"""

from __future__ import annotations

from llvmlite import ir

from tvmscript.ir import stmt as S
from tvmscript.ir.expr import IntImm

from .types import I1, I32, I64, PTR, VOID, memory_type

STACK_LIMIT_BYTES = 64 * 1024  # per allocation; worker threads have small stacks
ALIGNMENT = 64


class StmtCodegen:
    """``visit_<Stmt>`` methods; mixed into ``CodeGenLLVM``."""

    def visit_BufferStore(self, op: S.BufferStore) -> None:
        (index,) = op.indices
        self.store(op.buffer, index, self.visit(op.value), op.value.dtype)

    def visit_Evaluate(self, op: S.Evaluate) -> None:
        if not isinstance(op.value, IntImm):
            self.visit(op.value)

    def visit_SeqStmt(self, op: S.SeqStmt) -> None:
        for stmt in op.seq:
            if self.b.block.is_terminated:
                break
            self.visit(stmt)

    def visit_IfThenElse(self, op: S.IfThenElse) -> None:
        cond = self.visit(op.condition)
        if op.else_case is None:
            with self.b.if_then(cond):
                self.visit(op.then_case)
            return
        with self.b.if_else(cond) as (then, otherwise):
            with then:
                self.visit(op.then_case)
            with otherwise:
                self.visit(op.else_case)

    def visit_While(self, op: S.While) -> None:
        fn = self.state.func
        head, body, done = (fn.append_basic_block(n) for n in ("while.head", "while.body", "while.end"))
        self.b.branch(head)
        self.b.position_at_end(head)
        self.b.cbranch(self.visit(op.condition), body, done)
        self.b.position_at_end(body)
        self.visit(op.body)
        if not self.b.block.is_terminated:
            self.b.branch(head)
        self.b.position_at_end(done)

    def visit_LetStmt(self, op: S.LetStmt) -> None:
        self.state.vars[op.var] = self.visit(op.value)
        self.visit(op.body)
        del self.state.vars[op.var]

    def visit_AttrStmt(self, op: S.AttrStmt) -> None:
        if op.attr_key == "thread_extent":
            from .codegen import CodegenError

            tag = getattr(op.node, "thread_tag", "a GPU thread")
            raise CodegenError(f"T.launch_thread({tag!r}) launches GPU threads; the llvm target "
                               "runs on the CPU")
        self.visit(op.body)  # pragmas and hints carry nothing the CPU code needs

    def visit_DeclBuffer(self, op: S.DeclBuffer) -> None:
        self.visit(op.body)

    def visit_AssertStmt(self, op: S.AssertStmt) -> None:
        code = self.assert_codes[id(op)]
        fn = self.state.func
        fail, ok = fn.append_basic_block("assert.fail"), fn.append_basic_block("assert.ok")
        self.b.cbranch(self.visit(op.condition), ok, fail)
        self.b.position_at_end(fail)
        self.state.fail(ir.Constant(I32, code))
        self.b.position_at_end(ok)
        self.visit(op.body)

    # ------------------------------------------------------------- loops

    def visit_For(self, op: S.For) -> None:
        if op.kind == S.ForKind.THREAD_BINDING:
            from .codegen import CodegenError

            raise CodegenError(f"loop {op.loop_var.name!r} is bound to a GPU thread; "
                               "the llvm target runs on the CPU")
        if op.kind == S.ForKind.PARALLEL and not self.state.in_parallel:
            self.emit_parallel_for(op)
            return
        begin = self.visit(op.min)
        end = self.b.add(begin, self.visit(op.extent))
        self.serial_loop(op.loop_var, begin, end, lambda: self.visit(op.body), op.kind)

    def serial_loop(self, var, begin: ir.Value, end: ir.Value, emit_body, kind=S.ForKind.SERIAL) -> None:
        """``for var in [begin, end)`` with a phi counter; ``emit_body`` fills the body."""
        fn, pre = self.state.func, self.b.block
        head, body, done = (fn.append_basic_block(n) for n in ("for.head", "for.body", "for.end"))
        self.b.branch(head)
        self.b.position_at_end(head)
        counter = self.b.phi(begin.type, name=var.name)
        counter.add_incoming(begin, pre)
        signed = not var.dtype.is_uint
        cmp = self.b.icmp_signed if signed else self.b.icmp_unsigned
        self.b.cbranch(cmp("<", counter, end), body, done)
        self.b.position_at_end(body)
        self.state.vars[var] = counter
        emit_body()
        del self.state.vars[var]
        if not self.b.block.is_terminated:
            step = self.b.add(counter, ir.Constant(begin.type, 1), flags=["nsw"] if signed else [])
            counter.add_incoming(step, self.b.block)
            latch = self.b.branch(head)
            latch.set_metadata("llvm.loop", self._loop_metadata(kind))
        self.b.position_at_end(done)

    def _loop_metadata(self, kind: S.ForKind) -> ir.MDValue:
        """A self-referential loop ID with hints for the vectorizer and unroller."""
        m = self.module
        hints = [m.add_metadata([ir.MetaDataString(m, "llvm.loop.mustprogress")])]
        if kind == S.ForKind.VECTORIZED:
            hints.append(m.add_metadata([ir.MetaDataString(m, "llvm.loop.vectorize.enable"),
                                         ir.Constant(I1, 1)]))
        elif kind == S.ForKind.UNROLLED:
            hints.append(m.add_metadata([ir.MetaDataString(m, "llvm.loop.unroll.full")]))
        # a fresh (not uniqued) node per loop: add_metadata would share one ID between loops
        loop_id = ir.values.MDValue(m, tuple(hints), name=str(len(m.metadata)))
        loop_id.operands = (loop_id, *hints)
        return loop_id

    # ------------------------------------------------------------- storage

    def visit_Allocate(self, op: S.Allocate) -> None:
        elem = memory_type(op.dtype)
        count = 1
        for extent in op.extents:
            count = count * extent.value if isinstance(extent, IntImm) and count else None
        nbytes = count * op.dtype.itemsize if count is not None else None
        self.distinct_pointers.add(op.buffer_var)
        if nbytes is not None and nbytes <= STACK_LIMIT_BYTES:
            ptr = self.state.alloca_builder.alloca(elem, size=ir.Constant(I64, max(count, 1)))
            ptr.align = ALIGNMENT
            ptr.type = PTR  # opaque, like every other pointer the codegen handles
            self.state.vars[op.buffer_var] = ptr
            self.visit(op.body)
        else:
            ptr = self._heap_alloc(op)
            self.state.vars[op.buffer_var] = ptr
            self.state.heap.append(ptr)
            self.visit(op.body)
            self.state.heap.pop()
            if not self.b.block.is_terminated:
                self.free_heap([ptr])
        del self.state.vars[op.buffer_var]

    def _heap_alloc(self, op: S.Allocate) -> ir.Value:
        n = ir.Constant(I64, 1)
        for extent in op.extents:
            n = self.b.mul(n, self.index64(self.visit(extent), extent.dtype))
        nbytes = self.b.mul(n, ir.Constant(I64, op.dtype.itemsize))
        # aligned_alloc needs a multiple of the alignment
        rounded = self.b.and_(self.b.add(nbytes, ir.Constant(I64, ALIGNMENT - 1)),
                              ir.Constant(I64, -ALIGNMENT))
        fn = self.declare("aligned_alloc", ir.FunctionType(PTR, [I64, I64]))
        return self.b.call(fn, [ir.Constant(I64, ALIGNMENT), rounded])

    def free_heap(self, pointers: list[ir.Value]) -> None:
        fn = self.declare("free", ir.FunctionType(VOID, [PTR]))
        for ptr in reversed(pointers):
            self.b.call(fn, [ptr])
