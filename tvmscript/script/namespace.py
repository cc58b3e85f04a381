"""A script namespace (``T``, ``R``, ``I``): attribute lookup over a table of builtins.

Attribute errors name the namespace and what exists, so ``T.blok`` reports
``T has no attribute 'blok'; did you mean 'block'?``.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable


class Namespace:
    """``T.x`` looks ``x`` up in ``entries`` then in ``fallback(x)`` (None when unknown)."""

    def __init__(self, name: str, entries: dict[str, Any],
                 fallback: Callable[[str], Any] | None = None) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_entries", entries)
        object.__setattr__(self, "_fallback", fallback)

    @property
    def script_kind(self) -> str:
        return f"the namespace {object.__getattribute__(self, '_name')}"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        entries = object.__getattribute__(self, "_entries")
        if name in entries:
            return entries[name]
        fallback = object.__getattribute__(self, "_fallback")
        value = fallback(name) if fallback is not None else None
        if value is None:
            raise AttributeError(self.script_attr_error(name))
        return value

    def script_attr_error(self, name: str) -> str:
        entries = object.__getattribute__(self, "_entries")
        ns = object.__getattribute__(self, "_name")
        close = difflib.get_close_matches(name, list(entries), n=1)
        hint = f"; did you mean '{ns}.{close[0]}'?" if close else ""
        return f"{ns} has no attribute '{name}'{hint}"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("script namespaces are read-only")

    def __repr__(self) -> str:
        return f"<namespace {object.__getattribute__(self, '_name')}>"
