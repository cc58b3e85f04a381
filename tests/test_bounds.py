"""Out-of-bounds accesses: ``verify`` reports the provable ones (and never a correct program),
and the bounds-checked build (``tir.instrument_bound_checkers``) turns the others into a
``RuntimeError`` on the LLVM target and the interpreter instead of a crash (issue 9)."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run
from passes import PassContext
from passes.instrument_bound_checkers import instrument_bound_checkers
from passes.pipeline import lower
from tests.conformance import load_cases
from tests.corpus.module_programs import PROGRAMS as MODULES
from tests.corpus.tir_programs import PROGRAMS
from tests.references import random_args
from tvmscript.ir import AssertStmt, check_well_formed, structural_equal
from tvmscript.ir.functor import post_order_visit

CHECKED = {"tir.instrument_bound_checkers": True}
CASES = load_cases()
GPU_ONLY = {"thread_binding", "shared_memory_sync", "launch_thread_lowered"}
UNKNOWN_EXTERN = {"address_of"}  # calls `consume`, which no library defines


def bound_problems(obj) -> list:
    return [p for p in check_well_formed(obj) if "out of bounds" in p.message]


def line_of(text: str, snippet: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if snippet in line)


# ---------------------------------------------------------------- verify: provable accesses

CONSTANT_OFFSET = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            B[vi] = A[vi + 1000000]
'''


def test_verify_reports_a_constant_offset_past_the_buffer():
    """The issue's kernel: verify passed it and the compiled kernel segfaulted."""
    func = tvmscript.from_source(CONSTANT_OFFSET)
    [problem] = check_well_formed(func)
    line = line_of(func.script(), "B[vi] = A[vi + 1000000]")
    assert problem.line == line
    assert problem.message == (
        f"line {line}: read of `A[vi + 1000000]` is out of bounds (written at <string>:7:21): "
        "index `vi + 1000000` of dimension 0 is always in [1000000, 1000015], outside [0, 16) "
        "of buffer `A`")
    with pytest.raises(tvmscript.ir.WellFormedError, match="out of bounds"):
        tvmscript.ir.verify(func)


def test_build_refuses_a_provably_out_of_bounds_kernel_instead_of_compiling_it():
    """The default build would compile the issue's kernel into one that segfaults."""
    func = tvmscript.from_source(CONSTANT_OFFSET)
    with pytest.raises(tvmscript.ir.WellFormedError) as info:
        tvmscript.build(func, target="llvm")
    assert str(info.value) == (
        "the program is not well-formed:\n  read of `A[vi + 1000000]` is out of bounds (written "
        "at <string>:7:21): index `vi + 1000000` of dimension 0 is always in "
        "[1000000, 1000015], outside [0, 16) of buffer `A`")


def test_verify_reports_a_negative_store_index_and_names_the_dimension():
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((4, 8), "float32")):
    for i, j in T.grid(4, 8):
        A[i, j - 9] = T.float32(0)
''')
    [problem] = bound_problems(func)
    assert problem.line == line_of(func.script(), "A[i, j - 9] =")
    assert problem.message.endswith(
        "store to `A[i, j - 9]` is out of bounds (written at <string>:5:9): index `j - 9` of "
        "dimension 1 is always in [-9, -2], outside [0, 8) of buffer `A`")


def test_verify_uses_the_guard_on_the_path_to_the_access():
    """Under ``if i >= 8`` every executed ``A[i + 8]`` leaves the 16 elements."""
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        if i >= 8:
            B[i] = A[i + 8]
''')
    [problem] = bound_problems(func)
    assert "index `i + 8` of dimension 0 is always in [16, 23], outside [0, 16)" in problem.message


def test_verify_reports_an_unguarded_off_by_one():
    """Nothing guards ``A[vi + 1]`` and the loop surely runs i = 15: it reads A[16]."""
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            B[vi] = A[vi + 1]
''')
    [problem] = check_well_formed(func)
    line = line_of(func.script(), "B[vi] = A[vi + 1]")
    assert problem.message == (
        f"line {line}: read of `A[vi + 1]` is out of bounds (written at <string>:7:21): index "
        "`vi + 1` of dimension 0 reaches 16 on an iteration that always runs (it spans "
        "[1, 16]), outside [0, 16) of buffer `A`")


def test_verify_reports_a_split_tail_without_its_where():
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((18,), "float32"), B: T.Buffer((18,), "float32")):
    for io, ii in T.grid(5, 4):
        with T.block("B"):
            vi = T.axis.spatial(18, io * 4 + ii)
            B[vi] = A[vi]
''')
    assert [p.message.split(": ", 1)[1] for p in check_well_formed(func)] == [
        "read of `A[vi]` is out of bounds (written at <string>:7:21): index `vi` of dimension "
        "0 reaches 19 on an iteration that always runs (it spans [0, 19]), outside [0, 18) of "
        "buffer `A`",
        "store to `B[vi]` is out of bounds (written at <string>:7:13): index `vi` of dimension "
        "0 reaches 19 on an iteration that always runs (it spans [0, 19]), outside [0, 18) of "
        "buffer `B`"]


CORRECT = {
    "guarded_off_by_one": '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        if i < 15:
            B[i] = A[i + 1]
''',
    "over_approximated": '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = A[T.min(i * 2, 15)]
''',
    "symbolic_loop": '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in range(n):
        B[0] = A[i + 1]
''',
    "if_guard": '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((20,), "float32")):
    for i in range(20):
        if i < 16:
            B[i] = A[i]
''',
    "padding": '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((18,), "float32")):
    for i in range(18):
        with T.block("pad"):
            vi = T.axis.spatial(18, i)
            B[vi] = T.if_then_else(1 <= vi and vi < 17, A[vi - 1], T.float32(0))
''',
    "where_tail": '''
@T.prim_func
def f(A: T.Buffer((18,), "float32"), B: T.Buffer((18,), "float32")):
    for io, ii in T.grid(5, 4):
        with T.block("B"):
            vi = T.axis.spatial(18, io * 4 + ii)
            T.where(io * 4 + ii < 18)
            B[vi] = A[vi]
''',
    "symbolic_shape": '''
@T.prim_func
def f(a: T.handle, b: T.handle):
    n = T.int32()
    A = T.match_buffer(a, (n,), "float32")
    B = T.match_buffer(b, (n,), "float32")
    for i in range(n):
        B[i] = A[i]
''',
    "strided": '''
@T.prim_func
def f(A: T.Buffer((4, 4), "float32", strides=(8, 1)), B: T.Buffer((4, 4), "float32")):
    for i, j in T.grid(4, 4):
        B[i, j] = A[i, j]
''',
    "unreachable_branch": '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        if i >= 16:
            B[i] = A[i + 100]
''',
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_verify_accepts_guarded_padded_symbolic_and_strided_accesses(name):
    func = tvmscript.from_source(CORRECT[name])
    assert check_well_formed(func) == []
    assert bound_problems(lower(func)) == []  # flattened buffers after lowering


def test_an_ill_typed_index_stops_neither_verify_nor_the_pass():
    """A float Ramp stride (found by the program fuzzer) made the interval analysis raise
    TypeError out of verify; it now teaches the analysis nothing."""
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    for i in range(32):
        B[i * 8:i * 8 + 8] = A[T.Ramp(i * 8, 0.0, 8)]
''')
    assert bound_problems(func) == []
    assert _asserts(instrument_bound_checkers(func)) == 0


def _all_programs() -> dict[str, str]:
    sources = {f"corpus/{n}": t for n, t in {**PROGRAMS, **MODULES}.items()}
    sources.update({f"conformance/{n}": c.SOURCE for n, c in CASES.items()})
    return sources


@pytest.mark.parametrize("name", sorted(_all_programs()))
def test_verify_flags_no_access_of_the_corpus_and_conformance(name):
    obj = tvmscript.from_source(_all_programs()[name])
    assert bound_problems(obj) == []
    kernels = {k: f for k, f in getattr(obj, "functions", {"main": obj}).items()
               if isinstance(f, tvmscript.ir.PrimFunc)}
    assert bound_problems(lower(tvmscript.ir.IRModule(kernels))) == []


# ---------------------------------------------------------------- the bounds-checked build

SHIFT = '''
@T.prim_func
def shift(A: T.Buffer((32,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            B[vi] = A[vi + n]
'''
SHIFT_MESSAGE = ("shift: assertion failed: read of `A[vi + n]` is out of bounds (written at "
                 "<string>:7:21): index `vi + n` of dimension 0 must lie in [0, 32)")


def _build(source: str, target: str, config: dict | None = None):
    func = tvmscript.from_source(source)
    with PassContext(config=config or {}):
        return tvmscript.build(func, target=target)[func.name]


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_default_build_runs_in_bounds_calls(target):
    a, b = np.arange(32, dtype="float32"), np.zeros(16, "float32")
    _build(SHIFT, target)(a, b, 5)
    np.testing.assert_array_equal(b, a[5:21])


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
@pytest.mark.parametrize("n", [17, -1])
def test_checked_build_raises_instead_of_reading_past_the_buffer(target, n):
    kernel = _build(SHIFT, target, CHECKED)
    a, b = np.arange(32, dtype="float32"), np.zeros(16, "float32")
    kernel(a, b, 16)
    np.testing.assert_array_equal(b, a[16:])
    with pytest.raises(RuntimeError) as info:
        kernel(a, b, n)
    assert str(info.value) == SHIFT_MESSAGE


GUARDED = '''
@T.prim_func
def guarded(A: T.Buffer((32,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in range(16):
        B[i] = T.if_then_else(i + n < 32, A[i + n], T.float32(-1))
'''


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_checked_build_checks_a_guarded_load_only_where_its_guard_holds(target):
    kernel = _build(GUARDED, target, CHECKED)
    a, b = np.arange(32, dtype="float32"), np.zeros(16, "float32")
    kernel(a, b, 20)  # i + n >= 32 takes the other side: no read, no alarm
    np.testing.assert_array_equal(b, np.r_[a[20:], np.full(4, -1, "float32")])
    with pytest.raises(RuntimeError, match=r"guarded: assertion failed: read of `A\[i \+ n\]`"):
        kernel(a, b, -3)


GATHER = '''
@T.prim_func
def gather(A: T.Buffer((4, 8), "float32"), I: T.Buffer((16,), "int32"),
           B: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = A[i // 4, I[i]]
'''


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_checked_build_catches_an_index_loaded_from_data(target):
    """A gather's indices come from an argument: only a run-time check can see a bad one."""
    kernel = _build(GATHER, target, CHECKED)
    a, b = np.arange(32, dtype="float32").reshape(4, 8), np.zeros(16, "float32")
    indices = (np.arange(16) * 3 % 8).astype("int32")
    kernel(a, indices, b)
    np.testing.assert_array_equal(b, a[np.arange(16) // 4, indices])
    indices[5] = 8
    with pytest.raises(RuntimeError) as info:
        kernel(a, indices, b)
    assert str(info.value) == (
        "gather: assertion failed: read of `A[i // 4, I[i]]` is out of bounds (written at "
        "<string>:6:16): index `I[i]` of dimension 1 must lie in [0, 8)")


RAMP = '''
@T.prim_func
def vcopy(A: T.Buffer((32,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in range(4):
        B[i * 4:i * 4 + 4] = A[i * 4 + n:i * 4 + n + 4]
'''


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_checked_build_checks_both_ends_of_a_vector_access(target):
    kernel = _build(RAMP, target, CHECKED)
    a, b = np.arange(32, dtype="float32"), np.zeros(16, "float32")
    kernel(a, b, 16)
    np.testing.assert_array_equal(b, a[16:])
    for n in (17, -1):  # the last lane, then the first, leaves A
        with pytest.raises(RuntimeError, match=r"index `i \* 4 \+ n:i \* 4 \+ n \+ 4` of "
                                               r"dimension 0 must lie in \[0, 32\)"):
            kernel(a, b, n)


PARALLEL_STORE = '''
@T.prim_func
def scatter(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32"), n: T.int32):
    for i in T.parallel(64):
        B[i * n] = A[i]
'''


@pytest.mark.parametrize("target", ["llvm", "interpreter"])
def test_checked_build_catches_a_store_in_a_parallel_loop(target):
    kernel = _build(PARALLEL_STORE, target, CHECKED)
    a, b = np.arange(64, dtype="float32"), np.zeros(64, "float32")
    kernel(a, b, 1)
    np.testing.assert_array_equal(b, a)
    with pytest.raises(RuntimeError, match=r"scatter: assertion failed: store to `B\[i \* n\]` "
                                           r"is out of bounds .*must lie in \[0, 64\)"):
        kernel(a, b, 2)


VECTOR = '''
@T.prim_func
def vshift(A: T.Buffer((32,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in T.vectorized(16):
        B[i] = A[i + n]
'''


def test_checked_build_of_a_vectorized_loop_still_computes_and_checks():
    kernel = _build(VECTOR, "llvm", CHECKED)
    a, b = np.arange(32, dtype="float32"), np.zeros(16, "float32")
    kernel(a, b, 3)
    np.testing.assert_array_equal(b, a[3:19])
    with pytest.raises(RuntimeError, match="must lie in"):
        kernel(a, b, 20)


def test_the_pass_puts_an_assert_before_the_access():
    before = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((32,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in range(16):
        B[i] = A[i + n]
''')
    message = ("read of `A[i + n]` is out of bounds (written at <string>:5:16): index `i + n` "
               "of dimension 0 must lie in [0, 32)")
    expected = tvmscript.from_source(f'''
@T.prim_func
def f(A: T.Buffer((32,), "float32"), B: T.Buffer((16,), "float32"), n: T.int32):
    for i in range(16):
        assert 0 <= i + n and i + n < 32, "{message}"
        B[i] = A[i + n]
''')
    assert structural_equal(instrument_bound_checkers(before), expected)


def _asserts(obj) -> int:
    found: list = []
    post_order_visit(obj, lambda n: found.append(n) if isinstance(n, AssertStmt) else None)
    return len(found)


@pytest.mark.parametrize("source", [PROGRAMS["matmul"], PROGRAMS["conv2d_pad"],
                                    CORRECT["symbolic_shape"], CORRECT["padding"]])
def test_accesses_proved_in_bounds_get_no_check(source):
    """A matmul, a padded convolution and ``for i in range(n): B[i] = A[i]`` on
    buffers of n elements stay as fast as without checks."""
    with PassContext(config=CHECKED):
        assert _asserts(lower(tvmscript.from_source(source))) == 0


@pytest.mark.parametrize("name", sorted(set(PROGRAMS) - GPU_ONLY - UNKNOWN_EXTERN))
def test_checked_build_of_the_corpus_matches_the_interpreter(name):
    """No false alarm: every corpus kernel built with checks computes what it computes without."""
    func = tvmscript.from_source(PROGRAMS[name])
    args = random_args(func, np.random.default_rng(1))
    if name == "while_loop":
        args[0][0] = 27
    oracle = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with PassContext(config=CHECKED):
        tvmscript.build(func, target="llvm")[func.name](*args)
    run(func, *oracle)
    for got, want in zip(args, oracle):
        if isinstance(got, np.ndarray):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_the_config_value_must_be_a_bool():
    with pytest.raises(TypeError) as info:
        PassContext(config={"tir.instrument_bound_checkers": "yes"})
    assert str(info.value) == ("PassContext config 'tir.instrument_bound_checkers' must be a "
                               "bool, not str 'yes'")
