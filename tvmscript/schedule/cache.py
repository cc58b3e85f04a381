"""Buffers and storage: ``cache_read``, ``cache_write``, ``set_scope``, ``storage_align``.

A cache stage is a copy block placed in the same scope as the blocks it serves; at the root it
copies the whole buffer (a write cache: what its block writes), inside a block (after blockize)
only what the served blocks touch there, so the copy stays inside that block's regions.
``compute_at`` / ``reverse_compute_at`` then shrink it to a tile (``region.py`` works out which
part each tile needs).
"""

from __future__ import annotations

import math

from ..arith import Analyzer
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion, MatchBufferRegion
from ..ir.expr import BufferLoad, IntImm, PrimExpr, Range, Var, const
from ..ir.functor import Mutator
from .compute_location import (
    Leaf,
    Scope,
    allocated_in,
    body_items,
    build_nest,
    get_scope,
    subtree_index,
)
from .errors import ScheduleError
from .handles import BlockRV
from .region import block_regions, union_regions
from .schedule import Schedule, register_primitive
from .state import fresh_block_name, replace_many


class _Redirect(Mutator):
    """Accesses of ``old`` become accesses of ``new`` (loads only when ``loads_only``)."""

    def __init__(self, old: Buffer, new: Buffer, loads_only: bool = False) -> None:
        self.old, self.new, self.loads_only = old, new, loads_only

    def visit_BufferLoad(self, load: BufferLoad):
        load = self.generic_visit(load)
        return load.with_(buffer=self.new) if load.buffer is self.old else load

    def visit_BufferStore(self, store: S.BufferStore):
        store = self.generic_visit(store)
        if store.buffer is self.old and not self.loads_only:
            return store.with_(buffer=self.new)
        return store

    def visit_MatchBufferRegion(self, match: MatchBufferRegion) -> MatchBufferRegion:
        """A tensorized block reaches the buffer through its match_buffer views: they move to the
        cache too (the accesses go through the view, the regions alone would not move them)."""
        return match.with_(source=self._region(match.source))

    def visit_Block(self, block: S.Block):
        new = self.generic_visit(block)
        reads = tuple(self._region(r) for r in new.reads)
        writes = new.writes if self.loads_only else tuple(self._region(r) for r in new.writes)
        return new.with_(reads=reads, writes=writes)

    def _region(self, r: BufferRegion) -> BufferRegion:
        return r.with_(buffer=self.new) if r.buffer is self.old else r


def _copy_nest(sch: Schedule, scope: Scope, targets: list[Leaf], src: Buffer, dst: Buffer,
               reads: bool, name: str) -> S.Stmt:
    """``for ax...: with T.block(name): dst[v...] = src[v...]`` over what the cache holds (see
    ``_copied_region``), with a T.where where that region may leave the buffer (an uneven tile)."""
    ivars = [S.IterVar(Var(f"v{d}", s.dtype), Range(const(0, s.dtype), s))
             for d, s in enumerate(src.shape)]
    point = tuple(Range(iv.var, const(1, iv.var.dtype)) for iv in ivars)
    idx = tuple(iv.var for iv in ivars)
    block = S.Block(name, tuple(ivars), reads=(BufferRegion(src, point),),
                    writes=(BufferRegion(dst, point),),
                    body=S.BufferStore(dst, BufferLoad(src, idx), idx))
    ana = Analyzer()
    for iv in scope.block.iter_vars:
        ana.bind(iv.var, iv.dom)
    buf = src if reads else dst
    region = _copied_region(sch, scope, targets, buf, reads, ana)
    domain = {iv.var: (r.min, ana.simplify(r.min + r.extent - 1))
              for iv, r in zip(ivars, region.region)}
    return build_nest(S.BlockRealize(idx, const(True), block), domain, ana,
                      preserve_unit_loops=True)


def _copied_region(sch: Schedule, scope: Scope, targets: list[Leaf], buf: Buffer,
                   reads: bool, ana: Analyzer) -> BufferRegion:
    """What the cache stage copies: the whole buffer at the function's root (as TVM); inside a
    block, only what ``targets`` read (or write) of it there, so the copy stays inside the
    block's regions and a write cache does not copy back elements nobody wrote."""
    if reads and getattr(sch.func.body, "block", None) is scope.block:
        return buf.full_region()
    found: BufferRegion | None = None
    for t in targets:
        region = block_regions(t.realize, t.loops_below(scope.block), reads=reads, ana=ana,
                               buffers={buf}, clamp=False)[buf]
        found = region if found is None else union_regions(found, region, ana)
    return found


def _cache_buffer(buf: Buffer, scope: str) -> Buffer:
    return Buffer(f"{buf.name}_{scope.replace('.', '_')}", buf.dtype, buf.shape, scope=scope)


def _check_scope_name(scope: str) -> None:
    if not isinstance(scope, str) or not scope or scope.split(".")[0] not in (
            "global", "shared", "local", "warp", "wmma"):
        raise ScheduleError(f"storage scope `{scope}` is not one of global, shared, local, warp, "
                            f"wmma.* (optionally with a `.tag`)")


def _rebuild(sch: Schedule, scope: Scope, pos: int, nest: S.Stmt, new_alloc: Buffer,
             redirect: Mutator, targets: list[Leaf]) -> None:
    """Scope body with ``targets`` redirected, ``nest`` inserted at top-level position ``pos``."""
    items = body_items(scope.block.body)
    new_items = []
    for i, item in enumerate(items):
        if i == pos:
            new_items.append(nest)
        inner = {t.realize: t.realize.with_(block=redirect.visit(t.block))
                 for t in targets if t.under(item)}
        new_items.append(_replace_in(item, inner) if inner else item)
    if pos == len(items):
        new_items.append(nest)
    new_scope = scope.block.with_(body=S.seq(*new_items),
                                  alloc_buffers=scope.block.alloc_buffers + (new_alloc,))
    sch.commit(replace_many(sch.func, {scope.block: new_scope}))


def _replace_in(stmt: S.Stmt, mapping: dict) -> S.Stmt:
    from .state import _Replace

    return _Replace({id(k): v for k, v in mapping.items()}).visit(stmt)


@register_primitive("cache_read")
def cache_read(sch: Schedule, block: BlockRV, read_buffer_index: int, storage_scope: str,
               consumer_blocks: list[BlockRV] | None = None) -> BlockRV:
    """Copy a buffer a block reads into a new buffer in ``storage_scope``; readers use the copy.

    Before::

        for i, k in T.grid(128, 128):
            with T.block("C"): ... C[vi] = C[vi] + A[vi, vk]

    After ``cache_read(C, 1, "shared")``::

        A_shared = T.alloc_buffer((128, 128), scope="shared")
        for ax0, ax1 in T.grid(128, 128):
            with T.block("A_shared"): ... A_shared[v0, v1] = A[v0, v1]
        for i, k in T.grid(128, 128):
            with T.block("C"): ... C[vi] = C[vi] + A_shared[vi, vk]
    """
    loc = sch.loc(block)
    scope = get_scope(sch, loc)
    leaf = scope.leaf(loc.node)
    _check_scope_name(storage_scope)
    reads = leaf.block.reads
    if not 0 <= read_buffer_index < len(reads):
        raise ScheduleError(f"block `{leaf.name}` reads {len(reads)} buffer region(s); index "
                            f"{read_buffer_index} is out of range")
    buf = reads[read_buffer_index].buffer
    if buf in leaf.writes():
        raise ScheduleError(f"block `{leaf.name}` also writes `{buf.name}`, so its reads cannot "
                            f"come from a read cache")
    if consumer_blocks is None:
        targets = [r for r in scope.readers(buf) if buf not in r.writes()]
    else:
        targets = []
        for rv in consumer_blocks:
            c = sch.loc(rv).node
            found = [r for r in scope.leaves if r.block is c]
            if not found or buf not in found[0].reads() or buf in found[0].writes():
                raise ScheduleError(f"block `{rv.name}` is not a block of this scope that only "
                                    f"reads `{buf.name}`")
            targets.append(found[0])
        if leaf not in targets:
            targets.append(leaf)
    items = body_items(scope.block.body)
    first = min(subtree_index(items, t) for t in targets)
    last = max(subtree_index(items, t) for t in targets)
    for w in scope.writers(buf):
        if first <= subtree_index(items, w) <= last:
            raise ScheduleError(f"block `{w.name}` writes `{buf.name}` between (or in the loop "
                                f"nest of) its readers, so a read cache placed before "
                                f"block `{leaf.name}` would hold stale values")
    pos = first
    cache = _cache_buffer(buf, storage_scope)
    name = fresh_block_name(sch.func, cache.name)
    nest = _copy_nest(sch, scope, targets, buf, cache, True, name)
    _rebuild(sch, scope, pos, nest, cache, _Redirect(buf, cache, loads_only=True), targets)
    return BlockRV(name)


def _init_writes(block, buf) -> bool:
    """Whether ``block``'s init stores into ``buf`` (blockize moves a reduction's init there)."""
    from ..ir.functor import post_order_visit
    from ..ir.stmt import BufferStore

    if block is None or block.init is None:
        return False
    found = []
    post_order_visit(block.init, lambda n: found.append(n)
                     if isinstance(n, BufferStore) and n.buffer is buf else None)
    return bool(found)


@register_primitive("cache_write")
def cache_write(sch: Schedule, block: BlockRV, write_buffer_index: int,
                storage_scope: str) -> BlockRV:
    """Make a block write a new buffer in ``storage_scope``, copied to the original right after.

    Before::

        for i, k in T.grid(128, 128):
            with T.block("C"): ... C[vi] = C[vi] + A[vi, vk]

    After ``cache_write(C, 0, "local")``::

        C_local = T.alloc_buffer((128,), scope="local")
        for i, k in T.grid(128, 128):
            with T.block("C"): ... C_local[vi] = C_local[vi] + A[vi, vk]
        for ax0 in range(128):
            with T.block("C_local"): v0 = T.axis.spatial(128, ax0); C[v0] = C_local[v0]
    """
    loc = sch.loc(block)
    scope = get_scope(sch, loc)
    leaf = scope.leaf(loc.node)
    _check_scope_name(storage_scope)
    writes = leaf.block.writes
    if not 0 <= write_buffer_index < len(writes):
        raise ScheduleError(f"block `{leaf.name}` writes {len(writes)} buffer region(s); index "
                            f"{write_buffer_index} is out of range")
    buf = writes[write_buffer_index].buffer
    others = [w.name for w in scope.writers(buf) if w is not leaf]
    if others:
        raise ScheduleError(f"blocks {others} also write `{buf.name}`, so block `{leaf.name}` "
                            f"cannot get a write cache for it")
    if _init_writes(scope.block, buf):
        raise ScheduleError(
            f"block `{scope.block.name_hint}` initialises `{buf.name}` in its init, which the "
            f"write cache of block `{leaf.name}` would not see; apply cache_write before blockize"
        )
    items = body_items(scope.block.body)
    pos = subtree_index(items, leaf)
    mixed = [r.name for r in scope.readers(buf) if r is not leaf and r.under(items[pos])]
    if mixed:
        raise ScheduleError(f"block `{mixed[0]}` reads `{buf.name}` in the same loop nest as "
                            f"block `{leaf.name}`; the write cache would be copied back too late")
    _check_dense_write(scope, leaf, buf)
    cache = _cache_buffer(buf, storage_scope)
    name = fresh_block_name(sch.func, cache.name)
    nest = _copy_nest(sch, scope, [leaf], cache, buf, False, name)
    _rebuild(sch, scope, pos + 1, nest, cache, _Redirect(buf, cache), [leaf])
    return BlockRV(name)


def _check_dense_write(scope: Scope, leaf: Leaf, buf: Buffer) -> None:
    """Refuse a write cache whose copy back would cover elements the block never writes (a
    strided ``B[2 * i]``): it would store the cache's uninitialised values there. Decided on
    constant sizes: fewer instances times elements per instance than the copied region holds."""
    loops = leaf.loops_below(scope.block)
    region = block_regions(leaf.realize, loops, reads=False, buffers={buf})[buf]
    written = [w for w in leaf.block.writes if w.buffer is buf]
    if len(written) != 1:
        return
    sizes = [_const_int(e) for e in [loop.extent for loop in loops]
             + [r.extent for r in written[0].region]]
    copied = [_const_int(r.extent) for r in region.region]
    if None in sizes or None in copied:
        return
    if math.prod(sizes) < math.prod(copied):
        raise ScheduleError(
            f"block `{leaf.name}` writes {math.prod(sizes)} element(s) of `{buf.name}` spread over "
            f"{math.prod(copied)}; a write cache would copy back elements it never wrote")


def _const_int(e: PrimExpr) -> int | None:
    return e.value if isinstance(e, IntImm) else None


class _SwapBuffer(Mutator):
    def __init__(self, old: Buffer, new: Buffer) -> None:
        self.old, self.new = old, new

    def visit_Buffer(self, b: Buffer) -> Buffer:
        return self.new if b is self.old else b


@register_primitive("set_scope")
def set_scope(sch: Schedule, block: BlockRV, buffer_index: int, storage_scope: str) -> None:
    """Change the storage scope of a buffer a block writes (the buffer must be allocated here).

    Before: ``B = T.alloc_buffer((128,))``   After ``set_scope(B_block, 0, "shared")``:
    ``B = T.alloc_buffer((128,), scope="shared")``
    """
    blk = sch.get(block)
    _check_scope_name(storage_scope)
    if not 0 <= buffer_index < len(blk.writes):
        raise ScheduleError(f"block `{blk.name_hint}` writes {len(blk.writes)} buffer region(s); "
                            f"index {buffer_index} is out of range")
    buf = blk.writes[buffer_index].buffer
    if allocated_in(sch.func, buf) is None:
        raise ScheduleError(f"buffer `{buf.name}` written by block `{blk.name_hint}` is a "
                            f"parameter of the function; its storage scope cannot change")
    if buf.scope == storage_scope:
        return
    new = buf.with_(scope=storage_scope)
    sch.commit(_SwapBuffer(buf, new).visit(sch.func))


@register_primitive("storage_align")
def storage_align(sch: Schedule, block: BlockRV, buffer_index: int, axis: int, factor: int,
                  offset: int) -> None:
    """Ask for ``stride[axis] % factor == offset`` of a buffer the block writes (a hint).

    Recorded as TVM does, in the block annotation ``buffer_dim_align``: a list of
    ``[buffer_index, axis, factor, offset]``. Before: ``with T.block("B"):`` After
    ``storage_align(B, 0, 0, 128, 1)``: ``T.block_attr({"buffer_dim_align": [[0, 0, 128, 1]]})``.
    Lowering keeps the compact layout (the hint only matters for shared-memory bank conflicts).
    """
    loc = sch.loc(block)
    blk = loc.node
    if not 0 <= buffer_index < len(blk.writes):
        raise ScheduleError(f"block `{blk.name_hint}` writes {len(blk.writes)} buffer region(s); "
                            f"index {buffer_index} is out of range")
    buf = blk.writes[buffer_index].buffer
    ndim = len(buf.shape)
    if not -ndim <= axis < ndim:
        raise ScheduleError(f"axis {axis} is out of range for buffer `{buf.name}` with {ndim} "
                            f"dimension(s) (block `{blk.name_hint}`)")
    axis %= ndim
    if int(factor) <= 0:
        raise ScheduleError(f"storage_align factor must be positive, got {factor} "
                            f"(block `{blk.name_hint}`)")
    if allocated_in(sch.func, buf) is None:
        raise ScheduleError(f"buffer `{buf.name}` written by block `{blk.name_hint}` is a "
                            f"parameter of the function, so its storage cannot be aligned")
    entry = [int(buffer_index), int(axis), int(factor), int(offset)]
    old = [list(e) for e in blk.annotations.get("buffer_dim_align", [])]
    kept = [e for e in old if not (e[0] == entry[0] and e[1] == entry[1])]
    ann = dict(blk.annotations)
    ann["buffer_dim_align"] = kept + [entry]
    sch.commit(replace_many(sch.func, {blk: blk.with_(annotations=ann)}))
