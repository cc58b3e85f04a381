"""``tensorize``: replace a computation by a hardware intrinsic (a registered ``TensorIntrin``).

Given a loop, the subtree under it is first blockized (``sch.blockize``); given a block, the block
must already be such an outer block (a loop nest over one inner block). Its body is matched
against the body of the description's root block:

* both sides are normalised the same way: unit loops are removed (their variable becomes the
  loop's start), the inner block's iterators are replaced by their bindings, and every buffer
  index is simplified knowing the loops' ranges;
* the loop nests must have the same number of loops with the same extents, in the same order,
  and each loop must drive the same kind of iterator (spatial or reduction);
* the expression trees must be equal up to renaming of variables and buffers: the same
  operators, dtypes, constants and operand order;
* each buffer access of the block must be the description's access plus an offset that does not
  depend on the matched loops (``C[vi, vj_o * 8 + vj_i]`` is ``C[vj]`` at offset
  ``(vi, vj_o * 8)``); the offsets are the regions the description's buffers are bound to.

The body is then replaced by the implementation's body, whose buffers become ``T.match_buffer``
views of those regions inside the block (lowering computes their ``elem_offset`` and strides
from the regions). The block keeps its iterators, reads, writes and init.

When a computation does not match, ``ScheduleError`` says which part differs (extent 16 vs 8,
``Cast int32`` vs ``int16``, reduction vs spatial iterator, operand order, access pattern) and
shows the statement of both programs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..arith import Analyzer
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion, MatchBufferRegion
from ..ir.expr import IntImm, PrimExpr, Range, Var, const
from ..ir.functor import Mutator, substitute
from ..ir.rewrite import Renew, copy_buffer, row_major_strides
from .blockize import blockize as _blockize
from .errors import ScheduleError
from .handles import BlockRV, LoopRV
from .reduction import vars_of
from .schedule import Schedule, register_primitive
from .state import replace
from .tensor_intrin import TensorIntrin

SPATIAL, REDUCE = S.IterType.SPATIAL, S.IterType.REDUCE

_COMMUTATIVE = (E.Add, E.Mul, E.Min, E.Max, E.EQ, E.NE, E.And, E.Or)
_OP_SIGN = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.Div: "/", E.Mod: "%", E.FloorDiv: "//",
            E.FloorMod: "%", E.Min: "T.min", E.Max: "T.max", E.EQ: "==", E.NE: "!=", E.LT: "<",
            E.LE: "<=", E.GT: ">", E.GE: ">=", E.And: "and", E.Or: "or"}


class TensorizeMismatch(ScheduleError):
    """The computation differs from the intrinsic's description (``reason`` says where)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def resolve_intrin(intrin: "str | TensorIntrin") -> TensorIntrin:
    if isinstance(intrin, TensorIntrin):
        return intrin
    if isinstance(intrin, str):
        try:
            return TensorIntrin.get(intrin)
        except ValueError as err:  # TensorIntrinError
            raise ScheduleError(f"tensorize: {err}") from None
    raise ScheduleError(f"tensorize: expected an intrinsic name or a TensorIntrin, got {intrin!r}")


# ---------------------------------------------------------------- normalisation


@dataclass
class _Nest:
    """A loop nest over one block, normalised: the loops that are not unit loops, the kind of
    iterator each drives, and the block's body in terms of one variable per loop."""

    loops: list[S.For]
    names: list[Var]  # the variable standing for each loop in ``body`` (an iterator or the loop)
    kinds: list[str]  # "spatial" / "reduce" / "unused"
    body: S.Stmt
    original: S.Stmt  # the inner block's body before normalisation (for messages)
    block: S.Block
    ana: Analyzer = field(default_factory=Analyzer)

    @property
    def var_set(self) -> set[Var]:
        return set(self.names)


def _script(node: Any) -> str:
    try:
        text = node.script()
    except Exception:  # pragma: no cover - printing must never hide the real error
        text = repr(node)
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[0].strip() if len(lines) == 1 else "\n        ".join(l.rstrip() for l in lines)


def normalise(stmt: S.Stmt, where: str, outer_ranges: dict[Var, Range] | None = None) -> _Nest:
    """Normalise the loop nest ``stmt`` (loops down to exactly one BlockRealize)."""
    ana = Analyzer()
    for var, rng in (outer_ranges or {}).items():
        ana.bind(var, rng)
    unit: dict[Var, PrimExpr] = {}
    loops: list[S.For] = []
    while isinstance(stmt, S.For):
        if _is_int(stmt.extent, 1):
            unit[stmt.loop_var] = stmt.min
        else:
            if not isinstance(stmt.extent, IntImm):
                raise ScheduleError(f"tensorize: loop `{stmt.loop_var.name}` of {where} has the "
                                    f"symbolic extent `{_script(stmt.extent)}`; intrinsics have "
                                    "fixed extents")
            loops.append(stmt)
            ana.bind(stmt.loop_var, Range(stmt.min, stmt.extent))
        stmt = stmt.body
    if not isinstance(stmt, S.BlockRealize):
        raise ScheduleError(f"tensorize: {where} must be a perfect loop nest over exactly one "
                            f"block; found a {type(stmt).__name__} inside the loops")
    realize, block = stmt, stmt.block
    if block.init is not None:
        raise ScheduleError(f"tensorize: block `{block.name_hint}` of {where} has a T.init(); "
                            "tensorize the loop above it (blockize moves the init out) or "
                            "decompose_reduction first")
    if block.alloc_buffers or block.match_buffers:
        raise ScheduleError(f"tensorize: block `{block.name_hint}` of {where} allocates or matches "
                            "buffers; intrinsics are matched on plain computations")
    if not _is_true(realize.predicate):
        raise ScheduleError(f"tensorize: block `{block.name_hint}` of {where} has the predicate "
                            f"`T.where({_script(realize.predicate)})`; the intrinsic computes whole "
                            "tiles (pad the computation so no predicate is needed)")
    loop_vars = [l.loop_var for l in loops]
    bindings = [ana.simplify(substitute(v, unit)) if unit else ana.simplify(v)
                for v in realize.iter_values]
    # a loop driven by exactly one iterator bound to it alone is named after that iterator
    users: dict[Var, list[int]] = {v: [] for v in loop_vars}
    for n, value in enumerate(bindings):
        for v in vars_of(value):
            if v in users:
                users[v].append(n)
    names = list(loop_vars)
    renamed: dict[Var, Var] = {}
    for p, lv in enumerate(loop_vars):
        if len(users[lv]) == 1 and bindings[users[lv][0]] is lv:
            iv = block.iter_vars[users[lv][0]].var
            names[p] = iv
            renamed[lv] = iv
            ana.bind(iv, Range(loops[p].min, loops[p].extent))
    subst: dict[Var, PrimExpr] = {}
    for iv, value in zip(block.iter_vars, bindings):
        if not (isinstance(value, Var) and renamed.get(value) is iv.var):
            subst[iv.var] = substitute(value, renamed) if renamed else value
    kinds = ["unused"] * len(loops)
    for iv, value in zip(block.iter_vars, bindings):
        kind = "reduce" if iv.iter_type == REDUCE else "spatial"
        for v in vars_of(value):
            if v in users:
                p = loop_vars.index(v)
                if kinds[p] not in ("unused", kind):
                    raise ScheduleError(
                        f"tensorize: loop `{v.name}` of {where} drives both spatial and "
                        "reduction iterators of block `{block.name_hint}`")
                kinds[p] = kind
    body = substitute(block.body, subst) if subst else block.body
    body = _SimplifyIndices(ana).visit(body)
    return _Nest(loops, names, kinds, body, block.body, block, ana)


class _SimplifyIndices(Mutator):
    def __init__(self, ana: Analyzer) -> None:
        self.ana = ana

    def visit_BufferLoad(self, op: E.BufferLoad) -> PrimExpr:
        return op.with_(indices=tuple(self.ana.simplify(self.visit(i)) for i in op.indices))

    def visit_BufferStore(self, op: S.BufferStore) -> S.Stmt:
        return op.with_(value=self.visit(op.value),
                        indices=tuple(self.ana.simplify(self.visit(i)) for i in op.indices))


def _is_int(e: Any, value: int) -> bool:
    return isinstance(e, IntImm) and e.value == value


def _is_true(e: Any) -> bool:
    return isinstance(e, IntImm) and e.value != 0


def desc_nest(intrin: TensorIntrin) -> _Nest:
    """The description's computation, normalised."""
    body = intrin.desc.body
    if isinstance(body, S.BlockRealize) and body.block.name_hint == "root":
        body = body.block.body
    return normalise(body, f"the description of `{intrin.name}`")


# ---------------------------------------------------------------- matching


@dataclass
class _Binding:
    """Where a description buffer lands: the block's buffer and the offset in each dimension."""

    buffer: Buffer
    offsets: list[PrimExpr]


class _Matcher:
    def __init__(self, desc: _Nest, target: _Nest, describe: str) -> None:
        self.desc, self.target = desc, target
        self.vmap: dict[Var, Var] = dict(zip(desc.names, target.names))
        self.bmap: dict[Buffer, _Binding] = {}
        self.describe = describe  # "intrinsic `x` and block `y`"
        self.inner = target.var_set
        self.deferred: str | None = None

    # -------------------------------------------------------- failure
    def fail(self, reason: str) -> None:
        d = _script(self.desc.original)
        t = _script(self.target.original)
        raise TensorizeMismatch(
            f"tensorize: {self.describe} differ: {reason}\n"
            f"    description: {d}\n"
            f"    block:       {t}", reason)

    # -------------------------------------------------------- loops
    def match_loops(self) -> None:
        d, t = self.desc, self.target
        if len(d.loops) != len(t.loops):
            self.fail(f"the description has {len(d.loops)} loop(s) "
                      f"({_loops_text(d)}) but the block has {len(t.loops)} ({_loops_text(t)}) "
                      "after removing unit loops")
        for p, (dl, tl) in enumerate(zip(d.loops, t.loops)):
            de, te = dl.extent.value, tl.extent.value
            if de != te:
                self.fail(f"extent {de} vs {te}: loop {p} of the description "
                          f"(`{dl.loop_var.name}`) has extent {de}, loop `{tl.loop_var.name}` of "
                          f"the block has extent {te}")
        for p, (dl, tl) in enumerate(zip(d.loops, t.loops)):
            dk, tk = d.kinds[p], t.kinds[p]
            if dk != tk:
                self.fail(f"{_kind_word(dk)} vs {_kind_word(tk)} iterator: loop "
                          f"`{dl.loop_var.name}` of the description drives a {_kind_word(dk)} "
                          f"iterator, loop `{tl.loop_var.name}` of the block a {_kind_word(tk)} one")

    # -------------------------------------------------------- statements
    def stmt(self, d: S.Stmt, t: S.Stmt) -> None:
        if type(d) is not type(t):
            self.fail(f"the description has a {type(d).__name__} where the block has a "
                      f"{type(t).__name__}")
        if isinstance(d, S.BufferStore):
            self.expr(d.value, t.value)
            self.access(d.buffer, d.indices, t.buffer, t.indices, d, t)
        elif isinstance(d, S.SeqStmt):
            if len(d.seq) != len(t.seq):
                self.fail(f"the description has {len(d.seq)} statements, the block {len(t.seq)}")
            for a, b in zip(d.seq, t.seq):
                self.stmt(a, b)
        elif isinstance(d, S.Evaluate):
            self.expr(d.value, t.value)
        else:
            self.fail(f"tensorize matches stores and expressions, not a {type(d).__name__}")

    # -------------------------------------------------------- expressions
    def expr(self, d: Any, t: Any) -> None:
        if isinstance(d, E.Cast) or isinstance(t, E.Cast):
            if not (isinstance(d, E.Cast) and isinstance(t, E.Cast)):
                self.fail(f"{_head(d)} vs {_head(t)}: the description has `{_script(d)}` where "
                          f"the block has `{_script(t)}`")
            if d.dtype != t.dtype:
                self.fail(f"dtype: `Cast {d.dtype}` vs `{t.dtype}`: the description has "
                          f"`{_script(d)}`, the block `{_script(t)}`")
            self.expr(d.value, t.value)
            return
        if type(d) is not type(t):
            self.fail(f"{_head(d)} vs {_head(t)}: the description has `{_script(d)}` where the "
                      f"block has `{_script(t)}`")
        # operands first: the innermost difference (a cast, a buffer) is the one to report
        if isinstance(d, PrimExpr) and not isinstance(d, (E.BinaryOp, E.CmpOp, E.BufferLoad)) \
                and d.dtype != t.dtype:
            self.dtype_fail(d, t)
        if isinstance(d, (E.BinaryOp, E.CmpOp)):
            saved = (dict(self.bmap),)
            try:
                self.expr(d.a, t.a)
                self.expr(d.b, t.b)
            except TensorizeMismatch:
                if isinstance(d, _COMMUTATIVE) and self._matches_swapped(d, t, saved[0]):
                    self.fail(f"operand order: `{_OP_SIGN[type(d)]}` has operands "
                              f"(`{_script(d.a)}`, `{_script(d.b)}`) in the description but "
                              f"(`{_script(t.a)}`, `{_script(t.b)}`) in the block; write them in "
                              "the description's order")
                raise
            if d.dtype != t.dtype:
                self.dtype_fail(d, t)
        elif isinstance(d, Var):
            want = self.vmap.get(d)
            if want is None:
                self.fail(f"the description uses the variable `{d.name}`, which is not one of "
                          "its loops")
            if t is not want:
                self.fail(f"variable `{d.name}` of the description corresponds to `{want.name}` "
                          f"of the block, but the block has `{t.name}` there")
        elif isinstance(d, (E.IntImm, E.FloatImm)):
            if d.value != t.value:
                self.fail(f"constant {d.value} vs {t.value}")
        elif isinstance(d, E.BufferLoad):
            self.access(d.buffer, d.indices, t.buffer, t.indices, d, t)
        elif isinstance(d, E.Call):
            if d.op != t.op or len(d.args) != len(t.args):
                self.fail(f"call `{d.op}` vs `{t.op}`")
            for a, b in zip(d.args, t.args):
                if isinstance(a, PrimExpr):
                    self.expr(a, b)
                elif a != b:
                    self.fail(f"argument {a!r} vs {b!r} of `{d.op}`")
        elif isinstance(d, (E.Broadcast, E.Ramp)):
            if d.lanes != t.lanes:
                self.fail(f"{d.lanes} vs {t.lanes} lanes")
            for name in ("value",) if isinstance(d, E.Broadcast) else ("base", "stride"):
                self.expr(getattr(d, name), getattr(t, name))
        elif isinstance(d, E.Select):
            self.expr(d.condition, t.condition)
            self.expr(d.true_value, t.true_value)
            self.expr(d.false_value, t.false_value)
        elif isinstance(d, E.Not):
            self.expr(d.a, t.a)
        else:
            from ..ir.structural import structural_equal

            if not structural_equal(d, t, map_free_vars=True):
                self.fail(f"`{_script(d)}` vs `{_script(t)}`")

    def dtype_fail(self, d, t) -> None:
        self.fail(f"dtype: {d.dtype} vs {t.dtype}: `{_script(d)}` in the description, "
                  f"`{_script(t)}` in the block")

    def finish(self) -> None:
        if self.deferred:
            self.fail(self.deferred)

    def _matches_swapped(self, d, t, saved_bmap) -> bool:
        self.bmap = dict(saved_bmap)
        deferred = self.deferred
        try:
            self.expr(d.a, t.b)
            self.expr(d.b, t.a)
            return True
        except TensorizeMismatch:
            return False
        finally:
            self.bmap = dict(saved_bmap)
            self.deferred = deferred

    # -------------------------------------------------------- buffer accesses
    def access(self, db: Buffer, didx, tb: Buffer, tidx, d, t) -> None:
        if db.dtype != tb.dtype and self.deferred is None:
            # reported only if nothing else differs (a cast around it says more)
            self.deferred = (f"dtype: {db.dtype} vs {tb.dtype}: buffer `{db.name}` of the description "
                      f"holds {db.dtype}, buffer `{tb.name}` of the block holds {tb.dtype} "
                      f"(`{_access(db, didx)}` vs `{_access(tb, tidx)}`)")
        if len(tidx) < len(didx):
            self.fail(f"access pattern: `{_access(tb, tidx)}` has fewer dimensions than the "
                      f"description's `{_access(db, didx)}`")
        lead = len(tidx) - len(didx)
        ana = self.target.ana
        offsets: list[PrimExpr] = []
        for n, ti in enumerate(tidx):
            if n < lead:
                off = ti
                if vars_of(off) & self.inner:
                    self.fail(f"access pattern: `{_access(db, didx)}` in the description vs "
                              f"`{_access(tb, tidx)}` in the block: dimension {n} (index "
                              f"`{_script(ti)}`) depends on the intrinsic's loops, but only the "
                              f"last {len(didx)} dimension(s) of `{tb.name}` may (they stand for "
                              f"the description's `{db.name}`)")
            else:
                want = substitute(didx[n - lead], self.vmap)
                off = ana.simplify(ti - want)
                if vars_of(off) & self.inner:
                    self.fail(f"access pattern: `{_access(db, didx)}` in the description vs "
                              f"`{_access(tb, tidx)}` in the block: index `{_script(ti)}` is not "
                              f"`{_script(want)}` plus an offset (it differs by `{_script(off)}`, "
                              "which depends on the intrinsic's loops)")
            offsets.append(off)
        bound = self.bmap.get(db)
        if bound is None:
            self.bmap[db] = _Binding(tb, offsets)
            return
        if bound.buffer is not tb:
            self.fail(f"buffer `{db.name}` of the description stands for both `{bound.buffer.name}` "
                      f"and `{tb.name}` in the block")
        for a, b in zip(bound.offsets, offsets):
            if not ana.can_prove_equal(a, b):
                self.fail(f"access pattern: `{tb.name}` is accessed at two different places "
                          f"(`{_script(a)}` vs `{_script(b)}`) where the description's "
                          f"`{db.name}` is the same")


def _access(buf: Buffer, indices) -> str:
    return _script(E.BufferLoad(buf, tuple(indices)))


def _head(e: Any) -> str:
    if isinstance(e, E.Cast):
        return f"`Cast {e.dtype}`"
    if isinstance(e, E.BufferLoad):
        return f"`{e.dtype}` load"
    if isinstance(e, (E.BinaryOp, E.CmpOp)):
        return f"`{_OP_SIGN.get(type(e), type(e).__name__)}`"
    if isinstance(e, PrimExpr):
        return f"`{type(e).__name__} {e.dtype}`"
    return type(e).__name__


def _kind_word(kind: str) -> str:
    return {"reduce": "reduction", "spatial": "spatial", "unused": "unused"}[kind]


def _loops_text(n: _Nest) -> str:
    return ", ".join(f"{l.loop_var.name}: {l.extent.value}" for l in n.loops) or "none"


# ---------------------------------------------------------------- the primitive


@dataclass
class MatchResult:
    """What a successful match binds: for each description parameter buffer, the block's
    region it stands for."""

    regions: list[BufferRegion]


def match(intrin: TensorIntrin, outer: S.Block, outer_ranges: dict[Var, Range]) -> MatchResult:
    """Match the body of the outer block ``outer`` against ``intrin``'s description."""
    desc = desc_nest(intrin)
    target = normalise(outer.body, f"block `{outer.name_hint}`", outer_ranges)
    m = _Matcher(desc, target, f"intrinsic `{intrin.name}` and block `{outer.name_hint}`")
    m.match_loops()
    m.stmt(desc.body, target.body)
    m.finish()
    regions = []
    for p in intrin.desc.params:
        db = intrin.desc.buffer_map.get(p)
        if db is None:
            raise ScheduleError(f"tensorize: intrinsic `{intrin.name}` takes the scalar parameter "
                                f"`{p.name}`; only buffer parameters can be bound")
        bound = m.bmap.get(db)
        if bound is None:
            raise ScheduleError(f"tensorize: the description of `{intrin.name}` never accesses its "
                                f"buffer `{db.name}`, so it cannot be bound to a region")
        lead = len(bound.offsets) - len(db.shape)
        ranges = [Range(o, const(1, o.dtype)) if n < lead else Range(o, db.shape[n - lead])
                  for n, o in enumerate(bound.offsets)]
        regions.append(BufferRegion(bound.buffer, tuple(ranges)))
    return MatchResult(regions)


def _check_compact(intrin: TensorIntrin, block: S.Block, ib: Buffer, region: BufferRegion,
                   ana: Analyzer) -> None:
    """The region must have the layout the implementation's buffer declares: a compact tile
    when it declares no strides, otherwise each constant stride it declares (a variable stride
    is bound to the region's)."""
    src = region.buffer
    strides = list(src.strides) if src.strides else row_major_strides(src.shape)
    kept = len(ib.shape)
    tail = strides[len(strides) - kept:]
    if ib.strides:
        wanted = [None if isinstance(st, Var) else st for st in ib.strides]
        what = f"with strides ({', '.join(_script(st) for st in ib.strides)})"
    else:
        wanted, what = row_major_strides(ib.shape), f"as a compact {_shape(ib.shape)} tile"
        what += f" (strides ({', '.join(_script(st) for st in wanted)}))"
    for n in range(kept):
        if wanted[n] is None or _is_int(ib.shape[n], 1):
            continue
        if not _provably_equal(ana, tail[n], wanted[n]):
            have = [_script(st) for st in tail]
            raise TensorizeMismatch(
                f"tensorize: intrinsic `{intrin.name}` and block `{block.name_hint}` differ: access "
                f"pattern: the implementation reads its buffer `{ib.name}` {what}, but the "
                f"region `{_script(region)}` of `{src.name}` has strides ({', '.join(have)}); "
                "lay the data out so the tile is contiguous (e.g. transform_layout / pack it)",
                "access pattern: region is not contiguous")


def _provably_equal(ana: Analyzer, a: PrimExpr, b: PrimExpr) -> bool:
    """``a == b`` as integers, whatever their widths (int64 shapes against int32 strides)."""
    if a.dtype != b.dtype:
        b = E.Cast(a.dtype, b) if not isinstance(b, IntImm) else const(b.value, a.dtype)
    return ana.can_prove_equal(a, b)


def _shape(shape) -> str:
    return "(" + ", ".join(_script(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def implementation_body(intrin: TensorIntrin, regions: list[BufferRegion], block: S.Block):
    """The implementation's body over fresh view buffers, and the ``T.match_buffer`` views."""
    body = intrin.impl.body
    if isinstance(body, S.BlockRealize) and body.block.name_hint == "root":
        if body.block.alloc_buffers or body.block.match_buffers:
            raise ScheduleError(f"tensorize: the implementation of `{intrin.name}` allocates "
                                "buffers in its root block; declare them inside its body")
        body = body.block.body
    vmap: dict = {}
    bmap: dict = {}
    views = []
    for p, region in zip(intrin.impl.params, regions):
        ib = intrin.impl.buffer_map[p]
        fresh = {}
        for v in [ib.elem_offset, *ib.strides, *ib.shape]:
            if isinstance(v, Var) and v not in fresh:
                fresh[v] = Var(v.name, v.dtype)
        view = copy_buffer(ib, data=Var(ib.data.name, ib.data.dtype),
                           shape=tuple(substitute(s, fresh) for s in ib.shape),
                           strides=tuple(substitute(s, fresh) for s in ib.strides),
                           elem_offset=substitute(ib.elem_offset, fresh))
        vmap.update(fresh)
        vmap[ib.data] = view.data
        bmap[ib] = view
        views.append(MatchBufferRegion(view, region))
    new_body = Renew(vmap, bmap, fold=False).visit(body)
    return new_body, views


def _outer_ranges(sch: Schedule, block_rv: BlockRV) -> tuple[S.Block, dict[Var, Range]]:
    loc = sch.loc(block_rv)
    block = loc.node
    ranges: dict[Var, Range] = {}
    for stmt in loc.path[:-1]:
        if isinstance(stmt, S.For):
            ranges[stmt.loop_var] = Range(stmt.min, stmt.extent)
    for iv in block.iter_vars:
        ranges[iv.var] = iv.dom
    return block, ranges


def outer_block_of(sch: Schedule, block_or_loop: "BlockRV | LoopRV") -> BlockRV:
    if isinstance(block_or_loop, LoopRV):
        sch.loc(block_or_loop)  # a clear error when the loop is gone
        return _blockize(sch, block_or_loop)
    if isinstance(block_or_loop, BlockRV):
        blk = sch.get(block_or_loop)
        stmt = blk.body
        if not isinstance(stmt, (S.For, S.BlockRealize)):
            raise ScheduleError(
                f"tensorize: block `{blk.name_hint}` has no loops or block inside it; give "
                "tensorize the loop where the intrinsic's computation starts (it blockizes the "
                "loops below it) or an outer block made by blockize")
        return block_or_loop
    raise ScheduleError(f"tensorize: expected a loop or block handle, got {block_or_loop!r}")


def _tensorize(sch: Schedule, block_or_loop: "BlockRV | LoopRV",
               intrin: "str | TensorIntrin") -> BlockRV:
    """Replace the computation under ``block_or_loop`` by the intrinsic ``intrin``.

    Given a loop, the loops from it down are blockized first; the outer block is returned.

    Before (``tensorize(j_1, "fma_8x1_f32_avx2")``)::

        for i, j_0, k in T.grid(64, 8, 32):
            for j_1 in range(8):
                with T.block("C"):
                    ...
                    C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    After::

        for i, j_0, k in T.grid(64, 8, 32):
            with T.block("C_o"):
                vi_o, vj_o, vk_o = T.axis.remap("SSR", [i, j_0, k])
                T.reads(C[vi_o, vj_o * 8:vj_o * 8 + 8], A[vi_o, vk_o], B[vk_o, vj_o * 8:vj_o * 8 + 8])
                T.writes(C[vi_o, vj_o * 8:vj_o * 8 + 8])
                A_1 = T.match_buffer(A[vi_o, vk_o], (1,), offset_factor=1)
                B_1 = T.match_buffer(B[vk_o, vj_o * 8:vj_o * 8 + 8], (8,), offset_factor=1)
                C_1 = T.match_buffer(C[vi_o, vj_o * 8:vj_o * 8 + 8], (8,), offset_factor=1)
                C_1[0:8] = T.call_llvm_pure_intrin("float32x8", "llvm.fma.v8f32", ...)
    """
    ti = resolve_intrin(intrin)
    # check the computation before changing anything when a block is given; with a loop, the
    # wrapper restores the schedule if matching fails after blockize
    rv = outer_block_of(sch, block_or_loop)
    block, ranges = _outer_ranges(sch, rv)
    result = match(ti, block, ranges)
    ana = Analyzer()
    for var, rng in ranges.items():
        ana.bind(var, rng)
    for p, region in zip(ti.impl.params, result.regions):
        _check_compact(ti, block, ti.impl.buffer_map[p], region, ana)
    body, views = implementation_body(ti, result.regions, block)
    new_block = block.with_(body=body, match_buffers=tuple(block.match_buffers) + tuple(views))
    sch.commit(replace(sch.func, block, new_block))
    return rv


register_primitive("tensorize")(_tensorize)
_recorded_tensorize = Schedule.tensorize


def tensorize(self: Schedule, block_or_loop: "BlockRV | LoopRV",
              intrin: "str | TensorIntrin") -> BlockRV:
    # a registered intrinsic is recorded by name, so the trace prints and saves as JSON
    if isinstance(intrin, TensorIntrin) and TensorIntrin._registry.get(intrin.name) is intrin:
        intrin = intrin.name
    return _recorded_tensorize(self, block_or_loop, intrin)


tensorize.__doc__ = _tensorize.__doc__
Schedule.tensorize = tensorize

__all__ = ["tensorize", "match", "normalise", "desc_nest", "resolve_intrin", "TensorizeMismatch",
           "MatchResult"]
