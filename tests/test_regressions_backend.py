"""Regressions of issue 9 in the LLVM JIT, targets and the kernel runtime's argument checks.

- libm functions (``tanhf``, ``erff``) resolve in a fresh process, in the JIT and in exported
  libraries (they used to work only after a parallel kernel had loaded libgomp);
- unknown target options are errors, and ``-mtriple`` cross-compiles (never runs here);
- scalar arguments out of their dtype's range, or of the wrong kind, are refused with the
  function, the parameter and the rule, by the compiled runtime and the interpreter alike.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tvmscript

TANH_ERF = '''
@T.prim_func
def tanh_erf(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(64):
        B[i] = T.tanh(A[i]) + T.erf(A[i])
'''

GELU = '''
@R.function
def main(x: R.Tensor((2, 3), "float32")) -> R.Tensor((2, 3), "float32"):
    with R.dataflow():
        t = R.tanh(x)
        gv = R.nn.gelu(t)
        R.output(gv)
    return gv
'''


def run_fresh(code: str) -> str:
    """Runs ``code`` after ``_PRELUDE`` in a new interpreter (no library loaded by earlier
    tests) and returns its stdout; a failure shows the child's stderr."""
    source = _PRELUDE + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", source], capture_output=True,
                          text=True, timeout=300, cwd=str(_repo_root()))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


_PRELUDE = '''
import math
import numpy as np
import tvmscript
from tests.test_regressions_backend import TANH_ERF, GELU

def erf(x):
    return np.vectorize(math.erf)(x.astype("float64"))

a = np.linspace(-3, 3, 64, dtype="float32")
expected = np.tanh(a.astype("float64")) + erf(a)
'''


def test_libm_functions_jit_in_a_fresh_process():
    run_fresh('''
    rt = tvmscript.build(tvmscript.from_source(TANH_ERF), target="llvm")
    b = np.zeros(64, "float32")
    rt["tanh_erf"](a, b)
    np.testing.assert_allclose(b, expected, rtol=1e-5, atol=1e-6)
    x = a[:6].reshape(2, 3)
    t = np.tanh(x.astype("float64"))
    out = tvmscript.build(tvmscript.from_source(GELU), target="llvm")["main"](x)
    np.testing.assert_allclose(out, 0.5 * t * (1 + erf(t / np.sqrt(2))), rtol=1e-5, atol=1e-6)
    ''')


def test_exported_library_resolves_libm_in_a_fresh_process(tmp_path):
    path = tmp_path / "tanh_erf.so"
    tvmscript.build(tvmscript.from_source(TANH_ERF), target="llvm").export_library(str(path))
    run_fresh(f'''
    rt = tvmscript.load_module({str(path)!r})
    b = np.zeros(64, "float32")
    rt["tanh_erf"](a, b)
    np.testing.assert_allclose(b, expected, rtol=1e-5, atol=1e-6)
    ''')


# ---------------------------------------------------------------- target options

ADD = '''
@T.prim_func
def add(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(64):
        B[i] = A[i] + T.float32(1)
'''

KNOWN_LLVM = "-fp-contract, -mattr, -mcpu, -mtriple, -parallel"


@pytest.mark.parametrize("spec, key", [("llvm -foo=bar", "foo"), ("llvm -mcpu=native -O3", "O3"),
                                       ("llvm -mtripel=aarch64-linux-gnu", "mtripel")])
def test_unknown_target_option_is_an_error(spec, key):
    with pytest.raises(ValueError, match=f"unknown option '-{key}' in target '{spec}'; "
                                         f"llvm takes {KNOWN_LLVM}"):
        tvmscript.build(tvmscript.from_source(ADD), target=spec)


def test_interpreter_takes_no_options():
    with pytest.raises(ValueError, match="unknown option '-mcpu' in target 'interpreter "
                                         "-mcpu=native'; interpreter takes no options"):
        tvmscript.build(tvmscript.from_source(ADD), target="interpreter -mcpu=native")


@pytest.mark.parametrize("spec, message", [
    ("llvm -parallel=tbb", "-parallel=tbb in target 'llvm -parallel=tbb': expected one of "
                           "gomp, pthread"),
    ("llvm -fp-contract=maybe", "-fp-contract=maybe in target 'llvm -fp-contract=maybe': "
                                "expected one of fast, off"),
    ("llvm -mcpu", "-mcpu needs a value in target 'llvm -mcpu' (-mcpu=...)"),
])
def test_bad_target_option_value_is_an_error(spec, message):
    from backends.target import Target

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Target.parse(spec)


AARCH64 = "llvm -mtriple=aarch64-linux-gnu"


@pytest.fixture(scope="module")
def aarch64_add():
    return tvmscript.build(tvmscript.from_source(ADD), target=AARCH64)


def test_mtriple_cross_compiles_and_refuses_to_run(aarch64_add):
    with pytest.raises(RuntimeError, match="this module cannot run in this process: it was "
                                           "compiled for aarch64-linux-gnu, not for this "
                                           "machine"):
        aarch64_add["add"]
    with pytest.raises(RuntimeError, match="this module cannot run in this process"):
        aarch64_add.kernels["add"]
    asm = aarch64_add.get_source("asm")
    assert "\tfadd\ts1, s1, s0" in asm and "\tldr\t" in asm  # AArch64, not x86 (addss)
    assert 'target triple = "aarch64' in aarch64_add.get_source("ll")


def test_mtriple_exports_an_object_for_that_machine(aarch64_add, tmp_path):
    obj = tmp_path / "add.o"
    aarch64_add.export_library(str(obj))
    header = obj.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64


def test_mtriple_shared_library_needs_a_cross_linker(aarch64_add, tmp_path, monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(RuntimeError, match="linking a shared library for aarch64-linux-gnu needs "
                                           "a cross linker: set CC"):
        aarch64_add.export_library(str(tmp_path / "add.so"))
    assert not (tmp_path / "add.so").exists()


def test_mtriple_of_this_machine_runs():
    import llvmlite.binding as llvm

    rt = tvmscript.build(tvmscript.from_source(ADD),
                         target=f"llvm -mtriple={llvm.get_process_triple()}")
    a = np.arange(64, dtype="float32")
    b = np.zeros(64, "float32")
    rt["add"](a, b)
    np.testing.assert_array_equal(b, a + 1)


def test_mtriple_with_native_cpu_is_an_error():
    from backends.target import Target

    with pytest.raises(ValueError, match="-mcpu=native means this machine's CPU, which cannot run "
                                         "aarch64-linux-gnu code; name a CPU of that machine"):
        Target.parse(AARCH64 + " -mcpu=native")


def test_unknown_triple_is_an_error():
    with pytest.raises(ValueError, match="LLVM cannot generate code for -mtriple=foo-bar-baz"):
        tvmscript.build(tvmscript.from_source(ADD), target="llvm -mtriple=foo-bar-baz")


def test_graph_functions_built_for_a_foreign_triple_refuse_to_run_here():
    """A model may be built for the machine it will be deployed on (and exported there); here,
    calling it is refused with the reason, never a jump into foreign machine code."""
    ex = tvmscript.build(tvmscript.from_source(GELU), target=AARCH64)
    with pytest.raises(RuntimeError, match="this module cannot run in this process: it was "
                                           "compiled for aarch64-linux-gnu"):
        ex["main"](np.zeros((2, 3), "float32"))


# ---------------------------------------------------------------- scalar arguments

TARGETS = ["llvm", "interpreter"]

FILL = '''
@T.prim_func
def fill(A: T.Buffer((8,), "int32"), n: T.int32):
    for i in range(8):
        if i < n:
            A[i] = 1
'''

_built: dict[tuple[str, str], object] = {}


def kernel(source: str, name: str, target: str):
    """The compiled (or interpreted) function, built once per test session."""
    if (source, target) not in _built:
        _built[source, target] = tvmscript.build(tvmscript.from_source(source), target=target)
    return _built[source, target][name]


def store(dtype: str) -> str:
    return f'''
@T.prim_func
def store(A: T.Buffer((1,), "{dtype}"), x: T.{dtype}):
    A[0] = x
'''


INT_RULE = re.escape("an int, bool or numpy integer (floats are refused even when whole: "
                     "use int(x))") + "$"
FLOAT_RULE = re.escape("a real number: int, float, numpy integer or floating (not bool or "
                       "complex)") + "$"
BOOL_RULE = re.escape("a bool, numpy bool, or the integer 0 or 1") + "$"


@pytest.mark.parametrize("target", TARGETS)
def test_int32_scalar_out_of_range_is_refused_not_wrapped(target):
    a = np.zeros(8, "int32")
    with pytest.raises(ValueError, match=r"^fill: argument 'n' = 2147483648 is out of range for "
                                         r"int32 \[-2147483648, 2147483647\]$"):
        kernel(FILL, "fill", target)(a, 2**31)
    np.testing.assert_array_equal(a, 0)  # nothing written
    kernel(FILL, "fill", target)(a, np.int64(3))
    np.testing.assert_array_equal(a, [1, 1, 1, 0, 0, 0, 0, 0])


ACCEPTED = [
    ("int32", 7, 7), ("int32", np.int64(-7), -7), ("int32", np.uint8(200), 200),
    ("int32", True, 1), ("int32", np.array(5), 5), ("int32", 2**31 - 1, 2**31 - 1),
    ("uint8", 255, 255), ("uint8", np.int16(0), 0), ("int64", -2**63, -2**63),
    ("bool", True, True), ("bool", np.bool_(False), False), ("bool", 1, True),
    ("float32", 1.5, 1.5), ("float32", 3, 3.0), ("float32", np.float64(0.25), 0.25),
    ("float32", np.int64(-2), -2.0), ("float32", float("inf"), np.inf),
    ("float32", -float("inf"), -np.inf), ("float16", 65504.0, 65504.0),
    ("float64", 1e308, 1e308), ("float64", np.float32(0.5), 0.5),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype, value, expected", ACCEPTED,
                         ids=[f"{d}-{v!r}" for d, v, _ in ACCEPTED])
def test_scalar_accepted(target, dtype, value, expected):
    a = np.zeros(1, dtype)
    kernel(store(dtype), "store", target)(a, value)
    assert a[0] == expected and a.dtype == np.dtype(dtype)


@pytest.mark.parametrize("target", TARGETS)
def test_nan_float_scalar_is_stored(target):
    a = np.zeros(1, "float32")
    kernel(store("float32"), "store", target)(a, float("nan"))
    assert np.isnan(a[0])


REFUSED = [
    ("int32", -2**31 - 1, ValueError, r"= -2147483649 is out of range for int32 "
                                      r"\[-2147483648, 2147483647\]"),
    ("uint8", 256, ValueError, r"= 256 is out of range for uint8 \[0, 255\]"),
    ("uint8", -1, ValueError, r"= -1 is out of range for uint8 \[0, 255\]"),
    ("int64", np.uint64(2**64 - 1), ValueError,
     r"= 18446744073709551615 is out of range for int64 \[-9223372036854775808, "
     r"9223372036854775807\]"),
    ("bool", 2, ValueError, r"= 2 is out of range for bool \[0, 1\]"),
    ("int32", 3.5, TypeError, f"is a float but the kernel expects an int32 scalar: {INT_RULE}"),
    ("int32", 3.0, TypeError, f"is a float but the kernel expects an int32 scalar: {INT_RULE}"),
    ("int32", np.float32(3), TypeError, "is a float32 but the kernel expects an int32 scalar"),
    ("int32", float("nan"), TypeError, "is a float but the kernel expects an int32 scalar"),
    ("int32", "3", TypeError, "is a str but the kernel expects an int32 scalar"),
    ("int32", None, TypeError, "is a NoneType but the kernel expects an int32 scalar"),
    ("int32", np.array([1]), TypeError, "is a ndarray but the kernel expects an int32 scalar"),
    ("bool", 0.5, TypeError, f"is a float but the kernel expects a bool scalar: {BOOL_RULE}"),
    ("float32", np.complex64(1 + 2j), TypeError,
     f"is a complex64 but the kernel expects a float32 scalar: {FLOAT_RULE}"),
    ("float32", 1j, TypeError, "is a complex but the kernel expects a float32 scalar"),
    ("float32", True, TypeError, "is a bool but the kernel expects a float32 scalar"),
    ("float32", "1.5", TypeError, "is a str but the kernel expects a float32 scalar"),
    ("float32", None, TypeError, "is a NoneType but the kernel expects a float32 scalar"),
    ("float32", 1e39, ValueError, r"= 1e\+39 is out of range for float32 \(largest finite "
                                  r"3.4028235e\+38; pass inf to mean infinity\)"),
    ("float32", 10**400, ValueError, r"= 1000+ is out of range for float32"),
    ("float16", 70000.0, ValueError, r"= 70000.0 is out of range for float16 \(largest finite "
                                     r"65504;"),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype, value, error, message", REFUSED,
                         ids=[f"{d}-{v!r}"[:40] for d, v, _, _ in REFUSED])
def test_scalar_refused_with_the_rule(target, dtype, value, error, message):
    a = np.full(1, 3, dtype)
    before = a.copy()
    with pytest.raises(error, match=r"^store: argument 'x' " + message):
        kernel(store(dtype), "store", target)(a, value)
    np.testing.assert_array_equal(a, before)  # the output is left as it was


def test_mtriple_checks_the_cpu_against_that_machine():
    with pytest.raises(Exception, match="LLVM does not know the CPU 'skylake' \\(-mcpu\\) for "
                                        "aarch64-linux-gnu"):
        tvmscript.build(tvmscript.from_source(ADD), target=AARCH64 + " -mcpu=skylake")
    asm = tvmscript.build(tvmscript.from_source(ADD),
                          target=AARCH64 + " -mcpu=neoverse-v1").get_source("asm")
    assert "\tfadd\t" in asm


def test_load_module_of_a_file_that_is_no_library_says_so(tmp_path):
    bad = tmp_path / "not_a_library.so"
    bad.write_bytes(b"\x7fELF" + bytes(60))  # what a truncated or foreign file looks like
    with pytest.raises(OSError, match=r"cannot load .*not_a_library\.so: .*loads only there"):
        tvmscript.load_module(str(bad))
