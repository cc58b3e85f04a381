"""tensorize and auto-tensorize: tensorized kernels equal their un-tensorized versions (float32
FMA natively here; int8 VNNI in the interpreter everywhere, natively where the CPU has it; AMX in
tests/test_amx.py), near-misses rejected with the part that differs, renamings accepted, printed
modules re-parse, traces replay."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run
from backends.intrinsics.x86 import available, build_intrinsic, missing_features
from tvmscript import Schedule, ScheduleError
from tvmscript.schedule.auto_tensorize import auto_tensorize, find_tensorize_mapping
from tvmscript.schedule.tensor_intrin import TensorIntrin

FMA = "fma_8x1_f32_avx2"
VNNI = "dot_16x4_u8s8s32_avx512"

F32_MATMUL = '''
@T.prim_func
def mm(A: T.Buffer((64, 32), "float32"), B: T.Buffer((32, 48), "float32"), C: T.Buffer((64, 48), "float32")):
    for i, j, k in T.grid(64, 48, 32):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''

# B is packed so that each 16 x 4 tile the instruction reads is contiguous: B[j // 16, k // 4, j % 16, k % 4]
I8_MATMUL = '''
@T.prim_func
def mm(A: T.Buffer((32, 64), "uint8"), B: T.Buffer((3, 16, 16, 4), "int8"), C: T.Buffer((32, 48), "int32")):
    for i, j, k in T.grid(32, 48, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = 0
            C[vi, vj] = C[vi, vj] + T.Cast("int32", A[vi, vk]) * T.Cast("int32", B[vj // 16, vk // 4, vj % 16, vk % 4])
'''


@pytest.fixture(scope="module", autouse=True)
def vnni_registered():
    """The VNNI intrinsic, registered from its script even where this CPU lacks the instruction
    (the interpreter knows what it computes; native runs are skipped below)."""
    TensorIntrin.list()  # load the built-ins this CPU has first
    saved = dict(TensorIntrin._registry)
    if VNNI not in TensorIntrin._registry:
        TensorIntrin.register(VNNI, *build_intrinsic(VNNI))
    yield
    # leave the registry as other tests expect it (unavailable intrinsics are not registered)
    TensorIntrin._registry.clear()
    TensorIntrin._registry.update(saved)


def prim(src: str):
    return tvmscript.from_source(src)


def fma_schedule(func) -> Schedule:
    sch = Schedule(func)
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, 8])
    sch.reorder(i, j0, k, j1)
    sch.tensorize(j1, FMA)
    return sch


def vnni_schedule(func) -> Schedule:
    sch = Schedule(func)
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 4])
    sch.reorder(i, j0, k0, j1, k1)
    sch.tensorize(j1, VNNI)
    return sch


def f32_inputs(rng):
    return (rng.standard_normal((64, 32)).astype("float32"),
            rng.standard_normal((32, 48)).astype("float32"))


def i8_inputs(rng):
    a = rng.integers(0, 256, (32, 64)).astype("uint8")
    b = rng.integers(-128, 128, (48, 64)).astype("int8")  # b[j, k]
    packed = b.reshape(3, 16, 16, 4).transpose(0, 2, 1, 3).copy()  # [j//16, k//4, j%16, k%4]
    return a, b, packed


def assert_roundtrip_and_replay(before, sch: Schedule) -> None:
    tvmscript.verify(sch.func)
    again = tvmscript.from_source(sch.mod.script())
    tvmscript.assert_structural_equal(again, sch.mod)
    assert sch.mod.script() == again.script()
    replayed = sch.trace.apply_to(before)
    tvmscript.assert_structural_equal(replayed.mod, sch.mod)
    assert any(inst.kind == "tensorize" for inst in sch.trace.instructions)


# ---------------------------------------------------------------- numbers


def test_fma_matmul_compiled_equals_untensorized_and_numpy():
    if not available(FMA):
        pytest.skip(f"this CPU lacks {', '.join(missing_features(FMA))}")
    before = prim(F32_MATMUL)
    sch = fma_schedule(before)
    text = sch.mod.script()
    assert "llvm.fma.v8f32" in text and "T.match_buffer(B[" in text
    a, b = f32_inputs(np.random.default_rng(0))
    got, ref = np.zeros((64, 48), "float32"), np.zeros((64, 48), "float32")
    tvmscript.build(sch.mod, target="llvm")["mm"](a, b, got)
    tvmscript.build(before, target="llvm")["mm"](a, b, ref)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
    interp = np.zeros((64, 48), "float32")
    run(sch.func, a, b, interp)
    np.testing.assert_allclose(interp, a @ b, rtol=1e-4, atol=1e-4)
    assert_roundtrip_and_replay(before, sch)


def test_vnni_matmul_interpreted_equals_untensorized_and_numpy():
    before = prim(I8_MATMUL)
    sch = vnni_schedule(before)
    assert "llvm.x86.avx512.vpdpbusd.512" in sch.mod.script()
    a, b, packed = i8_inputs(np.random.default_rng(1))
    want = a.astype("int32") @ b.astype("int32").T
    got, ref = np.zeros((32, 48), "int32"), np.zeros((32, 48), "int32")
    run(sch.func, a, packed, got)
    run(before, a, packed, ref)
    np.testing.assert_array_equal(ref, want)
    np.testing.assert_array_equal(got, want)
    assert_roundtrip_and_replay(before, sch)


def test_vnni_matmul_native_or_cross_compiled():
    sch = vnni_schedule(prim(I8_MATMUL))
    if not available(VNNI):
        with pytest.raises(Exception, match="needs the CPU feature"):
            tvmscript.build(sch.mod, target="llvm")
        rt = tvmscript.build(sch.mod, target="llvm -mcpu=sapphirerapids")
        assert "vpdpbusd" in rt.get_source()
        pytest.skip(f"native VNNI run skipped: this CPU lacks {', '.join(missing_features(VNNI))} "
                    "(checked in the interpreter and cross-compiled instead)")
    a, b, packed = i8_inputs(np.random.default_rng(2))
    got = np.zeros((32, 48), "int32")
    tvmscript.build(sch.mod, target="llvm")["mm"](a, packed, got)
    np.testing.assert_array_equal(got, a.astype("int32") @ b.astype("int32").T)


# ---------------------------------------------------------------- near misses


def _fma_target(src: str, extent: int = 8):
    sch = Schedule(prim(src))
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, extent])
    sch.reorder(i, j0, k, j1)
    return sch, j1


def _vnni_target(src: str, order: str = "j k"):
    sch = Schedule(prim(src))
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 4])
    inner = {"j": j1, "k": k1}
    first, second = (inner[n] for n in order.split())
    sch.reorder(i, j0, k0, first, second)
    return sch, first


NEAR_MISSES = [
    # (name, how the matmul is scheduled, intrinsic, message pattern)
    ("extent", lambda: _fma_target(F32_MATMUL, 16), FMA, r"extent 8 vs 16"),
    ("dtype of a cast", lambda: _vnni_target(I8_MATMUL.replace('"int32"', '"int16"')),  # int16 accumulator
     VNNI, r"`Cast int32` vs `int16`"),
    ("dtype of a buffer", lambda: _vnni_target(I8_MATMUL.replace('(32, 64), "uint8"', '(32, 64), "int8"')),
     VNNI, r"dtype: uint8 vs int8"),
    ("iterator kind", lambda: _vnni_target(I8_MATMUL, "k j"), VNNI,
     r"reduction vs spatial iterator|extent 16 vs 4"),
    ("operand order", lambda: _fma_target(F32_MATMUL.replace("A[vi, vk] * B[vk, vj]", "B[vk, vj] * A[vi, vk]")),
     FMA, r"operand order: `\*` has operands \(`A\[0\]`, `B\[vj\]`\)"),
    ("access pattern (transposed)", lambda: _fma_target(
        F32_MATMUL.replace("B: T.Buffer((32, 48)", "B: T.Buffer((48, 32)").replace("B[vk, vj]", "B[vj, vk]")),
     FMA, r"access pattern: `B\[vj\]` in the description vs `B\[vj_o \* 8 \+ vj_i, vk_o\]` in the block: "
          r"dimension 0 .* depends on the intrinsic's loops"),
    ("access pattern (not contiguous)", lambda: _vnni_target(
        I8_MATMUL.replace("B: T.Buffer((3, 16, 16, 4)", "B: T.Buffer((48, 64)")
                 .replace("B[vj // 16, vk // 4, vj % 16, vk % 4]", "B[vj, vk]")),
     VNNI, r"access pattern: the implementation reads its buffer `B` as a compact \(16, 4\) tile"),
]


@pytest.mark.parametrize("name, make, intrin, message", NEAR_MISSES, ids=[n[0] for n in NEAR_MISSES])
def test_near_miss_is_rejected_with_the_difference(name, make, intrin, message):
    sch, loop = make()
    before, trace_len = sch.mod, len(sch.trace)
    with pytest.raises(ScheduleError, match=message) as info:
        sch.tensorize(loop, intrin)
    text = str(info.value)
    assert f"`{intrin}`" in text
    if "compact" not in message:  # both programs are shown
        assert "description:" in text and "block:" in text
    # a failed tensorize leaves the schedule as it was (the blockize it started is undone)
    assert sch.mod is before and len(sch.trace) == trace_len


def test_iterator_kind_mismatch_message():
    # a spatial iterator where the description has a reduction: sum over j instead of k
    src = I8_MATMUL.replace('T.axis.remap("SSR"', 'T.axis.remap("SRS"')
    sch = Schedule(prim(src.replace("with T.init():\n                C[vi, vj] = 0\n            ", "")))
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 4])
    sch.reorder(i, j0, k0, j1, k1)
    with pytest.raises(ScheduleError, match=r"spatial vs reduction iterator: loop `i` of the "
                                            r"description drives a spatial iterator, loop `j_1`"):
        sch.tensorize(j1, VNNI)


def test_renamed_variables_and_buffers_are_accepted():
    src = (F32_MATMUL.replace("A:", "X:").replace("A[", "X[").replace("C:", "Out:").replace("C[", "Out[")
           .replace("vi, vj, vk", "p, q, r").replace("[vi, vj]", "[p, q]").replace("X[vi, vk]", "X[p, r]")
           .replace("B[vk, vj]", "B[r, q]").replace('T.block("C")', 'T.block("C")'))
    before = prim(src)
    assert "Out[p, q]" in before.script()
    sch = fma_schedule(before)
    a, b = f32_inputs(np.random.default_rng(4))
    got = np.zeros((64, 48), "float32")
    run(sch.func, a, b, got)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
    assert_roundtrip_and_replay(before, sch)


def test_tensorize_an_outer_block_and_a_tensor_intrin_object():
    before = prim(F32_MATMUL)
    sch = Schedule(before)
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, 8])
    sch.reorder(i, j0, k, j1)
    outer = sch.blockize(j1)
    sch.tensorize(outer, TensorIntrin.get(FMA) if available(FMA) else TensorIntrin.register(
        FMA, *build_intrinsic(FMA)))
    assert "tensorize(b" in str(sch.trace) and f"'{FMA}'" in str(sch.trace)  # recorded by name
    assert_roundtrip_and_replay(before, sch)
    # the trace saves to JSON and loads back
    from tvmscript import Trace
    again = Trace.from_json(sch.trace.to_json()).apply_to(before)
    tvmscript.assert_structural_equal(again.mod, sch.mod)


def test_tensorize_errors_for_leaf_block_and_unknown_intrinsic():
    sch = Schedule(prim(F32_MATMUL))
    with pytest.raises(ScheduleError, match="give tensorize the loop"):
        sch.tensorize(sch.get_block("C"), FMA)
    with pytest.raises(ScheduleError, match="no tensor intrinsic named 'nope'"):
        sch.tensorize(sch.get_loops(sch.get_block("C"))[1], "nope")


def test_unit_loops_are_normalised_on_both_sides():
    before = prim(F32_MATMUL)
    sch = Schedule(before)
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1, j2 = sch.split(j, [None, 1, 8])  # a unit loop inside the tensorized subtree
    sch.reorder(i, j0, k, j1, j2)
    sch.tensorize(j1, FMA if available(FMA) else TensorIntrin.register(FMA, *build_intrinsic(FMA)))
    a, b = f32_inputs(np.random.default_rng(5))
    got = np.zeros((64, 48), "float32")
    run(sch.func, a, b, got)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


PACKED_F32 = '''
@T.prim_func
def mm(A: T.Buffer((32, 16), "float32"), B: T.Buffer((4, 16, 16), "float32"), C: T.Buffer((32, 64), "float32")):
    for i, j, k in T.grid(32, 64, 16):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vj // 16, vk, vj % 16]
'''


def test_half_of_a_packed_panel_is_matched():
    """B packed in 16-column panels, the update split in two 8-lane halves: the block reads
    ``B[(vj_o * 8 + vj_i) // 16, vk, (vj_o * 8 + vj_i) % 16]``, which the simplifier must see as
    panel ``vj_o // 2`` at column ``vj_o % 2 * 8 + vj_i`` for the FMA intrinsic to match."""
    if FMA not in TensorIntrin._registry:
        TensorIntrin.register(FMA, *build_intrinsic(FMA))
    before = prim(PACKED_F32)
    sch = Schedule(before)
    i, j, k = sch.get_loops(sch.get_block("C"))
    j0, j1 = sch.split(j, [None, 16])
    sch.reorder(i, j0, k, j1)
    halves, lanes = sch.split(j1, [None, 8])
    sch.tensorize(lanes, FMA)
    assert "B[vj_o // 2, vk_o, vj_o % 2 * 8:vj_o % 2 * 8 + 8]" in sch.mod.script()
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((32, 16)).astype("float32"), rng.standard_normal((16, 64)).astype("float32")
    packed = b.reshape(16, 4, 16).transpose(1, 0, 2).copy()  # [j // 16, k, j % 16]
    got = np.zeros((32, 64), "float32")
    run(sch.func, a, packed, got)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
    assert_roundtrip_and_replay(before, sch)


# ---------------------------------------------------------------- auto-tensorize


def test_auto_tensorize_finds_the_vnni_mapping():
    before = prim(I8_MATMUL)
    sch = Schedule(before)
    start = sch.mod
    mapping = find_tensorize_mapping(sch, sch.get_block("C"), VNNI)
    assert sch.mod is start and len(sch.trace) == 1  # only get_block: nothing applied
    assert [(a.desc_loop, a.iterator, a.split) for a in mapping.assignments] == [("i", "vj", 16), ("k", "vk", 4)]
    assert mapping.order == ("i", "j_0", "k_0", "j_1", "k_1")
    assert "split loop `j` into [None, 16]" in str(mapping)
    auto_tensorize(sch, sch.get_block("C"), VNNI)
    a, b, packed = i8_inputs(np.random.default_rng(6))
    got = np.zeros((32, 48), "int32")
    run(sch.func, a, packed, got)
    np.testing.assert_array_equal(got, a.astype("int32") @ b.astype("int32").T)
    assert_roundtrip_and_replay(before, sch)


def test_auto_tensorize_fma():
    if FMA not in TensorIntrin._registry:
        TensorIntrin.register(FMA, *build_intrinsic(FMA))
    before = prim(F32_MATMUL)
    sch = Schedule(before)
    auto_tensorize(sch, sch.get_block("C"), FMA)
    a, b = f32_inputs(np.random.default_rng(7))
    got = np.zeros((64, 48), "float32")
    run(sch.func, a, b, got)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
    assert_roundtrip_and_replay(before, sch)


def test_auto_tensorize_explains_indivisible_extent():
    if FMA not in TensorIntrin._registry:
        TensorIntrin.register(FMA, *build_intrinsic(FMA))
    sch = Schedule(prim(F32_MATMUL.replace("48", "100")))
    before = sch.mod
    with pytest.raises(ScheduleError, match=r"extent 100, which is not divisible by 8 .*pad"):
        auto_tensorize(sch, sch.get_block("C"), FMA)
    assert sch.mod is before


def test_auto_tensorize_explains_dtype_mismatch():
    sch = Schedule(prim(I8_MATMUL.replace('(32, 64), "uint8"', '(32, 64), "int8"')))
    with pytest.raises(ScheduleError, match=r"(?s)no way to map block `C`.*dtype: uint8 vs int8"):
        find_tensorize_mapping(sch, sch.get_block("C"), VNNI)
