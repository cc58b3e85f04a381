"""Tuning the 1024³ matmul and the 1×64×56×56 conv2d: how close the tuner gets to numpy and
torch, how the learned search compares with random search, and what the search costs.

    python -m benchmarks.tune_kernels [--kernels matmul conv2d] [--trials 256] [--seeds 0 1 2]
                                      [--models xgb random] [--at 128] [--out DIR]

For each kernel and seed, ``tvmscript.tune`` runs once per model (``xgb``: XGBoost with
evolutionary search; ``random``: random search), the models alternating so both see the same
machine. Every run's history goes to ``DIR/tune_runs.json`` as it finishes (a cut-short run keeps
what it measured). Then:

* **At ``--at`` trials** (128): the best of a learned run's first 128 trials (a 128-trial run
  makes the same rounds; only measurement noise makes its choices differ) is built and timed
  against the reference (numpy's OpenBLAS matmul, torch's convolution) alternately in the same
  process, best of 15; with the search's wall time when its 128th result came in.
* **Learned against random**: the trial at which the learned run first reaches random's final
  best, and each round's median measured GFLOPS of the two, compared round by round.
* **Curves**: ``DIR/tune_<kernel>.png``, best-so-far and per-round medians of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tuner.space  # noqa: E402, F401 - registers the rules' primitives, for replaying traces
import tvmscript  # noqa: E402
from backends.runtime.timing import interleaved  # noqa: E402
from benchmarks.parse_print import cpu_model  # noqa: E402

TARGET = "llvm -mcpu=native"
SEARCH = {"xgb": "evolutionary", "random": "random"}


# ----------------------------------------------------------------------------- the kernels
def matmul_kernel():
    """(function, flops, arguments, reference call, reference name)."""
    from tutorials.tune_matmul import matmul_of

    n = 1024
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.zeros((n, n), "float32")
    return matmul_of(n), 2 * n ** 3, (a, b, c), lambda: a @ b, "numpy (OpenBLAS)"


def conv2d_kernel():
    from benchmarks.conv2d_cpu import FLOPS, conv2d, reference

    name, ref = reference()
    rng = np.random.default_rng(0)
    x = rng.random((1, 64, 56, 56), dtype=np.float32)
    w = rng.random((64, 64, 3, 3), dtype=np.float32)
    y = np.zeros((1, 64, 56, 56), "float32")
    return conv2d, FLOPS, (x, w, y), lambda: ref(x, w), name


KERNELS = {"matmul": matmul_kernel, "conv2d": conv2d_kernel}


# ----------------------------------------------------------------------------- runs
def tune_once(func, flops: int, model: str, seed: int, trials: int) -> dict:
    start = time.perf_counter()
    result = tvmscript.tune(func, target=TARGET, trials=trials, seed=seed, cost_model=model,
                            search=SEARCH[model], progress=False)
    return {
        "model": model, "seed": seed, "trials": trials, "flops": flops,
        "wall_s": time.perf_counter() - start, "phase_s": dict(result.phase_s),
        "history": [{"round": h.round, "latency_s": h.latency_s, "median_s": h.median_s,
                     "elapsed_s": h.elapsed_s, "error": h.error, "trace": h.trace.to_json()}
                    for h in result.history],
    }


def gflops(run: dict, entry: dict) -> float:
    return run["flops"] / entry["latency_s"] / 1e9 if entry["latency_s"] else 0.0


def best_so_far(run: dict) -> list[float]:
    out, best = [], 0.0
    for e in run["history"]:
        best = max(best, gflops(run, e))
        out.append(best)
    return out


def round_medians(run: dict) -> dict[int, float]:
    by_round: dict[int, list[float]] = {}
    for e in run["history"]:
        by_round.setdefault(e["round"], []).append(gflops(run, e))
    return {r: statistics.median(v) for r, v in sorted(by_round.items())}


def best_within(run: dict, at: int) -> tuple[dict | None, int]:
    """The fastest of the first ``at`` entries and the trial (1-based) it was measured at."""
    head = [e for e in run["history"][:at] if e["latency_s"]]
    if not head:
        return None, 0
    best = min(head, key=lambda e: e["latency_s"])
    return best, run["history"].index(best) + 1


def time_against_reference(func, entry: dict, args, ref_call) -> tuple[float, float]:
    """Seconds per call of the scheduled kernel and of the reference, alternated, best of 15;
    the kernel's output checked against the reference's."""
    from tvmscript.schedule import Trace

    sch = Trace.from_json(entry["trace"]).apply_to(func)
    rt = tvmscript.build(sch.mod, target=TARGET)
    kernel = rt[func.name]
    kernel(*args)
    np.testing.assert_allclose(args[-1], np.asarray(ref_call()), rtol=1e-3, atol=1e-2)
    return interleaved(lambda: kernel(*args), ref_call, rounds=15, pause=0.15)


# ----------------------------------------------------------------------------- report
def report(kernel: str, runs: list[dict], at: int, func, flops, args, ref_call, ref_name) -> None:
    learned = [r for r in runs if r["model"] == "xgb"]
    random_ = {r["seed"]: r for r in runs if r["model"] == "random"}
    print(f"\n### {kernel}: best of the first {at} trials against {ref_name}")
    print(f"| seed | best GFLOPS | × {ref_name.split()[0]} (same run) | found at trial | "
          f"wall time to trial {at} | of which search / build / run / train |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in learned:
        if len(run["history"]) < at:
            continue
        entry, trial = best_within(run, at)
        if entry is None:
            print(f"| {run['seed']} | no candidate ran | — | — | — | — |")
            continue
        ours, ref = time_against_reference(func, entry, args, ref_call)
        wall = run["history"][at - 1]["elapsed_s"]
        phases = run.get("phase_s", {})
        split = " / ".join(f"{phases[k]:.0f}" for k in ("search", "build", "run", "train")) \
            if len(run["history"]) == at and phases else "—"
        print(f"| {run['seed']} | {flops / ours / 1e9:.1f} | {ref / ours:.2f} | {trial} | "
              f"{wall:.0f} s | {split} s |", flush=True)
    if not random_:
        return
    print(f"\n### {kernel}: learned (xgb, evolutionary) against random search")
    print("| seed | trials | random's final best | learned reaches it at trial | learned's final "
          "best | per-round median, learned ÷ random, rounds ≥ 3: min / median |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in learned:
        rnd = random_.get(run["seed"])
        if rnd is None:
            continue
        target = best_so_far(rnd)[-1]
        curve = best_so_far(run)
        reach = next((i + 1 for i, g in enumerate(curve) if g >= target), None)
        lm, rm = round_medians(run), round_medians(rnd)
        ratios = [lm[k] / rm[k] for k in lm if k >= 3 and k in rm and rm[k] > 0]
        ratio = (f"{min(ratios):.1f}× / {statistics.median(ratios):.1f}×" if ratios else "—")
        print(f"| {run['seed']} | {len(rnd['history'])} | {target:.1f} GFLOPS | "
              f"{reach if reach else 'not reached'} | {curve[-1]:.1f} GFLOPS | {ratio} |")


def plot(kernel: str, runs: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no curves drawn")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"xgb": "tab:blue", "random": "tab:orange"}
    for run in runs:
        label = f"{run['model']} seed {run['seed']}"
        ax1.plot(range(1, len(run["history"]) + 1), best_so_far(run), color=colors[run["model"]],
                 alpha=0.8, label=label)
        med = round_medians(run)
        ax2.plot(list(med), list(med.values()), marker="o", color=colors[run["model"]],
                 alpha=0.8, label=label)
    ax1.set(xlabel="trials", ylabel="best GFLOPS so far", title=f"{kernel}: best so far")
    ax2.set(xlabel="round", ylabel="median measured GFLOPS", title=f"{kernel}: each round")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"curves: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["xgb", "random"], choices=list(SEARCH))
    parser.add_argument("--at", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--report-only", action="store_true",
                        help="report the runs already in DIR/tune_runs.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "tune_runs.json"
    saved = json.loads(store.read_text()) if store.exists() else {}
    load = os.getloadavg()[0]
    for kernel in args.kernels:
        func, flops, call_args, ref_call, ref_name = KERNELS[kernel]()
        if not args.report_only:
            runs = saved.setdefault(kernel, [])
            for seed in args.seeds:
                for model in args.models:
                    run = tune_once(func, flops, model, seed, args.trials)
                    runs[:] = [r for r in runs if (r["model"], r["seed"]) != (model, seed)] + [run]
                    store.write_text(json.dumps(saved))
                    print(f"{kernel} seed {seed} {model}: {best_so_far(run)[-1]:.1f} GFLOPS after "
                          f"{len(run['history'])} trials, {run['wall_s']:.0f} s", flush=True)
        runs = [r for r in saved.get(kernel, []) if r["seed"] in args.seeds]
        report(kernel, runs, args.at, func, flops, call_args, ref_call, ref_name)
        plot(kernel, runs, args.out / f"tune_{kernel}.png")
    print(f"\n{cpu_model()}; load average {load:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
