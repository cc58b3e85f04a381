"""ONNX converters for element-wise operators, casts and activations (and the dtype helpers
the other converter modules share)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir import graph as G
from ..ir.graph_ops import get_op
from .onnx_registry import Node, Value, converter
from .onnx_shapes import _axis, _prod

if TYPE_CHECKING:
    from .onnx_importer import _Importer


@converter("Identity")
def _identity(cx: _Importer, node: Node) -> Value:
    return node.input(0)


@converter("Dropout")
def _dropout(cx: _Importer, node: Node) -> Value:
    training = node.input(2)
    if training is not None and (not isinstance(training, np.ndarray) or bool(training)):
        raise node.unsupported("Dropout in training mode is not supported (inference only)")
    if node.wants(1):
        raise node.unsupported("the mask output of Dropout is not supported")
    return node.input(0)


# ---------------------------------------------------------------- element-wise

_BINARY = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide", "Pow": "power",
           "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
           "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or",
           "Xor": "logical_xor"}
_UNARY = {"Relu": "nn.relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Sqrt": "sqrt", "Exp": "exp",
          "Log": "log", "Neg": "negative", "Abs": "abs", "Floor": "floor", "Ceil": "ceil",
          "Round": "round", "Sin": "sin", "Cos": "cos", "Erf": "erf", "Not": "logical_not"}


@converter(*_BINARY)
def _binary(cx: _Importer, node: Node) -> Value:
    a, b = node.input(0), node.input(1)
    if node.op_type == "Pow":
        b = _cast(cx, b, cx.sinfo(a).dtype)
    if node.op_type == "Div" and cx.sinfo(a).dtype.is_integer:
        return _trunc_divide(cx, a, b)
    return cx.call(_BINARY[node.op_type], a, b)


def _trunc_divide(cx: _Importer, a: Value, b: Value) -> Value:
    """ONNX divides integers rounding toward zero: sign(a) * sign(b) * (|a| // |b|)."""
    q = cx.call("floor_divide", cx.call("abs", a), cx.call("abs", b))
    return cx.call("multiply", cx.call("multiply", cx.call("sign", a), cx.call("sign", b)), q)


@converter(*_UNARY)
def _unary(cx: _Importer, node: Node) -> Value:
    return cx.call(_UNARY[node.op_type], node.input(0))


@converter("Reciprocal")
def _reciprocal(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    return cx.call("divide", np.array(1, dtype=_np_dtype(cx.sinfo(x).dtype)), x)


@converter("Max", "Min", "Sum", "Mean")
def _variadic(cx: _Importer, node: Node) -> Value:
    op = {"Max": "maximum", "Min": "minimum", "Sum": "add", "Mean": "add"}[node.op_type]
    out = node.input(0)
    for other in node.inputs[1:]:
        out = cx.call(op, out, other)
    if node.op_type == "Mean" and len(node.inputs) > 1:
        n = np.array(len(node.inputs), dtype=_np_dtype(cx.sinfo(out).dtype))
        out = cx.call("divide", out, n)
    return out


@converter("Where")
def _where(cx: _Importer, node: Node) -> Value:
    return cx.call("where", node.input(0), node.input(1), node.input(2))


@converter("Cast", "CastLike")
def _cast_node(cx: _Importer, node: Node) -> Value:
    return _cast(cx, node.input(0), _target_dtype(cx, node))


def _target_dtype(cx: _Importer, node: Node) -> str:
    if node.op_type == "CastLike":
        return str(cx.sinfo(node.input(1)).dtype)
    from onnx import helper

    to = node.attr("to")
    if to in (8, 0):  # STRING, UNDEFINED
        raise node.unsupported(f"Cast to ONNX type {to} is not supported")
    return helper.tensor_dtype_to_np_dtype(to).name


def _cast(cx: _Importer, x: Value, dtype: Any) -> Value:
    dtype = str(dtype)
    if isinstance(x, np.ndarray) and x.dtype != object:
        return x.astype(_np_dtype(dtype))
    if str(cx.sinfo(x).dtype) == dtype:
        return x
    return cx.call("astype", x, dtype)


def _np_dtype(dtype: Any) -> np.dtype:
    from ..ir.dtype import dtype as as_dtype

    return np.dtype(as_dtype(str(dtype)).numpy_name())


@converter("Clip")
def _clip(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    if node.opset < 11:
        lo, hi = node.attr("min"), node.attr("max")
    else:
        lo, hi = node.input(1), node.input(2)
    dt = _np_dtype(cx.sinfo(x).dtype)
    static = [v is None or isinstance(v, (float, int)) or
              (isinstance(v, np.ndarray) and v.dtype != object) for v in (lo, hi)]
    if all(static) and lo is not None and hi is not None:
        lo, hi = np.asarray(lo).item(), np.asarray(hi).item()
        return cx.call("clip", x, _number(lo, dt), _number(hi, dt))
    if lo is not None:
        x = cx.call("maximum", x, _as_array(lo, dt))
    if hi is not None:
        x = cx.call("minimum", x, _as_array(hi, dt))
    return x


def _number(value: Any, dt: np.dtype) -> Any:
    return float(value) if np.issubdtype(dt, np.floating) else int(value)


def _as_array(value: Any, dt: np.dtype) -> Value:
    return np.asarray(value, dtype=dt) if not isinstance(value, G.GraphExpr) else value


# ---------------------------------------------------------------- activations


@converter("LeakyRelu")
def _leaky_relu(cx: _Importer, node: Node) -> Value:
    alpha = float(node.attr("alpha", 0.01))
    op = "nn.leakyrelu" if get_op("nn.leakyrelu") is not None else "nn.leaky_relu"
    return cx.call(op, node.input(0), alpha=alpha)


@converter("HardSigmoid")
def _hard_sigmoid(cx: _Importer, node: Node) -> Value:
    return _hardsig(cx, node.input(0), float(node.attr("alpha", 0.2)),
                    float(node.attr("beta", 0.5)))


def _hardsig(cx: _Importer, x: Value, alpha: float, beta: float) -> Value:
    if get_op("nn.hard_sigmoid") is not None:
        return cx.call("nn.hard_sigmoid", x, alpha=alpha, beta=beta)
    dt = _np_dtype(cx.sinfo(x).dtype)
    y = cx.call("add", cx.call("multiply", x, np.array(alpha, dt)), np.array(beta, dt))
    return cx.call("clip", y, 0.0, 1.0)


@converter("HardSwish")
def _hard_swish(cx: _Importer, node: Node) -> Value:
    x = node.input(0)
    if get_op("nn.hard_swish") is not None:
        return cx.call("nn.hard_swish", x)
    return cx.call("multiply", x, _hardsig(cx, x, 1.0 / 6.0, 0.5))


@converter("Gelu")
def _gelu(cx: _Importer, node: Node) -> Value:
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise node.error(f"approximate={approximate!r} is not one of 'none', 'tanh'")
    return cx.call("nn.gelu" if approximate == "none" else "nn.gelu_tanh", node.input(0))


@converter("PRelu")
def _prelu(cx: _Importer, node: Node) -> Value:
    x, slope = node.input(0), node.input(1)
    dt = _np_dtype(cx.sinfo(x).dtype)
    negative = cx.call("less", x, np.array(0, dt))
    return cx.call("where", negative, cx.call("multiply", x, slope), x)


@converter("Softmax", "LogSoftmax")
def _softmax(cx: _Importer, node: Node) -> Value:
    op = "nn.softmax" if node.op_type == "Softmax" else "nn.log_softmax"
    x = node.input(0)
    ndim = len(cx.dims(x))
    if node.opset >= 13:
        return cx.call(op, x, axis=_axis(node, node.attr("axis", -1), ndim))
    axis = _axis(node, node.attr("axis", 1), ndim)  # before 13: the input as a 2-D matrix
    if axis == ndim - 1:
        return cx.call(op, x, axis=axis)
    dims = cx.dims(x)
    flat = cx.call("reshape", x, (_prod(dims[:axis]), _prod(dims[axis:])))
    return cx.call("reshape", cx.call(op, flat, axis=1), tuple(dims))
