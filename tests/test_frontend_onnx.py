"""``tvmscript.frontend.from_onnx``: small ONNX models built with ``onnx.helper`` give the
numbers onnxruntime gives, once imported, built and run (``tvmscript.build(mod)["main"]``)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX importer needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for the numbers")

from onnx import TensorProto, helper, numpy_helper

import tvmscript
from tvmscript.frontend import from_onnx
from tvmscript.frontend.onnx import OnnxImportError, UnsupportedOperatorError

rng = np.random.default_rng(0)
make = helper.make_node


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype("float32")


def model(nodes: list, inputs: dict, outputs: list[str], inits: dict | None = None,
          opset: int = 17, shapes: dict | None = None) -> onnx.ModelProto:
    """A one-graph model; ``inputs`` maps names to example arrays (or to (dtype, dims) when
    ``shapes`` names symbolic sizes)."""
    shapes = shapes or {}
    infos = [helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(a.dtype), shapes.get(name, a.shape))
        for name, a in inputs.items()]
    outs = [helper.make_empty_tensor_value_info(o) for o in outputs]
    weights = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "test", infos, outs, weights)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 9  # what onnxruntime reads
    return m


def reference(m: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check(nodes: list, inputs: dict, outputs: list[str] | str = "y", inits: dict | None = None,
          opset: int = 17, tol: float = 1e-5, shapes: dict | None = None) -> tvmscript.IRModule:
    """Import, build and run the model; every output must match onnxruntime's."""
    outputs = [outputs] if isinstance(outputs, str) else outputs
    m = model(nodes, inputs, outputs, inits, opset, shapes)
    mod = from_onnx(m)
    got = tvmscript.build(mod)["main"](*inputs.values())
    got = got if isinstance(got, tuple) else (got,)
    want = reference(m, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    return mod


X = f32(2, 3, 4)
POS = (np.abs(X) + 0.25).astype("float32")
HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6], "float32")

# ---------------------------------------------------------------- element-wise

UNARY = [("Relu", X, {}), ("Sigmoid", X, {}), ("Tanh", X, {}), ("Sqrt", POS, {}),
         ("Exp", X, {}), ("Log", POS, {}), ("Neg", X, {}), ("Abs", X, {}), ("Floor", X, {}),
         ("Ceil", X, {}), ("Round", HALVES, {}), ("Sin", X, {}), ("Cos", X, {}),
         ("Erf", X, {}), ("Reciprocal", POS, {}), ("Identity", X, {}),
         ("Softmax", X, {"axis": 1}), ("LogSoftmax", X, {}),
         ("HardSigmoid", X * 3, {"alpha": 0.3, "beta": 0.4}), ("HardSwish", X * 4, {}),
         ("LeakyRelu", X, {"alpha": 0.2}), ("Dropout", X, {})]


@pytest.mark.parametrize("op,x,attrs", UNARY, ids=[u[0] for u in UNARY])
def test_unary(op, x, attrs):
    check([make(op, ["x"], ["y"], **attrs)], {"x": x}, tol=1e-4)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset20(approximate):
    check([make("Gelu", ["x"], ["y"], approximate=approximate)], {"x": X}, opset=20, tol=1e-4)


def test_softmax_before_opset13_flattens_to_2d():
    check([make("Softmax", ["x"], ["y"], axis=1)], {"x": X}, opset=11, tol=1e-5)


BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"]


@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcast(op):
    a = POS if op == "Pow" else X
    check([make(op, ["a", "b"], ["y"])], {"a": a, "b": f32(3, 1)}, tol=1e-5)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_compare(op):
    a = np.array([[1, 2, 3], [3, 2, 1]], "int64")
    check([make(op, ["a", "b"], ["y"])], {"a": a, "b": np.array([2, 2, 2], "int64")})


def test_logic_and_where():
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    nodes = [make("And", ["a", "b"], ["and"]), make("Or", ["a", "b"], ["or"]),
             make("Xor", ["a", "b"], ["xor"]), make("Not", ["a"], ["not"]),
             make("Where", ["a", "x", "z"], ["w"])]
    check(nodes, {"a": a, "b": b, "x": f32(4), "z": f32(3, 4)}, ["and", "or", "xor", "not", "w"])


def test_variadic_max_sum_mean():
    nodes = [make("Max", ["a", "b", "c"], ["mx"]), make("Sum", ["a", "b", "c"], ["s"]),
             make("Mean", ["a", "b", "c"], ["m"])]
    check(nodes, {"a": f32(2, 3), "b": f32(3), "c": f32(2, 1)}, ["mx", "s", "m"])


def test_cast():
    nodes = [make("Cast", ["x"], ["i"], to=TensorProto.INT32),
             make("Cast", ["i"], ["y"], to=TensorProto.FLOAT)]
    check(nodes, {"x": X * 3}, ["i", "y"])


@pytest.mark.parametrize("form", ["inputs", "max-only", "attrs"])
def test_clip(form):
    if form == "attrs":
        check([make("Clip", ["x"], ["y"], min=-0.5, max=0.5)], {"x": X}, opset=6)
        return
    names = ["x", "lo", "hi"] if form == "inputs" else ["x", "", "hi"]
    inits = {"lo": np.float32(-0.5), "hi": np.float32(0.7)}
    check([make("Clip", names, ["y"])], {"x": X}, inits=inits, opset=13)


# ---------------------------------------------------------------- shapes


def test_reshape_with_zero_and_minus_one():
    check([make("Reshape", ["x", "s"], ["y"])], {"x": X}, inits={"s": np.array([0, -1], "int64")})


@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze_squeeze_transpose_flatten(opset):
    if opset >= 13:
        nodes = [make("Unsqueeze", ["x", "ax"], ["u"]), make("Squeeze", ["u", "ax"], ["s"])]
    else:
        nodes = [make("Unsqueeze", ["x"], ["u"], axes=[0, -1]),
                 make("Squeeze", ["u"], ["s"], axes=[0, -1])]
    nodes += [make("Transpose", ["s"], ["t"], perm=[2, 0, 1]),
              make("Flatten", ["t"], ["y"], axis=2)]
    check(nodes, {"x": X}, ["u", "s", "t", "y"], inits={"ax": np.array([0, -1], "int64")},
          opset=opset)


def test_concat_with_a_constant():
    check([make("Concat", ["x", "c"], ["y"], axis=-1)], {"x": X}, inits={"c": f32(2, 3, 2)})


@pytest.mark.parametrize("form", ["equal", "sizes", "num_outputs"])
def test_split(form):
    x = f32(2, 7) if form == "num_outputs" else f32(2, 6)
    if form == "equal":
        node, inits, opset = make("Split", ["x"], ["a", "b", "c"], axis=1), {}, 13
    elif form == "sizes":
        node = make("Split", ["x", "s"], ["a", "b", "c"], axis=1)
        inits, opset = {"s": np.array([1, 2, 3], "int64")}, 13
    else:
        node, inits, opset = make("Split", ["x"], ["a", "b", "c"], axis=-1, num_outputs=3), {}, 18
    check([node], {"x": x}, ["a", "b", "c"], inits=inits, opset=opset)


SLICES = {"basic": ([1], [3], [1], None), "negative": ([-3], [-1], [2], None),
          "to-end": ([1, 0], [2 ** 63 - 1, 2], [2, 0], None),
          "steps": ([0, 3], [4, 0], [2, 1], [2, -1]),
          "reverse": ([-1], [-2 ** 63], [1], [-1])}


@pytest.mark.parametrize("case", sorted(SLICES))
def test_slice(case):
    starts, ends, axes, steps = SLICES[case]
    inits = {"st": np.array(starts, "int64"), "en": np.array(ends, "int64"),
             "ax": np.array(axes, "int64")}
    names = ["x", "st", "en", "ax"]
    if steps is not None:
        inits["sp"] = np.array(steps, "int64")
        names.append("sp")
    check([make("Slice", names, ["y"])], {"x": f32(3, 5, 4)}, inits=inits)


def test_gather_constant_indices_and_embedding():
    nodes = [make("Gather", ["x", "i"], ["g"], axis=1), make("Gather", ["table", "ids"], ["e"])]
    ids = np.array([[0, 3, 4], [4, 1, -1]], "int64")
    check(nodes, {"x": X, "ids": ids}, ["g", "e"],
          inits={"i": np.array([2, -1], "int64"), "table": f32(5, 3)})


def test_gather_elements():
    idx = rng.integers(-4, 4, (2, 3, 2)).astype("int64")
    check([make("GatherElements", ["x", "i"], ["y"], axis=2)], {"x": X}, inits={"i": idx})


def test_expand_tile_pad():
    nodes = [make("Expand", ["x", "s"], ["e"]), make("Tile", ["x", "r"], ["t"]),
             make("Pad", ["x", "p", "v"], ["pc"]),
             make("Pad", ["x", "p"], ["pr"], mode="reflect"),
             make("Pad", ["x", "p"], ["pe"], mode="edge")]
    inits = {"s": np.array([2, 1, 3, 4], "int64"), "r": np.array([1, 2, 1], "int64"),
             "p": np.array([0, 1, 2, 0, 1, 1], "int64"), "v": np.float32(1.5)}
    check(nodes, {"x": X}, ["e", "t", "pc", "pr", "pe"], inits=inits)


def test_shape_chain_constant_of_shape_range_onehot():
    nodes = [make("Shape", ["x"], ["sh"]), make("ConstantOfShape", ["sh"], ["ones"],
                                                value=helper.make_tensor("v", 1, [1], [1.0])),
             make("Add", ["x", "ones"], ["y"]),
             make("Gather", ["sh", "last"], ["n"]),
             make("Range", ["zero", "n", "one"], ["r"]),
             make("OneHot", ["r", "depth", "vals"], ["oh"], axis=0)]
    inits = {"last": np.array(-1, "int64"), "zero": np.array(0, "int64"),
             "one": np.array(1, "int64"), "depth": np.array(5, "int64"),
             "vals": np.array([0.0, 2.0], "float32")}
    mod = check(nodes, {"x": X}, ["y", "r", "oh"], inits=inits)
    assert "Shape" not in mod.script()  # evaluated while importing


def test_prelu_castlike_size_and_squeeze_without_axes():
    x = f32(1, 3, 4)
    nodes = [make("PRelu", ["x", "slope"], ["pr"]),
             make("Size", ["x"], ["n"]), make("CastLike", ["n", "x"], ["nf"]),
             make("Div", ["pr", "nf"], ["d"]), make("Squeeze", ["d"], ["y"]),
             make("ReduceL1", ["x"], ["l1"], axes=[2])]
    check(nodes, {"x": x}, ["y", "l1"], inits={"slope": f32(3, 1)}, opset=15)


def test_one_hot_of_computed_indices_counts_negatives_from_depth():
    ids = np.array([[0, -1, 2]], "int64")
    check([make("OneHot", ["i", "depth", "vals"], ["y"])], {"i": ids},
          inits={"depth": np.array(4, "int64"), "vals": np.array([0, 1], "int64")})


# ---------------------------------------------------------------- reductions


REDUCE = [("ReduceMean", 13, [1], 1), ("ReduceSum", 13, [0, 2], 0), ("ReduceMax", 18, [-1], 1),
          ("ReduceMin", 18, [1], 0), ("ReduceProd", 13, None, 1), ("ReduceSumSquare", 13, [2], 1),
          ("ReduceL2", 18, [2], 0)]


@pytest.mark.parametrize("op,opset,axes,keep", REDUCE, ids=[r[0] for r in REDUCE])
def test_reduce(op, opset, axes, keep):
    as_input = opset >= 18 or op == "ReduceSum"
    attrs = {"keepdims": keep} | ({"axes": axes} if axes is not None and not as_input else {})
    names = ["x", "ax"] if as_input and axes is not None else ["x"]
    inits = {"ax": np.array(axes, "int64")} if len(names) == 2 else {}
    check([make(op, names, ["y"], **attrs)], {"x": X}, inits=inits, opset=opset, tol=1e-4)


def test_reduce_with_empty_axes_and_noop_is_identity():
    mod = check([make("ReduceSum", ["x"], ["y"], noop_with_empty_axes=1)], {"x": X}, opset=13)
    assert "R.sum" not in mod.script()


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_reduce(op):
    check([make(op, ["x"], ["y"], axis=1, keepdims=0)], {"x": X})


# ---------------------------------------------------------------- normalization


def test_layer_norm_with_and_without_bias():
    nodes = [make("LayerNormalization", ["x", "g", "b"], ["y"], epsilon=1e-3),
             make("LayerNormalization", ["x", "g"], ["z"], axis=1)]
    check(nodes, {"x": X}, ["y", "z"], inits={"g": f32(4), "b": f32(4)}, tol=1e-4)


def test_batch_instance_group_norm():
    x = f32(2, 4, 3, 3)
    nodes = [make("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], epsilon=1e-3),
             make("InstanceNormalization", ["x", "s", "b"], ["inn"]),
             make("GroupNormalization", ["x", "s", "b"], ["gn"], num_groups=2)]
    inits = {"s": f32(4), "b": f32(4), "m": f32(4), "v": (np.abs(f32(4)) + 0.5)}
    check(nodes, {"x": x}, ["bn", "inn", "gn"], inits=inits, opset=21, tol=1e-4)


def test_group_norm_opset18_scales_per_group():
    x = f32(2, 4, 3, 3)
    check([make("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)], {"x": x},
          inits={"s": f32(2), "b": f32(2)}, opset=18, tol=1e-4)


# ---------------------------------------------------------------- convolution and pooling

CONVS = {"plain": {"pads": [1, 1, 1, 1]}, "strided": {"strides": [2, 1], "dilations": [1, 2]},
         "depthwise": {"group": 4, "pads": [1, 0, 1, 2]}, "same-upper": {"auto_pad": "SAME_UPPER",
                                                                         "strides": [2, 2]},
         "same-lower": {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
         "valid": {"auto_pad": "VALID"}}


@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv2d(case):
    attrs = CONVS[case]
    w = f32(4, 1 if case == "depthwise" else 4, 3, 3)
    check([make("Conv", ["x", "w", "b"], ["y"], **attrs)], {"x": f32(1, 4, 6, 7)},
          inits={"w": w, "b": f32(4)}, tol=1e-4)


def test_conv1d():
    check([make("Conv", ["x", "w"], ["y"], pads=[2, 1], strides=[2])], {"x": f32(2, 3, 9)},
          inits={"w": f32(5, 3, 3)}, tol=1e-4)


@pytest.mark.parametrize("attrs", [{"strides": [2, 2], "pads": [1, 1, 1, 1]},
                                   {"strides": [2, 2], "output_padding": [1, 0], "group": 2},
                                   {"strides": [2, 2], "output_shape": [7, 7]}],
                         ids=["pads", "groups", "output_shape"])
def test_conv_transpose(attrs):
    check([make("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)], {"x": f32(1, 4, 4, 4)},
          inits={"w": f32(4, 3, 3, 3), "b": f32(6 if "group" in attrs else 3)}, tol=1e-4)


POOLS = [("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
         ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
         ("MaxPool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
         ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
         ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
         ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1})]


@pytest.mark.parametrize("op,attrs", POOLS, ids=[f"{p[0]}-{i}" for i, p in enumerate(POOLS)])
def test_pool(op, attrs):
    check([make(op, ["x"], ["y"], **attrs)], {"x": f32(1, 2, 7, 7)}, tol=1e-5)


def test_global_pools():
    nodes = [make("GlobalAveragePool", ["x"], ["a"]), make("GlobalMaxPool", ["x"], ["m"])]
    check(nodes, {"x": f32(2, 3, 5, 4)}, ["a", "m"])


# ---------------------------------------------------------------- matrix products


def test_gemm_and_matmul():
    nodes = [make("Gemm", ["a", "b", "c"], ["g"], transA=1, transB=1, alpha=0.5, beta=2.0),
             make("MatMul", ["x", "w"], ["m"])]
    check(nodes, {"a": f32(4, 3), "x": X}, ["g", "m"],
          inits={"b": f32(5, 4), "c": f32(5), "w": f32(4, 6)}, tol=1e-4)


EINSUMS = {"bij,bjk->bik": [(2, 3, 4), (2, 4, 5)], "bhqd,bhkd->bhqk": [(2, 2, 3, 4), (2, 2, 5, 4)],
           "ij->ji": [(3, 4)], "ij,j->i": [(3, 4), (4,)], "bid,bjd->bij": [(2, 3, 4), (2, 5, 4)],
           "ik,kj": [(3, 4), (4, 2)]}


@pytest.mark.parametrize("equation", sorted(EINSUMS))
def test_einsum(equation):
    shapes = EINSUMS[equation]
    names = [f"x{i}" for i in range(len(shapes))]
    check([make("Einsum", names, ["y"], equation=equation)],
          {n: f32(*s) for n, s in zip(names, shapes)}, tol=1e-4)


# ---------------------------------------------------------------- resizing

RESIZES = [({"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
             "nearest_mode": "floor"}, "scales"),
           ({"mode": "nearest"}, "sizes"),
           ({"mode": "linear"}, "scales"),
           ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, "sizes")]


@pytest.mark.parametrize("attrs,given", RESIZES, ids=[f"{r[0]['mode']}-{i}"
                                                      for i, r in enumerate(RESIZES)])
def test_resize(attrs, given):
    x = f32(1, 2, 3, 4)
    if given == "scales":
        names, inits = ["x", "", "sc"], {"sc": np.array([1, 1, 2, 2], "float32")}
    else:
        names, inits = ["x", "", "", "sz"], {"sz": np.array([1, 2, 5, 7], "int64")}
    check([make("Resize", names, ["y"], **attrs)], {"x": x}, inits=inits, opset=13, tol=1e-5)


def test_resize_to_sizes_computed_from_a_symbolic_shape():
    inits = {"zero": np.array([0], "int64"), "two": np.array([2], "int64"),
             "hw": np.array([6, 8], "int64")}
    nodes = [make("Shape", ["x"], ["s"]), make("Slice", ["s", "zero", "two"], ["nc"]),
             make("Concat", ["nc", "hw"], ["sz"], axis=0),
             make("Resize", ["x", "", "", "sz"], ["y"], mode="linear")]
    m = model(nodes, {"x": f32(1, 2, 3, 4)}, ["y"], inits, 13, {"x": ["N", 2, 3, 4]})
    ex = tvmscript.build(from_onnx(m))
    for n in (1, 2):
        x = f32(n, 2, 3, 4)
        np.testing.assert_allclose(ex["main"](x), reference(m, {"x": x})[0], rtol=1e-5,
                                   atol=1e-5)


def test_upsample_nearest():
    check([make("Upsample", ["x", "sc"], ["y"])], {"x": f32(1, 2, 3, 4)},
          inits={"sc": np.array([1, 1, 2, 3], "float32")}, opset=9)


# ---------------------------------------------------------------- small networks


def cnn(shapes: dict | None = None) -> onnx.ModelProto:
    """conv -> batch norm -> relu -> max pool -> flatten -> gemm (ResNet's stem and head)."""
    inits = {"w": f32(4, 3, 3, 3), "cb": f32(4), "s": f32(4), "b": f32(4), "m": f32(4),
             "v": np.abs(f32(4)) + 0.5, "fw": f32(5, 16), "fb": f32(5)}
    nodes = [make("Conv", ["x", "w", "cb"], ["c"], pads=[1, 1, 1, 1]),
             make("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"]),
             make("Relu", ["bn"], ["r"]),
             make("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             make("Flatten", ["p"], ["f"]),
             make("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    return model(nodes, {"x": f32(1, 3, 4, 4)}, ["y"], inits, 13, shapes)


def test_cnn_with_symbolic_batch_runs_at_two_batch_sizes():
    m = cnn({"x": ["N", 3, 4, 4]})
    mod = from_onnx(m)
    param = mod["main"].params[0]
    assert str(param.struct_info.shape[0]) == "N"
    ex = tvmscript.build(mod)
    for n in (1, 3):
        x = f32(n, 3, 4, 4)
        np.testing.assert_allclose(ex["main"](x), reference(m, {"x": x})[0], rtol=1e-4,
                                   atol=1e-4)


def encoder(batch: int | str = 2, seq: int | str = 5) -> onnx.ModelProto:
    """One transformer encoder layer as PyTorch exports it: the head reshapes take their sizes
    from Shape -> Gather -> Unsqueeze -> Concat chains."""
    d, h = 8, 2
    inits = {"wq": f32(d, d), "wk": f32(d, d), "wv": f32(d, d), "wo": f32(d, d), "bo": f32(d),
             "g1": f32(d), "b1": f32(d), "w1": f32(d, 16), "w2": f32(16, d), "g2": f32(d),
             "b2": f32(d), "i0": np.array(0, "int64"), "i1": np.array(1, "int64"),
             "ax0": np.array([0], "int64"), "ax1": np.array([1], "int64"),
             "heads": np.array([h, d // h], "int64"),
             "model": np.array([d], "int64"), "scale": np.float32(1 / np.sqrt(d // h)),
             "sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5),
             "mask": np.float32(-1e4)}
    nodes = [make("Shape", ["x"], ["shape"]),
             make("Gather", ["shape", "i0"], ["b"]), make("Gather", ["shape", "i1"], ["s"]),
             make("Unsqueeze", ["b", "ax0"], ["b1d"]), make("Unsqueeze", ["s", "ax0"], ["s1d"]),
             make("Concat", ["b1d", "s1d", "heads"], ["split_shape"], axis=0),
             make("Concat", ["b1d", "s1d", "model"], ["merge_shape"], axis=0)]
    for name in "qkv":
        nodes += [make("MatMul", ["x", f"w{name}"], [f"{name}0"]),
                  make("Reshape", [f"{name}0", "split_shape"], [f"{name}1"]),
                  make("Transpose", [f"{name}1"], [name], perm=[0, 2, 1, 3])]
    nodes += [make("Einsum", ["q", "k"], ["qk"], equation="bhqd,bhkd->bhqk"),
              make("Mul", ["qk", "scale"], ["qks"]),
              make("Unsqueeze", ["am", "ax1"], ["am1"]), make("Cast", ["am1"], ["amf"], to=1),
              make("Sub", ["one", "amf"], ["inv"]), make("Mul", ["inv", "mask"], ["bias"]),
              make("Unsqueeze", ["bias", "ax1"], ["bias4"]),
              make("Add", ["qks", "bias4"], ["logits"]),
              make("Softmax", ["logits"], ["attn"], axis=-1),
              make("MatMul", ["attn", "v"], ["ctx"]),
              make("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
              make("Reshape", ["ctx_t", "merge_shape"], ["ctx2"]),
              make("MatMul", ["ctx2", "wo"], ["o"]), make("Add", ["o", "bo"], ["ob"]),
              make("Add", ["x", "ob"], ["res1"]),
              make("LayerNormalization", ["res1", "g1", "b1"], ["ln1"]),
              make("MatMul", ["ln1", "w1"], ["f1"]),
              make("Div", ["f1", "sqrt2"], ["f1d"]), make("Erf", ["f1d"], ["erf"]),
              make("Add", ["erf", "one"], ["erf1"]), make("Mul", ["f1", "erf1"], ["gx"]),
              make("Mul", ["gx", "half"], ["gelu"]),
              make("MatMul", ["gelu", "w2"], ["f2"]), make("Add", ["ln1", "f2"], ["res2"]),
              make("LayerNormalization", ["res2", "g2", "b2"], ["y"])]
    inputs = {"x": f32(2, 5, d), "am": np.ones((2, 5), "int64")}
    shapes = {"x": [batch, seq, d], "am": [batch, seq]}
    return model(nodes, inputs, ["y"], inits, 17, shapes)


def _encoder_feeds(b: int, s: int) -> dict:
    am = np.ones((b, s), "int64")
    am[0, -2:] = 0
    return {"x": f32(b, s, 8), "am": am}


def test_encoder_layer_with_symbolic_batch_and_sequence():
    m = encoder("batch", "sequence")
    mod = from_onnx(m)
    text = mod.script()
    assert "R.reshape(q0, shape=(batch, sequence, 2, 4))" in text, text
    tvmscript.assert_structural_equal(tvmscript.from_source(mod.script(show_meta=True)), mod)
    ex = tvmscript.build(mod)
    for b, s in ((2, 5), (1, 3)):
        feeds = _encoder_feeds(b, s)
        np.testing.assert_allclose(ex["main"](*feeds.values()), reference(m, feeds)[0],
                                   rtol=1e-4, atol=1e-4)


def decoder(batch: int | str = 2, seq: int | str = 5) -> onnx.ModelProto:
    """A GPT-2 block without KV cache as exported: Conv1D layers reshape to (-1, d), run Gemm
    and reshape back; the causal mask is a slice of a constant (1, 1, 16, 16) buffer whose
    bounds come from the sequence length."""
    d, h = 8, 2
    nodes: list = []
    inits = {"zero": np.array([0], "int64"), "m1": np.array([-1], "int64"),
             "m2": np.array([-2], "int64"), "i2": np.array(2, "int64"),
             "last": np.array(-1, "int64"),
             "ax0": np.array([0], "int64"), "ax23": np.array([2, 3], "int64"),
             "heads": np.array([h, d // h], "int64"), "dmodel": np.array([d], "int64"),
             "sizes": np.array([d, d, d], "int64"), "flat": np.array([-1, d], "int64"),
             "bias": np.tril(np.ones((16, 16), "uint8")).reshape(1, 1, 16, 16),
             "neg": np.float32(-1e4), "scale": np.float32(np.sqrt(d // h)),
             "half": np.float32(0.5), "one": np.float32(1), "c": np.float32(0.044715),
             "kk": np.float32(np.sqrt(2 / np.pi)), "three": np.float32(3)}

    def conv1d(x: str, name: str, n_in: int, n_out: int) -> str:
        inits[name + "_w"], inits[name + "_b"] = f32(n_in, n_out), f32(n_out)
        inits[name + "_o"] = np.array([n_out], "int64")
        nodes.extend([make("Shape", [x], [name + "_s"]),
                      make("Slice", [name + "_s", "zero", "m1"], [name + "_lead"]),
                      make("Concat", [name + "_lead", name + "_o"], [name + "_to"], axis=0),
                      make("Reshape", [x, "flat" if n_in == d else name + "_flat"],
                           [name + "_2d"]),
                      make("Gemm", [name + "_2d", name + "_w", name + "_b"], [name + "_mm"]),
                      make("Reshape", [name + "_mm", name + "_to"], [name])])
        if n_in != d:
            inits[name + "_flat"] = np.array([-1, n_in], "int64")
        return name

    def layer_norm(x: str, name: str) -> str:
        inits[name + "_g"], inits[name + "_b"] = f32(d), f32(d)
        nodes.append(make("LayerNormalization", [x, name + "_g", name + "_b"], [name]))
        return name

    def heads(x: str, name: str, perm: list[int]) -> str:
        nodes.extend([make("Shape", [x], [name + "_s"]),
                      make("Slice", [name + "_s", "zero", "m1"], [name + "_lead"]),
                      make("Concat", [name + "_lead", "heads"], [name + "_to"], axis=0),
                      make("Reshape", [x, name + "_to"], [name + "_r"]),
                      make("Transpose", [name + "_r"], [name], perm=perm)])
        return name

    qkv = conv1d(layer_norm("x", "ln1"), "attn", d, 3 * d)
    nodes.append(make("Split", [qkv, "sizes"], ["q0", "k0", "v0"], axis=2))
    q, k, v = heads("q0", "q", [0, 2, 1, 3]), heads("k0", "k", [0, 2, 3, 1]), \
        heads("v0", "v", [0, 2, 1, 3])
    nodes += [make("MatMul", [q, k], ["w0"]), make("Div", ["w0", "scale"], ["w1"]),
              make("Shape", [q], ["qs"]), make("Gather", ["qs", "i2"], ["nd"]),
              make("Shape", [k], ["ks"]), make("Gather", ["ks", "last"], ["ns"]),
              make("Sub", ["ns", "nd"], ["lo"]),
              make("Unsqueeze", ["lo", "ax0"], ["lo1"]), make("Unsqueeze", ["ns", "ax0"], ["ns1"]),
              make("Concat", ["lo1", "zero"], ["starts"], axis=0),
              make("Concat", ["ns1", "ns1"], ["ends"], axis=0),
              make("Slice", ["bias", "starts", "ends", "ax23"], ["mask0"]),
              make("Cast", ["mask0"], ["mask"], to=TensorProto.BOOL),
              make("Where", ["mask", "w1", "neg"], ["w2"]),
              make("Softmax", ["w2"], ["p"], axis=-1), make("MatMul", ["p", v], ["a0"]),
              make("Transpose", ["a0"], ["a1"], perm=[0, 2, 1, 3]),
              make("Shape", ["a1"], ["a1s"]), make("Slice", ["a1s", "zero", "m2"], ["a1lead"]),
              make("Concat", ["a1lead", "dmodel"], ["a1to"], axis=0),
              make("Reshape", ["a1", "a1to"], ["a2"])]
    proj = conv1d("a2", "proj", d, d)
    nodes.append(make("Add", ["x", proj], ["res1"]))
    fc = conv1d(layer_norm("res1", "ln2"), "fc", d, 4 * d)
    nodes += [make("Pow", [fc, "three"], ["cube"]), make("Mul", ["cube", "c"], ["cc"]),
              make("Add", [fc, "cc"], ["inner"]), make("Mul", ["inner", "kk"], ["inner2"]),
              make("Tanh", ["inner2"], ["t"]), make("Add", ["t", "one"], ["t1"]),
              make("Mul", [fc, "t1"], ["g0"]), make("Mul", ["g0", "half"], ["gelu"])]
    out = conv1d("gelu", "out", 4 * d, d)
    nodes.append(make("Add", ["res1", out], ["y"]))
    return model(nodes, {"x": f32(2, 5, d)}, ["y"], inits, 17, {"x": [batch, seq, d]})


@pytest.mark.parametrize("symbolic", [False, True], ids=["static", "symbolic"])
def test_gpt2_style_decoder_block(symbolic):
    m = decoder("batch", "seq") if symbolic else decoder()
    ex = tvmscript.build(from_onnx(m))
    for b, s in ((2, 5), (1, 7)) if symbolic else ((2, 5),):
        x = f32(b, s, 8)
        np.testing.assert_allclose(ex["main"](x), reference(m, {"x": x})[0], rtol=1e-4,
                                   atol=1e-4)


def test_imported_script_parses_in_apache_tvm():
    """The names and attributes are TVM's: the symbolic GPT-2 block's script, printed for TVM,
    is read by Apache TVM 0.27's parser (which infers every call's struct info)."""
    tvm = pytest.importorskip("tvm", reason="Apache TVM is an optional interop dependency")
    mod = from_onnx(decoder("batch", "seq"))
    theirs = tvm.script.from_source(mod.script(dialect="tvm", show_meta=True))
    assert str(theirs["main"].ret_ty) == 'R.Tensor((batch, seq, 8), dtype="float32")'


def test_bert_style_embeddings_with_symbolic_sequence():
    """Position ids from Range(0, seq) and from a slice of a constant buffer up to seq."""
    inits = {"words": f32(10, 8), "pos": f32(16, 8), "types": f32(2, 8), "g": f32(8),
             "b": f32(8), "i1": np.array(1, "int64"), "zero": np.array(0, "int64"),
             "one": np.array(1, "int64"), "ax0": np.array([0], "int64"),
             "pos_ids": np.arange(16, dtype="int64").reshape(1, 16)}
    nodes = [make("Shape", ["ids"], ["shape"]), make("Gather", ["shape", "i1"], ["seq"]),
             make("Range", ["zero", "seq", "one"], ["r"]),
             make("Unsqueeze", ["seq", "ax0"], ["seq1"]),
             make("Slice", ["pos_ids", "ax0", "seq1", "one_ax"], ["sliced"]),
             make("Gather", ["words", "ids"], ["we"]), make("Gather", ["pos", "r"], ["pe"]),
             make("Gather", ["types", "sliced"], ["te"]),  # 0 and 1 only: a type table
             make("Add", ["we", "pe"], ["s1"]), make("Add", ["s1", "te"], ["s2"]),
             make("LayerNormalization", ["s2", "g", "b"], ["y"], epsilon=1e-12)]
    inits["one_ax"] = np.array([1], "int64")
    inits["pos_ids"] = inits["pos_ids"] % 2
    m = model(nodes, {"ids": np.zeros((2, 5), "int64")}, ["y"], inits, 17,
              {"ids": ["batch", "seq"]})
    mod = from_onnx(m)
    assert "R.arange(start=0, end=seq" in mod.script()
    ex = tvmscript.build(mod)
    for b, n in ((2, 5), (3, 9)):
        ids = rng.integers(0, 10, (b, n)).astype("int64")
        np.testing.assert_allclose(ex["main"](ids), reference(m, {"ids": ids})[0], rtol=1e-4,
                                   atol=1e-4)


def test_integer_division_truncates_toward_zero():
    a = np.array([7, -7, 7, -7, 0, 5], "int64")
    check([make("Div", ["a", "b"], ["y"])], {"a": a, "b": np.array([2, 2, -2, -2, 3, -3],
                                                                  "int64")})


def test_pool1d():
    nodes = [make("MaxPool", ["x"], ["m"], kernel_shape=[3], pads=[1, 0], strides=[2]),
             make("AveragePool", ["x"], ["a"], kernel_shape=[2])]
    check(nodes, {"x": f32(1, 2, 8)}, ["m", "a"])


def test_mobilenet_style_block():
    """Depthwise convolution, ReLU6 as Clip, squeeze-and-excite with HardSigmoid, HardSwish."""
    inits = {"pw": f32(8, 4, 1, 1), "dw": f32(8, 1, 3, 3), "se1": f32(2, 8, 1, 1),
             "se1b": f32(2), "se2": f32(8, 2, 1, 1), "se2b": f32(8), "lo": np.float32(0),
             "hi": np.float32(6), "proj": f32(4, 8, 1, 1)}
    nodes = [make("Conv", ["x", "pw"], ["a"]), make("Clip", ["a", "lo", "hi"], ["a6"]),
             make("Conv", ["a6", "dw"], ["b"], group=8, pads=[1, 1, 1, 1], strides=[2, 2]),
             make("HardSwish", ["b"], ["bh"]), make("GlobalAveragePool", ["bh"], ["sq"]),
             make("Conv", ["sq", "se1", "se1b"], ["e1"]), make("Relu", ["e1"], ["e1r"]),
             make("Conv", ["e1r", "se2", "se2b"], ["e2"]),
             make("HardSigmoid", ["e2"], ["gate"], alpha=1 / 6),
             make("Mul", ["bh", "gate"], ["se"]), make("Conv", ["se", "proj"], ["y"])]
    check(nodes, {"x": f32(2, 4, 8, 8)}, inits=inits, opset=14, tol=1e-4)


def test_script_round_trip_with_weights_as_metadata():
    m = cnn()
    mod = from_onnx(m)
    from tvmscript.script.printer import print_with_metadata

    text, consts = print_with_metadata(mod)
    assert 'metadata["relax.expr.Constant"]' in text
    tvmscript.assert_structural_equal(tvmscript.from_source(text, metadata=consts), mod)


def test_path_input(tmp_path):
    m = cnn()
    path = tmp_path / "cnn.onnx"
    onnx.save(m, str(path))
    x = f32(1, 3, 4, 4)
    got = tvmscript.build(from_onnx(str(path)))["main"](x)
    np.testing.assert_allclose(got, reference(m, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_shape_dict_and_dtype_dict_override_inputs():
    m = model([make("Add", ["x", "x"], ["y"])], {"x": X}, ["y"], shapes={"x": ["a", "b", "c"]})
    mod = from_onnx(m, shape_dict={"x": [2, "n", 4]}, dtype_dict={"x": "float64"})
    sinfo = mod["main"].params[0].struct_info
    assert str(sinfo.dtype) == "float64" and str(sinfo.shape[1]) == "n"
    x = X.astype("float64")
    np.testing.assert_allclose(tvmscript.build(mod)["main"](x), x + x)


def test_exporter_names_become_identifiers_and_initializer_inputs_are_weights():
    """Names like "/layer.0/Add_output_0" or "onnx::Mul_3", a keyword and a size named like an
    input print as distinct identifiers and parse back; an initializer that is also listed as
    a graph input (older exporters) is a weight, not a parameter."""
    nodes = [make("Add", ["lambda", "onnx::w_1"], ["/layer.0/Add_output_0"]),
             make("Mul", ["/layer.0/Add_output_0", "n"], ["0out"])]
    inits = {"onnx::w_1": f32(3)}
    m = model(nodes, {"lambda": f32(2, 3), "n": f32(2, 3), "onnx::w_1": f32(3)}, ["0out"],
              inits, shapes={"lambda": ["n", 3], "n": ["n", 3]})
    mod = from_onnx(m)
    assert [p.name for p in mod["main"].params] == ["v_lambda", "n_1"]
    tvmscript.assert_structural_equal(tvmscript.from_source(mod.script()), mod)
    a, b = f32(4, 3), f32(4, 3)
    np.testing.assert_allclose(tvmscript.build(mod)["main"](a, b), (a + inits["onnx::w_1"]) * b,
                               rtol=1e-6)


# ---------------------------------------------------------------- errors


def test_unknown_operator_names_op_node_and_supported_ones():
    m = model([make("Relu", ["x"], ["r"]), make("NonZero", ["r"], ["y"], name="nz")],
              {"x": X}, ["y"])
    with pytest.raises(UnsupportedOperatorError) as err:
        from_onnx(m)
    text = str(err.value)
    assert "'nz' (NonZero, opset 17)" in text and "NonZero is not supported" in text
    assert "Conv" in text and "Relu" in text  # the supported ones are listed


def test_operator_of_another_domain():
    m = model([make("FusedGemm", ["x"], ["y"], domain="com.microsoft", name="fg")],
              {"x": X}, ["y"])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOperatorError, match="'fg'.*domain 'com.microsoft'"):
        from_onnx(m)


def test_unsupported_attribute_value_is_refused():
    m = model([make("ArgMax", ["x"], ["y"], select_last_index=1, name="am")], {"x": X}, ["y"])
    with pytest.raises(UnsupportedOperatorError, match="'am' .ArgMax.*select_last_index"):
        from_onnx(m)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00\xffnot a protobuf at all\x07")
    with pytest.raises(OnnxImportError, match="model.onnx.*is not an ONNX model"):
        from_onnx(str(path))
    with pytest.raises(OnnxImportError, match="no such file"):
        from_onnx(str(tmp_path / "missing.onnx"))


def test_bad_shape_in_the_graph_names_the_node():
    m = model([make("Reshape", ["x", "s"], ["y"], name="rs")], {"x": X}, ["y"],
              inits={"s": np.array([5, -1], "int64")})
    with pytest.raises(OnnxImportError, match="'rs' .Reshape.*cannot reshape"):
        from_onnx(m)


def test_wrong_input_at_call_time_is_a_clear_error():
    m = model([make("Relu", ["x"], ["y"])], {"x": X}, ["y"], shapes={"x": ["n", 3, 4]})
    run = tvmscript.build(from_onnx(m))["main"]
    with pytest.raises(ValueError, match="argument 'x' must have shape.1. == 3"):
        run(f32(2, 5, 4))
    with pytest.raises(TypeError, match="argument 'x' must have dtype float32"):
        run(X.astype("float64"))
