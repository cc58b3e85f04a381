"""Per-store feature vectors of a scheduled function, as Ansor and MetaSchedule define them.

The cost model never runs a candidate: it reads these numbers off the program. Each store
statement (``A[...] = value``) of the function, after the first lowering stages
(``lower-init-block``, ``lower-blocks``: loops and stores, multi-dimensional buffers, loop kinds
and annotations still in place), gives one row of ``FEATURE_COUNT`` float32 values. The later
stages of the default pipeline (``flatten-buffer``, ``vectorize-loop``, ``unroll-loop``) erase
exactly what the features describe (dimensions, ``T.vectorized`` and ``T.unroll`` loops), which
is why MetaSchedule, too, extracts before them. Counts and sizes go through
``slog(x) = log2(|x| + 1)``; one-hot columns are 0 or 1.

Groups (the column names; ``b{k}_`` is repeated for the ``BUFFERS_PER_STORE`` buffers a store
touches, the most cache lines first, padded with zeros):

==========================  =================================================================
name                        meaning
==========================  =================================================================
float_mad                   float ``x + y * z`` patterns (also counted in add and mul)
float_add_sub ... int_*     operations of ``value`` by kind, float and integer: add/sub, mul,
                            div/mod, cmp (comparisons, min, max), math_func (pure intrinsic
                            calls), other_func (impure calls); each times the loop iterations
                            around the store and the vector lanes
bool_op, select_op, cast_op logical and/or/not, ``Select`` / ``if_then_else``, casts
{vec,unroll,par}_num        how many enclosing loops are vectorized / unrolled / parallel
{vec,unroll,par}_prod       the product of their extents
{vec,unroll,par}_len        the extent of the innermost of them
{vec,unroll,par}_pos_*      one-hot position of the innermost of them: none, inner/middle/outer
                            spatial (its variable indexes the stored element), inner/middle/
                            outer reduce (it does not), mixed (annotated loops of both roles)
b{k}_read/write/readwrite   access kind of buffer k
b{k}_bytes                  bytes accessed over all iterations (dtype bytes x iterations)
b{k}_unique_bytes           bytes of the region touched under the outermost loop
b{k}_lines                  cache lines accessed (iterations / contiguous run x stride factor)
b{k}_unique_lines           cache lines of the touched region
b{k}_reuse_loop/serial/none one-hot reuse type: a loop whose variable does not index the buffer
                            (loop multiple read), several stores under one loop touching it
                            (serial multiple read-write), no reuse
b{k}_reuse_dis_iter         iterations between reuses
b{k}_reuse_dis_bytes        bytes touched between reuses
b{k}_reuse_ct               how often it is reused
b{k}_*_d_reuse_ct           bytes, unique bytes, lines, unique lines divided by the reuse count
b{k}_stride                 elements between consecutive iterations of the innermost loop (0
                            when the innermost loop does not move the access)
ai_curve_{0..9}             arithmetic intensity (float ops / bytes touched) sampled at ten
                            fractions of the store's float operations, inner loops outwards
alloc_size, alloc_prod      bytes allocated for the stored buffer when the function allocates
                            it, and its elements x the loop iterations around the allocation
alloc_outer_prod            loop iterations around the allocation
alloc_inner_prod            loop iterations around the store inside the allocation
alloc_local/alloc_global    one-hot scope of that allocation (a parameter has neither)
outer_prod                  loop iterations around the store
num_loops                   loop depth of the store
inner_len                   extent of the innermost loop around the store
auto_unroll_max_step        ``pragma_auto_unroll_max_step`` of the innermost annotated loop
unroll_explicit             1 under a ``pragma_unroll_explicit`` loop
const_store                 1 when the stored value is a constant (an initialisation)
under_if                    conditions (``if``, block predicates) around the store
lanes                       vector lanes of the stored value
num_loads                   loads in the stored value
func_alloc_bytes            bytes the whole function allocates
==========================  =================================================================

``FEATURE_NAMES`` lists the columns in order and ``FEATURE_DOCS`` says what each one means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tvmscript.ir import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    Allocate,
    And,
    AssertStmt,
    AttrStmt,
    Broadcast,
    BufferLoad,
    BufferStore,
    Call,
    Cast,
    DeclBuffer,
    Div,
    FloatImm,
    FloorDiv,
    FloorMod,
    For,
    ForKind,
    IfThenElse,
    IntImm,
    IRModule,
    LetStmt,
    Max,
    Min,
    Mod,
    Mul,
    Not,
    Or,
    PrimExpr,
    PrimFunc,
    Ramp,
    Select,
    SeqStmt,
    Sub,
    Var,
    While,
)
from tvmscript.ir import op as ir_op

BUFFERS_PER_STORE = 5
CURVE_SAMPLES = 10
CACHE_LINE_BYTES = 64

# ----------------------------------------------------------------------------- the columns

_ARITH = ["float_mad", "float_add_sub", "float_mul", "float_div_mod", "float_cmp",
          "float_math_func", "float_other_func", "int_mad", "int_add_sub", "int_mul",
          "int_div_mod", "int_cmp", "int_math_func", "int_other_func", "bool_op", "select_op",
          "cast_op"]
_POSITIONS = ["none", "inner_spatial", "middle_spatial", "outer_spatial", "inner_reduce",
              "middle_reduce", "outer_reduce", "mixed"]
_KINDS = {"vec": ForKind.VECTORIZED, "unroll": ForKind.UNROLLED, "par": ForKind.PARALLEL}
_BUFFER = ["read", "write", "readwrite", "bytes", "unique_bytes", "lines", "unique_lines",
           "reuse_loop", "reuse_serial", "reuse_none", "reuse_dis_iter", "reuse_dis_bytes",
           "reuse_ct", "bytes_d_reuse_ct", "unique_bytes_d_reuse_ct", "lines_d_reuse_ct",
           "unique_lines_d_reuse_ct", "stride"]
_ALLOC = ["alloc_size", "alloc_prod", "alloc_outer_prod", "alloc_inner_prod", "alloc_local",
          "alloc_global"]
_OTHER = ["outer_prod", "num_loops", "inner_len", "auto_unroll_max_step", "unroll_explicit", "const_store",
          "under_if", "lanes", "num_loads", "func_alloc_bytes"]


def _names() -> list[str]:
    names = list(_ARITH)
    for kind in _KINDS:
        names += [f"{kind}_num", f"{kind}_prod", f"{kind}_len"]
        names += [f"{kind}_pos_{pos}" for pos in _POSITIONS]
    for k in range(BUFFERS_PER_STORE):
        names += [f"b{k}_{name}" for name in _BUFFER]
    names += [f"ai_curve_{i}" for i in range(CURVE_SAMPLES)]
    return names + _ALLOC + _OTHER


FEATURE_NAMES: list[str] = _names()
FEATURE_COUNT: int = len(FEATURE_NAMES)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _docs() -> dict[str, str]:
    """One sentence per column, from the table in the module docstring."""
    docs = {}
    for name in FEATURE_NAMES:
        base = name.split("_", 1)[1] if name.startswith("b") and name[1].isdigit() else name
        if name.startswith("b") and name[1].isdigit():
            docs[name] = f"buffer {name[1]} (by cache lines): {base.replace('_', ' ')}"
        elif name.startswith("ai_curve_"):
            docs[name] = f"arithmetic intensity at {int(name[9:]) + 1}0% of the float operations"
        else:
            docs[name] = base.replace("_", " ")
    return docs


FEATURE_DOCS: dict[str, str] = _docs()


def slog(x: float) -> float:
    """``log2(|x| + 1)``: counts spanning many orders of magnitude on one scale."""
    return math.log2(abs(x) + 1.0)


# ----------------------------------------------------------------------------- lowering

_PRE_PASSES = ("lower-init-block", "lower-blocks")


def lower_for_features(func: PrimFunc | IRModule) -> list[PrimFunc]:
    """The functions of ``func`` after the pipeline's first stages: blocks gone, loops, loop
    kinds, annotations and multi-dimensional buffers still there."""
    import passes.pipeline  # noqa: F401  (registers the passes)
    from passes.infra import get_pass

    mod = func if isinstance(func, IRModule) else IRModule.from_function(func, "main")
    for name in _PRE_PASSES:
        mod = get_pass(name)(mod)
    return [f for f in mod.functions.values() if isinstance(f, PrimFunc)]


# ----------------------------------------------------------------------------- integer bounds

def _const(e: PrimExpr) -> int | None:
    return e.value if type(e) is IntImm else None


def _iv_binary(op):
    def bound(e, env):
        a = _iv(e.a, env)
        b = _iv(e.b, env) if a is not None else None
        return None if b is None else op(a, b)
    return bound


def _iv_mul(a, b):
    c = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return min(c), max(c)


def _iv_div(a, b):
    if b[0] <= 0 <= b[1]:
        return None
    c = (a[0] // b[0], a[0] // b[1], a[1] // b[0], a[1] // b[1])
    return min(c), max(c)


def _iv_mod(a, b):
    if b[0] != b[1] or b[0] <= 0:
        return None if b[0] <= 0 else (0, b[1] - 1)
    m = b[0]
    if a[0] // m == a[1] // m:
        return a[0] % m, a[1] % m
    return 0, m - 1


def _iv_ramp(e, env):
    base, stride = _iv(e.base, env), _iv(e.stride, env)
    if base is None or stride is None:
        return None
    last = _iv_mul(stride, (e.lanes - 1, e.lanes - 1))
    return base[0] + min(0, last[0]), base[1] + max(0, last[1])


def _iv_select(e, env):
    a, b = _iv(e.true_value, env), _iv(e.false_value, env)
    return None if a is None or b is None else (min(a[0], b[0]), max(a[1], b[1]))


_IV = {
    Add: _iv_binary(lambda a, b: (a[0] + b[0], a[1] + b[1])),
    Sub: _iv_binary(lambda a, b: (a[0] - b[1], a[1] - b[0])),
    Mul: _iv_binary(_iv_mul),
    FloorDiv: _iv_binary(_iv_div),
    Div: _iv_binary(_iv_div),
    FloorMod: _iv_binary(_iv_mod),
    Mod: _iv_binary(_iv_mod),
    Min: _iv_binary(lambda a, b: (min(a[0], b[0]), min(a[1], b[1]))),
    Max: _iv_binary(lambda a, b: (max(a[0], b[0]), max(a[1], b[1]))),
    Cast: lambda e, env: _iv(e.value, env) if e.dtype.is_integer else None,
    Ramp: _iv_ramp,
    Broadcast: lambda e, env: _iv(e.value, env),
    Select: _iv_select,
}


def _iv(e: PrimExpr, env: dict) -> tuple[int, int] | None:
    """Integer bounds ``(lo, hi)`` of ``e`` with variables in ``env`` ranging over their
    bounds; None where unknown (a symbolic size, a load, a let-bound value)."""
    t = type(e)
    if t is IntImm:
        return e.value, e.value
    if t is Var:
        return env.get(e)
    f = _IV.get(t)
    return f(e, env) if f is not None else None


def _vars(e: Any, acc: set) -> set:
    """The variables in an index expression."""
    t = type(e)
    if t is Var:
        acc.add(e)
    elif t is not IntImm and isinstance(e, PrimExpr):
        for name in e._field_names:
            value = getattr(e, name)
            if isinstance(value, PrimExpr):
                _vars(value, acc)
            elif isinstance(value, tuple):
                for item in value:
                    _vars(item, acc)
    return acc


# ----------------------------------------------------------------------------- arithmetic

_FLOAT_OR_INT = {
    Add: "add_sub", Sub: "add_sub", Mul: "mul", Div: "div_mod", Mod: "div_mod",
    FloorDiv: "div_mod", FloorMod: "div_mod", Min: "cmp", Max: "cmp", EQ: "cmp", NE: "cmp",
    LT: "cmp", LE: "cmp", GT: "cmp", GE: "cmp",
}
_BOOL = {And, Or, Not}


class _Arith:
    """Counts the operations of a stored value by kind (once per evaluation)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(_ARITH, 0)
        self.loads: list[BufferLoad] = []

    def visit(self, e: Any) -> None:
        t = type(e)
        if t is IntImm or t is FloatImm or t is Var:
            return
        if t is BufferLoad:
            self.loads.append(e)
        kind = _FLOAT_OR_INT.get(t)
        if kind is not None:
            self._binary(e, kind)
        elif t in _BOOL:
            self.counts["bool_op"] += 1
        elif t is Select:
            self.counts["select_op"] += 1
        elif t is Cast:
            self.counts["cast_op"] += 1
        elif t is Call:
            self._call(e)
        self._children(e)

    def _binary(self, e, kind: str) -> None:
        prefix = "float_" if e.a.dtype.is_float else "int_"
        self.counts[prefix + kind] += 1
        if kind == "add_sub" and (type(e.a) is Mul or type(e.b) is Mul):
            self.counts[prefix + "mad"] += 1

    def _call(self, e: Call) -> None:
        if e.op == "tir.if_then_else":
            self.counts["select_op"] += 1
            return
        info = ir_op.by_op(e.op)
        pure = info.pure if info is not None else False
        prefix = "float_" if e.dtype.is_float else "int_"
        self.counts[prefix + ("math_func" if pure else "other_func")] += 1

    def _children(self, e: Any) -> None:
        if type(e) is BufferLoad:
            for index in e.indices:
                self.visit(index)
            return
        for name in e._field_names:
            value = getattr(e, name)
            if isinstance(value, PrimExpr):
                self.visit(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, PrimExpr):
                        self.visit(item)


# ----------------------------------------------------------------------------- the walk

class _Loop:
    __slots__ = ("explicit", "extent", "kind", "min", "node", "unroll_step", "var")

    def __init__(self, loop: For) -> None:
        self.node = loop
        self.var = loop.loop_var
        self.min = _const(loop.min) or 0
        extent = _const(loop.extent)
        self.extent = extent if extent is not None and extent > 0 else 1
        self.kind = loop.kind
        ann = loop.annotations
        step = ann.get("pragma_auto_unroll_max_step") if ann else None
        self.unroll_step = _const(step) if isinstance(step, PrimExpr) else (step or 0)
        self.explicit = bool(ann and ann.get("pragma_unroll_explicit") is not None)


class _Access:
    """One buffer a store touches: its access kind and every index tuple used."""

    __slots__ = (
        "buffer",
        "indices",
        "kind",
        "min_stride",
        "non_strided",
        "numel",
        "reuse",
        "stride",
        "values",
        "vars",
    )

    def __init__(self, buffer, kind: str) -> None:
        self.buffer = buffer
        self.kind = kind
        self.indices: list[tuple] = []


class _Collector:
    def __init__(self) -> None:
        self.loops: list[_Loop] = []
        self.conditions = 0
        self.allocs: dict[Var, tuple[int, int, int, str]] = {}
        self.touched: dict[tuple[int, Any], list[int]] = {}
        self.rows: list[np.ndarray] = []
        self.alloc_bytes = 0

    # statements ---------------------------------------------------------------------
    def stmt(self, s: Any) -> None:
        t = type(s)
        if t is SeqStmt:
            for item in s.seq:
                self.stmt(item)
        elif t is For:
            self.loops.append(_Loop(s))
            self.stmt(s.body)
            self.loops.pop()
        elif t is BufferStore:
            self.rows.append(_store_row(self, s))
        elif t is IfThenElse:
            self.conditions += 1
            self.stmt(s.then_case)
            if s.else_case is not None:
                self.stmt(s.else_case)
            self.conditions -= 1
        elif t is Allocate:
            self._allocate(s)
            self.stmt(s.body)
        elif t in (LetStmt, AttrStmt, AssertStmt, DeclBuffer, While):
            self.stmt(s.body)

    def _allocate(self, s: Allocate) -> None:
        numel = 1
        for e in s.extents:
            numel *= _const(e) or 1
        size = numel * s.dtype.itemsize * s.dtype.lanes
        self.alloc_bytes += size
        self.allocs[s.buffer_var] = (size, numel, _prod(self.loops), s.scope)


def _prod(loops: Iterable[_Loop]) -> int:
    p = 1
    for loop in loops:
        p *= loop.extent
    return p


def _store_row(c: _Collector, store: BufferStore) -> np.ndarray:
    row = np.zeros(FEATURE_COUNT, dtype=np.float64)
    loops = c.loops
    prod = _prod(loops)
    arith = _Arith()
    arith.visit(store.value)
    lanes = store.value.dtype.lanes
    for name, count in arith.counts.items():
        row[_INDEX[name]] = slog(count * prod * lanes)
    store_vars = set()
    for index in store.indices:
        _vars(index, store_vars)
    for prefix, kind in _KINDS.items():
        _loop_kind(row, prefix, [lp for lp in loops if lp.kind == kind], loops, store_vars)
    accesses = _accesses(store, arith.loads)
    touched_bytes = _regions(c, accesses)
    for access in accesses:
        _stride(access, loops)
    _reuse(c, accesses, touched_bytes)
    _buffer_features(row, accesses, loops, prod)
    float_ops = sum(arith.counts[k] for k in _ARITH if k.startswith("float_") and k != "float_mad")
    _curve(row, loops, touched_bytes, float_ops * lanes)
    _alloc(row, c, store, prod)
    unroll = [lp.unroll_step for lp in loops if lp.unroll_step]
    row[_INDEX["outer_prod"]] = slog(prod)
    row[_INDEX["num_loops"]] = slog(len(loops))
    row[_INDEX["inner_len"]] = slog(loops[-1].extent if loops else 0)
    row[_INDEX["auto_unroll_max_step"]] = slog(unroll[-1] if unroll else 0)
    row[_INDEX["unroll_explicit"]] = float(any(lp.explicit for lp in loops))
    row[_INDEX["const_store"]] = float(type(store.value) in (IntImm, FloatImm, Broadcast)
                                       and not arith.loads)
    row[_INDEX["under_if"]] = slog(c.conditions)
    row[_INDEX["lanes"]] = slog(lanes)
    row[_INDEX["num_loads"]] = slog(len(arith.loads))
    return row


def _loop_kind(row: np.ndarray, prefix: str, marked: list[_Loop], loops: list[_Loop],
               store_vars: set) -> None:
    """Number, product, innermost length and position of the loops of one kind."""
    if not marked:
        row[_INDEX[f"{prefix}_pos_none"]] = 1.0
        return
    row[_INDEX[f"{prefix}_num"]] = slog(len(marked))
    row[_INDEX[f"{prefix}_prod"]] = slog(_prod(marked))
    row[_INDEX[f"{prefix}_len"]] = slog(marked[-1].extent)
    roles = {lp.var in store_vars for lp in marked}
    if len(roles) > 1:
        pos = "mixed"
    else:
        spatial = roles.pop()
        same = [lp for lp in loops if (lp.var in store_vars) == spatial]
        where = ("inner" if same[-1] is marked[-1] else
                 "outer" if same[0] is marked[-1] else "middle")
        pos = f"{where}_{'spatial' if spatial else 'reduce'}"
    row[_INDEX[f"{prefix}_pos_{pos}"]] = 1.0


def _accesses(store: BufferStore, loads: list[BufferLoad]) -> list[_Access]:
    by_buffer: dict[Any, _Access] = {}
    write = by_buffer[store.buffer] = _Access(store.buffer, "write")
    write.indices.append(store.indices)
    for load in loads:
        access = by_buffer.get(load.buffer)
        if access is None:
            access = by_buffer[load.buffer] = _Access(load.buffer, "read")
        elif access.kind == "write":
            access.kind = "readwrite"
        if load.indices not in access.indices:
            access.indices.append(load.indices)
    for access in by_buffer.values():
        acc: set = set()
        for indices in access.indices:
            for index in indices:
                _vars(index, acc)
        access.vars = acc
        access.numel = []
    return list(by_buffer.values())


def _shape(buffer) -> list[int]:
    return [(_const(s) or 1) for s in buffer.shape]


def _numel(access: _Access, env: dict) -> int:
    """Elements of the box that covers every index tuple of ``access`` under ``env``."""
    shape = _shape(access.buffer)
    numel = 1
    for d, dim in enumerate(shape):
        lo, hi = math.inf, -math.inf
        for indices in access.indices:
            b = _iv(indices[d], env) if d < len(indices) else None
            if b is None:
                lo, hi = 0, dim - 1
                break
            lo, hi = min(lo, b[0]), max(hi, b[1])
        numel *= max(1, min(hi - lo + 1, dim) if hi >= lo else 1)
    return numel * _lanes_of(access)


def _lanes_of(access: _Access) -> int:
    return max(1, access.buffer.dtype.lanes)


def _regions(c: _Collector, accesses: list[_Access]) -> list[int]:
    """Bytes touched under each loop (outermost first); records, per loop and buffer, the
    elements touched (for serial reuse between stores)."""
    loops = c.loops
    env = {lp.var: (lp.min, lp.min) for lp in loops}
    touched = [0] * len(loops)
    for i in range(len(loops) - 1, -1, -1):
        lp = loops[i]
        env[lp.var] = (lp.min, lp.min + lp.extent - 1)
        for access in accesses:
            numel = _numel(access, env)
            access.numel.append(numel)
            touched[i] += numel * access.buffer.dtype.itemsize
            c.touched.setdefault((id(lp.node), access.buffer), []).append(numel)
    for access in accesses:
        access.numel.reverse()
    return touched


def _flat(indices: tuple, env: dict, strides: list[int]) -> int | None:
    total = 0
    for d, index in enumerate(indices):
        b = _iv(index, env)
        if b is None:
            return None
        total += b[0] * strides[d] if d < len(strides) else 0
    return total


def _strides(buffer) -> list[int]:
    if buffer.strides and all(_const(s) is not None for s in buffer.strides):
        return [_const(s) for s in buffer.strides]
    shape = _shape(buffer)
    out = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        out[d] = out[d + 1] * shape[d + 1]
    return out


def _stride(access: _Access, loops: list[_Loop]) -> None:
    """The elements one step of the innermost loop that moves the access advances it by."""
    strides = _strides(access.buffer)
    env = {lp.var: (lp.min, lp.min) for lp in loops}
    base = [_flat(ix, env, strides) for ix in access.indices]
    access.min_stride, access.stride, access.non_strided = 0, 0, 1
    for i in range(len(loops) - 1, -1, -1):
        lp = loops[i]
        env[lp.var] = (lp.min + 1, lp.min + 1)
        moved = [_flat(ix, env, strides) for ix in access.indices]
        env[lp.var] = (lp.min, lp.min)
        deltas = [abs(m - b) for m, b in zip(moved, base)
                  if m is not None and b is not None and m != b]
        if deltas:
            access.min_stride = min(deltas)
            access.stride = access.min_stride if i == len(loops) - 1 else 0
            return
        access.non_strided *= lp.extent


def _reuse(c: _Collector, accesses: list[_Access], touched_bytes: list[int]) -> None:
    """MetaSchedule's reuse analysis: the innermost loop that re-reads the same data."""
    loops = c.loops
    one_iteration = sum(a.buffer.dtype.itemsize for a in accesses)
    for access in accesses:
        access.reuse = ("none", 0.0, 0.0, 0)
        inner = 1
        for i in range(len(loops) - 1, -1, -1):
            lp = loops[i]
            if lp.var not in access.vars:
                dis_bytes = one_iteration if i == len(loops) - 1 else touched_bytes[i + 1]
                access.reuse = ("loop", float(inner), float(dis_bytes), lp.extent)
                break
            seen = c.touched.get((id(lp.node), access.buffer), [])
            if len(seen) >= 2:  # another store under this loop touched it
                ext = lp.extent
                dis = sum(sum(v) * b.dtype.itemsize for (key, b), v in c.touched.items()
                          if key == id(lp.node))
                access.reuse = ("serial", min(seen) / ext, dis / ext, len(seen) - 1)
                break
            inner *= lp.extent


def _buffer_features(row: np.ndarray, accesses: list[_Access], loops: list[_Loop],
                     prod: int) -> None:
    for access in accesses:
        item = access.buffer.dtype.itemsize * _lanes_of(access)
        bytes_ = float(item * prod)
        if loops:
            unique = float(access.numel[0] * access.buffer.dtype.itemsize)
            lines = prod / access.non_strided * min(1.0, access.min_stride * item
                                                    / CACHE_LINE_BYTES)
            lines = max(1.0, lines)
            unique_lines = max(1.0, unique / min(CACHE_LINE_BYTES, _contiguous(access, item)))
        else:
            unique, lines, unique_lines = float(item), 1.0, 1.0
        kind, dis_iter, dis_bytes, ct = access.reuse
        proxy = ct if ct > 0 else 0.5
        access.values = (access.kind, bytes_, unique, lines, unique_lines, kind, dis_iter,
                         dis_bytes, ct, bytes_ / proxy, unique / proxy, lines / proxy,
                         unique_lines / proxy, access.stride)
    ordered = sorted(accesses, key=lambda a: (-a.values[3], -a.values[1], a.buffer.name))
    for k, access in enumerate(ordered[:BUFFERS_PER_STORE]):
        base = _INDEX[f"b{k}_read"]
        v = access.values
        row[base + ("read", "write", "readwrite").index(v[0])] = 1.0
        row[base + 3:base + 7] = [slog(x) for x in v[1:5]]
        row[base + 7 + ("loop", "serial", "none").index(v[5])] = 1.0
        row[base + 10:base + 18] = [slog(x) for x in v[6:14]]


def _contiguous(access: _Access, item: int) -> int:
    """Bytes of the innermost run of the buffer the access covers whole (at least one
    element)."""
    shape = _shape(access.buffer)
    return shape[-1] * item if shape else item


def _curve(row: np.ndarray, loops: list[_Loop], touched_bytes: list[int],
           ops_per_iteration: float) -> None:
    """Arithmetic intensity (float ops / bytes touched) as loops are added inner to outer,
    sampled at ``CURVE_SAMPLES`` fractions of the total float operations."""
    if not loops or ops_per_iteration <= 0:
        return
    compute, memory = [], []
    ops = float(ops_per_iteration)
    for i in range(len(loops) - 1, -1, -1):
        ops *= loops[i].extent
        compute.append(ops)
        memory.append(max(1.0, float(touched_bytes[i])))
    total = compute[-1]
    p = 0
    base = _INDEX["ai_curve_0"]
    for s in range(CURVE_SAMPLES):
        cur = (s + 1) / CURVE_SAMPLES * total
        while p < len(compute) - 1 and compute[p] < cur - 1e-4:
            p += 1
        if p == 0:
            value = compute[0] / memory[0]
        else:
            lo = compute[p - 1] / memory[p - 1]
            slope = (compute[p] / memory[p] - lo) / max(1e-9, compute[p] - compute[p - 1])
            value = lo + slope * (cur - compute[p - 1])
        row[base + s] = slog(value)


def _alloc(row: np.ndarray, c: _Collector, store: BufferStore, prod: int) -> None:
    info = c.allocs.get(store.buffer.data)
    if info is None:
        return
    size, numel, outer, scope = info
    row[_INDEX["alloc_size"]] = slog(size)
    row[_INDEX["alloc_prod"]] = slog(numel * outer)
    row[_INDEX["alloc_outer_prod"]] = slog(outer)
    row[_INDEX["alloc_inner_prod"]] = slog(prod / max(1, outer))
    row[_INDEX["alloc_local" if scope.startswith("local") else "alloc_global"]] = 1.0


# ----------------------------------------------------------------------------- public

def extract_features(func: PrimFunc | IRModule) -> np.ndarray:
    """Per-store feature vectors of ``func``: ``(n_stores, FEATURE_COUNT)`` float32, one row
    per store statement in program order, without compiling or running anything."""
    rows: list[np.ndarray] = []
    for lowered in lower_for_features(getattr(func, "mod", func)):
        collector = _Collector()
        collector.stmt(lowered.body)
        for row in collector.rows:
            row[_INDEX["func_alloc_bytes"]] = slog(collector.alloc_bytes)
        rows += collector.rows
    if not rows:
        return np.zeros((0, FEATURE_COUNT), dtype=np.float32)
    return np.asarray(rows, dtype=np.float32)


def features_batch(funcs: Iterable[PrimFunc | IRModule]) -> list[np.ndarray]:
    """``extract_features`` of each function, in order."""
    return [extract_features(f) for f in funcs]
