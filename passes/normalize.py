"""``normalize``: every nested call in a graph function becomes a binding of its own (TVM's
relax ``Normalize``, A-normal form).

Before::

    lv = R.nn.relu(R.matmul(x, w))
    return R.add(lv, x)

After::

    lv1 = R.matmul(x, w)
    lv = R.nn.relu(lv1)
    gv = R.add(lv, x)
    return gv

A call's arguments, a tuple's fields, an indexed tuple and the returned value are then leaves
(variables, constants, shape and prim values, tuples of leaves), which is what the executor runs:
it evaluates bindings one by one and needs each call's result in a variable. The parser keeps
what was written (so printing and parsing give the same program back); this pass is the one place
that rewrites the nesting, and the executor applies it to every function it compiles.
"""

from __future__ import annotations

from tvmscript.ir import IRModule
from tvmscript.ir import graph as G

from .infra import PassContext, module_pass


@module_pass("normalize", opt_level=0, required=True)
def normalize(mod: IRModule, ctx: PassContext) -> IRModule:
    """Bind every nested call of every graph function to a variable of its own."""
    changed = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function):
            new = normalize_function(func)
            if new is not func:
                changed[name] = new
    return mod.with_(functions={**mod.functions, **changed}) if changed else mod


def normalize_function(func: G.Function) -> G.Function:
    """``func`` in normal form; the very same object when it already is."""
    return func.with_(body=_Normalizer().seq(func.body))


def _is_nested(expr: G.GraphExpr) -> bool:
    """Values that must be bound before they can be an argument (TVM's non-leaf nodes)."""
    return isinstance(expr, (G.Call, G.SeqExpr))


def _reuse(new: list, old: tuple) -> tuple:
    """``old`` itself when ``new`` holds the very same items (so ``with_`` sees no change)."""
    same = len(new) == len(old) and all(a is b for a, b in zip(new, old))
    return old if same else tuple(new)


class _Normalizer:
    """Rewrites one SeqExpr; ``emitted`` collects the bindings to put before the current one."""

    def __init__(self) -> None:
        self.emitted: list[G.VarBinding] = []
        self.in_dataflow = False
        self.span = None

    def seq(self, seq: G.SeqExpr) -> G.SeqExpr:
        blocks = [self.block(b) for b in seq.blocks]
        self.emitted, self.in_dataflow, self.span = [], False, None
        body = self.leaf(seq.body, "gv")
        if self.emitted:
            blocks.append(G.BindingBlock(tuple(self.emitted)))
        return seq.with_(blocks=_reuse(blocks, seq.blocks), body=body)

    def block(self, block: G.BindingBlock) -> G.BindingBlock:
        self.in_dataflow = isinstance(block, G.DataflowBlock)
        out: list[G.VarBinding] = []
        for binding in block.bindings:
            self.emitted, self.span = out, binding.span
            value = self.value(binding.value)
            out.append(binding.with_(value=value))
        return block.with_(bindings=_reuse(out, block.bindings))

    def value(self, expr: G.GraphExpr) -> G.GraphExpr:
        """A bound value: its outermost node may be a call; everything inside becomes a leaf."""
        if isinstance(expr, G.Call):
            return expr.with_(args=self.leaves(expr.args))
        if isinstance(expr, G.SeqExpr):
            return _Normalizer().seq(expr)
        return self.leaf(expr, "lv")

    def leaf(self, expr: G.GraphExpr, name: str) -> G.GraphExpr:
        """``expr`` as an argument: nested calls are bound to new variables named ``name``."""
        if _is_nested(expr):
            return self.bind(self.value(expr), name)
        if isinstance(expr, G.Tuple):
            return expr.with_(fields=self.leaves(expr.fields))
        if isinstance(expr, G.TupleGetItem):
            return expr.with_(tuple_value=self.leaf(expr.tuple_value, "lv"))
        return expr

    def leaves(self, exprs: tuple[G.GraphExpr, ...]) -> tuple[G.GraphExpr, ...]:
        return _reuse([self.leaf(e, "lv") for e in exprs], exprs)

    def bind(self, value: G.GraphExpr, name: str) -> G.GraphVar:
        cls = G.DataflowVar if self.in_dataflow else G.GraphVar
        var = cls(name, value.struct_info)
        self.emitted.append(G.VarBinding(var, value).with_span(self.span))
        return var


__all__ = ["normalize", "normalize_function"]
