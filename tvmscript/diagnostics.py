"""The one exception type for malformed programs, rendered like a compiler diagnostic.

Why one type: users (and tools) catch ``ScriptError`` and get the file, line, column and the
offending source line, whatever part of the parser noticed the problem.

What a user sees is only the error, its ``file:line:col`` and the caret: the public entry points
(``from_source``, ``@T.prim_func``, ``@R.function``, ``@I.ir_module``) re-raise it without the
parser-internal traceback and without the internal exception it was converted from.

The debug switch, to debug the parser itself: set ``DEBUG = True``, use ``with debug():``, or run
with the environment variable ``TVMSCRIPT_DEBUG=1``. Then a ``ScriptError`` keeps its full
traceback and is chained (``__cause__``) to the internal exception it was converted from, so
Python prints both.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, Callable, Iterator, TypeVar

DEBUG = os.environ.get("TVMSCRIPT_DEBUG", "") not in ("", "0")
_F = TypeVar("_F", bound=Callable[..., Any])


class ScriptError(Exception):
    """A program the parser (or a later check) rejects, pointing at the user's construct."""

    def __init__(self, message: str, lineno: int = 1, col_offset: int = 0,
                 filename: str = "<string>", source_line: str = "",
                 end_col_offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno
        self.col_offset = col_offset
        self.filename = filename
        self.source_line = source_line
        self.end_col_offset = end_col_offset

    def __str__(self) -> str:
        width = len(str(self.lineno))
        pad = " " * width
        end = self.end_col_offset
        if end is None or end <= self.col_offset:
            end = len(self.source_line.rstrip()) if self.source_line else self.col_offset + 1
        carets = "^" * max(1, end - self.col_offset)
        return (
            f"error: {self.message}\n"
            f"{pad}--> {self.filename}:{self.lineno}:{self.col_offset + 1}\n"
            f"{pad} |\n"
            f"{self.lineno} | {self.source_line}\n"
            f"{pad} | {' ' * self.col_offset}{carets}"
        )

    def __reduce__(self):
        return (ScriptError, (self.message, self.lineno, self.col_offset, self.filename,
                              self.source_line, self.end_col_offset))


def converted(error: ScriptError, internal: BaseException) -> ScriptError:
    """``error`` chained to the ``internal`` exception it replaces (seen in debug mode only)."""
    error.__cause__ = internal if DEBUG else None
    error.__suppress_context__ = True
    return error


def user_facing(fn: _F) -> _F:
    """Wrap a public parsing entry point: a ``ScriptError`` leaves it with a short traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ScriptError as error:
            if DEBUG:
                raise
            raise error.with_traceback(None) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def debug(enabled: bool = True) -> Iterator[None]:
    """Within this block, internal parser exceptions are re-raised unchanged."""
    global DEBUG
    old, DEBUG = DEBUG, enabled
    try:
        yield
    finally:
        DEBUG = old


__all__ = ["ScriptError", "DEBUG", "debug", "converted", "user_facing"]
