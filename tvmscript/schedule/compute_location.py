"""Where a block computes: ``compute_at``, ``reverse_compute_at``, ``compute_inline``,
``reverse_compute_inline``.

All four work inside one *scope* (the block that encloses the blocks involved, usually the root)
whose child blocks form a producer/consumer pipeline. The region a block must compute at its new
place comes from ``region.py``: the consumers' (resp. producers') regions relaxed over the loops
under the target loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.access_region import infer_block_access_regions
from ..arith import Analyzer, to_linear
from ..ir import expr as E
from ..ir import stmt as S
from ..ir.buffer import Buffer, BufferRegion
from ..ir.expr import IntImm, PrimExpr, Range, Var, const
from ..ir.function import PrimFunc
from ..ir.functor import Mutator, Visitor, substitute
from ..ir.structural import structural_equal
from .errors import ScheduleError
from .handles import BlockRV, LoopRV
from .region import Interval, block_regions, bound_loops, relax_expr, union_interval, uses_vars
from .schedule import Schedule, register_primitive
from .state import Location, replace_many, walk

# ---------------------------------------------------------------- the scope


@dataclass
class Leaf:
    """A block directly in the scope: its realize, the path to it and its place in program order."""

    realize: S.BlockRealize
    path: tuple[S.Stmt, ...]
    order: int

    @property
    def block(self) -> S.Block:
        return self.realize.block

    @property
    def name(self) -> str:
        return self.realize.block.name_hint

    def reads(self) -> set[Buffer]:
        return {r.buffer for r in self.block.reads}

    def writes(self) -> set[Buffer]:
        return {r.buffer for r in self.block.writes}

    def loops_below(self, stmt: S.Stmt) -> list[S.For]:
        """The loops between ``stmt`` (exclusive) and the block."""
        idx = next(i for i, s in enumerate(self.path) if s is stmt)
        return [s for s in self.path[idx + 1:] if isinstance(s, S.For)]

    def under(self, stmt: S.Stmt) -> bool:
        return any(s is stmt for s in self.path)


@dataclass
class Scope:
    block: S.Block           # the scope block (root or another block)
    path: tuple[S.Stmt, ...]  # from the function body down to the scope block
    leaves: list[Leaf]

    def leaf(self, block: S.Block) -> Leaf:
        for leaf in self.leaves:
            if leaf.block is block:
                return leaf
        raise ScheduleError(f"block `{block.name_hint}` is not a child block of block "
                            f"`{self.block.name_hint}`")

    def writers(self, buffer: Buffer) -> list[Leaf]:
        return [leaf for leaf in self.leaves if buffer in leaf.writes()]

    def readers(self, buffer: Buffer) -> list[Leaf]:
        return [leaf for leaf in self.leaves if buffer in leaf.reads()]

    def loops_to(self, stmt: S.Stmt, path: tuple[S.Stmt, ...]) -> list[S.For]:
        """Loops of the scope from its top down to ``stmt`` inclusive (``path`` leads to stmt)."""
        start = next(i for i, s in enumerate(path) if s is self.block)
        end = next(i for i, s in enumerate(path) if s is stmt)
        return [s for s in path[start + 1:end + 1] if isinstance(s, S.For)]


def get_scope(sch: Schedule, loc: Location) -> Scope:
    """The scope enclosing the block or loop at ``loc``, with its child blocks in program order."""
    for i in range(len(loc.path) - 2, -1, -1):
        if isinstance(loc.path[i], S.Block):
            scope_block, scope_path = loc.path[i], loc.path[:i + 1]
            break
    else:
        raise ScheduleError(f"{describe(loc.node)} is not inside any block")
    init = scope_block.init
    if init is not None and i + 1 < len(loc.path) and loc.path[i + 1] is init:
        raise ScheduleError(f"{describe(loc.node)} is inside the init of block "
                            f"`{scope_block.name_hint}`; this primitive works on the blocks and "
                            f"loops of a block's body only")
    leaves: list[Leaf] = []

    def visit(stmt: S.Stmt, path: tuple[S.Stmt, ...]) -> None:
        path = path + (stmt,)
        if isinstance(stmt, S.BlockRealize):
            leaves.append(Leaf(stmt, path + (stmt.block,), len(leaves)))
            return
        from .state import children

        for child in children(stmt):
            visit(child, path)

    visit(scope_block.body, scope_path)
    return Scope(scope_block, scope_path, leaves)


def describe(node: S.Stmt) -> str:
    if isinstance(node, S.Block):
        return f"block `{node.name_hint}`"
    if isinstance(node, S.For):
        return f"loop `{node.loop_var.name}`"
    return type(node).__name__


def is_spatial(block: S.Block) -> bool:
    return all(iv.iter_type == S.IterType.SPATIAL for iv in block.iter_vars)


def complete_problem(scope: Scope, leaf: Leaf) -> str | None:
    """Why ``leaf`` is not a complete block (TVM's definition), or None when it is."""
    block = leaf.block
    if not is_spatial(block):
        return "it has non-spatial iterators"
    if block.init is not None:
        return "it has an init statement"
    return _writer_problem(scope, leaf)


def reduction_problem(scope: Scope, leaf: Leaf) -> str | None:
    """Why ``leaf`` is neither complete nor a reduction block (spatial + reduce, with init)."""
    block = leaf.block
    if is_spatial(block) and block.init is None:
        return _writer_problem(scope, leaf)
    kinds = {iv.iter_type for iv in block.iter_vars}
    if not kinds <= {S.IterType.SPATIAL, S.IterType.REDUCE}:
        return "it has scan or opaque iterators"
    if block.init is None:
        return "it has reduction iterators but no init"
    reduce_vars = {iv.var for iv in block.iter_vars if iv.iter_type == S.IterType.REDUCE}
    for region in block.writes:
        if any(uses_vars(r.min, reduce_vars) or uses_vars(r.extent, reduce_vars) for r in region.region):
            return f"its write of `{region.buffer.name}` depends on a reduction iterator"
    return _writer_problem(scope, leaf, allow_self_read=True)


def _writer_problem(scope: Scope, leaf: Leaf, allow_self_read: bool = False) -> str | None:
    for buffer in leaf.writes():
        others = [w.name for w in scope.writers(buffer) if w is not leaf]
        if others:
            return f"blocks {others} also write `{buffer.name}`"
        if not allow_self_read and buffer in leaf.reads():
            return f"it reads `{buffer.name}`, which it writes"
    return None


def removal_root(scope: Scope, leaf: Leaf) -> S.Stmt:
    """The highest statement above ``leaf`` whose subtree holds nothing but ``leaf``."""
    top = leaf.realize
    start = next(i for i, s in enumerate(leaf.path) if s is scope.block)
    chain = leaf.path[start + 1:-2]
    for stmt in reversed(chain):
        if isinstance(stmt, S.For) and stmt.body is top:
            top = stmt
        else:
            break
    return top


def allocated_in(func: PrimFunc, buffer: Buffer) -> S.Block | None:
    for loc in walk(func.body):
        if isinstance(loc.node, S.Block) and buffer in loc.node.alloc_buffers:
            return loc.node
    return None


def body_items(stmt: S.Stmt) -> list[S.Stmt]:
    return list(stmt.seq) if isinstance(stmt, S.SeqStmt) else [stmt]


def subtree_index(items: list[S.Stmt], leaf: Leaf) -> int | None:
    for i, item in enumerate(items):
        if leaf.under(item):
            return i
    return None


def check_loop_kinds(scope: Scope, loop_loc: Location, what: str) -> None:
    """Refuse to put a block under (or inside) a vectorized loop (TVM #15877)."""
    for loop in scope.loops_to(loop_loc.node, loop_loc.path):
        if loop.kind == S.ForKind.VECTORIZED:
            raise ScheduleError(
                f"loop `{loop.loop_var.name}` is vectorized; {what} under "
                f"loop `{loop_loc.node.loop_var.name}` would put a loop nest inside a vector lane")


def private_to_iteration(buffer: Buffer, loop: S.For, complete: bool) -> bool:
    """Whether the iterations of GPU thread loop ``loop`` may write the same elements of
    ``buffer`` without racing: True when each iteration has its own copy of the buffer, or
    when their overlapping writes are redundant (False: the writes must be disjoint).

    Shared memory (and warp fragments) are per block and local memory is per thread, so the
    iterations of a ``blockIdx`` loop filling the same shared tile, or of a ``threadIdx`` loop
    filling the same local buffer, write different memory. Under a ``threadIdx`` loop a shared
    (or warp) buffer is common to the block's threads: a complete block writes each element with
    the same value whichever thread computes it, so the overlap is redundant work that binding
    the fetch loops to the threads removes (cooperative fetching), not a race.
    """
    if loop.kind != S.ForKind.THREAD_BINDING:
        return False
    scope, tag = buffer.scope, loop.thread_tag
    if scope == "warp":  # one per warp: the lanes (threadIdx.x) share it, warps do not
        return complete if tag == "threadIdx.x" or tag.startswith("vthread") else True
    per_thread = scope == "local" or scope.startswith("wmma.")
    per_block = scope.startswith("shared")
    if tag.startswith("blockIdx."):
        return per_thread or per_block
    if tag.startswith(("threadIdx.", "vthread")):
        return per_thread or (per_block and complete)
    return False


def shared_thread_loops(scope: Scope, loop_loc: Location, buffer: Buffer) -> list[S.For]:
    """The ``threadIdx``/``vthread`` loops down to the target whose iterations (the threads of a
    block) all see ``buffer`` when it is in shared memory: a stage computed there fills the
    block's whole tile, as TVM relaxes these loops for shared storage, so that binding its loops
    to the threads fetches the tile cooperatively. (``reverse_compute_at`` keeps a consumer of
    shared memory to what its own thread made: no barrier, no overlap.)"""
    if not (buffer.scope.startswith("shared") or buffer.scope == "warp"):
        return []
    # a warp buffer is seen by the lanes of one warp (threadIdx.x), not by the other warps
    tags = ("threadIdx.x", "vthread") if buffer.scope == "warp" else ("threadIdx.", "vthread")
    return [loop for loop in scope.loops_to(loop_loc.node, loop_loc.path)
            if loop.kind == S.ForKind.THREAD_BINDING and loop.thread_tag.startswith(tags)]


def check_parallel_disjoint(scope: Scope, loop_loc: Location, regions: dict[Buffer, BufferRegion],
                            ana: Analyzer, who: str, complete: bool = False) -> None:
    """Each iteration of a parallel/thread loop above the target must write its own elements,
    unless the buffer is private to the iteration (``private_to_iteration``; ``complete``: the
    block being moved is a complete block)."""
    for loop in scope.loops_to(loop_loc.node, loop_loc.path):
        if loop.kind not in (S.ForKind.PARALLEL, S.ForKind.THREAD_BINDING):
            continue
        if ana.can_prove(loop.extent <= 1):  # one iteration (e.g. one block): nothing to race
            continue
        p = loop.loop_var
        for buffer, region in regions.items():
            if private_to_iteration(buffer, loop, complete):
                continue
            nxt = {p: p + 1}
            disjoint = any(
                ana.can_prove(substitute(r.min, nxt) >= r.min + r.extent)
                for r in region.region if uses_vars(r.min, {p})
            )
            if not disjoint:
                raise ScheduleError(
                    f"iterations of parallel loop `{p.name}` would compute overlapping parts of "
                    f"`{buffer.name}` in {who}; that is a data race")


# ---------------------------------------------------------------- iteration domains


def iter_domain(block: S.Block, regions: list[BufferRegion], need: dict[Buffer, list[Interval]],
                ana: Analyzer, reading: bool) -> dict[Var, Interval]:
    """For each iterator constrained by ``regions``, the values it must take so that the block's
    accesses cover (``reading=False``: its writes cover ``need``) or stay inside (``reading=True``:
    its reads stay inside ``need``) the needed intervals."""
    ivars = {iv.var for iv in block.iter_vars}
    found: dict[Var, Interval] = {}
    conflicts: dict[Var, bool] = {}
    for region in regions:
        if region.buffer not in need:
            continue
        for r, (lo, hi) in zip(region.region, need[region.buffer]):
            form = to_linear(r.min) if r.min.dtype.is_integer else None
            if form is None or len(form.terms) != 1:
                if uses_vars(r.min, ivars) and reading:
                    raise _Unsupported(f"index `{r.min}` is not one iterator plus a constant")
                continue
            (var, coeff), = form.terms.items()
            if var not in ivars or coeff != 1 or not isinstance(r.extent, IntImm):
                if reading:
                    raise _Unsupported(f"region of `{region.buffer.name}` is not one iterator "
                                       "plus a constant, with a constant extent")
                continue
            c, e = form.constant, r.extent.value
            iv = (ana.simplify(lo - c), ana.simplify(hi - c - (e - 1))) if reading else \
                 (ana.simplify(lo - c - (e - 1)), ana.simplify(hi - c))
            if var in found:
                same = structural_equal(found[var][0], iv[0]) and structural_equal(found[var][1], iv[1])
                if reading and not same:
                    conflicts[var] = True
                found[var] = found[var] if same else union_interval(found[var], iv, ana)
            else:
                found[var] = iv
            if reading and e != 1:
                conflicts[var] = True
    if conflicts:
        names = ", ".join(v.name for v in conflicts)
        raise _Unsupported(f"iterator(s) {names} read several elements per instance")
    return found


class _Unsupported(Exception):
    pass


def build_nest(realize: S.BlockRealize, domain: dict[Var, Interval], ana: Analyzer,
               preserve_unit_loops: bool) -> S.Stmt:
    """New loops over ``domain`` (full domain for iterators not in it) around ``realize``'s block."""
    block = realize.block
    loops: list[tuple[Var, PrimExpr]] = []
    bindings: list[PrimExpr] = []
    preds: list[PrimExpr] = []
    for iv in block.iter_vars:
        dmin, dext = iv.dom.min, iv.dom.extent
        lo, hi = domain.get(iv.var, (dmin, ana.simplify(dmin + dext - 1)))
        lo, hi = _tighten(lo, hi, dmin, dext, ana)
        extent = ana.simplify(hi - lo + 1)
        if not isinstance(extent, IntImm):
            bound = ana.const_int_bound(extent).max
            if bound >= Analyzer.dtype_bound(extent.dtype).max:
                raise ScheduleError(f"cannot bound the number of instances of block "
                                    f"`{block.name_hint}` needed along `{iv.var.name}`")
            cap = const(bound, extent.dtype)
        else:
            cap = extent
        if isinstance(cap, IntImm) and cap.value == 1 and not preserve_unit_loops:
            bindings.append(lo)
            value = lo
        else:
            var = Var(f"ax{len(loops)}", iv.var.dtype)
            loops.append((var, cap))
            value = ana.simplify(lo + var)  # before binding: a unit loop stays visible (TVM)
            ana.bind(var, Range(const(0, cap.dtype), cap))
            bindings.append(value)
            if cap is not extent:
                preds.append(var < extent)
        if not ana.can_prove(value >= dmin):
            preds.append(value >= dmin)
        if not ana.can_prove(value < dmin + dext):
            preds.append(value < ana.simplify(dmin + dext))
    pred = const(True)
    for p in preds:
        pred = p if pred is None or (isinstance(pred, IntImm) and pred.value) else E.And(pred, p)
    stmt: S.Stmt = S.BlockRealize(tuple(bindings), pred, block)
    for var, cap in reversed(loops):
        stmt = S.For(var, const(0, cap.dtype), cap, S.ForKind.SERIAL, stmt)
    return stmt


def _tighten(lo: PrimExpr, hi: PrimExpr, dmin: PrimExpr, dext: PrimExpr,
             ana: Analyzer) -> Interval:
    """Cut ``[lo, hi]`` to the iterator's domain where that keeps the bounds simple."""
    dmax = ana.simplify(dmin + dext - 1)
    if ana.can_prove(lo <= dmin) and ana.can_prove(hi >= dmax):
        return dmin, dmax
    return lo, hi


# ---------------------------------------------------------------- compute_at


def _prepare_move(sch: Schedule, block: BlockRV, loop: LoopRV, verb: str):
    bloc, lloc = sch.loc(block), sch.loc(loop)
    scope = get_scope(sch, bloc)
    lscope_block = lloc.enclosing_block()
    if lscope_block is not scope.block:
        raise ScheduleError(f"block `{bloc.node.name_hint}` and loop `{lloc.node.loop_var.name}` "
                            f"are not in the same scope, so {verb} cannot move the block there")
    if any(s is lloc.node for s in bloc.path):
        raise ScheduleError(f"loop `{lloc.node.loop_var.name}` is already an ancestor of "
                            f"block `{bloc.node.name_hint}`")
    return bloc, lloc, scope, scope.leaf(bloc.node)


def _move(sch: Schedule, scope: Scope, leaf: Leaf, lloc: Location, new_nest: S.Stmt,
          pos: int) -> None:
    loop = lloc.node
    items = body_items(loop.body)
    items.insert(pos, new_nest)
    new_loop = loop.with_(body=S.seq(*items))
    sch.commit(replace_many(sch.func, {removal_root(scope, leaf): None, loop: new_loop}))


@register_primitive("compute_at")
def compute_at(sch: Schedule, block: BlockRV, loop: LoopRV, preserve_unit_loops: bool = False) -> None:
    """Move a producer block under a loop of its consumers, computing only what they need there.

    Before::

        for i, j in T.grid(128, 128):
            with T.block("B"): ... B[vi, vj] = A[vi, vj] * 2
        for i, j in T.grid(128, 128):
            with T.block("C"): ... C[vi, vj] = B[vi, vj] + 1

    After ``compute_at(B, loop i of C)``::

        for i in range(128):
            for ax0 in range(128):
                with T.block("B"):
                    vi = T.axis.spatial(128, i); vj = T.axis.spatial(128, ax0) ...
            for j in range(128):
                with T.block("C"): ...
    """
    _, lloc, scope, leaf = _prepare_move(sch, block, loop, "compute_at")
    name, lname = leaf.name, lloc.node.loop_var.name
    why = reduction_problem(scope, leaf)
    if why:
        raise ScheduleError(f"block `{name}` is not a complete block nor a reduction block "
                            f"({why}), so it cannot be computed at loop `{lname}`")
    outputs = leaf.writes()
    alloc = {b for b in outputs if b in scope.block.alloc_buffers or allocated_in(sch.func, b)}
    if alloc != outputs:
        out = sorted(b.name for b in outputs - alloc)
        raise ScheduleError(f"block `{name}` is an output block (it writes the function's "
                            f"buffer(s) {out}), so it cannot be computed at loop `{lname}`")
    consumers = [c for c in scope.leaves if c is not leaf and c.reads() & outputs]
    missing = [c.name for c in consumers if not c.under(lloc.node)]
    if missing or not consumers:
        raise ScheduleError(f"all consumers of block `{name}` must be under loop `{lname}`, "
                            f"but {missing or 'it has no consumer'} {'are' if missing else ''} not"
                            .rstrip())
    items = body_items(lloc.node.body)
    pos = min(subtree_index(items, c) for c in consumers)
    for p in scope.leaves:
        if (p is not leaf and p.writes() & leaf.reads() and p.under(lloc.node)
                and subtree_index(items, p) >= pos):
            raise ScheduleError(f"block `{p.name}` produces input of block `{name}` but comes "
                                f"after its consumers under loop `{lname}`")
    check_loop_kinds(scope, lloc, f"computing block `{name}`")
    ana = bound_loops(Analyzer(), scope.loops_to(lloc.node, lloc.path))
    need: dict[Buffer, list[Interval]] = {}
    for c, buf in ((c, b) for c in consumers for b in outputs):
        relax = c.loops_below(lloc.node) + shared_thread_loops(scope, lloc, buf)
        regions = block_regions(c.realize, relax, ana=ana, buffers={buf}, clamp=False)
        for buf, region in regions.items():
            ivs = [(r.min, ana.simplify(r.min + r.extent - 1)) for r in region.region]
            old = need.get(buf)
            need[buf] = ivs if old is None else [union_interval(a, b, ana) for a, b in zip(old, ivs)]
    need = {b: [iv if iv is not None else (const(0, s.dtype), ana.simplify(s - 1))
                for iv, s in zip(ivs, b.shape)] for b, ivs in need.items()}
    domain = iter_domain(leaf.block, list(leaf.block.writes), need, ana, reading=False)
    nest = build_nest(leaf.realize, domain, ana, preserve_unit_loops)
    computed = block_regions(_first_realize(nest), _loops_of(nest), ana=ana, reads=False)
    check_parallel_disjoint(scope, lloc, computed, ana, f"block `{name}`",
                            complete=complete_problem(scope, leaf) is None)
    _move(sch, scope, leaf, lloc, nest, pos)


@register_primitive("reverse_compute_at")
def reverse_compute_at(sch: Schedule, block: BlockRV, loop: LoopRV,
                       preserve_unit_loops: bool = False) -> None:
    """Move a consumer block under a loop of its producers, consuming what each iteration made.

    Before::

        for i0, j0, i1, j1 in T.grid(4, 4, 32, 32):
            with T.block("B"): ... B[vi, vj] = A[vi, vj] * 2
        for i, j in T.grid(128, 128):
            with T.block("C"): ... C[vi, vj] = B[vi, vj] + 1

    After ``reverse_compute_at(C, loop j0)``::

        for i0, j0 in T.grid(4, 4):
            for i1, j1 in T.grid(32, 32):
                with T.block("B"): ...
            for ax0, ax1 in T.grid(32, 32):
                with T.block("C"):
                    vi = T.axis.spatial(128, i0 * 32 + ax0); vj = ... ; C[vi, vj] = B[vi, vj] + 1
    """
    _, lloc, scope, leaf = _prepare_move(sch, block, loop, "reverse_compute_at")
    name, lname = leaf.name, lloc.node.loop_var.name
    why = reduction_problem(scope, leaf)
    if why:
        raise ScheduleError(f"block `{name}` is not a complete block nor a reduction block "
                            f"({why}), so it cannot be reverse-computed at loop `{lname}`")
    inputs = leaf.reads()
    producers = [p for p in scope.leaves if p is not leaf and p.writes() & inputs]
    missing = [p.name for p in producers if not p.under(lloc.node)]
    if missing or not producers:
        raise ScheduleError(f"all producers of block `{name}` must be under loop `{lname}`, "
                            f"but {missing or 'it has no producer'} {'are' if missing else ''} not"
                            .rstrip())
    items = body_items(lloc.node.body)
    pos = max(subtree_index(items, p) for p in producers) + 1
    for c in scope.leaves:
        if (c is not leaf and c.reads() & leaf.writes() and c.under(lloc.node)
                and subtree_index(items, c) < pos):
            raise ScheduleError(f"block `{c.name}` consumes the output of block `{name}` but "
                                f"comes before its producers' end under loop `{lname}`")
    check_loop_kinds(scope, lloc, f"computing block `{name}`")
    outer = scope.loops_to(lloc.node, lloc.path)
    ana = bound_loops(Analyzer(), outer)
    made: dict[Buffer, list[Interval]] = {}
    for p in producers:
        regions = block_regions(p.realize, p.loops_below(lloc.node), ana=ana, reads=False,
                                buffers=inputs, clamp=False)
        for buf, region in regions.items():
            ivs = [(r.min, ana.simplify(r.min + r.extent - 1)) for r in region.region]
            old = made.get(buf)
            made[buf] = ivs if old is None else [union_interval(a, b, ana) for a, b in zip(old, ivs)]
    if any(iv is None for ivs in made.values() for iv in ivs):
        raise ScheduleError(f"cannot tell which part of its inputs the producers of block `{name}` "
                            f"make in one iteration of loop `{lname}`")
    try:
        domain = iter_domain(leaf.block, list(leaf.block.reads), made, ana, reading=True)
    except _Unsupported as exc:
        raise ScheduleError(
            f"block `{name}` cannot be reverse-computed at loop `{lname}`: its {exc}, so some of "
            f"its instances would need elements a later iteration produces (part of the output "
            f"would stay uncomputed)") from None
    _check_covers(leaf.block, domain, outer, name, lname)
    nest = build_nest(leaf.realize, domain, ana, preserve_unit_loops)
    computed = block_regions(_first_realize(nest), _loops_of(nest), ana=ana, reads=False)
    check_parallel_disjoint(scope, lloc, computed, ana, f"block `{name}`",
                            complete=complete_problem(scope, leaf) is None)
    _move(sch, scope, leaf, lloc, nest, pos)


def _check_covers(block: S.Block, domain: dict[Var, Interval], outer: list[S.For], name: str,
                  lname: str) -> None:
    """Over all iterations of the target loop, the new domain must cover the old one (#15911)."""
    dom = {loop.loop_var: Range(loop.min, loop.extent) for loop in outer}
    ana = Analyzer()
    for iv in block.iter_vars:
        if iv.var not in domain:
            continue
        lo, hi = domain[iv.var]
        a, b = relax_expr(lo, dom, ana), relax_expr(hi, dom, ana)
        if a is None or b is None or not (ana.can_prove(a[0] <= iv.dom.min)
                                          and ana.can_prove(b[1] >= iv.dom.min + iv.dom.extent - 1)):
            raise ScheduleError(
                f"block `{name}` cannot be reverse-computed at loop `{lname}`: its producers there "
                f"do not make every element it reads along `{iv.var.name}`, so part of its output "
                f"would stay uncomputed")


def _first_realize(stmt: S.Stmt) -> S.BlockRealize:
    while isinstance(stmt, S.For):
        stmt = stmt.body
    return stmt


def _loops_of(stmt: S.Stmt) -> list[S.For]:
    out = []
    while isinstance(stmt, S.For):
        out.append(stmt)
        stmt = stmt.body
    return out


# ---------------------------------------------------------------- inlining


class _ReplaceLoads(Mutator):
    """Loads of ``buffer`` become ``value`` with the producer's iterators mapped to the indices."""

    def __init__(self, buffer: Buffer, params: list[Var], value: PrimExpr) -> None:
        self.buffer, self.params, self.value = buffer, params, value

    def visit_BufferLoad(self, load: E.BufferLoad) -> PrimExpr:
        load = self.generic_visit(load)
        if load.buffer is not self.buffer:
            return load
        return substitute(self.value, dict(zip(self.params, load.indices)))

    def visit_Block(self, block: S.Block) -> S.Block:
        """A rewritten block (nested ones too, e.g. inside a blockized consumer) reads what
        its new body reads."""
        new = self.generic_visit(block)
        return new if new is block else _with_reads(new)


class _Uses(Visitor):
    """Where a buffer appears other than in plain loads, stores and regions."""

    def __init__(self, buffer: Buffer) -> None:
        self.buffer, self.odd = buffer, []

    def visit_MatchBufferRegion(self, m) -> None:
        if m.source.buffer is self.buffer:
            self.odd.append("a match_buffer")
        self.generic_visit(m)

    def visit_Var(self, v: Var) -> None:
        if v is self.buffer.data:
            self.odd.append("its data pointer")


def _store_of(block: S.Block) -> S.BufferStore | None:
    return block.body if isinstance(block.body, S.BufferStore) else None


def _with_reads(block: S.Block) -> S.Block:
    reads, _ = infer_block_access_regions(block)
    return block.with_(reads=reads)


def _check_no_writes_between(scope: Scope, first: Leaf, last: Leaf, reads: set[Buffer],
                             name: str) -> None:
    for w in scope.leaves[first.order + 1:last.order]:
        clash = w.writes() & reads
        if clash:
            b = min(x.name for x in clash)
            raise ScheduleError(f"block `{w.name}` writes `{b}`, which block `{name}` reads, "
                                f"between `{name}` and block `{last.name}`; inlining would "
                                f"read the new values")


def _single_store_block(sch: Schedule, block: BlockRV, verb: str):
    """The scope, leaf and store of a complete block whose body is one store (what both
    inlining directions need), or a ScheduleError saying why it cannot be ``verb``."""
    loc = sch.loc(block)
    scope = get_scope(sch, loc)
    leaf = scope.leaf(loc.node)
    why = complete_problem(scope, leaf)
    if why:
        raise ScheduleError(f"block `{leaf.name}` is not a complete block ({why}), so it cannot "
                            f"be {verb}")
    store = _store_of(leaf.block)
    if store is None or len(leaf.block.writes) != 1:
        raise ScheduleError(f"the body of block `{leaf.name}` is not a single store "
                            f"`X[v0, v1, ...] = ...`, so it cannot be {verb}")
    return scope, leaf, store


@register_primitive("compute_inline")
def compute_inline(sch: Schedule, block: BlockRV) -> None:
    """Inline a spatial block ``B[v] = f(A[...])`` into its consumers and remove its buffer.

    Before::

        B = T.alloc_buffer((128,))
        for i in range(128):
            with T.block("B"): vi = T.axis.remap("S", [i]); B[vi] = A[vi] * 2
        for i in range(128):
            with T.block("C"): vi = T.axis.remap("S", [i]); C[vi] = B[vi] + 1

    After::

        for i in range(128):
            with T.block("C"): vi = T.axis.remap("S", [i]); C[vi] = A[vi] * 2 + 1
    """
    scope, leaf, store = _single_store_block(sch, block, "inlined")
    name, blk = leaf.name, leaf.block
    ivars = [iv.var for iv in blk.iter_vars]
    buf = store.buffer
    if not (all(isinstance(i, Var) and i in ivars for i in store.indices)
            and len({id(i) for i in store.indices}) == len(store.indices)):
        raise ScheduleError(f"block `{name}` stores `{buf.name}` at indices that are not distinct "
                            f"block iterators, so it cannot be inlined")
    if allocated_in(sch.func, buf) is None:
        raise ScheduleError(f"block `{name}` writes `{buf.name}`, an output of the function, "
                            f"so it cannot be inlined")
    if not (isinstance(leaf.realize.predicate, IntImm) and leaf.realize.predicate.value):
        raise ScheduleError(f"block `{name}` has a predicate, so it cannot be inlined")
    uses = _Uses(buf)
    uses.visit(sch.func.body)
    if uses.odd:
        raise ScheduleError(f"buffer `{buf.name}` is used through {uses.odd[0]}, so block "
                            f"`{name}` cannot be inlined")
    consumers = [c for c in scope.leaves if c is not leaf and buf in c.reads()]
    if not consumers and len(scope.leaves) == 1:
        raise ScheduleError(f"block `{name}` is the only block in its scope, so it cannot be inlined")
    for c in consumers:
        if buf in c.writes():
            raise ScheduleError(f"block `{c.name}` writes `{buf.name}` too, so block `{name}` "
                                f"cannot be inlined")
        _check_no_writes_between(scope, leaf, c, leaf.reads(), name)
    rewrite = _ReplaceLoads(buf, list(store.indices), store.value)
    mapping: dict = {removal_root(scope, leaf): None}
    for c in consumers:
        new_block = _with_reads(rewrite.visit(c.block))
        mapping[c.realize] = c.realize.with_(block=new_block)
    func = replace_many(sch.func, mapping)
    sch.commit(_remove_alloc(func, buf))


def _remove_alloc(func: PrimFunc, buffer: Buffer) -> PrimFunc:
    owner = allocated_in(func, buffer)
    if owner is None:
        return func
    kept = tuple(b for b in owner.alloc_buffers if b is not buffer)
    return replace_many(func, {owner: owner.with_(alloc_buffers=kept)})


@register_primitive("reverse_compute_inline")
def reverse_compute_inline(sch: Schedule, block: BlockRV) -> None:
    """Inline an element-wise consumer into its producer: the producer stores the result.

    Before::

        for i in range(128):
            with T.block("B"): vi = T.axis.remap("S", [i]); B[vi] = A[vi] * 2
        for i in range(128):
            with T.block("C"): vi = T.axis.remap("S", [i]); C[vi] = B[vi] + 1

    After::

        for i in range(128):
            with T.block("B"): vi = T.axis.remap("S", [i]); C[vi] = A[vi] * 2 + 1
    """
    scope, leaf, store = _single_store_block(sch, block, "reverse-inlined")
    name, blk = leaf.name, leaf.block
    if not (isinstance(leaf.realize.predicate, IntImm) and leaf.realize.predicate.value):
        raise ScheduleError(f"block `{name}` has a predicate, so it cannot be reverse-inlined")
    producers = [p for p in scope.leaves if p is not leaf and p.writes() & leaf.reads()
                 and p.order < leaf.order]
    if len(producers) != 1:
        names = [p.name for p in producers]
        raise ScheduleError(f"block `{name}` must have exactly one producer to be reverse-inlined, "
                            f"it has {names}")
    prod = producers[0]
    pstore = _store_of(prod.block)
    buf = pstore.buffer if pstore is not None else None
    if pstore is None or len(prod.block.writes) != 1 or prod.block.init is not None:
        raise ScheduleError(f"the producer block `{prod.name}` of block `{name}` is not a single "
                            f"store (a reduction or several statements), so `{name}` cannot be "
                            f"reverse-inlined")
    if complete_problem(scope, prod):
        raise ScheduleError(f"the producer block `{prod.name}` of block `{name}` is not a complete "
                            f"block ({complete_problem(scope, prod)})")
    if allocated_in(sch.func, buf) is None:
        raise ScheduleError(f"block `{prod.name}` writes `{buf.name}`, an output of the function, "
                            f"so block `{name}` cannot be reverse-inlined")
    others = [c.name for c in scope.leaves if c is not leaf and c is not prod and buf in c.reads()]
    if others:
        raise ScheduleError(f"buffer `{buf.name}` is also read by {others}, so block `{name}` "
                            f"cannot be reverse-inlined")
    uses = _Uses(buf)
    uses.visit(sch.func.body)
    if uses.odd:
        raise ScheduleError(f"buffer `{buf.name}` is used through {uses.odd[0]}, so block "
                            f"`{name}` cannot be reverse-inlined")
    loads = _loads_of(store.value, buf)
    ivars = [iv.var for iv in blk.iter_vars]
    first = loads[0].indices if loads else ()
    simple = (loads and all(isinstance(i, Var) and i in ivars for i in first)
              and len({id(i) for i in first}) == len(first) == len(ivars)
              and all(all(a is b for a, b in zip(ld.indices, first)) for ld in loads))
    if not simple:
        raise ScheduleError(f"block `{name}` must read `{buf.name}` at one point `{buf.name}[v0, "
                            f"v1, ...]` indexed by all its iterators to be reverse-inlined")
    _check_same_domain(blk, prod, first, pstore, name)
    _check_no_writes_between(scope, prod, leaf, leaf.reads() - {buf}, name)
    vmap = dict(zip(first, pstore.indices))
    value = _ReplaceLoads(buf, [], pstore.value).visit(substitute(store.value, vmap))
    new_store = S.BufferStore(store.buffer, value, tuple(substitute(i, vmap) for i in store.indices))
    new_block = prod.block.with_(body=new_store)
    reads, writes = infer_block_access_regions(new_block)
    new_block = new_block.with_(reads=reads, writes=writes)
    mapping = {removal_root(scope, leaf): None, prod.realize: prod.realize.with_(block=new_block)}
    sch.commit(_remove_alloc(replace_many(sch.func, mapping), buf))


def _loads_of(expr: PrimExpr, buffer: Buffer) -> list[E.BufferLoad]:
    found: list[E.BufferLoad] = []

    class _Find(Visitor):
        def visit_BufferLoad(self, load: E.BufferLoad) -> None:
            if load.buffer is buffer:
                found.append(load)
            self.generic_visit(load)

    _Find().visit(expr)
    return found


def _check_same_domain(blk: S.Block, prod: Leaf, first: tuple, pstore: S.BufferStore,
                       name: str) -> None:
    """The producer writes exactly the elements the consumer's iterators range over."""
    pdom = {iv.var: iv.dom for iv in prod.block.iter_vars}
    cdom = {iv.var: iv.dom for iv in blk.iter_vars}
    ana = Analyzer()
    for var, index in zip(first, pstore.indices):
        iv = relax_expr(index, pdom, ana)
        d = cdom[var]
        ok = iv is not None and ana.can_prove_equal(iv[0], d.min) and \
            ana.can_prove_equal(iv[1], d.min + d.extent - 1)
        if not ok or not (isinstance(index, Var) and index in pdom):
            raise ScheduleError(f"block `{prod.name}` does not write each element block `{name}` "
                                f"reads exactly once (index `{index}` against iterator "
                                f"`{var.name}`), so `{name}` cannot be reverse-inlined")
