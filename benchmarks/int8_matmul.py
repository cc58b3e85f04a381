"""int8 1024^3 matmul tensorized with VNNI, against the project's best float32 matmul and numpy.

The int8 kernel is ``tutorials/tensorize_int8_matmul.py``'s (u8 x s8 -> s32, B packed as
[n/16, k/4, 16, 4], the 16 x 4 tile tensorized with ``vpdpbusd``, rows in parallel); the float32
one is ``benchmarks/matmul_cpu.py``'s (the tutorial's best schedule). All three are timed
alternately, best call kept. The last line is::

    int8 matmul 1024^3 VNNI: <G> GOPS, float32 schedule <F> GFLOPS (<G/F>x, target >= 2x), numpy float32 <N> GFLOPS (<G/N>x)

On a CPU without AVX-512 VNNI it prints why the figure cannot be measured and exits 0 (no
stand-in numbers). Run: ``python benchmarks/int8_matmul.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript  # noqa: E402

N = 1024


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> "float | None":
    parser = argparse.ArgumentParser(description="int8 VNNI matmul vs float32")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.15)
    args = parser.parse_args(argv)

    from backends.target import has_feature

    missing = [f for f in ("avx512vnni", "avx512bw") if not has_feature(f)]
    if missing:
        print(f"int8 matmul 1024^3 VNNI: not measured: this CPU lacks {', '.join(missing)}, so the "
              "vpdpbusd kernel cannot run here (tutorials/tensorize_int8_matmul.py checks it with "
              "the interpreter and cross-compiles it instead)")
        return None

    tut = _load(ROOT / "tutorials" / "tensorize_int8_matmul.py", "tensorize_int8_matmul")
    sch = tut.schedule(tut.int8_matmul(N, N, N))
    int8 = tvmscript.build(sch.mod, target="llvm -mcpu=native")["matmul"]
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (N, N), dtype=np.uint8)
    b = rng.integers(-128, 128, (N, N), dtype=np.int8)
    bp, c = tut.pack_b(b), np.zeros((N, N), np.int32)
    int8(a, bp, c)
    np.testing.assert_array_equal(c, a.astype(np.int32) @ b.astype(np.int32).T)

    mm = _load(ROOT / "benchmarks" / "matmul_cpu.py", "matmul_cpu")
    f32 = tvmscript.build(mm.load_tutorial().schedule().mod, target=mm.TARGET)["matmul"]
    af, bf = rng.random((N, N), dtype=np.float32), rng.random((N, N), dtype=np.float32)
    cf, df = np.zeros((N, N), np.float32), np.empty((N, N), np.float32)

    t8, t32 = mm.interleaved(lambda: int8(a, bp, c), lambda: f32(af, bf, cf), args.rounds, args.pause)
    _, tnp = mm.interleaved(lambda: None, lambda: np.matmul(af, bf, out=df), args.rounds, args.pause)
    g8, g32, gnp = (2 * N**3 / t / 1e9 for t in (t8, t32, tnp))
    print(f"int8 matmul 1024^3 VNNI: {g8:.1f} GOPS, float32 schedule {g32:.1f} GFLOPS "
          f"({g8 / g32:.2f}x, target >= 2x), numpy float32 {gnp:.1f} GFLOPS ({g8 / gnp:.2f}x)")
    return g8 / g32


if __name__ == "__main__":
    main()
