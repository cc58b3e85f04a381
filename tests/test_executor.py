"""The graph-level executor, with interpreted kernels (and trivial Python ones for overhead)."""

from __future__ import annotations


import numpy as np
import pytest

import tvmscript
from backends.interpreter import InterpretedModule
from backends.runtime.executor import Executable
from tests.corpus.module_programs import PROGRAMS


def executable(text: str) -> Executable:
    mod = tvmscript.from_source(text)
    return Executable(mod, InterpretedModule(mod))


def test_corpus_call_tir_modules() -> None:
    rng = np.random.default_rng(0)
    ex = executable(PROGRAMS["module_add_relu"])
    x, y = rng.standard_normal((2, 16, 32)).astype("float32")
    np.testing.assert_array_equal(ex["main"](x, y), np.maximum(x + y, 0))
    ex = executable(PROGRAMS["module_forward_reference_out_ty"])
    x = rng.standard_normal(8).astype("float32")
    np.testing.assert_array_equal(ex["main"](x), x * 2)


def test_loop_level_name_gives_the_kernel() -> None:
    mod = tvmscript.from_source(PROGRAMS["module_add_relu"])
    interp = InterpretedModule(mod)
    ex = Executable(mod, interp)
    assert ex["add"] is interp["add"]
    assert ex.function_names() == ["main"]


TUPLES = '''
@I.ir_module
class Module:
    @T.prim_func
    def split_sign(A: T.Buffer((8,), "float32"), Pos: T.Buffer((8,), "float32"), Neg: T.Buffer((8,), "float32")):
        for i in range(8):
            with T.block("s"):
                vi = T.axis.spatial(8, i)
                Pos[vi] = T.max(A[vi], T.float32(0))
                Neg[vi] = T.min(A[vi], T.float32(0))

    @T.prim_func
    def add(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32"), C: T.Buffer((8,), "float32")):
        for i in range(8):
            with T.block("c"):
                vi = T.axis.spatial(8, i)
                C[vi] = A[vi] + B[vi]

    @R.function
    def helper(x: R.Tensor((8,), "float32")) -> R.Tensor((8,), "float32"):
        cls = Module
        c = R.const([1, 2, 3, 4, 5, 6, 7, 8], "float32")
        y = R.call_tir(cls.add, (x, c), out_sinfo=R.Tensor((8,), dtype="float32"))
        return y

    @R.function
    def main(x: R.Tensor((8,), "float32")) -> R.Tuple(R.Tensor((8,), "float32"), R.Tensor((8,), "float32")):
        cls = Module
        with R.dataflow():
            parts = R.call_tir(cls.split_sign, (x,), out_sinfo=[R.Tensor((8,), dtype="float32"), R.Tensor((8,), dtype="float32")])
            p = parts[0]
            q = parts[1]
            s = cls.helper(p)
            gv = (s, q)
            R.output(gv)
        return gv
'''


def test_tuple_outputs_constants_and_graph_calls() -> None:
    ex = executable(TUPLES)
    x = np.linspace(-4, 4, 8).astype("float32")
    s, q = ex["main"](x)
    np.testing.assert_array_equal(s, np.maximum(x, 0) + np.arange(1, 9, dtype="float32"))
    np.testing.assert_array_equal(q, np.minimum(x, 0))


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
    def main(x: R.Tensor(("n", 4), "float32"), y: R.Tensor(("n", 4), "float32")) -> R.Tensor(("n", 4), "float32"):
        n = T.int64()
        z = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((n, 4), dtype="float32"))
        return z
'''.replace("        n = T.int64()\n        z", "        n = T.int64()\n        cls = Module\n        z")


def test_symbolic_shapes_and_bad_arguments() -> None:
    ex = executable(SYMBOLIC)
    x = np.arange(12, dtype="float32").reshape(3, 4)
    np.testing.assert_array_equal(ex["main"](x, x), x * 2)
    with pytest.raises(ValueError, match="'y'.*n is 3"):
        ex["main"](x, np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="'x'.*shape\\[1\\] == 4"):
        ex["main"](np.zeros((3, 5), "float32"), x)
    with pytest.raises(ValueError, match="'x'.*2 dimensions"):
        ex["main"](np.zeros(3, "float32"), x)
    with pytest.raises(TypeError, match="'y'.*float32"):
        ex["main"](x, x.astype("float64"))
    with pytest.raises(TypeError, match="'x'.*numpy array"):
        ex["main"]([1.0], x)
    with pytest.raises(TypeError, match="2 arguments"):
        ex["main"](x)


@pytest.mark.parametrize("name", ["graph_ops_only", "module_multiple_outputs",
                                  "module_calls_graph_function"])
def test_unlowered_operator_is_a_clear_error(name: str) -> None:
    mod = tvmscript.from_source(PROGRAMS[name])
    if not isinstance(mod, tvmscript.IRModule):
        mod = tvmscript.IRModule.from_function(mod, "main")
    ex = Executable(mod, InterpretedModule(mod))
    with pytest.raises(NotImplementedError, match=r"R\.(matmul|add|nn\.relu).*call_tir"):
        ex["main"]


def _legalized(name: str) -> Executable:
    import passes.legalize_ops  # noqa: F401  (registers the pass)
    from passes.infra import get_pass

    mod = tvmscript.from_source(PROGRAMS[name])
    if not isinstance(mod, tvmscript.IRModule):
        mod = tvmscript.IRModule.from_function(mod, "main")
    mod = get_pass("legalize-ops")(mod)
    return Executable(mod, InterpretedModule(mod))


def _conv_mul(x, w):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((1, 4, 8, 8))
    for r in range(3):
        for s in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 8, s:s + 8], w[:, :, r, s])
    return y * y.sum(axis=1, keepdims=True)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LEGALIZED = {
    "graph_ops_only": (((4, 16), (16, 8), (8,)),
                       lambda x, w, b: _softmax(np.maximum(x @ w + b, 0))),
    "graph_symbolic": (((5, 16), (16, 3)), lambda x, w: np.exp(x @ w)),
    "graph_tuples_constants": (((2, 3),), lambda x: (x + [[1, 2, 3], [4, 5, 6]],
                                                     (x + [[1, 2, 3], [4, 5, 6]]).T)),
    "graph_scalar_const_no_dataflow": (((4,),), lambda x: x * 2),
    "module_multiple_outputs": (((32,),), lambda x: x),
    "module_calls_graph_function": (((4, 4),), lambda x: np.maximum(x, 0) @ np.maximum(x, 0)),
    "module_attrs_conv": (((1, 3, 8, 8), (4, 3, 3, 3)), _conv_mul),
    "graph_reshape_shape": (((2, 3, 4),), lambda x: x.reshape(2, 12)),
}


@pytest.mark.parametrize("name", sorted(LEGALIZED))
def test_legalized_corpus_modules_match_numpy(name: str) -> None:
    """After ``legalize-ops`` every corpus module is call_tir only and runs here."""
    shapes, reference = LEGALIZED[name]
    ex = _legalized(name)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype("float32") for s in shapes]
    got, expected = ex["main"](*args), reference(*args)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
    else:
        got, expected = (got,), (expected,)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


def chain_module(length: int) -> str:
    calls = "\n".join(
        f"        v{i + 1} = R.call_tir(cls.k, (v{i},), out_sinfo=R.Tensor((4,), dtype=\"float32\"))"
        for i in range(length)
    )
    return f'''
@I.ir_module
class Module:
    @T.prim_func
    def k(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
        for i in range(4):
            B[i] = A[i] + T.float32(1)

    @R.function
    def main(v0: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
        cls = Module
{calls}
        return v{length}
'''


def test_chain_of_call_tir() -> None:
    mod = tvmscript.from_source(chain_module(100))
    ex = Executable(mod, InterpretedModule(mod))
    np.testing.assert_array_equal(ex["main"](np.zeros(4, "float32")), np.full(4, 100.0))
