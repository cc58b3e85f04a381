"""The ``I`` namespace: ``@I.ir_module`` and ``I.module_attrs``."""

from __future__ import annotations

from .namespace import Namespace
from .parser.entry import ir_module


def _module_attrs(attrs: dict) -> None:
    """Read by ``I.ir_module`` from the class text; calling it does nothing."""
    return None


def _string_type():
    """``I.StringType()``: TVM 0.27's struct info of ``R.str(...)`` (an object here)."""
    from ..ir.graph import ObjectStructInfo

    return ObjectStructInfo()


I = Namespace("I", {"ir_module": ir_module, "module_attrs": _module_attrs,
                    "StringType": _string_type})

__all__ = ["I"]
