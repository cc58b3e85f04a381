"""What ``tvmscript.build`` does to a module with graph-level functions before code generation.

1. graph passes on operators: fold batch norms into convolutions, fold constants (weights
   through transposes and reshapes), merge common subexpressions, drop dead code;
2. ``legalize-ops``: every operator becomes ``call_tir`` of a kernel written with ``te``;
3. fusion: ``annotate-op-pattern`` + ``fuse-ops`` + ``fuse-tir`` (TVM's four patterns), so a
   conv2d with its bias and activation is one kernel;
4. schedules: each kernel gets the record of ``database`` for this target when there is one,
   else a default schedule chosen by analysis from the tuner's rules (``default_schedule``);
5. weight packing (``layout_rewrite``): a kernel whose schedule repacks a weight that the
   graph passes as a constant takes the weight packed once at build time instead;
6. ``static-memory-plan``: intermediates share storage when their lifetimes do not overlap.

Each step is a pass of the one registry, so ``PassContext(instruments=[PrintIR()])`` shows the
module after each, and ``optimize_model`` returns the module that is compiled (print it to read
what ran). It lives in ``tuner`` because step 4 uses the tuner's rules and database.
"""

from __future__ import annotations

from typing import Any

from passes import (  # noqa: F401  (importing a pass module registers its pass)
    common_subexpr,
    dead_code,
    dedupe_kernels,
    fold_batch_norm,
    fold_constant,
    fuse_ops,
    fuse_tir,
    legalize_ops,
    memory_plan,
    op_pattern,
)
from passes.infra import Sequential, get_pass
from tvmscript.ir import IRModule

from .default_schedule import default_schedule_module
from .layout_rewrite import rewrite_layouts

GRAPH_PASSES = ("fold-batch-norm", "fold-constant", "common-subexpr-elim",
                "dead-code-elimination")


def graph_passes() -> Sequential:
    """Step 1: simplifications on operator calls (before any kernel exists)."""
    return Sequential([get_pass(n) for n in GRAPH_PASSES], name="graph-passes")


def lowering_passes() -> Sequential:
    """Steps 2 and 3: kernels for the operators, fused by pattern."""
    return Sequential([get_pass("legalize-ops"), get_pass("fold-constant"),
                       get_pass("dead-code-elimination"), get_pass("annotate-op-pattern"),
                       get_pass("fuse-ops"), get_pass("fuse-tir"), get_pass("dedupe-kernels"),
                       get_pass("dead-code-elimination")], name="lower-graph")


def optimize_model(mod: IRModule, target: Any = "llvm", database: Any = None) -> IRModule:
    """The module ``build`` compiles: graph passes, legalization, fusion, schedules, weight
    packing and the memory plan applied to ``mod`` (which is left unchanged)."""
    mod = graph_passes()(mod)
    mod = lowering_passes()(mod)
    mod = default_schedule_module(mod, target, database=database)
    mod = rewrite_layouts(mod, target)
    return get_pass("static-memory-plan")(mod)


__all__ = ["GRAPH_PASSES", "graph_passes", "lowering_passes", "optimize_model"]
