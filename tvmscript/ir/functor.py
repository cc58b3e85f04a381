"""The one visitor and the one mutator that every analysis and pass builds on.

Both dispatch on the node's class to ``visit_<ClassName>`` (walking the class's bases, so
``visit_BinaryOp`` catches every arithmetic node), and fall back to a generic walk over the
node's dataclass fields. A pass overrides only the node kinds it cares about.

Variables, buffers and graph variables are references: the generic walk does not descend into
them (override ``visit_Buffer`` to look at buffer shapes).
"""

from __future__ import annotations

from typing import Any, Callable

from .frozendict import FrozenDict
from .node import IdentityNode, Node

_DISPATCH: dict[tuple[type, type], Callable[..., Any]] = {}


def _lookup(functor_cls: type, node_cls: type) -> Callable[..., Any]:
    key = (functor_cls, node_cls)
    method = _DISPATCH.get(key)
    if method is None:
        for base in node_cls.__mro__:
            method = getattr(functor_cls, "visit_" + base.__name__, None)
            if method is not None:
                break
        else:
            method = functor_cls.generic_visit
        _DISPATCH[key] = method
    return method


class Visitor:
    """Walks IR for its side effects (collecting, checking). ``visit`` returns nothing useful."""

    def visit(self, obj: Any) -> Any:
        if isinstance(obj, Node):
            return _lookup(type(self), type(obj))(self, obj)
        if isinstance(obj, (tuple, list)):
            for item in obj:
                self.visit(item)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                self.visit(key)
                self.visit(value)
        return None

    def generic_visit(self, node: Node) -> Any:
        if isinstance(node, IdentityNode):
            return None
        for name in node._field_names:
            value = getattr(node, name)
            if isinstance(value, (Node, tuple, list, dict)):
                self.visit(value)
        return None


class PathVisitor(Visitor):
    """A visitor that keeps ``self.path``, the nodes from the root down to the one it visits
    (variables and buffers left out), so a check can say where it found something."""

    def __init__(self) -> None:
        self.path: list[Node] = []

    def visit(self, obj: Any) -> Any:
        if isinstance(obj, Node) and not isinstance(obj, IdentityNode):
            self.path.append(obj)
            try:
                return super().visit(obj)
            finally:
                self.path.pop()
        return super().visit(obj)


class Mutator:
    """Rebuilds IR bottom-up; returns the very same object wherever nothing changed."""

    def visit(self, obj: Any) -> Any:
        if isinstance(obj, Node):
            return _lookup(type(self), type(obj))(self, obj)
        if isinstance(obj, tuple):
            new = tuple(self.visit(item) for item in obj)
            return obj if all(a is b for a, b in zip(new, obj)) else new
        if isinstance(obj, list):
            return [self.visit(item) for item in obj]
        if isinstance(obj, dict):
            changed = False
            items = {}
            for key, value in obj.items():
                new_value = self.visit(value)
                changed |= new_value is not value
                items[key] = new_value
            return FrozenDict(items) if changed else obj
        return obj

    def generic_visit(self, node: Node) -> Any:
        if isinstance(node, IdentityNode):
            return node
        changes = {}
        for name in node._init_fields:
            value = getattr(node, name)
            if isinstance(value, (Node, tuple, list, dict)):
                new = self.visit(value)
                if new is not value:
                    changes[name] = new
        return node.with_(**changes) if changes else node


def post_order_visit(obj: Any, fn: Callable[[Node], None]) -> None:
    """Call ``fn`` on every node under ``obj`` (children first), references included."""

    class _Walk(Visitor):
        def generic_visit(self, node: Node) -> None:
            super().generic_visit(node)
            fn(node)

    _Walk().visit(obj)


class Substitute(Mutator):
    """Replace variables by expressions (``vmap``), e.g. block iterators by their bindings."""

    def __init__(self, vmap: dict) -> None:
        self.vmap = vmap

    def visit_Var(self, var: Node) -> Any:
        return self.vmap.get(var, var)

    def visit_GraphVar(self, var: Node) -> Any:
        return self.vmap.get(var, var)


def substitute(obj: Any, vmap: dict) -> Any:
    """``obj`` with every variable in ``vmap`` replaced (a no-op returns ``obj`` itself)."""
    return Substitute(vmap).visit(obj) if vmap else obj
