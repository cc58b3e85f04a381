"""Whole models, untuned: tvmscript against onnxruntime and torch eager in the same run.

For each model of ``benchmarks/e2e_models.py`` (random weights, batch 1, float32): export it with
``torch.onnx.export``, import it with ``tvmscript.frontend.from_onnx`` (and, with
``--torch-export``, with ``from_exported_program`` too), build it for ``llvm -mcpu=native``
(default schedules, no tuning), check the outputs against onnxruntime, then time the three
engines interleaved call by call: 2 threads each, the median of ``--calls`` calls after a
warm-up. Also reported: import and build seconds and the planned peak of intermediate memory.

Run: ``python benchmarks/e2e_bench.py [--models resnet18,mlp] [--calls 50]``. The last lines
are a table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from benchmarks.parse_print import cpu_model  # noqa: E402

TARGET = "llvm -mcpu=native"
THREADS = 2


def interleaved_medians(fns: dict, calls: int, block: int = 10,
                        pause: float = 0.2) -> dict[str, float]:
    """Median seconds per call of each function over ``calls`` calls, taken in blocks of
    ``block`` consecutive calls per engine, the engines taking turns (fair on a noisy machine).

    Blocks rather than single calls: each engine's worker threads keep spinning for a while
    after a call (onnxruntime's and OpenMP's), and on 2 cores they would steal the next
    engine's core; a pause and one untimed call start every block."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
        fn()
    while min(len(t) for t in times.values()) < calls:
        for name, fn in fns.items():
            time.sleep(pause)
            fn()
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


_RSS_SCRIPT = """
import sys, numpy as np
engine, path, shape, dtype = sys.argv[1], sys.argv[2], eval(sys.argv[3]), sys.argv[4]
x = (np.random.default_rng(0).standard_normal(shape) if dtype == "float32"
     else np.random.default_rng(0).integers(0, 100, shape)).astype(dtype)
if engine == "ort":
    import onnxruntime as ort
else:
    import tvmscript

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # the high-water mark starts again from here
if engine == "ort":
    options = ort.SessionOptions(); options.intra_op_num_threads = 2
    s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    run = lambda: s.run(None, {s.get_inputs()[0].name: x})
else:
    f = tvmscript.load_module(path)["main"]
    run = lambda: f(x)
for _ in range(3):
    run()
print(status("VmHWM:") - before)
"""


def deployed_peak_mib(engine: str, path: Path, array: np.ndarray) -> float:
    """Peak resident memory a fresh process adds to load the deployed model and run it 3
    times (the high-water mark, reset after the engine's import), in MiB: onnxruntime with the
    .onnx file, tvmscript with the exported library."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, engine, str(path),
                           repr(array.shape), str(array.dtype)], capture_output=True,
                          text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def ort_session(path: Path, inputs: tuple[np.ndarray, ...]) -> tuple:
    """An onnxruntime session of the model with ``THREADS`` threads, and its feeds."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, {i.name: a for i, a in zip(session.get_inputs(), inputs)}


def run_model(name: str, calls: int, torch_export: bool, memory: bool = False) -> dict:
    import torch

    from benchmarks.e2e_models import export_onnx, models

    module, inputs = models()[name]
    tmp = Path(tempfile.mkdtemp())
    onnx_path = export_onnx(module, inputs, tmp / f"{name}.onnx")
    start = time.perf_counter()
    mod = tvmscript.frontend.from_onnx(str(onnx_path))
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    ex = tvmscript.build(mod, target=TARGET)
    build_s = time.perf_counter() - start
    main = ex["main"]

    session, feeds = ort_session(onnx_path, inputs)
    expected = session.run(None, feeds)[0]
    got = main(*inputs)
    max_diff = float(np.abs(np.asarray(got) - expected).max())

    torch.set_num_threads(THREADS)
    targs = tuple(torch.from_numpy(a) for a in inputs)

    def torch_call() -> None:
        with torch.no_grad():
            module(*targs)

    medians = interleaved_medians({"ort": lambda: session.run(None, feeds),
                                   "torch": torch_call, "ours": lambda: main(*inputs)}, calls)
    row = {"model": name, "import_s": import_s, "build_s": build_s, "max_diff": max_diff,
           **{f"{k}_ms": v * 1e3 for k, v in medians.items()}}
    stats = getattr(ex, "memory_stats", None)
    if callable(stats):
        row["memory"] = stats("main")
    if memory:
        library = tmp / f"{name}.so"
        ex.export_library(str(library))
        row["ours_peak_mib"] = deployed_peak_mib("ours", library, inputs[0])
        row["ort_peak_mib"] = deployed_peak_mib("ort", onnx_path, inputs[0])
    if torch_export:
        program = torch.export.export(module, targs)
        start = time.perf_counter()
        mod2 = tvmscript.frontend.from_exported_program(program)
        ex2 = tvmscript.build(mod2, target=TARGET)
        row["torch_export_build_s"] = time.perf_counter() - start
        with torch.no_grad():
            reference = module(*targs).numpy()
        row["torch_export_max_diff"] = float(np.abs(ex2["main"](*inputs) - reference).max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,encoder,mobilenet_v2,resnet18")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--torch-export", action="store_true",
                        help="also import each model with torch.export and check its outputs")
    parser.add_argument("--memory", action="store_true",
                        help="also the peak memory of the deployed model (ours: the exported "
                             "library) against onnxruntime's, each in a fresh process")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}; {THREADS} threads per engine; load average before: "
          f"{os.getloadavg()[0]:.2f}")
    rows = []
    for name in args.models.split(","):
        row = run_model(name, args.calls, args.torch_export, args.memory)
        rows.append(row)
        print(row, flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("| model | ours (ms) | onnxruntime (ms) | torch (ms) | ours / ort | ours / torch | "
          "import + build (s) | max |diff| vs ort |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['ours_ms']:.3f} | {r['ort_ms']:.3f} | {r['torch_ms']:.3f} | "
              f"{r['ours_ms'] / r['ort_ms']:.2f}x | {r['ours_ms'] / r['torch_ms']:.2f}x | "
              f"{r['import_s']:.1f} + {r['build_s']:.1f} | {r['max_diff']:.1e} |")
    if any("ours_peak_mib" in r for r in rows):
        print("| model | intermediates planned / unplanned (MB) | deployed peak RSS: ours / ort "
              "(MiB) |")
        print("|---|---|---|")
        for r in rows:
            m = r.get("memory", {})
            print(f"| {r['model']} | {m.get('peak_bytes', 0) / 1e6:.1f} / "
                  f"{m.get('naive_bytes', 0) / 1e6:.1f} | {r.get('ours_peak_mib', 0):.0f} / "
                  f"{r.get('ort_peak_mib', 0):.0f} |")


if __name__ == "__main__":
    main()
