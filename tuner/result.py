"""What ``tune`` returns: the best program, its trace and speed, and every measurement in order.

``history`` holds one entry per measured candidate (resumed records first, as round 0) so that
anyone can redraw the curves; ``plot`` draws the two the issue asks for. ``flop_count`` counts the
floating-point work of the unscheduled function, so GFLOPS compare across schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tvmscript.ir import PrimFunc
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.ir.functor import Visitor
from tvmscript.schedule import Trace


@dataclass
class HistoryEntry:
    """One measured candidate. ``latency_s`` is the best run (None when it failed, and then
    ``error`` says why); ``predicted`` is the cost model's score when it ranked the candidate;
    ``elapsed_s`` the seconds from the start of the task's tuning to when its result came in
    (0 for records resumed from a database), so curves can be drawn against time too."""

    trace: Trace
    latency_s: float | None
    error: str | None
    predicted: float | None
    round: int
    median_s: float | None = None
    task: str = ""
    elapsed_s: float = 0.0


@dataclass
class TuneResult:
    """The outcome of a tuning run. ``best`` is called exactly like the tuned function."""

    func: Any
    target: str
    best: Any = None
    best_trace: Trace | None = None
    best_latency_s: float | None = None
    flops: int = 0
    history: list[HistoryEntry] = field(default_factory=list)
    message: str = ""
    tasks: dict[str, TuneResult] = field(default_factory=dict)
    wall_s: float = 0.0
    phase_s: dict[str, float] = field(default_factory=dict)
    """Where the wall time went: ``search`` (proposing: replays, features, ranking), ``build``
    (compiling candidates, and the one run of the unscheduled function whose outputs every
    candidate is checked against) and ``run`` (timing candidates), ``train`` (cost-model
    updates). A custom measurer that reports no ``run_s`` counts all its time as ``build``."""

    @property
    def best_gflops(self) -> float | None:
        if not self.best_latency_s or not self.flops:
            return None
        return self.flops / self.best_latency_s / 1e9

    @property
    def errors(self) -> int:
        return sum(1 for h in self.history if h.latency_s is None)

    def __str__(self) -> str:
        lat = "none" if self.best_latency_s is None else f"{self.best_latency_s * 1e3:.4g} ms"
        gf = "" if self.best_gflops is None else f", {self.best_gflops:.3g} GFLOPS"
        return (f"TuneResult({len(self.history)} measured, {self.errors} failed, best {lat}{gf}"
                f"{'; ' + self.message if self.message else ''})")

    def curves(self) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float]]]:
        """(trial numbers, best GFLOPS so far, [(round, median GFLOPS of its measured ones)])."""
        gflops = [self._gflops(h.latency_s) for h in self.history]
        best, so_far = [], 0.0
        for g in gflops:
            so_far = max(so_far, g)
            best.append(so_far)
        rounds: dict[int, list[float]] = {}
        for h, g in zip(self.history, gflops):
            if h.latency_s is not None:
                rounds.setdefault(h.round, []).append(g)
        medians = [(r, float(np.median(v))) for r, v in sorted(rounds.items())]
        return np.arange(1, len(best) + 1), np.array(best), medians

    def _gflops(self, latency_s: float | None) -> float:
        if latency_s is None or latency_s <= 0:
            return 0.0
        return self.flops / latency_s / 1e9 if self.flops else 1.0 / latency_s

    def plot(self, path: str | Path) -> Path:
        """Draw the best-so-far curve and each round's median measured GFLOPS into ``path``."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise ImportError("TuneResult.plot needs matplotlib: pip install 'tvmscript[tune]'"
                              ) from err
        trials, best, medians = self.curves()
        unit = "GFLOPS" if self.flops else "1 / latency (1/s)"
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(trials, best, label="best so far")
        ends = self._round_ends()
        if medians:
            ax.plot([ends[r] for r, _ in medians], [m for _, m in medians], "o--",
                    label="round median (measured)")
        ax.set_xlabel("trials")
        ax.set_ylabel(unit)
        ax.set_title(f"tuning {getattr(self.func, 'name', '') or 'function'} on {self.target}")
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path)
        plt.close(fig)
        return path

    def _round_ends(self) -> dict[int, int]:
        ends: dict[int, int] = {}
        for i, h in enumerate(self.history, 1):
            ends[h.round] = i
        return ends


# ----------------------------------------------------------------------------- flops


_FLOAT_OPS = (E.Add, E.Sub, E.Mul, E.Div, E.Min, E.Max)


class _FlopCounter(Visitor):
    """Float operations of every store, times the iterations of the loops around it."""

    def __init__(self) -> None:
        self.total = 0
        self.trips = [1]

    def visit_For(self, node: S.For) -> None:
        extent = node.extent.value if isinstance(node.extent, E.IntImm) else 1
        self.trips.append(self.trips[-1] * extent)
        self.visit(node.body)
        self.trips.pop()

    def visit_Block(self, node: S.Block) -> None:
        self.visit(node.body)  # the init (C = 0) is not arithmetic

    def visit_BufferStore(self, node: S.BufferStore) -> None:
        self.total += self.trips[-1] * _ops(node.value) * max(node.value.dtype.lanes, 1)


def _ops(e: Any) -> int:
    """Float arithmetic operations in an expression (a call of a math function counts one)."""
    if isinstance(e, _FLOAT_OPS):
        own = 1 if e.dtype.is_float else 0
        return own + _ops(e.a) + _ops(e.b)
    if isinstance(e, E.Call):
        own = 1 if e.dtype.is_float and e.op.startswith("tir.") else 0
        return own + sum(_ops(a) for a in e.args if isinstance(a, E.PrimExpr))
    if isinstance(e, E.Select):
        return _ops(e.true_value) + _ops(e.false_value)
    if isinstance(e, (E.Cast, E.Not)):
        return _ops(e.value if isinstance(e, E.Cast) else e.a)
    return 0


def flop_count(func: PrimFunc) -> int:
    """Floating-point operations of one call of ``func`` (loop nests with constant extents;
    a loop of symbolic extent counts once). A matmul of n³ multiply-adds counts 2·n³."""
    counter = _FlopCounter()
    counter.visit(func.body)
    return counter.total


__all__ = ["HistoryEntry", "TuneResult", "flop_count"]
