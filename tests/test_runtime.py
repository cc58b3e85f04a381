"""The runtime module: argument checks at every call, DLPack/__array_interface__ inputs,
symbolic shapes, failed asserts, and export_library + load_module round trips."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from backends.llvm import build_llvm
from tests.conformance import load_cases, requires_cases

RNG = np.random.default_rng(1)

MATMUL = '''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    T.func_attr({"global_symbol": "matmul", "tir.noalias": True})
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''

SYMBOLIC = '''
@T.prim_func
def scale(a: T.handle, b: T.handle, alpha: T.float32):
    n = T.int32()
    A = T.match_buffer(a, (n, 4), "float32")
    B = T.match_buffer(b, (n, 4), "float32")
    for i in range(n * 4):
        B_flat = T.decl_buffer((n * 4,), "float32", data=B.data)
        A_flat = T.decl_buffer((n * 4,), "float32", data=A.data)
        B_flat[i] = A_flat[i] * alpha
'''

ASSERTING = '''
@T.prim_func
def checked(A: T.Buffer((4,), "int32"), k: T.int32):
    assert k < 4, "k must be below 4"
    A[k] = 1
'''


@pytest.fixture(scope="module")
def matmul():
    return tvmscript.build(tvmscript.from_source(MATMUL), target="llvm")


@pytest.fixture(scope="module")
def scale():
    return build_llvm({"scale": tvmscript.from_source(SYMBOLIC)})


def arrays(*shapes, dtype="float32"):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


def test_matmul_correct(matmul):
    a, b = arrays((128, 128), (128, 128))
    c = np.zeros((128, 128), "float32")
    matmul["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)


def test_wrong_shape_names_function_and_parameter(matmul):
    a, b = arrays((128, 64), (128, 128))
    c = np.zeros((128, 128), "float32")
    with pytest.raises(ValueError, match=r"matmul: argument 'A' has shape \(128, 64\) but the "
                                         r"kernel expects \(128, 128\)"):
        matmul["matmul"](a, b, c)


def test_wrong_dtype_and_rank(matmul):
    a, b = arrays((128, 128), (128, 128))
    with pytest.raises(TypeError, match="argument 'C' has dtype float64"):
        matmul["matmul"](a, b, np.zeros((128, 128)))
    with pytest.raises(ValueError, match="argument 'B' has rank 1"):
        matmul["matmul"](a, b.ravel(), np.zeros((128, 128), "float32"))


def test_non_contiguous_rejected(matmul):
    a, b = arrays((128, 128), (128, 256))
    c = np.zeros((128, 128), "float32")
    with pytest.raises(ValueError, match="argument 'B' is not C-contiguous"):
        matmul["matmul"](a, b[:, ::2], c)
    with pytest.raises(ValueError, match="'A' is not C-contiguous"):
        matmul["matmul"](np.asfortranarray(a), b[:, :128].copy(), c)


def test_argument_count(matmul):
    a, b = arrays((128, 128), (128, 128))
    with pytest.raises(TypeError, match=r"matmul\(\) takes 3 arguments \(A, B, C\) but 2"):
        matmul["matmul"](a, b)
    with pytest.raises(TypeError, match="but 4 were given"):
        matmul["matmul"](a, b, a, b)


def test_read_only_output_rejected(matmul):
    a, b = arrays((128, 128), (128, 128))
    c = np.zeros((128, 128), "float32")
    c.flags.writeable = False
    with pytest.raises(ValueError, match="argument 'C' is read-only"):
        matmul["matmul"](a, b, c)
    a.flags.writeable = False  # read-only inputs are fine
    c2 = np.zeros((128, 128), "float32")
    matmul["matmul"](a, b, c2)


def test_not_an_array(matmul):
    with pytest.raises(TypeError, match="argument 'A' is a list"):
        matmul["matmul"]([[1.0]], None, None)


def test_unknown_function(matmul):
    with pytest.raises(KeyError, match="no function 'nope'"):
        matmul["nope"]


class Interface:
    """An object that only offers ``__array_interface__``."""

    def __init__(self, arr):
        self._arr = arr
        self.__array_interface__ = arr.__array_interface__


class DLPackOnly:
    """An object that only offers DLPack."""

    def __init__(self, arr):
        self._arr = arr

    def __dlpack__(self, **kwargs):
        return self._arr.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._arr.__dlpack_device__()


def test_array_interface_and_dlpack_written_in_place(matmul):
    a, b = arrays((128, 128), (128, 128))
    c = np.zeros((128, 128), "float32")
    matmul["matmul"](Interface(a), DLPackOnly(b), Interface(c))
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)
    c2 = np.zeros((128, 128), "float32")
    matmul["matmul"](a, b, DLPackOnly(c2))
    np.testing.assert_allclose(c2, a @ b, rtol=1e-4, atol=1e-3)


def test_symbolic_shape_binding(scale):
    a = RNG.standard_normal((10, 4)).astype("float32")
    b = np.zeros((10, 4), "float32")
    scale["scale"](a, b, 2.5)
    np.testing.assert_allclose(b, a * 2.5)
    a3 = RNG.standard_normal((3, 4)).astype("float32")
    b3 = np.zeros((3, 4), "float32")
    scale["scale"](a3, b3, np.float32(-1))
    np.testing.assert_allclose(b3, -a3)


def test_symbolic_shape_inconsistency(scale):
    a = np.zeros((10, 4), "float32")
    with pytest.raises(ValueError, match=r"argument 'B' has shape \(9, 4\) but the kernel "
                                         r"expects \(n, 4\) with n = 10"):
        scale["scale"](a, np.zeros((9, 4), "float32"), 1.0)
    with pytest.raises(ValueError, match=r"argument 'A' has shape \(10, 5\)"):
        scale["scale"](np.zeros((10, 5), "float32"), np.zeros((10, 5), "float32"), 1.0)


def test_scalar_type_checked(scale):
    a = np.zeros((2, 4), "float32")
    with pytest.raises(TypeError, match="argument 'alpha' is a str"):
        scale["scale"](a, a.copy(), "x")


def test_failed_assert_is_runtime_error():
    rt = build_llvm({"checked": tvmscript.from_source(ASSERTING)})
    a = np.zeros(4, "int32")
    rt["checked"](a, 2)
    assert a.tolist() == [0, 0, 1, 0]
    with pytest.raises(RuntimeError, match="checked: assertion failed: k must be below 4"):
        rt["checked"](a, 4)


def test_export_and_load(tmp_path, matmul, scale):
    path = tmp_path / "matmul.so"
    matmul.export_library(str(path))
    loaded = tvmscript.load_module(str(path))
    a, b = arrays((128, 128), (128, 128))
    c = np.zeros((128, 128), "float32")
    loaded["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="argument 'A' has shape"):
        loaded["matmul"](a[:64], b, c)

    spath = tmp_path / "scale.so"
    scale.export_library(str(spath))
    s = tvmscript.load_module(str(spath))
    x = RNG.standard_normal((5, 4)).astype("float32")
    y = np.zeros((5, 4), "float32")
    s["scale"](x, y, 3.0)
    np.testing.assert_allclose(y, x * 3)


def test_export_parallel_and_assert(tmp_path):
    src = '''
@T.prim_func
def par(A: T.Buffer((256,), "float32"), k: T.int32):
    assert k > 0, "k must be positive"
    for i in T.parallel(256):
        A[i] = T.Cast("float32", i * k)
'''
    rt = build_llvm({"par": tvmscript.from_source(src)})
    path = tmp_path / "par.so"
    rt.export_library(str(path))
    loaded = tvmscript.load_module(str(path))
    a = np.zeros(256, "float32")
    loaded["par"](a, 2)
    np.testing.assert_array_equal(a, np.arange(256, dtype="float32") * 2)
    with pytest.raises(RuntimeError, match="k must be positive"):
        loaded["par"](a, 0)


def test_interpreter_target_has_the_same_interface():
    func = tvmscript.from_source(MATMUL)
    rt = tvmscript.build(func, target="interpreter")
    a, b = arrays((128, 128), (128, 128))
    c = np.zeros((128, 128), "float32")
    rt["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)


@requires_cases
def test_graph_module_runs_compiled_kernels():

    case = load_cases()["graph_module"]
    rt = tvmscript.build(tvmscript.from_source(case.SOURCE), target="llvm")
    args = case.make_args(np.random.default_rng(0))
    np.testing.assert_allclose(rt["main"](*args), case.reference(*args)[0], rtol=2e-3, atol=2e-3)
    assert {"add", "relu", "main"} <= set(rt.keys())


def test_public_api_does_not_import_backends_eagerly():
    import subprocess
    import sys

    code = "import sys, tvmscript; print('backends' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "False", out.stderr
