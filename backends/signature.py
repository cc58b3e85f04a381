"""The calling convention of a compiled kernel, shared by code generation and the runtime.

A loop-level function ``f(A: handle, n: int32, ...)`` compiles to the C function

    int32_t f(T0 *A, int32_t n, ..., <size variables>)

- every buffer parameter is the pointer to its array's first element;
- every scalar parameter is passed by value in its dtype;
- then every *size variable*: a variable that appears bare in a parameter buffer's shape or
  strides (``n`` in ``T.match_buffer(a, (n, 4))``), in order of first appearance, bound by the
  runtime from the argument array; a buffer's ``elem_offset`` variable is always 0 (the pointer
  already points at the first element);
- the result is 0 on success, or k > 0 when the k-th ``assert`` of the function failed
  (``assert_messages[k - 1]`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tvmscript.ir import Buffer, PrimFunc, Var
from tvmscript.ir.expr import PrimExpr


@dataclass(frozen=True)
class BufferParam:
    index: int
    name: str
    buffer: Buffer


@dataclass(frozen=True)
class ScalarParam:
    index: int
    name: str
    var: Var


@dataclass(frozen=True)
class SizeVar:
    """Where the runtime reads a size variable: ``param``'s shape/strides at ``dim``."""

    var: Var
    param: int
    field: Literal["shape", "strides", "elem_offset"]
    dim: int


@dataclass(frozen=True)
class KernelSignature:
    params: tuple[BufferParam | ScalarParam, ...]
    size_vars: tuple[SizeVar, ...]

    @staticmethod
    def of(func: PrimFunc) -> "KernelSignature":
        params: list[BufferParam | ScalarParam] = []
        size_vars: list[SizeVar] = []
        seen: set[Var] = set()
        for index, var in enumerate(func.params):
            buf = func.buffer_map.get(var)
            if buf is None:
                params.append(ScalarParam(index, var.name, var))
                seen.add(var)
                continue
            params.append(BufferParam(index, buf.name, buf))
            for field, exprs in (("shape", buf.shape), ("strides", buf.strides)):
                for dim, e in enumerate(exprs):
                    if isinstance(e, Var) and e not in seen:
                        seen.add(e)
                        size_vars.append(SizeVar(e, index, field, dim))
            if isinstance(buf.elem_offset, Var) and buf.elem_offset not in seen:
                seen.add(buf.elem_offset)
                size_vars.append(SizeVar(buf.elem_offset, index, "elem_offset", 0))
        return KernelSignature(tuple(params), tuple(size_vars))

    @property
    def buffer_params(self) -> list[BufferParam]:
        return [p for p in self.params if isinstance(p, BufferParam)]

    def bound_vars(self) -> set[Var]:
        """Variables whose value is known on entry: scalar parameters and size variables."""
        out = {p.var for p in self.params if isinstance(p, ScalarParam)}
        out.update(s.var for s in self.size_vars)
        return out


def unbound_shape_vars(func: PrimFunc, sig: KernelSignature) -> list[PrimExpr]:
    """Shape entries that mention variables the runtime cannot bind (e.g. ``2 * n`` alone)."""
    from tvmscript.ir import post_order_visit

    bound = sig.bound_vars()
    missing: list[PrimExpr] = []
    for buf in (p.buffer for p in sig.buffer_params):
        for e in (*buf.shape, *buf.strides):
            def check(node, e=e):
                if isinstance(node, Var) and node not in bound and e not in missing:
                    missing.append(e)
            post_order_visit(e, check)
    return missing
