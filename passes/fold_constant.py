"""``fold-constant``: a graph-level operator call whose arguments are all constants becomes the
constant it computes (TVM's relax ``FoldConstant``).

Before::

    lv = R.permute_dims(R.const([[1, 2], [3, 4]], "float32"))
    gv = R.matmul(x, lv)

After::

    lv = R.const([[1, 3], [2, 4]], "float32")
    gv = R.matmul(x, lv)

Passes may not import backends, so values are computed with numpy, and only for operators where
numpy gives exactly what the kernels compute (data movement, element-wise arithmetic that IEEE
rounds once, comparisons, casts that are defined); any other operator (``exp``, ``matmul``, ...)
is left as it is. An argument is constant when it is an ``R.const``, a tuple of them, a static
shape or scalar, or a variable bound to a constant (so folding walks chains of bindings); a
folded binding keeps its variable (``dead-code-elimination`` removes it when nothing uses it).
A call that makes something from nothing (no constant tensor argument) or that would blow a small
constant up into a large one (``broadcast_to`` of a bias to a whole activation) is not folded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir.expr import FloatImm, IntImm
from tvmscript.ir.functor import Mutator
from tvmscript.ir.graph_ops import get_op

from .infra import PassContext, module_pass

# a fold may give a constant larger than its constant inputs together only up to this many
# elements (weights are folded; activations-sized broadcasts are not)
MAX_GROWTH_ELEMENTS = 1024


class _NoFold(Exception):
    """This call's value is not computed here (a case numpy does not do as the kernels do)."""


Evaluator = Callable[[G.Call, list, G.TensorStructInfo], np.ndarray]


def _out_shape(out: G.TensorStructInfo) -> tuple[int, ...]:
    return tuple(s.value for s in out.shape)


def _int_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not np.all(b):
        raise _NoFold("integer division by zero")
    return np.floor_divide(a, b)


def _divide(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    a, b = v
    return np.true_divide(a, b) if a.dtype.kind == "f" else _int_divide(a, b)


def _astype(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    (x,), target = v, np.dtype(out.dtype.numpy_name())
    if x.dtype.kind == "f" and target.kind in "iu":  # defined only for values that fit
        info = np.iinfo(target)
        if not (np.all(np.isfinite(x)) and np.all(x > info.min - 1) and np.all(x < info.max + 1)):
            raise _NoFold("a float outside the integer range")
    return x.astype(target)


def _reshaped(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    return v[0].reshape(_out_shape(out))


def _permute(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    axes = call.attrs.get("axes")
    return np.transpose(v[0], None if axes is None else tuple(axes))


def _broadcast_to(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    return np.broadcast_to(v[0], _out_shape(out))


def _concat(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    parts = v[0] if len(v) == 1 and isinstance(v[0], list) else v
    axis = call.attrs.get("axis", 0)
    if axis is None:
        return np.concatenate([p.reshape(-1) for p in parts])
    return np.concatenate(parts, axis=axis)


def _scalar_arg(call: G.Call, v: list, index: int, name: str) -> Any:
    """An operand TVM passes as an argument (``R.clip(x, R.prim_value(0), ...)``) or that the
    registry keeps as an attribute."""
    value = v[index] if len(v) > index else call.attrs.get(name)
    value = getattr(value, "value", value)  # an IntImm or FloatImm attribute
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _NoFold(f"{name} is not a number")
    return value


def _clip(call: G.Call, v: list, out: G.TensorStructInfo) -> np.ndarray:
    x = v[0]
    lo = np.asarray(_scalar_arg(call, v, 1, "min"), x.dtype)
    hi = np.asarray(_scalar_arg(call, v, 2, "max"), x.dtype)
    return np.minimum(np.maximum(x, lo), hi)


def _elementwise(fn: Callable[..., np.ndarray]) -> Evaluator:
    return lambda call, v, out: fn(*v)


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return np.reciprocal(np.sqrt(x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.zeros((), x.dtype))


# relax operator name -> fn(call, argument values, output struct info): only what numpy computes
# exactly as the kernels do (one IEEE rounding, or no arithmetic at all)
EVALUATORS: dict[str, Evaluator] = {
    "relax.add": _elementwise(np.add),
    "relax.subtract": _elementwise(np.subtract),
    "relax.multiply": _elementwise(np.multiply),
    "relax.divide": _divide,
    "relax.maximum": _elementwise(np.maximum),
    "relax.minimum": _elementwise(np.minimum),
    "relax.negative": _elementwise(np.negative),
    "relax.abs": _elementwise(np.abs),
    "relax.sqrt": _elementwise(np.sqrt),
    "relax.rsqrt": _elementwise(_rsqrt),
    "relax.square": _elementwise(lambda x: x * x),
    "relax.floor": _elementwise(np.floor),
    "relax.ceil": _elementwise(np.ceil),
    "relax.nn.relu": _elementwise(_relu),
    "relax.equal": _elementwise(np.equal),
    "relax.not_equal": _elementwise(np.not_equal),
    "relax.less": _elementwise(np.less),
    "relax.less_equal": _elementwise(np.less_equal),
    "relax.greater": _elementwise(np.greater),
    "relax.greater_equal": _elementwise(np.greater_equal),
    "relax.logical_not": _elementwise(np.logical_not),
    "relax.logical_and": _elementwise(np.logical_and),
    "relax.logical_or": _elementwise(np.logical_or),
    "relax.where": _elementwise(np.where),
    "relax.clip": _clip,
    "relax.astype": _astype,
    "relax.permute_dims": _permute,
    "relax.reshape": _reshaped,
    "relax.expand_dims": _reshaped,
    "relax.squeeze": _reshaped,
    "relax.flatten": _reshaped,
    "relax.broadcast_to": _broadcast_to,
    "relax.concat": _concat,
}

# numpy dtypes whose arithmetic is the kernels' (not bfloat16, which numpy stores as uint16)
_NUMPY_KINDS = "biuf"


@module_pass("fold-constant", opt_level=1)
def fold_constant(mod: IRModule, ctx: PassContext) -> IRModule:
    """Replace graph-level operator calls of constants by their values."""
    changed = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function):
            new = _Folder().visit(func)
            if new is not func:
                changed[name] = new
    return mod.with_(functions={**mod.functions, **changed}) if changed else mod


def fold_call(call: G.Call, bound: dict[G.GraphVar, G.Constant] | None = None
              ) -> G.Constant | None:
    """The constant ``call`` computes, or None when it is not folded (see the module docstring);
    ``bound`` gives the constants that variables are bound to."""
    if not isinstance(call.op, G.Op) or call.op.name not in EVALUATORS \
            or get_op(call.op.name) is None:
        return None
    values = [constant_value(a, bound or {}) for a in call.args]
    if any(v is None for v in values) or not _has_tensor(values):
        return None
    out = call.struct_info
    if not _static_tensor(out) or not all(_numpy_dtypes(a.struct_info) for a in call.args):
        return None
    try:
        with np.errstate(all="ignore"):
            result = np.asarray(EVALUATORS[call.op.name](call, values, out))
    except (_NoFold, ValueError, TypeError, IndexError):
        return None
    if result.shape != _out_shape(out) or result.dtype != np.dtype(out.dtype.numpy_name()) \
            or _grows(result, values):
        return None
    return G.Constant(np.ascontiguousarray(result))


def constant_value(expr: G.GraphExpr, bound: dict[G.GraphVar, G.Constant]) -> Any:
    """The value of a constant argument (an array, a list for a tuple, a number, a shape or a
    string), or None when ``expr`` is not constant."""
    if isinstance(expr, G.GraphVar):
        expr = bound.get(expr)
        if expr is None:
            return None
    if isinstance(expr, G.Constant):
        return expr.data if expr.data.dtype.kind in _NUMPY_KINDS else None
    if isinstance(expr, G.Tuple):
        fields = [constant_value(f, bound) for f in expr.fields]
        return None if any(f is None for f in fields) else fields
    if isinstance(expr, G.PrimValue) and isinstance(expr.value, (IntImm, FloatImm)):
        return expr.value.value
    if isinstance(expr, G.ShapeExpr) and all(isinstance(v, IntImm) for v in expr.values):
        return tuple(v.value for v in expr.values)
    if isinstance(expr, G.StringImm):
        return expr.value
    return None


def _static_tensor(sinfo: G.StructInfo) -> bool:
    return isinstance(sinfo, G.TensorStructInfo) and sinfo.shape is not None \
        and all(isinstance(s, IntImm) for s in sinfo.shape) and _numpy_dtypes(sinfo)


def _numpy_dtypes(sinfo: G.StructInfo) -> bool:
    """Whether the tensors of ``sinfo`` hold numbers numpy computes with as the kernels do
    (bfloat16 is stored as uint16: its arithmetic is not numpy's)."""
    if isinstance(sinfo, G.TupleStructInfo):
        return all(_numpy_dtypes(f) for f in sinfo.fields)
    if not isinstance(sinfo, G.TensorStructInfo):
        return True
    dt = sinfo.dtype
    return not dt.is_void and dt.lanes == 1 and str(dt) != "bfloat16" \
        and np.dtype(dt.numpy_name()).kind in _NUMPY_KINDS


def _tensors(values: list) -> list[np.ndarray]:
    out = []
    for v in values:
        if isinstance(v, np.ndarray):
            out.append(v)
        elif isinstance(v, list):
            out.extend(_tensors(v))
    return out


def _has_tensor(values: list) -> bool:
    return bool(_tensors(values))


def _grows(result: np.ndarray, values: list) -> bool:
    inputs = sum(t.size for t in _tensors(values))
    return result.size > inputs and result.size > MAX_GROWTH_ELEMENTS


class _Folder(Mutator):
    """Folds calls bottom-up; ``bound`` holds the variables already bound to constants."""

    def __init__(self) -> None:
        self.bound: dict[G.GraphVar, G.Constant] = {}

    def visit_VarBinding(self, binding: G.VarBinding) -> G.VarBinding:
        new = self.generic_visit(binding)
        if isinstance(new.value, G.Constant):
            self.bound[new.var] = new.value
        return new

    def visit_Call(self, call: G.Call) -> G.GraphExpr:
        call = self.generic_visit(call)
        folded = fold_call(call, self.bound)
        return call if folded is None else folded


__all__ = ["EVALUATORS", "MAX_GROWTH_ELEMENTS", "constant_value", "fold_call", "fold_constant"]
