"""What the CUDA tests need from the machine, asked once: a GPU with its driver (most machines,
CI's included, have none: those tests skip with the reason) and NVRTC (the test extra installs
it, so the compile tests run everywhere the suite does)."""

from __future__ import annotations

import pytest

from backends.cuda import nvrtc
from backends.cuda.launch import gpu_unavailable_reason

NO_GPU = gpu_unavailable_reason()  # None where kernels can run on a GPU, else why not
needs_gpu = pytest.mark.skipif(NO_GPU is not None,
                               reason=f"needs an NVIDIA GPU and driver (none found: {NO_GPU})")
needs_nvrtc = pytest.mark.skipif(not nvrtc.is_available(),
                                 reason=f"needs NVRTC: {nvrtc.INSTALL_HINT}")
