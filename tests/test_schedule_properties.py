"""Properties of schedules over random sequences of primitives on the project's kernels.

hypothesis draws a kernel (matmul, conv2d, softmax, layer norm, pooling, element-wise chains,
dense + relu: the corpus programs at small sizes) and a sequence of primitives with random
arguments (loops, blocks, factors, permutations, buffers, index maps). A primitive that refuses
its arguments with ``ScheduleError`` is skipped; any other exception fails the test. Then:

- the scheduled module is well-formed (``tvmscript.verify``);
- it computes what the original computes, interpreted and compiled with LLVM;
- ``sch.trace.apply_to(original)`` (and its JSON round trip) rebuilds a structurally equal module;
- it round-trips through the printer: the parsed script is structurally equal and printing it
  again gives the same text.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmscript
from backends.interpreter import run
from tests.corpus.tir_programs import PROGRAMS
from tests.references import random_args
from tvmscript.ir import stmt as S
from tvmscript.ir.stmt import IterType
from tvmscript.schedule import BlockRV, Schedule, ScheduleError, Trace
from tvmscript.schedule.index_map import IndexMap
from tvmscript.schedule.state import walk


def _shrunk(name: str, *replacements: tuple[str, str]) -> str:
    text = PROGRAMS[name]
    for old, new in replacements:
        assert old in text, (name, old)
        text = text.replace(old, new)
    return text


# the corpus kernels, shrunk so that the interpreter runs each in milliseconds
KERNELS = {
    "matmul": _shrunk("matmul", ("128", "16")),
    "conv2d": _shrunk("conv2d_pad", ("(1, 8, 14, 14)", "(1, 4, 6, 6)"),
                      ("(16, 8, 3, 3)", "(8, 4, 3, 3)"), ("(1, 16, 14, 14)", "(1, 8, 6, 6)"),
                      ("(1, 8, 16, 16)", "(1, 4, 8, 8)"), ("< 15", "< 7"),
                      ("T.grid(1, 16, 14, 14, 8, 3, 3)", "T.grid(1, 8, 6, 6, 4, 3, 3)")),
    "softmax": _shrunk("softmax", ("256", "24")),
    "layer_norm": PROGRAMS["layer_norm"],
    "pooling": PROGRAMS["pooling"],
    "bias_relu": _shrunk("elementwise_blocks_relu", ("(64, 128)", "(12, 16)"),
                         ("(128,)", "(16,)")),
    "dense_relu": _shrunk("dense_relu_fused", ("(32, 64)", "(6, 8)"), ("(128, 64)", "(12, 8)"),
                          ("(32, 128)", "(6, 12)"), ("(32, 128, 64)", "(6, 12, 8)")),
}

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------- drawing

def _blocks(sch: Schedule) -> list[str]:
    """Names of the function's blocks (not the implicit root)."""
    return [loc.node.name_hint for loc in walk(sch.func.body)
            if isinstance(loc.node, S.Block) and loc.path[-2:-1]
            and isinstance(loc.path[-2], S.BlockRealize) and loc.node.name_hint != "root"]


def _draw_block(sch, data) -> BlockRV:
    names = _blocks(sch)
    if not names:
        raise ScheduleError("no block left")
    return sch.get_block(data.draw(st.sampled_from(names), label="block"))


def _draw_loops(sch, data):
    block = _draw_block(sch, data)
    loops = sch.get_loops(block)
    if not loops:
        raise ScheduleError("the block has no loops")
    return block, loops


def _draw_loop(sch, data):
    _, loops = _draw_loops(sch, data)
    return data.draw(st.sampled_from(loops), label="loop")


def _extent(sch, loop) -> int | None:
    extent = sch.get(loop).extent
    return getattr(extent, "value", None)


def act_split(sch, data):
    loop = _draw_loop(sch, data)
    extent = _extent(sch, loop)
    if extent is None:
        raise ScheduleError("symbolic extent")
    parts = data.draw(st.integers(2, 3), label="parts")
    factors = [data.draw(st.integers(1, max(1, extent)), label="factor") for _ in range(parts)]
    factors[data.draw(st.integers(0, parts - 1), label="inferred")] = None
    sch.split(loop, factors)


def act_fuse(sch, data):
    _, loops = _draw_loops(sch, data)
    start = data.draw(st.integers(0, len(loops) - 1), label="start")
    count = data.draw(st.integers(1, len(loops) - start), label="count")
    sch.fuse(*loops[start:start + count])


def act_reorder(sch, data):
    _, loops = _draw_loops(sch, data)
    start = data.draw(st.integers(0, len(loops) - 1), label="start")
    chain = loops[start:start + data.draw(st.integers(1, len(loops) - start), label="count")]
    sch.reorder(*data.draw(st.permutations(chain), label="order"))


def act_loop_kind(sch, data):
    loop = _draw_loop(sch, data)
    kind = data.draw(st.sampled_from(["parallel", "vectorize", "unroll"]), label="kind")
    getattr(sch, kind)(loop)


def act_cache(sch, data):
    block = _draw_block(sch, data)
    node = sch.get(block)
    read = data.draw(st.booleans(), label="read")
    regions = node.reads if read else node.writes
    if not regions:
        raise ScheduleError("no region")
    index = data.draw(st.integers(0, len(regions) - 1), label="index")
    scope = data.draw(st.sampled_from(["global", "local"]), label="scope")
    (sch.cache_read if read else sch.cache_write)(block, index, scope)


def act_inline(sch, data):
    # blocks with only spatial iterators: the ones inlining can take
    names = [n for n in _blocks(sch)
             if all(iv.iter_type == IterType.SPATIAL for iv in sch.get(BlockRV(n)).iter_vars)]
    if not names:
        raise ScheduleError("no spatial block")
    block = sch.get_block(data.draw(st.sampled_from(names), label="block"))
    if data.draw(st.booleans(), label="reverse"):
        sch.reverse_compute_inline(block)
    else:
        sch.compute_inline(block)


def act_compute_at(sch, data):
    # a producer under a loop of one of its consumers, or a consumer under one of its producers'
    block = _draw_block(sch, data)
    reverse = data.draw(st.booleans(), label="reverse")
    others = sch.get_producers(block) if reverse else sch.get_consumers(block)
    if not others:
        raise ScheduleError("no producer or consumer")
    loops = sch.get_loops(data.draw(st.sampled_from(others), label="other"))
    if not loops:
        raise ScheduleError("no loop")
    loop = data.draw(st.sampled_from(loops), label="loop")
    (sch.reverse_compute_at if reverse else sch.compute_at)(block, loop)


def act_decompose(sch, data):
    block, loops = _draw_loops(sch, data)
    sch.decompose_reduction(block, data.draw(st.sampled_from(loops), label="loop"))


def act_rfactor(sch, data):
    sch.rfactor(_draw_loop(sch, data), 0)


def act_blockize(sch, data):
    sch.blockize(_draw_loop(sch, data))


def act_transform_layout(sch, data):
    block = _draw_block(sch, data)
    node = sch.get(block)
    read = data.draw(st.booleans(), label="read")
    regions = node.reads if read else node.writes
    if not regions:
        raise ScheduleError("no region")
    index = data.draw(st.integers(0, len(regions) - 1), label="index")
    shape = [getattr(s, "value", None) for s in regions[index].buffer.shape]
    if None in shape:
        raise ScheduleError("symbolic shape")
    last = shape[-1]
    divisors = [d for d in range(2, last) if last % d == 0]
    if divisors and data.draw(st.booleans(), label="split"):
        f = data.draw(st.sampled_from(divisors), label="lanes")
        imap = IndexMap.from_func(lambda *ix: (*ix[:-1], ix[-1] // f, ix[-1] % f), len(shape))
    elif len(shape) >= 2:
        imap = IndexMap.from_func(lambda *ix: (*ix[:-2], ix[-1], ix[-2]), len(shape))
    else:
        raise ScheduleError("nothing to transform")
    sch.transform_layout(block, ("read" if read else "write", index), imap)


def act_annotate(sch, data):
    sch.annotate(_draw_loop(sch, data), "pragma_test", data.draw(st.integers(0, 9), label="v"))


ACTIONS = [act_split, act_split, act_fuse, act_reorder, act_reorder, act_loop_kind,
           act_loop_kind, act_cache, act_inline, act_compute_at, act_decompose, act_rfactor,
           act_blockize, act_transform_layout, act_annotate]


def apply_random_primitives(sch: Schedule, data, steps: int) -> int:
    """Apply ``steps`` random primitives; those refused with ScheduleError are skipped.
    Returns how many applied."""
    applied = 0
    for _ in range(steps):
        action = data.draw(st.sampled_from(ACTIONS), label="primitive")
        before = len(sch.trace)
        try:
            action(sch, data)
        except ScheduleError:
            # a refused primitive leaves the schedule as it was, apart from lookups it recorded
            continue
        applied += len(sch.trace) > before
    return applied


# ----------------------------------------------------------------------------- checks

def _outputs(func, target: str, seed: int = 0) -> list[np.ndarray]:
    args = random_args(func, np.random.default_rng(seed))
    with np.errstate(all="ignore"):
        if target == "interpreter":
            run(func, *args)
        else:
            tvmscript.build(func, target=target)[func.name or "main"](*args)
    return [a for a in args if isinstance(a, np.ndarray)]


def _assert_close(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=what)


def check_schedule(original, sch: Schedule) -> None:
    tvmscript.verify(sch.mod)
    text = sch.mod.script()
    where = f"\ntrace:\n{sch.trace}\nscheduled:\n{text}"
    # the same results, interpreted and compiled
    want = _outputs(original, "interpreter")
    scheduled = sch.func
    _assert_close(_outputs(scheduled, "interpreter"), want, "interpreted" + where)
    _assert_close(_outputs(scheduled, "llvm"), want, "compiled with LLVM" + where)
    # the trace replays on a fresh copy of the function, also after a JSON round trip
    fresh = tvmscript.from_source(original.script())
    tvmscript.assert_structural_equal(sch.trace.apply_to(fresh).mod, sch.mod)
    loaded = Trace.from_json(sch.trace.to_json())
    tvmscript.assert_structural_equal(loaded.apply_to(fresh).mod, sch.mod)
    # the printer round trip
    again = tvmscript.from_source(text)
    tvmscript.assert_structural_equal(again, sch.mod)
    assert again.script() == text


@SETTINGS
@given(name=st.sampled_from(sorted(KERNELS)), steps=st.integers(1, 6), data=st.data())
def test_random_primitives_keep_semantics_trace_and_text(name, steps, data):
    original = tvmscript.from_source(KERNELS[name])
    sch = Schedule(original)
    apply_random_primitives(sch, data, steps)
    check_schedule(original, sch)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_run_unscheduled(name):
    """The shrunk kernels themselves: compiled equals interpreted (the baseline of the above)."""
    func = tvmscript.from_source(KERNELS[name])
    _assert_close(_outputs(func, "llvm"), _outputs(func, "interpreter"), name)


def test_tutorial_schedule_is_the_target_kernel():
    """The matmul tutorial's schedule (at 64^3) ends at the hand-written fast loop nest."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tutorials" / "optimize_matmul_cpu.py"
    spec = importlib.util.spec_from_file_location("optimize_matmul_cpu", path)
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    small = tvmscript.from_source(tutorial.matmul.script().replace("1024", "64"))
    sch = tutorial.schedule(small)
    tvmscript.assert_structural_equal(sch.func, tvmscript.from_source(TARGET_64))
    check_schedule(small, sch)


TARGET_64 = '''
@T.prim_func
def matmul(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), C: T.Buffer((64, 64), "float32")):
    T.func_attr({"tir.noalias": True})
    B_packed = T.alloc_buffer((4, 64, 16), "float32")
    C_local = T.alloc_buffer((64, 64), "float32", scope="local")
    for ax0 in T.parallel(4):
        for ax1 in range(64):
            for ax2 in T.vectorized(16):
                with T.block("B_pack"):
                    v_ax0, v_ax1, v_ax2 = T.axis.remap("SSS", [ax0, ax1, ax2])
                    B_packed[v_ax0, v_ax1, v_ax2] = B[v_ax1, v_ax0 * 16 + v_ax2]
    for i_0 in T.parallel(16):
        for j_0 in range(4):
            for i_1_init in T.unroll(4):
                for j_1_init in T.vectorized(16):
                    with T.block("C_init"):
                        vi_init = T.axis.spatial(64, i_0 * 4 + i_1_init)
                        vj_init = T.axis.spatial(64, j_0 * 16 + j_1_init)
                        C_local[vi_init, vj_init] = T.float32(0)
            for k in range(64):
                for i_1 in T.unroll(4):
                    for j_1 in T.vectorized(16):
                        with T.block("C"):
                            vi = T.axis.spatial(64, i_0 * 4 + i_1)
                            vj = T.axis.spatial(64, j_0 * 16 + j_1)
                            vk = T.axis.reduce(64, k)
                            C_local[vi, vj] = C_local[vi, vj] + A[vi, vk] * B_packed[vj // 16, vk, vj % 16]
            for ax0 in T.unroll(4):
                for ax1 in T.vectorized(16):
                    with T.block("C_local"):
                        v0 = T.axis.spatial(64, i_0 * 4 + ax0)
                        v1 = T.axis.spatial(64, j_0 * 16 + ax1)
                        C[v0, v1] = C_local[v0, v1]
'''
