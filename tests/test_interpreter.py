"""The reference interpreter: conformance cases, the corpus, and the IR's exact semantics."""

from __future__ import annotations


import numpy as np
import pytest

import tvmscript
from backends.interpreter import InterpretedModule, InterpreterAssertError, compile_prim_func, run
from backends.runtime.executor import Executable
from tests.references import REFERENCES, random_args
from tests.conformance import load_cases, requires_cases
from tests.corpus.tir_programs import PROGRAMS

CASES = load_cases()


def prim(text: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(text)


# ---------------------------------------------------------------- conformance


@pytest.mark.parametrize("name", sorted(CASES))
def test_conformance_case(name: str) -> None:
    case = CASES[name]
    obj = tvmscript.from_source(case.SOURCE)
    args = case.make_args(np.random.default_rng(0))
    if getattr(case, "KIND", None) == "module":
        out = InterpretedModule(obj)["main"](*args)
        results = [out]
    else:
        run(obj, *args)
        results = [args[i] for i in case.OUTPUTS]
    for got, expected in zip(results, case.reference(*args)):
        np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)


@requires_cases
def test_module_case_through_executable() -> None:
    case = CASES["graph_module"]
    mod = tvmscript.from_source(case.SOURCE)
    interp = InterpretedModule(mod)
    ex = Executable(mod, {name: interp[name] for name in ("add", "relu")})
    args = case.make_args(np.random.default_rng(1))
    np.testing.assert_allclose(ex["main"](*args), case.reference(*args)[0], rtol=1e-6)


# ---------------------------------------------------------------- the corpus


UNKNOWN_EXTERN = {"address_of"}  # calls an extern function the interpreter cannot know


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_corpus_program_runs(name: str, capsys: pytest.CaptureFixture) -> None:
    func = prim(PROGRAMS[name])
    args = random_args(func, np.random.default_rng(0))
    if name == "while_loop":
        args[0][0] = 27
    if name in UNKNOWN_EXTERN:
        with pytest.raises(NotImplementedError, match="consume"):
            run(func, *args)
        return
    run(func, *args)


def _check(name: str, reference, rng_seed: int = 0, **kw) -> None:
    func = prim(PROGRAMS[name])
    args = random_args(func, np.random.default_rng(rng_seed), **kw)
    inputs = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    run(func, *args)
    for index, expected in reference(*inputs).items():
        np.testing.assert_allclose(args[index], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_corpus_program_matches_numpy(name: str) -> None:
    _check(name, REFERENCES[name])


def test_symbolic_2d_non_square() -> None:
    func = prim(PROGRAMS["symbolic_2d"])
    a = np.arange(15, dtype="float32").reshape(3, 5)
    b = np.zeros((5, 3), "float32")
    run(func, a, b)
    np.testing.assert_array_equal(b, a.T)


def test_int_arith_and_bitwise_match_numpy() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-2**31, 2**31, 64).astype("int32")
    b = np.zeros(64, "int32")
    run(prim(PROGRAMS["int_arith"]), a, b)
    i = np.arange(64)
    trunc_div = np.sign(a) * (np.abs(a.astype(np.int64)) // 7)
    expected = (a.astype(np.int64) // 3 + a % 5 - trunc_div * np.fmod(a, 2) + i // 4 - i % 3)
    np.testing.assert_array_equal(b, expected.astype(np.int64).astype(np.int32))
    run(prim(PROGRAMS["bitwise"]), a, b)
    np.testing.assert_array_equal(b, (a & 255 | a << 2) ^ ~a >> 1)


def test_while_loop_collatz() -> None:
    a, steps = np.array([27], "int32"), np.zeros(1, "int32")
    run(prim(PROGRAMS["while_loop"]), a, steps)
    assert (a[0], steps[0]) == (1, 111)


def test_scalar_parameters() -> None:
    a, b = np.ones(256, "float32"), np.ones(256, "float32")
    run(prim(PROGRAMS["scalar_param"]), a, b, 2.0, 10)
    np.testing.assert_array_equal(b, np.where(np.arange(256) < 10, 3.0, 1.0))


# ---------------------------------------------------------------- semantics


def test_int32_wraps_around() -> None:
    func = prim('''
@T.prim_func
def wrap(A: T.Buffer((4,), "int32"), B: T.Buffer((4,), "int32"), C: T.Buffer((4,), "uint8")):
    for i in range(4):
        B[i] = A[i] * 65536 * 65536 + (A[i] + 2147483647)
        C[i] = T.Cast("uint8", A[i] - 3)
''')
    a = np.array([1, 2, -5, 7], "int32")
    b, c = np.zeros(4, "int32"), np.zeros(4, "uint8")
    run(func, a, b, c)
    expected = (a.astype(np.int64) * 2**32 + a.astype(np.int64) + 2**31 - 1)
    np.testing.assert_array_equal(b, expected.astype(np.int64).astype(np.uint32).view(np.int32))
    np.testing.assert_array_equal(c, (a.astype(np.int64) - 3).astype(np.uint8))


def test_truncating_and_flooring_division_on_negatives() -> None:
    func = prim('''
@T.prim_func
def divs(A: T.Buffer((4,), "int32"), B: T.Buffer((4,), "int32"), Out: T.Buffer((4, 4), "int32")):
    for i in range(4):
        Out[0, i] = T.truncdiv(A[i], B[i])
        Out[1, i] = T.truncmod(A[i], B[i])
        Out[2, i] = A[i] // B[i]
        Out[3, i] = A[i] % B[i]
''')
    a, b = np.array([-7, 7, -7, 7], "int32"), np.array([2, -2, -2, 2], "int32")
    out = np.zeros((4, 4), "int32")
    run(func, a, b, out)
    np.testing.assert_array_equal(out, [[-3, -3, 3, 3], [-1, 1, -1, 1],
                                        [-4, -4, 3, 3], [1, -1, -1, 1]])


def test_float32_rounds_every_operation() -> None:
    func = prim('''
@T.prim_func
def acc(A: T.Buffer((1000,), "float32"), S: T.Buffer((1,), "float32")):
    S[0] = T.float32(1)
    for i in range(1000):
        S[0] = S[0] + A[i]
''')
    a = np.full(1000, 1e-8, "float32")
    s = np.zeros(1, "float32")
    run(func, a, s)
    assert s[0] == np.float32(1.0)  # each 1 + 1e-8 rounds back to 1 in float32
    assert 1.0 + 1000 * 1e-8 != 1.0  # while float64 accumulation would differ


def test_float_to_int_cast_truncates_toward_zero() -> None:
    func = prim('''
@T.prim_func
def f2i(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "int32"), C: T.Buffer((4,), "int8")):
    for i in range(4):
        B[i] = T.Cast("int32", A[i])
        C[i] = T.Cast("int8", T.Cast("int32", A[i]) + 250)
''')
    a = np.array([-2.7, 2.7, -0.5, 3.0], "float32")
    b, c = np.zeros(4, "int32"), np.zeros(4, "int8")
    run(func, a, b, c)
    np.testing.assert_array_equal(b, [-2, 2, 0, 3])
    np.testing.assert_array_equal(c, (np.array([-2, 2, 0, 3]) + 250).astype(np.int8))


def test_if_then_else_evaluates_only_the_chosen_side() -> None:
    text = '''
@T.prim_func
def guarded(A: T.Buffer((16,), "float32"), B: T.Buffer((32,), "float32")):
    for i in range(32):
        B[i] = {}(i < 16, A[i], T.float32(-1))
'''
    a, b = np.arange(16, dtype="float32"), np.zeros(32, "float32")
    run(prim(text.format("T.if_then_else")), a, b)
    np.testing.assert_array_equal(b, np.concatenate([a, -np.ones(16, "float32")]))
    with pytest.raises(IndexError):  # Select evaluates both sides: A[16] is out of bounds
        run(prim(text.format("T.Select")), a, b)


def test_negative_index_is_out_of_bounds() -> None:
    func = prim('''
@T.prim_func
def neg(A: T.Buffer((8,), "float32"), I: T.Buffer((1,), "int32")):
    A[I[0]] = T.float32(1)
''')
    with pytest.raises(IndexError, match="A"):
        run(func, np.zeros(8, "float32"), np.array([-1], "int32"))


def test_bfloat16_round_trip_and_arithmetic() -> None:
    func = prim('''
@T.prim_func
def bf(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "bfloat16"), C: T.Buffer((4,), "float32")):
    for i in range(4):
        B[i] = T.Cast("bfloat16", A[i])
        C[i] = T.Cast("float32", B[i] + B[i])
''')
    a = np.array([1.0, 1.00390625, 1.01171875, 3.14159], "float32")
    b, c = np.zeros(4, "uint16"), np.zeros(4, "float32")
    run(func, a, b, c)
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1.0); 1 + 3*2^-8 goes up
    rounded = np.array([1.0, 1.0, 1.015625, 3.140625], "float32")
    np.testing.assert_array_equal((b.astype(np.uint32) << 16).view(np.float32), rounded)
    np.testing.assert_array_equal(c, rounded * 2)


def test_assert_raises_runtime_error_with_message() -> None:
    func = prim(PROGRAMS["assert_stmt"])
    a = np.zeros(16, "int32")
    run(func, a, 4)
    np.testing.assert_array_equal(a[:5], [0, 1, 2, 3, 0])
    with pytest.raises(RuntimeError, match="n must be at most 16") as info:
        run(func, a, 17)
    assert isinstance(info.value, InterpreterAssertError) and info.value.index == 1


def test_lowered_form_decl_buffer_view_of_parameter() -> None:
    func = prim('''
@T.prim_func
def flat(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4, 8), "float32")):
    A_flat = T.decl_buffer((32,), "float32", data=A.data)
    B_flat = T.decl_buffer((32,), "float32", data=B.data)
    tmp = T.allocate([8], "float32", "global")
    Tmp = T.decl_buffer((8,), "float32", data=tmp)
    for i in range(4):
        for j in T.vectorized(8):
            Tmp[j] = A_flat[i * 8 + j] * T.float32(2)
        B_flat[i * 8:i * 8 + 8] = Tmp[0:8] + T.Broadcast(T.float32(1), 8)
''')
    a = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    b = np.zeros((4, 8), "float32")
    run(func, a, b)
    np.testing.assert_array_equal(b, a * 2 + 1)


def test_strided_argument() -> None:
    func = prim(PROGRAMS["strided_buffer"])
    big = np.arange(16 * 20, dtype="float32").reshape(16, 20)
    b = np.zeros((16, 16), "float32")
    run(func, big[:, 2:18], b)
    np.testing.assert_array_equal(b, big[:, 2:18])


def test_llvm_intrinsics_and_externs() -> None:
    func = prim('''
@T.prim_func
def intrin(A: T.Buffer((4,), "float32"), B: T.Buffer((4, 4), "float32")):
    for i in range(4):
        B[0, i] = T.call_llvm_pure_intrin("float32", "llvm.fma.f32", A[i], A[i], T.float32(1))
        B[1, i] = T.call_llvm_pure_intrin("float32", "llvm.maxnum.f32", A[i], T.float32(0))
        B[2, i] = T.call_pure_extern("float32", "tanhf", A[i])
        B[3, i] = T.call_llvm_pure_intrin("float32", "llvm.round.f32", A[i])
''')
    a = np.array([-1.5, 0.5, 2.5, 0.25], "float32")
    b = np.zeros((4, 4), "float32")
    run(func, a, b)
    np.testing.assert_allclose(b[0], a * a + 1)
    np.testing.assert_array_equal(b[1], np.maximum(a, 0))
    np.testing.assert_allclose(b[2], np.tanh(a), rtol=1e-6)
    np.testing.assert_array_equal(b[3], [-2, 1, 3, 0])


def test_unknown_llvm_intrinsic_is_named() -> None:
    func = prim('''
@T.prim_func
def bad(A: T.Buffer((4,), "float32")):
    A[0] = T.call_llvm_pure_intrin("float32", "llvm.x86.magic", A[0])
''')
    with pytest.raises(NotImplementedError, match="llvm.x86.magic"):
        run(func, np.zeros(4, "float32"))


def test_reinterpret_and_math_intrinsics() -> None:
    a = np.array([1.0, -2.0, 0.5, 3.0] * 4, "float32")
    b = np.zeros(16, "int32")
    run(prim(PROGRAMS["reinterpret"]), a, b)
    np.testing.assert_array_equal(b, a.view(np.int32))
    x = np.random.default_rng(0).standard_normal(64).astype("float32")
    y = np.zeros(64, "float32")
    run(prim(PROGRAMS["math_intrinsics"]), x, y)
    import math
    erf = np.array([math.erf(v) for v in x])
    expected = (np.exp(x) + np.log(np.abs(x) + 1) + np.sqrt(np.abs(x)) + np.tanh(x)
                + 1 / (1 + np.exp(-x)) + erf + x ** 2 + np.floor(x) + np.ceil(x) + np.rint(x))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_alloc_buffer_is_fresh_per_block_execution() -> None:
    func = prim('''
@T.prim_func
def fresh(B: T.Buffer((4,), "float32")):
    for i in range(4):
        with T.block("b"):
            vi = T.axis.spatial(4, i)
            acc = T.alloc_buffer((1,), "float32")
            if vi == 0:
                acc[0] = T.float32(5)
            B[vi] = acc[0]
''')
    b = np.zeros(4, "float32")
    run(func, b)
    # fresh storage each time, and a float element never written reads as NaN (compiled code
    # would read garbage), so a schedule that reads before it writes shows in the numbers
    np.testing.assert_array_equal(b, [5, np.nan, np.nan, np.nan])


# ---------------------------------------------------------------- arguments


def test_argument_errors_name_the_parameter() -> None:
    func = prim(PROGRAMS["symbolic_2d"])
    a, b = np.zeros((3, 5), "float32"), np.zeros((5, 3), "float32")
    with pytest.raises(TypeError, match="2 arguments"):
        run(func, a)
    with pytest.raises(TypeError, match="'A'.*numpy array"):
        run(func, [[1.0]], b)
    with pytest.raises(ValueError, match="'A'.*2 dimensions"):
        run(func, np.zeros(3, "float32"), b)
    with pytest.raises(TypeError, match="'B'.*float32"):
        run(func, a, b.astype("float64"))
    with pytest.raises(ValueError, match="'B'.*already 5"):
        run(func, a, np.zeros((4, 3), "float32"))
    fixed = prim(PROGRAMS["vector_add_range"])
    good = np.zeros(1024, "float32")
    with pytest.raises(ValueError, match="'C'.*1024"):
        run(fixed, good, good, np.zeros(1000, "float32"))
    with pytest.raises(ValueError, match="'A'.*C-contiguous"):
        run(fixed, np.zeros(2048, "float32")[::2], good, good)
    with pytest.raises(TypeError, match="'n'.*integer"):
        run(prim(PROGRAMS["scalar_param"]), np.zeros(256, "float32"), good[:256], 1.0, 2.5)


def test_interpreted_module_interface() -> None:
    func = prim(PROGRAMS["vector_add_range"])
    module = InterpretedModule(func)
    assert "add" in module and list(module) == ["add"]
    a = np.ones(1024, "float32")
    c = np.zeros(1024, "float32")
    module["add"](a, a, c)
    np.testing.assert_array_equal(c, 2 * a)
    assert compile_prim_func(func) is compile_prim_func(func)  # translated once


def test_traceback_through_generated_code_shows_its_lines() -> None:
    # pytest failed to render (INTERNALERROR) frames of generated code that had no source lines
    import traceback

    func = prim('''
@T.prim_func
def gather(A: T.Buffer((8,), "float32"), idx: T.Buffer((8,), "int32"), B: T.Buffer((8,), "float32")):
    for i in range(8):
        B[i] = A[idx[i]]
''')
    with pytest.raises(IndexError) as info:
        run(func, np.ones(8, "float32"), np.full(8, 100, "int32"), np.zeros(8, "float32"))
    text = "".join(traceback.format_exception(info.value))
    assert "File \"<tvmscript-interpreter gather #" in text and "v_idx" in text
