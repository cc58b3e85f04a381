"""bfloat16 arrays for numpy, which has no such dtype: their bits, held in ``uint16`` arrays.

Kernels take and return bfloat16 buffers as ``uint16`` arrays of the bits::

    a16 = tvmscript.bfloat16.from_float32(a)      # round to nearest even
    back = tvmscript.bfloat16.to_float32(a16)     # exact
"""

from __future__ import annotations

from typing import Any

import numpy as np

_QUIET_NAN = np.uint16(0x7FC0)


def from_float32(x: Any) -> Any:
    """The bfloat16 bits (``uint16``) nearest to float32 value(s), ties to even; NaN stays NaN."""
    arr = np.asarray(x, dtype=np.float32)
    bits = arr.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    out = np.where(np.isnan(arr), _QUIET_NAN, rounded).astype(np.uint16)
    return out[()] if out.ndim == 0 else out


def to_float32(bits: Any) -> Any:
    """The float32 value(s) of bfloat16 bits (``uint16``); every bfloat16 is a float32."""
    arr = (np.asarray(bits, dtype=np.uint32) << np.uint32(16)).view(np.float32)
    return arr[()] if arr.ndim == 0 else arr


def round_float32(x: Any) -> Any:
    """float32 value(s) rounded to bfloat16 precision, kept as float32."""
    return to_float32(from_float32(x))


__all__ = ["from_float32", "round_float32", "to_float32"]
