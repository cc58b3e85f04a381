"""vectorize-loop: vectorizable T.vectorized loops become Ramp/Broadcast code, others serial."""

import pytest

from tests.pass_testing import check


def test_linear_body_becomes_vector_code():
    check("vectorize-loop", '''
@T.prim_func
def f(A: T.Buffer((32,), "float32"), B: T.Buffer((32,), "float32")):
    for j in range(4):
        for i in T.vectorized(8):
            B[j * 8 + i] = A[j * 8 + i] * T.float32(2)
''', '''
@T.prim_func
def f(A: T.Buffer((32,), "float32"), B: T.Buffer((32,), "float32")):
    for j in range(4):
        B[j * 8:j * 8 + 8] = A[j * 8:j * 8 + 8] * T.Broadcast(T.float32(2), 8)
''')


def test_strided_index_scalar_store_value_and_math():
    check("vectorize-loop", '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    for i in T.vectorized(16):
        B[i] = T.exp(A[i * 4 + 1]) + A[0]
        C[i] = T.float32(1)
''', '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    B[0:16] = T.exp(A[T.Ramp(1, 4, 16)]) + T.Broadcast(A[0], 16)
    C[0:16] = T.Broadcast(T.float32(1), 16)
''')


def test_loop_variable_in_values_and_casts():
    check("vectorize-loop", '''
@T.prim_func
def f(B: T.Buffer((8,), "float32")):
    for i in T.vectorized(8):
        B[i] = T.Cast("float32", i + 1)
''', '''
@T.prim_func
def f(B: T.Buffer((8,), "float32")):
    B[0:8] = T.Cast("float32x8", T.Ramp(0, 1, 8) + T.Broadcast(1, 8))
''')


@pytest.mark.parametrize("body", [
    "if i < 4:\n            B[i] = A[i]",                       # if on the loop variable
    "B[i // 2] = A[i]",                                        # non-linear index
    "x: T.float32 = A[i]\n        B[i] = x",                    # let
    "for k in range(2):\n            B[i] = A[i]",              # inner loop
    "B[0] = A[i]",                                             # every lane stores one element
    "B[i] = T.tanh(A[i])",                                     # libm call: no vector form
    "B[i] = T.if_then_else(i < 4, A[i], T.float32(0))",        # lazy select
])
def test_fallback_keeps_a_serial_loop(body):
    before = f'''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32")):
    for i in T.vectorized(8):
        {body}
'''
    check("vectorize-loop", before, before.replace("T.vectorized(8)", "range(8)"))


def test_while_body_falls_back():
    before = '''
@T.prim_func
def f(A: T.Buffer((8,), "int32")):
    for i in T.vectorized(8):
        while A[i] > 0:
            A[i] = A[i] - 1
'''
    check("vectorize-loop", before, before.replace("T.vectorized(8)", "range(8)"))


def test_invariant_if_is_kept_around_vector_code():
    check("vectorize-loop", '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), n: T.int32):
    for i in T.vectorized(8):
        if n > 0:
            A[i] = T.float32(0)
''', '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), n: T.int32):
    if n > 0:
        A[0:8] = T.Broadcast(T.float32(0), 8)
''')


def test_wide_loop_becomes_a_loop_over_vectors_of_at_most_64_lanes():
    check("vectorize-loop", '''
@T.prim_func
def f(A: T.Buffer((4096,), "float32"), B: T.Buffer((4096,), "float32")):
    for i in T.vectorized(4096):
        B[i] = A[i] * T.float32(2)
''', '''
@T.prim_func
def f(A: T.Buffer((4096,), "float32"), B: T.Buffer((4096,), "float32")):
    for i_o in range(64):
        B[i_o * 64:i_o * 64 + 64] = A[i_o * 64:i_o * 64 + 64] * T.Broadcast(T.float32(2), 64)
''')


def test_wide_loop_of_prime_extent_stays_serial():
    check("vectorize-loop", '''
@T.prim_func
def f(A: T.Buffer((1021,), "float32"), B: T.Buffer((1021,), "float32")):
    for i in T.vectorized(1021):
        B[i] = A[i] * T.float32(2)
''', '''
@T.prim_func
def f(A: T.Buffer((1021,), "float32"), B: T.Buffer((1021,), "float32")):
    for i in range(1021):
        B[i] = A[i] * T.float32(2)
''')


@pytest.mark.parametrize("rows", [1024, 1021])
def test_vectorizing_a_million_element_loop_builds_and_computes(rows):
    # regression: vectorize(fuse(i, j)) of 1024 x 1024 made LLVM abort the process
    import numpy as np

    import tvmscript

    func = tvmscript.from_source(f'''
@T.prim_func
def f(A: T.Buffer(({rows}, 1024), "float32"), B: T.Buffer(({rows}, 1024), "float32")):
    for i, j in T.grid({rows}, 1024):
        with T.block("b"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] * T.float32(2)
''')
    sch = tvmscript.Schedule(func)
    sch.vectorize(sch.fuse(*sch.get_loops(sch.get_block("b"))))
    a = np.random.default_rng(0).random((rows, 1024), "float32")
    b = np.zeros_like(a)
    tvmscript.build(sch.mod, target="llvm")["f"](a, b)
    np.testing.assert_array_equal(b, 2 * a)
