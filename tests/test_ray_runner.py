"""Measuring on a Ray cluster (``tuner.ray_runner.RayMeasurer``), on a real local cluster of two
nodes in this machine: results agree with the local ``Measurer`` (wrong results caught), a
candidate that segfaults is recorded and the workers live on, a worker killed or stopped
mid-batch and a node removed mid-batch lose only the candidates in flight, which are retried
and succeed; ``set_task`` switches the reference; ``tune`` runs end to end on it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

try:
    import ray
    from ray.cluster_utils import Cluster
except ImportError:  # the optional extra: pip install "tvmscript[ray]"
    pytest.skip("ray is not installed (the optional extra tvmscript[ray])", allow_module_level=True)

import tvmscript
from backends.target import host_cpu_name
from tuner.measure import Candidate, Measurer, MeasureResult
from tuner.ray_runner import RayMeasurer, cpu_model, import_ray
from tuner.tune import tune
from tvmscript import Schedule, Trace

REPEATS = 3
MM_TEXT = '''
@T.prim_func
def mm(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"),
       C: T.Buffer((64, 64), "float32")):
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''
MM = tvmscript.from_source(MM_TEXT)
WRONG_MM = tvmscript.from_source(MM_TEXT.replace("* B[vk, vj]", "* B[vk, vj] * T.float32(2)"))


def prim(body: str) -> tvmscript.PrimFunc:
    params = 'A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")'
    return tvmscript.from_source(f"@T.prim_func\ndef f({params}):\n{body}")


DOUBLE = prim("    for i in range(64):\n        B[i] = A[i] * T.float32(2)\n")
TRIPLE = prim("    for i in range(64):\n        B[i] = A[i] * T.float32(3)\n")
# 2^30 elements apart: the compiler cannot prove it out of bounds, the MMU can
SEGFAULTS = prim("    for i in range(64):\n        B[i * 1073741824 + 1073741823] = A[i]\n")


def split(factor: int) -> Candidate:
    sch = Schedule(MM)
    i, j, k = sch.get_loops(sch.get_block("C"))
    io, ii = sch.split(i, [None, factor])
    sch.reorder(io, j, k, ii)
    return Candidate(sch.func, sch.trace)


def cand(func: tvmscript.PrimFunc) -> Candidate:
    return Candidate(func, Trace())


@pytest.fixture(scope="module")
def cluster():
    """A head node (3 CPUs: the shared measurer's two workers, one more for the node-failure
    test) on this machine; tests add and remove nodes beside it."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private loopback cluster
    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, connect=True,
                head_node_args={"num_cpus": 3, "include_dashboard": False})
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def measurer(cluster):
    """Two workers of one CPU each; every test sets its own task first."""
    # a generous build deadline: CI machines are loaded (the tests run two files at a time)
    with RayMeasurer("llvm", timeout_s=5.0, repeats=REPEATS, num_cpus=1, workers=2,
                     max_in_flight=3, slow_factor=None) as m:
        yield m


def assert_ok(result: MeasureResult) -> None:
    assert result.error is None, result.error
    assert len(result.latencies_s) == REPEATS and all(t > 0 for t in result.latencies_s)
    assert result.build_s > 0 and result.run_s > 0


def when_busy(m: RayMeasurer, action) -> threading.Thread:
    """Call ``action(worker)`` (a ``stats["workers"]`` entry, with its ``handle``) on each
    worker that has a candidate in flight, until it returns True."""
    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for w, handle in zip(m.stats["workers"], m.actors):
                if w["in_flight"] and w["pid"] is not None and action({**w, "handle": handle}):
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_results_agree_with_the_local_measurer(measurer: RayMeasurer) -> None:
    batch = [split(4), cand(WRONG_MM), split(8), cand(MM), split(16)]
    measurer.set_task(MM)
    remote = measurer.measure(batch)
    with Measurer("llvm", workers=1, timeout_s=10.0, repeats=REPEATS, check_against=MM,
                  slow_factor=None) as local_measurer:
        local = local_measurer.measure(batch)
    assert [r.error is None for r in remote] == [r.error is None for r in local] \
        == [True, False, True, True, True]
    assert remote[1].error.startswith("wrong result: max abs error")
    assert remote[1].error == local[1].error  # the same inputs on every worker
    for r in remote[:1] + remote[2:]:
        assert_ok(r)
        assert r.latency_s < 2.0  # a 64³ matmul: far under the timeout
    assert measurer.best_s == min(r.latency_s for r in remote if r.ok)
    assert 0 < measurer.stats["peak_in_flight"] <= 3  # max_in_flight holds


def test_a_killed_worker_loses_only_its_candidates_which_are_retried(
        measurer: RayMeasurer) -> None:
    measurer.set_task(MM)
    before = measurer.stats
    killer = when_busy(measurer, lambda w: ray.kill(w["handle"]) or True)
    results = measurer.measure([split(f) for f in (2, 4, 8, 16, 32, 2)])
    killer.join()
    for r in results:
        assert_ok(r)
    after = measurer.stats
    assert after["workers_lost"] == before["workers_lost"] + 1
    assert after["retried"] > before["retried"] and after["lost"] == before["lost"]
    assert len(after["workers"]) == 2  # the dead worker was replaced (the node has room)


def test_a_stopped_worker_is_killed_after_its_deadline_and_its_candidates_retried(
        measurer: RayMeasurer) -> None:
    measurer.set_task(DOUBLE)
    measurer.measure([cand(DOUBLE)] * 2)  # both workers started and set up for the task
    before = measurer.stats
    measurer.actor_timeout_s = 1.0  # deadline: 2 x timeout_s + 1 s for a call of one
    stopped: list[int] = []

    def stop(worker: dict) -> bool:
        os.kill(worker["pid"], signal.SIGSTOP)  # alive but silent: a hung worker, not candidate
        stopped.append(worker["pid"])
        return True

    stopper = when_busy(measurer, stop)
    try:
        results = measurer.measure([cand(DOUBLE)] * 4)
    finally:
        measurer.actor_timeout_s = 300.0
        stopper.join()
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    for r in results:
        assert_ok(r)
    after = measurer.stats
    assert stopped and after["hung"] == before["hung"] + 1
    assert after["retried"] > before["retried"]
    assert stopped[0] not in [w["pid"] for w in after["workers"]]


def test_a_crashing_candidate_is_recorded_and_the_workers_live_on(
        measurer: RayMeasurer) -> None:
    measurer.set_task(DOUBLE)
    before = measurer.stats
    ok, crashed, ok_again = measurer.measure([cand(DOUBLE), cand(SEGFAULTS), cand(DOUBLE)])
    assert crashed.error == "crashed: the runner died of SIGSEGV (signal 11)"
    assert crashed.latencies_s is None
    assert_ok(ok)
    assert_ok(ok_again)
    after = measurer.stats
    assert after["workers_lost"] == before["workers_lost"] and after["retried"] == before["retried"]


def test_set_task_switches_the_reference(measurer: RayMeasurer) -> None:
    measurer.set_task(DOUBLE)
    (double,) = measurer.measure([cand(DOUBLE)])
    assert_ok(double)
    assert measurer.best_s is not None
    measurer.set_task(TRIPLE)
    assert measurer.best_s is None  # "far behind the best" is per task
    as_double, as_triple = measurer.measure([cand(DOUBLE), cand(TRIPLE)])
    assert as_double.error.startswith("wrong result: max abs error ")
    assert "in output 'B' (64 of 64 elements differ" in as_double.error
    assert_ok(as_triple)
    measurer.set_task(None)  # no check
    assert_ok(measurer.measure([cand(DOUBLE)])[0])
    with pytest.raises(TypeError, match="set_task takes the task's PrimFunc"):
        measurer.set_task("DOUBLE")


def test_a_node_that_dies_mid_batch_loses_only_the_candidates_in_flight(cluster) -> None:
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    with RayMeasurer("llvm", check_against=MM, timeout_s=10.0, repeats=REPEATS, num_cpus=1,
                     workers=2, slow_factor=None) as m:
        assert sorted(w["node_id"] == node.node_id for w in m.stats["workers"]) == [False, True]
        ray.get([h.ready.remote() for h in m.actors])  # both started: each gets candidates
        remover = when_busy(m, lambda w: w["node_id"] == node.node_id
                            and cluster.remove_node(node) is None)
        results = m.measure([split(f) for f in (2, 4, 8, 16, 32, 2)])
        remover.join()
        for r in results:
            assert_ok(r)
        stats = m.stats
        assert node.node_id not in stats["nodes"]  # gone, and nothing is placed there again
        assert stats["workers_lost"] >= 1 and stats["retried"] >= 1 and stats["lost"] == 0
        assert all(w["node_id"] != node.node_id for w in stats["workers"])  # replaced on the head


def test_tune_runs_on_the_cluster(measurer: RayMeasurer) -> None:
    measurer.set_task(DOUBLE)  # tune switches it to its own task
    result = tune(MM, target="llvm", trials=8, trials_per_round=4, seed=0, cost_model="random",
                  search="random", progress=False, runner=measurer)
    assert len(result.history) == 8 and result.errors == 0
    rng = np.random.default_rng(0)
    a, b = (rng.random((64, 64), dtype="float32") for _ in range(2))
    c = np.zeros((64, 64), "float32")
    tvmscript.build(result.best)[MM.name](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_tune_model_measures_every_kernel_on_the_cluster(measurer: RayMeasurer,
                                                         tmp_path) -> None:
    """A whole model's kernels measured by the Ray workers (the measurer switches task for
    each), stored, and built from the database into numbers onnxruntime agrees with."""
    pytest.importorskip("onnx", reason="the test model is an ONNX graph (the onnx package)")
    pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for the numbers")
    sys.path.insert(0, os.path.dirname(__file__))
    from small_models import INPUT_SHAPE, onnxruntime_output, tiny_cnn

    model = tiny_cnn()
    mod = tvmscript.frontend.from_onnx(model)
    before = sum(measurer.stats["measured"].values())
    db = tmp_path / "model.db"
    report = tvmscript.tune_model(mod, "llvm", str(db), trials=6, trials_per_round=2,
                                  runner=measurer, search="random", cost_model="random",
                                  progress=False)
    assert report.trials == 6 and all(t.best_latency_s for t in report.tasks)
    assert sum(measurer.stats["measured"].values()) - before == 6
    x = np.random.default_rng(2).standard_normal(INPUT_SHAPE).astype("float32")
    got = tvmscript.build(mod, "llvm", database=str(db))["main"](x)
    np.testing.assert_allclose(got, onnxruntime_output(model, x), rtol=1e-4, atol=1e-4)


def test_no_node_with_the_target_cpu_is_a_clear_error(cluster) -> None:
    with pytest.raises(ValueError) as info:
        RayMeasurer("llvm -mtriple=aarch64-linux-gnu")
    message = str(info.value)
    assert message.startswith("cannot measure on target 'llvm -mtriple=aarch64-linux-gnu': no "
                               "node of the Ray cluster can run it. The nodes: ")
    assert f"{cpu_model()}, LLVM CPU {host_cpu_name()}: it was compiled for aarch64" in message


def test_bad_options_are_refused(cluster) -> None:
    with pytest.raises(ValueError, match="the target must be 'llvm'"):
        RayMeasurer("interpreter")
    with pytest.raises(ValueError, match="max_in_flight must be a positive integer, got 0"):
        RayMeasurer(max_in_flight=0)
    with pytest.raises(ValueError, match="timeout_s must be a positive number of seconds"):
        RayMeasurer(timeout_s=-1)
    with pytest.raises(TypeError, match=r"unknown options \['worker'\]"):
        RayMeasurer(worker=2)
    with pytest.raises(ValueError, match=r"num_cpus=64: no node that can run 'llvm' has that "
                                         r"many CPUs \(.*: .*, LLVM CPU .*, 3 CPUs"):
        RayMeasurer(num_cpus=64)


def test_without_ray_the_error_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when not installed
    with pytest.raises(ImportError, match=r'pip install "tvmscript\[ray\]"'):
        import_ray()
