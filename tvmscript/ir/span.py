"""Source locations: where in the user's text (or file) a construct was written."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a source file, 1-based lines and 0-based columns as Python's ``ast`` gives."""

    source: "SourceText"
    lineno: int
    col_offset: int
    end_lineno: int
    end_col_offset: int

    def __str__(self) -> str:
        return f"{self.source.filename}:{self.lineno}:{self.col_offset + 1}"

    def __eq__(self, other: object) -> bool:  # spans never make two nodes differ
        return isinstance(other, Span)

    def __hash__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True, eq=False)
class SourceText:
    """The text a program came from, and where its first line sits in the file."""

    text: str
    filename: str = "<string>"

    def line(self, lineno: int) -> str:
        lines = self.text.splitlines()
        if 1 <= lineno <= len(lines):
            return lines[lineno - 1]
        return ""
