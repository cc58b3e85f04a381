"""``dead-code-elimination``: drop bindings nothing uses and functions nothing reaches (TVM's relax
``DeadCodeElimination``).

Before::

    lv = R.add(x, x)          # never used
    lv1 = R.multiply(x, x)
    return lv1

After::

    lv1 = R.multiply(x, x)
    return lv1

A binding is dead when its variable is used neither by a later live binding nor by the returned
value, and its value has no effect: a leaf (variable, constant, tuple, tuple item, shape), a call
of an operator (``R.call_tir`` included: kernels write only the outputs the call allocates) or of
a graph-level function of the module that makes no impure call. A binding block left empty is
dropped.

Which functions stay (the rule): the entry points, and every function they reach through calls
and ``R.call_tir``. Entry points are the functions the module exports, i.e. those with a
``global_symbol`` attribute (every function not written ``private=True``: TVM's rule), the
graph-level function named ``main`` even when it was built without attributes, and any name given
as ``entry_functions``. So a private helper or a kernel that nothing calls any more (after
``fold-constant``, say) goes, and a public kernel stays for users who call it by name.
"""

from __future__ import annotations

from collections.abc import Iterable

from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir.function import BaseFunc, GlobalVar
from tvmscript.ir.functor import post_order_visit

from .infra import PassContext, module_pass

# operators with an effect beyond their result: a call of one is never dead
IMPURE_OPS = frozenset({"relax.print", "relax.assert_op", "relax.call_packed",
                        "relax.call_builtin_with_ctx", "relax.call_inplace_packed"})


@module_pass("dead-code-elimination", opt_level=0)
def dead_code_elimination(mod: IRModule, ctx: PassContext) -> IRModule:
    """Remove unused bindings of graph functions, then functions no entry point reaches."""
    return eliminate_dead_code(mod)


def eliminate_dead_code(mod: IRModule, entry_functions: Iterable[str] = ()) -> IRModule:
    """``dead-code-elimination`` with more entry points than the module's exported functions."""
    pure = _PurityTable(mod)
    changed = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function):
            new = remove_unused_bindings(func, pure)
            if new is not func:
                changed[name] = new
    if changed:
        mod = mod.with_(functions={**mod.functions, **changed})
    keep = reachable(mod, entry_points(mod, entry_functions))
    if len(keep) == len(mod.functions):
        return mod
    return mod.with_(functions={n: f for n, f in mod.functions.items() if n in keep})


def entry_points(mod: IRModule, extra: Iterable[str] = ()) -> list[str]:
    """The functions that stay whatever calls them (see the module docstring)."""
    names = [n for n, f in mod.functions.items() if "global_symbol" in _attrs(f)]
    main = mod.functions.get("main")
    if isinstance(main, G.Function):
        names.append("main")
    for name in extra:
        if name not in mod.functions:
            raise KeyError(f"dead-code-elimination: entry function {name!r} is not in the "
                           f"module; it has {sorted(mod.functions)}")
        names.append(name)
    return names


def reachable(mod: IRModule, roots: Iterable[str]) -> set[str]:
    """``roots`` and every function of ``mod`` that they call, directly or not."""
    seen: set[str] = set()
    todo = [r for r in roots if r in mod.functions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(n for n in _callees(mod.functions[name]) if n in mod.functions)
    return seen


def _callees(func: BaseFunc) -> set[str]:
    found: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, GlobalVar):
            found.add(node.name_hint)

    post_order_visit(func, visit)
    return found


def _attrs(func: BaseFunc) -> dict:
    return dict(getattr(func, "attrs", None) or {})


def remove_unused_bindings(func: G.Function, pure: _PurityTable | None = None) -> G.Function:
    """``func`` without its dead bindings; the very same object when it has none."""
    body = _Sweeper(pure or _PurityTable(None)).seq(func.body)
    return func if body is func.body else func.with_(body=body)


class _PurityTable:
    """Which graph-level functions of the module make no impure call (directly or not)."""

    def __init__(self, mod: IRModule | None) -> None:
        self.mod = mod
        self.known: dict[str, bool] = {}

    def call_is_pure(self, call: G.Call) -> bool:
        if isinstance(call.op, G.Op):
            return call.op.name not in IMPURE_OPS
        if isinstance(call.op, GlobalVar) and self.mod is not None:
            return self.function_is_pure(call.op.name_hint)
        return False  # a call through a variable: unknown callee

    def function_is_pure(self, name: str) -> bool:
        func = self.mod.functions.get(name)
        if not isinstance(func, G.Function):
            return False
        if name not in self.known:
            self.known[name] = True  # a recursive call assumes what it is being decided
            self.known[name] = self.expr_is_pure(func.body)
        return self.known[name]

    def expr_is_pure(self, expr: object) -> bool:
        calls: list[G.Call] = []
        post_order_visit(expr, lambda n: calls.append(n) if isinstance(n, G.Call) else None)
        return all(self.call_is_pure(c) for c in calls)


class _Sweeper:
    """Walks a SeqExpr backwards, keeping the bindings whose variables are still wanted."""

    def __init__(self, pure: _PurityTable) -> None:
        self.pure = pure
        self.used: set[G.GraphVar] = set()

    def seq(self, seq: G.SeqExpr) -> G.SeqExpr:
        self.use(seq.body)
        blocks = [self.block(b) for b in reversed(seq.blocks)][::-1]
        kept = [b for b in blocks if b.bindings]
        if len(kept) == len(seq.blocks) and all(a is b for a, b in zip(kept, seq.blocks)):
            return seq
        return seq.with_(blocks=tuple(kept))

    def block(self, block: G.BindingBlock) -> G.BindingBlock:
        kept = []
        for binding in reversed(block.bindings):
            if binding.var in self.used or not self.pure.expr_is_pure(binding.value):
                value = binding.value
                if isinstance(value, G.SeqExpr):
                    value = _Sweeper(self.pure).seq(value)
                    binding = binding.with_(value=value)
                self.use(value)
                kept.append(binding)
        kept.reverse()
        if len(kept) == len(block.bindings) and all(a is b for a, b in zip(kept, block.bindings)):
            return block
        return block.with_(bindings=tuple(kept))

    def use(self, expr: object) -> None:
        post_order_visit(expr, lambda n: self.used.add(n) if isinstance(n, G.GraphVar) else None)


__all__ = ["IMPURE_OPS", "dead_code_elimination", "eliminate_dead_code", "entry_points",
           "reachable", "remove_unused_bindings"]
