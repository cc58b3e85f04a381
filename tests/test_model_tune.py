"""Tuning whole models: task extraction, the task scheduler, ``tune_model`` into a database,
and ``build(mod, database=)`` using what was stored, in this process and in a fresh one."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the test model is an ONNX graph (the onnx package)")
pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for the numbers")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_models import INPUT_SHAPE, onnxruntime_output, tiny_cnn

import tvmscript
from tuner.database import Database, DatabaseError
from tuner.default_schedule import schedule_sources
from tuner.model_tune import TaskScheduler
from tuner.tasks import extract_tasks

TARGET = "llvm"


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def mod(model):
    return tvmscript.frontend.from_onnx(model)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).standard_normal(INPUT_SHAPE).astype("float32")


@pytest.fixture(scope="module")
def tuned(mod, tmp_path_factory):
    """One tuning run shared by the tests that read its database and report."""
    db = tmp_path_factory.mktemp("tune") / "tiny.db"
    report = tvmscript.tune_model(mod, TARGET, str(db), trials=8, trials_per_round=4,
                                  progress=False, workers=1)
    return db, report


# ----------------------------------------------------------------------------- extraction


def test_tasks_are_the_fused_kernels_with_weights_and_flops(mod):
    tasks, skipped, lowered = extract_tasks(mod, TARGET)
    by_name = {t.name: t for t in tasks}
    convs = sorted((t for t in tasks if "conv2d" in t.name), key=lambda t: t.weight)
    # the two 8->8 convolutions have the same shapes: one kernel, called twice
    assert [t.weight for t in convs] == [1, 2]
    # FLOPs: the multiply-adds of the convolution (2 per MAC) plus the bias and ReLU
    macs = 8 * 16 * 16 * 8 * 3 * 3
    assert 2 * macs <= convs[1].flops <= 2 * macs + 3 * 8 * 16 * 16 + 8 * 18 * 18
    dense = next(t for t in tasks if "matmul" in t.name)
    assert 2 * 2048 * 10 <= dense.flops <= 2 * 2048 * 10 + 20
    # heaviest first, and every task is a kernel of the lowered module that main calls
    totals = [t.total_flops for t in tasks]
    assert totals == sorted(totals, reverse=True)
    assert set(by_name) <= set(lowered.functions)
    assert skipped == []


def test_extract_tasks_refuses_what_is_not_a_model(mod):
    kernel = next(f for f in extract_tasks(mod)[2].functions.values()
                  if isinstance(f, tvmscript.PrimFunc))
    with pytest.raises(TypeError, match="takes an IRModule"):
        extract_tasks(kernel)
    with pytest.raises(ValueError, match="no graph-level function"):
        extract_tasks(tvmscript.IRModule({"k": kernel}))


# ----------------------------------------------------------------------------- the scheduler


def test_gradient_scheduler_favours_the_task_that_costs_most():
    s = TaskScheduler([1, 4], "gradient", eps=0.0)
    s.update(0, 1e-3)
    s.update(1, 1e-3)  # same latency, four times the calls: tuning it pays four times more
    assert s.next() == 1
    assert s.gradient(1) == pytest.approx(4 * s.gradient(0))


def test_a_task_without_a_measurement_goes_first_and_round_robin_takes_turns():
    s = TaskScheduler([1, 1, 1], "gradient", eps=0.0)
    s.update(0, 1e-3)
    s.update(1, None)
    s.update(2, 2e-3)
    assert s.gradient(1) == -math.inf and s.next() == 1
    rr = TaskScheduler([5, 1, 1], "round-robin")
    assert [rr.next() for _ in range(4)] == [0, 1, 2, 0]


def test_tasks_retire_after_patience_rounds_without_improvement():
    s = TaskScheduler([1, 1], patience=2, eps=0.0)
    for best in (3e-3, 2e-3, 2e-3, 2e-3):
        s.update(0, best)
    assert s.retired[0] and not s.retired[1]
    s.update(1, 1e-3, exhausted=True)  # the design space has nothing left
    assert s.done and s.next() is None
    with pytest.raises(ValueError, match="unknown strategy 'fastest'"):
        TaskScheduler([1], "fastest")


# ----------------------------------------------------------------------------- tune_model


def test_tune_model_stores_every_task_and_reports_it(tuned, mod):
    db, report = tuned
    assert report.trials == 8
    names = {t.name for t in report.tasks}
    assert names == {t.name for t in extract_tasks(mod)[0]}
    for task in report.tasks:
        # the default schedule is measured first: the baseline every task starts from
        assert task.default_latency_s is not None and task.best_latency_s is not None
        assert task.best_latency_s <= task.default_latency_s
    assert report.estimate_s <= report.default_estimate_s
    assert report.estimate_s == pytest.approx(sum(t.weight * t.best_latency_s
                                                  for t in report.tasks))
    table = report.table()
    for name in names:
        assert name in table
    assert "model estimate" in table
    with Database(str(db)) as opened:
        assert len(opened) == 8 and len(opened.workloads()) == len(names)


def test_build_with_the_database_uses_the_tuned_kernels(tuned, mod, model, x):
    db, report = tuned
    optimized = tvmscript.optimize_model(mod, TARGET, database=str(db))
    sources = schedule_sources(optimized)
    for task in report.tasks:
        assert sources[task.name] == "database"
    got = tvmscript.build(mod, TARGET, database=str(db))["main"](x)
    np.testing.assert_allclose(got, onnxruntime_output(model, x), rtol=1e-4, atol=1e-4)
    untuned = schedule_sources(tvmscript.optimize_model(mod, TARGET))
    assert set(untuned.values()) <= {"default", "as written"}


def test_a_fresh_process_builds_from_the_database(tuned, model, x, tmp_path):
    db, _ = tuned
    onnx_path, x_path = tmp_path / "m.onnx", tmp_path / "x.npy"
    tiny_cnn(onnx_path)
    np.save(x_path, x)
    code = textwrap.dedent(f"""
        import numpy as np, tvmscript
        from tuner.default_schedule import schedule_sources
        mod = tvmscript.frontend.from_onnx({str(onnx_path)!r})
        opt = tvmscript.optimize_model(mod, {TARGET!r}, database={str(db)!r})
        print(sorted(set(schedule_sources(opt).values())))
        ex = tvmscript.build(mod, {TARGET!r}, database={str(db)!r})
        np.save({str(tmp_path / 'y.npy')!r}, ex["main"](np.load({str(x_path)!r})))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "'database'" in done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(model, x),
                               rtol=1e-4, atol=1e-4)


def test_tune_model_resumes_from_its_database(tuned, mod, tmp_path):
    db, first = tuned
    copy = tmp_path / "copy.db"
    with Database(str(db)) as src:
        src._conn.execute(f"VACUUM INTO '{copy}'")
    report = tvmscript.tune_model(mod, TARGET, str(copy), trials=3, trials_per_round=3,
                                  progress=False, workers=1, tasks=[first.tasks[0].name],
                                  search="random", cost_model="random")
    # the records already stored count: the one task resumes its history, then 3 more
    assert report.tasks[0].trials == first.tasks[0].trials + 3
    assert report.tasks[0].best_latency_s <= first.tasks[0].best_latency_s


def test_round_robin_and_a_time_budget(mod):
    report = tvmscript.tune_model(mod, TARGET, None, time_budget_s=1.0, strategy="round-robin",
                                  trials_per_round=2, progress=False, workers=1,
                                  search="random", cost_model="random")
    assert "time_budget_s=1" in report.message
    assert Path(report.database).exists()  # a temporary database, named in the report
    assert all(t.trials >= 1 for t in report.tasks)  # every baseline was measured


def test_tune_model_errors_name_what_is_wrong(mod, tmp_path):
    with pytest.raises(ValueError, match="tasks=\\['nope'\\]: no such kernel"):
        tvmscript.tune_model(mod, TARGET, None, trials=1, tasks=["nope"], progress=False)
    with pytest.raises(ValueError, match="unknown strategy"):
        tvmscript.tune_model(mod, TARGET, None, trials=1, strategy="fast")
    with pytest.raises(ValueError, match="time_budget_s must be a positive"):
        tvmscript.tune_model(mod, TARGET, None, time_budget_s=-5)
    with pytest.raises(ValueError, match="unknown runner 'cluster'"):
        tvmscript.tune_model(mod, TARGET, None, trials=1, runner="cluster")
    with pytest.raises(ValueError, match="no graph-level function"):
        tvmscript.tune_model(tvmscript.IRModule({}), TARGET, None, trials=1)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 10)
    before = corrupt.read_bytes()
    with pytest.raises(DatabaseError, match="not a tuning database"):
        tvmscript.tune_model(mod, TARGET, str(corrupt), trials=1, progress=False)
    assert corrupt.read_bytes() == before
