"""Run-time helpers that the generated interpreter code calls, and the namespace it runs in.

Why a fixed namespace: the translator (``translate_expr``/``translate_stmt``) emits Python source
that refers to these helpers by their ``_``-prefixed names, so the semantics of every operation
(C integer division, wrap-around, bfloat16 rounding) lives here once, in plain Python, and the
generated code stays short.

Value representation inside generated code:
- integer and bool scalars are Python ``int``/``bool``, always inside their dtype's range (the
  translator inserts wrap-around where bounds analysis cannot prove the result fits);
- float scalars are numpy scalars of their dtype (``np.float32`` ...), so every operation rounds
  to the dtype; bfloat16 values are ``np.float32`` holding a bfloat16-representable number;
- vectors are 1-D numpy arrays of the lanes (bfloat16 lanes as float32 arrays).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from tvmscript import bfloat16
from tvmscript.ir.dtype import DataType
from tvmscript.ir.dtype import integer_range


class InterpreterAssertError(RuntimeError):
    """An ``assert`` of the interpreted function failed (``index`` is its 1-based number)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


int_range = integer_range  # the values an integer (or bool) dtype holds


def wrap_text(text: str, dt: DataType) -> str:
    """Python source that wraps the integer ``text`` into ``dt`` (two's complement)."""
    mask = (1 << dt.bits) - 1
    if dt.is_uint:
        return f"(({text}) & {mask})"
    half = 1 << (dt.bits - 1)
    return f"(((({text}) + {half}) & {mask}) - {half})"


def np_dtype(dt: DataType) -> np.dtype:
    """The numpy dtype of one lane in memory (bfloat16 as uint16)."""
    return np.dtype(dt.numpy_name())


def value_np_dtype(dt: DataType) -> np.dtype:
    """The numpy dtype of one lane as a value (bfloat16 computed in float32)."""
    return np.dtype("float32") if dt.kind == "bfloat" else np_dtype(dt)


# ---------------------------------------------------------------- integer arithmetic


def _tdiv(a: int, b: int) -> int:
    """C division: the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _tmod(a: int, b: int) -> int:
    """C remainder: the sign follows the dividend."""
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def _vtdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(a.dtype)


def _vtmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r = np.abs(a) % np.abs(b)
    return np.where(a < 0, -r, r).astype(a.dtype)


def _wrap(x: int, lo: int, bits: int) -> int:
    """Wrap a Python int into the range starting at ``lo`` with ``bits`` bits."""
    return ((x - lo) & ((1 << bits) - 1)) + lo


def _f2i(x: Any, lo: int, bits: int) -> int:
    """float → integer as the CPU does: truncate toward zero; NaN/inf give the minimum."""
    f = float(x)
    if not math.isfinite(f):
        return min(0, lo)
    return _wrap(int(f), lo, bits)


def _popcount(x: int, bits: int) -> int:
    return (x & ((1 << bits) - 1)).bit_count()


def _clz(x: int, bits: int) -> int:
    return bits - (x & ((1 << bits) - 1)).bit_length()


def _vmin(a: Any, b: Any) -> Any:
    return np.where(a < b, a, b)


def _vmax(a: Any, b: Any) -> Any:
    return np.where(a > b, a, b)


def _vf2i(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Vector float → integer: truncation toward zero; NaN/inf lanes give the minimum."""
    info = np.iinfo(dtype)
    lo = min(0, info.min)
    finite = np.isfinite(x)
    truncated = np.trunc(np.where(finite, x, 0)).astype(np.int64 if info.min < 0 else np.uint64)
    return np.where(finite, truncated.astype(dtype), dtype.type(lo)).astype(dtype)


def _select(cond: Any, a: Any, b: Any) -> Any:
    """``Select``: both sides are already evaluated (they are the arguments)."""
    return a if cond else b


# ---------------------------------------------------------------- bfloat16


_f2bf = bfloat16.from_float32  # float32 -> bfloat16 bits (uint16), ties to even
_bf2f = bfloat16.to_float32  # bfloat16 bits -> float32
_bf = bfloat16.round_float32  # float32 rounded to bfloat16 precision


# ---------------------------------------------------------------- floats


def _reinterpret(x: Any, src: str, dst: str) -> Any:
    """Bit cast between dtypes of the same width (scalars become Python ints for integers)."""
    arr = np.asarray(x, dtype=src).view(dst)
    if arr.ndim == 0:
        value = arr[()]
        return value.item() if arr.dtype.kind in "iub" else value
    return arr


def _round_half_away(x: Any) -> Any:
    """``llvm.round`` / ``roundf``: halfway cases away from zero, in x's dtype."""
    a = np.asarray(x)
    out = (np.sign(a) * np.floor(np.abs(a.astype(np.float64)) + 0.5)).astype(a.dtype)
    return out[()] if out.ndim == 0 else out


def _fma(a: Any, b: Any, c: Any) -> Any:
    """Fused multiply-add: exact product, one rounding (computed in float64 for float32)."""
    dt = np.asarray(a).dtype
    out = (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64))
    out = out.astype(dt)
    return out[()] if out.ndim == 0 else out


def _vpdpbusd(acc: Any, a: Any, b: Any) -> Any:
    """x86 ``vpdpbusd``: each int32 lane of ``acc`` plus the dot product of four unsigned bytes
    of ``a`` with four signed bytes of ``b`` (wrapping at 32 bits, no saturation)."""
    acc = np.asarray(acc, np.int32)
    ua = np.asarray(a).view(np.uint8).astype(np.int64).reshape(-1, 4)
    sb = np.asarray(b).view(np.int8).astype(np.int64).reshape(-1, 4)
    total = acc.astype(np.int64) + (ua * sb).sum(axis=1)
    return (total & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def _erf(x: Any) -> Any:
    a = np.asarray(x)
    out = np.vectorize(math.erf, otypes=[np.float64])(a.astype(np.float64)).astype(a.dtype)
    return out[()] if out.ndim == 0 else out


def _sigmoid(x: Any) -> Any:
    one = np.asarray(x).dtype.type(1)
    return one / (one + np.exp(-x))


def _rsqrt(x: Any) -> Any:
    return np.asarray(x).dtype.type(1) / np.sqrt(x)


def _exp10(x: Any) -> Any:
    return np.power(np.asarray(x).dtype.type(10), x)


def _printf(fmt: str, *args: Any) -> int:
    """``printf`` through Python's %-formatting (close to C for the usual conversions)."""
    values = tuple(a.item() if isinstance(a, np.generic) else a for a in args)
    text = fmt % values if values else fmt
    sys.stdout.write(text)
    return len(text)


def _unsupported(what: str) -> Any:
    raise NotImplementedError(what)


def _oob(name: str, index: Any) -> None:
    raise IndexError(f"buffer {name}: index {index} is out of bounds")


def _chk(offset: Any, name: str) -> Any:
    """Reject negative offsets (numpy would silently wrap them around)."""
    if np.any(np.asarray(offset) < 0):
        _oob(name, offset)
    return offset


class Pointer:
    """What ``T.address_of(A[i])`` evaluates to: an array and an element offset."""

    __slots__ = ("array", "offset")

    def __init__(self, array: np.ndarray, offset: Any) -> None:
        self.array = array
        self.offset = offset

    def __repr__(self) -> str:
        return f"Pointer(offset={self.offset})"


def _fresh_storage(size: int, dtype: np.dtype) -> np.ndarray:
    """Storage of a new allocation: NaN for floats, so that a read of an element never written
    shows in the result (as garbage would in compiled code) instead of passing as zero."""
    if dtype.kind == "f":
        return np.full(size, np.nan, dtype)
    return np.zeros(size, dtype)


def base_namespace() -> dict[str, Any]:
    """The globals every generated function runs with."""
    ns: dict[str, Any] = {
        "_np": np, "_math": math, "_Pointer": Pointer, "_AssertError": InterpreterAssertError,
    }
    for name, value in list(globals().items()):
        if name.startswith("_") and callable(value) and not name.startswith("__"):
            ns[name] = value
    from .amx import namespace as amx_namespace

    ns.update(amx_namespace())
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "uint16", "uint32", "uint64", "bool_"):
        ns["_" + name] = getattr(np, name)
    return ns
