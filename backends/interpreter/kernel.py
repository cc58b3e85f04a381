"""Turns a PrimFunc into one generated Python function, and runs it on numpy arrays.

Why generate source: walking the IR per iteration costs microseconds per node; a translated
function runs each loop as a Python ``for`` over flat numpy arrays, which makes the
conformance matmul (553k iterations) take well under a second. The translation is cached per
function object.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from backends.signature import BufferParam, KernelSignature, ScalarParam
from tvmscript.ir import PrimFunc
from tvmscript.ir.depth import recursion_headroom, refuse_too_deep

from .arguments import ArgumentBinder
from .context import Context, source_file
from .translate_stmt import StmtTranslator
from .values import InterpreterAssertError, int_range

_CACHE_SIZE = 256
_cache: OrderedDict[int, tuple[PrimFunc, InterpretedKernel]] = OrderedDict()
_lock = threading.Lock()


class InterpretedKernel:
    """A loop-level function ready to run: ``kernel(*arrays_and_scalars)`` writes in place.

    ``source`` is the generated Python text (handy when debugging a pass). A failed ``assert``
    raises ``RuntimeError`` (an ``InterpreterAssertError`` whose ``index`` is the assert's
    1-based number, the compiled kernel's return code).
    """

    def __init__(self, func: PrimFunc, name: str) -> None:
        self.func = func
        self.name = name
        self.binder = ArgumentBinder(func, name)
        self.source, self.assert_count, namespace = _compile(func, self.binder.sig, name)
        self._fn = namespace["_kernel"]

    def __call__(self, *args: Any) -> None:
        values = self.binder(args)
        try:
            with np.errstate(all="ignore"):
                self._fn(*values)
        except InterpreterAssertError as err:  # named as the compiled kernel names it
            raise InterpreterAssertError(f"{self.name}: assertion failed: {err}",
                                         err.index) from None

    def __repr__(self) -> str:
        return f"InterpretedKernel({self.name!r})"


def _compile(func: PrimFunc, sig: KernelSignature, name: str) -> tuple[str, int, dict]:
    """``_translate``, and the source run in its globals (defining ``_kernel``); with room on
    the stack for expressions as deep as ``build`` allows, and a ValueError naming the
    function for deeper ones rather than a RecursionError from inside the translator."""
    refuse_too_deep(name, func.body)
    with recursion_headroom():
        source, assert_count, namespace = _translate(func, sig, name)
        exec(compile(source, source_file(f"<tvmscript-interpreter {name}>", source), "exec"),
             namespace)
    return source, assert_count, namespace


def _translate(func: PrimFunc, sig: KernelSignature, name: str) -> tuple[str, int, dict]:
    """The generated source, the number of asserts, and the globals the source runs with."""
    ctx = Context(hoist_deep=True)
    stmts = StmtTranslator(ctx)
    params: list[str] = []
    for p in sig.params:
        if isinstance(p, ScalarParam):
            params.append(ctx.define(p.var))
        else:
            params.append(_define_buffer_param(ctx, p))
    scalars = {p.var for p in sig.params if isinstance(p, ScalarParam)}
    for size in sig.size_vars:
        if size.var in scalars:  # a shape variable passed as a scalar too: bound once, above
            params.append(ctx.fresh("_size"))
            continue
        lo, hi = int_range(size.var.dtype)
        zero = size.field == "elem_offset"
        params.append(ctx.define(size.var, (0, 0) if zero else (max(lo, 0), hi)))
    if func.body is not None:
        stmts(func.body)
    body = stmts.lines or ["    pass"]
    header = f"def _kernel({', '.join(params)}):  # {name}"
    return "\n".join([header, *body, ""]), stmts.assert_count, ctx.namespace


def _define_buffer_param(ctx: Context, p: BufferParam) -> str:
    buf = p.buffer
    ctx.storage_dtype[buf.data] = buf.dtype
    return ctx.define(buf.data)


def compile_prim_func(func: PrimFunc, name: str | None = None) -> InterpretedKernel:
    """The interpreted kernel of ``func`` (translated once per function object)."""
    key = id(func)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is func:
            _cache.move_to_end(key)
            return hit[1]
    kernel = InterpretedKernel(func, name or _default_name(func))
    with _lock:
        _cache[key] = (func, kernel)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return kernel


def _default_name(func: PrimFunc) -> str:
    symbol = func.attrs.get("global_symbol") if func.attrs else None
    return str(symbol or func.name or "main")


def run(func: PrimFunc, *args: Any) -> None:
    """Run ``func`` on numpy arrays (outputs are arguments, written in place)."""
    compile_prim_func(func)(*args)


__all__ = ["InterpretedKernel", "InterpreterAssertError", "compile_prim_func", "run"]
