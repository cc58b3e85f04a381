"""The base of every IR node: frozen, slotted dataclasses with cached hashes and source spans.

Why a hand-written base rather than plain ``@dataclass(frozen=True)``: generated ``__hash__``
rehashes whole trees recursively on every call, and spans must never take part in equality.
Here ``==``/``hash`` walk the declared fields once and cache the hash; the span lives in a slot
outside the fields. Variables and buffers override equality with identity (see ``IdentityNode``);
equality of two separately written programs up to renaming is ``structural_equal``'s job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from .span import Span

N = TypeVar("N", bound="Node")

# field metadata keys
DEF = "defines"  # the field introduces variables/buffers (a binding site for structural equality)


def node(cls=None, **kwargs):
    """Class decorator for IR nodes: a frozen, slotted dataclass whose equality Node defines."""

    def wrap(c):
        made = dataclass(frozen=True, slots=True, eq=False, repr=False, **kwargs)(c)
        made._field_names = tuple(f.name for f in dataclasses.fields(made))
        made._init_fields = tuple(f.name for f in dataclasses.fields(made) if f.init)
        made._def_fields = frozenset(
            f.name for f in dataclasses.fields(made) if f.metadata.get(DEF)
        )
        return made

    return wrap if cls is None else wrap(cls)


def defines(**kwargs) -> Any:
    """A dataclass field that binds the variables or buffers it holds."""
    return dataclasses.field(metadata={DEF: True}, **kwargs)


class Node:
    """Base of all IR nodes."""

    __slots__ = ("_span", "_hash_cache")
    _field_names: tuple[str, ...] = ()
    _init_fields: tuple[str, ...] = ()
    _def_fields: frozenset[str] = frozenset()
    # fields that only name things: structural equality and hashing ignore them
    _struct_skip: frozenset[str] = frozenset()

    @property
    def span(self) -> Span | None:
        return getattr(self, "_span", None)

    def with_span(self: N, span: Span | None) -> N:
        """Attach a source span (used by the parser right after construction)."""
        if span is not None:
            object.__setattr__(self, "_span", span)
        return self

    def fields(self) -> tuple[tuple[str, Any], ...]:
        return tuple((name, getattr(self, name)) for name in self._field_names)

    def with_(self: N, **changes: Any) -> N:
        """A copy with some fields replaced; the same object when nothing changes."""
        if all(getattr(self, k) is v for k, v in changes.items()):
            return self
        values = {name: getattr(self, name) for name in self._init_fields}
        values.update(changes)
        made = type(self)(**values)
        return made.with_span(self.span)

    def __eq__(self, other: object) -> bool:
        """Field by field, with an explicit stack of node pairs: expressions thousands of
        levels deep (built in Python) compare without recursing once per level."""
        if self is other:
            return True
        if type(self) is not type(other):
            return NotImplemented if not isinstance(other, Node) else False
        pairs: list[tuple[Node, Node]] = [(self, other)]
        while pairs:
            a, b = pairs.pop()
            if hash(a) != hash(b):
                return False
            if not all(_match(getattr(a, n), getattr(b, n), pairs) for n in a._field_names):
                return False
        return True

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        """Cached; the nodes below are hashed first, deepest first, so hashing never recurses
        once per level (a fresh deep expression hashes without a RecursionError)."""
        try:
            return self._hash_cache
        except AttributeError:
            pass
        for below in _unhashed_post_order(self):
            below._store_hash()
        return self._store_hash()

    def _store_hash(self) -> int:
        value = hash((type(self).__name__,)
                     + tuple(_hashable(getattr(self, n)) for n in self._field_names))
        object.__setattr__(self, "_hash_cache", value)
        return value

    def __repr__(self) -> str:
        try:
            return self.script()
        except Exception:  # repr must never fail, even for a half-built node
            return f"<{type(self).__name__}>"

    def script(self, dialect: str = "classic", show_meta: bool = False) -> str:
        """This node as TVMScript text that parses back to an equal node.

        ``dialect="classic"`` (the default) is the spelling of TVM's documentation and published
        kernels; ``dialect="tvm"`` is what Apache TVM 0.27 parses (``T.sblock``, ``s_tir=True``,
        ``out_ty=`` ...), for moving a program into TVM. Both parse back here to the same IR.

        Constants of more than 64 elements (a model's weights) print as
        ``metadata["relax.expr.Constant"][i]``, as TVM prints them, so a model's script stays
        readable; ``show_meta=True`` writes their values instead. ``tvmscript.save`` keeps the
        text and the weights together, and ``from_source(text, metadata=...)`` reads them back.
        """
        from ..script.printer import to_script

        return to_script(self, dialect=dialect, show_meta=show_meta)


class IdentityNode(Node):
    """A node equal only to itself: variables, buffers (renaming is structural equality's job)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self) >> 4


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def child_nodes(value: Any) -> Iterator[Node]:
    """The nodes directly inside a node's fields (or inside a tuple, list or dict of them);
    variables and buffers are references, with nothing inside."""
    if isinstance(value, IdentityNode):
        return
    values = [getattr(value, n) for n in value._field_names] if isinstance(value, Node) else [value]
    while values:
        item = values.pop()
        if isinstance(item, Node):
            yield item
        elif isinstance(item, (tuple, list)):
            values.extend(item)
        elif isinstance(item, dict):
            values.extend(item.keys())
            values.extend(item.values())


def _unhashed_post_order(root: Node) -> list[Node]:
    """Nodes below ``root`` whose hash is not cached yet, each after the nodes below it."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(c, False) for c in _unhashed_children(root)]
    while stack:
        item, children_done = stack.pop()
        if children_done:
            order.append(item)
        elif id(item) not in seen:
            seen.add(id(item))
            stack.append((item, True))
            stack.extend((c, False) for c in _unhashed_children(item))
    return order


def _unhashed_children(item: Node) -> Iterator[Node]:
    for child in child_nodes(item):
        if type(child).__hash__ is Node.__hash__ and not hasattr(child, "_hash_cache"):
            yield child


def _match(x: Any, y: Any, pairs: list[tuple[Node, Node]]) -> bool:
    """Whether two field values are equal, deferring a pair of nodes compared by fields to
    ``pairs`` (tuples and lists compare item by item, as Python's own ``==`` does)."""
    if type(x) is not type(y):
        return x == y
    if isinstance(x, Node) and type(x).__eq__ is Node.__eq__:
        if x is not y:
            pairs.append((x, y))
        return True
    if isinstance(x, (tuple, list)):
        return len(x) == len(y) and all(a is b or _match(a, b, pairs) for a, b in zip(x, y))
    return x == y
