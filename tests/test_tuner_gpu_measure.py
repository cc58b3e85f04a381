"""Tuning for a cuda target: refused up front without a GPU, and the GPU measurer's steps (build
with NVRTC, run, check against the CPU, time) exercised end to end on the emulator."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from tests.cuda_testing import NO_GPU, needs_gpu
from tuner.gpu_measure import GPUMeasurer
from tuner.measure import Candidate
from tuner.space import generate_design_spaces, sample_candidate

MATMUL = '''
@T.prim_func
def mm(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16, 16), "float32"),
       C: T.Buffer((16, 16), "float32")):
    T.func_attr({"tir.noalias": True})
    for i, j, k in T.grid(16, 16, 16):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''


def matmul():
    return tvmscript.from_source(MATMUL)


def sampled_candidates(count: int, seed: int = 0) -> list[Candidate]:
    func = matmul()
    sketches = generate_design_spaces(func, "cuda")
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        drawn = sample_candidate(func, sketches[int(rng.integers(len(sketches)))], rng,
                                 target="cuda")
        if drawn is not None:
            trace, cand = drawn
            out.append(Candidate(cand, trace))
    return out


def test_the_emulated_measurer_times_correct_candidates():
    measurer = GPUMeasurer("cuda-emulator", repeats=1, check_against=matmul())
    results = measurer.measure(sampled_candidates(2))
    for result in results:
        assert result.error is None, result.error
        assert result.latency_s > 0


def test_a_candidate_computing_something_else_is_a_wrong_result():
    wrong = tvmscript.from_source(MATMUL.replace("A[vi, vk] * B[vk, vj]", "A[vi, vk] + B[vk, vj]"))
    measurer = GPUMeasurer("cuda-emulator", repeats=1, check_against=matmul())
    sch = tvmscript.Schedule(wrong)
    i, j, _ = sch.get_loops(sch.get_block("C"))
    sch.bind(i, "blockIdx.x")
    sch.bind(j, "threadIdx.x")
    [result] = measurer.measure([Candidate(sch.func, sch.trace)])
    assert result.latency_s is None and result.error.startswith("wrong result")


def test_a_candidate_over_the_device_limits_fails_to_build():
    measurer = GPUMeasurer("cuda-emulator -max_threads_per_block=128", repeats=1,
                           check_against=matmul())
    sch = tvmscript.Schedule(matmul())
    i, j, _ = sch.get_loops(sch.get_block("C"))
    sch.bind(sch.fuse(i, j), "threadIdx.x")  # 256 threads in one block
    [result] = measurer.measure([Candidate(sch.func, sch.trace)])
    assert result.error.startswith("build failed") and "the target allows 128" in result.error


@pytest.mark.skipif(NO_GPU is None, reason="this machine has a GPU: tuning there is tested below")
def test_tuning_for_cuda_without_a_gpu_is_refused_up_front():
    with pytest.raises(ValueError, match="measuring runs the kernels on an NVIDIA GPU, and this "
                                         "machine has none .*target='cuda-emulator'"):
        tvmscript.tune(matmul(), target="cuda", trials=2)


def test_tuning_on_the_emulator_target_is_refused():
    with pytest.raises(ValueError, match="the emulator checks what GPU kernels compute, not how "
                                         "fast a GPU runs them"):
        tvmscript.tune(matmul(), target="cuda-emulator", trials=2)


def test_tune_runs_its_whole_loop_with_an_explicit_emulated_measurer():
    result = tvmscript.tune(matmul(), target="cuda-emulator", trials=2, trials_per_round=2,
                            runner=GPUMeasurer("cuda-emulator", repeats=1,
                                               check_against=matmul()), progress=False)
    assert result.errors == 0 and len(result.history) == 2
    rt = tvmscript.build(result.best, target="cuda-emulator")
    a, b = np.random.rand(16, 16).astype("float32"), np.random.rand(16, 16).astype("float32")
    c = np.zeros((16, 16), "float32")
    rt["mm"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)


@needs_gpu
def test_tuning_on_the_gpu_finds_a_correct_kernel():
    result = tvmscript.tune(matmul(), target="cuda", trials=8, progress=False)
    rt = tvmscript.build(result.best, target="cuda")
    a, b = np.random.rand(16, 16).astype("float32"), np.random.rand(16, 16).astype("float32")
    c = np.zeros((16, 16), "float32")
    rt["mm"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)
