"""``lower-warp-memory``: warp buffers become each thread's local registers.

Runs after ``flatten-buffer``. A ``"warp"`` buffer (what ``mma.sync``'s operands live in, laid
out with ``transform_layout`` as ``lane * n + register``) holds ``n`` registers in each of the 32
lanes of a warp; every index must name the lane as ``threadIdx.x * n`` plus a register, and the
buffer becomes an ``n``-element ``"local"`` array of each thread (TVM's LowerWarpMemory)::

    AW = T.allocate([256], "float16", "warp")        AW = T.allocate([8], "float16", "local")
    AWb[tx * 8 + r] = ...                        →    AWb[r] = ...
"""

from __future__ import annotations

from dataclasses import dataclass

from tvmscript.arith import to_linear
from tvmscript.ir import (
    Allocate,
    AttrStmt,
    Buffer,
    DeclBuffer,
    IntImm,
    Mutator,
    PrimExpr,
    PrimFunc,
    Ramp,
    Stmt,
    Var,
    Visitor,
    const,
    post_order_visit,
)
from tvmscript.ir.rewrite import copy_buffer

from .infra import PassContext, prim_func_pass

# intrinsics that take a pointer to warp memory followed by an element offset into it (argument
# positions; the explicit result dtype of ptx_* is the call's dtype, not an argument)
_POINTER_OFFSETS = {
    "tir.ptx_ldmatrix": ((3, 4),),
    "tir.ptx_mma": ((6, 7), (8, 9), (10, 11)),
    "tir.tvm_access_ptr": ((1, 2),),
}


class WarpMemoryError(ValueError):
    """A warp buffer whose indices do not give each lane its own registers."""


class _WarpIndices(Visitor):
    """Every index into the warp buffers (loads, stores, pointer offsets of intrinsics)."""

    def __init__(self, buffers: set[Var]) -> None:
        self.buffers = buffers
        self.found: dict[Var, list[PrimExpr]] = {v: [] for v in buffers}

    def visit_BufferLoad(self, load) -> None:
        self.visit(load.indices)
        if load.buffer.data in self.buffers:
            self.found[load.buffer.data].append(_base(load.indices[0]))

    def visit_BufferStore(self, store) -> None:
        self.visit(store.value)
        self.visit(store.indices)
        if store.buffer.data in self.buffers:
            self.found[store.buffer.data].append(_base(store.indices[0]))

    def visit_Call(self, call) -> None:
        for ptr, offset in _POINTER_OFFSETS.get(call.op, ()):
            if call.args[ptr] in self.buffers:
                self.found[call.args[ptr]].append(call.args[offset])
        self.generic_visit(call)


def _base(index: PrimExpr) -> PrimExpr:
    return index.base if isinstance(index, Ramp) else index


@dataclass
class _WarpLayout:
    """Element ``e`` of a warp buffer lives in lane ``tx`` at register ``local(e)``."""

    lanes: int
    stride: int                      # the coefficient of tx in every index
    dropped: dict[Var, int]          # per-thread constant terms common to every index

    def local(self, index: PrimExpr, tx: Var) -> PrimExpr:
        rest = index - tx * self.stride
        for var, coeff in self.dropped.items():
            rest = rest - var * coeff
        group = self.lanes * self.stride
        return (rest // group) * self.stride + rest % group


def _layout(name: str, indices: list[PrimExpr], tx: Var, lanes: int,
            per_thread: set[Var]) -> _WarpLayout:
    forms = [to_linear(i) for i in indices]
    strides = {f.terms.get(tx, 0) for f in forms}
    if len(strides) != 1 or next(iter(strides)) <= 0:
        raise WarpMemoryError(
            f"warp buffer `{name}`: every index must hold the lane as `threadIdx.x * c` with one "
            f"c > 0 (each lane its own registers); found coefficients {sorted(strides)}")
    common = None
    for f in forms:
        terms = {v: c for v, c in f.terms.items() if isinstance(v, Var) and v in per_thread}
        common = terms if common is None else {v: c for v, c in common.items()
                                                if terms.get(v) == c}
    return _WarpLayout(lanes, strides.pop(), common or {})


class _LowerWarp(Mutator):
    def __init__(self, layouts: dict[Var, _WarpLayout], tx: Var, sizes: dict[Var, int]) -> None:
        self.layouts = layouts
        self.tx = tx
        self.sizes = sizes
        self.buffers: dict[Buffer, Buffer] = {}

    def buffer(self, buffer: Buffer) -> Buffer:
        if buffer.data not in self.layouts:
            return buffer
        if buffer not in self.buffers:
            size = const(self.sizes[buffer.data], buffer.shape[0].dtype)
            self.buffers[buffer] = copy_buffer(buffer, shape=(size,), scope="local",
                                               strides=(), elem_offset=const(0))
        return self.buffers[buffer]

    def index(self, data: Var, index: PrimExpr) -> PrimExpr:
        layout = self.layouts[data]
        if isinstance(index, Ramp):
            return index.with_(base=layout.local(index.base, self.tx))
        return layout.local(index, self.tx)

    def visit_BufferLoad(self, load):
        load = self.generic_visit(load)
        if load.buffer.data not in self.layouts:
            return load
        return load.with_(buffer=self.buffer(load.buffer),
                          indices=(self.index(load.buffer.data, load.indices[0]),))

    def visit_BufferStore(self, store):
        store = self.generic_visit(store)
        if store.buffer.data not in self.layouts:
            return store
        return store.with_(buffer=self.buffer(store.buffer),
                           indices=(self.index(store.buffer.data, store.indices[0]),))

    def visit_Call(self, call):
        call = self.generic_visit(call)
        args = list(call.args)
        for ptr, offset in _POINTER_OFFSETS.get(call.op, ()):
            if args[ptr] in self.layouts:
                args[offset] = self.index(args[ptr], args[offset])
        return call.with_(args=tuple(args)) if args != list(call.args) else call

    def visit_DeclBuffer(self, decl: DeclBuffer):
        decl = self.generic_visit(decl)
        return decl.with_(buffer=self.buffer(decl.buffer))

    def visit_Allocate(self, alloc: Allocate):
        alloc = self.generic_visit(alloc)
        if alloc.buffer_var not in self.layouts:
            return alloc
        size = const(self.sizes[alloc.buffer_var], alloc.extents[0].dtype)
        return alloc.with_(scope="local", extents=(size,))


def lower_warp_kernel(root: AttrStmt) -> Stmt:
    """The kernel under launch ``root`` with its warp buffers as per-thread local registers."""
    allocs = {}
    axes = {}

    def look(node) -> None:
        if isinstance(node, Allocate) and node.scope == "warp":
            allocs[node.buffer_var] = node
        if isinstance(node, AttrStmt) and node.attr_key == "thread_extent":
            axes[node.node.thread_tag] = node.node

    post_order_visit(root, look)
    if not allocs:
        return root
    tx_axis = axes.get("threadIdx.x")
    if tx_axis is None or not isinstance(tx_axis.dom.extent, IntImm):
        raise WarpMemoryError(f"warp buffers {sorted(v.name for v in allocs)} need a constant "
                              f"threadIdx.x launch (the lanes of a warp)")
    lanes, tx = tx_axis.dom.extent.value, tx_axis.var
    per_thread = {iv.var for iv in axes.values()} - {tx}
    indices = _WarpIndices(set(allocs))
    indices.visit(root)
    layouts, sizes = {}, {}
    for var, alloc in allocs.items():
        extent = alloc.extents[0]
        if not isinstance(extent, IntImm) or extent.value % lanes:
            raise WarpMemoryError(f"warp buffer `{var.name}` has {extent} elements, not a "
                                  f"multiple of the {lanes} lanes of a warp")
        layouts[var] = _layout(var.name, indices.found[var], tx, lanes, per_thread)
        sizes[var] = extent.value // lanes
    return _LowerWarp(layouts, tx, sizes).visit(root)


class _WarpKernels(Mutator):
    def visit_AttrStmt(self, attr: AttrStmt) -> Stmt:
        if attr.attr_key == "thread_extent":
            return lower_warp_kernel(attr)
        return self.generic_visit(attr)


@prim_func_pass("lower-warp-memory", opt_level=0, required=True)
def lower_warp_memory(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Warp buffers (``lane * n + register``, as mma/ldmatrix tiles are written) become each
    thread's own local registers: element ``e`` of lane ``tx`` is register
    ``(e' // (32 n)) * n + e' % (32 n)`` with ``e' = e - tx * n`` (TVM's LowerWarpMemory)."""
    return _WarpKernels().visit(func)
