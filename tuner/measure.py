"""Measuring candidates: build in parallel worker processes, then run one at a time, isolated.

A tuner compiles thousands of schedules, and some of them crash, hang or compute wrong numbers
(Apache TVM's tuner died with them: #18380, #18423). Here nothing a candidate does can take the
tuner down:

* **Build** — each candidate travels as script text (``func.script()``; IR nodes are big to
  pickle) to a pool of worker processes, is parsed, lowered and exported there to a shared
  library. A build error, or a worker that dies, is that candidate's ``error``.
* **Run** — only after the whole batch is built (so no compiler competes for the cores being
  timed), a separate *runner* process loads each library in turn, calls it once to warm up (and
  to check its outputs against the unscheduled function, when asked), then times ``repeats``
  calls. The parent waits at most ``timeout_s`` per candidate; a runner that hangs is killed, one
  that dies (segfault, abort) is noticed, and both are restarted for the next candidate.

Inputs are random, drawn once per task from a fixed seed: every candidate of a task (and the
reference) sees the same numbers.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from typing import Any

import numpy as np

from tvmscript.ir import PrimFunc
from tvmscript.schedule import Trace

CHILD_START_TIMEOUT_S = 120.0  # importing the compiler in a fresh process


@dataclass
class Candidate:
    """A scheduled function and the trace that made it. ``features`` is filled lazily by the
    cost model (computing it here would slow down candidates that are never ranked)."""

    func: PrimFunc
    trace: Trace
    features: Any = field(default=None, repr=False, compare=False)
    timed: PrimFunc | None = field(default=None, repr=False, compare=False)
    """What is timed, when not ``func``: ``func`` without the weight copies a model's build
    does once ahead of time (``tuner.layout_rewrite``). ``func`` is still what is checked."""

    def script(self) -> str:
        """What a builder compiles: ``func``, or a module of ``main`` (checked) and ``timed``."""
        if self.timed is None:
            return self.func.script()
        from tvmscript.ir import IRModule

        from .layout_rewrite import fresh_copy

        return IRModule({"main": self.func.with_(name="main"),
                         "timed": fresh_copy(self.timed).with_(name="timed")}).script()


@dataclass
class MeasureResult:
    """What measuring one candidate gave: every timed call's seconds, or why there are none.

    ``error`` starts with the kind of failure — ``build failed``, ``build crashed``, ``build
    timed out``, ``crashed``, ``timed out``, ``runtime error``, ``wrong result`` — then the details.
    """

    latencies_s: list[float] | None
    error: str | None
    build_s: float = 0.0
    run_s: float = 0.0

    @property
    def latency_s(self) -> float | None:
        """The fastest repeat (the least disturbed by the rest of the machine)."""
        return min(self.latencies_s) if self.latencies_s else None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.latencies_s) if self.latencies_s else None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.latencies_s)


class MeasureError(RuntimeError):
    """The measurement itself cannot go on (not one candidate's failure): the reference function
    does not build or run, the runner process does not start."""


def check_target(target: Any) -> Any:
    """The parsed target, when this machine can run code built for it; else a ValueError that
    says why (timing code for another CPU would die of an illegal instruction)."""
    from backends.target import Target, cross_compile_reason

    parsed = Target.parse(target)
    if parsed.is_cuda:
        return _check_gpu_target(parsed)
    if parsed.kind != "llvm":
        raise ValueError(f"cannot measure on target {str(parsed)!r}: measuring runs compiled "
                         "code, so the target must be 'llvm' (e.g. 'llvm -mcpu=native')")
    reason = cross_compile_reason(parsed)
    if reason is not None:
        raise ValueError(f"cannot measure on target {str(parsed)!r} on this machine: {reason}; "
                         "tune on that machine, or use 'llvm -mcpu=native' here")
    return parsed


def _check_gpu_target(parsed: Any) -> Any:
    """A cuda target measures on this machine's GPU: refuse up front where there is none (or
    for the emulator, whose timings say nothing about a GPU)."""
    if parsed.kind == "cuda-emulator":
        raise ValueError("cannot measure on target 'cuda-emulator': the emulator checks what GPU "
                         "kernels compute, not how fast a GPU runs them; tune with "
                         "target='cuda' on a machine with an NVIDIA GPU")
    from backends.cuda.launch import gpu_unavailable_reason

    reason = gpu_unavailable_reason()
    if reason is not None:
        raise ValueError(f"cannot measure on target {str(parsed)!r}: measuring runs the kernels "
                         f"on an NVIDIA GPU, and this machine has none ({reason}). Tune on a "
                         "machine with a GPU; to check GPU schedules here, build them with "
                         "target='cuda-emulator' (tvmscript.build(sch.mod, "
                         "target='cuda-emulator'))")
    return parsed


# ---------------------------------------------------------------- child processes
class _Child:
    """A helper process (a builder or the runner), started with ``subprocess`` so it does not
    re-run the user's ``__main__`` (multiprocessing's spawn and forkserver do, and a script
    without ``if __name__ == "__main__"`` would start a tuning run in every child), and talked to
    over a pipe with ``multiprocessing.connection`` (poll with a timeout, pickled messages).
    Its stderr goes to a log file whose tail explains a crash."""

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        code = "import sys; from tuner.measure import _child_main; _child_main(*sys.argv[1:])"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, env=env, close_fds=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.started = time.perf_counter()
        self.job: Any = None  # what the child is working on (the parent's bookkeeping)
        self.ready = False

    def send(self, *message: Any) -> None:
        self.send_conn.send(message)
        self.started = time.perf_counter()

    def wait_ready(self) -> None:
        if not self.recv_conn.poll(CHILD_START_TIMEOUT_S):
            self.kill()
            raise MeasureError(f"a measuring process did not start in {CHILD_START_TIMEOUT_S} s")
        try:
            self.recv_conn.recv()
        except (EOFError, OSError):
            raise MeasureError(f"a measuring process died while starting: {self.death()}") from None
        self.ready = True

    def receive(self) -> tuple[str, Any]:
        """The child's reply: ("ok", value), ("error", text) or ("crashed", text)."""
        try:
            return self.recv_conn.recv()
        except (EOFError, OSError):
            return "crashed", self.death()

    def death(self) -> str:
        """Why the child is gone, from its exit status and the tail of its stderr."""
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        if code is not None and code < 0:
            why = f"died of {signal.Signals(-code).name} (signal {-code})"
        else:
            why = f"exited with status {code}"
        tail = _tail(self.log_path)
        return why + (f"; its last output: {tail}" if tail else "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for conn in (self.send_conn, self.recv_conn):
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send_conn.send(("stop",))
                self.proc.wait(5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self.kill()


def _tail(path: str, chars: int = 300) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def _child_main(recv_fd: str, send_fd: str) -> None:
    """A child's loop: one request at a time, one reply each. ``build`` compiles (builders);
    ``setup``, ``reference`` and ``run`` keep task state (the runner); ``replay_*`` replay
    the search's candidates (``tuner.replay_pool``)."""
    recv_conn = Connection(int(recv_fd), writable=False)
    send_conn = Connection(int(send_fd), readable=False)
    _exit_with_parent()
    state = _RunnerState()
    from .replay_pool import worker_handlers

    handlers = {"build": _build_one, "setup": state.setup, "reference": state.reference,
                "run": state.run, **worker_handlers()}
    send_conn.send(("ready", os.getpid()))
    while True:
        try:
            message = recv_conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "stop":
            return
        try:
            send_conn.send(("ok", handlers[message[0]](*message[1:])))
        except _WrongResult as error:
            send_conn.send(("wrong", str(error)))
        except Exception as error:  # noqa: BLE001 - reported to the parent, the child goes on
            send_conn.send(("error", f"{type(error).__name__}: {error}"))


def _exit_with_parent() -> None:
    """A child whose parent was killed (``kill -9`` of a tuning run, a Ray worker killed) must
    not keep spinning in a hung candidate: a thread exits when the parent is gone (the kernel
    call releases the GIL, so the thread runs meanwhile)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


# ---------------------------------------------------------------- build (in builders)
def _build_one(script: str, target: str, path: str) -> float:
    """Parse ``script``, build it for ``target`` and export it to ``path``; the seconds taken."""
    start = time.perf_counter()
    from backends.build import build
    from tvmscript import from_source

    rt = build(from_source(script), target)
    names = list(rt.kernels)
    if len(names) != 1 and sorted(names) != ["main", "timed"]:
        raise ValueError(f"expected one kernel (or main and timed), got {names}")
    rt.export_library(path)
    return time.perf_counter() - start


# ---------------------------------------------------------------- run (in the runner)
class _RunnerState:
    """What the runner keeps between candidates: inputs per signature, the expected outputs."""

    def __init__(self) -> None:
        self.inputs: dict[tuple, list[Any]] = {}
        self.expected: dict[int, np.ndarray] | None = None
        self.seed = 0
        self._flusher: np.ndarray | None = None  # what flushing the caches writes

    def setup(self, seed: int, expected: dict[int, np.ndarray] | None) -> bool:
        self.seed, self.expected = seed, expected
        return True

    def reference(self, path: str) -> dict[int, np.ndarray]:
        """Run the unscheduled function once on the task's inputs; its written buffers."""
        kernel = _load_kernel(path)
        args = self._fresh_args(kernel)
        kernel(*args)
        return {i: args[i] for i, p in enumerate(kernel.spec.params) if p.writable}

    def run(self, path: str, repeats: int, min_repeat_s: float,
            slow_s: float | None = None, flush_bytes: int = 0) -> list[float]:
        """``repeats`` timings after a warm-up call. A candidate far behind the best (slower than
        ``slow_s``) needs no precise figure, and early rounds are full of them (their repeats
        were most of a search's time): a long warm-up call is its only timing, and otherwise
        the first repeat is, when it is that slow. With ``flush_bytes``, that many bytes are
        written before each repeat, so every repeat starts with the caches holding none of
        the kernel's data (MetaSchedule's ``enable_cpu_cache_flush``); a repeat is then one
        call."""
        kernel, timed = _load_kernels(path)
        args = self._fresh_args(kernel)
        start = time.perf_counter()
        kernel(*args)  # warm-up (and the call whose outputs are checked)
        warm = time.perf_counter() - start
        if self.expected is not None:
            _compare(kernel.spec.params, args, self.expected)
        if timed is not None:  # the weight copies done ahead: time what a model runs
            kernel, args = timed, self._fresh_args(timed)
            start = time.perf_counter()
            kernel(*args)
            warm = time.perf_counter() - start
        if slow_s is not None and warm > max(slow_s, SLOW_WARM_UP_S):
            return [warm]  # far behind the best: no timed repeats
        number = 1 if flush_bytes else \
            max(1, min(1000, math.ceil(min_repeat_s / max(warm, 1e-9))))
        latencies: list[float] = []
        for _ in range(repeats):
            if flush_bytes:
                self._flush(flush_bytes)
            start = time.perf_counter()
            for _ in range(number):
                kernel(*args)
            latencies.append((time.perf_counter() - start) / number)
            if slow_s is not None and latencies[0] > slow_s:
                break
        return latencies

    def _flush(self, nbytes: int) -> None:
        if self._flusher is None or self._flusher.nbytes != nbytes // 8 * 8:
            self._flusher = np.zeros(nbytes // 8, np.int64)
        self._flusher += 1  # read and write every line

    def _fresh_args(self, kernel: Any) -> list[Any]:
        params = kernel.spec.params
        key = tuple((p.name, p.kind, p.dtype, tuple(p.shape)) for p in params)
        if key not in self.inputs:
            self.inputs[key] = make_inputs(params, self.seed)
        return [a.copy() if isinstance(a, np.ndarray) else a for a in self.inputs[key]]


def _load_kernel(path: str) -> Any:
    return _load_kernels(path)[0]


def _load_kernels(path: str) -> tuple[Any, Any]:
    """The kernel a library holds, and its ``timed`` variant when it has one."""
    from backends.build import load_module

    rt = load_module(path)
    rt.check_runnable()
    if "timed" in rt.kernels:
        return rt.kernels["main"], rt.kernels["timed"]
    (kernel,) = rt.kernels.values()
    return kernel, None


def make_inputs(params: Any, seed: int) -> list[Any]:
    """Random arguments for a kernel's parameters (every buffer, outputs too, so a candidate
    that leaves part of an output unwritten differs from the reference)."""
    rng = np.random.default_rng(seed)
    args: list[Any] = []
    for p in params:
        if p.kind == "scalar":
            args.append(1.0 if "float" in p.dtype else 1)
            continue
        shape = tuple(p.shape)
        if not all(isinstance(s, int) for s in shape):
            raise ValueError(f"parameter {p.name!r} has symbolic shape {shape}: measure a "
                             "function with given sizes (bind the size variables first)")
        args.append(_random_array(rng, p.dtype, shape))
    return args


def _random_array(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bfloat16":
        bits = rng.uniform(-1, 1, shape).astype(np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16)
    np_dtype = np.dtype(dtype)
    if np_dtype.kind == "f":
        return rng.uniform(-1, 1, shape).astype(np_dtype)
    if np_dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(np_dtype)
    low = 0 if np_dtype.kind == "u" else -8
    return rng.integers(low, 8, shape).astype(np_dtype)


SLOW_WARM_UP_S = 0.01  # a shorter warm-up call is too noisy (cold caches) to stand alone

RTOL, ATOL = 1e-3, 1e-3  # reordered float reductions (rfactor, vectorized sums) round differently


def _compare(params: Any, args: list[Any], expected: dict[int, np.ndarray]) -> None:
    for i, want in expected.items():
        got = args[i]
        close = np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True) \
            if got.dtype.kind == "f" else got == want
        if np.all(close):
            continue
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        worst = math.inf if np.isnan(diff[~close]).any() else float(np.max(diff[~close]))
        raise _WrongResult(f"wrong result: max abs error {worst:.3g} in output {params[i].name!r} "
                           f"({int(np.count_nonzero(~close))} of {want.size} elements differ; "
                           f"rtol {RTOL}, atol {ATOL})")


class _WrongResult(Exception):
    pass


# ---------------------------------------------------------------- the Measurer
class ClosedOnExit:
    """A measurer owns processes (or a cluster's actors): ``with`` closes it, and so does
    garbage collection, as a last resort."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter shutdown nothing is left to tell
            pass


class Measurer(ClosedOnExit):
    """Builds and runs candidates of one task; ``measure(candidates)`` gives one
    ``MeasureResult`` each, in order.

    ``timeout_s`` bounds each build and, separately, each candidate's run (loading, warm-up,
    check and all repeats); ``repeats`` timed calls follow one warm-up, and a repeat makes
    several calls when one call takes under ``min_repeat_s``. A candidate whose first timing is
    more than ``slow_factor`` times the best latency measured so far is timed once (None: always
    ``repeats`` times). ``check_against`` (the unscheduled function) turns on the output check.
    ``flush_cache_mb`` (off by default, as in MetaSchedule) writes that many megabytes before
    each repeat, so kernels are timed with cold caches: back to back, a kernel that copies its
    operands into a packed layout finds them in cache, which it will not in a model where other
    operators run between its calls. Use as a context manager, or call ``close()``.
    """

    def __init__(self, target: Any = "llvm", workers: int | None = None, timeout_s: float = 10.0,
                 repeats: int = 5, check_against: PrimFunc | None = None,
                 min_repeat_s: float = 1e-3, seed: int = 0,
                 reference_timeout_s: float = 300.0, slow_factor: float | None = 3.0,
                 flush_cache_mb: int = 0) -> None:
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.target = check_target(target)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.timeout_s, self.repeats, self.min_repeat_s = timeout_s, repeats, min_repeat_s
        self.check_against, self.seed = check_against, seed
        self.reference_timeout_s = reference_timeout_s
        if flush_cache_mb < 0:
            raise ValueError(f"flush_cache_mb must be 0 (off) or positive, got {flush_cache_mb}")
        self.slow_factor, self.flush_cache_mb = slow_factor, flush_cache_mb
        self.best_s: float | None = None  # the fastest latency measured so far
        self._dir = tempfile.mkdtemp(prefix="tvmscript-measure-")
        self._builders: list[_Child] = []
        self._runner: _Child | None = None
        self._setup: tuple | None = None  # (seed, expected outputs), given to every new runner
        self._setups: dict[str, tuple] = {}  # the setups of the tasks measured before (set_task)
        self._counter = 0

    def close(self) -> None:
        """Stop the builder and runner processes and remove the built libraries."""
        for child in self._builders + ([self._runner] if self._runner else []):
            child.stop()
        self._builders, self._runner = [], None
        shutil.rmtree(self._dir, ignore_errors=True)

    def set_task(self, check_against: PrimFunc | None) -> None:
        """Measure another task's candidates from now on (a model's tuner moves between its
        kernels): the outputs are checked against ``check_against`` (None: not checked), and the
        "far behind the best" rule starts again. The processes stay, and a task's reference
        outputs are computed once however often it comes back."""
        from tvmscript.ir.structural import stable_structural_hash

        if self.check_against is not None and self._setup is not None:
            self._setups[stable_structural_hash(self.check_against)] = self._setup
        self.check_against, self.best_s = check_against, None
        if check_against is None:
            self._setup = (self.seed, None)
        else:
            self._setup = self._setups.get(stable_structural_hash(check_against))
        if self._runner is not None and self._setup is not None:
            status, value = self._request(self.reference_timeout_s, "setup", *self._setup)
            if status != "ok":
                raise MeasureError(f"the runner process refused the task's setup: {value}")

    def measure(self, candidates: list[Candidate]) -> list[MeasureResult]:
        """Build the whole batch, then run it one candidate at a time."""
        if not candidates:
            return []
        scripts = [c.script() for c in candidates]
        needs_reference = self.check_against is not None and self._setup is None
        if needs_reference:
            scripts.append(self.check_against.script())
        built = self._build_all(scripts)
        if needs_reference:
            self._prepare_reference(built.pop())
        return [self._run(path, build_s, error) for path, build_s, error in built]

    # -------------------------------------------------------------- build phase
    def _build_all(self, scripts: list[str]) -> list[tuple[str, float, str | None]]:
        """Every script built by the builders, ``workers`` at a time; then the builders idle
        (they are kept: starting one costs an import of the compiler)."""
        results: dict[int, tuple[str, float, str | None]] = {}
        queue = list(range(len(scripts)))
        paths = [self._next_path() for _ in scripts]
        target = str(self.target)
        while len(results) < len(scripts):
            for child in self._idle_builders(min(self.workers, len(queue))):
                i = queue.pop(0)
                child.job = i
                child.send("build", scripts[i], target, paths[i])
            self._collect_builds(paths, results)
        return [results[i] for i in range(len(scripts))]

    def _idle_builders(self, wanted: int) -> list[_Child]:
        self._builders = [c for c in self._builders if c.proc.poll() is None or c.job is not None]
        while len(self._builders) < wanted:
            self._counter += 1
            child = _Child(os.path.join(self._dir, f"builder{self._counter}.log"))
            self._builders.append(child)
        for child in self._builders:
            if not child.ready:
                child.wait_ready()
        return [c for c in self._builders if c.job is None][:wanted]

    def _collect_builds(self, paths: list[str], results: dict) -> None:
        busy = {c.recv_conn: c for c in self._builders if c.job is not None}
        if not busy:
            return
        oldest = min(c.started for c in busy.values())
        left = max(0.0, oldest + self.timeout_s - time.perf_counter())
        for conn in connection_wait(list(busy), timeout=left):
            child = busy[conn]
            status, value = child.receive()
            i, child.job = child.job, None
            seconds = time.perf_counter() - child.started
            if status == "ok":
                results[i] = (paths[i], value, None)
            elif status == "crashed":
                results[i] = (paths[i], seconds, f"build crashed: the builder {value}")
                self._builders.remove(child)
            else:
                results[i] = (paths[i], seconds, f"build failed: {value}")
        now = time.perf_counter()
        for child in [c for c in self._builders if c.job is not None]:
            if now - child.started >= self.timeout_s:
                why = f"build timed out: longer than {self.timeout_s:g} s (builder killed)"
                results[child.job] = (paths[child.job], now - child.started, why)
                child.kill()
                self._builders.remove(child)

    def _next_path(self) -> str:
        self._counter += 1
        return os.path.join(self._dir, f"candidate{self._counter}.so")

    # -------------------------------------------------------------- run phase
    def _request(self, timeout_s: float, *message: Any) -> tuple[str, Any]:
        """One request to the runner (started, and given the task's setup, when there is
        none): ("ok", value), ("error" | "wrong", text), or ("crashed" | "timed out", text)."""
        if self._runner is None:
            self._counter += 1
            runner = _Child(os.path.join(self._dir, f"runner{self._counter}.log"))
            runner.wait_ready()
            self._runner = runner
            if self._setup is not None:
                runner.send("setup", *self._setup)
                if runner.receive()[0] != "ok":
                    raise MeasureError("the runner process refused its setup")
        runner = self._runner
        runner.send(*message)
        if not runner.recv_conn.poll(timeout_s):
            runner.kill()
            self._runner = None
            return "timed out", f"timed out: ran longer than {timeout_s:g} s (runner killed)"
        status, value = runner.receive()
        if status == "crashed":
            self._runner = None
            value = f"crashed: the runner {value}"
        return status, value

    def _prepare_reference(self, built: tuple[str, float, str | None]) -> None:
        path, _, error = built
        if error is not None:
            raise MeasureError(f"the reference function (check_against) does not build: {error}")
        self._request(self.reference_timeout_s, "setup", self.seed, None)
        status, value = self._request(self.reference_timeout_s, "reference", path)
        _remove(path)
        if status != "ok":
            raise MeasureError(f"the reference function (check_against) does not run: {value}")
        self._setup = (self.seed, value)
        self._request(self.reference_timeout_s, "setup", *self._setup)

    def _run(self, path: str, build_s: float, error: str | None) -> MeasureResult:
        if error is not None:
            _remove(path)
            return MeasureResult(None, error, build_s, 0.0)
        if self._setup is None:
            self._setup = (self.seed, None)
        start = time.perf_counter()
        slow_s = None if self.slow_factor is None or self.best_s is None \
            else self.slow_factor * self.best_s
        status, value = self._request(self.timeout_s, "run", path, self.repeats,
                                      self.min_repeat_s, slow_s,
                                      self.flush_cache_mb * (1 << 20))
        run_s = time.perf_counter() - start
        _remove(path)
        if status == "ok":
            result = MeasureResult(list(value), None, build_s, run_s)
            self.best_s = min(result.latency_s, self.best_s or math.inf)
            return result
        if status == "error":
            value = f"runtime error: {value}"
        return MeasureResult(None, value, build_s, run_s)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


__all__ = ["Candidate", "MeasureError", "MeasureResult", "Measurer", "check_target",
           "make_inputs"]
