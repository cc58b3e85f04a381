"""GPU schedules: the standard tiled shared-memory matmul schedule is accepted by compute_at /
reverse_compute_at and computes the right numbers; real races (global buffers, redundant
reductions into shared memory) are still refused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from tests.schedule_testing import expect_error
from tvmscript import Schedule


def matmul_source(n: int) -> str:
    return f'''
@T.prim_func
def matmul(A: T.Buffer(({n}, {n}), "float32"), B: T.Buffer(({n}, {n}), "float32"),
           C: T.Buffer(({n}, {n}), "float32")):
    for i, j, k in T.grid({n}, {n}, {n}):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''


@dataclass(frozen=True)
class Tiling:
    """One GPU tiling of an n x n x n matmul: threads per block ``ty x tx``, each thread
    computing ``ri x rj`` outputs, k in steps of ``kt``, fetches vectorized by ``vec``."""

    n: int = 64
    ty: int = 8
    tx: int = 8
    ri: int = 2
    rj: int = 2
    kt: int = 8
    vec: int = 2


def schedule_matmul(t: Tiling = Tiling()) -> Schedule:
    """The standard GPU schedule: blocks/threads over i and j, k tiled, A and B fetched into
    shared memory cooperatively by the block's threads, C accumulated in local memory."""
    sch = Schedule(tvmscript.from_source(matmul_source(t.n)))
    c = sch.get_block("C")
    c_local = sch.cache_write(c, 0, "local")
    i, j, k = sch.get_loops(c)
    by, ty, ii = sch.split(i, [None, t.ty, t.ri])
    bx, tx, ji = sch.split(j, [None, t.tx, t.rj])
    ko, ki = sch.split(k, [None, t.kt])
    sch.reorder(by, bx, ty, tx, ko, ki, ii, ji)
    for loop, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                      (tx, "threadIdx.x")):
        sch.bind(loop, tag)
    sch.reverse_compute_at(c_local, tx)
    for index in (0, 1):
        fetch = sch.cache_read(c, index, "shared")
        sch.compute_at(fetch, ko)
        fused = sch.fuse(*sch.get_loops(fetch)[-2:])
        _, f_ty, f_tx, f_vec = sch.split(fused, [None, t.ty, t.tx, t.vec])
        sch.bind(f_ty, "threadIdx.y")
        sch.bind(f_tx, "threadIdx.x")
        sch.vectorize(f_vec)
    return sch


def run_matmul(sch: Schedule, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype("float32")
    b = rng.standard_normal((n, n)).astype("float32")
    c = np.zeros((n, n), "float32")
    tvmscript.build(sch.mod, target="interpreter")["matmul"](a, b, c)
    return c, a @ b


def test_standard_gpu_matmul_schedule_is_accepted_and_correct():
    sch = schedule_matmul()
    text = sch.mod.script()
    assert 'A_shared = T.alloc_buffer((64, 64), "float32", scope="shared")' in text
    assert 'C_local = T.alloc_buffer((64, 64), "float32", scope="local")' in text
    assert text.count('T.thread_binding(8, thread="threadIdx.x")') == 3
    got, want = run_matmul(sch, 64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_shared_stage_under_thread_loops_covers_the_block_tile():
    """compute_at under threadIdx loops fills the block's whole tile (16 rows of A per block),
    not the 2 rows one thread reads: the thread loops are relaxed for shared storage."""
    text = schedule_matmul().mod.script()
    assert "v0 = T.axis.spatial(64, i_0 * 16 + (ax0_ax1_fused_0 * 128" in text
    assert "v1_1 = T.axis.spatial(64, j_0 * 16 + ax0_ax1_fused_2_1 * 2" in text


@settings(max_examples=6, deadline=None)
@given(ty=st.sampled_from([2, 4]), tx=st.sampled_from([2, 4]), ri=st.sampled_from([1, 2]),
       rj=st.sampled_from([1, 2]), kt=st.sampled_from([4, 8]), vec=st.sampled_from([1, 2]))
def test_gpu_matmul_tilings_compute_the_product(ty, tx, ri, rj, kt, vec):
    t = Tiling(n=16, ty=ty, tx=tx, ri=ri, rj=rj, kt=kt, vec=vec)
    got, want = run_matmul(schedule_matmul(t), t.n)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _tiled(sch: Schedule):
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    by, ty = sch.split(i, [None, 8])
    bx, tx = sch.split(j, [None, 8])
    sch.reorder(by, bx, ty, tx, k)
    return c, by, bx, ty, tx


def test_local_stage_under_block_and_thread_loops_is_accepted():
    sch = Schedule(tvmscript.from_source(matmul_source(16)))
    c, by, _, _, tx = _tiled(sch)
    sch.bind(by, "blockIdx.y")
    sch.bind(tx, "threadIdx.x")
    a_local = sch.cache_read(c, 0, "local")
    sch.compute_at(a_local, tx)
    got, want = run_matmul(sch, 16)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_global_stage_under_block_loop_is_still_a_race():
    sch = Schedule(tvmscript.from_source(matmul_source(16)))
    c, by, bx, _, _ = _tiled(sch)
    sch.bind(by, "blockIdx.y")
    sch.bind(bx, "blockIdx.x")
    a_global = sch.cache_read(c, 0, "global")
    expect_error(sch, lambda: sch.compute_at(a_global, bx),
                 "iterations of parallel loop `j_0` would compute overlapping parts of "
                 "`A_global` in block `A_global`; that is a data race")


def test_shared_stage_under_parallel_loop_is_still_a_race():
    sch = Schedule(tvmscript.from_source(matmul_source(16)))
    c, _, bx, _, _ = _tiled(sch)
    sch.parallel(bx)
    a_shared = sch.cache_read(c, 0, "shared")
    expect_error(sch, lambda: sch.compute_at(a_shared, bx),
                 "iterations of parallel loop `j_0` would compute overlapping parts of "
                 "`A_shared` in block `A_shared`; that is a data race")


ROWSUM = '''
@T.prim_func
def rowsum(A: T.Buffer((16, 16), "float32"), C: T.Buffer((16, 16), "float32")):
    S = T.alloc_buffer((16,), "float32", scope="shared")
    for i, k in T.grid(16, 16):
        with T.block("S"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                S[vi] = T.float32(0)
            S[vi] = S[vi] + A[vi, vk]
    for i, j in T.grid(16, 16):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = S[vi] * T.float32(2)
'''


def test_reduction_into_shared_memory_by_every_thread_is_a_race():
    """A reduction repeated by every thread of a block accumulates into the same shared element
    concurrently: unlike a copy, that is a real race."""
    sch = Schedule(tvmscript.from_source(ROWSUM))
    i, j = sch.get_loops(sch.get_block("C"))
    sch.bind(i, "blockIdx.x")
    sch.bind(j, "threadIdx.x")
    s_block = sch.get_block("S")
    expect_error(sch, lambda: sch.compute_at(s_block, j),
                 "iterations of parallel loop `j` would compute overlapping parts of `S` in "
                 "block `S`; that is a data race")


def test_reduction_into_shared_memory_under_block_loop_is_accepted():
    sch = Schedule(tvmscript.from_source(ROWSUM))
    i, j = sch.get_loops(sch.get_block("C"))
    sch.bind(i, "blockIdx.x")
    sch.bind(j, "threadIdx.x")
    sch.compute_at(sch.get_block("S"), i)
    a = np.random.default_rng(1).standard_normal((16, 16)).astype("float32")
    c = np.zeros((16, 16), "float32")
    tvmscript.build(sch.mod, target="interpreter")["rowsum"](a, c)
    np.testing.assert_allclose(c, np.repeat(a.sum(1, keepdims=True) * 2, 16, 1), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("scope", ["shared", "shared.dyn", "local", "warp", "wmma.matrix_a"])
def test_private_scopes_under_block_loop(scope):
    from tvmscript.ir import stmt as S
    from tvmscript.ir.buffer import Buffer
    from tvmscript.ir.expr import Var, const
    from tvmscript.schedule.compute_location import private_to_iteration

    loop = S.For(Var("b"), const(0), const(4), S.ForKind.THREAD_BINDING, S.Evaluate(const(0)),
                 thread_tag="blockIdx.x")
    assert private_to_iteration(Buffer("X", "float32", (4,), scope=scope), loop, False)
    assert not private_to_iteration(Buffer("X", "float32", (4,)), loop, True)
