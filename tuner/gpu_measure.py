"""Measuring candidates for a cuda target: built with NVRTC and timed on this machine's GPU.

The CPU ``Measurer`` runs exported libraries in child processes; a CUDA module cannot be
exported that way, and a GPU context is best kept in one process, so candidates are built and
timed here, with the operands kept on the device between calls. ``tune(..., target="cuda")``
uses this measurer (``tune.make_measurer``); without a GPU, ``check_target`` refuses the target
up front with the reason. Constructed directly with ``target="cuda-emulator"`` it runs the same
steps on the emulator (its timings say nothing about a GPU): that is how CI checks the path.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tuner.measure import ATOL, RTOL, Candidate, ClosedOnExit, MeasureResult, check_target
from tvmscript.ir import PrimFunc


class GPUMeasurer(ClosedOnExit):
    """Builds candidates with NVRTC and times them on this machine's NVIDIA GPU, in this
    process: the operands stay on the device between calls, so a timing is the kernels' (and
    their launches'), not the copies'. Outputs are checked against ``check_against`` run on
    the CPU (the unscheduled function has no thread binding, so it cannot run on the GPU)."""

    def __init__(self, target: Any = "cuda", repeats: int = 5,
                 check_against: PrimFunc | None = None, min_repeat_s: float = 1e-3,
                 seed: int = 0, **_: Any) -> None:
        from backends.target import Target

        parsed = Target.parse(target)
        # without a GPU check_target refuses a cuda target, with the reason; the emulator is
        # taken as given (see the module's docstring)
        self.target = parsed if parsed.kind == "cuda-emulator" else check_target(parsed)
        self.repeats, self.min_repeat_s, self.seed = repeats, min_repeat_s, seed
        self.best_s: float | None = None
        self.set_task(check_against)

    def set_task(self, check_against: PrimFunc | None) -> None:
        self.check_against, self.best_s, self._expected = check_against, None, None

    def close(self) -> None:
        pass

    def measure(self, candidates: list[Candidate]) -> list[MeasureResult]:
        return [self._measure(c) for c in candidates]

    def _measure(self, cand: Candidate) -> MeasureResult:
        from backends.build import build

        start = time.perf_counter()
        try:
            rt = build(cand.func, self.target)
        except Exception as exc:  # noqa: BLE001 - a candidate's failure, reported as such
            return MeasureResult(None, f"build failed: {type(exc).__name__}: {exc}",
                                 time.perf_counter() - start)
        build_s, start = time.perf_counter() - start, time.perf_counter()
        try:
            name = next(iter(rt.keys()))
            host = self._inputs(cand.func)
            args = [_to_device(a, self.target.kind) for a in host]
            rt[name](*args)
            if self.check_against is not None:
                self._check([_to_host(a) for a in args], cand.func)
            warm = rt.benchmark(name, *args, number=1, repeat=1)
            number = max(1, min(1000, int(self.min_repeat_s / max(warm, 1e-9)) + 1))
            latencies = [rt.benchmark(name, *args, number=number, repeat=1)
                         for _ in range(self.repeats)]
        except _Wrong as exc:
            return MeasureResult(None, str(exc), build_s, time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001
            return MeasureResult(None, f"runtime error: {type(exc).__name__}: {exc}", build_s,
                                 time.perf_counter() - start)
        result = MeasureResult(latencies, None, build_s, time.perf_counter() - start)
        self.best_s = min(result.latency_s, self.best_s or float("inf"))
        return result

    def _inputs(self, func: PrimFunc) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        out = []
        for p in func.params:
            buf = func.buffer_map[p]
            shape = [int(d.value) for d in buf.shape]
            dtype = np.dtype(buf.dtype.numpy_name())
            out.append(rng.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                       else rng.integers(0, 50, shape).astype(dtype))
        return out

    def _check(self, got: list[np.ndarray], func: PrimFunc) -> None:
        if self._expected is None:
            from backends.build import build

            want = self._inputs(func)
            rt = build(self.check_against, "llvm")
            rt[next(iter(rt.keys()))](*want)
            self._expected = want
        for i, (g, w) in enumerate(zip(got, self._expected)):
            if not np.allclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True):
                raise _Wrong(f"wrong result: max abs error {np.max(np.abs(g - w)):.3g} in "
                             f"argument {i}")


class _Wrong(Exception):
    pass


def _to_device(a: np.ndarray, kind: str) -> Any:
    if kind != "cuda":  # the emulator takes numpy arrays
        return a
    from backends.cuda.launch import to_device

    return to_device(a)  # in the context the kernels launch in (not pycuda.autoinit's)


def _to_host(a: Any) -> np.ndarray:
    if isinstance(a, np.ndarray):
        return a
    from backends.cuda.launch import to_host

    return to_host(a)
