"""Classic TVMScript respelled for Apache TVM 0.27 by plain text substitution.

This gives the tests TVM's own reading of a program, independent of our printer: the corpus and
the conformance cases are written in the classic spelling, which TVM 0.27 no longer parses, and
these renames are the ones a user would make by hand. Anything a rename cannot fix (integer ``/``,
``T.allocate``, ``**``) is left for TVM to reject, and the tests name those programs.
"""

from __future__ import annotations

import re

_PRIM_FUNC = re.compile(r"@T\.prim_func(\((?P<args>[^)]*)\))?")


def _with_s_tir(match: re.Match) -> str:
    args = match.group("args")
    return f"@T.prim_func({args}, s_tir=True)" if args else "@T.prim_func(s_tir=True)"


def tvm_spelling(source: str) -> str:
    text = source.replace('"tir.noalias"', '"tirx.noalias"').replace("out_sinfo=", "out_ty=")
    if "T.block(" in text:
        text = text.replace("T.block(", "T.sblock(").replace("T.block_attr(", "T.sblock_attr(")
        text = text.replace("T.alloc_buffer(", "T.sblock_alloc_buffer(")
        text = _PRIM_FUNC.sub(_with_s_tir, text)
    return text
