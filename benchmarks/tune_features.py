"""Features per second: how fast ``tuner.features`` reads scheduled candidates.

Extracts the per-store features of the tutorial's tiled, packed, vectorized, parallel 1024^3
matmul (five schedules along the tutorial's steps) and of the naive matmul, many times, and
prints candidates per second (target: >= 200 on the tiled matmul, to keep up with the search),
plus the time one XGBModel update takes on that many candidates.

Run: ``python benchmarks/tune_features.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tutorials"))

import numpy as np
import optimize_matmul_cpu as tutorial

import tvmscript
from backends.runtime.timing import best_of
from tuner.features import FEATURE_COUNT, extract_features


def schedules() -> list:
    """The function after each of the tutorial's steps (naive first, fully scheduled last)."""
    sch = tvmscript.Schedule(tutorial.matmul)
    funcs = [sch.mod]
    for _, step in tutorial.STEPS:
        if step is not None:
            step(sch)
            funcs.append(sch.mod)
    return funcs


def rate(funcs: list, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        for f in funcs:
            extract_features(f)
    return repeats * len(funcs) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args(argv)
    funcs = schedules()
    print(f"CPU: {platform.processor() or platform.machine()}, features: {FEATURE_COUNT}")
    print(f"tiled matmul (tutorial's final schedule): {rate(funcs[-1:], args.repeats):7.1f} "
          "candidates/s")
    print(f"naive matmul:                             {rate(funcs[:1], args.repeats):7.1f} "
          "candidates/s")
    print(f"all tutorial steps:                       {rate(funcs, args.repeats // 4 or 1):7.1f} "
          "candidates/s")

    from tuner.cost_model import XGBModel

    rng = np.random.default_rng(0)
    n = 512
    base = [extract_features(f) for f in funcs]
    cands = [SimpleNamespace(func=None, trace=None, workload="mm",
                             features=base[i % len(base)] * rng.uniform(0.9, 1.1))
             for i in range(n)]
    results = [SimpleNamespace(latency_s=float(rng.uniform(1e-3, 1e-1))) for _ in range(n)]
    model = XGBModel()
    start = time.perf_counter()
    model.update(cands, results)
    print(f"XGBModel.update on {n} candidates: {time.perf_counter() - start:.2f} s; "
          f"predict: {best_of(lambda: model.predict(cands), repeat=3) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
