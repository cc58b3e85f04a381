"""State shared by the expression and statement translators of one function.

Why one object: names of variables, the constants hoisted into the generated module's globals,
what is known about integer ranges (so index arithmetic needs no wrap-around code) and how each
buffer is laid out (offset and strides, which ``match_buffer`` views override) are all decided
while walking the function once, and both translators read and extend them.
"""

from __future__ import annotations

import itertools
import linecache
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from tvmscript.ir import Buffer, Var
from tvmscript.ir.dtype import DataType

from .values import base_namespace, int_range

Bounds = tuple[int, int]


@dataclass(frozen=True)
class Code:
    """Python source of a value, with the integer range it lies in (None for non-integers)."""

    text: str
    bounds: Bounds | None = None

    @property
    def is_const(self) -> bool:
        return self.bounds is not None and self.bounds[0] == self.bounds[1]


@dataclass
class Layout:
    """Where ``buffer[i, j]`` lives in its flat array: ``offset + i * strides[0] + ...``."""

    array: str
    offset: Code
    strides: list[Code]


_IDENT = re.compile(r"\W")


class Context:
    """Names, constants, integer bounds and buffer layouts of one function being translated."""

    def __init__(self, hoist_deep: bool = False) -> None:
        # lines defining deep sub-expressions, emitted before the statement that uses them
        # (None: this context's code has no statements to put them before)
        self.pending: list[str] | None = [] if hoist_deep else None
        self.namespace: dict[str, Any] = base_namespace()
        self.names: dict[int, str] = {}  # id(Var or Buffer) -> local name
        self.keep: list[Any] = []  # keep named nodes alive so ids stay unique
        self.bounds: dict[Var, Bounds] = {}
        self.defined: set[Var] = set()
        self.layouts: dict[Buffer, Layout] = {}
        self.storage_dtype: dict[Var, DataType] = {}  # data var -> dtype of its array
        self.buffer_arrays: dict[Buffer, str] = {}  # buffers that view storage as another dtype
        self._const_ids: dict[tuple, str] = {}
        self._counter = 0

    # ------------------------------------------------------------ names

    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{_IDENT.sub('_', hint)}_{self._counter}"

    def name_of(self, obj: Any, prefix: str = "v_") -> str:
        """The local name of a Var/Buffer (made on first use)."""
        key = id(obj)
        name = self.names.get(key)
        if name is None:
            name = self.fresh(prefix + getattr(obj, "name", "x"))
            self.names[key] = name
            self.keep.append(obj)
        return name

    def const(self, value: Any, key: tuple | None = None) -> str:
        """Hoist a value (a numpy scalar or array) into the generated module's globals."""
        if key is not None and key in self._const_ids:
            return self._const_ids[key]
        name = self.fresh("_k")
        self.namespace[name] = value
        if key is not None:
            self._const_ids[key] = name
        return name

    def take_pending(self) -> list[str]:
        """The lines that must run right before the next statement (and forget them)."""
        if not self.pending:
            return []
        lines, self.pending = self.pending, []
        return lines

    def dtype_const(self, np_dtype: Any) -> str:
        """The hoisted name of a numpy dtype object (for ``_np.zeros(n, <name>)``)."""
        return self.const(np_dtype, ("npdtype", np_dtype.name))

    # ------------------------------------------------------------ variables

    def define(self, var: Var, bounds: Bounds | None = None) -> str:
        """Record that ``var`` is bound from here on; return its local name."""
        self.defined.add(var)
        if bounds is not None and var.dtype.lanes == 1 and not var.dtype.is_float:
            lo, hi = int_range(var.dtype)
            self.bounds[var] = (max(lo, bounds[0]), min(hi, bounds[1]))
        return self.name_of(var)

    def var_bounds(self, var: Var) -> Bounds | None:
        if var.dtype.is_float or var.dtype.is_handle:
            return None
        return self.bounds.get(var, int_range(var.dtype))


_compiled = itertools.count()
_registered: deque[str] = deque()
_KEEP_SOURCES = 512  # the newest generated sources whose lines tracebacks can show


def source_file(label: str, source: str) -> str:
    """A unique file name for generated ``source``, registered with ``linecache``, so that a
    traceback through generated code shows its lines (tools such as pytest fail to render
    frames whose file has no lines). Only the newest few hundred stay registered."""
    filename = f"{label[:-1]} #{next(_compiled)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    _registered.append(filename)
    while len(_registered) > _KEEP_SOURCES:
        linecache.cache.pop(_registered.popleft(), None)
    return filename
