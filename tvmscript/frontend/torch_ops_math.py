"""Converters of element-wise operators (unary, binary, comparisons, logic) and reductions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..ir import graph as G
from ..ir.dtype import dtype as as_dtype
from ..ir.expr import PrimExpr
from .torch_importer import _Importer
from .torch_registry import _converts
from .torch_values import _axis, _dtype, _first, _torch_dtype

# ---------------------------------------------------------------- element-wise


def _unary(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        if a.get("decimals"):
            raise im.error(f"decimals={a['decimals']} is not supported (only 0)")
        x = im.tensor(_first(a))
        out = im.out_dtype()
        if as_dtype(out).is_float and im.dtype(x) != out:
            x = im.cast(x, out)  # sqrt of an int tensor is a float tensor, as in torch
        return im.call(op, [x])

    return convert


for _aten, _op in {
    "relu": "nn.relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log",
    "sqrt": "sqrt", "abs": "abs", "neg": "negative", "silu": "nn.silu", "erf": "erf",
    "sin": "sin", "cos": "cos", "floor": "floor", "ceil": "ceil", "round": "round",
    "sign": "sign", "square": "square", "tan": "tan",
    "log2": "log2", "log10": "log10", "exp2": "exp2", "trunc": "trunc", "rsqrt": "rsqrt",
    "relu6": "nn.relu6", "hardswish": "nn.hard_swish",
}.items():
    _converts(_aten, _aten + "_", needs=(_op,))(_unary(_op))


@_converts("elu")
def _elu(im: _Importer, a: dict) -> Any:
    """scale · (x if x > 0 else alpha · (exp(input_scale · x) - 1))."""
    x = a["self"]
    dtype = im.dtype(x)
    alpha, scale, input_scale = (float(a[k]) for k in ("alpha", "scale", "input_scale"))
    scaled = x if input_scale == 1 else im.call("multiply", [x, im.tensor(input_scale, dtype)])
    negative = im.call("multiply", [im.call("subtract", [im.call("exp", [scaled]),
                                                         im.tensor(1.0, dtype)]),
                                    im.tensor(alpha, dtype)])
    positive = im.call("greater", [x, im.tensor(0.0, dtype)])
    out = im.call("where", [positive, x, negative])
    return out if scale == 1 else im.call("multiply", [out, im.tensor(scale, dtype)])


@_converts("reciprocal")
def _reciprocal(im: _Importer, a: dict) -> Any:
    x = im.cast(im.tensor(a["self"]), im.out_dtype())
    return im.call("divide", [im.tensor(1.0, im.out_dtype()), x])


@_converts("gelu")
def _gelu(im: _Importer, a: dict) -> Any:
    approximate = a.get("approximate") or "none"
    if approximate not in ("none", "tanh"):
        raise im.error(f"approximate={approximate!r} is not one of 'none', 'tanh'")
    return im.call("nn.gelu" if approximate == "none" else "nn.gelu_tanh", [a["self"]])


def _clip(im: _Importer, x: Any, lo: Any, hi: Any) -> Any:
    """``min(max(x, lo), hi)``; a bound that is None (or a tensor) takes maximum/minimum."""
    dtype = im.dtype(x)
    if lo is not None and hi is not None and not isinstance(lo, G.GraphExpr) and \
            not isinstance(hi, G.GraphExpr):
        number = float if as_dtype(dtype).is_float else int
        return im.call("clip", [x], min=number(lo), max=number(hi))
    if lo is not None:
        x = im.call("maximum", [x, im.cast(im.tensor(lo, dtype), dtype)])
    if hi is not None:
        x = im.call("minimum", [x, im.cast(im.tensor(hi, dtype), dtype)])
    return x


@_converts("clamp", "clamp_min", "clamp_max", "hardtanh", "hardtanh_", "clip",
           needs=("clip", "maximum", "minimum"))
def _clamp(im: _Importer, a: dict) -> Any:
    x = im.tensor(a["self"])
    if "min_val" in a:
        return _clip(im, x, a["min_val"], a["max_val"])
    return _clip(im, x, a.get("min"), a.get("max"))


@_converts("hardsigmoid", "hardsigmoid_", needs=("nn.hard_sigmoid",))
def _hardsigmoid(im: _Importer, a: dict) -> Any:
    return im.call("nn.hard_sigmoid", [a["self"]], alpha=1.0 / 6.0, beta=0.5)


@_converts("leaky_relu", "leaky_relu_", needs=("nn.leakyrelu",))
def _leaky_relu(im: _Importer, a: dict) -> Any:
    return im.call("nn.leakyrelu", [a["self"]], alpha=float(a["negative_slope"]))


@_converts("softplus", needs=("nn.softplus",))
def _softplus(im: _Importer, a: dict) -> Any:
    return im.call("nn.softplus", [a["self"]], beta=float(a["beta"]),
                   threshold=float(a["threshold"]))


@_converts("softmax", "_softmax", needs=("nn.softmax",))
@_converts("log_softmax", "_log_softmax", needs=("nn.log_softmax",))
def _softmax(im: _Importer, a: dict) -> Any:
    x = im.cast(im.tensor(a["self"]), im.out_dtype())
    op = "nn.log_softmax" if "log" in im.node.target._opname else "nn.softmax"
    return im.call(op, [x], axis=a["dim"])


def _promoted(im: _Importer, x: Any, y: Any) -> str:
    """torch's computation dtype for an element-wise operator of ``x`` and ``y``."""
    import torch

    def probe(v: Any) -> Any:
        if isinstance(v, G.GraphExpr):
            shape = (1,) * im.ndim(v)
            return torch.zeros(shape, dtype=_torch_dtype(im.dtype(v)))
        return v

    return _dtype(torch.result_type(probe(x), probe(y)))


def _operands(im: _Importer, x: Any, y: Any, dtype: str) -> list:
    for v in (x, y):
        if isinstance(v, PrimExpr):
            raise im.error(f"the symbolic size {v} as an operand is not supported")
    return [im.cast(im.tensor(v, dtype), dtype) for v in (x, y)]


def _binary(op: str, compare: bool = False, swap: bool = False) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x, y = list(a.values())[:2]
        if swap:
            x, y = y, x
        alpha = a.get("alpha", 1)
        if alpha is not None and alpha != 1:
            y = y * alpha if not isinstance(y, G.GraphExpr) else \
                im.call("multiply", [y, im.tensor(alpha, im.dtype(y))])
        dtype = _promoted(im, x, y) if compare else im.out_dtype()
        return im.call(op, _operands(im, x, y, dtype))

    return convert


for _aten, _op in {"add": "add", "sub": "subtract", "mul": "multiply", "maximum": "maximum",
                   "minimum": "minimum", "floor_divide": "floor_divide",
                   "remainder": "floor_mod", "fmod": "mod", "atan2": "atan2"}.items():
    _converts(_aten, _aten + "_", needs=(_op,))(_binary(_op))
for _aten, _op in {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                   "gt": "greater", "ge": "greater_equal"}.items():
    _converts(_aten, needs=(_op,))(_binary(_op, compare=True))


def _logical(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        return im.call(op, [_bool(im, im.tensor(v)) for v in list(a.values())[:2]])

    return convert


for _name in ("logical_and", "logical_or", "logical_xor"):
    _converts(_name, needs=(_name,))(_logical(_name))


@_converts("logical_not", needs=("logical_not",))
def _logical_not(im: _Importer, a: dict) -> Any:
    return im.call("logical_not", [_bool(im, im.tensor(a["self"]))])
_converts("rsub")(_binary("subtract", swap=True))


@_converts("div", "div_")
def _div(im: _Importer, a: dict) -> Any:
    mode = a.get("rounding_mode")
    if mode is None:
        return _binary("divide")(im, a)
    if mode == "floor":
        return _binary("floor_divide")(im, a)
    if mode == "trunc":
        quotient = _binary("divide")(im, {"self": a["self"], "other": a["other"]}) \
            if as_dtype(im.out_dtype()).is_float else None
        if quotient is None:
            raise im.error("integer division with rounding_mode='trunc' is not supported")
        return im.call("trunc", [quotient])
    raise im.error(f"rounding_mode={mode!r} is not one of None, 'floor', 'trunc'")


@_converts("pow")
def _pow(im: _Importer, a: dict) -> Any:
    base, exponent = a["self"], a["exponent"]
    if exponent == 0.5 and isinstance(base, G.GraphExpr):
        return _unary("sqrt")(im, {"self": base})
    if exponent in (1, 1.0):
        return im.cast(base, im.out_dtype())
    dtype = im.out_dtype()
    return im.call("power", _operands(im, base, exponent, dtype))


@_converts("where")
def _where(im: _Importer, a: dict) -> Any:
    if a.get("self") is None:
        raise im.error("where(condition) with one argument (nonzero) is not supported")
    dtype = im.out_dtype()
    x, y = _operands(im, a["self"], a["other"], dtype)
    return im.call("where", [_bool(im, a["condition"]), x, y])


def _bool(im: _Importer, x: Any) -> Any:
    return x if im.dtype(x) == "bool" else \
        im.call("not_equal", [x, im.tensor(0, im.dtype(x))])


@_converts("masked_fill", "masked_fill_")
def _masked_fill(im: _Importer, a: dict) -> Any:
    x = im.tensor(a["self"])
    value = im.cast(im.tensor(a["value"], im.dtype(x)), im.dtype(x))
    return im.call("where", [_bool(im, a["mask"]), value, x])


# ---------------------------------------------------------------- reductions


def _dims(im: _Importer, x: Any, dim: Any) -> list | None:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return [_axis(d, im.ndim(x)) for d in dims]


def _reduce(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x = im.tensor(a["self"])
        out = im.out_dtype()
        if out != im.dtype(x):
            x = im.cast(x, out)  # torch sums bools and ints in int64, means in the float dtype
        dims = _dims(im, x, a.get("dim"))
        if im.ndim(x) == 0:
            return x
        return im.call(op, [x], axis=dims, keepdims=bool(a.get("keepdim", False)))

    return convert


for _aten, _op in {"sum": "sum", "mean": "mean", "amax": "max", "amin": "min",
                   "prod": "prod"}.items():
    _converts(_aten, needs=(_op,))(_reduce(_op))


def _extreme(op: str, arg_op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        overload = im.node.target._overloadname
        if overload == "other":
            return _binary("maximum" if op == "max" else "minimum")(im, a)
        if overload == "default":
            return im.call(op, [a["self"]], axis=None, keepdims=False)
        keep = bool(a.get("keepdim", False))
        dim = _axis(a["dim"], im.ndim(a["self"]))
        values = im.call(op, [a["self"]], axis=[dim], keepdims=keep)
        indices = im.call(arg_op, [a["self"]], axis=dim, keepdims=keep)
        return (values, indices)

    return convert


_converts("max", needs=("max", "argmax", "maximum"))(_extreme("max", "argmax"))
_converts("min", needs=("min", "argmin", "minimum"))(_extreme("min", "argmin"))


def _arg_extreme(op: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        dim = a.get("dim")
        x = a["self"]
        if dim is None and a.get("keepdim"):
            raise im.error("keepdim=True without dim is not supported")
        return im.call(op, [x], axis=None if dim is None else _axis(dim, im.ndim(x)),
                       keepdims=bool(a.get("keepdim", False)))

    return convert


_converts("argmax", needs=("argmax",))(_arg_extreme("argmax"))
_converts("argmin", needs=("argmin",))(_arg_extreme("argmin"))


@_converts("var", "std")
def _var(im: _Importer, a: dict) -> Any:
    x = im.tensor(a["self"])
    dims = _dims(im, x, a.get("dim"))
    correction = a.get("correction")
    if correction is None:
        correction = 1 if a.get("unbiased", True) else 0
    keep = bool(a.get("keepdim", False))
    shape = im.shape(x)
    count = math.prod(shape[d] for d in (dims if dims is not None else range(len(shape))))
    if not isinstance(count, int):
        raise im.error("var/std over symbolic sizes is not supported")
    mean = im.call("mean", [x], axis=dims, keepdims=True)
    diff = im.call("subtract", [x, mean])
    total = im.call("sum", [im.call("multiply", [diff, diff])], axis=dims, keepdims=keep)
    dtype = im.dtype(x)
    var = im.call("divide", [total, im.tensor(float(max(count - correction, 0)), dtype)])
    return im.call("sqrt", [var]) if im.node.target._opname == "std" else var
