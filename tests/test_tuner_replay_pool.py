"""The replay pool gives the search exactly what replaying in this process gives: the same
programs (traces, hashes, features, functions) for the same jobs, and None for invalid ones; a
worker that dies costs its chunk, not the search."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from tests.test_tuner_database import MATMUL_TEXT
from tuner.replay_pool import InProcessReplayer, ReplayPool, make_replayer, program_key
from tuner.space import generate_design_spaces
from tvmscript.ir.structural import structural_equal

FUNC = tvmscript.from_source(MATMUL_TEXT)
SKETCHES = generate_design_spaces(FUNC, "llvm")


@pytest.fixture(scope="module")
def pool():
    p = ReplayPool(FUNC, "llvm", workers=2)
    yield p
    p.close()


def jobs(n: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    return [("draw", SKETCHES[i % len(SKETCHES)], int(rng.integers(1 << 31))) for i in range(n)]


def test_pool_and_in_process_replay_agree(pool) -> None:
    todo = jobs(10)
    here = InProcessReplayer(FUNC, "llvm").run(todo)
    there = pool.run(todo)
    assert sum(g is not None for g in here) >= 5
    for a, b in zip(here, there):
        assert (a is None) == (b is None)
        if a is None:
            continue
        assert a.key == b.key == program_key(a.func)
        np.testing.assert_array_equal(a.features, b.features)
        assert a.trace.as_python() == b.trace.as_python()
        assert structural_equal(a.func, b.func)  # parsed back from the worker's script


def test_replaying_a_drawn_trace_gives_the_same_program(pool) -> None:
    drawn = next(g for g in pool.run(jobs(6)) if g is not None)
    (again,) = pool.run([("replay", drawn.trace)])
    assert again.key == drawn.key


def test_an_invalid_decision_is_none(pool) -> None:
    drawn = next(g for g in pool.run(jobs(6)) if g is not None)
    index = next(i for i, inst in enumerate(drawn.trace.instructions)
                 if inst.kind == "sample_perfect_tile")
    bad = drawn.trace.with_decision(index, [3, 1, 1, 1][: len(drawn.trace.instructions[index].decision)])
    assert pool.run([("replay", bad)]) == [None]


def test_a_dead_worker_is_replaced(pool) -> None:
    import os
    import signal

    victim = pool._children[0]
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    got = pool.run(jobs(16))  # the dead worker's chunk is lost, the rest is replayed
    assert any(g is not None for g in got)
    assert all(c.proc.poll() is None for c in pool._children)
    assert sum(g is not None for g in pool.run(jobs(8))) >= 4


def test_one_worker_means_this_process() -> None:
    assert isinstance(make_replayer(FUNC, "llvm", 1), InProcessReplayer)


def test_a_hung_worker_costs_its_chunk_and_is_replaced() -> None:
    import os
    import signal

    pool = ReplayPool(FUNC, "llvm", workers=2, timeout_s=3.0)
    try:
        stuck = pool._children[1]
        os.kill(stuck.proc.pid, signal.SIGSTOP)  # alive but answering nothing
        got = pool.run(jobs(8))
        assert sum(g is not None for g in got) >= 2  # the other worker's chunks
        assert stuck not in pool._children and len(pool._children) == 2
    finally:
        pool.close()


def test_with_no_worker_left_this_process_replays() -> None:
    pool = ReplayPool(FUNC, "llvm", workers=2)
    try:
        pool._make = lambda i: (_ for _ in ()).throw(OSError("no more processes"))
        for child in list(pool._children):
            child.kill()
        got = pool.run(jobs(6))
        want = InProcessReplayer(FUNC, "llvm").run(jobs(6))
        assert [g.key if g else None for g in got] == [w.key if w else None for w in want]
    finally:
        pool.close()
