"""``lower-init-block``: a block's ``T.init()`` becomes an ``if`` at the head of its body.

The init runs on the first iteration of the reduction, that is when every reduction iterator
equals the minimum of its domain (TVM's LowerInitBlock)::

    with T.block("C"):                         with T.block("C"):
        vi, vk = T.axis.remap("SR", [i, k])        vi, vk = T.axis.remap("SR", [i, k])
        with T.init():                     →       if vk == 0:
            C[vi] = T.float32(0)                       C[vi] = T.float32(0)
        C[vi] = C[vi] + A[vi, vk]                  C[vi] = C[vi] + A[vi, vk]

A block with an init but no reduction iterator runs its init unconditionally before its body.
"""

from __future__ import annotations

from tvmscript.analysis.access_region import reads_without_init
from tvmscript.ir import EQ, Block, IfThenElse, IterType, Mutator, PrimFunc, Stmt, seq

from .infra import PassContext, prim_func_pass
from tvmscript.ir.rewrite import all_of


def init_condition(block: Block):
    """``v == min`` for every reduction iterator of ``block``, joined with ``and``."""
    return all_of([EQ(iv.var, iv.dom.min) for iv in block.iter_vars
                   if iv.iter_type == IterType.REDUCE])


def init_then_body(block: Block) -> Stmt:
    """The block's body preceded by its init, guarded by ``init_condition``."""
    reduce_vars = [iv for iv in block.iter_vars if iv.iter_type == IterType.REDUCE]
    init = IfThenElse(init_condition(block), block.init) if reduce_vars else block.init
    return seq(init, block.body)


class _LowerInit(Mutator):
    def visit_Block(self, block: Block) -> Block:
        block = self.generic_visit(block)
        if block.init is None:
            return block
        return block.with_(init=None, body=init_then_body(block), reads=reads_without_init(block))


@prim_func_pass("lower-init-block", opt_level=0, required=True)
def lower_init_block(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Turn every block's ``T.init()`` into ``if <reduction iterators at their min>: init``."""
    return _LowerInit().visit(func)
