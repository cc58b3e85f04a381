"""What rules ask about a block: its iterator kinds, whether its loops are still one per
iterator, which buffers it reads without some of its iterators (reuse), who consumes it."""

from __future__ import annotations

from tvmscript.ir import stmt as S
from tvmscript.ir.expr import IntImm, Var
from tvmscript.ir.functor import Visitor
from tvmscript.schedule import BlockRV, Schedule


def block_of(sch: Schedule, block: BlockRV) -> tuple[S.Block, S.BlockRealize]:
    loc = sch.loc(block)
    return loc.node, loc.path[-2]


def iter_kinds(block: S.Block) -> str:
    """The iterators' kinds as letters: ``"SSR"`` for a matmul."""
    return "".join(iv.iter_type.letter for iv in block.iter_vars)


def is_reduction(block: S.Block) -> bool:
    kinds = iter_kinds(block)
    return "R" in kinds and set(kinds) <= {"S", "R"} and block.init is not None


def is_spatial(block: S.Block) -> bool:
    return bool(block.iter_vars) and set(iter_kinds(block)) == {"S"} and block.init is None


def simple_loops(sch: Schedule, block: BlockRV) -> list[S.For] | None:
    """The loops around ``block`` when each iterator is bound to exactly its own loop of
    constant extent starting at 0, innermost loops ordered like the iterators (an untiled block);
    else None."""
    blk, realize = block_of(sch, block)
    loops = sch.loc(block).loops()
    by_var = {lp.loop_var: lp for lp in loops}
    out = []
    for iv, value in zip(blk.iter_vars, realize.iter_values):
        lp = by_var.get(value) if isinstance(value, Var) else None
        if lp is None or not isinstance(lp.extent, IntImm) or not _is_zero(lp.min):
            return None
        if not isinstance(iv.dom.extent, IntImm) or iv.dom.extent.value != lp.extent.value:
            return None
        out.append(lp)
    if len(set(map(id, out))) != len(out) or len(out) != len(loops):
        return None
    return out


def _is_zero(e) -> bool:
    return isinstance(e, IntImm) and e.value == 0


class _VarUses(Visitor):
    def __init__(self) -> None:
        self.vars: set[Var] = set()

    def visit_Var(self, v: Var) -> None:
        self.vars.add(v)


def vars_in(expr) -> set[Var]:
    finder = _VarUses()
    finder.visit(expr)
    return finder.vars


def has_reuse(block: S.Block) -> bool:
    """Some buffer the block reads is indexed without one of its spatial iterators: tiling
    keeps that data in cache across the missing iterator (TVM's NeedsMultiLevelTiling)."""
    spatial = {iv.var for iv in block.iter_vars if iv.iter_type == S.IterType.SPATIAL}
    writes = {w.buffer for w in block.writes}
    for region in block.reads:
        if region.buffer in writes:
            continue
        used: set[Var] = set()
        for rng in region.region:
            used |= vars_in(rng.min)
        if spatial - used:
            return True
    return False


def const_extents(func) -> bool:
    """Every loop extent and buffer dimension of ``func`` is a constant."""
    from tvmscript.schedule.state import walk

    for p in func.buffer_map.values():
        if not all(isinstance(d, IntImm) for d in p.shape):
            return False
    for loc in walk(func.body):
        if isinstance(loc.node, S.For) and not isinstance(loc.node.extent, IntImm):
            return False
    return True


def symbolic_names(func) -> list[str]:
    """The size variables ``func.specialize`` takes (scalar parameters, buffer dimensions)."""
    from tvmscript.ir.specialize import size_vars

    return sorted(size_vars(func))
