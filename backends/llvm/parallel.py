"""Parallel loops: the body is outlined into a function and run on all cores.

The outlined ``body(closure, tid, nthreads)`` runs the ``tid``-th of ``nthreads`` contiguous
chunks of the loop; the closure is a stack struct ``{min, extent, err, captured values...}``.
Two launchers call it (target option ``-parallel=gomp|pthread``):

- ``gomp`` (default): ``GOMP_parallel(fn, closure, 0, 0)`` from libgomp, whose threads persist and
  spin between regions, so a region costs a few microseconds;
- ``pthread``: ``pthread_create``/``pthread_join`` per region (no extra library, tens of µs).

A failed assert inside the body stores its code into ``err`` (atomically); the caller returns it
after the region. A parallel loop nested in another runs serially.
"""

from __future__ import annotations

from llvmlite import ir

from tvmscript.ir import For, Var, post_order_visit
from tvmscript.ir.buffer import Buffer

from .types import I32, I64, PTR, VOID

MAX_PTHREADS = 256


def free_vars(loop: For, bound: dict) -> list[Var]:
    """The variables the loop body reads that are defined outside it, in first-use order."""
    found: dict[Var, None] = {}

    def collect(node) -> None:
        if isinstance(node, Var) and node in bound:
            found[node] = None
        elif isinstance(node, Buffer) and node.data in bound:
            found[node.data] = None

    post_order_visit(loop, collect)
    return list(found)


class ParallelCodegen:
    """``emit_parallel_for``; mixed into ``CodeGenLLVM``."""

    _outlined = 0

    def emit_parallel_for(self, op: For) -> None:
        from .codegen import FunctionState

        captured = free_vars(op, self.state.vars)
        values = [self.state.vars[v] for v in captured]
        closure_ty = ir.LiteralStructType([I64, I64, I32, *(v.type for v in values)])
        closure = self.state.alloca_builder.alloca(closure_ty)
        closure.type = PTR
        begin = self.index64(self.visit(op.min), op.min.dtype)
        extent = self.index64(self.visit(op.extent), op.extent.dtype)
        fields = [begin, extent, ir.Constant(I32, 0), *values]
        for i, value in enumerate(fields):
            self.b.store(value, self._field(closure, closure_ty, i))
        body_fn = self._outline_body(op, captured, closure_ty, FunctionState)
        launcher = self.target.option("parallel", "gomp")
        getattr(self, f"_launch_{launcher}")(body_fn, closure)
        err = self.b.load(self._field(closure, closure_ty, 2), typ=I32)
        failed = self.b.icmp_signed("!=", err, ir.Constant(I32, 0))
        with self.b.if_then(failed, likely=False):
            self.state.fail(err)

    def _field(self, ptr: ir.Value, ty: ir.Type, i: int, builder=None) -> ir.Value:
        b = builder or self.b
        return b.gep(ptr, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=ty)

    def _outline_body(self, op: For, captured, closure_ty, FunctionState) -> ir.Function:
        ParallelCodegen._outlined += 1
        outer_name = self.state.func.name
        fnty = ir.FunctionType(VOID, [PTR, I64, I64])
        fn = ir.Function(self.module, fnty, f"{outer_name}.parallel.{ParallelCodegen._outlined}")
        fn.linkage = "internal"
        self.apply_attributes(fn)
        closure, tid, nthreads = fn.args
        entry = fn.append_basic_block("entry")
        builder = ir.IRBuilder(entry)
        alloca_builder = ir.IRBuilder(entry)
        saved = self.state
        self.state = FunctionState(fn, builder, alloca_builder, {}, None, in_parallel=True)
        self.state.fail = lambda code: self._fail_in_worker(code, closure, closure_ty)
        loaded = [builder.load(self._field(closure, closure_ty, 3 + i, builder),
                               typ=closure_ty.elements[3 + i]) for i in range(len(captured))]
        lo, hi = self._chunk(builder, closure, closure_ty, tid, nthreads)
        # The body proper is an always-inlined function taking the captured values as
        # arguments, so buffer pointers can be `noalias` (loaded from the closure, LLVM could not
        # tell them apart and kept accumulators in memory).
        inner_ty = ir.FunctionType(VOID, [v.type for v in loaded] + [PTR, I64, I64])
        inner = ir.Function(self.module, inner_ty, fn.name + ".body")
        inner.linkage = "internal"
        self.apply_attributes(inner)
        inner.attributes.add("alwaysinline")
        for var, a in zip(captured, inner.args):
            if var in self.distinct_pointers:  # an allocation, or a parameter of a tir.noalias function
                a.add_attribute("noalias")
        builder.call(inner, loaded + [closure, lo, hi])
        builder.ret_void()
        ientry = inner.append_basic_block("entry")
        ibody = inner.append_basic_block("body")
        builder = ir.IRBuilder(ientry)
        alloca_builder = ir.IRBuilder(ientry)
        self.state = FunctionState(inner, builder, alloca_builder, {}, None, in_parallel=True)
        iclosure = inner.args[len(loaded)]
        self.state.fail = lambda code: self._fail_in_worker(code, iclosure, closure_ty)
        for var, a in zip(captured, inner.args):
            self.state.vars[var] = a
        lo, hi = inner.args[-2], inner.args[-1]
        builder.branch(ibody)
        alloca_builder.position_before(ientry.terminator)
        builder.position_at_end(ibody)
        lo, hi = (self._narrow(v, op.loop_var) for v in (lo, hi))
        self.serial_loop(op.loop_var, lo, hi, lambda: self.visit(op.body))
        if not self.b.block.is_terminated:
            self.b.ret_void()
        self.state = saved
        return fn

    def _narrow(self, value: ir.Value, var: Var) -> ir.Value:
        ty = ir.IntType(var.dtype.bits)
        return self.b.trunc(value, ty) if ty.width < 64 else value

    def _chunk(self, b: ir.IRBuilder, closure, closure_ty, tid, nthreads):
        """``[lo, hi)`` of chunk ``tid``: ceil(extent / nthreads) iterations each."""
        begin = b.load(self._field(closure, closure_ty, 0, b), typ=I64)
        extent = b.load(self._field(closure, closure_ty, 1, b), typ=I64)
        one = ir.Constant(I64, 1)
        size = b.sdiv(b.add(extent, b.sub(nthreads, one)), nthreads)
        lo = b.mul(tid, size)
        hi = b.add(lo, size)
        hi = b.select(b.icmp_signed("<", hi, extent), hi, extent)
        lo = b.select(b.icmp_signed("<", lo, extent), lo, extent)
        return b.add(begin, lo), b.add(begin, hi)

    def _fail_in_worker(self, code: ir.Value, closure, closure_ty) -> None:
        self.free_heap(self.state.heap)
        # atomicrmw: store_atomic in llvmlite 0.50 rejects opaque pointers
        self.b.atomic_rmw("xchg", self._field(closure, closure_ty, 2), code, "monotonic")
        self.b.ret_void()

    # ------------------------------------------------------------- launchers

    def _launch_gomp(self, body_fn: ir.Function, closure: ir.Value) -> None:
        name = f"{body_fn.name}.gomp"
        fn = ir.Function(self.module, ir.FunctionType(VOID, [PTR]), name)
        fn.linkage = "internal"
        self.apply_attributes(fn)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        tid = b.call(self.declare("omp_get_thread_num", ir.FunctionType(I32, [])), [])
        nthreads = b.call(self.declare("omp_get_num_threads", ir.FunctionType(I32, [])), [])
        b.call(body_fn, [fn.args[0], b.sext(tid, I64), b.sext(nthreads, I64)])
        b.ret_void()
        gomp = self.declare("GOMP_parallel", ir.FunctionType(VOID, [PTR, PTR, I32, I32]))
        self.b.call(gomp, [fn, closure, ir.Constant(I32, 0), ir.Constant(I32, 0)])

    def _launch_pthread(self, body_fn: ir.Function, closure: ir.Value) -> None:
        arg_ty = ir.LiteralStructType([PTR, I64, I64])
        fn = ir.Function(self.module, ir.FunctionType(PTR, [PTR]), f"{body_fn.name}.pthread")
        fn.linkage = "internal"
        self.apply_attributes(fn)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        loaded = [b.load(self._field(fn.args[0], arg_ty, i, b), typ=t)
                  for i, t in enumerate(arg_ty.elements)]
        b.call(body_fn, loaded)
        b.ret(ir.Constant(PTR, None))
        nprocs = self.b.call(self.declare("get_nprocs", ir.FunctionType(I32, [])), [])
        n = self.b.sext(nprocs, I64)
        cap = ir.Constant(I64, MAX_PTHREADS)
        n = self.b.select(self.b.icmp_signed("<", n, cap), n, cap)
        args = self.state.alloca_builder.alloca(ir.ArrayType(arg_ty, MAX_PTHREADS))
        handles = self.state.alloca_builder.alloca(ir.ArrayType(I64, MAX_PTHREADS))
        args.type = handles.type = PTR
        create = self.declare("pthread_create", ir.FunctionType(I32, [PTR, PTR, PTR, PTR]))
        join = self.declare("pthread_join", ir.FunctionType(I32, [I64, PTR]))

        def arg_ptr(i):
            return self.b.gep(args, [ir.Constant(I32, 0), i], source_etype=args.allocated_type)

        def handle_ptr(i):
            return self.b.gep(handles, [ir.Constant(I32, 0), i], source_etype=handles.allocated_type)

        counter = Var("tid", "int64")

        def spawn():
            i = self.state.vars[counter]
            slot = arg_ptr(i)
            for k, value in enumerate((closure, i, n)):
                self.b.store(value, self._field(slot, arg_ty, k))
            self.b.call(create, [handle_ptr(i), ir.Constant(PTR, None), fn, slot])

        def reap():
            i = self.state.vars[counter]
            handle = self.b.load(handle_ptr(i), typ=I64)
            self.b.call(join, [handle, ir.Constant(PTR, None)])

        self.serial_loop(counter, ir.Constant(I64, 1), n, spawn)
        self.b.call(body_fn, [closure, ir.Constant(I64, 0), n])
        self.serial_loop(counter, ir.Constant(I64, 1), n, reap)
