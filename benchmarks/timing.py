"""The benchmarks time with the runtime's timing helpers (one module measures wall time)."""

from backends.runtime.timing import best_of, interleaved

__all__ = ["best_of", "interleaved"]
