"""The ``tvmscript`` command: tune, compile, run, benchmark and inspect models from a shell.

Every subcommand is a thin layer over the Python API (``tune_model``, ``build``,
``export_library``, ``load_module``), so a shell session and a script get the same results.
A model is an ONNX file (``.onnx``), a ``torch.export`` program saved with
``torch.export.save`` (``.pt2``), or a module written by ``tvmscript.save`` (its script).
Errors are reported in one line (``tvmscript: error: ...``, exit status 1) rather than as a
traceback; ``TVMSCRIPT_TRACEBACK=1`` shows the traceback too.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TARGET = "llvm -mcpu=native"


class CliError(Exception):
    """A mistake in what was asked (a missing file, a bad option value), told in one line."""


# ----------------------------------------------------------------------------- helpers


def parse_duration(text: str) -> float:
    """Seconds in ``20m``, ``1h30m``, ``90s`` or a bare number of seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
        if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
            raise CliError(f"--time {text!r}: expected a duration like 20m, 1h30m, 90s or a "
                           "number of seconds")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise CliError(f"--time {text!r}: the duration must be positive")
    return seconds


def parse_shapes(items: list[str] | None) -> dict[str, list[int | str]]:
    """``--shape name=1,3,224,224`` options as ``from_onnx``'s shape_dict."""
    shapes: dict[str, list[int | str]] = {}
    for item in items or []:
        name, sep, dims = item.partition("=")
        if not sep or not name or not dims:
            raise CliError(f"--shape {item!r}: expected NAME=D0,D1,... (e.g. input=1,3,224,224)")
        shapes[name] = [int(d) if d.strip().lstrip("-").isdigit() else d.strip()
                        for d in dims.split(",")]
    return shapes


def load_model(path: str, shapes: dict[str, list[int | str]] | None = None) -> Any:
    """An IRModule from an ONNX file, a saved torch.export program or a tvmscript script."""
    import tvmscript

    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return tvmscript.frontend.from_onnx(path, shape_dict=shapes or None)
    if shapes:
        raise CliError("--shape applies to ONNX models only")
    if suffix in (".pt2", ".pt"):
        try:
            import torch
        except ImportError:
            raise CliError(f"{path}: reading a torch.export program needs torch") from None
        return tvmscript.frontend.from_exported_program(torch.export.load(path))
    if suffix in (".so", ".db"):
        raise CliError(f"{path}: expected a model (.onnx, .pt2 or a tvmscript script), got a "
                       f"{'library' if suffix == '.so' else 'tuning database'}")
    return tvmscript.load(path)


def _graph_module(rt: Any) -> Any:
    graph = getattr(rt, "_graph", None)
    if graph is None:
        raise CliError("the library has no graph-level function (it holds kernels only)")
    return graph.mod


def input_specs(rt: Any, function: str) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) of each tensor parameter of graph function ``function``."""
    from tvmscript.ir import graph as G
    from tvmscript.ir.expr import IntImm

    mod = _graph_module(rt)
    if function not in mod.functions or not isinstance(mod[function], G.Function):
        names = [n for n, f in mod.functions.items() if isinstance(f, G.Function)]
        raise CliError(f"the library has no function {function!r}; it has {names}")
    specs = []
    for param in mod[function].params:
        sinfo = param.struct_info
        if not isinstance(sinfo, G.TensorStructInfo) or sinfo.shape is None \
                or not all(isinstance(d, IntImm) for d in sinfo.shape):
            raise CliError(f"input {param.name!r} has no static tensor shape; pass it with "
                           "--input")
        specs.append((param.name, tuple(int(d.value) for d in sinfo.shape),
                      sinfo.dtype.numpy_name()))
    return specs


def read_inputs(paths: list[str] | None, specs: list[tuple[str, tuple[int, ...], str]],
                seed: int) -> list[np.ndarray]:
    """The arrays of ``--input`` files (.npy), or random ones of the declared shapes."""
    if not paths:
        rng = np.random.default_rng(seed)
        return [_random(rng, shape, dtype) for _, shape, dtype in specs]
    if len(paths) != len(specs):
        raise CliError(f"the function takes {len(specs)} inputs "
                       f"({', '.join(n for n, _, _ in specs)}); got {len(paths)} --input files")
    arrays = []
    for path, (name, shape, dtype) in zip(paths, specs):
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise CliError(f"--input {path}: cannot read a .npy array: {error}") from None
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise CliError(f"--input {path}: input {name!r} must be {dtype} of shape "
                           f"{list(shape)}, got {array.dtype} of shape {list(array.shape)}")
        arrays.append(np.ascontiguousarray(array))
    return arrays


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 10, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _outputs(value: Any) -> list[np.ndarray]:
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _outputs(v)]
    return [np.asarray(value)]


# ----------------------------------------------------------------------------- subcommands


def cmd_tune(args: argparse.Namespace) -> None:
    import tvmscript

    mod = load_model(args.model, parse_shapes(args.shape))
    budget = parse_duration(args.time) if args.time else None
    runner: Any = args.runner
    if args.ray_address:
        from tuner.ray_runner import RayMeasurer

        runner = RayMeasurer(args.target, address=args.ray_address)
    try:
        report = tvmscript.tune_model(
            mod, args.target, args.db, time_budget_s=budget, trials=args.trials,
            strategy=args.strategy, runner=runner, seed=args.seed,
            trials_per_round=args.trials_per_round, pretrained=args.pretrained,
            tasks=args.tasks.split(",") if args.tasks else None, progress=not args.quiet)
    finally:
        if not isinstance(runner, str):
            runner.close()
    print(report.table())
    print(f"records in {report.database}; build with: tvmscript compile {args.model} "
          f"--db {report.database} -o model.so")


def cmd_compile(args: argparse.Namespace) -> None:
    import tvmscript
    from tuner.default_schedule import schedule_sources

    mod = load_model(args.model, parse_shapes(args.shape))
    if args.db and not os.path.exists(args.db):
        raise CliError(f"--db {args.db}: no such file")
    start = time.perf_counter()
    optimized = tvmscript.optimize_model(mod, args.target, database=args.db)
    from backends.build import build as build_module

    rt = build_module(optimized, args.target)
    rt.export_library(args.output)
    sources = schedule_sources(optimized)
    counts: dict[str, int] = {}
    for source in sources.values():
        counts[source] = counts.get(source, 0) + 1
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 2**20:.1f} MiB, "
          f"{time.perf_counter() - start:.1f} s): {len(sources)} kernels, schedules: "
          + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if args.verbose:
        for name, source in sources.items():
            print(f"  {name}: {source}")
    if not args.no_header:
        print(f"wrote {_write_header(args.output)} (the C interface; see examples/c/)")
        from backends.runtime.c_api import c_entry_problems

        for function, why in c_entry_problems(rt).items():
            print(f"note: {function} runs from Python only, not from C: {why}")


def _write_header(library: str) -> str:
    """The C header (the same for every model) next to the library."""
    from backends.runtime.c_api import write_header

    dst = Path(library).with_suffix(".h")
    write_header(dst)
    return str(dst)


def _load_library(path: str) -> Any:
    import tvmscript

    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    return tvmscript.load_module(path)


def cmd_run(args: argparse.Namespace) -> None:
    rt = _load_library(args.library)
    specs = input_specs(rt, args.function)
    inputs = read_inputs(args.input, specs, args.seed)
    outputs = _outputs(rt[args.function](*inputs))
    for i, out in enumerate(outputs):
        flat = out.reshape(-1)
        head = ", ".join(f"{v:.6g}" if out.dtype.kind == "f" else str(v) for v in flat[:6])
        more = ", ..." if flat.size > 6 else ""
        extra = f" argmax {int(flat.argmax())}" if flat.size and out.dtype.kind == "f" else ""
        print(f"output {i}: {out.dtype} {list(out.shape)} [{head}{more}]{extra}")
    if args.output:
        if len(outputs) == 1:
            np.save(args.output, outputs[0])
        else:
            np.savez(args.output, *outputs)
        print(f"wrote {args.output}")


def cmd_bench(args: argparse.Namespace) -> None:
    import statistics

    path = args.target_file
    if path.endswith(".so"):
        rt = _load_library(path)
        onnx_path = args.compare
    else:
        import tvmscript

        mod = load_model(path, parse_shapes(args.shape))
        rt = tvmscript.build(mod, args.target, database=args.db)
        onnx_path = args.compare or (path if path.lower().endswith(".onnx") else None)
    specs = input_specs(rt, args.function)
    inputs = read_inputs(args.input, specs, args.seed)
    fn = rt[args.function]
    engines = {"tvmscript": lambda: fn(*inputs)}
    if onnx_path:
        try:
            import onnxruntime as ort
        except ImportError:
            raise CliError("--compare needs onnxruntime (pip install onnxruntime)") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        feeds = {i.name: a for i, a in zip(session.get_inputs(), inputs)}
        engines["onnxruntime"] = lambda: session.run(None, feeds)
        diff = max(float(np.abs(a - b).max()) for a, b in
                   zip(_outputs(fn(*inputs)), session.run(None, feeds)))
        print(f"max abs difference from onnxruntime: {diff:.3g}")
    times: dict[str, list[float]] = {name: [] for name in engines}
    for run in engines.values():
        run()
    for _ in range(max(1, args.calls // 10)):  # interleaved blocks: fair on a busy machine
        for name, run in engines.items():
            for _ in range(10):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["tvmscript"])
    for name, t in times.items():
        med = statistics.median(t)
        ratio = "" if name == "tvmscript" else f"  (tvmscript ÷ {name}: {base / med:.2f}x)"
        print(f"{name:12s} median {med * 1e3:.3f} ms  best {min(t) * 1e3:.3f} ms  "
              f"({len(t)} calls){ratio}")


def cmd_show(args: argparse.Namespace) -> None:
    path = args.file
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    from tuner.database import is_database_file

    if is_database_file(path):
        _show_database(path, args.trace)
    elif path.endswith(".so"):
        rt = _load_library(path)
        print(_graph_module(rt).script())
    else:
        import tvmscript

        mod = load_model(path, parse_shapes(args.shape))
        if args.optimized:
            mod = tvmscript.optimize_model(mod, args.target, database=args.db)
        print(mod.script())


def _show_database(path: str, trace: bool) -> None:
    from tuner.database import Database

    with Database(path) as db:
        rows = []
        for w in db.workloads():
            records = db.records(w)
            best = db.best(w)
            name = re.search(r"def (\w+)\(", w.script)
            rows.append((name.group(1) if name else f"workload {w.id}", w.target, len(records),
                         sum(1 for r in records if r.error), best))
        print(f"{path}: {len(rows)} workloads, {len(db)} records")
        for name, target, n, errors, best in rows:
            lat = "-" if best is None else f"{best.latency_s * 1e3:.4g} ms"
            print(f"  {name}  [{target}]  {n} records, {errors} failed, best {lat}")
            if trace and best is not None:
                print("    " + str(best.trace).replace("\n", "\n    "))


# ----------------------------------------------------------------------------- the parser


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvmscript", description="Tune, compile, run and inspect models with tvmscript.",
        epilog="Models: .onnx, .pt2 (torch.export.save) or a script written by tvmscript.save. "
               "Each subcommand has --help.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--target", default=DEFAULT_TARGET,
                       help=f"what to compile for (default: {DEFAULT_TARGET!r}, this CPU)")
        p.add_argument("--shape", action="append", metavar="NAME=D0,D1,...",
                       help="an ONNX input's shape, for models that leave it open (repeatable)")

    p = sub.add_parser("tune", help="tune a model's kernels and store the results in a database",
                       description="Tune every kernel of a model within one budget. Results go "
                                   "to the database as they come: an interrupted run resumes, "
                                   "and `tvmscript compile --db` uses them.")
    p.add_argument("model", help="the model file")
    p.add_argument("--db", required=True, help="the tuning database (SQLite; created if absent)")
    model_options(p)
    p.add_argument("--time", help="time budget, e.g. 20m, 1h, 90s (default: 32 trials per "
                                  "kernel when --trials is not given either)")
    p.add_argument("--trials", type=int, help="trial budget: candidates measured in all")
    p.add_argument("--strategy", choices=["gradient", "round-robin"], default="gradient",
                   help="how the budget is split across kernels: by the expected gain of the "
                        "model's latency (Ansor's gradient, default) or in turn")
    p.add_argument("--runner", choices=["local", "ray"], default="local",
                   help="where candidates are built and timed: this machine, or the workers of "
                        "a Ray cluster (started locally when none runs)")
    p.add_argument("--ray-address", help="join this Ray cluster (e.g. auto or host:6379)")
    p.add_argument("--trials-per-round", type=int, default=16,
                   help="candidates per round of one kernel (default 16)")
    p.add_argument("--pretrained", help="train the cost model first on this database (other "
                                        "models' records) or saved cost model")
    p.add_argument("--tasks", help="tune only these kernels (comma-separated names)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the search")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_tune)

    p = sub.add_parser("compile", help="build a model into one shared library with its weights",
                       description="Build a model (with the best schedules of --db where it has "
                                   "them, default schedules elsewhere) into one shared library "
                                   "holding kernels, graph and weights, plus its C header.")
    p.add_argument("model", help="the model file")
    p.add_argument("-o", "--output", required=True, help="the library to write (.so)")
    p.add_argument("--db", help="a tuning database written by `tvmscript tune`")
    model_options(p)
    p.add_argument("--no-header", action="store_true", help="do not write the C header")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say where each kernel's schedule came from")
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("run", help="run a compiled library once and print its outputs",
                       description="Load a library written by `tvmscript compile` and run it on "
                                   "the --input arrays (.npy, in parameter order) or on random "
                                   "inputs of the declared shapes.")
    p.add_argument("library", help="the .so file")
    p.add_argument("--input", action="append", metavar="FILE.npy", help="an input (repeatable)")
    p.add_argument("--output", help="save the outputs (.npy for one output, .npz for several)")
    p.add_argument("--function", default="main", help="the graph function to run (main)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("bench", help="time a library or model (and onnxruntime beside it)",
                       description="Time calls of a compiled library, or of a model built "
                                   "here; with an ONNX model (or --compare FILE.onnx) "
                                   "onnxruntime is timed interleaved with it and the outputs "
                                   "are compared.")
    p.add_argument("target_file", metavar="LIBRARY_OR_MODEL", help="a .so or a model file")
    p.add_argument("--db", help="tuning database, when building a model")
    model_options(p)
    p.add_argument("--compare", metavar="FILE.onnx", help="also time onnxruntime on this model")
    p.add_argument("--input", action="append", metavar="FILE.npy", help="an input (repeatable)")
    p.add_argument("--calls", type=int, default=100, help="timed calls per engine (100)")
    p.add_argument("--function", default="main", help="the graph function to time (main)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("show", help="print a model's script, a library's graph, or a "
                                    "database's best records",
                       description="A model: its script as imported (--optimized: what build "
                                   "compiles). A library: its graph functions. A database: "
                                   "each workload's record count and best latency (--trace: "
                                   "the best trace).")
    p.add_argument("file", help="a model, a .so or a tuning database")
    p.add_argument("--optimized", action="store_true",
                   help="the module after graph passes, fusion and schedules")
    p.add_argument("--db", help="the database --optimized takes schedules from")
    p.add_argument("--trace", action="store_true", help="print each workload's best trace")
    model_options(p)
    p.set_defaults(run=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``tvmscript`` entry point; the exit status."""
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except CliError as error:
        print(f"tvmscript {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tvmscript {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("TVMSCRIPT_TRACEBACK"):
            raise
        print(f"tvmscript {args.command}: error: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
