"""The TVMScript parser: Python source (decorated or text) to IR."""

from .entry import from_source, function, ir_module, prim_func

__all__ = ["from_source", "prim_func", "function", "ir_module"]
