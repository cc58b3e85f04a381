"""The one exception type for malformed programs, rendered like a compiler diagnostic.

Why one type: users (and tools) catch ``ScriptError`` and get the file, line, column and the
offending source line, whatever part of the parser noticed the problem. Set ``DEBUG = True`` (or
use ``with debug():``) to let the raw internal exception through instead, to debug the parser.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

DEBUG = False


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


@contextlib.contextmanager
def debug(enabled: bool = True) -> Iterator[None]:
    """Within this block, internal parser exceptions are re-raised unchanged."""
    global DEBUG
    old, DEBUG = DEBUG, enabled
    try:
        yield
    finally:
        DEBUG = old


__all__ = ["ScriptError", "DEBUG", "debug"]
