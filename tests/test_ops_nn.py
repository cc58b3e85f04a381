"""The nn operators (convolutions, pools, adaptive pools, resize, ``R.linear``): kernels that
compute what PyTorch, onnxruntime and numpy compute, shapes included (through LLVM, and some
through the interpreter), symbolic sizes, kernels shaped for scheduling, errors that name the
operator and attribute at the call, and scripts that print and parse back. (That TVM reads these
calls as we do is checked with the other operators in test_interop_graph.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tvmscript
from passes.legalize_ops import legalize_ops
from tvmscript.diagnostics import ScriptError
from tvmscript.ir import stmt as S
from tvmscript.ir.expr import IntImm, Var
from tvmscript.ir.functor import post_order_visit

rng = np.random.default_rng(0)
ANY4 = 'R.Tensor(dtype="float32", ndim=4)'


def module(signature: str, body: str, ret: str = ANY4) -> tvmscript.IRModule:
    text = f'''
@R.function
def main({signature}) -> {ret}:
    with R.dataflow():
        gv = {body}
        R.output(gv)
    return gv
'''
    return tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")


def tensor(name: str, shape: tuple, dtype: str = "float32") -> str:
    dims = ", ".join(f'"{d}"' if isinstance(d, str) else str(d) for d in shape)
    return f'{name}: R.Tensor(({dims}{"," if len(shape) == 1 else ""}), "{dtype}")'


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype("float32")


def run(mod: tvmscript.IRModule, *arrays: np.ndarray, target: str = "llvm") -> np.ndarray:
    return tvmscript.build(mod, target=target)["main"](*arrays)


def torch_ref(fn, *args, **kwargs) -> np.ndarray:
    return fn(*(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args),
              **kwargs).numpy()


def attrs(**kw) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kw.items()).replace("'", '"')


def to_layout(a: np.ndarray, src: str, dst: str) -> np.ndarray:
    return np.ascontiguousarray(a.transpose([src.index(c) for c in dst]))


def blocks(func) -> list[S.Block]:
    found: list[S.Block] = []
    post_order_visit(func.body, lambda n: found.append(n)
                     if isinstance(n, S.Block) and n.name_hint != "root" else None)
    return found


def iterators(block: S.Block) -> list[tuple[str, str, int | None]]:
    """(name, S or R, static extent) of each block iterator, in order."""
    return [(iv.var.name, "R" if iv.iter_type == S.IterType.REDUCE else "S",
             iv.dom.extent.value if isinstance(iv.dom.extent, IntImm) else None)
            for iv in block.iter_vars]


def kernel(mod: tvmscript.IRModule, name: str):
    return legalize_ops(mod).functions[name]


# ---------------------------------------------------------------- conv2d


def conv2d_ref(x, w, strides=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    top, left, bottom, right = padding
    padded = F.pad(torch.from_numpy(x), (left, right, top, bottom))
    return F.conv2d(padded, torch.from_numpy(w), stride=strides, dilation=dilation,
                    groups=groups).numpy()


CONV2D = {  # name: data (NCHW), weight (OIHW), attributes (canonical)
    "strided-dilated-asymmetric": ((2, 3, 7, 8), (4, 3, 3, 2), {
        "strides": (2, 1), "padding": (1, 2, 0, 1), "dilation": (1, 2)}),
    "grouped": ((1, 4, 6, 6), (6, 2, 3, 3), {"padding": (1, 1, 1, 1), "groups": 2}),
    "depthwise": ((1, 4, 6, 7), (4, 1, 3, 3),
                  {"strides": (2, 2), "padding": (1, 1, 1, 1), "groups": 4}),
    "depthwise-multiplier": ((2, 3, 5, 5), (6, 1, 3, 3), {"groups": 3, "dilation": (2, 1)}),
    "pointwise": ((1, 5, 4, 4), (3, 5, 1, 1), {}),
}


@pytest.mark.parametrize("name", sorted(CONV2D))
def test_conv2d_nchw(name):
    xs, ws, kw = CONV2D[name]
    mod = module(f"{tensor('x', xs)}, {tensor('w', ws)}", f"R.nn.conv2d(x, w, {attrs(**kw)})")
    x, w = rand(*xs), rand(*ws)
    np.testing.assert_allclose(run(mod, x, w), conv2d_ref(x, w, **kw), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data_layout, kernel_layout, out_layout", [
    ("NHWC", "HWIO", "NHWC"), ("NHWC", "OHWI", "NCHW"), ("NCHW", "HWIO", "NHWC")])
def test_conv2d_layouts(data_layout, kernel_layout, out_layout):
    x, w = rand(2, 4, 6, 5), rand(6, 2, 3, 3)
    kw = {"strides": (1, 2), "padding": (1, 0, 1, 1), "groups": 2}
    xl, wl = to_layout(x, "NCHW", data_layout), to_layout(w, "OIHW", kernel_layout)
    mod = module(f"{tensor('x', xl.shape)}, {tensor('w', wl.shape)}",
                 f"R.nn.conv2d(x, w, {attrs(**kw, data_layout=data_layout)}, "
                 f"{attrs(kernel_layout=kernel_layout, out_layout=out_layout)})")
    expected = to_layout(conv2d_ref(x, w, **kw), "NCHW", out_layout)
    np.testing.assert_allclose(run(mod, xl, wl), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_conv2d_symbolic_sizes(target):
    mod = module(f"{tensor('x', ('n', 4, 'h', 'w'))}, {tensor('w', (6, 2, 3, 3))}",
                 "R.nn.conv2d(x, w, strides=2, padding=(1, 2, 0, 1), groups=2)")
    ex = tvmscript.build(mod, target=target)["main"]
    w = rand(6, 2, 3, 3)
    for shape in ((2, 4, 7, 8), (1, 4, 4, 3)):
        x = rand(*shape)
        expected = conv2d_ref(x, w, strides=(2, 2), padding=(1, 2, 0, 1), groups=2)
        np.testing.assert_allclose(ex(x, w), expected, rtol=1e-4, atol=1e-5)


def test_conv2d_int8_accumulates_in_out_dtype():
    x = rng.integers(-128, 128, (1, 3, 5, 5)).astype("int8")
    w = rng.integers(-128, 128, (2, 3, 3, 3)).astype("int8")
    mod = module(f"{tensor('x', x.shape, 'int8')}, {tensor('w', w.shape, 'int8')}",
                 'R.nn.conv2d(x, w, out_dtype="int32")', 'R.Tensor((1, 2, 3, 3), "int32")')
    expected = np.zeros((1, 2, 3, 3), "int64")
    for p in range(3):
        for q in range(3):
            patch = x[:, :, p:p + 3, q:q + 3].astype("int64")
            expected[:, :, p, q] = np.einsum("ncrs,kcrs->nk", patch, w.astype("int64"))
    out = run(mod, x, w)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


def test_conv2d_kernel_is_a_pad_block_and_one_reduction():
    mod = module(f"{tensor('x', ('n', 3, 8, 8))}, {tensor('w', (4, 3, 3, 3))}",
                 "R.nn.conv2d(x, w, padding=1)")
    pad, conv = blocks(kernel(mod, "conv2d"))
    assert (pad.name_hint, conv.name_hint) == ("pad", "conv2d")
    assert [k for _, k, _ in iterators(pad)] == list("SSSS")
    # n, k, p, q, then the reduction over c, r, s
    assert iterators(conv) == [("v_i", "S", None), ("v_j", "S", 4), ("v_k", "S", 8),
                               ("v_l", "S", 8), ("v_rc", "R", 3), ("v_rh", "R", 3),
                               ("v_rw", "R", 3)]
    assert [r.buffer.name for r in conv.reads] == ["pad", "weight"]


def test_unpadded_conv2d_reads_the_data_itself():
    mod = module(f"{tensor('x', (1, 3, 8, 8))}, {tensor('w', (4, 3, 3, 3))}",
                 "R.nn.conv2d(x, w)")
    (conv,) = blocks(kernel(mod, "conv2d"))
    assert [r.buffer.name for r in conv.reads] == ["data", "weight"]


def test_depthwise_conv2d_reduces_over_its_window_only():
    mod = module(f"{tensor('x', (1, 32, 8, 8))}, {tensor('w', (32, 1, 3, 3))}",
                 "R.nn.conv2d(x, w, padding=1, groups=32)")
    _, conv = blocks(kernel(mod, "conv2d"))
    assert [it for it in iterators(conv) if it[1] == "R"] == [("v_rh", "R", 3), ("v_rw", "R", 3)]


def test_nhwc_conv2d_reduces_in_the_weight_layout_order():
    mod = module(f"{tensor('x', (1, 8, 8, 16))}, {tensor('w', (3, 3, 16, 4))}",
                 'R.nn.conv2d(x, w, padding=1, data_layout="NHWC", kernel_layout="HWIO")')
    _, conv = blocks(kernel(mod, "conv2d"))
    assert iterators(conv) == [("v_i", "S", 1), ("v_j", "S", 8), ("v_k", "S", 8),
                               ("v_l", "S", 4), ("v_rh", "R", 3), ("v_rw", "R", 3),
                               ("v_rc", "R", 16)]


# ---------------------------------------------------------------- conv1d and transposed


def test_conv1d():
    x, w = rand(2, 4, 11), rand(6, 2, 3)
    mod = module(f"{tensor('x', x.shape)}, {tensor('w', w.shape)}",
                 "R.nn.conv1d(x, w, strides=2, padding=(2, 1), dilation=2, groups=2)",
                 'R.Tensor(dtype="float32", ndim=3)')
    padded = np.pad(x, ((0, 0), (0, 0), (2, 1)))
    expected = torch_ref(F.conv1d, padded, w, stride=2, dilation=2, groups=2)
    np.testing.assert_allclose(run(mod, x, w), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_conv2d_transpose(target):
    x, w = rand(2, 4, 5, 6), rand(4, 3, 3, 2)  # IOHW: 3 outputs per group, 2 groups
    kw = {"strides": (2, 3), "padding": (1, 0), "output_padding": (1, 2), "dilation": (1, 2),
          "groups": 2}
    mod = module(f"{tensor('x', x.shape)}, {tensor('w', w.shape)}",
                 f"R.nn.conv2d_transpose(x, w, {attrs(**kw)})")
    expected = torch_ref(F.conv_transpose2d, x, w, stride=kw["strides"], padding=kw["padding"],
                         output_padding=kw["output_padding"], dilation=kw["dilation"], groups=2)
    np.testing.assert_allclose(run(mod, x, w, target=target), expected, rtol=1e-4, atol=1e-5)
    pad, conv = blocks(kernel(mod, "conv2d_transpose"))
    assert pad.name_hint == "dilate_pad"
    assert [k for _, k, _ in iterators(conv)] == list("SSSSRRR")


def test_conv1d_transpose_symbolic_length():
    mod = module(f"{tensor('x', (1, 3, 'l'))}, {tensor('w', (3, 2, 4))}",
                 "R.nn.conv1d_transpose(x, w, strides=2, padding=1, output_padding=1)",
                 'R.Tensor(dtype="float32", ndim=3)')
    ex = tvmscript.build(mod)["main"]
    w = rand(3, 2, 4)
    for length in (5, 2):
        x = rand(1, 3, length)
        expected = torch_ref(F.conv_transpose1d, x, w, stride=2, padding=1, output_padding=1)
        np.testing.assert_allclose(ex(x, w), expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- pools

POOLS = {  # name: pool_size, strides, padding (torch: symmetric), dilation, ceil_mode
    "plain": (2, 2, 0, 1, False),
    "padded": (3, 2, 1, 1, False),
    "ceil": (3, 2, 1, 1, True),
    "ceil-past-the-padding": (2, 3, 1, 1, True),
    "dilated": (2, 1, 1, 2, False),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_max_pool2d(name):
    k, s, p, d, ceil = POOLS[name]
    x = rand(2, 3, 8, 7)
    mod = module(tensor("x", x.shape), f"R.nn.max_pool2d(x, {k}, {s}, {p}, {d}, {ceil})")
    expected = torch_ref(F.max_pool2d, x, k, s, p, dilation=d, ceil_mode=ceil)
    np.testing.assert_array_equal(run(mod, x), expected)


@pytest.mark.parametrize("include_pad", [False, True])
@pytest.mark.parametrize("name", sorted(set(POOLS) - {"dilated", "plain"}))
def test_avg_pool2d(name, include_pad):
    k, s, p, _, ceil = POOLS[name]
    x = rand(2, 3, 8, 7)
    mod = module(tensor("x", x.shape), f"R.nn.avg_pool2d(x, pool_size={k}, strides={s}, "
                 f"padding={p}, ceil_mode={ceil}, count_include_pad={include_pad})")
    expected = torch_ref(F.avg_pool2d, x, k, s, p, ceil_mode=ceil,
                         count_include_pad=include_pad)
    np.testing.assert_allclose(run(mod, x), expected, rtol=1e-6, atol=1e-6)


def avg_pool_ref(x, k, s, pad, d, include_pad, out_hw):
    """Average pooling by its definition (PyTorch has no dilated average pooling)."""
    n, c, h, w = x.shape
    top, left, bottom, right = pad
    out = np.zeros((n, c, *out_hw), "float32")
    for p in range(out_hw[0]):
        for q in range(out_hw[1]):
            rows = [p * s[0] - top + r * d[0] for r in range(k[0])]
            cols = [q * s[1] - left + r * d[1] for r in range(k[1])]
            data_rows = [r for r in rows if 0 <= r < h]
            data_cols = [c_ for c_ in cols if 0 <= c_ < w]
            if include_pad:
                count = len([r for r in rows if -top <= r < h + bottom]) * \
                    len([c_ for c_ in cols if -left <= c_ < w + right])
            else:
                count = len(data_rows) * len(data_cols)
            out[:, :, p, q] = x[:, :, data_rows][:, :, :, data_cols].sum((2, 3)) / count
    return out


@pytest.mark.parametrize("include_pad", [False, True])
def test_avg_pool2d_dilated_asymmetric_ceil(include_pad):
    x = rand(1, 2, 9, 8)
    mod = module(tensor("x", x.shape), "R.nn.avg_pool2d(x, pool_size=(3, 2), strides=(2, 3), "
                 f"padding=(1, 0, 2, 1), dilation=(2, 1), ceil_mode=True, "
                 f"count_include_pad={include_pad})")
    out = run(mod, x)
    expected = avg_pool_ref(x, (3, 2), (2, 3), (1, 0, 2, 1), (2, 1), include_pad, out.shape[2:])
    assert out.shape == (1, 2, 5, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pools_nhwc(op):
    x = rand(2, 3, 7, 6)
    xl = to_layout(x, "NCHW", "NHWC")
    mod = module(tensor("x", xl.shape),
                 f'R.nn.{op}(x, 3, 2, 1, ceil_mode=True, layout="NHWC")')
    kw = {"count_include_pad": False} if op == "avg_pool2d" else {}
    expected = torch_ref(getattr(F, op), x, 3, 2, 1, ceil_mode=True, **kw)
    np.testing.assert_allclose(run(mod, xl), to_layout(expected, "NCHW", "NHWC"), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_pools_symbolic_sizes(target):
    mod = module(tensor("x", ("n", 3, "h", "w")),
                 "R.nn.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)")
    ex = tvmscript.build(mod, target=target)["main"]
    for shape in ((2, 3, 7, 8), (1, 3, 4, 5)):
        x = rand(*shape)
        expected = torch_ref(F.avg_pool2d, x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
        np.testing.assert_allclose(ex(x), expected, rtol=1e-6, atol=1e-6)


def test_pool_kernels_are_one_reduction():
    x = tensor("x", (1, 3, 8, 8))
    (pool,) = blocks(kernel(module(x, "R.nn.max_pool2d(x, 3, 2, 1)"), "max_pool2d"))
    assert [k for _, k, _ in iterators(pool)] == list("SSSSRR")
    total, avg = blocks(kernel(module(x, "R.nn.avg_pool2d(x, 3, 2, 1)"), "avg_pool2d"))
    assert [k for _, k, _ in iterators(total)] == list("SSSSRR")
    assert [k for _, k, _ in iterators(avg)] == list("SSSS")


# ---------------------------------------------------------------- adaptive pools


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("output_size", [(3, 2), (1, 1), (5, 3), (4, 4)])
def test_adaptive_pool2d(kind, output_size):
    x = rand(2, 3, 8, 7)
    mod = module(tensor("x", x.shape),
                 f"R.nn.adaptive_{kind}_pool2d(x, output_size={output_size})")
    expected = torch_ref(getattr(F, f"adaptive_{kind}_pool2d"), x, output_size)
    np.testing.assert_allclose(run(mod, x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pooling_of_symbolic_sizes(kind):
    mod = module(tensor("x", ("n", 3, "h", "w")), f"R.nn.adaptive_{kind}_pool2d(x, 1)")
    ex = tvmscript.build(mod)["main"]
    reduce = np.mean if kind == "avg" else np.max
    for shape in ((2, 3, 7, 8), (1, 3, 1, 5)):
        x = rand(*shape)
        np.testing.assert_allclose(ex(x), reduce(x, axis=(2, 3), keepdims=True), rtol=1e-5,
                                   atol=1e-6)
    (total, *_) = blocks(kernel(mod, f"adaptive_{kind}_pool2d"))
    assert [k for _, k, _ in iterators(total)] == list("SSSSRR")


def test_adaptive_avg_pool2d_symbolic_bins_and_nhwc():
    mod = module(tensor("x", ("n", "h", "w", 3)),
                 'R.nn.adaptive_avg_pool2d(x, (3, None), layout="NHWC", out_layout="NCHW")')
    ex = tvmscript.build(mod)["main"]
    for shape in ((2, 7, 5, 3), (1, 9, 2, 3)):
        x = rand(*shape)
        expected = torch_ref(F.adaptive_avg_pool2d, to_layout(x, "NHWC", "NCHW"),
                             (3, shape[2]))
        np.testing.assert_allclose(ex(x), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- resize

def resize_attrs(method: str, mode: str, rounding: str = "round", **more) -> str:
    return attrs(method=method, coordinate_transformation_mode=mode, rounding_method=rounding,
                 **more)


TORCH_MODES = {  # torch interpolate mode: our method, coordinate mode, rounding
    "nearest": ("nearest_neighbor", "asymmetric", "floor"),
    "nearest-exact": ("nearest_neighbor", "half_pixel", "round_prefer_ceil"),
    "bilinear": ("linear", "half_pixel"),
    "bilinear-align_corners": ("linear", "align_corners"),
    "bicubic": ("cubic", "half_pixel"),
    "bicubic-align_corners": ("cubic", "align_corners"),
}


@pytest.mark.parametrize("mode, size", [
    ("nearest", (14, 5)), ("nearest-exact", (3, 16)), ("bilinear", (14, 5)),
    ("bilinear", (3, 16)), ("bilinear-align_corners", (3, 16)), ("bicubic", (14, 5)),
    ("bicubic", (3, 16)), ("bicubic-align_corners", (14, 5))])
def test_resize2d_as_torch_interpolate(mode, size):
    x = rand(2, 3, 7, 8)
    mod = module(tensor("x", x.shape),
                 f"R.image.resize2d(x, {size}, {resize_attrs(*TORCH_MODES[mode])})")
    torch_mode, _, corners = mode.partition("-align")
    kw = {} if torch_mode.startswith("nearest") else {"align_corners": bool(corners)}
    expected = torch_ref(F.interpolate, x, size=size, mode=torch_mode, **kw)
    np.testing.assert_allclose(run(mod, x), expected, rtol=1e-5, atol=2e-6)


def ort_resize(x: np.ndarray, size: tuple, roi: list | None = None, **attributes) -> np.ndarray:
    onnx = pytest.importorskip("onnx", reason="onnx builds the onnxruntime reference")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the ONNX Resize reference")
    from onnx import TensorProto, helper

    inits = [helper.make_tensor("roi", TensorProto.FLOAT, [len(roi or [])], roi or []),
             helper.make_tensor("sizes", TensorProto.INT64, [4], [*x.shape[:2], *size])]
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "roi", "", "sizes"], ["y"], **attributes)], "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    del onnx
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


ONNX_CASES = {  # name: output size, our attributes, onnx Resize attributes
    "nearest-half_pixel-round_prefer_floor": (
        (14, 5), ("nearest_neighbor", "half_pixel", "round_prefer_floor"),
        {"mode": "nearest", "nearest_mode": "round_prefer_floor"}),
    "nearest-align_corners-ceil": (
        (1, 16), ("nearest_neighbor", "align_corners", "ceil"),
        {"mode": "nearest", "coordinate_transformation_mode": "align_corners",
         "nearest_mode": "ceil"}),
    "nearest-pytorch_half_pixel-floor": (
        (1, 16), ("nearest_neighbor", "pytorch_half_pixel", "floor"),
        {"mode": "nearest", "coordinate_transformation_mode": "pytorch_half_pixel",
         "nearest_mode": "floor"}),
    "nearest-tf_half_pixel_for_nn-round": (
        (5, 19), ("nearest_neighbor", "tf_half_pixel_for_nn", "round_prefer_ceil"),
        {"mode": "nearest", "coordinate_transformation_mode": "tf_half_pixel_for_nn",
         "nearest_mode": "round_prefer_ceil"}),
    "linear-asymmetric": (
        (14, 5), ("linear", "asymmetric"),
        {"mode": "linear", "coordinate_transformation_mode": "asymmetric"}),
    "linear-pytorch_half_pixel": (
        (1, 16), ("linear", "pytorch_half_pixel"),
        {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}),
    "cubic-exclude_outside": (
        (14, 5), ("cubic", "half_pixel", "round", {"cubic_alpha": -0.5, "cubic_exclude": 1}),
        {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}),
}


@pytest.mark.filterwarnings("ignore:.*tf_half_pixel_for_nn")
@pytest.mark.parametrize("name", sorted(ONNX_CASES))
def test_resize2d_as_onnx_resize(name):
    size, ours, theirs = ONNX_CASES[name]
    x = rand(1, 2, 7, 8)
    *ours, more = ours if isinstance(ours[-1], dict) else (*ours, {})
    mod = module(tensor("x", x.shape), f"R.image.resize2d(x, {size}, "
                                       f"{resize_attrs(*ours, **more)})")
    np.testing.assert_allclose(run(mod, x), ort_resize(x, size, **theirs), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("method", ["nearest_neighbor", "linear", "cubic"])
def test_resize2d_tf_crop_and_resize_extrapolates(method):
    x, roi = rand(1, 2, 7, 8), (-0.2, 0.3, 1.3, 0.9)  # (start_h, start_w, end_h, end_w)
    mod = module(tensor("x", x.shape), f"R.image.resize2d(x, (9, 5), {attrs(roi=roi)}, "
                 f'method="{method}", coordinate_transformation_mode="tf_crop_and_resize", '
                 f'rounding_method="round_prefer_floor", extrapolation_value=-3.0)')
    onnx_roi = [0, 0, roi[0], roi[1], 1, 1, roi[2], roi[3]]
    expected = ort_resize(x, (9, 5), onnx_roi, mode="nearest" if method[0] == "n" else method,
                          coordinate_transformation_mode="tf_crop_and_resize",
                          extrapolation_value=-3.0)
    assert (expected == -3.0).any()
    np.testing.assert_allclose(run(mod, x), expected, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_resize2d_nhwc_symbolic_input(target):
    mod = module(tensor("x", ("n", "h", "w", 3)),
                 'R.image.resize2d(x, R.shape([9, 4]), layout="NHWC")')
    ex = tvmscript.build(mod, target=target)["main"]
    for shape in ((2, 5, 6, 3), (1, 9, 2, 3)):
        x = rand(*shape)
        expected = torch_ref(F.interpolate, to_layout(x, "NHWC", "NCHW"), size=(9, 4),
                             mode="bilinear", align_corners=False)
        np.testing.assert_allclose(ex(x), to_layout(expected, "NCHW", "NHWC"), rtol=1e-5,
                                   atol=2e-6)


def test_resize2d_to_sizes_of_another_tensor():
    """Output sizes given by the function's size variables, one only as an expression
    (``k * 2``), after a ceil-mode pool of symbolic size."""
    mod = module(f"{tensor('x', ('n', 3, 'h', 'w'))}, {tensor('y', ('m', 'k'))}",
                 'R.image.resize2d(R.nn.max_pool2d(x, 3, 2, 1, ceil_mode=True), '
                 f'R.shape(["m", "k * 2"]), {resize_attrs(*TORCH_MODES["nearest"])})')
    printed = mod.script()
    assert "size=(m, k * T.int64(2))" in printed
    tvmscript.assert_structural_equal(tvmscript.from_source(printed), mod)
    ex = tvmscript.build(mod)["main"]
    for shape, (m, k) in (((2, 3, 9, 6), (5, 4)), ((1, 3, 4, 4), (2, 1))):
        x = rand(*shape)
        pooled = torch_ref(F.max_pool2d, x, 3, 2, 1, ceil_mode=True)
        expected = torch_ref(F.interpolate, pooled, size=(m, 2 * k), mode="nearest")
        np.testing.assert_array_equal(ex(x, np.zeros((m, k), "float32")), expected)


# ---------------------------------------------------------------- R.linear


def test_linear_is_permute_dims_matmul_add():
    mod = module(f"{tensor('x', ('n', 8))}, {tensor('w', (5, 8))}, {tensor('b', (5,))}",
                 "R.linear(x, w, b)", 'R.Tensor(("n", 5), "float32")')
    text = mod.script()
    assert "linear" not in text
    assert "R.permute_dims(w)" in text and "R.matmul(x, lv)" in text and \
        "R.add(lv1, b)" in text.replace("lv_1", "lv1"), text
    x, w, b = rand(3, 8), rand(5, 8), rand(5)
    np.testing.assert_allclose(run(mod, x, w, b), x @ w.T + b, rtol=1e-5, atol=1e-5)
    tvmscript.assert_structural_equal(tvmscript.from_source(text), mod)


def test_linear_without_bias():
    mod = module(f"{tensor('x', (2, 3, 4))}, {tensor('w', (6, 4))}", "R.linear(x, w)",
                 'R.Tensor((2, 3, 6), "float32")')
    x, w = rand(2, 3, 4), rand(6, 4)
    np.testing.assert_allclose(run(mod, x, w), x @ w.T, rtol=1e-5, atol=1e-5)


def test_linear_shape_mismatch_names_linear():
    with pytest.raises(ScriptError, match=r"R.linear \(x @ permute_dims\(weight\) \+ bias\): "
                                          r"R.matmul: reduction sizes differ") as info:
        module(f"{tensor('x', (2, 4))}, {tensor('w', (6, 5))}", "R.linear(x, w)")
    assert (info.value.lineno, info.value.col_offset) == (5, 13)


# ---------------------------------------------------------------- inference and errors


def test_symbolic_batch_flows_through():
    mod = module(tensor("x", ("n", 3, 16, 16)) + ", " + tensor("w", (8, 3, 3, 3)),
                 "R.nn.max_pool2d(R.nn.conv2d(x, w, padding=1, strides=2), 2, 2)")
    (binding, pool) = mod["main"].body.blocks[0].bindings
    n = mod["main"].params[0].sinfo.shape[0]
    assert isinstance(n, Var)
    for b, size in ((binding, 8), (pool, 4)):
        shape = b.var.sinfo.shape
        assert shape[0] is n and [d.value for d in shape[1:]] == [8, size, size]


ERRORS = {
    "channels": ((1, 3, 8, 8), (4, 2, 3, 3), "R.nn.conv2d(x, w)",
                 ("R.nn.conv2d: the data has 3 channels but the weight takes 2 per group, times "
                 "groups=1 is 2")),
    "groups": ((1, 4, 8, 8), (5, 2, 3, 3), "R.nn.conv2d(x, w, groups=2)",
               ("R.nn.conv2d: 5 output channels \\(the weight's O dimension\\) do not split into "
               "groups=2")),
    "layout": ((1, 4, 8, 8), (4, 4, 3, 3), 'R.nn.conv2d(x, w, data_layout="NCHW4c")',
               ("R.nn.conv2d: data_layout='NCHW4c' is not supported; a layout orders the letters "
               "NCHW")),
    "too-small": ((1, 1, 2, 2), (1, 1, 3, 3), "R.nn.conv2d(x, w)",
                  ("R.nn.conv2d: the output would have size 0 in dimension H; the \\(dilated\\) "
                  "kernel \\(3, 3\\) is larger than the padded input \\(2, 2\\)")),
    "output_padding": ((1, 4, 8, 8), (4, 4, 3, 3),
                       "R.nn.conv2d_transpose(x, w, strides=2, output_padding=2)",
                       ("R.nn.conv2d_transpose: output_padding 2 must be smaller than the stride "
                       "\\(2\\) or the dilation \\(1\\)")),
    "transpose-channels": ((1, 4, 8, 8), (3, 4, 3, 3), "R.nn.conv2d_transpose(x, w)",
                           ("R.nn.conv2d_transpose: the data has 4 channels but the weight's I "
                           "dimension is 3")),
    "rank": ((1, 4, 8), (4, 4, 3, 3), "R.nn.conv2d(x, w)",
             "R.nn.conv2d expects 4-D data \\(NCHW\\), got a tensor of shape \\(1, 4, 8\\)"),
    "strides": ((1, 4, 8, 8), None, "R.nn.max_pool2d(x, 2, strides=0)",
                ("R.nn.max_pool2d: strides must be an int or a list of 1 or 2 ints, each at "
                "least 1, got \\(0, 0\\)")),
    "ceil_mode": ((1, 4, 8, 8), None, "R.nn.avg_pool2d(x, 2, ceil_mode=1)",
                  "R.nn.avg_pool2d: ceil_mode must be True or False, got 1"),
    "output_size": ((1, 4, 8, 8), None, "R.nn.adaptive_avg_pool2d(x, (0, 2))",
                    ("R.nn.adaptive_avg_pool2d: output_size must be None, a positive int or a "
                    "list of 2 positive ints")),
    "method": ((1, 4, 8, 8), None, 'R.image.resize2d(x, 4, method="area")',
               ("R.image.resize2d: method='area' is not supported; it is one of "
               "'nearest_neighbor', 'linear', 'cubic'")),
    "size": ((1, 4, 8, 8), None, "R.image.resize2d(x)",
             ("R.image.resize2d: size must be an int, 2 sizes or R.shape\\(\\[h, w\\]\\), "
             "got None")),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_calls_are_clear_errors_at_the_call(name):
    xs, ws, call, message = ERRORS[name]
    signature = tensor("x", xs) + (", " + tensor("w", ws) if ws else "")
    with pytest.raises(ScriptError, match=message) as info:
        module(signature, call)
    assert (info.value.lineno, info.value.col_offset) == (5, 13)


def test_interpolating_integers_is_refused():
    with pytest.raises(ScriptError, match="R.image.resize2d: method='linear' interpolates, so it "
                                          "needs float data, got int32; use "
                                          "method='nearest_neighbor' or cast first"):
        module(tensor("x", (1, 1, 4, 4), "int32"), "R.image.resize2d(x, 8)",
               'R.Tensor(dtype="int32", ndim=4)')
    mod = module(tensor("x", (1, 1, 2, 2), "int32"),
                 'R.image.resize2d(x, 4, method="nearest_neighbor", '
                 'coordinate_transformation_mode="asymmetric", rounding_method="floor")',
                 'R.Tensor(dtype="int32", ndim=4)')
    x = np.arange(4, dtype="int32").reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(run(mod, x), x.repeat(2, 2).repeat(2, 3))


# ---------------------------------------------------------------- printing and TVM

SCRIPT = '''
@R.function
def main(x: R.Tensor(("n", 4, 8, 8), "float32"), w: R.Tensor((6, 2, 3, 3), "float32"), wt: R.Tensor((4, 3, 3, 3), "float32"), x1: R.Tensor(("n", 4, 9), "float32"), w1: R.Tensor((6, 4, 3), "float32"), wt1: R.Tensor((4, 2, 3), "float32"), lw: R.Tensor((5, 8), "float32"), lb: R.Tensor((5,), "float32")) -> R.Tensor(("n", 4, 8, 5), "float32"):
    with R.dataflow():
        a = R.nn.conv2d(x, w, strides=2, padding=(1, 2, 0, 1), dilation=(1, 2), groups=2)
        a1 = R.nn.conv2d(x, R.permute_dims(w, axes=[2, 3, 1, 0]), kernel_layout="HWIO", out_layout="NHWC", groups=2)
        b = R.nn.conv2d_transpose(x, wt, strides=2, padding=1, output_padding=1, groups=2)
        c = R.nn.conv1d(x1, w1, strides=2, padding=(1, 0), dilation=2)
        c1 = R.nn.conv1d_transpose(x1, wt1, strides=3, padding=1, output_padding=2)
        d = R.nn.max_pool2d(x, pool_size=3, strides=2, padding=1, ceil_mode=True)
        e = R.nn.avg_pool2d(x, 3, 2, 1, count_include_pad=True, layout="NCHW", out_layout="NHWC")
        f = R.nn.adaptive_avg_pool2d(x, 1)
        f1 = R.nn.adaptive_avg_pool2d(x)
        g = R.image.resize2d(x, R.shape([16, 12]), method="nearest_neighbor", rounding_method="floor")
        g1 = R.image.resize2d(x, 5, roi=[0.1, 0.2, 0.8, 0.9], coordinate_transformation_mode="tf_crop_and_resize", out_dtype="float32")
        h = R.linear(x, lw, lb)
        gv = R.add(h, h)
        R.output(gv)
    return gv
'''


def test_scripts_print_and_parse_back():
    ours_only = "        f2 = R.nn.adaptive_max_pool2d(x, (3, None))\n"
    text = SCRIPT.replace("        g = ", ours_only + "        g = ")
    func = tvmscript.from_source(text)
    printed = func.script()
    assert "R.nn.adaptive_max_pool2d(x, output_size=(3, None)" in printed
    again = tvmscript.from_source(printed)
    tvmscript.assert_structural_equal(again, func)
    assert again.script() == printed
    lowered = legalize_ops(tvmscript.IRModule.from_function(func, "main"))
    tvmscript.assert_structural_equal(tvmscript.from_source(lowered.script()), lowered)
