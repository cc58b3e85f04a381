"""``static-memory-plan``: intermediate tensors whose lifetimes do not overlap share storage,
allocated once per function instead of once per call (TVM's ``StaticPlanBlockMemory`` in
spirit).

The pass marks each graph function (``R.func_attr({"relax.static_memory_plan": True})``), and
the graph executor (``backends/runtime/executor.py``) computes the plan of a marked function with
``plan_memory`` from the very function it runs (normalized and legalized), so the plan can never
be stale and the script stays readable. Before::

    @R.function
    def main(x: R.Tensor((64,), "float32")) -> R.Tensor((64,), "float32"):
        lv = R.call_tir(cls.relu, (x,), out_sinfo=R.Tensor((64,), "float32"))
        lv1 = R.call_tir(cls.exp, (lv,), out_sinfo=R.Tensor((64,), "float32"))
        lv2 = R.call_tir(cls.relu, (lv1,), out_sinfo=R.Tensor((64,), "float32"))
        gv = R.call_tir(cls.exp, (lv2,), out_sinfo=R.Tensor((64,), "float32"))
        return gv

After: the same, with ``R.func_attr({"relax.static_memory_plan": True})``; its plan puts ``lv``
and ``lv2`` in storage 0 and ``lv1`` in storage 1 (two buffers of 256 bytes for three tensors),
while ``gv``, the result, is allocated by each call.

What is planned: each output of an ``R.call_tir`` binding of the function's body with a static
shape and dtype. Never planned: parameters, constants, and any tensor the returned value may hold
(so the arrays a call returns never share storage with the next call's). A value that may hold a
tensor (a tuple, a tuple item, a variable bound to another, a call of a graph function, which may
return its argument) keeps that tensor alive for as long as it is used. Storage is chosen greedily
in binding order: a tensor takes the smallest free storage that fits it, else grows the largest
free one, else gets a new one; a tensor's storage is free after the last binding that reads it
(not at that binding: a kernel reads its inputs while it writes its outputs). Sizes are rounded up
to 64 bytes (the storage's alignment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir.expr import IntImm
from tvmscript.ir.functor import post_order_visit

from .infra import PassContext, module_pass

PLAN_ATTR = "relax.static_memory_plan"
ALIGNMENT = 64


@module_pass("static-memory-plan", opt_level=1)
def static_memory_plan(mod: IRModule, ctx: PassContext) -> IRModule:
    """Mark every graph function so that the executor runs it with a static memory plan."""
    changed = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function) and func.attrs.get(PLAN_ATTR) is not True:
            changed[name] = func.with_(attrs={**func.attrs, PLAN_ATTR: True})
    return mod.with_(functions={**mod.functions, **changed}) if changed else mod


@dataclass(frozen=True)
class PlannedTensor:
    """One planned tensor: output ``field`` of the call_tir bound to ``var``."""

    var: G.GraphVar
    field: int | None  # None: the call's only output
    shape: tuple[int, ...]
    dtype: np.dtype
    storage: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


@dataclass(frozen=True)
class MemoryPlan:
    """Where each planned tensor lives: ``tensors`` in binding order, ``storage_bytes`` the size
    of each storage; ``unplanned`` counts the call_tir outputs left to per-call allocation."""

    tensors: tuple[PlannedTensor, ...]
    storage_bytes: tuple[int, ...]
    unplanned: int

    @property
    def planned_bytes(self) -> int:
        """What the storages take together: the planned tensors' peak."""
        return sum(self.storage_bytes)

    @property
    def naive_bytes(self) -> int:
        """What the planned tensors would take, each in its own allocation."""
        return sum(t.nbytes for t in self.tensors)


def plan_memory(func: G.Function) -> MemoryPlan:
    """The plan of a normalized graph function (every call bound to a variable)."""
    bindings = [b for block in func.body.blocks for b in block.bindings]
    holds: dict[G.GraphVar, Holding] = {}
    last_use: dict[int, int] = {}
    defined: list[list[tuple[int, G.GraphVar, int | None, tuple, np.dtype]]] = []
    token = 0
    unplanned = 0
    for i, b in enumerate(bindings):
        made = []
        outs = _static_outputs(b.value)
        if outs is not None:
            for field, shape, dtype in outs:
                if shape is None:
                    unplanned += 1
                    continue
                made.append((token, b.var, field, shape, dtype))
                token += 1
        defined.append(made)
        for t in _tokens(_used_holdings(b.value, holds)):
            last_use[t] = i
        holds[b.var] = _holding(b.value, holds, made, outs)
    escaping = _tokens(_used_holdings(func.body.body, holds))
    unplanned += sum(1 for made in defined for m in made if m[0] in escaping)
    return _assign(defined, last_use, escaping, unplanned)


# what a value may hold: a set of tensor tokens, or a tuple of such (for tuple values)
Holding = frozenset | tuple


def _tokens(holding: Holding) -> frozenset:
    if isinstance(holding, frozenset):
        return holding
    return frozenset().union(*(_tokens(h) for h in holding))


def _static_outputs(value: G.GraphExpr) -> list[tuple[int | None, tuple | None, np.dtype]] | None:
    """The outputs of a call_tir: (field, static shape or None, dtype); None for other values."""
    if not (isinstance(value, G.Call) and isinstance(value.op, G.Op)
            and value.op.name == "relax.call_tir" and value.sinfo_args):
        return None
    out = value.sinfo_args[0]
    fields = list(enumerate(out.fields)) if isinstance(out, G.TupleStructInfo) else [(None, out)]
    result = []
    for field, sinfo in fields:
        static = isinstance(sinfo, G.TensorStructInfo) and sinfo.shape is not None \
            and not sinfo.dtype.is_void and all(isinstance(s, IntImm) for s in sinfo.shape)
        if static:
            result.append((field, tuple(s.value for s in sinfo.shape),
                           np.dtype(sinfo.dtype.numpy_name())))
        else:
            result.append((field, None, None))
    return result


def _holding(value: G.GraphExpr, holds: dict, made: list, outs: list | None) -> Holding:
    """What the variable bound to ``value`` may hold."""
    if outs is not None:
        mine = {m[2]: frozenset([m[0]]) for m in made}
        if len(outs) == 1 and outs[0][0] is None:
            return mine.get(None, frozenset())
        return tuple(mine.get(field, frozenset()) for field, _, _ in outs)
    if isinstance(value, G.GraphVar):
        return holds.get(value, frozenset())
    if isinstance(value, G.Tuple):
        return tuple(_holding(f, holds, [], None) for f in value.fields)
    if isinstance(value, G.TupleGetItem):
        inner = _holding(value.tuple_value, holds, [], None)
        if isinstance(inner, tuple) and 0 <= value.index < len(inner):
            return inner[value.index]
        return _tokens(inner)
    return _tokens(_used_holdings(value, holds))  # anything else may return what it reads


def _used_holdings(expr: G.GraphExpr, holds: dict) -> tuple:
    found: list[Holding] = []
    post_order_visit(expr, lambda n: found.append(holds[n]) if isinstance(n, G.GraphVar)
                     and n in holds else None)
    return tuple(found)


def _round(nbytes: int) -> int:
    return -(-nbytes // ALIGNMENT) * ALIGNMENT


def _assign(defined: list, last_use: dict[int, int], escaping: frozenset,
            unplanned: int) -> MemoryPlan:
    """Greedy assignment in binding order (see the module docstring)."""
    sizes: list[int] = []
    free: list[int] = []  # storage ids
    storage_of: dict[int, int] = {}
    release: dict[int, list[int]] = {}
    tensors = []
    for i, made in enumerate(defined):
        for token, var, field, shape, dtype in made:
            if token in escaping:
                continue
            need = _round(math.prod(shape) * dtype.itemsize)
            sid = _take(free, sizes, need)
            storage_of[token] = sid
            release.setdefault(max(i, last_use.get(token, i)), []).append(sid)
            tensors.append(PlannedTensor(var, field, shape, dtype, sid))
        free.extend(release.pop(i, ()))
    return MemoryPlan(tuple(tensors), tuple(sizes), unplanned)


def _take(free: list[int], sizes: list[int], need: int) -> int:
    """A storage of at least ``need`` bytes: the best free fit, else the largest free one
    grown, else a new one."""
    fits = [s for s in free if sizes[s] >= need]
    if fits:
        sid = min(fits, key=lambda s: (sizes[s], s))
    elif free:
        sid = max(free, key=lambda s: (sizes[s], -s))
        sizes[sid] = need
    else:
        sizes.append(need)
        return len(sizes) - 1
    free.remove(sid)
    return sid


__all__ = ["ALIGNMENT", "PLAN_ATTR", "MemoryPlan", "PlannedTensor", "plan_memory",
           "static_memory_plan"]
