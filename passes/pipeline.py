"""The default lowering pipeline: one straight list of the passes, in the order of
``docs/lowering.md``, and ``lower`` that runs it."""

from __future__ import annotations

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir.function import BaseFunc

from . import (  # noqa: F401  (importing a pass module registers its pass)
    flatten_buffer,
    instrument_bound_checkers,
    lower_bf16,
    lower_blocks,
    lower_init_block,
    lower_intrinsics,
    unroll_loop,
    vectorize_loop,
)
from .infra import INSTRUMENT_BOUND_CHECKERS, Pass, PassContext, Sequential, get_pass


def _simplify() -> list[Pass]:
    """The ``simplify`` pass when it exists (it lives in ``passes/simplify.py``)."""
    try:
        from . import simplify  # noqa: F401
    except ImportError:
        return []
    return [get_pass("simplify")]


def bound_checks() -> list[Pass]:
    """``instrument-bound-checkers`` when the current PassContext asks for it (config
    ``"tir.instrument_bound_checkers"``); it runs first, so checks name the user's buffers."""
    if not PassContext.current().flag(INSTRUMENT_BOUND_CHECKERS):
        return []
    return [get_pass("instrument-bound-checkers")]


def default_pipeline() -> Sequential:
    """The passes that turn a scheduled function into what code generation takes."""
    simplify = _simplify()
    return Sequential([
        *bound_checks(),
        get_pass("lower-init-block"),
        get_pass("lower-blocks"),
        get_pass("flatten-buffer"),
        *simplify,
        get_pass("vectorize-loop"),
        get_pass("unroll-loop"),
        get_pass("lower-intrinsics"),
        get_pass("lower-bf16"),
        *simplify,
    ], name="default-pipeline")


def lower(obj: IRModule | BaseFunc) -> IRModule:
    """Run the default pipeline under the current PassContext; a function comes back as a
    module (its functions keyed by name, ``main`` when it has none)."""
    mod = obj if isinstance(obj, IRModule) else IRModule.from_function(obj, _name(obj))
    refuse_out_of_bounds(mod)
    with PassContext.current():
        return default_pipeline()(mod)


def refuse_out_of_bounds(mod: IRModule) -> None:
    """Raise ``WellFormedError`` for accesses ``verify`` proves out of bounds: compiled, they
    would read or write past the buffer (a crash at best), so ``build`` stops here instead."""
    from tvmscript.analysis.bounds import out_of_bounds_accesses
    from tvmscript.ir.verify import Problem, WellFormedError, _text

    problems = [Problem(item.message, item.node)
                for func in mod.functions.values() if isinstance(func, PrimFunc)
                for item in out_of_bounds_accesses(func, _text)]
    if problems:
        raise WellFormedError(problems)


def _name(func: BaseFunc) -> str:
    return getattr(func, "name", "") or "main"
