"""Fuzz: random primitive sequences, with random and invalid arguments, on four small kernels.

Kernels: matmul with an init block, a row sum, padding then an element-wise relu (two blocks and
an intermediate buffer), and a 1-D convolution with two reduction axes. Each step calls one
primitive with arguments drawn from what the schedule holds now (blocks, loops, small ints,
scopes) or, a quarter of the time per argument, from invalid values: handles of the wrong kind,
handles of loops and blocks that are gone, strings for ints, huge / negative / zero factors,
``2**31``, floats, None. Properties:

- a step either raises ``ScheduleError`` (or a ``TypeError`` naming a parameter), leaving
  ``sch.mod`` (the same object) and ``sch.trace`` unchanged, or succeeds with a module that
  passes ``tvmscript.verify``; nothing else is raised;
- at the end the scheduled function computes numpy's numbers (interpreted; every fourth example
  also compiled with LLVM), the trace (and its JSON) replays on a fresh parse to a structurally
  equal module, and the module round-trips through the printer.

CI replays the same examples each run; ``TVMSCRIPT_FUZZ=deep pytest tests/test_fuzz_schedules.py``
draws 20 times as many fresh ones (see ``tests.strategies.fuzz_settings``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmscript
from backends.interpreter import run
from tests.corpus.tir_programs import PROGRAMS
from tests.references import random_args
from tests.strategies import INVALID_VALUES, fuzz_settings, time_limit
from tests.test_schedule_properties import _blocks
from tvmscript.ir import Var
from tvmscript.schedule import BlockRV, LoopRV, Schedule, ScheduleError, Trace

REDUCE_SUM = '''
@T.prim_func
def row_sum(A: T.Buffer((6, 10), "float32"), B: T.Buffer((6,), "float32")):
    for i, k in T.grid(6, 10):
        with T.block("B"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + A[vi, vk]
'''

PAD_RELU = '''
@T.prim_func
def pad_relu(A: T.Buffer((6, 7), "float32"), B: T.Buffer((8, 9), "float32")):
    P = T.alloc_buffer((8, 9), "float32")
    for i, j in T.grid(8, 9):
        with T.block("pad"):
            vi, vj = T.axis.remap("SS", [i, j])
            P[vi, vj] = T.if_then_else(1 <= vi and vi < 7 and 1 <= vj and vj < 8,
                                       A[vi - 1, vj - 1], T.float32(0))
    for i, j in T.grid(8, 9):
        with T.block("relu"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = T.max(P[vi, vj] * T.float32(2) - T.float32(1), T.float32(0))
'''

CONV1D = '''
@T.prim_func
def conv1d(A: T.Buffer((2, 12), "float32"), W: T.Buffer((3, 2, 3), "float32"),
           C: T.Buffer((3, 10), "float32")):
    for o, x, c, r in T.grid(3, 10, 2, 3):
        with T.block("C"):
            vo, vx, vc, vr = T.axis.remap("SSRR", [o, x, c, r])
            with T.init():
                C[vo, vx] = T.float32(0)
            C[vo, vx] = C[vo, vx] + A[vc, vx + vr] * W[vo, vc, vr]
'''


def _conv1d(a: np.ndarray, w: np.ndarray, c: np.ndarray) -> dict[int, np.ndarray]:
    windows = np.stack([a[:, r:r + 10] for r in range(3)], axis=-1)  # (c, x, r)
    return {2: np.einsum("cxr,ocr->ox", windows, w)}


# name -> (script, numpy reference: the inputs -> {argument index: expected output})
KERNELS: dict[str, tuple[str, Callable[..., dict[int, np.ndarray]]]] = {
    "matmul": (PROGRAMS["matmul"].replace("128", "8"), lambda a, b, c: {2: a @ b}),
    "row_sum": (REDUCE_SUM, lambda a, b: {1: a.sum(axis=1)}),
    "pad_relu": (PAD_RELU, lambda a, b: {1: np.maximum(np.pad(a, 1) * 2 - 1, 0)}),
    "conv1d": (CONV1D, _conv1d),
}

# primitive -> the kinds of its positional arguments ("loops": one or more, variadic;
# "consumer_loop" / "producer_loop": a loop of a consumer / producer of the block before it)
PRIMITIVES: dict[str, tuple[str, ...]] = {
    "split": ("loop", "factors"), "fuse": ("loops",), "reorder": ("loops",),
    "parallel": ("loop",), "vectorize": ("loop",), "unroll": ("loop",),
    "bind": ("loop", "thread"), "annotate": ("target", "key", "value"),
    "unannotate": ("target", "key"), "add_unit_loop": ("target",),
    "cache_read": ("block", "index", "scope"), "cache_write": ("block", "index", "scope"),
    "set_scope": ("block", "index", "scope"),
    "storage_align": ("block", "index", "index", "factor", "index"),
    "compute_at": ("block", "consumer_loop"), "reverse_compute_at": ("block", "producer_loop"),
    "compute_inline": ("block",), "reverse_compute_inline": ("block",),
    "decompose_reduction": ("block", "loop"), "rfactor": ("loop", "index"),
    "blockize": ("loop",), "get_block": ("key",), "get_loops": ("block",),
    "get_producers": ("block",), "get_consumers": ("block",), "get_child_blocks": ("target",),
    "sample_perfect_tile": ("loop", "factor", "factor"),
}
VALID_CHOICES: dict[str, list] = {
    "index": [0, 0, 1, 2], "factor": [1, 2, 3, 4, 8],
    "scope": ["global", "local", "shared"], "thread": ["threadIdx.x", "blockIdx.x", "vthread"],
    "value": [0, 1, "x", 2.5, [1, 2]],
}
INVALID_FACTORS = [0, -1, 2**31, 10**30, "4", 4.0, True]


class StepFuzzer:
    """Draws primitive calls on one schedule and checks each call's contract."""

    def __init__(self, sch: Schedule, data: Any) -> None:
        self.sch, self.data = sch, data
        self.seen: list[BlockRV | LoopRV] = []  # every handle handed out, gone ones included

    def draw(self, strategy: st.SearchStrategy, label: str) -> Any:
        return self.data.draw(strategy, label=label)

    # ------------------------------------------------------------ arguments
    def block(self) -> BlockRV | None:
        """A handle (from ``sch.get_block``, so the trace replays) of a drawn block."""
        names = _blocks(self.sch)
        if not names:
            return None
        return self.sch.get_block(self.draw(st.sampled_from(names), "block"))

    def loops(self) -> list[LoopRV]:
        """The loops around a drawn block, outermost first (from ``sch.get_loops``)."""
        block = self.block()
        loops = self.sch.get_loops(block) if block is not None else []
        self.seen += loops  # kept: later primitives may remove them (stale handles)
        return loops

    def invalid(self) -> Any:
        wrong = [BlockRV("no_such_block"), LoopRV(Var("ghost")), *self.seen]
        return self.draw(st.sampled_from([*INVALID_VALUES, *wrong]), "invalid")

    def valid(self, kind: str) -> list:
        """Candidates for an argument of ``kind`` (empty when the schedule has none)."""
        if kind in VALID_CHOICES:
            return VALID_CHOICES[kind]
        if kind == "block":
            return [b for b in [self.block()] if b is not None]
        if kind == "loop":
            return self.loops()
        if kind == "target":
            return self.valid(self.draw(st.sampled_from(["block", "loop"]), "target"))
        if kind == "key":
            return _blocks(self.sch) + ["pragma_x"]
        return []

    def related_loops(self, kind: str, block: Any) -> list[LoopRV]:
        """Loops of a consumer (or producer) of ``block``: where compute_at can move it."""
        if not isinstance(block, BlockRV) or block.name not in _blocks(self.sch):
            return self.loops()
        find = self.sch.get_consumers if kind == "consumer_loop" else self.sch.get_producers
        others = find(block)
        if not others:
            return self.loops()
        return self.sch.get_loops(self.draw(st.sampled_from(others), "other block"))

    def argument(self, kind: str, previous: list) -> list:
        """One argument (a list of several for ``loops``), a quarter of the time invalid."""
        if kind == "factors":
            return [self.factors()]
        if self.draw(st.integers(0, 3), "invalid?") == 0:
            return [self.invalid()]
        if kind == "loops":
            return self.loop_chain()
        if kind.endswith("_loop"):
            candidates = self.related_loops(kind, previous[-1] if previous else None)
        else:
            candidates = self.valid(kind)
        return [self.draw(st.sampled_from(candidates), kind) if candidates else self.invalid()]

    def loop_chain(self) -> list:
        loops = self.loops()
        if not loops:
            return [self.invalid()]
        start = self.draw(st.integers(0, len(loops) - 1), "start")
        chain = loops[start:start + self.draw(st.integers(1, len(loops) - start), "count")]
        return list(self.draw(st.permutations(chain), "order"))

    def factors(self) -> Any:
        """Split factors: usually small ints with one None (inferred), else some invalid."""
        kind = self.draw(st.integers(0, 7), "factors kind")
        if kind == 0:
            return self.invalid()
        n = self.draw(st.integers(1, 3), "parts")
        pool = [1, 2, 3, 4, 5, 8] + (INVALID_FACTORS + [None] if kind == 1 else [])
        factors = [self.draw(st.sampled_from(pool), "factor") for _ in range(n)]
        factors[self.draw(st.integers(0, n - 1), "inferred")] = None
        return factors

    # ------------------------------------------------------------ one step
    def step(self) -> None:
        name = self.draw(st.sampled_from(sorted(PRIMITIVES)), "primitive")
        args: list = []
        for kind in PRIMITIVES[name]:
            args += self.argument(kind, args)
        result = check_step(self.sch, name, args)
        self.seen += [r for r in _flatten(result) if isinstance(r, (BlockRV, LoopRV))]


def check_step(sch: Schedule, name: str, args: list) -> Any:
    """Call ``sch.<name>(*args)``: it raises ScheduleError (or a TypeError naming a parameter)
    and leaves the schedule as it was, or returns a well-formed module. Returns the result
    (None when refused)."""
    mod, trace = sch.mod, list(sch.trace.instructions)
    call = f"sch.{name}({', '.join(map(repr, args))})"
    try:
        result = getattr(sch, name)(*args)
    except ScheduleError as err:
        assert str(err), call
    except TypeError as err:
        assert _names_a_parameter(name, str(err)), f"{call}: TypeError {err}"
    else:
        _verify(sch, call)
        return result
    assert sch.mod is mod, f"{call} raised but replaced sch.mod"
    assert sch.trace.instructions == trace, f"{call} raised but changed sch.trace"
    return None


def _names_a_parameter(primitive: str, message: str) -> bool:
    params = list(inspect.signature(getattr(Schedule, primitive)).parameters)[1:]
    return any(f"{p}" in message for p in params)


def _flatten(result: Any) -> list:
    if isinstance(result, (list, tuple)):
        return [x for r in result for x in _flatten(r)]
    return [result]


def _verify(sch: Schedule, call: str) -> None:
    try:
        tvmscript.verify(sch.mod)
    except Exception as err:
        err.add_note(f"after {call}; trace:\n{sch.trace}")
        raise


# ----------------------------------------------------------------------------- final checks

def _check_numbers(name: str, func: tvmscript.PrimFunc, llvm: bool) -> None:
    script, reference = KERNELS[name]
    args = random_args(func, np.random.default_rng(0))
    expected = reference(*args)
    targets = ["interpreter", "llvm"] if llvm else ["interpreter"]
    for target in targets:
        got = [a.copy() for a in args]
        if target == "interpreter":
            run(func, *got)
        else:
            tvmscript.build(func, target="llvm")[func.name or "main"](*got)
        for index, want in expected.items():
            np.testing.assert_allclose(got[index], want, rtol=1e-4, atol=1e-4, err_msg=target)


def _check_replay_and_text(name: str, sch: Schedule) -> None:
    fresh = tvmscript.from_source(KERNELS[name][0])
    tvmscript.assert_structural_equal(sch.trace.apply_to(fresh).mod, sch.mod)
    loaded = Trace.from_json(sch.trace.to_json())
    tvmscript.assert_structural_equal(loaded.apply_to(fresh).mod, sch.mod)
    text = sch.mod.script()
    tvmscript.assert_structural_equal(tvmscript.from_source(text), sch.mod)


def _has_thread_bindings(sch: Schedule) -> bool:
    return "T.thread_binding" in sch.mod.script()


def check_final(name: str, sch: Schedule, llvm: bool) -> None:
    """The scheduled function computes numpy's numbers, its trace replays, its text reparses."""
    _check_numbers(name, sch.func, llvm and not _has_thread_bindings(sch))
    _check_replay_and_text(name, sch)


@contextlib.contextmanager
def showing_the_schedule(sch: Schedule) -> Iterator[None]:
    """Any failure inside gets the trace and the scheduled module as notes."""
    try:
        yield
    except BaseException as err:
        err.add_note(f"trace:\n{sch.trace}\nscheduled:\n{sch.mod.script()}")
        raise


@fuzz_settings(280)
@given(name=st.sampled_from(sorted(KERNELS)), steps=st.integers(1, 8), data=st.data())
def test_random_primitive_sequences_keep_contracts(name, steps, data):
    sch = Schedule(tvmscript.from_source(KERNELS[name][0]))
    fuzzer = StepFuzzer(sch, data)
    with time_limit(10, f"{steps} primitives on {name}"), showing_the_schedule(sch):
        for _ in range(steps):
            fuzzer.step()
        check_final(name, sch, data.draw(st.integers(0, 3), label="llvm?") == 0)


def _loop(sch: Schedule, block: str, index: int) -> LoopRV:
    return sch.get_loops(sch.get_block(block))[index]


# sequences the fuzzer found breaking a contract once, replayed every run:
# (kernel, steps as (primitive, function of the schedule giving the arguments))
FOUND: dict[str, tuple[str, list[tuple[str, Callable[[Schedule], list]]]]] = {
    # accepted: a 2**31-iteration int32 loop (verify passed; running it hangs)
    "split_by_2_31": ("matmul", [("split", lambda s: [_loop(s, "C", 2), [2**31]])]),
    # TypeError "typing.Any cannot be used with isinstance()" naming no parameter
    "annotate_none": ("matmul", [("annotate", lambda s: [s.get_block("C"), "4", None])]),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_found_sequences_keep_contracts(case):
    name, steps = FOUND[case]
    sch = Schedule(tvmscript.from_source(KERNELS[name][0]))
    with time_limit(10, case), showing_the_schedule(sch):
        for primitive, arguments in steps:
            check_step(sch, primitive, arguments(sch))
        check_final(name, sch, llvm=True)


def test_kernels_match_numpy_unscheduled():
    """The kernels and their references agree before any primitive (the oracle is sound)."""
    for name, (script, _) in KERNELS.items():
        _check_numbers(name, tvmscript.from_source(script), llvm=True)
