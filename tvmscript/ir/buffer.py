"""Buffers: typed, shaped views over memory, and regions of them."""

from __future__ import annotations

from typing import Any, Sequence

from .dtype import HANDLE, DataType, dtype as as_dtype
from .expr import BufferLoad, IntImm, PrimExpr, Range, Var, const, convert
from .node import IdentityNode, Node, defines, node


@node
class Buffer(IdentityNode):
    """A multi-dimensional array: ``data`` (a handle variable) viewed with shape and strides.

    Compared by identity, like variables. ``elem_offset`` and symbolic ``shape``/``strides``
    entries may be variables; they are defined where the buffer is (a parameter's buffer,
    ``T.match_buffer``, ``T.alloc_buffer``).
    """

    name: str
    dtype: DataType
    shape: tuple[PrimExpr, ...]
    data: Var = None
    strides: tuple[PrimExpr, ...] = ()
    elem_offset: PrimExpr = None
    scope: str = "global"
    data_alignment: int = 64
    offset_factor: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "dtype", as_dtype(self.dtype))
        set_(self, "shape", tuple(convert(s) for s in self.shape))
        set_(self, "strides", tuple(convert(s) for s in self.strides))
        if self.data is None:
            set_(self, "data", Var(self.name, HANDLE))
        if self.elem_offset is None:
            if self.offset_factor:
                set_(self, "elem_offset", Var(f"{self.name}_elem_offset", "int32"))
            else:
                set_(self, "elem_offset", const(0))
        else:
            set_(self, "elem_offset", convert(self.elem_offset))

    def __hash__(self) -> int:
        return id(self) >> 4

    def __eq__(self, other: object) -> bool:
        return self is other

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, indices: Any) -> PrimExpr:
        """``A[i, j]`` as a BufferLoad (for passes and tests that build IR in Python)."""
        if not isinstance(indices, tuple):
            indices = (indices,)
        return BufferLoad(self, tuple(convert(i) for i in indices))

    def full_region(self) -> "BufferRegion":
        return BufferRegion(self, tuple(Range(const(0, s.dtype), s) for s in self.shape))

    def vload(self, indices: Sequence[Any]) -> BufferLoad:
        return BufferLoad(self, tuple(convert(i) for i in indices))

    def access_ptr(self, access_mask: "str | int", ptr_type: str = "handle",
                   content_lanes: int = 1, offset: Any = 0, extent: Any = None) -> PrimExpr:
        """A pointer to the buffer's first element plus ``offset`` (what an implementation hands
        to an instruction or a C function), as TVM's ``Buffer.access_ptr``: ``access_mask`` is
        ``"r"``, ``"w"``, ``"rw"`` or their bits (1 read, 2 write); ``extent`` (elements the
        callee may touch) defaults to the rest of the buffer.

        ``A.access_ptr("r")`` is ``T.tvm_access_ptr(T.type_annotation("float32"), A.data,
        A.elem_offset, 16, 1)`` for a 16-element float32 buffer ``A``.
        """
        from .expr import Call, FloorDiv
        from .rewrite import add, mul, product

        mask = access_mask if isinstance(access_mask, int) else _access_bits(access_mask)
        size = mul(self.strides[0], self.shape[0]) if self.strides else product(self.shape)
        elem = self.elem_offset
        dt = self.dtype
        if content_lanes > 1:
            dt = dt.with_lanes(content_lanes)
            lanes = const(content_lanes, elem.dtype)
            size, elem = FloorDiv(size, lanes), FloorDiv(elem, lanes)
        offset = convert(offset)
        if extent is None:
            extent = add(size, const(-offset.value)) if isinstance(offset, IntImm) \
                else size - offset
        return Call(as_dtype(ptr_type), "tir.tvm_access_ptr",
                    (Call(dt, "tir.type_annotation", ()), self.data, add(elem, offset),
                     convert(extent), const(mask, "int32")))


@node
class BufferRegion(Node):
    """``A[0:16, vj]``: a buffer and one range per dimension (a point is extent 1)."""

    buffer: Buffer
    region: tuple[Range, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "region", tuple(self.region))


@node
class MatchBufferRegion(Node):
    """``Sub = T.match_buffer(A[vi:vi + 16, 0:16], ...)``: a new buffer viewing a region."""

    buffer: Buffer = defines()
    source: BufferRegion = None


def _access_bits(mask: str) -> int:
    bits = {"r": 1, "w": 2}
    if not mask or any(c not in bits for c in mask):
        raise ValueError(f"access_ptr: the access mask {mask!r} must be made of 'r' and 'w'")
    return sum(bits[c] for c in set(mask))


def decl_buffer(
    shape: Sequence[Any],
    dtype: "str | DataType" = "float32",
    name: str = "buffer",
    **kwargs: Any,
) -> Buffer:
    """A fresh buffer with its own data handle (what ``T.alloc_buffer`` declares)."""
    return Buffer(name, as_dtype(dtype), tuple(convert(s) for s in shape), **kwargs)


def is_unit_extent(r: Range) -> bool:
    return isinstance(r.extent, IntImm) and r.extent.value == 1


__all__ = ["Buffer", "BufferRegion", "MatchBufferRegion", "decl_buffer", "is_unit_extent"]
