"""Expressions as Apache TVM 0.27 means them: constant folding while parsing (TVM's
``TryConstFold``), node constructors where an operator would fold, the tvm dialect's expression
spellings, and the intrinsics TVM canonicalizes (``T.abs``, ``T.call_llvm_pure_intrin``).

Every folding rule is checked against the real TVM through ``TVMBridge`` (a worker process):
TVM's printed text of a program must parse here to the same IR as our parse of the program.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmscript
from tests.interop.round_trip import check_both_ways
from tests.interop.tvm_bridge import TVM_REASON, TVMBridge, tvm_installed
from tvmscript.diagnostics import ScriptError
from tvmscript.ir import expr as E

needs_tvm = pytest.mark.skipif(not tvm_installed(), reason=TVM_REASON)

HEADER = '''
@T.prim_func
def main(A: T.Buffer((8,), "int32"), F: T.Buffer((8,), "float32"), i: T.int32, j: T.int32,
         f: T.float32, g: T.float32, c: T.bool, n: T.int64, d: T.float64):
'''


def program(*exprs: str) -> str:
    return HEADER + "".join(f"    T.evaluate({e})\n" for e in exprs)


def value(expr: str) -> E.PrimExpr:
    """Our parse of one expression (the value of its ``T.evaluate``)."""
    return tvmscript.from_source(program(expr)).body.value


def same(a, b) -> bool:
    return tvmscript.structural_equal(a, b, map_free_vars=True)


@pytest.fixture(scope="module")
def bridge():
    b = TVMBridge()
    yield b
    b.close()


# ---------------------------------------------------------------- folding (TVM's rules)

# one line per rule of TryConstFold<Op> and the bitwise operators (src/arith/const_fold.h,
# src/tir/op/op.cc), plus what TVM's parser does not fold (==, !=, and, or, not)
FOLD_CASES = [
    "i + 0", "0 + i", "i - 0", "0 - i", "i * 1", "1 * i", "i * 0", "0 * i", "-i", "-f",
    "-(T.float32(2))", "-(T.int32(3))", "- -i", "f * T.float32(1)", "f * T.float32(0)",
    "f + T.float32(0)", "T.float32(0) + f", "T.float32(0.1) + T.float32(0.2)",
    "T.float32(0) + T.float32(0.1)", "T.float64(0.1) + T.float64(0.2)",
    "T.float32(1) / T.float32(3)", "T.float32(1e38) * T.float32(1e38)", "f / T.float32(1)",
    "T.float16(1) + T.float16(0.5)", "T.float16(0) + T.float16(1)", "T.float16(2) * T.float16(1)",
    "T.float16(0) * T.float16(3)", "T.float16(3) - T.float16(0)", "T.float16(3) / T.float16(1)",
    "i // 1", "i % 1", "0 // i", "0 % i",
    "T.truncdiv(i, 1)", "T.truncmod(i, 1)", "T.truncdiv(T.int32(-7), T.int32(2))",
    "T.truncmod(T.int32(-7), T.int32(2))", "T.int32(-7) // T.int32(2)", "T.int32(-7) % T.int32(2)",
    "T.int8(5) % T.int8(1)", "T.int8(100) + T.int8(100)", "T.int32(2147483647) + 1",
    "T.uint32(4000000000) + T.uint32(4000000000)", "T.uint8(3) + T.uint8(1)", "n * 1", "n + 0",
    "T.min(i, i)", "T.min(3, 4)", "T.max(T.int64(1), 2)", "T.max(T.float32(1), T.float32(2))",
    "T.min(A[i], A[i])", "T.min(i, 0)", "T.int32(3) < T.int32(4)", "T.int32(3) <= 4",
    # TVM prints T.evaluate(T.bool(False)) as T.evaluate(0): a false value goes in a T.Select
    "T.Select(T.int32(3) > T.int32(4), 1, 2)", "T.Select(T.float32(1) >= T.float32(2), 1, 2)",
    "3 < T.int32(4)",
    "T.int32(3) == T.int32(3)", "T.int32(3) != T.int32(4)", "i < 3 < 4",
    "T.int32(1) < T.int32(2) < T.int32(3)", "c and T.bool(True)", "T.bool(False) or c",
    "not T.bool(True)", "T.int32(7) & T.int32(3)", "T.int32(1) << T.int32(3)", "i << 0",
    "i >> 0", "i & 0", "i ^ 0", "~T.int32(3)", "A[0] + 0", "A[i] * 1 + 0 * A[i]",
    "A[i] - A[i]", "i - (-3)", "i + -3", "(i + 0) * (j * 1) - (0 - j)", "n + 1", "i + T.int64(1)",
    "f + 1", "T.BitwiseNot(3) + T.BitwiseAnd(7, 3)",
]


@needs_tvm
@pytest.mark.parametrize("expr", FOLD_CASES)
def test_operator_folds_as_in_tvm(expr, bridge):
    src = program(expr)
    theirs = bridge.parse(src)
    assert theirs["ok"], theirs.get("error")
    ours = tvmscript.from_source(src)
    back = tvmscript.from_source(theirs["script"])
    assert same(back, ours), (expr, theirs["script"].strip().splitlines()[-1], ours.script())


@pytest.mark.parametrize("expr, expected", [
    ("i * 1", "i"), ("0 + i", "i"), ("i * 0", "0"), ("-i", "-i"), ("i * -1", "-i"), ("-f", "-f"),
    ("0 - i", "0 - i"), ("i % 1", "0"), ("T.int32(7) // 2", "3"),
    ("T.float32(0.1) + T.float32(0.2)", "T.float32(0.30000001192092896)"),
    ("T.int8(100) + T.int8(100)", "T.int8(-56)"), ("T.int32(3) < 4", "T.bool(True)"),
    ("T.int32(3) == 3", "T.int32(3) == 3"), ("c and T.bool(True)", "c and T.bool(True)"),
    ("not T.bool(True)", "not T.bool(True)"), ("i << 0", "i"), ("T.int32(6) & 3", "2"),
])
def test_folded_value_here(expr, expected):
    assert tvmscript.from_source(program(expr)).script().strip().splitlines()[-1] == \
        f"    T.evaluate({expected})"


def test_division_by_constant_zero_names_the_line():
    with pytest.raises(ScriptError) as info:
        tvmscript.from_source(program("i", "i // 0"))
    text = str(info.value)
    assert "division by a constant zero" in text and "T.evaluate(i // 0)" in text


def test_negating_unsigned_is_an_error():
    src = HEADER.replace("d: T.float64", "u: T.uint8") + "    T.evaluate(-u)\n"
    with pytest.raises(ScriptError, match="unary minus needs a signed operand"):
        tvmscript.from_source(src)


# ---------------------------------------------------------------- printing what would fold

def _one(x):
    return E.const(1, x.dtype)


def _zero(x):
    return E.const(0, x.dtype)


@pytest.mark.parametrize("build, text", [
    (lambda i, j: E.Mul(i, _one(i)), "T.Mul(i, 1)"), (lambda i, j: E.Add(i, _zero(i)), "T.Add(i, 0)"),
    (lambda i, j: E.Sub(i, _zero(i)), "T.Sub(i, 0)"), (lambda i, j: E.Div(i, _one(i)), "T.Div(i, 1)"),
    (lambda i, j: E.Sub(_zero(i), i), "0 - i"), (lambda i, j: E.Mul(i, E.const(-1)), "-i"),
    (lambda i, j: E.Mul(E.Add(i, j), E.const(-1)), "-(i + j)"),
    (lambda i, j: E.FloorMod(i, _one(i)), "T.FloorMod(i, 1)"),
    (lambda i, j: E.Mod(i, _one(i)), "T.Mod(i, 1)"), (lambda i, j: E.Min(i, i), "T.Min(i, i)"),
    (lambda i, j: E.Min(i, j), "T.min(i, j)"),
    (lambda i, j: E.LT(E.const(3), E.const(4)), "T.LT(3, 4)"),
    (lambda i, j: E.EQ(E.const(3), E.const(3)), "T.int32(3) == 3"),
    (lambda i, j: E.Add(E.Mul(i, _one(i)), j), "T.Mul(i, 1) + j"),
    (lambda i, j: E.Add(E.Add(i, _zero(i)), j), "T.Add(i, 0) + j"),
    (lambda i, j: E.Call(i.dtype, "tir.shift_left", (i, _zero(i))), "T.shift_left(i, 0)"),
])
def test_folding_node_prints_with_its_constructor(build, text):
    func = tvmscript.from_source(program("i + j"))
    i, j = func.body.value.a, func.body.value.b
    func = func.with_(body=func.body.with_(value=build(i, j)))
    for dialect in ("classic", "tvm"):
        printed = func.script(dialect=dialect)
        last = printed.strip().splitlines()[-1]
        assert last in (f"    T.evaluate({text})", f"    {text}")  # a call is a statement
        assert tvmscript.structural_equal(tvmscript.from_source(printed), func)


def test_zero_minus_i_reparses_as_sub():
    back = value("0 - i")
    assert isinstance(back, E.Sub) and back.a == E.const(0)
    neg = value("-i")
    assert isinstance(neg, E.Mul) and neg.b == E.const(-1)


# ---------------------------------------------------------------- tvm dialect spellings

VECTOR = '''
@T.prim_func
def main(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32"), C: T.Buffer((8,), "int32")):
    x = T.int32()
    for i in range(4):
        B[i * 16:i * 16 + 16] = A[i * 16:i * 16 + 16] + T.Broadcast(T.float32(1), 16)
        C[i] = T.let(x, i * 2, x * x + 1) + C[i] / 3 + T.truncmod(C[i], 5)
'''


def test_tvm_dialect_spellings():
    func = tvmscript.from_source(VECTOR)
    tvm_text = func.script(dialect="tvm")
    assert "B[i * 16:i * 16 + 16] = A[T.Ramp(i * 16, 1, 16)] + T.Broadcast(" in tvm_text
    assert "T.Let(x * x + 1, where={x: i * 2}) + T.truncdiv(C[i], 3) + T.truncmod(C[i], 5)" \
        in tvm_text
    classic = func.script()
    assert "A[i * 16:i * 16 + 16]" in classic and "T.let(x, i * 2, x * x + 1)" in classic
    assert "C[i] / 3" in classic
    for text in (tvm_text, classic):
        assert tvmscript.structural_equal(tvmscript.from_source(text), func)


@needs_tvm
def test_tvm_dialect_parses_in_tvm(bridge):
    text = tvmscript.from_source(VECTOR).script(dialect="tvm")
    theirs = bridge.parse(text)
    assert theirs["ok"], theirs.get("error")
    assert same(tvmscript.from_source(theirs["script"]), tvmscript.from_source(VECTOR))


def test_let_with_where_is_let():
    src = HEADER + "    x = T.int32()\n    T.evaluate(T.Let(x * x + 1, where={x: i * 2}))\n"
    let = tvmscript.from_source(src).body.value
    assert isinstance(let, E.Let) and let.var.name == "x"
    classic = HEADER + "    x = T.int32()\n    T.evaluate(T.let(x, i * 2, x * x + 1))\n"
    assert tvmscript.structural_equal(tvmscript.from_source(src), tvmscript.from_source(classic))


def test_let_where_must_bind_one_variable():
    src = HEADER + "    T.evaluate(T.Let(i + 1, where={1: 2}))\n"
    with pytest.raises(ScriptError) as info:
        tvmscript.from_source(src)
    assert "T.Let binds a variable" in str(info.value)
    assert "where={1: 2}" in str(info.value)


# ---------------------------------------------------------------- intrinsics TVM canonicalizes

ABS = '''
@T.prim_func
def main(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32"), X: T.Buffer((16,), "int32"),
         Y: T.Buffer((16,), "int32")):
    for i in range(16):
        B[i] = T.abs(A[i]) + T.call_llvm_pure_intrin("float32", "llvm.fabs", A[i]) + T.fabs(A[i])
        Y[i] = T.abs(X[i]) + T.abs(T.int32(-3))
'''


def test_abs_builds_what_tvm_builds():
    func = tvmscript.from_source(ABS)
    text = func.script()
    assert "T.fabs(A[i]) + T.call_llvm_pure_intrin(\"float32\", \"llvm.fabs.f32\", A[i])" in text
    assert "Y[i] = T.Select(X[i] >= 0, X[i], 0 - X[i]) + 3" in text
    spelled = ABS.replace('"llvm.fabs"', '"llvm.fabs.f32"')
    assert tvmscript.structural_equal(tvmscript.from_source(spelled), func)


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_abs_and_llvm_fabs_compute(backend):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(16).astype("float32")
    ints = rng.integers(-100, 100, 16).astype("int32")
    b, j = np.zeros(16, "float32"), np.zeros(16, "int32")
    func = tvmscript.from_source(ABS)
    if backend == "llvm":
        from backends.llvm import build_llvm

        build_llvm({"main": func}, "llvm")["main"](a, b, ints, j)
    else:
        from backends.interpreter import run

        run(func, a, b, ints, j)
    np.testing.assert_allclose(b, 3 * np.abs(a), rtol=1e-6)
    np.testing.assert_array_equal(j, np.abs(ints) + 3)


@needs_tvm
@pytest.mark.parametrize("name, source", [("abs", ABS), ("vector", VECTOR)])
def test_intrinsics_both_ways(bridge, name, source):
    out = check_both_ways(bridge, name, source)
    assert out.tvm_reads_source or name == "vector", out.problems
    assert out.through_tvm, out.problems
    if out.tvm_reads_source:
        assert out.ours_to_tvm and out.tvm_to_ours, out.problems


# ---------------------------------------------------------------- property over random expressions

INT_LEAVES = ["i", "j", "0", "1", "-1", "2", "T.int32(0)", "T.int32(1)", "T.int32(2)"]
FLOAT_LEAVES = ["f", "g", "T.float32(0)", "T.float32(1)", "T.float32(-1)", "T.float32(2)",
                "T.float32(0.5)"]


def _exprs(leaves, binary, calls, anchor):
    def extend(sub):
        return (st.tuples(sub, st.sampled_from(binary), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
                | st.tuples(st.sampled_from(calls), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
                | sub.map(lambda e: f"(-{e})"))

    # ``anchor +`` keeps Python from folding a tree of plain numbers before TVM sees it
    return st.recursive(st.sampled_from(leaves), extend, max_leaves=6).map(
        lambda e: f"{anchor} + {e}")


INT_EXPRS = _exprs(INT_LEAVES, ["+", "-", "*", "//", "%"],
                   ["T.min", "T.max", "T.truncdiv", "T.truncmod"], "T.int32(0)")
FLOAT_EXPRS = _exprs(FLOAT_LEAVES, ["+", "-", "*", "/"], ["T.min", "T.max"], "T.float32(0)")
CMP_EXPRS = st.tuples(INT_EXPRS, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
                      st.sampled_from(INT_LEAVES)).map(
    lambda t: f"T.Select(({t[0]}) {t[1]} {t[2]}, 1, 2)")


@needs_tvm
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.one_of(INT_EXPRS, FLOAT_EXPRS, CMP_EXPRS))
def test_random_expressions_mean_the_same_in_tvm(bridge, expr):
    src = program(expr)
    try:
        ours = tvmscript.from_source(src)
    except ScriptError as exc:  # a constant zero divisor: TVM refuses it as well
        assert "zero" in str(exc)
        assert not bridge.parse(src)["ok"]
        return
    theirs = bridge.parse(src)
    assert theirs["ok"], (expr, theirs.get("error"))
    assert same(tvmscript.from_source(theirs["script"]), ours), (expr, theirs["script"])
    for dialect in ("classic", "tvm"):
        text = ours.script(dialect=dialect)
        assert tvmscript.structural_equal(tvmscript.from_source(text), ours), text
    again = bridge.parse(ours.script(dialect="tvm"))
    assert again["ok"], again.get("error")
    assert same(tvmscript.from_source(again["script"]), ours), (expr, again["script"])
