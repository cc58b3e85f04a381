"""Do a block's ``T.reads``/``T.writes`` cover what its body touches? (used by ``verify``)

Coverage is decided on linear forms (atom -> coefficient, ``_ONE`` for the constant): an access
lies in ``[min, min + extent)`` when its lowest and highest values over the loops inside the
block differ from the region's ends by constants of the right sign. Anything else (a non-linear
index, an unknown bound) cannot be proven and counts as not covered: a checker that guesses
would let real slips through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .buffer import Buffer, BufferRegion
from .expr import IntImm, PrimExpr, Range, Var
from .functor import Visitor, post_order_visit, substitute
from .node import Node
from .stmt import Block, BlockRealize, For, IterVar

__all__ = ["Access", "uncovered_accesses", "widen_to_cover"]

Lin = dict  # atom (a variable or an opaque expression) -> integer coefficient
_ONE = "1"


def _add(a: Lin, b: Lin, scale: int = 1) -> Lin:
    out = dict(a)
    for key, coeff in b.items():
        out[key] = out.get(key, 0) + scale * coeff
    return {k: c for k, c in out.items() if c != 0}


def _const(value: int) -> Lin:
    return {_ONE: value} if value else {}


def _const_value(lin: Lin) -> int | None:
    return lin.get(_ONE, 0) if set(lin) <= {_ONE} else None


class _Linear(Visitor):
    """An integer expression as a linear form; let-bound variables are seen through."""

    def __init__(self, lets: dict[Var, PrimExpr]) -> None:
        self.lets = lets

    def visit_IntImm(self, imm: IntImm) -> Lin:
        return _const(imm.value)

    def visit_Var(self, var: Var) -> Lin:
        value = self.lets.get(var)
        return {var: 1} if value is None else self.visit(value)

    def visit_Add(self, op: Any) -> Lin:
        return _add(self.visit(op.a), self.visit(op.b))

    def visit_Sub(self, op: Any) -> Lin:
        return _add(self.visit(op.a), self.visit(op.b), -1)

    def visit_Mul(self, op: Any) -> Lin:
        a, b = self.visit(op.a), self.visit(op.b)
        if _const_value(a) is None:
            a, b = b, a
        factor, other = _const_value(a), b
        return {op: 1} if factor is None else _add({}, other, factor)

    def visit_Cast(self, cast: Any) -> Lin:
        return self.visit(cast.value) if cast.dtype.is_integer else {cast: 1}

    def generic_visit(self, node: Node) -> Lin:
        return {node: 1}


def _lin(expr: PrimExpr, lets: dict[Var, PrimExpr] | None = None) -> Lin:
    return _Linear(lets or {}).visit(expr)


def _end(start: Lin, extent: Lin) -> Lin:
    """The last point of ``[start, start + extent)``."""
    return _add(_add(start, extent), _const(-1))


Interval = tuple  # (lowest, highest) as linear forms


def _index_interval(index: PrimExpr, lets: dict[Var, PrimExpr]) -> Interval:
    """The points an index touches: a Ramp spans its lanes, a Broadcast is its value."""
    name = type(index).__name__
    if name == "Broadcast":
        return _index_interval(index.value, lets)
    base = _lin(index.base if name == "Ramp" else index, lets)
    stride = _const_value(_lin(index.stride, lets)) if name == "Ramp" else 0
    if stride is None:
        return {index: 1}, {index: 1}
    reach = _const(stride * (index.lanes - 1)) if name == "Ramp" else {}
    low, high = (reach, {}) if stride < 0 else ({}, reach)
    return _add(base, low), _add(base, high)


def _bound(lin: Lin, ranges: dict[Var, Interval], upper: bool) -> Lin:
    """The highest (``upper``) or lowest value of ``lin`` as the loops in ``ranges`` run."""
    out: Lin = {}
    for atom, coeff in lin.items():
        span = _atom_span(atom, ranges)
        if span is None:
            out = _add(out, {atom: coeff})
            continue
        want_upper = (coeff > 0) == upper
        rest = {v: r for v, r in ranges.items() if v is not atom}
        out = _add(out, _bound(span[1] if want_upper else span[0], rest, want_upper), coeff)
    return out


def _atom_span(atom: Any, ranges: dict[Var, Interval]) -> Interval | None:
    """What an atom ranges over: a loop variable its loop; ``x % c``, ``x // c``, ``min`` and
    ``max`` follow their operands; None when unknown."""
    if isinstance(atom, Var):
        return ranges.get(atom)
    rule = _ATOM_RULES.get(type(atom).__name__)
    if rule is None or not _mentions(atom, ranges):  # fixed while the loops run: stays symbolic
        return None
    return rule(atom, ranges)


def _mentions(expr: PrimExpr, ranges: dict[Var, Interval]) -> bool:
    found: list[Var] = []
    post_order_visit(expr, lambda n: found.append(n) if isinstance(n, Var) and n in ranges
                     else None)
    return bool(found)


def _const_bounds(expr: PrimExpr, ranges: dict[Var, Interval]) -> tuple[int, int] | None:
    lin = _lin(expr)
    low, high = _const_value(_bound(lin, ranges, False)), _const_value(_bound(lin, ranges, True))
    return None if low is None or high is None else (low, high)


def _divisor(atom: Any) -> int | None:
    value = _const_value(_lin(atom.b))
    return value if value is not None and value > 0 else None


def _floordiv_span(atom: Any, ranges: dict[Var, Interval]) -> Interval | None:
    divisor, bounds = _divisor(atom), _const_bounds(atom.a, ranges)
    if divisor is None or bounds is None:
        return None
    return _const(bounds[0] // divisor), _const(bounds[1] // divisor)


def _floormod_span(atom: Any, ranges: dict[Var, Interval]) -> Interval | None:
    divisor, bounds = _divisor(atom), _const_bounds(atom.a, ranges)
    if divisor is None:
        return None
    if bounds is not None and bounds[0] // divisor == bounds[1] // divisor:  # one period
        return _const(bounds[0] % divisor), _const(bounds[1] % divisor)
    return {}, _const(divisor - 1)


def _minmax_span(atom: Any, ranges: dict[Var, Interval], smaller: bool) -> Interval | None:
    """``min(a, b)`` lies between the smaller lows and the smaller highs (``max`` likewise);
    only when those can be compared."""
    a, b = _lin(atom.a), _lin(atom.b)
    low = _pick(_bound(a, ranges, False), _bound(b, ranges, False), smaller)
    high = _pick(_bound(a, ranges, True), _bound(b, ranges, True), smaller)
    return None if low is None or high is None else (low, high)


def _pick(x: Lin, y: Lin, smaller: bool) -> Lin | None:
    diff = _const_value(_add(x, y, -1))
    if diff is None:
        return None
    return x if (diff <= 0) == smaller else y


_ATOM_RULES = {
    "FloorDiv": _floordiv_span,
    "FloorMod": _floormod_span,
    "Min": lambda atom, ranges: _minmax_span(atom, ranges, True),
    "Max": lambda atom, ranges: _minmax_span(atom, ranges, False),
}


@dataclass
class Access:
    """One access a block's regions must cover: the points it touches per dimension."""

    buffer: Buffer
    is_read: bool
    points: tuple[PrimExpr | None, ...]  # the index where it is a single point, for a fast path
    intervals: tuple[Interval, ...]
    ranges: dict[Var, Interval]  # the loops inside the block around the access
    node: Node
    shown: "tuple[PrimExpr, ...] | BufferRegion"  # the indices, or the nested block's region
    via: str | None = None  # the nested block whose region this is
    facts: tuple[Lin, ...] = ()  # linear forms known to be <= 0 there (its T.where)


def _covers(region: BufferRegion, access: Access, iter_doms: dict[Var, Interval]) -> bool:
    if len(region.region) != len(access.intervals):
        return False
    dims = zip(region.region, region.buffer.shape, access.points, access.intervals)
    return all(_dim_covered(r, extent, point, interval, access, iter_doms)
               for r, extent, point, interval in dims)


def _dim_covered(r: Range, extent: PrimExpr, point: Any, interval: Interval, access: Access,
                 iter_doms: dict[Var, Interval]) -> bool:
    """A point equal to the region's start, a region over the whole dimension (where any
    in-bounds index lies; bounds are not this check's business), or a proven interval."""
    if point is not None and point == r.min:
        return True
    if _is_zero(r.min) and _const_value(_add(_lin(r.extent), _lin(extent), -1)) == 0:
        return True
    start = _lin(r.min)
    end = _end(start, _lin(r.extent))
    lows = _bounds(interval[0], access, False)
    highs = _bounds(interval[1], access, True)
    return (any(_nonnegative(_add(low, start, -1), iter_doms) for low in lows)
            and any(_nonnegative(_add(end, high, -1), iter_doms) for high in highs))


def _bounds(lin: Lin, access: Access, upper: bool) -> list[Lin]:
    """Upper (or lower) bounds of ``lin`` over the loops around the access: the loops' own, and
    one per fact ``D <= 0`` of the T.where that guards it (``L <= L - k * D`` for ``k > 0``, so
    an uneven split's ``i_0 * 4 + i_1 < 18`` bounds ``i_0 * 4 + i_1 - 1`` by 16)."""
    found = [_bound(lin, access.ranges, upper)]
    for fact in access.facts:
        k = _cancelling_scale(lin, fact, upper)
        if k is not None:
            found.append(_bound(_add(lin, fact, -k if upper else k), access.ranges, upper))
    return found


def _cancelling_scale(lin: Lin, fact: Lin, upper: bool) -> int | None:
    """The positive integer ``k`` with which ``lin -/+ k * fact`` loses an atom of ``fact``."""
    atoms = [a for a in fact if a != _ONE]
    if not atoms or atoms[0] not in lin:
        return None
    k, rest = divmod(lin[atoms[0]] * (1 if upper else -1), fact[atoms[0]])
    return k if rest == 0 and k > 0 else None


_FACT_SIDES = {"LT": (1, 1), "LE": (1, 0), "GT": (-1, 1), "GE": (-1, 0)}


def _facts(predicate: PrimExpr, lets: dict[Var, PrimExpr]) -> tuple[Lin, ...]:
    """The conjuncts of a T.where that compare integers, each as a linear form ``D <= 0``."""
    name = type(predicate).__name__
    if name == "And":
        return _facts(predicate.a, lets) + _facts(predicate.b, lets)
    side = _FACT_SIDES.get(name)
    if side is None or not predicate.a.dtype.is_integer:
        return ()
    sign, strict = side
    diff = _add(_lin(predicate.a, lets), _lin(predicate.b, lets), -1)
    return (_add(_add({}, diff, sign), _const(strict)),)


def _nonnegative(lin: Lin, iter_doms: dict[Var, Interval]) -> bool:
    """A constant >= 0, or >= 0 for every value of the block's iterators in their domains
    (``A[0:vi + 1]`` covers ``A[vi]`` because ``vi >= 0``)."""
    value = _const_value(lin)
    if value is None:
        value = _const_value(_bound(lin, iter_doms, False))
    return value is not None and value >= 0


class _Accesses(Visitor):
    """The accesses of one block's init and body; nested blocks count by their regions, with
    their iterators replaced by their bindings."""

    def __init__(self) -> None:
        self.ranges: dict[Var, Interval] = {}
        self.lets: dict[Var, PrimExpr] = {}
        self.found: list[Access] = []

    def visit_For(self, loop: For) -> None:
        self.visit((loop.min, loop.extent))
        start = _lin(loop.min, self.lets)
        self.ranges[loop.loop_var] = (start, _end(start, _lin(loop.extent, self.lets)))
        self.visit(loop.body)
        del self.ranges[loop.loop_var]

    def visit_AttrStmt(self, attr: Any) -> None:
        if attr.attr_key == "thread_extent" and isinstance(attr.node, IterVar):
            start = _lin(attr.node.dom.min, self.lets)
            self.ranges[attr.node.var] = (start, _end(start, _lin(attr.node.dom.extent, self.lets)))
        self.generic_visit(attr)

    def visit_LetStmt(self, let: Any) -> None:
        self.visit(let.value)
        self.lets[let.var] = let.value
        self.visit(let.body)
        del self.lets[let.var]

    def visit_BufferLoad(self, load: Any) -> None:
        self.visit(load.indices)
        self.record_indices(True, load.buffer, load.indices, load)

    def visit_BufferStore(self, store: Any) -> None:
        self.visit((store.value, store.indices))
        self.record_indices(False, store.buffer, store.indices, store)

    def visit_BlockRealize(self, realize: BlockRealize) -> None:
        self.visit((realize.iter_values, realize.predicate))
        block = realize.block
        vmap = {iv.var: value for iv, value in zip(block.iter_vars, realize.iter_values)}
        facts = _facts(realize.predicate, self.lets)
        for is_read, regions in ((True, block.reads), (False, block.writes)):
            for region in regions:
                if region.buffer not in block.alloc_buffers:
                    self.record_region(is_read, substitute(region, vmap), realize, block.name_hint,
                                       facts)

    def record_indices(self, is_read: bool, buffer: Buffer, indices: Sequence[PrimExpr],
                       node: Node) -> None:
        points = tuple(None if i.dtype.is_vector else i for i in indices)
        intervals = tuple(_index_interval(i, self.lets) for i in indices)
        self.found.append(Access(buffer, is_read, points, intervals, dict(self.ranges), node,
                                 tuple(indices)))

    def record_region(self, is_read: bool, region: BufferRegion, node: Node, via: str,
                      facts: tuple[Lin, ...] = ()) -> None:
        points = tuple(r.min if _is_one(r.extent) else None for r in region.region)
        intervals = tuple(
            (_lin(r.min, self.lets), _end(_lin(r.min, self.lets), _lin(r.extent, self.lets)))
            for r in region.region
        )
        self.found.append(Access(region.buffer, is_read, points, intervals, dict(self.ranges),
                                 node, region, via, facts))


def _range_interval(r: Range) -> Interval:
    start = _lin(r.min)
    return start, _end(start, _lin(r.extent))


def _is_one(expr: PrimExpr) -> bool:
    return isinstance(expr, IntImm) and expr.value == 1


def _is_zero(expr: PrimExpr) -> bool:
    return isinstance(expr, IntImm) and expr.value == 0


def _declared(block: Block) -> list[Buffer]:
    from .functor import post_order_visit
    from .stmt import DeclBuffer

    found: list[Buffer] = []
    post_order_visit((block.init, block.body),
                     lambda n: found.append(n.buffer) if isinstance(n, DeclBuffer) else None)
    return found


def uncovered_accesses(block: Block) -> list[tuple["Access", list[BufferRegion]]]:
    """Each direct access (and nested block region) of ``block`` that its regions miss, with
    the regions of that buffer it has; buffers the block allocates, matches or declares
    (``T.decl_buffer`` views in its body, e.g. a flat view inside an intrinsic) are its own.
    A block with an init may read what its writes cover without listing it in its reads (TVM
    leaves a reduction's output out of its reads)."""
    own = {*block.alloc_buffers, *(m.buffer for m in block.match_buffers), *_declared(block)}
    collector = _Accesses()
    iter_doms = {iv.var: _range_interval(iv.dom) for iv in block.iter_vars}
    collector.visit((block.init, block.body))
    missed = []
    for access in collector.found:
        if access.buffer in own:
            continue
        listed = block.reads if access.is_read else block.writes
        if access.is_read and block.init is not None:
            listed = (*block.reads, *block.writes)  # a reduction reads what it writes
        regions = [r for r in listed if r.buffer is access.buffer]
        if not any(_covers(r, access, iter_doms) for r in regions):
            missed.append((access, regions))
    return missed


def widen_to_cover(block: Block) -> Block:
    """``block`` with each dimension of its regions that cannot be proven to cover its accesses
    widened to the whole dimension (over-approximating is sound; a region the checker cannot
    follow, like ``(vk_o * 32 + k_1) // 48`` under ``vk_o * 2 // 3``, would be refused)."""
    missed = uncovered_accesses(block)
    if not missed:
        return block
    iter_doms = {iv.var: _range_interval(iv.dom) for iv in block.iter_vars}
    regions = {True: list(block.reads), False: list(block.writes)}
    for access, _ in missed:
        listed = regions[access.is_read]
        for n, region in enumerate(listed):
            if region.buffer is access.buffer:
                listed[n] = _widen(region, access, iter_doms)
    return block.with_(reads=tuple(regions[True]), writes=tuple(regions[False]))


def _widen(region: BufferRegion, access: Access, iter_doms: dict[Var, Interval]) -> BufferRegion:
    if len(region.region) != len(access.intervals):
        return region.buffer.full_region()
    dims = zip(region.region, region.buffer.shape, access.points, access.intervals)
    full = region.buffer.full_region().region
    return region.with_(region=tuple(
        r if _dim_covered(r, extent, point, interval, access, iter_doms) else whole
        for (r, extent, point, interval), whole in zip(dims, full)))
