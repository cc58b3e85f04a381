"""Passes: transformations of IR modules, and the default lowering pipeline."""

from .infra import (
    Pass, PassContext, PassInstrument, Sequential, get_pass, list_passes, module_pass,
    prim_func_pass,
)

__all__ = ["Pass", "PassContext", "PassInstrument", "Sequential", "get_pass", "list_passes",
           "module_pass", "prim_func_pass"]
