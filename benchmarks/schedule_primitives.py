"""How long each schedule primitive takes on the 1024^3 matmul (the tuner applies thousands).

Two tables:

1. every instruction of the matmul tutorial's trace (``tutorials/optimize_matmul_cpu.py``),
   timed in the state the tutorial applies it in;
2. primitives the tutorial does not use (fuse, compute_at, compute_inline, cache_read, rfactor,
   blockize, sampling, annotate, ...), each on a state where it applies.

Each figure is the median of ``--repeat`` applications, each on a fresh copy of the schedule in
that state (``Schedule.copy`` shares the immutable IR, so copying costs nothing measurable).
The time includes the primitive's checks, the rewrite and the trace record.

Run: ``python benchmarks/schedule_primitives.py [--repeat 20]`` (a few seconds).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript
from tvmscript.schedule import BlockRV, IntRV, LoopRV


def load_tutorial():
    path = ROOT / "tutorials" / "optimize_matmul_cpu.py"
    spec = importlib.util.spec_from_file_location("optimize_matmul_cpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_ms(make, apply, repeat: int) -> float:
    """Median milliseconds of ``apply(state)`` over ``repeat`` fresh states from ``make()``."""
    times = []
    for _ in range(repeat):
        state = make()
        start = time.perf_counter()
        apply(state)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _remap(value, mapping):
    if isinstance(value, (BlockRV, LoopRV, IntRV)):
        return mapping[value.rv_id]
    if isinstance(value, (list, tuple)):
        return type(value)(_remap(v, mapping) for v in value)
    return value


def _bind(recorded, produced, mapping) -> None:
    if isinstance(recorded, (BlockRV, LoopRV, IntRV)):
        mapping[recorded.rv_id] = produced
    elif isinstance(recorded, (list, tuple)):
        for r, p in zip(recorded, produced):
            _bind(r, p, mapping)


def trace_rows(func, trace, repeat: int) -> list[tuple[str, float]]:
    """(call, ms) for each instruction of ``trace`` replayed on ``func``."""
    sch = tvmscript.Schedule(func)
    mapping: dict = {}
    rows = []
    for inst in trace.instructions:
        args = [_remap(v, mapping) for v in inst.inputs]
        kwargs = {k: _remap(v, mapping) for k, v in inst.attrs.items()}
        if inst.decision is not None:
            kwargs["decision"] = inst.decision
        method = getattr(tvmscript.Schedule, inst.kind)
        ms = median_ms(sch.copy, lambda s, m=method, a=args, k=kwargs: m(s, *a, **k), repeat)
        result = method(sch, *args, **kwargs)
        _bind(inst.outputs, result, mapping)
        rows.append((inst.kind, ms))
    return rows


def extra_rows(tutorial, repeat: int) -> list[tuple[str, float]]:
    """Primitives outside the tutorial, each on the naive or the tiled matmul."""
    naive = tvmscript.Schedule(tutorial.matmul)
    tiled = naive.copy()
    tutorial.step_tile(tiled)
    packed = tiled.copy()
    tutorial.step_pack(packed)
    halved = packed.copy()  # the 16 columns of the update in two 8-lane halves
    halved.split(halved.get_loops(halved.get_block("C"))[-1], [None, 8])

    def on(base, fn):
        return lambda: median_ms(base.copy, fn, repeat)

    def loops(s, name="C"):
        return s.get_loops(s.get_block(name))

    cases = {
        "get_block": on(naive, lambda s: s.get_block("C")),
        "get_loops": on(tiled, lambda s: loops(s)),
        "split (3 factors)": on(naive, lambda s: s.split(loops(s)[0], [None, 8, 4])),
        "fuse (2 loops)": on(tiled, lambda s: s.fuse(*loops(s)[:2])),
        "reorder (5 loops)": on(tiled, lambda s: s.reorder(*reversed(loops(s)[2:]))),
        "parallel": on(tiled, lambda s: s.parallel(loops(s)[0])),
        "annotate": on(tiled, lambda s: s.annotate(loops(s)[0], "pragma_auto_unroll_max_step",
                                                   16)),
        "cache_read (A, global)": on(tiled, lambda s: s.cache_read(s.get_block("C"), 1,
                                                                   "global")),
        "cache_write (C, local)": on(tiled, lambda s: s.cache_write(s.get_block("C"), 0,
                                                                    "local")),
        "compute_at (B_pack under j_0)": on(packed, lambda s: s.compute_at(
            s.get_block("B_pack"), loops(s)[1])),
        "compute_inline (B_pack)": on(packed, lambda s: s.compute_inline(s.get_block("B_pack"))),
        "decompose_reduction": on(tiled, lambda s: s.decompose_reduction(s.get_block("C"),
                                                                         loops(s)[2])),
        "rfactor (k split by 4)": on(naive, lambda s: s.rfactor(
            s.split(loops(s)[2], [None, 4])[1], 0)),
        "blockize (i_1)": on(tiled, lambda s: s.blockize(loops(s)[3])),
        "tensorize (8 lanes, fma_8x1_f32_avx2)": on(halved, lambda s: s.tensorize(
            loops(s)[-1], "fma_8x1_f32_avx2")),
        "transform_layout (B packed)": on(tiled, lambda s: tutorial.step_pack(s)),
        "sample_perfect_tile (4 parts)": on(naive, lambda s: s.sample_perfect_tile(
            loops(s)[0], 4, 16)),
    }
    rows = []
    for name, measure in cases.items():
        try:
            rows.append((name, measure()))
        except Exception as err:  # noqa: BLE001 (a primitive missing or refusing: say so)
            rows.append((f"{name} -- {type(err).__name__}: {err}"[:100], float("nan")))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="time schedule primitives on the 1024^3 matmul")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    tutorial = load_tutorial()
    final = tutorial.schedule()

    print("| tutorial step | primitive | ms |\n| --- | --- | ---: |")
    total = 0.0
    for index, (kind, ms) in enumerate(trace_rows(tutorial.matmul, final.trace, args.repeat)):
        total += ms
        print(f"| {index} | {kind} | {ms:.3f} |")
    print(f"| all {len(final.trace)} | (whole trace) | {total:.2f} |")
    start = time.perf_counter()
    final.trace.apply_to(tutorial.matmul)
    print(f"\nreplaying the whole trace with Trace.apply_to: "
          f"{(time.perf_counter() - start) * 1e3:.2f} ms")
    print("\n| primitive (not in the tutorial) | ms |\n| --- | ---: |")
    for name, ms in extra_rows(tutorial, args.repeat):
        print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()
