"""Design spaces (tuner/space): every sampled candidate of every kernel kind is well-formed and
computes what the unscheduled kernel computes; traces replay; mutations stay valid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tests.references import random_args
from tests.schedule_testing import outputs
from tuner.space import (
    AutoInline,
    MultiLevelTiling,
    ParallelizeVectorizeUnroll,
    ScheduleRule,
    SymbolicSizeError,
    default_rules,
    generate_design_spaces,
    replay_candidate,
    sample_candidate,
)
from tvmscript.ir.structural import structural_equal
from tvmscript.schedule import Schedule, Trace
from tvmscript.schedule.sampling import compute_location_candidates, perfect_tilings

KERNELS: dict[str, str] = {
    "matmul": '''
@T.prim_func
def matmul(A: T.Buffer((32, 16), "float32"), B: T.Buffer((16, 32), "float32"), C: T.Buffer((32, 32), "float32")):
    for i, j, k in T.grid(32, 32, 16):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''',
    "batch_matmul": '''
@T.prim_func
def bmm(A: T.Buffer((2, 8, 12), "float32"), B: T.Buffer((2, 12, 32), "float32"), C: T.Buffer((2, 8, 32), "float32")):
    for b, i, j, k in T.grid(2, 8, 32, 12):
        with T.block("C"):
            vb, vi, vj, vk = T.axis.remap("SSSR", [b, i, j, k])
            with T.init():
                C[vb, vi, vj] = T.float32(0)
            C[vb, vi, vj] = C[vb, vi, vj] + A[vb, vi, vk] * B[vb, vk, vj]
''',
    "gemv": '''
@T.prim_func
def gemv(A: T.Buffer((24, 64), "float32"), x: T.Buffer((64,), "float32"), y: T.Buffer((24,), "float32")):
    for i, k in T.grid(24, 64):
        with T.block("y"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                y[vi] = T.float32(0)
            y[vi] = y[vi] + A[vi, vk] * x[vk]
''',
    "dense_relu": PROGRAMS["dense_relu_fused"].replace("(32, 64)", "(8, 16)").replace(
        "(128, 64)", "(32, 16)").replace("(32, 128)", "(8, 32)").replace(
        "T.grid(32, 128, 64)", "T.grid(8, 32, 16)").replace("T.grid(32, 128)", "T.grid(8, 32)"),
    "conv2d_nchw": PROGRAMS["conv2d_pad"].replace("(1, 8, 14, 14)", "(1, 4, 6, 6)").replace(
        "(16, 8, 3, 3)", "(8, 4, 3, 3)").replace("(1, 16, 14, 14)", "(1, 8, 6, 6)").replace(
        "(1, 8, 16, 16)", "(1, 4, 8, 8)").replace("T.grid(1, 8, 16, 16)", "T.grid(1, 4, 8, 8)").replace(
        "vh < 15 and 1 <= vw and vw < 15", "vh < 7 and 1 <= vw and vw < 7").replace(
        "T.grid(1, 16, 14, 14, 8, 3, 3)", "T.grid(1, 8, 6, 6, 4, 3, 3)"),
    "conv2d_nhwc_strided": '''
@T.prim_func
def conv_nhwc(X: T.Buffer((1, 9, 9, 4), "float32"), W: T.Buffer((3, 3, 4, 32), "float32"), Y: T.Buffer((1, 4, 4, 32), "float32")):
    for n, h, w, co, r, s, ci in T.grid(1, 4, 4, 32, 3, 3, 4):
        with T.block("conv"):
            vn, vh, vw, vco, vr, vs, vci = T.axis.remap("SSSSRRR", [n, h, w, co, r, s, ci])
            with T.init():
                Y[vn, vh, vw, vco] = T.float32(0)
            Y[vn, vh, vw, vco] = Y[vn, vh, vw, vco] + X[vn, vh * 2 + vr, vw * 2 + vs, vci] * W[vr, vs, vci, vco]
''',
    "depthwise": '''
@T.prim_func
def depthwise(X: T.Buffer((1, 8, 8, 8), "float32"), W: T.Buffer((8, 3, 3), "float32"), Y: T.Buffer((1, 8, 6, 6), "float32")):
    for n, c, h, w, r, s in T.grid(1, 8, 6, 6, 3, 3):
        with T.block("dw"):
            vn, vc, vh, vw, vr, vs = T.axis.remap("SSSSRR", [n, c, h, w, r, s])
            with T.init():
                Y[vn, vc, vh, vw] = T.float32(0)
            Y[vn, vc, vh, vw] = Y[vn, vc, vh, vw] + X[vn, vc, vh + vr, vw + vs] * W[vc, vr, vs]
''',
    "pooling": PROGRAMS["pooling"],
    "softmax": PROGRAMS["softmax"].replace("256", "32"),
    "layer_norm": PROGRAMS["layer_norm"],
    "elementwise": PROGRAMS["elementwise_blocks_relu"].replace("128", "32"),
}


def parse(name: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(KERNELS[name])


_SPACES: dict[str, tuple] = {}


def space(name: str) -> tuple[tvmscript.PrimFunc, list[Trace]]:
    if name not in _SPACES:
        func = parse(name)
        _SPACES[name] = (func, generate_design_spaces(func, "llvm"))
    return _SPACES[name]


def assert_same_numbers(before: tvmscript.PrimFunc, after: tvmscript.PrimFunc,
                        target: str = "llvm") -> None:
    args = random_args(before, np.random.default_rng(0))
    for want, got in zip(outputs(before, args, "interpreter"), outputs(after, args, target)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def draw(name: str, seed: int) -> tuple[tvmscript.PrimFunc, Trace, tvmscript.PrimFunc]:
    """A valid candidate of ``name`` (a few tries: some draws are invalid and rejected)."""
    func, sketches = space(name)
    rng = np.random.default_rng(seed)
    for attempt in range(20):
        got = sample_candidate(func, sketches[(seed + attempt) % len(sketches)], rng)
        if got is not None:
            return func, got[0], got[1]
    raise AssertionError(f"20 draws of {name} were all invalid")


# ---------------------------------------------------------------- spaces


def test_matmul_space_has_tiling_packing_accumulator_and_parallel_marks() -> None:
    _, sketches = space("matmul")
    kinds = [{inst.kind for inst in s.instructions} for s in sketches]
    assert all("sample_perfect_tile" in k and "sample_categorical" in k for k in kinds[:6])
    assert any("transform_layout" in k for k in kinds)        # B packed
    assert any("cache_write" in k for k in kinds)             # local accumulator
    assert any("cache_write" not in k for k in kinds)         # and without
    text = str(sketches[0])
    assert "meta_schedule.unroll_explicit" in text and "sample_perfect_tile(l4, n=4" in text


def test_dense_relu_moves_relu_under_the_tile() -> None:
    _, sketches = space("dense_relu")
    moved = [s for s in sketches if any(i.kind == "reverse_compute_at" for i in s.instructions)]
    assert moved and not any(any(i.kind == "cache_write" for i in s.instructions) for s in moved)


def test_softmax_space_has_rfactor() -> None:
    _, sketches = space("softmax")
    kinds = set().union(*({i.kind for i in s.instructions} for s in sketches))
    assert "rfactor" in kinds


def test_conv_padding_gets_a_sampled_compute_location() -> None:
    _, sketches = space("conv2d_nchw")
    assert all({"sample_compute_location", "compute_at_or_stay"}
               <= {i.kind for i in s.instructions} for s in sketches)


def test_elementwise_chain_is_inlined() -> None:
    _, sketches = space("elementwise")
    assert all(any(i.kind in ("compute_inline", "reverse_compute_inline") for i in s.instructions)
               for s in sketches)
    _, _, after = draw("elementwise", 0)
    assert after.script().count("T.block(") == 1  # one fused block (the root is not printed)


def test_symbolic_sizes_are_refused_with_advice() -> None:
    func = tvmscript.from_source(PROGRAMS["symbolic_shape"])
    with pytest.raises(SymbolicSizeError, match=r"function `scale` has symbolic sizes \(n\).*"
                                                 r"tune\(func.specialize\(n=1024\)"):
        generate_design_spaces(func, "llvm")


def test_a_specialized_symbolic_function_is_tuned_for_its_sizes() -> None:
    func = tvmscript.from_source(PROGRAMS["symbolic_2d"]).specialize({"m": 24, "n": 32})
    sketches = generate_design_spaces(func, "llvm")
    got = next(g for g in (sample_candidate(func, sketches[0], s) for s in range(20)) if g)
    assert_same_numbers(func, got[1])


def test_function_without_blocks_has_one_empty_sketch() -> None:
    func = tvmscript.from_source(PROGRAMS["loop_kinds"])
    assert [len(s) for s in generate_design_spaces(func, "llvm")] == [0]


def test_auto_tensorize_fork_uses_an_intrinsic_the_cpu_has() -> None:
    from tuner.space import available_intrinsics

    names = available_intrinsics("llvm")
    if not names:
        pytest.skip("this CPU has no registered tensor intrinsic")
    func, sketches = space("matmul")
    tensorized = [s for s in sketches if any(i.kind == "tensorize" for i in s.instructions)]
    assert tensorized
    got = sample_candidate(func, tensorized[0], 0)
    assert got is not None
    assert_same_numbers(func, got[1])


# ---------------------------------------------------------------- candidates


@pytest.mark.parametrize("name", sorted(KERNELS))
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**31))
def test_any_sampled_candidate_computes_the_same(name: str, seed: int) -> None:
    func, trace, after = draw(name, seed)
    tvmscript.verify(after)
    assert_same_numbers(func, after)
    # the full trace replays the same program, also through JSON
    again = Trace.from_json(trace.to_json()).apply_to(func).func
    assert structural_equal(again, after)


@pytest.mark.parametrize("name", ["matmul", "conv2d_nchw", "softmax", "gemv"])
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**31), pick=st.integers(0, 2**31))
def test_mutating_one_decision_keeps_validity(name: str, seed: int, pick: int) -> None:
    func, trace, _ = draw(name, seed)
    sketch = trace.sketch()
    indices = sketch.sampling_indices()
    index = indices[pick % len(indices)]
    new = _other_decision(func, sketch, index, pick)
    got = replay_candidate(func, trace, {index: new})
    if got is None:  # a decision valid for its instruction can still make a later step refuse
        return
    new_trace, after = got
    assert new_trace.instructions[index].decision == new
    tvmscript.verify(after)
    # compiled: the interpreter turns each loop into a Python block, and Python refuses more
    # than 20 nested ones, which a tiled conv2d has
    assert_same_numbers(func, after)


def _other_decision(func, sketch: Trace, index: int, pick: int):
    """Another valid decision for sampling instruction ``index``, worked out on the schedule
    replayed up to it."""
    inst = sketch.instructions[index]
    sch = Schedule(func)
    Trace(sketch.instructions[:index]).replay(sch)
    if inst.kind == "sample_categorical":
        choices = list(range(len(inst.inputs[0])))
    elif inst.kind == "sample_perfect_tile":
        choices = [list(t) for t in perfect_tilings(_extent_of(sch, sketch, index),
                                                    inst.attrs["n"],
                                                    inst.attrs["max_innermost_factor"])]
    else:
        choices = compute_location_candidates(sch, _replayed_handle(sch, sketch, index,
                                                                    inst.inputs[0]))
    return choices[pick % len(choices)]


def _replayed_handle(sch: Schedule, sketch: Trace, index: int, recorded):
    """The handle in ``sch`` (replayed from ``sketch[:index]``) for a recorded one."""
    for old, new in zip(sketch.instructions[:index], sch.trace.instructions):
        if old.outputs is recorded:
            return new.outputs
        if isinstance(old.outputs, (list, tuple)):
            for o, n in zip(old.outputs, new.outputs):
                if o is recorded:
                    return n
    return recorded


def _extent_of(sch: Schedule, sketch: Trace, index: int) -> int:
    loop = _replayed_handle(sch, sketch, index, sketch.instructions[index].inputs[0])
    return sch.get(loop).extent.value


# ---------------------------------------------------------------- user rules


class UnrollEverything(ScheduleRule):
    """A user's rule: unroll the innermost loop of every block with a small one."""

    name = "unroll-innermost"

    def apply(self, sch, block, ctx):
        loops = sch.get_loops(block)
        if loops and sch.get(loops[-1]).extent.value <= 16:
            sch.unroll(loops[-1])
        return [sch]


def test_a_user_rule_joins_the_space() -> None:
    func = parse("pooling")
    rules = [r for r in default_rules("llvm") if not isinstance(r, AutoInline)] + [UnrollEverything()]
    sketches = generate_design_spaces(func, "llvm", rules=rules)
    assert all(any(i.kind == "unroll" for i in s.instructions) for s in sketches)
    _, after = sample_candidate(func, sketches[0], 1)
    assert "T.unroll(2)" in after.script()
    assert_same_numbers(func, after)


def test_rules_are_plain_objects_to_configure() -> None:
    func = parse("matmul")
    rules = [MultiLevelTiling(structure="SRS", accumulator="never"),
             ParallelizeVectorizeUnroll(unroll_depths=(0,))]
    sketches = generate_design_spaces(func, "llvm", rules=rules)
    assert len(sketches) == 1
    tiles = [i for i in sketches[0].instructions if i.kind == "sample_perfect_tile"]
    assert [i.attrs["n"] for i in tiles] == [2, 2, 1]
    with pytest.raises(ValueError, match="use the letters S and R"):
        MultiLevelTiling(structure="SXR")


class SplitInnermost(ScheduleRule):
    """The report's example: split each block's innermost loop by a sampled factor and
    vectorize the inner part."""

    name = "split-innermost"

    def apply(self, sch, block, ctx):
        *_, inner = sch.get_loops(block)
        _, factor = sch.sample_perfect_tile(inner, n=2, max_innermost_factor=ctx.vector_lanes)
        sch.vectorize(sch.split(inner, [None, factor])[1])
        return [sch]


def test_a_user_rule_with_a_sampled_decision() -> None:
    func = tvmscript.from_source(PROGRAMS["vector_add_range"])
    sketches = generate_design_spaces(func, "llvm", rules=[SplitInnermost()] + default_rules("llvm"))
    seen = set()
    for seed in range(6):
        trace, after = sample_candidate(func, sketches[0], seed)
        tile = next(i for i in trace.instructions if i.kind == "sample_perfect_tile")
        seen.add(tile.decision[1])
        assert f"T.vectorized({tile.decision[1]})" in after.script()
    assert len(seen) > 1  # decisions are redrawn
    assert_same_numbers(func, after)


# ---------------------------------------------------------------- packing and parallel nests
CONV32 = PROGRAMS["conv2d_pad"].replace("(16, 8, 3, 3)", "(32, 8, 3, 3)").replace(
    "(1, 16, 14, 14)", "(1, 32, 14, 14)").replace("T.grid(1, 16, 14", "T.grid(1, 32, 14")
"""The corpus convolution with 32 filters: enough output channels to pack 16 at a time."""


def test_conv_weights_are_packed_along_the_output_channel() -> None:
    """W[k, c, r, s] is broadcast against an output vectorized along its columns: the packed
    fork lays it out as [k // 16, c, r, s, k % 16], and its candidates compute the same."""
    func = tvmscript.from_source(CONV32)
    packed = [s for s in generate_design_spaces(func, "llvm")
              if any(i.kind == "transform_layout" for i in s.instructions)]
    assert packed
    rng = np.random.default_rng(0)
    got = next(g for g in (sample_candidate(func, packed[0], rng) for _ in range(20)) if g)
    text = got[1].script()
    assert 'W_packed = T.alloc_buffer((2, 8, 3, 3, 16), "float32")' in text
    args = random_args(func, np.random.default_rng(1))
    for want, have in zip(outputs(func, args, "llvm"), outputs(got[1], args, "llvm")):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


def test_outer_loops_are_parallel_over_a_padding_copy_computed_inside() -> None:
    """The padding block computed under the tile's outer loops is recomputed by every
    iteration (same values into the same temporary elements): those loops still run in
    parallel, and the result is the unscheduled function's."""
    from tuner.space.postproc import rewrite_parallel_vectorize_unroll

    func = tvmscript.from_source(CONV32)
    sch = Schedule(func)
    conv = sch.get_block("conv")
    n, k, h, w, *_ = sch.get_loops(conv)
    k_0, _ = sch.split(k, [4, 8])
    sch.reorder(n, k_0, h)
    sch.compute_at(sch.get_block("pad"), h)
    rewrite_parallel_vectorize_unroll(sch, sch.get_block("root"), 64, 0, 0, 8)
    text = sch.func.script()
    assert "T.parallel(" in text and text.index("T.parallel(") < text.index('T.block("pad")')
    args = random_args(func, np.random.default_rng(1))
    for want, have in zip(outputs(func, args, "llvm"), outputs(sch.func, args, "llvm")):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


RECOMPUTED_SUM = '''
@T.prim_func
def rowsum_scale(A: T.Buffer((16, 8), "float32"), B: T.Buffer((16,), "float32")):
    acc = T.alloc_buffer((1,), "float32")
    for i in range(16):
        for k in range(8):
            with T.block("acc"):
                vk = T.axis.reduce(8, k)
                with T.init():
                    acc[0] = T.float32(0)
                acc[0] = acc[0] + A[0, vk]
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            B[vi] = A[vi, 0] * acc[0]
'''


@pytest.mark.parametrize("decomposed", [False, True])
def test_a_reduction_recomputed_inside_a_loop_keeps_it_serial(decomposed: bool) -> None:
    """A sum into a temporary under a loop it does not bind is no recomputed copy: run in
    parallel, one iteration would zero the sum while another adds to it."""
    from tuner.space.postproc import rewrite_parallel_vectorize_unroll

    func = tvmscript.from_source(RECOMPUTED_SUM)
    sch = Schedule(func)
    if decomposed:
        sch.decompose_reduction(sch.get_block("acc"), sch.get_loops(sch.get_block("acc"))[-1])
    rewrite_parallel_vectorize_unroll(sch, sch.get_block("root"), 64, 0, 0, 8)
    assert "T.parallel(" not in sch.func.script()
    assert_same_numbers(func, sch.func)
