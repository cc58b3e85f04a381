"""NVRTC compile time per kernel: how long ``build(..., target="cuda")`` spends in NVRTC.

For each golden test kernel of ``tests/test_cuda_codegen.py`` (CUDA C generated once), times
NVRTC compiling it to PTX (``-arch=compute_XX``) and to a cubin (``-arch=sm_XX``), best of 3
with the in-process cache cleared before each compilation. Then, for the three kernels of
``tutorials/optimize_matmul_gpu.py`` (4096³), where ``build(..., target="cuda")`` spends its
time: GPU lowering (``lower_gpu``), CUDA C generation and NVRTC's cubin. No GPU is needed.

Run: ``python benchmarks/nvrtc_compile.py [sm_80]``. Prints a table with the CPU model.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from backends.cuda import nvrtc
from backends.cuda.codegen import generate_cuda
from benchmarks.parse_print import cpu_model


def best_compile_ms(source: str, arch: str, kind: str, repeat: int = 3) -> float:
    compile_fn = nvrtc.compile_ptx if kind == "ptx" else nvrtc.compile_cubin
    times = []
    for _ in range(repeat):
        nvrtc.clear_cache()
        start = time.perf_counter()
        compile_fn(source, arch)
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main(arch: str = "sm_80") -> None:
    from tests.test_cuda_codegen import CASES

    major, minor = nvrtc.nvrtc_version()
    print(f"NVRTC {major}.{minor}, {arch}, CPU: {cpu_model()}")
    print(f"{'kernel':<16} {'lines':>5} {'PTX ms':>8} {'cubin ms':>9}")
    total_ptx = total_cubin = 0.0
    for case, func in sorted(CASES.items()):
        source = generate_cuda({func.attrs["global_symbol"]: func})
        ptx = best_compile_ms(source, arch, "ptx")
        cubin = best_compile_ms(source, arch, "cubin")
        total_ptx, total_cubin = total_ptx + ptx, total_cubin + cubin
        print(f"{case:<16} {source.count(chr(10)):>5} {ptx:>8.1f} {cubin:>9.1f}")
    print(f"{'mean':<16} {'':>5} {total_ptx / len(CASES):>8.1f} "
          f"{total_cubin / len(CASES):>9.1f}")
    build_phases(arch)


def build_phases(arch: str, n: int = 4096) -> None:
    """Lowering, code generation and NVRTC for the tutorial's kernels, best of 3 each."""
    from passes.gpu_pipeline import GPULimits, lower_gpu

    path = Path(__file__).resolve().parents[1] / "tutorials" / "optimize_matmul_gpu.py"
    spec = importlib.util.spec_from_file_location("optimize_matmul_gpu", path)
    steps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(steps)
    print(f"\n{'tutorial kernel':<16} {'lines':>5} {'lower ms':>9} {'CUDA C ms':>10} "
          f"{'cubin ms':>9}")
    for name, (schedule, _) in steps.STEPS.items():
        mod = schedule(n).mod
        lower_s, codegen_s, cubin_s = [], [], []
        for _ in range(3):
            start = time.perf_counter()
            lowered = lower_gpu(mod, GPULimits())
            lower_s.append(time.perf_counter() - start)
            kernels = {k: f for k, f in lowered.functions.items()
                       if f.attrs.get("tvmscript.kernel")}
            start = time.perf_counter()
            source = generate_cuda(kernels)
            codegen_s.append(time.perf_counter() - start)
            nvrtc.clear_cache()
            start = time.perf_counter()
            nvrtc.compile_cubin(source, arch)
            cubin_s.append(time.perf_counter() - start)
        print(f"{name:<16} {source.count(chr(10)):>5} {min(lower_s) * 1e3:>9.1f} "
              f"{min(codegen_s) * 1e3:>10.1f} {min(cubin_s) * 1e3:>9.1f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
