"""``unroll-loop``: a ``T.unroll`` loop of constant extent becomes copies of its body.

Loops longer than ``PassContext.config["unroll-max"]`` (256 by default) stay loops (codegen
treats them as serial loops with an unroll hint). Each copy binds fresh variables for what its
body defines (inner loops, lets, allocations)::

    for j in T.unroll(2):              A[i * 2] = T.float32(0)
        A[i * 2 + j] = T.float32(0)  →  A[i * 2 + 1] = T.float32(0)
"""

from __future__ import annotations

from tvmscript.ir import For, ForKind, IntImm, Mutator, PrimFunc, Stmt, seq

from .infra import PassContext, prim_func_pass
from tvmscript.ir.rewrite import add, renew

DEFAULT_UNROLL_MAX = 256


def unroll(loop: For) -> Stmt:
    """The body of ``loop`` once per iteration, the loop variable replaced by its value."""
    values = [add(loop.min, IntImm(loop.loop_var.dtype, k)) for k in range(loop.extent.value)]
    return seq(*(renew(loop.body, {loop.loop_var: value}) for value in values))


class _Unroll(Mutator):
    def __init__(self, max_extent: int) -> None:
        self.max_extent = max_extent

    def visit_For(self, loop: For) -> Stmt:
        loop = self.generic_visit(loop)  # inner loops first
        if loop.kind != ForKind.UNROLLED or not isinstance(loop.extent, IntImm):
            return loop
        if not 0 < loop.extent.value <= self.max_extent:
            return loop
        return unroll(loop)


@prim_func_pass("unroll-loop", opt_level=0, required=True)
def unroll_loop(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Replace ``T.unroll`` loops of constant extent (≤ ``unroll-max``) by copies of the body."""
    return _Unroll(int(ctx.config.get("unroll-max", DEFAULT_UNROLL_MAX))).visit(func)
