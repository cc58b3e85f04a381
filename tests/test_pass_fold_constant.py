"""``fold-constant`` and ``fold-batch-norm``: Before/Expected scripts, the folded values against
numpy and against the kernels, and a property: folding never changes what a module computes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmscript
from passes.fold_batch_norm import fold_batch_norm
from passes.fold_constant import EVALUATORS, fold_constant
from tests.strategies import fuzz_settings
from tvmscript.ir import graph as G
from tvmscript.ir.graph_ops import get_op


def parse(text: str) -> tvmscript.IRModule:
    return tvmscript.IRModule.from_function(tvmscript.from_source(text), "main")


def check(pass_, before: str, expected: str) -> None:
    after = pass_(parse(before))
    tvmscript.assert_structural_equal(after, parse(expected))


def ops_of(mod: tvmscript.IRModule) -> list[str]:
    """The graph operators ``main`` calls, in binding order (nested calls first)."""
    from tvmscript.ir.functor import post_order_visit

    found: list[str] = []
    post_order_visit(mod["main"], lambda n: found.append(n.op.name[6:])
                     if isinstance(n, G.Call) and isinstance(n.op, G.Op) else None)
    return found


# ---------------------------------------------------------------- fold-constant


def test_transposed_weight_folds_into_the_matmul():
    # the parser binds the nested call (as TVM's does), so the folded value keeps a variable
    check(fold_constant, '''
@R.function
def main(x: R.Tensor((1, 2), "float32")) -> R.Tensor((1, 3), "float32"):
    gv = R.matmul(x, R.permute_dims(R.const([[1, 2], [3, 4], [5, 6]], "float32")))
    return gv
''', '''
@R.function
def main(x: R.Tensor((1, 2), "float32")) -> R.Tensor((1, 3), "float32"):
    lv = R.const([[1, 3, 5], [2, 4, 6]], "float32")
    gv = R.matmul(x, lv)
    return gv
''')


def test_folding_walks_chains_of_bindings():
    check(fold_constant, '''
@R.function
def main(x: R.Tensor((3, 2), "float32")) -> R.Tensor((3, 2), "float32"):
    with R.dataflow():
        c = R.const([[1, 2, 3], [4, 5, 6]], "float32")
        lv = R.permute_dims(c, axes=[1, 0])
        lv1 = R.multiply(lv, R.const(2, "float32"))
        lv2 = R.reshape(R.subtract(lv1, R.const([1, 1], "float32")), R.shape([3, 2]))
        gv = R.add(x, lv2)
        R.output(gv)
    return gv
''', '''
@R.function
def main(x: R.Tensor((3, 2), "float32")) -> R.Tensor((3, 2), "float32"):
    with R.dataflow():
        c = R.const([[1, 2, 3], [4, 5, 6]], "float32")
        lv = R.const([[1, 4], [2, 5], [3, 6]], "float32")
        lv1 = R.const([[2, 8], [4, 10], [6, 12]], "float32")
        lv3 = R.const([[1, 7], [3, 9], [5, 11]], "float32")
        lv2 = R.const([[1, 7], [3, 9], [5, 11]], "float32")
        gv = R.add(x, lv2)
        R.output(gv)
    return gv
''')


def test_what_numpy_does_not_compute_exactly_is_left_alone():
    text = '''
@R.function
def main(x: R.Tensor((2,), "float32")) -> R.Tensor((2,), "float32"):
    lv = R.exp(R.const([1, 2], "float32"))
    lv1 = R.add(x, R.const([1, 2], "float32"))
    lv2 = R.divide(R.const([1, 2], "int32"), R.const([0, 1], "int32"))
    gv = R.add(lv, lv1)
    return gv
'''
    mod = parse(text)
    assert fold_constant(mod) is mod


def test_a_small_constant_is_not_blown_up_into_a_large_one():
    column, row = [[1.0]] * 64, [[1.0] * 64]
    text = f'''
@R.function
def main(x: R.Tensor((64, 64), "float32")) -> R.Tensor((64, 64), "float32"):
    lv = R.add(R.const({column}, "float32"), R.const({row}, "float32"))
    gv = R.add(x, lv)
    return gv
'''
    mod = parse(text)
    assert fold_constant(mod) is mod


def test_integer_division_floors_as_the_kernels_do():
    mod = parse('''
@R.function
def main(x: R.Tensor((4,), "int32")) -> R.Tensor((4,), "int32"):
    gv = R.add(x, R.divide(R.const([7, -7, 7, -7], "int32"), R.const([2, 2, -2, -2], "int32")))
    return gv
''')
    folded = fold_constant(mod)["main"].body.blocks[0].bindings[0].value
    np.testing.assert_array_equal(folded.data, [3, -4, -4, 3])
    zero = np.zeros(4, "int32")
    np.testing.assert_array_equal(tvmscript.build(mod, target="interpreter")["main"](zero),
                                  folded.data)


# one script line per operator the pass folds (the arguments are constants); each is checked
# against the numpy reference and against the kernel the operator is legalized to
A = np.array([[1.5, -2.0, 3.25], [0.5, 4.0, -1.0]], "float32")
B = np.array([[2.0, 0.5, -4.0], [1.0, -2.0, 8.0]], "float32")
POS = np.array([[0.25, 4.0, 9.0], [16.0, 1.0, 2.25]], "float32")
I = np.array([[7, -3, 0], [2, 5, -8]], "int32")
CASES = {
    "add": ("R.add(a, b)", lambda: A + B),
    "subtract": ("R.subtract(a, b)", lambda: A - B),
    "multiply": ("R.multiply(a, b)", lambda: A * B),
    "divide": ("R.divide(a, b)", lambda: A / B),
    "maximum": ("R.maximum(a, b)", lambda: np.maximum(A, B)),
    "minimum": ("R.minimum(a, b)", lambda: np.minimum(A, B)),
    "negative": ("R.negative(a)", lambda: -A),
    "abs": ("R.abs(a)", lambda: np.abs(A)),
    "sqrt": ("R.sqrt(p)", lambda: np.sqrt(POS)),
    "rsqrt": ("R.rsqrt(p)", lambda: 1 / np.sqrt(POS)),
    "square": ("R.square(a)", lambda: A * A),
    "floor": ("R.floor(a)", lambda: np.floor(A)),
    "ceil": ("R.ceil(a)", lambda: np.ceil(A)),
    "nn.relu": ("R.nn.relu(a)", lambda: np.maximum(A, 0)),
    "equal": ("R.equal(a, b)", lambda: A == B),
    "not_equal": ("R.not_equal(a, b)", lambda: A != B),
    "less": ("R.less(a, b)", lambda: A < B),
    "less_equal": ("R.less_equal(a, b)", lambda: A <= B),
    "greater": ("R.greater(a, b)", lambda: A > B),
    "greater_equal": ("R.greater_equal(a, b)", lambda: A >= B),
    "logical_not": ("R.logical_not(R.less(a, b))", lambda: ~(A < B)),
    "logical_and": ("R.logical_and(R.less(a, b), R.less(b, p))", lambda: (A < B) & (B < POS)),
    "logical_or": ("R.logical_or(R.less(a, b), R.less(b, p))", lambda: (A < B) | (B < POS)),
    "where": ("R.where(R.less(a, b), a, b)", lambda: np.where(A < B, A, B)),
    "clip": ("R.clip(a, -1.5, 2.0)", lambda: np.clip(A, -1.5, 2.0)),
    "astype": ("R.astype(i, \"float32\")", lambda: I.astype("float32")),
    "permute_dims": ("R.permute_dims(a, axes=[1, 0])", lambda: A.T),
    "reshape": ("R.reshape(a, R.shape([3, 2]))", lambda: A.reshape(3, 2)),
    "expand_dims": ("R.expand_dims(a, axis=1)", lambda: A[:, None, :]),
    "squeeze": ("R.squeeze(R.expand_dims(a, axis=0), axis=[0])", lambda: A),
    "flatten": ("R.flatten(a)", lambda: A.reshape(-1)),
    "broadcast_to": ("R.broadcast_to(a, R.shape([2, 2, 3]))",
                     lambda: np.broadcast_to(A, (2, 2, 3))),
    "concat": ("R.concat((a, b), axis=1)", lambda: np.concatenate([A, B], 1)),
}


def test_every_folded_operator_has_a_case():
    assert {name[6:] for name in EVALUATORS} == set(CASES)


@pytest.mark.parametrize("op", sorted(CASES))
def test_folded_values_match_numpy_and_the_kernels(op):
    text, reference = CASES[op]
    assert get_op(op) is not None, f"fold-constant evaluates R.{op}, which is not registered"
    expected = np.asarray(reference())
    consts = {"a": A, "b": B, "p": POS, "i": I}
    body = "\n".join(f"    {k} = R.const({v.tolist()}, \"{v.dtype}\")" for k, v in consts.items())
    dtype = "bool" if expected.dtype == bool else str(expected.dtype)
    shape = ", ".join(map(str, expected.shape)) + ("," if expected.ndim == 1 else "")
    mod = parse(f'''
@R.function
def main() -> R.Tensor(({shape}), "{dtype}"):
{body}
    gv = {text}
    return gv
''')
    folded = fold_constant(mod)
    value = folded["main"].body.blocks[0].bindings[-1].value
    assert isinstance(value, G.Constant), f"R.{op} was not folded"
    np.testing.assert_array_equal(value.data, expected)
    assert value.data.dtype == expected.dtype
    kernels = tvmscript.build(mod, target="interpreter")["main"]()
    np.testing.assert_array_equal(kernels, expected)


# ---------------------------------------------------------------- fold-batch-norm


def test_batch_norm_folds_into_the_convolution():
    # var + epsilon = 4 and gamma = (2, 4): the scale is (1, 2), exactly
    check(fold_batch_norm, '''
@R.function
def main(x: R.Tensor((1, 1, 3, 3), "float32")) -> R.Tensor((1, 2, 3, 3), "float32"):
    with R.dataflow():
        lv = R.nn.conv2d(x, R.const([[[[1.0]]], [[[3.0]]]], "float32"))
        bn = R.nn.batch_norm(lv, R.const([2.0, 4.0], "float32"), R.const([0.5, 1.0], "float32"),
                             R.const([1.0, 0.0], "float32"), R.const([3.75, 3.75], "float32"),
                             axis=1, epsilon=0.25, training=False)
        gv = bn[0]
        R.output(gv)
    return gv
''', '''
@R.function
def main(x: R.Tensor((1, 1, 3, 3), "float32")) -> R.Tensor((1, 2, 3, 3), "float32"):
    with R.dataflow():
        lv = R.nn.conv2d(x, R.const([[[[1.0]]], [[[6.0]]]], "float32"))
        gv = R.add(lv, R.const([[[[-0.5]], [[1.0]]]], "float32"))
        R.output(gv)
    return gv
''')


def test_per_channel_scale_and_shift_fold_into_weights_and_one_bias():
    check(fold_batch_norm, '''
@R.function
def main(x: R.Tensor((1, 1, 2, 2), "float32")) -> R.Tensor((1, 2, 2, 2), "float32"):
    w = R.const([[[[1.0]]], [[[2.0]]]], "float32")
    lv = R.add(R.nn.conv2d(x, w), R.const([[[1.0]], [[2.0]]], "float32"))
    lv1 = R.multiply(R.const([[[[3.0]], [[0.5]]]], "float32"), lv)
    gv = R.subtract(lv1, R.const(1.0, "float32"))
    return gv
''', '''
@R.function
def main(x: R.Tensor((1, 1, 2, 2), "float32")) -> R.Tensor((1, 2, 2, 2), "float32"):
    w = R.const([[[[1.0]]], [[[2.0]]]], "float32")
    lv = R.nn.conv2d(x, R.const([[[[3.0]]], [[[1.0]]]], "float32"))
    gv = R.add(lv, R.const([[[[2.0]], [[0.0]]]], "float32"))
    return gv
''')


def test_what_does_not_fold_is_left_alone():
    text = '''
@R.function
def main(x: R.Tensor((1, 1, 2, 2), "float32"), w: R.Tensor((2, 1, 1, 1), "float32"),
         s: R.Tensor((1, 2, 1, 1), "float32")) -> R.Tensor((1, 2, 2, 2), "float32"):
    lv = R.nn.conv2d(x, R.const([[[[1.0]]], [[[2.0]]]], "float32"))
    a = R.multiply(lv, s)
    b = R.multiply(R.nn.conv2d(x, w), R.const(2.0, "float32"))
    c = R.add(R.nn.conv2d(x, R.const([[[[1.0]]], [[[2.0]]]], "float32")), R.const(1.0, "float32"))
    d = R.multiply(lv, R.const(2.0, "float32"))
    e = R.multiply(R.nn.conv2d(x, R.const([[[[1.0]]], [[[2.0]]]], "float32")),
                   R.const([1.0, 2.0], "float32"))
    gv = R.add(R.add(R.add(a, b), R.add(c, d)), e)
    return gv
'''
    # a: the scale is not a constant; b: the weights are not; c: already conv + bias;
    # d: lv is read twice (by a too); e: the constant scales the width, not the channels
    mod = parse(text)
    assert fold_batch_norm(mod) is mod


def test_training_batch_norm_and_other_uses_of_its_tuple_do_not_fold():
    text = '''
@R.function
def main(x: R.Tensor((1, 2, 2, 2), "float32")) -> R.Tuple(R.Tensor((1, 2, 2, 2), "float32"), R.Tensor((2,), "float32")):
    c = R.const([1.0, 2.0], "float32")
    w = R.const([[[[1.0]], [[1.0]]], [[[1.0]], [[1.0]]]], "float32")
    bn = R.nn.batch_norm(R.nn.conv2d(x, w), c, c, c, c, axis=1)
    bn1 = R.nn.batch_norm(R.nn.conv2d(x, w), c, c, c, c, axis=1, training=False)
    gv = (bn[0], bn1[1])
    return gv
'''
    mod = parse(text)
    assert fold_batch_norm(mod) is mod


def _conv_bn_module(rng: np.random.Generator) -> tuple[tvmscript.IRModule, np.ndarray]:
    def const(*shape, positive=False):
        v = rng.standard_normal(shape).astype("float32")
        return G.Constant(np.abs(v) + 0.5 if positive else v)

    x = G.GraphVar("x", G.TensorStructInfo((2, 3, 6, 6), "float32"))
    conv = G.Call(G.Op("relax.nn.conv2d"), (x, const(4, 3, 3, 3)), {"padding": (1, 1)})
    bias = G.Call(G.Op("relax.reshape"), (const(4),), {"shape": (1, 4, 1, 1)})  # as ONNX's
    biased = G.Call(G.Op("relax.add"), (conv, bias))
    bn = G.Call(G.Op("relax.nn.batch_norm"), (biased, const(4), const(4), const(4),
                                               const(4, positive=True)),
                {"axis": 1, "epsilon": 1e-3, "training": False})
    bn_var = G.DataflowVar("bn", bn.struct_info)
    out = G.GraphVar("gv", G.TupleGetItem(bn_var, 0).struct_info)
    scaled = G.Call(G.Op("relax.multiply"), (out, const(4, 1, 1)))
    block = G.DataflowBlock((G.VarBinding(bn_var, bn),
                             G.VarBinding(out, G.TupleGetItem(bn_var, 0))))
    res = G.GraphVar("res", scaled.struct_info)
    body = G.SeqExpr((block, G.BindingBlock((G.VarBinding(res, scaled),))), res)
    func = G.Function((x,), body, res.sinfo, {"global_symbol": "main"})
    x_value = rng.standard_normal((2, 3, 6, 6)).astype("float32")
    return tvmscript.IRModule.from_function(func, "main"), x_value


@pytest.mark.parametrize("target", ["interpreter", "llvm"])
def test_folded_network_computes_the_same(target):
    mod, x = _conv_bn_module(np.random.default_rng(0))
    folded = fold_batch_norm(mod)
    assert ops_of(folded) == ["nn.conv2d", "add"]
    before = tvmscript.build(mod, target=target)["main"](x)
    after = tvmscript.build(folded, target=target)["main"](x)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- property


@st.composite
def graph_modules(draw, dup: bool = False) -> tvmscript.IRModule:
    """Random small graphs of add/multiply/relu/matmul/reshape/permute_dims over two (n, n)
    parameters and small-integer constants; some calls nested, some bound, some unused, and
    with ``dup`` some bound twice."""
    n = draw(st.integers(2, 3))
    x = G.GraphVar("x", G.TensorStructInfo((n, n), "float32"))
    y = G.GraphVar("y", G.TensorStructInfo((n, n), "float32"))
    pool: list[G.GraphExpr] = [x, y]
    bindings: list[G.VarBinding] = []
    calls: list[G.Call] = []

    def const(shape):
        values = draw(st.lists(st.integers(-2, 2), min_size=int(np.prod(shape)),
                               max_size=int(np.prod(shape))))
        return G.Constant(np.array(values, "float32").reshape(shape))

    def of_shape(shape):
        choices = [e for e in pool if tuple(s.value for s in e.struct_info.shape) == shape]
        return draw(st.sampled_from(choices + [const(shape)]))

    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["add", "multiply", "nn.relu", "matmul", "reshape",
                                     "permute_dims", "const", "dup"]))
        if kind == "const":
            pool.append(const(draw(st.sampled_from([(n, n), (n * n,)]))))
            continue
        if kind == "dup":
            if not (dup and calls):
                continue
            call = draw(st.sampled_from(calls))
        else:
            a = draw(st.sampled_from(pool + [const((n, n))] * 2))  # constants often
            shape = tuple(s.value for s in a.struct_info.shape)
            if kind in ("add", "multiply"):
                call = G.Call(G.Op("relax." + kind), (a, of_shape(shape)))
            elif kind == "nn.relu":
                call = G.Call(G.Op("relax.nn.relu"), (a,))
            elif kind == "matmul" and len(shape) == 2:
                call = G.Call(G.Op("relax.matmul"), (a, of_shape((shape[1], shape[1]))))
            elif kind == "permute_dims" and len(shape) == 2:
                call = G.Call(G.Op("relax.permute_dims"), (a,))
            else:
                new = (n * n,) if len(shape) == 2 else (n, n)
                call = G.Call(G.Op("relax.reshape"), (a,), {"shape": new})
        calls.append(call)
        if draw(st.booleans()) or i == 0:
            var = G.DataflowVar(f"lv{i}", call.struct_info)
            bindings.append(G.VarBinding(var, call))
            pool.append(var)
        else:
            pool.append(call)
    last = draw(st.sampled_from([e for e in pool if e not in (x, y)] or [x]))
    out = G.GraphVar("gv", last.struct_info)
    bindings.append(G.VarBinding(out, last))
    body = G.SeqExpr((G.DataflowBlock(tuple(bindings)),), out)
    func = G.Function((x, y), body, out.sinfo, {"global_symbol": "main"})
    return tvmscript.IRModule.from_function(func, "main")


def run_both(before: tvmscript.IRModule, after: tvmscript.IRModule, seed: int) -> None:
    """``before`` and ``after`` compute the same on random small-integer inputs."""
    params = before["main"].params
    rng = np.random.default_rng(seed)
    args = [rng.integers(-2, 3, [s.value for s in p.sinfo.shape]).astype("float32")
            for p in params]
    expected = tvmscript.build(before, target="interpreter")["main"](*args)
    got = tvmscript.build(after, target="interpreter")["main"](*args)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@fuzz_settings(15)
@given(graph_modules(), st.integers(0, 2**16))
def test_folding_preserves_what_the_module_computes(mod, seed):
    folded = fold_constant(mod)
    tvmscript.verify(folded)
    run_both(mod, folded, seed)


@st.composite
def conv_chains(draw) -> tvmscript.IRModule:
    """A convolution with constant weights followed by a random chain of per-channel (and not
    per-channel) scales and shifts, inference batch norms, relus and additions of the input;
    links bound to variables or nested at random."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = G.GraphVar("x", G.TensorStructInfo((1, 3, 3, 3), "float32"))

    def const(*shape, positive=False):
        v = rng.standard_normal(shape).astype("float32")
        return G.Constant(np.abs(v) + 0.5 if positive else v)

    value: G.GraphExpr = G.Call(G.Op("relax.nn.conv2d"), (x, const(3, 3, 3, 3)),
                                {"padding": (1, 1)})
    bindings = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["multiply", "add", "subtract", "batch_norm", "relu",
                                     "add_x"]))
        shape = draw(st.sampled_from([(3, 1, 1), (1, 3, 1, 1), (), (1,), (1, 1, 3)]))
        if kind == "batch_norm":
            bn = G.Call(G.Op("relax.nn.batch_norm"),
                        (value, const(3), const(3), const(3), const(3, positive=True)),
                        {"axis": 1, "epsilon": 1e-5, "training": False})
            var = G.DataflowVar(f"bn{i}", bn.struct_info)
            bindings.append(G.VarBinding(var, bn))
            value = G.TupleGetItem(var, 0)
        elif kind == "relu":
            value = G.Call(G.Op("relax.nn.relu"), (value,))
        elif kind == "add_x":
            value = G.Call(G.Op("relax.add"), (value, x))
        else:
            args = (value, const(*shape))
            if kind != "subtract" and draw(st.booleans()):
                args = args[::-1]
            value = G.Call(G.Op("relax." + kind), args)
        if draw(st.booleans()):
            var = G.DataflowVar(f"lv{i}", value.struct_info)
            bindings.append(G.VarBinding(var, value))
            value = var
    out = G.GraphVar("gv", value.struct_info)
    bindings.append(G.VarBinding(out, value))
    body = G.SeqExpr((G.DataflowBlock(tuple(bindings)),), out)
    func = G.Function((x,), body, out.sinfo, {"global_symbol": "main"})
    return tvmscript.IRModule.from_function(func, "main")


@fuzz_settings(12)
@given(conv_chains(), st.integers(0, 2**16))
def test_batch_norm_folding_preserves_what_the_module_computes(mod, seed):
    folded = fold_batch_norm(mod)
    tvmscript.verify(folded)
    assert "nn.batch_norm" not in ops_of(folded) or "nn.batch_norm" in ops_of(mod)
    x = np.random.default_rng(seed).standard_normal((1, 3, 3, 3)).astype("float32")
    expected = tvmscript.build(mod, target="interpreter")["main"](x)
    got = tvmscript.build(folded, target="interpreter")["main"](x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
