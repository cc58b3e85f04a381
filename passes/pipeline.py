"""The default lowering pipeline: one straight list of the passes, in the order of
``docs/lowering.md``, and ``lower`` that runs it."""

from __future__ import annotations

from tvmscript.ir import IRModule
from tvmscript.ir.function import BaseFunc

from . import (  # noqa: F401  (importing a pass module registers its pass)
    flatten_buffer,
    lower_bf16,
    lower_blocks,
    lower_init_block,
    lower_intrinsics,
    unroll_loop,
    vectorize_loop,
)
from .infra import Pass, PassContext, Sequential, get_pass


def _simplify() -> list[Pass]:
    """The ``simplify`` pass when it exists (it lives in ``passes/simplify.py``)."""
    try:
        from . import simplify  # noqa: F401
    except ImportError:
        return []
    return [get_pass("simplify")]


def default_pipeline() -> Sequential:
    """The passes that turn a scheduled function into what code generation takes."""
    simplify = _simplify()
    return Sequential([
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
    with PassContext.current():
        return default_pipeline()(mod)


def _name(func: BaseFunc) -> str:
    return getattr(func, "name", "") or "main"
