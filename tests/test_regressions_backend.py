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
