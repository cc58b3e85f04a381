"""``tune`` end to end: a real short run on a 64³ matmul (best builds, is called like the original
and matches numpy; history; the trace replays; resume from the database; ``build(database=)``),
the plot, transfer from a database, and every bad input with its error. Runs that only test the
bookkeeping use a fake measurer (any object with ``measure``)."""

from __future__ import annotations

import functools
import importlib.util
import time

import numpy as np
import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tuner.database import Database
from tuner.measure import MeasureResult
from tuner.result import TuneResult, flop_count
from tuner.search import EvolutionarySearch, EvolutionConfig
from tuner.tune import TuneError, tune
from tvmscript import T

QUICK = functools.partial(EvolutionarySearch, config=EvolutionConfig(
    population_size=16, init_min_unmeasured=8, generations=2))
"""The evolutionary search with a population small enough for tests."""
MATMUL = tvmscript.from_source(PROGRAMS["matmul"].replace("128", "64"))
SMALL = tvmscript.from_source(PROGRAMS["matmul"].replace("128", "32"))


def run_like_original(func, best) -> None:
    """``best`` takes the same arrays as ``func`` and computes the same numbers."""
    assert [tuple(b.shape) for b in best.buffers] == [tuple(b.shape) for b in func.buffers]
    rng = np.random.default_rng(0)
    a, b = (rng.random((64, 64), dtype="float32") for _ in range(2))
    c = np.zeros((64, 64), "float32")
    tvmscript.build(best)[func.name](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


class FakeMeasurer:
    """Latency a fixed function of the program; ``fail`` makes every candidate time out."""

    def __init__(self, fail: bool = False):
        self.fail, self.batches = fail, []

    def measure(self, cands):
        self.batches.append(len(cands))
        if self.fail:
            return [MeasureResult(None, "timed out: over 0.1 s") for _ in cands]
        return [MeasureResult([1e-3 * (1 + tvmscript.structural_hash(c.func) % 97 / 97)], None)
                for c in cands]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """One real run: 8 trials in 2 rounds, recorded in a database."""
    db = tmp_path_factory.mktemp("tune") / "tuning.db"
    result = tvmscript.tune(MATMUL, target="llvm", trials=8, trials_per_round=4, database=db,
                            seed=0, progress=False, timeout_s=20, search=QUICK)
    return result, db


def test_tune_finds_a_correct_faster_program(tuned):
    result, _ = tuned
    assert isinstance(result, TuneResult)
    run_like_original(MATMUL, result.best)
    ok = [h.latency_s for h in result.history if h.latency_s is not None]
    assert result.best_latency_s == min(ok)
    assert result.best_gflops == pytest.approx(2 * 64 ** 3 / result.best_latency_s / 1e9)


def test_history_fields(tuned):
    result, _ = tuned
    assert len(result.history) == 8
    assert [h.round for h in result.history] == [1] * 4 + [2] * 4
    assert all(h.predicted is None for h in result.history[:4])  # round 1 is random
    assert all(h.predicted is not None for h in result.history[4:])
    assert all((h.latency_s is None) == (h.error is not None) for h in result.history)
    keys = {tvmscript.structural_hash(h.trace.apply_to(MATMUL).func) for h in result.history}
    assert len(keys) == 8  # never the same program twice
    elapsed = [h.elapsed_s for h in result.history]
    assert elapsed == sorted(elapsed) and 0 < elapsed[-1] <= result.wall_s
    assert set(result.phase_s) == {"search", "build", "run", "train"}
    assert all(v > 0 for v in result.phase_s.values())
    assert sum(result.phase_s.values()) <= result.wall_s


def test_best_trace_is_python_that_replays(tuned):
    result, _ = tuned
    text = result.best_trace.as_python()
    assert text.startswith("b0 = sch.get_block(") and "decision=" in text
    compile(text, "<trace>", "exec")
    tvmscript.assert_structural_equal(result.best_trace.apply_to(MATMUL).func, result.best)


def test_build_with_database_applies_the_record(tuned, monkeypatch):
    result, db = tuned
    import backends.build

    built = []
    real = backends.build.build
    monkeypatch.setattr(backends.build, "build", lambda f, t: built.append(f) or real(f, t))
    rt = tvmscript.build(MATMUL, target="llvm", database=str(db))
    tvmscript.assert_structural_equal(built[0], result.best)
    a, b = np.ones((64, 64), "float32"), np.ones((64, 64), "float32")
    c = np.zeros((64, 64), "float32")
    rt[MATMUL.name](a, b, c)
    assert (c == 64).all()
    # a function the database has never seen builds with the default schedule
    tvmscript.build(SMALL, target="llvm", database=str(db))
    assert built[-1] is SMALL


def test_resume_counts_records_against_trials(tuned, tmp_path):
    _, db = tuned
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())
    meas = FakeMeasurer()
    result = tune(MATMUL, trials=11, database=copy, progress=False, measurer=meas,
                  trials_per_round=4, search=QUICK)
    assert [h.round for h in result.history][:8] == [0] * 8
    assert meas.batches == [3]  # 8 records resumed, 3 new ones to reach 11
    with Database(copy) as d:
        assert len(d.records(d.workload(MATMUL, "llvm"))) == 11
    again = tune(MATMUL, trials=5, database=copy, progress=False, measurer=FakeMeasurer(),
                 search=QUICK)
    assert len(again.history) == 11 and again.best is not None  # nothing left to measure


def test_plot(tuned, tmp_path):
    result, _ = tuned
    trials, best, medians = result.curves()
    assert list(trials) == list(range(1, 9)) and all(np.diff(best) >= 0)
    assert [r for r, _ in medians] == [1, 2]
    if importlib.util.find_spec("matplotlib") is None:  # the `tune` extra is not installed
        with pytest.raises(ImportError, match="TuneResult.plot needs matplotlib"):
            result.plot(tmp_path / "curve.png")
        return
    path = result.plot(tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_random_search_never_consults_the_model():
    result = tune(SMALL, trials=6, trials_per_round=3, search="random", progress=False,
                  measurer=FakeMeasurer())
    assert len(result.history) == 6 and all(h.predicted is None for h in result.history)


def test_pretrained_database_ranks_from_round_one(tmp_path):
    db = tmp_path / "other.db"
    tune(MATMUL, trials=12, trials_per_round=6, database=db, progress=False,
         measurer=FakeMeasurer(), search="random")
    result = tune(SMALL, trials=4, trials_per_round=4, pretrained=db, progress=False,
                  measurer=FakeMeasurer(), search=QUICK)
    assert all(h.predicted is not None for h in result.history)


def test_pretrained_model_file(tmp_path):
    from tuner.cost_model import XGBModel

    first = tune(MATMUL, trials=8, trials_per_round=4, progress=False, measurer=FakeMeasurer(),
                 search="random")
    model = XGBModel()
    from tuner.measure import Candidate

    model.update([Candidate(h.trace.apply_to(MATMUL).func, h.trace) for h in first.history],
                 [MeasureResult([h.latency_s], None) for h in first.history])
    model.save(tmp_path / "model.bin")
    result = tune(SMALL, trials=3, trials_per_round=3, pretrained=tmp_path / "model.bin",
                  progress=False, measurer=FakeMeasurer(), search=QUICK)
    assert all(h.predicted is not None for h in result.history)


def test_every_candidate_timing_out_is_a_clear_error():
    with pytest.raises(TuneError, match=r"no candidate of 'matmul' ran successfully "
                                        r"\(4 tried: 4 timed out\)") as info:
        tune(SMALL, trials=4, trials_per_round=2, progress=False, measurer=FakeMeasurer(True),
             search=QUICK)
    assert len(info.value.result.history) == 4


def test_time_budget_stops_between_rounds():
    meas = FakeMeasurer()
    with pytest.raises(TuneError, match=r"stopped by time_budget_s=1e-09 after 0 trials"):
        tune(SMALL, trials=20, trials_per_round=2, time_budget_s=1e-9, progress=False,
             measurer=meas, search="random")
    assert meas.batches == []

    class Slow(FakeMeasurer):
        def measure(self, cands):
            time.sleep(1.1)  # the round outlasts the budget: no second round starts
            return super().measure(cands)

    result = tune(SMALL, trials=20, trials_per_round=2, time_budget_s=1.0, progress=False,
                  measurer=Slow(), search="random")
    assert len(result.history) == 2
    assert result.message == "stopped by time_budget_s=1.0 after 2 trials"


def test_module_tunes_each_function():
    mod = tvmscript.IRModule({"mm": MATMUL, "small": SMALL})
    result = tune(mod, trials=6, trials_per_round=3, progress=False, measurer=FakeMeasurer(),
                  search=QUICK)
    assert set(result.tasks) == {"mm", "small"}
    assert [len(t.history) for t in result.tasks.values()] == [3, 3]
    assert isinstance(result.best, tvmscript.IRModule)
    run_like_original(MATMUL, result.best.functions["mm"])


@T.prim_func
def no_loops(A: T.Buffer((1,), "float32")):
    A[0] = T.float32(1)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"trials": 0}, ValueError, "trials must be a positive integer .* got 0"),
    ({"trials_per_round": 0}, ValueError, "trials_per_round must be a positive integer"),
    ({"cost_model": "gbdt"}, ValueError, "unknown cost model 'gbdt'"),
    ({"search": "annealing"}, ValueError, "unknown search 'annealing'"),
    ({"target": "llvm -mtriple=aarch64-linux-gnu"}, ValueError,
     "cannot measure on target .* on this machine"),
    ({"target": "interpreter"}, ValueError, "the target must be 'llvm'"),
    ({"pretrained": "/nonexistent/model.bin"}, FileNotFoundError, "no such file"),
])
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        tune(SMALL, **{"progress": False, **kwargs})


def test_nothing_to_tune():
    with pytest.raises(ValueError, match="nothing to tune: function 'no_loops' has no loops"):
        tune(no_loops, trials=4, progress=False, measurer=FakeMeasurer())


def test_symbolic_sizes_are_refused():
    from tuner.space import SymbolicSizeError

    func = tvmscript.from_source(PROGRAMS["symbolic_shape"])
    with pytest.raises(SymbolicSizeError, match="symbolic sizes"):
        tune(func, trials=4, progress=False, measurer=FakeMeasurer())


def test_a_database_that_is_not_ours(tmp_path):
    from tuner.database import DatabaseError

    bad = tmp_path / "notes.db"
    bad.write_text("shopping list\n")
    with pytest.raises(DatabaseError, match="notes.db"):
        tune(SMALL, trials=2, database=bad, progress=False, measurer=FakeMeasurer())
    assert bad.read_text() == "shopping list\n"


def test_flop_count():
    assert flop_count(MATMUL) == 2 * 64 ** 3
    assert flop_count(no_loops) == 0
