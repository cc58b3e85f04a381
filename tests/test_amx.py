"""AMX: tensorized bf16 and int8 matmuls equal their un-tensorized versions (in the interpreter
everywhere, natively in a child process where the CPU and Linux allow AMX), the generated code
holds the tile instructions, bad tile operands are build errors, and AMX modules refuse to run
where Linux did not grant tile state."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tvmscript
from backends import amx
from backends.interpreter import run
from backends.intrinsics.amx import AMX_INTRINSICS
from backends.intrinsics.x86 import available, build_intrinsic, missing_features
from backends.llvm.codegen import CodegenError
from tests.test_tensorize import assert_roundtrip_and_replay
from tutorials.tensorize_amx_matmul import BF16, INT8, amx_matmul, pack_b, schedule
from tvmscript import ScheduleError, TensorIntrin
from tvmscript import bfloat16 as bf

ROOT = Path(__file__).resolve().parents[1]
S8 = "dot_16x16x64_s8s8s32_amx"
INT8_DTYPES = {INT8: ("uint8", 0, 256), S8: ("int8", -128, 128)}


@pytest.fixture(scope="module", autouse=True)
def amx_registered():
    """The AMX intrinsics, registered from their scripts even where the CPU lacks AMX (the
    interpreter knows what they compute; native runs happen only where ``available``)."""
    TensorIntrin.list()
    saved = dict(TensorIntrin._registry)
    for name in AMX_INTRINSICS:
        if name not in TensorIntrin._registry:
            TensorIntrin.register(name, *build_intrinsic(name))
    yield
    TensorIntrin._registry.clear()
    TensorIntrin._registry.update(saved)


def bf16_inputs(rng, m, n, k):
    a = bf.from_float32(rng.standard_normal((m, k)))
    b = bf.from_float32(rng.standard_normal((k, n)))
    want = bf.to_float32(a).astype(np.float64) @ bf.to_float32(b).astype(np.float64)
    return a, pack_b(b, 2), want


def int8_inputs(rng, name, m, n, k):
    dtype, lo, hi = INT8_DTYPES[name]
    a = rng.integers(lo, hi, (m, k)).astype(dtype)
    b = rng.integers(-128, 128, (k, n)).astype("int8")
    return a, pack_b(b, 4), a.astype(np.int64) @ b.astype(np.int64)


# ---------------------------------------------------------------- numbers (interpreter)


def test_bf16_matmul_tensorized_equals_untensorized_and_numpy():
    before = amx_matmul(32, 48, 64)
    sch = schedule(before, BF16, parallel=False)
    assert "llvm.x86.tdpbf16ps.internal" in sch.mod.script()
    a, bp, want = bf16_inputs(np.random.default_rng(0), 32, 48, 64)
    got, ref = np.zeros((32, 48), np.float32), np.zeros((32, 48), np.float32)
    run(sch.func, a, bp, got)
    run(before, a, bp, ref)
    # the tile instruction sums in another order than the loop nest: agreement to rounding
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(got, np.zeros_like(got))
    assert_roundtrip_and_replay(before, sch)


@pytest.mark.parametrize("name", [INT8, S8])
def test_int8_matmul_tensorized_is_exact(name):
    dtype = INT8_DTYPES[name][0]
    before = amx_matmul(32, 32, 128, dtype, "int8", "int32")
    sch = schedule(before, name, parallel=True)
    a, bp, want = int8_inputs(np.random.default_rng(1), name, 32, 32, 128)
    got, ref = np.zeros((32, 32), np.int32), np.zeros((32, 32), np.int32)
    run(sch.func, a, bp, got)
    run(before, a, bp, ref)
    np.testing.assert_array_equal(ref, want)
    np.testing.assert_array_equal(got, want)
    assert_roundtrip_and_replay(before, sch)


def test_a_tile_kept_in_a_variable_is_refused():
    """LLVM follows a tile through a variable and keeps its first shape: refused in both
    backends rather than checked against a shape the tile may not have."""
    store = _call("void", "tilestored64.internal", "2", "64", "T.address_of(C[0, 0])", "64", "t")
    func = _tile_program(f"""t: T.int32x256 = {LOAD}
    T.evaluate({store})""")
    with pytest.raises(CodegenError, match="must be a tile intrinsic call written inside it"):
        tvmscript.build(func, target="llvm -mcpu=sapphirerapids")
    with pytest.raises(ValueError, match="must be a tile intrinsic call written inside it"):
        run(func, np.zeros((16, 64), np.int8), np.zeros((16, 16), np.int32), 1)


def test_tile_semantics_edge_cases():
    """The interpreter's tile model: stores stay inside the shape, loads zero the rest, and
    int32 accumulation wraps like the hardware's."""
    from backends.interpreter.amx import _amx_tdpb, _amx_tileload, _amx_tilestore
    from backends.interpreter.values import Pointer

    mem = np.arange(40 * 64, dtype=np.uint8)
    tile = _amx_tileload(3, 8, Pointer(mem, 64), 128)
    rows = tile.view(np.uint8).reshape(16, 64)
    np.testing.assert_array_equal(rows[:3, :8], mem.reshape(40, 64)[1:7:2, :8])
    assert not rows[3:].any() and not rows[:, 8:].any()
    out = np.zeros(64 * 4, np.uint8)
    _amx_tilestore(2, 4, Pointer(out, 0), 64, tile)
    np.testing.assert_array_equal(out.reshape(4, 64)[:2, :4], rows[:2, :4])
    assert not out.reshape(4, 64)[:, 4:].any() and not out.reshape(4, 64)[2:].any()
    with pytest.raises(IndexError, match="runs outside its buffer"):
        _amx_tileload(16, 64, Pointer(mem, 0), 256)
    big = np.full((16, 16), 2**31 - 1, np.int32).reshape(-1)
    ones = np.ones((16, 64), np.int8).view(np.int32).reshape(-1)
    wrapped = _amx_tdpb("ss", 16, 64, 64, big, ones, ones).reshape(16, 16)
    assert (wrapped == np.int32(-(2**31) + 63)).all()  # 2^31 - 1 + 64 wraps around


def test_bf16_denormals_are_flushed():
    """tdpbf16ps reads denormal inputs as zero and flushes denormal results (SDM)."""
    from backends.interpreter.amx import _amx_tdpbf16ps

    tiny = bf.from_float32(np.float32(1e-39))  # a bfloat16 denormal
    a = np.zeros((16, 32), np.uint16)
    a[0, 0] = tiny
    b = np.zeros((16, 32), np.uint16)
    b[0, 0] = bf.from_float32(np.float32(2**100))
    c = np.zeros(256, np.int32)
    out = _amx_tdpbf16ps(16, 64, 64, c, a.view(np.int32).reshape(-1), b.view(np.int32).reshape(-1))
    assert out.view(np.float32)[0] == 0.0  # exact arithmetic would give 2^100 * 1e-39
    # the destination's denormals are read as zero too: 2^-125 + 2^-147 gives 2^-125
    a[0, 0], b[0, 0] = bf.from_float32(np.float32(2.0**-62)), bf.from_float32(np.float32(2.0**-63))
    c.view(np.float32)[0] = np.float32(2.0**-147)
    out = _amx_tdpbf16ps(16, 64, 64, c, a.view(np.int32).reshape(-1), b.view(np.int32).reshape(-1))
    assert out.view(np.float32)[0] == np.float32(2.0**-125)


def test_bf16_steps_are_fused_multiply_adds():
    """Each step rounds once, the product being exact: -1.5 * 2^127 + 2^64 * 2^64 is 2^126,
    though 2^128 alone overflows float32."""
    from backends.interpreter.amx import _amx_tdpbf16ps

    a = np.zeros((16, 32), np.uint16)
    b = np.zeros((16, 32), np.uint16)
    a[0, 0], b[0, 0] = bf.from_float32(-1.5 * 2.0**63), bf.from_float32(2.0**64)
    a[0, 2], b[1, 0] = bf.from_float32(2.0**64), bf.from_float32(2.0**64)
    c = np.zeros(256, np.int32)
    out = _amx_tdpbf16ps(16, 64, 64, c, a.view(np.int32).reshape(-1), b.view(np.int32).reshape(-1))
    assert out.view(np.float32)[0] == np.float32(2.0**126)


# ---------------------------------------------------------------- generated code


def test_cross_compiled_kernel_holds_the_tile_instructions_per_thread():
    sch = schedule(amx_matmul(64, 64, 128), BF16)
    rt = tvmscript.build(sch.mod, target="llvm -mcpu=sapphirerapids")
    assert rt.needs == ("amx",)
    asm = rt.get_source("asm")
    body = asm[asm.index("matmul.parallel"):]  # the function each OpenMP thread runs
    for instruction in ("ldtilecfg", "tileloadd", "tdpbf16ps", "tilestored", "tilerelease"):
        assert instruction in body, instruction
    with pytest.raises(RuntimeError, match="cannot run in this process"):
        rt["matmul"]


def test_native_build_without_amx_is_refused():
    if available(BF16):
        pytest.skip("this machine can run AMX: the refusal is for CPUs without it")
    sch = schedule(amx_matmul(32, 32, 32), BF16, parallel=False)
    with pytest.raises(CodegenError, match="needs the CPU feature.*amx-tile"):
        tvmscript.build(sch.mod, target="llvm")


def test_exported_amx_library_records_that_it_needs_amx(tmp_path):
    sch = schedule(amx_matmul(32, 32, 32), BF16, parallel=False)
    rt = tvmscript.build(sch.mod, target="llvm -mcpu=sapphirerapids")
    path = tmp_path / "amx.so"
    rt.export_library(str(path))
    again = tvmscript.load_module(str(path))
    assert again.needs == ("amx",)
    if amx.unavailable_reason() is not None:
        with pytest.raises(RuntimeError, match="cannot run in this process"):
            again["matmul"]


def _call(dtype: str, name: str, *args: str) -> str:
    return f'T.call_llvm_intrin("{dtype}", "llvm.x86.{name}", {", ".join(args)})'


def _tile_program(stmt: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(f'''
@T.prim_func
def f(A: T.Buffer((16, 64), "int8"), C: T.Buffer((16, 16), "int32"), n: T.int32):
    {stmt}
''')


LOAD = _call("int32x256", "tileloadd64.internal", "16", "64", "T.address_of(A[0, 0])", "64")
BAD_TILE_CALLS = [
    ("a shape that is not a constant",
     _call("void", "tilestored64.internal", "n", "64", "T.address_of(C[0, 0])", "64", LOAD),
     "must be a constant"),
    ("too many rows",
     _call("void", "tilestored64.internal", "17", "64", "T.address_of(C[0, 0])", "64", LOAD),
     r"is 17, outside the tile limits \(1..16\)"),
    ("a row of 65 bytes", LOAD.replace("16, 64", "16, 65"), "outside the tile limits"),
    ("a tile result of another dtype", LOAD.replace('"int32x256"', '"int32x16"'),
     "returns int32x256, but the call says int32x16"),
    ("a missing operand", _call("int32x256", "tileloadd64.internal", "16", "64", "64"),
     r"takes 4 operands \(rows, colsb, ptr, stride\)"),
    ("a scalar where a tile goes",
     _call("void", "tilestored64.internal", "16", "64", "T.address_of(C[0, 0])", "64", "n"),
     "must be a tile intrinsic call written inside it"),
    ("a store of fewer rows than the tile has (it would write all 16)",
     _call("void", "tilestored64.internal", "2", "64", "T.address_of(C[0, 0])", "64", LOAD),
     r"the stored tile, must be a 2 x 64-byte tile, but the tile passed was loaded or computed "
     r"as 16 x 64"),
    ("a destination of another shape than the product (the CPU would fault)",
     _call("void", "tilestored64.internal", "16", "64", "T.address_of(C[0, 0])", "64",
           _call("int32x256", "tdpbssd.internal", "16", "64", "64", LOAD.replace("16, 64", "8, 32"),
                 LOAD, LOAD)),
     r"operand 3 of llvm.x86.tdpbssd.internal, the destination \(m x n\), must be a 16 x 64"),
    ("a B tile of another depth",
     _call("void", "tilestored64.internal", "16", "64", "T.address_of(C[0, 0])", "64",
           _call("int32x256", "tdpbssd.internal", "16", "64", "32", LOAD,
                 LOAD.replace("16, 64", "16, 32"), LOAD)),
     r"B \(k/4 x n\), must be a 8 x 64-byte tile"),
]


@pytest.mark.parametrize("what, stmt, message", BAD_TILE_CALLS, ids=[c[0] for c in BAD_TILE_CALLS])
def test_bad_tile_operands_are_build_errors(what, stmt, message):
    """LLVM would abort (or the CPU fault) on these; code generation says what is wrong."""
    with pytest.raises(CodegenError, match=message):
        tvmscript.build(_tile_program(f"T.evaluate({stmt})"), target="llvm -mcpu=sapphirerapids")


def test_unpacked_b_is_rejected_by_tensorize():
    src = amx_matmul(32, 32, 64).script()
    # B as [k // 2, j, k % 2] but stored [j, k // 2, k % 2]: each tile row is not contiguous
    src = src.replace('B: T.Buffer((32, 32, 2), "bfloat16"',
                      'B: T.Buffer((32, 32, 2), "bfloat16", strides=(2, 64, 1)')
    sch = tvmscript.Schedule(tvmscript.from_source(src))
    i, j, k = sch.get_loops(sch.get_block("C"))
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 32])
    sch.reorder(i0, j0, k0, i1, j1, k1)
    before = sch.mod
    with pytest.raises(ScheduleError, match=r"reads its buffer `B` with strides \(sb, 2, 1\), "
                                            r"but the region .* has strides \(2, 64, 1\)"):
        sch.tensorize(i1, BF16)
    assert sch.mod is before


# ---------------------------------------------------------------- permission


def test_permission_is_explained_where_amx_cannot_run():
    reason = amx.unavailable_reason()
    if reason is None:
        assert amx.run_refusal(("amx",)) is None
        return
    assert amx.run_refusal(("amx",)) == reason
    assert amx.run_refusal(()) is None
    for name in AMX_INTRINSICS:
        assert not available(name) and missing_features(name)


# ---------------------------------------------------------------- natively


NATIVE_CHECK = textwrap.dedent('''
    import sys
    import numpy as np, tvmscript
    TARGET = sys.argv[1]
    from tvmscript import bfloat16 as bf
    from backends.interpreter import run
    from backends.intrinsics.amx import AMX_INTRINSICS
    from backends.intrinsics.x86 import build_intrinsic
    from tests.test_tensor_intrin import _args
    from tutorials.tensorize_amx_matmul import (BF16, INT8, amx_matmul, pack_b,
                                                register_for_checking, schedule)
    rng = np.random.default_rng(0)
    for name in AMX_INTRINSICS:
        register_for_checking(name)  # registered already where AMX runs
    for name in AMX_INTRINSICS:
        desc, impl = build_intrinsic(name)
        args = _args(desc, rng)
        want, got = [a.copy() for a in args], [a.copy() for a in args]
        run(desc, *want)
        tvmscript.build(impl, target=TARGET)[impl.name](*got)
        np.testing.assert_allclose(got[-1], want[-1], rtol=1e-5, atol=1e-5)
    m, n, k = 64, 80, 256
    a = bf.from_float32(rng.standard_normal((m, k)))
    b = bf.from_float32(rng.standard_normal((k, n)))
    c = np.zeros((m, n), np.float32)
    bf16 = tvmscript.build(schedule(amx_matmul(m, n, k), BF16).mod, target=TARGET)
    bf16["matmul"](a, pack_b(b, 2), c)
    np.testing.assert_allclose(c, bf.to_float32(a) @ bf.to_float32(b), rtol=1e-4, atol=1e-3)
    a8 = rng.integers(0, 256, (m, k)).astype("uint8")
    b8 = rng.integers(-128, 128, (k, n)).astype("int8")
    c8 = np.zeros((m, n), np.int32)
    i8 = amx_matmul(m, n, k, "uint8", "int8", "int32")
    fn = tvmscript.build(schedule(i8, INT8).mod, target=TARGET)
    fn["matmul"](a8, pack_b(b8, 4), c8)
    assert np.array_equal(c8, a8.astype(np.int32) @ b8.astype(np.int32))
    print(f"AMX on {TARGET} ok")
''')


def test_native_amx_matmuls_in_a_child_process():
    if not available(BF16) or not available(INT8):
        pytest.skip(f"native AMX run skipped: {', '.join(missing_features(BF16))} "
                    "(checked in the interpreter and cross-compiled instead)")
    done = subprocess.run([sys.executable, "-c", NATIVE_CHECK, "llvm -mcpu=native"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"exit {done.returncode}" + (" (killed by a signal)" if
                                  done.returncode < 0 else "") + "\n" + done.stderr[-3000:])
    assert "AMX on llvm -mcpu=native ok" in done.stdout


def test_native_check_passes_in_the_interpreter():
    """The script the native test runs, checked everywhere with the interpreter as the target
    (so the native check cannot rot on machines without AMX)."""
    done = subprocess.run([sys.executable, "-c", NATIVE_CHECK, "interpreter"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "AMX on interpreter ok" in done.stdout


ACCESS_PTR = '''
@T.prim_func
def copy_tile(a: T.handle, c: T.handle):
    A = T.match_buffer(a, (17, 64), "int8", offset_factor=1)
    C = T.match_buffer(c, (16, 64), "int8", offset_factor=1)
    T.evaluate(T.call_llvm_intrin("void", "llvm.x86.tilestored64.internal", 16, 64, C.access_ptr("w"), 64, T.call_llvm_intrin("int32x256", "llvm.x86.tileloadd64.internal", 16, 64, A.access_ptr("r", offset=64), 64)))
'''


def test_access_ptr_in_an_implementation():
    """``A.access_ptr(mask, offset=...)`` is TVM's ``tvm_access_ptr``: it prints, re-parses,
    interprets and compiles."""
    func = tvmscript.from_source(ACCESS_PTR)
    text = func.script()
    ptr = 'T.tvm_access_ptr(T.type_annotation("int8"), A.data, A.elem_offset + 64, 1024, 1)'
    assert ptr in text
    tvmscript.assert_structural_equal(tvmscript.from_source(text), func)
    a = np.arange(17 * 64).astype(np.int8).reshape(17, 64)
    c = np.zeros((16, 64), np.int8)
    run(func, a, c)
    np.testing.assert_array_equal(c, a[1:])
    tvmscript.build(func, target="llvm -mcpu=sapphirerapids")
    with pytest.raises(tvmscript.ScriptError, match="must be made of 'r' and 'w'"):
        tvmscript.from_source(ACCESS_PTR.replace('access_ptr("w")', 'access_ptr("x")'))


def test_auto_tensorize_finds_the_amx_tiling():
    from tvmscript.schedule.auto_tensorize import auto_tensorize, find_tensorize_mapping

    before = amx_matmul(32, 48, 64)
    sch = tvmscript.Schedule(before)
    mapping = find_tensorize_mapping(sch, sch.get_block("C"), BF16)
    assert [a.split for a in mapping.assignments] == [16, 16, 32]
    auto_tensorize(sch, sch.get_block("C"), BF16)
    a, bp, want = bf16_inputs(np.random.default_rng(9), 32, 48, 64)
    got = np.zeros((32, 48), np.float32)
    run(sch.func, a, bp, got)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert_roundtrip_and_replay(before, sch)


def test_int64_shaped_buffers_are_tensorized():
    """Graph-level code legalizes to int64 shapes: the stride check compares across widths."""
    src = amx_matmul(32, 32, 64).script()
    for old, new in (("(32, 64)", "(T.int64(32), T.int64(64))"),
                     ("(32, 32, 2)", "(T.int64(32), T.int64(32), T.int64(2))"),
                     ("(32, 32)", "(T.int64(32), T.int64(32))")):
        src = src.replace(f"T.Buffer({old}", f"T.Buffer({new}")
    before = tvmscript.from_source(src)
    assert "T.int64(32), T.int64(64)" in before.script()
    sch = schedule(before, BF16, parallel=False)
    a, bp, want = bf16_inputs(np.random.default_rng(10), 32, 32, 64)
    got = np.zeros((32, 32), np.float32)
    run(sch.func, a, bp, got)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
