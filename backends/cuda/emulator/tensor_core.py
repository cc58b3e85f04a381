"""Tensor-core operations in the emulator: WMMA fragments, ``mma.sync`` m16n8k16 and ``ldmatrix``.

Why here: these are warp-collective (``collectives.py``), and their per-lane register layouts are
exactly what a hand-written or tensorized kernel must get right, so the emulator reproduces them
instead of computing the product some convenient way.

WMMA (``tvm_fill_fragment``, ``tvm_load_matrix_sync``, ``tvm_mma_sync``, ``tvm_store_matrix_sync``):
a fragment buffer is one flat array per warp; fragment ``index`` is the row-major tile at
elements ``[index * tile, (index + 1) * tile)`` (``m x k`` for ``wmma.matrix_a``, ``k x n`` for
``wmma.matrix_b``, ``m x n`` for ``wmma.accumulator``). CUDA hides the fragment's register
layout, so any fixed layout is faithful. ``mma_sync`` multiplies the half-precision inputs exactly
(every fp16 product is exact in fp32) and accumulates in float32.

PTX (``ptx_ldmatrix``, ``ptx_mma``): registers are each lane's ``local`` array, laid out as the PTX
ISA says. Checked against the PTX ISA, section 9.7.14.5.8 "Matrix Fragments for mma.m16n8k16 with
floating point type" (A: ``groupID = lane >> 2``, ``tid = lane % 4``, row ``groupID`` for a0, a1,
a4, a5 and ``groupID + 8`` otherwise, col ``tid * 2 + (i & 1)``, ``+ 8`` for i >= 4; B: row
``tid * 2 + (i & 1)``, ``+ 8`` for i >= 2, col ``groupID``; C/D: row ``groupID`` for c0, c1 and
``groupID + 8`` for c2, c3, col ``tid * 2 + (i & 1)``) and section 9.7.14.5.15 ``ldmatrix``
(threads 8j..8j+7 give the row addresses of matrix j; lane l receives from matrix j the two b16 at
row ``l >> 2``, columns ``(l % 4) * 2`` and ``+ 1``; ``.trans`` delivers the transposed matrix);
A and C also agree with TVM's ``shared_16x16_to_ldmatrix_32x8_layout`` (python/tvm/tir/
tensor_intrin/cuda.py), which the test checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .collectives import CollectiveError, Ref, WarpCall, register_collective

# a lane's registers: ``local`` arrays, or its row of a TVM-style ``warp`` buffer [lane, register]
REGISTERS = ("local", "warp")
_TILE_DIMS = {"wmma.matrix_a": ("m", "k"), "wmma.matrix_b": ("k", "n"),
              "wmma.accumulator": ("m", "n")}


# ---------------------------------------------------------------- PTX layouts (pure functions)


def mma_a_position(lane: int, i: int) -> tuple[int, int]:
    """(row, col) in the 16 x 16 A tile of element ``a<i>`` held by ``lane`` (m16n8k16 f16)."""
    group, tid = lane >> 2, lane % 4
    row = group + (8 if i in (2, 3, 6, 7) else 0)
    return row, tid * 2 + (i & 1) + (8 if i >= 4 else 0)


def mma_b_position(lane: int, i: int) -> tuple[int, int]:
    """(k, n) in the 16 x 8 B tile of element ``b<i>`` held by ``lane``."""
    return (lane % 4) * 2 + (i & 1) + (8 if i >= 2 else 0), lane >> 2


def mma_c_position(lane: int, i: int) -> tuple[int, int]:
    """(row, col) in the 16 x 8 C/D tile of element ``c<i>`` held by ``lane``."""
    return (lane >> 2) + (8 if i >= 2 else 0), (lane % 4) * 2 + (i & 1)


def ldmatrix_position(lane: int, elem: int, trans: bool) -> tuple[int, int]:
    """(row, col) in an 8 x 8 matrix of the ``elem``-th (0 or 1) b16 that ``lane`` receives from
    it: the row says whose address (lane ``8 * matrix + row``) is read, the col which element."""
    if trans:
        return (lane % 4) * 2 + elem, lane >> 2
    return lane >> 2, (lane % 4) * 2 + elem


# ---------------------------------------------------------------- argument checks


def _uniform(call: WarpCall, what: str) -> tuple:
    """The arguments, which every lane of the warp must pass alike (WMMA's rule)."""
    if len(call.lanes) != call.warp_size:
        raise CollectiveError(f"{what} is executed by {len(call.lanes)} lanes of the warp; all "
                              f"{call.warp_size} must execute it together (none may diverge)")
    first = call.lanes[0].args
    for lane in call.lanes[1:]:
        for n, (a, b) in enumerate(zip(first, lane.args)):
            if _key(a) != _key(b):
                raise CollectiveError(
                    f"{what}: argument {n} differs between lane {call.lanes[0].lane} "
                    f"({_show(a)}) and lane {lane.lane} ({_show(b)}); WMMA arguments must be the "
                    "same in every lane of the warp")
    return first


def _key(value):
    if isinstance(value, Ref):
        return (id(value.array), value.offset)
    if isinstance(value, np.ndarray):
        return tuple(value.tolist())
    return value


def _show(value) -> str:
    if isinstance(value, Ref):
        return f"{value.scope} buffer {value.name!r} at offset {value.offset}"
    return repr(value)


def _ref(value, what: str, scopes: Sequence[str] | None = None) -> Ref:
    if not isinstance(value, Ref):
        raise CollectiveError(f"{what} must be a buffer or pointer, got {value!r}")
    if scopes is not None and value.scope not in scopes:
        raise CollectiveError(f"{what} is the {value.scope} buffer {value.name!r}; it must be in "
                              f"scope {' or '.join(repr(s) for s in scopes)}")
    return value


def _tile(frag: Ref, index: int, shape: tuple[int, int]) -> np.ndarray:
    """The fragment ``index`` of ``frag`` as a writable rows x cols view."""
    size = shape[0] * shape[1]
    if index < 0 or (index + 1) * size > frag.array.size:
        raise CollectiveError(f"fragment {index} of {frag.scope} buffer {frag.name!r} is out of "
                              f"bounds: it holds {frag.array.size // size} fragments of "
                              f"{shape[0]}x{shape[1]}")
    return frag.array[index * size:(index + 1) * size].reshape(shape)


def _shape(frag: Ref, m: int, n: int, k: int) -> tuple[int, int]:
    dims = _TILE_DIMS.get(frag.scope)
    if dims is None:
        raise CollectiveError(f"{frag.scope} buffer {frag.name!r} is not a WMMA fragment "
                              "(scope wmma.matrix_a, wmma.matrix_b or wmma.accumulator)")
    sizes = {"m": m, "n": n, "k": k}
    return sizes[dims[0]], sizes[dims[1]]


def _check_wmma_alignment(op: str, ptr: Ref, stride: int) -> None:
    """``load_matrix_sync``/``store_matrix_sync`` need a 256-bit (32-byte) aligned pointer and
    a leading dimension of whole 16 bytes (8 halves, 4 floats); the buffer itself starts
    aligned, so the element offset decides."""
    size = ptr.array.dtype.itemsize
    if ptr.offset * size % 32:
        raise CollectiveError(
            f"{op}: the pointer into {ptr.scope} buffer {ptr.name!r} at element {ptr.offset} "
            f"({ptr.offset * size} bytes) is not 32-byte aligned, as WMMA requires")
    if stride * size % 16:
        raise CollectiveError(
            f"{op}: the stride {stride} of {ptr.scope} buffer {ptr.name!r} ({stride * size} "
            f"bytes) is not a multiple of 16 bytes ({16 // size} elements), as WMMA requires")


def _offsets(ptr: Ref, rows: int, cols: int, stride: int, layout: str) -> np.ndarray:
    """Element offsets into ``ptr.array`` of a rows x cols matrix stored with ``stride``."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    if layout == "row_major":
        off = r * stride + c
    elif layout == "col_major":
        off = c * stride + r
    else:
        raise CollectiveError(f"layout {layout!r}: expected 'row_major' or 'col_major'")
    off = off + ptr.offset
    if off.min() < 0 or off.max() >= ptr.array.size:
        raise CollectiveError(
            f"a {rows}x{cols} {layout} matrix with stride {stride} at offset {ptr.offset} of "
            f"{ptr.scope} buffer {ptr.name!r} is out of bounds (it holds {ptr.array.size})")
    return off


# ---------------------------------------------------------------- WMMA


def _fill(call: WarpCall) -> None:
    frag, m, n, k, index, value = _uniform(call, "tvm_fill_fragment")
    frag = _ref(frag, "the fragment of tvm_fill_fragment")
    _tile(frag, index, _shape(frag, m, n, k))[...] = value


def _load(call: WarpCall) -> None:
    frag, m, n, k, index, ptr, stride, layout = _uniform(call, "tvm_load_matrix_sync")
    frag = _ref(frag, "the fragment of tvm_load_matrix_sync")
    ptr = _ref(ptr, "the source of tvm_load_matrix_sync")
    _check_wmma_alignment("tvm_load_matrix_sync", ptr, stride)
    tile = _tile(frag, index, _shape(frag, m, n, k))
    off = _offsets(ptr, *tile.shape, stride, layout)
    tile[...] = ptr.array[off]
    call.note_read(ptr, off.ravel())


def _store(call: WarpCall) -> None:
    frag, m, n, _k, index, ptr, stride, layout = _uniform(call, "tvm_store_matrix_sync")
    frag = _ref(frag, "the fragment of tvm_store_matrix_sync", ["wmma.accumulator"])
    ptr = _ref(ptr, "the destination of tvm_store_matrix_sync")
    _check_wmma_alignment("tvm_store_matrix_sync", ptr, stride)
    tile = _tile(frag, index, (m, n))
    off = _offsets(ptr, m, n, stride, layout)
    ptr.array[off] = tile.astype(ptr.array.dtype)
    call.note_write(ptr, off.ravel())


def _mma_sync(call: WarpCall) -> None:
    d, di, a, ai, b, bi, c, ci = _uniform(call, "tvm_mma_sync")
    d = _ref(d, "D of tvm_mma_sync", ["wmma.accumulator"])
    a = _ref(a, "A of tvm_mma_sync", ["wmma.matrix_a"])
    b = _ref(b, "B of tvm_mma_sync", ["wmma.matrix_b"])
    c = _ref(c, "C of tvm_mma_sync", ["wmma.accumulator"])
    m, n, k = _wmma_mnk(a.array.size, b.array.size, d.array.size)
    product = _tile(a, ai, (m, k)).astype(np.float32) @ _tile(b, bi, (k, n)).astype(np.float32)
    result = product + _tile(c, ci, (m, n)).astype(np.float32)
    _tile(d, di, (m, n))[...] = result.astype(d.array.dtype)


def _wmma_mnk(a_size: int, b_size: int, c_size: int) -> tuple[int, int, int]:
    # tvm_mma_sync carries no shape: the only f16 shape these intrinsics declare is 16x16x16
    for m, n, k in ((16, 16, 16),):
        if a_size % (m * k) == 0 and b_size % (k * n) == 0 and c_size % (m * n) == 0:
            return m, n, k
    raise CollectiveError(f"tvm_mma_sync: fragments of {a_size}, {b_size} and {c_size} elements "
                          "do not hold whole 16x16x16 tiles")


# ---------------------------------------------------------------- PTX ldmatrix / mma.sync


def _ldmatrix(call: WarpCall) -> None:
    rows = call.arg_rows
    trans, num, kind = rows[0][0], rows[0][1], rows[0][2]
    if kind != ".b16" or num not in (1, 2, 4):
        raise CollectiveError(f"ptx_ldmatrix: {kind} .x{num} is not supported (the emulator knows "
                              "m8n8 .b16 with .x1, .x2 or .x4)")
    if len(call.lanes) != call.warp_size:
        raise CollectiveError(f"ptx_ldmatrix is executed by {len(call.lanes)} lanes; all "
                              f"{call.warp_size} must execute it together")
    addresses = {}
    for lane in call.lanes:
        smem = _ref(lane.args[5], "the shared-memory pointer of ptx_ldmatrix",
                    ["shared", "shared.dyn"])
        addresses[lane.lane] = (smem, smem.offset + lane.args[6])
    for row_lane in range(8 * num):  # the lanes whose addresses are the matrices' rows
        _check_row_alignment(*addresses[row_lane], row_lane)
    reads: list[int] = []
    for lane in call.lanes:
        local = _ref(lane.args[3], "the destination of ptx_ldmatrix", REGISTERS)
        out = _span(local, lane.args[4], 2 * num, "ptx_ldmatrix")
        for j in range(num):
            for e in range(2):
                row, col = ldmatrix_position(lane.lane, e, bool(trans))
                smem, base = addresses[8 * j + row]
                _check_address(smem, base + col, 8 * j + row)
                out[2 * j + e] = smem.array[base + col]
                reads.append(base + col)
    call.note_read(addresses[0][0], reads)


def _span(ref: Ref, offset: int, count: int, what: str) -> np.ndarray:
    if offset < 0 or ref.offset + offset + count > ref.array.size:
        raise CollectiveError(f"{what}: {count} registers at offset {offset} of local buffer "
                              f"{ref.name!r} are out of bounds (it holds {ref.array.size})")
    start = ref.offset + offset
    return ref.array[start:start + count]


def _check_address(smem: Ref, offset: int, lane: int) -> None:
    if not 0 <= offset < smem.array.size:
        raise CollectiveError(f"ptx_ldmatrix: lane {lane} gives a row at element {offset} of "
                              f"shared buffer {smem.name!r}, outside it ({smem.array.size})")


def _check_row_alignment(smem: Ref, offset: int, lane: int) -> None:
    """Each row ``ldmatrix`` reads is 16 bytes, from a 16-byte aligned address."""
    size = smem.array.dtype.itemsize
    if offset * size % 16:
        raise CollectiveError(
            f"ptx_ldmatrix: lane {lane} gives a row at element {offset} of shared buffer "
            f"{smem.name!r} ({offset * size} bytes), not 16-byte aligned as ldmatrix requires")


_MMA_FORM = ("m16n8k16", "row", "col", "fp16", "fp16")


def _ptx_mma(call: WarpCall) -> None:
    form = tuple(call.lanes[0].args[:5])
    c_type = call.lanes[0].args[5]
    if form != _MMA_FORM or c_type not in ("fp32", "fp16"):
        raise CollectiveError(f"ptx_mma {'.'.join(map(str, form))} with {c_type} accumulators is "
                              "not supported (the emulator knows m16n8k16.row.col fp16 x fp16 "
                              "with fp32 or fp16 accumulators)")
    if len(call.lanes) != call.warp_size:
        raise CollectiveError(f"ptx_mma is executed by {len(call.lanes)} lanes; all "
                              f"{call.warp_size} must execute it together")
    a = np.zeros((16, 16), np.float32)
    b = np.zeros((16, 8), np.float32)
    c = np.zeros((16, 8), np.float32)
    regs = []
    for lane in call.lanes:
        args = lane.args
        ra = _span(_ref(args[6], "A of ptx_mma", REGISTERS), args[7], 8, "ptx_mma A")
        rb = _span(_ref(args[8], "B of ptx_mma", REGISTERS), args[9], 4, "ptx_mma B")
        rc = _span(_ref(args[10], "C of ptx_mma", REGISTERS), args[11], 4, "ptx_mma C")
        regs.append((lane.lane, rc))
        for i in range(8):
            a[mma_a_position(lane.lane, i)] = ra[i]
        for i in range(4):
            b[mma_b_position(lane.lane, i)] = rb[i]
            c[mma_c_position(lane.lane, i)] = rc[i]
    d = a @ b + c
    for lane, rc in regs:
        for i in range(4):
            rc[i] = d[mma_c_position(lane, i)]


def register() -> None:
    """Make the tensor-core ops warp-collective in the emulator (idempotent)."""
    for op, fn in (("tvm_fill_fragment", _fill), ("tvm_load_matrix_sync", _load),
                   ("tvm_store_matrix_sync", _store), ("tvm_mma_sync", _mma_sync),
                   ("ptx_ldmatrix", _ldmatrix), ("ptx_mma", _ptx_mma)):
        register_collective(op, fn)


register()

__all__ = ["ldmatrix_position", "mma_a_position", "mma_b_position", "mma_c_position", "register"]
