"""lower-bf16: bfloat16 arithmetic is computed in float32 and rounded back."""

from passes.lower_bf16 import round_to_bf16
from tests.pass_testing import check


def test_arithmetic_goes_through_float32():
    check("lower-bf16", '''
@T.prim_func
def f(A: T.Buffer((8,), "bfloat16"), B: T.Buffer((8,), "bool"), D: T.Buffer((8,), "float64")):
    A[0] = A[1] + A[2] * A[3]
    B[0] = A[1] < A[2]
    A[4] = T.Cast("bfloat16", D[0])
''', '''
@T.prim_func
def f(A: T.Buffer((8,), "bfloat16"), B: T.Buffer((8,), "bool"), D: T.Buffer((8,), "float64")):
    A[0] = T.Cast("bfloat16", T.Cast("float32", A[1]) + T.Cast("float32", T.Cast("bfloat16", T.Cast("float32", A[2]) * T.Cast("float32", A[3]))))
    B[0] = T.Cast("float32", A[1]) < T.Cast("float32", A[2])
    A[4] = T.Cast("bfloat16", T.Cast("float32", D[0]))
''')


def test_round_to_bf16():
    assert round_to_bf16(1.0) == 1.0
    assert round_to_bf16(1.0 + 2 ** -9) == 1.0  # tie rounds to even
    assert round_to_bf16(1.0 + 3 * 2 ** -9) == 1.0 + 2 ** -7
