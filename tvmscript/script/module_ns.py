"""The ``I`` namespace: ``@I.ir_module`` and ``I.module_attrs``."""

from __future__ import annotations

from typing import Any

from .namespace import Namespace


def _ir_module(cls: type) -> Any:
    from .parser.entry import ir_module

    return ir_module(cls)


def _module_attrs(attrs: dict) -> None:
    """Read by ``I.ir_module`` from the class text; calling it does nothing."""
    return None


I = Namespace("I", {"ir_module": _ir_module, "module_attrs": _module_attrs})

__all__ = ["I"]
