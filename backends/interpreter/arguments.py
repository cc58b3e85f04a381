"""Checks the arguments of an interpreted call and binds size variables, as the runtime does.

Why its own module: the interpreter must reject exactly what the compiled runtime rejects
(``backends/signature.py``): wrong count, non-arrays, rank, dtype, shape (with every size
variable bound consistently across buffers), strides; errors name the parameter. What passes
comes back as the flat arrays, scalar values and size-variable values the generated function
takes, in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from backends.runtime.arguments import check_scalar  # one scalar rule with the runtime
from backends.signature import BufferParam, KernelSignature, ScalarParam
from tvmscript.ir import Buffer, PrimFunc, Var
from tvmscript.ir.expr import IntImm, PrimExpr

from .context import source_file
from .values import int_range, np_dtype


def compile_lambda(exprs: Sequence[PrimExpr], params: Sequence[Var]) -> Callable[..., tuple]:
    """A Python function of ``params`` returning the values of ``exprs`` (same semantics as
    the interpreter), e.g. a shape ``2 * n`` from ``n``."""
    from .context import Context
    from .translate_expr import ExprTranslator

    ctx = Context()
    names = [ctx.define(p) for p in params]
    tr = ExprTranslator(ctx)
    body = ", ".join(tr(e).text for e in exprs)
    source = f"def _shape_fn({', '.join(names)}):\n    return ({body}{',' if exprs else ''})\n"
    exec(compile(source, source_file("<tvmscript-shape>", source), "exec"), ctx.namespace)
    return ctx.namespace["_shape_fn"]


class ArgumentBinder:
    """``binder(args)`` → the generated function's arguments, or a TypeError/ValueError."""

    def __init__(self, func: PrimFunc, name: str) -> None:
        self.name = name
        self.sig = KernelSignature.of(func)
        self.params = self.sig.params
        self.size_vars = [s.var for s in self.sig.size_vars]
        # (parameter, 'shape[i]', expression, argument index, field, dim) checked after binding
        self._deferred: list[tuple[str, str, PrimExpr, int, str, int]] = []
        for p in self.params:
            if isinstance(p, BufferParam):
                for field, exprs in (("shape", p.buffer.shape), ("strides", p.buffer.strides)):
                    for dim, e in enumerate(exprs):
                        if not isinstance(e, (Var, IntImm)):
                            where = f"{field}[{dim}]"
                            self._deferred.append((p.name, where, e, p.index, field, dim))
        self._check = None
        if self._deferred:
            # a shape may use a scalar parameter as well as the sizes bound from shapes
            self._scalar_vars = [p.var for p in self.params if isinstance(p, ScalarParam)
                                 and p.var not in self.size_vars]
            self._check = compile_lambda([d[2] for d in self._deferred],
                                         self.size_vars + self._scalar_vars)
        self._expected = ", ".join(p.name for p in self.params)

    def __call__(self, args: Sequence[Any]) -> list[Any]:
        if len(args) != len(self.params):
            raise TypeError(
                f"{self.name} takes {len(self.params)} arguments ({self._expected}), "
                f"got {len(args)}"
            )
        bound: dict[Var, int] = {}
        values: list[Any] = []
        for p, arg in zip(self.params, args):
            if isinstance(p, ScalarParam):
                values.append(self._scalar(p, arg))
            else:
                values.append(self._buffer(p, arg, bound))
        sizes = [bound.get(v, 0) for v in self.size_vars]
        if self._check is not None:
            scalars = [v for p, v in zip(self.params, values) if isinstance(p, ScalarParam)
                       and p.var not in self.size_vars]
            self._check_deferred(args, sizes + scalars)
        return values + sizes

    # ------------------------------------------------------------ buffers

    def _buffer(self, p: BufferParam, arg: Any, bound: dict[Var, int]) -> np.ndarray:
        buf = p.buffer
        if not isinstance(arg, np.ndarray):
            raise TypeError(
                f"{self.name}: argument {p.name!r} must be a numpy array, got {type(arg).__name__}"
            )
        if arg.ndim != len(buf.shape):
            raise ValueError(
                f"{self.name}: argument {p.name!r} must have {len(buf.shape)} dimensions, "
                f"got {arg.ndim} (shape {arg.shape})"
            )
        expected = np_dtype(buf.dtype)
        if arg.dtype != expected:
            raise TypeError(
                f"{self.name}: argument {p.name!r} must have dtype {buf.dtype} "
                f"(numpy {expected}), got {arg.dtype}"
            )
        for dim, (e, actual) in enumerate(zip(buf.shape, arg.shape)):
            self._match(p.name, f"shape[{dim}]", e, actual, bound)
        if not buf.strides:
            if not arg.flags.c_contiguous:
                raise ValueError(
                    f"{self.name}: argument {p.name!r} must be C-contiguous (row-major), "
                    f"got strides {arg.strides}"
                )
            return arg.reshape(-1)
        return self._strided(p, buf, arg, bound)

    def _strided(self, p: BufferParam, buf: Buffer, arg: np.ndarray, bound: dict) -> np.ndarray:
        itemsize = arg.itemsize
        if any(s % itemsize or s < 0 for s in arg.strides):
            raise ValueError(
                f"{self.name}: argument {p.name!r} has strides {arg.strides} that are not "
                "non-negative multiples of its item size"
            )
        elems = [s // itemsize for s in arg.strides]
        for dim, (e, actual) in enumerate(zip(buf.strides, elems)):
            if arg.shape[dim] > 1 or isinstance(e, Var):
                self._match(p.name, f"strides[{dim}]", e, actual, bound)
        span = 1 + sum((n - 1) * s for n, s in zip(arg.shape, elems)) if arg.size else 0
        return as_strided(arg, shape=(span,), strides=(itemsize,))

    def _match(self, pname: str, what: str, e: PrimExpr, actual: int, bound: dict) -> None:
        if isinstance(e, IntImm):
            if e.value != actual:
                raise ValueError(
                    f"{self.name}: argument {pname!r} must have {what} == {e.value}, got {actual}"
                )
        elif isinstance(e, Var):
            if e in bound:
                if bound[e] != actual:
                    raise ValueError(
                        f"{self.name}: argument {pname!r} has {what} == {actual}, but {e.name} "
                        f"is already {bound[e]} from an earlier argument"
                    )
            else:
                lo, hi = int_range(e.dtype)
                if not lo <= actual <= hi:
                    raise ValueError(f"{self.name}: {e.name} = {actual} does not fit {e.dtype}")
                bound[e] = actual

    def _check_deferred(self, args: Sequence[Any], sizes: list[int]) -> None:
        expected = self._check(*sizes)
        for (pname, what, e, index, field, dim), value in zip(self._deferred, expected):
            arr = args[index]
            actual = arr.shape[dim] if field == "shape" else arr.strides[dim] // arr.itemsize
            if actual != value:
                raise ValueError(
                    f"{self.name}: argument {pname!r} must have {what} == {value}, got {actual}"
                )

    # ------------------------------------------------------------ scalars

    def _scalar(self, p: ScalarParam, arg: Any) -> Any:
        dt = p.var.dtype
        value = check_scalar(f"{self.name}: argument {p.name!r}", str(dt), arg)
        if dt.kind == "bfloat":
            from .values import _bf

            return _bf(np.float32(value))
        if dt.is_float:
            return np.dtype(dt.numpy_name()).type(value)
        return bool(value) if dt.is_bool else value
