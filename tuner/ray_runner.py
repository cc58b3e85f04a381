"""Measuring candidates on the workers of a Ray cluster: ``RayMeasurer``.

The same contract as the local ``tuner.measure.Measurer`` (``measure(candidates)`` gives one
``MeasureResult`` each, in order; ``set_task`` switches the reference), with the work spread over
Ray actors:

* **Where** — each node is probed once (a zero-CPU task pinned to it) for its CPU. With
  ``-mcpu=native`` (or no ``-mcpu``) a node must have the driver's CPU (same LLVM CPU name and
  features); with a named CPU or ``-mattr``, ``backends.target.cross_compile_reason`` must find
  nothing missing on that node. Workers are placed on matching nodes only.
* **Workers** — Ray actors on matching nodes (one per node by default, or one per ``num_cpus``),
  each wrapping a local ``Measurer``: builds and runs still happen in that node's child
  processes, so a candidate that segfaults or hangs is "crashed" / "timed out" and the actor goes
  on. Candidates travel as script text, the task's reference too (parsed once per task).
* **Faults** — at most ``max_in_flight`` candidates are submitted at a time, two calls per actor
  (one running, one queued). A call that fails because its actor or node died, or that finds the
  actor's queue full, or whose actor stops answering (``actor_timeout_s`` past its candidates'
  own limits), gives its candidates back: they are retried on another worker, up to
  ``max_retries`` times, then recorded as ``lost: ...``. Dead workers are replaced where a
  matching node has room; the batch goes on with the ones left.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tvmscript.ir import PrimFunc

from .measure import Candidate, ClosedOnExit, MeasureError, MeasureResult
from .ray_worker import _enabled, _Probe, _Worker, compiler_fingerprint, cpu_model

INSTALL_HINT = 'pip install "tvmscript[ray]"'
CALLS_PER_ACTOR = 2  # one running, one queued behind it: the actor never waits for the driver
START_TIMEOUT_S = 120.0  # for the first worker to answer (a fresh worker imports the compiler)
PROBE_TIMEOUT_S = 60.0
POLL_S = 1.0  # how often the driver looks at deadlines and new workers while it waits
_MEASURER_OPTIONS = ("min_repeat_s", "reference_timeout_s", "slow_factor", "flush_cache_mb")


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError("measuring on a Ray cluster needs the ray package, which is not "
                          f"installed: {INSTALL_HINT}") from error
    return ray


# ---------------------------------------------------------------- the driver's bookkeeping
@dataclass
class _Node:
    info: dict[str, Any]
    cpus: int
    reason: str | None  # why workers may not go there (None: they may)
    failures: int = 0  # workers that failed to start there in a row

    def describe(self) -> str:
        i = self.info
        return f"{i['host']} (node {i['node_id'][:8]}): {i['model']}, LLVM CPU {i['cpu']}"


@dataclass
class _Call:
    ref: Any
    batch: _Batch  # a call left over from a batch that raised is waited for, its results dropped
    indices: list[int]
    submitted: float


@dataclass
class _Actor:
    handle: Any
    node_id: str
    cpus: int
    ready_ref: Any = None  # until the actor first answers
    created: float = field(default_factory=time.perf_counter)
    pid: int | None = None
    calls: deque[_Call] = field(default_factory=deque)
    last_done: float = 0.0
    full: bool = False  # its queue refused a call; cleared when one of its calls returns


class _Batch:
    """One ``measure`` call's candidates: waiting, their tries, and their results."""

    def __init__(self, scripts: list[str]) -> None:
        self.scripts = scripts
        self.pending: deque[int] = deque(range(len(scripts)))
        self.tries = [0] * len(scripts)
        self.lost_on: list[set[str]] = [set() for _ in scripts]  # nodes that lost it
        self.results: list[MeasureResult | None] = [None] * len(scripts)

    def done(self) -> bool:
        return all(r is not None for r in self.results)


# ---------------------------------------------------------------- the measurer
class RayMeasurer(ClosedOnExit):
    """Builds and runs candidates on the workers of a Ray cluster; ``measure(candidates)`` gives
    one ``MeasureResult`` each, in order, with the timings taken on the worker's node.

    ``address``: None does what ``ray.init()`` does (joins ``RAY_ADDRESS`` or the cluster ``ray
    start`` left on this machine, else starts a local one, which ``close()`` stops);
    ``"host:6379"`` or ``"auto"`` joins an existing one; when Ray is already initialized, that
    connection is used. ``num_cpus``: the CPUs each worker reserves and builds
    with. None (the default) gives one worker per node with all its CPUs: it builds a chunk of
    candidates in parallel, then times them one at a time, so no build and no other timing on
    that node disturbs a timing (as with the local ``Measurer``). 1 gives a worker per CPU
    slot: more throughput where builds dominate, but timings on one node overlap.
    ``workers``: at most this many workers (None: every slot of the matching nodes).
    ``timeout_s``, ``repeats``, ``check_against``, ``seed`` and ``options`` (``slow_factor``,
    ``min_repeat_s``, ``flush_cache_mb``, ``reference_timeout_s``) mean what they mean for
    ``Measurer``. ``actor_timeout_s``: how long a call may go unanswered past its
    candidates' own limits before its worker is killed (it covers starting the worker's child
    processes and measuring the reference). Use as a context manager, or call ``close()``.
    """

    def __init__(self, target: Any = "llvm", *, address: str | None = None,
                 timeout_s: float = 10.0, repeats: int = 5,
                 check_against: PrimFunc | None = None, seed: int = 0,
                 max_in_flight: int | None = None, max_retries: int = 2,
                 num_cpus: int | None = None, workers: int | None = None,
                 actor_timeout_s: float = 300.0, **options: Any) -> None:
        self._closed, self._owns_ray = False, False
        self._actors: list[_Actor] = []
        self.target = _check_llvm(target)
        _check_numbers(timeout_s, repeats, max_in_flight, max_retries, num_cpus, workers,
                       actor_timeout_s)
        unknown = sorted(set(options) - set(_MEASURER_OPTIONS))
        if unknown:
            raise TypeError(f"RayMeasurer got unknown options {unknown}; it takes the Measurer "
                            f"options {list(_MEASURER_OPTIONS)}")
        self.timeout_s, self.repeats, self.seed = timeout_s, repeats, seed
        self.max_retries, self.actor_timeout_s = max_retries, actor_timeout_s
        self.num_cpus, self.max_workers, self._max_in_flight = num_cpus, workers, max_in_flight
        self._options = {"timeout_s": timeout_s, "repeats": repeats, "seed": seed, **options}
        self.best_s: float | None = None
        self._task, self._reference = 0, None
        if check_against is not None:
            self.set_task(check_against)
        self._nodes: dict[str, _Node] = {}
        self._stats: dict[str, Any] = {"retried": 0, "lost": 0, "workers_started": 0,
                                       "workers_lost": 0, "hung": 0, "queue_full": 0,
                                       "peak_in_flight": 0, "measured": {}}
        self._ray = import_ray()
        try:
            self._connect(address)
            self._refresh_nodes()
            self._check_some_node_matches()
            self._top_up()
            if not self._actors:
                nodes = "; ".join(f"{n.describe()}, {n.cpus} CPUs"
                                  for n in self._nodes.values() if n.reason is None)
                raise ValueError(f"num_cpus={num_cpus}: no node that can run "
                                 f"{str(self.target)!r} has that many CPUs ({nodes})")
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------- public
    def set_task(self, func: PrimFunc | None) -> None:
        """Measure another task's candidates next: outputs are checked against ``func`` (None:
        not checked), and "far behind the best" starts again."""
        if func is not None and not isinstance(func, PrimFunc):
            raise TypeError(f"set_task takes the task's PrimFunc (or None for no output check), "
                            f"got {type(func).__name__}")
        self._reference = None if func is None else func.script()
        self._task += 1
        self.best_s = None

    @property
    def actors(self) -> list[Any]:
        """The handles of the live workers (Ray actors), in the order they were started."""
        return [a.handle for a in self._actors]

    @property
    def stats(self) -> dict[str, Any]:
        """What happened so far: ``retried`` and ``lost`` candidates, workers ``workers_started``,
        ``workers_lost`` and ``hung``, ``queue_full`` refusals, ``peak_in_flight``, ``measured``
        per node id, ``nodes`` (each node's host, CPU and whether workers may go there) and
        ``workers`` (each live worker's node, process id and candidates in flight, in the order
        of ``actors``)."""
        nodes = {nid: {"host": n.info["host"], "model": n.info["model"], "cpu": n.info["cpu"],
                       "cpus": n.cpus, "usable": n.reason is None, "reason": n.reason}
                 for nid, n in list(self._nodes.items())}  # a snapshot: readable from a thread
        workers = [{"node_id": a.node_id, "pid": a.pid, "ready": a.ready_ref is None,
                    "in_flight": sum(len(c.indices) for c in list(a.calls))}
                   for a in list(self._actors)]
        return {**self._stats, "measured": dict(self._stats["measured"]), "nodes": nodes,
                "workers": workers, "in_flight": sum(w["in_flight"] for w in workers)}

    def measure(self, candidates: list[Candidate]) -> list[MeasureResult]:
        """Spread the batch over the workers, at most ``max_in_flight`` candidates at a time."""
        if self._closed:
            raise RuntimeError("this RayMeasurer is closed")
        if not candidates:
            return []
        batch = _Batch([c.script() for c in candidates])  # with its timed variant, if any
        if self._refresh_nodes():
            self._top_up()
        while not batch.done():  # on an exception, calls in flight are left to finish unread
            self._dispatch(batch)
            self._wait(batch)
            self._check_hangs(batch)
        return list(batch.results)  # type: ignore[arg-type]

    def close(self) -> None:
        """Stop the workers (each removes its built files), and Ray when this measurer
        started it."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if self._actors and ray.is_initialized():
            refs = []
            for a in self._actors:
                if a.ready_ref is not None:  # still starting, or waiting for room: nothing to stop
                    continue
                try:
                    refs.append(a.handle.close.remote())
                except ray.exceptions.RayError:  # its queue is full: killed below all the same
                    pass
            ray.wait(refs, num_returns=len(refs), timeout=10)
            for a in self._actors:
                try:
                    ray.kill(a.handle)
                except Exception:  # noqa: BLE001, S110 - gone already
                    pass
        self._actors = []
        if self._owns_ray:
            ray.shutdown()

    # -------------------------------------------------------------- nodes and workers
    def _connect(self, address: str | None) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
        if address is None:
            kwargs["include_dashboard"] = False
        ray.init(address=address, **kwargs)
        self._owns_ray = True

    def _refresh_nodes(self) -> bool:
        """Probe nodes that joined since the last look, forget the dead; whether anything
        changed."""
        alive = {n["NodeID"]: n for n in self._ray.nodes() if n["Alive"]}
        gone = [nid for nid in self._nodes if nid not in alive]
        for nid in gone:
            del self._nodes[nid]
        new = [nid for nid, n in alive.items()
               if nid not in self._nodes and n["Resources"].get("CPU", 0) >= 1]
        for nid, (info, why) in zip(new, self._probe_nodes(new)):
            if info is None:  # kept, so it is not probed again at every batch
                host = alive[nid].get("NodeManagerHostname", "?")
                info = {"node_id": nid, "host": host, "model": "?", "cpu": "?"}
            cpus = int(alive[nid]["Resources"]["CPU"])
            self._nodes[nid] = _Node(info, cpus, why or self._mismatch(info))
        return bool(gone or new)

    def _probe_nodes(self, node_ids: list[str]) -> list[tuple[dict[str, Any] | None,
                                                              str | None]]:
        """Each node's probe answer, or None and why there is none."""
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        prober = ray.remote(num_cpus=0, max_restarts=0)(_Probe)
        probes = [prober.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            nid, soft=False)).remote() for nid in node_ids]
        refs = [p.probe.remote(str(self.target)) for p in probes]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
        answers: list[tuple[dict[str, Any] | None, str | None]] = []
        for nid, ref in zip(node_ids, refs):
            try:
                if ref not in ready:
                    raise ray.exceptions.GetTimeoutError(f"no answer in {PROBE_TIMEOUT_S:g} s")
                answers.append((ray.get(ref), None))
            except ray.exceptions.RayError as error:
                why = f"it could not be probed: {_why(error)}"
                warnings.warn(f"Ray node {nid[:8]} is left out: {why}", stacklevel=3)
                answers.append((None, why))
        for p in probes:
            ray.kill(p)
        self._warn_other_compilers([a for a, _ in answers if a is not None])
        return answers

    def _mismatch(self, info: dict[str, Any]) -> str | None:
        """Why workers must not measure on the node ``info`` describes (None: they may)."""
        if info["reason"] is not None:
            return info["reason"]
        if self.target.mcpu not in ("", "native"):
            return None
        from backends.target import host_cpu_features, host_cpu_name

        if info["cpu"] != host_cpu_name() or info["features"] != _enabled(host_cpu_features()):
            return (f"-mcpu=native means the driver's CPU ({cpu_model()}, LLVM CPU "
                    f"{host_cpu_name()}), and this node's differs")
        return None

    def _warn_other_compilers(self, infos: list[dict[str, Any]]) -> None:
        ours = compiler_fingerprint()  # now, not cached: the sources may be edited meanwhile
        other = [f"{i['host']} (node {i['node_id'][:8]})" for i in infos
                 if i["fingerprint"] != ours]
        if other:
            warnings.warn(f"these Ray nodes run a different tvmscript than this driver: "
                          f"{', '.join(other)}; install the same version on every node, or "
                          "candidates may build differently there", stacklevel=4)

    def _check_some_node_matches(self) -> None:
        if any(n.reason is None for n in self._nodes.values()):
            return
        seen = "; ".join(f"{n.describe()}: {n.reason}" for n in self._nodes.values()) \
            or "none with a CPU answered"
        raise ValueError(f"cannot measure on target {str(self.target)!r}: no node of the Ray "
                         f"cluster can run it. The nodes: {seen}. Name a CPU the workers have "
                         "in the target (e.g. 'llvm -mcpu=<the LLVM CPU above>') to tune for them")

    def _top_up(self) -> None:
        """Start workers where a matching node has a free slot (up to ``workers`` in all)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        worker = self._ray.remote(_Worker)
        cap = self.max_workers if self.max_workers is not None else math.inf
        usable = {nid: n for nid, n in self._nodes.items() if n.reason is None and n.failures < 2}
        each = {nid: self.num_cpus or n.cpus for nid, n in usable.items()}
        room = {nid: n.cpus // each[nid] for nid, n in usable.items()}
        have = {nid: sum(a.node_id == nid for a in self._actors) for nid in usable}
        while len(self._actors) < cap and any(have[k] < room[k] for k in usable):
            # spread over the nodes: a node that dies takes fewer candidates with it
            nid = min((k for k in usable if have[k] < room[k]), key=lambda k: have[k] / room[k])
            have[nid] += 1
            strategy = NodeAffinitySchedulingStrategy(nid, soft=False)
            handle = worker.options(num_cpus=each[nid], max_restarts=0, max_task_retries=0,
                                    max_pending_calls=CALLS_PER_ACTOR,
                                    scheduling_strategy=strategy).remote(
                str(self.target), each[nid], self._options, os.environ.get("OMP_NUM_THREADS"))
            self._actors.append(_Actor(handle, nid, each[nid], handle.ready.remote()))
            self._stats["workers_started"] += 1

    def _lose_actor(self, actor: _Actor, batch: _Batch, why: str) -> None:
        """Drop a worker; what it had in flight goes back to be retried elsewhere."""
        if actor not in self._actors:
            return
        self._actors.remove(actor)
        self._stats["workers_lost"] += 1
        for call in actor.calls:
            for i in call.indices if call.batch is batch else ():
                self._give_back(batch, i, actor.node_id, why)
        actor.calls.clear()
        try:
            self._ray.kill(actor.handle)
        except Exception:  # noqa: BLE001, S110 - already gone with its node
            pass
        self._refresh_nodes()
        self._top_up()

    def _give_back(self, batch: _Batch, i: int, node_id: str, why: str) -> None:
        batch.tries[i] += 1
        batch.lost_on[i].add(node_id)
        if batch.tries[i] > self.max_retries:
            batch.results[i] = MeasureResult(None, f"lost: {why} (tried {batch.tries[i]} times)")
            self._stats["lost"] += 1
        else:
            batch.pending.appendleft(i)
            self._stats["retried"] += 1

    # -------------------------------------------------------------- the loop
    def _in_flight(self) -> int:
        return sum(len(c.indices) for a in self._actors for c in a.calls)

    def _limit(self) -> int:
        if self._max_in_flight is not None:
            return self._max_in_flight
        return max(1, CALLS_PER_ACTOR * sum(a.cpus for a in self._actors))

    def _dispatch(self, batch: _Batch) -> None:
        while batch.pending and self._in_flight() < self._limit():
            free = [a for a in self._actors if a.ready_ref is None and not a.full
                    and len(a.calls) < CALLS_PER_ACTOR]
            if not free:
                return
            first = batch.pending[0]
            actor = min(free, key=lambda a: (a.node_id in batch.lost_on[first], len(a.calls)))
            share = math.ceil(len(batch.pending) / len(free))
            n = max(1, min(actor.cpus, share, self._limit() - self._in_flight()))
            indices = [batch.pending.popleft() for _ in range(min(n, len(batch.pending)))]
            self._submit(batch, actor, indices)
        self._stats["peak_in_flight"] = max(self._stats["peak_in_flight"], self._in_flight())

    def _submit(self, batch: _Batch, actor: _Actor, indices: list[int]) -> None:
        ray = self._ray
        try:
            ref = actor.handle.measure.remote(self._task, self._reference,
                                              [batch.scripts[i] for i in indices], self.best_s)
        except ray.exceptions.PendingCallsLimitExceeded:
            actor.full = True  # nothing was lost: the candidates wait for another worker
            self._stats["queue_full"] += 1
            batch.pending.extendleft(reversed(indices))
            return
        if not actor.calls:
            actor.last_done = time.perf_counter()
        actor.calls.append(_Call(ref, batch, indices, time.perf_counter()))

    def _wait(self, batch: _Batch) -> None:
        """Wait for a call to return (or a worker to start, or a deadline) and take it in."""
        ray = self._ray
        if not any(a.calls for a in self._actors):
            self._need_a_worker()
        watched = {c.ref: (a, c) for a in self._actors for c in a.calls}
        starting = {a.ready_ref: a for a in self._actors if a.ready_ref is not None}
        refs = list(watched) + list(starting)
        if not refs:
            return
        ready, rest = ray.wait(refs, num_returns=1, timeout=POLL_S)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        for ref in ready:
            if ref in starting:
                self._started(starting[ref], batch)
            elif watched[ref][0] in self._actors:
                self._returned(*watched[ref], batch)

    def _need_a_worker(self) -> None:
        """Nothing is in flight: a worker must be ready or starting, or the measurement
        cannot go on."""
        for actor in self._actors:
            actor.full = False
        if not self._actors:
            self._refresh_nodes()
            self._top_up()
        if any(a.ready_ref is None for a in self._actors):
            return
        now = time.perf_counter()
        if any(now - a.created < START_TIMEOUT_S for a in self._actors):
            return
        free = self._ray.available_resources().get("CPU", 0)
        usable = [n.describe() for n in self._nodes.values() if n.reason is None]
        need = f"{self.num_cpus} free CPU(s)" if self.num_cpus else "a whole free node"
        raise MeasureError(f"no Ray worker is left to measure on: workers need {need} "
                           f"on a node that can run {str(self.target)!r} (those "
                           f"nodes: {'; '.join(usable) or 'none left'}; the cluster has "
                           f"{free:g} free CPUs), and none started within {START_TIMEOUT_S:g} s")

    def _started(self, actor: _Actor, batch: _Batch) -> None:
        ray = self._ray
        try:
            info = ray.get(actor.ready_ref)
        except ray.exceptions.RayError as error:
            node = self._nodes.get(actor.node_id)
            if node is not None:
                node.failures += 1
            self._lose_actor(actor, batch, f"a worker did not start: {_why(error)}")
            return
        actor.ready_ref, actor.pid = None, info["pid"]
        if actor.node_id in self._nodes:
            self._nodes[actor.node_id].failures = 0

    def _returned(self, actor: _Actor, call: _Call, batch: _Batch) -> None:
        ray = self._ray
        actor.calls.remove(call)
        actor.last_done, actor.full = time.perf_counter(), False
        try:
            results = ray.get(call.ref)
        except ray.exceptions.RayTaskError as error:
            if call.batch is not batch:
                return
            cause = getattr(error, "cause", None)
            if isinstance(cause, MeasureError):
                raise MeasureError(f"on Ray node {actor.node_id[:8]}: {cause}") from None
            for i in call.indices:  # the worker raised but lives on
                self._give_back(batch, i, actor.node_id, f"the worker raised {_why(error)}")
            return
        except ray.exceptions.RayError as error:
            why = f"the worker on {self._where(actor.node_id)} died: {_why(error)}"
            actor.calls.appendleft(call)  # given back with the rest of the worker's calls
            self._lose_actor(actor, batch, why)
            return
        if call.batch is not batch:
            return
        measured = self._stats["measured"]
        measured[actor.node_id] = measured.get(actor.node_id, 0) + len(results)
        for i, result in zip(call.indices, results):
            batch.results[i] = result
            if result.ok:
                self.best_s = min(result.latency_s, self.best_s or math.inf)

    def _check_hangs(self, batch: _Batch) -> None:
        """A worker that does not answer its oldest call in time is killed (a hung candidate is
        the worker's Measurer's to time out; this is the worker itself hanging)."""
        now = time.perf_counter()
        for actor in [a for a in self._actors if a.calls]:
            call = actor.calls[0]
            started = max(call.submitted, actor.last_done)
            limit = len(call.indices) * 2 * self.timeout_s + self.actor_timeout_s
            if now - started > limit:
                self._stats["hung"] += 1
                self._lose_actor(actor, batch, f"the worker on {self._where(actor.node_id)} "
                                               f"did not answer in {limit:g} s (killed)")

    def _where(self, node_id: str) -> str:
        node = self._nodes.get(node_id)
        return f"{node.info['host']} (node {node_id[:8]})" if node else f"node {node_id[:8]}"


# ---------------------------------------------------------------- checks and messages
def _check_llvm(target: Any) -> Any:
    from backends.target import Target

    parsed = Target.parse(target)
    if parsed.kind != "llvm":
        raise ValueError(f"cannot measure on target {str(parsed)!r}: measuring runs compiled "
                         "code, so the target must be 'llvm' (e.g. 'llvm -mcpu=native')")
    return parsed


def _check_numbers(timeout_s: float, repeats: int, max_in_flight: int | None, max_retries: int,
                   num_cpus: int | None, workers: int | None, actor_timeout_s: float) -> None:
    def positive_int(name: str, value: Any, zero: bool = False, none: bool = True) -> None:
        if value is None and none:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
            least = "0 or more" if zero else "a positive integer"
            raise ValueError(f"{name} must be {least}, got {value!r}")

    positive_int("repeats", repeats, none=False)
    positive_int("max_in_flight", max_in_flight)
    positive_int("max_retries", max_retries, zero=True, none=False)
    positive_int("num_cpus", num_cpus)
    positive_int("workers", workers)
    for name, value in (("timeout_s", timeout_s), ("actor_timeout_s", actor_timeout_s)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _why(error: BaseException) -> str:
    """Ray's error in one line: its kind and the sentence that says why."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    because = next((ln for ln in lines if "because" in ln), lines[0] if lines else "")
    return f"{type(error).__name__}: {because}" if because else type(error).__name__


__all__ = ["INSTALL_HINT", "RayMeasurer", "compiler_fingerprint", "cpu_model", "import_ray"]
