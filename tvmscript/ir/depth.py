"""How deeply expressions nest, and the limits every layer is built to handle.

Why a limit: the passes, the bounds analysis and both code generators walk expressions
recursively, and the interpreter's generated Python nests one parenthesis per operator. Rather
than make every recursive walk iterative, the script refuses expressions nested more than
``MAX_EXPR_DEPTH`` levels (a ScriptError at the user's line), and ``build`` runs with room on
Python's stack for expressions up to ``BUILD_MAX_DEPTH`` levels: lowering may deepen an
expression a little (casts, flattened indices), and schedules may inline one into another. IR
built in Python deeper than that is refused by ``build`` with a ValueError naming the function.

Depth counts expression nodes on the longest chain: ``x`` is 1, ``A[i]`` is 2, ``A[i] + A[i]``
is 3, a sum of n terms ``A[i] + ... + A[i]`` is n + 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .expr import PrimExpr
from .node import child_nodes

MAX_EXPR_DEPTH = 128
BUILD_MAX_DEPTH = 2 * MAX_EXPR_DEPTH
_FRAMES_PER_LEVEL = 8  # Python frames a recursive walk may spend per expression level
_SPARE_FRAMES = 300
SPLIT_HINT = "split it into several statements (e.g. with let bindings x = ...)"


def expr_depth(root: Any) -> int:
    """The number of expression nodes on the longest nested chain in ``root`` (a node, or a
    tuple/list of nodes), walked with an explicit stack so any depth can be measured."""
    memo: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        item, children_done = stack.pop()
        if children_done:
            below = max((memo[id(c)] for c in child_nodes(item)), default=0)
            memo[id(item)] = below + (1 if isinstance(item, PrimExpr) else 0)
        elif id(item) not in memo:
            stack.append((item, True))
            stack.extend((c, False) for c in child_nodes(item) if id(c) not in memo)
    return memo[id(root)]


def refuse_too_deep(func_name: str, body: Any) -> None:
    """A ValueError naming the function when ``body`` nests deeper than build handles."""
    depth = expr_depth(body)
    if depth > BUILD_MAX_DEPTH:
        raise ValueError(too_deep_message(func_name, depth))


def too_deep_message(func_name: str, depth: int) -> str:
    """The build error for an expression deeper than the backends are built to handle."""
    return (f"function {func_name!r} has an expression nested {depth} levels deep, more than "
            f"build handles ({BUILD_MAX_DEPTH}; scripts allow {MAX_EXPR_DEPTH}); {SPLIT_HINT}")


@contextmanager
def recursion_headroom(levels: int = BUILD_MAX_DEPTH) -> Iterator[None]:
    """Room on Python's stack for recursive walks over expressions ``levels`` deep, wherever
    the caller already is; the old limit comes back afterwards (unless someone changed it)."""
    old = sys.getrecursionlimit()
    need = _stack_depth() + levels * _FRAMES_PER_LEVEL + _SPARE_FRAMES
    if need <= old:
        yield
        return
    sys.setrecursionlimit(need)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == need:
            sys.setrecursionlimit(old)


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth
