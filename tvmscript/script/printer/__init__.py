"""The TVMScript printer: any IR object as classic TVMScript text that the parser reads back.

``to_script`` is what ``Node.script()`` calls; ``print_with_locations`` also says on which line
each statement, buffer access and variable occurrence was printed (for error messages).
"""

from __future__ import annotations

from typing import Any

from .base import DIALECTS
from .module import ScriptPrinter


def to_script(obj: Any, dialect: str = "classic", show_meta: bool = True) -> str:
    """``obj`` (expression, statement, buffer, function, module, ...) as TVMScript in
    ``dialect`` (``"classic"`` or ``"tvm"``, see ``Node.script``)."""
    return ScriptPrinter(dialect=dialect, show_meta=show_meta).print(obj)


def print_with_metadata(obj: Any, dialect: str = "classic") -> tuple[str, list]:
    """The script of ``obj`` with large constants (weights) as ``metadata[...]`` references,
    and those constants in reference order: ``from_source(text, metadata=constants)`` reads
    it back (what ``tvmscript.save`` writes)."""
    printer = ScriptPrinter(dialect=dialect, show_meta=False)
    text = printer.print(obj)
    return text, list(printer.metadata)


def print_with_locations(obj: Any, dialect: str = "classic") -> tuple[str, dict[int, int]]:
    """The script of ``obj`` and ``id(node)`` -> 1-based line for every statement and every
    BufferLoad/BufferStore/Var occurrence (the first line it appears on)."""
    printer = ScriptPrinter(with_locations=True, dialect=dialect)
    text = printer.print(obj)
    return text, printer.locations()


__all__ = ["DIALECTS", "ScriptPrinter", "print_with_locations", "print_with_metadata",
           "to_script"]
