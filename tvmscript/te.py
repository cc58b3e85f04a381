"""Tensor expressions: describe a kernel as tensors defined by index formulas.

An operator's kernel is a few lines: placeholders for its inputs, ``compute`` for each value
(with ``reduce_axis`` and ``sum``/``max``/``min``/``prod`` for reductions), and
``create_prim_func`` turns the tensors into a loop-level function with one block per computed
tensor, so every schedule primitive and the tuner apply to it unchanged::

    from tvmscript import te
    n = te.var("n")
    A = te.placeholder((n, 64), "float32", name="A")
    B = te.placeholder((64, 32), "float32", name="B")
    k = te.reduce_axis((0, 64), name="k")
    C = te.compute((n, 32), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    func = te.create_prim_func([A, B, C])

Why a separate layer over ``KernelBuilder``: te tensors compose (a compute may read another
compute), and ``create_prim_func`` decides which tensors are parameters (the ones listed) and
which are intermediates (allocated in the root block), as TVM's ``te.create_prim_func`` does.
"""

from __future__ import annotations

import builtins
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .analysis import infer_block_access_regions
from .ir import expr as E
from .ir import stmt as S
from .ir.buffer import Buffer
from .ir.dtype import DataType
from .ir.dtype import dtype as as_dtype
from .ir.expr import PrimExpr, Range, Var, convert
from .ir.expr import const as _const
from .ir.function import PrimFunc
from .ir.functor import substitute

INDEX = "int64"


class TEError(ValueError):
    """A tensor expression that cannot become a kernel (says which tensor and why)."""


# ---------------------------------------------------------------- tensors


class Tensor:
    """A named multi-dimensional value: ``T[i, j]`` reads it inside another ``compute``."""

    def __init__(self, name: str, shape: Sequence[Any], dtype: "str | DataType",
                 op: "_ComputeOp | None" = None) -> None:
        self.name = name
        self.shape = tuple(_dim(d) for d in shape)
        self.dtype = as_dtype(dtype)
        self.op = op  # None for a placeholder
        self.buffer = Buffer(name, self.dtype, self.shape)
        _LIVE[self.buffer] = self

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, indices: Any) -> PrimExpr:
        if not isinstance(indices, tuple):
            indices = (indices,)
        if len(indices) != self.ndim:
            raise TEError(f"tensor {self.name!r} has {self.ndim} dimensions, indexed with "
                          f"{len(indices)}")
        return E.BufferLoad(self.buffer, tuple(_index(i) for i in indices))

    def __repr__(self) -> str:
        kind = "placeholder" if self.op is None else "compute"
        return f"<te.Tensor {self.name} {kind} {[str(d) for d in self.shape]} {self.dtype}>"


@dataclass(frozen=True, eq=False)
class IterVar:
    """A reduction axis (``reduce_axis``): ``var`` ranges over ``[begin, begin + extent)``."""

    var: Var
    begin: PrimExpr
    extent: PrimExpr

    # used in index arithmetic and conditions (``where=k < i``) as its variable, as in TVM
    def __add__(self, other): return self.var + _operand(other)
    def __radd__(self, other): return _operand(other) + self.var
    def __sub__(self, other): return self.var - _operand(other)
    def __rsub__(self, other): return _operand(other) - self.var
    def __mul__(self, other): return self.var * _operand(other)
    def __rmul__(self, other): return _operand(other) * self.var
    def __floordiv__(self, other): return self.var // _operand(other)
    def __mod__(self, other): return self.var % _operand(other)
    def __lt__(self, other): return self.var < _operand(other)
    def __le__(self, other): return self.var <= _operand(other)
    def __gt__(self, other): return self.var > _operand(other)
    def __ge__(self, other): return self.var >= _operand(other)

    __hash__ = object.__hash__


def _operand(x: Any) -> Any:
    return x.var if isinstance(x, IterVar) else x


@dataclass(frozen=True)
class Reduce:
    """What ``te.sum(...)`` returns: only valid as the whole body of a ``compute``."""

    combine: Callable[[PrimExpr, PrimExpr], PrimExpr]
    source: PrimExpr
    axes: tuple[IterVar, ...]
    identity: PrimExpr
    where: PrimExpr | None = None


@dataclass(frozen=True)
class _ComputeOp:
    axes: tuple[Var, ...]
    body: PrimExpr | Reduce
    inputs: tuple[Tensor, ...]  # the tensors the body reads, producers first


def var(name: str = "n", dtype: str = INDEX) -> Var:
    """A symbolic size (use it in shapes; it becomes a size variable of the kernel)."""
    return Var(name, dtype)


def const(value: Any, dtype: "str | DataType" = "float32") -> PrimExpr:
    """A constant of ``dtype`` (Python numbers alone become int64/float32 as in ``convert``)."""
    return E.const(value, dtype)


def placeholder(shape: Sequence[Any], dtype: "str | DataType" = "float32",
                name: str = "placeholder") -> Tensor:
    """An input tensor of the kernel."""
    return Tensor(name, shape, dtype)


def reduce_axis(dom: Any, name: str = "k") -> IterVar:
    """A reduction axis over ``dom``: an extent or a ``(begin, end)`` pair."""
    if isinstance(dom, (tuple, list)):
        if len(dom) != 2:
            raise TEError(f"reduce_axis takes an extent or (begin, end), got {dom!r}")
        begin, end = _dim(dom[0]), _dim(dom[1])
        return IterVar(Var(name, INDEX), begin, _fold(end - begin))
    return IterVar(Var(name, INDEX), _const(0, INDEX), _dim(dom))


def compute(shape: Sequence[Any], fn: Callable[..., Any], name: str = "compute",
            dtype: "str | DataType | None" = None) -> Tensor:
    """The tensor whose element at ``(i, ...)`` is ``fn(i, ...)`` (a value or a reduction)."""
    shape = tuple(_dim(d) for d in shape)
    nargs = _arity(fn, len(shape))
    if nargs != len(shape):
        raise TEError(f"compute {name!r}: the function takes {nargs} indices but the shape has "
                      f"{len(shape)} dimensions")
    axes = tuple(Var(f"{'ijklmnopq'[d] if d < 9 else 'i' + str(d)}", INDEX)
                 for d in range(len(shape)))
    body = fn(*axes)
    if isinstance(body, Reduce):
        value_dtype = body.source.dtype
    else:
        try:
            body = convert(body)
        except TypeError:
            raise TEError(f"compute {name!r}: the function must return an expression or a "
                          f"reduction (te.sum/max/min/prod) as the whole value, got "
                          f"{type(body).__name__}") from None
        value_dtype = body.dtype
    if dtype is not None and as_dtype(dtype) != value_dtype:
        body = _cast_body(body, as_dtype(dtype))
        value_dtype = as_dtype(dtype)
    return Tensor(name, shape, value_dtype, _ComputeOp(axes, body, _inputs_of(body)))


def _inputs_of(body: PrimExpr | Reduce) -> tuple[Tensor, ...]:
    from .ir.functor import post_order_visit

    exprs = [body.source, *([body.where] if body.where is not None else [])] \
        if isinstance(body, Reduce) else [body]
    found: list[Tensor] = []
    for e in exprs:
        post_order_visit(e, lambda n: found.append(_LIVE[n.buffer])
                         if isinstance(n, E.BufferLoad) and n.buffer in _LIVE
                         and _LIVE[n.buffer] not in found else None)
    return tuple(found)


def _cast_body(body: PrimExpr | Reduce, dt: DataType) -> PrimExpr | Reduce:
    if isinstance(body, Reduce):
        return Reduce(body.combine, E.Cast(dt, body.source), body.axes,
                      _cast_const(body.identity, dt), body.where)
    return E.Cast(dt, body)


def _cast_const(value: PrimExpr, dt: DataType) -> PrimExpr:
    if isinstance(value, (E.IntImm, E.FloatImm)):
        return _const(value.value, dt)
    return E.Cast(dt, value)


def _arity(fn: Callable[..., Any], default: int) -> int:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return default
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return default
    return builtins.sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in params)


# ---------------------------------------------------------------- reductions


def _reducer(combine: Callable[[PrimExpr, PrimExpr], PrimExpr],
             identity: Callable[[DataType], PrimExpr]) -> Callable[..., Reduce]:
    def reduce(expr: Any, axis: IterVar | Sequence[IterVar], where: Any = None) -> Reduce:
        expr = convert(expr)
        axes = (axis,) if isinstance(axis, IterVar) else tuple(axis)
        if not axes or not all(isinstance(a, IterVar) for a in axes):
            raise TEError("a reduction needs reduce_axis objects as its axis")
        return Reduce(combine, expr, axes, identity(expr.dtype),
                      None if where is None else convert(where))

    return reduce


def max_value(dtype: "str | DataType") -> PrimExpr:
    dt = as_dtype(dtype)
    if dt.is_float:
        return _const(float(np.finfo(dt.numpy_name()).max), dt)
    return _const(int(np.iinfo(dt.numpy_name()).max), dt)


def min_value(dtype: "str | DataType") -> PrimExpr:
    dt = as_dtype(dtype)
    if dt.is_float:
        return _const(float(np.finfo(dt.numpy_name()).min), dt)
    return _const(int(np.iinfo(dt.numpy_name()).min), dt)


sum = _reducer(lambda a, b: a + b, lambda dt: _const(0, dt))  # noqa: A001 (TVM's name)
prod = _reducer(lambda a, b: a * b, lambda dt: _const(1, dt))
max = _reducer(E.Max, lambda dt: _infinity(dt, -1))  # noqa: A001
min = _reducer(E.Min, lambda dt: _infinity(dt, 1))  # noqa: A001


def _infinity(dt: DataType, sign: int) -> PrimExpr:
    """The identity of max (sign -1) or min (sign 1): infinite for floats, so a row of -inf
    reduces to -inf; the extreme representable value for integers."""
    if dt.is_float:
        return _const(sign * float("inf"), dt)
    return max_value(dt) if sign > 0 else min_value(dt)


# ---------------------------------------------------------------- math


def _intrinsic(op: str) -> Callable[[Any], PrimExpr]:
    def call(x: Any) -> PrimExpr:
        x = convert(x)
        return E.Call(x.dtype, f"tir.{op}", (x,))

    call.__name__ = op
    call.__doc__ = f"element-wise ``{op}`` of a float expression"
    return call


exp, log, sqrt, rsqrt, tanh, sigmoid, erf = map(
    _intrinsic, ("exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "erf"))
floor, ceil, nearbyint, trunc, sin, cos, fabs = map(
    _intrinsic, ("floor", "ceil", "nearbyint", "trunc", "sin", "cos", "fabs"))


def power(x: Any, y: Any) -> PrimExpr:
    x, y = E.match_dtypes(x, y)
    return E.Call(x.dtype, "tir.pow", (x, y))


def if_then_else(cond: Any, then: Any, otherwise: Any) -> PrimExpr:
    """``then`` where ``cond`` holds, else ``otherwise`` (only the chosen side is read)."""
    then, otherwise = E.match_dtypes(then, otherwise)
    return E.Call(then.dtype, "tir.if_then_else", (convert(cond), then, otherwise))


def select(cond: Any, then: Any, otherwise: Any) -> PrimExpr:
    """Both sides are evaluated (so both must be safe to read): vectorizes where if_then_else
    cannot."""
    then, otherwise = E.match_dtypes(then, otherwise)
    return E.Select(convert(cond), then, otherwise)


def cast(x: Any, dtype: "str | DataType") -> PrimExpr:
    x = convert(x)
    dt = as_dtype(dtype)
    return x if x.dtype == dt else E.Cast(dt, x)


def all_of(*conds: Any) -> PrimExpr:
    out = _const(True)
    for c in conds:
        out = E.And(out, convert(c)) if not _is_true(out) else convert(c)
    return out


def any_of(*conds: Any) -> PrimExpr:
    if not conds:
        return _const(False)
    out = convert(conds[0])
    for c in conds[1:]:
        out = E.Or(out, convert(c))
    return out


def _is_true(e: PrimExpr) -> bool:
    return isinstance(e, E.IntImm) and e.dtype.is_bool and bool(e.value)


# ---------------------------------------------------------------- lowering to a PrimFunc


def create_prim_func(tensors: Sequence[Tensor], name: str = "main") -> PrimFunc:
    """A loop-level function over ``tensors`` (inputs then outputs, the parameter order).

    Every compute tensor reachable from the listed outputs becomes one block, in dependency
    order; computes that are not listed are allocated in the root block. A placeholder that an
    output needs but that is not listed is an error naming it."""
    tensors = list(tensors)
    if not tensors:
        raise TEError("create_prim_func needs at least one tensor")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TEError(f"create_prim_func takes te tensors, got {type(t).__name__}")
    order = _topological(tensors)
    listed = {id(t) for t in tensors}
    for t in order:
        if t.op is None and id(t) not in listed:
            raise TEError(f"placeholder {t.name!r} is read by the computation but is not among "
                          "the function's tensors")
    if all(t.op is None for t in tensors):
        raise TEError("create_prim_func needs at least one computed tensor among its tensors")
    params, buffer_map = [], {}
    for t in tensors:
        handle = Var(t.name, "handle")
        params.append(handle)
        buffer_map[handle] = t.buffer
    allocs = tuple(t.buffer for t in order if t.op is not None and id(t) not in listed)
    body = [_block_nest(t) for t in order if t.op is not None]
    root = S.Block("root", alloc_buffers=allocs, body=S.seq(*body))
    func = PrimFunc(tuple(params), buffer_map, S.BlockRealize((), _const(True), root),
                    {"tir.noalias": True}, name)
    return func


def _topological(outputs: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor the outputs depend on, producers before consumers."""
    done: set[int] = set()
    order: list[Tensor] = []

    def visit(t: Tensor, path: tuple[int, ...]) -> None:
        if id(t) in done:
            return
        if id(t) in path:
            raise TEError(f"tensor {t.name!r} depends on itself")
        for producer in (t.op.inputs if t.op is not None else ()):
            visit(producer, path + (id(t),))
        done.add(id(t))
        order.append(t)

    for t in outputs:
        visit(t, ())
    return order


# buffer -> its live te tensor, so a compute can find the tensors its body reads
_LIVE: "weakref.WeakValueDictionary[Buffer, Tensor]" = weakref.WeakValueDictionary()


def _block_nest(t: Tensor) -> S.Stmt:
    op = t.op
    reduce = op.body if isinstance(op.body, Reduce) else None
    axes: list[tuple[Var, PrimExpr, PrimExpr, str]] = [
        (v, _const(0, INDEX), ext, "S") for v, ext in zip(op.axes, t.shape)]
    if reduce is not None:
        axes += [(a.var, a.begin, a.extent, "R") for a in reduce.axes]
    loops = [Var(v.name, INDEX) for v, *_ in axes]
    block_vars = [Var(f"v_{v.name}", INDEX) for v, *_ in axes]
    # the user's index variables become block iterators; a reduction axis starting at b is
    # iterated from 0 with the block variable standing for b + iterator
    mapping = {v: (bv if _is_zero(begin) else bv + begin)
               for (v, begin, _e, _k), bv in zip(axes, block_vars)}
    out_index = tuple(mapping[v] for v in op.axes)
    if reduce is None:
        value = substitute(op.body, mapping)
        store = S.BufferStore(t.buffer, value, out_index)
        init = None
    else:
        source = substitute(reduce.source, mapping)
        if reduce.where is not None:
            source = E.Select(substitute(reduce.where, mapping), source, reduce.identity)
        store = S.BufferStore(t.buffer, reduce.combine(E.BufferLoad(t.buffer, out_index), source),
                              out_index)
        init = S.BufferStore(t.buffer, reduce.identity, out_index)
    iter_vars = tuple(
        S.IterVar(bv, Range(_const(0, INDEX), ext),
                  S.IterType.REDUCE if kind == "R" else S.IterType.SPATIAL)
        for bv, (_v, _b, ext, kind) in zip(block_vars, axes))
    block = S.Block(t.name, iter_vars, init=init, body=store)
    reads, writes = infer_block_access_regions(block)
    block = block.with_(reads=reads, writes=writes)
    nest: S.Stmt = S.BlockRealize(tuple(loops), _const(True), block)
    for loop, iv in reversed(list(zip(loops, iter_vars))):
        nest = S.For(loop, _const(0, INDEX), iv.dom.extent, S.ForKind.SERIAL, nest)
    return nest


# ---------------------------------------------------------------- helpers


def _dim(d: Any) -> PrimExpr:
    if isinstance(d, (bool, np.bool_)):
        raise TEError(f"a dimension must be an integer or a size variable, got {d!r}")
    if isinstance(d, (int, np.integer)):
        if d < 0:
            raise TEError(f"a dimension cannot be negative, got {d}")
        return _const(int(d), INDEX)
    if isinstance(d, E.IntImm):
        return _const(d.value, INDEX)
    if isinstance(d, PrimExpr):
        if not d.dtype.is_int:
            raise TEError(f"a dimension must be an integer expression, got {d.dtype} {d}")
        return d if d.dtype == as_dtype(INDEX) else E.Cast(as_dtype(INDEX), d)
    raise TEError(f"a dimension must be an integer or a size variable, got {d!r}")


def _index(i: Any) -> PrimExpr:
    if isinstance(i, IterVar):
        return i.var
    e = convert(i)
    if not e.dtype.is_int:
        raise TEError(f"an index must be an integer expression, got {e.dtype} {e}")
    if isinstance(e, E.IntImm):
        return _const(e.value, INDEX)
    return e if e.dtype == as_dtype(INDEX) else E.Cast(as_dtype(INDEX), e)


def _is_zero(e: PrimExpr) -> bool:
    return isinstance(e, E.IntImm) and e.value == 0


def _fold(e: PrimExpr) -> PrimExpr:
    from .arith import Analyzer

    return Analyzer().simplify(e)


__all__ = [
    "IterVar", "Reduce", "TEError", "Tensor", "all_of", "any_of", "cast", "ceil", "compute",
    "const",
    "cos", "create_prim_func", "erf", "exp", "fabs", "floor", "if_then_else", "log", "max",
    "max_value", "min", "min_value", "nearbyint", "placeholder", "power", "prod", "reduce_axis",
    "rsqrt", "select", "sigmoid", "sin", "sqrt", "sum", "tanh", "trunc", "var",
]
