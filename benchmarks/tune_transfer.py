"""Transfer learning: does a cost model trained on other workloads make a new task converge
sooner?

    python -m benchmarks.tune_transfer [--trials 128] [--seeds 0 1 2] [--pretrain-trials 64]
                                       [--cold-from DIR/tune_runs.json] [--out DIR]

1. *Other workloads* — two matmul shapes (512³ and 768³) and a convolution of another shape
   (1×32×28×28, 64 3×3 filters) — are tuned into one database (``--pretrain-trials`` each).
2. The 1024³ matmul is tuned *cold* (``xgb``, no prior data) and *warm*
   (``pretrained=<that database>``), ``--trials`` each, for every seed. The cold runs can be
   read from ``benchmarks.tune_kernels``'s runs (``--cold-from``; their first ``--trials``
   trials make the same rounds as a run of that length), so the machine time is spent once.
3. For each seed: the trial at which each run first reaches 90 % of the cold run's final best
   (the issue's measure: at most half the trials for the warm run), and the warm run's own best.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from benchmarks.conv2d_cpu import conv2d_of  # noqa: E402
from benchmarks.parse_print import cpu_model  # noqa: E402
from benchmarks.tune_kernels import TARGET, best_so_far, tune_once  # noqa: E402
from tutorials.tune_matmul import matmul_of  # noqa: E402



def first_reaching(curve: list[float], level: float) -> int | None:
    return next((i + 1 for i, g in enumerate(curve) if g >= level), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-trials", type=int, default=64)
    parser.add_argument("--cold-from", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    db = args.out / "pretrain.db"
    start = time.perf_counter()
    for func in (matmul_of(512), matmul_of(768), conv2d_of(32, 64, 28, "conv_small")):
        tvmscript.tune(func, target=TARGET, trials=args.pretrain_trials, database=str(db),
                       seed=0, progress=False)
    print(f"pre-training database: 3 workloads x {args.pretrain_trials} trials in "
          f"{time.perf_counter() - start:.0f} s ({db})", flush=True)

    n = 1024
    func, flops = matmul_of(n), 2 * n ** 3
    cold_runs = {}
    if args.cold_from is not None and args.cold_from.exists():
        for run in json.loads(args.cold_from.read_text()).get("matmul", []):
            if run["model"] == "xgb" and len(run["history"]) >= args.trials:
                run = dict(run, history=run["history"][: args.trials])
                cold_runs[run["seed"]] = run
    rows = []
    for seed in args.seeds:
        cold = cold_runs.get(seed) or tune_once(func, flops, "xgb", seed, args.trials)
        started = time.perf_counter()
        result = tvmscript.tune(func, target=TARGET, trials=args.trials, seed=seed,
                                pretrained=str(db), progress=False)
        warm = {"flops": flops, "history": [{"latency_s": h.latency_s} for h in result.history]}
        wall = time.perf_counter() - started
        cold_curve, warm_curve = best_so_far(cold), best_so_far(warm)
        level = 0.9 * cold_curve[-1]
        row = (seed, cold_curve[-1], first_reaching(cold_curve, level),
               first_reaching(warm_curve, level), warm_curve[-1], wall)
        rows.append(row)
        print(f"seed {seed}: cold best {row[1]:.1f} GFLOPS, 90% of it at trial {row[2]} cold, "
              f"{row[3]} warm; warm best {row[4]:.1f} GFLOPS ({wall:.0f} s)", flush=True)
    print(f"\n1024³ matmul, {args.trials} trials; pre-trained on 512³, 768³ matmuls and a "
          f"1×32×28×28 conv2d ({args.pretrain_trials} trials each); {cpu_model()}, load average "
          f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print("| seed | cold: final best | cold reaches 90 % at trial | warm reaches it at trial "
          "| warm: final best |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for seed, best, c90, w90, wbest, _ in rows:
        print(f"| {seed} | {best:.1f} GFLOPS | {c90} | {w90 or 'not reached'} | "
              f"{wbest:.1f} GFLOPS |")


if __name__ == "__main__":
    main()
