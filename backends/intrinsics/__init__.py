"""Built-in tensor intrinsics: the x86 ones this CPU has, and the CUDA tensor-core ones (which
need no feature of this machine: they compile with NVRTC and run on a GPU or the emulator)."""

from .cuda import register_cuda_intrinsics
from .x86 import register_x86_intrinsics

register_x86_intrinsics()
register_cuda_intrinsics()

__all__ = ["register_cuda_intrinsics", "register_x86_intrinsics"]
