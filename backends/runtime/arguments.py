"""Checking and converting the arguments of a compiled kernel at every call.

Everything that does not depend on the call (ctypes prototype, expected dtypes and shapes, the
order size variables are bound in) is prepared once per kernel; the per-call path for a numpy
array of the expected static shape is a handful of attribute reads. A wrong argument is a
``TypeError``/``ValueError`` naming the function and the parameter, never a crash.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tvmscript.ir.dtype import dtype as parse_dtype, integer_range, largest_finite

from .spec import KernelSpec, ParamSpec, evaluate, show

_CTYPES = {"int8": ctypes.c_int8, "int16": ctypes.c_int16, "int32": ctypes.c_int32,
           "int64": ctypes.c_int64, "uint8": ctypes.c_uint8, "uint16": ctypes.c_uint16,
           "uint32": ctypes.c_uint32, "uint64": ctypes.c_uint64, "float32": ctypes.c_float,
           "float64": ctypes.c_double, "bool": ctypes.c_bool, "float16": ctypes.c_uint16,
           "bfloat16": ctypes.c_uint16, "handle": ctypes.c_void_p}

_address_at = ctypes.c_void_p.from_address


def _probe_data_offset() -> int | None:
    """Where ``PyArrayObject`` keeps its data pointer (16 on CPython 64-bit), checked here."""
    probe = np.arange(3.0)[1:]
    offset = 2 * ctypes.sizeof(ctypes.c_void_p)
    return offset if _address_at(id(probe) + offset).value == probe.ctypes.data else None


_DATA_OFFSET = _probe_data_offset()


def data_pointer(arr: np.ndarray) -> int:
    """The address of ``arr``'s first element (50× cheaper than ``arr.ctypes.data``)."""
    if _DATA_OFFSET is not None:
        return _address_at(id(arr) + _DATA_OFFSET).value or 0
    return arr.__array_interface__["data"][0]


def ctype_of(dtype: str) -> type:
    return _CTYPES[dtype]


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype arrays of ``dtype`` elements have (bfloat16 as uint16)."""
    return np.dtype("uint16" if dtype == "bfloat16" else dtype)


def as_array(arg: Any, where: str) -> np.ndarray:
    """A zero-copy numpy view of ``arg`` (an ndarray, ``__array_interface__`` or DLPack)."""
    if isinstance(arg, np.ndarray):
        return arg
    if hasattr(arg, "__array_interface__") or hasattr(arg, "__array_struct__"):
        return np.asarray(arg)
    if hasattr(arg, "__dlpack__"):
        return np.from_dlpack(arg)
    raise TypeError(f"{where} is a {type(arg).__name__}; expected a numpy array or an object "
                    "with __array_interface__ or __dlpack__")


def scalar_converter(kernel: str, p: ParamSpec) -> Callable[[Any], Any]:
    """Checks a scalar argument (``check_scalar``) and converts float16/bfloat16 to their bits,
    the form the kernel takes them in."""
    where = f"{kernel}: argument '{p.name}'"
    if p.dtype == "float16":
        return lambda x: int(np.array(check_scalar(where, p.dtype, x), np.float16).view(np.uint16))
    if p.dtype == "bfloat16":
        return lambda x: bfloat16_bits(check_scalar(where, p.dtype, x))
    if p.dtype == "bool":
        return lambda x: bool(check_scalar(where, p.dtype, x))
    return lambda x: check_scalar(where, p.dtype, x)


# what a scalar parameter of each kind takes; shown in the error so the rule is discoverable
INT_RULE = "an int, bool or numpy integer (floats are refused even when whole: use int(x))"
FLOAT_RULE = "a real number: int, float, numpy integer or floating (not bool or complex)"
BOOL_RULE = "a bool, numpy bool, or the integer 0 or 1"


def check_scalar(where: str, dtype: str, x: Any) -> int | float:
    """The Python value of scalar argument ``x`` for a ``dtype`` parameter, refused with a
    TypeError/ValueError naming ``where``, the dtype and the rule when it is the wrong kind of
    number or out of range. ctypes would wrap 2**31 to -2**31, and a finite float beyond the
    dtype's range would become infinity: a value is never wrapped, truncated or overflowed.
    The compiled runtime and the interpreter share this rule."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if dtype.startswith(("float", "bfloat")):
        return _check_float(where, dtype, x)
    return _check_int(where, dtype, x)


def _check_int(where: str, dtype: str, x: Any) -> int:
    if not isinstance(x, (int, np.integer, np.bool_)):  # bool is an int
        _refuse_kind(where, dtype, x, BOOL_RULE if dtype == "bool" else INT_RULE)
    value = int(x)
    lo, hi = integer_range(parse_dtype(dtype))
    if not lo <= value <= hi:
        raise ValueError(f"{where} = {value} is out of range for {dtype} [{lo}, {hi}]")
    return value


def _check_float(where: str, dtype: str, x: Any) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer,
                                                             np.floating)):
        _refuse_kind(where, dtype, x, FLOAT_RULE)
    try:
        value = float(x)
    except OverflowError:  # an int beyond float64
        value = math.inf
    largest = largest_finite(parse_dtype(dtype))
    given_finite = not isinstance(x, (float, np.floating)) or bool(np.isfinite(x))
    if given_finite and not abs(value) <= largest:
        raise ValueError(f"{where} = {x} is out of range for {dtype} (largest finite "
                         f"{largest:.8g}; pass inf to mean infinity)")
    return value


def _refuse_kind(where: str, dtype: str, x: Any, rule: str) -> None:
    article = "an" if dtype[0] in "aeiou" else "a"
    raise TypeError(f"{where} is a {type(x).__name__} but the kernel expects {article} {dtype} "
                    f"scalar: {rule}")


def bfloat16_bits(value: float) -> int:
    bits = int(np.array(value, np.float32).view(np.uint32))
    if (bits & 0x7FFFFFFF) > 0x7F800000:
        return (bits >> 16) | 0x40
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


class BufferChecker:
    """Validates one buffer argument and yields its data pointer."""

    def __init__(self, kernel: str, p: ParamSpec) -> None:
        self.kernel, self.p = kernel, p
        self.where = f"{kernel}: argument '{p.name}'"
        self.dtype = numpy_dtype(p.dtype)
        self.itemsize = self.dtype.itemsize
        self.ndim = len(p.shape)
        self.static_shape = tuple(p.shape) if all(isinstance(s, int) for s in p.shape) else None
        self.contiguous_only = p.strides is None

    def fast(self, arg: Any) -> int | None:
        """The pointer when ``arg`` is a plain ndarray that needs no further checks, else None."""
        if (type(arg) is np.ndarray and arg.dtype is self.dtype and arg.shape == self.static_shape
                and arg.flags.c_contiguous and (not self.p.writable or arg.flags.writeable)):
            ptr = data_pointer(arg)
            if ptr % self.itemsize == 0:
                return ptr
        return None

    def check(self, arr: np.ndarray, env: dict[str, int], deferred: list) -> int:
        """Full check of ``arr`` (binding size variables in ``env``); returns the pointer."""
        p = self.p
        if arr.ndim != self.ndim:
            raise ValueError(f"{self.where} has rank {arr.ndim} (shape {arr.shape}) but the "
                             f"kernel expects rank {self.ndim}: {self._expected(env)}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{self.where} has dtype {arr.dtype} but the kernel expects {p.dtype}"
                            + (" (stored as uint16)" if p.dtype == "bfloat16" else ""))
        for dim, entry in enumerate(p.shape):
            self._match(entry, arr.shape[dim], env, deferred, "shape", arr.shape)
        self._check_layout(arr, env, deferred)
        if p.writable and not arr.flags.writeable:
            raise ValueError(f"{self.where} is read-only but the kernel writes to it")
        ptr = data_pointer(arr) if type(arr) is np.ndarray else arr.__array_interface__["data"][0]
        if ptr % self.itemsize:
            raise ValueError(f"{self.where} is not aligned to its {self.itemsize}-byte elements")
        return ptr

    def _check_layout(self, arr: np.ndarray, env: dict[str, int], deferred: list) -> None:
        if self.contiguous_only:
            if not arr.flags.c_contiguous:
                raise ValueError(f"{self.where} is not C-contiguous (strides {arr.strides}); "
                                 "pass np.ascontiguousarray(...)")
            return
        for dim, entry in enumerate(self.p.strides):
            stride, rem = divmod(arr.strides[dim], self.itemsize)
            if rem:
                raise ValueError(f"{self.where} has strides {arr.strides} that are not a "
                                 f"multiple of its element size {self.itemsize}")
            if arr.shape[dim] > 1 or not isinstance(entry, int):
                self._match(entry, stride, env, deferred, "strides (in elements)",
                            tuple(s // self.itemsize for s in arr.strides))

    def _match(self, entry, actual: int, env, deferred, what: str, got: tuple) -> None:
        if isinstance(entry, int):
            if entry != actual:
                self._mismatch(what, got, env)
        elif isinstance(entry, str):
            bound = env.setdefault(entry, actual)
            if bound != actual:
                self._mismatch(what, got, env)
        else:
            deferred.append((self, entry, actual, what, got))

    def _mismatch(self, what: str, got: tuple, env: dict[str, int]) -> None:
        raise ValueError(f"{self.where} has {what} {got} but the kernel expects "
                         f"{self._expected(env, what)}")

    def _expected(self, env: dict[str, int], what: str = "shape") -> str:
        entries = self.p.strides if what.startswith("strides") else self.p.shape
        text = "(" + ", ".join(show(e) for e in entries) + ("," if len(entries) == 1 else "") + ")"
        names = sorted({n for n in env if n in text})
        if names:
            text += " with " + ", ".join(f"{n} = {env[n]}" for n in names)
        return text


def check_deferred(deferred: list, env: dict[str, int]) -> None:
    """Shape entries that are expressions of size variables, once all are bound."""
    for checker, entry, actual, what, got in deferred:
        expected = evaluate(entry, env)
        if expected is not None and expected != actual:
            checker._mismatch(what, got, env)


def size_var_values(spec: KernelSpec, env: dict[str, int]) -> list[int]:
    """The trailing arguments of the kernel (signature.py): element offsets are always 0, as
    the pointer passed already points at the first element."""
    return [0 if s.field == "elem_offset" else env[s.name] for s in spec.size_vars]
