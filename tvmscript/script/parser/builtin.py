"""How namespace functions (``T.exp``, ``R.add``, ``T.axis.remap`` ...) are called by the parser.

A ``Builtin`` wraps a plain function whose first parameter is the parser; arguments are checked
against its signature (cached once per builtin) so a wrong arity is reported with the expected
call, and ``ArgError`` lets a builtin blame one argument so the caret lands on it.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable


class ArgError(Exception):
    """Raised by a builtin to blame argument ``key`` (a position or a parameter name)."""

    def __init__(self, key: "int | str", message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class Binder:
    """A value that only makes sense assigned to names (``vi = T.axis.spatial(...)``)."""

    def bind(self, parser: Any, names: list[str], node: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


class Builtin:
    """A function of a script namespace, called with the parser as its first argument."""

    __slots__ = ("name", "fn", "_sig", "_params")

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        self.fn = fn
        self._sig: inspect.Signature | None = None
        self._params: list[str] = []

    def signature(self) -> inspect.Signature:
        if self._sig is None:
            sig = inspect.signature(self.fn)
            params = list(sig.parameters.values())[1:]
            self._sig = sig.replace(parameters=params)
            self._params = [p.name for p in params]
        return self._sig

    def check(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Raise TypeError with the expected call when the arguments do not fit."""
        sig = self.signature()
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"wrong arguments for {self.name}: {exc}; expected {self.name}{_show(sig)}"
            ) from None

    @property
    def script_kind(self) -> str:
        return self.name

    def param_position(self, key: "int | str") -> "int | str":
        """The call position of parameter ``key`` (or the keyword name when not positional)."""
        if isinstance(key, int):
            return key
        self.signature()
        return self._params.index(key) if key in self._params else key

    def param_name(self, key: "int | str") -> str | None:
        """The name of parameter ``key`` (a position or a name), for a keyword argument."""
        if isinstance(key, str):
            return key
        self.signature()
        return self._params[key] if key < len(self._params) else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Called by Python itself (annotations evaluated at ``def`` time): best effort, since
        the parser evaluates the same text again with full checks."""
        try:
            return self.fn(None, *args, **kwargs)
        except Exception:  # noqa: BLE001 - the parser reports the real error later
            return None

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _show(sig: inspect.Signature) -> str:
    parts = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.default is p.empty:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={p.default!r}")
    return "(" + ", ".join(parts) + ")"


def table(prefix: str, fns: dict[str, Callable[..., Any]]) -> dict[str, Builtin]:
    return {name: Builtin(f"{prefix}.{name}", fn) for name, fn in fns.items()}
