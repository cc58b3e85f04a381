"""``plan-gpu-buffers``: GPU-scope buffers move to where a block or a thread owns them, and shrink
to the part they hold there (TVM's PlanAndUpdateBufferAllocationLocation followed by
CompactBufferAllocation).

A schedule's ``cache_read(..., "shared")`` allocates the whole ``1024 x 1024`` buffer at the root,
although each block of threads only ever holds one tile of it. This pass

1. makes every block opaque (iterators replaced by their bindings), so indices may name loops;
2. places each ``shared*``/``warp`` buffer at the lowest loop (or block) that covers all its
   uses and is not below a ``threadIdx``/``vthread`` loop (shared memory belongs to the block
   of threads), and each ``local``/``wmma.*`` buffer at the lowest place covering its uses
   (local memory belongs to one thread);
3. shrinks it to the region its uses touch in one iteration of that lowest covering loop (the
   loops below it and, for shared memory, the thread loops relaxed; for warp memory, the
   ``threadIdx.x`` lanes of one warp), and rebases the indices::

    A_shared = T.alloc_buffer((64, 64), scope="shared")
    for by in T.thread_binding(4, thread="blockIdx.y"):
        for ty in T.thread_binding(8, thread="threadIdx.y"):
            for k_0 in range(8):
                ... A_shared[by * 16 + f // 8, k_0 * 8 + f % 8] ...
    →
    for by in T.thread_binding(4, thread="blockIdx.y"):
        with T.block("A_shared_alloc"):
            A_shared = T.alloc_buffer((16, 8), scope="shared")
            for ty in T.thread_binding(8, thread="threadIdx.y"):
                for k_0 in range(8):
                    ... A_shared[f // 8, f % 8] ...

A buffer whose data pointer is used directly (``T.tvm_access_ptr(A.data, ...)``) is moved but not
shrunk. Like TVM, a buffer used only inside one iteration of a loop is taken to hold nothing from
one iteration to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tvmscript.analysis.access_region import infer_block_access_regions, reads_without_init
from tvmscript.arith import Analyzer
from tvmscript.ir import (
    Block,
    BlockRealize,
    Buffer,
    BufferLoad,
    BufferRegion,
    BufferStore,
    For,
    ForKind,
    IfThenElse,
    IntImm,
    MatchBufferRegion,
    Mutator,
    PrimExpr,
    PrimFunc,
    Ramp,
    Range,
    Stmt,
    Var,
    Visitor,
    const,
    structural_equal,
    substitute,
)
from tvmscript.ir.expr import LT, And, Min
from tvmscript.ir.rewrite import copy_buffer, is_int
from tvmscript.schedule.region import relax_expr, union_interval, uses_vars

from .infra import PassContext, prim_func_pass
from .lower_init_block import init_then_body

Interval = tuple[PrimExpr, PrimExpr]


def is_gpu_scope(scope: str) -> bool:
    """Storage that lives inside a kernel: per block (shared, warp) or per thread (local, wmma)."""
    return scope.startswith(("shared", "wmma.")) or scope in ("local", "warp")


def per_block(scope: str) -> bool:
    """Storage that all the threads of a block see."""
    return scope.startswith("shared") or scope == "warp"


def is_thread_loop(stmt: Stmt) -> bool:
    """A loop over the threads of a block (``threadIdx.*`` or a virtual thread)."""
    return (isinstance(stmt, For) and stmt.kind == ForKind.THREAD_BINDING
            and stmt.thread_tag.startswith(("threadIdx.", "vthread")))


# ---------------------------------------------------------------- 1. opaque blocks


class _MakeOpaque(Mutator):
    """Blocks lose their iterators: indices, regions and views name the loops directly."""

    def visit_BlockRealize(self, realize: BlockRealize) -> BlockRealize:
        realize = self.generic_visit(realize)
        block = realize.block
        if not block.iter_vars:
            return realize
        if block.init is not None:
            block = block.with_(init=None, body=init_then_body(block),
                                reads=reads_without_init(block))
        vmap = dict(zip((iv.var for iv in block.iter_vars), realize.iter_values))
        block = substitute(block.with_(iter_vars=()), vmap)
        return realize.with_(iter_values=(), block=block)


# ---------------------------------------------------------------- 2. uses


@dataclass
class _Uses:
    owner: Block
    paths: list[tuple[Stmt, ...]] = field(default_factory=list)
    # (path, intervals, the conditions (``if``, ``T.where``) that hold there)
    regions: list[tuple[tuple[Stmt, ...], list[Interval], tuple[PrimExpr, ...]]] = field(
        default_factory=list)
    opaque: bool = False  # the data pointer escapes: do not shrink


class _CollectUses(Visitor):
    def __init__(self, targets: dict[Buffer, _Uses]) -> None:
        self.targets = targets
        self.by_data = {b.data: u for b, u in targets.items()}
        self.path: list[Stmt] = []
        self.conditions: list[PrimExpr] = []

    def visit(self, obj):
        if isinstance(obj, Stmt):
            self.path.append(obj)
            try:
                return super().visit(obj)
            finally:
                self.path.pop()
        return super().visit(obj)

    def use(self, buffer: Buffer, intervals: list[Interval]) -> None:
        uses = self.targets.get(buffer)
        if uses is not None:
            path = tuple(self.path)
            uses.paths.append(path)
            uses.regions.append((path, intervals, tuple(self.conditions)))

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.use(load.buffer, [_point(i) for i in load.indices])
        self.visit(load.indices)

    def visit_BufferStore(self, store: BufferStore) -> None:
        self.use(store.buffer, [_point(i) for i in store.indices])
        self.visit(store.indices)
        self.visit(store.value)

    def visit_IfThenElse(self, stmt: IfThenElse) -> None:
        self.visit(stmt.condition)
        self.conditions.append(stmt.condition)
        self.visit(stmt.then_case)
        self.conditions.pop()
        self.visit(stmt.else_case)

    def visit_BlockRealize(self, realize: BlockRealize) -> None:
        self.visit(realize.predicate)
        self.conditions.append(realize.predicate)
        self.visit(realize.block)
        self.conditions.pop()

    def visit_Block(self, block: Block) -> None:
        for match in block.match_buffers:
            src = match.source
            self.use(src.buffer, [(r.min, r.min + r.extent - 1) for r in src.region])
            self.visit([(r.min, r.extent) for r in src.region])
        self.visit(block.body)

    def visit_Var(self, var: Var) -> None:
        uses = self.by_data.get(var)
        if uses is not None:
            uses.opaque = True
            uses.paths.append(tuple(self.path))


def _point(index: PrimExpr) -> Interval:
    if isinstance(index, Ramp):
        return index.base, index.base + index.stride * (index.lanes - 1)
    return index, index


def _targets(body: Stmt) -> dict[Buffer, _Uses]:
    found: dict[Buffer, _Uses] = {}

    class _Find(Visitor):
        def visit_Block(self, block: Block) -> None:
            for buffer in block.alloc_buffers:
                if is_gpu_scope(buffer.scope):
                    found[buffer] = _Uses(block)
            self.generic_visit(block)

    _Find().visit(body)
    return found


# ---------------------------------------------------------------- 3. sites and regions


@dataclass
class _Plan:
    site: Stmt                       # a For (allocate in its body) or a Block
    new: Buffer | None               # None: the buffer is unused and goes away
    offsets: tuple[PrimExpr, ...] = ()


def _common_prefix(paths: list[tuple[Stmt, ...]]) -> list[Stmt]:
    prefix = list(paths[0])
    for path in paths[1:]:
        n = 0
        while n < min(len(prefix), len(path)) and prefix[n] is path[n]:
            n += 1
        del prefix[n:]
    return prefix


def _deepest_scope(prefix: list[Stmt], upto: int) -> int:
    return max(i for i in range(upto) if isinstance(prefix[i], (For, Block)))


def plan_buffer(buffer: Buffer, uses: _Uses) -> _Plan:
    """Where ``buffer`` is allocated and what it shrinks to (see the module docstring)."""
    if not uses.paths:
        return _Plan(uses.owner, None)
    prefix = _common_prefix(uses.paths)
    lowest = _deepest_scope(prefix, len(prefix))
    site = lowest
    if per_block(buffer.scope):
        first_thread = next((i for i in range(lowest + 1) if is_thread_loop(prefix[i])), None)
        if first_thread is not None:
            site = _deepest_scope(prefix, first_thread)
    new, offsets = buffer, tuple(const(0, s.dtype) for s in buffer.shape)
    if not uses.opaque:
        new, offsets = _compact(buffer, uses, prefix, site, lowest)
    return _Plan(prefix[site], new, offsets)


def _compact(buffer: Buffer, uses: _Uses, prefix: list[Stmt], site: int,
             lowest: int) -> tuple[Buffer, tuple[PrimExpr, ...]]:
    """The buffer shrunk to the union of its uses in one iteration at ``prefix[lowest]``."""
    ana = Analyzer()
    for stmt in prefix[:lowest + 1]:
        if isinstance(stmt, For):
            ana.bind(stmt.loop_var, Range(stmt.min, stmt.extent))
    dims: list[Interval | None] | None = None
    for path, intervals, conditions in uses.regions:
        relax = [s for s in path[lowest + 1:] if isinstance(s, For)]
        if per_block(buffer.scope):
            relax += [s for s in prefix[site + 1:lowest + 1] if _shares(buffer.scope, s)]
        dom = {loop.loop_var: Range(loop.min, loop.extent) for loop in relax}
        found = [_relax(iv, dom, ana, conditions) for iv in intervals]
        dims = found if dims is None else [union_interval(a, b, ana) for a, b in zip(dims, found)]
    shape, offsets = [], []
    for iv, extent in zip(dims or [None] * buffer.ndim, buffer.shape):
        size = None if iv is None else ana.simplify(iv[1] - iv[0] + 1)
        keep = (not isinstance(size, IntImm) or size.value <= 0
                or (isinstance(extent, IntImm) and size.value >= extent.value))
        shape.append(extent if keep else size)
        offsets.append(const(0, extent.dtype) if keep else iv[0])
    if all(a is b for a, b in zip(shape, buffer.shape)):
        return buffer, tuple(offsets)
    return copy_buffer(buffer, shape=tuple(shape)), tuple(offsets)


def _shares(scope: str, loop: Stmt) -> bool:
    """Whether the iterations of thread loop ``loop`` see one copy of a ``scope`` buffer: all
    threads of a block share shared memory; warp memory is shared by the lanes of a warp
    (``threadIdx.x``), each warp (``threadIdx.y/z``) having its own."""
    if not is_thread_loop(loop):
        return False
    return scope != "warp" or loop.thread_tag == "threadIdx.x"


def _relax(iv: Interval, dom: dict, ana: Analyzer,
           conditions: tuple[PrimExpr, ...] = ()) -> Interval | None:
    """``iv`` relaxed over ``dom``, tightened by conditions ``e < bound`` on a subexpression
    ``e`` of it (the guard of a fetch loop split past its extent: ``T.where(f < 64)``)."""
    out = []
    for end in iv:
        for cond in _upper_bounds(conditions):
            end, dom = _bounded(end, cond, dom, ana)
        relaxed = relax_expr(end, dom, ana)
        if relaxed is None:
            return None
        out.append(relaxed)
    return out[0][0], out[1][1]


def _upper_bounds(conditions: tuple[PrimExpr, ...]) -> list[LT]:
    found = []
    for cond in conditions:
        parts = [cond]
        while parts:
            c = parts.pop()
            if isinstance(c, And):
                parts += [c.a, c.b]
            elif isinstance(c, LT):
                found.append(c)
    return found


def _bounded(expr: PrimExpr, cond: LT, dom: dict, ana: Analyzer) -> tuple[PrimExpr, dict]:
    """Replace ``cond.a`` in ``expr`` by a variable ranging up to ``cond.b - 1``."""
    if not cond.a.dtype.is_integer or uses_vars(cond.b, dom) or not uses_vars(cond.a, dom):
        return expr, dom
    whole = relax_expr(cond.a, dom, ana)
    if whole is None:
        return expr, dom
    var = Var("bounded", cond.a.dtype)
    replaced = _ReplaceExpr(cond.a, var).visit(expr)
    if replaced is expr:
        return expr, dom
    hi = ana.simplify(Min(whole[1], cond.b - 1))
    return replaced, {**dom, var: Range(whole[0], ana.simplify(hi - whole[0] + 1))}


class _ReplaceExpr(Mutator):
    def __init__(self, target: PrimExpr, var: Var) -> None:
        self.target = target
        self.var = var

    def visit(self, obj):
        if isinstance(obj, PrimExpr) and structural_equal(obj, self.target):
            return self.var
        return super().visit(obj)


# ---------------------------------------------------------------- 4. rewrite


class _Apply(Mutator):
    def __init__(self, plans: dict[Buffer, _Plan]) -> None:
        self.plans = plans
        self.sites: dict[int, list[Buffer]] = {}
        for plan in plans.values():
            if plan.new is not None:
                self.sites.setdefault(id(plan.site), []).append(plan.new)

    def rebase(self, buffer: Buffer, indices):
        plan = self.plans[buffer]
        return plan.new, tuple(_minus(i, o) for i, o in zip(indices, plan.offsets))

    def visit_BufferLoad(self, load: BufferLoad) -> PrimExpr:
        load = self.generic_visit(load)
        if load.buffer not in self.plans:
            return load
        buffer, indices = self.rebase(load.buffer, load.indices)
        return load.with_(buffer=buffer, indices=indices)

    def visit_BufferStore(self, store: BufferStore) -> Stmt:
        store = self.generic_visit(store)
        if store.buffer not in self.plans:
            return store
        buffer, indices = self.rebase(store.buffer, store.indices)
        return store.with_(buffer=buffer, indices=indices)

    def visit_BufferRegion(self, region: BufferRegion) -> BufferRegion:
        region = self.generic_visit(region)
        if region.buffer not in self.plans:
            return region
        plan = self.plans[region.buffer]
        ranges = tuple(Range(_minus(r.min, o), r.extent)
                       for r, o in zip(region.region, plan.offsets))
        return BufferRegion(plan.new, ranges)

    def visit_MatchBufferRegion(self, match: MatchBufferRegion) -> MatchBufferRegion:
        return match.with_(source=self.visit(match.source))

    def visit_Block(self, block: Block) -> Block:
        here = self.sites.get(id(block), [])
        block = self.generic_visit(block)
        kept = tuple(b for b in block.alloc_buffers if b not in self.plans)
        return block.with_(alloc_buffers=kept + tuple(here))

    def visit_For(self, loop: For) -> For:
        here = self.sites.get(id(loop))
        loop = self.generic_visit(loop)
        if not here:
            return loop
        return loop.with_(body=BlockRealize((), const(True), scope_block(here, loop.body)))


def scope_block(buffers: list[Buffer], body: Stmt) -> Block:
    """An opaque block allocating ``buffers`` around ``body``, its regions inferred (named
    after the buffers, as the script wants a name)."""
    name = "_".join(b.name for b in buffers) + "_alloc"
    block = Block(name, alloc_buffers=tuple(buffers), body=body)
    reads, writes = infer_block_access_regions(block)
    own = set(buffers)
    return block.with_(reads=tuple(r for r in reads if r.buffer not in own),
                       writes=tuple(w for w in writes if w.buffer not in own))


def _minus(index: PrimExpr, offset: PrimExpr) -> PrimExpr:
    if is_int(offset, 0):
        return index
    if isinstance(index, Ramp):
        return index.with_(base=Analyzer().simplify(index.base - offset))
    return Analyzer().simplify(index - offset)


@prim_func_pass("plan-gpu-buffers", opt_level=0, required=True)
def plan_gpu_buffers(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Allocate shared/local buffers where their block/thread owns them, shrunk to the tile."""
    targets = _targets(func.body)
    if not targets:
        return func
    body = _MakeOpaque().visit(func.body)
    targets = _targets(body)
    _CollectUses(targets).visit(body)
    plans = {buffer: plan_buffer(buffer, uses) for buffer, uses in targets.items()}
    return func.with_(body=_Apply(plans).visit(body))
