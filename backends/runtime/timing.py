"""Timing helpers that the demo, the benchmarks and the tutorials share: the only code that
measures wall time, so every figure is taken the same way (interleaved, best of several)."""

from __future__ import annotations

import time
from typing import Callable


def interleaved(fa: Callable[[], object], fb: Callable[[], object], rounds: int = 7,
                pause: float = 0.0) -> tuple[float, float]:
    """Best seconds per call of ``fa`` and ``fb``, called alternately (fair under a noisy
    machine), each after ``pause`` seconds (OpenBLAS's threads keep spinning ~0.1 s after a
    call and would steal a core from whatever is timed next)."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(rounds):
        time.sleep(pause)
        start = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - start)
        time.sleep(pause)
        start = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - start)
    return min(ta), min(tb)


def best_of(fn: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    """Seconds per call: the best of ``repeat`` rounds of ``number`` calls (after a warm-up)."""
    fn()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - start) / number)
    return min(rounds)
