"""The node side of ``RayMeasurer`` (``tuner.ray_runner``): what runs on each Ray node.

``_Probe`` answers, once per node, what the node's CPU is and whether it runs the target's
code; ``_Worker`` is the actor that wraps a local ``Measurer`` and measures the driver's
candidates there, switching from task to task. Both are plain classes here; the driver makes
them Ray actors (``ray.remote``), so this module imports nothing from Ray at module level.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .measure import Candidate, MeasureError, Measurer, MeasureResult


# ---------------------------------------------------------------- on the nodes
class _Probe:
    """A short-lived actor pinned to one node (an actor, not a task, so that it is killed
    outright afterwards: a pooled Ray worker that loaded LLVM sometimes aborted on its way out)."""

    def probe(self, target: str) -> dict[str, Any]:
        """What the node says about itself: its CPU, whether code for ``target`` runs there,
        and a fingerprint of its compiler (every node should run the same one)."""
        import socket

        import ray

        from backends.target import Target, cross_compile_reason, host_cpu_features, host_cpu_name

        return {"node_id": ray.get_runtime_context().get_node_id(),
                "host": socket.gethostname(), "cpu": host_cpu_name(),
                "features": _enabled(host_cpu_features()), "model": cpu_model(),
                "reason": cross_compile_reason(Target.parse(target)),
                "fingerprint": compiler_fingerprint()}


def _enabled(features: str) -> frozenset[str]:
    return frozenset(f[1:] for f in features.split(",") if f.startswith("+"))


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``), for messages and benchmark tables."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def compiler_fingerprint() -> str:
    """A hash of the compiler's sources: nodes that differ may build a candidate differently."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in ("tvmscript", "passes", "backends", "tuner"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _Text:
    """Stands in for a PrimFunc where only its script is needed (the local Measurer sends
    nothing else to its builders), so a worker does not parse each candidate twice."""

    def __init__(self, text: str) -> None:
        self.text = text

    def script(self) -> str:
        return self.text


def _worker_tempdir() -> str:
    """A directory for this worker process, under one parent per user; the directories of
    workers that were killed (they could not clean up) are removed on the way."""
    parent = Path(tempfile.gettempdir()) / f"tvmscript-ray-{os.getuid()}"
    parent.mkdir(exist_ok=True)
    for old in parent.glob("worker-*"):
        pid = old.name.rpartition("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            pass
    mine = parent / f"worker-{os.getpid()}"
    mine.mkdir(exist_ok=True)
    return str(mine)


class _Worker:
    """The Ray actor: a local ``Measurer`` on one node, switched from task to task."""

    def __init__(self, target: str, cpus: int, options: dict[str, Any],
                 omp_threads: str | None) -> None:
        # Ray sets OMP_NUM_THREADS to the actor's CPUs; kernels run here as on the driver
        if omp_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = omp_threads
        tempfile.tempdir = _worker_tempdir()  # where the Measurer keeps its libraries and logs
        self.target, self.cpus, self.options = target, cpus, options
        self.measurer = Measurer(target, workers=cpus, **options)
        self.task: int | None = None

    def ready(self) -> dict[str, Any]:
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    def measure(self, task: int, reference: str | None, scripts: list[str],
                best_s: float | None) -> list[MeasureResult]:
        from tvmscript.schedule import Trace

        if task != self.task:
            self._switch(reference)
            self.task = task
        if best_s is not None:  # the fastest any worker has seen: "far behind" is cluster-wide
            self.measurer.best_s = min(best_s, self.measurer.best_s or math.inf)
        return self.measurer.measure([Candidate(_Text(s), Trace()) for s in scripts])

    def _switch(self, reference: str | None) -> None:
        func = None
        if reference is not None:
            from tvmscript import from_source

            try:
                func = from_source(reference)
            except Exception as error:  # noqa: BLE001 - the task cannot be measured at all
                raise MeasureError(f"the reference function (check_against) does not parse on "
                                   f"this node: {type(error).__name__}: {error}") from None
        if hasattr(self.measurer, "set_task"):
            self.measurer.set_task(func)
            return
        self.measurer.close()  # a Measurer without set_task: a fresh one per task
        self.measurer = Measurer(self.target, workers=self.cpus, check_against=func,
                                 **self.options)

    def close(self) -> bool:
        self.measurer.close()
        shutil.rmtree(tempfile.gettempdir(), ignore_errors=True)
        return True


__all__ = ["compiler_fingerprint", "cpu_model"]
