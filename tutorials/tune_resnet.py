"""Tuning a whole model: ResNet-18 from ONNX, tuned, compared with onnxruntime, run from C.

``tvmscript.build`` alone gives every kernel of a model a default schedule chosen by analysis.
``tvmscript.tune_model`` measures instead: it takes the model's fused kernels (the *tasks*,
each with its weight — how often one inference calls it), measures each kernel's default
schedule as a baseline, then spends the budget one round at a time on the task whose tuning is
expected to cut the model's latency most (Ansor's task scheduler), with one cost model learning
from every task. Everything measured goes to a database; ``build(mod, database=...)`` takes the
best schedule of each kernel from it, in this process or any later one, and the library it
exports holds kernels, graph and weights in one file that C code can load and run.

Run: ``python tutorials/tune_resnet.py`` (20 minutes of tuning), ``--minutes 5``, or
``--quick`` (two kernels, a few trials each: what CI runs). Needs torch (the model is defined
in ``benchmarks/e2e_models.py`` and exported to ONNX) and onnxruntime: ``pip install -e
".[test,tune]"``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript  # noqa: E402
from backends.runtime.timing import interleaved  # noqa: E402

TARGET = "llvm -mcpu=native"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="the tuning budget")
    parser.add_argument("--quick", action="store_true", help="two kernels, a few trials (CI)")
    parser.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="tune_resnet-"))
    work.mkdir(parents=True, exist_ok=True)

    # 1. The model: ResNet-18 (random weights, batch 1) exported to ONNX, then imported.
    from benchmarks.e2e_models import export_onnx, models

    module, (image,) = models()["resnet18"]
    onnx_path = export_onnx(module, (image,), work / "resnet18.onnx")
    mod = tvmscript.frontend.from_onnx(str(onnx_path))

    # 2. Tune. The report lists each task: its kernel, weight, share of the model, trials and
    # latency before and after. The database keeps every measurement (run it again to resume).
    db = work / "resnet18.db"
    if args.quick:
        from tuner.tasks import extract_tasks

        tasks, _, _ = extract_tasks(mod, TARGET)
        report = tvmscript.tune_model(mod, TARGET, str(db), trials=8, trials_per_round=2,
                                      tasks=[t.name for t in tasks[:2]], search="random",
                                      cost_model="random", progress=False)
    else:
        report = tvmscript.tune_model(mod, TARGET, str(db), time_budget_s=args.minutes * 60)
    print(report.table())

    # 3. Build with the database (the best record of each kernel; default schedules for the
    # rest), check against onnxruntime, and time both, interleaved.
    ex = tvmscript.build(mod, TARGET, database=str(db))
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input0": image})[0]
    got = ex["main"](image)
    print(f"max abs difference from onnxruntime: {np.abs(got - expected).max():.2e}")
    ours, theirs = interleaved(lambda: ex["main"](image),
                               lambda: session.run(None, {"input0": image}), rounds=10)
    print(f"tuned build: {ours * 1e3:.2f} ms, onnxruntime: {theirs * 1e3:.2f} ms "
          f"(tvmscript ÷ onnxruntime: {ours / theirs:.2f}x)")

    # 4. Deploy: one shared library with the weights inside, and its C header.
    library = work / "resnet18.so"
    ex.export_library(str(library))
    loaded = tvmscript.load_module(str(library))
    assert np.array_equal(loaded["main"](image), got)
    print(f"exported {library} ({library.stat().st_size / 2**20:.1f} MiB): loads back and "
          "gives the same numbers")
    run_from_c(library, image, got, work)


def run_from_c(library: Path, image: np.ndarray, expected: np.ndarray, work: Path) -> None:
    """5. The same library from C, without Python: ``examples/c/main.c`` loads it with
    dlopen, reads the input from a raw file, runs ``main``, writes the output and times it."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("no C compiler on this machine: the C step needs one (apt install gcc)")
        return
    from backends.runtime.c_api import header_path

    exe = work / "run_model"
    subprocess.run([cc, "-O2", f"-I{Path(header_path()).parent}", "-o", str(exe),
                    str(ROOT / "examples" / "c" / "main.c"), "-ldl"], check=True)
    image.tofile(work / "input.bin")
    done = subprocess.run([str(exe), str(library), "--input", str(work / "input.bin"),
                           "--output", str(work / "output.bin"), "--runs", "20"],
                          capture_output=True, text=True, check=True)
    print(done.stdout.strip())
    from_c = np.fromfile(work / "output.bin", dtype=np.float32).reshape(expected.shape)
    print(f"C output == Python output: {np.array_equal(from_c, expected)}")


if __name__ == "__main__":
    main()
