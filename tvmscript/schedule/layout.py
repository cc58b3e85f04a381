"""Layout primitives: ``transform_layout`` (re-index a buffer) and ``pad_einsum``.

``transform_layout`` on a buffer the function allocates changes the buffer itself (its shape,
every access, every region). On a *parameter* buffer the signature stays as it is (callers keep
passing the same arrays): the function gets an internal buffer ``<X>_packed`` in the new
layout, a block ``<X>_pack`` at the start that copies the parameter into it (when the function
reads ``X``) and a block ``<X>_unpack`` at the end that copies it back (when the function writes
``X``); every other access uses ``<X>_packed``. That is the packed-B matmul: the packing block
runs once, the matmul streams ``B_packed`` contiguously.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from ..analysis import infer_block_access_regions
from ..arith import Analyzer
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion
from ..ir.expr import BufferLoad, IntImm, PrimExpr, Range, Var, const
from ..ir.function import PrimFunc
from ..ir.functor import Mutator, post_order_visit
from .arguments import dtype_problem
from .errors import ScheduleError
from .handles import BlockRV
from .index_map import IndexMap
from .reduction import all_of, reduction_info, with_regions
from .schedule import Schedule, register_primitive
from .state import find_block, fresh_block_name, replace, walk


def _resolve_buffer(blk: S.Block, buffer: Any) -> Buffer:
    name = blk.name_hint
    if isinstance(buffer, Buffer):
        return buffer
    if isinstance(buffer, str):
        for r in blk.reads + blk.writes:
            if r.buffer.name == buffer:
                return r.buffer
        raise ScheduleError(f"transform_layout: block `{name}` neither reads nor writes a buffer "
                            f"named `{buffer}`")
    kind, index = _buffer_index(buffer)
    regions = blk.reads if kind == "read" else blk.writes
    if not 0 <= index < len(regions):
        raise ScheduleError(f"transform_layout: block `{name}` has {len(regions)} {kind} "
                            f"buffers, so there is no {kind} buffer {index}")
    return regions[index].buffer


def _buffer_index(buffer: Any) -> tuple[str, int]:
    """``("read" | "write", k)`` from ``k`` (a write) or a pair, or ScheduleError."""
    pair = ("write", buffer) if not isinstance(buffer, (tuple, list)) else tuple(buffer)
    if (len(pair) != 2 or pair[0] not in ("read", "write") or isinstance(pair[1], bool)
            or not isinstance(pair[1], numbers.Integral)):
        raise ScheduleError(f"transform_layout: a buffer is given as ('read', k), ('write', k), "
                            f"k or a name, got {buffer!r}")
    return pair[0], int(pair[1])


def _const_shape(buf: Buffer) -> list[int]:
    if not all(isinstance(s, IntImm) for s in buf.shape):
        raise ScheduleError(f"transform_layout: buffer `{buf.name}` has a symbolic shape "
                            f"{[repr(s) for s in buf.shape]}; only constant shapes are supported")
    return [s.value for s in buf.shape]


@register_primitive("transform_layout")
def transform_layout(sch: Schedule, block: BlockRV, buffer: Any, index_map: IndexMap,
                     pad_value: float | None = None) -> None:
    """Re-index a buffer everywhere in the function by ``index_map`` (new shape, accesses, regions).

    ``buffer`` is ``("read", k)`` / ``("write", k)`` (the k-th region of ``block``), a bare ``k``
    (a write), or a buffer name. A map that pads (``i // 16`` of 100 rows) needs ``pad_value``.
    Parameter buffers keep the signature: see the module docstring (``<X>_pack`` block).

    Before (``transform_layout(C, ("read", 1), lambda k, n: (n // 16, k, n % 16))``)::

        for i, j, k in T.grid(128, 128, 128):
            with T.block("C"):
                ...
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    After::

        B_packed = T.alloc_buffer((8, 128, 16))
        for i0, i1, i2 in T.grid(8, 128, 16):
            with T.block("B_pack"):
                v0, v1, v2 = T.axis.remap("SSS", [i0, i1, i2])
                B_packed[v0, v1, v2] = B[v1, v2 + v0 * 16]
        for i, j, k in T.grid(128, 128, 128):
            with T.block("C"):
                ...
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B_packed[vj // 16, vk, vj % 16]
    """
    what = "transform_layout"
    blk: S.Block = sch.get(block)
    buf = _resolve_buffer(blk, buffer)
    problem = pad_value is not None and dtype_problem(pad_value, buf.dtype)
    if problem:
        raise ScheduleError(f"{what}: pad_value {pad_value!r} {problem}")
    shape = _const_shape(buf)
    if index_map.ndim_in != len(shape):
        raise ScheduleError(f"{what}: index map {index_map.as_python()} takes "
                            f"{index_map.ndim_in} indices but buffer `{buf.name}` has "
                            f"{len(shape)} dimensions")
    try:
        new_shape = index_map.map_shape(shape)
        inverse = index_map.inverse(shape)
    except ValueError as err:
        raise ScheduleError(f"{what}: cannot apply {index_map.as_python()} to buffer "
                            f"`{buf.name}` {tuple(shape)}: {err}") from None
    padded = math.prod(new_shape) != math.prod(shape)
    if padded and pad_value is None:
        raise ScheduleError(f"{what}: {index_map.as_python()} maps buffer `{buf.name}` "
                            f"{tuple(shape)} to {new_shape}, which adds padding; give pad_value")
    func = sch.func
    _check_uses(func, buf)
    params = {b for b in func.buffer_map.values()}
    new_buf = Buffer(f"{buf.name}_packed" if buf in params else buf.name, buf.dtype, new_shape,
                     scope=buf.scope)
    body = _Rewrite(buf, new_buf, index_map).visit(func.body)
    func = func.with_(body=body)
    if buf in params:
        func = _add_copies(sch, func, buf, new_buf, index_map, inverse, shape, padded, pad_value)
    elif padded:
        func = _add_fill(sch, func, new_buf, pad_value)
    sch.commit(func)


def _check_uses(func: PrimFunc, buf: Buffer) -> None:
    problems: list[str] = []

    def visit(n: Any) -> None:
        if isinstance(n, S.Block):
            for m in n.match_buffers:
                if m.source.buffer is buf:
                    problems.append(f"block `{n.name_hint}` matches a region of it with "
                                    "T.match_buffer")
        if isinstance(n, (BufferLoad, S.BufferStore)) and n.buffer is buf \
                and any(i.dtype.lanes != 1 for i in n.indices):
            problems.append("it has vector accesses")
        if isinstance(n, (S.DeclBuffer,)) and n.buffer is buf:
            problems.append("it is declared with T.decl_buffer")

    post_order_visit(func.body, visit)
    allocated = any(isinstance(l.node, S.Block) and buf in l.node.alloc_buffers
                    for l in walk(func.body))
    if not allocated and buf not in set(func.buffer_map.values()):
        problems.append("it is neither a parameter nor allocated by a block")
    if problems:
        raise ScheduleError(f"transform_layout: cannot change the layout of buffer "
                            f"`{buf.name}`: {problems[0]}")


class _Rewrite(Mutator):
    """Replace ``old`` by ``new`` with indices mapped; regions remapped; indices simplified."""

    def __init__(self, old: Buffer, new: Buffer, index_map: IndexMap) -> None:
        self.old, self.new, self.map = old, new, index_map
        self.ana = Analyzer()

    def indices(self, idx: tuple[PrimExpr, ...]) -> tuple[PrimExpr, ...]:
        return tuple(self.ana.simplify(e) for e in self.map.map_indices(idx))

    def visit_For(self, loop: S.For) -> S.Stmt:
        with self.ana.binding(loop.loop_var, Range(loop.min, loop.extent)):
            return self.generic_visit(loop)

    def visit_BufferLoad(self, load: BufferLoad) -> PrimExpr:
        load = self.generic_visit(load)
        if load.buffer is self.old:
            return BufferLoad(self.new, self.indices(load.indices))
        return load

    def visit_BufferStore(self, store: S.BufferStore) -> S.Stmt:
        store = self.generic_visit(store)
        if store.buffer is self.old:
            return S.BufferStore(self.new, store.value, self.indices(store.indices))
        return store

    def visit_Block(self, block: S.Block) -> S.Stmt:
        for iv in block.iter_vars:
            if iv.var.dtype.is_integer:
                self.ana.bind(iv.var, iv.dom)
        block = self.generic_visit(block)
        changes: dict = {}
        if self.old in block.alloc_buffers:
            changes["alloc_buffers"] = tuple(self.new if b is self.old else b
                                             for b in block.alloc_buffers)
        for field in ("reads", "writes"):
            regions = getattr(block, field)
            if any(r.buffer is self.old for r in regions):
                changes[field] = tuple(self.region(r) if r.buffer is self.old else r
                                       for r in regions)
        return block.with_(**changes) if changes else block

    def region(self, region: BufferRegion) -> BufferRegion:
        """The old region's image under the map (relaxed to a box)."""
        rvars = [Var(f"r{d}") for d in range(len(region.region))]
        idx = [r.min if _is_one(r.extent) else r.min + v for r, v in zip(region.region, rvars)]
        stmt: S.Stmt = S.Evaluate(BufferLoad(self.new, self.map.map_indices(idx)))
        for r, v in reversed(list(zip(region.region, rvars))):
            if not _is_one(r.extent):
                stmt = S.For(v, const(0, v.dtype), r.extent, body=stmt)
        reads, _ = infer_block_access_regions(S.Block("tmp", body=stmt))
        ranges = tuple(Range(self.ana.simplify(r.min), self.ana.simplify(r.extent))
                       for r in reads[0].region)
        return BufferRegion(self.new, ranges)


def _is_one(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value == 1


def _touches(func: PrimFunc, buf: Buffer) -> tuple[bool, bool]:
    reads = writes = False

    def visit(n: Any) -> None:
        nonlocal reads, writes
        if isinstance(n, BufferLoad) and n.buffer is buf:
            reads = True
        if isinstance(n, S.BufferStore) and n.buffer is buf:
            writes = True

    post_order_visit(func.body, visit)
    return reads, writes


def copy_nest(name: str, shape: list[int], make: Callable[[list[Var]], S.Stmt],
              names: list[str] | None = None) -> S.Stmt:
    """``for ax...: with T.block(name): v... = remap(S...); <make(v)>`` over ``shape``."""
    names = names or [f"ax{d}" for d in range(len(shape))]
    loops = [Var(n) for n in names]
    ivs = [S.IterVar(Var(f"v_{n}"), Range(const(0), const(s)), S.IterType.SPATIAL)
           for n, s in zip(names, shape)]
    block = with_regions(S.Block(name, tuple(ivs), body=make([iv.var for iv in ivs])))
    stmt: S.Stmt = S.BlockRealize(tuple(loops), const(True), block)
    for v, s in reversed(list(zip(loops, shape))):
        stmt = S.For(v, const(0), const(s), body=stmt)
    return stmt


def _root(func: PrimFunc, what: str) -> S.Block:
    root = func.root_block
    if root is None:
        raise ScheduleError(f"{what}: the function has no root block to hold the new buffer")
    return root


def _add_copies(sch, func, buf, new_buf, index_map, inverse, shape, padded, pad_value):
    root = _root(func, "transform_layout")
    reads, writes = _touches(func, new_buf)
    before, after = [], []
    if reads or not writes:
        def pack(v: list[Var]) -> S.Stmt:
            src = list(inverse.map_indices(v))
            value: PrimExpr = BufferLoad(buf, tuple(src))
            if padded:
                inside = all_of([E.LT(s, const(n)) for s, n in zip(src, shape)])
                value = E.Call(buf.dtype, "tir.if_then_else",
                               (inside, value, const(pad_value, buf.dtype)))
            return S.BufferStore(new_buf, value, tuple(v))

        before.append(copy_nest(fresh_block_name(func, f"{buf.name}_pack"),
                                [s.value for s in new_buf.shape], pack))
    if writes:
        def unpack(v: list[Var]) -> S.Stmt:
            return S.BufferStore(buf, BufferLoad(new_buf, index_map.map_indices(v)), tuple(v))

        after.append(copy_nest(fresh_block_name(func, f"{buf.name}_unpack"), shape, unpack))
    new_root = root.with_(alloc_buffers=root.alloc_buffers + (new_buf,),
                          body=S.seq(*before, root.body, *after))
    return replace(func, root, new_root)


def _add_fill(sch, func, new_buf, pad_value):
    for loc in walk(func.body):
        if isinstance(loc.node, S.Block) and new_buf in loc.node.alloc_buffers:
            blk = loc.node
            fill = copy_nest(fresh_block_name(func, f"{new_buf.name}_fill"),
                             [s.value for s in new_buf.shape],
                             lambda v: S.BufferStore(new_buf, const(pad_value, new_buf.dtype),
                                                     tuple(v)))
            return replace(func, blk, blk.with_(body=S.seq(fill, blk.body)))
    return func


@register_primitive("pad_einsum")
def pad_einsum(sch: Schedule, block: BlockRV, padding: list) -> None:
    """Pad an einsum block's iteration space up to multiples of ``padding`` (one per iterator).

    The block must be bound trivially (each iterator to its own loop, a perfect nest starting at
    0), index every buffer by plain iterators, and be a sum of products (init 0) or a spatial
    store. Inputs whose padded dimensions grow are copied to ``<X>_pad`` (zeros outside) by a
    block ``<X>_pad`` before the nest; the output is computed into ``<Y>_pad`` and copied back
    by a block ``<Y>_unpad`` after it. Afterwards the loops split evenly by the factors.

    Before (``pad_einsum(C, [32, 32, 1])`` on a 127 x 127 x 128 matmul)::

        for i, j, k in T.grid(127, 127, 128):
            with T.block("C"): ... C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    After::

        for i0, i1 in T.grid(128, 128):
            with T.block("A_pad"): ...
                A_pad[v0, v1] = T.if_then_else(v0 < 127 and v1 < 128, A[v0, v1], T.float32(0))
        for i, j, k in T.grid(128, 128, 128):
            with T.block("C"): ... C_pad[vi, vj] = C_pad[vi, vj] + A_pad[vi, vk] * B_pad[vk, vj]
        for i0, i1 in T.grid(127, 127):
            with T.block("C_unpad"): ... C[v0, v1] = C_pad[v0, v1]
    """
    what = "pad_einsum"
    loc = sch.loc(block)
    blk: S.Block = loc.node
    realize: S.BlockRealize = loc.path[-2]
    name = blk.name_hint
    loops = loc.loops()
    if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) or p <= 0
           for p in padding):
        raise ScheduleError(f"{what}: padding factors must be positive integers, got {padding}")
    padding = [int(p) for p in padding]
    if len(padding) != len(blk.iter_vars):
        raise ScheduleError(f"{what}: block `{name}` has {len(blk.iter_vars)} iterators but "
                            f"{len(padding)} padding factors were given")
    _trivial_nest(blk, realize, loops, what)
    extents = {iv.var: iv.dom.extent.value for iv in blk.iter_vars}
    padded = {iv.var: -(-extents[iv.var] // p) * p for iv, p in zip(blk.iter_vars, padding)}
    for iv in blk.iter_vars:
        problem = dtype_problem(padded[iv.var], iv.var.dtype)
        if problem:
            raise ScheduleError(f"{what}: padding iterator `{iv.var.name}` of block `{name}` to "
                                f"{padded[iv.var]} {problem}")
    if all(padded[v] == extents[v] for v in extents):
        raise ScheduleError(f"{what}: the iterators of block `{name}` already are multiples of "
                            f"{padding}; nothing to pad")
    stores, loads = _einsum_accesses(blk, what)
    if blk.init is not None or any(iv.iter_type == S.IterType.REDUCE for iv in blk.iter_vars):
        info = reduction_info(blk, what)
        if info.reducer.name != "add" or not _is_zero_const(blk.init.value):
            raise ScheduleError(f"{what}: block `{name}` is not a sum (init 0, +): padding "
                                "with zeros would change its result")
        factors = _product_factors(info.rhs)
        if factors is None:
            raise ScheduleError(f"{what}: the summand of block `{name}` is not a product of "
                                "buffer loads")
        for iv in blk.iter_vars:
            v = iv.var
            if iv.iter_type == S.IterType.REDUCE and padded[v] != extents[v] and not any(
                    any(i is v and _dim(f.buffer, d) == extents[v] for d, i in enumerate(f.indices))
                    for f in factors):
                raise ScheduleError(f"{what}: reduction iterator `{v.name}` of block `{name}` "
                                    "indexes no factor that padding would fill with zeros")
    new_bufs: dict = {}
    for acc in stores + loads:
        b = acc.buffer
        if b in new_bufs:
            continue
        shape = [_dim(b, d) for d in range(len(b.shape))]
        new_shape = list(shape)
        for d, i in enumerate(acc.indices):
            new_shape[d] = max(new_shape[d], padded[i])
        if new_shape != shape:
            new_bufs[b] = Buffer(f"{b.name}_pad", b.dtype, new_shape, scope=b.scope)
    written = {st.buffer for st in stores}
    for b in written:
        if b in new_bufs and blk.init is None and any(l.buffer is b for l in loads):
            raise ScheduleError(f"{what}: block `{name}` accumulates into `{b.name}` without "
                                "T.init(); its padded copy would start undefined")
    func = sch.func
    before, after = [], []
    for b, nb in new_bufs.items():
        shape = [_dim(b, d) for d in range(len(b.shape))]
        if any(l.buffer is b for l in loads) and b not in written:
            before.append(copy_nest(fresh_block_name(func, f"{b.name}_pad"),
                                    [s.value for s in nb.shape], _pad_copy(b, nb, shape)))
        if b in written:
            after.append(copy_nest(fresh_block_name(func, f"{b.name}_unpad"), shape,
                                   lambda v, b=b, nb=nb: S.BufferStore(b, BufferLoad(nb, tuple(v)),
                                                                       tuple(v))))
    new_ivs = tuple(iv.with_(dom=Range(iv.dom.min, const(padded[iv.var], iv.dom.extent.dtype)))
                    for iv in blk.iter_vars)
    swap = _Swap(new_bufs)
    new_blk = blk.with_(iter_vars=new_ivs, init=swap.visit(blk.init) if blk.init else None,
                        body=swap.visit(blk.body))
    new_blk = with_regions(new_blk)
    stmt: S.Stmt = realize.with_(block=new_blk)
    for l in reversed(loops):
        v = next(iv.var for iv, val in zip(blk.iter_vars, realize.iter_values)
                 if val is l.loop_var)
        stmt = l.with_(extent=const(padded[v], l.extent.dtype), body=stmt)
    top = loops[0]
    scope = loc.enclosing_block()
    nest = S.seq(*before, stmt, *after)
    func = replace(func, top, nest)
    scope_loc = find_block(func, scope.name_hint)
    func = replace(func, scope_loc.node, scope_loc.node.with_(
        alloc_buffers=scope_loc.node.alloc_buffers + tuple(new_bufs.values())))
    from .reduction import _flatten_seqs

    sch.commit(_flatten_seqs(func))


def _dim(b: Buffer, d: int) -> int:
    s = b.shape[d]
    if not isinstance(s, IntImm):
        raise ScheduleError(f"pad_einsum: buffer `{b.name}` has a symbolic shape")
    return s.value


def _is_zero_const(e: PrimExpr) -> bool:
    return isinstance(e, (IntImm, E.FloatImm)) and e.value == 0


def _trivial_nest(blk: S.Block, realize: S.BlockRealize, loops: list[S.For], what: str) -> dict:
    name = blk.name_hint
    vals = list(realize.iter_values)
    loop_vars = [l.loop_var for l in loops]
    if (sorted(map(id, vals)) != sorted(map(id, loop_vars))
            or any(not isinstance(l.min, IntImm) or l.min.value != 0 for l in loops)
            or any(not (isinstance(iv.dom.min, IntImm) and iv.dom.min.value == 0
                        and isinstance(iv.dom.extent, IntImm)) for iv in blk.iter_vars)):
        raise ScheduleError(f"{what}: block `{name}` must be bound trivially: each iterator to "
                            "its own loop starting at 0, and every enclosing loop to an iterator")
    for outer, inner in zip(loops, loops[1:] + [realize]):
        if outer.body is not inner:
            raise ScheduleError(f"{what}: the loops around block `{name}` must form a perfect "
                                "nest with the block alone inside")
    if not (isinstance(realize.predicate, IntImm) and realize.predicate.value == 1):
        raise ScheduleError(f"{what}: block `{name}` has a T.where predicate")
    return {l.loop_var: l for l in loops}


def _einsum_accesses(blk: S.Block, what: str):
    stores: list = []
    loads: list = []
    ivars = {iv.var for iv in blk.iter_vars}

    def visit(n: Any) -> None:
        if isinstance(n, S.BufferStore):
            stores.append(n)
        elif isinstance(n, BufferLoad):
            loads.append(n)

    for part in (blk.init, blk.body):
        if part is not None:
            post_order_visit(part, visit)
    for acc in stores + loads:
        if any(i not in ivars for i in acc.indices) or len(set(map(id, acc.indices))) != \
                len(acc.indices):
            raise ScheduleError(f"pad_einsum: block `{blk.name_hint}` indexes "
                                f"`{acc.buffer.name}` by something other than distinct "
                                "iterators; it is not an einsum")
    if blk.alloc_buffers or blk.match_buffers:
        raise ScheduleError(f"pad_einsum: block `{blk.name_hint}` allocates or matches buffers")
    return stores, loads


def _product_factors(e: PrimExpr) -> list | None:
    if isinstance(e, E.Mul):
        a, b = _product_factors(e.a), _product_factors(e.b)
        return None if a is None or b is None else a + b
    if isinstance(e, E.Cast):
        return _product_factors(e.value)
    if isinstance(e, BufferLoad):
        return [e]
    return None


def _pad_copy(b: Buffer, nb: Buffer, shape: list[int]):
    def make(v: list[Var]) -> S.Stmt:
        inside = all_of([E.LT(x, const(n)) for x, n, m in zip(v, shape, nb.shape)
                         if n != m.value])
        value = E.Call(b.dtype, "tir.if_then_else",
                       (inside, BufferLoad(b, tuple(v)), const(0, b.dtype)))
        return S.BufferStore(nb, value, tuple(v))

    return make


class _Swap(Mutator):
    def __init__(self, mapping: dict) -> None:
        self.mapping = mapping

    def visit_BufferLoad(self, load: BufferLoad) -> PrimExpr:
        load = self.generic_visit(load)
        nb = self.mapping.get(load.buffer)
        return BufferLoad(nb, load.indices) if nb is not None else load

    def visit_BufferStore(self, store: S.BufferStore) -> S.Stmt:
        store = self.generic_visit(store)
        nb = self.mapping.get(store.buffer)
        return S.BufferStore(nb, store.value, store.indices) if nb is not None else store


def _transform_layout_method(self: Schedule, block: BlockRV, buffer: Any, index_map: Any,
                             pad_value: float | None = None) -> None:
    if not isinstance(index_map, IndexMap) and callable(index_map):
        try:
            index_map = IndexMap.from_func(index_map)
        except Exception as err:  # the user's lambda: anything may go wrong in it
            raise ScheduleError(f"transform_layout: {err}") from err
    return _registered(self, block, buffer, index_map, pad_value=pad_value) \
        if pad_value is not None else _registered(self, block, buffer, index_map)


_registered = Schedule.transform_layout
_transform_layout_method.__doc__ = transform_layout.__doc__
Schedule.transform_layout = _transform_layout_method  # lambdas become IndexMaps before tracing


__all__ = ["IndexMap", "copy_nest", "pad_einsum", "transform_layout"]
