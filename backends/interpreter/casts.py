"""``Cast`` with C semantics: float → int truncates toward zero, int → int wraps around.

One small table keyed by (source kind, destination kind) so each conversion rule reads alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tvmscript.ir import expr as E
from tvmscript.ir.dtype import DataType

from .context import Code
from .values import int_range, value_np_dtype

if TYPE_CHECKING:  # pragma: no cover
    from .translate_expr import ExprTranslator


def _kind(dt: DataType) -> str:
    if dt.is_bool:
        return "bool"
    if dt.is_integer:
        return "int"
    if dt.is_float:
        return "float"
    return dt.kind


def _to_bool(tr: ExprTranslator, v: Code, src: DataType, dst: DataType) -> Code:
    return Code(f"({v.text} != 0)", (0, 1))


def _int_to_int(tr: ExprTranslator, v: Code, src: DataType, dst: DataType) -> Code:
    text = f"int({v.text})" if src.is_bool else v.text
    return tr.fit(text, v.bounds, dst)


def _float_to_int(tr: ExprTranslator, v: Code, src: DataType, dst: DataType) -> Code:
    lo, _ = int_range(dst)
    return Code(f"_f2i({v.text}, {lo}, {dst.bits})", int_range(dst))


def _to_float(tr: ExprTranslator, v: Code, src: DataType, dst: DataType) -> Code:
    if dst.kind == "bfloat":
        inner = v.text if src.kind == "bfloat" or src.bits == 32 and src.is_float else \
            f"_float32({v.text})"
        return Code(f"_bf({inner})")
    return Code(f"_{value_np_dtype(dst).name}({v.text})")


_SCALAR: dict[tuple[str, str], Callable[..., Code]] = {
    ("int", "bool"): _to_bool, ("float", "bool"): _to_bool, ("bool", "bool"): _to_bool,
    ("int", "int"): _int_to_int, ("bool", "int"): _int_to_int,
    ("float", "int"): _float_to_int,
    ("int", "float"): _to_float, ("bool", "float"): _to_float, ("float", "float"): _to_float,
}


def _vector(tr: ExprTranslator, v: Code, src: DataType, dst: DataType) -> Code:
    npdt = value_np_dtype(dst)
    dtname = tr.ctx.dtype_const(npdt)
    if dst.is_bool:
        return Code(f"({v.text} != 0)", (0, 1))
    if dst.is_integer and src.is_float:
        return Code(f"_vf2i({v.text}, {dtname})", int_range(dst))
    if dst.kind == "bfloat":
        return Code(f"_bf(_np.asarray({v.text}, _float32))")
    bounds = None
    if dst.is_integer:
        from .translate_expr import clamp

        bounds = clamp(v.bounds, dst)
    return Code(f"_np.asarray({v.text}).astype({dtname})", bounds)


def translate_cast(tr: ExprTranslator, op: E.Cast, value: Code) -> Code:
    src, dst = op.value.dtype, op.dtype
    if src == dst:
        return value
    if dst.lanes > 1:
        return _vector(tr, value, src, dst)
    rule = _SCALAR.get((_kind(src), _kind(dst)))
    if rule is None:
        raise NotImplementedError(f"the interpreter cannot cast {src} to {dst}")
    return rule(tr, value, src, dst)
