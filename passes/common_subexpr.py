"""``common-subexpr-elim``: a call bound twice is computed once (TVM's relax
``EliminateCommonSubexpr``).

Before::

    lv = R.add(x, y)
    lv1 = R.add(x, y)
    gv = R.multiply(lv, lv1)

After::

    lv = R.add(x, y)
    gv = R.multiply(lv, lv)

Two bound values are the same when they are calls of the same operator with structurally equal
arguments, attributes and output struct info (``R.call_tir`` included), after earlier
replacements. The later binding goes and its uses take the earlier variable, unless the earlier
one is a dataflow variable that the later one's uses cannot see: then the later binding becomes
``gv = lv`` (a dataflow block's output bound to a value found inside the block). Calls of
functions and of impure operators are never merged (two calls may have two effects).
"""

from __future__ import annotations

from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir.functor import substitute
from tvmscript.ir.structural import structural_equal, structural_hash

from .dead_code import IMPURE_OPS
from .infra import PassContext, module_pass


@module_pass("common-subexpr-elim", opt_level=1)
def common_subexpr_elim(mod: IRModule, ctx: PassContext) -> IRModule:
    """Merge identical operator calls bound in the same graph function."""
    changed = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function):
            new = eliminate_common_subexpr(func)
            if new is not func:
                changed[name] = new
    return mod.with_(functions={**mod.functions, **changed}) if changed else mod


def eliminate_common_subexpr(func: G.Function) -> G.Function:
    """``func`` with each repeated call bound once; the very same object when none repeats."""
    body = _Merger().seq(func.body)
    return func if body is func.body else func.with_(body=body)


def _mergeable(value: G.GraphExpr) -> bool:
    return isinstance(value, G.Call) and isinstance(value.op, G.Op) \
        and value.op.name not in IMPURE_OPS


class _Merger:
    """Walks one SeqExpr in order; ``seen`` holds the calls bound so far, by structural hash,
    with the variable and block that bound them; ``replace`` maps merged variables away."""

    def __init__(self) -> None:
        self.seen: dict[int, list[tuple[G.Call, G.GraphVar, int]]] = {}
        self.replace: dict[G.GraphVar, G.GraphVar] = {}
        self.block_index = 0

    def seq(self, seq: G.SeqExpr) -> G.SeqExpr:
        blocks = []
        for index, block in enumerate(seq.blocks):
            self.block_index = index
            blocks.append(self.block(block))
        body = substitute(seq.body, self.replace)
        same = all(a is b for a, b in zip(blocks, seq.blocks))
        return seq if same and body is seq.body else seq.with_(blocks=tuple(blocks), body=body)

    def block(self, block: G.BindingBlock) -> G.BindingBlock:
        out = []
        exported = []  # block outputs read as an earlier variable inside the block only
        for binding in block.bindings:
            value = substitute(binding.value, self.replace)
            if isinstance(value, G.SeqExpr):
                value = _Merger().seq(value)
            earlier = self.lookup(value) if _mergeable(value) else None
            if earlier is None or not self.in_scope(earlier):
                if _mergeable(value):
                    self.remember(value, binding.var)
                out.append(binding.with_(value=value))
            elif self.can_replace(earlier[0], binding.var):
                self.replace[binding.var] = earlier[0]  # the binding goes
            else:  # an output of the block that found its value inside the block: the rest
                out.append(binding.with_(value=earlier[0]))  # of the block reads the earlier one
                self.replace[binding.var] = earlier[0]
                self.remember(value, binding.var)  # later blocks read the output
                exported.append(binding.var)
        for var in exported:
            del self.replace[var]
        same = len(out) == len(block.bindings) and all(a is b for a, b in
                                                       zip(out, block.bindings))
        return block if same else block.with_(bindings=tuple(out))

    def lookup(self, value: G.Call) -> tuple[G.GraphVar, int] | None:
        """The latest binding of the same call (the likeliest to be in scope)."""
        for call, var, index in reversed(self.seen.get(structural_hash(value), ())):
            if structural_equal(call, value):
                return var, index
        return None

    def remember(self, value: G.Call, var: G.GraphVar) -> None:
        self.seen.setdefault(structural_hash(value), []).append((value, var, self.block_index))

    def in_scope(self, earlier: tuple[G.GraphVar, int]) -> bool:
        """A dataflow variable is seen only inside its own block."""
        var, index = earlier
        return not isinstance(var, G.DataflowVar) or index == self.block_index

    @staticmethod
    def can_replace(earlier: G.GraphVar, var: G.GraphVar) -> bool:
        """Whether every use of ``var`` can take ``earlier`` (in scope here) instead: not when
        ``var`` leaves the dataflow block that ``earlier`` belongs to."""
        return not isinstance(earlier, G.DataflowVar) or isinstance(var, G.DataflowVar)


__all__ = ["common_subexpr_elim", "eliminate_common_subexpr"]
