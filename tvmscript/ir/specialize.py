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

from .expr import IntImm, Var, const
from .function import PrimFunc
from .functor import Mutator, post_order_visit


class _Specialize(Mutator):
    def __init__(self, values: dict[Var, IntImm]) -> None:
        self.values = values
        self.buffers: dict[Any, Any] = {}

    def visit_Var(self, var: Var) -> Any:
        return self.values.get(var, var)

    def visit_Buffer(self, buf: Any) -> Any:
        if buf not in self.buffers:
            changes = {"shape": self.visit(tuple(buf.shape)),
                       "strides": self.visit(tuple(buf.strides)),
                       "elem_offset": self.visit(buf.elem_offset)}
            self.buffers[buf] = buf.with_(**changes)
        return self.buffers[buf]


def size_vars(func: PrimFunc) -> dict[str, Var]:
    """Integer variables a caller can give values: scalar parameters and the variables that
    the parameters' buffer shapes, strides and offsets are written with (a variable a block's
    ``match_buffer`` binds is that block's, not a size of the function)."""
    found: dict[str, Var] = {}
    clashes: set[str] = set()

    def add(var: Var) -> None:
        if found.setdefault(var.name, var) is not var:
            clashes.add(var.name)

    def note(expr: Any) -> None:
        def visit(node: Any) -> None:
            if isinstance(node, Var) and node.dtype.is_int:
                add(node)
        post_order_visit(expr, visit)

    for p in func.params:
        if p not in func.buffer_map and p.dtype.is_int:
            add(p)
    for buf in func.buffer_map.values():
        note(tuple(buf.shape) + tuple(buf.strides) + (buf.elem_offset,))
    if clashes:
        raise ValueError(f"function `{func.name or 'main'}` has several size variables named "
                         f"{sorted(clashes)}; rename them to specialize it")
    return found


def specialize(func: PrimFunc, sizes: Mapping[str | Var, int] | None = None,
               **named: int) -> PrimFunc:
    """``func`` with the size variables in ``sizes`` (by name or variable) and ``named``
    replaced by constants: ``specialize(f, {"n": 1024})`` or ``specialize(f, n=1024)``."""
    from ..script.parser.entry import from_source

    if not isinstance(func, PrimFunc):
        raise TypeError(f"specialize takes a PrimFunc, got {type(func).__name__}")
    known = size_vars(func)
    values: dict[Var, IntImm] = {}
    for key, value in {**dict(sizes or {}), **named}.items():
        var = key if isinstance(key, Var) else known.get(key)
        if var is None or var.name not in known or known[var.name] is not var:
            raise ValueError(f"function `{func.name or 'main'}` has no size variable {key!r}; "
                             f"its size variables are {sorted(known) or 'none'}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"size {var.name} must be a non-negative int, got {value!r}")
        bits = var.dtype.bits
        if value >= 1 << (bits - 1):
            raise ValueError(f"size {var.name} = {value} does not fit its type {var.dtype}")
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
