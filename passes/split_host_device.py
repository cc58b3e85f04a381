"""``split-host-device``: each function becomes a host function that launches device kernels.

Every outermost thread launch (``T.launch_thread`` with what it encloses) becomes a kernel
``f_kernel``, ``f_kernel_1``, ... whose parameters are the buffers it touches (flat, in order of
first use) and then the scalar variables it uses; the host function ``f`` keeps the original
parameters and calls the kernels in order::

    def f(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
        bx = T.launch_thread("blockIdx.x", 4)
        tx = T.launch_thread("threadIdx.x", 64)
        B[bx * 64 + tx] = A[bx * 64 + tx]
    →
    def f(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
        T.call_extern("int32", "f_kernel", A.data, B.data)

    def f_kernel(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
        T.func_attr({"tvmscript.kernel": True, "tir.noalias": True})
        bx = T.launch_thread("blockIdx.x", 4)
        ...

The host may only bind scalars (``LetStmt``), check arguments (``assert``), allocate global
buffers that live across kernels, branch on scalars and launch; any other statement outside a
thread launch (a loop, a store) is refused with ``HostCodeError`` naming the function and the
statement: bind its loops to blockIdx/threadIdx.
"""

from __future__ import annotations

from tvmscript.ir import (
    Allocate,
    AssertStmt,
    AttrStmt,
    Buffer,
    BufferLoad,
    BufferStore,
    Call,
    DeclBuffer,
    Evaluate,
    For,
    IfThenElse,
    IntImm,
    IRModule,
    IterVar,
    LetStmt,
    PrimFunc,
    SeqStmt,
    Stmt,
    StringImm,
    Var,
    Visitor,
    post_order_visit,
    seq,
)
from tvmscript.ir.dtype import HANDLE
from tvmscript.ir.rewrite import Rewriter

from .flatten_buffer import flatten, is_flat
from .infra import PassContext, module_pass


class HostCodeError(ValueError):
    """A statement that would run on the host CPU in a GPU function."""


def is_launch(stmt: Stmt) -> bool:
    return isinstance(stmt, AttrStmt) and stmt.attr_key == "thread_extent"


def first_line(stmt: Stmt) -> str:
    text = stmt.script().strip().splitlines()
    return text[0] if text else type(stmt).__name__


# ---------------------------------------------------------------- kernel parameters


class _FreeVars(Visitor):
    """Variables a kernel uses but does not define, in order of first use."""

    def __init__(self) -> None:
        self.defined: set[Var] = set()
        self.free: dict[Var, None] = {}
        self.buffers: dict[Var, Buffer] = {}  # data var -> the buffer accessed through it

    def define(self, var: Var) -> None:
        self.defined.add(var)

    def buffer(self, buffer: Buffer) -> None:
        if buffer.data not in self.defined:
            self.buffers.setdefault(buffer.data, buffer)
        self.visit_Var(buffer.data)

    def visit_Var(self, var: Var) -> None:
        if var not in self.defined:
            self.free.setdefault(var, None)

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.buffer(load.buffer)
        self.visit(load.indices)

    def visit_BufferStore(self, store: BufferStore) -> None:
        self.visit(store.value)  # the right-hand side is evaluated first
        self.visit(store.indices)
        self.buffer(store.buffer)

    def visit_AttrStmt(self, attr: AttrStmt) -> None:
        if isinstance(attr.node, IterVar):
            self.visit(attr.value)
            self.define(attr.node.var)
            self.visit(attr.body)
        else:
            self.generic_visit(attr)

    def visit_For(self, loop: For) -> None:
        self.visit(loop.min)
        self.visit(loop.extent)
        self.define(loop.loop_var)
        self.visit(loop.body)

    def visit_LetStmt(self, let: LetStmt) -> None:
        self.visit(let.value)
        self.define(let.var)
        self.visit(let.body)

    def visit_Allocate(self, alloc: Allocate) -> None:
        self.visit(alloc.extents)
        self.define(alloc.buffer_var)
        self.visit(alloc.body)

    def visit_DeclBuffer(self, decl: DeclBuffer) -> None:
        buf = decl.buffer
        self.visit([buf.shape, buf.strides, buf.elem_offset])
        self.visit_Var(buf.data)
        self.visit(decl.body)

    def visit_Let(self, let) -> None:
        self.visit(let.value)
        self.define(let.var)
        self.visit(let.body)


def make_kernel(root: Stmt, name: str, host_buffers: dict[Var, Buffer]) -> tuple[PrimFunc, list]:
    """The kernel running ``root`` and the arguments the host passes to it."""
    free = _FreeVars()
    free.visit(root)
    handles = [v for v in free.free if v.dtype == HANDLE]
    scalars = [v for v in free.free if v.dtype != HANDLE]
    # the kernel is a function of its own: fresh variables for what it takes from the host
    fresh = {v: Var(v.name, v.dtype) for v in handles + scalars}
    buffers = []
    for data in handles:
        # the host's (flat) buffer for the pointer, not a view of it declared in the kernel
        buffer = host_buffers.get(data) or free.buffers.get(data)
        if buffer is None:
            raise HostCodeError(f"kernel {name} uses the pointer `{data.name}` of no buffer")
        if not is_flat(buffer):  # used only through views: the kernel still takes it flat
            buffer = flatten(buffer)
        buffers.append(buffer)
        for var in _vars([buffer.shape, buffer.strides, buffer.elem_offset]):
            fresh.setdefault(var, Var(var.name, var.dtype))  # defined by the kernel's buffer
    rewriter = Rewriter(fresh)
    params, buffer_map, args = [], {}, []
    for data, buffer in zip(handles, buffers):
        param = Var(buffer.name, HANDLE)
        params.append(param)
        buffer_map[param] = rewriter.visit_Buffer(buffer)
        args.append(data)
    params += [fresh[v] for v in scalars]
    args += scalars
    root = rewriter.visit(root)
    attrs = {"global_symbol": name, "tvmscript.kernel": True, "tir.noalias": True}
    kernel = PrimFunc(tuple(params), buffer_map, root, attrs, name=name)
    return kernel, args


def _vars(obj) -> list[Var]:
    found: dict[Var, None] = {}
    post_order_visit(obj, lambda n: found.setdefault(n, None) if isinstance(n, Var) else None)
    return list(found)


def launch(name: str, args: list) -> Stmt:
    """The host's call of kernel ``name``."""
    return Evaluate(Call("int32", "tir.call_extern", (StringImm(name), *args)))


# ---------------------------------------------------------------- the host


class _Split:
    def __init__(self, func: PrimFunc, name: str) -> None:
        self.func = func
        self.name = name
        self.kernels: list[PrimFunc] = []
        self.host_buffers: dict[Var, Buffer] = {b.data: b for b in func.buffer_map.values()}
        self.allocated: set[Var] = set()
        post_order_visit(func.body, lambda n: self.allocated.add(n.buffer_var)
                         if isinstance(n, Allocate) else None)

    def refuse(self, stmt: Stmt, why: str = "") -> HostCodeError:
        return HostCodeError(
            f"statement `{first_line(stmt)}` in function {self.name} runs on the host"
            f"{why}; bind its loops to blockIdx/threadIdx")

    def check_scalar(self, stmt: Stmt, expr) -> None:
        found = []
        post_order_visit(expr, lambda n: found.append(n) if isinstance(n, BufferLoad) else None)
        if found:
            raise self.refuse(stmt, f" and reads buffer `{found[0].buffer.name}`")

    def visit(self, stmt: Stmt) -> Stmt | None:
        if is_launch(stmt):
            index = len(self.kernels)
            name = f"{self.name}_kernel" + (f"_{index}" if index else "")
            kernel, args = make_kernel(stmt, name, self.host_buffers)
            self.kernels.append(kernel)
            return launch(name, args)
        method = getattr(self, "visit_" + type(stmt).__name__, None)
        if method is None:
            raise self.refuse(stmt)
        return method(stmt)

    def visit_SeqStmt(self, stmt: SeqStmt) -> Stmt | None:
        items = [self.visit(s) for s in stmt.seq]
        kept = [s for s in items if s is not None]
        return seq(*kept) if kept else None

    def visit_LetStmt(self, stmt: LetStmt) -> Stmt | None:
        self.check_scalar(stmt, stmt.value)
        return self.keep(stmt, self.visit(stmt.body))

    def visit_AssertStmt(self, stmt: AssertStmt) -> Stmt | None:
        self.check_scalar(stmt, stmt.condition)
        return self.keep(stmt, self.visit(stmt.body))

    def visit_IfThenElse(self, stmt: IfThenElse) -> Stmt | None:
        self.check_scalar(stmt, stmt.condition)
        then = self.visit(stmt.then_case) or Evaluate(IntImm("int32", 0))
        other = None if stmt.else_case is None else self.visit(stmt.else_case)
        return stmt.with_(then_case=then, else_case=other)

    def visit_Allocate(self, stmt: Allocate) -> Stmt | None:
        if stmt.scope != "global":
            raise HostCodeError(
                f"buffer `{stmt.buffer_var.name}` of scope {stmt.scope!r} in function "
                f"{self.name} is allocated outside any thread launch; {stmt.scope} memory "
                f"exists only inside a kernel")
        return self.keep(stmt, self.visit(stmt.body))

    def visit_DeclBuffer(self, stmt: DeclBuffer) -> Stmt | None:
        self.host_buffers[stmt.buffer.data] = stmt.buffer
        body = self.visit(stmt.body)
        # a host buffer's declaration stays with its allocation; a parameter's flat view goes
        return self.keep(stmt, body) if stmt.buffer.data in self.allocated else body

    def visit_Evaluate(self, stmt: Evaluate) -> Stmt | None:
        if isinstance(stmt.value, IntImm):
            return None  # a no-op
        raise self.refuse(stmt)

    def keep(self, stmt: Stmt, body: Stmt | None) -> Stmt:
        return stmt.with_(body=body if body is not None else Evaluate(IntImm("int32", 0)))

    def run(self) -> tuple[PrimFunc, list[PrimFunc]]:
        body = self.visit(self.func.body) or Evaluate(IntImm("int32", 0))
        host = self.func.with_(body=body).with_attr("tvmscript.host", True)
        return host, self.kernels


@module_pass("split-host-device", opt_level=0, required=True)
def split_host_device(mod: IRModule, ctx: PassContext) -> IRModule:
    """Split every loop-level function into a host launcher and its device kernels."""
    functions = {}
    for key, func in mod.functions.items():
        if not isinstance(func, PrimFunc) or func.attrs.get("tvmscript.kernel"):
            functions[key] = func
            continue
        host, kernels = _Split(func, key).run()
        functions[key] = host
        for kernel in kernels:
            if kernel.name in mod.functions:
                raise HostCodeError(f"function {key}: the module already has a function named "
                                    f"{kernel.name!r} for its kernel")
            functions[kernel.name] = kernel
    return mod.with_(functions=functions)
