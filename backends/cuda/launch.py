"""Running kernels on an NVIDIA GPU through pycuda (the ``cuda`` extra).

``gpu_unavailable_reason()`` says why there is no GPU to run on (no driver, no device, no
pycuda), probing the driver with ``cuda.bindings.driver.cuInit``, which fails cleanly without
one (``import pycuda.driver`` itself raises without a driver). ``PyCUDADevice`` is the
``host.Device`` of a real GPU: numpy arguments are copied in and out, device arrays
(``__cuda_array_interface__``) are used in place.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Self

import numpy as np

from tvmscript.ir import PrimFunc

from .host import DeviceArray

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


class PyCUDADevice:
    """The GPU through pycuda; one per module (it loads the module's cubin once)."""

    def __init__(self, cubin: bytes) -> None:
        reason = gpu_unavailable_reason()
        if reason is not None:
            raise no_gpu_error()
        import pycuda.driver as drv

        drv.init()
        self.drv = drv
        self.context = drv.Device(0).retain_primary_context()
        self.context.push()
        try:
            self.module = drv.module_from_buffer(cubin)
        finally:
            drv.Context.pop()
        self.functions: dict[str, Any] = {}

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
            fn = self.module.get_function(name)
            fn.prepare("".join(_FORMAT[str(p.dtype)] for p in kernel.params))
            self.functions[name] = fn
        if shared_bytes > 48 * 1024:  # above the default, a kernel must opt in
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
