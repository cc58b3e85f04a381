"""Tuning a matmul automatically: search the schedule space with a learned cost model.

The hand-written schedule of ``optimize_matmul_cpu.py`` took a dozen decisions (tile sizes, the
packing of B, where the accumulator lives, what to vectorize, parallelize and unroll).
``tvmscript.tune`` takes them instead: rules turn the kernel into design spaces (traces with
sampling instructions), an evolutionary search proposes candidates, an XGBoost model trained on
every measurement so far ranks them, and the most promising are built and timed on this machine.
The result is the fastest schedule found, as a trace that replays, prints and is stored in a
database for later builds.

Run: ``python tutorials/tune_matmul.py`` (1024³, 128 trials a search, a few minutes), or
``--quick`` (256³, 16 trials: what CI runs). It tunes with the learned model and with random
search on the same budget, prints the best trace, and draws the curves (``tune_matmul.png``)
when matplotlib is installed (``pip install -e ".[tune]"``). Last, it writes a rule of its own
and tunes a kernel with it (step 6).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript
from backends.runtime.timing import interleaved
from tuner.space import ScheduleRule, default_rules
from tvmscript import T


def matmul_of(n: int):
    @T.prim_func
    def matmul(A: T.Buffer((n, n), "float32"), B: T.Buffer((n, n), "float32"),
               C: T.Buffer((n, n), "float32")):
        for i, j, k in T.grid(n, n, n):
            with T.block("C"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = T.float32(0)
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    return matmul


# 6. A rule of your own. A rule looks at one block and returns the schedules it leads to; every
# step is a schedule primitive, so it lands in the trace, and every choice is a *sampling*
# primitive, so the search can redraw and mutate it. This one splits a block's innermost loop by
# a sampled factor (at most the SIMD width) and vectorizes the inner part. The default rules
# would vectorize the whole innermost loop; with this rule the vector width is a decision the
# search learns.
class SplitAndVectorize(ScheduleRule):
    name = "split-and-vectorize"

    def apply(self, sch, block, ctx):
        loops = sch.get_loops(block)
        if not loops:
            return [sch]  # nothing to split: the schedule passes through unchanged
        _, lanes = sch.sample_perfect_tile(loops[-1], n=2, max_innermost_factor=ctx.vector_lanes)
        _, inner = sch.split(loops[-1], [None, lanes])
        sch.vectorize(inner)
        return [sch]


@T.prim_func
def scale_add(X: T.Buffer((512, 512), "float32"), Y: T.Buffer((512, 512), "float32"),
              Z: T.Buffer((512, 512), "float32")):
    for i, j in T.grid(512, 512):
        with T.block("Z"):
            vi, vj = T.axis.remap("SS", [i, j])
            Z[vi, vj] = X[vi, vj] * T.float32(2) + Y[vi, vj]


def tune_with_my_rule(target: str, trials: int, quiet: bool) -> None:
    rules = [SplitAndVectorize()] + default_rules(target)  # first, so it sees the loops untouched
    result = tvmscript.tune(scale_add, target=target, trials=trials, space=rules, seed=0,
                            progress=not quiet)
    chosen = next(i for i in result.best_trace.instructions if i.kind == "sample_perfect_tile")
    print(f"with my rule: best {result.best_gflops:.2f} GFLOPS; the vector width it chose: "
          f"{chosen.decision[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256³ and 16 trials (for CI)")
    args = parser.parse_args()
    n, trials = (256, 16) if args.quick else (1024, 128)
    matmul = matmul_of(n)
    target = "llvm -mcpu=native"

    # 1. Tune with the learned cost model; every measurement goes into the database.
    db = Path(tempfile.mkdtemp()) / "tuning.db"
    learned = tvmscript.tune(matmul, target=target, trials=trials, database=str(db), seed=0,
                             cost_model="xgb", progress=not args.quick)
    print(f"xgb:    best {learned.best_gflops:.1f} GFLOPS after {len(learned.history)} trials")

    # 2. The same budget without a model: random search over the same spaces.
    rand = tvmscript.tune(matmul, target=target, trials=trials, seed=0, cost_model="random",
                          search="random", progress=not args.quick)
    print(f"random: best {rand.best_gflops:.1f} GFLOPS after {len(rand.history)} trials")

    # 3. The best schedule, as Python that replays it.
    print("best trace:")
    print(learned.best_trace)

    # 4. Later (another process would do the same): build from the database.
    rt = tvmscript.build(matmul, target=target, database=str(db))
    a = np.random.rand(n, n).astype("float32")
    b = np.random.rand(n, n).astype("float32")
    c = np.zeros((n, n), "float32")
    rt["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-3, atol=1e-3)
    # a pause lets OpenBLAS's spinning threads settle; a small kernel would time waking threads
    ours, ref = interleaved(lambda: rt["matmul"](a, b, c), lambda: a @ b, rounds=7,
                            pause=0.0 if args.quick else 0.15)
    flops = 2 * n ** 3
    print(f"tuned from the database: {flops / ours / 1e9:.1f} GFLOPS, matches numpy; "
          f"numpy {flops / ref / 1e9:.1f} GFLOPS ({ref / ours:.2f}x numpy's speed)")

    # 5. The curves: best so far and each round's median, against trials.
    try:
        path = learned.plot("tune_matmul.png")
        print(f"curves drawn in {path}")
    except ImportError as exc:
        print(f"no curves: {exc}")

    # 6. Tune another kernel with a rule of our own (defined above).
    tune_with_my_rule(target, 4 if args.quick else 32, args.quick)


if __name__ == "__main__":
    main()
