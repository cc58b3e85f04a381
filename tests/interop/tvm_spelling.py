"""Classic TVMScript respelled for Apache TVM 0.27 by plain text substitution.

This gives the tests TVM's own reading of a program, independent of our printer: the corpus and
the conformance cases are written in the classic spelling, which TVM 0.27 no longer parses, and
these renames are the ones a user would make by hand. Anything a rename cannot fix (integer ``/``,
``T.allocate``, ``**``) is left for TVM to reject, and the tests name those programs.

One rename changes more than a name: classic ``x: T.float32 = v`` and ``x = v`` in a loop-level
function are let bindings, which TVM 0.27 spells ``x: T.let[T.float32] = v`` / ``x: T.let = v``
(its ``x: T.float32 = v`` and ``x = v`` declare a one-element buffer).
"""

from __future__ import annotations

import re

_LET = re.compile(r"^(?P<head>\s*\w+): (?P<ty>T\.\w+) = ")
# a bare ``x = v`` that binds a value, not one that declares a size, buffer, axis or loop thread
_BARE_LET = re.compile(
    r"^(?P<head>\s+\w+) = (?!T\.(axis|match_buffer|alloc_buffer|sblock_alloc_buffer|decl_buffer|"
    r"allocate|launch_thread|env_thread|var|handle|Buffer|u?int\d*\(\)|float\d*\(\)|bool\(\)))")
_PRIM_FUNC = re.compile(r"@T\.prim_func(\((?P<args>[^)]*)\))?")


def _with_s_tir(match: re.Match) -> str:
    args = match.group("args")
    return f"@T.prim_func({args}, s_tir=True)" if args else "@T.prim_func(s_tir=True)"


def tvm_spelling(source: str) -> str:
    text = source.replace('"tir.noalias"', '"tirx.noalias"').replace("out_sinfo=", "out_ty=")
    text = "\n".join(_respell_lets(text.split("\n")))
    if "T.block(" in text or "T.sblock(" in text:
        text = text.replace("T.block(", "T.sblock(").replace("T.block_attr(", "T.sblock_attr(")
        text = text.replace("T.alloc_buffer(", "T.sblock_alloc_buffer(")
        text = _PRIM_FUNC.sub(_with_s_tir, text)
    return text


def _respell_lets(lines: list[str]) -> list[str]:
    in_prim_func = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("@"):
            in_prim_func = stripped.startswith("@T.prim_func")
        elif in_prim_func and not stripped.startswith(("def ", "class ")):
            line = _LET.sub(lambda m: f"{m.group('head')}: T.let[{m.group('ty')}] = ", line)
            line = _BARE_LET.sub(lambda m: f"{m.group('head')}: T.let = ", line)
        yield line
