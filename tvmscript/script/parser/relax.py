"""Statements of graph-level functions (``@R.function``): bindings, dataflow blocks, return."""

from __future__ import annotations

import ast
import dataclasses
import operator
from typing import Any, Callable

from ...ir import expr as E
from ...ir import graph as G
from ...ir.dtype import INT64
from ...ir.expr import Var
from ...ir.function import GlobalVar
from ..relax_ns import DataflowSpec, as_graph
from .builtin import Binder
from .core import ParserBase
from .entry import ModuleRef
from .tir_frames import PendingVar
from .values import describe


class RelaxParser(ParserBase):
    """Parses one ``@R.function`` definition into a graph-level Function."""

    def __init__(self, source, env) -> None:
        super().__init__(source, env)
        self.attrs: dict = {}
        self.symbols: dict[str, Var] = {}
        self.blocks: list[G.BindingBlock] = []
        self.bindings: list[G.VarBinding] = []
        self.outputs: set[str] | None = None  # names exported by R.output in the current dataflow
        self.marked: bool = False
        self.result: G.GraphExpr | None = None
        self.returned: ast.Return | None = None

    # ------------------------------------------------------------ API for builtins
    def symbolic(self, name: str, dtype: Any = INT64) -> Var:
        var = self.symbols.get(name)
        if var is None:
            local = self.lookup_local(name)
            if not isinstance(local, Var) and isinstance(self.env.get(name), PendingVar):
                local = self.lookup(name)  # a size declared before the function (TypeVar)
            var = local if isinstance(local, Var) else Var(name, dtype)
            self.symbols[name] = var
        return var

    def mark_output(self, values: tuple) -> None:
        if self.outputs is None:
            raise TypeError("R.output is only allowed inside `with R.dataflow():`")
        for v in values:
            if not isinstance(v, G.GraphVar) or isinstance(v, G.DataflowVar):
                raise TypeError(f"R.output expects variables bound in this dataflow block, "
                                f"got {describe(v)}")
        self.marked = True

    def call_other(self, func: Any, args: list, kwargs: dict) -> Any:
        if isinstance(func, (GlobalVar, G.GraphVar)):
            if kwargs:
                raise TypeError("calls of module functions take positional arguments only")
            return G.Call(func, tuple(as_graph(a) for a in args))
        return super().call_other(func, args, kwargs)

    def lookup(self, name: str) -> Any:
        try:
            return super().lookup(name)
        except NameError:
            if name == "metadata":
                raise NameError(_NO_METADATA) from None
            ref = _module_ref(self.env)
            if ref is None or name not in ref.functions:
                raise
        raise NameError(f"unknown name '{name}'; functions of the module are referred to as "
                        f"`cls.{name}` (with `cls = {ref.name}` first in the function)")

    def index(self, obj: Any, index: Any) -> Any:
        if isinstance(obj, (tuple, list)) and any(isinstance(v, G.GraphExpr) for v in obj):
            obj = as_graph(obj)  # `(a, b)[0]` is a TupleGetItem of a Tuple, as written
        if isinstance(obj, G.GraphExpr):
            if not isinstance(index, int) or isinstance(index, bool):
                raise TypeError(f"a tuple index must be an int, got {describe(index)}")
            item = G.TupleGetItem(obj, index)
            item.struct_info  # noqa: B018 - check the index now
            return item
        return super().index(obj, index)

    # ------------------------------------------------------------ function
    def parse_function(self, fdef: ast.FunctionDef) -> G.Function:
        params = [self.guard(arg, self._param, arg) for arg in fdef.args.args]
        ret = _as_sinfo(self.eval(fdef.returns)) if fdef.returns is not None else None
        if ret is not None and not isinstance(ret, G.StructInfo):
            raise self.error(fdef.returns, f"expected a return annotation such as "
                                           f"R.Tensor(...), got {describe(ret)}")
        self.push_scope()
        for stmt in _strip_docstring(fdef.body):
            if self.result is not None:
                raise self.error(stmt, "statements after `return` are not allowed")
            self.guard(stmt, self._stmt, stmt)
        self._flush()
        if self.result is None:
            raise self.error(fdef, f"graph-level function '{fdef.name}' must end with "
                                   "`return value`")
        body = G.SeqExpr(tuple(self.blocks), self.result)  # spans its return statement,
        self.span(self.returned, body)  # where a problem of the returned value is written
        ret = ret if ret is not None else self.guard(fdef, lambda: self.result.struct_info)
        return G.Function(tuple(params), body, ret, self.attrs, fdef.name).with_span(
            self.source.span(fdef))

    def _param(self, arg: ast.arg) -> G.GraphVar:
        if arg.annotation is None:
            raise TypeError(f"parameter '{arg.arg}' needs an annotation such as "
                            "R.Tensor((16, 32), \"float32\")")
        sinfo = _as_sinfo(self.eval(arg.annotation))
        if not isinstance(sinfo, G.StructInfo):
            raise TypeError(f"parameter '{arg.arg}' has annotation {describe(sinfo)}; "
                            "expected R.Tensor(...), R.Tuple(...), R.Shape(...) or R.Object")
        var = G.GraphVar(arg.arg, sinfo)
        self.define(arg.arg, var)
        return var

    # ------------------------------------------------------------ statements
    def _stmt(self, node: ast.stmt) -> None:
        handler = _STMT.get(type(node))
        if handler is None:
            raise self.error(node, f"`{type(node).__name__}` is not supported in a graph-level "
                                   "function; expected bindings, `with R.dataflow():` and return")
        handler(self, node)

    def _flush(self) -> None:
        if self.bindings:
            self.blocks.append(G.BindingBlock(tuple(self.bindings)))
            self.bindings = []

    def _assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1:
            raise TypeError("chained assignment (a = b = c) is not supported in scripts")
        self._bind(node, node.targets[0], node.value, None)

    def _ann_assign(self, node: ast.AnnAssign) -> None:
        if node.value is None:
            raise TypeError("an annotated name needs a value: lv: R.Tensor(...) = value")
        self._bind(node, node.target, node.value, node.annotation)

    def _bind(self, node: ast.stmt, target: ast.expr, value_node: ast.expr, ann: Any) -> None:
        if not isinstance(target, ast.Name):
            raise self.error(target, "a binding assigns one name, e.g. lv = R.add(x, y)")
        value = self.eval(value_node)
        if ann is not None and _is_number(value):  # TVM 0.27 prints `a: T.int64 = 3`
            value = self._annotated_number(value, ann)
        if isinstance(value, PendingVar):  # `n = T.int64()`: the size variable "n" of the signature
            self.define(target.id, self.symbolic(target.id, value.dtype))
            return
        if isinstance(value, Binder):
            value.bind(self, [target.id], node)
            return
        if not isinstance(value, (G.GraphExpr, tuple, list)) and not _is_graphish(value):
            self.define(target.id, value)  # a Python value such as `cls = Module`
            return
        expr = self.guard(value_node, as_graph, value)
        expr = self.guard(value_node, self._normalize, expr, node)
        sinfo = self._sinfo(ann, expr, value_node)
        in_dataflow = self.outputs is not None
        cls = G.DataflowVar if in_dataflow and target.id not in self.outputs else G.GraphVar
        var = cls(target.id, sinfo)
        self.bindings.append(self.span(node, G.VarBinding(var, expr)))
        self.define(target.id, var)

    # ------------------------------------------------------------ normal form, as in TVM
    def _normalize(self, expr: G.GraphExpr, node: ast.stmt) -> G.GraphExpr:
        """TVM's normal form: an operand that is neither a leaf (variable, constant, shape,
        scalar, string) nor a tuple is bound first to its own variable (``lv``)."""
        if isinstance(expr, G.Call):
            args = tuple(self._operand(a, node) for a in expr.args)
            return expr if all(map(operator.is_, args, expr.args)) else expr.with_(args=args)
        if isinstance(expr, G.Tuple):
            fields = tuple(self._operand(f, node) for f in expr.fields)
            same = all(map(operator.is_, fields, expr.fields))
            return expr if same else expr.with_(fields=fields)
        if isinstance(expr, G.TupleGetItem):
            inner = self._operand(expr.tuple_value, node)
            return expr if inner is expr.tuple_value else expr.with_(tuple_value=inner)
        return expr

    def _operand(self, expr: G.GraphExpr, node: ast.stmt) -> G.GraphExpr:
        if isinstance(expr, _LEAVES):
            return expr
        expr = self._normalize(expr, node)
        if isinstance(expr, G.Tuple):
            return expr
        in_dataflow = self.outputs is not None
        called = self._callee_returns(expr)
        var = (G.DataflowVar if in_dataflow else G.GraphVar)(
            "lv" if in_dataflow else "gv", called if called is not None else expr.struct_info)
        self.bindings.append(self.span(node, G.VarBinding(var, expr)))
        return var

    def _callee_returns(self, expr: G.GraphExpr) -> G.StructInfo | None:
        """``cls.f(x)`` has ``f``'s return struct info when it is static, as in TVM."""
        if not isinstance(expr, G.Call) or not isinstance(expr.op, GlobalVar):
            return None
        ref = _module_ref(self.env)
        signature = None if ref is None else ref.returns.get(expr.op.name_hint)
        if signature is None:
            return None
        params, ret = signature
        sizes: dict = {}
        for param, arg in zip(params, expr.args):
            _match_sizes(param, arg.struct_info, sizes)
        return _call_site(ret, sizes)

    def _annotated_number(self, value: Any, ann: ast.expr) -> G.PrimValue:
        sinfo = _as_sinfo(self.eval(ann))
        if not isinstance(sinfo, G.PrimStructInfo):
            raise self.error(ann, f"a number bound in a graph-level function is a scalar: "
                                  f"annotate it as T.int64 or R.Prim(...), got {describe(sinfo)}")
        return self.guard(ann, lambda: G.PrimValue(E.const(value, sinfo.dtype)))

    def annotation(self, node: ast.expr) -> Any:
        return _as_sinfo(self.eval(node))

    def _sinfo(self, ann: Any, expr: G.GraphExpr, node: ast.expr) -> G.StructInfo:
        if ann is None:
            called = self._callee_returns(expr)
            return called if called is not None else self.guard(node, lambda: expr.struct_info)
        sinfo = _as_sinfo(self.eval(ann))
        if not isinstance(sinfo, G.StructInfo):
            raise self.error(ann, "expected struct info such as R.Tensor(...), got "
                                  f"{describe(sinfo)}")
        return sinfo

    def _expr(self, node: ast.Expr) -> None:
        value = self.eval(node.value)
        if value is None or isinstance(value, str):
            return
        raise TypeError(f"a graph-level value must be bound to a name (lv = ...), got "
                        f"{describe(value)} as a statement")

    def _with(self, node: ast.With) -> None:
        if len(node.items) != 1 or node.items[0].optional_vars is not None:
            raise TypeError("`with` in a graph-level function takes only R.dataflow()")
        spec = self.eval(node.items[0].context_expr)
        if not isinstance(spec, DataflowSpec):
            raise self.error(node.items[0].context_expr,
                             f"expected `with R.dataflow():`, got {describe(spec)}")
        if self.outputs is not None:
            raise TypeError("dataflow blocks cannot be nested")
        self._flush()
        self.outputs = _output_names(node.body)
        self.marked = False
        try:
            for stmt in node.body:
                if isinstance(stmt, ast.Return):
                    raise self.error(stmt, "`return` is not allowed inside a dataflow block; "
                                           "R.output the value and return it after the block")
                self.guard(stmt, self._stmt, stmt)
            if not self.marked:
                raise self.error(node, "a dataflow block must end with R.output(...)")
        finally:
            self.outputs = None
        self.blocks.append(self.span(node, G.DataflowBlock(tuple(self.bindings))))
        self.bindings = []

    def _return(self, node: ast.Return) -> None:
        if node.value is None:
            raise TypeError("a graph-level function must return a value")
        value = self.guard(node.value, as_graph, self.eval(node.value))
        self.result = self.guard(node.value, self._operand, value, node)
        self.returned = node


_NO_METADATA = ("'metadata' refers to constants kept outside the text (TVM's metadata section, "
                "or a model's weights), which this text does not have: mod.script() and TVM "
                "print large constants as metadata[...]; read the text "
                "with tvmscript.load(path) after tvmscript.save(mod, path), pass the constants "
                "as from_source(text, metadata=[...]), print it with script(show_meta=True), "
                "or write the constant as R.const(value, dtype)")


def _as_sinfo(value: Any) -> Any:
    """TVM 0.27 writes a scalar's struct info as its dtype (``p: T.int64``)."""
    dtype = getattr(value, "script_dtype", None)
    return G.PrimStructInfo(dtype) if dtype is not None else value


def _sizes_of(sinfo: Any) -> tuple | None:
    if isinstance(sinfo, G.TensorStructInfo):
        return sinfo.shape
    return sinfo.values if isinstance(sinfo, G.ShapeStructInfo) else None


def _match_sizes(param: Any, arg: Any, sizes: dict) -> None:
    """The callee's symbolic sizes (``"n"`` in its signature) as the call's arguments have them."""
    if isinstance(param, G.TupleStructInfo) and isinstance(arg, G.TupleStructInfo):
        for p, a in zip(param.fields, arg.fields):
            _match_sizes(p, a, sizes)
        return
    want, have = _sizes_of(param), _sizes_of(arg)
    if want is None or have is None or len(want) != len(have):
        return
    for w, h in zip(want, have):
        if isinstance(w, Var) and w not in sizes:
            sizes[w] = h


def _vars(expr: Any) -> list[Var]:
    if isinstance(expr, Var):
        return [expr]
    if not dataclasses.is_dataclass(expr):
        return []
    return [v for f in dataclasses.fields(expr) for v in _vars(getattr(expr, f.name))]


def _call_site(ret: Any, sizes: dict) -> Any:
    """The callee's return struct info in the caller's sizes; a size that the arguments do not
    fix leaves only the rank, as TVM does."""
    from ...arith import Analyzer
    from ...ir.functor import substitute

    if isinstance(ret, G.TupleStructInfo):
        return G.TupleStructInfo(tuple(_call_site(f, sizes) for f in ret.fields))
    dims = _sizes_of(ret)
    if dims is None:
        return ret
    if any(v not in sizes for d in dims for v in _vars(d)):
        return G.TensorStructInfo(None, ret.dtype, len(dims)) if \
            isinstance(ret, G.TensorStructInfo) else G.ShapeStructInfo(None, len(dims))
    new = tuple(Analyzer().simplify(substitute(d, sizes)) for d in dims)
    return ret.with_(shape=new) if isinstance(ret, G.TensorStructInfo) else ret.with_(values=new)


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


_LEAVES = (G.GraphVar, G.Constant, G.ShapeExpr, G.PrimValue, G.StringImm, G.Op, GlobalVar)


def _module_ref(env: Any) -> ModuleRef | None:
    """The module being parsed, when this function is one of its methods."""
    return next((v for v in env.values() if isinstance(v, ModuleRef)), None)


def _is_graphish(value: Any) -> bool:
    from ...ir.expr import PrimExpr

    return isinstance(value, PrimExpr)


def _output_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == "output":
            names.update(a.id for a in call.args if isinstance(a, ast.Name))
    return names


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


_STMT: dict[type, Callable[[RelaxParser, Any], None]] = {
    ast.Assign: RelaxParser._assign, ast.AnnAssign: RelaxParser._ann_assign,
    ast.Expr: RelaxParser._expr, ast.With: RelaxParser._with, ast.Return: RelaxParser._return,
}
