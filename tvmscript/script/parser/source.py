"""Where a program's text comes from, with spans in the user's file coordinates.

For a decorated function the lines come from ``inspect.getsourcelines`` once; the AST of the
dedented text is shifted by the first line number and the dedent width, so every span and error
is in absolute file coordinates (no ``inspect.stack()``, no per-node ``inspect`` calls).
"""

from __future__ import annotations

import ast
import inspect
import io
import linecache
import tokenize
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...diagnostics import ScriptError
from ...ir.depth import MAX_EXPR_DEPTH, SPLIT_HINT
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
        end_line = getattr(node, "end_lineno", None) or getattr(node, "lineno", 1)
        end_line += self.line_offset
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
    tree = _parse_or_raise(text, source_text, 0, 0)
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
    tree = _parse_or_raise(body, source_text, start - 1, indent)
    return Source(tree, source_text, start - 1, indent)


def _parse_or_raise(text: str, source_text: SourceText, line_offset: int,
                    col_offset: int) -> ast.Module:
    """Python's parser on ``text``; its failures become ScriptErrors in the user's file."""
    try:
        tree = _parse(text, source_text.filename)
    except SyntaxError as exc:
        raise syntax_error(exc, source_text, line_offset, col_offset) from None
    except (RecursionError, MemoryError):  # Python's parser gives up on very deep nesting
        lineno = _most_operators(text) + line_offset
        line = source_text.line(lineno)
        raise ScriptError(f"this expression is nested too deeply for Python's parser (the "
                          f"limit is {MAX_EXPR_DEPTH} levels); {SPLIT_HINT}", lineno,
                          len(line) - len(line.lstrip()), source_text.filename, line) from None
    _refuse_deep_expressions(tree, source_text, line_offset, col_offset)
    return tree


def _refuse_deep_expressions(tree: ast.Module, source_text: SourceText, line_offset: int,
                             col_offset: int) -> None:
    """Every layer below the parser is built for expressions up to ``MAX_EXPR_DEPTH`` deep
    (``tvmscript/ir/depth.py``); deeper ones are refused here, at the outermost expression."""
    depths = _ast_depths(tree)
    if max(depths.values(), default=0) <= MAX_EXPR_DEPTH:
        return
    deep = [child for node in ast.walk(tree) if not isinstance(node, ast.expr)
            for child in _expr_children(node)
            if isinstance(child, ast.expr) and depths.get(id(child), 0) > MAX_EXPR_DEPTH]
    node = min(deep, key=lambda n: (n.lineno, n.col_offset))
    source = Source(tree, source_text, line_offset, col_offset)
    raise source.error(node, f"this expression is nested too deeply ({depths[id(node)]} levels; "
                             f"the limit is {MAX_EXPR_DEPTH}); {SPLIT_HINT}")


def _ast_depths(tree: ast.Module) -> dict[int, int]:
    """id(expression node) -> the depth of the IR it becomes (as ``ir.depth.expr_depth`` counts,
    never less), computed with an explicit stack so no nesting is too deep to measure."""
    depths: dict[int, int] = {}
    stack: list[tuple[ast.AST, list | None]] = [(tree, None)]
    while stack:
        node, children = stack.pop()
        if children is not None:  # second visit: the children's depths are known
            below = max((depths[id(c)] for c in children), default=0)
            depths[id(node)] = below + _own_depth(node)
        else:
            children = list(_expr_children(node))
            stack.append((node, children))
            stack.extend((c, None) for c in children)
    return depths


def _expr_children(node: ast.AST) -> Iterator[ast.AST]:
    """The operands of an expression (a call's arguments, not the function it calls); for any
    other node, the nodes below it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(node, ast.Call) and child is node.func:
            continue
        if isinstance(node, ast.expr) and isinstance(child, ast.keyword):
            yield child.value
        elif isinstance(child, ast.expr) or not isinstance(node, ast.expr):
            yield child


def _own_depth(node: ast.AST) -> int:
    """Levels this node adds: ``a and b and c`` is two nested Ands, ``a < b < c`` an And of
    comparisons; tuples and starred items add none; a name or constant is a leaf."""
    if isinstance(node, ast.BoolOp):
        return len(node.values) - 1
    if isinstance(node, ast.Compare):
        return len(node.ops)
    if isinstance(node, (ast.Tuple, ast.List, ast.Starred)) or not isinstance(node, ast.expr):
        return 0
    return 1


def _most_operators(text: str) -> int:
    """The line (1-based) of the logical line with the most operators: where the deep
    expression is, since Python's parser does not say."""
    counts: dict[int, int] = {}
    start = 1
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NEWLINE:
                start = tok.end[0] + 1
            elif tok.type == tokenize.OP:
                counts[start] = counts.get(start, 0) + 1
    except (tokenize.TokenError, SyntaxError):
        pass
    return max(counts, key=counts.__getitem__, default=1)


def _parse(text: str, filename: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Python's own warnings (e.g. `1if`) are not ours to show
        return ast.parse(text, filename=filename)


def _indent(lines: list[str]) -> int:
    for line in lines:
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


def syntax_error(exc: SyntaxError, text: SourceText, line_offset: int,
                 col_offset: int) -> ScriptError:
    lineno = (exc.lineno or 1) + line_offset
    col = max(0, (exc.offset or 1) - 1) + col_offset
    n_lines = max(1, len(text.text.splitlines()))
    lineno = min(max(1, lineno), n_lines)
    line = text.line(lineno)
    col = min(col, max(0, len(line)))
    return ScriptError(f"invalid Python syntax: {exc.msg}", lineno, col, text.filename, line)
