"""Writing a pass: a new transformation in a few lines of Python.

Run it with ``python tutorials/write_a_pass.py``. We will

1. write a pass that strength-reduces ``x * 2.0`` to ``x + x`` and register it;
2. run it after ``simplify`` in a ``Sequential`` and watch it with ``PrintDiff`` and ``PassTimer``;
3. write a second pass that annotates loops, and look at its output with ``PrintIR``;
4. see ``VerifyWellFormed`` catch a pass that breaks the program, and name it.
"""

from __future__ import annotations

import tvmscript
from passes import PassContext, Sequential, get_pass, prim_func_pass
from passes.instruments import (
    PassTimer, PassVerificationError, PrintDiff, PrintIR, VerifyWellFormed,
)
from tvmscript.ir import (
    Add, BufferStore, FloatImm, For, ForKind, Mul, Mutator, PrimFunc, Var, post_order_visit,
    substitute,
)

# A program as a scheduler might leave it: a split loop (``i = io * 16 + ii``), a unit loop,
# and index arithmetic that simplify will clean up before our pass sees it.
PROGRAM = '''
@T.prim_func
def scale(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for io, ii in T.grid(4, 16):
        for unit in range(1):
            B[(io * 16 + ii) // 16 * 16 + (io * 16 + ii) % 16 + unit] = (
                A[io * 16 + ii] * T.float32(2))
'''


def banner(title: str) -> None:
    print(f"\n{'=' * 72}\n{title}\n{'=' * 72}")


# ---------------------------------------------------------------- 1. a pass in a few lines
#
# A pass is a function ``(PrimFunc, PassContext) -> PrimFunc``. The rewriting is done by a
# Mutator: override ``visit_<NodeClass>`` for the nodes you care about; everything else is
# walked and rebuilt for you (and returned unchanged, the same object, when nothing changed).


class DoubleToAdd(Mutator):
    """``x * 2.0`` → ``x + x`` (exact in IEEE arithmetic: both double x, overflow to inf)."""

    def visit_Mul(self, op: Mul):
        op = self.generic_visit(op)  # rewrite the operands first
        if isinstance(op.b, FloatImm) and op.b.value == 2.0:
            return Add(op.a, op.a)
        return op


@prim_func_pass("strength-reduce", opt_level=1)
def strength_reduce(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Multiplications of floats by 2 become additions."""
    return func.with_(body=DoubleToAdd().visit(func.body))


# ``@prim_func_pass`` registered it: it is now a named pass like the built-in ones.
assert get_pass("strength-reduce") is strength_reduce


# ---------------------------------------------------------------- 2. run it, watch it, time it


def run_the_pipeline(func: PrimFunc) -> tvmscript.IRModule:
    banner("simplify, then strength-reduce (PrintDiff shows what each pass changed)")
    timer = PassTimer()
    pipeline = Sequential([get_pass("simplify"), strength_reduce])
    with PassContext(opt_level=2, instruments=[PrintDiff(), timer, VerifyWellFormed()]):
        mod = pipeline(tvmscript.IRModule.from_function(func, "scale"))
    print("\nThe result:\n" + mod.script())
    print("\nPassTimer.report():\n" + timer.report())

    banner("at opt_level=0 the optional pass is skipped; simplify (required) still runs")
    with PassContext(opt_level=0):
        print(pipeline(func).script())
    return mod


# ---------------------------------------------------------------- 3. a pass that annotates loops


@prim_func_pass("parallelize-outer", opt_level=1)
def parallelize_outer(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """The outermost serial loop becomes parallel (its annotation records who did it)."""
    body = func.body
    if isinstance(body, For) and body.kind == ForKind.SERIAL:
        notes = {**body.annotations, "parallelized_by": "parallelize-outer"}
        return func.with_(body=body.with_(kind=ForKind.PARALLEL, annotations=notes))
    return func


def annotate(mod: tvmscript.IRModule) -> tvmscript.IRModule:
    banner("parallelize-outer (PrintIR after this pass only)")
    with PassContext(instruments=[PrintIR(before=False, only={"parallelize-outer"})]):
        return Sequential([get_pass("simplify"), parallelize_outer])(mod)


# ---------------------------------------------------------------- 4. a pass that breaks the program


class UseUndefined(Mutator):
    """Renames ``ii`` where it is used in a store, but not where the loop defines it."""

    def __init__(self) -> None:
        self.renamed: dict[Var, Var] = {}

    def visit_BufferStore(self, store: BufferStore):
        uses: list[Var] = []
        post_order_visit(store, lambda n: uses.append(n) if _is_ii(n) else None)
        return substitute(store, {v: self.fresh(v) for v in uses})

    def fresh(self, var: Var) -> Var:
        return self.renamed.setdefault(var, Var(var.name + "_oops", var.dtype))


def _is_ii(node) -> bool:
    return isinstance(node, Var) and node.name == "ii"


@prim_func_pass("buggy-rename", opt_level=1)
def buggy_rename(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Renames a loop variable in stores but not in the loop: those uses are now undefined."""
    return func.with_(body=UseUndefined().visit(func.body))


def catch_a_bug(func: PrimFunc) -> None:
    banner("VerifyWellFormed names the pass that broke the program")
    try:
        with PassContext(instruments=[VerifyWellFormed()]):
            Sequential([strength_reduce, buggy_rename])(func)
    except PassVerificationError as err:
        print(f"caught: the pass {err.pass_name!r} broke the program")
        print(str(err))
        print("\n".join(err.__notes__))
    else:
        raise SystemExit("expected VerifyWellFormed to catch buggy-rename")


def check_numbers(before: PrimFunc, after: tvmscript.IRModule) -> None:
    """The passes must not change what the program computes: ask the reference interpreter."""
    try:
        import numpy as np
        from backends.interpreter import run
    except ImportError:  # the interpreter is optional for this tutorial
        return
    banner("same numbers before and after (reference interpreter)")
    a = np.arange(64, dtype="float32")
    b0, b1 = np.zeros(64, "float32"), np.zeros(64, "float32")
    run(before, a, b0)
    run(after["scale"], a, b1)
    print("outputs equal:", bool(np.array_equal(b0, b1)))


def main() -> None:
    func = tvmscript.from_source(PROGRAM)
    banner("the program")
    print(func.script())
    mod = run_the_pipeline(func)
    annotate(mod)
    catch_a_bug(func)
    check_numbers(func, mod)


if __name__ == "__main__":
    main()
