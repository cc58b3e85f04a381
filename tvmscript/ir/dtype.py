"""Data types: scalar and vector element types, spelled as in TVMScript (``float32x16``).

A ``DataType`` is interned: ``DataType.parse`` returns the same object for the same spelling, so
nodes can compare dtypes cheaply and the printer gets the canonical spelling back with ``str``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_KINDS = ("int", "uint", "float", "bfloat", "bool", "handle", "void")
_VALID_BITS = {
    "int": (8, 16, 32, 64),
    "uint": (1, 8, 16, 32, 64),
    "float": (16, 32, 64),
    "bfloat": (16,),
    "bool": (1,),
    "handle": (64,),
    "void": (0,),
}
_PATTERN = re.compile(r"^(int|uint|float|bfloat|bool|handle|void)(\d*)(?:x(\d+))?$")


class DTypeError(ValueError):
    """Raised for a dtype spelling that names no data type."""


@dataclass(frozen=True, slots=True)
class DataType:
    kind: str
    bits: int
    lanes: int = 1

    @staticmethod
    def parse(text: "str | DataType") -> "DataType":
        if isinstance(text, DataType):
            return text
        return _parse(str(text))

    def __str__(self) -> str:
        if self.kind in ("bool", "handle", "void"):
            base = self.kind
        else:
            base = f"{self.kind}{self.bits}"
        return base if self.lanes == 1 else f"{base}x{self.lanes}"

    def __repr__(self) -> str:
        return f"DataType({str(self)!r})"

    def with_lanes(self, lanes: int) -> "DataType":
        return _make(self.kind, self.bits, lanes)

    def element_of(self) -> "DataType":
        return self.with_lanes(1)

    @property
    def is_int(self) -> bool:
        return self.kind == "int"

    @property
    def is_uint(self) -> bool:
        return self.kind == "uint"

    @property
    def is_integer(self) -> bool:
        """Integers of either sign (bool excluded)."""
        return self.kind in ("int", "uint")

    @property
    def is_float(self) -> bool:
        return self.kind in ("float", "bfloat")

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    @property
    def is_handle(self) -> bool:
        return self.kind == "handle"

    @property
    def is_void(self) -> bool:
        return self.kind == "void"

    @property
    def is_vector(self) -> bool:
        return self.lanes > 1

    @property
    def itemsize(self) -> int:
        """Bytes one lane occupies in memory (bool takes one byte, as in numpy)."""
        return max(1, self.bits // 8)

    def numpy_name(self) -> str:
        """The numpy dtype name of one lane (bfloat16 is stored as uint16)."""
        if self.kind == "bool":
            return "bool"
        if self.kind == "bfloat":
            return "uint16"
        return f"{self.kind}{self.bits}"


@lru_cache(maxsize=None)
def _make(kind: str, bits: int, lanes: int) -> DataType:
    return DataType(kind, bits, lanes)


@lru_cache(maxsize=None)
def _parse(text: str) -> DataType:
    match = _PATTERN.match(text)
    if not match:
        raise DTypeError(f"unknown dtype {text!r}; expected e.g. 'float32', 'int8', 'float32x16'")
    kind, bits_text, lanes_text = match.groups()
    default_bits = {"bool": 1, "handle": 64, "void": 0}.get(kind)
    if bits_text:
        bits = int(bits_text)
        if kind in ("bool", "void", "handle"):
            raise DTypeError(f"unknown dtype {text!r}: {kind} takes no bit width")
    elif default_bits is not None:
        bits = default_bits
    else:
        raise DTypeError(f"unknown dtype {text!r}: {kind} needs a bit width, e.g. '{kind}32'")
    if bits not in _VALID_BITS[kind]:
        raise DTypeError(f"unknown dtype {text!r}: {kind} comes in {_VALID_BITS[kind]} bits")
    lanes = int(lanes_text) if lanes_text else 1
    if lanes < 1:
        raise DTypeError(f"unknown dtype {text!r}: a vector needs at least one lane")
    return _make(kind, bits, lanes)


def integer_range(dtype: DataType) -> tuple[int, int]:
    """The values one lane of an integer (or bool) dtype holds: the one rule for the parser,
    the arithmetic analyzer, the interpreter and the argument checks."""
    if dtype.is_bool:
        return 0, 1
    if dtype.is_uint:
        return 0, (1 << dtype.bits) - 1
    return -(1 << (dtype.bits - 1)), (1 << (dtype.bits - 1)) - 1


# bfloat16 has float32's exponent, so nearly float32's range
_LARGEST_FINITE = {("float", 16): 65504.0, ("float", 32): 3.4028234663852886e38,
                   ("float", 64): 1.7976931348623157e308, ("bfloat", 16): 3.3895313892515355e38}


def largest_finite(dtype: DataType) -> float:
    """The largest finite value of a float dtype (infinity for one this table does not know)."""
    return _LARGEST_FINITE.get((dtype.kind, dtype.bits), float("inf"))


def dtype(text: "str | DataType") -> DataType:
    """Shorthand for ``DataType.parse``."""
    return DataType.parse(text)


def is_valid_dtype(text: str) -> bool:
    try:
        _parse(text)
    except DTypeError:
        return False
    return True


def from_numpy(np_dtype) -> DataType:
    """The DataType of a numpy dtype (bool, int*, uint*, float16/32/64)."""
    name = str(np_dtype)
    return dtype("bool" if name == "bool" else name)


INT32 = dtype("int32")
INT64 = dtype("int64")
FLOAT32 = dtype("float32")
BOOL = dtype("bool")
HANDLE = dtype("handle")
VOID = dtype("void")
