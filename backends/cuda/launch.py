"""Running kernels on an NVIDIA GPU through pycuda (the ``cuda`` extra).

``gpu_unavailable_reason()`` says why there is no GPU to run on (no driver, no device, no
pycuda), probing the driver with ``cuda.bindings.driver.cuInit``, which fails cleanly without
one (``import pycuda.driver`` itself raises without a driver). ``PyCUDADevice`` is the
``host.Device`` of a real GPU: numpy arguments are copied in and out, device arrays
(``__cuda_array_interface__``) are used in place. Everything runs in GPU 0's primary context
(``in_primary_context``); ``to_device`` / ``to_host`` make and read device arrays there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Self

import numpy as np

from tvmscript.ir import PrimFunc

from .host import DeviceArray, device_array_interface
from .launch_info import needs_shared_opt_in, static_shared_bytes

NO_GPU = ("no NVIDIA GPU/driver found ({reason}); the CUDA C and cubin were compiled "
          "(rt.get_source(), rt.get_ptx()); run on the CPU with target='cuda-emulator'")

# struct codes of pycuda's prepared calls, by kernel parameter dtype (half as its bits)
_FORMAT = {"int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i",
           "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d",
           "bool": "?", "float16": "H", "bfloat16": "H", "handle": "P"}


@cache
def gpu_unavailable_reason() -> str | None:
    """Why kernels cannot run on a GPU here, or None when they can."""
    try:
        from cuda.bindings import driver
    except ImportError:  # no probe: pycuda's import below fails without a driver
        driver = None
    if driver is not None:
        try:
            err, = driver.cuInit(0)
        except RuntimeError as exc:  # the driver library itself is missing
            return f"the CUDA driver library could not be loaded: {exc}"
        if err != driver.CUresult.CUDA_SUCCESS:
            return f"cuInit failed with {getattr(err, 'name', err)}"
        err, count = driver.cuDeviceGetCount()
        if err != driver.CUresult.CUDA_SUCCESS or count == 0:
            return "the CUDA driver reports no device"
    try:
        import pycuda.driver  # noqa: F401
    except ImportError as exc:
        return f"pycuda is not installed or does not load ({exc}); pip install pycuda"
    return None


def no_gpu_error() -> RuntimeError:
    return RuntimeError(NO_GPU.format(reason=gpu_unavailable_reason()))


def cubin_arch(requested: str, capability: tuple[int, int]) -> str:
    """The architecture to compile the cubin for on a device of compute ``capability``:
    the device's own when no ``-arch`` was given (``requested`` is ""), else ``requested``
    when its cubin can run there (same major version, not newer than the device). Raises
    RuntimeError saying what to pass otherwise: a cubin does not load on another major
    version."""
    major, minor = capability
    device = f"sm_{major}{minor}"
    if not requested:
        return device
    match = re.fullmatch(r"sm_(\d+)(\d)([af]?)", requested)
    if match is None:
        raise RuntimeError(f"-arch={requested} is not an architecture of the form sm_XY")
    want_major, want_minor, suffix = int(match[1]), int(match[2]), match[3]
    runs = want_major == major and (want_minor == minor if suffix == "a" else
                                    want_minor <= minor)
    if not runs:
        raise RuntimeError(f"the target's -arch={requested} cubin cannot run on this GPU "
                           f"(compute capability {major}.{minor}); build with "
                           f"target='cuda -arch={device}', or target='cuda' to compile for "
                           "the GPU found")
    return requested


def check_launchable(name: str, kernel: PrimFunc) -> None:
    """Refuse at build time a kernel parameter pycuda cannot pass (a vector scalar)."""
    for p in kernel.params:
        if str(p.dtype) not in _FORMAT:
            raise ValueError(f"kernel {name!r}: parameter {p.name!r} has dtype {p.dtype}, which "
                             f"cannot be passed to a kernel launch (supported: "
                             f"{', '.join(sorted(_FORMAT))})")


@cache
def _primary_context() -> tuple[Any, Any]:
    """(pycuda.driver, the primary context of GPU 0): the one context every launch and every
    array of ``to_device`` use (``pycuda.autoinit`` would make a second one)."""
    reason = gpu_unavailable_reason()
    if reason is not None:
        raise no_gpu_error()
    import pycuda.driver as drv

    drv.init()
    return drv, drv.Device(0).retain_primary_context()


@contextmanager
def in_primary_context() -> Iterator[Any]:
    """pycuda.driver, with the primary context current inside the ``with`` block."""
    drv, context = _primary_context()
    context.push()
    try:
        yield drv
    finally:
        drv.Context.pop()


def to_device(array: np.ndarray) -> Any:
    """A copy of ``array`` in GPU memory (a pycuda GPUArray, which has
    ``__cuda_array_interface__``), in the context kernels are launched in: pass it to
    ``rt["f"](...)`` to skip the copies in and out."""
    with in_primary_context():
        from pycuda import gpuarray

        return gpuarray.to_gpu(np.ascontiguousarray(array))


def to_host(device_array: Any) -> np.ndarray:
    """A numpy copy of a contiguous GPU array (anything with ``__cuda_array_interface__``)."""
    interface = device_array_interface(device_array)
    if interface is None:
        raise TypeError(f"to_host expects a GPU array, got {type(device_array).__name__}")
    meta = DeviceArray(interface)
    if not meta.flags.c_contiguous:
        raise ValueError(f"to_host copies contiguous arrays; this one has strides "
                         f"{meta.strides}")
    out = np.empty(meta.shape, meta.dtype)
    if out.nbytes:
        with in_primary_context() as drv:
            drv.memcpy_dtoh(out, int(meta.pointer))
    return out


class PyCUDADevice:
    """The GPU through pycuda; one per module (it loads the module's cubin once).

    ``cubin_for(arch)`` compiles the module for an architecture; ``requested_arch`` is the
    target's ``-arch`` ("" when not given: the device's own, see ``cubin_arch``)."""

    def __init__(self, cubin_for: Callable[[str], bytes], requested_arch: str = "") -> None:
        drv, self.context = _primary_context()
        self.drv = drv
        capability = drv.Device(0).compute_capability()
        cubin = cubin_for(cubin_arch(requested_arch, tuple(capability)))
        self.context.push()
        try:
            self.module = drv.module_from_buffer(cubin)
        finally:
            drv.Context.pop()
        self.functions: dict[str, Any] = {}
        self.static_shared: dict[str, int] = {}

    def __enter__(self) -> Self:
        self.context.push()
        return self

    def __exit__(self, *exc: object) -> None:
        self.drv.Context.pop()

    def upload(self, arr: np.ndarray) -> Any:
        handle = self.drv.mem_alloc(max(arr.nbytes, 1))
        if arr.nbytes:
            self.drv.memcpy_htod(handle, arr)
        return handle

    def wrap(self, arg: Any, meta: DeviceArray) -> int:
        return int(meta.pointer)

    def download(self, handle: Any, arr: np.ndarray) -> None:
        if arr.nbytes:
            self.drv.memcpy_dtoh(arr, handle)

    def alloc(self, size: int, dtype: str) -> Any:
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        return self.drv.mem_alloc(max(size * itemsize, 1))

    def free(self, handle: Any) -> None:
        if hasattr(handle, "free"):
            handle.free()

    def launch(self, name: str, kernel: PrimFunc, grid: tuple[int, int, int],
               block: tuple[int, int, int], shared_bytes: int, args: list[Any]) -> None:
        fn = self.functions.get(name)
        if fn is None:
            check_launchable(name, kernel)
            fn = self.module.get_function(name)
            fn.prepare("".join(_FORMAT[str(p.dtype)] for p in kernel.params))
            self.functions[name] = fn
            self.static_shared[name] = static_shared_bytes(kernel)
        if needs_shared_opt_in(self.static_shared[name], shared_bytes):
            attr = self.drv.function_attribute.MAX_DYNAMIC_SHARED_SIZE_BYTES
            fn.set_attribute(attr, shared_bytes)
        values = [_scalar_bits(p.dtype, a) if not p.dtype.is_handle else int(a)
                  for p, a in zip(kernel.params, args)]
        fn.prepared_call(grid, block, *values, shared_size=shared_bytes)

    def synchronize(self) -> None:
        self.drv.Context.synchronize()


def _scalar_bits(dtype: Any, value: Any) -> Any:
    name = str(dtype)
    if name == "float16":
        return int(np.array(value, np.float16).view(np.uint16))
    if name == "bfloat16":
        from ..runtime.arguments import bfloat16_bits

        return bfloat16_bits(value)
    return value
