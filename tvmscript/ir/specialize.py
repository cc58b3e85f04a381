"""``specialize``: a loop-level function with some of its size variables given values.

A kernel written for any ``n`` (``A = T.match_buffer(a, (n,))``) is compiled for every size, but
tiling needs constant extents (Apache TVM's tuner refuses dynamic loops too). Specializing gives
the kernel for one size, with the same parameters otherwise, to tune and build (TVM's
``PrimFunc.specialize``). Scalar parameters that are given values are dropped from the
signature; every buffer whose shape, strides or offset used them is rebuilt with the constants.
The result is printed and parsed back, so constant arithmetic (``n - 1``) folds as the parser
folds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .buffer import Buffer
from .expr import IntImm, Var, const
from .function import PrimFunc
from .functor import Mutator, post_order_visit


class _Specialize(Mutator):
    def __init__(self, values: dict[Var, IntImm]) -> None:
        self.values = values
        self.buffers: dict[Buffer, Buffer] = {}

    def visit_Var(self, var: Var) -> Any:
        return self.values.get(var, var)

    def visit_Buffer(self, buf: Buffer) -> Buffer:
        if buf not in self.buffers:
            changes = {"shape": self.visit(tuple(buf.shape)),
                       "strides": self.visit(tuple(buf.strides)),
                       "elem_offset": self.visit(buf.elem_offset)}
            self.buffers[buf] = buf.with_(**changes)
        return self.buffers[buf]


def _size_vars(func: PrimFunc) -> dict[str, Var]:
    """Integer variables a caller can give values: scalar parameters and the variables that
    buffer shapes, strides and offsets are written with."""
    found: dict[str, Var] = {}

    def note(expr: Any) -> None:
        def visit(node: Any) -> None:
            if isinstance(node, Var) and node.dtype.is_int:
                found.setdefault(node.name, node)
        post_order_visit(expr, visit)

    for p in func.params:
        if p not in func.buffer_map and p.dtype.is_int:
            found.setdefault(p.name, p)

    def on_buffer(node: Any) -> None:
        if isinstance(node, Buffer):
            note(tuple(node.shape) + tuple(node.strides) + (node.elem_offset,))

    for buf in func.buffer_map.values():
        on_buffer(buf)
    post_order_visit(func.body, on_buffer)
    return found


def specialize(func: PrimFunc, sizes: Mapping[str | Var, int] | None = None,
               **named: int) -> PrimFunc:
    """``func`` with the size variables in ``sizes`` (by name or variable) and ``named``
    replaced by constants: ``specialize(f, {"n": 1024})`` or ``specialize(f, n=1024)``."""
    from ..script.parser.entry import from_source

    if not isinstance(func, PrimFunc):
        raise TypeError(f"specialize takes a PrimFunc, got {type(func).__name__}")
    known = _size_vars(func)
    values: dict[Var, IntImm] = {}
    for key, value in {**dict(sizes or {}), **named}.items():
        var = key if isinstance(key, Var) else known.get(key)
        if var is None or var.name not in known or known[var.name] is not var:
            raise ValueError(f"function `{func.name or 'main'}` has no size variable {key!r}; "
                             f"its size variables are {sorted(known) or 'none'}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"size {var.name} must be a non-negative int, got {value!r}")
        values[var] = const(value, var.dtype)
    if not values:
        return func
    mutator = _Specialize(values)
    params = tuple(p for p in func.params if p not in values)
    buffer_map = {p: mutator.visit_Buffer(b) for p, b in func.buffer_map.items()}
    body = mutator.visit(func.body)
    made = func.with_(params=params, buffer_map=buffer_map, body=body)
    return from_source(made.script()).with_(name=func.name)


__all__ = ["specialize"]
