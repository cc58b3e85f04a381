"""Replaying candidates for the search, in this process or in worker processes.

Each round the evolutionary search replays about a hundred traces (fresh draws of the design
spaces and mutants of the best programs), and a replay costs 50-150 ms of Python: most of a
search's own time. The measurer's builder processes sit idle meanwhile, so the replays go to a
pool of worker processes (``ReplayPool``), each returning what the search needs of a program —
its trace, its structural hash, its cost-model features and its script — without the parent
touching the IR: the function is parsed back from the script only for the few programs that
are measured (``Replayed.func``). ``InProcessReplayer`` does the same work in this process (one
core, or when the pool cannot start); both give the same programs for the same seeds. A job
that fails in any way is an invalid program (None), never an error of the search; a worker
that dies or hangs costs the programs of the chunk it was replaying.
"""

from __future__ import annotations

import os
import tempfile
import time
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
    from .space import replay_candidate, sample_candidate

    try:
        if job[0] == "draw":
            got = sample_candidate(func, job[1], job[2], target=target)
        else:
            got = replay_candidate(func, job[1], target=target)
        return _replayed(got, keep_func)
    except Exception:  # noqa: BLE001 - a program the rules cannot make is simply not a candidate
        return None


class InProcessReplayer:
    """Replays in this process."""

    def __init__(self, func: PrimFunc, target: Any = "llvm") -> None:
        self.func, self.target = func, target

    def use(self, func: PrimFunc) -> None:
        self.func = func

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
        from backends.target import Target
        from tvmscript import from_source

        self.func, self.target = from_source(script), Target.parse(target)
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
    """``workers`` processes replaying jobs in chunks. A worker that dies, or takes longer than
    ``timeout_s`` for a chunk, costs that chunk's programs (reported invalid) and is
    replaced."""

    CHUNK = 4

    def __init__(self, func: PrimFunc, target: Any = "llvm", workers: int = 2,
                 timeout_s: float = 120.0) -> None:
        from .measure import _Child

        self.func, self.target, self.timeout_s = func, target, timeout_s
        self._script, self._target_text = func.script(), str(target)
        self._dir = tempfile.mkdtemp(prefix="tvmscript-replay-")
        self._make = lambda i: _Child(os.path.join(self._dir, f"replay{i}.log"))
        self._children: list[Any] = []
        self._started = 0
        try:
            for i in range(max(1, workers)):
                self._children.append(self._make(i))
            for child in self._children:
                self._start(child)
        except BaseException:
            self.close()
            raise

    def _start(self, child: Any) -> None:
        child.wait_ready()
        self._setup(child)

    def _setup(self, child: Any) -> None:
        from .measure import MeasureError

        child.send("replay_setup", self._script, self._target_text)
        if not child.recv_conn.poll(self.timeout_s):
            child.kill()
            raise MeasureError("a replay worker did not read the function in time")
        status, value = child.receive()
        if status != "ok":
            child.kill()
            raise MeasureError(f"a replay worker could not read the function: {value}")

    def use(self, func: PrimFunc) -> None:
        """Replay ``func``'s programs from now on (a model's tuner moves between kernels; the
        workers stay and only read the new function)."""
        if func is self.func:
            return
        from .measure import MeasureError

        self.func, self._script = func, func.script()
        for child in list(self._children):
            try:
                self._setup(child)
            except (OSError, MeasureError):
                self._replace(child)

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
                    idle += self._replace(child)
                    chunks.insert(0, chunk)
                    continue
                busy[child.recv_conn] = (child, chunk)
            if not busy:  # no worker left: this process does the rest
                rest = [i for chunk in chunks for i in chunk]
                local = InProcessReplayer(self.func, self.target).run([jobs[i] for i in rest])
                for i, got in zip(rest, local):
                    out[i] = got
                break
            oldest = min(c.started for c, _ in busy.values())
            left = max(0.0, oldest + self.timeout_s - time.perf_counter())
            for conn in connection_wait(list(busy), timeout=left):
                child, chunk = busy.pop(conn)
                status, value = child.receive()
                if status == "ok":
                    for i, got in zip(chunk, value):
                        if got is not None:
                            out[i] = Replayed(Trace.from_json(got[0]), got[1], got[2], got[3])
                    idle.append(child)
                elif status == "crashed":  # the chunk counts as invalid programs
                    idle += self._replace(child)
                else:  # an error outside the jobs (a bad message): invalid programs too
                    idle.append(child)
            now = time.perf_counter()
            for conn, (child, _) in list(busy.items()):
                if now - child.started >= self.timeout_s:  # hung: its chunk is lost
                    del busy[conn]
                    idle += self._replace(child)
        return out

    def _replace(self, child: Any) -> list[Any]:
        """A fresh worker in ``child``'s place (as a list: empty when none starts, and the
        pool goes on with fewer)."""
        from .measure import MeasureError

        child.kill()
        self._children = [c for c in self._children if c is not child]
        self._started += 1
        try:
            fresh = self._make(f"r{self._started}")
            self._start(fresh)
        except (MeasureError, OSError):
            return []
        self._children.append(fresh)
        return [fresh]

    def close(self) -> None:
        """Kill the workers (they keep nothing worth a polite stop, and a busy one would
        first finish its chunk) and remove their logs."""
        import shutil

        for child in self._children:
            child.kill()
        self._children = []
        shutil.rmtree(self._dir, ignore_errors=True)


def make_replayer(func: PrimFunc, target: Any, workers: int | None) -> Any:
    """A pool of ``workers`` processes (default: one per core); this process when that is one,
    or when the pool cannot start (the search is slower, not wrong)."""
    from .measure import MeasureError

    if workers is None:
        workers = os.cpu_count() or 1
    if workers <= 1:
        return InProcessReplayer(func, target)
    try:
        return ReplayPool(func, target, workers)
    except (MeasureError, OSError):
        return InProcessReplayer(func, target)


__all__ = ["InProcessReplayer", "ReplayPool", "Replayed", "make_replayer", "program_key",
           "worker_handlers"]
