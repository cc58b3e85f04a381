"""The parser's core: scopes, the one visit wrapper, and an expression evaluator over the AST.

Expressions are evaluated node by node (never with Python's ``eval``) so every failure has a
location: any exception raised while visiting a node becomes a ``ScriptError`` at the innermost
node being visited (chained to it only in ``tvmscript.diagnostics`` debug mode).
"""

from __future__ import annotations

import ast
import builtins
import difflib
import operator
from typing import Any, Callable

from ...diagnostics import ScriptError, converted
from ...ir import expr as E
from ...ir.buffer import Buffer
from ...ir.expr import PrimExpr, Var
from ...ir.node import Node
from ...ir.op import by_script_name
from ..fold import fold_binary, fold_bitwise, negate
from .builtin import ArgError, Builtin
from .source import Source
from .tir_frames import PendingVar
from .values import BufferSlice, as_prim, describe, is_scalar_buffer, loaded

_MISSING = object()
_TOO_DEEP = ("this expression is nested too deeply to parse; split it into several statements "
             "(e.g. with let bindings x = ...)")
_BUFFER_ATTRS = frozenset({"data", "elem_offset", "shape", "strides", "dtype", "name", "scope",
                           "access_ptr"})

# Python operator -> (Python function, IR builder)
_BINOPS: dict[type, tuple[str, Callable[[Any, Any], Any], Any]] = {
    ast.Add: ("+", operator.add, E.Add), ast.Sub: ("-", operator.sub, E.Sub),
    ast.Mult: ("*", operator.mul, E.Mul), ast.Div: ("/", operator.truediv, E.Div),
    ast.FloorDiv: ("//", operator.floordiv, E.FloorDiv), ast.Mod: ("%", operator.mod, E.FloorMod),
    ast.Pow: ("**", operator.pow, "tir.pow"), ast.BitAnd: ("&", operator.and_, "tir.bitwise_and"),
    ast.BitOr: ("|", operator.or_, "tir.bitwise_or"),
    ast.BitXor: ("^", operator.xor, "tir.bitwise_xor"),
    ast.LShift: ("<<", operator.lshift, "tir.shift_left"),
    ast.RShift: (">>", operator.rshift, "tir.shift_right"),
}
_CMPOPS: dict[type, tuple[str, Callable[[Any, Any], Any], type]] = {
    ast.Eq: ("==", operator.eq, E.EQ), ast.NotEq: ("!=", operator.ne, E.NE),
    ast.Lt: ("<", operator.lt, E.LT), ast.LtE: ("<=", operator.le, E.LE),
    ast.Gt: (">", operator.gt, E.GT), ast.GtE: (">=", operator.ge, E.GE),
}

_PY_BUILTIN_HINTS: dict[Any, str] = {
    max: "T.max", min: "T.min", abs: "T.abs", round: "T.round", pow: "T.pow",
    int: 'T.Cast("int32", x)', float: 'T.Cast("float32", x)', bool: 'T.Cast("bool", x)',
}
_SELECT_HINT = ("to choose between values write T.Select(cond, a, b) or "
                "T.if_then_else(cond, a, b)")
_OTHER_OPS = {ast.MatMult: "@", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
              ast.NotIn: "not in"}


def is_ir(value: Any) -> bool:
    """An operand the operators build IR from: an expression, a region (its vector load) or a
    one-element buffer named bare (its element, as TVM 0.27 prints it)."""
    return isinstance(value, (PrimExpr, BufferSlice)) or is_scalar_buffer(value)


class ParserBase:
    """Scopes, errors and expression evaluation shared by the T and R statement parsers."""

    def __init__(self, source: Source, env: dict[str, Any]) -> None:
        self.source = source
        self.env = env  # the Python scope: globals, closure, namespaces
        self.scopes: list[dict[str, Any]] = [{}]
        self.overrides: dict[str, Any] = {}
        self.eval_depth = 0  # expressions being evaluated, outermost first

    # ------------------------------------------------------------ errors and spans
    def error(self, node: ast.AST | None, message: str) -> ScriptError:
        return self.source.error(node, message)

    def span(self, node: ast.AST, ir: Any) -> Any:
        if isinstance(ir, Node) and not isinstance(ir, (E.Var, Buffer)):
            ir.with_span(self.source.span(node))
        return ir

    def guard(self, node: ast.AST, fn: Callable[..., Any], *args: Any) -> Any:
        """The one visit wrapper: run ``fn``, turning any unexpected exception into ScriptError."""
        try:
            return fn(*args)
        except ScriptError:
            raise
        except RecursionError as exc:
            if self.eval_depth > 1:  # blame the whole expression, not its innermost part
                raise
            raise converted(self.error(node, _TOO_DEEP), exc)
        except Exception as exc:  # noqa: BLE001 - every failure must point at the user's line
            raise converted(self.error(node, _message(exc)), exc)

    # ------------------------------------------------------------ scopes
    def push_scope(self) -> None:
        self.scopes.append({})

    def pop_scope(self) -> None:
        self.scopes.pop()

    def define(self, name: str, value: Any) -> None:
        self.scopes[-1][name] = value

    def lookup_local(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            value = scope.get(name, _MISSING)
            if value is not _MISSING:
                return value
        return _MISSING

    def lookup(self, name: str) -> Any:
        """A name's value; a module-level ``n = T.int32()`` becomes this function's variable n."""
        value = self.lookup_local(name)
        if value is _MISSING:
            value = self.overrides.get(name, _MISSING)
        if value is _MISSING:
            value = self.env.get(name, _MISSING)
            if isinstance(value, PendingVar):
                value = self.overrides[name] = Var(name, value.dtype)
        if value is _MISSING:
            value = getattr(builtins, name, _MISSING)
        if value is _MISSING:
            known = [n for s in self.scopes for n in s] + list(self.overrides) + list(self.env)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise NameError(f"unknown name '{name}'{hint}")
        return value

    # ------------------------------------------------------------ expressions
    def eval(self, node: ast.AST) -> Any:
        handler = _EXPR.get(type(node))
        if handler is None:
            raise self.error(node, _unsupported_expr(node))
        self.eval_depth += 1
        try:
            return self.guard(node, handler, self, node)
        finally:
            self.eval_depth -= 1

    def eval_prim(self, node: ast.AST) -> PrimExpr:
        value = self.eval(node)
        return self.guard(node, as_prim, value)

    def _name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def _constant(self, node: ast.Constant) -> Any:
        return node.value

    def _attribute(self, node: ast.Attribute) -> Any:
        obj = self.eval(node.value)
        return self.get_attr(obj, node.attr)

    def get_attr(self, obj: Any, name: str) -> Any:
        if isinstance(obj, Buffer):
            if name not in _BUFFER_ATTRS:
                raise AttributeError(f"buffer {obj.name} has no attribute '{name}'; expected one "
                                     f"of {', '.join(sorted(_BUFFER_ATTRS))}")
            return getattr(obj, name if name != "scope" else "scope")
        if isinstance(obj, PrimExpr) and name != "dtype":
            raise AttributeError(f"{describe(obj)} has no attribute '{name}'")
        try:
            return getattr(obj, name)
        except AttributeError:
            if hasattr(obj, "script_attr_error"):
                raise AttributeError(obj.script_attr_error(name)) from None
            raise AttributeError(f"{describe(obj)} has no attribute '{name}'") from None

    def _subscript(self, node: ast.Subscript) -> Any:
        obj = self.eval(node.value)
        index = self.eval(node.slice)
        return self.span(node, self.index(obj, index))

    def index(self, obj: Any, index: Any) -> Any:
        handler = getattr(obj, "script_getitem", None)
        if isinstance(obj, Buffer):
            return buffer_index(obj, index)
        if handler is not None:
            return handler(index)
        if isinstance(obj, (tuple, list, dict, str)):
            return obj[index]
        raise TypeError(f"cannot index {describe(obj)}")

    def _slice(self, node: ast.Slice) -> slice:
        parts = [None if n is None else self.eval(n) for n in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def _tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self._elements(node.elts))

    def _list(self, node: ast.List) -> list:
        return self._elements(node.elts)

    def _elements(self, elts: list[ast.expr]) -> list:
        out: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                out.extend(self.guard(elt, _unpack, self.eval(elt.value)))
            else:
                out.append(self.eval(elt))
        return out

    def _dict(self, node: ast.Dict) -> dict:
        if any(k is None for k in node.keys):
            raise self.error(node, "`**` in a dict literal is not supported in scripts")
        return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}

    def _binop(self, node: ast.BinOp) -> Any:
        """A left-leaning chain ``a + b + c + ...`` is evaluated in a loop, not recursively, so
        a long sum written out by a code generator parses."""
        chain = [node]
        while isinstance(chain[-1].left, ast.BinOp):
            chain.append(chain[-1].left)
        value = self.eval(chain[-1].left)
        for link in reversed(chain):
            value = self.guard(link, self._apply_binop, link, value, self.eval(link.right))
        return value

    def _apply_binop(self, node: ast.BinOp, a: Any, b: Any) -> Any:
        symbol, py_fn, ir = _BINOPS.get(type(node.op)) or _unsupported_op(node.op)
        if not (is_ir(a) or is_ir(b)):
            _check_python_op(symbol, a, b)
            return py_fn(a, b)
        a, b = self._match(symbol, loaded(a), loaded(b))
        if isinstance(ir, str):
            if ir != "tir.pow" and not (a.dtype.is_integer or a.dtype.element_of().is_bool):
                raise TypeError(f"operator `{symbol}` needs integer operands, got {describe(a)}")
            folded = fold_bitwise(ir, a, b) if ir != "tir.pow" else None
            return self.span(node, folded if folded is not None else E.Call(a.dtype, ir, (a, b)))
        return self.span(node, fold_binary(ir, a, b))

    def _match(self, symbol: str, a: Any, b: Any) -> tuple[PrimExpr, PrimExpr]:
        for v in (a, b):
            if not isinstance(v, (PrimExpr, bool, int, float)):
                raise TypeError(f"operator `{symbol}` cannot take {describe(v)}")
        try:
            return E.match_dtypes(a, b)
        except TypeError:
            da = a.dtype if isinstance(a, PrimExpr) else type(a).__name__
            db = b.dtype if isinstance(b, PrimExpr) else type(b).__name__
            raise TypeError(f"operands of `{symbol}` have different dtypes: {da} and {db}; "
                            f"expected the same dtype on both sides (use T.Cast)") from None

    def _unaryop(self, node: ast.UnaryOp) -> Any:
        """A chain ``- - x`` is evaluated in a loop, like a chain of binary operators."""
        chain = [node]
        while isinstance(chain[-1].operand, ast.UnaryOp):
            chain.append(chain[-1].operand)
        value = self.eval(chain[-1].operand)
        for link in reversed(chain):
            value = self.guard(link, self._apply_unaryop, link, value)
        return value

    def _apply_unaryop(self, node: ast.UnaryOp, value: Any) -> Any:
        if not is_ir(value):
            return _PY_UNARY[type(node.op)](value)
        value = as_prim(value)
        op = type(node.op)
        if op is ast.UAdd:
            return value
        if op is ast.USub:  # as TVM: ``-x`` is ``x * -1``, folded for a constant
            return self.span(node, negate(value))
        if op is ast.Not:
            return self.span(node, E.Not(value))
        return self.span(node, E.Call(value.dtype, "tir.bitwise_not", (value,)))

    def _boolop(self, node: ast.BoolOp) -> Any:
        values = [self.eval(v) for v in node.values]
        if not any(is_ir(v) for v in values):
            result = values[0]
            for v in values[1:]:
                result = (result and v) if isinstance(node.op, ast.And) else (result or v)
            return result
        cls = E.And if isinstance(node.op, ast.And) else E.Or
        result = self._as_bool(values[0])
        for v in values[1:]:
            result = cls(result, self._as_bool(v))
        return self.span(node, result)

    def _as_bool(self, value: Any) -> PrimExpr:
        expr = as_prim(value)
        if not expr.dtype.element_of().is_bool:
            raise TypeError(f"`and`/`or`/`not` need bool operands, got {describe(expr)}; "
                            f"{_SELECT_HINT}")
        return expr

    def _compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        parts = []
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp)
            symbol, py_fn, cls = _CMPOPS.get(type(op)) or _unsupported_op(op)
            if is_ir(left) or is_ir(right):
                a, b = self._match(symbol, loaded(left), loaded(right))
                # as TVM's parser: an ordering with an expression on the left folds, ``==``,
                # ``!=`` and an ordering with a Python number on the left do not
                fold = is_ir(left) and cls not in (E.EQ, E.NE)
                parts.append(fold_binary(cls, a, b) if fold else cls(a, b))
            else:
                parts.append(py_fn(left, right))
            left = right
        if not any(isinstance(p, PrimExpr) for p in parts):
            return all(parts)
        result = as_prim(parts[0])
        for p in parts[1:]:
            result = E.And(result, as_prim(p))
        return self.span(node, result)

    def _call(self, node: ast.Call) -> Any:
        func = self.eval(node.func)
        args = self._elements(node.args)
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error(kw, "`**kwargs` in a call is not supported in scripts")
            kwargs[kw.arg] = self.eval(kw.value)
        if isinstance(func, Builtin):
            return self.span(node, self.call_builtin(node, func, args, kwargs))
        if getattr(func, "script_callable", None) is not None:
            return self.span(node, func.script_callable(self, node, args, kwargs))
        if not callable(func):
            return self.span(node, self.call_other(func, args, kwargs))
        _check_python_function(func, args, kwargs)
        return func(*args, **kwargs)

    def call_other(self, func: Any, args: list, kwargs: dict) -> Any:
        """Calling a value that is not a Python callable (overridden for graph-level calls)."""
        raise TypeError(f"{describe(func)} is not callable")

    def call_builtin(self, node: ast.Call, func: Builtin, args: list, kwargs: dict) -> Any:
        func.check(args, kwargs)
        try:
            return func.fn(self, *args, **kwargs)
        except ArgError as exc:
            blamed = _arg_node(node, func.param_position(exc.key), func.param_name(exc.key))
            error = self.error(blamed, exc.message)
            raise converted(error, exc)

    def _unsupported(self, node: ast.AST) -> Any:
        raise self.error(node, _unsupported_expr(node))


def _check_python_function(func: Any, args: list, kwargs: dict) -> None:
    """Python's ``max``/``math.exp``/``np.exp`` cannot compute on IR: name the T function."""
    if not any(is_ir(v) for v in [*args, *kwargs.values()]):
        return
    name = getattr(func, "__name__", "")
    if func in _PY_BUILTIN_HINTS:
        shown, hint = f"Python's {name}()", _PY_BUILTIN_HINTS[func]
    elif getattr(func, "__module__", None) == "math" or type(func).__name__ == "ufunc":
        shown = f"Python's math.{name}()" if type(func).__name__ != "ufunc" else f"numpy.{name}()"
        hint = f"T.{name}" if by_script_name(name) is not None else "the T namespace's functions"
    else:
        return
    raise TypeError(f"{shown} cannot compute on IR expressions; use {hint} in a kernel")


def _unpack(value: Any) -> tuple | list:
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"cannot unpack {describe(value)} with `*`; expected a tuple or a list")
    return value


def _unsupported_op(op: ast.AST) -> Any:
    symbol = _OTHER_OPS.get(type(op), type(op).__name__)
    raise TypeError(f"the operator `{symbol}` is not supported in a kernel")


def _check_python_op(symbol: str, a: Any, b: Any) -> None:
    """Refuse constant arithmetic that would take Python minutes or gigabytes to evaluate."""
    if symbol in ("**", "<<") and isinstance(b, int) and abs(b) > 256:
        raise ValueError(f"the constant `{symbol} {b}` is too large to evaluate; "
                         "expected an exponent or shift of at most 256")
    if symbol == "*" and isinstance(a, (str, list, tuple)) != isinstance(b, (str, list, tuple)):
        count = b if isinstance(a, (str, list, tuple)) else a
        if isinstance(count, int) and count > 1 << 16:
            raise ValueError(f"repeating a sequence {count} times is too large for a script")


def buffer_index(buffer: Buffer, index: Any) -> Any:
    indices = index if isinstance(index, tuple) else (index,)
    if len(indices) != len(buffer.shape):
        raise IndexError(f"buffer {buffer.name} has {len(buffer.shape)} dimension(s) but "
                         f"{len(indices)} index(es) were given")
    if any(isinstance(i, slice) for i in indices):
        return BufferSlice(buffer, indices)
    exprs = []
    for i in indices:
        expr = as_prim(i)
        if not expr.dtype.is_integer:
            raise TypeError(f"a buffer index must be an integer expression, got {describe(i)}")
        exprs.append(expr)
    return E.BufferLoad(buffer, tuple(exprs))


def _arg_node(call: ast.Call, position: "int | str", name: str | None) -> ast.AST:
    """The argument at ``position`` or passed as keyword ``name`` (else the whole call)."""
    if isinstance(position, int) and position < len(call.args):
        return call.args[position]
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return call


def _message(exc: Exception) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, (TypeError, ValueError, NameError, AttributeError, IndexError, KeyError)):
        return text or type(exc).__name__
    return f"cannot evaluate this construct: {type(exc).__name__}: {text}"


def _unsupported_expr(node: ast.AST) -> str:
    hint = f"; {_SELECT_HINT}" if isinstance(node, ast.IfExp) else ""
    return f"{_expr_kind(node)} is not supported in scripts{hint}"


def _expr_kind(node: ast.AST) -> str:
    names = {"Lambda": "`lambda`", "IfExp": "a conditional expression (`a if c else b`)",
             "ListComp": "a list comprehension", "DictComp": "a dict comprehension",
             "SetComp": "a set comprehension", "GeneratorExp": "a generator expression",
             "JoinedStr": "an f-string", "Await": "`await`", "Yield": "`yield`",
             "YieldFrom": "`yield from`", "NamedExpr": "`:=`", "Set": "a set literal",
             "Starred": "`*` unpacking here"}
    return names.get(type(node).__name__, f"the expression `{type(node).__name__}`")


_PY_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
             ast.Invert: operator.invert}

_EXPR: dict[type, Callable[[ParserBase, Any], Any]] = {
    ast.Name: ParserBase._name, ast.Constant: ParserBase._constant,
    ast.Attribute: ParserBase._attribute, ast.Subscript: ParserBase._subscript,
    ast.Slice: ParserBase._slice, ast.Tuple: ParserBase._tuple, ast.List: ParserBase._list,
    ast.Dict: ParserBase._dict, ast.BinOp: ParserBase._binop, ast.UnaryOp: ParserBase._unaryop,
    ast.BoolOp: ParserBase._boolop, ast.Compare: ParserBase._compare, ast.Call: ParserBase._call,
}
