"""Regressions of issue 9 in graph-level functions (``R.*``): normalization of nested calls,
``call_tir`` checked against its callee, ``cls.f`` hints, prim values, argument errors."""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pytest

import tvmscript
from tvmscript import ScriptError, WellFormedError, assert_structural_equal, structural_equal

TARGETS = ["llvm", "interpreter"]
rng = np.random.default_rng(9)
X44 = rng.standard_normal((4, 4)).astype("float32")
W44 = rng.standard_normal((4, 4)).astype("float32")


def parse(text: str):
    return tvmscript.from_source(text)


def assert_round_trip(obj) -> None:
    text = obj.script()
    again = parse(text)
    assert structural_equal(again, obj), text
    assert again.script() == text


# ---------------------------------------------------------------- 1. nested and returned calls

RETURNED = '''
@R.function
def main(x: R.Tensor((4, 4), "float32")) -> R.Tensor((4, 4), "float32"):
    return R.add(x, x)
'''

NESTED = '''
@R.function
def main(x: R.Tensor((4, 4), "float32"), w: R.Tensor((4, 4), "float32")):
    with R.dataflow():
        lv = R.nn.relu(R.matmul(x, w))
        gv = (R.add(lv, x), lv)
        R.output(gv)
    return (R.exp(gv[0]), R.multiply(R.subtract(x, w), gv[1]))
'''

NESTED_CALL_TIR = '''
@I.ir_module
class Module:
    @T.prim_func
    def add(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4, 4), "float32"),
            C: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("add"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] + B[vi, vj]

    @T.prim_func
    def relu(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("relu"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = T.max(A[vi, vj], T.float32(0))

    @R.function
    def main(x: R.Tensor((4, 4), "float32"), y: R.Tensor((4, 4), "float32")):
        cls = Module
        with R.dataflow():
            gv = R.call_tir(cls.relu, (R.call_tir(cls.add, (x, y), out_sinfo=OUT),), out_sinfo=OUT)
            R.output(gv)
        return R.call_tir(cls.add, (gv, x), out_sinfo=R.Tensor((4, 4), "float32"))
'''


@pytest.mark.parametrize("target", TARGETS)
def test_returned_operator_call_runs(target: str) -> None:
    f = parse(RETURNED)
    assert_round_trip(f)
    np.testing.assert_allclose(tvmscript.build(f, target)["main"](X44), X44 + X44)


@pytest.mark.parametrize("target", TARGETS)
def test_nested_operator_calls_and_calls_in_tuples_run(target: str) -> None:
    f = parse(NESTED)
    assert_round_trip(f)
    a, b = tvmscript.build(f, target)["main"](X44, W44)
    lv = np.maximum(X44 @ W44, 0)
    np.testing.assert_allclose(a, np.exp(lv + X44), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, (X44 - W44) * lv, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_nested_call_tir_runs(target: str) -> None:
    mod = parse(NESTED_CALL_TIR.replace("OUT", 'R.Tensor((4, 4), "float32")'))
    assert_round_trip(mod)
    out = tvmscript.build(mod, target)["main"](X44, W44)
    np.testing.assert_allclose(out, np.maximum(X44 + W44, 0) + X44, rtol=1e-6)


NESTED_NORMALIZED = '''
@R.function
def main(x: R.Tensor((4, 4), "float32"), w: R.Tensor((4, 4), "float32")):
    with R.dataflow():
        lv1 = R.matmul(x, w)
        lv = R.nn.relu(lv1)
        lv2 = R.add(lv, x)
        gv = (lv2, lv)
        R.output(gv)
    lv3 = R.exp(gv[0])
    lv4 = R.subtract(x, w)
    lv5 = R.multiply(lv4, gv[1])
    return (lv3, lv5)
'''


def test_normalize_pass_binds_every_nested_call() -> None:
    from passes.normalize import normalize

    before = tvmscript.IRModule.from_function(parse(NESTED), "main")
    expected = tvmscript.IRModule.from_function(parse(NESTED_NORMALIZED), "main")
    after = normalize(before)
    assert_structural_equal(after, expected)
    assert normalize(after) is after
    assert_round_trip(after["main"])


# ---------------------------------------------------------------- 3. module functions need cls.

WITHOUT_CLS = '''
@I.ir_module
class Module:
    @T.prim_func
    def add1(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
        for i in range(4):
            B[i] = A[i] + T.float32(1)

    @R.function
    def main(x: R.Tensor((4,), "float32")):
        cls = Module
        y = R.call_tir(add1, (x,), out_sinfo=R.Tensor((4,), "float32"))
        return y
'''


def test_module_function_without_cls_says_how_to_refer_to_it() -> None:
    with pytest.raises(ScriptError) as info:
        parse(WITHOUT_CLS)
    err = info.value
    assert err.message == ("unknown name 'add1'; functions of the module are referred to as "
                           "`cls.add1` (with `cls = Module` first in the function)")
    assert (err.lineno, err.col_offset) == (12, 23)


def test_unknown_name_that_is_no_module_function_keeps_the_plain_error() -> None:
    with pytest.raises(ScriptError) as info:
        parse(WITHOUT_CLS.replace("R.call_tir(add1", "R.call_tir(add2"))
    assert "cls." not in info.value.message
    assert info.value.message.startswith("unknown name 'add2'")


# ---------------------------------------------------------------- 4. prim values round-trip

@pytest.mark.parametrize("written, printed, dtype", [
    ("T.int32(3)", "R.prim_value(T.int32(3))", "int32"),
    ("T.int64(3)", "R.prim_value(3)", "int64"),
    ("R.prim_value(3)", "R.prim_value(3)", "int64"),
    ("R.prim_value(3, dtype=\"int32\")", "R.prim_value(T.int32(3))", "int32"),
    ("T.float32(1.5)", "R.prim_value(T.float32(1.5))", "float32"),
    ("T.bool(True)", "R.prim_value(T.bool(True))", "bool"),
])
def test_prim_value_round_trips(written: str, printed: str, dtype: str) -> None:
    f = parse(f'''
@R.function
def main(x: R.Tensor((2, 2), "float32")):
    y = {written}
    return x
''')
    value = f.body.blocks[0].bindings[0].value
    assert str(value.value.dtype) == dtype
    assert f'y: R.Prim("{dtype}") = {printed}' in f.script()
    assert_round_trip(f)


def test_shape_and_string_values_round_trip() -> None:
    f = parse('''
@R.function
def main(x: R.Tensor(("n", 2), "float32")):
    n = T.int64()
    s = R.shape([n, 2])
    t = R.str("abc")
    return (x, s, t)
''')
    shape, string = (b.value for b in f.body.blocks[0].bindings)
    assert isinstance(shape, tvmscript.ir.graph.ShapeExpr)
    assert shape.values[0] is f.params[0].sinfo.shape[0]  # the size "n" of the signature
    assert isinstance(string, tvmscript.ir.graph.StringImm) and string.value == "abc"
    assert_round_trip(f)


def test_prim_value_of_a_tensor_is_an_error_at_its_line() -> None:
    with pytest.raises(ScriptError) as info:
        parse('''
@R.function
def main(x: R.Tensor((2, 2), "float32")):
    y = R.prim_value(x)
    return x
''')
    assert info.value.message == ("R.prim_value expects a number or a scalar expression such as "
                                  "T.int32(3), got graph variable x")
    assert info.value.lineno == 4


# ---------------------------------------------------------------- 2. call_tir against its callee

CALL_TIR = '''
@I.ir_module
class Module:
    @T.prim_func
    def add(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4, 4), "float32"),
            C: T.Buffer((4, 4), "float32")):
        for i, j in T.grid(4, 4):
            with T.block("add"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] + B[vi, vj]

    @T.prim_func
    def double(a: T.handle, b: T.handle):
        n = T.int64()
        A = T.match_buffer(a, (n, 4), "float32")
        B = T.match_buffer(b, (n, 4), "float32")
        for i, j in T.grid(n, T.int64(4)):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = A[vi, vj] * T.float32(2)

    @R.function
    def main(x: R.Tensor((4, 4), "float32"), y: R.Tensor(("m", 4), "float32")):
        m = T.int64()
        cls = Module
        CALL
        return lv
'''


def call_tir_module(call: str):
    return parse(CALL_TIR.replace("CALL", "lv = " + call))


def call_tir_problem(call: str) -> str:
    """The one problem ``verify`` and ``build`` report, checked to sit on the call's line."""
    mod = call_tir_module(call)
    with pytest.raises(WellFormedError) as info:
        tvmscript.verify(mod)
    (problem,) = info.value.problems
    assert "R.call_tir(" in mod.script().splitlines()[problem.line - 1]
    assert "R.call_tir(" in CALL_TIR.replace("CALL", call).splitlines()[26 - 1]
    with pytest.raises(WellFormedError) as built:
        tvmscript.build(mod)
    assert [p.message for p in built.value.problems] == [problem.message]
    return problem.message


OUT44 = 'out_sinfo=R.Tensor((4, 4), "float32")'


def test_call_tir_with_too_few_arguments_is_reported_at_its_line() -> None:
    message = call_tir_problem(f"R.call_tir(cls.add, (x,), {OUT44})")
    assert message == ("line 28: R.call_tir(cls.add, ...) passes 1 input and 1 output, but `add` "
                       "takes 3 parameters (A, B, C) (at <string>:26:9)")


def test_call_tir_output_shape_and_dtype_are_checked() -> None:
    message = call_tir_problem('R.call_tir(cls.add, (x, x), out_sinfo=R.Tensor((4, 5), "float32"))')
    assert message == ("line 28: R.call_tir(cls.add, ...): output 0 has shape (4, 5) but parameter "
                       "`C` of `add` has shape (4, 4) (at <string>:26:9)")
    message = call_tir_problem('R.call_tir(cls.add, (x, x), out_sinfo=R.Tensor((4, 4), "float16"))')
    assert message == ("line 28: R.call_tir(cls.add, ...): output 0 has dtype float16 but "
                       "parameter `C` of `add` has dtype float32 (at <string>:26:9)")


def test_call_tir_input_rank_is_checked() -> None:
    message = call_tir_problem(f"R.call_tir(cls.add, (x, R.const([1.0, 2.0, 3.0, 4.0])), {OUT44})")
    assert message == ("line 28: R.call_tir(cls.add, ...): input 1 has shape (4,) but parameter "
                       "`B` of `add` has shape (4, 4) (at <string>:26:9)")


def test_call_tir_symbolic_sizes_are_bound_by_the_first_use() -> None:
    message = call_tir_problem(
        'R.call_tir(cls.double, (y,), out_sinfo=R.Tensor((m + 1, 4), "float32"))')
    assert message == ("line 28: R.call_tir(cls.double, ...): output 0 has shape (m + 1, 4) but "
                       "parameter `B` of `double` has shape (n, 4), where input 0 (y) makes n = m "
                       "(at <string>:26:9)")
    message = call_tir_problem(
        'R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((3, 4), "float32"))')
    assert message == ("line 28: R.call_tir(cls.double, ...): output 0 has shape (3, 4) but "
                       "parameter `B` of `double` has shape (n, 4), where input 0 (x) makes n = 4 "
                       "(at <string>:26:9)")


@pytest.mark.parametrize("target", TARGETS)
def test_call_tir_with_consistent_symbolic_sizes_builds_and_runs(target: str) -> None:
    mod = call_tir_module('R.call_tir(cls.double, (y,), out_sinfo=R.Tensor((m, 4), "float32"))')
    tvmscript.verify(mod)
    y = rng.standard_normal((3, 4)).astype("float32")
    np.testing.assert_array_equal(tvmscript.build(mod, target)["main"](X44, y), y * 2)


def test_call_tir_of_a_graph_function_says_how_to_call_it() -> None:
    message = call_tir_problem(f"R.call_tir(cls.main, (x, y), {OUT44})")
    assert message == ("line 28: R.call_tir(cls.main, ...): `main` is a graph-level function; "
                       "call it as cls.main(...) (R.call_tir calls loop-level functions) "
                       "(at <string>:26:9)")


# ---------------------------------------------------------------- 5. arguments of graph functions

SIGNATURE = '''
@R.function
def main(x: R.Tensor(("n", 2), "float32"), s: R.Shape(["n", 2]), k: R.Prim("int32")):
    y = R.add(x, x)
    return (y, s, k)
'''
X32 = rng.standard_normal((3, 2)).astype("float32")


@pytest.mark.parametrize("target", TARGETS)
def test_graph_arguments_are_checked_against_the_graph_signature(target: str) -> None:
    main = tvmscript.build(parse(SIGNATURE), target)["main"]
    y, s, k = main(X32, (3, 2), 5)
    np.testing.assert_array_equal(y, X32 * 2)
    assert (s, k) == ((3, 2), 5)
    bad = [
        ((X32.T.copy().T, (3, 2), 5), ValueError,
         "main: argument 'x' is not C-contiguous (strides (4, 12)); "
         "pass np.ascontiguousarray(...)"),
        ((X32, (4, 2), 5), ValueError, "main: argument 's' has element 0 == 4, but n is 3 "
                                       "from an earlier argument"),
        ((X32, (3, 5), 5), ValueError, "main: argument 's' must have element 1 == 2, got (3, 5)"),
        ((X32, "ab", 5), TypeError, "main: argument 's' must be a shape: a tuple of 2 ints, "
                                    "got str"),
        ((X32, (3, 2), 5.5), TypeError,
         "main: argument 'k' must be a scalar of dtype int32, got float"),
        ((X32, (3, 2), True), TypeError,
         "main: argument 'k' must be a scalar of dtype int32, got bool"),
        ((X32, (3, 2), 2**31), ValueError, "main: argument 'k' is 2147483648, out of the range "
                                           "of int32"),
    ]
    for args, error, message in bad:
        with pytest.raises(error) as info:
            main(*args)
        assert str(info.value) == message


def test_graph_operator_on_a_tensor_without_dtype_is_refused_at_build() -> None:
    f = parse('''
@R.function
def main(x: R.Tensor((2, 2))):
    y = R.add(x, x)
    return y
''')
    with pytest.raises(NotImplementedError) as info:
        tvmscript.build(f)
    assert str(info.value) == ("R.add needs tensors of known rank, shape and dtype to build a "
                               "kernel, got R.Tensor((2, 2))")


def test_call_tir_in_the_returned_value_is_reported_at_the_return_line() -> None:
    mod = parse(CALL_TIR.replace("CALL", f"lv = R.call_tir(cls.add, (x, x), {OUT44})").replace(
        "return lv", f"return R.call_tir(cls.add, (x,), {OUT44})"))
    with pytest.raises(WellFormedError) as info:
        tvmscript.verify(mod)
    (problem,) = info.value.problems
    assert problem.message == ("line 29: R.call_tir(cls.add, ...) passes 1 input and 1 output, "
                               "but `add` takes 3 parameters (A, B, C) (at <string>:27:9)")
    # the returned call is bound to its own variable at parse (TVM's normal form), on line 29
    lines = mod.script().splitlines()
    assert lines[28].strip().startswith(
        'gv: R.Tensor((4, 4), dtype="float32") = R.call_tir(cls.add, (x,)'), lines[28]
    assert lines[29].strip() == "return gv", lines[29]


# ---------------------------------------------------------------- 1. every program that parses runs

_OPS = {"R.add": (2, np.add), "R.multiply": (2, np.multiply), "R.matmul": (2, np.matmul),
        "R.nn.relu": (1, lambda a: np.maximum(a, 0)), "R.negative": (1, np.negative)}


def _random_expr(gen: np.random.Generator, depth: int) -> tuple[str, Callable]:
    """Script text of a random nested operator expression over x and w, and its numpy meaning."""
    if depth == 0 or gen.random() < 0.2:
        name = str(gen.choice(["x", "w"]))
        return name, lambda env, name=name: env[name]
    op = str(gen.choice(sorted(_OPS)))
    arity, fn = _OPS[op]
    parts = [_random_expr(gen, depth - 1) for _ in range(arity)]
    text = f"{op}({', '.join(t for t, _ in parts)})"
    return text, lambda env: fn(*(f(env) for _, f in parts))


@pytest.mark.parametrize("seed", range(4))
def test_random_nested_programs_run_and_round_trip(seed: int) -> None:
    gen = np.random.default_rng(seed)
    (first, f1), (second, f2) = _random_expr(gen, 3), _random_expr(gen, 3)
    f = parse(f'''
@R.function
def main(x: R.Tensor((4, 4), "float32"), w: R.Tensor((4, 4), "float32")):
    lv = {first}
    return ({second}, R.add(lv, x))
''')
    assert_round_trip(f)
    a, b = tvmscript.build(f, "llvm")["main"](X44, W44)
    env = {"x": X44.astype("float64"), "w": W44.astype("float64")}
    np.testing.assert_allclose(a, f2(env), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b, f1(env) + X44, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- found by the program fuzzer

def test_conv2d_kernel_larger_than_its_input_is_an_error_at_the_call() -> None:
    with pytest.raises(ScriptError) as info:
        parse('''
@R.function
def main(x: R.Tensor((1, 3, 8, 8), "float32"), w: R.Tensor((4, 3, 2147483648, 3), "float32")):
    y = R.nn.conv2d(x, w, padding=[1, 1])
    return y
''')
    assert info.value.message == ("R.nn.conv2d: the output would have size -2147483637 in "
                                  "dimension H; the (dilated) kernel (2147483648, 3) is larger "
                                  "than the padded input (10, 10)")
    assert (info.value.lineno, info.value.col_offset) == (4, 8)


@pytest.mark.parametrize("call, message", [
    ("R.reshape(x, shape=(4, 2))", "R.reshape: cannot reshape 6 elements (shape (2, 3)) into "
                                   "shape (4, 2) (8 elements)"),
    ("R.reshape(x, shape=(-1, 4))", "R.reshape: cannot reshape 6 elements (shape (2, 3)) into "
                                    "shape (-1, 4)"),
    ("R.reshape(x, shape=(-1, -1))", "R.reshape: sizes are non-negative, with at most one -1 "
                                     "to infer, got (-1, -1)"),
    ("R.sum(x, axis=5)", "R.sum: axis 5 is out of range for a tensor of rank 2"),
    ("R.sum(x, axis=[0, -2])", "R.sum: axis -2 repeats axis 0"),
    ("R.nn.softmax(x, axis=2)", "R.nn.softmax: axis 2 is out of range for a tensor of rank 2"),
])
def test_operator_attributes_out_of_range_are_errors_at_the_call(call: str, message: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse(f'''
@R.function
def main(x: R.Tensor((2, 3), "float32")):
    y = {call}
    return y
''')
    assert info.value.message == message
    assert info.value.lineno == 4


@pytest.mark.parametrize("target", TARGETS)
def test_reshape_infers_a_minus_one_size(target: str) -> None:
    f = parse('''
@R.function
def main(x: R.Tensor((2, 3), "float32")):
    y = R.reshape(x, shape=(-1, 2))
    z = R.sum(x, axis=-1)
    return (y, z)
''')
    assert_round_trip(f)
    assert "y: R.Tensor((3, 2), dtype=\"float32\") = R.reshape(x, shape=(-1, 2))" in f.script()
    x = rng.standard_normal((2, 3)).astype("float32")
    y, z = tvmscript.build(f, target)["main"](x)
    np.testing.assert_array_equal(y, x.reshape(-1, 2))
    np.testing.assert_allclose(z, x.sum(axis=-1), rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    ("cls.main(x)", "cls.main(...) passes 1 argument, but `main` takes 2 (x, y)"),
    ("cls.add(x, x, x)", "cls.add(...) calls a loop-level function; call it with "
                         "R.call_tir(cls.add, (inputs...), out_sinfo=...)"),
])
def test_calls_of_module_functions_are_checked(call: str, message: str) -> None:
    mod = call_tir_module(call)
    with pytest.raises(WellFormedError) as info:
        tvmscript.verify(mod)
    assert [p.message for p in info.value.problems] == [f"line 28: {message} (at <string>:26:9)"]


SCALAR_KERNEL = '''
@I.ir_module
class Module:
    @T.prim_func
    def scale(a: T.handle, k: T.float32, b: T.handle):
        n = T.int64()
        A = T.match_buffer(a, (n,), "float32")
        B = T.match_buffer(b, (n,), "float32")
        for i in range(n):
            with T.block("B"):
                vi = T.axis.spatial(n, i)
                B[vi] = A[vi] * k

    @R.function
    def main(x: R.Tensor(("m",), "float32")):
        m = T.int64()
        cls = Module
        y = R.call_tir(cls.scale, (x, K), out_sinfo=R.Tensor((m,), "float32"))
        return y
'''


@pytest.mark.parametrize("target", TARGETS)
def test_call_tir_passes_prim_values_to_scalar_parameters(target: str) -> None:
    mod = parse(SCALAR_KERNEL.replace("K", "R.prim_value(T.float32(1.5))"))
    tvmscript.verify(mod)
    assert_round_trip(mod)
    x = np.arange(5, dtype="float32")
    np.testing.assert_array_equal(tvmscript.build(mod, target)["main"](x), x * 1.5)
    bad = parse(SCALAR_KERNEL.replace("K", "R.prim_value(2)"))
    with pytest.raises(WellFormedError) as info:
        tvmscript.verify(bad)
    assert [p.message for p in info.value.problems] == [
        'line 19: R.call_tir(cls.scale, ...): input 1 is R.Prim("int64") but parameter `k` of '
        '`scale` is a float32 scalar (at <string>:18:9)']


def test_call_tir_tir_vars_are_refused_rather_than_dropped() -> None:
    with pytest.raises(ScriptError) as info:
        parse(SCALAR_KERNEL.replace("K", "R.prim_value(T.float32(1.5))").replace(
            'out_sinfo=R.Tensor((m,), "float32")',
            'out_sinfo=R.Tensor((m,), "float32"), tir_vars=R.shape([m])'))
    assert info.value.message == ("R.call_tir: tir_vars is not supported; pass sizes and scalars "
                                  "as inputs, e.g. R.prim_value(n)")
    assert info.value.lineno == 18


@pytest.mark.parametrize("shape, message", [
    ("[2.5, 12]", "R.reshape: a size is an integer or an integer expression, got 2.5"),
    ("[True, 24]", "R.reshape: a size is an integer or an integer expression, got True"),
    ("['n', 12]", "R.reshape: the size 'n' is a string; a symbolic size is a variable"),
])
def test_reshape_to_a_size_that_is_no_integer_is_an_error_at_the_call(shape, message):
    # found by fuzzing: shape=[2.5, 12] printed R.Tensor((T.float32(2.5), 12)), which did not
    # reparse; a string size became a StringImm in the result's shape
    src = f'''
@R.function
def flatten(x: R.Tensor((2, 3, 4), "float32")) -> R.Tensor((2, 12), "float32"):
    with R.dataflow():
        y = R.reshape(x, shape={shape})
        R.output(y)
    return y
'''
    with pytest.raises(ScriptError, match=re.escape(message)) as info:
        tvmscript.from_source(src)
    assert info.value.lineno == 5


def test_size_expression_in_a_signature_round_trips_and_runs():
    # found by fuzzing: T.max(16, 16) as a size printed as the string "T.max(16, 16)", which
    # the parser read as a new symbolic size named T_max_16__16_. T.max(16, 16) now folds to 16
    # at parse (as TVM's operator does); the node constructor T.Max keeps the size an expression
    func = tvmscript.from_source('''
@R.function
def dyn(x: R.Tensor(("n", T.Max(16, 16)), "float32"), w: R.Tensor((16, "m"), "float32")) -> R.Tensor(("n", "m"), "float32"):
    n = T.int64()
    m = T.int64()
    with R.dataflow():
        lv = R.matmul(x, w)
        R.output(lv)
    return lv
''')
    text = func.script()
    assert "T.Max(16, 16)" in text and "t_max" not in text.lower()
    again = tvmscript.from_source(text)
    assert_structural_equal(func, again)
    assert again.script() == text
    x, w = np.ones((3, 16), "float32"), np.ones((16, 5), "float32")
    np.testing.assert_allclose(tvmscript.build(again, target="llvm")["dyn"](x, w), x @ w)


def test_string_size_is_an_expression_of_the_functions_sizes():
    func = tvmscript.from_source('''
@R.function
def f(x: R.Tensor(("n", "n * 2"), "float32")) -> R.Tensor(("n", "n * 2"), "float32"):
    n = T.int64()
    with R.dataflow():
        y = R.add(x, x)
        R.output(y)
    return y
''')
    n = func.params[0].sinfo.shape[0]
    assert func.params[0].sinfo.shape[1].a is n  # one n, not a variable named "n * 2"
    assert_structural_equal(func, tvmscript.from_source(func.script()))


@pytest.mark.parametrize("size, message", [
    ('"n +"', 'a tensor size must be a name such as "n" or an expression of sizes, got \'n +\''),
    ('"1.5 * n"', "the size '1.5 * n' does not evaluate: operands have different dtypes"),
])
def test_string_size_that_is_no_size_expression_is_an_error_at_its_line(size, message):
    with pytest.raises(ScriptError, match=re.escape(message)) as info:
        tvmscript.from_source(f'''
@R.function
def h(x: R.Tensor(({size},), "float32")) -> R.Tensor(({size},), "float32"):
    return x
''')
    assert info.value.lineno == 3
