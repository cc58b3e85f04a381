"""``T`` entries that build expression nodes exactly as written: ``T.Add(a, b)`` ... ``T.Not(a)``.

The operators (``a + b``) fold constants the way Apache TVM does (``fold.py``); these never do, so
the printer spells with them a node that an operator would fold away (``T.Mul(i, 1)``), as TVM's
printer does, and the text parses back to the same node.
"""

from __future__ import annotations

from ..ir import expr as E
from .parser.builtin import table
from .parser.values import as_prim, loaded


def _node(cls):
    def make(p, a, b):
        return cls(*E.match_dtypes(loaded(a), loaded(b)))

    return make


def not_node(p, a):
    return E.Not(as_prim(a))


EXPR_ENTRIES = dict(table("T", {
    **{name: _node(getattr(E, name)) for name in (
        "Add", "Sub", "Mul", "Div", "Mod", "FloorDiv", "FloorMod", "Min", "Max",
        "EQ", "NE", "LT", "LE", "GT", "GE", "And", "Or")},
    "Not": not_node,
}))
