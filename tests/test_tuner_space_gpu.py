"""GPU design spaces (tuner/space, issue 14 item 6): MetaSchedule's CUDA rules. Every sampled
candidate has every block inside a blockIdx and a threadIdx loop, fits the device's limits and
computes what numpy computes (run unlowered by the interpreter, where thread loops are plain
loops); replayed with mutated decisions it stays so; where the GPU lowering is present, sampled
matmul candidates also run in the CUDA emulator and compile with NVRTC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tvmscript
from tuner.search import MutateTileSize, mutate
from tuner.space import generate_design_spaces, replay_candidate, sample_candidate
from tuner.space.auto_bind import AutoBind
from tuner.space.gpu_cross_thread_reduction import GPUCrossThreadReduction
from tuner.space.gpu_multi_level_tiling import (
    COOPERATIVE_FETCH,
    THREAD_EXTENT_LOW,
    GPUMultiLevelTiling,
)
from tuner.space.gpu_postproc import (
    GPUCandidateError,
    check_bound,
    check_gpu_limits,
    check_thread_extent_low,
    gpu_limits,
    kernels,
)
from tuner.space.gpu_rules import default_gpu_rules
from tvmscript.ir import stmt as S
from tvmscript.schedule import Schedule, Trace
from tvmscript.schedule.state import walk

MATMUL = '''
@T.prim_func
def matmul(A: T.Buffer((N, K), "float32"), B: T.Buffer((K, M), "float32"), C: T.Buffer((N, M), "float32")):
    for i, j, k in T.grid(N, M, K):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''

KERNELS: dict[str, str] = {
    "matmul": MATMUL.replace("N", "32").replace("M", "64").replace("K", "16"),
    "conv2d": '''
@T.prim_func
def conv2d(X: T.Buffer((1, 4, 6, 6), "float32"), W: T.Buffer((8, 4, 3, 3), "float32"), Y: T.Buffer((1, 8, 6, 6), "float32")):
    Xp = T.alloc_buffer((1, 4, 8, 8), "float32")
    for n, c, h, w in T.grid(1, 4, 8, 8):
        with T.block("pad"):
            vn, vc, vh, vw = T.axis.remap("SSSS", [n, c, h, w])
            Xp[vn, vc, vh, vw] = T.if_then_else(1 <= vh and vh < 7 and 1 <= vw and vw < 7, X[vn, vc, vh - 1, vw - 1], T.float32(0))
    for n, k, h, w, c, r, s in T.grid(1, 8, 6, 6, 4, 3, 3):
        with T.block("conv"):
            vn, vk, vh, vw, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, h, w, c, r, s])
            with T.init():
                Y[vn, vk, vh, vw] = T.float32(0)
            Y[vn, vk, vh, vw] = Y[vn, vk, vh, vw] + Xp[vn, vc, vh + vr, vw + vs] * W[vk, vc, vr, vs]
''',
    "dense_bias_relu": '''
@T.prim_func
def dense_bias_relu(X: T.Buffer((16, 32), "float32"), W: T.Buffer((24, 32), "float32"), bias: T.Buffer((24,), "float32"), Y: T.Buffer((16, 24), "float32")):
    D = T.alloc_buffer((16, 24), "float32")
    E = T.alloc_buffer((16, 24), "float32")
    for i, j, k in T.grid(16, 24, 32):
        with T.block("dense"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                D[vi, vj] = T.float32(0)
            D[vi, vj] = D[vi, vj] + X[vi, vk] * W[vj, vk]
    for i, j in T.grid(16, 24):
        with T.block("bias"):
            vi, vj = T.axis.remap("SS", [i, j])
            E[vi, vj] = D[vi, vj] + bias[vj]
    for i, j in T.grid(16, 24):
        with T.block("relu"):
            vi, vj = T.axis.remap("SS", [i, j])
            Y[vi, vj] = T.max(E[vi, vj], T.float32(0))
''',
    "dense_center": '''
@T.prim_func
def dense_center(X: T.Buffer((16, 32), "float32"), W: T.Buffer((24, 32), "float32"), Y: T.Buffer((16, 24), "float32")):
    D = T.alloc_buffer((16, 24), "float32")
    for i, j, k in T.grid(16, 24, 32):
        with T.block("dense"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                D[vi, vj] = T.float32(0)
            D[vi, vj] = D[vi, vj] + X[vi, vk] * W[vj, vk]
    for i, j in T.grid(16, 24):
        with T.block("center"):
            vi, vj = T.axis.remap("SS", [i, j])
            Y[vi, vj] = D[vi, vj] - D[vi, 0]
''',
    "add": '''
@T.prim_func
def add(A: T.Buffer((128, 96), "float32"), B: T.Buffer((128, 96), "float32"), C: T.Buffer((128, 96), "float32")):
    for i, j in T.grid(128, 96):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = A[vi, vj] + B[vi, vj]
''',
    "row_sum": '''
@T.prim_func
def row_sum(A: T.Buffer((8, 256), "float32"), B: T.Buffer((8,), "float32")):
    for i, k in T.grid(8, 256):
        with T.block("B"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
''',
    "full_sum": '''
@T.prim_func
def full_sum(A: T.Buffer((1024,), "float32"), B: T.Buffer((1,), "float32")):
    for k in range(1024):
        with T.block("B"):
            vk = T.axis.reduce(1024, k)
            with T.init():
                B[0] = T.float32(0)
            B[0] = B[0] + A[vk]
''',
    "softmax": '''
@T.prim_func
def softmax(A: T.Buffer((4, 64), "float32"), Out: T.Buffer((4, 64), "float32")):
    M = T.alloc_buffer((4,), "float32")
    E = T.alloc_buffer((4, 64), "float32")
    S = T.alloc_buffer((4,), "float32")
    for i, k in T.grid(4, 64):
        with T.block("max"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                M[vi] = T.min_value("float32")
            M[vi] = T.max(M[vi], A[vi, vk])
    for i, k in T.grid(4, 64):
        with T.block("exp"):
            vi, vk = T.axis.remap("SS", [i, k])
            E[vi, vk] = T.exp(A[vi, vk] - M[vi])
    for i, k in T.grid(4, 64):
        with T.block("sum"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                S[vi] = T.float32(0)
            S[vi] = S[vi] + E[vi, vk]
    for i, k in T.grid(4, 64):
        with T.block("norm"):
            vi, vk = T.axis.remap("SS", [i, k])
            Out[vi, vk] = E[vi, vk] / S[vi]
''',
}


def _conv2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return sum(np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 6, s:s + 6], w[:, :, r, s])
               for r in range(3) for s in range(3))


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


REFERENCES = {  # inputs -> output, in numpy
    "matmul": lambda a, b: a @ b,
    "conv2d": _conv2d,
    "dense_bias_relu": lambda x, w, bias: np.maximum(x @ w.T + bias, 0),
    "dense_center": lambda x, w: (x @ w.T) - (x @ w.T)[:, :1],
    "add": lambda a, b: a + b,
    "row_sum": lambda a: a.sum(axis=1),
    "full_sum": lambda a: a.sum(keepdims=True),
    "softmax": _softmax,
}

_SPACES: dict[str, tuple[tvmscript.PrimFunc, list[Trace]]] = {}


def space(name: str, target: str = "cuda") -> tuple[tvmscript.PrimFunc, list[Trace]]:
    if (name, target) not in _SPACES:
        func = tvmscript.from_source(KERNELS[name])
        _SPACES[name, target] = (func, generate_design_spaces(func, target))
    return _SPACES[name, target]


def draw(name: str, seed: int, target: str = "cuda") -> tuple[tvmscript.PrimFunc, Trace,
                                                                tvmscript.PrimFunc]:
    """A valid candidate of ``name`` (a few tries: a draw over the limits is rejected)."""
    func, sketches = space(name, target)
    rng = np.random.default_rng(seed)
    for attempt in range(20):
        got = sample_candidate(func, sketches[(seed + attempt) % len(sketches)], rng, target)
        if got is not None:
            return func, got[0], got[1]
    raise AssertionError(f"20 draws of {name} were all invalid")


def assert_computes_like_numpy(name: str, func: tvmscript.PrimFunc) -> None:
    """The (unlowered) candidate, run by the interpreter, gives numpy's result."""
    rng = np.random.default_rng(0)
    params = [func.buffer_map[p] for p in func.params]
    arrays = [rng.standard_normal([d.value for d in b.shape]).astype("float32") for b in params]
    rt = tvmscript.build(func, target="interpreter")
    rt[next(iter(rt.keys()))](*arrays)
    want = REFERENCES[name](*arrays[:-1])
    np.testing.assert_allclose(arrays[-1], want, rtol=1e-4, atol=1e-4)


def thread_loops(path) -> list[S.For]:
    return [s for s in path if isinstance(s, S.For) and s.kind == S.ForKind.THREAD_BINDING]


def assert_valid_gpu_program(func: tvmscript.PrimFunc, max_threads: int = 1024) -> None:
    """Every block (but the root) is inside a blockIdx and a threadIdx loop, and the threads of
    one block (the product of the threadIdx extents along any path) are within the limit."""
    blocks = [loc for loc in walk(func.body)
              if isinstance(loc.node, S.Block) and loc.node.name_hint != "root"]
    assert blocks
    for loc in blocks:
        tags = [lp.thread_tag for lp in thread_loops(loc.path)]
        assert any(t.startswith("blockIdx.") for t in tags), loc.node.name_hint
        assert any(t.startswith("threadIdx.") for t in tags), loc.node.name_hint
        per_tag: dict[str, int] = {}
        for lp in thread_loops(loc.path):
            if lp.thread_tag.startswith("threadIdx."):
                per_tag[lp.thread_tag] = max(per_tag.get(lp.thread_tag, 1), lp.extent.value)
        assert math.prod(per_tag.values()) <= max_threads, (loc.node.name_hint, per_tag)


# ---------------------------------------------------------------- sketches


def test_matmul_sketch_tiles_binds_and_fetches_cooperatively() -> None:
    func = tvmscript.from_source(MATMUL.replace("N", "256").replace("M", "256").replace("K", "256"))
    sketches = generate_design_spaces(func, "cuda")
    assert len(sketches) == 1
    insts = sketches[0].instructions
    tiles = [i.attrs["n"] for i in insts if i.kind == "sample_perfect_tile"]
    assert tiles == [5, 5, 2, 2]  # i, j: 5 levels; k: the shared slice, then 2 levels inside it
    binds = [i.inputs[1] for i in insts if i.kind == "bind"]
    assert binds == ["blockIdx.x", "vthread.x", "threadIdx.x"]
    assert [i.inputs[2] for i in insts if i.kind == "cache_read"] == ["shared", "shared"]
    assert [i.inputs[2] for i in insts if i.kind == "cache_write"] == ["local"]
    fetches = [i for i in insts if i.kind == "annotate" and i.inputs[1] == COOPERATIVE_FETCH]
    assert len(fetches) == 2
    low = [i.inputs[2] for i in insts if i.kind == "annotate" and i.inputs[1] == THREAD_EXTENT_LOW]
    assert low == [32]  # 65536 outputs: at least a warp per block
    # a candidate: the fetch loops spread over the block's threads, a valid 256^3 kernel
    got = next(g for g in (sample_candidate(func, sketches[0], s, "cuda") for s in range(40)) if g)
    text = got[1].script()
    assert COOPERATIVE_FETCH not in text and THREAD_EXTENT_LOW not in text
    assert text.count('thread="threadIdx.x"') >= 2  # the compute and the fetch loops
    assert_valid_gpu_program(got[1])
    threads = next(lp.extent.value for loc in walk(got[1].body) if isinstance(loc.node, S.For)
                   for lp in [loc.node] if lp.thread_tag == "threadIdx.x")
    assert 32 <= threads <= 1024
    # a small matmul (2048 outputs) may use fewer threads: most draws would be rejected
    _, small = space("matmul")
    assert THREAD_EXTENT_LOW not in str(small[0])


def test_conv2d_padding_is_inlined_into_the_shared_fetch() -> None:
    _, _, after = draw("conv2d", 0)
    names = [loc.node.name_hint for loc in walk(after.body) if isinstance(loc.node, S.Block)]
    assert "pad" not in names and "Xp_shared" in names
    assert "T.if_then_else" in after.script()


def test_a_dense_layer_and_its_epilogue_are_one_kernel() -> None:
    """The bias and the ReLU are folded into the tile's write-back from local memory."""
    _, _, after = draw("dense_bias_relu", 0)
    names = [loc.node.name_hint for loc in walk(after.body) if isinstance(loc.node, S.Block)]
    assert "bias" not in names and "relu" not in names and len(kernels(after)) == 1
    assert "T.max(D_local[" in after.script()
    assert_computes_like_numpy("dense_bias_relu", after)


def test_an_epilogue_that_cannot_be_folded_in_is_bound_by_the_postprocessor() -> None:
    """``center`` reads two elements of each row of the dense result: it cannot be folded into
    the tile's write-back, so it stays a kernel of its own, bound after the rules."""
    _, sketches = space("dense_center")
    assert [i.inputs[1] for i in sketches[0].instructions if i.kind == "bind"] == [
        "blockIdx.x", "vthread.x", "threadIdx.x"]  # center is left to the tiling, which fails
    _, trace, after = draw("dense_center", 0)
    post = trace.instructions[[i.kind for i in trace.instructions].index("enter_postproc"):]
    assert any(i.kind == "bind" and i.inputs[1] == "blockIdx.x" for i in post)
    assert len(kernels(after)) == 2
    assert_computes_like_numpy("dense_center", after)


def test_elementwise_add_is_bound_with_a_grid_stride_loop() -> None:
    """12288 elements, more than 256 blocks of the fewest threads (32): each thread loops."""
    _, sketches = space("add")
    kinds = [i.kind for i in sketches[0].instructions]
    assert kinds.count("bind") == 2 and "sample_categorical" in kinds
    _, trace, after = draw("add", 0)
    extents = [32, 64, 128, 256, 512, 1024]
    threads = next(i for i in trace.instructions
                   if i.kind == "sample_categorical" and list(i.inputs[0]) == extents)
    extent = extents[threads.decision]
    assert 'T.thread_binding(256, thread="blockIdx.x")' in after.script()
    assert f'T.thread_binding({extent}, thread="threadIdx.x")' in after.script()


def test_a_reduction_the_cross_thread_lowering_refuses_is_not_forked() -> None:
    """An init that is not the reducer's identity (-1e30 for max) cannot become a cross-thread
    tree: the rule keeps only the sketch whose candidates build."""
    func = tvmscript.from_source('''
@T.prim_func
def row_max(A: T.Buffer((4, 300), "float32"), M: T.Buffer((4,), "float32")):
    for i, k in T.grid(4, 300):
        with T.block("M"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                M[vi] = T.float32(-1e30)
            M[vi] = T.max(M[vi], A[vi, vk])
''')
    identity = tvmscript.from_source(func.script().replace("T.float32(-1e+30)",
                                                           "T.min_value(\"float32\")"))
    assert len(generate_design_spaces(identity, "cuda")) == 2  # the fork, where it lowers
    sketches = generate_design_spaces(func, "cuda")
    assert len(sketches) == 1
    for seed in range(3):
        got = sample_candidate(func, sketches[0], seed, "cuda")
        if got is not None:
            a = np.random.default_rng(seed).standard_normal((4, 300)).astype("float32")
            m = np.zeros(4, "float32")
            tvmscript.build(got[1], target="cuda-emulator")["row_max"](a, m)
            np.testing.assert_allclose(m, np.maximum(a.max(axis=1), -1e30))


def test_row_sum_forks_a_cross_thread_reduction() -> None:
    func, sketches = space("row_sum")
    crossed = [s for s in sketches if any(  # a thread extent drawn for the reduction loop
        i.kind == "sample_categorical" and list(i.inputs[0])[:2] == [4, 8]
        for i in s.instructions)]
    assert len(sketches) == 2 and crossed
    got = sample_candidate(func, crossed[0], 0, "cuda")
    assert got is not None
    after = got[1]
    realize = next(loc for loc in walk(after.body) if isinstance(loc.node, S.BlockRealize)
                   and loc.node.block.name_hint == "B")
    reduce_var = realize.node.iter_values[1]
    bound = [lp for lp in thread_loops(realize.path) if lp.thread_tag == "threadIdx.x"]
    assert bound and bound[0].loop_var.name in reduce_var.script()
    assert realize.node.block.init is not None  # left for the cross-thread lowering
    assert_computes_like_numpy("row_sum", after)


def test_gpu_rules_are_for_cuda_targets() -> None:
    with pytest.raises(ValueError, match=r"GPU rules are for cuda targets .* got 'llvm'"):
        default_gpu_rules("llvm")
    with pytest.raises(ValueError, match="only the 3 spatial levels"):
        GPUMultiLevelTiling(tile_binds=("blockIdx.x",) * 4)


# ---------------------------------------------------------------- candidates


@pytest.mark.parametrize("name", sorted(KERNELS))
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**31))
def test_any_sampled_candidate_is_valid_and_computes_the_same(name: str, seed: int) -> None:
    func, trace, after = draw(name, seed)
    tvmscript.verify(after)
    assert_valid_gpu_program(after)
    assert_computes_like_numpy(name, after)
    # the lowering's own verifier finds it within the device's limits
    from passes.gpu_pipeline import GPULimits, lower_gpu

    assert any(f.attrs.get("tvmscript.kernel") for f in lower_gpu(after, GPULimits())
               .functions.values())
    again = Trace.from_json(trace.to_json()).apply_to(func).func
    assert tvmscript.structural_equal(again, after)


@pytest.mark.parametrize("name", ["matmul", "conv2d", "softmax"])
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**31), pick=st.integers(0, 2**31))
def test_mutated_candidates_stay_valid(name: str, seed: int, pick: int) -> None:
    func, trace, _ = draw(name, seed)
    rng = np.random.default_rng(pick)
    for _ in range(10):  # a mutation may not apply (its replay refuses it): try another
        mutated = mutate(func, trace, rng)
        got = None if mutated is None else replay_candidate(func, mutated, target="cuda")
        if got is not None:
            break
    if got is None:
        return
    assert_valid_gpu_program(got[1])
    assert_computes_like_numpy(name, got[1])


def test_a_tile_mutation_replays_to_the_mutated_tiles() -> None:
    func, trace, _ = draw("matmul", 3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        mutated = MutateTileSize().apply(func, trace, rng)
        got = None if mutated is None else replay_candidate(func, mutated, target="cuda")
        if got is not None:
            break
    assert got is not None
    decisions = [i.decision for i in got[0].instructions if i.kind == "sample_perfect_tile"]
    assert decisions == [i.decision for i in mutated.instructions
                         if i.kind == "sample_perfect_tile"]
    assert_valid_gpu_program(got[1])
    assert_computes_like_numpy("matmul", got[1])


# ---------------------------------------------------------------- limits


def test_candidates_respect_a_smaller_thread_limit() -> None:
    target = "cuda -max_threads_per_block=64"
    assert gpu_limits(target).max_threads_per_block == 64
    for seed in range(4):
        for name in ("add", "row_sum", "matmul"):
            _, _, after = draw(name, seed, target)
            assert_valid_gpu_program(after, max_threads=64)


def test_shared_memory_over_the_limit_rejects_the_candidate() -> None:
    """With 1 KiB of shared memory, only draws whose tiles fit are accepted."""
    target = "cuda -max_shared_memory_per_block=1024"
    func, sketches = space("matmul", target)
    got = [sample_candidate(func, sketches[0], s, target) for s in range(12)]
    assert any(g is None for g in got) and any(g is not None for g in got)


def test_shared_memory_of_a_block_is_its_tiles() -> None:
    """Per block of threads (one row i): a 1 x 16 slice of A and all of B (16 x 64) in shared
    memory, 4160 bytes, whatever size the unlowered buffers are declared with."""
    func = tvmscript.from_source(KERNELS["matmul"])
    sch = Schedule(func)
    block = sch.get_block("C")
    i, j, _ = sch.get_loops(block)
    sch.bind(i, "blockIdx.x")
    sch.bind(j, "threadIdx.x")
    for index in (0, 1):
        sch.compute_at(sch.cache_read(block, index, "shared"), i)
    check_gpu_limits(sch.func, gpu_limits("cuda -max_shared_memory_per_block=4160"))
    with pytest.raises(GPUCandidateError, match=r"kernel 0 of `matmul` uses 4160 bytes of shared "
                                                r"memory per block, more than the device's 4096"):
        check_gpu_limits(sch.func, gpu_limits("cuda -max_shared_memory_per_block=4096"))


def test_an_unbound_block_is_reported() -> None:
    func = tvmscript.from_source(KERNELS["add"])
    with pytest.raises(GPUCandidateError, match=r"block `C` is not inside a blockIdx or a "
                                                r"threadIdx loop: it would run on the host"):
        check_bound(func)
    sch = Schedule(func)
    i, _ = sch.get_loops(sch.get_block("C"))
    sch.bind(i, "blockIdx.x")
    with pytest.raises(GPUCandidateError, match=r"block `C` is not inside a threadIdx loop"):
        check_bound(sch.func)


def test_too_many_threads_is_reported() -> None:
    sch = Schedule(tvmscript.from_source(KERNELS["add"]))
    i, j = sch.get_loops(sch.get_block("C"))
    sch.bind(i, "blockIdx.x")
    sch.bind(j, "threadIdx.x")
    check_gpu_limits(sch.func, gpu_limits("cuda"))
    with pytest.raises(GPUCandidateError, match=r"kernel 0 of `add` has 96 threads per block, "
                                                r"more than the device's 64"):
        check_gpu_limits(sch.func, gpu_limits("cuda -max_threads_per_block=64"))
    sch.annotate(sch.get_block("C"), THREAD_EXTENT_LOW, 128)
    with pytest.raises(GPUCandidateError, match=r"block `C` has 96 threads per block \(threadIdx\),"
                                                r" fewer than the 128 its tiling asks for"):
        check_thread_extent_low(sch)


def test_rules_are_plain_objects_to_configure() -> None:
    func = tvmscript.from_source(KERNELS["row_sum"])
    rules = [GPUCrossThreadReduction(thread_extents=(32,)), AutoBind(thread_extents=(8,))]
    sketches = generate_design_spaces(func, "cuda", rules=rules)
    texts = []
    for sketch in sketches:
        got = sample_candidate(func, sketch, 0, "cuda")
        assert got is not None
        texts.append(got[1].script())
        assert_computes_like_numpy("row_sum", got[1])
    assert any('T.thread_binding(32, thread="threadIdx.x")' in t for t in texts)  # across k
    assert any('T.thread_binding(8, thread="threadIdx.x")' in t for t in texts)   # across i


# ---------------------------------------------------------------- emulator and NVRTC

def _crossed(name: str) -> Trace:
    """The sketch of ``name`` whose first reduction is reduced across threads."""
    _, sketches = space(name)
    return next(s for s in sketches if any(
        i.kind == "sample_categorical" and list(i.inputs[0])[:2] == [4, 8] for i in s.instructions))


@pytest.mark.parametrize("name, seed", [("matmul", 0), ("matmul", 3), ("conv2d", 0), ("add", 0),
                                        ("dense_bias_relu", 0),
                                        ("row_sum", "crossed"), ("softmax", "crossed"),
                                        ("full_sum", "crossed")])
def test_sampled_candidates_run_in_the_emulator(name: str, seed) -> None:
    """Lowered for the GPU (shared-memory tiles, barriers, cross-thread reductions) and run
    thread by thread in the emulator, with its race checks: numpy's result."""
    func, _ = space(name)
    if seed == "crossed":
        after = sample_candidate(func, _crossed(name), 0, "cuda")[1]
    else:
        after = draw(name, seed)[2]
    rng = np.random.default_rng(0)
    params = [func.buffer_map[p] for p in func.params]
    arrays = [rng.standard_normal([d.value for d in b.shape]).astype("float32") for b in params]
    emu = tvmscript.build(after, target="cuda-emulator")
    emu[func.name](*arrays)
    np.testing.assert_allclose(arrays[-1], REFERENCES[name](*arrays[:-1]), rtol=1e-4, atol=1e-4)


def test_sampled_candidates_compile_with_nvrtc() -> None:
    _, _, matmul = draw("matmul", 0)
    source = tvmscript.build(matmul, target="cuda")
    assert "__shared__" in source.get_source() and ".entry" in source.get_ptx()
    func, _ = space("row_sum")
    crossed = tvmscript.build(sample_candidate(func, _crossed("row_sum"), 0, "cuda")[1],
                              target="cuda")
    text = crossed.get_source()  # threads combine their partial sums: shuffles or a tree
    assert ("__shfl" in text or "__syncthreads()" in text) and ".entry" in crossed.get_ptx()
