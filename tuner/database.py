"""The tuning database: every measured candidate of every workload, in one SQLite file.

Tables (schema version ``SCHEMA_VERSION``):

* ``tvmscript_meta(key, value)`` — ``format = tvmscript-tuning`` and ``version``: what makes a
  file ours. A SQLite file without it is someone else's and is never touched.
* ``workloads(id, shash, target, target_spec, script, created)`` — one row per (function,
  target). ``shash`` is a structural hash of the function that is the same in every process
  (``stable_structural_hash``; the IR's ``structural_hash`` uses Python's randomized ``hash``),
  ``target`` the canonical target key (``target_key``), ``script`` the function's text.
* ``records(id, workload_id, trace, latencies, latency, error, build_s, run_s, round,
  predicted, created)`` — one row per measured candidate: the trace as ``Trace.to_json``, all
  repeat latencies as JSON, their minimum (indexed, for ``best``), the error when it failed.

Writes happen in transactions (``with db.transaction(): ...`` groups a batch; a lone ``commit``
is its own). The file is in WAL mode, so a ``kill -9`` mid-batch loses only that batch: the
committed ones are in the file and the next run resumes from them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


from tvmscript.ir import PrimFunc
from tvmscript.ir.structural import stable_structural_hash
from tvmscript.schedule import Trace

FORMAT = "tvmscript-tuning"
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE tvmscript_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE workloads (
    id INTEGER PRIMARY KEY, shash TEXT NOT NULL, target TEXT NOT NULL,
    target_spec TEXT NOT NULL, script TEXT NOT NULL, created REAL NOT NULL,
    UNIQUE (shash, target));
CREATE TABLE records (
    id INTEGER PRIMARY KEY, workload_id INTEGER NOT NULL REFERENCES workloads(id),
    trace TEXT NOT NULL, latencies TEXT, latency REAL, error TEXT,
    build_s REAL NOT NULL, run_s REAL NOT NULL, round INTEGER, predicted REAL,
    created REAL NOT NULL);
CREATE INDEX records_by_latency ON records (workload_id, latency);
"""
_TABLES = {"tvmscript_meta", "workloads", "records"}


class DatabaseError(Exception):
    """The file is not a tuning database, or is damaged; the message names the file."""


@dataclass(frozen=True)
class Workload:
    """A (function, target) pair the database holds records for."""

    id: int
    shash: str
    target: str
    script: str

    def func(self) -> PrimFunc:
        """The function, parsed back from its script."""
        from tvmscript import from_source

        return from_source(self.script)


@dataclass(frozen=True)
class Record:
    """One measured candidate of ``workload``."""

    workload: Workload
    trace: Trace
    latencies_s: list[float] | None
    error: str | None
    build_s: float
    run_s: float
    round: int | None
    predicted: float | None
    created: float

    @property
    def latency_s(self) -> float | None:
        return self.result().latency_s

    @property
    def median_s(self) -> float | None:
        return self.result().median_s

    def result(self) -> Any:
        """This record as the ``MeasureResult`` it was made from."""
        from .measure import MeasureResult

        return MeasureResult(self.latencies_s, self.error, self.build_s, self.run_s)


# ---------------------------------------------------------------- identity
def target_key(target: Any) -> str:
    """The part of a target that decides whether a tuned schedule applies: kind, the CPU (with
    ``native`` / unset resolved to this machine's CPU name and a digest of its feature list, since
    one name can cover machines with different features), ``-mattr``, the triple and the options
    that change code (``-parallel``, ``-fp-contract``), in a fixed order. So ``llvm`` and
    ``llvm -mcpu=native`` are the same workload target on one machine, and records made on
    another CPU do not apply here."""
    from backends.target import Target, host_cpu_features

    t = Target.parse(target)
    if t.kind not in ("llvm", "c"):
        return t.kind
    parts = [t.kind, f"-mcpu={t.cpu}"]
    if t.mcpu in ("", "native") and t.is_host_triple:
        digest = hashlib.sha256(host_cpu_features().encode()).hexdigest()[:12]
        parts.append(f"-features={digest}")
    if t.mattr:
        parts.append("-mattr=" + ",".join(sorted(t.mattr)))
    parts.append(f"-mtriple={t.triple}")
    parts.extend(f"-{k}={v}" for k, v in sorted(t.options))
    return " ".join(parts)


# ---------------------------------------------------------------- the database
class Database:
    """A tuning database in the SQLite file ``path`` (created when missing or empty).

    Opening an existing file only reads it until it is known to be ours and intact: a file that
    is not SQLite, a SQLite file without our tables, another schema version, or a damaged file
    raises ``DatabaseError`` and is left exactly as it was."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._depth = 0
        fresh = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        if not fresh:
            _check_file(self.path)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as error:
            raise DatabaseError(f"{self.path}: cannot open: {error}") from None
        try:
            if fresh:
                self._create()
            else:
                self._check_schema()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise DatabaseError(f"{self.path}: damaged or not a SQLite database: {error}") from None
        except DatabaseError:
            self._conn.close()
            raise

    def _create(self) -> None:
        with self.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.executemany("INSERT INTO tvmscript_meta VALUES (?, ?)",
                                   [("format", FORMAT), ("version", str(SCHEMA_VERSION))])

    def _check_schema(self) -> None:
        """Reads only (no write before this passes, so a foreign file stays untouched)."""
        tables = {row[0] for row in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "tvmscript_meta" not in tables:
            listed = ", ".join(sorted(tables)) or "none"
            raise DatabaseError(f"{self.path}: a SQLite database but not a tvmscript tuning "
                                f"database (no tvmscript_meta table; its tables: {listed})")
        check = self._conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            problems = "; ".join(str(row[0]) for row in check[:3])
            raise DatabaseError(f"{self.path}: damaged tuning database: {problems}")
        meta = dict(self._conn.execute("SELECT key, value FROM tvmscript_meta"))
        if meta.get("format") != FORMAT:
            raise DatabaseError(f"{self.path}: not a tvmscript tuning database (format "
                                f"{meta.get('format')!r}, expected {FORMAT!r})")
        if meta.get("version") != str(SCHEMA_VERSION):
            raise DatabaseError(f"{self.path}: tuning database version {meta.get('version')}, "
                                f"this tvmscript reads version {SCHEMA_VERSION}")
        if missing := _TABLES - tables:
            raise DatabaseError(f"{self.path}: tuning database lacks tables "
                                f"{', '.join(sorted(missing))}")

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Database:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside is one transaction: all of it lands, or none (nesting
        joins the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    # -------------------------------------------------------------- workloads
    def workload(self, func: PrimFunc, target: Any) -> Workload:
        """The workload of ``func`` on ``target``, added when new."""
        found = self.find_workload(func, target)
        if found is not None:
            return found
        shash, key = stable_structural_hash(func), target_key(target)
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO workloads (shash, target, target_spec, script, created) "
                "VALUES (?, ?, ?, ?, ?)", (shash, key, str(target), func.script(), time.time()))
        return Workload(cursor.lastrowid, shash, key, func.script())

    def find_workload(self, func: PrimFunc, target: Any) -> Workload | None:
        """The workload of ``func`` on ``target`` when the database has it (reads only)."""
        row = self._conn.execute(
            "SELECT id, shash, target, script FROM workloads WHERE shash = ? AND target = ?",
            (stable_structural_hash(func), target_key(target))).fetchone()
        return Workload(*row) if row else None

    def workloads(self) -> list[Workload]:
        rows = self._conn.execute("SELECT id, shash, target, script FROM workloads ORDER BY id")
        return [Workload(*row) for row in rows]

    # -------------------------------------------------------------- records
    def commit(self, workload: Workload, trace: Trace, result: Any, round: int | None = None,
               predicted: float | None = None) -> None:
        """Store one measured candidate (``result`` a ``MeasureResult``). Inside
        ``transaction()`` it joins that batch; alone it is its own transaction."""
        latencies = list(result.latencies_s) if result.latencies_s else None
        row = (workload.id, trace.to_json(), json.dumps(latencies) if latencies else None,
               min(latencies) if latencies else None, result.error, float(result.build_s),
               float(result.run_s), round, None if predicted is None else float(predicted),
               time.time())
        with self.transaction():
            self._conn.execute(
                "INSERT INTO records (workload_id, trace, latencies, latency, error, build_s, "
                "run_s, round, predicted, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def commit_batch(self, workload: Workload, entries: list[tuple]) -> None:
        """Store ``(trace, result[, round[, predicted]])`` entries in one transaction."""
        with self.transaction():
            for entry in entries:
                self.commit(workload, *entry)

    def records(self, workload: Workload | None = None) -> list[Record]:
        """The records of ``workload`` in the order they were made; all records when None
        (what a cost model pre-trains on)."""
        workloads = {w.id: w for w in self.workloads()}
        sql = ("SELECT workload_id, trace, latencies, error, build_s, run_s, round, predicted, "
               "created FROM records")
        args: tuple = ()
        if workload is not None:
            sql, args = sql + " WHERE workload_id = ?", (workload.id,)
        rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_record(workloads[row[0]], row) for row in rows]

    def best(self, workload: Workload) -> Record | None:
        """The fastest successful record of ``workload``."""
        row = self._conn.execute(
            "SELECT workload_id, trace, latencies, error, build_s, run_s, round, predicted, "
            "created FROM records WHERE workload_id = ? AND error IS NULL AND latency IS NOT "
            "NULL ORDER BY latency, id LIMIT 1", (workload.id,)).fetchone()
        return _record(workload, row) if row else None

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def _record(workload: Workload, row: tuple) -> Record:
    _, trace, latencies, error, build_s, run_s, rnd, predicted, created = row
    return Record(workload, Trace.from_json(trace), json.loads(latencies) if latencies else None,
                  error, build_s, run_s, rnd, predicted, created)


def is_database_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an SQLite file (a tuning database, or at least shaped like one),
    told from its first bytes; False for a file that cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _check_file(path: str) -> None:
    """Refuse, before SQLite opens it, a file that is not SQLite or is shorter than its header
    says (a truncated copy); both without writing anything."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as error:
        raise DatabaseError(f"{path}: cannot read: {error}") from None
    if not header.startswith(SQLITE_MAGIC):
        raise DatabaseError(f"{path}: not a tuning database (not a SQLite file: it starts with "
                            f"{header[:16]!r})")
    if len(header) < 100:
        raise DatabaseError(f"{path}: truncated SQLite file ({len(header)} bytes, shorter than "
                            "its 100-byte header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid = header[24:28] == header[92:96]  # the page count is trustworthy only then
    size = os.path.getsize(path)
    if valid and pages and size < pages * page_size:
        raise DatabaseError(f"{path}: truncated tuning database ({size} bytes; its header says "
                            f"{pages} pages of {page_size} bytes)")


def apply_best(func: PrimFunc, target: Any, db: Database | str | os.PathLike) -> PrimFunc | None:
    """``func`` scheduled by the best record for it on ``target``; None when the database has
    no successful record of that workload. ``db`` may be a path (opened and closed here)."""
    if not isinstance(db, Database):
        if not os.path.exists(db):
            return None
        with Database(db) as opened:
            return apply_best(func, target, opened)
    workload = db.find_workload(func, target)
    record = db.best(workload) if workload is not None else None
    if record is None:
        return None
    import tuner.space  # noqa: F401 - registers the primitives tuned traces use (compute_at_or_stay)

    try:
        return record.trace.apply_to(func).func
    except Exception as error:  # noqa: BLE001 - a stale record must not break a build
        warnings.warn(f"{db.path}: the best record of this workload does not replay on the "
                      f"function ({type(error).__name__}: {error}); using the default schedule",
                      stacklevel=2)
        return None


__all__ = ["Database", "DatabaseError", "Record", "Workload", "apply_best",
           "is_database_file",
           "stable_structural_hash", "target_key"]
