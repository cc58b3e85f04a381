"""``lower-blocks``: blocks become plain loop bodies (TVM's ConvertBlocksToOpaque +
LowerOpaqueBlock, and LowerMatchBuffer's offsets).

Each BlockRealize is replaced by its block's body with the iterators replaced by their
bindings, under ``if predicate:`` when the predicate is not ``True``. ``T.alloc_buffer``s become
``T.allocate`` (one extent, the product of the shape) plus ``T.decl_buffer`` at the place of the
block; ``T.match_buffer`` views become ``T.decl_buffer``s over the source's data with the
region's start offset as ``elem_offset`` and explicit strides (symbolic sizes, strides and
elem_offset of the view are substituted by their values)::

    Tmp = T.alloc_buffer((4, 4), "float32")        tmp = T.allocate([16], "float32", "global")
    for i in T.serial(4):                           Tmp = T.decl_buffer((4, 4), "float32",
        with T.block("B"):                   →                          data=tmp)
            vi = T.axis.spatial(4, i)              for i in T.serial(4):
            T.where(i < 3)                             if i < 3:
            Tmp[vi, 0] = A[vi]                             Tmp[i, 0] = A[i]
"""

from __future__ import annotations

from tvmscript.ir import (
    Allocate,
    Block,
    BlockRealize,
    Buffer,
    DeclBuffer,
    IfThenElse,
    IntImm,
    MatchBufferRegion,
    Mutator,
    PrimFunc,
    Stmt,
    Var,
)

from .infra import PassContext, prim_func_pass
from .lower_init_block import init_then_body
from tvmscript.ir.rewrite import Rewriter, add, copy_buffer, mul, product, strides_of


def is_true(expr) -> bool:
    return isinstance(expr, IntImm) and expr.value != 0


def view_binding(match: MatchBufferRegion, rewriter: Rewriter) -> Buffer:
    """The lowered view of ``match``: the source's data, offset and strides, sizes bound.

    Records in ``rewriter`` the values of the view's symbolic sizes, strides, elem_offset and
    data, and the view buffer's replacement.
    """
    view, source = match.buffer, rewriter.visit(match.source)
    src = source.buffer
    ranges = source.region
    src_strides = strides_of(src)
    offset = src.elem_offset
    for r, stride in zip(ranges, src_strides):
        offset = add(offset, mul(r.min, stride))
    kept = len(view.shape)
    strides = src_strides[len(src_strides) - kept:] if kept else ()
    extents = [r.extent for r in ranges[len(ranges) - kept:]] if kept else []
    _bind(rewriter, view.shape, extents)
    _bind(rewriter, view.strides, strides)
    _bind(rewriter, (view.elem_offset,), (offset,))
    rewriter.vmap[view.data] = src.data
    lowered = copy_buffer(view, data=src.data, shape=rewriter.visit(view.shape),
                          strides=tuple(strides), elem_offset=offset)
    rewriter.bmap[view] = lowered
    return lowered


def _bind(rewriter: Rewriter, symbols, values) -> None:
    """Map each variable among ``symbols`` to the value in the same position."""
    for symbol, value in zip(symbols, values):
        if isinstance(symbol, Var) and symbol not in rewriter.vmap:
            rewriter.vmap[symbol] = value


def allocate(buffer: Buffer, body: Stmt) -> Stmt:
    """``T.allocate`` of the buffer's elements plus its ``T.decl_buffer`` around ``body``."""
    return Allocate(buffer.data, buffer.dtype, (product(buffer.shape),), buffer.scope,
                    body=DeclBuffer(buffer, body))


class _LowerBlocks(Mutator):
    def visit_BlockRealize(self, realize: BlockRealize) -> Stmt:
        block: Block = self.visit(realize.block)  # inner blocks first
        body = init_then_body(block) if block.init is not None else block.body
        rewriter = Rewriter({iv.var: value for iv, value in
                             zip(block.iter_vars, realize.iter_values)})
        views = [view_binding(m, rewriter) for m in block.match_buffers]
        allocs = [rewriter.visit(b) for b in block.alloc_buffers]
        stmt = rewriter.visit(body)
        for view in reversed(views):
            stmt = DeclBuffer(view, stmt)
        for buffer in reversed(allocs):
            stmt = allocate(buffer, stmt)
        if not is_true(realize.predicate):
            stmt = IfThenElse(rewriter.visit(realize.predicate), stmt)
        return stmt.with_span(realize.span)

    def visit_Block(self, block: Block) -> Block:
        return self.generic_visit(block)


@prim_func_pass("lower-blocks", opt_level=0, required=True)
def lower_blocks(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Replace every block (the root included) by its body over plain loops."""
    return _LowerBlocks().visit(func)
