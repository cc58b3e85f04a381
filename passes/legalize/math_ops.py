"""Legalizations (kernels written with ``tvmscript.te``) of the math operators.

Element-wise operators are one block each, so operator fusion can merge them; a reduction is
computed once into an intermediate (``mean``, ``rstd``, ``max``) that the element-wise block
reads, and statistics are taken in two passes (mean, then squared deviations) so that
``variance`` and the normalizations stay accurate where ``E[x²] - E[x]²`` would cancel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tvmscript import te
from tvmscript.ir import expr as E
from tvmscript.ir import graph as G
from tvmscript.ir.dtype import DataType
from tvmscript.ir.dtype import dtype as as_dtype
from tvmscript.ir.expr import PrimExpr, Var
from tvmscript.ir.function import PrimFunc
from tvmscript.ir.graph_ops_math import reduced_axes

from ..legalize_ops import register_legalization
from .sizes import OwnSizes


class Kernel:
    """The tensors of one kernel. Sizes that are variables of the graph function become the
    kernel's own size variables (bound from its buffers' shapes when it is called)."""

    def __init__(self) -> None:
        self.own = OwnSizes()

    def dims(self, shape: Sequence[PrimExpr]) -> list[PrimExpr]:
        """``shape`` in the kernel's own size variables."""
        return self.own.dims(shape)

    def input(self, sinfo: G.StructInfo, name: str) -> te.Tensor:
        """A placeholder for a tensor argument (its struct info has a known shape)."""
        return te.placeholder(self.dims(sinfo.shape), sinfo.dtype, name=name)


def _kernel_name(op: str) -> str:
    return op.replace(".", "_")


def _broadcast(t: te.Tensor, index: Sequence[Var]) -> PrimExpr:
    """``t`` read at an output index, broadcasting as numpy does (size-1 axes read 0)."""
    offset = len(index) - t.ndim
    return t[tuple(0 if isinstance(d, E.IntImm) and d.value == 1 else i
                   for d, i in zip(t.shape, index[offset:]))]


# ---------------------------------------------------------------- element-wise

def _elementwise(op: str, fn: Callable[..., PrimExpr], nargs: int) -> None:
    """One block over the output: ``fn`` of every operand at the (broadcast) index."""

    @register_legalization(op)
    def legalize(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
        k = Kernel()
        ins = [k.input(a, "ABC"[i]) for i, a in enumerate(args[:nargs])]
        res = te.compute(k.dims(out.shape),
                         lambda *i: fn(call, *(_broadcast(t, i) for t in ins)),
                         name=f"T_{op.split('.')[-1]}")
        return te.create_prim_func([*ins, res], name=_kernel_name(op))


def _float_or(float_fn: Callable[[PrimExpr, PrimExpr], PrimExpr],
              int_fn: Callable[[PrimExpr, PrimExpr], PrimExpr]):
    return lambda call, a, b: float_fn(a, b) if a.dtype.is_float else int_fn(a, b)


def _floor_mod_float(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    """numpy's float remainder: fmod, moved onto the divisor's side when the signs differ."""
    r = Var("r", a.dtype)
    zero = te.const(0, a.dtype)
    fix = E.And(E.NE(r, zero), E.NE(E.LT(r, zero), E.LT(b, zero)))
    return E.Let(r, E.Call(a.dtype, "tir.fmod", (a, b)), te.select(fix, r + b, r))


_BINARY: dict[str, Callable[..., PrimExpr]] = {
    "add": lambda call, a, b: a + b,
    "subtract": lambda call, a, b: a - b,
    "multiply": lambda call, a, b: a * b,
    "divide": _float_or(lambda a, b: a / b, E.FloorDiv),
    "maximum": lambda call, a, b: E.Max(a, b),
    "minimum": lambda call, a, b: E.Min(a, b),
    "power": lambda call, a, b: te.power(a, b),
    "floor_divide": _float_or(lambda a, b: te.floor(a / b), E.FloorDiv),
    "floor_mod": _float_or(_floor_mod_float, E.FloorMod),
    "equal": lambda call, a, b: E.EQ(a, b),
    "not_equal": lambda call, a, b: E.NE(a, b),
    "less": lambda call, a, b: E.LT(a, b),
    "less_equal": lambda call, a, b: E.LE(a, b),
    "greater": lambda call, a, b: E.GT(a, b),
    "greater_equal": lambda call, a, b: E.GE(a, b),
    "logical_and": lambda call, a, b: E.And(a, b),
    "logical_or": lambda call, a, b: E.Or(a, b),
    "logical_xor": lambda call, a, b: E.NE(a, b),
}
for _op, _fn in _BINARY.items():
    _elementwise(_op, _fn, 2)

_elementwise("where", lambda call, c, x, y: te.select(c, x, y), 3)


def _unary(fn: Callable[[PrimExpr], PrimExpr]) -> Callable[..., PrimExpr]:
    return lambda call, x: fn(x)


def _float_only(fn: Callable[[PrimExpr], PrimExpr]) -> Callable[..., PrimExpr]:
    """Rounding an integer leaves it as it is."""
    return lambda call, x: fn(x) if x.dtype.is_float else x


def _relu6(x: PrimExpr) -> PrimExpr:
    return E.Min(E.Max(x, te.const(0, x.dtype)), te.const(6, x.dtype))


def _sign(x: PrimExpr) -> PrimExpr:
    one, zero = te.const(1, x.dtype), te.const(0, x.dtype)
    # x itself where it is neither positive nor negative: 0 stays 0, NaN stays NaN
    return te.select(x > zero, one, te.select(x < zero, te.const(-1, x.dtype), x))


def _abs(x: PrimExpr) -> PrimExpr:
    return te.fabs(x) if x.dtype.is_float else te.select(x < te.const(0, x.dtype), -x, x)


def _gelu(x: PrimExpr) -> PrimExpr:
    half, one = te.const(0.5, x.dtype), te.const(1, x.dtype)
    return half * x * (one + te.erf(x * te.const(1 / math.sqrt(2), x.dtype)))


def _gelu_tanh(x: PrimExpr) -> PrimExpr:
    half, one = te.const(0.5, x.dtype), te.const(1, x.dtype)
    cubic = x + te.const(0.044715, x.dtype) * x * x * x
    inner = te.const(math.sqrt(2 / math.pi), x.dtype) * cubic
    return half * x * (one + te.tanh(inner))


def _hard_swish(x: PrimExpr) -> PrimExpr:
    return x * _relu6(x + te.const(3, x.dtype)) / te.const(6, x.dtype)


_UNARY: dict[str, Callable[..., PrimExpr]] = {
    "exp": _unary(te.exp), "log": _unary(te.log), "sqrt": _unary(te.sqrt),
    "rsqrt": _unary(te.rsqrt), "tanh": _unary(te.tanh), "sigmoid": _unary(te.sigmoid),
    "erf": _unary(te.erf), "sin": _unary(te.sin), "cos": _unary(te.cos),
    "negative": _unary(lambda x: -x), "abs": _unary(_abs),
    "floor": _float_only(te.floor), "ceil": _float_only(te.ceil),
    "round": _float_only(te.nearbyint),  # half to even, as numpy and ONNX Round
    "sign": _unary(_sign), "square": _unary(lambda x: x * x), "logical_not": _unary(E.Not),
    "nn.relu": _unary(lambda x: E.Max(x, te.const(0, x.dtype))), "nn.relu6": _unary(_relu6),
    "nn.gelu": _unary(_gelu), "nn.gelu_tanh": _unary(_gelu_tanh),
    "nn.silu": _unary(lambda x: x * te.sigmoid(x)), "nn.hard_swish": _unary(_hard_swish),
}
for _op, _fn in _UNARY.items():
    _elementwise(_op, _fn, 1)


def _leaky_relu(call: G.Call, x: PrimExpr) -> PrimExpr:
    alpha = te.const(call.attrs["alpha"], x.dtype)
    return te.select(x > te.const(0, x.dtype), x, alpha * x)


def _softplus(call: G.Call, x: PrimExpr) -> PrimExpr:
    beta = te.const(call.attrs["beta"], x.dtype)
    bx = beta * x
    # log1p keeps the small values of a very negative x; above the threshold it is x
    return te.select(bx > te.const(call.attrs["threshold"], x.dtype), x,
                     E.Call(x.dtype, "tir.log1p", (te.exp(bx),)) / beta)


def _hard_sigmoid(call: G.Call, x: PrimExpr) -> PrimExpr:
    line = te.const(call.attrs["alpha"], x.dtype) * x + te.const(call.attrs["beta"], x.dtype)
    return E.Min(E.Max(line, te.const(0, x.dtype)), te.const(1, x.dtype))


def _clip(call: G.Call, x: PrimExpr) -> PrimExpr:
    lo, hi = call.attrs.get("min"), call.attrs.get("max")
    if lo is not None and not (x.dtype.is_integer and lo == -math.inf):
        x = E.Max(x, _bound(lo, x.dtype, math.ceil))
    if hi is not None and not (x.dtype.is_integer and hi == math.inf):
        x = E.Min(x, _bound(hi, x.dtype, math.floor))
    return x


def _bound(value: float, dt: DataType, to_int: Callable[[float], int]) -> PrimExpr:
    """A clip bound in ``dt``: for an integer tensor the nearest integer inside the range."""
    return te.const(to_int(value) if dt.is_integer else value, dt)


def _astype(call: G.Call, x: PrimExpr) -> PrimExpr:
    dt = as_dtype(call.attrs["dtype"])
    if dt.is_bool and not x.dtype.is_bool:
        return E.NE(x, te.const(0, x.dtype))  # nonzero is True, as numpy's astype(bool)
    return te.cast(x, dt)


for _op, _fn in (("nn.leakyrelu", _leaky_relu), ("nn.softplus", _softplus),
                 ("nn.hard_sigmoid", _hard_sigmoid), ("clip", _clip), ("astype", _astype)):
    _elementwise(_op, _fn, 1)


# ---------------------------------------------------------------- reductions

class Reduction:
    """Indexing of a reduction over ``axes`` of ``x``: the output index (kept axes, with the
    size-1 axes of keepdims) and reduction axes together give the index into ``x``."""

    def __init__(self, x: te.Tensor | _View, axes: Sequence[int],
                 keepdims: bool = False) -> None:
        self.x, self.axes, self.keep = x, sorted(axes), keepdims
        self.kept = [d for d in range(x.ndim) if d not in self.axes]
        self.out_shape = [1 if d in self.axes else x.shape[d] for d in range(x.ndim)
                          if keepdims or d not in self.axes]
        count: PrimExpr = te.const(1, "int64")
        for d in self.axes:
            count = count * x.shape[d]
        self.count = _fold(count)  # how many elements each output reduces

    def reduce_axes(self) -> list[te.IterVar]:
        return [te.reduce_axis(self.x.shape[d], name=f"k{d}") for d in self.axes]

    def index(self, out: Sequence[Var], rs: Sequence[Any]) -> tuple:
        """The index into ``x`` of output element ``out`` and reduction position ``rs``."""
        it_s, it_r = iter(self.spatial(out)), iter(rs)
        return tuple(next(it_r) if d in self.axes else next(it_s) for d in range(self.x.ndim))

    def spatial(self, out: Sequence[Var]) -> list[Var]:
        """The output index without its keepdims axes."""
        if not self.keep:
            return list(out)
        return [out[d] for d in self.kept]

    def stat(self, full: Sequence[Var]) -> tuple:
        """The index into a statistic (shaped ``out_shape``) of an element of ``x``."""
        return tuple(0 if d in self.axes else full[d] for d in range(self.x.ndim)
                     if self.keep or d not in self.axes)

    def compute(self, fn: Callable[[tuple], Any], reducer: Callable[..., te.Reduce],
                name: str) -> te.Tensor:
        """``reducer(fn(x index), axes)`` for every output element."""

        def body(*out: Var) -> te.Reduce:
            rs = self.reduce_axes()
            return reducer(fn(self.index(out, [a.var for a in rs])), axis=rs)

        if not self.axes:  # nothing to reduce: the value itself
            return te.compute(self.out_shape, lambda *out: fn(self.index(out, [])), name=name)
        return te.compute(self.out_shape, body, name=name)

    def mean(self, fn: Callable[[tuple], Any], name: str) -> te.Tensor:
        """The mean of ``fn(x index)``: a sum, then one division per output element."""
        return self.divide(self.compute(fn, te.sum, name + "_sum"), name)

    def n(self, dt: DataType) -> PrimExpr:
        """How many elements each output reduces, as a ``dt`` value."""
        if isinstance(self.count, E.IntImm):
            return te.const(self.count.value, dt)
        return te.cast(self.count, dt)

    def divide(self, total: te.Tensor, name: str) -> te.Tensor:
        """A sum divided by the element count: a mean."""
        n = self.n(total.dtype)
        return te.compute(self.out_shape, lambda *i: total[i] / n, name=name)


def _inf(dt: DataType, sign: int) -> PrimExpr:
    """The identity of max (sign -1) or min (sign 1): infinite for floats, so that a max over
    -inf values is -inf rather than the lowest finite number."""
    if dt.is_float:
        return te.const(sign * math.inf, dt)
    return te.min_value(dt) if sign < 0 else te.max_value(dt)


def _reducer(combine: Callable[[PrimExpr, PrimExpr], PrimExpr],
             sign: int) -> Callable[..., te.Reduce]:
    def reduce(source: PrimExpr, axis: Sequence[te.IterVar]) -> te.Reduce:
        source = E.convert(source)
        return te.Reduce(combine, source, tuple(axis), _inf(source.dtype, sign))

    return reduce


_max, _min = _reducer(E.Max, -1), _reducer(E.Min, 1)


def _reduction(op: str, build: Callable[[Reduction], te.Tensor]) -> None:
    @register_legalization(op)
    def legalize(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
        x = Kernel().input(args[0], "A")
        axes = reduced_axes(op, call.attrs.get("axis"), x.ndim)
        res = build(Reduction(x, axes, bool(call.attrs.get("keepdims"))))
        return te.create_prim_func([x, res], name=op)


def _variance(r: Reduction) -> te.Tensor:
    return r.divide(_moments(r)[1], "T_variance")


_reduction("sum", lambda r: r.compute(lambda i: r.x[i], te.sum, "T_sum"))
_reduction("prod", lambda r: r.compute(lambda i: r.x[i], te.prod, "T_prod"))
_reduction("max", lambda r: r.compute(lambda i: r.x[i], _max, "T_max"))
_reduction("min", lambda r: r.compute(lambda i: r.x[i], _min, "T_min"))
_reduction("mean", lambda r: r.mean(lambda i: r.x[i], "T_mean"))
_reduction("variance", _variance)


def _arg_reduction(op: str, reducer: Callable[..., te.Reduce]) -> None:
    """The extreme value first, then the smallest flat index holding it (numpy's first index on
    ties; a NaN counts as the extreme, as in numpy, whatever max makes of it)."""

    @register_legalization(op)
    def legalize(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
        x = Kernel().input(args[0], "A")
        axis = call.attrs.get("axis")
        r = Reduction(x, reduced_axes(op, axis, x.ndim), bool(call.attrs.get("keepdims")))
        best = r.compute(lambda i: x[i], reducer, "extreme")

        def candidate(i: tuple) -> PrimExpr:
            flat = i[r.axes[0]] if r.axes else te.const(0, "int64")
            for d in r.axes[1:]:
                flat = flat * x.shape[d] + i[d]
            hit = E.EQ(x[i], best[r.stat(i)])
            if x.dtype.is_float:
                hit = E.Or(hit, E.NE(x[i], x[i]))
            return te.select(hit, flat, r.count)  # never chosen: some element is the extreme

        res = r.compute(candidate, te.min, f"T_{op}")
        return te.create_prim_func([x, res], name=op)


_arg_reduction("argmax", _max)
_arg_reduction("argmin", _min)


# ---------------------------------------------------------------- softmax


def _softmax_stats(x: te.Tensor, axis: int) -> tuple[Reduction, te.Tensor, te.Tensor]:
    """The max along ``axis`` and the sum of ``exp(x - max)``: each one pass over ``x``."""
    r = Reduction(x, [axis])
    mx = r.compute(lambda i: x[i], _max, "max")
    total = r.compute(lambda i: te.exp(x[i] - mx[r.stat(i)]), te.sum, "exp_sum")
    return r, mx, total


@register_legalization("nn.softmax")
def _softmax(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    x = Kernel().input(args[0], "X")
    axis = call.attrs.get("axis", -1) % x.ndim
    r = Reduction(x, [axis])
    mx = r.compute(lambda i: x[i], _max, "max")
    ex = te.compute(x.shape, lambda *i: te.exp(x[i] - mx[r.stat(i)]), name="exp")
    total = r.compute(lambda i: ex[i], te.sum, "sum")
    y = te.compute(x.shape, lambda *i: ex[i] / total[r.stat(i)], name="T_softmax")
    return te.create_prim_func([x, y], name="softmax")


@register_legalization("nn.log_softmax")
def _log_softmax(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    x = Kernel().input(args[0], "X")
    r, mx, total = _softmax_stats(x, call.attrs.get("axis", -1) % x.ndim)
    lse = te.compute(r.out_shape, lambda *i: mx[i] + te.log(total[i]), name="logsumexp")
    y = te.compute(x.shape, lambda *i: x[i] - lse[r.stat(i)], name="T_log_softmax")
    return te.create_prim_func([x, y], name="log_softmax")


# ---------------------------------------------------------------- normalizations


def _moments(r: Reduction, name: str = "") -> tuple[te.Tensor, te.Tensor]:
    """The mean and the sum of squared deviations from it over ``r``'s axes, in two passes
    over ``x`` (``E[x²] - E[x]²`` in one pass would cancel)."""
    x = r.x
    mean = r.mean(lambda i: x[i], name + "mean")

    def sq(i: tuple) -> PrimExpr:
        d = x[i] - mean[r.stat(i)]
        return d * d

    return mean, r.compute(sq, te.sum, name + "sq_sum")


def _affine(call: G.Call, value: PrimExpr, gamma: PrimExpr | None,
            beta: PrimExpr | None) -> PrimExpr:
    """``value * gamma + beta``, leaving out what ``scale=False``/``center=False`` turn off
    (and a None operand)."""
    if gamma is not None and call.attrs.get("scale", True):
        value = value * gamma
    if beta is not None and call.attrs.get("center", True):
        value = value + beta
    return value


def _rstd(r: Reduction, sq_sum: te.Tensor, epsilon: float) -> te.Tensor:
    """``1 / sqrt(sq_sum / n + epsilon)``, once per statistic rather than once per element."""
    eps, n = te.const(epsilon, sq_sum.dtype), r.n(sq_sum.dtype)
    return te.compute(r.out_shape, lambda *i: te.rsqrt(sq_sum[i] / n + eps), name="rstd")


@register_legalization("nn.layer_norm")
def _layer_norm(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    k = Kernel()
    x, gamma, beta = (k.input(a, n) for a, n in zip(args, ("X", "gamma", "beta")))
    axes = sorted(a % x.ndim for a in call.attrs["axes"])
    order = [a % x.ndim for a in call.attrs["axes"]]  # gamma's axes, in the order given
    r = Reduction(x, axes)
    mean, var = _moments(r)
    rstd = _rstd(r, var, call.attrs["epsilon"])

    def value(*i: Var) -> PrimExpr:
        p = tuple(i[a] for a in order)
        return _affine(call, (x[i] - mean[r.stat(i)]) * rstd[r.stat(i)], gamma[p], beta[p])

    y = te.compute(x.shape, value, name="T_layer_norm")
    return te.create_prim_func([x, gamma, beta, y], name="layer_norm")


@register_legalization("nn.rms_norm")
def _rms_norm(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    k = Kernel()
    x, w = k.input(args[0], "X"), k.input(args[1], "weight")
    order = [a % x.ndim for a in call.attrs["axes"]]
    r = Reduction(x, sorted(order))
    squares = r.compute(lambda i: x[i] * x[i], te.sum, "sq_sum")
    rstd = _rstd(r, squares, call.attrs["epsilon"])
    y = te.compute(x.shape, lambda *i: x[i] * rstd[r.stat(i)] * w[tuple(i[a] for a in order)],
                   name="T_rms_norm")
    return te.create_prim_func([x, w, y], name="rms_norm")


@register_legalization("nn.batch_norm")
def _batch_norm(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    k = Kernel()
    names = ("X", "gamma", "beta", "moving_mean", "moving_var")
    x, gamma, beta, mmean, mvar = (k.input(a, n) for a, n in zip(args, names))
    axis = call.attrs["axis"] % x.ndim
    # per channel: the multiplier gamma / sqrt(var + epsilon), so that each element costs one
    # subtraction, multiplication and addition
    if call.attrs["training"]:  # the batch's statistics
        r = Reduction(x, [d for d in range(x.ndim) if d != axis])
        mean, sq_sum = _moments(r, "batch_")
        rstd = _rstd(r, sq_sum, call.attrs["epsilon"])
        scale = te.compute(mean.shape, lambda c: _affine(call, rstd[c], gamma[c], None),
                           name="scale")
    else:
        eps = te.const(call.attrs["epsilon"], x.dtype)
        mean = mmean
        scale = te.compute(mean.shape, lambda c: _affine(
            call, te.rsqrt(mvar[c] + eps), gamma[c], None), name="scale")
    y = te.compute(x.shape, lambda *i: _affine(call, (x[i] - mean[i[axis]]) * scale[i[axis]],
                                               None, beta[i[axis]]), name="T_batch_norm")
    if not call.attrs["training"]:  # the moving statistics, as they are
        out_mean = te.compute(mean.shape, lambda c: mmean[c], name="T_mean")
        out_var = te.compute(mean.shape, lambda c: mvar[c], name="T_var")
    else:  # the moving statistics, updated with the batch's
        m = call.attrs["momentum"]
        keep, take, n = te.const(1 - m, x.dtype), te.const(m, x.dtype), r.n(x.dtype)
        out_mean = te.compute(mean.shape, lambda c: keep * mmean[c] + take * mean[c],
                              name="T_mean")
        out_var = te.compute(mean.shape, lambda c: keep * mvar[c] + take * (sq_sum[c] / n),
                             name="T_var")
    return te.create_prim_func([x, gamma, beta, mmean, mvar, y, out_mean, out_var],
                               name="batch_norm")


@register_legalization("nn.group_norm")
def _group_norm(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    k = Kernel()
    x, gamma, beta = (k.input(a, n) for a, n in zip(args, ("X", "gamma", "beta")))
    ch = call.attrs["channel_axis"] % x.ndim
    groups = call.attrs["num_groups"]
    axes = sorted(a % x.ndim for a in call.attrs["axes"])
    per_group = _fold(x.shape[ch] // groups)
    # the data seen as (..., groups, channels per group, ...): statistics over the group's
    # channels and the axes
    grouped = _Grouped(x, ch, groups, per_group)
    r = Reduction(grouped.view, [d + (d > ch) for d in axes] + [ch + 1])
    mean, var = _moments(r)
    rstd = _rstd(r, var, call.attrs["epsilon"])

    def value(*i: Var) -> PrimExpr:
        s = r.stat(grouped.split(i))
        return _affine(call, (x[i] - mean[s]) * rstd[s], gamma[i[ch]], beta[i[ch]])

    y = te.compute(x.shape, value, name="T_group_norm")
    return te.create_prim_func([x, gamma, beta, y], name="group_norm")


class _Grouped:
    """``x`` with its channel axis split in (group, channel in group), as a te view."""

    def __init__(self, x: te.Tensor, ch: int, groups: int, per_group: PrimExpr) -> None:
        self.ch, self.per_group = ch, per_group
        shape = [*x.shape[:ch], groups, per_group, *x.shape[ch + 1:]]
        self.view = _View(x, shape, self.merge)

    def merge(self, i: Sequence[Any]) -> tuple:
        ch = self.ch
        return (*i[:ch], i[ch] * self.per_group + i[ch + 1], *i[ch + 2:])

    def split(self, i: Sequence[Any]) -> tuple:
        ch = self.ch
        return (*i[:ch], i[ch] // self.per_group, i[ch] % self.per_group, *i[ch + 1:])


class _View:
    """Reads of a tensor through an index map (no copy): what ``Reduction`` needs of ``x``."""

    def __init__(self, x: te.Tensor, shape: Sequence[Any], to_x: Callable[[tuple], tuple]):
        self.x, self.shape, self.to_x = x, tuple(shape), to_x
        self.dtype = x.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: tuple) -> PrimExpr:
        return self.x[self.to_x(tuple(index))]


def _fold(e: PrimExpr) -> PrimExpr:
    from tvmscript.arith import Analyzer

    return Analyzer().simplify(e)
