"""lower-cross-thread-reduction: reductions bound to threadIdx become a per-thread reduction, a
shared-memory tree and a write by thread 0, and still compute numpy's answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tvmscript
from passes import PassContext, get_pass
from passes.lower_cross_thread_reduction import (
    WARP_REDUCTION,
    CrossThreadReductionError,
    cross_thread_reduction_passes,
)
from tests.cuda_testing import needs_gpu, needs_nvrtc
from tests.pass_testing import check
from tvmscript import te
from tvmscript.ir import LT, Call, IfThenElse, post_order_visit

LOWER = "lower-cross-thread-reduction"
NUMPY = {"sum": np.sum, "max": np.max, "min": np.min, "prod": np.prod}


def row_reduction(rows: int, n: int, reducer: str, dtype: str = "float32"):
    """``B[i] = reducer(A[i, :])`` written with te (reduction block "B")."""
    A = te.placeholder((rows, n), dtype, name="A")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((rows,), lambda i: getattr(te, reducer)(A[i, k], axis=k), name="B")
    return te.create_prim_func([A, B])


def matvec(rows: int, n: int):
    """``y[i] = sum_k A[i, k] * x[k]``."""
    A = te.placeholder((rows, n), "float32", name="A")
    x = te.placeholder((n,), "float32", name="x")
    k = te.reduce_axis((0, n), name="k")
    y = te.compute((rows,), lambda i: te.sum(A[i, k] * x[k], axis=k), name="y")
    return te.create_prim_func([A, x, y])


def bind_rows_and_threads(func, block: str, threads: int, rows_per_block: int = 0):
    """Rows on blockIdx.x (and ``rows_per_block`` of them on threadIdx.y), the reduction
    split by ``threads`` with its inner part on threadIdx.x."""
    sch = tvmscript.Schedule(func)
    b = sch.get_block(block)
    i, k = sch.get_loops(b)
    if rows_per_block:
        i, i_inner = sch.split(i, [None, rows_per_block])
        sch.bind(i_inner, "threadIdx.y")
    sch.bind(i, "blockIdx.x")
    _, k_inner = sch.split(k, [None, threads])
    sch.bind(k_inner, "threadIdx.x")
    return sch.mod


def lower_and_run(mod, *arrays: np.ndarray) -> tvmscript.ir.IRModule:
    """Run the pass, check the printed result re-parses to the same IR, and run it."""
    if isinstance(mod, tvmscript.ir.PrimFunc):
        mod = tvmscript.ir.IRModule.from_function(mod, "main")
    lowered = get_pass(LOWER)(mod)
    assert lowered is not mod
    tvmscript.assert_structural_equal(tvmscript.from_source(lowered.script()), lowered)
    (name,) = [gv for gv in lowered.functions]
    tvmscript.build(lowered, target="interpreter")[_name(name)](*arrays)
    return lowered


def _name(key) -> str:
    return getattr(key, "name_hint", key)


def stage_guards(mod) -> list[int]:
    """``c`` of each tree stage's ``if t < c``, in program order."""
    found: list[int] = []

    def visit(node) -> None:
        if isinstance(node, IfThenElse) and isinstance(node.condition, LT):
            found.append(node.condition.b.value)

    post_order_visit(mod, visit)
    return found


# ---------------------------------------------------------------- the lowered form


def test_form_with_six_threads():
    check(LOWER, '''
@T.prim_func
def f(A: T.Buffer((4, 12), "float32"), B: T.Buffer((4,), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.x"):
        for k_0 in range(2):
            for k_1 in T.thread_binding(6, thread="threadIdx.x"):
                with T.block("B"):
                    vi = T.axis.spatial(4, i)
                    vk = T.axis.reduce(12, k_0 * 6 + k_1)
                    T.reads(A[vi, vk])
                    T.writes(B[vi])
                    with T.init():
                        B[vi] = T.float32(0)
                    B[vi] = B[vi] + A[vi, vk]
''', '''
@T.prim_func
def f(A: T.Buffer((4, 12), "float32"), B: T.Buffer((4,), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.x"):
        with T.block("B_cross_thread"):
            T.reads(A[i, 0:12])
            T.writes(B[i])
            B_in_thread = T.alloc_buffer((1,), "float32", scope="local")
            B_red = T.alloc_buffer((6,), "float32", scope="shared")
            for k_1 in T.thread_binding(6, thread="threadIdx.x"):
                B_in_thread[0] = T.float32(0)
                for k_0 in range(2):
                    with T.block("B_in_thread"):
                        vi = T.axis.spatial(4, i)
                        vk = T.axis.reduce(12, k_0 * 6 + k_1)
                        T.reads(B_in_thread[0], A[vi, vk])
                        T.writes(B_in_thread[0])
                        B_in_thread[0] = B_in_thread[0] + A[vi, vk]
                B_red[k_1] = B_in_thread[0]
            for t in T.thread_binding(6, thread="threadIdx.x"):
                if t < 2:
                    B_red[t] = B_red[t] + B_red[t + 4]
            for t in T.thread_binding(6, thread="threadIdx.x"):
                if t < 2:
                    B_red[t] = B_red[t] + B_red[t + 2]
            for t in T.thread_binding(6, thread="threadIdx.x"):
                if t < 1:
                    B_red[t] = B_red[t] + B_red[t + 1]
            for t in T.thread_binding(6, thread="threadIdx.x"):
                if t == 0:
                    B[i] = B_red[0]
''')


def test_function_without_thread_reduction_is_returned_as_is():
    func = row_reduction(4, 8, "sum")
    mod = tvmscript.ir.IRModule.from_function(func, "main")
    assert get_pass(LOWER)(mod) is mod


def test_power_of_two_threads_halve_without_partial_guards():
    mod = bind_rows_and_threads(row_reduction(2, 64, "sum"), "B", 16)
    assert stage_guards(get_pass(LOWER)(mod)) == [8, 4, 2, 1]


# ---------------------------------------------------------------- numbers against numpy


def test_row_sum_128x256():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 256)).astype("float32")
    b = np.zeros(128, "float32")
    lower_and_run(bind_rows_and_threads(row_reduction(128, 256, "sum"), "B", 64), a, b)
    np.testing.assert_allclose(b, a.sum(axis=1), rtol=1e-5, atol=1e-4)


def test_row_max_with_negative_rows_and_100_threads():
    rng = np.random.default_rng(1)
    a = -np.abs(rng.standard_normal((16, 250))).astype("float32") - 1
    b = np.zeros(16, "float32")
    lower_and_run(bind_rows_and_threads(row_reduction(16, 250, "max"), "B", 100), a, b)
    np.testing.assert_array_equal(b, a.max(axis=1))


def test_matrix_vector():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((32, 300)).astype("float32")
    x = rng.standard_normal(300).astype("float32")
    y = np.zeros(32, "float32")
    lower_and_run(bind_rows_and_threads(matvec(32, 300), "y", 128), a, x, y)
    np.testing.assert_allclose(y, a @ x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("reducer", ["sum", "max", "min", "prod"])
def test_rows_on_threadIdx_y_keep_one_tree_per_row(reducer: str):
    rng = np.random.default_rng(3)
    a = rng.uniform(0.9, 1.1, (12, 90)).astype("float32")
    b = np.zeros(12, "float32")
    mod = bind_rows_and_threads(row_reduction(12, 90, reducer), "B", 24, rows_per_block=4)
    lowered = lower_and_run(mod, a, b)
    assert "B_red = T.alloc_buffer((T.int64(4), T.int64(24))" in lowered.script()
    np.testing.assert_allclose(b, NUMPY[reducer](a, axis=1), rtol=1e-5)


def test_rows_past_the_end_are_not_written():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((10, 40)).astype("float32")
    b = np.zeros(10, "float32")
    mod = bind_rows_and_threads(row_reduction(10, 40, "sum"), "B", 16, rows_per_block=4)
    lowered = lower_and_run(mod, a, b)
    assert "if k_1_5 == T.int64(0) and i_0 * T.int64(4) + i_1_5 < T.int64(10):" in \
        lowered.script()
    np.testing.assert_allclose(b, a.sum(axis=1), rtol=1e-5, atol=1e-5)


def test_spatial_loop_inside_the_threads_moves_above_them():
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((4, 3, 64), "float32"), B: T.Buffer((4, 3), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.x"):
        for k_1 in T.thread_binding(32, thread="threadIdx.x"):
            for j in range(3):
                for k_0 in range(2):
                    with T.block("B"):
                        vi, vj = T.axis.remap("SS", [i, j])
                        vk = T.axis.reduce(64, k_0 * 32 + k_1)
                        T.reads(A[vi, vj, vk])
                        T.writes(B[vi, vj])
                        with T.init():
                            B[vi, vj] = T.float32(0)
                        B[vi, vj] = B[vi, vj] + A[vi, vj, vk]
''')
    rng = np.random.default_rng(8)
    a = rng.standard_normal((4, 3, 64)).astype("float32")
    b = np.zeros((4, 3), "float32")
    lowered = lower_and_run(func, a, b)
    lines = [line.strip() for line in lowered.script().splitlines()]
    assert lines.index("for j in range(3):") < lines.index('with T.block("B_cross_thread"):')
    np.testing.assert_allclose(b, a.sum(axis=2), rtol=1e-5, atol=1e-5)


def test_two_reduction_thread_axes_reduce_together():
    func = row_reduction(4, 96, "sum")
    sch = tvmscript.Schedule(func)
    i, k = sch.get_loops(sch.get_block("B"))
    sch.bind(i, "blockIdx.x")
    _, ky, kx = sch.split(k, [None, 3, 8])
    sch.bind(ky, "threadIdx.y")
    sch.bind(kx, "threadIdx.x")
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 96)).astype("float32")
    b = np.zeros(4, "float32")
    lowered = lower_and_run(sch.mod, a, b)
    assert "B_red = T.alloc_buffer((T.int64(24),)" in lowered.script()
    np.testing.assert_allclose(b, a.sum(axis=1), rtol=1e-5, atol=1e-5)


def test_columns_on_threadIdx_x_reduced_over_threadIdx_y():
    A = te.placeholder((100, 64), "float32", name="A")
    k = te.reduce_axis((0, 100), name="k")
    B = te.compute((64,), lambda j: te.sum(A[k, j], axis=k), name="B")
    sch = tvmscript.Schedule(te.create_prim_func([A, B]))
    j, k = sch.get_loops(sch.get_block("B"))
    j_outer, j_inner = sch.split(j, [None, 32])
    sch.bind(j_outer, "blockIdx.x")
    sch.bind(j_inner, "threadIdx.x")
    _, k_inner = sch.split(k, [None, 12])
    sch.bind(k_inner, "threadIdx.y")
    rng = np.random.default_rng(13)
    a = rng.standard_normal((100, 64)).astype("float32")
    b = np.zeros(64, "float32")
    lowered = lower_and_run(sch.mod, a, b)
    assert "B_red = T.alloc_buffer((T.int64(32), T.int64(12))" in lowered.script()
    np.testing.assert_allclose(b, a.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_fused_spatial_and_reduction_axes():
    """The tuner's cross-thread rule fuses the spatial and the reduction loops first."""
    A = te.placeholder((6, 5, 12, 10), "float32", name="A")
    k1 = te.reduce_axis((0, 12), name="k1")
    k2 = te.reduce_axis((0, 10), name="k2")
    B = te.compute((6, 5), lambda i, j: te.sum(A[i, j, k1, k2], axis=[k1, k2]), name="B")
    sch = tvmscript.Schedule(te.create_prim_func([A, B]))
    i, j, k1, k2 = sch.get_loops(sch.get_block("B"))
    sch.bind(sch.fuse(i, j), "blockIdx.x")
    _, k_inner = sch.split(sch.fuse(k1, k2), [None, 64])
    sch.bind(k_inner, "threadIdx.x")
    rng = np.random.default_rng(12)
    a = rng.standard_normal((6, 5, 12, 10)).astype("float32")
    b = np.zeros((6, 5), "float32")
    lower_and_run(sch.mod, a, b)
    np.testing.assert_allclose(b, a.sum(axis=(2, 3)), rtol=1e-5, atol=1e-5)


def test_each_reduction_of_a_function_gets_its_own_tree():
    A = te.placeholder((8, 64), "float32", name="A")
    k1 = te.reduce_axis((0, 64), name="k1")
    k2 = te.reduce_axis((0, 64), name="k2")
    M = te.compute((8,), lambda i: te.max(A[i, k1], axis=k1), name="M")
    S = te.compute((8,), lambda i: te.sum(te.exp(A[i, k2] - M[i]), axis=k2), name="S")
    sch = tvmscript.Schedule(te.create_prim_func([A, S]))
    for name in ("M", "S"):
        i, k = sch.get_loops(sch.get_block(name))
        sch.bind(i, "blockIdx.x")
        _, k_inner = sch.split(k, [None, 32])
        sch.bind(k_inner, "threadIdx.x")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((8, 64)).astype("float32")
    s = np.zeros(8, "float32")
    lowered = lower_and_run(sch.mod, a, s)
    text = lowered.script()
    assert 'T.block("M_cross_thread")' in text and 'T.block("S_cross_thread")' in text
    np.testing.assert_allclose(s, np.exp(a - a.max(axis=1, keepdims=True)).sum(axis=1),
                               rtol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@example(threads=1, reps=2, extra=0, reducer="sum", dtype="float32")
@example(threads=1024, reps=1, extra=0, reducer="max", dtype="float32")
@example(threads=1000, reps=2, extra=5, reducer="min", dtype="int32")
@given(threads=st.integers(1, 1024), reps=st.integers(1, 3), extra=st.integers(0, 5),
       reducer=st.sampled_from(sorted(NUMPY)), dtype=st.sampled_from(["float32", "int32"]))
def test_any_thread_count_and_reducer_gives_numpy(threads, reps, extra, reducer, dtype):
    n = threads * reps - min(extra, threads - 1)
    rng = np.random.default_rng(threads)
    if reducer == "prod":
        a = rng.choice([-1, 1], (2, n)) if dtype == "int32" else rng.uniform(0.999, 1.001, (2, n))
    else:
        a = rng.integers(-50, 50, (2, n)) if dtype == "int32" else rng.standard_normal((2, n))
    a = a.astype(dtype)
    b = np.zeros(2, dtype)
    lower_and_run(bind_rows_and_threads(row_reduction(2, n, reducer, dtype), "B", threads),
                  a, b)
    np.testing.assert_allclose(b, NUMPY[reducer](a, axis=1), rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- errors


def _thread_reduction(update: str, init: str = "T.float32(0)", k_tag: str = "threadIdx.x"):
    return tvmscript.from_source(f'''
@T.prim_func
def f(A: T.Buffer((4, 32), "float32"), B: T.Buffer((4,), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.y"):
        for k in T.thread_binding(32, thread="{k_tag}"):
            with T.block("B"):
                vi, vk = T.axis.remap("SR", [i, k])
                T.reads(A[vi, vk], B[vi])
                T.writes(B[vi])
                with T.init():
                    B[vi] = {init}
                {update}
''')


def _error(func) -> str:
    with pytest.raises(CrossThreadReductionError) as info:
        get_pass(LOWER)(func)
    return str(info.value)


def test_non_associative_reducer_is_refused():
    func = _thread_reduction("B[vi] = B[vi] - A[vi, vk]")
    before = func.script()
    assert _error(func) == (
        "cross-thread reduction of block 'B': the body of block `B` is not a single store "
        "`X[idx] = X[idx] op rhs` with op one of + * max min")
    assert func.script() == before


def test_init_that_is_not_the_identity_is_refused():
    message = _error(_thread_reduction("B[vi] = B[vi] + A[vi, vk]", init="T.float32(1)"))
    assert message.startswith("cross-thread reduction of block 'B': the init of block `B` "
                              "stores")
    assert "not the identity of its `add` reduction" in message


def test_reduction_bound_to_blockIdx_is_refused():
    message = _error(_thread_reduction("B[vi] = B[vi] + A[vi, vk]", k_tag="blockIdx.x"))
    assert message == ("cross-thread reduction of block 'B': reduction loop `k` is bound to "
                       "blockIdx.x; only threadIdx.* loops can share a reduction")


def test_decomposed_reduction_is_refused():
    func = row_reduction(4, 64, "sum")
    sch = tvmscript.Schedule(func)
    i, k = sch.get_loops(sch.get_block("B"))
    sch.bind(i, "blockIdx.x")
    _, k_inner = sch.split(k, [None, 32])
    sch.bind(k_inner, "threadIdx.x")
    sch.decompose_reduction(sch.get_block("B"), sch.get_loops(sch.get_block("B"))[1])
    assert _error(sch.mod).startswith("cross-thread reduction of block 'B': the block has no "
                                      "T.init()")


def test_loop_with_other_statements_is_refused():
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((4, 64), "float32"), B: T.Buffer((4,), "float32"), C: T.Buffer((4,), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.x"):
        for k_0 in range(2):
            with T.block("C"):
                vi = T.axis.spatial(4, i)
                T.reads()
                T.writes(C[vi])
                C[vi] = T.float32(1)
            for k_1 in T.thread_binding(32, thread="threadIdx.x"):
                with T.block("B"):
                    vi = T.axis.spatial(4, i)
                    vk = T.axis.reduce(64, k_0 * 32 + k_1)
                    T.reads(A[vi, vk])
                    T.writes(B[vi])
                    with T.init():
                        B[vi] = T.float32(0)
                    B[vi] = B[vi] + A[vi, vk]
''')
    assert _error(func) == (
        "cross-thread reduction of block 'B': the loops from `k_0` down to the block are not a "
        "perfect nest (loop `k_0` holds other statements)")


def test_thread_loop_feeding_rows_and_reduction_is_refused():
    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((4, 8), "float32"), B: T.Buffer((4,), "float32")):
    for t in T.thread_binding(32, thread="threadIdx.x"):
        with T.block("B"):
            vi = T.axis.spatial(4, t // 8)
            vk = T.axis.reduce(8, t % 8)
            T.reads(A[vi, vk])
            T.writes(B[vi])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
''')
    assert _error(func) == ("cross-thread reduction of block 'B': loop `t` feeds both spatial "
                            "and reduction iterators")


# ---------------------------------------------------------------- lower-warp-reduction

FOUR_THREAD_TREE = '''
@T.prim_func
def f(A: T.Buffer((2, 8), "float32"), B: T.Buffer((2,), "float32")):
    for i in T.thread_binding(2, thread="blockIdx.x"):
        with T.block("B_cross_thread"):
            T.reads(A[i, 0:8])
            T.writes(B[i])
            B_in_thread = T.alloc_buffer((1,), "float32", scope="local")
            B_red = T.alloc_buffer((4,), "float32", scope="shared")
            for k_1 in T.thread_binding(4, thread="threadIdx.x"):
                B_in_thread[0] = T.float32(0)
                for k_0 in range(2):
                    with T.block("B_in_thread"):
                        vi = T.axis.spatial(2, i)
                        vk = T.axis.reduce(8, k_0 * 4 + k_1)
                        T.reads(B_in_thread[0], A[vi, vk])
                        T.writes(B_in_thread[0])
                        B_in_thread[0] = B_in_thread[0] + A[vi, vk]
                B_red[k_1] = B_in_thread[0]
            %s
            for t in T.thread_binding(4, thread="threadIdx.x"):
                if t == 0:
                    B[i] = B_red[0]
'''


STAGES = '''for t in T.thread_binding(4, thread="threadIdx.x"):
                if t < 2:
                    B_red[t] = B_red[t] + B_red[t + 2]
            for t in T.thread_binding(4, thread="threadIdx.x"):
                if t < 1:
                    B_red[t] = B_red[t] + B_red[t + 1]'''


def test_warp_shuffles_replace_the_last_stages():
    shuffles = '''B_red_warp = T.alloc_buffer((1,), "float32", scope="local")
            B_red_mask = T.alloc_buffer((1,), "int32", scope="local")
            for t in T.thread_binding(4, thread="threadIdx.x"):
                B_red_mask[0] = T.tvm_warp_activemask()
                B_red_warp[0] = B_red[t]
                B_red_warp[0] = B_red_warp[0] + T.tvm_warp_shuffle_down(
                    B_red_mask[0], B_red_warp[0], 2, 4, 32)
                B_red_warp[0] = B_red_warp[0] + T.tvm_warp_shuffle_down(
                    B_red_mask[0], B_red_warp[0], 1, 4, 32)
                if t == 0:
                    B_red[0] = B_red_warp[0]'''
    check("lower-warp-reduction", FOUR_THREAD_TREE % STAGES, FOUR_THREAD_TREE % shuffles)


def test_trees_whose_other_slots_are_read_later_are_left_alone():
    func = tvmscript.from_source((FOUR_THREAD_TREE % STAGES).replace("B[i] = B_red[0]",
                                                                     "B[i] = B_red[1]"))
    assert get_pass("lower-warp-reduction")(func) is func


def _shuffle_deltas(mod) -> list[int]:
    found: list[int] = []

    def visit(node) -> None:
        if isinstance(node, Call) and node.op == "tir.tvm_warp_shuffle_down":
            found.append(node.args[2].value)

    post_order_visit(mod, visit)
    return found


def test_rows_of_whole_warps_keep_shared_stages_above_the_warp():
    mod = bind_rows_and_threads(row_reduction(8, 256, "max"), "B", 128, rows_per_block=2)
    lowered = get_pass("lower-warp-reduction")(get_pass(LOWER)(mod))
    tvmscript.assert_structural_equal(tvmscript.from_source(lowered.script()), lowered)
    assert stage_guards(lowered) == [64, 32, 32]  # two shared stages, then `if lane < 32`
    assert sorted(_shuffle_deltas(lowered)) == [1, 2, 4, 8, 16]


def test_trees_whose_warps_would_mix_rows_stay_in_shared_memory():
    mod = get_pass(LOWER)(bind_rows_and_threads(row_reduction(4, 96, "sum"), "B", 48))
    assert get_pass("lower-warp-reduction")(mod) is mod


def test_warp_shuffles_are_on_unless_configured_off():
    both = [LOWER, "lower-warp-reduction"]
    assert [p.name for p in cross_thread_reduction_passes(PassContext())] == both
    ctx = PassContext(config={WARP_REDUCTION: False})
    assert [p.name for p in cross_thread_reduction_passes(ctx)] == [LOWER]


# ---------------------------------------------------------------- the full GPU lowering


def _emulate_kernel(mod, arrays: dict[str, np.ndarray]) -> None:
    """Lower ``mod`` for the GPU and run its one kernel in the emulator on ``arrays`` (by
    buffer name)."""
    from backends.cuda.emulator import emulate
    from passes.gpu_pipeline import GPULimits, lower_gpu

    lowered = lower_gpu(mod, GPULimits())
    (kernel,) = [f for f in lowered.functions.values()
                 if isinstance(f, tvmscript.ir.PrimFunc) and f.attrs.get("tvmscript.kernel")]
    emulate(kernel, [arrays[kernel.buffer_map[p].name] for p in kernel.params])


@pytest.mark.parametrize("threads, rows_per_block", [(32, 0), (100, 0), (64, 2)])
def test_row_sum_lowered_for_the_gpu_and_emulated(threads: int, rows_per_block: int):
    mod = bind_rows_and_threads(row_reduction(8, 200, "sum"), "B", threads, rows_per_block)
    rng = np.random.default_rng(6)
    a = rng.standard_normal((8, 200)).astype("float32")
    b = np.zeros(8, "float32")
    _emulate_kernel(mod, {"A": a, "B": b})
    np.testing.assert_allclose(b, a.sum(axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads, rows_per_block", [(8, 4), (64, 0), (128, 2)])
def test_warp_reduction_emulated(threads: int, rows_per_block: int):
    mod = bind_rows_and_threads(row_reduction(8, 256, "max"), "B", threads, rows_per_block)
    mod = get_pass("lower-warp-reduction")(get_pass(LOWER)(mod))
    assert _shuffle_deltas(mod)
    rng = np.random.default_rng(9)
    a = rng.standard_normal((8, 256)).astype("float32")
    b = np.zeros(8, "float32")
    _emulate_kernel(mod, {"A": a, "B": b})
    np.testing.assert_array_equal(b, a.max(axis=1))


@settings(max_examples=20, deadline=None, derandomize=True)
@example(threads=1024, rows=0, reducer="sum", warp=True)
@example(threads=33, rows=2, reducer="min", warp=False)
@given(threads=st.integers(1, 512), rows=st.sampled_from([0, 2]),
       reducer=st.sampled_from(sorted(NUMPY)), warp=st.booleans())
def test_any_thread_count_on_the_emulator_gives_numpy(threads, rows, reducer, warp):
    n = 2 * threads - 1
    mod = bind_rows_and_threads(row_reduction(4, n, reducer), "B", threads, rows)
    if warp:
        mod = get_pass("lower-warp-reduction")(get_pass(LOWER)(mod))
    rng = np.random.default_rng(threads)
    a = rng.uniform(0.999, 1.001, (4, n)).astype("float32")
    b = np.zeros(4, "float32")
    _emulate_kernel(mod, {"A": a, "B": b})
    np.testing.assert_allclose(b, NUMPY[reducer](a, axis=1), rtol=1e-5)


@needs_nvrtc
def test_scheduled_row_sum_builds_for_the_emulator_target():
    mod = bind_rows_and_threads(row_reduction(16, 300, "sum"), "B", 96, rows_per_block=2)
    rng = np.random.default_rng(10)
    a = rng.standard_normal((16, 300)).astype("float32")
    b = np.zeros(16, "float32")
    tvmscript.build(mod, target="cuda-emulator")["main"](a, b)
    np.testing.assert_allclose(b, a.sum(axis=1), rtol=1e-5, atol=1e-5)


@needs_nvrtc
def test_warp_reduction_compiles_with_nvrtc():
    mod = bind_rows_and_threads(row_reduction(8, 256, "max"), "B", 64, rows_per_block=2)
    mod = get_pass("lower-warp-reduction")(get_pass(LOWER)(mod))
    built = tvmscript.build(mod, target="cuda")
    assert built.get_source().count("__shfl_down_sync(") == 5
    assert ".entry main_kernel" in built.get_ptx()


@needs_gpu
def test_cross_thread_reductions_on_the_gpu():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((64, 1000)).astype("float32")
    for warp in (False, True):
        mod = bind_rows_and_threads(row_reduction(64, 1000, "max"), "B", 256, rows_per_block=2)
        if warp:
            mod = get_pass("lower-warp-reduction")(get_pass(LOWER)(mod))
        b = np.zeros(64, "float32")
        tvmscript.build(mod, target="cuda")["main"](a, b)
        np.testing.assert_array_equal(b, a.max(axis=1))
