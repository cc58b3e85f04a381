"""The math operators (element-wise, activations, reductions, softmax, normalizations): their
shape and dtype inference, their kernels against numpy through the interpreter and LLVM, and the
scripts that use them printed and parsed back; and ``tvmscript.te`` itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tvmscript
from passes.legalize_ops import legalize_ops
from tvmscript import te
from tvmscript.diagnostics import ScriptError
from tvmscript.ir import graph as G
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import post_order_visit

TARGETS = ["interpreter", "llvm"]
rng = np.random.default_rng(0)


def function(signature: str, lines: list[str]) -> G.Function:
    body = "\n".join(f"        {line}" for line in lines)
    return tvmscript.from_source(f'''
@R.function
def main({signature}):
    with R.dataflow():
{body}
        R.output(gv)
    return gv
''')


def checked_module(signature: str, calls: list[str]) -> tvmscript.IRModule:
    """A module returning every call's value as one tuple; it prints and parses back."""
    names = [f"o{i}" for i in range(len(calls))]
    lines = [f"{n} = {c}" for n, c in zip(names, calls)]
    f = function(signature, lines + [f"gv = ({', '.join(names)},)"])
    mod = tvmscript.IRModule.from_function(f, "main")
    tvmscript.assert_structural_equal(tvmscript.from_source(mod.script()), mod)
    return mod


# LLVM compiles slowly, so it runs the calls whose code generation differs from its
# neighbours' (libm calls, Let, bool and float16 buffers, infinities, tuples); the interpreter
# runs every call
LLVM = {
    "R.rsqrt(p)", "R.erf(x)", "R.round(x)", "R.sign(x)", "R.nn.gelu_tanh(x)",
    "R.nn.softplus(x, beta=2.0, threshold=3.0)", "R.clip(x, min=0.0)",
    "R.astype(x, dtype=\"bool\")", "R.astype(x, \"float16\")",
    "R.floor_mod(x, y)", "R.floor_divide(i, j)", "R.floor_mod(i, j)", "R.less(x, y)",
    "R.logical_xor(a, b)", "R.where(a, x, y)", "R.astype(a, \"float32\")",
    "R.clip(i, 0.5, 3.5)",
    "R.argmax(x, axis=1)", "R.argmin(x, keepdims=True)", "R.max(m, axis=1)",
    "R.variance(x, axis=[1, 2])", "R.prod(x, axis=2)",
    "R.nn.log_softmax(s)", "R.nn.softmax(x, axis=1)",
    "R.nn.layer_norm(x, gw, gb, axes=[1, 2], epsilon=0.001)",
    "R.nn.group_norm(x, g, b, num_groups=2, channel_axis=1, axes=[2])",
    "R.nn.batch_norm(x, g, b, h4, v, epsilon=0.01, momentum=0.25, center=False)",
}
LOOSE = {"R.erf(x)", "R.nn.gelu(x)"}  # erf-based: 1e-4


def check(target: str, signature: str, table: dict, runs: list[dict], rtol: float = 1e-5,
          atol: float = 1e-6) -> None:
    """Every call of ``table`` (on this target) against its numpy reference, which takes the
    inputs (floats as float64) by name; a tuple result is compared field by field. One build
    serves every run (the sizes differ between runs)."""
    calls = {c: ref for c, ref in table.items() if target == "interpreter" or c in LLVM}
    main = tvmscript.build(checked_module(signature, list(calls)), target=target)["main"]
    for inputs in runs:
        outs = main(*inputs.values())
        wide = {k: v.astype("float64") if v.dtype.kind == "f" else v for k, v in inputs.items()}
        assert len(outs) == len(calls)
        for out, (call, ref) in zip(outs, calls.items()):
            want = ref(wide)
            pairs = zip(out, want) if isinstance(want, tuple) else [(out, want)]
            for got, expected in pairs:
                _close(call, got, np.asarray(expected), 1e-4 if call in LOOSE else rtol, atol)


def _close(call: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> None:
    assert got.shape == want.shape, call
    if want.dtype.kind in "biu":  # (numpy sums int32 to int64, TVM keeps int32)
        assert got.dtype.kind == want.dtype.kind, call
        np.testing.assert_array_equal(got, want, err_msg=call)
    else:
        np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol, atol=atol,
                                   err_msg=call)


def erf(x):
    return np.vectorize(math.erf)(x)


def relu6(x):
    return np.clip(x, 0, 6)


# ---------------------------------------------------------------- element-wise

UNARY = {
    "R.exp(x)": lambda a: np.exp(a["x"]),
    "R.log(p)": lambda a: np.log(a["p"]),
    "R.sqrt(p)": lambda a: np.sqrt(a["p"]),
    "R.rsqrt(p)": lambda a: 1 / np.sqrt(a["p"]),
    "R.tanh(x)": lambda a: np.tanh(a["x"]),
    "R.sigmoid(x)": lambda a: 1 / (1 + np.exp(-a["x"])),
    "R.erf(x)": lambda a: erf(a["x"]),
    "R.sin(x)": lambda a: np.sin(a["x"]),
    "R.cos(x)": lambda a: np.cos(a["x"]),
    "R.negative(x)": lambda a: -a["x"],
    "R.abs(x)": lambda a: np.abs(a["x"]),
    "R.floor(x)": lambda a: np.floor(a["x"]),
    "R.ceil(x)": lambda a: np.ceil(a["x"]),
    "R.round(x)": lambda a: np.round(a["x"]),  # halves to even: x holds many halves
    "R.sign(x)": lambda a: np.sign(a["x"]),
    "R.square(x)": lambda a: a["x"] * a["x"],
    "R.nn.relu(x)": lambda a: np.maximum(a["x"], 0),
    "R.nn.relu6(x)": lambda a: relu6(a["x"]),
    "R.nn.gelu(x)": lambda a: 0.5 * a["x"] * (1 + erf(a["x"] / np.sqrt(2))),
    "R.nn.gelu_tanh(x)": lambda a: 0.5 * a["x"] * (
        1 + np.tanh(np.sqrt(2 / np.pi) * (a["x"] + 0.044715 * a["x"] ** 3))),
    "R.nn.silu(x)": lambda a: a["x"] / (1 + np.exp(-a["x"])),
    "R.nn.leakyrelu(x)": lambda a: np.where(a["x"] > 0, a["x"], 0.01 * a["x"]),
    "R.nn.leakyrelu(x, alpha=0.2)": lambda a: np.where(a["x"] > 0, a["x"], 0.2 * a["x"]),
    "R.nn.softplus(x)": lambda a: np.log1p(np.exp(a["x"])),
    "R.nn.softplus(x, beta=2.0, threshold=3.0)":
        lambda a: np.where(2 * a["x"] > 3, a["x"], np.log1p(np.exp(2 * a["x"])) / 2),
    # PyTorch's hardsigmoid and hardswish (relu6(x + 3) / 6), and ONNX HardSigmoid's defaults
    "R.nn.hard_sigmoid(x)": lambda a: relu6(a["x"] + 3) / 6,
    "R.nn.hard_sigmoid(x, alpha=0.2, beta=0.5)": lambda a: np.clip(0.2 * a["x"] + 0.5, 0, 1),
    "R.nn.hard_swish(x)": lambda a: a["x"] * relu6(a["x"] + 3) / 6,
    "R.clip(x, -0.5, 1.5)": lambda a: np.clip(a["x"], -0.5, 1.5),
    "R.clip(x, min=0.0)": lambda a: np.maximum(a["x"], 0),
    "R.astype(x, \"int32\")": lambda a: a["x"].astype("int32"),
    "R.astype(x, dtype=\"bool\")": lambda a: a["x"].astype("bool"),
    "R.astype(x, \"float16\")": lambda a: a["x"].astype("float32").astype("float16"),
}


def halves_and_noise(n: int) -> np.ndarray:
    """Values with many exact halves (for round), beyond +-3 and +-6 (activation kinks)."""
    x = rng.integers(-16, 17, (n, 3)) / 2
    x[::2] += rng.uniform(-0.2, 0.2, (len(x[::2]), 3))
    return x.astype("float32")


@pytest.mark.parametrize("target", TARGETS)
def test_unary_and_activations(target):
    xs = [halves_and_noise(n) for n in (5, 2)]  # one kernel for every size
    check(target, 'x: R.Tensor(("n", 3), "float32"), p: R.Tensor(("n", 3), "float32")', UNARY,
          [{"x": x, "p": (np.abs(x) + 0.25).astype("float32")} for x in xs])


BINARY = {
    "R.add(x, y)": lambda a: a["x"] + a["y"],
    "R.subtract(x, y)": lambda a: a["x"] - a["y"],
    "R.multiply(x, y)": lambda a: a["x"] * a["y"],
    "R.divide(x, y)": lambda a: a["x"] / a["y"],
    "R.maximum(x, y)": lambda a: np.maximum(a["x"], a["y"]),
    "R.minimum(x, y)": lambda a: np.minimum(a["x"], a["y"]),
    "R.power(p, y)": lambda a: np.power(a["p"], a["y"]),
    "R.floor_divide(x, y)": lambda a: np.floor_divide(a["x"], a["y"]),
    "R.floor_mod(x, y)": lambda a: np.mod(a["x"], a["y"]),
    "R.equal(x, y)": lambda a: a["x"] == a["y"],
    "R.not_equal(x, y)": lambda a: a["x"] != a["y"],
    "R.less(x, y)": lambda a: a["x"] < a["y"],
    "R.less_equal(x, y)": lambda a: a["x"] <= a["y"],
    "R.greater(x, y)": lambda a: a["x"] > a["y"],
    "R.greater_equal(x, y)": lambda a: a["x"] >= a["y"],
    "R.floor_divide(i, j)": lambda a: a["i"] // a["j"],
    "R.floor_mod(i, j)": lambda a: a["i"] % a["j"],
    "R.less(i, j)": lambda a: a["i"] < a["j"],
    "R.logical_and(a, b)": lambda a: a["a"] & a["b"],
    "R.logical_or(a, b)": lambda a: a["a"] | a["b"],
    "R.logical_xor(a, b)": lambda a: a["a"] ^ a["b"],
    "R.logical_not(a)": lambda a: ~a["a"],
    "R.where(a, x, y)": lambda a: np.where(a["a"], a["x"], a["y"]),
    "R.where(b, i, j)": lambda a: np.where(a["b"], a["i"], a["j"]),
    "R.sign(i)": lambda a: np.sign(a["i"]),
    "R.abs(i)": lambda a: np.abs(a["i"]),
    "R.clip(i, 0.5, 3.5)": lambda a: np.clip(a["i"], 1, 3),  # the integers inside the bounds
    "R.floor(i)": lambda a: a["i"],
    "R.astype(a, \"float32\")": lambda a: a["a"].astype("float32"),
}


@pytest.mark.parametrize("target", TARGETS)
def test_binary_comparison_logical_where_broadcast(target):
    """(n, 3) with (3,) or (n, 1): numpy's broadcasting, bool results, integer semantics."""
    signature = ('x: R.Tensor(("n", 3), "float32"), y: R.Tensor((3,), "float32"), '
                 'p: R.Tensor(("n", 3), "float32"), i: R.Tensor(("n", 3), "int32"), '
                 'j: R.Tensor(("n", 1), "int32"), a: R.Tensor(("n", 3), "bool"), '
                 'b: R.Tensor((3,), "bool")')
    y = np.array([0.75, -1.5, 2.0], "float32")
    runs = []
    for n in (4, 1):
        x = halves_and_noise(n)
        x[0] = y  # equal elements
        runs.append({"x": x, "y": y, "p": (np.abs(x) + 0.5).astype("float32"),
                     "i": rng.integers(-9, 10, (n, 3)).astype("int32"),
                     "j": rng.choice([-3, -2, 2, 3], (n, 1)).astype("int32"),
                     "a": rng.random((n, 3)) < 0.5, "b": np.array([True, False, True])})
    check(target, signature, BINARY, runs)


# ---------------------------------------------------------------- reductions

REDUCE = {
    "R.sum(x)": lambda a: a["x"].sum(),
    "R.sum(x, axis=1)": lambda a: a["x"].sum(1),
    "R.mean(x, axis=[0, 2])": lambda a: a["x"].mean((0, 2)),
    "R.mean(x, axis=-1, keepdims=True)": lambda a: a["x"].mean(-1, keepdims=True),
    "R.max(x, axis=[-1, 1])": lambda a: a["x"].max((1, 2)),
    "R.max(x)": lambda a: a["x"].max(),
    "R.min(x, axis=0, keepdims=True)": lambda a: a["x"].min(0, keepdims=True),
    "R.prod(x, axis=2)": lambda a: a["x"].prod(2),
    "R.variance(x, axis=[1, 2])": lambda a: a["x"].var((1, 2)),
    "R.variance(x, keepdims=True)": lambda a: a["x"].var(keepdims=True),
    "R.argmax(x, axis=1)": lambda a: a["x"].argmax(1),
    "R.argmin(x, axis=-1, keepdims=True)": lambda a: a["x"].argmin(-1)[..., None],
    "R.argmax(x)": lambda a: a["x"].argmax(),
    "R.argmin(x, keepdims=True)": lambda a: a["x"].argmin().reshape(1, 1, 1),
    # ties: the first index, as numpy
    "R.argmax(t, axis=0)": lambda a: a["t"].argmax(0),
    "R.argmin(t, axis=2, keepdims=True)": lambda a: a["t"].argmin(2)[..., None],
    "R.max(t, axis=1)": lambda a: a["t"].max(1),
    "R.sum(t, axis=[0, 1, 2], keepdims=True)": lambda a: a["t"].sum(keepdims=True),
    # -inf everywhere along an axis is -inf, not the lowest finite number
    "R.max(m, axis=1)": lambda a: a["m"].max(1),
    "R.min(m, axis=1)": lambda a: a["m"].min(1),
}


@pytest.mark.parametrize("target", TARGETS)
def test_reductions(target):
    check(target, 'x: R.Tensor(("n", 3, 4), "float32"), t: R.Tensor(("n", 3, 4), "int32"), '
                  'm: R.Tensor((2, 3), "float32")', REDUCE, [
                      {"x": (rng.standard_normal((n, 3, 4)) + 1).astype("float32"),
                       "t": rng.integers(0, 3, (n, 3, 4)).astype("int32"),
                       "m": np.array([[-np.inf] * 3, [np.inf] * 3], "float32")}
                      for n in (3, 1)])


# ---------------------------------------------------------------- softmax and normalizations

def softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def log_softmax(x, axis):
    s = x - x.max(axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis, keepdims=True))


def normalize(x, axes, eps=1e-5):
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


def group_norm(x, groups, gamma, beta, eps=1e-5):
    n, c, w = x.shape
    g = normalize(x.reshape(n, groups, c // groups, w), (2, 3), eps).reshape(x.shape)
    return g * gamma[:, None] + beta[:, None]


def batch_norm(x, gamma, beta, mean, var, eps=1e-5):
    def channel(v):
        return v.reshape(1, -1, 1)

    return (x - channel(mean)) / np.sqrt(channel(var) + eps) * channel(gamma) + channel(beta)


def batch_norm_training(a):
    """Batch statistics; the moving ones updated with momentum 0.25 (population variance, as
    TVM)."""
    x, mean, var = a["x"], a["x"].mean((0, 2)), a["x"].var((0, 2))
    return (batch_norm(x, a["g"], 0 * a["b"], mean, var, 1e-2),
            0.75 * a["h4"] + 0.25 * mean, 0.75 * a["v"] + 0.25 * var)


NORMS = {
    "R.nn.softmax(x, axis=1)": lambda a: softmax(a["x"], 1),
    "R.nn.softmax(s)": lambda a: softmax(a["s"], -1),
    "R.nn.log_softmax(x, axis=0)": lambda a: log_softmax(a["x"], 0),
    "R.nn.log_softmax(s)": lambda a: log_softmax(a["s"], -1),
    "R.nn.layer_norm(x, w, h, axes=[-1])": lambda a: normalize(a["x"], -1) * a["w"] + a["h"],
    "R.nn.layer_norm(x, gw, gb, axes=[1, 2], epsilon=0.001)":
        lambda a: normalize(a["x"], (1, 2), 1e-3) * a["gw"] + a["gb"],
    "R.nn.layer_norm(x, w, h, axes=[2], center=False, scale=False)":
        lambda a: normalize(a["x"], 2),
    "R.nn.group_norm(x, g, b, num_groups=2, channel_axis=1, axes=[2])":
        lambda a: group_norm(a["x"], 2, a["g"], a["b"]),
    "R.nn.rms_norm(x, w)":
        lambda a: a["x"] / np.sqrt((a["x"] ** 2).mean(-1, keepdims=True) + 1e-5) * a["w"],
    "R.nn.rms_norm(x, gw, axes=[1, 2], epsilon=0.01)":
        lambda a: a["x"] / np.sqrt((a["x"] ** 2).mean((1, 2), keepdims=True) + 1e-2) * a["gw"],
    "R.nn.batch_norm(x, g, b, h4, v, axis=1, training=False)":
        lambda a: (batch_norm(a["x"], a["g"], a["b"], a["h4"], a["v"]), a["h4"], a["v"]),
    "R.nn.batch_norm(x, g, b, h4, v, epsilon=0.01, momentum=0.25, center=False)":
        batch_norm_training,
}


@pytest.mark.parametrize("target", TARGETS)
def test_softmax_and_normalizations(target):
    """Float32 within 1e-5 of float64 numpy, with inputs far from zero (stability)."""
    signature = ", ".join(f'{k}: R.Tensor({s}, "float32")' for k, s in (
        ("x", '("n", 4, 5)'), ("s", "(2, 7)"), ("g", "(4,)"), ("b", "(4,)"), ("h4", "(4,)"),
        ("v", "(4,)"), ("w", "(5,)"), ("h", "(5,)"), ("gw", "(4, 5)"), ("gb", "(4, 5)")))
    runs = []
    for n in (3, 1):
        inputs = {"x": rng.standard_normal((n, 4, 5)) * 3 + 100,
                  "s": np.array([[1000, 999, 998, -1000, 0, 1, 2],
                                 [-50, -60, -70, -80, -90, -100, -3]])}
        inputs.update({k: rng.standard_normal(4) for k in ("g", "b", "h4")})
        inputs.update(v=rng.random(4) + 0.5, w=rng.standard_normal(5),
                      h=rng.standard_normal(5), gw=rng.standard_normal((4, 5)),
                      gb=rng.standard_normal((4, 5)))
        runs.append({k: v.astype("float32") for k, v in inputs.items()})
    check(target, signature, NORMS, runs, atol=2e-5)


def test_batch_norm_is_a_tuple_whose_fields_can_be_taken():
    f = function('x: R.Tensor((2, 3, 4, 4), "float32"), c: R.Tensor((3,), "float32")',
                 ["t = R.nn.batch_norm(x, c, c, c, c, axis=1, epsilon=1e-3, training=False)",
                  "gv = t[0]"])
    t = f.body.blocks[0].bindings[0].var.struct_info
    assert t.script() == ('R.Tuple(R.Tensor((2, 3, 4, 4), dtype="float32"), '
                          'R.Tensor((3,), dtype="float32"), R.Tensor((3,), dtype="float32"))')
    assert "axis=1, epsilon=0.001, training=False" in f.script()  # the axis always printed
    x = rng.standard_normal((2, 3, 4, 4)).astype("float32")
    c = np.array([0.5, 1.0, 2.0], "float32")[:, None, None]
    out = tvmscript.build(tvmscript.IRModule.from_function(f, "main"),
                          target="interpreter")["main"](x, c.ravel())
    np.testing.assert_allclose(out, (x - c) / np.sqrt(c + 1e-3) * c + c, rtol=1e-5, atol=1e-6)


def test_clip_bounds_as_tvm_prints_them_are_numbers():
    """TVM passes the bounds as values: ``R.clip(x, T.float64(-1.5), 2)``."""
    sig = 'x: R.Tensor((2, 3), "float32")'
    tvm = function(sig, ["gv = R.clip(x, T.float64(-1.5), R.prim_value(2))"])
    ours = function(sig, ["gv = R.clip(x, min=-1.5, max=2)"])
    tvmscript.assert_structural_equal(tvm, ours)
    assert "R.clip(x, min=-1.5, max=2)" in tvm.script()


# ---------------------------------------------------------------- inference

INFER = [
    ("R.add(x, r)", 'R.Tensor((n, 3), dtype="float32")'),
    ("R.greater_equal(x, c)", 'R.Tensor((n, 3), dtype="bool")'),
    ("R.logical_xor(a, R.logical_not(a))", 'R.Tensor((n, 3), dtype="bool")'),
    ("R.where(a, c, r)", 'R.Tensor((n, 3), dtype="float32")'),
    ("R.astype(x, \"float16\")", 'R.Tensor((n, 3), dtype="float16")'),
    ("R.round(x)", 'R.Tensor((n, 3), dtype="float32")'),
    ("R.mean(x, axis=1)", 'R.Tensor((n,), dtype="float32")'),
    ("R.variance(x, axis=[0], keepdims=True)", 'R.Tensor((1, 3), dtype="float32")'),
    ("R.max(x)", 'R.Tensor((), dtype="float32")'),
    ("R.argmax(x, axis=-1, keepdims=True)", 'R.Tensor((n, 1), dtype="int64")'),
    ("R.argmin(x)", 'R.Tensor((), dtype="int64")'),
    ("R.nn.log_softmax(x, axis=0)", 'R.Tensor((n, 3), dtype="float32")'),
    ("R.nn.rms_norm(x, r)", 'R.Tensor((n, 3), dtype="float32")'),
    ("R.sum(u, axis=1)", 'R.Tensor(dtype="float32", ndim=1)'),
    ("R.argmax(u, axis=0, keepdims=True)", 'R.Tensor(dtype="int64", ndim=2)'),
    ("R.equal(u, x)", 'R.Tensor(dtype="bool", ndim=2)'),
]


@pytest.mark.parametrize("call, sinfo", INFER)
def test_inference_keeps_symbolic_sizes(call, sinfo):
    f = function('x: R.Tensor(("n", 3), "float32"), r: R.Tensor((3,), "float32"), '
                 'c: R.Tensor(("n", 1), "float32"), a: R.Tensor(("n", 3), "bool"), '
                 'u: R.Tensor(dtype="float32", ndim=2)', [f"gv = {call}"])
    out = f.body.blocks[0].bindings[-1].var.struct_info
    assert out.script() == sinfo
    n = f.params[0].struct_info.shape[0]
    if "((n" in sinfo:
        assert out.shape[0] is n  # the function's size variable itself, not a copy


ERRORS = [
    ("R.exp(i)", "R.exp expects a tensor of a float dtype, got int32"),
    ("R.mean(i)", "R.mean expects a tensor of a float dtype, got int32"),
    ("R.logical_and(x, x)", "R.logical_and expects operands of dtype bool, got float32"),
    ("R.floor_mod(a, a)", "R.floor_mod expects operands of a numeric dtype (not bool), got bool"),
    ("R.less(x, i)", "R.less: operands have different dtypes float32 and int32"),
    ("R.where(x, x, x)", "R.where expects a condition of dtype bool, got float32"),
    ("R.where(a, x, i)", "R.where: operands have different dtypes float32 and int32"),
    ("R.add(x, y)", "R.add: shapes (2, 3) and (4) do not broadcast"),
    ("R.clip(x, 2.0, 1.0)", "R.clip: min 2.0 is greater than max 1.0"),
    ("R.clip(x, \"a\", 1.0)", "R.clip: attribute min must be a number, got 'a'"),
    ("R.nn.leakyrelu(x, alpha=None)", ("R.nn.leakyrelu: attribute alpha must be a number, "
                                       "got None")),
    ("R.astype(x)", "R.astype needs the dtype to convert to, e.g. R.astype(x, \"float16\")"),
    ("R.astype(x, \"float33\")", ("R.astype: dtype 'float33' is not a dtype: unknown dtype "
                                 "'float33': float comes in (16, 32, 64) bits")),
    ("R.argmax(x, axis=[0, 1])", "R.argmax: axis must be one int or None, got (0, 1)"),
    ("R.argmin(x, axis=2)", "R.argmin: axis 2 is out of range for a tensor of rank 2"),
    ("R.max(x, axis=[1, -1])", "R.max: axis -1 repeats axis 1"),
    ("R.prod(x, keepdims=1)", "R.prod: attribute keepdims must be True or False, got 1"),
    ("R.nn.log_softmax(x, axis=-3)", ("R.nn.log_softmax: axis -3 is out of range for a tensor "
                                      "of rank 2")),
    ("R.nn.layer_norm(x, y, y, axes=[-1])", ("R.nn.layer_norm: gamma has shape (4), the data's "
                                             "normalized axes have sizes (3)")),
    ("R.nn.layer_norm(x, x, x, axes=1)", ("R.nn.layer_norm: gamma must have rank 1 (the sizes "
                                          "(3) of the normalized axes), got rank 2")),
    ("R.nn.layer_norm(x, y, y)", ("R.nn.layer_norm needs the attribute axes (the axes to "
                                  "normalize over)")),
    ("R.nn.rms_norm(x, i)", "R.nn.rms_norm: weight has dtype int32, the data float32"),
    ("R.nn.group_norm(x, y, y, 3, 0, [1])", ("R.nn.group_norm: 2 channels do not split into "
                                             "3 groups")),
    ("R.nn.group_norm(x, y, y, 1, 1, [1])", ("R.nn.group_norm: the channel axis 1 cannot also "
                                             "be in axes [1]")),
    ("R.nn.batch_norm(x, y, y, y, y)", ("R.nn.batch_norm: gamma has shape (4), the data's "
                                        "normalized axes have sizes (3)")),
    ("R.nn.batch_norm(x, r, r, r, r, axis=0.5)", ("R.nn.batch_norm: axis must be one int, "
                                                  "got 0.5")),
]


@pytest.mark.parametrize("call, message", ERRORS)
def test_bad_arguments_are_errors_at_the_call(call, message):
    with pytest.raises(ScriptError) as info:
        tvmscript.from_source(f'''
@R.function
def main(x: R.Tensor((2, 3), "float32"), i: R.Tensor((2, 3), "int32"),
         a: R.Tensor((2, 3), "bool"), y: R.Tensor((4,), "float32"),
         r: R.Tensor((3,), "float32")):
    z = {call}
    return z
''')
    assert info.value.message == message
    assert info.value.lineno == 6


# ---------------------------------------------------------------- kernels

def blocks(func) -> list[S.Block]:
    found: list[S.Block] = []
    post_order_visit(func.body, lambda n: found.append(n) if isinstance(n, S.Block) else None)
    return [b for b in found if b.name_hint != "root"]


def test_kernels_print_parse_and_keep_one_block_per_element_wise_operator():
    mod = checked_module('x: R.Tensor(("n", 8), "float32"), g: R.Tensor((8,), "float32")', [
        "R.nn.gelu_tanh(R.add(x, g))", "R.floor_mod(x, g)", "R.nn.layer_norm(x, g, g, axes=[1])",
        "R.nn.softmax(x)", "R.argmax(x, axis=1)", "R.max(x, axis=1)"])
    out = legalize_ops(mod)
    tvmscript.verify(out)
    tvmscript.assert_structural_equal(tvmscript.from_source(out.script()), out)
    kernels = {name: blocks(f) for name, f in out.functions.items() if name != "main"}
    for name in ("add", "nn_gelu_tanh", "floor_mod"):
        assert len(kernels[name]) == 1, name
    # the statistics once per row, then one element-wise pass
    assert [b.name_hint for b in kernels["layer_norm"]] == \
        ["mean_sum", "mean", "sq_sum", "rstd", "T_layer_norm"]
    assert [b.name_hint for b in kernels["softmax"]] == ["max", "exp", "sum", "T_softmax"]
    assert [b.name_hint for b in kernels["argmax"]] == ["extreme", "T_argmax"]


# ---------------------------------------------------------------- tvmscript.te

@pytest.mark.parametrize("target", TARGETS)
def test_te_matmul_with_a_symbolic_size(target):
    n = te.var("n")
    a = te.placeholder((n, 6), "float32", name="A")
    b = te.placeholder((6, 4), "float32", name="B")
    k = te.reduce_axis((0, 6), name="k")
    c = te.compute((n, 4), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    func = te.create_prim_func([a, b, c], name="matmul")
    tvmscript.assert_structural_equal(tvmscript.from_source(func.script()), func)
    kernel = tvmscript.build(func, target=target)["matmul"]
    for rows in (3, 1):
        x, w = rng.standard_normal((rows, 6)).astype("float32"), \
            rng.standard_normal((6, 4)).astype("float32")
        out = np.zeros((rows, 4), "float32")
        kernel(x, w, out)
        np.testing.assert_allclose(out, x @ w, rtol=1e-5, atol=1e-6)


def test_te_reduction_with_where_and_an_intermediate():
    """Sum of the strictly-lower triangle of each matrix, through a computed intermediate."""
    a = te.placeholder((2, 5, 5), "float32", name="A")
    sq = te.compute(a.shape, lambda b, i, j: a[b, i, j] * a[b, i, j], name="sq")
    i, j = te.reduce_axis(5, name="i"), te.reduce_axis(5, name="j")
    out = te.compute((2,), lambda b: te.sum(sq[b, i, j], axis=[i, j], where=j.var < i.var),
                     name="out")
    func = te.create_prim_func([a, out])
    assert [blk.name_hint for blk in blocks(func)] == ["sq", "out"]
    assert [buf.name for buf in func.body.block.alloc_buffers] == ["sq"]
    x = rng.standard_normal((2, 5, 5)).astype("float32")
    y = np.zeros(2, "float32")
    tvmscript.build(func, target="interpreter")["main"](x, y)
    np.testing.assert_allclose(y, (np.tril(x, -1) ** 2).sum((1, 2)), rtol=1e-5)


def test_te_placeholder_read_but_not_listed_is_an_error():
    a = te.placeholder((4,), "float32", name="A")
    b = te.placeholder((4,), "float32", name="Bias")
    c = te.compute((4,), lambda i: a[i] + b[i], name="C")
    with pytest.raises(te.TEError, match="placeholder 'Bias' is read by the computation but "
                                         "is not among the function's tensors"):
        te.create_prim_func([a, c])
