"""IndexMap, transform_layout and pad_einsum: printing, JSON, inverse, shape; before → after pairs
in the script; numbers (LLVM and interpreter); errors; traces with index maps replay."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import tvmscript
from tests.schedule_testing import check_numbers, expect_error
from tests.test_schedule_reduction import check_replay, corpus, prim
from tvmscript import Schedule
from tvmscript.ir.expr import IntImm
from tvmscript.schedule import IndexMap

# ---------------------------------------------------------------- IndexMap


def _evaluate(m: IndexMap, point: tuple[int, ...]) -> tuple[int, ...]:
    from tvmscript.arith import Analyzer

    out = m.map_indices([IntImm("int32", p) for p in point])
    return tuple(Analyzer().simplify(e).value for e in out)


def test_index_map_prints_as_python_and_round_trips_json():
    m = IndexMap.from_func(lambda i, j: (i // 16, j, i % 16))
    assert m.as_python() == "lambda i, j: (i // 16, j, i % 16)"
    value = json.loads(json.dumps(m.to_json_value()))
    again = IndexMap.from_json_value(value)
    assert again.as_python() == m.as_python()
    fused = IndexMap.from_func(lambda a, b: a * 64 + b)
    assert fused.as_python() == "lambda a, b: (a * 64 + b,)"
    odd = IndexMap.parse("lambda x, y: ((x + y) * 2 // 3, x - (y - 1), -4)")
    assert IndexMap.parse(odd.as_python()).as_python() == odd.as_python()


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "lambda i: i.real", "lambda i: f(i)", "lambda i=1: i",
    "lambda i: j", "lambda *i: i", "lambda i: i ** 2", "lambda i: i / 2", "lambda i: 'x'",
    "lambda i: [i]", "lambda i: 1.5", "(lambda i: i)(3)",
])
def test_index_map_parse_refuses_anything_but_index_arithmetic(text):
    with pytest.raises(ValueError):
        IndexMap.parse(text)


@pytest.mark.parametrize("fn,shape,new_shape", [
    (lambda i, j: (i // 16, j, i % 16), (128, 64), (8, 64, 16)),
    (lambda i, j: (j, i), (3, 5), (5, 3)),
    (lambda i, j: (i * 64 + j,), (128, 64), (8192,)),
    (lambda i: (i // 64, i // 8 % 8, i % 8), (512,), (8, 8, 8)),
    (lambda n, c, h, w: (n, c // 4, h, w, c % 4), (1, 16, 6, 6), (1, 4, 6, 6, 4)),
])
def test_index_map_shape_and_inverse_are_exact(fn, shape, new_shape):
    m = IndexMap.from_func(fn)
    assert m.map_shape(shape) == new_shape
    assert m.is_bijective(shape)
    inv = m.inverse(shape)
    seen = set()
    for point in itertools.product(*[range(s) for s in shape]):
        image = _evaluate(m, point)
        assert all(0 <= x < n for x, n in zip(image, new_shape))
        assert _evaluate(inv, image) == point
        seen.add(image)
    assert len(seen) == int(np.prod(shape))


def test_index_map_padding_and_non_invertible_maps():
    m = IndexMap.from_func(lambda i: (i // 16, i % 16))
    assert m.map_shape((100,)) == (7, 16)
    assert not m.is_bijective((100,))
    assert m.inverse((100,)).as_python() == "lambda i0, i1: (i0 * 16 + i1,)"
    with pytest.raises(ValueError, match="not covered exactly once"):
        IndexMap.from_func(lambda i, j: (i, i)).inverse((4, 4))
    with pytest.raises(ValueError, match="mixed-radix"):
        IndexMap.from_func(lambda i, j: (i + j, j)).inverse((4, 4))
    with pytest.raises(ValueError, match="only"):
        IndexMap.from_func(lambda i: (i * 1.5,))


# ---------------------------------------------------------------- transform_layout


def test_transform_layout_packs_parameter_b_for_matmul():
    before = corpus("matmul")
    sch = Schedule(before)
    b = sch.get_block("C")
    sch.transform_layout(b, ("read", 1), lambda k, n: (n // 16, k, n % 16))
    expected = prim('''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    B_packed = T.alloc_buffer((8, 128, 16), "float32")
    for ax0, ax1, ax2 in T.grid(8, 128, 16):
        with T.block("B_pack"):
            v0, v1, v2 = T.axis.remap("SSS", [ax0, ax1, ax2])
            T.reads(B[v1, v0 * 16 + v2])
            T.writes(B_packed[v0, v1, v2])
            B_packed[v0, v1, v2] = B[v1, v0 * 16 + v2]
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(A[vi, vk], B_packed[vj // 16, vk, vj % 16])
            T.writes(C[vi, vj])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B_packed[vj // 16, vk, vj % 16]
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    check_numbers(before, sch)
    check_replay(before, sch)
    assert "lambda k, n: (n // 16, k, n % 16)" in str(sch.trace)


def test_packed_matmul_schedule_with_tiling_and_blockize():
    """The tutorial's fast CPU matmul shape: pack B, tile, vectorize the inner 16 lanes."""
    before = corpus("matmul")
    sch = Schedule(before)
    c = sch.get_block("C")
    sch.transform_layout(c, ("read", 1), lambda k, n: (n // 16, k, n % 16))
    i, j, k = sch.get_loops(c)
    i0, i1 = sch.split(i, [None, 4])
    j0, j1 = sch.split(j, [None, 16])
    sch.reorder(i0, j0, k, i1, j1)
    sch.decompose_reduction(c, k)
    sch.parallel(i0)
    sch.vectorize(j1)
    pack = sch.get_block("B_pack")
    sch.parallel(sch.get_loops(pack)[0])
    check_numbers(before, sch)
    check_replay(before, sch)


def test_transform_layout_internal_buffer_changes_allocation_and_all_accesses():
    before = corpus("softmax")
    sch = Schedule(before)
    sch.transform_layout(sch.get_block("exp"), 0, lambda i, k: (k // 32, i, k % 32))
    e = next(b for b in sch.func.root_block.alloc_buffers if b.name == "E")
    assert [s.value for s in e.shape] == [8, 16, 32]
    assert "E[vk // 32, vi, vk % 32]" in sch.func.script().replace("_1", "").replace("_2", "") \
        .replace("_3", "")
    check_numbers(before, sch)
    check_replay(before, sch)


@pytest.mark.parametrize("name,block,buffer,fn", [
    ("conv2d_pad", "conv", ("write", 0), lambda n, k, h, w: (n, k // 4, h, w, k % 4)),
    ("conv2d_pad", "conv", ("read", 0), lambda n, c, h, w: (n, c // 4, h, w, c % 4)),
    ("conv2d_pad", "conv", ("read", 1), lambda k, c, r, s: (k // 8, c, r, s, k % 8)),
    ("layer_norm", "stats", ("write", 0), lambda i: (i // 4, i % 4)),
    ("pooling", "pool", ("read", 0), lambda n, c, h, w: (n, h, w, c)),
    ("elementwise_blocks_relu", None, ("write", 0), lambda i, j: (j, i)),
    ("matmul", "C", ("write", 0), lambda i, j: (i // 32, j // 32, i % 32, j % 32)),
    ("dense_relu_fused", "dense", ("write", 0), lambda i, j: (i * 128 + j,)),
])
def test_transform_layout_preserves_numbers(name, block, buffer, fn):
    before = corpus(name)
    sch = Schedule(before)
    from tvmscript.schedule.state import block_names

    b = sch.get_block(block or block_names(before)[0])
    sch.transform_layout(b, buffer, fn)
    check_numbers(before, sch)
    check_replay(before, sch)


def test_transform_layout_output_parameter_gets_unpack_block():
    before = corpus("elementwise_blocks_relu")
    sch = Schedule(before)
    from tvmscript.schedule.state import block_names

    last = block_names(before)[-1]
    sch.transform_layout(sch.get_block(last), ("write", 0), lambda i, j: (j // 8, i, j % 8))
    names = block_names(sch.func)
    assert names[-1].endswith("_unpack") and not any(n.endswith("_pack") for n in names)
    check_numbers(before, sch)


def test_transform_layout_with_padding_needs_pad_value():
    before = prim('''
@T.prim_func
def f(A: T.Buffer((100,), "float32"), B: T.Buffer((100,), "float32")):
    T_ = T.alloc_buffer((100,), "float32")
    for i in range(100):
        with T.block("T"):
            vi = T.axis.spatial(100, i)
            T_[vi] = A[vi] * T.float32(2)
    for i in range(100):
        with T.block("B"):
            vi = T.axis.spatial(100, i)
            B[vi] = T_[vi] + T.float32(1)
''')
    sch = Schedule(before)
    b = sch.get_block("B")
    t = sch.get_block("T")
    expect_error(sch, lambda: sch.transform_layout(b, ("read", 0), lambda i: (i // 16, i % 16)),
                 "adds padding", "pad_value")
    sch.transform_layout(b, ("read", 0), lambda i: (i // 16, i % 16), pad_value=0.0)
    sch.transform_layout(t, ("read", 0), lambda i: (i // 32, i % 32), pad_value=0.0)
    assert [s.value for s in sch.func.root_block.alloc_buffers[0].shape] == [7, 16]
    check_numbers(before, sch)
    check_replay(before, sch)


def test_transform_layout_errors():
    sch = Schedule(corpus("matmul"))
    c = sch.get_block("C")
    expect_error(sch, lambda: sch.transform_layout(c, ("read", 5), lambda i, j: (j, i)),
                 "block `C` has 2 read buffers")
    expect_error(sch, lambda: sch.transform_layout(c, ("both", 0), lambda i, j: (j, i)),
                 "transform_layout: a buffer is given as ('read', k), ('write', k), k or a "
                 "name, got ('both', 0)")
    expect_error(sch, lambda: sch.transform_layout(c, "Z", lambda i, j: (j, i)),
                 "block `C` neither reads nor writes a buffer named `Z`")
    expect_error(sch, lambda: sch.transform_layout(c, "A", lambda i: (i,)),
                 "takes 1 indices but buffer `A` has 2 dimensions")
    expect_error(sch, lambda: sch.transform_layout(c, "A", lambda i, j: (i + j, j)),
                 "cannot apply", "buffer `A`")
    expect_error(sch, lambda: sch.transform_layout(c, "A", lambda i, j: (i, i)),
                 "not covered exactly once")
    sch = Schedule(corpus("match_buffer_region"))
    from tvmscript.schedule.state import block_names

    blocks = block_names(sch.func)
    target = sch.get_block(blocks[-1])
    buf = sch.get(target).reads[0].buffer.name
    expect_error(sch, lambda: sch.transform_layout(target, ("read", 0), lambda i, j: (j, i)),
                 f"buffer `{buf}`")


def test_transform_layout_trace_json_replay():
    before = corpus("matmul")
    sch = Schedule(before)
    c = sch.get_block("C")
    sch.transform_layout(c, ("read", 0), IndexMap.from_func(lambda i, k: (k // 8, i, k % 8)))
    sch.transform_layout(c, "B", lambda k, n: (n // 16, k, n % 16))
    text = sch.trace.to_json()
    assert "lambda i, k: (k // 8, i, k % 8)" in text
    again = tvmscript.Trace.from_json(text)
    tvmscript.assert_structural_equal(again.apply_to(before).mod, sch.mod)
    tvmscript.assert_structural_equal(sch.trace.apply_to(before).mod, sch.mod)


# ---------------------------------------------------------------- pad_einsum

ODD_MATMUL = '''
@T.prim_func
def mm(A: T.Buffer((127, 128), "float32"), B: T.Buffer((128, 127), "float32"), C: T.Buffer((127, 127), "float32")):
    for i, j, k in T.grid(127, 127, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''


def test_pad_einsum_matches_expected():
    before = prim(ODD_MATMUL)
    sch = Schedule(before)
    sch.pad_einsum(sch.get_block("C"), [32, 32, 1])
    expected = prim('''
@T.prim_func
def mm(A: T.Buffer((127, 128), "float32"), B: T.Buffer((128, 127), "float32"), C: T.Buffer((127, 127), "float32")):
    C_pad = T.alloc_buffer((128, 128), "float32")
    A_pad = T.alloc_buffer((128, 128), "float32")
    B_pad = T.alloc_buffer((128, 128), "float32")
    for ax0, ax1 in T.grid(128, 128):
        with T.block("A_pad"):
            v0, v1 = T.axis.remap("SS", [ax0, ax1])
            T.reads(A[v0, v1])
            T.writes(A_pad[v0, v1])
            A_pad[v0, v1] = T.if_then_else(v0 < 127, A[v0, v1], T.float32(0))
    for ax0, ax1 in T.grid(128, 128):
        with T.block("B_pad"):
            v0, v1 = T.axis.remap("SS", [ax0, ax1])
            T.reads(B[v0, v1])
            T.writes(B_pad[v0, v1])
            B_pad[v0, v1] = T.if_then_else(v1 < 127, B[v0, v1], T.float32(0))
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(A_pad[vi, vk], B_pad[vk, vj])
            T.writes(C_pad[vi, vj])
            with T.init():
                C_pad[vi, vj] = T.float32(0)
            C_pad[vi, vj] = C_pad[vi, vj] + A_pad[vi, vk] * B_pad[vk, vj]
    for ax0, ax1 in T.grid(127, 127):
        with T.block("C_unpad"):
            v0, v1 = T.axis.remap("SS", [ax0, ax1])
            T.reads(C_pad[v0, v1])
            T.writes(C[v0, v1])
            C[v0, v1] = C_pad[v0, v1]
''')
    tvmscript.assert_structural_equal(sch.func, expected)
    check_numbers(before, sch)
    check_replay(before, sch)


def test_pad_einsum_then_even_tiling():
    before = prim(ODD_MATMUL.replace("(127, 128)", "(127, 100)").replace("(128, 127)", "(100, 127)")
                  .replace("T.grid(127, 127, 128)", "T.grid(127, 127, 100)"))
    sch = Schedule(before)
    c = sch.get_block("C")
    sch.pad_einsum(c, [16, 16, 8])
    i, j, k = sch.get_loops(c)
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    k0, k1 = sch.split(k, [None, 8])
    sch.reorder(i0, j0, k0, i1, j1, k1)
    sch.blockize(i1)
    check_numbers(before, sch)


def test_pad_einsum_spatial_block():
    before = prim('''
@T.prim_func
def f(A: T.Buffer((30, 30), "float32"), B: T.Buffer((30, 30), "float32")):
    for i, j in T.grid(30, 30):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] * T.float32(3)
''')
    sch = Schedule(before)
    sch.pad_einsum(sch.get_block("B"), [8, 16])
    check_numbers(before, sch)


def test_pad_einsum_errors():
    sch = Schedule(prim(ODD_MATMUL))
    c = sch.get_block("C")
    expect_error(sch, lambda: sch.pad_einsum(c, [32, 32]), "block `C` has 3 iterators but 2")
    expect_error(sch, lambda: sch.pad_einsum(c, [1, 1, 1]), "nothing to pad")
    expect_error(sch, lambda: sch.pad_einsum(c, [0, 1, 1]), "positive")
    sch = Schedule(corpus("pooling"))
    pool = sch.get_block("pool")
    expect_error(sch, lambda: sch.pad_einsum(pool, [1, 1, 3, 3, 1, 1]),
                 "block `pool` indexes `X` by something other than distinct iterators")
    sch = Schedule(corpus("softmax"))
    mx = sch.get_block("max")
    expect_error(sch, lambda: sch.pad_einsum(mx, [32, 1]), "block `max` is not a sum")
    tiled = Schedule(corpus("matmul"))
    cb = tiled.get_block("C")
    tiled.split(tiled.get_loops(cb)[0], [None, 16])
    expect_error(tiled, lambda: tiled.pad_einsum(cb, [3, 1, 1]), "bound trivially")


def test_an_index_map_read_from_text_keeps_int64_indices_int64():
    """A trace stored in a tuning database holds its index maps as text, whose parameters and
    constants read back as int32; applied to a model kernel's int64 indices, the constants
    must widen (``i64 // i32`` does not compile)."""
    from tvmscript.ir.expr import Var
    from tvmscript.schedule.index_map import IndexMap

    i = Var("i", "int64")
    outer, inner = IndexMap.parse("lambda d0: (d0 // 16, d0 % 16 + 1)").map_indices([i])
    for e in (outer, inner, inner.a):
        assert str(e.dtype) == "int64" and str(e.b.dtype) == "int64"
    # a Trace's JSON round trip of a default schedule that packs a weight: builds and runs
    onnx = pytest.importorskip("onnx", reason="the convolution is written as an ONNX graph")
    from onnx import helper, numpy_helper

    import tvmscript
    from tuner.default_schedule import default_schedule_trace
    from tuner.tasks import extract_tasks
    from tvmscript.schedule import Trace

    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 16, 3, 3)).astype("float32")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        "conv", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, (1, 16, 14, 14))],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    task = extract_tasks(tvmscript.frontend.from_onnx(model))[0][0]
    sch = default_schedule_trace(task.func, "llvm")
    assert "transform_layout" in str(sch.trace)  # the weight packed: an index map in the trace
    replayed = Trace.from_json(sch.trace.to_json()).apply_to(task.func).func
    xv = rng.standard_normal((1, 16, 14, 14)).astype("float32")
    want, got = np.zeros((1, 32, 14, 14), "float32"), np.zeros((1, 32, 14, 14), "float32")
    tvmscript.build(sch.func)[task.name](xv, w, want)
    tvmscript.build(replayed)[task.name](xv, w, got)
    np.testing.assert_array_equal(got, want)
