"""Tuning throughput: trials per minute of one tuning run with the local ``Measurer``, with a
local Ray cluster and 1 worker, and with 2 workers (issue 13's "2 local Ray workers against 1").

    python -m benchmarks.ray_throughput [--size 256] [--trials 32] [--repeat 3] [--quick]

Every run is the same: ``tvmscript.tune`` of an ``n``³ float32 matmul for ``llvm -mcpu=native``,
``--trials`` trials in rounds of 16, ``cost_model="random"`` with random search (no model to
train, so the measurer's speed is what differs), seed 0, outputs checked against the
unscheduled function. A run's time counts from creating its measurer (starting Ray's workers is
part of the cost; the Ray cluster itself is started once, before) to the end of ``tune``. The
configurations alternate, ``--repeat`` rounds, and the best of each is reported, as a markdown
table with the CPU model. Ray workers reserve one CPU each (``num_cpus=1``): on one machine,
the second worker builds and times beside the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript
from tuner.ray_runner import RayMeasurer, cpu_model, import_ray

TARGET = "llvm -mcpu=native"
CONFIGS = {  # name: Ray workers (None: the local Measurer, tune's default)
    "local Measurer": None,
    "Ray, 1 worker": 1,
    "Ray, 2 workers": 2,
}


def matmul(n: int) -> tvmscript.PrimFunc:
    return tvmscript.from_source(f'''
@T.prim_func
def matmul(A: T.Buffer(({n}, {n}), "float32"), B: T.Buffer(({n}, {n}), "float32"),
           C: T.Buffer(({n}, {n}), "float32")):
    for i, j, k in T.grid({n}, {n}, {n}):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')


def run_once(func: tvmscript.PrimFunc, workers: int | None, trials: int) -> dict:
    """One tuning run; its wall time, measured trials and failures."""
    start = time.perf_counter()
    measurer = None if workers is None else RayMeasurer(
        TARGET, check_against=func, num_cpus=1, workers=workers)
    try:
        result = tvmscript.tune(func, target=TARGET, trials=trials, seed=0, cost_model="random",
                                search="random", progress=False, runner=measurer or "local")
    finally:
        if measurer is not None:
            measurer.close()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "trials": len(result.history), "errors": result.errors,
            "per_min": 60 * len(result.history) / wall, "best_s": result.best_latency_s}


def table(runs: dict[str, list[dict]]) -> str:
    base = max(r["per_min"] for r in runs["local Measurer"]) if "local Measurer" in runs else None
    one = max(r["per_min"] for r in runs["Ray, 1 worker"]) if "Ray, 1 worker" in runs else None
    header = ("| measurer | trials/min (best) | median | fastest run (s) | failed trials | "
              "vs local | vs Ray, 1 worker |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rs in runs.items():
        best = max(r["per_min"] for r in rs)
        median = statistics.median(r["per_min"] for r in rs)
        wall = min(r["wall_s"] for r in rs)
        errors = max(r["errors"] for r in rs)
        vs_local = f"{best / base:.2f}×" if base else "–"
        vs_one = f"{best / one:.2f}×" if one else "–"
        lines.append(f"| {name} | {best:.1f} | {median:.1f} | {wall:.1f} | {errors} | "
                     f"{vs_local} | {vs_one} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="the matmul's n (default 256)")
    parser.add_argument("--trials", type=int, default=32, help="trials per run (default 32)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of all configurations")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: a 64³ matmul, 8 trials, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.size, args.trials, args.repeat = 64, 8, 1
    ray = import_ray()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private cluster on loopback
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
    func = matmul(args.size)
    runs: dict[str, list[dict]] = {name: [] for name in args.configs}
    try:
        for round_ in range(args.repeat):
            for name in args.configs:
                run = run_once(func, CONFIGS[name], args.trials)
                runs[name].append(run)
                print(f"round {round_ + 1} {name}: {run['trials']} trials in "
                      f"{run['wall_s']:.1f} s ({run['per_min']:.1f}/min)", file=sys.stderr)
    finally:
        ray.shutdown()
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); Ray {ray.__version__}; "
          f"{args.size}³ float32 matmul, {args.trials} trials a run, random model and search, "
          f"best of {args.repeat} interleaved rounds\n")
    print(table(runs))


if __name__ == "__main__":
    main()
