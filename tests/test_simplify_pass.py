"""The ``simplify`` pass: Before/Expected programs, and its guarantees over the corpus."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

import tvmscript
from passes import PassContext, get_pass
from passes.instruments import VerifyWellFormed
from tests.corpus.tir_programs import PROGRAMS
from tests.strategies import prim_funcs

simplify = get_pass("simplify")


def check(before: str, expected: str) -> None:
    after = simplify(tvmscript.from_source(before))
    tvmscript.verify(after)
    tvmscript.assert_structural_equal(after, tvmscript.from_source(expected))


def test_unit_loop_is_removed_and_its_min_substituted():
    check('''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(16):
        for j in range(1):
            B[i * 4 + j] = A[i * 4 + j]
    for k in range(3, 4):
        B[k] = A[k * 2]
''', '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(16):
        B[i * 4] = A[i * 4]
    B[3] = A[6]
''')


def test_decided_ifs_keep_the_branch_that_runs():
    check('''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        if i < 16:
            A[i] = T.float32(1)
        if i >= 16:
            A[i] = T.float32(2)
        if i * 2 > 40:
            A[i] = T.float32(3)
        else:
            A[i] = A[i] + T.float32(4)
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        A[i] = T.float32(1)
        A[i] = A[i] + T.float32(4)
''')


def test_index_arithmetic_after_a_split_is_canonical():
    check('''
@T.prim_func
def f(A: T.Buffer((1024,), "float32"), B: T.Buffer((64, 16), "float32")):
    for io, ii in T.grid(64, 16):
        B[(io * 16 + ii) // 16, (io * 16 + ii) % 16] = A[(io * 4 + ii) * 4 - io * 12 + 0]
''', '''
@T.prim_func
def f(A: T.Buffer((1024,), "float32"), B: T.Buffer((64, 16), "float32")):
    for io, ii in T.grid(64, 16):
        B[io, ii] = A[io * 4 + ii * 4]
''')


def test_the_condition_of_an_if_is_known_inside_it():
    check('''
@T.prim_func
def f(A: T.Buffer((32,), "float32")):
    for i in range(32):
        if i < 8:
            A[i // 8 + i] = T.float32(1)
        else:
            A[T.max(i, 8)] = T.float32(2)
''', '''
@T.prim_func
def f(A: T.Buffer((32,), "float32")):
    for i in range(32):
        if i < 8:
            A[i] = T.float32(1)
        else:
            A[i] = T.float32(2)
''')


def test_block_iterator_domains_are_known_inside_the_block():
    check('''
@T.prim_func
def f(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16, 16), "float32")):
    for i, j in T.grid(16, 16):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(A[vi, vj // 16 + vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj // 16 + vj]
''', '''
@T.prim_func
def f(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16, 16), "float32")):
    for i, j in T.grid(16, 16):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(A[vi, vj])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vi, vj]
''')


def test_constant_lets_are_substituted_and_evaluates_of_constants_dropped():
    check('''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    n: T.int32 = 4
    for i in range(16):
        T.evaluate(0)
        A[i // n * n + i % n] = T.float32(1)
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        A[i] = T.float32(1)
''')


def test_constant_folding_keeps_dtypes():
    check('''
@T.prim_func
def f(A: T.Buffer((16,), "int64"), B: T.Buffer((4,), "int8"), C: T.Buffer((4,), "float32")):
    for i in range(T.int64(16)):
        A[i] = i * T.int64(2) + T.int64(3) * i - i * T.int64(5)
    B[0] = T.int8(127) + T.int8(1)
    C[0] = T.float32(0.5) * T.float32(4) + T.float32(1)
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "int64"), B: T.Buffer((4,), "int8"), C: T.Buffer((4,), "float32")):
    for i in range(T.int64(16)):
        A[i] = T.int64(0)
    B[0] = T.int8(-128)
    C[0] = T.float32(3)
''')


def test_stores_and_asserts_are_never_removed():
    check('''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    assert 1 < 2, "always"
    A[0] = A[0]
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    assert T.bool(True), "always"
    A[0] = A[0]
''')


def test_a_body_that_vanishes_leaves_a_no_op():
    check('''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        if i > 20:
            A[i] = T.float32(1)
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        T.evaluate(0)
''')


def test_unchanged_function_is_the_same_object():
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        A[i] = A[i] * T.float32(2)
''')
    mod = tvmscript.IRModule.from_function(func, "f")
    assert simplify(mod) is mod


def test_simplify_is_registered_as_required():
    assert simplify.required and simplify.opt_level == 0
    with PassContext(opt_level=0):
        assert simplify.name == "simplify"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_corpus_stays_well_formed_and_simplify_is_idempotent(name):
    func = tvmscript.from_source(PROGRAMS[name])
    with PassContext(instruments=[VerifyWellFormed()]):
        once = simplify(func)
        twice = simplify(once)
    tvmscript.assert_structural_equal(twice, once)


# ---------------------------------------------------------------- same numbers, by the interpreter

def _outputs_agree(before, after, rng) -> bool | None:
    import numpy as np

    import backends.interpreter as interpreter
    from tests.references import random_args

    args = random_args(before, rng)
    if before.name == "collatz":
        args[0][0] = 27  # a starting value whose sequence ends
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        interpreter.run(before, *args)
    except NotImplementedError:  # e.g. an extern function the interpreter cannot call
        return None
    interpreter.run(after, *copies)
    return all(np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
               for a, b in zip(args, copies) if isinstance(a, np.ndarray))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_corpus_computes_the_same(name):
    import numpy as np

    func = tvmscript.from_source(PROGRAMS[name])
    agree = _outputs_agree(func, simplify(func), np.random.default_rng(0))
    if agree is None:
        pytest.skip("the program calls a C function the interpreter does not know")
    assert agree


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prim_funcs())
def test_random_programs_stay_well_formed_and_compute_the_same(func):
    import numpy as np

    after = simplify(func)
    tvmscript.verify(after)
    assert _outputs_agree(func, after, np.random.default_rng(0)) in (True, None)


def test_a_condition_on_memory_is_not_assumed_after_a_store():
    check('''
@T.prim_func
def f(A: T.Buffer((4,), "int32")):
    if A[0] > 0:
        A[0] = -1
        if A[0] > 0:
            A[1] = 1
''', '''
@T.prim_func
def f(A: T.Buffer((4,), "int32")):
    if A[0] > 0:
        A[0] = -1
        if A[0] > 0:
            A[1] = 1
''')
