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
from typing import Any, Callable

from ..analysis import infer_block_access_regions
from ..arith import Analyzer
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion
from ..ir.expr import BufferLoad, IntImm, PrimExpr, Range, Var, const
from ..ir.function import PrimFunc
from ..ir.functor import Mutator, post_order_visit
from .errors import ScheduleError
from .handles import BlockRV
from .index_map import IndexMap
from .reduction import all_of, reduction_info, vars_of, with_regions
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
    kind, index = ("write", buffer) if isinstance(buffer, int) else tuple(buffer)
    if kind not in ("read", "write"):
        raise ScheduleError(f"transform_layout: buffer index kind must be 'read' or 'write', "
                            f"got {kind!r}")
    regions = blk.reads if kind == "read" else blk.writes
    if not 0 <= int(index) < len(regions):
        raise ScheduleError(f"transform_layout: block `{name}` has {len(regions)} {kind} "
                            f"buffers, so there is no {kind} buffer {int(index)}")
    return regions[int(index)].buffer


def _const_shape(buf: Buffer) -> list[int]:
    if not all(isinstance(s, IntImm) for s in buf.shape):
        raise ScheduleError(f"transform_layout: buffer `{buf.name}` has a symbolic shape "
                            f"{[repr(s) for s in buf.shape]}; only constant shapes are supported")
    return [s.value for s in buf.shape]


@register_primitive("transform_layout")
def transform_layout(sch: Schedule, block: BlockRV, buffer: Any, index_map: IndexMap,
                     pad_value: "int | float | None" = None) -> None:
    """Re-index a buffer everywhere in the function by ``index_map`` (new shape, accesses, regions).

    ``buffer`` is ``("read", k)`` / ``("write", k)`` (the k-th region of ``block``), a bare ``k``
    (a write), or a buffer name. A map that pads (``i // 16`` of 100 rows) needs ``pad_value``.
    Parameter buffers keep the signature: see the module docstring (``<X>_pack`` block).

    Before (``transform_layout(C, ("read", 2), lambda k, n: (n // 16, k, n % 16))``)::

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
    if not isinstance(index_map, IndexMap):
        raise ScheduleError(f"{what}: index_map must be an IndexMap or a lambda, got "
                            f"{type(index_map).__name__}")
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
        if isinstance(n, (BufferLoad, S.BufferStore)) and n.buffer is buf:
            if any(i.dtype.lanes != 1 for i in n.indices):
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


def _transform_layout_method(self: Schedule, block: BlockRV, buffer: Any, index_map: Any,
                             pad_value: "int | float | None" = None) -> None:
    if not isinstance(index_map, IndexMap) and callable(index_map):
        index_map = IndexMap.from_func(index_map)
    return _registered(self, block, buffer, index_map, pad_value=pad_value) \
        if pad_value is not None else _registered(self, block, buffer, index_map)


_registered = Schedule.transform_layout
_transform_layout_method.__doc__ = transform_layout.__doc__
Schedule.transform_layout = _transform_layout_method  # lambdas become IndexMaps before tracing


__all__ = ["transform_layout", "IndexMap", "copy_nest"]
