"""``lower-cross-thread-reduction``: a reduction shared by the threads of a GPU block becomes a
per-thread reduction, a tree in shared memory and a write by thread 0 (TVM's
LowerCrossThreadReduction with LowerThreadAllreduce's tree).

It takes block-level IR and returns block-level IR, so the passes after it and the sequential
interpreter run the result as they run any other program. A reduction block qualifies when one
of the loops that feed its reduction iterators is bound to ``threadIdx.*``::

    for i in T.thread_binding(128, thread="blockIdx.x"):
        for k_0 in range(4):
            for k_1 in T.thread_binding(64, thread="threadIdx.x"):
                with T.block("B"):
                    vi = T.axis.spatial(128, i)
                    vk = T.axis.reduce(256, k_0 * 64 + k_1)
                    with T.init():
                        B[vi] = T.float32(0)
                    B[vi] = B[vi] + A[vi, vk]
    →
    for i in T.thread_binding(128, thread="blockIdx.x"):
        with T.block("B_cross_thread"):
            B_in_thread = T.alloc_buffer((1,), scope="local")
            B_red = T.alloc_buffer((64,), scope="shared")
            for k_1 in T.thread_binding(64, thread="threadIdx.x"):
                B_in_thread[0] = T.float32(0)
                for k_0 in range(4):
                    with T.block("B_in_thread"):
                        vi = T.axis.spatial(128, i)
                        vk = T.axis.reduce(256, k_0 * 64 + k_1)
                        B_in_thread[0] = B_in_thread[0] + A[vi, vk]
                B_red[k_1] = B_in_thread[0]
            for k_1 in T.thread_binding(64, thread="threadIdx.x"):
                if k_1 < 32:
                    B_red[k_1] = B_red[k_1] + B_red[k_1 + 32]
            ...                                      # strides 16, 8, 4, 2, 1
            for k_1 in T.thread_binding(64, thread="threadIdx.x"):
                if k_1 == 0:
                    B[i] = B_red[0]

Each tree stage is its own loop over the thread axes, so the barrier pass puts a
``__syncthreads()`` between stages. A thread count ``n`` that is not a power of two halves from
the next power of two with the guard ``t < min(s, n - s)`` (a partner past ``n`` would hold the
identity). Loops bound to other ``threadIdx`` axes that feed only spatial iterators (rows of a
2-D block) keep one tree per row: the shared buffer is indexed ``[ty, tx]``. Several reduction
loops bound to thread axes are reduced together over their combined index. Serial loops that
feed only spatial iterators move above the new block; the loops from the first thread or
reduction loop down to the block must be a perfect nest.

``lower-warp-reduction`` (off by default: a pipeline adds it when the config sets
``WARP_REDUCTION``, see ``cross_thread_reduction_passes``) then replaces the last five stages of
each tree (fewer for a tree narrower than a warp) by ``T.tvm_warp_shuffle_down`` on a
per-thread value, which only the GPU and its emulator can run.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvmscript.analysis import infer_block_access_regions
from tvmscript.ir import (
    EQ,
    LT,
    Add,
    Block,
    BlockRealize,
    Buffer,
    BufferLoad,
    BufferRegion,
    BufferStore,
    Call,
    For,
    IfThenElse,
    IntImm,
    IterType,
    Max,
    Min,
    Mul,
    Mutator,
    PrimExpr,
    PrimFunc,
    Range,
    SeqStmt,
    Stmt,
    Var,
    Visitor,
    const,
    post_order_visit,
    seq,
    substitute,
)
from tvmscript.ir.rewrite import add, all_of, mul
from tvmscript.ir.structural import structural_equal
from tvmscript.schedule.errors import ScheduleError
from tvmscript.schedule.reduction import ReductionInfo, conjuncts, reduction_info, vars_of
from tvmscript.schedule.state import block_names

from .infra import Pass, PassContext, get_pass, prim_func_pass


class CrossThreadReductionError(ValueError):
    """A reduction bound to thread axes that this pass cannot lower; the message names the
    block and the reason."""


def _is_thread_idx(loop: For) -> bool:
    return loop.thread_tag.startswith("threadIdx")


def _is_bound(loop: For) -> bool:
    return bool(loop.thread_tag)


# ---------------------------------------------------------------- finding the reductions


@dataclass(frozen=True)
class _Nest:
    """The loops of one cross-thread reduction, from its head (the outermost loop that must
    move) down to the block, sorted by their role."""

    realize: BlockRealize
    info: ReductionInfo
    head: For
    hoisted: tuple[For, ...]  # loops of neither role: placed above the new block
    threads: tuple[For, ...]  # loops bound to threadIdx.*, outermost first
    reduce_threads: tuple[For, ...]  # those of ``threads`` that feed reduction iterators
    serial: tuple[For, ...]  # the other loops that feed reduction iterators


def _fail(block: Block, reason: str) -> CrossThreadReductionError:
    return CrossThreadReductionError(f"cross-thread reduction of block '{block.name_hint}': "
                                     f"{reason}")


def _loop_vars_by_role(realize: BlockRealize) -> tuple[set[Var], set[Var]]:
    """The variables the spatial and the reduction iterators' bindings use."""
    spatial: set[Var] = set()
    reduce: set[Var] = set()
    for iv, value in zip(realize.block.iter_vars, realize.iter_values):
        (reduce if iv.iter_type == IterType.REDUCE else spatial).update(vars_of(value))
    return spatial, reduce


def _analyze(realize: BlockRealize, loops: list[For]) -> _Nest | None:
    """The nest of ``realize`` when its reduction is bound to thread axes, else None.

    ``loops`` are the loops around the block, outermost first, up to the nearest enclosing
    block. Raises ``CrossThreadReductionError`` for a reduction bound to thread axes (or to
    ``blockIdx``/``vthread``) that cannot be lowered.
    """
    block = realize.block
    spatial, reduce = _loop_vars_by_role(realize)
    feeding = [loop for loop in loops if loop.loop_var in reduce]
    if not any(_is_bound(loop) for loop in feeding):
        return None
    if block.init is None and all(w.buffer.scope == "local" for w in block.writes):
        return None  # each thread folds into its own buffer (this pass's in-thread blocks)
    if block.init is None:
        raise _fail(block, "the block has no T.init(), so the threads would all update the "
                           "same element (a reduction shared by threads keeps its init: do not "
                           "decompose_reduction it)")
    for loop in feeding:
        if _is_bound(loop) and not _is_thread_idx(loop):
            raise _fail(block, f"reduction loop `{loop.loop_var.name}` is bound to "
                               f"{loop.thread_tag}; only threadIdx.* loops can share a reduction")
    info = _reduction(block)
    nest = loops[next(k for k, loop in enumerate(loops)
                      if loop.loop_var in reduce or _is_thread_idx(loop)):]
    _check_nest(block, realize, nest, spatial, reduce)
    threads = tuple(loop for loop in nest if _is_thread_idx(loop))
    return _Nest(realize, info, nest[0],
                 hoisted=tuple(loop for loop in nest
                               if not _is_thread_idx(loop) and loop.loop_var not in reduce),
                 threads=threads,
                 reduce_threads=tuple(loop for loop in threads if loop.loop_var in reduce),
                 serial=tuple(loop for loop in nest
                              if not _is_thread_idx(loop) and loop.loop_var in reduce))


def _reduction(block: Block) -> ReductionInfo:
    """The block's reducer, init and update (the same detection as ``rfactor``)."""
    try:
        return reduction_info(block, "cross-thread reduction")
    except ScheduleError as exc:
        reason = str(exc).removeprefix("cross-thread reduction: ")
        raise _fail(block, reason) from None


def _check_nest(block: Block, realize: BlockRealize, nest: list[For], spatial: set[Var],
                reduce: set[Var]) -> None:
    """Refuse nests whose loops cannot be reordered into threads-outside, serial-inside."""
    for outer, inner in zip(nest, [*nest[1:], realize]):
        if outer.body is not inner:
            raise _fail(block, f"the loops from `{nest[0].loop_var.name}` down to the block "
                               f"are not a perfect nest (loop `{outer.loop_var.name}` holds "
                               "other statements)")
    nest_vars = {loop.loop_var for loop in nest}
    tags: dict[str, str] = {}
    for loop in nest:
        name = loop.loop_var.name
        if loop.loop_var in spatial and loop.loop_var in reduce:
            raise _fail(block, f"loop `{name}` feeds both spatial and reduction iterators")
        if vars_of((loop.min, loop.extent)) & nest_vars:
            raise _fail(block, f"the range of loop `{name}` depends on the loops around it")
        if _is_thread_idx(loop):
            if not (isinstance(loop.min, IntImm) and loop.min.value == 0
                    and isinstance(loop.extent, IntImm)):
                raise _fail(block, f"thread loop `{name}` must run from 0 over a constant "
                                   "number of threads")
            if loop.thread_tag in tags:
                raise _fail(block, f"loops `{tags[loop.thread_tag]}` and `{name}` are both "
                                   f"bound to {loop.thread_tag}")
            tags[loop.thread_tag] = name


class _Finder(Visitor):
    """Every cross-thread reduction nest of a function, keyed by the id of its head loop."""

    def __init__(self) -> None:
        self.loops: list[For] = []
        self.nests: dict[int, _Nest] = {}

    def visit_For(self, loop: For) -> None:
        self.loops.append(loop)
        self.generic_visit(loop)
        self.loops.pop()

    def visit_BlockRealize(self, realize: BlockRealize) -> None:
        nest = _analyze(realize, self.loops)
        if nest is not None:
            self.nests[id(nest.head)] = nest
        outer, self.loops = self.loops, []
        self.generic_visit(realize)
        self.loops = outer


# ---------------------------------------------------------------- building the lowered form


class _Builder:
    """The lowered statement of one nest: buffers, per-thread phase, tree and write-back."""

    def __init__(self, nest: _Nest, names: set[str]) -> None:
        self.nest = nest
        self.block = nest.realize.block
        self.names = names
        self.dtype = nest.info.buffer.dtype
        self.identity = nest.info.reducer.identity(self.dtype)
        self.count = 1
        for loop in nest.reduce_threads:
            self.count *= loop.extent.value
        rows = [loop.extent for loop in self.row_threads()]
        lane_dtype = nest.reduce_threads[0].loop_var.dtype
        base = nest.info.buffer.name
        self.local = Buffer(f"{base}_in_thread", self.dtype, (1,), scope="local")
        self.red = Buffer(f"{base}_red", self.dtype, (*rows, const(self.count, lane_dtype)),
                          scope="shared")

    def row_threads(self) -> list[For]:
        """The thread loops that feed spatial iterators only (one tree per row)."""
        reduce = {loop.loop_var for loop in self.nest.reduce_threads}
        return [loop for loop in self.nest.threads if loop.loop_var not in reduce]

    def build(self) -> Stmt:
        body = seq(self.per_thread(), *self.tree(), self.write_back())
        wrapper = Block(self.fresh(f"{self.block.name_hint}_cross_thread"),
                        alloc_buffers=(self.local, self.red), body=body)
        reads, writes = infer_block_access_regions(wrapper)
        wrapper = wrapper.with_(reads=_clamped(reads), writes=_clamped(writes))
        stmt: Stmt = BlockRealize((), const(True), wrapper)
        for loop in reversed(self.nest.hoisted):
            stmt = loop.with_(body=stmt)
        return stmt

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    # -- the index of a thread in the shared buffer

    def slot(self, vmap: dict, lane: PrimExpr) -> tuple[PrimExpr, ...]:
        """``[row thread vars..., lane]``: where a thread's partial result lives."""
        return (*[vmap.get(loop.loop_var, loop.loop_var) for loop in self.row_threads()], lane)

    def lane(self, vmap: dict) -> PrimExpr:
        """The reduction threads' combined index (the last one varies fastest)."""
        index: PrimExpr = const(0, self.nest.reduce_threads[0].loop_var.dtype)
        for loop in self.nest.reduce_threads:
            index = add(mul(index, loop.extent), vmap.get(loop.loop_var, loop.loop_var))
        return index

    def thread_loops(self, body_of) -> Stmt:
        """``body_of(vmap)`` inside a fresh copy of the thread loops (new loop variables)."""
        vmap = {loop.loop_var: Var(loop.loop_var.name, loop.loop_var.dtype)
                for loop in self.nest.threads}
        stmt = body_of(vmap)
        for loop in reversed(self.nest.threads):
            stmt = loop.with_(loop_var=vmap[loop.loop_var], body=stmt)
        return stmt

    # -- the three phases

    def per_thread(self) -> Stmt:
        """Each thread folds its slice into ``local[0]``, then stores it in its slot."""
        stmt: Stmt = self.nest.realize.with_(block=self.in_thread_block())
        for loop in reversed(self.nest.serial):
            stmt = loop.with_(body=stmt)
        local = BufferLoad(self.local, (const(0),))
        stmt = seq(BufferStore(self.local, self.identity, (const(0),)), stmt,
                   BufferStore(self.red, local, self.slot({}, self.lane({}))))
        for loop in reversed(self.nest.threads):
            stmt = loop.with_(body=stmt)
        return stmt

    def in_thread_block(self) -> Block:
        update = self.block.body
        local = BufferLoad(self.local, (const(0),))
        value = update.value
        if _same_load(value.a, update):
            value = value.with_(a=local)
        else:
            value = value.with_(b=local)
        block = self.block.with_(name_hint=self.fresh(f"{self.block.name_hint}_in_thread"),
                                 init=None, body=BufferStore(self.local, value, (const(0),)))
        reads, writes = infer_block_access_regions(block)
        return block.with_(reads=reads, writes=writes)

    def tree(self) -> list[Stmt]:
        """One loop nest per halving stage: ``red[t] = red[t] op red[t + s]`` for
        ``t < min(s, count - s)``."""
        stride = (1 << (self.count - 1).bit_length()) // 2  # half the next power of two
        stages = []
        while stride >= 1:
            stages.append(self.thread_loops(lambda vmap, s=stride: self.stage(vmap, s)))
            stride //= 2
        return stages

    def stage(self, vmap: dict, stride: int) -> Stmt:
        lane = self.lane(vmap)
        here = self.slot(vmap, lane)
        partner = BufferLoad(self.red, self.slot(vmap, add(lane, const(stride, lane.dtype))))
        combined = self.nest.info.reducer.combine(BufferLoad(self.red, here), partner)
        active = LT(lane, const(min(stride, self.count - stride), lane.dtype))
        return IfThenElse(active, BufferStore(self.red, combined, here))

    def write_back(self) -> Stmt:
        """Thread 0 of the reduction threads stores the row's result."""
        return self.thread_loops(self.store_result)

    def store_result(self, vmap: dict) -> Stmt:
        realize = self.nest.realize
        bindings = {iv.var: value for iv, value in zip(self.block.iter_vars, realize.iter_values)
                    if iv.iter_type != IterType.REDUCE}
        indices = substitute(substitute(self.nest.info.indices, bindings), vmap)
        first = [EQ(vmap[loop.loop_var], const(0, loop.loop_var.dtype))
                 for loop in self.nest.reduce_threads]
        reducing = {loop.loop_var for loop in (*self.nest.serial, *self.nest.reduce_threads)}
        kept = [substitute(c, vmap) for c in conjuncts(realize.predicate)
                if not vars_of(c) & reducing]
        result = BufferLoad(self.red, self.slot(vmap, const(0, self.lane(vmap).dtype)))
        return IfThenElse(all_of(first + kept), BufferStore(self.nest.info.buffer, result, indices))


def _clamped(regions: tuple[BufferRegion, ...]) -> tuple[BufferRegion, ...]:
    """``regions`` with constant ranges cut to the buffer's constant shape (relaxing a guarded
    split loop overshoots it)."""
    return tuple(region.with_(region=tuple(_clamp(r, n) for r, n in
                                           zip(region.region, region.buffer.shape)))
                 for region in regions)


def _clamp(r: Range, size: PrimExpr) -> Range:
    if not all(isinstance(x, IntImm) for x in (r.min, r.extent, size)):
        return r
    lo, hi = max(r.min.value, 0), min(r.min.value + r.extent.value, size.value)
    if (lo, hi) == (r.min.value, r.min.value + r.extent.value) or hi <= lo:
        return r
    return Range(const(lo, r.min.dtype), const(hi - lo, r.extent.dtype))


def _same_load(expr: PrimExpr, store: BufferStore) -> bool:
    return (isinstance(expr, BufferLoad) and expr.buffer is store.buffer
            and structural_equal(expr.indices, store.indices))


class _Replace(Mutator):
    def __init__(self, nests: dict[int, _Nest], names: set[str]) -> None:
        self.nests = nests
        self.names = names

    def visit_For(self, loop: For) -> Stmt:
        nest = self.nests.get(id(loop))
        if nest is not None and nest.head is loop:
            return _Builder(nest, self.names).build()
        return self.generic_visit(loop)


@prim_func_pass("lower-cross-thread-reduction", opt_level=0, required=True)
def lower_cross_thread_reduction(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Lower every reduction whose loops are bound to ``threadIdx.*`` to a per-thread
    reduction, a shared-memory tree and a write by the first thread."""
    finder = _Finder()
    finder.visit(func)
    if not finder.nests:
        return func
    return _Replace(finder.nests, set(block_names(func)) | {"root"}).visit(func)


# ---------------------------------------------------------------- lower-warp-reduction

WARP_SIZE = 32
# PassContext config key: a GPU pipeline runs ``lower-warp-reduction`` after
# ``lower-cross-thread-reduction`` only when it is set (``cross_thread_reduction_passes``)
WARP_REDUCTION = "cuda.warp_reduction"
_COMBINERS = (Add, Mul, Max, Min)


@dataclass(frozen=True)
class _Stage:
    """One tree stage: ``for <threads>: if lane < active: red[rows, lane] = red[rows, lane] op
    red[rows, lane + stride]``, ``lane`` bound to threadIdx.x."""

    loops: tuple[For, ...]
    lane: For
    buffer: Buffer
    op: type
    stride: int
    active: int

    def shape(self) -> tuple:
        """What two stages of one tree share."""
        return (self.buffer, self.op,
                tuple((loop.thread_tag, loop.extent.value) for loop in self.loops))


def _as_stage(stmt: Stmt) -> _Stage | None:
    loops = []
    while isinstance(stmt, For) and _is_thread_idx(stmt) and isinstance(stmt.extent, IntImm):
        loops.append(stmt)
        stmt = stmt.body
    lanes = [loop for loop in loops if loop.thread_tag == "threadIdx.x"]
    if len(lanes) != 1 or not isinstance(stmt, IfThenElse) or stmt.else_case is not None:
        return None
    lane, cond, store = lanes[0], stmt.condition, stmt.then_case
    if not (isinstance(cond, LT) and cond.a is lane.loop_var and isinstance(cond.b, IntImm)
            and isinstance(store, BufferStore) and store.buffer.scope == "shared"
            and type(store.value) in _COMBINERS):
        return None
    rows = [loop.loop_var for loop in loops if loop is not lane]
    here, there = store.value.a, store.value.b
    if not (_indexes(store.indices, rows, lane.loop_var) and _same_load(here, store)
            and isinstance(there, BufferLoad) and there.buffer is store.buffer
            and _indexes(there.indices[:-1], rows, None)):
        return None
    partner = there.indices[-1]
    if not (isinstance(partner, Add) and partner.a is lane.loop_var
            and isinstance(partner.b, IntImm)):
        return None
    return _Stage(tuple(loops), lane, store.buffer, type(store.value), partner.b.value,
                  cond.b.value)


def _indexes(indices, rows: list[Var], lane: Var | None) -> bool:
    """``indices`` are exactly ``[*rows, lane]`` (``[*rows]`` without a lane)."""
    expected = [*rows, lane] if lane is not None else rows
    return len(indices) == len(expected) and all(i is v for i, v in zip(indices, expected))


def _warp_width(threads: int) -> int | None:
    """The shuffle width for ``threads`` reducing threads: a whole warp when they fill whole
    warps, all of them when they divide a warp; None when warps would mix rows."""
    if threads % WARP_SIZE == 0:
        return WARP_SIZE
    if threads < WARP_SIZE and WARP_SIZE % threads == 0:
        return threads
    return None


def _warp_tail(run: list[_Stage]) -> int:
    """How many stages at the end of ``run`` (one tree) shuffles can take over."""
    width = _warp_width(run[0].lane.extent.value)
    if width is None or width == 1:
        return 0
    tail = [width >> k for k in range(1, width.bit_length())]
    last = run[-len(tail):]
    if len(last) == len(tail) and all(s.stride == t and s.active == t
                                      for s, t in zip(last, tail)):
        return len(tail)
    return 0


def _shuffle_nest(tail: list[_Stage], local: Buffer, mask_buffer: Buffer) -> Stmt:
    """The warp's lanes load their partial results, fold them with ``shuffle_down`` and lane 0
    stores the row's result back in the shared buffer. The lanes' mask is read once, before
    the first shuffle (as TVM does)."""
    first = tail[0]
    width = _warp_width(first.lane.extent.value)
    vmap = {loop.loop_var: Var(loop.loop_var.name, loop.loop_var.dtype) for loop in first.loops}
    lane = vmap[first.lane.loop_var]
    rows = [vmap[loop.loop_var] for loop in first.loops if loop is not first.lane]
    value, mask = BufferLoad(local, (const(0),)), BufferLoad(mask_buffer, (const(0),))
    steps = [BufferStore(mask_buffer, Call("int32", "tir.tvm_warp_activemask", ()), (const(0),)),
             BufferStore(local, BufferLoad(first.buffer, (*rows, lane)), (const(0),))]
    for stage in tail:
        down = Call(local.dtype, "tir.tvm_warp_shuffle_down",
                    (mask, value, const(stage.stride), const(width), const(WARP_SIZE)))
        steps.append(BufferStore(local, stage.op(value, down), (const(0),)))
    steps.append(IfThenElse(EQ(lane, const(0, lane.dtype)),
                            BufferStore(first.buffer, value, (*rows, const(0, lane.dtype)))))
    stmt = seq(*steps)
    if first.lane.extent.value > width:
        stmt = IfThenElse(LT(lane, const(width, lane.dtype)), stmt)
    for loop in reversed(first.loops):
        stmt = loop.with_(loop_var=vmap[loop.loop_var], body=stmt)
    return stmt


def _runs(items: tuple[Stmt, ...]) -> list[tuple[int, list[_Stage]]]:
    """``(start, stages)`` of each maximal run of consecutive stages of one tree."""
    runs: list[tuple[int, list[_Stage]]] = []
    for k, item in enumerate(items):
        stage = _as_stage(item)
        if stage is None:
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == k and \
                runs[-1][1][-1].shape() == stage.shape():
            runs[-1][1].append(stage)
        else:
            runs.append((k, [stage]))
    return runs


def _reads_only_results(after: list[Stmt], red: Buffer) -> bool:
    """Whether the statements after a tree read only its results ``red[rows, 0]`` (the
    shuffles leave the other slots holding partial values)."""
    loads: list[BufferLoad] = []
    post_order_visit(after, lambda n: loads.append(n) if isinstance(n, BufferLoad) else None)
    return all(isinstance(load.indices[-1], IntImm) and load.indices[-1].value == 0
               for load in loads if load.buffer is red)


class _WarpTrees(Mutator):
    def visit_Block(self, block: Block) -> Block:
        block = self.generic_visit(block)
        if not isinstance(block.body, SeqStmt):
            return block
        items = list(block.body.seq)
        allocs = list(block.alloc_buffers)
        for start, run in reversed(_runs(block.body.seq)):
            count = _warp_tail(run)
            if not count or not _reads_only_results(items[start + len(run):], run[0].buffer):
                continue
            name = run[0].buffer.name
            local = Buffer(f"{name}_warp", run[0].buffer.dtype, (1,), scope="local")
            mask = Buffer(f"{name}_mask", "int32", (1,), scope="local")
            allocs += [local, mask]
            end = start + len(run)
            items[end - count:end] = [_shuffle_nest(run[-count:], local, mask)]
        if len(allocs) == len(block.alloc_buffers):
            return block
        return block.with_(alloc_buffers=tuple(allocs), body=seq(*items))


@prim_func_pass("lower-warp-reduction", opt_level=2)
def lower_warp_reduction(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Fold the last ``log2(32)`` stages of each ``lower-cross-thread-reduction`` tree with warp
    shuffles (``T.tvm_warp_shuffle_down``) instead of shared memory and barriers.

    Its output needs the GPU's warps: the emulator runs it, the sequential interpreter cannot.
    A tree whose thread count neither fills whole warps nor divides one keeps its shared form.
    """
    return _WarpTrees().visit(func)


def cross_thread_reduction_passes(ctx: PassContext | None = None) -> list[Pass]:
    """The passes a GPU pipeline runs first: the shared-memory lowering, then the warp
    shuffles (as TVM does) unless the context's config sets ``WARP_REDUCTION`` to False."""
    ctx = ctx or PassContext.current()
    passes = [get_pass("lower-cross-thread-reduction")]
    if ctx.config.get(WARP_REDUCTION, True):
        passes.append(get_pass("lower-warp-reduction"))
    return passes
