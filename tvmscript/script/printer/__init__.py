"""The TVMScript printer: any IR object as classic TVMScript text that the parser reads back.

``to_script`` is what ``Node.script()`` calls; ``print_with_locations`` also says on which line
each statement, buffer access and variable occurrence was printed (for error messages).
"""

from __future__ import annotations

from typing import Any

from .module import ScriptPrinter


def to_script(obj: Any) -> str:
    """``obj`` (expression, statement, buffer, function, module, ...) as TVMScript."""
    return ScriptPrinter().print(obj)


def print_with_locations(obj: Any) -> tuple[str, dict[int, int]]:
    """The script of ``obj`` and ``id(node)`` -> 1-based line for every statement and every
    BufferLoad/BufferStore/Var occurrence (the first line it appears on)."""
    printer = ScriptPrinter(with_locations=True)
    text = printer.print(obj)
    return text, printer.locations()


__all__ = ["ScriptPrinter", "print_with_locations", "to_script"]
