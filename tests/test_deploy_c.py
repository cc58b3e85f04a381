"""Deployment without Python: a model exported with ``export_library`` runs from C through
``tvmscript_model.h`` (``backends/runtime/c_api.py``). The example ``examples/c/main.c`` is
compiled with the system cc and run as a subprocess; its outputs are compared with the Python
graph executor's (bit for bit: the same kernels in the same order) and with onnxruntime. Also:
tuple, repeated, pass-through and constant outputs; a kernel's failed assertion; the refusal of
a CPU the library was not built for; functions the C entry cannot run."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tvmscript
from backends.runtime import c_api
from backends.target import Target, cross_compile_reason, has_feature
from tvmscript.ir import IRModule, PrimFunc

ROOT = Path(__file__).resolve().parents[1]
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="building and running the C example needs a "
                                "C compiler (cc)")
RNG = np.random.default_rng(13)


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Path:
    """examples/c/main.c, built as its Makefile does (warnings are errors here)."""
    exe = tmp_path_factory.mktemp("runner") / "run_model"
    include = os.path.dirname(c_api.header_path())
    cmd = [CC, "-O2", "-Wall", "-Wextra", "-Werror", "-std=c99", "-I", include, "-o", str(exe),
           str(ROOT / "examples" / "c" / "main.c"), "-ldl"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return exe


def run_c(runner: Path, library: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(runner), str(library), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def run_with_files(runner: Path, library: Path, inputs: list[np.ndarray],
                   outputs: list[tuple[tuple[int, ...], str]], tmp: Path,
                   *extra: str) -> list[np.ndarray]:
    """Run the C example on ``inputs`` (raw files) and read its outputs back."""
    args = []
    for i, x in enumerate(inputs):
        np.ascontiguousarray(x).tofile(tmp / f"in{i}.bin")
        args += ["--input", str(tmp / f"in{i}.bin")]
    done = run_c(runner, library, *args, "--output", str(tmp / "out.bin"), *extra)
    assert done.returncode == 0, done.stderr
    raw, got, at = (tmp / "out.bin").read_bytes(), [], 0
    for shape, dtype in outputs:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        got.append(np.frombuffer(raw[at:at + n], dtype).reshape(shape))
        at += n
    assert at == len(raw)
    return got


# ---------------------------------------------------------------- a small imported model


def small_onnx(path: Path) -> Path:
    """conv+bias+relu, conv+relu, flatten (a reshape), dense (Gemm), softmax; it returns the
    logits, the probabilities and an intermediate that later layers also read."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = {"w1": RNG.standard_normal((8, 3, 3, 3)) * 0.3, "b1": RNG.standard_normal(8),
               "w2": RNG.standard_normal((8, 8, 3, 3)) * 0.2,
               "wd": RNG.standard_normal((10, 8 * 4 * 4)) * 0.1, "bd": RNG.standard_normal(10)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Flatten", ["r2"], ["f"]),
             helper.make_node("Gemm", ["f", "wd", "bd"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, "small", [value("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [value("logits", TensorProto.FLOAT, [2, 10]), value("probs", TensorProto.FLOAT, [2, 10]),
         value("r1", TensorProto.FLOAT, [2, 8, 8, 8])],
        [numpy_helper.from_array(w.astype("float32"), name) for name, w in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(onnx path, built model, exported library)."""
    pytest.importorskip("onnx", reason="the model is written with onnx.helper (the test extra)")
    folder = tmp_path_factory.mktemp("small")
    path = small_onnx(folder / "small.onnx")
    ex = tvmscript.build(tvmscript.frontend.from_onnx(str(path)))
    library = folder / "small.so"
    ex.export_library(str(library))
    return path, ex, library


def test_c_example_runs_the_model_like_python_and_onnxruntime(small, runner, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="the reference is onnxruntime (test extra)")
    path, ex, library = small
    x = RNG.standard_normal((2, 3, 8, 8)).astype("float32")
    shapes = [((2, 10), "float32"), ((2, 10), "float32"), ((2, 8, 8, 8), "float32")]
    got = run_with_files(runner, library, [x], shapes, tmp_path, "--runs", "3")
    for c_out, py_out in zip(got, ex["main"](x)):
        np.testing.assert_array_equal(c_out, py_out)  # the same kernels in the same order
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for c_out, reference in zip(got, session.run(None, {"x": x})):
        np.testing.assert_allclose(c_out, reference, rtol=1e-4, atol=1e-5)


def test_c_example_describes_the_model_and_times_it(small, runner):
    _, ex, library = small
    done = run_c(runner, library, "--info", "--runs", "5")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1 graph function(s): main" in out and "cpu: ok" in out
    assert "input 0: x float32 (2, 3, 8, 8) 1536 bytes" in out
    assert "output 1: probs float32 (2, 10) 80 bytes" in out  # the ONNX output names
    assert "output 2: r1 float32 (2, 8, 8, 8) 4096 bytes" in out
    assert "main: 5 runs: mean" in out
    planned = ex.memory_stats("main")["peak_bytes"]
    assert f"workspace: {planned} bytes" in out  # the executor's static memory plan


def test_weights_are_read_in_place(small):
    """Weights are referenced at their offset in the payload (64-byte aligned), never copied
    into the C source; only small inline constants (biases here) get C arrays."""
    from tvmscript.serialize import pack

    _, ex, _ = small
    mod = ex._graph.mod
    payload = c_api.model_payload(mod, {n: k.spec for n, k in ex.kernels._kernels.items()})
    offsets = [offset for _, offset in pack(mod).weights]
    assert len(offsets) == 3 and all(offset % 64 == 0 for offset in offsets)
    for offset in offsets:
        assert f"W({offset})" in payload.model_source
    arrays = [line for line in payload.model_source.splitlines()
              if line.startswith("static const uint8_t tvms_c")]
    sizes = [int(a.split("[")[1].split("]")[0]) for a in arrays]
    assert sorted(sizes) == [8 * 4, 10 * 4]  # the two biases, inline in the script too


def test_bad_input_file_is_an_error(small, runner, tmp_path):
    _, _, library = small
    (tmp_path / "short.bin").write_bytes(b"\0" * 100)
    done = run_c(runner, library, "--input", str(tmp_path / "short.bin"))
    assert done.returncode == 1
    assert "must hold exactly 1536 bytes for input 'x' (float32), it has fewer" in done.stderr


def test_unknown_function_is_refused_at_create(small, runner):
    _, _, library = small
    done = run_c(runner, library, "--function", "predict")
    assert done.returncode == 2
    assert "error: this model has no graph function 'predict'; it has: 'main'" in done.stderr


def test_api_checks_buffers_in_process(small):
    """The C API called through ctypes: NULL and misaligned buffers are errors, not crashes
    (the checks come before any kernel runs)."""
    _, ex, library = small
    lib = ctypes.CDLL(str(library))
    lib.tvmscript_model_create.restype = ctypes.c_void_p
    lib.tvmscript_last_error.restype = ctypes.c_char_p
    lib.tvmscript_check_cpu.restype = ctypes.c_char_p
    lib.tvmscript_model_run.argtypes = [ctypes.c_void_p] * 3
    lib.tvmscript_model_destroy.argtypes = [ctypes.c_void_p]
    assert lib.tvmscript_abi_version() == 1 and lib.tvmscript_check_cpu() is None
    model = lib.tvmscript_model_create(b"main")
    assert model
    try:
        x = RNG.standard_normal((2, 3, 8, 8)).astype("float32")
        outs = [np.zeros((2, 10), "float32"), np.zeros((2, 10), "float32"),
                np.zeros((2, 8, 8, 8), "float32")]
        ins = (ctypes.c_void_p * 1)(x.ctypes.data)
        ptrs = (ctypes.c_void_p * 3)(*(o.ctypes.data for o in outs))
        assert lib.tvmscript_model_run(model, ins, ptrs) == 0
        for got, expected in zip(outs, ex["main"](x)):
            np.testing.assert_array_equal(got, expected)
        ptrs[1] = None
        assert lib.tvmscript_model_run(model, ins, ptrs) != 0
        assert lib.tvmscript_last_error() == b"main: output 1 ('probs') is NULL"
        ptrs[1] = outs[1].ctypes.data + 2
        assert lib.tvmscript_model_run(model, ins, ptrs) != 0
        assert b"output 1 ('probs', float32) is at" in lib.tvmscript_last_error()
        assert b"not aligned to its 4-byte elements" in lib.tvmscript_last_error()
    finally:
        lib.tvmscript_model_destroy(model)


# ---------------------------------------------------------------- script modules

TUPLES = '''
@I.ir_module
class Module:
    @T.prim_func
    def split_sign(A: T.Buffer((2, 4), "float32"), Pos: T.Buffer((2, 4), "float32"), Neg: T.Buffer((2, 4), "float32")):
        for i, j in T.grid(2, 4):
            with T.block("s"):
                vi, vj = T.axis.remap("SS", [i, j])
                Pos[vi, vj] = T.max(A[vi, vj], T.float32(0))
                Neg[vi, vj] = T.min(A[vi, vj], T.float32(0))

    @T.prim_func
    def add(A: T.Buffer((2, 4), "float32"), B: T.Buffer((2, 4), "float32"), C: T.Buffer((2, 4), "float32")):
        for i, j in T.grid(2, 4):
            with T.block("c"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] + B[vi, vj]

    @R.function
    def main(x: R.Tensor((2, 4), "float32"), t: R.Tuple(R.Tensor((2, 4), "float32"), R.Tensor((2, 4), "float32"))):
        cls = Module
        c = R.const([[1, 2, 3, 4], [5, 6, 7, 8]], "float32")
        with R.dataflow():
            parts = R.call_tir(cls.split_sign, (x,), out_sinfo=[R.Tensor((2, 4), dtype="float32"), R.Tensor((2, 4), dtype="float32")])
            p = parts[0]
            s = R.call_tir(cls.add, (p, c), out_sinfo=R.Tensor((2, 4), dtype="float32"))
            u = R.call_tir(cls.add, (t[0], t[1]), out_sinfo=R.Tensor((2, 4), dtype="float32"))
            gv = (s, parts, s, x, c, u)
            R.output(gv)
        return gv
'''

CHECKED = '''
@I.ir_module
class Module:
    @T.prim_func
    def sqrt_checked(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
        for i in range(4):
            assert A[i] >= T.float32(0), "every element must be non-negative"
            B[i] = T.sqrt(A[i])

    @R.function
    def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
        cls = Module
        y = R.call_tir(cls.sqrt_checked, (x,), out_sinfo=R.Tensor((4,), dtype="float32"))
        return y
'''

SYMBOLIC = '''
@I.ir_module
class Module:
    @T.prim_func
    def double(a: T.handle, b: T.handle):
        n = T.int64()
        A = T.match_buffer(a, (n, 4), "float32")
        B = T.match_buffer(b, (n, 4), "float32")
        for i, j in T.grid(n, T.int64(4)):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = A[vi, vj] * T.float32(2)

    @R.function
    def main(x: R.Tensor(("n", 4), "float32")) -> R.Tensor(("n", 4), "float32"):
        n = T.int64()
        cls = Module
        z = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((n, 4), dtype="float32"))
        return z

    @R.function
    def fixed(x: R.Tensor((3, 4), "float32")) -> R.Tensor((3, 4), "float32"):
        cls = Module
        z = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((3, 4), dtype="float32"))
        return z
'''


def test_python_calls_of_a_loaded_library_go_through_its_c_entry(small):
    """load_module routes main through the C entry (one call instead of a Python step per
    kernel); arguments it does not take as they are go to the Python executor, whose errors
    say what is wrong (the same as without a C entry); each thread gets its own C model object (workspace)."""
    import threading

    from backends.runtime.c_runner import NativeGraphFunction

    _, ex, library = small
    loaded = tvmscript.load_module(str(library))
    main = loaded["main"]
    assert isinstance(main, NativeGraphFunction)
    x = RNG.standard_normal((2, 3, 8, 8)).astype("float32")
    for got, want in zip(main(x), ex["main"](x)):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="argument 'x' must be a numpy array, got list"):
        main(x.tolist())
    with pytest.raises(Exception, match="float32") as wrong_dtype:
        main(x.astype("float64"))
    with pytest.raises(Exception) as python_error:
        ex["main"](x.astype("float64"))
    assert str(wrong_dtype.value) == str(python_error.value)
    with pytest.raises(TypeError, match="takes 1 arguments"):
        main()
    inputs = [RNG.standard_normal((2, 3, 8, 8)).astype("float32") for _ in range(4)]
    results: dict[int, object] = {}

    def work(i: int) -> None:
        for _ in range(20):
            results[i] = main(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, x_i in enumerate(inputs):
        for got, want in zip(results[i], ex["main"](x_i)):
            np.testing.assert_array_equal(got, want)


def export(text: str, path: Path, target: str = "llvm"):
    ex = tvmscript.build(tvmscript.from_source(text), target=target)
    ex.export_library(str(path))
    return ex


def test_tuples_repeated_passthrough_and_constant_outputs(runner, tmp_path):
    """A kernel with two outputs, tuple items, a tuple parameter, and results that are the
    same tensor twice, a tuple of a call's outputs, an input and a constant."""
    ex = export(TUPLES, tmp_path / "tuples.so")
    x = RNG.standard_normal((2, 4)).astype("float32")
    t = (RNG.standard_normal((2, 4)).astype("float32"), RNG.standard_normal((2, 4)).astype("float32"))
    s, (pos, neg), s2, x2, c, u = ex["main"](x, t)
    expected = [s, pos, neg, s2, x2, c, u]
    got = run_with_files(runner, tmp_path / "tuples.so", [x, *t], [((2, 4), "float32")] * 7,
                         tmp_path, "--runs", "0")
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got[0], np.maximum(x, 0) + np.arange(1, 9, dtype="float32").reshape(2, 4))
    info = run_c(runner, tmp_path / "tuples.so", "--info", "--runs", "0").stdout
    assert "input 1: t[0] float32" in info and "input 2: t[1] float32" in info
    assert "output 0: gv[0] float32" in info and "output 2: gv[1][1] float32" in info


def test_failed_kernel_assertion_is_an_error_with_its_message(runner, tmp_path):
    ex = export(CHECKED, tmp_path / "checked.so")
    x = np.array([0, 1, 4, 9], "float32")
    (got,) = run_with_files(runner, tmp_path / "checked.so", [x], [((4,), "float32")], tmp_path)
    np.testing.assert_array_equal(got, ex["main"](x))
    (tmp_path / "neg.bin").write_bytes(np.array([1, -1, 4, 9], "float32").tobytes())
    done = run_c(runner, tmp_path / "checked.so", "--input", str(tmp_path / "neg.bin"))
    assert done.returncode == 3
    assert done.stderr.strip() == ("error: main: sqrt_checked: assertion failed: every element "
                                   "must be non-negative")


def test_symbolic_shapes_export_without_a_c_entry(runner, tmp_path):
    """Exported all the same (Python runs it); the C entry runs only the static function and
    says why not for the other, at build time and at create."""
    ex = export(SYMBOLIC, tmp_path / "sym.so")
    reason = ("parameter 'x' has the symbolic shape (n, 4); the C entry runs functions of "
              "static shapes only")
    assert reason in c_api.c_entry_problems(ex)["main"]
    assert "fixed" not in c_api.c_entry_problems(ex)
    done = run_c(runner, tmp_path / "sym.so")
    assert done.returncode == 2
    assert f"error: graph function 'main' cannot run from C: {reason}" in done.stderr
    x = RNG.standard_normal((3, 4)).astype("float32")
    (got,) = run_with_files(runner, tmp_path / "sym.so", [x], [((3, 4), "float32")], tmp_path,
                            "--function", "fixed")
    np.testing.assert_array_equal(got, x * 2)
    loaded = tvmscript.load_module(str(tmp_path / "sym.so"))
    np.testing.assert_array_equal(loaded["main"](x[:2]), x[:2] * 2)


# ---------------------------------------------------------------- another CPU

# features LLVM can compile for on x86-64; the first one this CPU lacks makes a foreign target
FOREIGN_FEATURES = ("avx512f", "sse4a", "fma4", "avx512fp16", "amx-tile")


def foreign_feature() -> str | None:
    return next((f for f in FOREIGN_FEATURES if not has_feature(f)), None)


def build_for(text: str, target: str):
    """``tvmscript.build`` for a CPU this machine lacks. build refuses graph functions for such
    a target (it would run them in this process), so the kernels are built for it and the graph
    attached as build does; the library is the one a build machine would export."""
    from backends.build import legalize, lower
    from backends.llvm import build_llvm
    from backends.runtime.executor import Executable

    mod = legalize(tvmscript.from_source(text))
    kernels = {n: f for n, f in mod.functions.items() if isinstance(f, PrimFunc)}
    rt = build_llvm(dict(lower(IRModule(kernels)).functions), target)
    rt.cross_reason = cross_compile_reason(Target.parse(target))
    rt._graph = Executable(mod, rt.kernels)
    return rt


def test_library_refuses_a_cpu_it_was_not_built_for(runner, tmp_path):
    feature = foreign_feature()
    if feature is None:
        pytest.skip(f"this CPU has every feature of {FOREIGN_FEATURES}: no target it cannot run")
    target = f"llvm -mattr=+{feature}"
    build_for(CHECKED, target).export_library(str(tmp_path / "foreign.so"))
    done = run_c(runner, tmp_path / "foreign.so", "--info")
    assert done.returncode == 2
    assert f"cpu: this CPU lacks {feature}, which the model's kernels use" in done.stdout
    assert f"compiled for target '{target}'" in done.stderr
    assert f"error: this CPU lacks {feature}" in done.stderr
    loaded = tvmscript.load_module(str(tmp_path / "foreign.so"))  # Python refuses it too
    with pytest.raises(RuntimeError, match=f"-mattr asks for {feature}, which this CPU"):
        loaded["main"](np.ones(4, "float32"))


def test_named_cpu_features_come_from_the_compiler():
    """-mcpu=NAME: the features cc enables for -march=NAME are the ones checked."""
    from backends.runtime.c_cpu import required_features

    features, note = required_features(Target.parse("llvm -mcpu=skylake-avx512"), CC)
    assert note == "" and {"avx512f", "avx512bw", "avx2", "fma"} <= set(features)
    features, note = required_features(Target.parse("llvm -mcpu=haswell -mattr=-fma"), CC)
    assert "avx2" in features and "fma" not in features and "avx512f" not in features
    features, _ = required_features(Target.parse("llvm -mattr=+avx512f"), CC)
    assert "avx512f" in features  # the host's features and the -mattr ones


def test_header_ships_with_the_package(tmp_path):
    header = Path(c_api.header_path())
    assert header.is_file() and "tvmscript_model_run" in header.read_text()
    written = c_api.write_header(tmp_path / "model.h")
    assert Path(written).read_text() == header.read_text()
    assert c_api.write_header(tmp_path) == str(tmp_path / "tvmscript_model.h")
