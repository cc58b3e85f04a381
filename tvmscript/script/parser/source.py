"""Where a program's text comes from, with spans in the user's file coordinates.

For a decorated function the lines come from ``inspect.getsourcelines`` once; the AST of the
dedented text is shifted by the first line number and the dedent width, so every span and error
is in absolute file coordinates (no ``inspect.stack()``, no per-node ``inspect`` calls).
"""

from __future__ import annotations

import ast
import inspect
import linecache
import warnings
from dataclasses import dataclass
from typing import Any

from ...diagnostics import ScriptError
from ...ir.span import SourceText, Span


@dataclass
class Source:
    """Parsed text plus the offsets that map its AST positions to the user's file."""

    tree: ast.Module
    text: SourceText
    line_offset: int = 0  # added to AST line numbers
    col_offset: int = 0  # added to AST columns (the dedent width)

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1) + self.line_offset
        end_line = (getattr(node, "end_lineno", None) or getattr(node, "lineno", 1)) + self.line_offset
        col = getattr(node, "col_offset", 0) + self.col_offset
        end_col = (getattr(node, "end_col_offset", None) or col) + self.col_offset
        return Span(self.text, line, col, end_line, end_col)

    def error(self, node: ast.AST | None, message: str) -> ScriptError:
        if node is None:
            return ScriptError(message, 1 + self.line_offset, 0, self.text.filename,
                               self.text.line(1 + self.line_offset))
        span = self.span(node)
        end = span.end_col_offset if span.end_lineno == span.lineno else None
        return ScriptError(message, span.lineno, span.col_offset, self.text.filename,
                           self.text.line(span.lineno), end)


def from_text(text: str, filename: str = "<string>") -> Source:
    """The source of ``tvmscript.from_source``: line numbers are those of ``text``."""
    source_text = SourceText(text, filename)
    try:
        tree = _parse(text, filename)
    except SyntaxError as exc:
        raise syntax_error(exc, source_text, 0, 0) from None
    return Source(tree, source_text)


def from_object(obj: Any) -> Source:
    """The source of a decorated function or class, in its file's coordinates."""
    try:
        lines, start = inspect.getsourcelines(obj)
        filename = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (OSError, TypeError) as exc:
        raise ScriptError(
            f"cannot find the source of {getattr(obj, '__qualname__', obj)!r} ({exc}); "
            "use tvmscript.from_source(text) for programs that are not in a file"
        ) from None
    indent = _indent(lines)
    body = "".join(line[indent:] if not indent or line[:indent].isspace() else line.lstrip()
                   for line in lines)
    file_lines = linecache.getlines(filename)
    full = "".join(file_lines) if file_lines else "\n" * (start - 1) + "".join(lines)
    source_text = SourceText(full, filename)
    try:
        tree = _parse(body, filename)
    except SyntaxError as exc:
        raise syntax_error(exc, source_text, start - 1, indent) from None
    return Source(tree, source_text, start - 1, indent)


def _parse(text: str, filename: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Python's own warnings (e.g. `1if`) are not ours to show
        return ast.parse(text, filename=filename)


def _indent(lines: list[str]) -> int:
    for line in lines:
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


def syntax_error(exc: SyntaxError, text: SourceText, line_offset: int, col_offset: int) -> ScriptError:
    lineno = (exc.lineno or 1) + line_offset
    col = max(0, (exc.offset or 1) - 1) + col_offset
    n_lines = max(1, len(text.text.splitlines()))
    lineno = min(max(1, lineno), n_lines)
    line = text.line(lineno)
    col = min(col, max(0, len(line)))
    return ScriptError(f"invalid Python syntax: {exc.msg}", lineno, col, text.filename, line)
