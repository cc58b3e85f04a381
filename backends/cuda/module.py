"""``CUDAModule``: what ``build(mod, target="cuda")`` and ``"cuda-emulator"`` return.

It holds the CUDA C of every kernel (``get_source()``), its PTX and cubin from NVRTC
(``get_ptx()``, ``get_cubin()``), and the host functions: ``rt["f"](a, b, c)`` runs ``f``'s host
code (``host.py``) with its kernels on the GPU (``launch.PyCUDADevice``), or on the CPU emulator
for ``cuda-emulator`` (``backends.cuda.emulator.emulate``). Compilation needs no GPU; calling on
the ``cuda`` target without one raises a RuntimeError saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import numpy as np

from tvmscript.ir import IRModule, PrimFunc

from ..target import Target
from .codegen import CUDACodegen
from .host import DeviceArray, HostFunction
from .nvrtc import compile_cubin, compile_ptx


class CUDAModule:
    """Compiled GPU kernels and the host functions that launch them."""

    def __init__(self, kernels: dict[str, PrimFunc], hosts: dict[str, PrimFunc],
                 target: Target) -> None:
        self.target = target
        self._kernels = dict(kernels)
        gen = CUDACodegen()
        for name, func in self._kernels.items():
            gen.add_kernel(name, func)
        self._source = gen.finish()
        self._device: Any = None
        self._cubins: dict[str, bytes] = {}
        if target.kind == "cuda":
            from .launch import check_launchable

            for name, func in self._kernels.items():
                check_launchable(name, func)
            self.get_cubin()
        self._functions = {name: HostFunction(name, f, self._kernels, self._get_device,
                                              gen.vector_bytes)
                           for name, f in hosts.items()}

    @staticmethod
    def from_lowered(mod: IRModule, target: str | Target = "cuda") -> CUDAModule:
        """A module from ``lower_gpu``'s output: kernels (attr ``tvmscript.kernel``) and host
        functions (attr ``tvmscript.host``); anything else is an error naming it."""
        target = Target.parse(target)
        if not target.is_cuda:
            raise ValueError(f"CUDAModule needs a cuda or cuda-emulator target, not "
                             f"{str(target)!r}")
        kernels, hosts = {}, {}
        for name, func in mod.functions.items():
            attrs = getattr(func, "attrs", {})
            if isinstance(func, PrimFunc) and attrs.get("tvmscript.kernel"):
                kernels[name] = func
            elif isinstance(func, PrimFunc) and attrs.get("tvmscript.host"):
                hosts[name] = func
            else:
                raise ValueError(f"function {name!r} is neither a device kernel nor a host "
                                 "function (lower the module with passes.gpu_pipeline.lower_gpu)")
        return CUDAModule(kernels, hosts, target)

    # ------------------------------------------------------------- inspection

    @property
    def kernels(self) -> list[str]:
        """The device kernels' names (``f_kernel``, ``f_kernel_1``, ...)."""
        return list(self._kernels)

    def keys(self) -> list[str]:
        """The host functions: what ``rt[name](...)`` calls."""
        return list(self._functions)

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __getitem__(self, name: str) -> HostFunction:
        try:
            return self._functions[name]
        except KeyError:
            hint = " (a device kernel: call its host function)" if name in self._kernels else ""
            raise KeyError(f"module has no function {name!r}{hint}; it has "
                           f"{sorted(self._functions)}") from None

    def get_source(self, fmt: str = "cu") -> str:
        """The CUDA C of all kernels (``"cu"``) or their PTX (``"ptx"``)."""
        if fmt in ("cu", "cuda"):
            return self._source
        if fmt == "ptx":
            return self.get_ptx()
        raise ValueError(f"get_source({fmt!r}): expected 'cu' or 'ptx'")

    def get_ptx(self) -> str:
        """PTX for the target's architecture (compiled on first use, then cached)."""
        return compile_ptx(self._source, self.target.arch)

    def get_cubin(self, arch: str | None = None) -> bytes:
        """The cubin (ELF) the GPU loads, for ``arch`` (default: the target's
        architecture)."""
        arch = arch or self.target.arch
        if arch not in self._cubins:
            self._cubins[arch] = compile_cubin(self._source, arch)
        return self._cubins[arch]

    def benchmark(self, name: str, *args: Any, number: int = 1, repeat: int = 3) -> float:
        """Seconds per call of ``rt[name](*args)``: the best of ``repeat`` rounds of
        ``number`` calls (each waits for the GPU), after a warm-up call."""
        from ..runtime.timing import best_of

        fn = self[name]
        return best_of(lambda: fn(*args), repeat=repeat, number=number)

    def __repr__(self) -> str:
        return (f"<CUDAModule {self.target} functions={sorted(self._functions)} "
                f"kernels={self.kernels}>")

    # ------------------------------------------------------------- running

    def _get_device(self) -> Any:
        if self._device is None:
            if self.target.kind == "cuda-emulator":
                self._device = EmulatorDevice()
            else:
                from .launch import PyCUDADevice

                # without -arch, the cubin is compiled for the GPU found (an sm_80 cubin
                # does not load on an sm_90 device)
                self._device = PyCUDADevice(self.get_cubin, self.target.option("arch"))
        return self._device


class EmulatorDevice:
    """Kernels run on the CPU by the emulator; "device memory" is the numpy arrays
    themselves, written in place."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def upload(self, arr: np.ndarray) -> np.ndarray:
        # the caller's memory itself (host.flat_view); a read-only input (never written:
        # the host checks) as a copy, so nothing downstream tries to write it
        return arr if arr.flags.writeable else arr.copy()

    def wrap(self, arg: Any, meta: DeviceArray) -> Any:
        raise TypeError(f"the cuda-emulator target runs on the CPU: pass numpy arrays, not "
                        f"GPU arrays ({type(arg).__name__})")

    def download(self, handle: Any, arr: np.ndarray) -> None:
        return None  # written in place

    def alloc(self, size: int, dtype: str) -> np.ndarray:
        from ..runtime.arguments import numpy_dtype

        return np.zeros(size, numpy_dtype(dtype))

    def free(self, handle: Any) -> None:
        return None

    def launch(self, name: str, kernel: PrimFunc, grid: tuple[int, int, int],
               block: tuple[int, int, int], shared_bytes: int, args: list[Any]) -> None:
        from .emulator import compile_kernel, emulate

        # the emulator reads the launch shape off the kernel itself: it must be the one the
        # host computed, which is what the GPU is launched with (the dynamic shared bytes
        # are not compared: the emulator sizes shared arrays from their allocations)
        compiled = compile_kernel(kernel, True)
        want = compiled.dims(compiled.bind(list(args)))
        if (tuple(grid), tuple(block)) != want:
            raise RuntimeError(f"internal error: the host launches kernel {name!r} with grid "
                               f"{grid} and block {block}, the emulator runs it with grid "
                               f"{want[0]} and block {want[1]}")
        emulate(kernel, args)

    def synchronize(self) -> None:
        return None


def build_cuda(mod: IRModule, target: Target) -> CUDAModule:
    """``build(mod, target="cuda" | "cuda-emulator")``: ``lower_gpu`` with the target's limits,
    then CUDA C, NVRTC and a ``CUDAModule``."""
    graph = [name for name, f in mod.functions.items() if not isinstance(f, PrimFunc)]
    if graph:
        names = ", ".join(repr(n) for n in graph)
        kind = "is a graph-level function" if len(graph) == 1 else "are graph-level functions"
        raise ValueError(f"build for {target.kind} takes loop-level functions only; {names} "
                         f"{kind}, which run on the CPU targets for now (build them with "
                         "target='llvm')")
    pipeline = _gpu_pipeline()
    return CUDAModule.from_lowered(pipeline.lower_gpu(mod, gpu_limits(target)), target)


def _gpu_pipeline() -> Any:
    try:
        import passes.gpu_pipeline as pipeline
    except ModuleNotFoundError as exc:
        if exc.name != "passes.gpu_pipeline":
            raise
        raise RuntimeError("building for a GPU needs the GPU lowering "
                           "(passes/gpu_pipeline.py), which this checkout does not have; "
                           "CUDAModule.from_lowered takes an already lowered module") from None
    return pipeline


def gpu_limits(target: Target) -> Any:
    """The ``GPULimits`` lowering checks kernels against, from the target's options."""
    limits = {}
    for key in ("max_threads_per_block", "max_shared_memory_per_block"):
        if target.option(key):
            limits[key] = int(target.option(key))
    return _gpu_pipeline().GPULimits(**limits)
