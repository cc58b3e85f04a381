"""``tune``: search a function's schedule space, measuring on this machine, and return the best.

One task per loop-level function: the design spaces come from the rules, the search proposes a
round of ``trials_per_round`` candidates (round 1 random, then ranked by the cost model), the
measurer builds and times them, and every result goes to the cost model, the search and the
database (one transaction per candidate, so a killed run loses at most the batch in flight and
the next run resumes from what was stored). A module's functions are tuned one after the other,
sharing the trial budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import Visitor
from tvmscript.schedule import Trace

from .measure import Candidate, MeasureResult, check_target
from .progress import Progress
from .result import HistoryEntry, TuneResult, flop_count
from .search import SearchStrategy, make_search, replay

COST_MODELS = ("xgb", "random")


class TuneError(RuntimeError):
    """Tuning finished without one successful measurement; ``result`` holds what was tried."""

    def __init__(self, message: str, result: TuneResult) -> None:
        super().__init__(message)
        self.result = result


def tune(func_or_module: PrimFunc | IRModule, target: Any = "llvm", trials: int = 64,
         database: Any = None, seed: int = 0, cost_model: Any = "xgb",
         search: Any = "evolutionary", space: Sequence[Any] | None = None,
         trials_per_round: int = 16, timeout_s: float = 10.0, time_budget_s: float | None = None,
         workers: int | None = None, pretrained: str | Path | None = None,
         progress: bool = True, *, repeats: int = 5, check: bool = True,
         measurer: Any = None, runner: Any = "local") -> TuneResult:
    """Tune ``func_or_module`` for ``target``; the result's ``best`` is called like it.

    ``trials`` counts measured candidates, records already in ``database`` for this workload
    included (resume). ``cost_model``: "xgb", "random" or an object with ``update``/``predict``;
    ``search``: "evolutionary" or "random"; ``space``: the schedule rules (default: the
    target's). ``pretrained``: a saved cost model file or a database whose records train the
    model first. ``runner``: where candidates are built and timed — "local" (a ``Measurer``
    with ``workers``, ``timeout_s``, ``repeats`` and, with ``check``, the output checked
    against the unscheduled function), "ray" (the workers of a Ray cluster, started locally
    when none is running: ``tuner.ray_runner.RayMeasurer``; pass a ``RayMeasurer(address=...)``
    to join a cluster), or any object with ``measure(candidates) -> results`` (``measurer`` is
    the older name of that argument).
    """
    _check_options(trials, trials_per_round, cost_model, search)
    measurer = _runner_object(runner, measurer)
    parsed = check_target(target) if measurer is None else target
    if isinstance(func_or_module, IRModule):
        return _tune_module(func_or_module, parsed, trials, locals())
    if not isinstance(func_or_module, PrimFunc):
        raise TypeError(f"tune takes a PrimFunc or an IRModule, got {type(func_or_module).__name__}")
    return _Task(func_or_module, parsed, trials, _options(locals())).run()


def _options(args: dict[str, Any]) -> dict[str, Any]:
    keep = ("database", "seed", "cost_model", "search", "space", "trials_per_round", "timeout_s",
            "time_budget_s", "workers", "pretrained", "progress", "repeats", "check", "measurer",
            "runner")
    return {k: args[k] for k in keep}


RUNNERS = ("local", "ray")


def _runner_object(runner: Any, measurer: Any) -> Any:
    """The measurer object given (as ``runner`` or ``measurer``), None for a named runner."""
    if isinstance(runner, str):
        if runner not in RUNNERS:
            raise ValueError(f"unknown runner {runner!r}; use one of {list(RUNNERS)} or an object "
                             "with measure(candidates) -> results")
        return measurer
    if not callable(getattr(runner, "measure", None)):
        raise TypeError(f"runner must be one of {list(RUNNERS)} or an object with "
                        f"measure(candidates) -> results, got {runner!r}")
    if measurer is not None and measurer is not runner:
        raise ValueError("give the measurer as runner= or as measurer=, not both")
    return runner


def make_measurer(opts: dict[str, Any], target: Any, func: PrimFunc | None) -> Any:
    """The measurer a named runner stands for, checking outputs against ``func``."""
    check = func if opts["check"] else None
    from backends.target import Target

    if Target.parse(target).is_cuda:  # built and timed in this process, on the GPU
        from .gpu_measure import GPUMeasurer

        return GPUMeasurer(target, repeats=opts["repeats"], check_against=check, seed=opts["seed"])
    if opts.get("runner") == "ray":
        from .ray_runner import RayMeasurer

        return RayMeasurer(target, timeout_s=opts["timeout_s"], repeats=opts["repeats"],
                           check_against=check, seed=opts["seed"])
    from .measure import Measurer

    return Measurer(target, workers=opts["workers"], timeout_s=opts["timeout_s"],
                    repeats=opts["repeats"], check_against=check, seed=opts["seed"])


def _owns_builders(opts: dict[str, Any]) -> bool:
    """Whether the measurer builds on this machine's cores (which then idle while the search
    runs, so replaying moves to worker processes)."""
    from .measure import Measurer

    given = opts["measurer"]
    return (given is None and opts.get("runner") != "ray") or isinstance(given, Measurer)


def _check_options(trials: Any, per_round: Any, cost_model: Any, search: Any) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer (candidates to measure), got {trials!r}")
    if isinstance(per_round, bool) or not isinstance(per_round, int) or per_round < 1:
        raise ValueError(f"trials_per_round must be a positive integer, got {per_round!r}")
    if isinstance(cost_model, str) and cost_model not in COST_MODELS:
        raise ValueError(f"unknown cost model {cost_model!r}; use one of {list(COST_MODELS)} or an "
                         "object with update(candidates, results) and predict(candidates)")
    from .search import SEARCHES, SearchStrategy

    if isinstance(search, str) and search not in SEARCHES:
        raise ValueError(f"unknown search {search!r}; use one of {sorted(SEARCHES)}")
    if not isinstance(search, (str, SearchStrategy)) and not callable(search):
        raise TypeError(f"search must be a name ({sorted(SEARCHES)}), a SearchStrategy or a "
                         f"factory of one, got {search!r}")


def _tune_module(mod: IRModule, target: Any, trials: int, args: dict[str, Any]) -> TuneResult:
    """Each tunable loop-level function in turn, with an equal share of the trials."""
    names = [n for n, f in mod.functions.items() if isinstance(f, PrimFunc) and _has_loops(f)]
    if not names:
        raise ValueError("nothing to tune: the module has no loop-level function with loops")
    share = [trials // len(names) + (i < trials % len(names)) for i in range(len(names))]
    out = TuneResult(mod, str(target), flops=0)
    best = mod
    for name, n in zip(names, share):
        if n == 0:
            continue
        task = _Task(mod.functions[name], target, n, _options(args), name=name).run()
        out.tasks[name] = task
        best = best.with_function(name, task.best)
        out.history += task.history
        for phase, seconds in task.phase_s.items():
            out.phase_s[phase] = out.phase_s.get(phase, 0.0) + seconds
    out.best = best
    out.message = "; ".join(f"{n}: {t}" for n, t in out.tasks.items())
    lat = [t.best_latency_s for t in out.tasks.values()]
    out.best_latency_s = sum(lat) if all(v is not None for v in lat) else None
    out.flops = sum(t.flops for t in out.tasks.values())
    return out


class _HasLoops(Visitor):
    found = False

    def visit_For(self, node: S.For) -> None:
        self.found = True


def _has_loops(func: PrimFunc) -> bool:
    v = _HasLoops()
    v.visit(func.body)
    return v.found


# ----------------------------------------------------------------------------- one task


class _Task:
    """Tuning one function: the loop of rounds and the bookkeeping around it."""

    exhausted = False
    timed_variant: Any = None
    """``scheduled func -> func to time | None`` (a model's task: weight copies hoisted)."""

    def __init__(self, func: PrimFunc, target: Any, trials: int, opts: dict[str, Any],
                 name: str = "", model: Any = None) -> None:
        self.func, self.target, self.trials, self.opts = func, target, trials, opts
        self.name = name or func.name or "main"
        if not _has_loops(func):
            raise ValueError(f"nothing to tune: function {self.name!r} has no loops")
        self.result = TuneResult(func, str(target), flops=flop_count(func))
        self.db, self.owns_db = _open_database(opts["database"])
        self.workload = self.db.workload(func, target) if self.db is not None else None
        self.model = model if model is not None else _cost_model(
            opts["cost_model"], opts["pretrained"], opts["seed"], self._exclude(), target)
        self.rng = np.random.default_rng(opts["seed"])

    def _exclude(self) -> int | None:
        """The workload a pre-training database must leave out (its records resume instead)."""
        if self.db is None or self.opts["pretrained"] is None:
            return None
        same = Path(str(self.opts["pretrained"])).resolve() == Path(str(self.db.path)).resolve()
        return self.workload.id if same else None

    def run(self) -> TuneResult:
        replayer = self._replayer()
        bar = measurer = None
        owned = False
        try:
            resumed = self.start(replayer)
            bar = Progress(self.trials, self.opts["progress"], desc=f"tuning {self.name}")
            bar.advance(resumed, self.result.best_gflops, self.result.errors)
            measurer, owned = self._measurer()
            self._rounds(self.trials - resumed, measurer, bar)
        finally:
            if bar is not None:
                bar.close()
            replayer.close()
            if owned:
                measurer.close()
            self.close()
        self.result.wall_s = time.perf_counter() - self.started
        return self._finish()

    def start(self, replayer: Any) -> int:
        """The search over the design spaces, with what the database holds for this workload
        (resumed); the number of records resumed."""
        self.started = time.perf_counter()
        spaces = _design_spaces(self.func, self.target, self.opts["space"])
        self.search = make_search(self.opts["search"], self.func, spaces, self.model,
                                  self.rng, self.target, replayer)
        self.uses_model = self.search.name != "random"
        self.search.model_ready = (self.opts["pretrained"] is not None
                                   or bool(getattr(self.model, "trained", False)))
        self.rounds = 0
        return self._resume()

    def close(self) -> None:
        if self.owns_db:
            self.db.close()
            self.owns_db = False

    def _replayer(self) -> Any:
        """Worker processes replay the search's candidates while the measurer's builders
        idle (with a ``Measurer``: a custom measurer may have no builders to stand in for)."""
        from .replay_pool import InProcessReplayer, make_replayer
        from .search import SEARCHES

        search = self.opts["search"]
        if not _owns_builders(self.opts) or not (isinstance(search, str) and search in SEARCHES):
            return InProcessReplayer(self.func, self.target)
        return make_replayer(self.func, self.target, self.opts["workers"])

    def _measurer(self) -> tuple[Any, bool]:
        """The measurer of this task and whether the task made it (and so closes it)."""
        given = self.opts["measurer"]
        if given is not None:
            self.use(given)
            return given, False
        return make_measurer(self.opts, self.target, self.func), True

    def use(self, measurer: Any) -> None:
        """Point a shared ``measurer`` at this task: the function its outputs are checked
        against, and the best latency its "far behind the best" rule compares with (all a
        measurer without ``set_task`` has of a task)."""
        if hasattr(measurer, "set_task"):
            measurer.set_task(self.func if self.opts["check"] else None)
        elif hasattr(measurer, "best_s"):
            measurer.best_s = self.result.best_latency_s

    def measure_baseline(self, measurer: Any, trace: Trace, func: PrimFunc) -> MeasureResult:
        """Measure a schedule made outside the search (the default schedule) and keep it as a
        candidate is kept: history, database, cost model, and the search's population (its
        sampling decisions make it a parent the evolution mutates)."""
        self.rounds += 1
        self.use(measurer)
        timed = None if self.timed_variant is None else self.timed_variant(func)
        candidate = Candidate(func, trace, timed=timed)
        [result] = measurer.measure([candidate])
        if self.uses_model:
            self.model.update([candidate], [result])
        self.search.add_measured(trace, func, result.latency_s)
        if self.db is not None:
            self.db.commit(self.workload, trace, result, self.rounds, None)
        self._add(trace, func, result, None, self.rounds)
        return result

    def _rounds(self, remaining: int, measurer: Any, bar: Progress) -> None:
        budget = self.opts["time_budget_s"]
        while remaining > 0:
            if budget is not None and time.perf_counter() - self.started >= budget:
                self.result.message = (f"stopped by time_budget_s={budget} after "
                                       f"{len(self.result.history)} trials")
                return
            done = self.step(measurer, min(self.opts["trials_per_round"], remaining))
            if not done:
                return
            remaining -= done
            bar.advance(done, self.result.best_gflops, self.result.errors)

    def step(self, measurer: Any, n: int) -> int:
        """One round: up to ``n`` candidates proposed, measured and recorded; how many (0 when
        the design space has no unmeasured program left)."""
        self.rounds += 1
        started = time.perf_counter()
        props = self.search.propose(n)
        self._spent("search", started)
        if not props:
            self.exhausted = True
            self.result.message = (f"the design space has no unmeasured program left after "
                                   f"{len(self.result.history)} trials")
            return 0
        started = time.perf_counter()
        if self.timed_variant is not None:
            for p in props:
                p.candidate.timed = self.timed_variant(p.candidate.func)
        results = measurer.measure([p.candidate for p in props])
        run_s = sum(getattr(r, "run_s", 0.0) for r in results)
        self._spent("run", time.perf_counter() - run_s)
        self._spent("build", started + run_s)
        self._record(props, results, self.rounds)
        return len(props)

    def _record(self, props: list, results: list[MeasureResult], rnd: int) -> None:
        cands = [p.candidate for p in props]
        if self.uses_model:
            started = time.perf_counter()
            self.model.update(cands, results)
            self._spent("train", started)
        self.search.notify(props, [r.latency_s for r in results])
        if self.db is not None:  # one transaction: a kill loses at most this batch
            self.db.commit_batch(self.workload, [(p.candidate.trace, r, rnd, p.predicted)
                                                 for p, r in zip(props, results)])
        for p, r in zip(props, results):
            self._add(p.candidate.trace, p.candidate.func, r, p.predicted, rnd)

    def _spent(self, phase: str, since: float) -> None:
        phases = self.result.phase_s
        phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - since

    def _add(self, trace: Trace, func: PrimFunc, r: MeasureResult, predicted: float | None,
             rnd: int) -> None:
        elapsed = time.perf_counter() - self.started if rnd else 0.0
        self.result.history.append(HistoryEntry(trace, r.latency_s, r.error, predicted, rnd,
                                                r.median_s, self.name, elapsed))
        lat = r.latency_s
        if lat is not None and (self.result.best_latency_s is None
                                or lat < self.result.best_latency_s):
            self.result.best_latency_s, self.result.best_trace = lat, trace
            self.result.best = func

    def _resume(self) -> int:
        """Records of this workload in the database: history (round 0), model, search, best."""
        if self.db is None:
            return 0
        cands, results = [], []
        for rec in self.db.records(self.workload):
            result = rec.result()
            got = replay(self.func, rec.trace, target=self.target)
            if got is None:  # a record the rules of this version can no longer replay
                continue
            self.search.add_measured(got[0], got[1], result.latency_s)
            self._add(got[0], got[1], result, None, 0)
            cands.append(Candidate(got[1], got[0]))
            results.append(result)
        if cands and self.uses_model:
            self.model.update(cands, results)
        return len(cands)

    def _finish(self) -> TuneResult:
        res = self.result
        if res.best is None:
            kinds: dict[str, int] = {}
            for h in res.history:
                kind = (h.error or "no latency").split(":")[0]
                kinds[kind] = kinds.get(kind, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "nothing was measured"
            first = next((h.error for h in res.history if h.error), "")
            stop = f" ({res.message})" if res.message else ""
            res.message = (f"no candidate of {self.name!r} ran successfully "
                           f"({len(res.history)} tried: {summary})" + (f"; first error: {first}"
                                                                       if first else "") + stop)
            raise TuneError(res.message, res)
        _check_signature(self.func, res.best)
        res.best = res.best.with_(name=self.func.name)
        if not res.message:
            res.message = f"{len(res.history)} trials, {res.errors} failed"
        return res


def _check_signature(orig: PrimFunc, best: PrimFunc) -> None:
    """The best program must be callable exactly like the tuned one."""
    def sig(f: PrimFunc) -> list:
        return [(p.dtype, tuple(str(s) for s in f.buffer_map[p].shape), f.buffer_map[p].dtype)
                if p in f.buffer_map else (p.dtype,) for p in f.params]

    if sig(orig) != sig(best):
        raise AssertionError(f"the tuned function's signature changed: {sig(orig)} -> {sig(best)}")


# ----------------------------------------------------------------------------- collaborators


def _design_spaces(func: PrimFunc, target: Any, rules: Sequence[Any] | None) -> list[Trace]:
    from .space import generate_design_spaces

    spaces = generate_design_spaces(func, target, rules)
    if not spaces:
        raise ValueError(f"nothing to tune: the rules give no design space for {func.name!r}")
    return spaces


def _cost_model(cost_model: Any, pretrained: str | Path | None, seed: int,
                exclude: int | None, target: Any) -> Any:
    from .cost_model import make_cost_model

    model = make_cost_model(cost_model, seed=seed) if isinstance(cost_model, str) \
        else make_cost_model(cost_model)
    if pretrained is not None:
        _pretrain(model, Path(pretrained), exclude, target)
    return model


def _pretrain(model: Any, path: Path, exclude: int | None, target: Any) -> None:
    """Transfer: load a saved model, or train on every record of a database (other workloads;
    ``exclude`` is this task's own, which resumes instead). Records are replayed for ``target``
    (the program the model sees is what would run here)."""
    if not path.exists():
        raise FileNotFoundError(f"pretrained={str(path)!r}: no such file (a saved cost model or a "
                                "tuning database)")
    from .database import Database, is_database_file

    if not is_database_file(path):
        model.load(str(path))
        return

    cands, results = [], []
    funcs: dict[int, PrimFunc] = {}
    with Database(str(path)) as db:
        for rec in db.records():
            if rec.workload.id == exclude:
                continue
            func = funcs.get(rec.workload.id) or funcs.setdefault(rec.workload.id,
                                                                  rec.workload.func())
            got = replay(func, rec.trace, target=target)
            if got is not None:
                cands.append(Candidate(got[1], got[0]))
                results.append(rec.result())
    if not cands:
        raise ValueError(f"pretrained={str(path)!r}: the database has no records of other "
                         "workloads to train on")
    model.update(cands, results)


def _open_database(database: Any) -> tuple[Any, bool]:
    """The database and whether tune opened it (and so closes it)."""
    if database is None:
        return None, False
    from .database import Database

    if isinstance(database, Database):
        return database, False
    return Database(str(database)), True


__all__ = ["SearchStrategy", "TuneError", "tune"]
