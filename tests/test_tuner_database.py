"""The tuning database: round trips, best, apply_best, a writer killed with SIGKILL, and files
that are not ours or are damaged (refused, and never modified)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmscript
from tuner.database import Database, DatabaseError, apply_best, stable_structural_hash, target_key
from tuner.measure import MeasureResult
from tvmscript import Schedule

TARGET = "llvm"
MATMUL_TEXT = '''
@T.prim_func
def mm(A: T.Buffer((32, 32), "float32"), B: T.Buffer((32, 32), "float32"),
       C: T.Buffer((32, 32), "float32")):
    for i, j, k in T.grid(32, 32, 32):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''
MATMUL = tvmscript.from_source(MATMUL_TEXT)


def scheduled(factor: int) -> Schedule:
    sch = Schedule(MATMUL)
    i, j, k = sch.get_loops(sch.get_block("C"))
    io, ii = sch.split(i, [None, factor])
    sch.reorder(io, j, k, ii)
    return sch


TRACE4 = scheduled(4).trace


def ok(*latencies: float) -> MeasureResult:
    return MeasureResult(list(latencies), None, 0.5, 0.25)


def test_records_round_trip_and_best(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Database(path) as db:
        w = db.workload(MATMUL, TARGET)
        with db.transaction():
            db.commit(w, scheduled(4).trace, ok(3e-3, 2e-3, 4e-3), round=0, predicted=0.5)
            db.commit(w, scheduled(8).trace, ok(1e-3, 1.5e-3), round=1, predicted=0.9)
            db.commit(w, scheduled(2).trace, MeasureResult(None, "timed out: 2 s", 0.1, 2.0),
                      round=1)
    with Database(path) as db:  # a new connection reads what the first wrote
        (w,) = db.workloads()
        assert db.workload(tvmscript.from_source(MATMUL_TEXT), "llvm -mcpu=native") == w
        records = db.records(w)
        assert [r.round for r in records] == [0, 1, 1]
        assert records[0].latencies_s == [3e-3, 2e-3, 4e-3]
        assert records[0].latency_s == 2e-3 and records[0].median_s == 3e-3
        assert records[0].predicted == 0.5 and records[0].build_s == 0.5
        assert records[2].error == "timed out: 2 s" and records[2].latency_s is None
        assert records[2].result() == MeasureResult(None, "timed out: 2 s", 0.1, 2.0)
        assert records[1].trace.as_python() == scheduled(8).trace.as_python()
        assert db.best(w).trace.as_python() == scheduled(8).trace.as_python()
        assert len(db) == 3
        assert [r.trace.as_python() for r in db.records()] == [r.trace.as_python() for r in records]
        assert tvmscript.structural_equal(w.func(), MATMUL)


def test_best_is_none_without_a_successful_record(tmp_path: Path) -> None:
    with Database(tmp_path / "t.db") as db:
        w = db.workload(MATMUL, TARGET)
        assert db.best(w) is None
        db.commit(w, scheduled(4).trace, MeasureResult(None, "crashed", 0.1, 0.1))
        assert db.best(w) is None


def test_apply_best_builds_the_program_the_trace_replays(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    assert apply_best(MATMUL, TARGET, path) is None  # no file: nothing applies
    with Database(path) as db:
        w = db.workload(MATMUL, TARGET)
        db.commit(w, scheduled(4).trace, ok(2e-3))
        db.commit(w, scheduled(8).trace, ok(1e-3))
        assert apply_best(MATMUL, "llvm -mtriple=aarch64-linux-gnu", db) is None
        other = tvmscript.from_source(MATMUL_TEXT.replace("32", "16"))
        assert apply_best(other, TARGET, db) is None
    best = apply_best(tvmscript.from_source(MATMUL_TEXT), TARGET, str(path))
    tvmscript.assert_structural_equal(best, scheduled(8).func)
    a, b = (np.random.default_rng(0).uniform(-1, 1, (32, 32)).astype("float32") for _ in "ab")
    c = np.zeros((32, 32), "float32")
    tvmscript.build(best, TARGET)["mm"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_workload_identity_is_stable_across_processes_and_renaming() -> None:
    renamed = tvmscript.from_source(MATMUL_TEXT.replace("vi", "x").replace("vk", "y"))
    assert stable_structural_hash(renamed) == stable_structural_hash(MATMUL)
    assert stable_structural_hash(scheduled(4).func) != stable_structural_hash(MATMUL)
    code = ("import tvmscript, sys; from tuner.database import stable_structural_hash as h;"
            "print(h(tvmscript.from_source(sys.stdin.read())))")
    other = subprocess.run([sys.executable, "-c", code], input=MATMUL_TEXT, text=True,
                           capture_output=True, check=True, env=_env())
    assert other.stdout.strip() == stable_structural_hash(MATMUL)
    assert target_key("llvm") == target_key("llvm -mcpu=native")
    assert target_key("llvm") != target_key("llvm -parallel=gomp")
    assert target_key("llvm -mattr=+fma,+avx2") == target_key("llvm -mattr=+avx2,+fma")


WRITER = textwrap.dedent('''
    import sys, time, tvmscript
    from tuner.database import Database
    from tuner.measure import MeasureResult
    from tvmscript import Trace
    db = Database(sys.argv[1])
    w = db.workload(tvmscript.from_source(sys.stdin.read()), "llvm")
    for batch in range(1000):
        with db.transaction():
            for i in range(5):
                db.commit(w, Trace(), MeasureResult([1e-3 + batch * 1e-6], None, 0.1, 0.1),
                          round=batch)
                if batch >= 3:
                    print("in batch", batch, flush=True)
                    time.sleep(0.05)
''')


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


def test_a_writer_killed_mid_batch_loses_only_that_batch(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=_env())
    proc.stdin.write(MATMUL_TEXT)
    proc.stdin.close()
    for line in proc.stdout:  # wait until it is inside batch 3, with 3 batches committed
        if line.startswith("in batch 3"):
            break
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Database(path) as db:  # opens (the WAL is recovered), and resumes
        (w,) = db.workloads()
        rounds = [r.round for r in db.records(w)]
        assert rounds == [0] * 5 + [1] * 5 + [2] * 5
        db.commit(w, scheduled(4).trace, ok(1e-4), round=3)
        assert db.best(w).round == 3


def test_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    with Database(tmp_path / "t.db") as db:
        w = db.workload(MATMUL, TARGET)
        with pytest.raises(KeyError), db.transaction():
            db.commit(w, scheduled(4).trace, ok(1e-3))
            raise KeyError("interrupted")
        assert db.records(w) == []
        db.commit_batch(w, [(scheduled(4).trace, ok(1e-3), 0), (scheduled(8).trace, ok(2e-3))])
        assert len(db.records(w)) == 2


def refused(path: Path, message: str) -> None:
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match=message) as info:
        Database(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before  # never modified
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0


def test_a_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes\n")
    refused(path, r"not a tuning database \(not a SQLite file: it starts with b'these are my n")


def test_someone_elses_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    refused(path, "a SQLite database but not a tvmscript tuning database "
                  r"\(no tvmscript_meta table; its tables: people\)")


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE tvmscript_meta SET value = '99' WHERE key = 'version'")
    conn.commit()
    conn.close()
    refused(path, "tuning database version 99, this tvmscript reads version 1")


def test_a_truncated_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Database(path) as db:
        w = db.workload(MATMUL, TARGET)
        db.commit_batch(w, [(scheduled(f).trace, ok(1e-3)) for f in (2, 4, 8, 16)] * 20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(path, r"truncated tuning database \(\d+ bytes; its header says \d+ pages")


def test_a_corrupted_page_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Database(path) as db:
        w = db.workload(MATMUL, TARGET)
        db.commit_batch(w, [(scheduled(f).trace, ok(1e-3)) for f in (2, 4, 8, 16)] * 20)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page + 8: 2 * page] = b"\xff" * (page - 8)  # garbage over the second page
    path.write_bytes(bytes(data))
    refused(path, "damaged")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=5), min_size=1,
                max_size=8))
def test_best_is_the_fastest_successful_record(tmp_path_factory, latencies) -> None:
    with Database(tmp_path_factory.mktemp("db") / "t.db") as db:
        w = db.workload(MATMUL, TARGET)
        db.commit_batch(w, [(TRACE4, ok(*ls), n) for n, ls in enumerate(latencies)])
        fastest = min(range(len(latencies)), key=lambda n: (min(latencies[n]), n))
        assert db.best(w).round == fastest
        assert db.best(w).latency_s == min(min(ls) for ls in latencies)
