"""What the AMX tile intrinsics compute (Intel SDM, "TDPBF16PS", "TDPBSSD/TDPBSUD/..."),
so tensorized AMX kernels are checked on any machine.

A tile value is an ``int32`` array of 256 lanes holding 16 rows of 64 bytes, as in the script
(``int32x256``). Loads zero what lies outside the shape; stores write only inside it. Memory is
addressed through ``Pointer`` (an array and an element offset) with strides in bytes.

``tdpbf16ps`` follows the SDM's order of rounding: for each output element, the even and the
odd bfloat16 pairs accumulate separately from zero in float32 (one rounding per fused
multiply-add), then their sum is added to the destination; input denormals (the destination's
too) are read as zero and denormal results are flushed to zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..amx import MAX_COLSB as COLSB
from ..amx import MAX_ROWS as ROWS
from ..amx import limit_problem

_TINY = np.float32(np.finfo(np.float32).tiny)  # smallest normal float32


def _memory(ptr: Any) -> tuple[np.ndarray, int]:
    """The bytes behind ``ptr`` and the byte offset it points at."""
    array = np.asarray(ptr.array)
    if array.ndim != 1 or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array).reshape(-1)
    return array.view(np.uint8), int(ptr.offset) * array.itemsize


def _byte_indices(rows: int, colsb: int, offset: int, stride: int, size: int) -> np.ndarray:
    _check_shape(rows, colsb)
    idx = offset + np.arange(rows)[:, None] * int(stride) + np.arange(colsb)[None, :]
    if idx.min() < 0 or idx.max() >= size:
        raise IndexError(f"AMX tile access of {rows} rows x {colsb} bytes (stride {stride} bytes) "
                         f"at byte {offset} runs outside its buffer of {size} bytes")
    return idx


def _check_shape(rows: int, colsb: int) -> None:
    _check_limits(("rows", rows), ("colsb", colsb))


def _check_limits(*dims: tuple[str, int]) -> None:
    for kind, value in dims:
        problem = limit_problem(kind, int(value))
        if problem is not None:
            raise ValueError(f"AMX tile: {problem}")


def _as_bytes(tile: Any) -> np.ndarray:
    return np.asarray(tile, np.int32).view(np.uint8).reshape(ROWS, COLSB)


def _as_tile(rows_bytes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows_bytes, np.uint8).reshape(-1).view(np.int32).copy()


def _amx_tileload(rows: int, colsb: int, ptr: Any, stride: int) -> np.ndarray:
    mem, offset = _memory(ptr)
    out = np.zeros((ROWS, COLSB), np.uint8)
    out[:rows, :colsb] = mem[_byte_indices(rows, colsb, offset, stride, mem.size)]
    return _as_tile(out)


def _amx_tilezero(rows: int, colsb: int) -> np.ndarray:
    _check_shape(rows, colsb)
    return np.zeros(ROWS * COLSB // 4, np.int32)


def _amx_tilestore(rows: int, colsb: int, ptr: Any, stride: int, tile: Any) -> None:
    mem, offset = _memory(ptr)
    if not mem.flags.writeable:
        raise ValueError("AMX tile store into a read-only buffer")
    mem[_byte_indices(rows, colsb, offset, stride, mem.size)] = _as_bytes(tile)[:rows, :colsb]


def _dot_shapes(m: int, n: int, k: int) -> None:
    _check_limits(("rows", m), ("colsb", n), ("k", k))  # k <= 64 bytes: B has k / 4 <= 16 rows


_SIGNS = {"ss": (np.int8, np.int8), "su": (np.int8, np.uint8),
          "us": (np.uint8, np.int8), "uu": (np.uint8, np.uint8)}


def _amx_tdpb(signs: str, m: int, n: int, k: int, c: Any, a: Any, b: Any) -> np.ndarray:
    """``tdpb{s,u}{s,u}d``: int32 lanes += the dot product of 4 bytes of A with 4 of B."""
    _dot_shapes(m, n, k)
    ta, tb = _SIGNS[signs]
    av = _as_bytes(a)[:m, :k].view(ta).astype(np.int64).reshape(m, k // 4, 4)
    bv = _as_bytes(b)[: k // 4, :n].view(tb).astype(np.int64).reshape(k // 4, n // 4, 4)
    acc = _as_bytes(c).view(np.int32)[:m, : n // 4].astype(np.int64)
    acc += np.einsum("mkj,knj->mn", av, bv)
    out = np.zeros((ROWS, COLSB // 4), np.int32)
    out[:m, : n // 4] = (acc & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    return out.reshape(-1)


def _ftz(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < _TINY, np.float32(0), x).astype(np.float32)


def _bf16_as_f32(bits: np.ndarray) -> np.ndarray:
    return _ftz((bits.astype(np.uint32) << 16).view(np.float32))


def _amx_tdpbf16ps(m: int, n: int, k: int, c: Any, a: Any, b: Any) -> np.ndarray:
    """``tdpbf16ps``: float32 lanes += the dot product of bfloat16 pairs (see the module)."""
    _dot_shapes(m, n, k)
    pairs, cols = k // 4, n // 4
    av = _bf16_as_f32(_as_bytes(a)[:m, :k].view(np.uint16).reshape(m, pairs, 2))
    bv = _bf16_as_f32(_as_bytes(b)[:pairs, :n].view(np.uint16).reshape(pairs, cols, 2))
    temp = np.zeros((m, cols, 2), np.float32)
    a64, b64 = av.astype(np.float64), bv.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for p in range(pairs):
            # a fused multiply-add: the product of two bfloat16 is exact in float64, and float64
            # (53 >= 2 * 24 + 2 bits) rounds the sum of two such values to float32 as one
            # rounding would
            temp = _ftz((temp + a64[:, p, None, :] * b64[None, p, :, :]).astype(np.float32))
        acc = _ftz(_as_bytes(c).view(np.float32)[:m, :cols])
        result = _ftz(acc + _ftz(temp[..., 0] + temp[..., 1]))
    out = np.zeros((ROWS, COLSB // 4), np.float32)
    out[:m, :cols] = result
    return out.reshape(-1).view(np.int32)


# callee -> (helper in the generated code, leading arguments the helper takes first)
HELPERS = {
    "llvm.x86.tileloadd64.internal": ("_amx_tileload", ""),
    "llvm.x86.tileloaddt164.internal": ("_amx_tileload", ""),
    "llvm.x86.tilezero.internal": ("_amx_tilezero", ""),
    "llvm.x86.tilestored64.internal": ("_amx_tilestore", ""),
    "llvm.x86.tdpbssd.internal": ("_amx_tdpb", "'ss'"),
    "llvm.x86.tdpbsud.internal": ("_amx_tdpb", "'su'"),
    "llvm.x86.tdpbusd.internal": ("_amx_tdpb", "'us'"),
    "llvm.x86.tdpbuud.internal": ("_amx_tdpb", "'uu'"),
    "llvm.x86.tdpbf16ps.internal": ("_amx_tdpbf16ps", ""),
}


def _amx_invalid(message: str) -> None:
    raise ValueError(message)


def namespace() -> dict[str, Any]:
    return {"_amx_tileload": _amx_tileload, "_amx_tilezero": _amx_tilezero,
            "_amx_tilestore": _amx_tilestore, "_amx_tdpb": _amx_tdpb,
            "_amx_tdpbf16ps": _amx_tdpbf16ps, "_amx_invalid": _amx_invalid}
