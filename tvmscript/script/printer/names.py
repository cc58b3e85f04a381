"""Readable, unique names for variables and buffers within one printed function.

Names are handed out in order of definition, so the same IR always prints the same text, and a
re-parsed program (whose names are already unique) prints with exactly the same names again.
"""

from __future__ import annotations

import keyword
import re
from functools import lru_cache
from typing import Any

# names the printed text itself uses: shadowing one of them would change what the text means
RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(
    {"T", "R", "I", "cls", "range", "float", "Module", "True", "False", "None", "_"}
)
_NOT_WORD = re.compile(r"\W")


@lru_cache(maxsize=4096)
def identifier(hint: str) -> str:
    """``hint`` made a valid Python identifier (before reserved names and duplicates)."""
    name = hint if hint.isidentifier() else _NOT_WORD.sub("_", hint)
    if not name:
        return "v"
    if name[0].isdigit():
        name = "v_" + name
    return name


class NameTable:
    """Maps IR objects (compared by identity) to their printed names."""

    __slots__ = ("_next", "names", "used")

    def __init__(self) -> None:
        self.names: dict[Any, str] = {}
        self.used: set[str] = set(RESERVED)
        self._next: dict[str, int] = {}

    def define(self, obj: Any, hint: str) -> str:
        """Give ``obj`` a fresh name based on ``hint`` (``i``, ``i_1``, ``i_2``, ...)."""
        base = identifier(hint)
        name = base
        used = self.used
        if name in used:
            k = self._next.get(base, 1)
            name = f"{base}_{k}"
            while name in used:
                k += 1
                name = f"{base}_{k}"
            self._next[base] = k + 1
        used.add(name)
        self.names[obj] = name
        return name

    def alias(self, obj: Any, text: str) -> None:
        """Print ``obj`` as ``text`` (``A.data``) without reserving a name."""
        self.names[obj] = text

    def get(self, obj: Any) -> str | None:
        return self.names.get(obj)
