"""The trace: printed Python that rebuilds the schedule, replay on a fresh copy, JSON round
trip, and the sampling primitives (determinism with a seed, mutation by changed decisions,
invalid decisions)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tvmscript import Schedule, ScheduleError, Trace
from tvmscript.schedule import IntRV, LoopRV
from tvmscript.schedule.sampling import perfect_tilings


def corpus(name: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(PROGRAMS[name])


MATMUL = corpus("matmul")
RELU = corpus("elementwise_blocks_relu")


def tiled(seed: int | None = 0) -> Schedule:
    """A schedule that uses every loop primitive and every sampling primitive."""
    sch = Schedule(MATMUL, seed=seed)
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    ti = sch.sample_perfect_tile(i, n=3, max_innermost_factor=8)
    i0, i1, i2 = sch.split(i, factors=ti)
    j0, j1 = sch.split(j, factors=[None, 16])
    sch.reorder(i0, j0, i1, k, i2, j1)
    fused = sch.fuse(i0, j0)
    sch.parallel(fused)
    sch.vectorize(j1)
    sch.unroll(i2)
    step = sch.sample_categorical([0, 16, 64, 512], [0.25, 0.25, 0.25, 0.25])
    sch.annotate(b, "pragma_auto_unroll_max_step", step)
    sch.annotate(k, "note", "x")
    sch.unannotate(k, "note")
    sch.add_unit_loop(b)
    return sch


def run_text(text: str, func: tvmscript.PrimFunc) -> Schedule:
    namespace = {"sch": Schedule(func)}
    exec(text, namespace)  # noqa: S102 - the trace is Python by design
    return namespace["sch"]


# ---------------------------------------------------------------- python text


def test_trace_prints_python() -> None:
    sch = Schedule(MATMUL, seed=0)
    b = sch.get_block("C")
    i, _, _ = sch.get_loops(b)
    sch.split(i, factors=[None, 32])
    sch.sample_categorical([1, 2], [0.5, 0.5], decision=1)
    assert str(sch.trace) == (
        "b0 = sch.get_block('C')\n"
        "l1, l2, l3 = sch.get_loops(b0)\n"
        "l4, l5 = sch.split(l1, factors=[None, 32])\n"
        "v6 = sch.sample_categorical([1, 2], [0.5, 0.5], decision=1)"
    )


def test_printed_trace_rebuilds_the_schedule() -> None:
    sch = tiled()
    again = run_text(str(sch.trace), MATMUL)
    tvmscript.assert_structural_equal(again.mod, sch.mod)
    assert str(again.trace) == str(sch.trace)


def test_printed_trace_with_every_loop_primitive() -> None:
    sch = Schedule(corpus("vector_add_range"))
    (i,) = sch.get_loops(sch.get_block("C"))
    bx, tx = sch.split(i, factors=[8, None], preserve_unit_iters=False)
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    sch.annotate(tx, "stages", [0, 1])
    sch.annotate(tx, "ratio", 0.5)
    again = run_text(str(sch.trace), corpus("vector_add_range"))
    tvmscript.assert_structural_equal(again.mod, sch.mod)


# ---------------------------------------------------------------- replay


def test_apply_to_replays_on_a_fresh_copy() -> None:
    sch = tiled()
    fresh = corpus("matmul")  # a separately parsed copy: other variables, same program
    again = sch.trace.apply_to(fresh)
    tvmscript.assert_structural_equal(again.mod, sch.mod)
    assert len(again.trace) == len(sch.trace)


def test_json_round_trip() -> None:
    sch = tiled()
    text = sch.trace.to_json()
    loaded = Trace.from_json(text)
    assert loaded.to_json() == text
    tvmscript.assert_structural_equal(loaded.apply_to(MATMUL).mod, sch.mod)
    assert str(loaded) == str(sch.trace)


def test_from_json_rejects_other_documents() -> None:
    with pytest.raises(ValueError, match="not a tvmscript trace"):
        Trace.from_json('{"instructions": []}')


def test_failed_primitive_is_not_recorded() -> None:
    sch = Schedule(MATMUL)
    _, _, k = sch.get_loops(sch.get_block("C"))
    n = len(sch.trace)
    with pytest.raises(ScheduleError):
        sch.parallel(k)
    assert len(sch.trace) == n


# ---------------------------------------------------------------- sampling


def test_sampling_is_deterministic_with_a_seed() -> None:
    texts = {str(tiled(seed=7).trace) for _ in range(3)}
    assert len(texts) == 1
    results = {str(tiled(seed=s).trace) for s in range(12)}
    assert len(results) > 1  # different seeds explore different tilings


def test_sample_perfect_tile_valid_and_uniform() -> None:
    choices = perfect_tilings(128, 3, 8)
    assert all(a * b * c == 128 and c <= 8 for a, b, c in choices)
    assert len(choices) == len(set(choices)) == 26
    sch = Schedule(MATMUL, seed=3)
    i, _, _ = sch.get_loops(sch.get_block("C"))
    counts = Counter(tuple(sch.sample_perfect_tile(i, n=3, max_innermost_factor=8))
                     for _ in range(2600))
    assert set(counts) == set(choices)
    assert max(counts.values()) < 3 * min(counts.values())
    v = sch.sample_perfect_tile(i, n=2)
    assert all(isinstance(x, IntRV) for x in v)


def test_sample_categorical_follows_probabilities() -> None:
    sch = Schedule(MATMUL, seed=1)
    draws = Counter(int(sch.sample_categorical([10, 20, 30], [0.0, 0.25, 0.75])) for _ in range(2000))
    assert draws[10] == 0
    assert 350 < draws[20] < 650 and draws[30] > 1350


def test_sample_compute_location_candidates() -> None:
    sch = Schedule(RELU, seed=0)
    add = sch.get_block("add")
    seen = set()
    for _ in range(60):
        sch.sample_compute_location(add)
        seen.add(sch.trace.instructions[-1].decision)
    assert seen == {-1, 0, 1}
    relu_loops = sch.get_loops(sch.get_block("relu"))
    loc = sch.sample_compute_location(add, decision=1)
    assert sch.get(loc) is sch.get(relu_loops[1])
    assert sch.sample_compute_location(add, decision=-1) is None
    # the last block has no consumer: only "where it is"
    assert sch.sample_compute_location(sch.get_block("relu")) is None


def test_mutation_by_changed_decision() -> None:
    sch = tiled()
    index = sch.trace.sampling_indices()[0]
    old = sch.trace.instructions[index].decision
    new = [1, 16, 8] if old != [1, 16, 8] else [16, 1, 8]
    mutated = sch.trace.apply_to(MATMUL, decisions={index: new})
    same = sch.trace.with_decision(index, new).apply_to(MATMUL)
    tvmscript.assert_structural_equal(mutated.mod, same.mod)
    assert mutated.trace.instructions[index].decision == new
    assert not tvmscript.structural_equal(mutated.mod, sch.mod)
    # the mutated program computes the same thing
    a, b = (np.random.default_rng(0).standard_normal((128, 128)).astype("float32") for _ in range(2))
    c = np.zeros((128, 128), "float32")
    tvmscript.build(mutated.mod, target="llvm")["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)
    # categorical mutation
    cat = sch.trace.sampling_indices()[1]
    changed = sch.trace.apply_to(MATMUL, decisions={cat: 3})
    assert "512" in changed.mod.script()


@pytest.mark.parametrize("decision, message", [
    ([4, 4, 4], "is not a tiling of loop `i` (extent 128) into 3 positive factors"),
    ([1, 2, 64], "has innermost factor 64, more than max_innermost_factor=8"),
    ([128, 1], "is not a tiling"),
    ("abc", "is a list of 3 integers"),
])
def test_invalid_perfect_tile_decision(decision: object, message: str) -> None:
    sch = tiled()
    index = sch.trace.sampling_indices()[0]
    with pytest.raises(ScheduleError) as info:
        sch.trace.apply_to(MATMUL, decisions={index: decision})
    assert message in str(info.value)


def test_invalid_categorical_and_location_decisions() -> None:
    sch = tiled()
    cat = sch.trace.sampling_indices()[1]
    with pytest.raises(ScheduleError, match="not an index into the 4 candidates"):
        sch.trace.apply_to(MATMUL, decisions={cat: 4})
    loc = Schedule(RELU)
    mod = loc.mod
    with pytest.raises(ScheduleError, match=r"not a compute location of block `add`; the candidates are \[-1, 0, 1\]"):
        loc.sample_compute_location(loc.get_block("add"), decision=5)
    assert loc.mod is mod


def test_decision_for_a_non_sampling_instruction() -> None:
    sch = tiled()
    with pytest.raises(ValueError, match="not a sampling instruction"):
        sch.trace.with_decision(0, 3)
    with pytest.raises(ValueError, match="not a sampling instruction"):
        sch.trace.apply_to(MATMUL, decisions={0: 3})


def test_sampling_errors() -> None:
    sch = Schedule(corpus("symbolic_shape"))
    loop = LoopRV(_loops(sch.func.body)[0].loop_var)
    with pytest.raises(ScheduleError, match="is not a constant"):
        sch.sample_perfect_tile(loop, n=2)
    sch = Schedule(MATMUL)
    i, _, _ = sch.get_loops(sch.get_block("C"))
    with pytest.raises(ScheduleError, match="n >= 1"):
        sch.sample_perfect_tile(i, n=0)
    with pytest.raises(ScheduleError, match="as many probabilities as candidates"):
        sch.sample_categorical([1, 2], [1.0])
    with pytest.raises(ScheduleError, match="non-negative"):
        sch.sample_categorical([1, 2], [-1.0, 2.0])


def _loops(stmt):
    from tvmscript.ir import stmt as S
    from tvmscript.schedule.state import walk

    return [loc.node for loc in walk(stmt) if isinstance(loc.node, S.For)]


def test_sampled_compute_location_feeds_compute_at_and_mutates() -> None:
    if not hasattr(Schedule, "compute_at"):
        pytest.skip("compute_at is not registered")
    sch = Schedule(RELU)
    add = sch.get_block("add")
    sch.compute_at(add, sch.sample_compute_location(add, decision=1))
    again = run_text(str(sch.trace), RELU)
    tvmscript.assert_structural_equal(again.mod, sch.mod)
    outer = sch.trace.apply_to(RELU, decisions={1: 0})  # under the i loop instead of j
    assert not tvmscript.structural_equal(outer.mod, sch.mod)
    tvmscript.assert_structural_equal(Trace.from_json(outer.trace.to_json()).apply_to(RELU).mod, outer.mod)
