"""``flatten-buffer``: every buffer access becomes one-dimensional.

Each buffer that is not already flat (one dimension, elem_offset 0, unit stride) gets a flat
twin ``Buffer(name, dtype, (total,), data=B.data)``; an access ``B[i, j]`` becomes
``B_flat[elem_offset + i * stride0 + j * stride1]`` (explicit strides, else row-major ones). A
Ramp index keeps being a Ramp (its base and stride scaled). Declarations of internal buffers
declare the flat twin instead; parameter buffers keep their shapes in ``buffer_map`` (argument
checks) and get a ``T.decl_buffer`` of the twin at the head of the body. Allocations get one
extent::

    def f(A: T.Buffer((4, 8), "float32")):      def f(A: T.Buffer((4, 8), "float32")):
        for i, j in T.grid(4, 8):           →       A_1 = T.decl_buffer((32,), "float32",
            A[i, j] = T.float32(0)                                      data=A.data)
                                                    for i, j in T.grid(4, 8):
                                                        A_1[i * 8 + j] = T.float32(0)

``total`` is the product of the shape for a compact buffer at offset 0, and
``elem_offset + sum((shape[k] - 1) * strides[k]) + 1`` (the last element reached, plus one)
otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from tvmscript.ir import (
    Allocate,
    Block,
    Broadcast,
    Buffer,
    BufferLoad,
    BufferStore,
    DeclBuffer,
    Mutator,
    PrimExpr,
    PrimFunc,
    Ramp,
    const,
)

from .infra import PassContext, prim_func_pass
from tvmscript.ir.rewrite import add, is_int, mul, product, strides_of


def is_flat(buffer: Buffer) -> bool:
    """One dimension, offset 0 and unit (or implicit) stride: accesses need no rewriting."""
    unit = not buffer.strides or is_int(buffer.strides[0], 1)
    return buffer.ndim == 1 and unit and is_int(buffer.elem_offset, 0)


def flat_extent(buffer: Buffer) -> PrimExpr:
    """How many elements of ``data`` the flat twin spans (see the module docstring)."""
    if not buffer.strides and is_int(buffer.elem_offset, 0):
        return product(buffer.shape)
    last = buffer.elem_offset
    for extent, stride in zip(buffer.shape, strides_of(buffer)):
        last = add(last, mul(add(extent, const(-1, extent.dtype)), stride))
    return add(last, const(1, last.dtype))


def flatten(buffer: Buffer) -> Buffer:
    return Buffer(buffer.name, buffer.dtype, (flat_extent(buffer),), data=buffer.data,
                  scope=buffer.scope, data_alignment=buffer.data_alignment).with_span(buffer.span)


def flat_index(buffer: Buffer, indices: Sequence[PrimExpr]) -> PrimExpr:
    """``elem_offset + sum(index_k * stride_k)``, keeping a Ramp index a Ramp."""
    scalar: PrimExpr = buffer.elem_offset
    ramp: Ramp | None = None
    for index, stride in zip(indices, strides_of(buffer)):
        if isinstance(index, Ramp) and ramp is None:
            ramp = Ramp(mul(index.base, stride), mul(index.stride, stride), index.lanes)
        elif isinstance(index, Broadcast):
            scalar = add(scalar, mul(index.value, stride))
        elif index.dtype.lanes > 1:
            raise ValueError(f"flatten-buffer: buffer `{buffer.name}` is indexed with a vector "
                             f"that is not a Ramp in more than one dimension")
        else:
            scalar = add(scalar, mul(index, stride))
    if ramp is None:
        return scalar
    return Ramp(add(scalar, ramp.base), ramp.stride, ramp.lanes)


class _Flatten(Mutator):
    def __init__(self) -> None:
        self.flat: dict[Buffer, Buffer] = {}

    def twin(self, buffer: Buffer) -> Buffer:
        if is_flat(buffer):
            return buffer
        if buffer not in self.flat:
            self.flat[buffer] = flatten(buffer)
        return self.flat[buffer]

    def visit_BufferLoad(self, load: BufferLoad) -> PrimExpr:
        load = self.generic_visit(load)
        twin = self.twin(load.buffer)
        if twin is load.buffer:
            return load
        return BufferLoad(twin, (flat_index(load.buffer, load.indices),)).with_span(load.span)

    def visit_BufferStore(self, store: BufferStore) -> BufferStore:
        store = self.generic_visit(store)
        twin = self.twin(store.buffer)
        if twin is store.buffer:
            return store
        index = flat_index(store.buffer, store.indices)
        return BufferStore(twin, store.value, (index,)).with_span(store.span)

    def visit_DeclBuffer(self, decl: DeclBuffer) -> DeclBuffer:
        return decl.with_(buffer=self.twin(decl.buffer), body=self.visit(decl.body))

    def visit_Allocate(self, alloc: Allocate) -> Allocate:
        alloc = self.generic_visit(alloc)
        if len(alloc.extents) == 1:
            return alloc
        return alloc.with_(extents=(product(alloc.extents),))

    def visit_Block(self, block: Block) -> Block:
        raise ValueError(f"flatten-buffer: block `{block.name_hint}` is still there; "
                         f"run lower-blocks first")


@prim_func_pass("flatten-buffer", opt_level=0, required=True)
def flatten_buffer(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Make every buffer access one-dimensional (flat twins of multi-dimensional buffers)."""
    flattener = _Flatten()
    body = flattener.visit(func.body)
    for param in reversed(func.params):
        buffer = func.buffer_map.get(param)
        if buffer is not None and buffer in flattener.flat:
            body = DeclBuffer(flattener.flat[buffer], body)
    return func.with_(body=body)
