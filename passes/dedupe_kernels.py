"""``dedupe-kernels``: loop-level functions that differ only in their names become one.

Fusion makes one kernel per fused group, so a model that repeats a block (MobileNet-V2's
inverted residuals, ResNet's basic blocks) gets the same kernel many times over under different
names; scheduling, lowering and compiling each copy is most of a model's build time. Private
kernels that are structurally equal apart from the name are merged into the first, and every
reference (``cls.k`` in ``call_tir``) is redirected. Public kernels (with a ``global_symbol``)
keep their own name, since callers outside the module may use it.
"""

from __future__ import annotations

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir import graph as G
from tvmscript.ir.function import GlobalVar
from tvmscript.ir.functor import Mutator
from tvmscript.ir.structural import structural_equal, structural_hash

from .infra import PassContext, module_pass


@module_pass("dedupe-kernels", opt_level=1)
def dedupe_kernels(mod: IRModule, ctx: PassContext) -> IRModule:
    """Merge private loop-level functions that are equal but for their names."""
    kept: dict[int, list[tuple[str, PrimFunc]]] = {}
    renamed: dict[str, str] = {}
    for name, func in mod.functions.items():
        if not isinstance(func, PrimFunc) or "global_symbol" in func.attrs:
            continue
        anonymous = func.with_(name="kernel")
        key = structural_hash(anonymous)
        for other_name, other in kept.get(key, []):
            if structural_equal(anonymous, other):
                renamed[name] = other_name
                break
        else:
            kept.setdefault(key, []).append((name, anonymous))
    if not renamed:
        return mod
    redirect = _Redirect(renamed)
    functions = {}
    for name, func in mod.functions.items():
        if name in renamed:
            continue
        functions[name] = redirect.visit(func) if isinstance(func, G.Function) else func
    return mod.with_(functions=functions)


class _Redirect(Mutator):
    def __init__(self, renamed: dict[str, str]) -> None:
        self.renamed = renamed

    def visit_GlobalVar(self, gv: GlobalVar) -> GlobalVar:
        target = self.renamed.get(gv.name_hint)
        return gv if target is None else GlobalVar(target)
