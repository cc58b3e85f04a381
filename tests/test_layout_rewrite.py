"""Weights packed once at build time (``tuner.layout_rewrite``): models built with and without the
step compute what numpy computes; the rewritten kernels have no copy left and take the packed
constant; shared kernels, computed weights, public kernels and unsafe copies are handled; the
result prints, re-parses and exports with its packed weights."""

from __future__ import annotations

import numpy as np
import pytest

import tuner.layout_rewrite as lr
import tvmscript
from backends.build import build
from benchmarks.default_schedule import numpy_conv2d
from passes.infra import get_pass
from tuner.default_schedule import LAYOUT_REWRITE, default_schedule_module
from tuner.layout_rewrite import find_prepacks, rewrite_layouts
from tuner.model_pipeline import graph_passes, lowering_passes, optimize_model
from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir import stmt as S
from tvmscript.ir.function import PrimFunc
from tvmscript.schedule.state import walk

rng = np.random.default_rng(0)


def model(text: str, *constants: np.ndarray) -> IRModule:
    return IRModule.from_function(tvmscript.from_source(text, metadata=list(constants)), "main")


def scheduled(mod: IRModule) -> IRModule:
    """``optimize_model`` up to the schedules: the module the step rewrites."""
    return default_schedule_module(lowering_passes()(graph_passes()(mod)), "llvm")


def run_without_step(mod: IRModule, *inputs: np.ndarray) -> np.ndarray:
    plain = get_pass("static-memory-plan")(scheduled(mod))
    return np.asarray(build(plain, "llvm")["main"](*inputs))


def marked_blocks(func: PrimFunc) -> list[S.Block]:
    return [loc.node for loc in walk(func.body)
            if isinstance(loc.node, S.Block) and loc.node.annotations.get(LAYOUT_REWRITE)]


def kernels(mod: IRModule) -> dict[str, PrimFunc]:
    return {n: f for n, f in mod.functions.items() if isinstance(f, PrimFunc)}


def call_args(mod: IRModule) -> list[tuple[str, tuple]]:
    """(kernel, arguments) of each ``call_tir`` of ``main``, in order."""
    calls = []
    for block in mod["main"].body.blocks:
        for b in block.bindings:
            if isinstance(b.value, G.Call) and b.value.op.name == "relax.call_tir":
                calls.append((b.value.args[0].name_hint, b.value.args[1].fields))
    return calls


CONV = '''
@R.function
def main(x: R.Tensor((1, {c}, {h}, {h}), "float32")):
    with R.dataflow():
        lv = R.nn.conv2d(x, metadata["relax.expr.Constant"][0], strides=[{s}, {s}],
                         padding=[{p}, {p}, {p}, {p}])
        lv1 = R.add(lv, metadata["relax.expr.Constant"][1])
        gv = R.nn.relu(lv1)
        R.output(gv)
    return gv
'''


@pytest.mark.parametrize("c, h, k, r, s", [
    (8, 7, 16, 3, 1),    # 3x3 at 7x7: channels are the vector, the weight is packed by them
    (8, 14, 16, 3, 2),   # stride 2
    (8, 7, 16, 1, 1),    # 1x1
])
@pytest.mark.parametrize("interpret_max", [lr.INTERPRET_MAX_ELEMENTS, 0],
                         ids=["interpreter", "llvm"])
def test_conv2d_with_and_without_the_step(c, h, k, r, s, interpret_max, monkeypatch) -> None:
    monkeypatch.setattr(lr, "INTERPRET_MAX_ELEMENTS", interpret_max)
    w = rng.standard_normal((k, c, r, r)).astype("float32")
    b = rng.standard_normal((1, k, 1, 1)).astype("float32")
    x = rng.standard_normal((1, c, h, h)).astype("float32")
    mod = model(CONV.format(c=c, h=h, s=s, p=r // 2), w, b)
    expected = np.maximum(numpy_conv2d(x, w, s, r // 2) + b, 0)
    np.testing.assert_allclose(run_without_step(mod, x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tvmscript.build(mod)["main"](x), expected, rtol=1e-4, atol=1e-4)

    before = scheduled(mod)
    assert [len(marked_blocks(f)) for f in kernels(before).values()] == [1]  # the premise
    after = rewrite_layouts(before, "llvm")
    (name, kernel), = kernels(after).items()
    assert kernels(before).keys() == {name} and not marked_blocks(kernel)
    (_, args), = call_args(after)
    packed = kernel.buffer_map[kernel.params[1]]
    assert args[1].data.shape == tuple(d.value for d in packed.shape) != w.shape


def test_packed_constant_holds_the_weight_in_the_kernels_layout() -> None:
    """3x3 at 7x7 with 16 output channels: blocks of 8 output channels, innermost."""
    w = rng.standard_normal((16, 8, 3, 3)).astype("float32")
    mod = model(CONV.format(c=8, h=7, s=1, p=1), w, np.zeros((1, 16, 1, 1), "float32"))
    (_, args), = call_args(rewrite_layouts(scheduled(mod), "llvm"))
    expected = w.reshape(2, 8, 8, 3, 3).transpose(0, 2, 3, 4, 1)
    np.testing.assert_array_equal(args[1].data, expected)


def test_dense_with_64_rows() -> None:
    a = rng.standard_normal((64, 32)).astype("float32")
    w = rng.standard_normal((32, 512)).astype("float32")
    mod = model('''
@R.function
def main(a: R.Tensor((64, 32), "float32")):
    with R.dataflow():
        gv = R.matmul(a, metadata["relax.expr.Constant"][0])
        R.output(gv)
    return gv
''', w)
    before = scheduled(mod)
    assert sum(len(marked_blocks(f)) for f in kernels(before).values()) == 1
    after = rewrite_layouts(before, "llvm")
    assert not any(marked_blocks(f) for f in kernels(after).values())
    np.testing.assert_allclose(run_without_step(mod, a), a @ w, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tvmscript.build(mod)["main"](a), a @ w, rtol=1e-4, atol=1e-4)


SHARED = '''
@R.function
def main(x: R.Tensor((1, 8, 7, 7), "float32"), w: R.Tensor((8, 8, 3, 3), "float32")):
    with R.dataflow():
        lv = R.nn.conv2d(x, metadata["relax.expr.Constant"][0], padding=[1, 1, 1, 1])
        lv1 = R.nn.conv2d(lv, metadata["relax.expr.Constant"][1], padding=[1, 1, 1, 1])
        lv2 = R.nn.conv2d(lv1, w, padding=[1, 1, 1, 1])
        gv = R.nn.conv2d(lv2, metadata["relax.expr.Constant"][0], padding=[1, 1, 1, 1])
        R.output(gv)
    return gv
'''


def shared_case() -> tuple[IRModule, list[np.ndarray], np.ndarray]:
    # scaled so that the values stay near 1 through four convolutions
    w0, w1, w2 = ((rng.standard_normal((8, 8, 3, 3)) / 8).astype("float32") for _ in range(3))
    x = rng.standard_normal((1, 8, 7, 7)).astype("float32")
    expected = x
    for w in (w0, w1, w2, w0):
        expected = numpy_conv2d(expected, w, 1, 1)
    return model(SHARED, w0, w1), [x, w2], expected


def test_one_kernel_two_constant_weights_and_a_computed_one() -> None:
    """The calls with constants share the rewritten twin (one packed constant per weight);
    the call with a parameter keeps the original kernel and its per-call copy."""
    mod, inputs, expected = shared_case()
    before = scheduled(mod)
    assert list(kernels(before)) == ["conv2d"]  # one kernel serves the four calls
    after = rewrite_layouts(before, "llvm")
    calls = call_args(after)
    assert [n for n, _ in calls] == ["conv2d_prepacked", "conv2d_prepacked", "conv2d",
                                     "conv2d_prepacked"]
    assert calls[0][1][1] is calls[3][1][1]  # the same weight packed once
    assert not np.array_equal(calls[0][1][1].data, calls[1][1][1].data)
    assert isinstance(calls[2][1][1], G.GraphVar)
    assert len(marked_blocks(after["conv2d"])) == 1 and not marked_blocks(after["conv2d_prepacked"])
    out = tvmscript.build(mod)["main"](*inputs)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run_without_step(mod, *inputs), expected, rtol=1e-4, atol=1e-4)


def test_prints_reparses_and_exports_with_the_packed_weights(tmp_path) -> None:
    mod, inputs, expected = shared_case()
    opt = optimize_model(mod)
    text = opt.script(show_meta=True)
    tvmscript.assert_structural_equal(tvmscript.from_source(text), opt)
    path = tmp_path / "model.so"
    build(opt, "llvm").export_library(str(path))
    out = tvmscript.load_module(str(path))["main"](*inputs)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_constant_bound_to_a_variable_is_followed_and_its_binding_dropped() -> None:
    w = rng.standard_normal((16, 8, 3, 3)).astype("float32")
    x = rng.standard_normal((1, 8, 7, 7)).astype("float32")
    before = scheduled(model(CONV.format(c=8, h=7, s=1, p=1), w,
                             np.zeros((1, 16, 1, 1), "float32")))
    main = before["main"]
    block = main.body.blocks[0]
    (call_binding,) = block.bindings
    wvar = G.DataflowVar("wv", G.TensorStructInfo(w.shape, "float32"))
    call = call_binding.value
    fields = list(call.args[1].fields)
    fields[1] = wvar
    call = call.with_(args=(call.args[0], G.Tuple(tuple(fields)), *call.args[2:]))
    bindings = (G.VarBinding(wvar, G.Constant(w)), call_binding.with_(value=call))
    before = before.with_function("main", main.with_(body=main.body.with_(
        blocks=(block.with_(bindings=bindings),))))
    after = rewrite_layouts(before, "llvm")
    assert [b.var for b in after["main"].body.blocks[0].bindings] == [call_binding.var]
    assert not any(marked_blocks(f) for f in kernels(after).values())
    out = build(get_pass("static-memory-plan")(after), "llvm")["main"](x)
    np.testing.assert_allclose(out, np.maximum(numpy_conv2d(x, w, 1, 1), 0), rtol=1e-4,
                               atol=1e-4)


def test_a_public_kernel_keeps_its_signature() -> None:
    """Users may call a kernel with ``global_symbol`` by name: the calls get a twin."""
    mod, _, _ = shared_case()
    before = scheduled(mod)
    before = before.with_function("conv2d", before["conv2d"].with_attr("global_symbol",
                                                                       "conv2d"))
    after = rewrite_layouts(before, "llvm")
    assert after["conv2d"] is before["conv2d"]
    assert {n for n, _ in call_args(after)} == {"conv2d", "conv2d_prepacked"}


def test_nothing_to_do_gives_the_module_itself() -> None:
    """A copy of a weight that the graph computes stays in its kernel."""
    only_params = scheduled(model('''
@R.function
def main(x: R.Tensor((1, 8, 7, 7), "float32"), w: R.Tensor((16, 8, 3, 3), "float32")):
    with R.dataflow():
        gv = R.nn.conv2d(x, w, padding=[1, 1, 1, 1])
        R.output(gv)
    return gv
'''))
    assert sum(len(marked_blocks(f)) for f in kernels(only_params).values()) == 1
    assert rewrite_layouts(only_params, "llvm") is only_params


COPY = '''
@T.prim_func(private=True)
def kernel(W: T.Buffer((8, 4), "float32"), out: T.Buffer((8, 4), "float32"){param}):
    {alloc}
    for i, j in T.grid(4, 8):
        with T.block("W_pack"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(W[vj, vi])
            T.writes(W_packed[vi, vj])
            T.block_attr({{"meta_schedule.layout_rewrite_preproc": True}})
            W_packed[vi, vj] = W[vj, vi]
    for i, j in T.grid(8, 4):
        with T.block("use"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(W_packed[vj, vi]{read})
            T.writes(out[vi, vj])
            out[vi, vj] = W_packed[vj, vi]{add}
'''
ALLOC = 'W_packed = T.alloc_buffer((4, 8), "float32")'


def copy_kernel(param: str = "", alloc: str = ALLOC, also_reads_w: bool = False) -> PrimFunc:
    return tvmscript.from_source(COPY.format(
        param=param, alloc=alloc, read=", W[vi, vj]" if also_reads_w else "",
        add=" + W[vi, vj]" if also_reads_w else ""))


def test_copies_that_are_not_alone_stay() -> None:
    """A kernel that also reads the weight itself, or whose copy writes a parameter, keeps its
    copy."""
    (prepack,) = find_prepacks(copy_kernel())
    assert prepack.index == 0 and prepack.packed.name == "W_packed"
    assert find_prepacks(copy_kernel(also_reads_w=True)) == []
    assert find_prepacks(copy_kernel(', W_packed: T.Buffer((4, 8), "float32")', "")) == []


GRAPH = '''
@I.ir_module
class Module:
    @R.function
    def main() -> R.Tensor((8, 4), "float32"):
        cls = Module
        gv = R.call_tir(cls.kernel, (metadata["relax.expr.Constant"][0],),
                        out_sinfo=R.Tensor((8, 4), "float32"))
        return gv

    @T.prim_func(private=True)
    def kernel(W: T.Buffer((8, 4), "float32"), out: T.Buffer((8, 4), "float32")):
        W_packed = T.alloc_buffer((4, 8), "float32")
        for i, j in T.grid(4, 8):
            with T.block("W_pack"):
                vi, vj = T.axis.remap("SS", [i, j])
                T.reads(W[vj, vi])
                T.writes(W_packed[vi, vj])
                T.block_attr({"meta_schedule.layout_rewrite_preproc": True})
                W_packed[vi, vj] = W[vj, vi]
        for i, j in T.grid(8, 4):
            with T.block("use"):
                vi, vj = T.axis.remap("SS", [i, j])
                T.reads(W_packed[vj, vi])
                T.writes(out[vi, vj])
                out[vi, vj] = W_packed[vj, vi] * T.float32(2)
'''
EXPECTED = '''
@I.ir_module
class Module:
    @R.function
    def main() -> R.Tensor((8, 4), "float32"):
        cls = Module
        gv = R.call_tir(cls.kernel, (metadata["relax.expr.Constant"][0],),
                        out_sinfo=R.Tensor((8, 4), "float32"))
        return gv

    @T.prim_func(private=True)
    def kernel(W_packed: T.Buffer((4, 8), "float32"), out: T.Buffer((8, 4), "float32")):
        for i, j in T.grid(8, 4):
            with T.block("use"):
                vi, vj = T.axis.remap("SS", [i, j])
                T.reads(W_packed[vj, vi])
                T.writes(out[vi, vj])
                out[vi, vj] = W_packed[vj, vi] * T.float32(2)
'''


def test_before_and_expected() -> None:
    w = rng.standard_normal((8, 4)).astype("float32")
    before = tvmscript.from_source(GRAPH, metadata=[w])
    after = rewrite_layouts(before, "llvm")
    tvmscript.assert_structural_equal(after, tvmscript.from_source(EXPECTED, metadata=[w.T]))
    for mod in (before, after):
        np.testing.assert_array_equal(build(mod, "interpreter")["main"](), w * 2)
