"""Converters of linear algebra and neural-network layers (convolution, normalization,
pooling, attention, padding, dropout).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import graph as G
from .torch_importer import _Importer
from .torch_registry import _converts
from .torch_values import _first, _ints, _Unavailable

# ---------------------------------------------------------------- linear algebra


def _transposed(im: _Importer, w: Any) -> Any:
    """``w.T`` (the weight of a linear layer): computed now for a constant."""
    if isinstance(w, G.Constant) and im.fold:
        return G.Constant(np.ascontiguousarray(w.data.T))
    return im.call("permute_dims", [w], axes=[1, 0])


@_converts("linear")
def _linear(im: _Importer, a: dict) -> Any:
    y = im.call("matmul", [a["input"], _transposed(im, a["weight"])])
    return y if a["bias"] is None else im.call("add", [y, a["bias"]])


@_converts("matmul", "mm", "bmm")
def _matmul(im: _Importer, a: dict) -> Any:
    x, y = list(a.values())[:2]
    return im.call("matmul", [x, y])


@_converts("addmm", "baddbmm")
def _addmm(im: _Importer, a: dict) -> Any:
    x, m1, m2 = list(a.values())[:3]
    product = im.call("matmul", [m1, m2])
    dtype = im.dtype(product)
    if a["alpha"] != 1:
        product = im.call("multiply", [product, im.tensor(a["alpha"], dtype)])
    if a["beta"] == 0:
        return product
    if a["beta"] != 1:
        x = im.call("multiply", [x, im.tensor(a["beta"], dtype)])
    return im.call("add", [x, product])


# ---------------------------------------------------------------- neural network layers


def _channel_bias(im: _Importer, b: Any, ndim: int) -> Any:
    """A per-channel bias shaped to broadcast over NC... data."""
    shape = (1, -1) + (1,) * (ndim - 2)
    if isinstance(b, G.Constant):
        return G.Constant(b.data.reshape(shape))
    return im.call("reshape", [b], shape=(1, im.shape(b)[0]) + (1,) * (ndim - 2))


def _same_padding(im: _Importer, w: Any, dilation: tuple) -> tuple:
    """torch's padding='same' (stride 1): the odd pixel goes after."""
    kernel = im.shape(w)[2:]
    total = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)


_CONV_OPS = {(1, False): ("nn.conv1d", "NCW", "OIW"), (2, False): ("nn.conv2d", "NCHW", "OIHW"),
             (1, True): ("nn.conv1d_transpose", "NCW", "IOW"),
             (2, True): ("nn.conv2d_transpose", "NCHW", "IOHW")}


@_converts("conv1d", needs=("nn.conv1d",))
@_converts("conv2d", needs=("nn.conv2d",))
@_converts("conv_transpose1d", needs=("nn.conv1d_transpose",))
@_converts("conv_transpose2d", needs=("nn.conv2d_transpose",))
@_converts("convolution")
def _conv(im: _Importer, a: dict) -> Any:
    x, w, b = a["input"], a["weight"], a["bias"]
    spatial = im.ndim(w) - 2
    transposed = bool(a.get("transposed", False)) or "transpose" in im.node.target._opname
    if (spatial, transposed) not in _CONV_OPS:
        raise im.error(f"{spatial}-D convolutions are not supported (1-D and 2-D are)")
    op, data_layout, kernel_layout = _CONV_OPS[(spatial, transposed)]
    dilation = _ints(a["dilation"], spatial)
    padding = a["padding"]
    if isinstance(padding, str):
        before, after = ((0,) * spatial, (0,) * spatial) if padding == "valid" else \
            _same_padding(im, w, dilation)
    else:
        before = after = _ints(padding, spatial)
    attrs = {"strides": _ints(a["stride"], spatial), "padding": before + after,
             "dilation": dilation, "groups": int(a["groups"]), "data_layout": data_layout,
             "kernel_layout": kernel_layout}
    if transposed:
        attrs["output_padding"] = _ints(a["output_padding"], spatial)
    y = im.call(op, [x, w], **attrs)
    return y if b is None else im.call("add", [y, _channel_bias(im, b, spatial + 2)])


def _or_filled(value: Any, shape: tuple, fill: float, dtype: str) -> Any:
    """An optional affine parameter, or the constant that leaves the values as they are."""
    return value if value is not None else G.Constant(np.full(shape, fill, dtype=dtype))


@_converts("batch_norm", "_native_batch_norm_legit_no_training", needs=("nn.batch_norm",))
def _batch_norm(im: _Importer, a: dict) -> Any:
    if a.get("training"):
        raise im.error("batch normalization in training mode is not supported; call "
                       "model.eval() before torch.export.export")
    x = a["input"]
    if a["running_mean"] is None or a["running_var"] is None:
        raise im.error("batch normalization without running statistics is not supported")
    dtype, channels = im.dtype(x), (im.shape(x)[1],)
    gamma = _or_filled(a["weight"], channels, 1.0, dtype)
    beta = _or_filled(a["bias"], channels, 0.0, dtype)
    bn = im.call("nn.batch_norm", [x, gamma, beta, a["running_mean"], a["running_var"]],
                 axis=1, epsilon=float(a["eps"]), center=True, scale=True,
                 momentum=float(a["momentum"]), training=False)
    out = im.emit(G.TupleGetItem(bn, 0))
    if im.node.target._opname == "batch_norm":
        return out
    return (out, _Unavailable("the saved mean of batch normalization"),
            _Unavailable("the saved inverse deviation of batch normalization"))


@_converts("layer_norm", "native_layer_norm", needs=("nn.layer_norm",))
def _layer_norm(im: _Importer, a: dict) -> Any:
    x, shape = a["input"], tuple(a["normalized_shape"])
    dtype = im.dtype(x)
    gamma = _or_filled(a["weight"], shape, 1.0, dtype)
    beta = _or_filled(a["bias"], shape, 0.0, dtype)
    out = im.call("nn.layer_norm", [x, gamma, beta], axes=list(range(-len(shape), 0)),
                  epsilon=float(a["eps"]), center=True, scale=True)
    if im.node.target._opname == "layer_norm":
        return out
    return (out, _Unavailable("the mean of native_layer_norm"),
            _Unavailable("the inverse deviation of native_layer_norm"))


@_converts("group_norm", needs=("nn.group_norm",))
def _group_norm(im: _Importer, a: dict) -> Any:
    x = a["input"]
    dtype, channels = im.dtype(x), (im.shape(x)[1],)
    gamma = _or_filled(a["weight"], channels, 1.0, dtype)
    beta = _or_filled(a["bias"], channels, 0.0, dtype)
    return im.call("nn.group_norm", [x, gamma, beta], num_groups=int(a["num_groups"]),
                   channel_axis=1, axes=list(range(2, im.ndim(x))), epsilon=float(a["eps"]),
                   center=True, scale=True)


def _pool(kind: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x = a["self"]
        spatial = im.ndim(x) - 2
        if spatial not in (1, 2):
            raise im.error(f"{spatial}-D pooling is not supported (1-D and 2-D are)")
        kernel = _ints(a["kernel_size"], spatial)
        pad = _ints(a["padding"], spatial)
        attrs = {"pool_size": kernel, "strides": _ints(a["stride"] or kernel, spatial),
                 "padding": pad + pad, "ceil_mode": bool(a["ceil_mode"]),
                 "layout": "NCW" if spatial == 1 else "NCHW"}
        if kind == "max":
            attrs["dilation"] = _ints(a["dilation"], spatial)
        else:
            if a.get("divisor_override") is not None:
                raise im.error("divisor_override is not supported")
            attrs["count_include_pad"] = bool(a["count_include_pad"])
        out = im.call(f"nn.{kind}_pool{spatial}d", [x], **attrs)
        if im.node.target._opname.endswith("with_indices"):
            return (out, _Unavailable("the indices of max pooling"))
        return out

    return convert


_converts("max_pool1d", needs=("nn.max_pool1d",))(_pool("max"))
_converts("max_pool2d", "max_pool2d_with_indices", needs=("nn.max_pool2d",))(_pool("max"))
_converts("avg_pool1d", needs=("nn.avg_pool1d",))(_pool("avg"))
_converts("avg_pool2d", needs=("nn.avg_pool2d",))(_pool("avg"))


@_converts("adaptive_avg_pool1d", needs=("nn.adaptive_avg_pool1d",))
@_converts("adaptive_avg_pool2d", "_adaptive_avg_pool2d", needs=("nn.adaptive_avg_pool2d",))
def _adaptive_avg_pool(im: _Importer, a: dict) -> Any:
    x = a["self"]
    spatial = im.ndim(x) - 2
    return im.call(f"nn.adaptive_avg_pool{spatial}d", [x],
                   output_size=_ints(a["output_size"], spatial),
                   layout="NCW" if spatial == 1 else "NCHW")


@_converts("embedding", needs=("take",))
def _embedding(im: _Importer, a: dict) -> Any:
    return im.call("take", [a["weight"], a["indices"]], axis=0)


@_converts("scaled_dot_product_attention")
def _attention(im: _Importer, a: dict) -> Any:
    """softmax(q kᵀ · scale + mask) v, as matmuls and a softmax."""
    q, k, v, mask = a["query"], a["key"], a["value"], a["attn_mask"]
    if a.get("enable_gqa"):
        raise im.error("enable_gqa=True is not supported")
    if a["dropout_p"]:
        raise im.error("attention dropout (dropout_p > 0) is not supported in inference")
    dtype, ndim = im.dtype(q), im.ndim(k)
    depth = im.shape(q)[-1]
    scale = a["scale"] if a["scale"] is not None else 1.0 / math.sqrt(depth)
    axes = list(range(ndim - 2)) + [ndim - 1, ndim - 2]
    scores = im.call("matmul", [q, im.call("permute_dims", [k], axes=axes)])
    scores = im.call("multiply", [scores, im.tensor(float(scale), dtype)])
    if a["is_causal"]:
        mask = _causal_mask(im, im.shape(q)[-2], im.shape(k)[-2])
    if mask is not None and im.dtype(mask) == "bool":
        scores = im.call("where", [mask, scores, im.tensor(float("-inf"), dtype)])
    elif mask is not None:
        scores = im.call("add", [scores, mask])
    return im.call("matmul", [im.call("nn.softmax", [scores], axis=-1), v])


def _causal_mask(im: _Importer, rows: Any, cols: Any) -> Any:
    if isinstance(rows, int) and isinstance(cols, int):
        return G.Constant(np.tril(np.ones((rows, cols), dtype=bool)))
    ones = im.call("full", [], shape=(rows, cols), fill_value=im.tensor(True), dtype="bool")
    return im.call("tril", [ones], k=0)


@_converts("upsample_nearest2d", "upsample_bilinear2d", needs=("image.resize2d",))
def _upsample(im: _Importer, a: dict) -> Any:
    x = _first(a)
    size = im.out_shape()[2:]
    if "nearest" in im.node.target._opname:
        mode = {"method": "nearest_neighbor", "coordinate_transformation_mode": "asymmetric",
                "rounding_method": "floor"}
    else:
        corners = "align_corners" if a["align_corners"] else "half_pixel"
        mode = {"method": "linear", "coordinate_transformation_mode": corners}
    return im.call("image.resize2d", [x], size=size, layout="NCHW", **mode)


def _pad_width(im: _Importer, x: Any, pad: list) -> list:
    if any(not isinstance(p, int) or p < 0 for p in pad):
        raise im.error(f"pad={list(pad)}: only non-negative static padding is supported")
    ndim = im.ndim(x)
    width = [0] * (2 * ndim)
    for i in range(len(pad) // 2):
        dim = ndim - 1 - i
        width[2 * dim], width[2 * dim + 1] = pad[2 * i], pad[2 * i + 1]
    return width


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@_converts("pad", "constant_pad_nd", needs=("nn.pad",))
def _pad(im: _Importer, a: dict) -> Any:
    x = a["self"]
    mode = a.get("mode", "constant")
    if mode not in _PAD_MODES:
        raise im.error(f"mode={mode!r} is not one of {sorted(_PAD_MODES)}")
    value = a.get("value") or 0
    return im.call("nn.pad", [x], pad_width=_pad_width(im, x, a["pad"]),
                   pad_mode=_PAD_MODES[mode], pad_value=float(value))


def _mode_pad(mode: str) -> Callable:
    def convert(im: _Importer, a: dict) -> Any:
        x = a["self"]
        return im.call("nn.pad", [x], pad_width=_pad_width(im, x, a["padding"]),
                       pad_mode=mode, pad_value=0.0)

    return convert


_converts("reflection_pad1d", "reflection_pad2d", needs=("nn.pad",))(_mode_pad("reflect"))
_converts("replication_pad1d", "replication_pad2d", needs=("nn.pad",))(_mode_pad("edge"))


def _identity(im: _Importer, a: dict) -> Any:
    if a.get("train"):
        raise im.error("dropout in training mode is not supported; call model.eval() before "
                       "torch.export.export")
    x = _first(a)
    if im.node.target._opname == "native_dropout":
        return (x, _Unavailable("the dropout mask"))
    return x


_converts("alias", "clone", "contiguous", "detach", "detach_", "lift_fresh_copy", "dropout",
          "dropout_", "native_dropout", "feature_dropout", "alpha_dropout")(_identity)


@_converts("_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size",
           "sym_constrain_range")
def _check(im: _Importer, a: dict) -> Any:
    return None  # run-time checks of the export; the struct info already says as much
