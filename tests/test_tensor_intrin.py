"""Tensor intrinsics: the registry's checks, the built-in x86 library (description and
implementation compute the same on this CPU), and code that needs missing CPU features is
refused with an error instead of aborting the process."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run
from backends.intrinsics.amx import AMX_INTRINSICS
from backends.intrinsics.x86 import X86_INTRINSICS, available, build_intrinsic, missing_features
from tvmscript.schedule.tensor_intrin import TensorIntrin, TensorIntrinError


def _args(func, rng):
    out = []
    for p in func.params:
        buf = func.buffer_map[p]
        shape = [int(s.value) for s in buf.shape]
        dt = str(buf.dtype)
        if dt == "uint8":
            out.append(rng.integers(0, 256, shape).astype(dt))
        elif dt == "int8":
            out.append(rng.integers(-128, 128, shape).astype(dt))
        elif dt == "int32":
            out.append(rng.integers(-1000, 1000, shape).astype(dt))
        elif dt == "bfloat16":
            out.append(tvmscript.bfloat16.from_float32(rng.standard_normal(shape)))
        else:
            out.append(rng.standard_normal(shape).astype(dt))
    return out


@pytest.mark.parametrize("name", sorted(X86_INTRINSICS))
def test_intrinsic_functions_round_trip(name):
    for func in build_intrinsic(name):
        again = tvmscript.from_source(func.script())
        tvmscript.assert_structural_equal(func, again)
        tvmscript.verify(func)


# AMX intrinsics run natively in a child process (tests/test_amx.py): a fault there must not
# take the test session down
IN_PROCESS = sorted(n for n in X86_INTRINSICS if n not in AMX_INTRINSICS)


@pytest.mark.parametrize("name", IN_PROCESS)
def test_implementation_computes_the_description(name):
    if not available(name):
        pytest.skip(f"this CPU lacks {', '.join(missing_features(name))} for {name}")
    desc, impl = build_intrinsic(name)
    args = _args(desc, np.random.default_rng(0))
    want = [a.copy() for a in args]
    run(desc, *want)
    got = [a.copy() for a in args]
    tvmscript.build(impl, target="llvm -mcpu=native")[impl.name](*got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    assert name in TensorIntrin.list()


X86_SPECIFIC = sorted(n for n in X86_INTRINSICS if n.startswith("dot_"))  # llvm.x86.* calls


@pytest.mark.parametrize("name", sorted(X86_INTRINSICS))
def test_unavailable_intrinsics_are_not_registered(name):
    if available(name):
        pytest.skip(f"this CPU has every feature {name} needs")
    assert name not in TensorIntrin.list()
    with pytest.raises(TensorIntrinError, match="registered only where the CPU has"):
        TensorIntrin.get(name)


@pytest.mark.parametrize("name", X86_SPECIFIC)
def test_missing_features_are_a_build_error_not_an_abort(name):
    if available(name):
        pytest.skip(f"this CPU has every feature {name} needs")
    _, impl = build_intrinsic(name)
    with pytest.raises(Exception, match="needs the CPU feature"):
        tvmscript.build(impl, target="llvm")
    # cross-compiling for a CPU that has the instructions works (the code is not run here)
    tvmscript.build(impl, target="llvm -mcpu=sapphirerapids")


DESC = '''
@T.prim_func
def desc(a: T.handle, c: T.handle):
    A = T.match_buffer(a, (4,), "float32", offset_factor=1)
    C = T.match_buffer(c, (1,), "float32", offset_factor=1)
    with T.block("root"):
        T.reads(C[0:1], A[0:4])
        T.writes(C[0:1])
        for k in range(4):
            with T.block("sum"):
                vk = T.axis.reduce(4, k)
                C[0] = C[0] + A[vk]
'''


def test_register_get_and_duplicate():
    desc = tvmscript.from_source(DESC)
    intrin = TensorIntrin.register("test_sum4", desc, desc, override=True)
    assert TensorIntrin.get("test_sum4") is intrin
    with pytest.raises(TensorIntrinError, match="already registered"):
        TensorIntrin.register("test_sum4", desc, desc)


@pytest.mark.parametrize("old, new, message", [
    ('(4,), "float32"', '(8,), "float32"', "has shape (4,) in the description but (8,)"),
    ('(1,), "float32"', '(1,), "float32", scope="local"', "is in scope 'global' in the description"),
])
def test_signature_mismatch_is_reported(old, new, message):
    desc = tvmscript.from_source(DESC)
    impl = tvmscript.from_source(DESC.replace(old, new))
    with pytest.raises(TensorIntrinError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TensorIntrin.register("test_bad", desc, impl)


def test_dtype_mismatch_is_reported():
    desc = tvmscript.from_source(DESC)
    impl = tvmscript.from_source(DESC.replace('(4,), "float32"', '(4,), "float16"')
                                 .replace("C[0] + A[vk]", 'C[0] + T.Cast("float32", A[vk])'))
    with pytest.raises(TensorIntrinError, match="is float32 in the description but float16"):
        TensorIntrin.register("test_bad", desc, impl)


def test_parameter_count_mismatch():
    desc = tvmscript.from_source(DESC)
    other = tvmscript.from_source('''
@T.prim_func
def impl(a: T.handle):
    A = T.match_buffer(a, (4,), "float32", offset_factor=1)
    A[0] = T.float32(0)
''')
    with pytest.raises(TensorIntrinError, match="takes 2 parameters but the implementation takes 1"):
        TensorIntrin.register("test_bad_count", desc, other)


@pytest.mark.parametrize("name", sorted(X86_INTRINSICS))
def test_implementation_semantics_match_description_in_the_interpreter(name):
    """Runs on every machine: the interpreter knows what each instruction computes."""
    desc, impl = build_intrinsic(name)
    args = _args(desc, np.random.default_rng(3))
    want, got = [a.copy() for a in args], [a.copy() for a in args]
    run(desc, *want)
    run(impl, *got)
    # AMX's bf16 dot product rounds in another order than the description's sequential sum
    tol = 1e-5 if "bf16" in name else 1e-6
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
