"""Loop-level functions and the module that holds functions of both levels."""

from __future__ import annotations

from typing import Any, Iterator

from .buffer import Buffer
from .expr import Var
from .frozendict import EMPTY, FrozenDict, freeze
from .node import Node, defines, node
from .stmt import Block, BlockRealize, Stmt


class BaseFunc(Node):
    __slots__ = ()
    attrs: FrozenDict
    name: str
    _struct_skip = frozenset({"name"})


@node
class PrimFunc(BaseFunc):
    """A kernel: parameters (scalars and buffer handles), their buffers, and a loop-nest body.

    ``buffer_map`` maps each handle parameter to the buffer it is viewed as; functions written
    with blocks keep them under an implicit root block (``body`` is its BlockRealize).
    """

    params: tuple[Var, ...] = defines()
    buffer_map: FrozenDict = defines(default=EMPTY)
    body: Stmt = None
    attrs: FrozenDict = EMPTY
    name: str = ""  # what the printer calls it outside a module; not structural

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "buffer_map", FrozenDict(self.buffer_map))
        object.__setattr__(self, "attrs", FrozenDict(freeze(dict(self.attrs))))

    @property
    def buffers(self) -> list[Buffer]:
        """The parameter buffers in parameter order."""
        return [self.buffer_map[p] for p in self.params if p in self.buffer_map]

    def with_attr(self, key: str, value: Any) -> "PrimFunc":
        return self.with_(attrs=FrozenDict({**self.attrs, key: freeze(value)}))

    def specialize(self, sizes: Any = None, **named: int) -> "PrimFunc":
        """This function with size variables given constant values, e.g.
        ``f.specialize(n=1024)``: what tiling and tuning need (``tvmscript.ir.specialize``)."""
        from .specialize import specialize

        return specialize(self, sizes, **named)

    @property
    def root_block(self) -> Block | None:
        if isinstance(self.body, BlockRealize) and not self.body.block.iter_vars:
            return self.body.block
        return None


@node
class GlobalVar(Node):
    """A reference to a function of the module by name (``cls.f`` in scripts)."""

    name_hint: str


@node
class IRModule(Node):
    """Named functions of both levels, and module attributes."""

    functions: FrozenDict = EMPTY
    attrs: FrozenDict = EMPTY

    def __post_init__(self) -> None:
        object.__setattr__(self, "functions", FrozenDict(self.functions))
        object.__setattr__(self, "attrs", FrozenDict(freeze(dict(self.attrs))))

    def __getitem__(self, name: "str | GlobalVar") -> BaseFunc:
        key = name.name_hint if isinstance(name, GlobalVar) else name
        try:
            return self.functions[key]
        except KeyError:
            raise KeyError(f"module has no function {key!r}; it has {sorted(self.functions)}") from None

    def __contains__(self, name: object) -> bool:
        key = name.name_hint if isinstance(name, GlobalVar) else name
        return key in self.functions

    def __iter__(self) -> Iterator[str]:
        return iter(self.functions)

    def get_global_var(self, name: str) -> GlobalVar:
        if name not in self.functions:
            raise KeyError(f"module has no function {name!r}; it has {sorted(self.functions)}")
        return GlobalVar(name)

    def with_function(self, name: str, func: BaseFunc) -> "IRModule":
        """A module with ``name`` added or replaced."""
        return self.with_(functions=FrozenDict({**self.functions, name: func}))

    def without_function(self, name: str) -> "IRModule":
        return self.with_(functions=FrozenDict({k: v for k, v in self.functions.items() if k != name}))

    @staticmethod
    def from_function(func: BaseFunc, name: str = "main") -> "IRModule":
        return IRModule(FrozenDict({name: func}))


__all__ = ["BaseFunc", "PrimFunc", "GlobalVar", "IRModule"]
