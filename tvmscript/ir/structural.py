"""Structural equality and hashing: the same program up to the renaming of bound variables.

Variables and buffers are matched where they are defined (fields declared with ``defines()``:
loop variables, let variables, block iterators, parameters, allocated and matched buffers,
graph bindings). A pair met first at its definition is recorded, and every later use must
follow the same pairing. Free variables (never defined inside the compared objects) must be the
very same object unless ``map_free_vars`` is set. Names never matter, except block names,
which schedules use to find blocks.

``structural_hash`` numbers bound variables in order of definition, so that
``structural_equal(a, b)`` implies ``structural_hash(a) == structural_hash(b)``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .buffer import Buffer
from .expr import Var
from .graph import GraphVar
from .node import Node

# the field that only names a variable or buffer: it never makes two programs differ
_SKIP = {"name"}


class StructuralMismatch(AssertionError):
    """Raised by ``assert_structural_equal``; ``path`` is where the objects first differ."""

    def __init__(self, path: str, lhs: Any, rhs: Any, reason: str, lhs_root: Any, rhs_root: Any):
        self.path, self.lhs, self.rhs, self.reason = path, lhs, rhs, reason
        super().__init__(
            f"structural mismatch at {path}: {reason}\n"
            f"  lhs{path[4:]}: {_short(lhs)}\n  rhs{path[4:]}: {_short(rhs)}\n"
            f"--- lhs ---\n{_script(lhs_root)}\n--- rhs ---\n{_script(rhs_root)}"
        )


class _Differ(Exception):
    def __init__(self, lhs: Any, rhs: Any, reason: str) -> None:
        self.lhs, self.rhs, self.reason = lhs, rhs, reason


def _script(obj: Any) -> str:
    try:
        return obj.script() if isinstance(obj, Node) else repr(obj)
    except Exception:  # the message must be produced even for objects that cannot print
        return repr(type(obj))


def _short(obj: Any) -> str:
    text = _script(obj).strip()
    return text if len(text) < 400 else text[:400] + " ..."


class _Equal:
    def __init__(self, map_free_vars: bool) -> None:
        self.map_free = map_free_vars
        self.lmap: dict[int, Any] = {}
        self.rmap: dict[int, Any] = {}
        self.path: list[str] = ["root"]
        self.keep: list[Any] = []  # mapped pairs stay alive, so their ids stay valid

    def eq(self, a: Any, b: Any, defining: bool = False) -> None:
        if a is b and not isinstance(a, (Var, Buffer, GraphVar)):
            return
        if isinstance(a, (Var, Buffer, GraphVar)) or isinstance(b, (Var, Buffer, GraphVar)):
            return self.eq_ref(a, b, defining)
        if isinstance(a, Node):
            if type(a) is not type(b):
                raise _Differ(a, b, f"{type(a).__name__} vs {type(b).__name__}")
            return self.eq_fields(a, b, defining)
        if isinstance(a, (tuple, list)):
            if not isinstance(b, (tuple, list)) or len(a) != len(b):
                raise _Differ(a, b, f"lengths differ ({_len(a)} vs {_len(b)})")
            for i, (x, y) in enumerate(zip(a, b)):
                self.path.append(f"[{i}]")
                self.eq(x, y, defining)
                self.path.pop()
            return None
        if isinstance(a, dict):
            return self.eq_dict(a, b, defining)
        if isinstance(a, np.ndarray):
            if not (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                    and a.tobytes() == b.tobytes()):
                raise _Differ(a, b, "constant data differ")
            return None
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return None
        if type(a) is not type(b) or a != b:
            raise _Differ(a, b, f"{a!r} vs {b!r}")
        return None

    def eq_dict(self, a: dict, b: Any, defining: bool) -> None:
        if not isinstance(b, dict) or len(a) != len(b):
            raise _Differ(a, b, "different numbers of entries")
        keys_a, keys_b = list(a), list(b)
        if all(isinstance(k, str) for k in keys_a):
            if set(keys_a) != set(keys_b):
                raise _Differ(a, b, f"keys {sorted(keys_a)} vs {sorted(map(str, keys_b))}")
            keys_b = keys_a
        for ka, kb in zip(keys_a, keys_b):
            self.path.append(f"[{ka!r}]" if isinstance(ka, str) else "[key]")
            if not isinstance(ka, str):
                self.eq(ka, kb, defining)
            self.eq(a[ka], b[kb], defining)
            self.path.pop()

    def eq_fields(self, a: Node, b: Node, defining: bool, skip: set[str] = frozenset()) -> None:
        """The fields in order. A chain through first fields (``a + b + c + ...`` leans left)
        is walked in a loop, not recursively, so a long sum does not exhaust Python's stack."""
        spine = []
        while (first := self.chain_field(a, b, skip)) is not None:
            spine.append((a, b, defining, skip, first))
            self.path.append("." + first)
            a, b = getattr(a, first), getattr(b, first)
            defining, skip = defining or first in spine[-1][0]._def_fields, frozenset()
        self.eq_own_fields(a, b, defining, skip, None)
        for a, b, defining, skip, first in reversed(spine):
            self.path.pop()
            self.eq_own_fields(a, b, defining, skip, first)

    def chain_field(self, a: Node, b: Node, skip: set[str]) -> str | None:
        """The first compared field of ``a`` when it holds a node of the same kind in both."""
        first = next((n for n in a._field_names if n not in skip and n not in a._struct_skip),
                     None)
        if first is None:
            return None
        x, y = getattr(a, first), getattr(b, first)
        chained = type(x) is type(y) and isinstance(x, Node) and x is not y \
            and not isinstance(x, (Var, Buffer, GraphVar))
        return first if chained else None

    def eq_own_fields(self, a: Node, b: Node, defining: bool, skip: set[str],
                      after: str | None) -> None:
        """The fields of ``a`` after field ``after`` (all of them when None)."""
        names = a._field_names
        for name in names[names.index(after) + 1:] if after is not None else names:
            if name in skip or name in a._struct_skip:
                continue
            self.path.append("." + name)
            self.eq(getattr(a, name), getattr(b, name), defining or name in a._def_fields)
            self.path.pop()

    def eq_ref(self, a: Any, b: Any, defining: bool) -> None:
        if type(a) is not type(b):
            raise _Differ(a, b, f"{type(a).__name__} vs {type(b).__name__}")
        mapped = self.lmap.get(id(a))
        if mapped is not None:
            if mapped is not b:
                raise _Differ(a, b, "refers to a different variable or buffer than before")
            return
        if id(b) in self.rmap:
            raise _Differ(a, b, "refers to a different variable or buffer than before")
        if not (defining or self.map_free):
            if a is not b:
                raise _Differ(a, b, "different free variables (not defined in either object)")
            return
        self.lmap[id(a)] = b
        self.rmap[id(b)] = a
        self.keep.append((a, b))
        self.eq_fields(a, b, True, _SKIP)


def _len(x: Any) -> Any:
    return len(x) if hasattr(x, "__len__") else "n/a"


def structural_equal(lhs: Any, rhs: Any, map_free_vars: bool = False) -> bool:
    """Whether ``lhs`` and ``rhs`` are the same program up to renaming of bound variables."""
    try:
        _Equal(map_free_vars).eq(lhs, rhs)
    except _Differ:
        return False
    return True


def assert_structural_equal(lhs: Any, rhs: Any, map_free_vars: bool = False) -> None:
    """Like ``structural_equal`` but raises ``StructuralMismatch`` naming the first difference:
    its path (the same in both objects), the two differing parts, and both whole programs."""
    checker = _Equal(map_free_vars)
    try:
        checker.eq(lhs, rhs)
    except _Differ as d:
        raise StructuralMismatch("".join(checker.path), d.lhs, d.rhs, d.reason, lhs, rhs) from None


class _Hash:
    """The structural hash; ``combine`` turns a tuple of parts into an int (``hash``, or a digest
    for a value that must not change between processes)."""

    def __init__(self, map_free_vars: bool, combine: Callable[[Any], int] = hash,
                 stable: bool = False) -> None:
        self.map_free = map_free_vars
        self.combine = combine
        self.stable = stable
        self.index: dict[int, int] = {}
        self.keep: list[Any] = []

    def h(self, obj: Any, defining: bool = False) -> int:
        c = self.combine
        if isinstance(obj, (Var, Buffer, GraphVar)):
            return self.h_ref(obj, defining)
        if isinstance(obj, Node):
            return self.h_fields(obj, defining, ())
        if isinstance(obj, (tuple, list)):
            return c(("seq",) + tuple(self.h(x, defining) for x in obj))
        if isinstance(obj, dict):
            items = sorted(obj.items(), key=lambda kv: kv[0]) if all(isinstance(k, str) for k in obj) else obj.items()
            return c(("dict",) + tuple((self.h(k, defining), self.h(v, defining)) for k, v in items))
        if isinstance(obj, np.ndarray):
            data = hashlib.sha256(obj.tobytes()).hexdigest() if self.stable else obj.tobytes()
            return c((str(obj.dtype), obj.shape, data))
        if isinstance(obj, float) and math.isnan(obj):
            return c("nan")
        return c((type(obj).__name__, obj))

    def h_fields(self, obj: Node, defining: bool, skip: tuple[str, ...]) -> int:
        parts = [type(obj).__name__]
        for name in obj._field_names:
            if name not in skip and name not in obj._struct_skip:
                parts.append(self.h(getattr(obj, name), defining or name in obj._def_fields))
        return self.combine(tuple(parts))

    def h_ref(self, obj: Any, defining: bool) -> int:
        idx = self.index.get(id(obj))
        if idx is not None:
            return self.combine(("ref", idx))
        if not (defining or self.map_free):
            # a free variable is itself; across processes only its name can stand for it
            return self.combine(("free", getattr(obj, "name", "") if self.stable else id(obj)))
        idx = self.index[id(obj)] = len(self.index)
        self.keep.append(obj)
        return self.combine(("def", idx, self.h_fields(obj, True, ("name",))))


def _digest(value: Any) -> int:
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "big")


def structural_hash(obj: Any, map_free_vars: bool = False) -> int:
    """A hash consistent with ``structural_equal``."""
    return _Hash(map_free_vars).h(obj)


def stable_structural_hash(obj: Any) -> str:
    """``structural_hash`` as 16 hex digits that are the same in every process (Python's
    ``hash`` of strings changes between processes): what a file on disk, like the tuning
    database, can use to recognize a program."""
    return f"{_Hash(False, _digest, stable=True).h(obj):016x}"

