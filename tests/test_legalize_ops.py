"""``legalize-ops``: every registered graph operator becomes a generated kernel that computes
what numpy computes, through the interpreter and through LLVM."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tvmscript
from passes.legalize_ops import LegalizeError, legalize_ops

TARGETS = ["interpreter", "llvm"]


def graph(signature: str, body: str, ret: str) -> tvmscript.IRModule:
    text = f'''
@R.function
def main({signature}) -> {ret}:
    with R.dataflow():
{body}
        R.output(gv)
    return gv
'''
    return tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")


def erf(x):
    return np.vectorize(math.erf)(x)


rng = np.random.default_rng(0)
A23 = rng.standard_normal((2, 3)).astype("float32")
B23 = rng.standard_normal((2, 3)).astype("float32")
B3 = rng.standard_normal((3,)).astype("float32")
B21 = rng.standard_normal((2, 1)).astype("float32")
POS23 = (np.abs(A23) + 0.5).astype("float32")

UNARY = {
    "R.exp": np.exp, "R.log": np.log, "R.sqrt": np.sqrt, "R.tanh": np.tanh,
    "R.sigmoid": lambda x: 1 / (1 + np.exp(-x)), "R.negative": np.negative, "R.abs": np.abs,
    "R.nn.relu": lambda x: np.maximum(x, 0), "R.nn.silu": lambda x: x / (1 + np.exp(-x)),
    "R.nn.gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
}
BINARY = {
    "R.add": np.add, "R.subtract": np.subtract, "R.multiply": np.multiply,
    "R.divide": np.divide, "R.maximum": np.maximum, "R.minimum": np.minimum,
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op, target):
    mod = graph('x: R.Tensor((2, 3), "float32")', f"        gv = {op}(x)",
                'R.Tensor((2, 3), "float32")')
    x = POS23 if op in ("R.log", "R.sqrt") else A23
    out = tvmscript.build(mod, target=target)["main"](x)
    np.testing.assert_allclose(out, UNARY[op](x), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("rhs", [B23, B3, B21], ids=["same", "row", "col"])
def test_binary_broadcast(op, rhs, target):
    shape = ", ".join(map(str, rhs.shape)) + ("," if rhs.ndim == 1 else "")
    mod = graph(f'x: R.Tensor((2, 3), "float32"), y: R.Tensor(({shape}), "float32")',
                f"        gv = {op}(x, y)", 'R.Tensor((2, 3), "float32")')
    out = tvmscript.build(mod, target=target)["main"](A23, rhs)
    np.testing.assert_allclose(out, BINARY[op](A23, rhs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_matmul_softmax_transpose_reshape_sum(target):
    mod = graph(
        'x: R.Tensor((4, 8), "float32"), w: R.Tensor((8, 6), "float32")',
        "\n".join([
            "        h = R.matmul(x, w)",
            "        s = R.nn.softmax(h, axis=1)",
            "        t = R.permute_dims(s, axes=[1, 0])",
            "        r = R.reshape(t, shape=[3, 8])",
            "        gv = R.sum(r, axis=[0], keepdims=True)",
        ]),
        'R.Tensor((1, 8), "float32")',
    )
    x = rng.standard_normal((4, 8)).astype("float32")
    w = rng.standard_normal((8, 6)).astype("float32")
    h = x @ w
    s = np.exp(h - h.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    expected = s.T.reshape(3, 8).sum(0, keepdims=True)
    out = tvmscript.build(mod, target=target)["main"](x, w)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_batched_matmul_broadcast(target):
    mod = graph('a: R.Tensor((2, 3, 4), "float32"), b: R.Tensor((4, 5), "float32")',
                "        gv = R.matmul(a, b)", 'R.Tensor((2, 3, 5), "float32")')
    a = rng.standard_normal((2, 3, 4)).astype("float32")
    b = rng.standard_normal((4, 5)).astype("float32")
    np.testing.assert_allclose(tvmscript.build(mod, target=target)["main"](a, b), a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_conv2d(target):
    mod = graph('x: R.Tensor((1, 3, 6, 6), "float32"), w: R.Tensor((4, 3, 3, 3), "float32")',
                "        gv = R.nn.conv2d(x, w, strides=[2, 2], padding=[1, 1])",
                'R.Tensor((1, 4, 3, 3), "float32")')
    x = rng.standard_normal((1, 3, 6, 6)).astype("float32")
    w = rng.standard_normal((4, 3, 3, 3)).astype("float32")
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((1, 4, 3, 3), "float32")
    for p in range(3):
        for q in range(3):
            patch = xp[:, :, 2 * p:2 * p + 3, 2 * q:2 * q + 3]
            ref[:, :, p, q] = np.einsum("ncrs,kcrs->nk", patch, w)
    np.testing.assert_allclose(tvmscript.build(mod, target=target)["main"](x, w), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_symbolic_sizes(target):
    mod = graph('x: R.Tensor(("n", 4), "float32"), w: R.Tensor((4, "m"), "float32")',
                "        h = R.matmul(x, w)\n        gv = R.exp(h)", 'R.Tensor(("n", "m"), "float32")')
    ex = tvmscript.build(mod, target=target)
    for n, m in ((3, 5), (1, 2)):
        x = rng.standard_normal((n, 4)).astype("float32")
        w = rng.standard_normal((4, m)).astype("float32")
        np.testing.assert_allclose(ex["main"](x, w), np.exp(x @ w), rtol=1e-5, atol=1e-6)


def test_identical_kernels_are_shared_and_module_round_trips():
    mod = graph('x: R.Tensor((2, 3), "float32")',
                "        a = R.exp(x)\n        b = R.exp(a)\n        gv = R.add(a, b)",
                'R.Tensor((2, 3), "float32")')
    out = legalize_ops(mod)
    assert sorted(out.functions) == ["add", "exp", "main"]
    tvmscript.verify(out)
    tvmscript.assert_structural_equal(out, tvmscript.from_source(out.script()))


def test_unknown_rank_is_a_clear_error():
    text = '''
@R.function
def main(x: R.Tensor(dtype="float32", ndim=2)) -> R.Tensor(dtype="float32", ndim=2):
    gv = R.exp(x)
    return gv
'''
    mod = tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")
    with pytest.raises(LegalizeError, match="R.exp needs tensors of known rank, shape and dtype"):
        legalize_ops(mod)
