"""The CUDA backend: CUDA C code generation, NVRTC compilation, and running kernels on a GPU
(pycuda) or on the CPU emulator.

``build(mod, target="cuda")`` lowers with ``passes.gpu_pipeline.lower_gpu`` and returns a
``CUDAModule``; ``generate_cuda`` turns lowered kernels into CUDA C, ``compile_ptx`` /
``compile_cubin`` compile it with NVRTC (no GPU needed).
"""

from .codegen import CodegenError, generate_cuda
from .module import CUDAModule, build_cuda
from .nvrtc import CUDACompileError, NVRTCUnavailableError, compile_cubin, compile_ptx

__all__ = ["CUDACompileError", "CUDAModule", "CodegenError", "NVRTCUnavailableError",
           "build_cuda", "compile_cubin", "compile_ptx", "generate_cuda"]
