"""Graph-level functions (``@R.function``), their expressions and struct info.

Symbolic sizes print as strings (``"n"``) in the signature and as declared variables
(``n = T.int64()``, first in the body) everywhere else, as the contract fixes.
"""

from __future__ import annotations

from typing import Any

from ...ir import expr as E
from ...ir import graph as G
from ...ir.dtype import INT32, INT64
from ...ir.function import GlobalVar
from ...ir.graph_ops import get_op
from .base import lookup, str_lit


# constants with more elements than this print as metadata references (weights, not literals)
METADATA_MIN_SIZE = 64


class GraphMixin:
    """Prints graph-level nodes; ``g_<Class>`` returns an expression's text."""

    sig_mode = False  # printing the signature: symbolic sizes as strings

    def gexpr(self, e: Any) -> str:
        fn = self._G.get(type(e))
        if fn is None:
            fn = lookup(type(self), "g", type(e))
            if fn is None:
                return self.value(e)
            self._G[type(e)] = fn
        return fn(self, e)

    # ------------------------------------------------------------ struct info

    def sinfo(self, s: Any) -> str:
        fn = lookup(type(self), "si", type(s))
        if fn is None:
            raise TypeError(f"cannot print struct info {type(s).__name__}")
        return fn(self, s)

    def si_ObjectStructInfo(self, s: G.ObjectStructInfo) -> str:
        return "R.Object"

    def si_PrimStructInfo(self, s: G.PrimStructInfo) -> str:
        return f'R.Prim("{s.dtype}")'

    def si_ShapeStructInfo(self, s: G.ShapeStructInfo) -> str:
        if s.values is not None:
            return f"R.Shape([{', '.join(self.size(v) for v in s.values)}])"
        return f"R.Shape(ndim={s.ndim})" if s.ndim >= 0 else "R.Shape()"

    def si_TensorStructInfo(self, s: G.TensorStructInfo) -> str:
        parts = []
        if s.shape is not None:
            sizes = ", ".join(self.size(v) for v in s.shape)
            parts.append(f"({sizes},)" if len(s.shape) == 1 else f"({sizes})")
        if not s.dtype.is_void:
            parts.append(f'dtype="{s.dtype}"')
        if s.shape is None and s.ndim >= 0:
            parts.append(f"ndim={s.ndim}")
        return f"R.Tensor({', '.join(parts)})"

    def si_TupleStructInfo(self, s: G.TupleStructInfo) -> str:
        return f"R.Tuple({', '.join(self.sinfo(x) for x in s.fields)})"

    def si_FuncStructInfo(self, s: G.FuncStructInfo) -> str:
        params = "None" if s.params is None else f"[{', '.join(self.sinfo(x) for x in s.params)}]"
        return f"R.Callable({params}, {self.sinfo(s.ret)})"

    def size(self, v: Any) -> str:
        """A shape entry: int64 constants bare, symbolic sizes by name (strings in signatures)."""
        if type(v) is E.IntImm:
            return str(v.value)
        text = self.expr(v)
        return str_lit(text) if self.sig_mode else text

    # ------------------------------------------------------------ expressions

    def g_GraphVar(self, v: G.GraphVar) -> str:
        if self.locs is not None:
            self.loc(v)
        name = self.names.names.get(v)
        return name if name is not None else self.names.define(v, v.name)

    def g_GlobalVar(self, v: GlobalVar) -> str:
        self.uses_cls = True
        return f"cls.{v.name_hint}"

    def g_Constant(self, c: G.Constant) -> str:
        if not self.show_meta and c.data.size > METADATA_MIN_SIZE:
            index = self._metadata_index.get(id(c))
            if index is None:
                index = self._metadata_index[id(c)] = len(self.metadata)
                self.metadata.append(c)
            return f'metadata["relax.expr.Constant"][{index}]'
        return f'R.const({self.value(c.data.tolist())}, "{c.data.dtype}")'

    def g_Tuple(self, t: G.Tuple) -> str:
        inner = ", ".join(self.gexpr(x) for x in t.fields)
        return f"({inner},)" if len(t.fields) == 1 else f"({inner})"

    def g_TupleGetItem(self, t: G.TupleGetItem) -> str:
        return f"{self.gexpr(t.tuple_value)}[{t.index}]"

    def g_ShapeExpr(self, s: G.ShapeExpr) -> str:
        return f"R.shape([{', '.join(self.size(v) for v in s.values)}])"

    def g_PrimValue(self, p: G.PrimValue) -> str:
        """As TVM spells it: a bare int is int64 here (``R.prim_value(3)``), so an int32
        constant names its dtype (``R.prim_value(T.int32(3))``)."""
        v = p.value
        if type(v) is E.IntImm and v.dtype in (INT32, INT64):
            return f"R.prim_value({v.value})" if v.dtype == INT64 else \
                f"R.prim_value(T.int32({v.value}))"
        return f"R.prim_value({self.expr(v)})"

    def g_StringImm(self, s: G.StringImm) -> str:
        return f"R.str({str_lit(s.value)})"

    def g_Op(self, op: G.Op) -> str:
        return "R." + op.name[len("relax."):] if op.name.startswith("relax.") else op.name

    def g_PrimExpr(self, e: E.PrimExpr) -> str:
        return self.expr(e)

    def g_Call(self, c: G.Call) -> str:
        op = c.op
        if isinstance(op, G.Op):
            if op.name == "relax.call_tir":
                return self.call_tir(c)
            return f"{self.g_Op(op)}({', '.join(self.op_args(c))})"
        return f"{self.gexpr(op)}({', '.join(self.gexpr(a) for a in c.args)})"

    def op_args(self, c: G.Call) -> list[str]:
        """Arguments, then attributes in the operator's declared order, defaults left out."""
        args = [self.gexpr(a) for a in c.args]
        opdef = get_op(c.op.name)
        declared = opdef.attrs if opdef is not None else {}
        shape = c.attrs.get("shape") if c.op.name == "relax.reshape" else None
        if self.tvm and isinstance(shape, tuple):  # TVM's reshape takes the shape as a value
            inferred = getattr(c.struct_info, "shape", None)
            if any(isinstance(v, int) and v == -1 for v in shape) and inferred is not None:
                shape = tuple(inferred)  # TVM's R.shape holds sizes, so -1 is resolved
            args.append(f"R.shape([{', '.join(self.size(E.convert(v)) for v in shape)}])")
        for key, default in declared.items():
            if key in c.attrs and not _is_default(opdef, c.attrs, key, default) and \
                    not (key == "shape" and shape is not None and self.tvm):
                args.append(f"{key}={self.value(c.attrs[key])}")
        for key, value in c.attrs.items():
            if key not in declared:
                args.append(f"{key}={self.value(value)}")
        return args

    def call_tir(self, c: G.Call) -> str:
        func, *rest = c.args
        args = [self.gexpr(func)] + [self.gexpr(a) for a in rest]
        if c.sinfo_args:
            out = c.sinfo_args[0]
            if isinstance(out, G.TupleStructInfo):
                text = f"[{', '.join(self.sinfo(x) for x in out.fields)}]"
            else:
                text = self.sinfo(out)
            args.append(f"{'out_ty' if self.tvm else 'out_sinfo'}={text}")  # TVM 0.27: out_ty
        return f"R.call_tir({', '.join(args)})"

    # ------------------------------------------------------------ bindings and functions

    def binding(self, b: G.VarBinding) -> None:
        if self.locs is not None:
            self.loc(b)
        value = self.gexpr(b.value)
        name = self.names.define(b.var, b.var.name)
        if self.locs is not None:
            self.loc(b.var)
        self.emit(f"{name}: {self.sinfo(b.var.sinfo)} = {value}")

    def binding_block(self, blk: G.BindingBlock) -> None:
        if self.locs is not None:
            self.loc(blk)
        if not isinstance(blk, G.DataflowBlock):
            for b in blk.bindings:
                self.binding(b)
            return
        self.emit("with R.dataflow():")
        self.push()
        for b in blk.bindings:
            self.binding(b)
        outputs = [self.names.names[b.var] for b in blk.bindings
                   if not isinstance(b.var, G.DataflowVar)]
        self.emit(f"R.output({', '.join(outputs)})")
        self.pop()

    def seq_expr(self, s: G.SeqExpr) -> None:
        for blk in s.blocks:
            self.binding_block(blk)
        if self.locs is not None:  # a problem in the returned value is on the return line
            self.loc(s)
        self.emit(f"return {self.gexpr(s.body)}")

    def graph_func(self, f: G.Function, name: str) -> None:
        """``@R.function`` / ``def name(x: R.Tensor(...)) -> ...:`` and the body."""
        self.declare_all = True  # every loop-level variable here is a symbolic size
        attrs = dict(f.attrs)
        if "global_symbol" not in attrs:  # TVM's convention: no symbol is private=True, and a
            self.emit("@R.function(private=True)")  # symbol equal to the name is implied
        else:
            if attrs["global_symbol"] == name:
                del attrs["global_symbol"]
            self.emit("@R.function")
        if self.locs is not None:
            self.loc(f)
        self.sig_mode = True
        params = []
        for p in f.params:
            if self.locs is not None:
                self.loc(p)
            sinfo = self.sinfo(p.sinfo)
            params.append(f"{self.names.define(p, p.name)}: {sinfo}")
        ret = self.sinfo(f.ret_struct_info)
        self.sig_mode = False
        self.emit(f"def {name}({', '.join(params)}) -> {ret}:")
        self.push()
        head = len(self.lines)
        if attrs:
            self.emit(f"R.func_attr({self.value(attrs)})")
        self.uses_cls = False
        cls_index = len(self.lines)
        if isinstance(f.body, G.SeqExpr):
            self.seq_expr(f.body)
        else:
            self.emit(f"return {self.gexpr(f.body)}")
        if self.uses_cls and self.in_module:
            self.insert_lines(cls_index, [self.ind + "cls = Module"])
        self.insert_lines(head, self.decl_lines(self.ind))
        self.pop()
        self.declare_all = False


def _same_value(a: Any, b: Any) -> bool:
    """Attribute equality that keeps ``False`` and ``0`` (and tuples and lists) apart sensibly."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - values that refuse comparison are never defaults
        return False


# attributes whose value, when left out, TVM derives from the others (a convolution's or
# pool's out_layout is its data layout): not written when they have that value
_DERIVED = frozenset({"out_layout"})


def _is_default(opdef, attrs, key: str, default) -> bool:
    """The attribute need not be written: it is the declared default, or (for ``_DERIVED``
    ones) what the operator's canonical form derives when it is left out."""
    if _same_value(attrs[key], default):
        return True
    if key not in _DERIVED or opdef is None or opdef.normalize is None:
        return False
    try:
        derived = opdef.normalize({**attrs, key: default}).get(key)
    except (TypeError, ValueError, KeyError):
        return False
    return _same_value(attrs[key], derived)
