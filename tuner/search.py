"""Search strategies: which scheduled programs to measure next.

``EvolutionarySearch`` follows MetaSchedule's ``evolutionary_search.cc``: each round it samples a
population from the design spaces plus the best programs measured so far, evolves it for a few
generations (parents drawn by the cost model's score, children made by mutators that change one
sampling decision), and picks the round's batch: the best-scored unmeasured programs plus an
ε-greedy share of random unmeasured ones. Round 1 (no model data yet) is random. Every program is
identified by the structural hash of the scheduled function, so nothing is measured twice, and a
program that fails a postcondition (a decision that no longer applies, an ill-formed result) is
dropped before it can reach the measurer.

``RandomSearch`` samples the spaces uniformly: the baseline the learned search is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tvmscript.ir import PrimFunc, check_well_formed
from tvmscript.schedule import Schedule, ScheduleError, Trace
from tvmscript.schedule.handles import IntRV
from tvmscript.schedule.sampling import compute_location_candidates
from tvmscript.schedule.trace import Instruction

from .measure import Candidate
from .replay_pool import InProcessReplayer, Replayed, program_key

Postcondition = Callable[[PrimFunc], None]
"""Raises (any exception) when a scheduled function must not be measured."""


@dataclass
class Proposal:
    """A candidate the search wants measured: the program, its hash and the model's score."""

    candidate: Candidate
    key: int
    predicted: float | None = None


class _Point:
    """A program in the population: its trace, structural hash and features, and (parsed
    when first asked for) its function. The cost model reads it like a candidate."""

    __slots__ = ("replayed", "latency_s")

    def __init__(self, replayed: Replayed, latency_s: float | None = None) -> None:
        self.replayed, self.latency_s = replayed, latency_s

    trace = property(lambda self: self.replayed.trace)
    key = property(lambda self: self.replayed.key)
    features = property(lambda self: self.replayed.features)
    func = property(lambda self: self.replayed.func)

    def candidate(self) -> Candidate:
        return Candidate(self.func, self.trace, self.features)


# ----------------------------------------------------------------------------- replay


def replay(func: PrimFunc, trace: Trace, decisions: dict[int, Any] | None = None,
           target: Any = "llvm") -> tuple[Trace, PrimFunc] | None:
    """Replay the sketch part of ``trace`` on ``func`` (optionally with changed decisions),
    postprocess and verify (``tuner.space.replay_candidate``): the new trace and the scheduled
    function, or None when a decision or primitive no longer applies."""
    from .space import replay_candidate

    try:
        return replay_candidate(func, trace, decisions, target=target)
    except (ScheduleError, ValueError):
        return None


def _replay_raw(func: PrimFunc, trace: Trace) -> PrimFunc | None:
    """``trace`` exactly as recorded, without postprocessing (a prefix, to inspect a state)."""
    sch = Schedule(func, verify=False)
    try:
        trace.replay(sch)
    except (ScheduleError, ValueError, TypeError, IndexError, KeyError):
        return None
    return sch.func


def well_formed(func: PrimFunc) -> None:
    """A postcondition: the scheduled function passes the verifier (the space's sampling and
    replay already verify; add this for programs from elsewhere)."""
    problems = check_well_formed(func)
    if problems:
        raise ValueError(f"ill-formed: {problems[0]}")


def draw(func: PrimFunc, sketch: Trace, seed: int, target: Any = "llvm"
         ) -> tuple[Trace, PrimFunc] | None:
    """One program of a design space: the sketch replayed with fresh decisions, postprocessed
    and verified (``tuner.space.sample_candidate``)."""
    from .space import sample_candidate

    try:
        return sample_candidate(func, sketch, seed, target=target)
    except (ScheduleError, ValueError):
        return None


# ----------------------------------------------------------------------------- mutators


def _uses(inst: Instruction, rv_id: int) -> bool:
    def walk(v: Any) -> bool:
        if isinstance(v, IntRV):
            return getattr(v, "rv_id", None) == rv_id
        if isinstance(v, (list, tuple)):
            return any(walk(x) for x in v)
        return False

    return walk(list(inst.inputs)) or walk(list(inst.attrs.values()))


def _annotation(inst: Instruction) -> tuple[str, Any] | None:
    """``(key, value)`` of an ``annotate`` instruction, however its arguments were passed."""
    if inst.kind != "annotate":
        return None
    args = list(inst.inputs) + [inst.attrs.get("key"), inst.attrs.get("value")]
    rest = [a for a in args[1:] if a is not None]
    if len(rest) < 2 or not isinstance(rest[0], str):
        return None
    return rest[0], rest[1]


def _consumer_key(trace: Trace, index: int) -> str:
    """The annotation key a sampled integer feeds ('' when it feeds none)."""
    out = trace.instructions[index].outputs
    rv_id = getattr(out, "rv_id", None)
    for inst in trace.instructions[index + 1:]:
        ann = _annotation(inst)
        if ann is not None and rv_id is not None and _uses(inst, rv_id):
            return ann[0]
    return ""


class Mutator:
    """Changes one decision of a measured or evolved trace; ``apply`` returns the new trace
    (not yet replayed: the search replays it and drops it if it no longer applies)."""

    name = "mutator"

    def sites(self, trace: Trace) -> list[int]:
        """Instructions this mutator can change."""
        raise NotImplementedError

    def apply(self, func: PrimFunc, trace: Trace, rng: np.random.Generator) -> Trace | None:
        trace = trace.sketch()  # what postprocessing derived is derived again after replay
        sites = self.sites(trace)
        if not sites:
            return None
        return self.mutate(func, trace, sites[int(rng.integers(len(sites)))], rng)

    def mutate(self, func: PrimFunc, trace: Trace, index: int,
               rng: np.random.Generator) -> Trace | None:
        raise NotImplementedError


class MutateTileSize(Mutator):
    """Moves a prime factor from one tile level to another: the product stays the loop's extent,
    the innermost factor stays within ``max_innermost_factor`` (MetaSchedule's MutateTileSize)."""

    name = "tile_size"

    def sites(self, trace: Trace) -> list[int]:
        return [i for i, inst in enumerate(trace.instructions)
                if inst.kind == "sample_perfect_tile" and len(inst.decision) > 1
                and any(d > 1 for d in inst.decision)]

    def mutate(self, func: PrimFunc, trace: Trace, index: int,
               rng: np.random.Generator) -> Trace | None:
        inst = trace.instructions[index]
        tiles = [int(d) for d in inst.decision]
        limit = int(inst.attrs.get("max_innermost_factor",
                                   inst.inputs[2] if len(inst.inputs) > 2 else 16))
        src = [i for i, d in enumerate(tiles) if d > 1]
        x = src[int(rng.integers(len(src)))]
        y = [i for i in range(len(tiles)) if i != x][int(rng.integers(len(tiles) - 1))]
        primes = _prime_factors(tiles[x])
        d = primes[int(rng.integers(len(primes)))]
        tiles[x] //= d
        tiles[y] *= d
        if tiles[-1] > limit:
            return None
        return trace.with_decision(index, tiles)


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out + ([n] if n > 1 else [])


class _MutateCategorical(Mutator):
    """Redraws a ``sample_categorical`` decision (a different candidate) whose value feeds an
    annotation whose key contains one of ``keys`` (``keys=None``: feeds no known one)."""

    keys: tuple[str, ...] | None = ()

    def _matches(self, key: str) -> bool:
        if self.keys is None:
            return not any(k in key for k in ("unroll", "parallel"))
        return any(k in key for k in self.keys)

    def sites(self, trace: Trace) -> list[int]:
        return [i for i, inst in enumerate(trace.instructions)
                if inst.kind == "sample_categorical" and len(_candidates(inst)) > 1
                and self._matches(_consumer_key(trace, i))]

    def mutate(self, func: PrimFunc, trace: Trace, index: int,
               rng: np.random.Generator) -> Trace | None:
        n = len(_candidates(trace.instructions[index]))
        others = [c for c in range(n) if c != trace.instructions[index].decision]
        return trace.with_decision(index, others[int(rng.integers(len(others)))])


def _candidates(inst: Instruction) -> list:
    return list(inst.attrs.get("candidates", inst.inputs[0] if inst.inputs else []))


class MutateUnroll(_MutateCategorical):
    """A different unroll depth (``sample_categorical`` feeding an unroll annotation)."""

    name = "unroll"
    keys = ("unroll",)


class MutateParallel(_MutateCategorical):
    """A different parallel extent: a sampled one, or a literal ``*parallel*`` annotation
    halved or doubled (MetaSchedule's MutateParallel changes that annotation)."""

    name = "parallel"
    keys = ("parallel",)

    def sites(self, trace: Trace) -> list[int]:
        literal = [i for i, inst in enumerate(trace.instructions)
                   if (ann := _annotation(inst)) and "parallel" in ann[0]
                   and type(ann[1]) is int and ann[1] > 0]
        return super().sites(trace) + literal

    def mutate(self, func: PrimFunc, trace: Trace, index: int,
               rng: np.random.Generator) -> Trace | None:
        inst = trace.instructions[index]
        if inst.kind == "sample_categorical":
            return super().mutate(func, trace, index, rng)
        _, value = _annotation(inst)
        new = value * 2 if value == 1 or rng.random() < 0.5 else value // 2
        inputs = tuple(new if (v is value and type(v) is int) else v for v in inst.inputs)
        attrs = {k: (new if k == "value" else v) for k, v in inst.attrs.items()}
        insts = list(trace.instructions)
        insts[index] = Instruction(inst.kind, inputs, attrs, inst.outputs, inst.decision)
        return Trace(insts)


class MutateCategorical(_MutateCategorical):
    """Any other categorical decision (a rule's own choice)."""

    name = "categorical"
    keys = None


class MutateComputeLocation(Mutator):
    """Moves a block to another loop of its consumer (replaying the trace up to the sampling
    to know the loops there: MetaSchedule's MutateComputeLocation)."""

    name = "compute_location"

    def sites(self, trace: Trace) -> list[int]:
        return [i for i, inst in enumerate(trace.instructions)
                if inst.kind == "sample_compute_location"]

    def mutate(self, func: PrimFunc, trace: Trace, index: int,
               rng: np.random.Generator) -> Trace | None:
        inst = trace.instructions[index]
        prefix = _replay_raw(func, Trace(trace.instructions[:index]))
        if prefix is None:
            return None
        sch = Schedule(prefix, verify=False)
        try:
            cands = compute_location_candidates(sch, inst.inputs[0])
        except ScheduleError:
            return None
        others = [c for c in cands if c != inst.decision]
        if not others:
            return None
        return trace.with_decision(index, others[int(rng.integers(len(others)))])


DEFAULT_MUTATORS: dict[Mutator, float] = {
    MutateTileSize(): 0.9, MutateComputeLocation(): 0.05, MutateUnroll(): 0.03,
    MutateParallel(): 0.02, MutateCategorical(): 0.02,
}
"""MetaSchedule's CPU probabilities (tile 0.9, compute location 0.05, unroll 0.03, parallel
0.02), renormalised over the mutators that apply to a trace."""


def mutate(func: PrimFunc, trace: Trace, rng: np.random.Generator,
           mutators: dict[Mutator, float] | None = None) -> Trace | None:
    """One mutation of ``trace`` by a mutator drawn by probability among those that apply
    (None when none applies or the drawn one fails)."""
    mutators = DEFAULT_MUTATORS if mutators is None else mutators
    trace = trace.sketch()
    usable = [(m, p) for m, p in mutators.items() if p > 0 and m.sites(trace)]
    if not usable:
        return None
    probs = np.array([p for _, p in usable], dtype=float)
    m = usable[int(rng.choice(len(usable), p=probs / probs.sum()))][0]
    return m.apply(func, trace, rng)


# ----------------------------------------------------------------------------- strategies


class SearchStrategy:
    """Proposes candidates to measure and learns which were measured.

    ``propose(n)`` returns at most ``n`` proposals never measured or proposed before (fewer when
    the space is exhausted); ``notify`` hands back their results.
    """

    name = "search"

    def __init__(self, func: PrimFunc, spaces: Sequence[Trace], cost_model: Any,
                 rng: np.random.Generator, *, target: Any = "llvm",
                 postconditions: Sequence[Postcondition] = (), max_fail_count: int = 16,
                 replayer: Any = None) -> None:
        if not spaces:
            raise ValueError("the search needs at least one design space")
        self.func, self.spaces, self.cost_model, self.rng = func, list(spaces), cost_model, rng
        self.target = target
        self.replayer = replayer or InProcessReplayer(func, target)
        self.postconditions = list(postconditions)
        self.max_fail_count = max_fail_count
        self.seen: set[int] = set()            # proposed or measured
        self.measured: dict[int, _Point] = {}  # by structural hash
        self.rounds = 0
        self.dropped = 0                       # candidates failing a postcondition
        self.model_ready = False               # a pre-trained model ranks from round 1

    # -------------------------------------------------------------- bookkeeping
    def notify(self, proposals: Sequence[Proposal], latencies: Sequence[float | None]) -> None:
        for p, lat in zip(proposals, latencies):
            self.add_measured(p.candidate.trace, p.candidate.func, lat, key=p.key,
                              features=p.candidate.features)

    def add_measured(self, trace: Trace, func: PrimFunc, latency_s: float | None,
                     key: int | None = None, features: Any = None) -> int:
        """Record a measured program (also records from a database when resuming)."""
        key = program_key(func) if key is None else key
        self.seen.add(key)
        self.measured[key] = _Point(Replayed(trace, key, features, _func=func), latency_s)
        return key

    # -------------------------------------------------------------- sampling
    def _valid_func(self, func: PrimFunc) -> bool:
        for check in self.postconditions:
            try:
                check(func)
            except Exception:  # noqa: BLE001 - any failing postcondition drops the candidate
                self.dropped += 1
                return False
        return True

    def sample_unseen(self, n: int, exclude: set[int] | None = None) -> list[_Point]:
        """Up to ``n`` distinct valid programs drawn from the spaces, none seen before (drawn
        in batches, so the replayer's workers share them)."""
        exclude = set() if exclude is None else exclude
        out: list[_Point] = []
        fails, limit = 0, self.max_fail_count * max(n, 1)
        while len(out) < n and fails < limit:
            jobs = []
            for _ in range(n - len(out)):
                sketch = self.spaces[int(self.rng.integers(len(self.spaces)))]
                jobs.append(("draw", sketch, int(self.rng.integers(1 << 31))))
            for got in self.replayer.run(jobs):
                if got is None or got.key in self.seen or got.key in exclude \
                        or not self._valid(got):
                    fails += 1
                    continue
                exclude.add(got.key)
                out.append(_Point(got))
        return out

    def _valid(self, got: Replayed) -> bool:
        if not self.postconditions:
            return True
        return self._valid_func(got.func)

    def propose(self, n: int) -> list[Proposal]:
        raise NotImplementedError

    def _take(self, points: list[_Point], scores: Sequence[float | None]) -> list[Proposal]:
        self.rounds += 1
        for p in points:
            self.seen.add(p.key)
        return [Proposal(p.candidate(), p.key, None if s is None else float(s))
                for p, s in zip(points, scores)]


class RandomSearch(SearchStrategy):
    """Uniform samples of the design spaces; the cost model is never consulted."""

    name = "random"

    def propose(self, n: int) -> list[Proposal]:
        points = self.sample_unseen(n)
        return self._take(points, [None] * len(points))


@dataclass
class EvolutionConfig:
    """MetaSchedule's knobs (its defaults: population 512, 4 generations, ε = 0.05), scaled
    down: replaying a program of the default space takes 50-100 ms here, so a round of these
    defaults (~16 fresh samples and ~48 mutants) costs about 6 s on a 256³ matmul."""

    population_size: int = 48
    init_measured_ratio: float = 0.2
    init_min_unmeasured: int = 16
    generations: int = 2
    mutate_prob: float = 0.85
    eps_greedy: float = 0.1
    mutators: dict[Mutator, float] = field(default_factory=lambda: dict(DEFAULT_MUTATORS))


class EvolutionarySearch(SearchStrategy):
    """Cost-model-guided evolution from the spaces and the best measured programs."""

    name = "evolutionary"

    def __init__(self, func: PrimFunc, spaces: Sequence[Trace], cost_model: Any,
                 rng: np.random.Generator, *, config: EvolutionConfig | None = None,
                 **kwargs: Any) -> None:
        super().__init__(func, spaces, cost_model, rng, **kwargs)
        self.config = config or EvolutionConfig()
        self._replayed: dict[str, _Point | None] = {}

    def propose(self, n: int) -> list[Proposal]:
        ready = self.model_ready or any(p.latency_s is not None for p in self.measured.values())
        if not ready:
            points = self.sample_unseen(n)  # round 1: nothing to learn from yet
            return self._take(points, [None] * len(points))
        ranked = self._evolve()
        n_rand = min(n, max(1, round(n * self.config.eps_greedy))) if n > 1 else 0
        picks = [(p, s) for p, s in ranked if p.key not in self.seen][: n - n_rand]
        taken = {p.key for p, _ in picks}
        randoms = self.sample_unseen(n - len(picks), exclude=taken)
        scores = list(self._predict(randoms)) if randoms else []
        picks += list(zip(randoms, scores))
        return self._take([p for p, _ in picks], [s for _, s in picks])

    # -------------------------------------------------------------- evolution
    def _predict(self, points: list[_Point]) -> np.ndarray:
        if not points:
            return np.zeros(0)
        scores = np.asarray(self.cost_model.predict(points), dtype=float)
        return np.nan_to_num(scores, nan=-math.inf)

    def _init_population(self) -> list[_Point]:
        cfg = self.config
        good = sorted((p for p in self.measured.values() if p.latency_s is not None),
                      key=lambda p: p.latency_s)
        elite = good[: int(cfg.population_size * cfg.init_measured_ratio)]
        fresh = self.sample_unseen(max(cfg.population_size - len(elite), cfg.init_min_unmeasured))
        return elite + fresh

    def _evolve(self) -> list[tuple[_Point, float]]:
        """Unmeasured programs met during evolution, best score first."""
        cfg = self.config
        population = self._init_population()
        best: dict[int, tuple[_Point, float]] = {}
        for gen in range(cfg.generations):
            if not population:
                break
            scores = self._predict(population)
            for p, s in zip(population, scores):
                if p.key not in self.seen and s > best.get(p.key, (None, -math.inf))[1]:
                    best[p.key] = (p, float(s))
            if gen + 1 < cfg.generations:
                population = self._next_generation(population, scores)
        return sorted(best.values(), key=lambda ps: -ps[1])

    def _next_generation(self, population: list[_Point], scores: np.ndarray) -> list[_Point]:
        """``population_size`` distinct programs: parents drawn by score, most of them
        mutated; the mutants are replayed in batches (several tries for the slots whose
        mutant was invalid or a duplicate)."""
        cfg = self.config
        weights = _selection_weights(scores)
        out: dict[int, _Point] = {}
        for _ in range(self.max_fail_count):
            wanted = cfg.population_size - len(out)
            if wanted <= 0:
                break
            parents = [population[int(self.rng.choice(len(population), p=weights))]
                       for _ in range(wanted)]
            mutated, mutants = [], []
            for parent in parents:
                mutated.append(self.rng.random() < cfg.mutate_prob)
                mutants.append(self._mutant(parent) if mutated[-1] else None)
            replayed = self._replay_new(mutants)  # None: no mutator applied, or invalid
            for parent, m, child in zip(parents, mutated, replayed):
                child = child if m else parent
                if child is not None and child.key not in out:
                    out[child.key] = child
        return list(out.values())

    def _mutant(self, parent: _Point) -> Trace | None:
        return mutate(self.func, parent.trace, self.rng, self.config.mutators)

    def _replay_new(self, traces: list[Trace | None]) -> list[_Point | None]:
        """The programs of ``traces`` (None where a trace is None or invalid), replaying only
        those not replayed before (mutants recur often: a replay costs 50-150 ms, the text
        ~0.1), remembered by the trace's text."""
        texts = [None if t is None else t.as_python() for t in traces]
        todo = {text: t for text, t in zip(texts, traces)
                if text is not None and text not in self._replayed}
        results = self.replayer.run([("replay", t) for t in todo.values()])
        for text, got in zip(todo, results):
            self._replayed[text] = _Point(got) if got is not None and self._valid(got) else None
        return [None if text is None else self._replayed[text] for text in texts]


def _selection_weights(scores: np.ndarray) -> np.ndarray:
    """Parent probabilities from scores of any scale (a ranking model's are not throughputs):
    a softmax of the z-scored scores."""
    s = np.where(np.isfinite(scores), scores, np.nan)
    if np.all(np.isnan(s)):
        return np.full(len(s), 1.0 / len(s))
    z = (s - np.nanmean(s)) / (np.nanstd(s) + 1e-9)
    w = np.exp(np.nan_to_num(z, nan=-30.0).clip(-30, 30))
    return w / w.sum()


SEARCHES: dict[str, type[SearchStrategy]] = {
    "evolutionary": EvolutionarySearch, "random": RandomSearch,
}


def make_search(search: str | SearchStrategy | type, func: PrimFunc, spaces: Sequence[Trace],
                cost_model: Any, rng: np.random.Generator, target: Any = "llvm",
                replayer: Any = None) -> SearchStrategy:
    """A strategy by name (``"evolutionary"``, ``"random"``), a ready instance, or a class or
    factory called as ``search(func, spaces, cost_model, rng, target=target)``. ``replayer``
    (``tuner.replay_pool``) replays the named strategies' candidates; default: this process."""
    if isinstance(search, SearchStrategy):
        return search
    if isinstance(search, str) and search in SEARCHES:
        return SEARCHES[search](func, spaces, cost_model, rng, target=target, replayer=replayer)
    if callable(search) and not isinstance(search, str):  # a class or a factory
        made = search(func, spaces, cost_model, rng, target=target)
        if isinstance(made, SearchStrategy):
            return made
    raise ValueError(f"unknown search {search!r}; use one of {sorted(SEARCHES)} or a "
                     "SearchStrategy")


__all__ = [
    "DEFAULT_MUTATORS",
    "SEARCHES",
    "EvolutionConfig",
    "EvolutionarySearch",
    "MutateCategorical",
    "MutateComputeLocation",
    "MutateParallel",
    "MutateTileSize",
    "MutateUnroll",
    "Mutator",
    "Proposal",
    "RandomSearch",
    "SearchStrategy",
    "draw",
    "make_search",
    "mutate",
    "replay",
    "well_formed",
]
