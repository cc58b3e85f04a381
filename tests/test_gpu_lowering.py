"""GPU lowering (``passes.gpu_pipeline.lower_gpu``): the lowered form of the contract for the
tiled shared-memory matmul, a vector add and small kernels: printed text that re-parses to the
same module, launches, compacted allocations, barriers (RAW and WAR), the host launcher, the
device-limit and host-statement errors, and user-written barriers kept as written. Numbers come
from the CUDA emulator (``backends.cuda.emulator``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from passes import PassContext
from passes.gpu_pipeline import GPULimits, gpu_pipeline, lower_gpu
from passes.inject_storage_sync import SyncPlacementError
from passes.lower_thread_binding import ThreadBindingError
from passes.lower_warp_memory import WarpMemoryError
from passes.split_host_device import HostCodeError
from passes.verify_gpu_code import GPULimitError
from tests.pass_testing import check
from tests.test_schedule_gpu import Tiling, matmul_source, schedule_matmul
from tvmscript import Schedule
from tvmscript.ir import (
    Allocate,
    AttrStmt,
    BufferStore,
    Call,
    Evaluate,
    For,
    IfThenElse,
    PrimFunc,
    Ramp,
    post_order_visit,
)


def lower(mod, limits: GPULimits | None = None):
    """``lower_gpu`` plus the round trip every test relies on: the printed module parses back
    to the same IR."""
    lowered = lower_gpu(mod, limits or GPULimits())
    tvmscript.assert_structural_equal(tvmscript.from_source(lowered.script()), lowered)
    return lowered


def nodes(stmt, cls) -> list:
    found = []
    post_order_visit(stmt, lambda n: found.append(n) if isinstance(n, cls) else None)
    return found


def launches(kernel: PrimFunc) -> dict[str, int]:
    return {a.node.thread_tag: a.value.value for a in nodes(kernel.body, AttrStmt)
            if a.attr_key == "thread_extent"}


def allocations(kernel: PrimFunc) -> dict[str, tuple[int, str]]:
    return {a.buffer_var.name: (a.extents[0].value, a.scope) for a in nodes(kernel.body, Allocate)}


def is_sync(stmt) -> bool:
    return (isinstance(stmt, Evaluate) and isinstance(stmt.value, Call)
            and stmt.value.op == "tir.tvm_storage_sync")


def emulate(mod, name: str, *arrays: np.ndarray) -> None:
    from backends.cuda.emulator import emulate as run

    run(mod[name], list(arrays))


# ---------------------------------------------------------------- the tiled matmul


def test_tiled_matmul_is_lowered_to_one_kernel_and_a_launcher():
    mod = lower(schedule_matmul(Tiling(n=64)).mod)
    assert sorted(mod.functions) == ["matmul", "matmul_kernel"]
    host, kernel = mod["matmul"], mod["matmul_kernel"]
    assert dict(kernel.attrs) == {"global_symbol": "matmul_kernel", "tvmscript.kernel": True,
                                  "tir.noalias": True}
    assert host.attrs["tvmscript.host"] is True
    # the host only launches, passing the buffers' data in the kernel's parameter order
    (call,) = [s.value for s in nodes(host.body, Evaluate)]
    assert host.body.value is call and call.op == "tir.call_extern"
    assert call.args[0].value == "matmul_kernel"
    assert list(call.args[1:]) == [b.data for b in host.buffers]
    assert [(b.name, b.shape[0].value) for b in kernel.buffers] == [
        ("A", 4096), ("B", 4096), ("C", 4096)]
    assert launches(kernel) == {"blockIdx.y": 4, "blockIdx.x": 4, "threadIdx.y": 8,
                                "threadIdx.x": 8}
    # a 16x8 tile of A and an 8x16 tile of B per block, 2x2 accumulators per thread
    assert allocations(kernel) == {"A_shared": (128, "shared"), "B_shared": (128, "shared"),
                                   "C_local": (4, "local")}


def test_matmul_barriers_guard_the_tile_refill_and_its_reads():
    kernel = lower(schedule_matmul(Tiling(n=64)).mod)["matmul_kernel"]
    (k_0,) = [f for f in nodes(kernel.body, For) if f.loop_var.name == "k_0"]
    kinds = ["sync" if is_sync(s) else type(s).__name__ for s in k_0.body.seq]
    # WAR: the next k_0 refills the tiles the previous one read; RAW: reads after the fill
    assert kinds == ["sync", "BufferStore", "BufferStore", "sync", "For"]
    assert len([s for s in nodes(kernel.body, Evaluate) if is_sync(s)]) == 2


def test_vectorized_cooperative_fetch_is_float32x4():
    kernel = lower(schedule_matmul(Tiling(n=64, ty=4, tx=8, vec=4)).mod)["matmul_kernel"]
    stores = [s for s in nodes(kernel.body, BufferStore) if s.buffer.name == "B_shared"]
    (store,) = stores
    assert isinstance(store.indices[0], Ramp) and store.indices[0].lanes == 4
    assert str(store.value.dtype) == "float32x4"


def test_guarded_fetch_compacts_to_the_tile():
    """A fetch split past its extent (128 slots for a 64-element tile, ``T.where(f < 64)``)
    still allocates the tile only."""
    kernel = lower(schedule_matmul(Tiling(n=64, ty=4, tx=8, vec=4)).mod)["matmul_kernel"]
    assert allocations(kernel)["A_shared"] == (64, "shared")
    assert allocations(kernel)["B_shared"] == (128, "shared")


def test_tiled_matmul_kernel_computes_the_product():
    mod = lower(schedule_matmul(Tiling(n=64)).mod)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((64, 64)).astype("float32") for _ in range(2))
    c = np.zeros((64, 64), "float32")
    emulate(mod, "matmul_kernel", a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


@settings(max_examples=5, deadline=None)
@given(ty=st.sampled_from([2, 4]), tx=st.sampled_from([2, 4, 8]), ri=st.sampled_from([1, 2]),
       rj=st.sampled_from([1, 2]), kt=st.sampled_from([4, 8]), vec=st.sampled_from([1, 2, 4]))
def test_every_tiling_lowers_to_its_tiles(ty, tx, ri, rj, kt, vec):
    t = Tiling(n=32, ty=ty, tx=tx, ri=ri, rj=rj, kt=kt, vec=vec)
    mod = lower(schedule_matmul(t).mod)
    kernel = mod["matmul_kernel"]
    assert launches(kernel) == {"blockIdx.y": 32 // (ty * ri), "blockIdx.x": 32 // (tx * rj),
                                "threadIdx.y": ty, "threadIdx.x": tx}
    shared = {n: e for n, (e, scope) in allocations(kernel).items() if scope == "shared"}
    assert shared == {"A_shared": ty * ri * kt, "B_shared": kt * tx * rj}
    assert allocations(kernel)["C_local"] == (ri * rj, "local")
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((32, 32)).astype("float32") for _ in range(2))
    c = np.zeros((32, 32), "float32")
    emulate(mod, "matmul_kernel", a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def shared_write_cache() -> tvmscript.ir.IRModule:
    """C accumulated in shared memory by an 8x8 block of threads, written back by 64 threads
    bound to threadIdx.x alone (the loops of different shapes share the x launch)."""
    sch = Schedule(tvmscript.from_source(matmul_source(32)))
    c = sch.get_block("C")
    c_shared = sch.cache_write(c, 0, "shared")
    i, j, k = sch.get_loops(c)
    by, ty = sch.split(i, [None, 8])
    bx, tx = sch.split(j, [None, 8])
    sch.reorder(by, bx, ty, tx, k)
    for loop, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                      (tx, "threadIdx.x")):
        sch.bind(loop, tag)
    sch.reverse_compute_at(c_shared, bx)
    _, t = sch.split(sch.fuse(*sch.get_loops(c_shared)[-2:]), [None, 64])
    sch.bind(t, "threadIdx.x")
    return sch.mod


def test_shared_write_cache_waits_for_the_tile_before_the_write_back():
    kernel = lower(shared_write_cache())["matmul_kernel"]
    assert launches(kernel) == {"blockIdx.y": 4, "blockIdx.x": 4, "threadIdx.y": 8,
                                "threadIdx.x": 64}
    assert allocations(kernel) == {"C_shared": (64, "shared")}
    kinds = ["sync" if is_sync(s) else type(s).__name__ for s in kernel_statements(kernel)]
    assert kinds == ["IfThenElse", "sync", "BufferStore"]  # compute (tx < 8), RAW, write back
    mod = lower(shared_write_cache())
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((32, 32)).astype("float32") for _ in range(2))
    c = np.zeros((32, 32), "float32")
    emulate(mod, "matmul_kernel", a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def kernel_statements(kernel: PrimFunc) -> list:
    """The statements of a kernel under its launches and allocations."""
    body = kernel.body
    while hasattr(body, "body") and not isinstance(body, (For, IfThenElse)):
        body = body.body
    return list(body.seq) if hasattr(body, "seq") else [body]


def test_a_local_stage_shrinks_to_one_threads_row():
    """``A_local`` computed under ``threadIdx.x`` holds the one row of A that the thread's
    outputs need (16 elements), in serial loops that every thread of the block runs."""
    sch = Schedule(tvmscript.from_source(matmul_source(16)))
    c = sch.get_block("C")
    i, j, _ = sch.get_loops(c)
    by, ty = sch.split(i, [None, 8])
    bx, tx = sch.split(j, [None, 8])
    sch.reorder(by, bx, ty, tx)
    sch.bind(by, "blockIdx.y")
    sch.bind(tx, "threadIdx.x")
    sch.compute_at(sch.cache_read(c, 0, "local"), tx)
    mod = lower(sch.mod)
    assert allocations(mod["matmul_kernel"]) == {"A_local": (16, "local")}
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((16, 16)).astype("float32") for _ in range(2))
    out = np.zeros((16, 16), "float32")
    emulate(mod, "matmul_kernel", a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- vector add

VADD = '''
@T.prim_func
def vadd(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"),
         C: T.Buffer((1024,), "float32")):
    for i in range(1024):
        with T.block("C"):
            vi = T.axis.spatial(1024, i)
            C[vi] = A[vi] + B[vi]
'''

VADD_LOWERED = '''
@I.ir_module
class Module:
    @T.prim_func
    def vadd(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"),
             C: T.Buffer((1024,), "float32")):
        T.func_attr({"tvmscript.host": True})
        T.call_extern("int32", "vadd_kernel", A.data, B.data, C.data)

    @T.prim_func
    def vadd_kernel(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"),
                    C: T.Buffer((1024,), "float32")):
        T.func_attr({"tvmscript.kernel": True, "tir.noalias": True})
        bx = T.launch_thread("blockIdx.x", 4)
        tx = T.launch_thread("threadIdx.x", 64)
        C[bx * 256 + tx * 4:bx * 256 + tx * 4 + 4] = (
            A[bx * 256 + tx * 4:bx * 256 + tx * 4 + 4] + B[bx * 256 + tx * 4:bx * 256 + tx * 4 + 4])
'''


def scheduled_vadd() -> tvmscript.ir.IRModule:
    sch = Schedule(tvmscript.from_source(VADD))
    (i,) = sch.get_loops(sch.get_block("C"))
    bx, tx, v = sch.split(i, [None, 64, 4])
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    sch.vectorize(v)
    return sch.mod


def test_vector_add_lowers_to_float4_accesses():
    mod = lower(scheduled_vadd())
    tvmscript.assert_structural_equal(mod, tvmscript.from_source(VADD_LOWERED))
    (store,) = nodes(mod["vadd_kernel"].body, BufferStore)
    assert str(store.value.dtype) == "float32x4"


def test_vector_add_kernel_adds():
    mod = lower(scheduled_vadd())
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(1024).astype("float32") for _ in range(2))
    c = np.zeros(1024, "float32")
    emulate(mod, "vadd_kernel", a, b, c)
    np.testing.assert_allclose(c, a + b)


# ---------------------------------------------------------------- barriers

REVERSE = '''
@T.prim_func
def rev(A: T.Buffer((256,), "float32"), B: T.Buffer((4, 64), "float32")):
    S = T.alloc_buffer((4, 64), "float32", scope="shared")
    for b in T.thread_binding(4, thread="blockIdx.x"):
        for k in range(4):
            for t in T.thread_binding(64, thread="threadIdx.x"):
                with T.block("S"):
                    S[b, t] = A[k * 64 + t]
            for t in T.thread_binding(64, thread="threadIdx.x"):
                with T.block("B"):
                    B[b, t] = B[b, t] + S[b, 63 - t]
'''

REVERSE_KERNEL = '''
@T.prim_func
def rev_kernel(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    T.func_attr({"global_symbol": "rev_kernel", "tvmscript.kernel": True, "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    S_1 = T.decl_buffer((64,), "float32", data=S, scope="shared")
    for k in range(4):
        T.tvm_storage_sync("shared")
        S_1[tx] = A[k * 64 + tx]
        T.tvm_storage_sync("shared")
        B[bx * 64 + tx] = B[bx * 64 + tx] + S_1[63 - tx]
'''


REVERSE_PLANNED = '''
@T.prim_func
def rev(A: T.Buffer((256,), "float32"), B: T.Buffer((4, 64), "float32")):
    for b in T.thread_binding(4, thread="blockIdx.x"):
        for k in range(4):
            with T.block("S_alloc"):
                T.reads(A[k * 64:k * 64 + 64], B[b, 0:64])
                T.writes(B[b, 0:64])
                S = T.alloc_buffer((1, 64), "float32", scope="shared")
                for t in T.thread_binding(64, thread="threadIdx.x"):
                    with T.block("S"):
                        T.reads(A[k * 64 + t])
                        T.writes(S[0, t])
                        S[0, t] = A[k * 64 + t]
                for t in T.thread_binding(64, thread="threadIdx.x"):
                    with T.block("B"):
                        T.reads(B[b, t], S[0, 63 - t])
                        T.writes(B[b, t])
                        B[b, t] = B[b, t] + S[0, 63 - t]
'''


def test_plan_gpu_buffers_moves_the_shared_buffer_into_the_block_and_shrinks_it():
    """All uses of ``S`` lie in one iteration of ``k`` (above the thread loops): it is
    allocated there, one row of it, indices rebased by ``b``."""
    check("plan-gpu-buffers", REVERSE, REVERSE_PLANNED)


def test_barriers_before_reads_of_other_threads_and_before_the_refill():
    """The tile row is compacted to 64 elements per block; RAW before the reversed read,
    WAR at the head of the loop (the next iteration overwrites what this one read)."""
    mod = lower(tvmscript.from_source(REVERSE))
    tvmscript.assert_structural_equal(mod["rev_kernel"], tvmscript.from_source(REVERSE_KERNEL))


def test_barriers_make_the_reversal_race_free():
    mod = lower(tvmscript.from_source(REVERSE))
    a = np.arange(256, dtype="float32")
    b = np.zeros((4, 64), "float32")
    emulate(mod, "rev_kernel", a, b)
    want = sum(a[k * 64:(k + 1) * 64][::-1] for k in range(4))
    np.testing.assert_allclose(b, np.broadcast_to(want, (4, 64)))


SAME_THREAD = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    S = T.alloc_buffer((64,), "float32", scope="shared")
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("S"):
            S[t] = A[t] * T.float32(2)
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("B"):
            B[t] = S[t] + T.float32(1)
'''


def test_no_barrier_when_each_thread_reads_what_it_wrote():
    kernel = lower(tvmscript.from_source(SAME_THREAD))["f_kernel"]
    assert not [s for s in nodes(kernel.body, Evaluate) if is_sync(s)]


ONE_WRITER = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    S = T.alloc_buffer((1,), "float32", scope="shared")
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("S"):
            if t == 0:
                S[0] = A[0] * T.float32(2)
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("B"):
            B[t] = S[0] + A[t]
'''


def test_a_value_written_by_thread_0_is_read_by_all_after_a_barrier():
    """``if t == 0`` pins only the writer: the readers are every thread, so a barrier goes
    between them."""
    mod = lower(tvmscript.from_source(ONE_WRITER))
    kinds = ["sync" if is_sync(s) else type(s).__name__
             for s in kernel_statements(mod["f_kernel"])]
    assert kinds == ["IfThenElse", "sync", "BufferStore"]


def test_no_barrier_when_thread_0_reads_what_it_wrote():
    text = ONE_WRITER.replace("B[t] = S[0] + A[t]",
                              "if t == 0:\n                B[t] = S[0] + A[t]")
    mod = lower(tvmscript.from_source(text))
    assert not [s for s in nodes(mod["f_kernel"].body, Evaluate) if is_sync(s)]


def test_a_value_written_by_thread_0_reaches_every_thread_without_a_race():
    mod = lower(tvmscript.from_source(ONE_WRITER))
    a = np.arange(64, dtype="float32") + 3
    b = np.zeros(64, "float32")
    emulate(mod, "f_kernel", a, b)  # race checking is on
    np.testing.assert_array_equal(b, a[0] * 2 + a)


CROSSED_PINS = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((8, 8), "float32")):
    S = T.alloc_buffer((8,), "float32", scope="shared")
    for ty in T.thread_binding(8, thread="threadIdx.y"):
        for tx in T.thread_binding(8, thread="threadIdx.x"):
            with T.block("S"):
                if tx == 0:
                    S[ty] = A[ty]
    for ty in T.thread_binding(8, thread="threadIdx.y"):
        for tx in T.thread_binding(8, thread="threadIdx.x"):
            with T.block("B"):
                if ty == 0:
                    B[ty, tx] = S[tx]
'''


def test_a_barrier_between_accesses_pinned_on_different_threads():
    """Thread (0, 5) writes ``S[5]``, thread (5, 0) reads it: not one thread."""
    kernel = lower(tvmscript.from_source(CROSSED_PINS))["f_kernel"]
    kinds = ["sync" if is_sync(s) else type(s).__name__ for s in kernel_statements(kernel)]
    assert kinds == ["IfThenElse", "sync", "IfThenElse"]


PINNED_STAGES = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    S = T.alloc_buffer((64,), "float32", scope="shared")
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("S"):
            S[t] = A[t]
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("W"):
            if PIN_W:
                S[INDEX_W] = A[INDEX_W] + T.float32(100)
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("B"):
            if PIN_R:
                B[t] = S[INDEX_R]
'''
PINS = {"True": lambda t: True, "t == 0": lambda t: t == 0, "t == 5": lambda t: t == 5}
INDICES = {"t": lambda t: t, "0": lambda t: 0, "5": lambda t: 5, "63 - t": lambda t: 63 - t}


@settings(max_examples=15, deadline=None, derandomize=True)
@given(pin_w=st.sampled_from(sorted(PINS)), index_w=st.sampled_from(sorted(INDICES)),
       pin_r=st.sampled_from(sorted(PINS)), index_r=st.sampled_from(sorted(INDICES)))
def test_pinned_writes_and_reads_get_the_barriers_they_need(pin_w, index_w, pin_r, index_r):
    """Whatever thread each stage is pinned to, the lowered kernel runs without a race and
    computes what the stages compute one after another."""
    if pin_w == "True" and index_w in ("0", "5"):
        index_w = "t"  # all threads writing one element is the user's race, not a barrier's
    text = PINNED_STAGES
    for key, value in (("PIN_W", pin_w), ("INDEX_W", index_w), ("PIN_R", pin_r),
                       ("INDEX_R", index_r)):
        text = text.replace(key, value)
    a = np.arange(64, dtype="float32")
    shared = a.copy()
    for t in range(64):
        if PINS[pin_w](t):
            shared[INDICES[index_w](t)] = a[INDICES[index_w](t)] + 100
    want = np.zeros(64, "float32")
    for t in range(64):
        if PINS[pin_r](t):
            want[t] = shared[INDICES[index_r](t)]
    b = np.zeros(64, "float32")
    emulate(lower(tvmscript.from_source(text)), "f_kernel", a, b)
    np.testing.assert_array_equal(b, want)


USER_SYNC = '''
@T.prim_func
def k(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    Sb[tx] = A[bx * 64 + tx]
    T.tvm_storage_sync("shared")
    B[bx * 64 + tx] = Sb[63 - tx]
    Sb[tx] = B[bx * 64 + tx]
    B[bx * 64 + tx] = Sb[(tx + 1) % 64]
'''


def test_user_written_barriers_are_taken_as_written():
    """The second exchange lacks a barrier (WAR and RAW): the user's, left for the emulator
    to report."""
    mod = lower(tvmscript.from_source(USER_SYNC))
    body = mod["k_kernel"].body
    assert len([s for s in nodes(body, Evaluate) if is_sync(s)]) == 1
    source = tvmscript.from_source(USER_SYNC)
    assert len([s for s in nodes(source.body, Evaluate) if is_sync(s)]) == 1


def test_the_missing_user_barrier_is_reported_by_the_emulator():
    from backends.cuda.emulator.errors import EmulatorRaceError

    mod = lower(tvmscript.from_source(USER_SYNC))
    a = np.arange(256, dtype="float32")
    with pytest.raises(EmulatorRaceError, match="Sb"):
        emulate(mod, "k_kernel", a, np.zeros(256, "float32"))


DIVERGENT = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    S = T.alloc_buffer((64,), "float32", scope="shared")
    for t in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("S"):
            if t < 32:
                S[t] = A[t]
                B[t] = S[63 - t]
'''


def test_a_barrier_needed_inside_thread_divergent_code_is_an_error():
    with pytest.raises(SyncPlacementError, match=r"function f: threads of a block write "
                       r"and read shared memory \(S\) inside `if tx < 32:`"):
        lower_gpu(tvmscript.from_source(DIVERGENT))


# ---------------------------------------------------------------- warp memory

WARP = '''
@T.prim_func
def w(A: T.Buffer((512,), "float16"), C: T.Buffer((512,), "float32")):
    ty = T.launch_thread("threadIdx.y", 2)
    tx = T.launch_thread("threadIdx.x", 32)
    AW = T.allocate([512], "float16", "warp")
    AWb = T.decl_buffer((512,), "float16", data=AW, scope="warp")
    for r in range(8):
        AWb[ty * 256 + tx * 8 + r] = A[ty * 256 + tx * 8 + r]
    for r in range(8):
        C[ty * 256 + tx * 8 + r] = T.Cast("float32", AWb[ty * 256 + tx * 8 + 7 - r])
'''

WARP_KERNEL = '''
@T.prim_func
def w_kernel(A: T.Buffer((512,), "float16"), C: T.Buffer((512,), "float32")):
    T.func_attr({"global_symbol": "w_kernel", "tvmscript.kernel": True, "tir.noalias": True})
    ty = T.launch_thread("threadIdx.y", 2)
    tx = T.launch_thread("threadIdx.x", 32)
    AW = T.allocate([16], "float16", "local")
    AWb = T.decl_buffer((16,), "float16", data=AW, scope="local")
    for r in range(8):
        AWb[r] = A[ty * 256 + tx * 8 + r]
    for r in range(8):
        C[ty * 256 + tx * 8 + r] = T.Cast("float32", AWb[7 - r])
'''


def test_warp_memory_becomes_each_lanes_registers():
    """Element ``ty * 256 + tx * 8 + r`` of the warp buffer is register ``r`` of lane ``tx``
    (the warp's own ``ty * 256`` offset dropped): 16 registers per thread."""
    mod = lower(tvmscript.from_source(WARP))
    tvmscript.assert_structural_equal(mod["w_kernel"], tvmscript.from_source(WARP_KERNEL))


def test_warp_memory_indexed_without_the_lane_is_refused():
    text = WARP.replace("AWb[ty * 256 + tx * 8 + 7 - r]", "AWb[ty * 256 + 7 - r]")
    with pytest.raises(WarpMemoryError, match=r"warp buffer `AW`: every index must hold the "
                       r"lane as `threadIdx.x \* c` with one c > 0"):
        lower_gpu(tvmscript.from_source(text))


# ---------------------------------------------------------------- thread launches

SIBLINGS = '''
@T.prim_func
def f(A: T.Buffer((256,), "float32"), B: T.Buffer((128,), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.x"):
        for j in T.thread_binding(64, thread="threadIdx.x"):
            with T.block("A"):
                A[i * 64 + j] = A[i * 64 + j] + T.float32(1)
        for j in T.thread_binding(32, thread="threadIdx.x"):
            with T.block("B"):
                B[i * 32 + j] = T.float32(2)
'''

SIBLINGS_KERNEL = '''
@T.prim_func
def f_kernel(A: T.Buffer((256,), "float32"), B: T.Buffer((128,), "float32")):
    T.func_attr({"global_symbol": "f_kernel", "tvmscript.kernel": True, "tir.noalias": True})
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    A[bx * 64 + tx] = A[bx * 64 + tx] + T.float32(1)
    if tx < 32:
        B[bx * 32 + tx] = T.float32(2)
'''


def test_sibling_loops_share_one_launch_with_a_guard_for_the_shorter():
    mod = lower(tvmscript.from_source(SIBLINGS))
    tvmscript.assert_structural_equal(mod["f_kernel"], tvmscript.from_source(SIBLINGS_KERNEL))
    assert len(nodes(mod["f_kernel"].body, IfThenElse)) == 1


NESTED = '''
@T.prim_func
def f(A: T.Buffer((256,), "float32"), B: T.Buffer((128,), "float32")):
    for i in T.thread_binding(4, thread="blockIdx.x"):
        for j in T.thread_binding(64, thread="threadIdx.x"):
            for j2 in T.thread_binding(128, thread="threadIdx.x"):
                with T.block("B"):
                    B[j2] = A[i * 64 + j]
'''


def test_an_inner_loop_longer_than_its_same_axis_outer_loop_is_refused():
    text = NESTED
    with pytest.raises(ThreadBindingError, match=r"loop `j2` bound to threadIdx.x \(extent "
                       r"128\) is inside loop `j` bound to the same axis with the smaller "
                       r"extent 64"):
        lower_gpu(tvmscript.from_source(text))


TWO_KERNELS = '''
@T.prim_func
def f(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    T_tmp = T.alloc_buffer((256,), "float32")
    for i in T.thread_binding(4, thread="blockIdx.x"):
        for j in T.thread_binding(64, thread="threadIdx.x"):
            with T.block("T"):
                T_tmp[i * 64 + j] = A[i * 64 + j] * T.float32(2)
    for i in T.thread_binding(8, thread="blockIdx.x"):
        for j in T.thread_binding(32, thread="threadIdx.x"):
            with T.block("B"):
                B[i * 32 + j] = T_tmp[255 - i * 32 - j]
'''


def test_intermediate_buffers_live_on_the_host_across_kernels():
    mod = lower(tvmscript.from_source(TWO_KERNELS))
    assert sorted(mod.functions) == ["f", "f_kernel", "f_kernel_1"]
    host = mod["f"]
    (alloc,) = nodes(host.body, Allocate)
    assert alloc.scope == "global" and alloc.extents[0].value == 256
    calls = [s.value for s in nodes(host.body, Evaluate)]
    assert [c.args[0].value for c in calls] == ["f_kernel", "f_kernel_1"]
    assert calls[0].args[1:] == (host.buffers[0].data, alloc.buffer_var)
    assert calls[1].args[1:] == (alloc.buffer_var, host.buffers[1].data)
    assert launches(mod["f_kernel_1"]) == {"blockIdx.x": 8, "threadIdx.x": 32}


SCALAR = '''
@T.prim_func
def f(a: T.handle, n: T.int32, alpha: T.float32):
    A = T.match_buffer(a, (n * 64,), "float32")
    for i in T.thread_binding(n, thread="blockIdx.x"):
        for j in T.thread_binding(64, thread="threadIdx.x"):
            with T.block("A"):
                A[i * 64 + j] = A[i * 64 + j] * alpha
'''


def test_scalars_follow_the_buffers_in_the_kernel_parameters():
    mod = lower(tvmscript.from_source(SCALAR))
    kernel, host = mod["f_kernel"], mod["f"]
    assert [p.name for p in kernel.params] == ["A", "n", "alpha"]
    (call,) = [s.value for s in nodes(host.body, Evaluate) if isinstance(s.value, Call)
               and s.value.op == "tir.call_extern"]
    assert [getattr(a, "name", None) for a in call.args[1:]] == ["A", "n", "alpha"]
    (bx,) = [a for a in nodes(kernel.body, AttrStmt) if a.node.thread_tag == "blockIdx.x"]
    assert bx.value is kernel.params[1]


# ---------------------------------------------------------------- errors

HOST_LOOP = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in T.thread_binding(64, thread="threadIdx.x"):
        with T.block("A"):
            A[i] = A[i] + T.float32(1)
    for i in range(64):
        with T.block("B"):
            B[i] = A[i]
'''


def test_a_statement_left_on_the_host_is_refused():
    with pytest.raises(HostCodeError, match=r"^statement `for i in range\(64\):` in "
                       r"function f runs on the host; bind its loops to blockIdx/threadIdx"):
        lower_gpu(tvmscript.from_source(HOST_LOOP))


HOST_BRANCH = '''
@T.prim_func
def f(a: T.handle, n: T.int32):
    A = T.match_buffer(a, (n,), "float32")
    if n >= 64:
        for i in T.thread_binding(64, thread="threadIdx.x"):
            with T.block("A"):
                A[i] = A[i] + T.float32(1)
'''


def test_the_host_may_branch_on_scalars_around_a_launch():
    mod = lower(tvmscript.from_source(HOST_BRANCH))
    body = mod["f"].body
    assert isinstance(body, IfThenElse) and isinstance(body.then_case, Evaluate)
    assert body.then_case.value.args[0].value == "f_kernel"


def test_a_host_loop_around_a_launch_is_refused():
    text = HOST_BRANCH.replace("if n >= 64:", "for r in range(2):")
    with pytest.raises(HostCodeError, match=r"^statement `for r in range\(2\):` in function "
                       r"f runs on the host; bind its loops to blockIdx/threadIdx"):
        lower_gpu(tvmscript.from_source(text))


@pytest.mark.parametrize("limits, message", [
    (GPULimits(max_threads_per_block=32),
     ("kernel 'matmul_kernel' launches 64 threads per block (threadIdx.x=8 x threadIdx.y=8); "
      "the target allows 32 (-max_threads_per_block)")),
    (GPULimits(max_shared_memory_per_block=1000),
     ("kernel 'matmul_kernel' uses 1024 bytes of shared memory per block (A_shared 512 + "
      "B_shared 512); the target allows 1000 (-max_shared_memory_per_block)")),
    (GPULimits(max_thread_y=4),
     ("kernel 'matmul_kernel' launches threadIdx.y=8 threads; the target allows 4 "
      "(max_thread_y)")),
])
def test_kernels_beyond_the_device_limits_are_refused(limits, message):
    mod = schedule_matmul(Tiling(n=64)).mod
    with pytest.raises(GPULimitError) as info:
        lower_gpu(mod, limits)
    assert str(info.value) == message


DYNAMIC_SHARED = '''
@T.prim_func
def k(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32")):
    bx = T.launch_thread("blockIdx.x", 4)
    tx = T.launch_thread("threadIdx.x", 64)
    S = T.allocate([64], "float32", "shared")
    Sb = T.decl_buffer((64,), "float32", data=S, scope="shared")
    D = T.allocate([512], "float32", "shared.dyn")
    Db = T.decl_buffer((512,), "float32", data=D, scope="shared.dyn")
    Sb[tx] = A[bx * 64 + tx]
    Db[tx] = A[bx * 64 + tx]
    T.tvm_storage_sync("shared")
    B[bx * 64 + tx] = Sb[63 - tx] + Db[63 - tx]
'''


def test_dynamic_shared_memory_counts_against_the_limit():
    mod = tvmscript.from_source(DYNAMIC_SHARED)
    with pytest.raises(GPULimitError) as info:
        lower_gpu(mod, GPULimits(max_shared_memory_per_block=2048))
    assert str(info.value) == (
        "kernel 'k_kernel' uses 2304 bytes of shared memory per block (D 2048 + S 256); the "
        "target allows 2048 (-max_shared_memory_per_block)")
    assert "k_kernel" in lower(mod, GPULimits(max_shared_memory_per_block=2304)).functions


SYMBOLIC_DYNAMIC_SHARED = '''
@T.prim_func
def h(a: T.handle, n: T.int32):
    A = T.match_buffer(a, (n,), "float32")
    bx = T.launch_thread("blockIdx.x", n)
    D = T.allocate([n], "float32", "shared.dyn")
    Db = T.decl_buffer((n,), "float32", data=D, scope="shared.dyn")
    Db[bx] = T.float32(1)
    A[bx] = Db[bx]
'''


def test_sizes_known_only_at_launch_are_left_to_the_host():
    """The grid and the dynamic shared memory depend on ``n``: nothing to check yet."""
    mod = lower(tvmscript.from_source(SYMBOLIC_DYNAMIC_SHARED),
                GPULimits(max_shared_memory_per_block=16, max_grid_x=8))
    assert "h_kernel" in mod.functions


GRID = '''
@T.prim_func
def g(A: T.Buffer((70000,), "float32")):
    b = T.launch_thread("blockIdx.y", 70000)
    A[b] = T.float32(1)
'''


@pytest.mark.parametrize("tag, limits, message", [
    ("blockIdx.y", GPULimits(),
     "kernel 'g_kernel' launches blockIdx.y=70000 blocks; the target allows 65535 (max_grid_y)"),
    ("blockIdx.z", GPULimits(),
     "kernel 'g_kernel' launches blockIdx.z=70000 blocks; the target allows 65535 (max_grid_z)"),
    ("blockIdx.x", GPULimits(max_grid_x=1024),
     "kernel 'g_kernel' launches blockIdx.x=70000 blocks; the target allows 1024 (max_grid_x)"),
])
def test_grids_beyond_the_device_limits_are_refused(tag, limits, message):
    mod = tvmscript.from_source(GRID.replace("blockIdx.y", tag))
    with pytest.raises(GPULimitError) as info:
        lower_gpu(mod, limits)
    assert str(info.value) == message


def test_a_grid_of_70000_blocks_fits_in_x():
    mod = lower(tvmscript.from_source(GRID.replace("blockIdx.y", "blockIdx.x")))
    assert "g_kernel" in mod.functions


def test_every_stage_of_the_pipeline_prints_and_parses_back():
    mod = schedule_matmul(Tiling(n=32, ty=4, tx=4, vec=2)).mod
    for p in gpu_pipeline().passes:
        mod = p(mod)
        text = mod.script()
        tvmscript.assert_structural_equal(tvmscript.from_source(text), mod)


def test_the_pipeline_reads_as_a_list_of_named_passes():
    names = [p.name for p in gpu_pipeline().passes]
    assert names == ["lower-cross-thread-reduction", "lower-warp-reduction", "lower-init-block",
                     "plan-gpu-buffers", "lower-blocks", "lower-thread-binding", "flatten-buffer",
                     "simplify", "lower-warp-memory", "vectorize-loop", "unroll-loop", "simplify",
                     "inject-storage-sync", "split-host-device", "verify-gpu-code"]
    with PassContext(config={"cuda.warp_reduction": False}):  # the shared-memory tree only
        assert "lower-warp-reduction" not in [p.name for p in gpu_pipeline().passes]


# ---------------------------------------------------------------- schedules that would lose work

TWO_CONSUMERS = '''
@T.prim_func
def main(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32"),
         C: T.Buffer((64,), "float32")):
    for i in range(64):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi] + 1.0
    for i in range(64):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = A[63 - vi] * 2.0
'''


def test_a_shared_stage_of_two_grids_is_refused():
    """Each separately bound nest is its own grid, so one shared buffer cannot serve them: the
    second grid would read what another block of the first wrote."""
    sch = Schedule(tvmscript.from_source(TWO_CONSUMERS))
    b, c = sch.get_block("B"), sch.get_block("C")
    stage = sch.cache_read(b, 0, "shared", consumer_blocks=[b, c])
    for blk in (b, c, stage):
        outer, inner = sch.split(sch.get_loops(blk)[0], [2, 32])
        sch.bind(outer, "blockIdx.x")
        sch.bind(inner, "threadIdx.x")
    with pytest.raises(ThreadBindingError, match=r"`A_shared` \(shared memory\) is used by loop "
                                                 r"nests bound to blockIdx separately"):
        lower_gpu(sch.mod)


def test_an_unbound_nest_inside_a_local_buffers_kernel_is_refused():
    func = tvmscript.from_source('''
@T.prim_func
def main(A: T.Buffer((2, 8), "float32"), C: T.Buffer((2, 8), "float32"),
         D: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((2, 8), "float32", scope="local")
    for i, j in T.grid(2, 8):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] + 1.0
    for i in T.thread_binding(2, thread="blockIdx.x"):
        for j in T.thread_binding(8, thread="threadIdx.x"):
            with T.block("C"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = B[vi, vj] * 2.0
''')
    with pytest.raises(ThreadBindingError, match=r"`B` \(local memory\) makes one kernel of the "
                                                 r"statements around it, but `B\[i, j\] = .*` is "
                                                 r"not inside a loop bound to blockIdx/threadIdx"):
        lower_gpu(tvmscript.ir.IRModule.from_function(func, "main"))


def test_a_thread_axis_nested_in_itself_may_only_fetch_into_shared_memory():
    func = tvmscript.from_source('''
@T.prim_func
def main(A: T.Buffer((4, 64), "float32"), B: T.Buffer((4, 64), "float32")):
    for i, j in T.grid(4, 64):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] + 1.0
''')
    sch = Schedule(func)
    i, j = sch.get_loops(sch.get_block("B"))
    sch.bind(i, "blockIdx.x")
    jo, ji = sch.split(j, [8, 8])
    sch.bind(jo, "threadIdx.x")
    sch.bind(ji, "threadIdx.x")
    with pytest.raises(ThreadBindingError, match=r"loop `j_1` is bound to threadIdx.x inside "
                                                 r"loop `j_0` bound to the same axis: .* this "
                                                 r"one writes `B` \(global memory\)"):
        lower_gpu(sch.mod)
