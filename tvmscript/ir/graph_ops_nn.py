"""Graph-level nn operators: registration, attributes and shape/dtype inference.

Convolutions (``nn.conv1d``, ``nn.conv2d``, ``nn.conv1d_transpose``, ``nn.conv2d_transpose``),
pools (``nn.max_pool2d``, ``nn.avg_pool2d``, ``nn.adaptive_avg_pool2d`` and
``nn.adaptive_max_pool2d``) and ``image.resize2d``, with Apache TVM 0.27's names, argument order
and attributes, so scripts and importers can rely on TVM's documentation. TVM has no adaptive
max pool in relax; ``nn.adaptive_max_pool2d`` is ours, with ``adaptive_avg_pool2d``'s attributes
(it is what global max pooling is, for any input size).

Layouts are orderings of letters (``"NHWC"``, ``"HWIO"``, ``"OHWI"`` ...): each operator reads its
dimensions by letter, so every ordering works; packed layouts (``"NCHW4c"``) are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dtype import DataType, DTypeError
from .dtype import dtype as as_dtype
from .expr import Cast, FloatImm, IntImm, Min, PrimExpr
from .graph import Call, StructInfo, TensorStructInfo
from .graph_ops import GraphTypeError, _dtype_of, _fmt, _fold, register_op, tensor_arg

SPATIAL = {1: "W", 2: "HW"}


# ---------------------------------------------------------------- attribute helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _repeat(value: Any, count: int) -> Any:
    """TVM's canonical form of a per-dimension attribute: one int stands for all dimensions."""
    if _is_int(value):
        return (value,) * count
    if isinstance(value, (tuple, list)) and len(value) == 1 and count > 1:
        return tuple(value) * count
    return tuple(value) if isinstance(value, list) else value


def _padding(value: Any, nd: int) -> Any:
    """Padding as ``(before..., after...)``: one int pads everything, ``nd`` ints pad both sides
    of each dimension (``(1, 2)`` is top 1, left 2, bottom 1, right 2)."""
    if _is_int(value):
        return (value,) * (2 * nd)
    if isinstance(value, (tuple, list)) and len(value) in (1, nd):
        return tuple(value) * (2 * nd // len(value))
    return tuple(value) if isinstance(value, list) else value


def _ints(op: str, attrs: dict, key: str, count: int, least: int) -> tuple[int, ...]:
    value = attrs.get(key)
    if not isinstance(value, tuple) or len(value) != count or \
            not all(_is_int(v) and v >= least for v in value):
        forms = "1 or 2" if count == 2 else ("1, 2 or 4" if count == 4 else str(count))
        raise GraphTypeError(f"R.{op}: {key} must be an int or a list of {forms} ints, each at "
                             f"least {least}, got {value!r}")
    return value


def _flag(op: str, attrs: dict, key: str) -> bool:
    value = attrs.get(key)
    if not isinstance(value, bool):
        raise GraphTypeError(f"R.{op}: {key} must be True or False, got {value!r}")
    return value


def _choice(op: str, attrs: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = attrs.get(key)
    if value not in allowed:
        raise GraphTypeError(f"R.{op}: {key}={value!r} is not supported; it is one of "
                             f"{', '.join(map(repr, allowed))}")
    return value


def layout(op: str, attrs: dict, key: str, letters: str) -> str:
    """The layout attribute ``key``, which must order exactly ``letters``."""
    value = attrs.get(key)
    if not isinstance(value, str) or sorted(value) != sorted(letters):
        raise GraphTypeError(f"R.{op}: {key}={value!r} is not supported; a layout orders the "
                             f"letters {letters} (such as {letters!r})")
    return value


def result_dtype(op: str, call: Call, dt: DataType) -> DataType:
    """``out_dtype`` when given (the kernel accumulates in it), else the operands' dtype."""
    out = call.attrs.get("out_dtype")
    if out is None or out == "":
        return dt
    try:
        return as_dtype(out)
    except DTypeError as exc:
        raise GraphTypeError(f"R.{op}: out_dtype: {exc}") from None


def _static(e: PrimExpr) -> int | None:
    return e.value if isinstance(e, IntImm) else None


def _by_letter(shape: tuple[PrimExpr, ...], letters: str) -> dict[str, PrimExpr]:
    return dict(zip(letters, shape))


def _check_rank(op: str, what: str, sinfo: TensorStructInfo, letters: str) -> None:
    if len(sinfo.shape) != len(letters):
        raise GraphTypeError(f"R.{op} expects {len(letters)}-D {what} ({letters}), got a "
                             f"tensor of shape {_fmt(sinfo.shape)}")


def _positive(op: str, shape: dict[str, PrimExpr], spatial: str,
              detail: Callable[[], str]) -> None:
    for letter in spatial:
        size = _static(shape[letter])
        if size is not None and size < 1:
            raise GraphTypeError(f"R.{op}: the output would have size {size} in dimension "
                                 f"{letter}; {detail()}")


def _out_shape(shape: dict[str, PrimExpr], out_layout: str) -> tuple[PrimExpr, ...]:
    return tuple(shape[letter] for letter in out_layout)


# ---------------------------------------------------------------- convolutions


def _conv_attrs(nd: int, transpose: bool) -> Callable[[dict], dict]:
    def normalize(attrs: dict) -> dict:
        out = {**attrs, "strides": _repeat(attrs.get("strides"), nd),
               "padding": _padding(attrs.get("padding"), nd),
               "dilation": _repeat(attrs.get("dilation"), nd)}
        if transpose:
            out["output_padding"] = _repeat(attrs.get("output_padding"), nd)
        if attrs.get("out_layout") is None:
            out["out_layout"] = attrs.get("data_layout")
        return out

    return normalize


def _conv_defaults(nd: int, transpose: bool) -> dict[str, Any]:
    sp = SPATIAL[nd]
    attrs: dict[str, Any] = {"strides": (1,) * nd, "padding": (0,) * (2 * nd)}
    if transpose:
        attrs["output_padding"] = (0,) * nd
    attrs.update({"dilation": (1,) * nd, "groups": 1, "data_layout": "NC" + sp,
                  "kernel_layout": ("IO" if transpose else "OI") + sp, "out_layout": None,
                  "out_dtype": None})
    return attrs


def conv_params(op: str, call: Call, nd: int, transpose: bool) -> dict[str, Any]:
    """The checked attributes of a convolution (also what its kernel reads)."""
    a = call.attrs
    sp = SPATIAL[nd]
    groups = a.get("groups")
    if not _is_int(groups) or groups < 1:
        raise GraphTypeError(f"R.{op}: groups must be a positive int, got {groups!r}")
    return {
        "strides": _ints(op, a, "strides", nd, 1),
        "padding": _ints(op, a, "padding", 2 * nd, 0),
        "dilation": _ints(op, a, "dilation", nd, 1),
        "output_padding": _ints(op, a, "output_padding", nd, 0) if transpose else (0,) * nd,
        "groups": groups,
        "data_layout": layout(op, a, "data_layout", "NC" + sp),
        "kernel_layout": layout(op, a, "kernel_layout", "OI" + sp),
        "out_layout": layout(op, a, "out_layout", "NC" + sp),
    }


def _conv_infer(op: str, nd: int, transpose: bool) -> Callable[[Call], StructInfo]:
    sp = SPATIAL[nd]

    def infer(call: Call) -> StructInfo:
        x, w = tensor_arg(call, 0), tensor_arg(call, 1)
        p = conv_params(op, call, nd, transpose)
        dt = result_dtype(op, call, _dtype_of(op, x, w))
        if x.shape is None or w.shape is None:
            return TensorStructInfo(None, dt, nd + 2)
        _check_rank(op, "data", x, p["data_layout"])
        _check_rank(op, "weight", w, p["kernel_layout"])
        xs, ws = _by_letter(x.shape, p["data_layout"]), _by_letter(w.shape, p["kernel_layout"])
        out_channels = _channels(op, xs["C"], ws, p["groups"], transpose)
        shape = {"N": xs["N"], "C": out_channels}
        for i, letter in enumerate(sp):
            size, k = xs[letter], ws[letter]
            lo, hi = p["padding"][i], p["padding"][nd + i]
            s, d = p["strides"][i], p["dilation"][i]
            if transpose:
                extra = p["output_padding"][i]
                if extra >= max(s, d):
                    raise GraphTypeError(f"R.{op}: output_padding {extra} must be smaller than "
                                         f"the stride ({s}) or the dilation ({d})")
                shape[letter] = _fold((size - 1) * s - (lo + hi) + (k - 1) * d + (extra + 1))
            else:
                shape[letter] = _fold((size + (lo + hi) - ((k - 1) * d + 1)) // s + 1)

        def detail() -> str:
            if transpose:
                return "the padding removes more than the transposed convolution produces"
            padded = tuple(_fold(xs[c] + (p["padding"][i] + p["padding"][nd + i]))
                           for i, c in enumerate(sp))
            kernel = tuple(_fold((ws[c] - 1) * p["dilation"][i] + 1) for i, c in enumerate(sp))
            return (f"the (dilated) kernel {_fmt(kernel)} is larger than the padded input "
                    f"{_fmt(padded)}")

        _positive(op, shape, sp, detail)
        return TensorStructInfo(_out_shape(shape, p["out_layout"]), dt)

    return infer


def _channels(op: str, c: PrimExpr, ws: dict[str, PrimExpr], groups: int,
              transpose: bool) -> PrimExpr:
    """The output channel count, after checking the channels against the weight and groups."""
    cin, wi, wo = _static(c), _static(ws["I"]), _static(ws["O"])
    if transpose:  # weight (I = data channels, O = output channels per group)
        if cin is not None and wi is not None and cin != wi:
            raise GraphTypeError(f"R.{op}: the data has {cin} channels but the weight's I "
                                 f"dimension is {wi}; they must be equal")
        if cin is not None and cin % groups:
            raise GraphTypeError(f"R.{op}: {cin} input channels do not split into "
                                 f"groups={groups}")
        return _fold(ws["O"] * groups)
    if cin is not None and wi is not None and cin != wi * groups:
        raise GraphTypeError(f"R.{op}: the data has {cin} channels but the weight takes {wi} "
                             f"per group, times groups={groups} is {wi * groups}")
    if wo is not None and wo % groups:
        raise GraphTypeError(f"R.{op}: {wo} output channels (the weight's O dimension) do not "
                             f"split into groups={groups}")
    return ws["O"]


def _register_conv(op: str, nd: int, transpose: bool, doc: str) -> None:
    attrs = _conv_defaults(nd, transpose)
    register_op(op, 2, attrs, doc=doc, positional=tuple(attrs),
                normalize=_conv_attrs(nd, transpose))(_conv_infer(op, nd, transpose))


_register_conv("nn.conv1d", 1, False, "1-D convolution (NCW data, OIW weights by default)")
_register_conv("nn.conv2d", 2, False,
               "2-D convolution (NCHW data, OIHW weights by default), groups and depthwise")
_register_conv("nn.conv1d_transpose", 1, True,
               "1-D transposed convolution (the gradient of conv1d; IOW weights)")
_register_conv("nn.conv2d_transpose", 2, True,
               "2-D transposed convolution (the gradient of conv2d; IOHW weights)")


# ---------------------------------------------------------------- pools


def _pool_attrs(nd: int) -> Callable[[dict], dict]:
    def normalize(attrs: dict) -> dict:
        out = {**attrs, "pool_size": _repeat(attrs.get("pool_size"), nd),
               "strides": _repeat(attrs.get("strides"), nd),
               "dilation": _repeat(attrs.get("dilation"), nd),
               "padding": _padding(attrs.get("padding"), nd)}
        if attrs.get("out_layout") is None:
            out["out_layout"] = attrs.get("layout")
        return out

    return normalize


def pool_params(op: str, call: Call, nd: int) -> dict[str, Any]:
    """The checked attributes of a windowed pool."""
    a, sp = call.attrs, SPATIAL[nd]
    return {
        "pool_size": _ints(op, a, "pool_size", nd, 1),
        "strides": _ints(op, a, "strides", nd, 1),
        "dilation": _ints(op, a, "dilation", nd, 1),
        "padding": _ints(op, a, "padding", 2 * nd, 0),
        "ceil_mode": _flag(op, a, "ceil_mode"),
        "count_include_pad": _flag(op, a, "count_include_pad"),
        "layout": layout(op, a, "layout", "NC" + sp),
        "out_layout": layout(op, a, "out_layout", "NC" + sp),
    }


def pool_out_size(size: PrimExpr, k: int, s: int, d: int, lo: int, hi: int,
                  ceil_mode: bool) -> PrimExpr:
    """Windows along one dimension; with ``ceil_mode`` a last partial window counts when it
    starts inside the input or its leading padding (PyTorch's and TVM's rule)."""
    span = size + (lo + hi - d * (k - 1) - 1)
    if not ceil_mode:
        return _fold(span // s + 1)
    return _fold(Min((span + (s - 1)) // s + 1, (size + (lo - 1)) // s + 1))


def _pool_infer(op: str, nd: int) -> Callable[[Call], StructInfo]:
    sp = SPATIAL[nd]

    def infer(call: Call) -> StructInfo:
        x = tensor_arg(call, 0)
        p = pool_params(op, call, nd)
        if x.shape is None:
            return TensorStructInfo(None, x.dtype, nd + 2)
        _check_rank(op, "data", x, p["layout"])
        xs = _by_letter(x.shape, p["layout"])
        shape = {"N": xs["N"], "C": xs["C"]}
        for i, letter in enumerate(sp):
            shape[letter] = pool_out_size(
                xs[letter], p["pool_size"][i], p["strides"][i], p["dilation"][i],
                p["padding"][i], p["padding"][nd + i], p["ceil_mode"])
        _positive(op, shape, sp, lambda: f"the window {p['pool_size']} (dilation "
                                         f"{p['dilation']}) is larger than the padded input")
        return TensorStructInfo(_out_shape(shape, p["out_layout"]), x.dtype)

    return infer


def _register_pool(op: str, nd: int, count_include_pad: bool, doc: str) -> None:
    sp = SPATIAL[nd]
    attrs = {"pool_size": (1,) * nd, "strides": (1,) * nd, "dilation": (1,) * nd,
             "padding": (0,) * (2 * nd), "ceil_mode": False,
             "count_include_pad": count_include_pad, "layout": "NC" + sp, "out_layout": None}
    order = ("pool_size", "strides", "padding", "dilation", "ceil_mode", "count_include_pad",
             "layout", "out_layout")  # TVM's Python signature; ``attrs`` is its printed order
    register_op(op, 1, attrs, doc=doc, positional=order,
                normalize=_pool_attrs(nd))(_pool_infer(op, nd))


_register_pool("nn.max_pool2d", 2, False, "2-D max pooling over windows")
_register_pool("nn.avg_pool2d", 2, False, "2-D average pooling over windows")


# ---------------------------------------------------------------- adaptive pools


def _adaptive_attrs(nd: int) -> Callable[[dict], dict]:
    def normalize(attrs: dict) -> dict:
        size = attrs.get("output_size")
        out = {**attrs, "output_size": None if size is None else _repeat(size, nd)}
        if attrs.get("out_layout") is None:
            out["out_layout"] = attrs.get("layout")
        return out

    return normalize


def adaptive_out_sizes(op: str, call: Call, nd: int,
                       sizes: dict[str, PrimExpr]) -> dict[str, PrimExpr]:
    """The output size of each spatial dimension: ``output_size``, where None keeps the input's."""
    value = call.attrs.get("output_size")
    sp = SPATIAL[nd]
    if value is None:
        return {c: sizes[c] for c in sp}
    if not isinstance(value, tuple) or len(value) != nd or \
            not all(v is None or (_is_int(v) and v >= 1) for v in value):
        raise GraphTypeError(f"R.{op}: output_size must be None, a positive int or a list of "
                             f"{nd} positive ints (None keeps the input's size), got {value!r}")
    return {c: sizes[c] if v is None else IntImm(sizes[c].dtype, v) for c, v in zip(sp, value)}


def _adaptive_infer(op: str, nd: int) -> Callable[[Call], StructInfo]:
    sp = SPATIAL[nd]

    def infer(call: Call) -> StructInfo:
        x = tensor_arg(call, 0)
        lay = layout(op, call.attrs, "layout", "NC" + sp)
        out_lay = layout(op, call.attrs, "out_layout", "NC" + sp)
        if x.shape is None:
            adaptive_out_sizes(op, call, nd, {c: IntImm(as_dtype("int64"), 1) for c in sp})
            return TensorStructInfo(None, x.dtype, nd + 2)
        _check_rank(op, "data", x, lay)
        xs = _by_letter(x.shape, lay)
        shape = {"N": xs["N"], "C": xs["C"], **adaptive_out_sizes(op, call, nd, xs)}
        return TensorStructInfo(_out_shape(shape, out_lay), x.dtype)

    return infer


for _op, _doc in (("nn.adaptive_avg_pool2d", ("2-D average pooling into a fixed output size "
                   "(PyTorch's bins; 1x1 is global average pooling)")),
                  ("nn.adaptive_max_pool2d", ("2-D max pooling into a fixed output size "
                   "(not in TVM 0.27; 1x1 is global max pooling)"))):
    register_op(_op, 1, {"output_size": None, "layout": "NCHW", "out_layout": None}, doc=_doc,
                positional=("output_size", "layout", "out_layout"),
                normalize=_adaptive_attrs(2))(_adaptive_infer(_op, 2))


# ---------------------------------------------------------------- resize

RESIZE_METHODS = ("nearest_neighbor", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
                    "tf_half_pixel_for_nn", "tf_crop_and_resize")
ROUNDING_METHODS = ("round", "round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "")


def _resize_attrs(attrs: dict) -> dict:
    """``size`` as a tuple (``R.shape([16, 16])`` is TVM's spelling, an int means square) and
    ``roi`` as four floats (None is no region, as TVM stores it)."""
    size = attrs.get("size")
    values = getattr(size, "values", None)  # a ShapeExpr
    if values is not None:
        size = tuple(v.value if isinstance(v, IntImm) else v for v in values)
    size = _repeat(size, 2) if size is not None else None
    roi = attrs.get("roi")
    if roi is None:
        roi = (0.0,) * 4
    elif _number(roi) is not None:
        roi = (_number(roi),) * 4
    elif isinstance(roi, (tuple, list)) and all(_number(v) is not None for v in roi):
        roi = tuple(_number(v) for v in roi)  # TVM prints them as T.float32(...)
    return {**attrs, "size": size, "roi": roi}


def _number(value: Any) -> float | None:
    if isinstance(value, (IntImm, FloatImm)) and not value.dtype.is_bool:
        return float(value.value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def resize_params(call: Call) -> dict[str, Any]:
    """The checked attributes of ``image.resize2d``."""
    op, a = "image.resize2d", call.attrs
    roi = a.get("roi")
    if not isinstance(roi, tuple) or len(roi) != 4 or \
            not all(isinstance(v, float) for v in roi):
        raise GraphTypeError(f"R.{op}: roi must be None or 4 floats (start_h, start_w, end_h, "
                             f"end_w), got {roi!r}")
    for key in ("cubic_alpha", "extrapolation_value"):
        if not isinstance(a.get(key), (int, float)) or isinstance(a.get(key), bool):
            raise GraphTypeError(f"R.{op}: {key} must be a number, got {a.get(key)!r}")
    if a.get("cubic_exclude") not in (0, 1) or isinstance(a.get("cubic_exclude"), bool):
        raise GraphTypeError(f"R.{op}: cubic_exclude must be 0 or 1, got "
                             f"{a.get('cubic_exclude')!r}")
    return {
        "layout": layout(op, a, "layout", "NCHW"),
        "method": _choice(op, a, "method", RESIZE_METHODS),
        "coordinate_transformation_mode": _choice(op, a, "coordinate_transformation_mode",
                                                  COORDINATE_MODES),
        "rounding_method": _choice(op, a, "rounding_method", ROUNDING_METHODS),
        "roi": roi, "cubic_alpha": float(a["cubic_alpha"]),
        "cubic_exclude": int(a["cubic_exclude"]),
        "extrapolation_value": float(a["extrapolation_value"]),
    }


def _resize_size(op: str, value: Any, index_dtype: DataType) -> tuple[PrimExpr, PrimExpr]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise GraphTypeError(f"R.{op}: size must be an int, 2 sizes or R.shape([h, w]), "
                             f"got {value!r}")
    out = []
    for v in value:
        if _is_int(v) and v >= 1:
            out.append(IntImm(index_dtype, v))
        elif isinstance(v, PrimExpr) and v.dtype.is_integer and not v.dtype.is_bool:
            out.append(v if v.dtype == index_dtype else Cast(index_dtype, v))
        else:
            raise GraphTypeError(f"R.{op}: size must hold positive ints or integer "
                                 f"expressions, got {value!r}")
    return out[0], out[1]


@register_op("image.resize2d", 1,
             {"size": None, "roi": (0.0, 0.0, 0.0, 0.0), "layout": "NCHW", "method": "linear",
              "coordinate_transformation_mode": "half_pixel", "rounding_method": "round",
              "cubic_alpha": -0.75, "cubic_exclude": 0, "extrapolation_value": 0.0,
              "out_dtype": None},
             doc="resize the two spatial dimensions (ONNX Resize, torch interpolate)",
             positional=("size", "roi", "layout", "method", "coordinate_transformation_mode",
                         "rounding_method", "cubic_alpha", "cubic_exclude",
                         "extrapolation_value", "out_dtype"),
             normalize=_resize_attrs)
def _resize2d(call: Call) -> StructInfo:
    op = "image.resize2d"
    x = tensor_arg(call, 0)
    p = resize_params(call)
    dt = result_dtype(op, call, x.dtype)
    if p["method"] != "nearest_neighbor" and not x.dtype.is_void and not x.dtype.is_float:
        raise GraphTypeError(f"R.{op}: method={p['method']!r} interpolates, so it needs float "
                             f"data, got {x.dtype}; use method='nearest_neighbor' or cast first")
    h, w = _resize_size(op, call.attrs.get("size"), as_dtype("int64"))
    if x.shape is None:
        return TensorStructInfo(None, dt, 4)
    _check_rank(op, "data", x, p["layout"])
    xs = _by_letter(x.shape, p["layout"])
    return TensorStructInfo(_out_shape({"N": xs["N"], "C": xs["C"], "H": h, "W": w},
                                       p["layout"]), dt)


__all__ = ["SPATIAL", "adaptive_out_sizes", "conv_params", "layout", "pool_out_size",
           "pool_params", "resize_params", "result_dtype"]
