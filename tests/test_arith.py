"""The arithmetic analyser: integer bounds, constant folding, canonical forms and proofs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tvmscript
from tvmscript.arith import Analyzer, Bound
from tvmscript.arith.linear import wrap
from tvmscript.ir import (
    EQ, GE, LE, LT, NE, And, Broadcast, Call, Cast, Div, FloatImm, FloorDiv, FloorMod, IntImm,
    Max, Min, Mod, Not, Or, Ramp, Range, Select, Var, Visitor, const,
)

i, j, k = Var("i"), Var("j"), Var("k")
n = Var("n")
x64 = Var("x", "int64")
f = Var("f", "float32")


@pytest.fixture
def ana() -> Analyzer:
    a = Analyzer()
    a.bind(i, Range.from_min_extent(0, 16))
    a.bind(j, Range.from_min_extent(0, 16))
    a.bind(k, Range.from_min_extent(0, 4))
    return a


def c(value, dtype="int32"):
    return const(value, dtype)


# ---------------------------------------------------------------- const_int_bound

BOUND_CASES = [
    (lambda: i, (0, 15)),
    (lambda: i * 16 + j, (0, 255)),
    (lambda: i - j, (-15, 15)),
    (lambda: i * -2, (-30, 0)),
    (lambda: i // 4, (0, 3)),
    (lambda: (i - 8) // 4, (-2, 1)),
    (lambda: i % 4, (0, 3)),
    (lambda: (i - 20) % 8, (0, 7)),
    (lambda: k % 8, (0, 3)),
    (lambda: Div(i - 8, c(4)), (-2, 1)),
    (lambda: Mod(i - 8, c(4)), (-3, 3)),
    (lambda: Min(i, k), (0, 3)),
    (lambda: Max(i, c(20)), (20, 20)),
    (lambda: Select(LT(i, j), i, c(100)), (0, 100)),
    (lambda: Cast("int64", i), (0, 15)),
    (lambda: Cast("int8", i * 16), (-128, 127)),  # 240 does not fit int8: it may wrap
    (lambda: n, (-(2**31), 2**31 - 1)),
    (lambda: n * 2, (-(2**31), 2**31 - 1)),  # may overflow: the whole range
    (lambda: LT(i, j), (0, 1)),
    (lambda: IntImm("uint8", 200) + IntImm("uint8", 100), (0, 255)),
    (lambda: Ramp(i, c(2), 4), (0, 21)),
    (lambda: x64 // c(2**40, "int64"), (-(2**23), 2**23 - 1)),
]


@pytest.mark.parametrize("make, expected", BOUND_CASES)
def test_const_int_bound(ana, make, expected):
    assert ana.const_int_bound(make()) == Bound(*expected)


def test_const_int_bound_of_float_is_an_error(ana):
    with pytest.raises(TypeError, match="float32"):
        ana.const_int_bound(f)


def test_bind_range_with_symbolic_min(ana):
    m = Var("m")
    ana.bind(m, Range.from_min_extent(i, 4))  # m in [i, i + 4) with i in [0, 16)
    assert ana.const_int_bound(m) == Bound(0, 18)


# ---------------------------------------------------------------- simplify: a table of cases

SIMPLIFY_CASES = {
    "linear cancel": (lambda: (i * 4 + j) * 2 - i * 8, lambda: j * 2),
    "distribute": (lambda: (i + 1) * 4 - 4, lambda: i * 4),
    "collect": (lambda: i + i + i, lambda: i * 3),
    "commute": (lambda: (j + i) - (i + j), lambda: c(0)),
    "negative first": (lambda: c(3) - i, lambda: c(3) - i),
    "order kept": (lambda: j + i * 16, lambda: j + i * 16),
    "div by bound": (lambda: i // 16, lambda: c(0)),
    "mod by bound": (lambda: i % 16, lambda: i),
    "div split": (lambda: (i * 16 + j) // 16, lambda: i),
    "mod split": (lambda: (i * 16 + j) % 16, lambda: j),
    "div with offset": (lambda: (i * 16 + j + 32) // 16, lambda: i + 2),
    "mod with offset": (lambda: (i * 16 + j + 32) % 16, lambda: j),
    "div partial": (lambda: (i * 16 + j + 17) // 16, lambda: i + (j + 1) // 16 + 1),
    "truncdiv nonneg": (lambda: Div(i * 16 + j, c(16)), lambda: i),
    "truncmod nonneg": (lambda: Mod(i * 16 + j, c(16)), lambda: j),
    "div by one": (lambda: n // 1, lambda: n),
    "mod by one": (lambda: n % 1, lambda: c(0)),
    "nested div": (lambda: n // 4 // 8, lambda: n // 32),
    "nested mod": (lambda: n % 16 % 4, lambda: n % 4),
    "pow2 mod ignores overflow": (lambda: (n * 16 + j) % 16, lambda: j),
    "div unknown stays": (lambda: (n * 16 + j) // 16, lambda: (n * 16 + j) // 16),
    "div regroup": (lambda: (i * 4 + k) // 16, lambda: i // 4),
    "mod regroup": (lambda: (i * 4 + k) % 16, lambda: i % 4 * 4 + k),
    "div regroup with offset": (lambda: (i * 4 + k + 16) // 16, lambda: i // 4 + 1),
    "regroup needs a bounded low part": (lambda: (i * 4 + j) // 16, lambda: (i * 4 + j) // 16),
    "lt true": (lambda: LT(i * 16 + j, c(256)), lambda: c(True, "bool")),
    "lt undecided": (lambda: LT(i * 16 + j, c(255)), lambda: LT(i * 16 + j, c(255))),
    "ge false": (lambda: GE(i, c(16)), lambda: c(False, "bool")),
    "eq same": (lambda: EQ(i + j, j + i), lambda: c(True, "bool")),
    "ne by bounds": (lambda: NE(i, c(-1)), lambda: c(True, "bool")),
    "le linear": (lambda: LE(i * 16, i * 16 + j), lambda: c(True, "bool")),
    "and true": (lambda: And(LT(i, n), c(True, "bool")), lambda: LT(i, n)),
    "and false": (lambda: And(LT(i, n), c(False, "bool")), lambda: c(False, "bool")),
    "or true": (lambda: Or(LT(i, n), LT(i, c(16))), lambda: c(True, "bool")),
    "not cmp": (lambda: Not(LT(i, n)), lambda: GE(i, n)),
    "not not": (lambda: Not(Not(EQ(n, c(1)))), lambda: EQ(n, c(1))),
    "select const": (lambda: Select(LT(i, c(16)), i, j), lambda: i),
    "select same": (lambda: Select(LT(i, n), j, j), lambda: j),
    "min decided": (lambda: Min(i, j + 16), lambda: i),
    "max decided": (lambda: Max(i, c(16)), lambda: c(16)),
    "min same": (lambda: Min(n, n), lambda: n),
    "min undecided": (lambda: Min(i, j), lambda: Min(i, j)),
    "cast fold": (lambda: Cast("int8", c(300)), lambda: c(44, "int8")),
    "cast same": (lambda: Cast("int32", n), lambda: n),
    "int64 stays": (lambda: x64 * 2 + x64, lambda: x64 * 3),
    "int64 cancel": (lambda: Cast("int64", i) * 4 - Cast("int64", i) * 4, lambda: c(0, "int64")),
    "float keeps order": (lambda: (f * 2.0) * 3.0, lambda: (f * 2.0) * 3.0),
    "float times one": (lambda: f * 1.0, lambda: f),
    "float plus zero stays": (lambda: f + 0.0, lambda: f + 0.0),
    "ramp plus broadcast": (lambda: Ramp(i * 4, c(1), 4) + Broadcast(c(4), 4),
                            lambda: Ramp(i * 4 + 4, c(1), 4)),
    "broadcast times broadcast": (lambda: Broadcast(i, 4) * Broadcast(c(2), 4),
                                  lambda: Broadcast(i * 2, 4)),
    "if_then_else const": (lambda: Call("int32", "tir.if_then_else", (LT(i, c(16)), j, n)),
                           lambda: j),
    "div mod recombine": (lambda: n // 4 * 4 + n % 4, lambda: n),
    "truncdiv mod recombine": (lambda: Div(n, c(4)) * 8 + Mod(n, c(4)) * 2, lambda: n * 2),
    "unit range is a constant": (lambda: i + k * 0, lambda: i),
}


@pytest.mark.parametrize("name", sorted(SIMPLIFY_CASES))
def test_simplify(ana, name):
    before, expected = SIMPLIFY_CASES[name]
    tvmscript.assert_structural_equal(ana.simplify(before()), expected())


def test_simplify_returns_the_same_object_when_nothing_changes(ana):
    expr = i * 16 + j
    assert ana.simplify(expr) is expr
    assert ana.simplify(LT(expr, n)) is not None


def test_simplify_is_idempotent(ana):
    for name, (before, _) in SIMPLIFY_CASES.items():
        once = ana.simplify(before())
        assert ana.simplify(once) is once, name


def test_impure_calls_are_never_dropped(ana):
    call = Call("int32", "tir.call_extern", (tvmscript.ir.StringImm("f"),))
    assert isinstance(ana.simplify(call * 0), type(call * 0))
    kept = ana.simplify(Select(c(True, "bool"), i, call))
    assert isinstance(kept, Select)


def test_constraint_and_can_prove(ana):
    assert not ana.can_prove(LT(i, c(8)))
    with ana.constraint(And(LT(i, c(8)), GE(j, c(4)))):
        assert ana.can_prove(LT(i, c(8)))
        tvmscript.assert_structural_equal(ana.simplify(i // 8), c(0))
        assert ana.const_int_bound(j) == Bound(4, 15)
        assert ana.can_prove(GE(j, c(4)))
    assert ana.const_int_bound(j) == Bound(0, 15)


def test_can_prove_equal(ana):
    assert ana.can_prove_equal((i * 16 + j) // 16 * 16, i * 16)
    assert ana.can_prove_equal(n + 1, 1 + n)
    assert not ana.can_prove_equal(n, n + 1)
    assert not ana.can_prove_equal(Cast("int64", n), n)


def test_bind_constant_substitutes(ana):
    m = Var("m")
    ana.bind(m, 3)
    tvmscript.assert_structural_equal(ana.simplify(m * i + m), i * 3 + 3)


# ---------------------------------------------------------------- constant folding per dtype

WRAP_CASES = [
    ("int8", "Add", 127, 1, -128),
    ("int8", "Mul", 16, 16, 0),
    ("int8", "Sub", -128, 1, 127),
    ("int16", "Mul", 300, 300, wrap(90000, tvmscript.ir.dtype("int16"))),
    ("int32", "Add", 2**31 - 1, 1, -(2**31)),
    ("int64", "Mul", 2**40, 2**30, 0),
    ("uint8", "Sub", 0, 1, 255),
    ("uint8", "Add", 200, 100, 44),
    ("uint32", "Mul", 2**31, 2, 0),
    ("uint16", "FloorDiv", 65535, 2, 32767),
]


@pytest.mark.parametrize("dtype, op, a, b, expected", WRAP_CASES)
def test_fold_wraps_per_dtype(dtype, op, a, b, expected):
    cls = getattr(tvmscript.ir, op)
    out = Analyzer().simplify(cls(IntImm(dtype, a), IntImm(dtype, b)))
    tvmscript.assert_structural_equal(out, IntImm(dtype, expected))


DIV_CASES = [  # (op, a, b, expected): floor rounds down, trunc rounds towards zero
    (FloorDiv, -7, 2, -4), (FloorMod, -7, 2, 1), (FloorDiv, 7, -2, -4), (FloorMod, 7, -2, -1),
    (FloorDiv, -7, -2, 3), (FloorMod, -7, -2, -1), (Div, -7, 2, -3), (Mod, -7, 2, -1),
    (Div, 7, -2, -3), (Mod, 7, -2, 1), (Div, -7, -2, 3), (Mod, -7, -2, -1),
]


@pytest.mark.parametrize("op, a, b, expected", DIV_CASES)
def test_fold_division_of_negative_operands(op, a, b, expected):
    tvmscript.assert_structural_equal(Analyzer().simplify(op(c(a), c(b))), c(expected))


@pytest.mark.parametrize("op", [FloorDiv, FloorMod, Div, Mod])
def test_division_by_zero_is_not_folded(op):
    expr = op(c(7), c(0))
    assert Analyzer().simplify(expr) is expr


def test_int_min_divided_by_minus_one_is_not_folded():
    expr = Div(c(-(2**31)), c(-1))
    assert Analyzer().simplify(expr) is expr


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_fold_float_in_its_precision(dtype):
    np_type = np.dtype(dtype).type
    out = Analyzer().simplify(FloatImm(dtype, 0.1) + FloatImm(dtype, 0.2))
    assert isinstance(out, FloatImm) and out.dtype == tvmscript.ir.dtype(dtype)
    assert out.value == float(np_type(np_type(0.1) + np_type(0.2)))


def test_fold_float_compare_uses_the_dtype_value():
    # 0.1 as float32 is 0.100000001490116..., which is larger than the double 0.1
    out = Analyzer().simplify(GE(FloatImm("float32", 0.1), FloatImm("float32", 0.1)))
    tvmscript.assert_structural_equal(out, c(True, "bool"))


def test_fold_casts():
    simplify = Analyzer().simplify
    tvmscript.assert_structural_equal(simplify(Cast("int32", FloatImm("float32", -2.7))), c(-2))
    tvmscript.assert_structural_equal(simplify(Cast("uint8", c(-1))), IntImm("uint8", 255))
    tvmscript.assert_structural_equal(simplify(Cast("float16", c(3))), FloatImm("float16", 3.0))
    out_of_range = Cast("int8", FloatImm("float32", 1000.0))
    assert simplify(out_of_range) is out_of_range


# ---------------------------------------------------------------- the simplifier keeps values


class Eval(Visitor):
    """Evaluate an integer expression with the IR's semantics (wrap-around per dtype)."""

    def __init__(self, env: dict) -> None:
        self.env = env

    def visit_Var(self, v):
        return self.env[v]

    def visit_IntImm(self, imm):
        return imm.value

    def _int(self, op, value):
        return wrap(value, op.dtype)

    def visit_Add(self, op): return self._int(op, self.visit(op.a) + self.visit(op.b))
    def visit_Sub(self, op): return self._int(op, self.visit(op.a) - self.visit(op.b))
    def visit_Mul(self, op): return self._int(op, self.visit(op.a) * self.visit(op.b))
    def visit_FloorDiv(self, op): return self._int(op, self.visit(op.a) // self.visit(op.b))
    def visit_FloorMod(self, op): return self._int(op, self.visit(op.a) % self.visit(op.b))
    def visit_Min(self, op): return min(self.visit(op.a), self.visit(op.b))
    def visit_Max(self, op): return max(self.visit(op.a), self.visit(op.b))

    def visit_Div(self, op):
        a, b = self.visit(op.a), self.visit(op.b)
        q = abs(a) // abs(b)
        return self._int(op, q if (a >= 0) == (b >= 0) else -q)

    def visit_Mod(self, op):
        a, b = self.visit(op.a), self.visit(op.b)
        return self._int(op, a - self.visit_Div(op) * b)

    def visit_LT(self, op): return int(self.visit(op.a) < self.visit(op.b))
    def visit_LE(self, op): return int(self.visit(op.a) <= self.visit(op.b))
    def visit_EQ(self, op): return int(self.visit(op.a) == self.visit(op.b))
    def visit_NE(self, op): return int(self.visit(op.a) != self.visit(op.b))
    def visit_GT(self, op): return int(self.visit(op.a) > self.visit(op.b))
    def visit_GE(self, op): return int(self.visit(op.a) >= self.visit(op.b))
    def visit_And(self, op): return int(bool(self.visit(op.a)) and bool(self.visit(op.b)))
    def visit_Or(self, op): return int(bool(self.visit(op.a)) or bool(self.visit(op.b)))
    def visit_Not(self, op): return int(not self.visit(op.a))

    def visit_Select(self, op):
        t, f = self.visit(op.true_value), self.visit(op.false_value)
        return t if self.visit(op.condition) else f

    def visit_Cast(self, op):
        return wrap(self.visit(op.value), op.dtype)


def _expr(dtype: str, vars_: list[Var]):
    """Random integer expressions of one dtype over ``vars_``."""
    leaves = st.one_of(st.sampled_from(vars_),
                       st.integers(-20, 20).map(lambda v: IntImm(dtype, v)))
    small = st.integers(-5, 17).map(lambda v: IntImm(dtype, v))
    ops = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, FloorDiv, FloorMod, Div,
           Mod, Min, Max]

    def extend(children):
        binary = st.builds(lambda op, a, b: op(a, b), st.sampled_from(ops), children, children)
        by_const = st.builds(lambda op, a, b: op(a, b),
                             st.sampled_from([FloorDiv, FloorMod, Div, Mod, lambda a, b: a * b]),
                             children, small)
        cmp = st.sampled_from([LT, LE, EQ, NE, GE])
        select = st.builds(lambda cmp_, a, b, t, e: Select(cmp_(a, b), t, e),
                           cmp, children, children, children, children)
        # index arithmetic after splitting: (a * c + b + d) // c, % c, with a matching divisor
        split = st.builds(lambda op, a, m, b, d, same: op(a * m + b + d, m if same else d),
                          st.sampled_from([FloorDiv, FloorMod, Div, Mod]), children, small,
                          children, small, st.booleans())
        # a part the divisor's factor divides plus a small rest: (a * m + b) // (m * t)
        regroup = st.builds(lambda op, a, m, t, b: op(a * m + b, m * t),
                            st.sampled_from([FloorDiv, FloorMod]), children, small, small,
                            children)
        return st.one_of(binary, by_const, by_const, select, split, split, regroup)

    return st.recursive(leaves, extend, max_leaves=12)


PROPERTY_VARS = {
    "int32": [(Var("p"), 0, 16), (Var("q"), 0, 8), (Var("r"), -50, 50)],
    "int8": [(Var("s", "int8"), 0, 16), (Var("t", "int8"), -128, 127)],
    "int64": [(Var("u", "int64"), -3, 64), (Var("w", "int64"), 0, 4)],
}


def _check_same_values(dtype: str, expr, data) -> None:
    ana = Analyzer()
    for var, lo, hi in PROPERTY_VARS[dtype]:
        ana.bind(var, Range.from_min_extent(const(lo, dtype), const(hi - lo + 1, dtype)))
    simplified = ana.simplify(expr)
    assert simplified.dtype == expr.dtype
    for _ in range(8):
        env = {var: data.draw(st.integers(lo, hi)) for var, lo, hi in PROPERTY_VARS[dtype]}
        try:
            expected = Eval(env).visit(expr)
        except ZeroDivisionError:
            continue
        assert Eval(env).visit(simplified) == expected, (expr, simplified, env)


@pytest.mark.parametrize("dtype", sorted(PROPERTY_VARS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_simplify_keeps_values(dtype, data):
    expr = data.draw(_expr(dtype, [v for v, _, _ in PROPERTY_VARS[dtype]]))
    assume(expr.dtype.lanes == 1)
    _check_same_values(dtype, expr, data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bounds_hold(data):
    dtype = data.draw(st.sampled_from(sorted(PROPERTY_VARS)))
    expr = data.draw(_expr(dtype, [v for v, _, _ in PROPERTY_VARS[dtype]]))
    ana = Analyzer()
    for var, lo, hi in PROPERTY_VARS[dtype]:
        ana.bind(var, Range.from_min_extent(const(lo, dtype), const(hi - lo + 1, dtype)))
    bound = ana.const_int_bound(expr)
    for _ in range(8):
        env = {var: data.draw(st.integers(lo, hi)) for var, lo, hi in PROPERTY_VARS[dtype]}
        try:
            value = Eval(env).visit(expr)
        except ZeroDivisionError:
            continue
        assert bound.min <= value <= bound.max, (expr, bound, env)
