"""``annotate-op-pattern``: how a kernel maps its inputs to its output, which is what operator
fusion (``fuse-ops``) decides with (TVM's ``AnnotateTIROpPattern``).

Each loop-level function gets the attribute ``op_pattern``, an int with TVM's numbering::

    ELEM_WISE = 0          out[i, j] = f(a[i, j], b[i, j])
    BROADCAST = 1          out[i, j] = f(a[i, j], b[j])          (inputs read at a subset of
                                                                 the output's indices, in order)
    INJECTIVE = 2          out[i, j] = a[j, i]                   (reshape, transpose, pad: each
                                                                 input index a function of the
                                                                 output's indices)
    COMM_REDUCE = 3        out[i] = sum_k a[i, k]
    OUT_EWISE_FUSABLE = 4  out[i, j] = sum_k a[i, k] * b[k, j]   (matmul, conv2d, pooling, and a
                                                                 reduction whose result is then
                                                                 combined element-wise: softmax)
    TUPLE = 7, OPAQUE = 8  anything else (plain loops, calls, several stores in a block)

A function's pattern is the most general of its blocks', read block by block in program order:
a block whose body is one store ``O[v...] = value`` is element-wise, broadcast or injective by
how each load of ``value`` is indexed (an element-wise load beside broadcast ones keeps the
block element-wise: ``C[i, j] = A[i, j] + B[j]``); a block with reduction iterators is
OUT_EWISE_FUSABLE when it is a contraction ``C[s] = C[s] + A[...] * B[...]`` with data reuse
(some output index missing from an operand) or when a load mixes reduction and spatial
iterators in one index (windows), and COMM_REDUCE otherwise; an injective block that writes the
function's output after a COMM_REDUCE block makes the function OUT_EWISE_FUSABLE (softmax).
An index ``0`` into a unit dimension counts as the iterator there when that iterator's extent is
1, so ``C[v0, v1] = A[0, v1] + B[v0, v1]`` over a (1, n) output is element-wise.

A function that already has ``op_pattern`` keeps it (a hand-written kernel may say better).
"""

from __future__ import annotations

from enum import IntEnum

from tvmscript.ir import PrimFunc
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer
from tvmscript.ir.functor import Visitor

from .infra import PassContext, prim_func_pass

ATTR = "op_pattern"


class OpPattern(IntEnum):
    """TVM's ``OpPatternKind``: the larger, the less fusion allows."""

    ELEM_WISE = 0
    BROADCAST = 1
    INJECTIVE = 2
    COMM_REDUCE = 3
    OUT_EWISE_FUSABLE = 4
    TUPLE = 7
    OPAQUE = 8


@prim_func_pass("annotate-op-pattern", opt_level=0)
def annotate_op_pattern(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Set ``op_pattern`` on every loop-level function that has none."""
    if ATTR in func.attrs:
        return func
    return func.with_attr(ATTR, int(op_pattern(func)))


def pattern_of(func: PrimFunc) -> OpPattern:
    """The function's ``op_pattern`` attribute, or its analysis when it has none."""
    value = func.attrs.get(ATTR)
    if value is None:
        return op_pattern(func)
    try:
        return OpPattern(int(value))
    except (TypeError, ValueError):
        raise ValueError(f"kernel {func.name!r}: attribute {ATTR!r} is {value!r}, not one of "
                         f"{[int(k) for k in OpPattern]} ({', '.join(k.name for k in OpPattern)})"
                         ) from None


def op_pattern(func: PrimFunc) -> OpPattern:
    """Classify ``func`` (see the module docstring)."""
    root = func.root_block
    if root is None:
        return OpPattern.OPAQUE
    blocks = _Blocks()
    blocks.visit(root.body)
    if blocks.opaque or not blocks.found:
        return OpPattern.OPAQUE
    outputs = set(func.buffers)
    kind = OpPattern.ELEM_WISE
    for block in blocks.found:
        kind = _combine(kind, block, outputs)
        if kind == OpPattern.OPAQUE:
            break
    return kind


class _Blocks(Visitor):
    """The blocks under the root in program order; ``opaque`` when anything else than loops
    around blocks is there (plain stores, conditions, calls, nested blocks)."""

    def __init__(self) -> None:
        self.found: list[S.Block] = []
        self.opaque = False

    def visit_SeqStmt(self, node: S.SeqStmt) -> None:
        self.visit(node.seq)

    def visit_For(self, node: S.For) -> None:
        self.visit(node.body)

    def visit_BlockRealize(self, node: S.BlockRealize) -> None:
        self.found.append(node.block)

    def visit_Stmt(self, node: S.Stmt) -> None:
        self.opaque = True


def _combine(kind: OpPattern, block: S.Block, outputs: set[Buffer]) -> OpPattern:
    """The function's pattern so far (``kind``) followed by ``block``."""
    store = block.body
    if not isinstance(store, S.BufferStore) or block.match_buffers or block.alloc_buffers:
        return OpPattern.OPAQUE
    loads = _loads(store.value)
    extents = {iv.var: iv.dom.extent for iv in block.iter_vars}
    index_kind = _index_pattern(store, loads, extents)
    if index_kind != OpPattern.OPAQUE:
        if store.buffer in outputs and kind == OpPattern.COMM_REDUCE:
            return OpPattern.OUT_EWISE_FUSABLE  # a reduction, then its output combined: softmax
        return max(kind, index_kind)
    reduce_vars = [iv.var for iv in block.iter_vars if iv.iter_type == S.IterType.REDUCE]
    if not reduce_vars:
        return OpPattern.OPAQUE
    if _is_contraction(store) or not all(_pure_reduce(ld, reduce_vars) for ld in loads):
        return max(kind, OpPattern.OUT_EWISE_FUSABLE)
    return max(kind, OpPattern.COMM_REDUCE)


def _index_pattern(store: S.BufferStore, loads: list[E.BufferLoad], extents: dict) -> OpPattern:
    """How the loads of one store are indexed, relative to the store."""
    kind, elementwise = OpPattern.ELEM_WISE, False
    for load in loads:
        if _same_indices(store, load, extents):
            elementwise = True
        elif _is_broadcast(store, load):
            kind = max(kind, OpPattern.BROADCAST)
        elif _is_injective(store, load, extents):
            kind = max(kind, OpPattern.INJECTIVE)
        else:
            return OpPattern.OPAQUE
    if kind == OpPattern.BROADCAST and elementwise:
        return OpPattern.ELEM_WISE
    return kind


def _loads(expr: E.PrimExpr) -> list[E.BufferLoad]:
    found: list[E.BufferLoad] = []

    class _Find(Visitor):
        def visit_BufferLoad(self, load: E.BufferLoad) -> None:
            found.append(load)
            self.generic_visit(load)

    _Find().visit(expr)
    return found


def int_value(e: E.PrimExpr) -> int | None:
    """The value of an integer constant (also one under a cast: ``T.Cast("int64", 0)``)."""
    while isinstance(e, E.Cast) and e.dtype.is_int:
        e = e.value
    return e.value if isinstance(e, E.IntImm) and not e.dtype.is_bool else None


def _is_zero(e: E.PrimExpr) -> bool:
    return int_value(e) == 0


def _is_one(e: E.PrimExpr) -> bool:
    return int_value(e) == 1


def _same_indices(store: S.BufferStore, load: E.BufferLoad, extents: dict) -> bool:
    """``load`` reads the element ``store`` writes (``0`` standing for an iterator of extent 1)."""
    if len(load.indices) != len(store.indices):
        return False
    for li, si in zip(load.indices, store.indices):
        unit = isinstance(si, E.Var) and _is_one(extents.get(si)) and _is_zero(li)
        if not (li == si or unit):
            return False
    return True


def _is_broadcast(store: S.BufferStore, load: E.BufferLoad) -> bool:
    """Every load index is a store index, in the store's order (unit dimensions read at 0
    skipped)."""
    j, n = 0, len(store.indices)
    for dim, index in zip(load.buffer.shape, load.indices):
        if _is_one(dim) and _is_zero(index):
            continue
        while j < n and not (isinstance(index, E.Var) and store.indices[j] is index):
            j += 1
        if j == n:
            return False
        j += 1
    return True


def _is_injective(store: S.BufferStore, load: E.BufferLoad, extents: dict) -> bool:
    """The store is indexed by iterators and the load's indices use no other iterators."""
    if not all(isinstance(i, E.Var) for i in store.indices):
        return False
    allowed = set(store.indices)
    return all(v in allowed for v in _iterators(load.indices, extents))


def _iterators(exprs, extents: dict) -> list[E.Var]:
    """The block iterators used in ``exprs`` (size variables are not iterators)."""
    found: list[E.Var] = []

    class _Find(Visitor):
        def visit_Var(self, var: E.Var) -> None:
            if var in extents:
                found.append(var)

    _Find().visit(tuple(exprs))
    return found


def _pure_reduce(load: E.BufferLoad, reduce_vars: list[E.Var]) -> bool:
    """No index mixes a reduction iterator with anything else (``A[i, k]``, not ``A[i + k]``)."""
    doms = dict.fromkeys(reduce_vars, None)
    for index in load.indices:
        used = _iterators((index,), doms)
        if used and not (isinstance(index, E.Var) and index in doms):
            return False
    return True


def _is_contraction(store: S.BufferStore) -> bool:
    """``C[s] = C[s] + A[...] * B[...]`` where an operand lacks some output index (the data reuse
    of matmul and convolution; a row-wise dot product ``C[i] += A[i, k] * B[i, k]`` has none)."""
    value = store.value
    if not (isinstance(value, E.Add) and isinstance(value.a, E.BufferLoad)
            and value.a.buffer is store.buffer and value.a.indices == store.indices
            and isinstance(value.b, E.Mul)):
        return False
    operands = [_strip_cast(value.b.a), _strip_cast(value.b.b)]
    if not all(isinstance(x, E.BufferLoad) for x in operands):
        return False
    spatial = [i for i in store.indices if isinstance(i, E.Var)]
    return any(not all(_mentions(x, v) for v in spatial) for x in operands)


def _strip_cast(e: E.PrimExpr) -> E.PrimExpr:
    return e.value if isinstance(e, E.Cast) else e


def _mentions(load: E.BufferLoad, var: E.Var) -> bool:
    return var in _iterators(load.indices, {var: None})


__all__ = ["ATTR", "OpPattern", "annotate_op_pattern", "op_pattern", "pattern_of"]
