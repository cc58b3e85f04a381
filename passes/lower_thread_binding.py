"""``lower-thread-binding``: loops bound to GPU threads become thread launches.

Each outermost loop bound to a thread axis (or a shared/local allocation around such loops)
starts a *kernel*. Every thread axis the kernel uses gets one launch at the kernel's top,
``bx = T.launch_thread("blockIdx.x", n)`` (an ``AttrStmt(IterVar, "thread_extent", n)``): the
whole kernel body runs on every thread of every block. The loops themselves disappear, their
variables replaced by the launch's; sibling loops bound to one axis share its launch, whose
extent is the largest, and a smaller loop keeps only the threads below its extent::

    for i in T.thread_binding(4, thread="blockIdx.x"):
        for j in T.thread_binding(64, thread="threadIdx.x"):
            S[j] = A[i * 64 + j]
        for j in T.thread_binding(32, thread="threadIdx.x"):
            B[i * 32 + j] = S[j * 2]
    →
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    S[tx] = A[bx * 64 + tx]
    if tx < 32:
        B[bx * 32 + tx] = S[tx * 2]

Shared and local allocations of constant size move to the kernel's top, after the launches.

Virtual threads (``vthread``) are run one after the other inside each thread: their loops
become serial loops. A loop nested in a loop bound to the same axis (cooperative fetching inside
a thread's loop) names the same thread; it may not be longer than the loop around it.
"""

from __future__ import annotations

from tvmscript.ir import (
    Allocate,
    AttrStmt,
    BufferStore,
    DeclBuffer,
    For,
    ForKind,
    IfThenElse,
    IntImm,
    IterVar,
    Mutator,
    PrimExpr,
    PrimFunc,
    Range,
    Stmt,
    Var,
    Visitor,
    const,
    structural_equal,
)
from tvmscript.ir.rewrite import Rewriter, is_int

from .infra import PassContext, prim_func_pass
from .split_host_device import first_line

SHORT_NAMES = {"blockIdx.x": "bx", "blockIdx.y": "by", "blockIdx.z": "bz",
               "threadIdx.x": "tx", "threadIdx.y": "ty", "threadIdx.z": "tz"}


class ThreadBindingError(ValueError):
    """Loops bound to thread axes that cannot share one launch."""


def is_vthread(tag: str) -> bool:
    return tag.startswith("vthread")


def is_bound(stmt: Stmt) -> bool:
    return isinstance(stmt, For) and stmt.kind == ForKind.THREAD_BINDING


# ---------------------------------------------------------------- the loops of one kernel


class _Collect(Visitor):
    """The thread loops of a kernel per axis in program order, checking same-axis nesting."""

    def __init__(self) -> None:
        self.loops: dict[str, list[For]] = {}
        self.open: dict[str, For] = {}

    def visit_For(self, loop: For) -> None:
        if not is_bound(loop) or is_vthread(loop.thread_tag):
            return self.generic_visit(loop)
        tag = loop.thread_tag
        outer = self.open.get(tag)
        if outer is not None and _longer(loop.extent, outer.extent):
            raise ThreadBindingError(
                f"loop `{loop.loop_var.name}` bound to {tag} (extent {loop.extent}) is inside "
                f"loop `{outer.loop_var.name}` bound to the same axis with the smaller extent "
                f"{outer.extent}: the threads beyond it would skip the outer loop's body")
        if outer is not None:
            _check_cooperative(loop, outer)
        self.loops.setdefault(tag, []).append(loop)
        self.open[tag] = loop
        try:
            self.generic_visit(loop)
        finally:
            if outer is None:
                del self.open[tag]
            else:
                self.open[tag] = outer


def _check_cooperative(inner: For, outer: For) -> None:
    """A thread loop inside a loop bound to the same axis names the same threads: the outer
    loop's other iterations never run. That is what a cooperative fetch wants (every thread
    fills its part of a shared tile, the same for each iteration of the outer loop), so such a
    nest may only write shared (or warp) memory."""
    written = []

    class _Stores(Visitor):
        def visit_BufferStore(self, store: BufferStore) -> None:
            written.append(store.buffer)
            self.generic_visit(store)

    _Stores().visit(inner.body)
    private = [b for b in written if not (b.scope.startswith("shared") or b.scope == "warp")]
    if private:
        raise ThreadBindingError(
            f"loop `{inner.loop_var.name}` is bound to {inner.thread_tag} inside loop "
            f"`{outer.loop_var.name}` bound to the same axis: both are the same threads, so the "
            f"other iterations of `{outer.loop_var.name}` would never run. Only a cooperative "
            f"fetch into shared memory may nest a thread axis in itself; this one writes "
            f"`{private[0].name}` ({private[0].scope} memory): bind the two loops to different "
            f"axes, or fuse them and bind the fused loop")


def _check_one_kernel(alloc: Allocate) -> None:
    """A shared or local buffer outside every loop bound to a thread axis holds the statements
    of one kernel: refuse what would otherwise be run by every thread, or merged from separate
    grids into one (shared and local memory do not outlive a kernel)."""
    what = f"`{alloc.buffer_var.name}` ({alloc.scope} memory)"
    grids: list[For] = []

    class _Outside(Visitor):
        """The statements outside the thread loops (what the host would run)."""

        def visit_For(self, loop: For) -> None:
            if not is_bound(loop):
                return self.generic_visit(loop)
            if loop.thread_tag.startswith("blockIdx."):
                grids.append(loop)

        def visit_BufferStore(self, stmt: Stmt) -> None:
            raise ThreadBindingError(
                f"{what} makes one kernel of the statements around it, but "
                f"`{first_line(stmt)}` is not inside a loop bound to blockIdx/threadIdx, so "
                f"every thread would run it; bind its loops, or keep the buffer in global memory")

        visit_Evaluate = visit_BufferStore

    _Outside().visit(alloc.body)
    if len(grids) > 1:
        names = ", ".join(f"`{loop.loop_var.name}`" for loop in grids)
        raise ThreadBindingError(
            f"{what} is used by loop nests bound to blockIdx separately ({names}): each is its "
            f"own grid, and {alloc.scope} memory belongs to one block of one kernel; place the "
            f"stage inside one nest (compute_at under its blockIdx loop), or keep it in global "
            f"memory")


def _longer(a: PrimExpr, b: PrimExpr) -> bool:
    if isinstance(a, IntImm) and isinstance(b, IntImm):
        return a.value > b.value
    return not structural_equal(a, b)


def launch_extent(tag: str, loops: list[For]) -> PrimExpr:
    """The extent of ``tag``'s launch: the largest of its loops'."""
    extents = [loop.extent for loop in loops]
    if all(isinstance(e, IntImm) for e in extents):
        return max(extents, key=lambda e: e.value)
    if all(structural_equal(e, extents[0]) for e in extents):
        return extents[0]
    names = ", ".join(f"`{loop.loop_var.name}` ({loop.extent})" for loop in loops)
    raise ThreadBindingError(f"loops bound to {tag} have different extents that are not all "
                             f"constant: {names}; one launch needs one extent")


def _order(tags: list[str]) -> list[str]:
    """Block axes first, then thread axes, each in order of first appearance."""
    return ([t for t in tags if t.startswith("blockIdx.")]
            + [t for t in tags if not t.startswith("blockIdx.")])


# ---------------------------------------------------------------- rewriting a kernel


class _Replace(Mutator):
    def __init__(self, axes: dict[str, IterVar]) -> None:
        self.axes = axes

    def visit_For(self, loop: For) -> Stmt:
        loop = self.generic_visit(loop)
        if not is_bound(loop):
            return loop
        if is_vthread(loop.thread_tag):
            return loop.with_(kind=ForKind.SERIAL, thread_tag="")
        iv = self.axes[loop.thread_tag]
        value = iv.var if is_int(loop.min, 0) else iv.var + loop.min
        body = Rewriter({loop.loop_var: value}).visit(loop.body)  # views' offsets included
        if not structural_equal(loop.extent, iv.dom.extent):
            body = IfThenElse(iv.var < loop.extent, body)
        return body.with_span(loop.span)


def lower_kernel(root: Stmt) -> Stmt:
    """``root`` with its thread loops replaced by launches at its top."""
    collect = _Collect()
    collect.visit(root)
    axes = {}
    for tag in collect.loops:
        extent = launch_extent(tag, collect.loops[tag])
        var = Var(SHORT_NAMES.get(tag, tag.replace(".", "_")), extent.dtype)
        axes[tag] = IterVar(var, Range(const(0, extent.dtype), extent), thread_tag=tag)
    body = _Replace(axes).visit(root)
    hoist = _HoistStorage()
    body = hoist.visit(body)
    for alloc, decls in reversed(hoist.found):
        for decl in reversed(decls):
            body = decl.with_(body=body)
        body = alloc.with_(body=body)
    for tag in reversed(_order(list(collect.loops))):
        body = AttrStmt(axes[tag], "thread_extent", axes[tag].dom.extent, body)
    return body


class _HoistStorage(Mutator):
    """Takes out the kernel's shared and local allocations of constant size (with their
    declarations), to be put at its top: storage for the whole block or thread, as CUDA
    declares it."""

    def __init__(self) -> None:
        self.found: list[tuple[Allocate, list[DeclBuffer]]] = []

    def visit_Allocate(self, alloc: Allocate) -> Stmt:
        alloc = self.generic_visit(alloc)
        if alloc.scope == "global" or not all(isinstance(e, IntImm) for e in alloc.extents):
            return alloc
        body, decls = alloc.body, []
        while isinstance(body, DeclBuffer) and body.buffer.data is alloc.buffer_var:
            decls.append(body)
            body = body.body
        self.found.append((alloc, decls))
        return body


def _has_thread_loop(stmt: Stmt) -> bool:
    found = []

    class _Find(Visitor):
        def visit_For(self, loop: For) -> None:
            if is_bound(loop):
                found.append(loop)
            elif not found:
                self.generic_visit(loop)

    _Find().visit(stmt)
    return bool(found)


class _Kernels(Mutator):
    """Finds the outermost thread loops (with the GPU-scope storage around them)."""

    def visit_For(self, loop: For) -> Stmt:
        if is_bound(loop):
            return lower_kernel(loop)
        return self.generic_visit(loop)

    def visit_Allocate(self, alloc: Allocate) -> Stmt:
        if alloc.scope != "global" and _has_thread_loop(alloc.body):
            _check_one_kernel(alloc)
            return lower_kernel(alloc)
        return self.generic_visit(alloc)

    def visit_AttrStmt(self, attr: AttrStmt) -> Stmt:
        if attr.attr_key == "thread_extent":
            return attr  # already lowered (written with T.launch_thread)
        return self.generic_visit(attr)


@prim_func_pass("lower-thread-binding", opt_level=0, required=True)
def lower_thread_binding(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Replace loops bound to blockIdx/threadIdx by one launch per axis per kernel."""
    return _Kernels().visit(func)
