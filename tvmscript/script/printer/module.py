"""The assembled printer: modules, functions and the entry point for any IR object."""

from __future__ import annotations

from typing import Any, ClassVar

from ...ir import expr as E
from ...ir import graph as G
from ...ir import stmt as S
from ...ir.buffer import Buffer, BufferRegion, MatchBufferRegion
from ...ir.function import GlobalVar, IRModule, PrimFunc
from ...ir.node import Node
from .base import BasePrinter, lookup
from .expr import ExprMixin
from .graph import GraphMixin
from .names import identifier
from .tir import TirMixin


class ScriptPrinter(GraphMixin, TirMixin, ExprMixin, BasePrinter):
    """One printing of one object; ``top_<Class>`` prints an object given to ``to_script``."""

    # per-class dispatch caches, shared by every printing (class -> method)
    _E: ClassVar[dict] = {}
    _S: ClassVar[dict] = {}
    _G: ClassVar[dict] = {}

    def __init__(self, with_locations: bool = False, dialect: str = "classic",
                 show_meta: bool = True) -> None:
        super().__init__(with_locations, dialect)
        # show_meta=False: constants larger than METADATA_MIN_SIZE elements print as
        # ``metadata["relax.expr.Constant"][i]`` (as TVM prints weights) and are collected here
        self.show_meta = show_meta
        self.metadata: list = []
        self._metadata_index: dict[int, int] = {}
        self.in_module = False
        self.declare_all = False
        self.uses_cls = False
        self.reset_function()

    def reset_function(self) -> None:
        """Names, declarations and loop scopes are per function."""
        from .names import NameTable

        self.names = NameTable()
        self.decls: list[E.Var] = []
        self.decl_set: set = set()
        self.free_vars: set = set()
        self.loop_dom: dict = {}

    def print(self, obj: Any) -> str:
        fn = lookup(type(self), "top", type(obj))
        if fn is None:
            raise TypeError(f"cannot print {type(obj).__name__} as TVMScript")
        fn(self, obj)
        return self.text()

    def node_value(self, v: Node) -> str:
        if isinstance(v, E.PrimExpr):
            return self.expr(v)
        if isinstance(v, (Buffer,)):
            return self.buffer_name(v)
        if isinstance(v, (G.GraphExpr, GlobalVar)):
            return self.gexpr(v)
        if isinstance(v, G.StructInfo):
            return self.sinfo(v)
        if isinstance(v, S.IterVar):
            return self.expr(v.var)
        if isinstance(v, E.Range):
            return f"T.Range({self.expr(v.min)}, {self.expr(v.extent)})"
        return repr(v)

    # ------------------------------------------------------------ top-level objects

    def top_PrimExpr(self, e: E.PrimExpr) -> None:
        self.lines.append(self.expr(e))

    def top_Stmt(self, s: S.Stmt) -> None:
        self.stmt(s)

    def top_Buffer(self, b: Buffer) -> None:
        name = self.names.define(b, b.name)
        self.lines.append(f"{name} = T.Buffer({self.buffer_args(b, name)})")

    def top_BufferRegion(self, r: BufferRegion) -> None:
        self.lines.append(self.region(r))

    def top_MatchBufferRegion(self, m: MatchBufferRegion) -> None:
        self.match_buffer_region(m)

    def top_Range(self, r: E.Range) -> None:
        self.lines.append(self.slice(r.min, r.extent))

    def top_IterVar(self, iv: S.IterVar) -> None:
        dom = f"T.Range({self.expr(iv.dom.min)}, {self.expr(iv.dom.extent)})"
        tag = f", {iv.thread_tag!r}" if iv.thread_tag else ""
        self.lines.append(f'T.iter_var({self.expr(iv.var)}, {dom}, "{iv.iter_type.value}"{tag})')

    def top_PrimFunc(self, f: PrimFunc) -> None:
        self.prim_func(f, identifier(_func_name(f)))

    def top_Function(self, f: G.Function) -> None:
        self.graph_func(f, identifier(_func_name(f)))

    def top_StructInfo(self, s: G.StructInfo) -> None:
        self.lines.append(self.sinfo(s))

    def top_GraphExpr(self, e: G.GraphExpr) -> None:
        self.declare_all = True
        if isinstance(e, G.SeqExpr):
            self.seq_expr(e)
        else:
            self.lines.append(self.gexpr(e))

    def top_GlobalVar(self, g: GlobalVar) -> None:
        self.lines.append(self.gexpr(g))

    def top_VarBinding(self, b: G.VarBinding) -> None:
        self.declare_all = True
        self.binding(b)

    def top_BindingBlock(self, b: G.BindingBlock) -> None:
        self.declare_all = True
        self.binding_block(b)

    def top_IRModule(self, m: IRModule) -> None:
        self.in_module = True
        if self.locs is not None:
            self.loc(m)
        self.emit("@I.ir_module")
        self.emit("class Module:")
        self.push()
        if m.attrs:
            self.emit(f"I.module_attrs({self.value(m.attrs)})")
        for i, (name, func) in enumerate(m.functions.items()):
            if i:
                self.lines.append("")
            self.reset_function()
            fn = lookup(type(self), "func", type(func))
            if fn is None:
                raise TypeError(f"cannot print module function {type(func).__name__}")
            fn(self, func, identifier(name))
        self.pop()

    def func_PrimFunc(self, f: PrimFunc, name: str) -> None:
        self.prim_func(f, name)

    def func_Function(self, f: G.Function, name: str) -> None:
        self.graph_func(f, name)


def _func_name(f: Any) -> str:
    """A standalone function's name: as written, else its global symbol, else ``main``."""
    return f.name or str(f.attrs.get("global_symbol", "")) or "main"
