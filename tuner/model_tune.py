"""``tune_model``: tune every kernel of a model within one budget, where it pays off most.

The tasks are the model's fused kernels (``tuner.tasks``), each with its weight (calls per run).
Every task first measures its default schedule (what ``build`` would run untuned), so the
model's latency estimate — the sum of weight × best latency — is known from the start and
tuning never makes a kernel slower than the untuned build. Then a scheduler gives the next
round of ``trials_per_round`` candidates to one task at a time:

- ``"gradient"`` (Ansor's task scheduler): the task whose next round is expected to cut the
  estimate most — its weight times a mix of its recent improvement per round (backward) and
  an optimistic guess that one more round gains as much as the average round so far
  (forward); with probability ``eps`` a random task instead, so no estimate stays stale;
- ``"round-robin"``: each task in turn.

A task whose best has not improved for ``patience`` of its rounds is retired, and tuning stops
early when every task is. All tasks share one cost model (its labels are normalized per
workload), so what the first convolutions teach it ranks the next ones from their first round;
they also share the measurer's processes and the replay workers, which switch task instead of
restarting. Each result is committed to the database as it comes, so ``build(mod,
database=...)`` in another process picks the best of every task, and an interrupted run
resumes.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tvmscript.ir import IRModule, PrimFunc

from .measure import check_target
from .progress import Progress
from .result import TuneResult
from .tasks import SkippedKernel, TuneTask, extract_tasks
from .tune import _check_options, _cost_model, _options, _owns_builders, _runner_object, _Task

STRATEGIES = ("gradient", "round-robin")


@dataclass
class TaskReport:
    """What tuning did for one kernel. Latencies are per call; ``share`` is the part of the
    model's estimated latency this kernel takes (weight × best)."""

    name: str
    weight: int
    flops: int
    rounds: int = 0
    default_latency_s: float | None = None
    retired: bool = False
    result: TuneResult | None = field(default=None, repr=False)

    @property
    def trials(self) -> int:
        return 0 if self.result is None else len(self.result.history)

    @property
    def errors(self) -> int:
        return 0 if self.result is None else self.result.errors

    @property
    def best_latency_s(self) -> float | None:
        return None if self.result is None else self.result.best_latency_s

    @property
    def speedup(self) -> float | None:
        if not self.default_latency_s or not self.best_latency_s:
            return None
        return self.default_latency_s / self.best_latency_s

    @property
    def gflops(self) -> float | None:
        if not self.best_latency_s or not self.flops:
            return None
        return self.flops / self.best_latency_s / 1e9


@dataclass
class ModelTuneReport:
    """The outcome of ``tune_model``: per task, and the model's estimated latency (the sum of
    weight × kernel latency, without the graph executor's own time) before and after."""

    target: str
    database: str
    tasks: list[TaskReport]
    skipped: list[SkippedKernel]
    strategy: str
    wall_s: float = 0.0
    message: str = ""
    estimates: list[tuple[float, int, float]] = field(default_factory=list)
    """(seconds since the start, trials so far, estimated model latency) after each round."""

    @property
    def trials(self) -> int:
        return sum(t.trials for t in self.tasks)

    @property
    def default_estimate_s(self) -> float | None:
        return _estimate(self.tasks, "default_latency_s")

    @property
    def estimate_s(self) -> float | None:
        return _estimate(self.tasks, "best_latency_s")

    def table(self) -> str:
        """A text table: each task's kernel, weight, share of the model, trials and latency."""
        total = self.estimate_s or 0.0
        rows = [("kernel", "weight", "MFLOP", "share", "trials", "untuned ms", "tuned ms",
                 "speedup", "GFLOPS")]
        for t in self.tasks:
            share = t.weight * t.best_latency_s / total if total and t.best_latency_s else None
            rows.append((t.name, str(t.weight), f"{t.flops / 1e6:.1f}",
                         "-" if share is None else f"{share:.1%}", str(t.trials),
                         _ms(t.default_latency_s), _ms(t.best_latency_s),
                         "-" if t.speedup is None else f"{t.speedup:.2f}x",
                         "-" if t.gflops is None else f"{t.gflops:.1f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        before, after = self.default_estimate_s, self.estimate_s
        lines.append(f"model estimate (sum of weight x latency): {_ms(before)} ms untuned -> "
                     f"{_ms(after)} ms tuned"
                     + (f" ({before / after:.2f}x)" if before and after else "")
                     + f"; {self.trials} trials in {self.wall_s:.0f} s ({self.strategy})")
        for s in self.skipped:
            lines.append(f"not tuned: {s.name} ({s.reason})")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)

    def __str__(self) -> str:
        return (f"ModelTuneReport({len(self.tasks)} tasks, {self.trials} trials, estimate "
                f"{_ms(self.default_estimate_s)} -> {_ms(self.estimate_s)} ms"
                + (f"; {self.message}" if self.message else "") + ")")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.4g}"


def _estimate(tasks: list[TaskReport], attr: str) -> float | None:
    values = [(t.weight, getattr(t, attr)) for t in tasks]
    if not values or any(v is None for _, v in values):
        return None
    return sum(w * v for w, v in values)


# ----------------------------------------------------------------------------- the scheduler


class TaskScheduler:
    """Which task gets the next round. ``update(i, best_s)`` after each of task ``i``'s rounds
    (None while it has no successful candidate)."""

    def __init__(self, weights: list[int], strategy: str = "gradient", seed: int = 0,
                 alpha: float = 0.2, window: int = 3, eps: float = 0.05,
                 patience: int = 4) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")
        self.weights, self.strategy = weights, strategy
        self.alpha, self.window, self.eps, self.patience = alpha, window, eps, patience
        self.rng = np.random.default_rng(seed)
        self.history: list[list[float]] = [[] for _ in weights]  # best after each round
        self.stale = [0] * len(weights)  # rounds since the task's best last improved
        self.retired = [False] * len(weights)
        self._next = 0

    def update(self, i: int, best_s: float | None, exhausted: bool = False) -> None:
        hist = self.history[i]
        best = math.inf if best_s is None else best_s
        improved = not hist or best < hist[-1] * (1 - 1e-3)
        hist.append(best)
        self.stale[i] = 0 if improved else self.stale[i] + 1
        if exhausted or self.stale[i] >= self.patience or (best == math.inf and len(hist) >= 2):
            self.retired[i] = True

    @property
    def done(self) -> bool:
        return all(self.retired)

    def gradient(self, i: int) -> float:
        """d(model latency)/d(rounds of task i), estimated (negative: tuning it helps)."""
        hist = self.history[i]
        if not hist or hist[-1] == math.inf:
            return -math.inf  # no measurement yet: nothing is known, so it goes first
        best, rounds = hist[-1], len(hist)
        finite = [h for h in hist if h != math.inf]
        back = len(finite) - 1 if len(finite) <= self.window else self.window
        backward = (best - finite[-1 - back]) / back if back else 0.0
        forward = -best / rounds
        return self.weights[i] * (self.alpha * backward + (1 - self.alpha) * forward)

    def next(self) -> int | None:
        """The task to tune next; None when every task is retired."""
        active = [i for i, r in enumerate(self.retired) if not r]
        if not active:
            return None
        if self.strategy == "round-robin":
            for _ in range(len(self.weights)):
                i, self._next = self._next, (self._next + 1) % len(self.weights)
                if not self.retired[i]:
                    return i
        if self.rng.random() < self.eps:
            return int(self.rng.choice(active))
        return min(active, key=lambda i: (self.gradient(i), i))


# ----------------------------------------------------------------------------- tune_model


class _TaskReplayer:
    """One task's view of a shared replayer: it switches the workers to this task's function
    before each batch."""

    def __init__(self, shared: Any, func: PrimFunc) -> None:
        self.shared, self.func = shared, func

    def run(self, jobs: Any) -> Any:
        self.shared.use(self.func)
        return self.shared.run(jobs)

    def close(self) -> None:
        pass


def tune_model(mod: IRModule, target: Any = "llvm", database: Any = None, *,
               time_budget_s: float | None = None, trials: int | None = None,
               strategy: str = "gradient", runner: Any = "local", cost_model: Any = "xgb",
               search: Any = "evolutionary", seed: int = 0, trials_per_round: int = 16, timeout_s: float = 10.0,
               workers: int | None = None, pretrained: Any = None, progress: bool = True,
               patience: int = 4, repeats: int = 5, check: bool = True,
               tasks: list[str] | None = None) -> ModelTuneReport:
    """Tune the kernels of model ``mod`` for ``target`` and store the results in ``database``
    (a path or ``Database``; a temporary file when None, named in the report), so that
    ``tvmscript.build(mod, target, database=...)`` uses them.

    The budget is ``time_budget_s`` seconds, ``trials`` candidates measured by this run
    (records already in the database resume and do not count), or both (whichever ends
    first); with neither, 32 trials per task. ``tasks`` limits tuning to the named
    kernels (names as in ``report.table()``). The other options mean what they mean for
    ``tune``; ``patience`` is how many rounds without improvement retire a task.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")
    if time_budget_s is not None and not (isinstance(time_budget_s, (int, float))
                                          and time_budget_s > 0):
        raise ValueError(f"time_budget_s must be a positive number of seconds, got "
                         f"{time_budget_s!r}")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be a positive integer (rounds), got {patience!r}")
    _check_options(trials if trials is not None else 1, trials_per_round, cost_model, search)
    measurer = _runner_object(runner, None)
    parsed = check_target(target) if measurer is None else target
    started = time.perf_counter()
    found, skipped, _ = extract_tasks(mod, parsed)
    found = _select(found, tasks)
    if not found:
        raise ValueError("nothing to tune: the model has no kernel with loops and static sizes"
                         + "".join(f"; {s.name}: {s.reason}" for s in skipped))
    if trials is None and time_budget_s is None:
        trials = 32 * len(found)
    opts = _options(dict(database=None, seed=seed, cost_model=cost_model, search=search,
                         space=None, trials_per_round=trials_per_round, timeout_s=timeout_s,
                         time_budget_s=None, workers=workers, pretrained=None,
                         progress=False, repeats=repeats, check=check, measurer=measurer,
                         runner=runner if isinstance(runner, str) else "local"))
    return _ModelTuning(found, skipped, parsed, opts, database, strategy, trials,
                        time_budget_s, pretrained, patience, progress, started).run()


def _select(found: list[TuneTask], names: list[str] | None) -> list[TuneTask]:
    if names is None:
        return found
    known = {t.name for t in found}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"tasks={unknown}: no such kernel in the model; its tasks are "
                         f"{sorted(known)}")
    return [t for t in found if t.name in set(names)]


class _ModelTuning:
    """One ``tune_model`` run: the shared database, cost model, measurer and replay workers,
    the tasks, and the loop of rounds the scheduler directs."""

    def __init__(self, found: list[TuneTask], skipped: list[SkippedKernel], target: Any,
                 opts: dict[str, Any], database: Any, strategy: str, trials: int | None,
                 budget_s: float | None, pretrained: Any, patience: int, progress: bool,
                 started: float) -> None:
        self.found, self.target, self.opts = found, target, opts
        self.trials, self.budget_s, self.started = trials, budget_s, started
        self.db, self.db_owned, self.db_path = _open(database)
        self.report = ModelTuneReport(str(target), self.db_path,
                                      [TaskReport(t.name, t.weight, t.flops) for t in found],
                                      skipped, strategy)
        self.scheduler = TaskScheduler([t.weight for t in found], strategy, opts["seed"],
                                       patience=patience)
        self.progress = progress
        self.pretrained = pretrained
        self.measured = 0  # candidates measured by this run (records resumed not included)

    def run(self) -> ModelTuneReport:
        from .tune import make_measurer

        opts = dict(self.opts, database=self.db)
        shared_replayer = measurer = bar = None
        owned = opts["measurer"] is None
        tasks: list[_Task] = []
        try:
            model = _cost_model(opts["cost_model"], self.pretrained, opts["seed"], None,
                                self.target)
            measurer = opts["measurer"] if not owned else make_measurer(opts, self.target, None)
            opts["measurer"] = measurer
            shared_replayer = self._replayer(opts)
            total = self.budget_s if self.trials is None else self.trials
            bar = Progress(total, self.progress, desc="tuning the model",
                           unit="s" if self.trials is None else "trial")
            for i, t in enumerate(self.found):
                task = _Task(t.func, self.target, 1 << 30, opts, name=t.name, model=model)
                task.timed_variant = t.timed_variant
                resumed = task.start(_TaskReplayer(shared_replayer, t.func))
                tasks.append(task)
                if resumed:
                    self.report.tasks[i].default_latency_s = _default_from_db(task)
                else:
                    self._measure_default(task, measurer, i)
                self._after_round(i, task, bar)
            self._loop(tasks, measurer, bar)
        finally:
            if bar is not None:
                bar.close()
            if shared_replayer is not None:
                shared_replayer.close()
            if owned and measurer is not None:
                measurer.close()
            for task in tasks:
                task.close()
            if self.db_owned:
                self.db.close()
        self.report.wall_s = time.perf_counter() - self.started
        return self.report

    def _replayer(self, opts: dict[str, Any]) -> Any:
        from .replay_pool import InProcessReplayer, make_replayer

        first = self.found[0].func
        if not _owns_builders(opts):
            return InProcessReplayer(first, self.target)
        return make_replayer(first, self.target, opts["workers"])

    def _measure_default(self, task: _Task, measurer: Any, i: int) -> None:
        """The default schedule, measured and recorded like a candidate: the baseline."""
        from .default_schedule import default_schedule_trace

        sch = default_schedule_trace(task.func, self.target)
        if sch is None:
            return
        result = task.measure_baseline(measurer, sch.trace, sch.func)
        self.measured += 1
        self.report.tasks[i].default_latency_s = result.latency_s

    def _loop(self, tasks: list[_Task], measurer: Any, bar: Progress) -> None:
        while True:
            if self.budget_s is not None and time.perf_counter() - self.started >= self.budget_s:
                self.report.message = f"stopped by time_budget_s={self.budget_s:g}"
                return
            left = None if self.trials is None else self.trials - self.measured
            if left is not None and left <= 0:
                self.report.message = f"stopped after trials={self.trials}"
                return
            i = self.scheduler.next()
            if i is None:
                self.report.message = ("stopped early: no task improved for "
                                       f"{self.scheduler.patience} rounds")
                return
            task = tasks[i]
            n = self.opts["trials_per_round"] if left is None \
                else min(self.opts["trials_per_round"], left)
            task.use(measurer)
            done = task.step(measurer, n)
            self.measured += done
            self._after_round(i, task, bar, done)

    def _after_round(self, i: int, task: _Task, bar: Progress, done: int | None = None) -> None:
        rep = self.report.tasks[i]
        rep.rounds, rep.result = task.rounds, task.result
        self.scheduler.update(i, rep.best_latency_s, exhausted=done == 0)
        rep.retired = self.scheduler.retired[i]
        elapsed = time.perf_counter() - self.started
        estimate = self.report.estimate_s
        self.report.estimates.append((elapsed, self.report.trials,
                                      math.nan if estimate is None else estimate))
        if bar.bar is not None:
            now = elapsed if self.trials is None else self.measured
            bar.update(now - bar.bar.n, f"estimate {_ms(estimate)} ms, {self.measured} trials")


def _open(database: Any) -> tuple[Any, bool, str]:
    """The database, whether this run opened it, and its path (a temporary one for None)."""
    from .database import Database

    if isinstance(database, Database):
        return database, False, str(database.path)
    if database is None:
        fd, path = tempfile.mkstemp(prefix="tvmscript-tune-", suffix=".db")
        os.close(fd)
        os.remove(path)
        database = path
    db = Database(str(database))
    return db, True, str(database)


def _default_from_db(task: _Task) -> float | None:
    """On resume, the untuned baseline is the first record of the task's first round."""
    first = [h for h in task.result.history if h.latency_s is not None]
    return first[0].latency_s if first else None


__all__ = ["STRATEGIES", "ModelTuneReport", "TaskReport", "TaskScheduler", "tune_model"]
