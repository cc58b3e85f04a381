"""LLVM code generation on hand-lowered IR (flat 1-D buffers, no blocks) and on scripts that go
through the default pipeline; numbers are checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.llvm import build_llvm, codegen
from backends.target import Target, has_feature
from tests.conformance import load_cases, requires_cases

RNG = np.random.default_rng(0)


def compile_lowered(source: str, target: str = "llvm"):
    """Build a hand-lowered script without the lowering pipeline."""
    func = tvmscript.from_source(source)
    return build_llvm({"main": func}, target)["main"]


def binary_kernel(dtype: str, expr: str, n: int = 64, out: str | None = None) -> str:
    out = out or dtype
    return f'''
@T.prim_func
def main(A: T.Buffer(({n},), "{dtype}"), B: T.Buffer(({n},), "{dtype}"), C: T.Buffer(({n},), "{out}")):
    for i in range({n}):
        C[i] = {expr}
'''


def random_array(dtype: str, n: int = 64) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return RNG.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    if dt.kind == "b":
        return RNG.integers(0, 2, n).astype(bool)
    return RNG.standard_normal(n).astype(dt)


INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOAT_DTYPES = ["float16", "float32", "float64"]


@pytest.mark.parametrize("dtype", INT_DTYPES + FLOAT_DTYPES)
@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_arithmetic_every_dtype(dtype, op):
    f = compile_lowered(binary_kernel(dtype, f"A[i] {op} B[i]"))
    a, b = random_array(dtype), random_array(dtype)
    c = np.zeros_like(a)
    f(a, b, c)
    with np.errstate(over="ignore"):
        expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    np.testing.assert_array_equal(c, expected)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_min_max_and_unsigned_compare(dtype):
    f = compile_lowered(binary_kernel(dtype, "T.max(A[i], B[i]) - T.min(A[i], B[i])"))
    g = compile_lowered(binary_kernel(dtype, "A[i] < B[i]", out="bool"))
    a, b = random_array(dtype), random_array(dtype)
    c = np.zeros_like(a)
    f(a, b, c)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(c, np.maximum(a, b) - np.minimum(a, b))
    lt = np.zeros(64, bool)
    g(a, b, lt)
    np.testing.assert_array_equal(lt, a < b)


def test_bool_logic_in_memory():
    f = compile_lowered(binary_kernel("bool", "(A[i] and not B[i]) or (B[i] and not A[i])"))
    a, b = random_array("bool"), random_array("bool")
    c = np.zeros(64, bool)
    f(a, b, c)
    np.testing.assert_array_equal(c, a ^ b)
    assert c.view(np.uint8).max() <= 1


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_div_mod_truncate_and_floor_on_negatives(dtype):
    a = np.array([-7, 7, -7, 7, -8, 8, 0, -1] * 2, dtype)
    b = np.array([2, -2, -2, 2, 3, -3, 5, 4] * 2, dtype)
    out = np.zeros(16, dtype)
    for expr, ref in [("T.floordiv(A[i], B[i])", a // b), ("T.floormod(A[i], B[i])", a % b),
                      ("T.truncdiv(A[i], B[i])", np.trunc(a / b).astype(dtype)),
                      ("T.truncmod(A[i], B[i])", np.fmod(a, b))]:
        compile_lowered(binary_kernel(dtype, expr, 16))(a, b, out)
        np.testing.assert_array_equal(out, ref, err_msg=expr)


def test_float_floordiv_floormod():
    a = np.array([-7.5, 7.5, -7.5, 7.5], "float32")
    b = np.array([2.0, -2.0, -2.0, 2.0], "float32")
    out = np.zeros(4, "float32")
    compile_lowered(binary_kernel("float32", "T.floordiv(A[i], B[i])", 4))(a, b, out)
    np.testing.assert_array_equal(out, np.floor(a / b))
    compile_lowered(binary_kernel("float32", "T.floormod(A[i], B[i])", 4))(a, b, out)
    np.testing.assert_allclose(out, a - np.floor(a / b) * b)


CASTS = [
    ("float32", "int32", np.array([-2.7, -0.5, 0.5, 2.7, 1e6, -1e6], "float32")),
    ("int8", "int32", np.array([-128, -1, 0, 1, 127, 5], "int8")),
    ("uint8", "int32", np.array([0, 1, 128, 200, 255, 7], "uint8")),
    ("int32", "int8", np.array([-129, 128, 255, 256, -1, 1000], "int32")),
    ("int32", "float32", np.array([-3, 0, 7, 2**24 + 1, -(2**30), 5], "int32")),
    ("uint32", "float64", np.array([0, 1, 2**31, 2**32 - 1, 3, 9], "uint32")),
    ("float64", "float16", np.array([1e-3, 3.14159, -65504.0, 1e5, 0.1, -2.5], "float64")),
    ("float16", "float32", np.array([1e-3, 3.14, -65504.0, 0.1, -2.5, 0], "float16")),
    ("float32", "uint8", np.array([0.0, 1.9, 200.5, 255.0, 3.5, 7.99], "float32")),
    ("int64", "bool", np.array([0, 1, -1, 2**40, 0, 3], "int64")),
]


@pytest.mark.parametrize("src,dst,values", CASTS, ids=[f"{s}->{d}" for s, d, _ in CASTS])
def test_casts_have_c_semantics(src, dst, values):
    f = compile_lowered(f'''
@T.prim_func
def main(A: T.Buffer((6,), "{src}"), B: T.Buffer((6,), "{dst}")):
    for i in range(6):
        B[i] = T.Cast("{dst}", A[i])
''')
    out = np.zeros(6, dst)
    f(values, out)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(out, values.astype(dst))


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """Reference float32 -> bfloat16 bits, round to nearest even."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def test_bfloat16_storage_and_rounding():
    to_bf16 = compile_lowered('''
@T.prim_func
def main(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "bfloat16"), C: T.Buffer((64,), "float32")):
    for i in range(64):
        B[i] = T.Cast("bfloat16", A[i])
    for i in range(64):
        C[i] = T.Cast("float32", B[i]) * T.float32(2)
''')
    a = RNG.standard_normal(64).astype("float32")
    a[:4] = [1.00390625, 1.01171875, -3.0, 0.0]  # ties: round to even
    b, c = np.zeros(64, "uint16"), np.zeros(64, "float32")
    to_bf16(a, b, c)
    np.testing.assert_array_equal(b, bf16_bits(a))
    np.testing.assert_array_equal(c, (b.astype(np.uint32) << 16).view(np.float32) * 2)


def test_vector_load_store_broadcast_and_gather():
    f = compile_lowered('''
@T.prim_func
def main(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(8):
        B[T.Ramp(i * 8, 1, 8)] = A[T.Ramp(i * 8, 1, 8)] * T.Broadcast(T.float32(3), 8)
    for i in range(4):
        B[T.Ramp(i * 2 + 1, 8, 4)] = A[T.Ramp(i * 16, 2, 4)]
''')
    a = RNG.standard_normal(64).astype("float32")
    b = np.zeros(64, "float32")
    f(a, b)
    ref = a * 3
    for i in range(4):
        ref[i * 2 + 1::8][:4] = a[i * 16::2][:4]
    np.testing.assert_array_equal(b, ref)


def test_if_then_else_evaluates_only_the_chosen_side():
    # the false side loads far out of bounds; evaluating it would crash the process
    f = compile_lowered('''
@T.prim_func
def main(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = T.if_then_else(i < 16, A[i], A[i + 1000000000])
''')
    a = RNG.standard_normal(16).astype("float32")
    b = np.zeros(16, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, a)


def test_select_and_letstmt():
    func = tvmscript.from_source('''
@T.prim_func
def main(A: T.Buffer((16,), "int32"), B: T.Buffer((16,), "int32")):
    for i in range(16):
        x: T.int32 = A[i] * 2
        B[i] = T.Select(x > 0, x, 0 - x)
''')
    k = build_llvm({"main": func}, "llvm")["main"]
    a = np.arange(-8, 8, dtype="int32")
    b = np.zeros(16, "int32")
    k(a, b)
    np.testing.assert_array_equal(b, np.abs(a * 2))


def test_call_extern_libm_and_llvm_intrinsics():
    f = compile_lowered('''
@T.prim_func
def main(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = T.call_pure_extern("float32", "expf", A[i]) + T.call_llvm_pure_intrin("float32", "llvm.sqrt.f32", T.fabs(A[i]))
    for i in range(2):
        C[T.Ramp(i * 8, 1, 8)] = T.call_llvm_pure_intrin("float32x8", "llvm.fma.v8f32", A[T.Ramp(i * 8, 1, 8)], A[T.Ramp(i * 8, 1, 8)], T.Broadcast(T.float32(1), 8))
''')
    a = RNG.standard_normal(16).astype("float32")
    b, c = np.zeros(16, "float32"), np.zeros(16, "float32")
    f(a, b, c)
    np.testing.assert_allclose(b, np.exp(a) + np.sqrt(np.abs(a)), rtol=1e-6)
    np.testing.assert_allclose(c, a * a + 1, rtol=1e-6)


def test_bitwise_and_shifts_by_signedness():
    f = compile_lowered(binary_kernel("int32", "((A[i] >> 3) & 255) ^ (B[i] << 2) | 1"))
    g = compile_lowered(binary_kernel("uint32", "(A[i] >> T.uint32(3))"))
    a, b = random_array("int32"), random_array("int32")
    c = np.zeros_like(a)
    f(a, b, c)
    np.testing.assert_array_equal(c, ((a >> 3) & 255) ^ (b << 2) | 1)
    ua = random_array("uint32")
    uc = np.zeros_like(ua)
    g(ua, ua, uc)
    np.testing.assert_array_equal(uc, ua >> 3)


def test_while_loop_and_asserts():
    f = compile_lowered('''
@T.prim_func
def main(A: T.Buffer((1,), "int32"), n: T.int32):
    assert n >= 0, "n must be non-negative"
    A[0] = 0
    while A[0] < n:
        A[0] = A[0] + 3
''')
    a = np.zeros(1, "int32")
    f(a, 10)
    assert a[0] == 12
    with pytest.raises(RuntimeError, match="n must be non-negative"):
        f(a, -1)


@pytest.mark.parametrize("size", [64, 1 << 20])  # stack and heap
def test_allocate_stack_and_heap(size):
    f = compile_lowered(f'''
@T.prim_func
def main(A: T.Buffer(({size},), "float32"), B: T.Buffer(({size},), "float32")):
    t = T.allocate([{size}], "float32", "global")
    Tmp = T.decl_buffer(({size},), "float32", data=t)
    for i in range({size}):
        Tmp[i] = A[i] * T.float32(2)
    for i in range({size}):
        B[i] = Tmp[{size} - 1 - i]
''')
    a = RNG.standard_normal(size).astype("float32")
    b = np.zeros(size, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, (a * 2)[::-1])


PARALLEL = '''
@T.prim_func
def main(A: T.Buffer((64000,), "float32"), B: T.Buffer((1000,), "float32"), n: T.int32):
    T.func_attr({"tir.noalias": True})
    for i in T.parallel(1000):
        assert n > 0, "n must be positive"
        s = T.allocate([1], "float32", "local")
        S = T.decl_buffer((1,), "float32", data=s, scope="local")
        S[0] = T.float32(0)
        for k in range(64):
            S[0] = S[0] + A[i * 64 + k] * T.Cast("float32", n)
        B[i] = S[0]
'''


@pytest.mark.parametrize("launcher", ["gomp", "pthread"])
def test_parallel_loop_matches_serial(launcher):
    par = compile_lowered(PARALLEL, f"llvm -parallel={launcher}")
    ser = compile_lowered(PARALLEL.replace("T.parallel(1000)", "range(1000)"))
    a = RNG.standard_normal(64000).astype("float32")
    b1, b2 = np.zeros(1000, "float32"), np.zeros(1000, "float32")
    par(a, b1, 3)
    ser(a, b2, 3)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_allclose(b1, a.reshape(1000, 64).sum(1) * 3, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="n must be positive"):
        par(a, b1, 0)


def test_module_verifies_and_has_attributes():
    from backends.llvm.jit import parse

    func = tvmscript.from_source(PARALLEL)
    target = Target.parse("llvm")
    cg, _ = codegen({"main": func}, target)
    text = str(cg.module)
    assert '"target-cpu"' in text and "noalias" in text and "GOMP_parallel" in text
    parse(cg.module, target).verify()  # llvm.verify_module
    assert ('"prefer-vector-width"="512"' in text) == target.has_feature("avx512f")


def test_target_parsing_and_features():
    t = Target.parse("llvm -mcpu=native")
    assert t.kind == "llvm" and t.cpu and "+" in t.features
    t2 = Target.parse("llvm -mcpu=skylake-avx512 -mattr=+avx512f,-avx512bw")
    assert t2.cpu == "skylake-avx512" and t2.has_feature("avx512f")
    assert not t2.has_feature("avx512bw")
    assert Target.parse("interpreter").kind == "interpreter"
    assert has_feature("sse2")
    with pytest.raises(ValueError):
        Target.parse("tpu")


def test_pipeline_scripts_build_and_match_numpy():
    func = tvmscript.from_source('''
@T.prim_func
def main(A: T.Buffer((32, 24), "float32"), B: T.Buffer((24, 16), "float32"), C: T.Buffer((32, 16), "float32")):
    T.func_attr({"tir.noalias": True})
    for i, j, k in T.grid(32, 16, 24):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')
    rt = tvmscript.build(func, target="llvm")
    a, b = RNG.standard_normal((32, 24)).astype("float32"), RNG.standard_normal((24, 16)).astype("float32")
    c = np.full((32, 16), 7.0, "float32")
    rt["main"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


@requires_cases
def test_conformance_cases():

    for name, case in load_cases().items():
        if getattr(case, "TARGET", "llvm") != "llvm" or getattr(case, "KIND", None) == "module":
            continue
        rt = tvmscript.build(tvmscript.from_source(case.SOURCE), target="llvm")
        args = case.make_args(np.random.default_rng(0))
        rt["main"](*args)
        for index, ref in zip(case.OUTPUTS, case.reference(*args)):
            np.testing.assert_allclose(args[index], ref, rtol=2e-3, atol=2e-3, err_msg=name)


@pytest.mark.skipif(not has_feature("avx512f"), reason="needs AVX-512")
def test_avx512_vector_width():
    f = compile_lowered(binary_kernel("float32", "A[i] + B[i]", 1024))
    a, b = random_array("float32", 1024), random_array("float32", 1024)
    c = np.zeros(1024, "float32")
    f(a, b, c)
    np.testing.assert_array_equal(c, a + b)
