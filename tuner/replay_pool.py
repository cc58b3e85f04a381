"""Replaying candidates for the search, in this process or in worker processes.

Each round the evolutionary search replays about a hundred traces (fresh draws of the design
spaces and mutants of the best programs), and a replay costs 50-150 ms of Python: most of a
search's own time. The measurer's builder processes sit idle meanwhile, so the replays go to a
pool of worker processes (``ReplayPool``), each returning what the search needs of a program —
its trace, its structural hash, its cost-model features and its script — without the parent
touching the IR: the function is parsed back from the script only for the few programs that
are measured (``Replayed.func``). ``InProcessReplayer`` does the same work in this process (one
core, or a custom target object that cannot travel to another process); both give the same
programs for the same seeds.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as connection_wait
from typing import Any

import numpy as np

from tvmscript.ir import PrimFunc
from tvmscript.ir.structural import stable_structural_hash
from tvmscript.schedule import Trace


@dataclass
class Replayed:
    """A valid program of the space: its full trace, hash and features; the function itself
    is parsed from ``script`` on first use (or given, when replayed in this process)."""

    trace: Trace
    key: int
    features: np.ndarray | None = None
    script: str = ""
    _func: PrimFunc | None = field(default=None, repr=False)

    @property
    def func(self) -> PrimFunc:
        if self._func is None:
            from tvmscript import from_source

            self._func = from_source(self.script)
        return self._func


def program_key(func: PrimFunc) -> int:
    """The search's identity of a program: its structural hash, the same in every process."""
    return int(stable_structural_hash(func), 16)


def _replayed(got: tuple[Trace, PrimFunc] | None, keep_func: bool) -> Replayed | None:
    from .features import extract_features

    if got is None:
        return None
    trace, func = got
    return Replayed(trace, program_key(func), extract_features(func),
                    "" if keep_func else func.script(), func if keep_func else None)


def _run_job(func: PrimFunc, target: Any, job: tuple, keep_func: bool) -> Replayed | None:
    """``("draw", sketch, seed)``: a fresh draw of a sketch; ``("replay", trace)``: a trace
    replayed with its decisions (a mutant). None when the program is invalid."""
    from tvmscript.schedule import ScheduleError

    from .space import replay_candidate, sample_candidate

    try:
        if job[0] == "draw":
            got = sample_candidate(func, job[1], job[2], target=target)
        else:
            got = replay_candidate(func, job[1], target=target)
    except (ScheduleError, ValueError):
        got = None
    return _replayed(got, keep_func)


class InProcessReplayer:
    """Replays in this process."""

    def __init__(self, func: PrimFunc, target: Any = "llvm") -> None:
        self.func, self.target = func, target

    def run(self, jobs: Sequence[tuple]) -> list[Replayed | None]:
        return [_run_job(self.func, self.target, job, True) for job in jobs]

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------- worker side
class _WorkerState:
    """What a replay worker keeps: the task's function and target (sent once)."""

    func: PrimFunc | None = None
    target: Any = None

    def setup(self, script: str, target: str) -> bool:
        from tvmscript import from_source

        self.func, self.target = from_source(script), target
        return True

    def run(self, jobs: list[tuple]) -> list[tuple | None]:
        out = []
        for job in jobs:
            job = (job[0], Trace.from_json(job[1]), *job[2:])
            got = _run_job(self.func, self.target, job, False)
            out.append(None if got is None else
                       (got.trace.to_json(), got.key, got.features, got.script))
        return out


def worker_handlers() -> dict[str, Any]:
    """The requests a replay worker answers (merged into the measuring child's loop)."""
    state = _WorkerState()
    return {"replay_setup": state.setup, "replay_run": state.run}


# ----------------------------------------------------------------------------- the pool
class ReplayPool:
    """``workers`` processes replaying jobs in chunks; a worker that dies costs its chunk's
    programs (reported invalid) and is restarted."""

    CHUNK = 4

    def __init__(self, func: PrimFunc, target: Any = "llvm", workers: int = 2) -> None:
        from .measure import _Child

        self.func, self.target = func, target
        self._script, self._target_text = func.script(), str(target)
        self._dir = tempfile.mkdtemp(prefix="tvmscript-replay-")
        self._make = lambda i: _Child(os.path.join(self._dir, f"replay{i}.log"))
        self._children = [self._make(i) for i in range(max(1, workers))]
        self._started = 0
        for child in self._children:
            self._start(child)

    def _start(self, child: Any) -> None:
        child.wait_ready()
        child.send("replay_setup", self._script, self._target_text)
        status, value = child.receive()
        if status != "ok":
            raise RuntimeError(f"a replay worker could not read the function: {value}")

    def run(self, jobs: Sequence[tuple]) -> list[Replayed | None]:
        wire = [(job[0], job[1].to_json(), *job[2:]) for job in jobs]
        chunks = [list(range(i, min(i + self.CHUNK, len(wire))))
                  for i in range(0, len(wire), self.CHUNK)]
        out: list[Replayed | None] = [None] * len(wire)
        idle = list(self._children)
        busy: dict[Any, tuple[Any, list[int]]] = {}
        while chunks or busy:
            while chunks and idle:
                child, chunk = idle.pop(), chunks.pop(0)
                try:
                    child.send("replay_run", [wire[i] for i in chunk])
                except OSError:  # it died while idle: a fresh one takes the chunk
                    idle.append(self._replace(child))
                    chunks.insert(0, chunk)
                    continue
                busy[child.recv_conn] = (child, chunk)
            for conn in connection_wait(list(busy)):
                child, chunk = busy.pop(conn)
                status, value = child.receive()
                if status == "ok":
                    for i, got in zip(chunk, value):
                        if got is not None:
                            out[i] = Replayed(Trace.from_json(got[0]), got[1], got[2], got[3])
                    idle.append(child)
                elif status == "crashed":  # the chunk counts as invalid programs
                    idle.append(self._replace(child))
                else:  # an unexpected error in a replay: invalid programs too
                    idle.append(child)
        return out

    def _replace(self, child: Any) -> Any:
        child.kill()
        self._started += 1
        fresh = self._make(f"r{self._started}")
        self._start(fresh)
        self._children = [fresh if c is child else c for c in self._children]
        return fresh

    def close(self) -> None:
        for child in self._children:
            child.stop()
        self._children = []
        import shutil

        shutil.rmtree(self._dir, ignore_errors=True)


def make_replayer(func: PrimFunc, target: Any, workers: int | None) -> Any:
    """A pool of ``workers`` processes (default: one per core), or this process when that is
    one."""
    if workers is None:
        workers = os.cpu_count() or 1
    if workers <= 1:
        return InProcessReplayer(func, target)
    return ReplayPool(func, target, workers)


__all__ = ["InProcessReplayer", "ReplayPool", "Replayed", "make_replayer", "program_key",
           "worker_handlers"]
