"""CUDA C to PTX or cubin with NVRTC (``cuda.bindings.nvrtc``): no GPU or driver needed.

Why NVRTC: it ships as a wheel (``nvidia-cuda-nvrtc``), so CI without a CUDA toolkit still
compiles every kernel for a real architecture. NVRTC has no headers built in; ``cuda_fp16.h``,
``cuda_bf16.h`` and ``mma.h`` come from the ``nvidia-cuda-runtime`` wheel (or a CUDA toolkit).
Results are cached in-process by (source, arch, options, output kind).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from functools import cache

INSTALL_HINT = ("pip install nvidia-cuda-nvrtc nvidia-cuda-runtime cuda-bindings "
                "(or tvmscript's `cuda` extra)")
SOURCE_NAME = "tvmscript_kernels.cu"

_CACHE: dict[tuple[str, str, tuple[str, ...], str], bytes] = {}


class CUDACompileError(RuntimeError):
    """NVRTC rejected the generated CUDA C: the log with the offending source lines."""

    def __init__(self, log: str, source: str, arch: str) -> None:
        self.log, self.source, self.arch = log, source, arch
        super().__init__(f"NVRTC failed to compile the CUDA C for {arch}:\n{log.rstrip()}"
                         + _offending_lines(log, source))


class NVRTCUnavailableError(RuntimeError):
    """The NVRTC Python bindings or library are not installed."""


def _offending_lines(log: str, source: str) -> str:
    """The source lines NVRTC's messages point at (``name.cu(12): error: ...``)."""
    lines = source.splitlines()
    numbers = sorted({int(n) for n in re.findall(rf"{re.escape(SOURCE_NAME)}\((\d+)\)", log)})
    shown = [f"  {n:4d} | {lines[n - 1]}" for n in numbers if 0 < n <= len(lines)]
    return "\nin the generated source:\n" + "\n".join(shown) if shown else ""


@cache
def _nvrtc():
    """The ``cuda.bindings.nvrtc`` module, with its library loaded (checked once)."""
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        raise NVRTCUnavailableError(f"NVRTC is not available ({exc}); {INSTALL_HINT}") from None
    try:
        err, _, _ = nvrtc.nvrtcVersion()
    except RuntimeError as exc:  # the bindings are there but libnvrtc is not
        raise NVRTCUnavailableError(f"the NVRTC library could not be loaded ({exc}); "
                                    f"{INSTALL_HINT}") from None
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise NVRTCUnavailableError(f"NVRTC does not work here ({err}); {INSTALL_HINT}")
    return nvrtc


def nvrtc_version() -> tuple[int, int]:
    """NVRTC's (major, minor) version; raises NVRTCUnavailableError when it is missing."""
    _, major, minor = _nvrtc().nvrtcVersion()
    return major, minor


def is_available() -> bool:
    """Whether kernels can be compiled here (tests skip on False with the reason)."""
    try:
        _nvrtc()
    except NVRTCUnavailableError:
        return False
    return True


@cache
def include_dirs() -> tuple[str, ...]:
    """Where the CUDA headers are: the nvidia-cuda-runtime wheel, else /usr/local/cuda."""
    found = []
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations if spec else None) or ():
        for sub in sorted(os.listdir(root), reverse=True):  # cu13 before cu12
            inc = os.path.join(root, sub, "include")
            if os.path.isfile(os.path.join(inc, "cuda_fp16.h")):
                found.append(inc)
    for inc in ("/usr/local/cuda/include",):
        if os.path.isfile(os.path.join(inc, "cuda_fp16.h")):
            found.append(inc)
    return tuple(found)


def compile_options(arch: str, kind: str, options: Sequence[str] = ()) -> tuple[str, ...]:
    """The NVRTC command line: ``-arch=compute_80`` for PTX, ``-arch=sm_80`` for a cubin."""
    if not re.fullmatch(r"sm_\d+a?", arch):
        raise ValueError(f"GPU architecture {arch!r}: expected e.g. 'sm_80' or 'sm_90a'")
    virtual = "compute_" + arch[3:]
    flags = [f"-arch={virtual if kind == 'ptx' else arch}", "-std=c++17"]
    flags += [f"-I{d}" for d in include_dirs()]
    return tuple(flags) + tuple(options)


def compile_ptx(source: str, arch: str = "sm_80", options: Sequence[str] = ()) -> str:
    """PTX text of ``source`` for ``arch`` (e.g. ``--use_fast_math`` in ``options``)."""
    return _compile(source, arch, tuple(options), "ptx").decode()


def compile_cubin(source: str, arch: str = "sm_80", options: Sequence[str] = ()) -> bytes:
    """The cubin (an ELF image the driver loads as is) of ``source`` for ``arch``."""
    return _compile(source, arch, tuple(options), "cubin")


def clear_cache() -> None:
    """Forget compiled results (benchmarks time real compilations)."""
    _CACHE.clear()


def _compile(source: str, arch: str, options: tuple[str, ...], kind: str) -> bytes:
    key = (source, arch, options, kind)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _run_nvrtc(source, arch, compile_options(arch, kind, options), kind)
        _CACHE[key] = cached
    return cached


def _check(nvrtc, result: tuple, what: str):
    err, *rest = result
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"NVRTC {what} failed: {err}")
    return rest[0] if len(rest) == 1 else rest


def _run_nvrtc(source: str, arch: str, flags: tuple[str, ...], kind: str) -> bytes:
    nvrtc = _nvrtc()
    prog = _check(nvrtc, nvrtc.nvrtcCreateProgram(source.encode(), SOURCE_NAME.encode(), 0,
                                                  [], []), "nvrtcCreateProgram")
    try:
        opts = [f.encode() for f in flags]
        err, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise CUDACompileError(_log(nvrtc, prog), source, arch)
        get_size, get = ((nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX) if kind == "ptx"
                         else (nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN))
        size = _check(nvrtc, get_size(prog), f"getting the {kind} size")
        out = b" " * size
        _check(nvrtc, (get(prog, out)[0], None), f"getting the {kind}")
        return out.rstrip(b"\0") if kind == "ptx" else out
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _log(nvrtc, prog) -> str:
    size = _check(nvrtc, nvrtc.nvrtcGetProgramLogSize(prog), "getting the log size")
    log = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, log)
    return log.rstrip(b"\0").decode(errors="replace")
