"""Regressions of issue 9 in the LLVM JIT, targets and the kernel runtime's argument checks.

- libm functions (``tanhf``, ``erff``) resolve in a fresh process, in the JIT and in exported
  libraries (they used to work only after a parallel kernel had loaded libgomp);
- unknown target options are errors, and ``-mtriple`` cross-compiles (never runs here);
- scalar arguments out of their dtype's range, or of the wrong kind, are refused with the
  function, the parameter and the rule, by the compiled runtime and the interpreter alike.
"""

from __future__ import annotations

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
    with pytest.raises(RuntimeError, match="add: this kernel was compiled for another machine"):
        aarch64_add.kernels["add"](np.zeros(64, "float32"), np.zeros(64, "float32"))
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


def test_graph_functions_refuse_a_foreign_triple():
    with pytest.raises(ValueError, match="graph-level functions run in this process, but it was "
                                         "compiled for aarch64-linux-gnu"):
        tvmscript.build(tvmscript.from_source(GELU), target=AARCH64)
