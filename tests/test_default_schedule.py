"""Default schedules (``tuner.default_schedule``): every kind of model kernel, scheduled without
measuring, computes what numpy computes; the analysis picks the tiles it says it picks; a step
that fails falls back instead of failing the build; modules take tuned records first."""

from __future__ import annotations

import numpy as np
import pytest

import tuner.default_schedule as ds
import tvmscript
from benchmarks.default_schedule import (
    add_relu_kernel,
    batch_matmul_kernel,
    conv2d_kernel,
    dense_kernel,
    global_avg_pool_kernel,
    layer_norm_kernel,
    max_pool_kernel,
    softmax_kernel,
)
from tuner.database import Database
from tuner.default_schedule import (
    SCHEDULE_ATTR,
    CpuModel,
    default_schedule,
    default_schedule_module,
    default_schedule_trace,
    register_tile,
    schedule_sources,
)
from tuner.measure import MeasureResult
from tvmscript import Schedule, te
from tvmscript.ir import stmt as S
from tvmscript.ir.function import IRModule, PrimFunc
from tvmscript.schedule.state import walk

TARGET = "llvm"
AVX2 = CpuModel(lanes=8, vector_registers=16, cores=2)


def run(func, shapes, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(s).astype("float32") for s in shapes]
    out_buf = func.buffer_map[func.params[-1]]
    out = np.zeros([d.value for d in out_buf.shape], "float32")
    tvmscript.build(func, TARGET)[func.name or "main"](*inputs, out)
    return inputs, out


def check(kernel, *, rtol: float = 1e-4, atol: float = 1e-4) -> object:
    func, shapes, reference = kernel
    scheduled = default_schedule(func, TARGET)
    inputs, out = run(scheduled, shapes)
    np.testing.assert_allclose(out, reference(*inputs), rtol=rtol, atol=atol)
    return scheduled


def loop_kinds(func) -> set[S.ForKind]:
    return {loc.node.kind for loc in walk(func.body) if isinstance(loc.node, S.For)}


def block_names(func) -> set[str]:
    return {loc.node.name_hint for loc in walk(func.body) if isinstance(loc.node, S.Block)}


# ----------------------------------------------------------------------------- kernels compute


@pytest.mark.parametrize("args", [
    (1, 8, 16, 16, 3),                 # 3x3 stride 1: columns are whole vectors
    (1, 8, 14, 16, 3, 2),              # 3x3 stride 2 to 7x7: channels become the vector
    (1, 16, 7, 24, 1),                 # 1x1 (pointwise), no padding block
    (1, 3, 32, 16, 7, 2, 3),           # the 7x7 stride-2 stem
    (1, 16, 14, 16, 3, 1, None, 16),   # depthwise 3x3
    (2, 4, 9, 8, 3, 1, 1, 1, False, False),  # odd sizes, batch 2, no epilogue
    (1, 4, 15, 8, 3, 2),               # stride 2 over an odd padded width (phases padded)
])
def test_conv2d_fused_with_pad_and_epilogue(args) -> None:
    scheduled = check(conv2d_kernel(*args))
    kinds = loop_kinds(scheduled)
    assert S.ForKind.VECTORIZED in kinds
    if args[-1] is not False:  # bias + ReLU were folded into the accumulator's write-back
        assert not {"T_add", "compute"} & block_names(scheduled)


@pytest.mark.parametrize("args", [(1, 64, 48), (8, 64, 32), (1, 32, 10, True, False)])
def test_dense(args) -> None:
    check(dense_kernel(*args))


def test_batch_matmul() -> None:
    scheduled = check(batch_matmul_kernel(2, 16, 8, 24))
    assert S.ForKind.VECTORIZED in loop_kinds(scheduled)


@pytest.mark.parametrize("kernel", [
    lambda: max_pool_kernel(1, 8, 16),
    lambda: max_pool_kernel(1, 4, 15),
    lambda: global_avg_pool_kernel(1, 16, 7),
    lambda: softmax_kernel(4, 64),
    lambda: softmax_kernel(3, 10),
    lambda: layer_norm_kernel(4, 64),
    lambda: add_relu_kernel(1, 8, 10, 10),
    lambda: add_relu_kernel(7, 5),
], ids=["max_pool", "max_pool_odd", "avg_pool", "softmax", "softmax_short", "layer_norm", "add_relu",
        "add_relu_odd"])
def test_reductions_and_elementwise(kernel) -> None:
    check(kernel(), rtol=1e-5, atol=1e-5)


def test_row_reduction_is_split_into_vector_lanes() -> None:
    scheduled = check(softmax_kernel(4, 64))
    assert "T_softmax_maxelem_rf" in block_names(scheduled)
    assert S.ForKind.VECTORIZED in loop_kinds(scheduled)


def test_large_elementwise_runs_in_parallel_small_does_not(monkeypatch) -> None:
    monkeypatch.setattr(ds.os, "cpu_count", lambda: 2)  # the model's cores, whatever runs this
    big = default_schedule(add_relu_kernel(1, 64, 32, 32)[0], TARGET)
    small = default_schedule(add_relu_kernel(4, 16)[0], TARGET)
    assert S.ForKind.PARALLEL in loop_kinds(big)
    assert S.ForKind.PARALLEL not in loop_kinds(small)


# ----------------------------------------------------------------------------- the analysis


def tiled_block(func):
    return next(loc.node for loc in walk(func.body)
                if isinstance(loc.node, S.Block) and loc.node.init is not None)


def plan_of(kernel, cpu: CpuModel = AVX2):
    func = kernel[0]
    return register_tile(tiled_block(func), cpu, set(func.buffer_map.values()))


def test_tile_vectorizes_output_columns_when_they_are_whole_vectors() -> None:
    plan = plan_of(conv2d_kernel(1, 64, 56, 64, 3))
    assert plan.vector_var.name.endswith("l") and plan.vector % 8 == 0  # (n, k, y, x): x
    assert not plan.packs
    assert plan.accumulators <= AVX2.accumulators


def test_tile_vectorizes_channels_and_packs_weights_for_7x7_outputs() -> None:
    plan = plan_of(conv2d_kernel(1, 512, 7, 512, 3))
    assert plan.vector_var.name.endswith("j")  # output channels
    assert plan.packs == (("W", 0),)


def test_weight_copy_is_marked_for_prepacking() -> None:
    """Output rows of 7 are no whole vectors: the channels are, read from a packed weight whose
    copy is marked so that a graph with constant weights can run it once at build time."""
    scheduled = check(conv2d_kernel(1, 16, 7, 16, 3))
    marked = [loc.node for loc in walk(scheduled.body) if isinstance(loc.node, S.Block)
              and loc.node.annotations.get(ds.LAYOUT_REWRITE)]
    assert len(marked) == 1
    assert [r.buffer.name for r in marked[0].reads] == ["W"]
    assert [w.buffer.name for w in marked[0].writes] == ["W_packed"]


def test_gemv_reads_weights_in_place() -> None:
    """Each weight is used once per call: copying it would double the memory traffic."""
    plan = plan_of(dense_kernel(1, 784, 512))
    assert not plan.packs and plan.vector_var.name.endswith("j") and plan.vector >= 32


def test_gemv_by_transposed_weight_sums_vectors_along_rows() -> None:
    """``x @ W.T`` with W as (N, K): any tile over N gathers W, while each row of W is
    contiguous along the reduction: partial sums in vector lanes instead (rfactor)."""
    A = te.placeholder((1, 64), name="A")
    W = te.placeholder((24, 64), name="W")
    k = te.reduce_axis((0, 64), "k")
    C = te.compute((1, 24), lambda i, j: te.sum(A[i, k] * W[j, k], axis=k), name="matmul")
    func = te.create_prim_func([A, W, C], name="dense_nt")
    scheduled = check((func, [(1, 64), (24, 64)], lambda a, w: a @ w.T))
    assert "matmul_rf" in block_names(scheduled)
    assert S.ForKind.VECTORIZED in loop_kinds(scheduled)


def test_avx512_model_takes_wider_vectors() -> None:
    cpu = CpuModel.for_target("llvm -mcpu=skylake-avx512 -mattr=+avx512f")
    assert (cpu.lanes, cpu.vector_registers) == (16, 32)
    assert plan_of(dense_kernel(8, 64, 64), cpu).vector % 16 == 0


# ----------------------------------------------------------------------------- never fails


def test_nothing_to_do_returns_the_function_itself() -> None:
    n = te.var("n")
    A = te.placeholder((n, 8), name="A")
    B = te.compute((n, 8), lambda i, j: A[i, j] * 2.0, name="B")
    symbolic = te.create_prim_func([A, B])
    assert default_schedule(symbolic, TARGET) is symbolic
    func = dense_kernel(2, 8, 8)[0]
    assert default_schedule(func, "interpreter") is func


def test_a_refused_step_is_skipped(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise tvmscript.ScheduleError("refused")

    monkeypatch.setattr(ds, "tile_reduction", refuse)
    scheduled = check(conv2d_kernel(1, 4, 8, 8, 3))
    assert "conv2d_nchw_local" not in block_names(scheduled)


def test_a_failing_schedule_falls_back_to_simpler_then_none(monkeypatch) -> None:
    real = ds._schedule

    def broken_tiling(sch, cpu, tile):
        if tile:
            raise RuntimeError("a bug in a primitive")
        real(sch, cpu, tile)

    monkeypatch.setattr(ds, "_schedule", broken_tiling)
    scheduled = check(dense_kernel(4, 16, 16))
    assert scheduled is not None and "matmul_local" not in block_names(scheduled)

    def broken(sch, cpu, tile):
        raise RuntimeError("everything fails")

    monkeypatch.setattr(ds, "_schedule", broken)
    func = dense_kernel(4, 16, 16)[0]
    assert default_schedule(func, TARGET) is func


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="default_schedule takes a PrimFunc"):
        default_schedule("not a function", TARGET)
    with pytest.raises(ValueError, match="unknown target"):
        default_schedule(dense_kernel(1, 8, 8)[0], "gpu")


# ----------------------------------------------------------------------------- traces, modules


def test_the_schedule_is_a_trace_that_replays() -> None:
    import tuner.space  # noqa: F401 - registers compute_at_or_stay, as for tuned records

    func = conv2d_kernel(1, 8, 16, 16, 3)[0]
    sch = default_schedule_trace(func, TARGET)
    replayed = sch.trace.apply_to(func).func
    tvmscript.assert_structural_equal(replayed, default_schedule(func, TARGET))


def test_module_uses_tuned_records_first(tmp_path) -> None:
    dense, dense_shapes, dense_ref = dense_kernel(4, 16, 16)
    add, add_shapes, add_ref = add_relu_kernel(4, 16)
    mod = IRModule({"dense": dense, "add_relu": add})
    tuned = Schedule(add)
    _, j = tuned.get_loops(tuned.get_block("T_add"))
    tuned.split(j, [None, 4])
    with Database(tmp_path / "t.db") as db:
        db.commit(db.workload(add, TARGET), tuned.trace, MeasureResult([1e-6], None, 0.1, 0.1))
    out = default_schedule_module(mod, TARGET, database=tmp_path / "t.db")
    # each kernel says where its schedule came from (build's report of what was tuned)
    assert schedule_sources(out) == {"add_relu": "database", "dense": "default"}
    tvmscript.assert_structural_equal(out.functions["add_relu"], tuned.trace.apply_to(add).func
                                      .with_attr(SCHEDULE_ATTR, "database"))
    tvmscript.assert_structural_equal(out.functions["dense"], default_schedule(dense, TARGET)
                                      .with_attr(SCHEDULE_ATTR, "default"))
    rt = tvmscript.build(out, TARGET)
    rng = np.random.default_rng(1)
    for name, shapes, ref in (("dense", dense_shapes, dense_ref), ("add_relu", add_shapes, add_ref)):
        inputs = [rng.standard_normal(s).astype("float32") for s in shapes]
        result = np.zeros(np.shape(ref(*inputs)), "float32")
        rt[name](*inputs, result)
        np.testing.assert_allclose(result, ref(*inputs), rtol=1e-5, atol=1e-5)


def test_fused_graph_module_computes_the_same() -> None:
    """The kernels a graph leaves after legalization and fusion (conv2d + bias + ReLU in one
    function, a matmul by a transposed weight, reshapes), scheduled, compute what they did."""
    from passes.fuse_ops import fuse_ops
    from passes.fuse_tir import fuse_tir
    from passes.legalize_ops import legalize_ops
    from passes.op_pattern import annotate_op_pattern

    text = '''
@R.function
def main(x: R.Tensor((1, 8, 14, 14), "float32"), w: R.Tensor((16, 8, 3, 3), "float32"),
         b: R.Tensor((1, 16, 1, 1), "float32"), m: R.Tensor((10, 3136), "float32")
         ) -> R.Tensor((1, 10), "float32"):
    with R.dataflow():
        y = R.nn.conv2d(x, w, strides=[1, 1], padding=[1, 1])
        z = R.nn.relu(R.add(y, b))
        r = R.reshape(z, (1, 3136))
        s = R.nn.softmax(R.matmul(r, R.permute_dims(m)), axis=-1)
        gv = s
        R.output(gv)
    return gv
'''
    graph = IRModule.from_function(tvmscript.from_source(text), "main")
    fused = fuse_tir(fuse_ops(annotate_op_pattern(legalize_ops(graph))))
    scheduled = default_schedule_module(fused, TARGET)
    kernels = [n for n, f in fused.functions.items() if isinstance(f, PrimFunc)]
    conv = next(n for n in kernels if "conv2d" in n)
    assert any(name.endswith("_local") for name in block_names(scheduled.functions[conv]))
    rng = np.random.default_rng(2)
    args = [rng.standard_normal(s).astype("float32")
            for s in ((1, 8, 14, 14), (16, 8, 3, 3), (1, 16, 1, 1), (10, 3136))]
    expected = tvmscript.build(fused, TARGET)["main"](*args)
    got = tvmscript.build(scheduled, TARGET)["main"](*args)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)
