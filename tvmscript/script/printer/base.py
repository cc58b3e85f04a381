"""The printer's core: output lines, indentation, per-class dispatch, literals and locations.

Each kind of IR (expressions, statements, graph-level nodes) lives in a mixin whose methods are
named ``<prefix>_<ClassName>``; ``lookup`` finds the method for a node class once (walking the
class's bases) and caches it, so printing costs one dict lookup per node.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...ir.node import Node
from .names import NameTable

_CACHE: dict[tuple[type, str, type], Callable[..., Any] | None] = {}


def lookup(printer_cls: type, prefix: str, node_cls: type) -> Callable[..., Any] | None:
    """The method ``<prefix>_<Base>`` of ``printer_cls`` for the nearest base of ``node_cls``."""
    key = (printer_cls, prefix, node_cls)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    method = None
    for base in node_cls.__mro__:
        method = getattr(printer_cls, f"{prefix}_{base.__name__}", None)
        if method is not None:
            break
    _CACHE[key] = method
    return method


def str_lit(text: str) -> str:
    """A double-quoted Python string literal (JSON escapes are valid Python escapes)."""
    return json.dumps(text)


def float_lit(value: float) -> str:
    """A Python float as text that evaluates back to the same float, inf/nan included."""
    if math.isfinite(value):
        return repr(value)
    return f'float("{value}")'


DIALECTS = ("classic", "tvm")


class BasePrinter:
    """Lines, indentation, names and source locations shared by every mixin.

    ``dialect`` picks the spelling: ``"classic"`` TVMScript, or ``"tvm"`` for what Apache TVM
    0.27 parses; mixins test ``self.tvm`` where the two differ.
    """

    def __init__(self, with_locations: bool = False, dialect: str = "classic") -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown script dialect {dialect!r}; expected one of "
                             f"{', '.join(map(repr, DIALECTS))}")
        self.dialect = dialect
        self.tvm = dialect == "tvm"
        self.lines: list[str] = []
        self.ind = ""
        self.names = NameTable()
        self.locs: set[int] | None = set() if with_locations else None  # ids already placed
        self.loc_list: list[list[int]] = []  # [id, line index] pairs, shifted on insertion

    # ------------------------------------------------------------ output

    def emit(self, text: str) -> None:
        self.lines.append(self.ind + text)

    def push(self) -> None:
        self.ind += "    "

    def pop(self) -> None:
        self.ind = self.ind[:-4]

    def insert_lines(self, index: int, texts: list[str]) -> None:
        """Insert whole lines at ``index`` (declarations found while printing the body)."""
        if not texts:
            return
        self.lines[index:index] = texts
        k = len(texts)
        for entry in self.loc_list:
            if entry[1] >= index:
                entry[1] += k

    def loc(self, node: Any) -> None:
        """Record that ``node`` is printed on the line being built."""
        if self.locs is not None and id(node) not in self.locs:
            self.locs.add(id(node))
            self.loc_list.append([id(node), len(self.lines)])

    def locations(self) -> dict[int, int]:
        return {key: index + 1 for key, index in self.loc_list}

    def text(self) -> str:
        return "\n".join(self.lines)

    # ------------------------------------------------------------ plain values

    def value(self, v: Any) -> str:
        """A Python-level value (annotations, attributes): literals, containers, IR nodes."""
        if isinstance(v, Node):
            return self.node_value(v)
        if v is None or isinstance(v, bool):
            return repr(v)
        if isinstance(v, int):
            return repr(v)
        if isinstance(v, float):
            return float_lit(v)
        if isinstance(v, str):
            return str_lit(v)
        if isinstance(v, tuple):
            inner = ", ".join(self.value(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{self.value(k)}: {self.value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, np.ndarray):
            return self.value(v.tolist())
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            return self.value(v.item())
        return repr(v)

    def node_value(self, v: Node) -> str:  # overridden by the full printer
        return repr(v)
