"""A device kernel compiled for the emulator: the thread generator, launch extents, tables.

Translated once per (kernel object, race checking), like the interpreter's kernels.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backends.cuda.launch_info import THREAD_TAGS, launch_dims
from backends.interpreter.arguments import ArgumentBinder, compile_lambda
from backends.interpreter.context import Context, source_file
from backends.interpreter.values import int_range
from backends.llvm.codegen import CodegenError
from backends.signature import BufferParam, ScalarParam
from tvmscript.ir import PrimFunc
from tvmscript.ir.depth import recursion_headroom, refuse_too_deep

from .collectives import Ref
from .errors import EmulatorError
from .translate import EmuStmtTranslator, KernelTables

_PROLOGUE = ["    if _T is None:  # makes this a generator even without barriers",
             "        yield",
             "    _lr, _lw, _lrv, _lwv, _gw = _T.logs"]


class EmulatedKernel:
    """One device kernel ready to launch: ``thread_fn(*values, _T)`` is one thread."""

    def __init__(self, func: PrimFunc, check_races: bool) -> None:
        self.func = func
        self.name = _kernel_name(func)
        self.check_races = check_races
        self.binder = ArgumentBinder(func, self.name)
        self.tables = KernelTables()
        refuse_too_deep(self.name, func.body)
        with recursion_headroom():
            try:
                self.source, namespace = self._translate()
            except (NotImplementedError, NameError, IndexError) as err:
                raise EmulatorError(f"kernel {self.name!r} cannot be emulated: {err}") from err
            self.filename = source_file(f"<tvmscript-emulator {self.name}>", self.source)
            exec(compile(self.source, self.filename, "exec"), namespace)
        self.thread_fn = namespace["_thread"]
        self._extent_fn = self._launch_extents()

    def _translate(self) -> tuple[str, dict]:
        ctx = Context(hoist_deep=False)  # a hoisted thunk could not hold a ``yield``
        stmts = EmuStmtTranslator(ctx, self.tables, self.check_races)
        sig = self.binder.sig
        params: list[str] = []
        for p in sig.params:
            if isinstance(p, ScalarParam):
                params.append(ctx.define(p.var))
            else:
                params.append(stmts.define_param_buffer(p.buffer))
        scalars = {p.var for p in sig.params if isinstance(p, ScalarParam)}
        for size in sig.size_vars:
            if size.var in scalars:  # a shape variable passed as a parameter too (``bind``)
                params.append(ctx.fresh("_size"))
                continue
            lo, hi = int_range(size.var.dtype)
            zero = size.field == "elem_offset"
            params.append(ctx.define(size.var, (0, 0) if zero else (max(lo, 0), hi)))
        if self.func.body is not None:
            stmts(self.func.body)
        header = f"def _thread({', '.join(params + ['_T'])}):  # {self.name}"
        self.tables.line_sites[:0] = [-1] * (1 + len(_PROLOGUE))
        namespace = ctx.namespace
        namespace["_Ref"] = Ref
        namespace["_bc"] = self._bounds_check
        namespace["_chk"] = _unchecked  # ``checked`` guards every offset not proven in range
        return "\n".join([header, *_PROLOGUE, *stmts.lines, ""]), namespace

    def _launch_extents(self) -> Callable[..., tuple]:
        """A function of the scalar values giving (grid x, y, z, block x, y, z), read off the
        kernel as the code generator and the host read it (``launch_info``)."""
        try:
            grid, block = launch_dims(self.func)
        except CodegenError as err:
            raise EmulatorError(f"kernel {self.name!r} cannot be emulated: {err}") from err
        return compile_lambda([*grid, *block], [v for v, _ in self._scalar_inputs()])

    def _scalar_inputs(self) -> list[tuple[Any, int]]:
        """Each scalar the extents may use (parameters, then shape variables), with the
        position of its value in the bound values."""
        sig = self.binder.sig
        inputs = [(p.var, p.index) for p in sig.params if isinstance(p, ScalarParam)]
        known = {v for v, _ in inputs}
        inputs += [(s.var, len(sig.params) + i) for i, s in enumerate(sig.size_vars)
                   if s.var not in known]
        return inputs

    def dims(self, values: Sequence[Any]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """(grid, block) for the bound argument values."""
        dims = [int(e) for e in self._extent_fn(*[values[i] for _, i in self._scalar_inputs()])]
        for tag, ext in zip(THREAD_TAGS, dims):
            if ext <= 0:
                raise EmulatorError(f"kernel {self.name!r}: {tag} has extent {ext}")
        return (dims[0], dims[1], dims[2]), (dims[3], dims[4], dims[5])

    def bind(self, args: Sequence[Any]) -> list[Any]:
        """The generated function's values for ``args`` (buffers may have any shape of the
        right size; they are flattened as views, so writes reach the caller's arrays)."""
        sig = self.binder.sig
        if len(args) == len(sig.params):
            args = [self._flat(p, a) if isinstance(p, BufferParam) else a
                    for p, a in zip(sig.params, args)]
        values = self.binder(args)
        self._check_sizes(values)
        return values

    def _check_sizes(self, values: list[Any]) -> None:
        """A shape variable that is also a scalar parameter must equal the shape it names."""
        sig = self.binder.sig
        given = {p.var: (p.name, values[p.index]) for p in sig.params
                 if isinstance(p, ScalarParam)}
        for size, value in zip(sig.size_vars, values[len(sig.params):]):
            if size.var in given and given[size.var][1] != value:
                buf = sig.params[size.param].name
                raise ValueError(
                    f"{self.name}: argument {given[size.var][0]!r} is {given[size.var][1]}, but "
                    f"buffer {buf!r} has {size.field}[{size.dim}] == {value}"
                )

    def _flat(self, p: BufferParam, arg: Any) -> Any:
        if not isinstance(arg, np.ndarray) or arg.ndim == len(p.buffer.shape):
            return arg
        if len(p.buffer.shape) != 1:
            return arg
        if not arg.flags.c_contiguous:
            raise ValueError(
                f"{self.name}: argument {p.name!r} must be C-contiguous to be used as a flat "
                f"buffer, got strides {arg.strides}"
            )
        return arg.reshape(-1)

    def _bounds_check(self, off: Any, size: int, where: int) -> Any:
        """``off`` (an int, or the lanes of a vector access) when inside ``size`` elements."""
        if type(off) is int:
            if 0 <= off < size:
                return off
        else:
            lanes = np.asarray(off)
            if np.all((lanes >= 0) & (lanes < size)):
                return off
        name = self.tables.accesses[where][1]
        raise IndexError(f"index {off} is out of bounds of buffer {name!r} ({size} elements)")


def _unchecked(offset: Any, name: str) -> Any:
    return offset


def _kernel_name(func: PrimFunc) -> str:
    symbol = func.attrs.get("global_symbol") if func.attrs else None
    return str(symbol or func.name or "kernel")


_CACHE_SIZE = 64
_cache: OrderedDict[tuple[int, bool], EmulatedKernel] = OrderedDict()
_lock = threading.Lock()


def compile_kernel(func: PrimFunc, check_races: bool) -> EmulatedKernel:
    """The emulated kernel of ``func`` (translated once per function object and mode)."""
    if not isinstance(func, PrimFunc):
        raise TypeError(f"emulate expects a device PrimFunc, got {type(func).__name__}")
    key = (id(func), check_races)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit.func is func:
            _cache.move_to_end(key)
            return hit
    kernel = EmulatedKernel(func, check_races)
    with _lock:
        _cache[key] = kernel
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return kernel
