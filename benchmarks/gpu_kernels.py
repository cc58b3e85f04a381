"""GPU kernels against cuBLAS and cuDNN through torch, on this machine's NVIDIA GPU.

- SGEMM 4096³ float32 on CUDA cores: the tutorial's tiled shared-memory schedule
  (``tutorials/optimize_matmul_gpu.py``), against ``torch.matmul`` (cuBLAS) with TF32 off;
- fp16 tensor-core GEMM 4096³ with float32 accumulation: the tutorial's WMMA schedule, against
  ``torch.matmul`` on float16 (cuBLAS, tensor cores);
- ResNet-18's 3x3 convolutions, tuned (``tvmscript.tune(..., target="cuda")``, ``--trials`` per
  layer), against ``torch.nn.functional.conv2d`` (cuDNN).

Operands stay on the GPU; each side is timed best of several rounds of 10 calls, the two sides
interleaved. Needs the ``cuda`` extra (pycuda) and torch with CUDA. Without a GPU it says why and
exits: the figures a CPU-only machine can give are ``benchmarks/cuda_emulator.py`` (emulator
throughput) and ``benchmarks/nvrtc_compile.py`` (NVRTC compile time per kernel).

Run: ``python benchmarks/gpu_kernels.py [--n 4096] [--trials 64] [--skip-conv]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tvmscript
from backends.cuda.launch import gpu_unavailable_reason
from benchmarks.conv2d_cpu import conv2d_of

# ResNet-18's 3x3 convolutions (stride 1): channels in = out, spatial size
RESNET_LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]


def tutorial():
    """The tutorial's schedules (one definition of each kernel)."""
    spec = importlib.util.spec_from_file_location(
        "optimize_matmul_gpu", ROOT / "tutorials" / "optimize_matmul_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interleaved_best(ours, theirs, sync, rounds: int = 7, number: int = 10) -> tuple[float, float]:
    """Best seconds per call of each side, alternating rounds so load hits both alike."""
    best = [float("inf"), float("inf")]
    for fn in (ours, theirs):  # warm-up (module load, cuDNN algorithm choice)
        fn()
    sync()
    for _ in range(rounds):
        for side, fn in enumerate((ours, theirs)):
            sync()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            sync()
            best[side] = min(best[side], (time.perf_counter() - start) / number)
    return best[0], best[1]


def gemm_row(name: str, schedule, dtype: str, n: int, arch: str) -> str:
    import torch

    from backends.cuda.launch import to_device, to_host  # the kernels' (primary) context

    rt = tvmscript.build(schedule(n).mod, target=f"cuda -arch={arch}")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    ga, gb = to_device(a), to_device(b)
    gc = to_device(np.zeros((n, n), np.float32))
    fn = rt["matmul"]
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    fn(ga, gb, gc)
    want = (ta.float() @ tb.float()).cpu().numpy()
    error = float(np.max(np.abs(to_host(gc) - want)) / np.max(np.abs(want)))
    ours, theirs = interleaved_best(lambda: fn(ga, gb, gc), lambda: torch.matmul(ta, tb),
                                    torch.cuda.synchronize)
    tflops = 2 * n**3 / 1e12
    return (f"| {name} | {n}³ {dtype} | {ours * 1e3:.3f} | {theirs * 1e3:.3f} | "
            f"{tflops / ours:.1f} | **{theirs / ours:.2f}×** | {error:.1e} |")


def conv_row(channels: int, size: int, trials: int, arch: str) -> str:
    import torch

    from backends.cuda.launch import to_device

    func = conv2d_of(channels, channels, size)
    result = tvmscript.tune(func, target=f"cuda -arch={arch}", trials=trials)
    rt = tvmscript.build(result.best, target=f"cuda -arch={arch}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, channels, size, size)).astype("float32")
    w = rng.standard_normal((channels, channels, 3, 3)).astype("float32")
    gx, gw = to_device(x), to_device(w)
    gy = to_device(np.zeros((1, channels, size, size), np.float32))
    tx, tw = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
    fn = rt["conv2d"]
    ours, theirs = interleaved_best(
        lambda: fn(gx, gw, gy),
        lambda: torch.nn.functional.conv2d(tx, tw, padding=1), torch.cuda.synchronize)
    flops = 2 * channels * channels * 9 * size * size
    return (f"| conv2d {channels}→{channels}, {size}² | {trials} trials | {ours * 1e3:.3f} | "
            f"{theirs * 1e3:.3f} | {flops / ours / 1e12:.2f} | **{theirs / ours:.2f}×** | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--trials", type=int, default=64, help="tuning trials per conv layer")
    parser.add_argument("--skip-conv", action="store_true", help="only the two GEMMs")
    args = parser.parse_args()
    reason = gpu_unavailable_reason()
    if reason is not None:
        print(f"no GPU to benchmark on: {reason}. Without one, run benchmarks/cuda_emulator.py "
              "and benchmarks/nvrtc_compile.py")
        return
    import torch

    if not torch.cuda.is_available():
        print("torch has no CUDA here: the references (cuBLAS, cuDNN) come from torch with CUDA")
        return
    torch.backends.cuda.matmul.allow_tf32 = False  # SGEMM on CUDA cores, like ours
    torch.backends.cudnn.allow_tf32 = False
    steps = tutorial()
    arch = steps.gpu_arch()
    print(f"GPU: {torch.cuda.get_device_name(0)} ({arch}); torch {torch.__version__}")
    print("| kernel | size | ours ms | reference ms | ours TFLOPS | reference ÷ ours | rel. err |")
    print("|---|---|---|---|---|---|---|")
    print(gemm_row("SGEMM (tiled, shared memory)", steps.tiled, "float32", args.n, arch))
    print(gemm_row("GEMM fp16 (WMMA tensor cores)", steps.tensor_core, "float16", args.n, arch))
    if not args.skip_conv:
        for channels, size in RESNET_LAYERS:
            print(conv_row(channels, size, args.trials, arch))


if __name__ == "__main__":
    main()
