"""What launching a lowered kernel needs, read off the kernel: grid and block dimensions (the
``thread_extent`` attributes) and the dynamic shared memory layout. Shared by the code
generator (launch bounds, ``extern __shared__`` offsets) and the host (launch configuration).
"""

from __future__ import annotations

from tvmscript.ir import PrimFunc, structural_equal
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import Visitor

from ..llvm.codegen import CodegenError

THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y",
               "threadIdx.z")
DYN_ALIGN = 32  # bytes: every dynamic shared buffer starts 32-byte aligned (float4 access,
# WMMA load/store_matrix_sync pointers)


class _Launches(Visitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.extents: dict[str, E.PrimExpr] = {}

    def visit_AttrStmt(self, op: S.AttrStmt) -> None:
        if op.attr_key == "thread_extent":
            tag = getattr(op.node, "thread_tag", "")
            if tag not in THREAD_TAGS:
                raise CodegenError(f"kernel {self.name!r}: thread axis {tag!r} is not one of "
                                   f"{', '.join(THREAD_TAGS)} (vthread must be lowered)")
            seen = self.extents.get(tag)
            if seen is not None and not structural_equal(seen, op.value):
                raise CodegenError(f"kernel {self.name!r} launches {tag} with two extents, "
                                   f"{seen} and {op.value}; a kernel has one launch shape")
            self.extents[tag] = op.value
        self.visit(op.body)


def thread_extents(func: PrimFunc, name: str = "") -> dict[str, E.PrimExpr]:
    """The extent of each thread axis the kernel launches (``{"threadIdx.x": 64, ...}``)."""
    v = _Launches(name or str(func.attrs.get("global_symbol", "kernel")))
    v.visit(func.body)
    return v.extents


def launch_dims(func: PrimFunc) -> tuple[tuple[E.PrimExpr, ...], tuple[E.PrimExpr, ...]]:
    """(grid, block) as three expressions each (an axis not launched is 1)."""
    ext = thread_extents(func)
    one = E.const(1)
    grid = tuple(ext.get(f"blockIdx.{a}", one) for a in "xyz")
    block = tuple(ext.get(f"threadIdx.{a}", one) for a in "xyz")
    return grid, block


class _DynShared(Visitor):
    def __init__(self) -> None:
        self.allocs: list[S.Allocate] = []

    def visit_Allocate(self, op: S.Allocate) -> None:
        if op.scope == "shared.dyn":
            self.allocs.append(op)
        self.visit(op.body)


def dynamic_shared_layout(func: PrimFunc) -> tuple[list[tuple[S.Allocate, E.PrimExpr]],
                                                   E.PrimExpr]:
    """Each ``shared.dyn`` allocation with its byte offset in the one ``extern __shared__``
    array (CUDA gives every such declaration the same address), and the bytes to launch with."""
    v = _DynShared()
    v.visit(func.body)
    offsets, total = [], E.const(0)
    for alloc in v.allocs:
        offsets.append((alloc, total))
        size = E.const(alloc.dtype.itemsize * alloc.dtype.lanes)
        for extent in alloc.extents:
            size = E.binary(E.Mul, size, extent)
        total = _fold(E.binary(E.Add, total, _round_up(_fold(size))))
    return offsets, total


def _round_up(size: E.PrimExpr) -> E.PrimExpr:
    if isinstance(size, E.IntImm):
        return E.const(-(-size.value // DYN_ALIGN) * DYN_ALIGN, size.dtype)
    return E.binary(E.Mul, E.binary(E.FloorDiv, E.binary(E.Add, size, DYN_ALIGN - 1),
                                    DYN_ALIGN), DYN_ALIGN)


def _fold(e: E.PrimExpr) -> E.PrimExpr:
    from tvmscript.arith import Analyzer

    return Analyzer().simplify(e)


_WMMA_SCOPES = ("wmma.matrix_a", "wmma.matrix_b", "wmma.accumulator")
_WMMA_CALLS = ("tir.tvm_load_matrix_sync", "tir.tvm_store_matrix_sync")
SHARED_OPT_IN = 48 * 1024  # bytes per block above which a kernel must opt in (CUDA's default)


def uses_wmma(body: S.Stmt) -> bool:
    """Whether the kernel uses WMMA fragments (its shared arrays are then 32-byte aligned, as
    ``load_matrix_sync``/``store_matrix_sync`` pointers must be)."""
    from tvmscript.ir.functor import post_order_visit

    found = []

    def visit(node: object) -> None:
        if (isinstance(node, S.Allocate) and node.scope in _WMMA_SCOPES) or \
                (isinstance(node, E.Call) and node.op in _WMMA_CALLS):
            found.append(node)

    post_order_visit(body, visit)
    return bool(found)


class _StaticShared(Visitor):
    def __init__(self) -> None:
        self.allocs: list[S.Allocate] = []

    def visit_Allocate(self, op: S.Allocate) -> None:
        if op.scope == "shared":
            self.allocs.append(op)
        self.visit(op.body)


def static_shared_bytes(func: PrimFunc) -> int:
    """The bytes of the kernel's ``__shared__`` arrays (each rounded up to its alignment, as
    the code generator declares them): with the dynamic bytes, whether the launch must opt in
    to more than 48 KiB of shared memory."""
    v = _StaticShared()
    v.visit(func.body)
    align = 32 if uses_wmma(func.body) else 16
    total = 0
    for alloc in v.allocs:
        size = alloc.dtype.itemsize * alloc.dtype.lanes
        for extent in alloc.extents:
            if not isinstance(extent, E.IntImm):
                raise CodegenError(f"the shared allocation {alloc.buffer_var.name} has a "
                                   f"size ({extent}) that is not a constant")
            size *= extent.value
        total += -(-size // align) * align
    return total


def needs_shared_opt_in(static_bytes: int, dynamic_bytes: int) -> bool:
    """Whether a launch needs ``CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`` set: a block
    may use more than 48 KiB of shared memory (static and dynamic together) only then."""
    return dynamic_bytes > 0 and static_bytes + dynamic_bytes > SHARED_OPT_IN
