"""The CUDA emulator: runs a lowered device kernel on the CPU with the GPU's semantics.

Why: with no GPU at hand, a kernel's *correctness* still needs checking with everything that
makes GPU code go wrong: every thread of every block runs (``blockIdx``/``threadIdx`` from the
kernel's ``T.launch_thread`` extents), shared memory is per block and starts as garbage (NaN),
``T.tvm_storage_sync("shared")`` is a real barrier (a thread that skips one is an
``EmulatorBarrierError``), warp shuffles and other warp-collective ops (``collectives.py``)
exchange values between the lanes of a warp, and two threads touching one shared element with
no barrier between is an ``EmulatorRaceError`` naming the buffer, the element, both threads and
both statements. Arithmetic is the interpreter's (``backends/interpreter``), whose translator
this package extends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tvmscript.ir import PrimFunc

from .collectives import register_collective
from .errors import EmulatorBarrierError, EmulatorError, EmulatorRaceError
from .kernel import EmulatedKernel, compile_kernel
from .scheduler import Launch


def emulate(kernel: PrimFunc, args: Sequence[Any], *, check_races: bool = True) -> None:
    """Run one device kernel on ``args`` (numpy arrays written in place, Python scalars, in the
    kernel's parameter order) over its whole grid.

    The kernel runs on copies of the arrays, written back when it finishes: an error (a race,
    an out-of-bounds access) leaves the caller's arrays as they were. The same array passed
    twice is one buffer, as on the device."""
    compiled = compile_kernel(kernel, check_races)
    values = compiled.bind(list(args))
    copies: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for i, value in enumerate(values):
        if isinstance(value, np.ndarray):  # keyed by the memory (flattening made new views)
            key = (value.__array_interface__["data"][0], value.shape, value.strides,
                   value.dtype.str)
            values[i] = copies.setdefault(key, (value, value.copy()))[1]
    with np.errstate(all="ignore"):
        Launch(compiled, values).run()
    for original, copy in copies.values():
        if original.flags.writeable:  # read-only inputs cannot have been written
            np.copyto(original, copy)


__all__ = ["EmulatedKernel", "EmulatorBarrierError", "EmulatorError", "EmulatorRaceError",
           "compile_kernel", "emulate", "register_collective"]
