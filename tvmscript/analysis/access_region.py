"""Which buffer regions a block reads and writes, when the script does not say.

Every load (read) and store (write) inside the block, in order of first access; each index is
relaxed over the loops *inside* the block with simple interval arithmetic (Add, Sub,
Mul/FloorDiv/FloorMod by a constant, Min, Max). Anything else covers the whole dimension.
Nested blocks contribute their own regions with their iterators replaced by their bindings.
Loads count as reads, except that a block with an init does not read the buffers it writes
(TVM's rule: the init gives the first value).
"""

from __future__ import annotations

from typing import Any, Callable

from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion
from ..ir.expr import IntImm, PrimExpr, Range, Var
from ..ir.functor import Visitor, substitute
from ..ir.structural import structural_equal

Interval = tuple[PrimExpr, PrimExpr]  # inclusive (lo, hi)


def infer_block_access_regions(block: S.Block) -> tuple[tuple[BufferRegion, ...], tuple[BufferRegion, ...]]:
    """(reads, writes) of ``block``'s init and body, relaxed over the loops inside it.

    A block with an init (a reduction) does not read what it writes, as in TVM: the init
    provides the first value, so the output is left out of the reads altogether.
    """
    collector = _Collector(block)
    if block.init is not None:
        collector.visit(block.init)
    collector.visit(block.body)
    if block.init is not None:
        for buffer in collector.writes:
            collector.reads.pop(buffer, None)
    return collector.result(collector.reads), collector.result(collector.writes)


class _Collector(Visitor):
    def __init__(self, block: S.Block) -> None:
        self.doms: dict[Var, Interval] = {}
        self.reads: dict[Buffer, list[list[Interval | None]]] = {}
        self.writes: dict[Buffer, list[list[Interval | None]]] = {}
        self.local = set(block.alloc_buffers)
        self.matched = {m.buffer: m.source for m in block.match_buffers}
        self.iter_doms = [(iv.var, iv.dom) for iv in block.iter_vars]

    # ------------------------------------------------------------ walking
    def visit_For(self, node: S.For) -> None:
        self.visit(node.min)
        self.visit(node.extent)
        lo = _interval(node.min, self.doms)
        ext = _interval(node.extent, self.doms)
        if lo is not None and ext is not None:
            self.doms[node.loop_var] = (lo[0], _add(lo[1], _add(ext[1], -1)))
        self.visit(node.body)

    def visit_BufferLoad(self, node: E.BufferLoad) -> None:
        self.visit(node.indices)
        self._access(self.reads, node.buffer, node.indices)

    def visit_BufferStore(self, node: S.BufferStore) -> None:
        self.visit(node.value)
        self.visit(node.indices)
        self._access(self.writes, node.buffer, node.indices)

    def visit_BlockRealize(self, node: S.BlockRealize) -> None:
        self.visit(node.iter_values)
        self.visit(node.predicate)
        inner = node.block
        vmap = {iv.var: v for iv, v in zip(inner.iter_vars, node.iter_values)}
        local = set(inner.alloc_buffers)
        for target, regions in ((self.reads, inner.reads), (self.writes, inner.writes)):
            for region in regions:
                if region.buffer in local:
                    continue
                self._region(target, region.buffer, [
                    (substitute(r.min, vmap), substitute(r.extent, vmap)) for r in region.region])

    # ------------------------------------------------------------ recording
    def _access(self, target: dict, buffer: Buffer, indices: tuple[PrimExpr, ...]) -> None:
        if buffer in self.local:
            return
        if buffer in self.matched:
            source = self.matched[buffer]
            self._region(target, source.buffer, [(r.min, r.extent) for r in source.region])
            return
        dims = []
        for index in indices:
            if isinstance(index, E.Ramp) and isinstance(index.stride, IntImm):
                last = _add(index.base, index.stride.value * (index.lanes - 1))
                lo, hi = _interval(index.base, self.doms), _interval(last, self.doms)
                dims.append(_hull(lo, hi) if lo and hi else None)
            else:
                dims.append(_interval(index, self.doms))
        self._merge(target, buffer, dims)

    def _region(self, target: dict, buffer: Buffer, ranges: list[tuple[PrimExpr, PrimExpr]]) -> None:
        if buffer in self.local:
            return
        dims = []
        for lo, ext in ranges:
            a = _interval(lo, self.doms)
            b = _interval(_add(_add(lo, ext), -1), self.doms)
            dims.append(_hull(a, b) if a and b else None)
        self._merge(target, buffer, dims)

    def _merge(self, target: dict, buffer: Buffer, dims: list[Interval | None]) -> None:
        old = target.get(buffer)
        if old is None:
            target[buffer] = dims
            return
        target[buffer] = [_union(a, b) for a, b in zip(old, dims)]

    def result(self, table: dict) -> tuple[BufferRegion, ...]:
        """The regions. Bounds relaxed over the block's inner loops are simplified knowing the
        iterator domains (``(vk_o * 32 + vk_i) // 2`` gives ``vk_o * 16``, extent 16); a single
        point stays as the body writes it."""
        from ..arith import Analyzer

        ana = Analyzer()
        for var, dom in self.iter_doms:
            ana.bind(var, dom)
        out = []
        for buffer, dims in table.items():
            ranges = []
            for dim, interval in enumerate(dims):
                if interval is None:
                    shape = buffer.shape[dim]
                    ranges.append(Range(E.const(0, shape.dtype), shape))
                elif interval[0] is interval[1]:
                    ranges.append(Range(interval[0], _extent(interval)))
                else:
                    ranges.append(Range(ana.simplify(interval[0]),
                                        ana.simplify(_extent(interval))))
            out.append(BufferRegion(buffer, tuple(ranges)))
        return tuple(out)


# ---------------------------------------------------------------- interval arithmetic


def _interval(expr: PrimExpr, doms: dict[Var, Interval]) -> Interval | None:
    if not _uses(expr, doms):
        return (expr, expr)
    rule = _RULES.get(type(expr))
    return rule(expr, doms) if rule is not None else None


def _uses(expr: PrimExpr, doms: dict) -> bool:
    if not doms:
        return False
    if isinstance(expr, Var):
        return expr in doms
    if isinstance(expr, (IntImm, E.FloatImm, E.StringImm)):
        return False
    return any(_uses(v, doms) for _, v in expr.fields() if isinstance(v, PrimExpr)) or any(
        _uses(i, doms) for _, v in expr.fields() if isinstance(v, tuple)
        for i in v if isinstance(i, PrimExpr))


def _var(e: Var, doms: dict) -> Interval:
    return doms[e]


def _add_rule(e: E.Add, doms: dict) -> Interval | None:
    a, b = _interval(e.a, doms), _interval(e.b, doms)
    return (_add(a[0], b[0]), _add(a[1], b[1])) if a and b else None


def _sub_rule(e: E.Sub, doms: dict) -> Interval | None:
    a, b = _interval(e.a, doms), _interval(e.b, doms)
    return (_sub(a[0], b[1]), _sub(a[1], b[0])) if a and b else None


def _mul_rule(e: E.Mul, doms: dict) -> Interval | None:
    x, c = (e.a, e.b) if isinstance(e.b, IntImm) else (e.b, e.a)
    a = _interval(x, doms) if isinstance(c, IntImm) else None
    if a is None:
        return None
    lo, hi = _mul(a[0], c), _mul(a[1], c)
    return (lo, hi) if c.value >= 0 else (hi, lo)


def _div_rule(e: E.FloorDiv, doms: dict) -> Interval | None:
    a = _interval(e.a, doms)
    if a is None or not isinstance(e.b, IntImm) or e.b.value <= 0:
        return None
    return (_fold(E.FloorDiv, a[0], e.b), _fold(E.FloorDiv, a[1], e.b))


def _mod_rule(e: E.FloorMod, doms: dict) -> Interval | None:
    if not isinstance(e.b, IntImm) or e.b.value <= 0:
        return None
    a = _interval(e.a, doms)
    if a and isinstance(a[0], IntImm) and isinstance(a[1], IntImm) \
            and a[0].value // e.b.value == a[1].value // e.b.value:
        return (IntImm(e.dtype, a[0].value % e.b.value), IntImm(e.dtype, a[1].value % e.b.value))
    return (IntImm(e.dtype, 0), IntImm(e.dtype, e.b.value - 1))


def _minmax(cls: type) -> Callable[[Any, dict], Interval | None]:
    def rule(e: Any, doms: dict) -> Interval | None:
        a, b = _interval(e.a, doms), _interval(e.b, doms)
        return (_fold(cls, a[0], b[0]), _fold(cls, a[1], b[1])) if a and b else None

    return rule


_RULES: dict[type, Callable[[Any, dict], Interval | None]] = {
    Var: _var, E.Add: _add_rule, E.Sub: _sub_rule, E.Mul: _mul_rule, E.FloorDiv: _div_rule,
    E.FloorMod: _mod_rule, E.Min: _minmax(E.Min), E.Max: _minmax(E.Max),
}

_PY = {E.Add: lambda a, b: a + b, E.Sub: lambda a, b: a - b, E.Mul: lambda a, b: a * b,
       E.FloorDiv: lambda a, b: a // b, E.Min: min, E.Max: max}


def _fold(cls: type, a: PrimExpr, b: PrimExpr) -> PrimExpr:
    if isinstance(a, IntImm) and isinstance(b, IntImm):
        return IntImm(a.dtype, _PY[cls](a.value, b.value))
    return E.binary(cls, a, b)


def _add(a: PrimExpr, b: "PrimExpr | int") -> PrimExpr:
    if isinstance(b, int):
        if b == 0:
            return a
        b = E.const(b, a.dtype)
    if isinstance(b, IntImm) and b.value == 0:
        return a
    if isinstance(a, IntImm) and a.value == 0:
        return b
    if isinstance(a, E.Add) and isinstance(a.b, IntImm) and isinstance(b, IntImm):
        return _add(a.a, a.b.value + b.value)
    return _fold(E.Add, a, b)


def _sub(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    if isinstance(b, IntImm):
        return _add(a, -b.value)
    if structural_equal(a, b):
        return E.const(0, a.dtype)
    return _fold(E.Sub, a, b)


def _mul(a: PrimExpr, c: IntImm) -> PrimExpr:
    if c.value == 1:
        return a
    return _fold(E.Mul, a, c)


def _extent(interval: Interval) -> PrimExpr:
    lo, hi = interval
    if lo is hi or structural_equal(lo, hi):
        return E.const(1, lo.dtype)
    return _add(_diff(hi, lo), 1)


def _diff(hi: PrimExpr, lo: PrimExpr) -> PrimExpr:
    """hi - lo, cancelling a common base (``vi*16 + 15 - vi*16`` is 15)."""
    base_hi, off_hi = _split(hi)
    base_lo, off_lo = _split(lo)
    if base_hi is None and base_lo is None:
        return E.const(off_hi - off_lo, hi.dtype)
    if base_hi is not None and base_lo is not None and structural_equal(base_hi, base_lo):
        return E.const(off_hi - off_lo, hi.dtype)
    return _sub(hi, lo)


def _split(e: PrimExpr) -> tuple[PrimExpr | None, int]:
    if isinstance(e, IntImm):
        return None, e.value
    if isinstance(e, E.Add) and isinstance(e.b, IntImm):
        return e.a, e.b.value
    if isinstance(e, E.Sub) and isinstance(e.b, IntImm):
        return e.a, -e.b.value
    return e, 0


def _base_of(e: PrimExpr) -> PrimExpr | None:
    """The non-constant part of ``base + c`` (None for a constant)."""
    return _split(e)[0]


def _hull(a: Interval, b: Interval) -> Interval:
    return (a[0], b[1])


def _union(a: Interval | None, b: Interval | None) -> Interval | None:
    if a is None or b is None:
        return None
    if structural_equal(a[0], b[0]) and structural_equal(a[1], b[1]):
        return a
    if all(isinstance(x, IntImm) for x in (*a, *b)):
        return (min(a[0], b[0], key=lambda x: x.value), max(a[1], b[1], key=lambda x: x.value))
    base_a, _ = _split(a[0])
    base_b, _ = _split(b[0])
    if base_a is not None and base_b is not None and structural_equal(base_a, base_b):
        lo = a[0] if _split(a[0])[1] <= _split(b[0])[1] else b[0]
        hi = a[1] if _split(a[1])[1] >= _split(b[1])[1] else b[1]
        if _base_of(a[1]) is not None and structural_equal(_base_of(a[1]), base_a) \
                and _base_of(b[1]) is not None and structural_equal(_base_of(b[1]), base_b):
            return (lo, hi)
    return None


def reads_without_init(block: S.Block) -> tuple[BufferRegion, ...]:
    """The reads ``block`` has once its init is taken away (``decompose_reduction``,
    ``blockize``, lowering): the update then reads what it writes, which a block with an init
    leaves out of its reads. The written regions come first, as TVM orders them."""
    if block.init is None:
        return block.reads
    listed = {r.buffer for r in block.reads}
    return tuple(w for w in block.writes if w.buffer not in listed) + block.reads
