"""Measurement: candidates that crash, hang, raise or compute wrong numbers are each recorded
with the reason, and the batch goes on; good candidates get ``repeats`` positive latencies."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from tests.test_tuner_database import MATMUL_TEXT
from tuner.measure import (
    Candidate,
    MeasureError,
    Measurer,
    MeasureResult,
    _compare,
    _WrongResult,
    check_target,
    make_inputs,
)
from tvmscript import Schedule, Trace

REPEATS = 3


def prim(body: str, params: str = 'A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")'
         ) -> tvmscript.PrimFunc:
    return tvmscript.from_source(f"@T.prim_func\ndef f({params}):\n{body}")


DOUBLE = prim("    for i in range(64):\n        B[i] = A[i] * T.float32(2)\n")
TRIPLE = prim("    for i in range(64):\n        B[i] = A[i] * T.float32(3)\n")
HALF_WRITTEN = prim("    for i in range(32):\n        B[i] = A[i] * T.float32(2)\n")
ABORTS = prim('    T.evaluate(T.call_extern("int32", "abort"))\n'
              "    for i in range(64):\n        B[i] = A[i] * T.float32(2)\n")
# 2^30 elements apart: the well-formedness check cannot prove it out of bounds, the MMU can
SEGFAULTS = prim("    for i in range(64):\n        B[i * 1073741824 + 1073741823] = A[i]\n")
HANGS = prim("    while A[0] < T.float32(100):\n        B[0] = B[0] + T.float32(0)\n")
ASSERTS = prim('    assert A[0] > T.float32(100), "A[0] must exceed 100"\n'
               "    for i in range(64):\n        B[i] = A[i] * T.float32(2)\n")
# provably out of bounds: refused by the compiler, so the build fails
BAD_BUILD = prim("    for i in range(64):\n        B[i - 1073741824] = A[i]\n")

MATMUL = tvmscript.from_source(MATMUL_TEXT)


def cand(func: tvmscript.PrimFunc) -> Candidate:
    return Candidate(func, Trace())


@pytest.fixture(scope="module")
def measurer():
    with Measurer("llvm", workers=2, timeout_s=2.0, repeats=REPEATS, check_against=DOUBLE,
                  slow_factor=None) as m:
        yield m


def assert_ok(result: MeasureResult) -> None:
    assert result.error is None, result.error
    assert len(result.latencies_s) == REPEATS
    assert all(t > 0 for t in result.latencies_s)
    assert result.latency_s == min(result.latencies_s)
    assert result.median_s == statistics.median(result.latencies_s)
    assert result.build_s > 0 and result.run_s > 0


def test_every_failure_is_recorded_and_the_batch_finishes(measurer: Measurer) -> None:
    batch = [DOUBLE, TRIPLE, ABORTS, SEGFAULTS, HANGS, ASSERTS, BAD_BUILD, HALF_WRITTEN, DOUBLE]
    results = measurer.measure([cand(f) for f in batch])
    assert len(results) == len(batch)
    ok, wrong, aborts, segv, hangs, asserts, bad_build, half, ok_again = results
    assert_ok(ok)
    assert_ok(ok_again)  # the runner was restarted after the crashes and the hang
    assert wrong.error.startswith("wrong result: max abs error")
    assert "output 'B' (64 of 64 elements differ" in wrong.error
    assert "(32 of 64 elements differ" in half.error
    assert aborts.error == "crashed: the runner died of SIGABRT (signal 6)"
    assert segv.error == "crashed: the runner died of SIGSEGV (signal 11)"
    assert hangs.error == "timed out: ran longer than 2 s (runner killed)"
    assert asserts.error == ("runtime error: RuntimeError: f: assertion failed: "
                             "A[0] must exceed 100")
    assert bad_build.error.startswith("build failed: WellFormedError")
    assert "out of bounds" in bad_build.error and bad_build.run_s == 0.0
    for failed in results[1:-1]:
        assert failed.latencies_s is None and failed.latency_s is None


def test_a_scheduled_candidate_passes_the_output_check() -> None:
    sch = Schedule(MATMUL)
    i, j, k = sch.get_loops(sch.get_block("C"))
    io, ii = sch.split(i, [None, 8])
    sch.reorder(io, j, k, ii)
    sch.parallel(io)
    with Measurer("llvm", workers=1, timeout_s=10.0, repeats=REPEATS,
                  check_against=MATMUL, slow_factor=None) as m:
        first, second = m.measure([Candidate(sch.func, sch.trace), cand(MATMUL)])
    assert_ok(first)
    assert_ok(second)


# the same 64 outputs as DOUBLE, each summed 4096 times over: thousands of times slower
SLOW_DOUBLE = prim("    for i in range(64):\n        B[i] = T.float32(0)\n"
                   "        for k in range(8192):\n"
                   "            B[i] = B[i] + A[i] * T.float32(2) / T.float32(8192)\n")


def test_a_candidate_far_behind_the_best_is_timed_once() -> None:
    with Measurer("llvm", workers=1, timeout_s=10.0, repeats=REPEATS, check_against=DOUBLE,
                  slow_factor=3.0) as m:
        fast, slow, fast_again = m.measure([cand(DOUBLE), cand(SLOW_DOUBLE), cand(DOUBLE)])
    assert_ok(fast)
    assert_ok(fast_again)
    assert slow.error is None and len(slow.latencies_s) == 1
    assert slow.latency_s > 3 * fast.latency_s


class Poison:
    """Stands in for a function whose build kills the builder process: the parser evaluates
    shape expressions, and this one sends the builder a SIGSEGV."""

    def script(self) -> str:
        return ('@T.prim_func\ndef f(A: T.Buffer((__import__("os").kill(__import__("os")'
                '.getpid(), 11) or 4,), "float32")):\n    T.evaluate(0)\n')


def test_a_build_crash_is_recorded_and_builds_go_on() -> None:
    with Measurer("llvm", workers=2, timeout_s=10.0, repeats=1) as m:
        crashed, ok, crashed_again, ok_again = m.measure(
            [Candidate(Poison(), Trace()), cand(DOUBLE), Candidate(Poison(), Trace()),
             cand(DOUBLE)])
        later = m.measure([cand(DOUBLE)])  # the dead builders were replaced
    expected = "build crashed: the builder died of SIGSEGV (signal 11)"
    assert crashed.error == expected and crashed_again.error == expected
    assert ok.error is None and ok_again.error is None and later[0].error is None


def test_a_build_past_the_timeout_is_recorded() -> None:
    with Measurer("llvm", workers=1, timeout_s=0.01, repeats=1) as m:
        (late,) = m.measure([cand(MATMUL)])
    assert late.error == "build timed out: longer than 0.01 s (builder killed)"


def test_unrunnable_targets_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match=r"cannot measure on target 'llvm -mtriple=aarch64"):
        Measurer("llvm -mtriple=aarch64-linux-gnu")
    with pytest.raises(ValueError, match="the target must be 'llvm'"):
        Measurer("interpreter")
    assert check_target("llvm -mcpu=native").kind == "llvm"


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        Measurer("llvm", repeats=0)
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        Measurer("llvm", timeout_s=0)


def test_a_reference_that_crashes_stops_the_measurement() -> None:
    message = (r"reference function \(check_against\) does not run: crashed: the runner died "
               "of SIGABRT")
    with (Measurer("llvm", workers=1, timeout_s=5.0, check_against=ABORTS) as m,
          pytest.raises(MeasureError, match=message)):
        m.measure([cand(DOUBLE)])


def test_inputs_are_the_same_for_every_candidate_of_a_task() -> None:
    from backends.runtime.spec import KernelSpec

    params = KernelSpec.of("mm", "mm", MATMUL).params
    a, b = make_inputs(params, seed=3), make_inputs(params, seed=3)
    assert [x.shape for x in a] == [(32, 32)] * 3
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], make_inputs(params, seed=4)[0])


def test_symbolic_sizes_are_refused_with_the_parameter_name() -> None:
    from backends.runtime.spec import KernelSpec
    from tests.corpus.tir_programs import PROGRAMS

    params = KernelSpec.of("f", "f", tvmscript.from_source(PROGRAMS["symbolic_shape"])).params
    with pytest.raises(ValueError, match="has symbolic shape"):
        make_inputs(params, 0)


@settings(max_examples=50, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(0, 10), st.integers(0, 15))
def test_the_check_flags_exactly_the_differences_past_tolerance(base: float, delta: float,
                                                                at: int) -> None:
    from backends.runtime.spec import ParamSpec

    want = np.full(16, base, np.float32)
    got = want.copy()
    got[at] += np.float32(delta)
    params = [ParamSpec("B", "buffer", "float32", (16,), None, True)]
    error = abs(float(got[at]) - float(want[at]))
    if error <= 1e-3 + 1e-3 * abs(float(want[at])):
        _compare(params, [got], {0: want})
    else:
        with pytest.raises(_WrongResult, match=rf"max abs error {error:.3g} in output 'B' "
                                               r"\(1 of 16 elements differ"):
            _compare(params, [got], {0: want})


def test_a_cache_flushing_measurer_times_each_repeat_after_a_flush() -> None:
    from tuner.measure import _RunnerState

    state = _RunnerState()
    state._flush(1 << 20)
    state._flush(1 << 20)
    assert state._flusher.nbytes == 1 << 20 and int(state._flusher.min()) == 2
    with Measurer("llvm", workers=1, timeout_s=10.0, repeats=REPEATS, check_against=DOUBLE,
                  slow_factor=None, flush_cache_mb=4) as m:
        (result,) = m.measure([cand(DOUBLE)])
    assert_ok(result)
    with pytest.raises(ValueError, match="flush_cache_mb must be 0"):
        Measurer("llvm", flush_cache_mb=-1)
