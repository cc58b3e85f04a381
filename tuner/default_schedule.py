"""Default CPU schedules: the tuner's rules with every sampled decision chosen by analysis.

A model has dozens of kernels and tuning one takes minutes. ``default_schedule`` schedules each
at once from a fixed model of the CPU (``CpuModel``: SIMD lanes, vector registers, caches,
cores), with the steps of the design space of ``tuner.space`` (``AutoInline``, multi-level
tiling with a local accumulator and the element-wise consumer under the tile, ``AddRFactor``,
operand packing, parallelize / vectorize / unroll) and every decision that the tuner samples
(tile sizes, vector width, unroll depth, packing, loop order) derived from the loop extents and
the access patterns. Tile sizes still go through ``sample_perfect_tile`` (with the chosen
decision), so the result is a trace like a tuned one.

By kind of block:

* a reduction with data reuse (matmul, dense, batch matmul, conv2d, depthwise conv2d) is
  tiled: parallel outer tiles, the whole reduction, then a register tile (``register_tile``:
  the sizes, vector and operand layouts with the fewest loads per multiply-add that fit the
  registers) accumulated in a local buffer; its element-wise epilogue (bias add + ReLU) is
  folded into the accumulator's write-back under the tile;
* a reduction without reuse (pooling) runs its reduction loops outside its unit-stride output
  loop, which becomes the vector; a long row reduction (softmax, layer norm) is ``rfactor``-ed
  into vector lanes;
* everything else (padding, element-wise, injective) is parallelized, when it has the work to
  pay for it, and vectorized.

It never fails: a step that a primitive refuses is skipped, a schedule that does not verify
gives way to one without tiling, and that to the function unchanged.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import tvmscript
from backends.target import Target
from tvmscript.arith import Analyzer
from tvmscript.arith.linear import to_linear
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer, BufferRegion
from tvmscript.ir.expr import IntImm, Range, Var
from tvmscript.ir.function import IRModule, PrimFunc
from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError
from tvmscript.schedule.index_map import IndexMap
from tvmscript.schedule.state import children

from .space.analysis import (
    block_of,
    const_extents,
    has_reuse,
    is_reduction,
    is_spatial,
    simple_loops,
    vars_in,
)
from .space.auto_inline import AutoInline
from .space.generate import block_names, has_block
from .space.postproc import (
    _parallelize,
    leaf_blocks,
    rewrite_parallel_vectorize_unroll,
    rewrite_reduction_blocks,
)
from .space.rule import SpaceContext

_log = logging.getLogger(__name__)

UNROLL_BUDGET = 128
"""Most vector multiply-adds one unrolled step of a register tile's reduction may hold."""
ROW_LOADS = 2.0
"""Loads per multiply-add of vector partial sums along a contiguous reduction (two operands)."""
PARALLEL_MIN_WORK = 1 << 16
"""Loop nests with fewer element operations run on one core: waking the pool costs more."""
LAYOUT_REWRITE = "meta_schedule.layout_rewrite_preproc"
"""Marks the copy that repacks a weight parameter (as in Apache TVM): a graph whose weight is
a constant can run that block once at build time and pass the packed weight instead."""
MAX_PARALLEL_JOBS_PER_CORE = 16
MAX_VECTORIZE = 64


@dataclass(frozen=True)
class CpuModel:
    """What the analysis assumes about the CPU (a fixed model: nothing is measured)."""

    lanes: int = 8
    """float32 lanes of a vector register (AVX2: 8, AVX-512: 16)."""
    vector_registers: int = 16
    cores: int = 1
    l1_bytes: int = 32 * 1024
    l2_bytes: int = 512 * 1024

    @property
    def accumulators(self) -> int:
        """Vector registers a register tile may keep (the others hold its operands)."""
        return self.vector_registers - 4

    @staticmethod
    def for_target(target: Target | str) -> CpuModel:
        """The model of ``target``: its lanes as the tuner's ``SpaceContext`` finds them, the
        cores of this machine."""
        target = Target.parse(target)
        lanes = SpaceContext.for_target(target, None).vector_lanes  # type: ignore[arg-type]
        wide = target.kind == "llvm" and target.has_feature("avx512f")
        return CpuModel(lanes=lanes, vector_registers=32 if wide else 16,
                        cores=os.cpu_count() or 1)


# ----------------------------------------------------------------------------- entry points


def default_schedule(func: PrimFunc, target: Target | str = "llvm") -> PrimFunc:
    """``func`` scheduled for ``target`` without measuring; ``func`` itself when nothing applies
    (not a CPU target, symbolic sizes, no blocks) or every schedule failed."""
    if not isinstance(func, PrimFunc):
        raise TypeError(f"default_schedule takes a PrimFunc, got {type(func).__name__}")
    sch = default_schedule_trace(func, target)
    return func if sch is None else sch.func


def default_schedule_trace(func: PrimFunc, target: Target | str = "llvm") -> Schedule | None:
    """The schedule ``default_schedule`` applies, whose trace replays it (a tuning database
    can store it), or None when the function stays as it is."""
    target = Target.parse(target)
    if target.kind not in ("llvm", "c") or not const_extents(func) or not leaf_blocks(func):
        return None
    cpu = CpuModel.for_target(target)
    for tile in (True, False):
        sch = Schedule(func, verify=False)  # verified once at the end: it is most of the time
        try:
            _schedule(sch, cpu, tile)
            tvmscript.verify(sch.func)
        except Exception:  # noqa: BLE001 - a default schedule must never break a build
            _log.debug("default schedule of %s (tiling %s) failed; falling back",
                       func.name or "main", tile, exc_info=True)
            continue
        return sch
    return None


SCHEDULE_ATTR = "tvmscript.schedule"
"""The attribute that says where a model kernel's schedule came from: "database" (the database's
best record; tuning stores the measured default schedule too), "default" (``default_schedule``) or "as written" (nothing applied)."""


def schedule_sources(mod: IRModule) -> dict[str, str]:
    """Kernel name -> where its schedule came from, for a module ``optimize_model`` made."""
    return {name: str(f.attrs.get(SCHEDULE_ATTR, "unknown")) for name, f in mod.functions.items()
            if isinstance(f, PrimFunc)}


def default_schedule_module(mod: IRModule, target: Target | str = "llvm",
                            database: Any = None) -> IRModule:
    """Every loop-level function of ``mod`` scheduled: by the best record of ``database`` (a
    tuning ``Database`` or its path) where it has one, else by ``default_schedule``."""
    from .database import Database, apply_best

    db = database
    if database is not None and not isinstance(database, Database):
        db = Database(str(database)) if os.path.exists(database) else None
    try:
        for name, func in mod.functions.items():
            if isinstance(func, PrimFunc):
                best = apply_best(func, target, db) if db is not None else None
                source = "database"
                if best is None:
                    best = default_schedule(func, target)
                    source = "default" if best is not func else "as written"
                mod = mod.with_function(name, best.with_attr(SCHEDULE_ATTR, source))
    finally:
        if db is not None and db is not database:
            db.close()
    return mod


def _schedule(sch: Schedule, cpu: CpuModel, tile: bool) -> None:
    ctx = SpaceContext(Target.parse("llvm"), sch.func, cpu.cores, cpu.lanes)
    for name in block_names(sch.func):  # consumers first, as the tuner visits them
        if name != "root" and has_block(sch, name):
            AutoInline().apply(sch, sch.get_block(name), ctx)
    for name in block_names(sch.func):
        if name == "root" or not has_block(sch, name):
            continue
        block = sch.get_block(name)
        blk, _ = block_of(sch, block)
        if not is_reduction(blk) or simple_loops(sch, block) is None:
            continue
        if tile and has_reuse(blk) and not _rows_beat_tiles(sch, blk, cpu):
            _try(sch, tile_reduction, block, cpu)
        else:
            _try(sch, schedule_plain_reduction, block, cpu)
    _finish(sch, cpu)


def _rows_beat_tiles(sch: Schedule, blk: S.Block, cpu: CpuModel) -> bool:
    """Whether every register tile gathers (a matmul by a transposed weight, one output row)
    while the reduction reads contiguously: vector partial sums along it (``rfactor``) load
    ``ROW_LOADS`` per multiply-add at most."""
    plan = register_tile(blk, cpu, set(sch.func.buffer_map.values()))
    return plan.score > ROW_LOADS and _row_reduction(blk, cpu) is not None


def _row_reduction(blk: S.Block, cpu: CpuModel) -> S.IterVar | None:
    """The innermost reduction iterator when the reduction loops are innermost, it is long and
    a whole number of vectors, and every operand it indexes is contiguous along it; else
    None."""
    kinds = [iv.iter_type for iv in blk.iter_vars]
    n_spatial = kinds.count(S.IterType.SPATIAL)
    if n_spatial == len(kinds) or S.IterType.SPATIAL in kinds[n_spatial:]:
        return None
    last = blk.iter_vars[-1]
    ext = last.dom.extent.value
    kinds = {access_kind(r, last.var)[0] for r in operand_reads(blk)}
    if ext < 2 * cpu.lanes or ext % cpu.lanes or not kinds <= {"contiguous", "broadcast"} \
            or "contiguous" not in kinds:
        return None
    return last


def _try(sch: Schedule, step: Callable[..., Any], *args: Any) -> bool:
    """Run ``step`` on a copy of ``sch``; keep its result only when no primitive refused."""
    work = sch.copy()
    try:
        step(work, *args)
    except ScheduleError:
        return False
    sch.mod, sch.trace = work.mod, work.trace
    return True


# ----------------------------------------------------------------------------- access analysis


def _last_dim(shape: tuple) -> int | None:
    """The innermost dimension whose extent is not 1 (where the unit stride lies)."""
    for d in reversed(range(len(shape))):
        if not (isinstance(shape[d], IntImm) and shape[d].value == 1):
            return d
    return None


def vector_iterator(blk: S.Block) -> Var | None:
    """The spatial iterator that indexes the written buffer's unit-stride dimension, or None."""
    if len(blk.writes) != 1:
        return None
    d = _last_dim(blk.writes[0].buffer.shape)
    index = None if d is None else blk.writes[0].region[d].min
    spatial = {iv.var for iv in blk.iter_vars if iv.iter_type == S.IterType.SPATIAL}
    return index if isinstance(index, Var) and index in spatial else None


def access_kind(region: BufferRegion, var: Var) -> tuple[str, int]:
    """How a read moves as ``var`` steps: ``("broadcast", 0)`` (not at all), ``("contiguous",
    1)``, ``("strided", s)`` (``s`` elements along the unit-stride dimension), or
    ``("gather", 0)`` (along another dimension, or not linearly)."""
    using = [d for d, rng in enumerate(region.region) if var in vars_in(rng.min)]
    if not using:
        return "broadcast", 0
    if using != [_last_dim(region.buffer.shape)]:
        return "gather", 0
    form = to_linear(region.region[using[0]].min)
    coeff = form.terms.get(var)
    if coeff is None or coeff < 0 or any(t is not var and var in vars_in(t) for t in form.terms):
        return "gather", 0
    return ("contiguous", 1) if coeff == 1 else ("strided", coeff)


def operand_reads(blk: S.Block) -> list[BufferRegion]:
    """What the block reads besides its output, indices simplified over the iterators' ranges
    (a grouped conv's ``c // 1 * 1 + rc`` is ``c + rc``)."""
    ana = Analyzer()
    for iv in blk.iter_vars:
        ana.bind(iv.var, iv.dom)
    written = {w.buffer for w in blk.writes}
    return [BufferRegion(r.buffer, tuple(Range(ana.simplify(rng.min), rng.extent)
                                         for rng in r.region))
            for r in blk.reads if r.buffer not in written]


def footprint(region: BufferRegion, extents: dict[Var, int]) -> int:
    """Elements of the region's buffer touched while each variable of ``extents`` ranges over
    its extent (the others fixed): what one register tile streams over its reduction."""
    total = 1
    for rng, dim in zip(region.region, region.buffer.shape):
        span = 1
        for term, coeff in to_linear(rng.min).terms.items():
            if isinstance(term, Var):
                span += abs(coeff) * (extents.get(term, 1) - 1)
            elif vars_in(term) & set(extents):
                span = dim.value
                break
        total *= min(span, dim.value)
    return total


def _size(buf: Buffer) -> int:
    return math.prod(d.value for d in buf.shape)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# ----------------------------------------------------------------------------- register tile


@dataclass(frozen=True)
class TilePlan:
    """A register tile: the factor of each spatial iterator but the vector one, whose factor
    ``vector`` is a multiple of ``lanes`` (1 when nothing is vectorized); the operands to lay
    out anew (``packs``: buffer, dimension split into ``vector``-element blocks placed last;
    ``phases``: an intermediate read with stride ``s``, split into ``s`` phases so that each
    is read contiguously); the score (loads per multiply-add, lower is better)."""

    factors: dict[Var, int]
    vector_var: Var | None
    vector: int
    lanes: int
    packs: tuple[tuple[str, int], ...] = ()
    phases: tuple[tuple[str, int], ...] = ()
    score: float = 0.0

    @property
    def accumulators(self) -> int:
        return math.prod(self.factors.values()) * max(1, self.vector // self.lanes)


@dataclass(frozen=True)
class _Read:
    """One way the tile reads an operand."""

    region: BufferRegion
    kind: str  # broadcast | contiguous | gather (a load per lane)
    cost: float = 1.0  # on each load: rows that evict each other from the cache
    pack_dim: int | None = None
    phase: int = 0


def _conflicting_rows(region: BufferRegion, reduce_vars: set) -> bool:
    """Whether the reduction walks the operand along an outer dimension whose stride is a
    multiple of 2 KiB: its rows then map to a handful of cache sets and evict each other."""
    shape = [d.value for d in region.buffer.shape]
    return any(vars_in(rng.min) & reduce_vars
               and math.prod(shape[d + 1:]) * region.buffer.dtype.itemsize % 2048 == 0
               for d, rng in enumerate(region.region[:-1]))


def _read_options(region: BufferRegion, v: Var | None, params: set, reduce_vars: set
                  ) -> list[_Read]:
    """How the tile may read an operand when ``v`` is the vector: as it is; blocked along the
    dimension ``v`` alone indexes (contiguous vectors, a tile's panel in consecutive memory);
    for an intermediate read with a stride along ``v``, split into phases."""
    cost = 3.0 if _conflicting_rows(region, reduce_vars) else 1.0
    kind, stride = access_kind(region, v) if v is not None else ("broadcast", 0)
    if kind == "broadcast":
        return [_Read(region, kind, cost)]
    dims = [d for d, rng in enumerate(region.region) if v in vars_in(rng.min)]
    packed = [_Read(region, "contiguous", 1.0, dims[0])] if (
        len(dims) == 1 and region.region[dims[0]].min is v) else []
    if kind == "contiguous":
        return [_Read(region, kind, cost)] + (packed if cost > 1 else [])
    if kind == "strided" and region.buffer not in params:
        packed.append(_Read(region, "contiguous", cost, phase=stride))
    return [_Read(region, "gather", cost)] + packed


def register_tile(blk: S.Block, cpu: CpuModel, params: set | None = None) -> TilePlan:
    """The register tile with the fewest loads per multiply-add.

    Candidates: each spatial iterator whose extent is a multiple of ``lanes`` as the vector
    (whole vectors only: partial ones legalize to shuffles), each way to read the operands
    (``_read_options``), each combination of divisors of the other spatial extents that fits
    the accumulator registers. Score: operand loads per multiply-add (a broadcast or a vector
    load counts 1, a gathered vector one per lane), each weighted by where the tile's share of
    the operand lives (L1, L2, beyond), plus the write-back's stores (scattered ones one per
    lane, part-line ones twice) spread over the reduction, plus the copy of a repacked
    parameter (a weight: copied at every call); ties go to the larger tile. ``params``: the
    function's parameter buffers."""
    params = params or set()
    spatial = {iv.var: iv.dom.extent.value for iv in blk.iter_vars
               if iv.iter_type == S.IterType.SPATIAL}
    reduce_extents = {iv.var: iv.dom.extent.value for iv in blk.iter_vars
                      if iv.iter_type != S.IterType.SPATIAL}
    reads = operand_reads(blk)
    natural = vector_iterator(blk)
    best: TilePlan | None = None
    for v in [var for var, ext in spatial.items() if ext % cpu.lanes == 0] or [None]:
        options = [_read_options(r, v, params, set(reduce_extents)) for r in reads]
        for chosen in itertools.product(*options):
            for plan in _tiles(blk, cpu, v, v is not natural, chosen, spatial,
                               reduce_extents, params):
                if best is None or (plan.score, -plan.accumulators) < (best.score,
                                                                      -best.accumulators):
                    best = plan
    assert best is not None  # v None with all factors 1 always fits
    return best


def _tiles(blk: S.Block, cpu: CpuModel, v: Var | None, scatter: bool, reads: tuple[_Read, ...],
           spatial: dict[Var, int], reduce_extents: dict[Var, int], params: set
           ) -> Iterator[TilePlan]:
    """Every register tile with vector ``v`` and these operand reads, scored."""
    total, reduction = math.prod(spatial.values()), math.prod(reduce_extents.values())
    vector_macs = total * reduction / cpu.lanes
    layouts = {"packs": tuple((r.region.buffer.name, r.pack_dim) for r in reads
                              if r.pack_dim is not None),
               "phases": tuple((r.region.buffer.name, r.phase) for r in reads if r.phase)}
    # a parameter is copied at every call; an intermediate is written anyway, in any layout
    copies = sum(2 * _size(r.region.buffer) / vector_macs for r in reads
                 if r.pack_dim is not None and r.region.buffer in params)
    uses = [{x for rng in r.region.region for x in vars_in(rng.min)} for r in reads]
    others = [(var, ext) for var, ext in spatial.items() if var is not v]
    vectors = [d for d in _divisors(spatial[v]) if d % cpu.lanes == 0
               and d <= cpu.lanes * cpu.accumulators] if v is not None else [1]
    for vec in vectors:
        nvec = max(1, vec // cpu.lanes)
        useful = 1.0 if v is not None else 1 / cpu.lanes
        budget = cpu.accumulators // nvec
        for combo in itertools.product(*[[d for d in _divisors(ext) if d <= budget]
                                         for _, ext in others]):
            tile = math.prod(combo)
            if tile * nvec > cpu.accumulators:
                continue
            factors = dict(zip((var for var, _ in others), combo))
            spans = {**reduce_extents, **factors, **({v: vec} if v is not None else {})}
            loads = 0.0
            for read, used in zip(reads, uses):
                n = math.prod(f for var, f in factors.items() if var in used)
                per = {"broadcast": 1, "contiguous": nvec}.get(read.kind, vec)
                data = footprint(read.region, spans) * read.region.buffer.dtype.itemsize
                where = 1.0 if data <= cpu.l1_bytes // 2 else \
                    1.5 if data <= cpu.l2_bytes // 2 else 3.0
                loads += n * per * max(where, read.cost)
            # the write-back, once per tile: a vector store per register, a store per lane
            # when scattered; half-line stores cost twice (the line is read to be merged)
            line = 64 // blk.writes[0].buffer.dtype.itemsize
            stores = tile * vec if scatter else tile * nvec * (2 if vec < line else 1)
            loads += stores / reduction
            score = loads / (tile * nvec * useful) + copies
            if total // (tile * vec) < cpu.cores:
                score += 100.0  # no parallel work left outside the tile
            yield TilePlan(factors, v, vec, cpu.lanes, score=score, **layouts)


# ----------------------------------------------------------------------------- tiling


def tile_reduction(sch: Schedule, block: BlockRV, cpu: CpuModel) -> None:
    """Multi-level tiling with analytic sizes: parallel outer tiles (the one re-reading least
    innermost), the whole reduction, the register tile (unrolled, its vector part vectorized)
    accumulating in a local buffer, written back under the tile with the epilogue folded in."""
    blk, _ = block_of(sch, block)
    plan = register_tile(blk, cpu, set(sch.func.buffer_map.values()))
    buffers = {r.buffer.name: r.buffer for r in blk.reads}
    for name, stride in plan.phases:
        _split_phases(sch, block, buffers[name], stride)
    params = {b.name for b in sch.func.buffer_map.values()}
    for name, dim in plan.packs:
        sch.transform_layout(block, name, _pack_map(buffers[name], dim, plan.vector))
        if name in params:  # a weight's copy: a graph with constant weights can pre-pack it
            for producer in sch.get_producers(block):
                if block_of(sch, producer)[0].writes[0].buffer.name == f"{name}_packed":
                    sch.annotate(producer, LAYOUT_REWRITE, True)
    blk, _ = block_of(sch, block)
    outer, reduce, inner = _split_tiles(sch, block, blk, plan)
    outer = _order_outer(sch, blk, outer)
    sch.reorder(*outer, *reduce, *inner)
    local = sch.cache_write(block, 0, "local")
    dim = _written_dim(blk, plan.vector_var)
    _vector_dim_last(sch, block, dim)
    _fold_epilogue(sch, local)
    sch.reverse_compute_at(local, outer[-1])
    init = sch.decompose_reduction(block, reduce[0])
    vectorized = plan.vector > 1
    for loop in inner[:-1] if vectorized else inner:
        sch.unroll(loop)
    if vectorized:
        sch.vectorize(inner[-1])
    _unroll_vectorize_tail(sch, init, len(outer), cpu.lanes)
    if dim is not None:
        _vector_innermost(sch, local, len(outer), dim)
    _unroll_vectorize_tail(sch, local, len(outer), cpu.lanes)


def _split_tiles(sch: Schedule, block: BlockRV, blk: S.Block, plan: TilePlan
                 ) -> tuple[list[LoopRV], list[LoopRV], list[LoopRV]]:
    """Split every loop by the plan: (outer loops, reduction loops, register-tile loops with the
    vector last). The innermost reduction loop is unrolled by the largest divisor that keeps
    ``UNROLL_BUDGET``. Sizes go through ``sample_perfect_tile`` with the chosen decision, so
    the trace has the tuner's shape."""
    outer, reduce, reg, vec_parts = [], [], [], []
    for iv, loop in zip(blk.iter_vars, sch.get_loops(block)):
        ext = iv.dom.extent.value
        if iv.iter_type != S.IterType.SPATIAL:
            reduce.append(loop)
        elif iv.var is plan.vector_var:
            vec = plan.vector
            sizes = [ext // vec, vec // plan.lanes, plan.lanes] if vec > plan.lanes else \
                [ext // vec, vec]
            first, *vec_parts = _split(sch, loop, sizes)
            outer.append(first)
        else:
            first, second = _split(sch, loop, [ext // plan.factors[iv.var], plan.factors[iv.var]])
            outer.append(first)
            reg.append(second)
    last = [iv for iv in blk.iter_vars if iv.iter_type != S.IterType.SPATIAL][-1].dom.extent.value
    factor = max(d for d in _divisors(last) if d == 1 or d * plan.accumulators <= UNROLL_BUDGET)
    unrolled: list[LoopRV] = []
    if factor == last and len(reduce) > 1:
        unrolled = [reduce.pop()]
    elif factor > 1:
        reduce[-1], part = _split(sch, reduce[-1], [last // factor, factor])
        unrolled = [part]
    return outer, reduce, unrolled + reg + vec_parts


def _split(sch: Schedule, loop: LoopRV, sizes: list[int]) -> list[LoopRV]:
    drawn = sch.sample_perfect_tile(loop, n=len(sizes), max_innermost_factor=max(sizes[-1], 1),
                                    decision=sizes)
    return sch.split(loop, drawn)


def _order_outer(sch: Schedule, blk: S.Block, outer: list[LoopRV]) -> list[LoopRV]:
    """The outer tile loops with innermost the one whose steps re-read least: each operand that
    loop indexes streams again for every iteration of the outer loops it does not index, while
    the operands it does not index stay in cache across its steps."""
    spatial = [iv.var for iv in blk.iter_vars if iv.iter_type == S.IterType.SPATIAL]
    extents = {var: sch.get(lp).extent.value for var, lp in zip(spatial, outer)}
    reads = [(r, {x for rng in r.region for x in vars_in(rng.min)}) for r in operand_reads(blk)]

    def traffic(var: Var) -> float:
        return sum(_size(r.buffer) * math.prod(e for x, e in extents.items() if x not in used)
                   for r, used in reads if var in used)

    movable = [var for var in spatial if extents[var] > 1]
    if len(movable) < 2:
        return outer
    position = spatial.index(min(reversed(movable), key=traffic))
    return outer[:position] + outer[position + 1:] + [outer[position]]


def _written_dim(blk: S.Block, var: Var | None) -> int | None:
    return next((d for d, rng in enumerate(blk.writes[0].region) if rng.min is var), None) \
        if var is not None else None


def _index_vars(buf: Buffer) -> list[Var]:
    """Map variables of the buffer's index dtype (int32 mixed into an int64 index breaks code
    generation)."""
    return [Var(f"d{i}", d.dtype) for i, d in enumerate(buf.shape)]


def _split_phases(sch: Schedule, block: BlockRV, buf: Buffer, stride: int) -> None:
    """Lay an intermediate out as ``(..., w) -> (..., w % stride, w // stride)``: a read with
    that stride along ``w`` then is contiguous within one phase."""
    dims = _index_vars(buf)
    pad = None if buf.shape[-1].value % stride == 0 else 0.0
    sch.transform_layout(block, buf.name, IndexMap.make(
        dims, [*dims[:-1], dims[-1] % stride, dims[-1] // stride]), pad_value=pad)


def _pack_map(buf: Buffer, dim: int, block: int) -> IndexMap:
    """Dimension ``dim`` in blocks of ``block`` elements: the blocks first, the elements last
    (the dimension just moved last when one block covers it)."""
    dims = _index_vars(buf)
    rest = [d for i, d in enumerate(dims) if i != dim]
    if block < buf.shape[dim].value:
        return IndexMap.make(dims, [dims[dim] // block, *rest, dims[dim] % block])
    return IndexMap.make(dims, [*rest, dims[dim]])


def _vector_dim_last(sch: Schedule, block: BlockRV, dim: int | None) -> None:
    """Lay the accumulator out with the vector's dimension last, so the tile reads and writes
    it as whole vectors (the write-back then scatters to the output)."""
    buf = block_of(sch, block)[0].writes[0].buffer
    last = _last_dim(buf.shape)
    if dim is not None and last is not None and dim < last:
        sch.transform_layout(block, buf.name, _pack_map(buf, dim, buf.shape[dim].value))


def _vector_innermost(sch: Schedule, block: BlockRV, depth: int, dim: int) -> None:
    """Make the write-back's loop over the written dimension ``dim`` its innermost."""
    blk, realize = block_of(sch, block)
    loops = sch.get_loops(block)[depth:]
    bindings = dict(zip([iv.var for iv in blk.iter_vars], realize.iter_values))
    binding = bindings.get(blk.writes[0].region[dim].min)
    mine = [lp for lp in loops if binding is not None
            and sch.get(lp).loop_var in vars_in(binding)]
    if len(mine) == 1 and mine[0] != loops[-1]:
        _try(sch, lambda s: s.reorder(*[lp for lp in loops if lp != mine[0]], mine[0]))


def _fold_epilogue(sch: Schedule, local: BlockRV) -> None:
    """Fold the write-back's only consumer, when element-wise, into the write-back: the
    epilogue (bias add, ReLU) then reads the accumulator while it is in registers."""
    try:
        consumers = sch.get_consumers(local)
    except ScheduleError:
        return
    if len(consumers) == 1 and is_spatial(block_of(sch, consumers[0])[0]):
        _try(sch, lambda s: s.reverse_compute_inline(consumers[0]))


def _unroll_vectorize_tail(sch: Schedule, block: BlockRV, depth: int, lanes: int) -> None:
    """Below the first ``depth`` loops: vectorize the innermost loop (``lanes`` at a time when
    longer) and unroll the others."""
    loops = sch.get_loops(block)[depth:]
    if not loops:
        return
    node = sch.get(loops[-1])
    ext = node.extent.value if isinstance(node.extent, IntImm) else 0
    if ext > lanes and ext % lanes == 0:
        loops = loops[:-1] + sch.split(loops[-1], [ext // lanes, lanes])
    for loop in loops[:-1]:
        _try(sch, lambda s, lp=loop: s.unroll(lp))
    if ext > 1:
        _try(sch, lambda s: s.vectorize(loops[-1]))


# ----------------------------------------------------------------------------- other reductions


def schedule_plain_reduction(sch: Schedule, block: BlockRV, cpu: CpuModel) -> None:
    """A reduction without reuse. Pooling: the reduction loops move outside the output's
    unit-stride loop, which becomes the vector. A row reduction (softmax, layer norm) whose
    innermost reduction reads contiguously and is long: ``rfactor`` into ``lanes`` partial
    results computed as one vector (``AddRFactor`` with its factor chosen)."""
    blk, _ = block_of(sch, block)
    v = vector_iterator(blk)
    reads = operand_reads(blk)
    if v is not None and reads and all(access_kind(r, v)[0] != "gather" for r in reads):
        params = set(sch.func.buffer_map.values())
        for r in reads:
            kind, stride = access_kind(r, v)
            if kind == "strided" and r.buffer not in params:  # phases read contiguously
                _split_phases(sch, block, r.buffer, stride)
        loops = sch.get_loops(block)
        vars_ = [iv.var for iv in blk.iter_vars]
        sch.reorder(*[lp for x, lp in zip(vars_, loops) if x is not v], loops[vars_.index(v)])
        sch.decompose_reduction(block, next(lp for iv, lp in zip(blk.iter_vars, loops)
                                            if iv.iter_type != S.IterType.SPATIAL))
        return
    last = _row_reduction(blk, cpu)
    if last is None:
        return
    ext = last.dom.extent.value
    _, lane = _split(sch, sch.get_loops(block)[-1], [ext // cpu.lanes, cpu.lanes])
    rf = sch.rfactor(lane, len(blk.writes[0].buffer.shape))  # the lanes stay innermost
    *_, outer, lane = sch.get_loops(rf)
    sch.decompose_reduction(rf, outer)
    sch.vectorize(lane)


# ----------------------------------------------------------------------------- the rest


def _finish(sch: Schedule, cpu: CpuModel) -> None:
    """Decompose the remaining reductions; parallelize the outer spatial loops of each loop nest
    with the work to pay for waking the other cores; vectorize innermost spatial loops (the
    tuner's postprocessors, with the marks chosen here)."""
    rewrite_reduction_blocks(sch)
    body = sch.func.body
    if not (isinstance(body, S.BlockRealize) and body.block.name_hint == "root"):
        return
    root = sch.get_block("root")
    done: set = set()
    for child in sch.get_child_blocks(root) if cpu.cores > 1 else []:
        loops = sch.get_loops(child)
        if loops and sch.get(loops[0]).loop_var not in done:
            done.add(sch.get(loops[0]).loop_var)
            if nest_work(sch.get(loops[0])) >= PARALLEL_MIN_WORK:
                _parallelize(sch, loops, cpu.cores * MAX_PARALLEL_JOBS_PER_CORE)
    rewrite_parallel_vectorize_unroll(sch, root, 0, MAX_VECTORIZE, 0, cpu.lanes)


def nest_work(stmt: S.Stmt) -> int:
    """Innermost statements a loop nest executes (element operations, roughly)."""
    if isinstance(stmt, S.For):
        return (stmt.extent.value if isinstance(stmt.extent, IntImm) else 1) * \
            nest_work(stmt.body)
    if isinstance(stmt, (S.BufferStore, S.Evaluate)):
        return 1
    return sum(nest_work(child) for child in children(stmt))


__all__ = ["LAYOUT_REWRITE", "CpuModel", "TilePlan", "access_kind", "default_schedule", "default_schedule_module",
           "default_schedule_trace", "footprint", "nest_work", "operand_reads", "register_tile",
           "schedule_plain_reduction", "tile_reduction", "vector_iterator"]
