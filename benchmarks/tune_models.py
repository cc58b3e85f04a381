"""Whole models, tuned: ``tune_model`` for a time budget, then the tuned build against
onnxruntime and torch eager, in a fresh process, in the same run.

For each model of ``benchmarks/e2e_models.py`` (random weights, batch 1, float32):

1. export it with ``torch.onnx.export`` and import it with ``tvmscript.frontend.from_onnx``;
2. ``tvmscript.tune_model`` for ``--minutes`` into ``<dir>/<model>.db`` (with ``--pretrained
   other.db``: the cost model first trained on another model's records — the cold-start
   experiment);
3. in a fresh process (nothing of the tuning run in memory): build from the database, export
   the library, load it back, check it against onnxruntime, and time it interleaved with
   onnxruntime, torch eager and the untuned build (2 threads each, medians of blocks of
   calls, the engines taking turns).

Run: ``python benchmarks/tune_models.py --models dqn --minutes 5``; ``--measure-only`` skips
step 2 (uses the databases already there). The last lines are a table for BENCHMARKS.md, and
``<dir>/<model>.json`` keeps the report and the estimate curve.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript
from benchmarks.e2e_bench import THREADS, interleaved_medians, ort_session
from benchmarks.parse_print import cpu_model

TARGET = "llvm -mcpu=native"


def onnx_file(name: str, folder: Path) -> tuple[Path, tuple[np.ndarray, ...]]:
    from benchmarks.e2e_models import export_onnx, models

    module, inputs = models()[name]
    path = folder / f"{name}.onnx"
    if not path.exists():
        export_onnx(module, inputs, path)
    return path, inputs


def tune(name: str, folder: Path, minutes: float, pretrained: str | None, tag: str) -> dict:
    path, _ = onnx_file(name, folder)
    mod = tvmscript.frontend.from_onnx(str(path))
    db = folder / f"{name}{tag}.db"
    for stale in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm")):
        stale.unlink(missing_ok=True)
    report = tvmscript.tune_model(mod, TARGET, str(db), time_budget_s=minutes * 60,
                                  pretrained=pretrained, progress=sys.stderr.isatty())
    print(report.table(), flush=True)
    out = {"model": name, "minutes": minutes, "pretrained": pretrained, "trials": report.trials,
           "wall_s": report.wall_s, "default_estimate_ms": 1e3 * (report.default_estimate_s or 0),
           "estimate_ms": 1e3 * (report.estimate_s or 0), "table": report.table(),
           "estimates": report.estimates, "load": os.getloadavg()}
    out["time_to_90pct_s"] = time_to_fraction(report.estimates, 0.9)
    out["time_to_90pct_gain_s"] = time_to_gain(report.estimates, 0.9)
    (folder / f"{name}{tag}.json").write_text(json.dumps(out, indent=1))
    return out


def time_to_fraction(estimates: list, fraction: float) -> float | None:
    """Seconds until the estimated speed first reached ``fraction`` of its final value."""
    finite = [(t, e) for t, _, e in estimates if not math.isnan(e)]
    if not finite:
        return None
    final = finite[-1][1]
    return next(t for t, e in finite if final / e >= fraction)


def time_to_gain(estimates: list, fraction: float, final: float | None = None) -> float | None:
    """Seconds until ``fraction`` of the run's whole gain (its first estimate, all default
    schedules, down to ``final``: its own last estimate unless given) was reached."""
    finite = [(t, e) for t, _, e in estimates if not math.isnan(e)]
    if not finite:
        return None
    first, last = finite[0][1], finite[-1][1] if final is None else final
    goal = first - fraction * (first - last)
    return next((t for t, e in finite if e <= goal), None)


_MEASURE = """
import sys, json
sys.path.insert(0, {root!r})
from benchmarks.tune_models import measure
print("RESULT " + json.dumps(measure({name!r}, {folder!r}, {calls}, {tag!r})))
"""


def measure(name: str, folder: str, calls: int, tag: str = "") -> dict:
    """Build from the database, export, load, check and time against the references."""
    import torch

    from benchmarks.e2e_models import models

    folder_p = Path(folder)
    path, inputs = onnx_file(name, folder_p)
    module = models()[name][0]
    mod = tvmscript.frontend.from_onnx(str(path))
    start = time.perf_counter()
    tuned = tvmscript.build(mod, TARGET, database=str(folder_p / f"{name}{tag}.db"))
    build_s = time.perf_counter() - start
    lib = Path(tempfile.mkdtemp()) / f"{name}.so"
    tuned.export_library(str(lib))
    loaded = tvmscript.load_module(str(lib))
    untuned = tvmscript.build(mod, TARGET)
    session, feeds = ort_session(path, inputs)
    expected = session.run(None, feeds)[0]
    max_diff = float(np.abs(np.asarray(loaded["main"](*inputs)) - expected).max())
    torch.set_num_threads(THREADS)
    targs = tuple(torch.from_numpy(a) for a in inputs)

    def torch_call() -> None:
        with torch.no_grad():
            module(*targs)

    from_c = run_from_c(lib, inputs, np.asarray(loaded["main"](*inputs)))
    main, plain = loaded["main"], untuned["main"]
    medians = interleaved_medians({"ort": lambda: session.run(None, feeds), "torch": torch_call,
                                   "tuned": lambda: main(*inputs),
                                   "untuned": lambda: plain(*inputs)}, calls)
    return {"model": name, "build_s": build_s, "max_diff": max_diff, "load": os.getloadavg(),
            **from_c, **{f"{k}_ms": v * 1e3 for k, v in medians.items()}}


def run_from_c(library: Path, inputs: tuple[np.ndarray, ...], expected: np.ndarray) -> dict:
    """The exported library run by ``examples/c/main.c`` (no Python): equal outputs, and the
    median latency it prints."""
    import re
    import shutil

    from backends.runtime.c_api import header_path

    root = Path(__file__).resolve().parents[1]
    folder = library.parent
    exe = folder / "run_model"
    cc = shutil.which("cc") or "cc"
    subprocess.run([cc, "-O2", f"-I{Path(header_path()).parent}", "-o", str(exe),
                    str(root / "examples" / "c" / "main.c"), "-ldl"], check=True)
    args = []
    for i, a in enumerate(inputs):
        a.tofile(folder / f"in{i}.bin")
        args += ["--input", str(folder / f"in{i}.bin")]
    done = subprocess.run([str(exe), str(library), *args, "--output", str(folder / "out.bin"),
                           "--runs", "50"], capture_output=True, text=True, check=True)
    got = np.fromfile(folder / "out.bin", dtype=expected.dtype)[:expected.size]
    median = re.search(r"median ([0-9.]+) ms", done.stdout)
    return {"c_equal": bool(np.array_equal(got, expected.reshape(-1))),
            "c_median_ms": float(median.group(1)) if median else None}


def measure_fresh(name: str, folder: Path, calls: int, tag: str = "") -> dict:
    root = str(Path(__file__).resolve().parents[1])
    code = _MEASURE.format(root=root, name=name, folder=str(folder), calls=calls, tag=tag)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"measuring {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dqn,resnet18,mobilenet_v2")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--dir", default="benchmarks/results/tuned")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--pretrained", default=None,
                        help="a database of other models' records to train the cost model on")
    parser.add_argument("--tag", default="", help="suffix of the database and report names")
    parser.add_argument("--measure-only", action="store_true")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_model()}; load average before: {os.getloadavg()}")
    rows = []
    for name in args.models.split(","):
        tuned = None
        if not args.measure_only:
            tuned = tune(name, folder, args.minutes, args.pretrained, args.tag)
        row = measure_fresh(name, folder, args.calls, args.tag)
        row["tune"] = tuned
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "tune"}), flush=True)
    print("\n| model | tuned ms | ÷ onnxruntime | ÷ torch eager | untuned ÷ ort | max diff | "
          "C == Python | trials | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["tune"] or {}
        print(f"| {r['model']} | {r['tuned_ms']:.3f} | {r['tuned_ms'] / r['ort_ms']:.2f}× | "
              f"{r['tuned_ms'] / r['torch_ms']:.2f}× | {r['untuned_ms'] / r['ort_ms']:.2f}× | "
              f"{r['max_diff']:.1e} | {r['c_equal']} | {t.get('trials', '-')} | "
              f"{r['load'][0]:.1f} |")


if __name__ == "__main__":
    main()
