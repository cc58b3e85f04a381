"""Statements of loop-level functions (``@T.prim_func``): one handler per Python statement kind.

A body is parsed statement by statement into a flat list; statements that scope over the rest
of the body (let bindings, ``T.allocate``, ``assert``) are ``Wrap``s folded from the end, so a
long function needs no deep recursion.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any, Callable

from ...ir import expr as E
from ...ir import stmt as S
from ...ir.buffer import Buffer
from ...ir.dtype import HANDLE, DTypeError
from ...ir.dtype import dtype as as_dtype
from ...ir.expr import PrimExpr, Var, const
from ...ir.function import PrimFunc
from ..tir_ns import RANGE, DTypeCtor, assert_message
from .builtin import Binder, Builtin
from .core import _MISSING, ParserBase
from .tir_frames import (
    AssertSpec,
    AttrScope,
    AttrSpec,
    BlockFrame,
    BlockSpec,
    BufferDef,
    FuncFrame,
    GridSpec,
    InitSpec,
    LetSpec,
    LoopSpec,
    PendingVar,
    Wrap,
)
from .values import BufferSlice, as_prim, describe, is_scalar_buffer, loaded

_UNSUPPORTED = {
    "Try": "`try`", "TryStar": "`try`", "ClassDef": "a class definition", "Import": "`import`",
    "ImportFrom": "`import`", "Global": "`global`", "Nonlocal": "`nonlocal`", "Delete": "`del`",
    "Raise": "`raise`", "AsyncFor": "`async for`", "AsyncWith": "`async with`",
    "AsyncFunctionDef": "an async function", "FunctionDef": "a nested function definition",
    "Match": "`match`", "Break": "`break`", "Continue": "`continue`",
}
_TRUE = None
_LET = object()  # the annotation ``T.let``: a let binding typed by its value


def _true() -> PrimExpr:
    return const(True)


class TIRParser(ParserBase):
    """Parses one ``@T.prim_func`` definition into a PrimFunc."""

    def __init__(self, source, env) -> None:
        super().__init__(source, env)
        self.overrides = {"range": Builtin("range", RANGE.fn)}
        self.func = FuncFrame()
        self.frames: list[BlockFrame] = []
        self.loop_doms: dict[Var, tuple[PrimExpr, PrimExpr]] = {}
        self.saw_block = False
        # T.alloc_buffer is TVM 0.27's flat allocation (not the block's): set per function
        self.flat_alloc = False
        # variables made by quoted sizes in the signature, T.Buffer(("n", 16), ...)
        self.signature_vars: dict[str, Var] = {}
        self._scalar_params: dict[str, Any] = {}

    # ------------------------------------------------------------ API for builtins
    def block_frame(self, what: str) -> BlockFrame:
        if not self.frames:
            raise TypeError(f"{what} is only allowed inside a `with T.block(...)`")
        return self.frames[-1]

    def alloc_frame(self) -> "BlockFrame | FuncFrame":
        return self.frames[-1] if self.frames else self.func

    def loop_dom(self, var: Var) -> tuple[PrimExpr, PrimExpr] | None:
        return self.loop_doms.get(var)

    # ------------------------------------------------------------ function
    def parse_function(self, fdef: ast.FunctionDef) -> PrimFunc:
        self.guard(fdef, self._check_signature, fdef)
        self.flat_alloc = _s_tir(fdef) or not _has_blocks(fdef)
        self._scalar_params = {a.arg: a.annotation for a in fdef.args.args
                               if _is_dtype_annotation(a.annotation)}
        for arg in fdef.args.args:
            self.guard(arg, self._param, arg)
        body = self.parse_body(_strip_docstring(fdef.body))
        body = self._root(body)
        params = tuple(self.func.params)
        buffer_map = {p: self.func.buffer_map[p] for p in params if p in self.func.buffer_map}
        func = PrimFunc(params, buffer_map, body, self.func.attrs, fdef.name)
        return func.with_span(self.source.span(fdef))

    def _check_signature(self, fdef: ast.FunctionDef) -> None:
        a = fdef.args
        extra = a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults
        if extra:
            raise TypeError("a prim_func takes plain parameters only (no defaults, *args, "
                            "**kwargs or keyword-only parameters)")

    def _param(self, arg: ast.arg) -> None:
        if arg.annotation is None:
            raise TypeError(f"parameter '{arg.arg}' needs an annotation such as "
                            "T.Buffer((16,), \"float32\"), T.handle or T.int32")
        spec = self.eval(self._quoted_sizes(arg.annotation))
        if isinstance(spec, BufferDef) and spec.role == "view":
            var = Var(arg.arg, HANDLE)
            self.func.buffer_map[var] = Buffer(arg.arg, **spec.args)
            self.define(arg.arg, self.func.buffer_map[var])
        elif isinstance(spec, DTypeCtor):
            var = self.signature_vars.get(arg.arg)  # made by a quoted size before it
            if var is None or self.lookup_local(arg.arg) is not var:
                var = Var(arg.arg, spec.script_dtype)
            self.define(arg.arg, var)
        else:
            raise TypeError(f"parameter '{arg.arg}' has annotation {describe(spec)}; expected "
                            "T.Buffer(shape, dtype), T.handle or a scalar dtype such as T.int32")
        self.func.params.append(var)

    def _quoted_sizes(self, annotation: ast.expr) -> ast.expr:
        """TVM 0.27's signature ``T.Buffer(("n", "n * 2"), ..., strides=("s0", 1))``: a quoted
        size is an expression whose names not yet defined become new size variables (int32, or
        the dtype of the scalar parameter of that name), shared by every later use. Returns the
        annotation with each quoted size replaced by its expression."""
        if not (isinstance(annotation, ast.Call) and _is_t_attr(annotation.func, "Buffer")):
            return annotation
        call = ast.Call(annotation.func, list(annotation.args),
                        [ast.keyword(k.arg, k.value) for k in annotation.keywords])
        ast.copy_location(call, annotation)
        call.end_lineno, call.end_col_offset = annotation.end_lineno, annotation.end_col_offset
        if call.args:
            call.args[0] = self._unquote(call.args[0])
        for kw in call.keywords:
            if kw.arg in ("shape", "strides"):
                kw.value = self._unquote(kw.value)
        return call

    def _unquote(self, node: ast.expr) -> ast.expr:
        if isinstance(node, (ast.Tuple, ast.List)):
            new = type(node)([self._unquote(e) for e in node.elts], ast.Load())
            return _located(new, node)
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            return node
        try:
            expr = ast.parse(node.value.strip(), mode="eval").body
        except SyntaxError:
            raise self.error(node, f"a quoted size must be an expression such as \"n\" or "
                                   f"\"n * 2\", got {node.value!r}") from None
        for child in ast.walk(expr):
            _located(child, node)
            if isinstance(child, ast.Name) and self._unknown(child.id):
                var = Var(child.id, self._size_dtype(child.id))
                self.signature_vars[child.id] = var
                self.define(child.id, var)
        return expr

    def _unknown(self, name: str) -> bool:
        return self.lookup_local(name) is _MISSING and name not in self.overrides \
            and name not in self.env and not hasattr(builtins, name)

    def _size_dtype(self, name: str) -> Any:
        ann = self._scalar_params.get(name)
        spec = self.eval(ann) if ann is not None else None
        return spec.script_dtype if isinstance(spec, DTypeCtor) else const(0).dtype

    def _root(self, body: S.Stmt) -> S.Stmt:
        allocs = self.func.alloc_buffers
        if not (self.saw_block or allocs):
            return body
        if (not allocs and isinstance(body, S.BlockRealize) and body.block.name_hint == "root"
                and not body.iter_values):
            return body
        return S.BlockRealize((), _true(), S.Block("root", alloc_buffers=tuple(allocs), body=body))

    # ------------------------------------------------------------ bodies
    def parse_body(self, stmts: list[ast.stmt]) -> S.Stmt:
        items: list[Any] = []
        self.push_scope()
        try:
            for node in stmts:
                handler = _STMT.get(type(node))
                if handler is None:
                    raise self.error(node, _unsupported(node))
                item = self.guard(node, handler, self, node)
                if item is not None:
                    items.append(item)
        finally:
            self.pop_scope()
        return _fold(items)

    # ------------------------------------------------------------ statements
    def _expr(self, node: ast.Expr) -> Any:
        value = self.eval(node.value)
        if value is None or isinstance(value, str):
            return None
        if isinstance(value, S.Stmt):
            return self.span(node, value)
        if isinstance(value, (AttrSpec, AttrScope)):  # TVM 0.27: over the rest of the body
            span = self.source.span(node)
            return Wrap(lambda body: _attrs_of(value).wrap(body, span))
        if isinstance(value, (Binder, BlockSpec, LoopSpec, GridSpec, InitSpec)):
            raise TypeError(f"{describe(value)} must be used in an assignment, `with` or `for`, "
                            "not as a statement on its own")
        return self.span(node, S.Evaluate(as_prim(value)))

    def _assign(self, node: ast.Assign) -> Any:
        if len(node.targets) != 1:
            raise TypeError("chained assignment (a = b = c) is not supported in scripts")
        return self.assign(node, node.targets[0], node.value, None)

    def _ann_assign(self, node: ast.AnnAssign) -> Any:
        if node.value is None:
            raise TypeError("an annotated name needs a value: x: T.int32 = value")
        ann = node.annotation
        if _is_t_attr(ann, "let"):  # TVM 0.27's ``x: T.let = v``: typed by its value
            ann = _LET
        elif isinstance(ann, ast.Subscript) and _is_t_attr(ann.value, "let"):
            ann = ann.slice  # TVM 0.27's ``x: T.let[T.int32] = v`` is ``x: T.int32 = v``
        return self.assign(node, node.target, node.value, ann)

    def _aug_assign(self, node: ast.AugAssign) -> Any:
        if not isinstance(node.target, ast.Subscript):
            raise TypeError("augmented assignment (+=) works only on buffer elements, e.g. "
                            "A[i] += 1; script variables are immutable")
        load = ast.Subscript(node.target.value, node.target.slice, ast.Load())
        value = ast.BinOp(load, node.op, node.value)
        ast.copy_location(load, node.target)
        ast.copy_location(value, node)
        value.end_lineno, value.end_col_offset = node.end_lineno, node.end_col_offset
        return self.store(node, node.target, value)

    def assign(self, node: ast.stmt, target: ast.expr, value_node: ast.expr, ann: Any) -> Any:
        if isinstance(target, ast.Subscript):
            return self.store(node, target, value_node)
        names = _target_names(target)
        if names is None:
            raise self.error(target, f"cannot assign to {type(target).__name__}; expected a name, "
                                     "a tuple of names or a buffer element A[i]")
        value = self.eval(value_node)
        if isinstance(value, Binder):
            return value.bind(self, names, node)
        if len(names) != 1:
            return self._unpack(target, names, value)
        return self._let(node, names[0], value, ann)

    def _unpack(self, target: ast.expr, names: list[str], value: Any) -> None:
        if not isinstance(value, (tuple, list)) or len(value) != len(names):
            raise TypeError(f"cannot unpack {describe(value)} into {len(names)} names")
        for name, v in zip(names, value):
            if isinstance(v, PendingVar):  # TVM 0.27 prints ``m, n = T.int32(), T.int32()``
                v.bind(self, [name], target)
            else:
                self.define(name, v)

    def _let(self, node: ast.stmt, name: str, value: Any, ann: Any) -> Any:
        known = self.lookup_local(name)
        if ann is not None and is_scalar_buffer(value):
            value = loaded(value)  # ``x: T.let[T.float32] = A``: TVM 0.27's A[0], printed bare
        if ann is None and is_scalar_buffer(known) and (
                not isinstance(value, Buffer) or is_scalar_buffer(value)):
            # TVM 0.27 prints ``A = v`` for ``A[0] = v`` into a buffer of shape (1,)
            expr = _store_value(value, known.dtype, known)
            return self.span(node, S.BufferStore(known, expr, (const(0),)))
        if isinstance(known, (Var, Buffer)):
            raise TypeError(f"'{name}' is already defined; script variables are bound once")
        if not isinstance(value, (PrimExpr, BufferSlice, bool, int, float)):
            self.define(name, value)  # a Python value (tuple, module reference ...)
            return None
        expr = as_prim(value)
        if ann is not None and ann is not _LET:
            dt = self.eval(ann)
            if not isinstance(dt, DTypeCtor):
                raise self.error(ann, f"expected a dtype annotation such as T.int32, got "
                                      f"{describe(dt)}")
            if isinstance(value, (bool, int, float)):
                expr = E._const_like(value, dt.script_dtype)
            if expr.dtype != dt.script_dtype:
                raise self.error(ann, f"'{name}' is annotated {dt.script_dtype} but its value is "
                                      f"{expr.dtype}")
        var = Var(name, expr.dtype)
        self.define(name, var)
        span = self.source.span(node)
        return Wrap(lambda body: S.LetStmt(var, expr, body).with_span(span))

    def store(self, node: ast.stmt, target: ast.Subscript, value_node: ast.expr) -> Any:
        buf = self.eval(target.value)
        if not isinstance(buf, Buffer):
            raise self.error(target, f"cannot assign to an element of {describe(buf)}; only "
                                     "buffers can be stored to")
        index = self.eval(target.slice)
        loaded = self.guard(target, self.index, buf, index)
        indices = loaded.to_indices() if isinstance(loaded, BufferSlice) else loaded.indices
        value = self.eval(value_node)
        lanes = 1
        for i in indices:
            lanes *= i.dtype.lanes
        want = buf.dtype.with_lanes(buf.dtype.lanes * lanes)
        expr = self.guard(value_node, _store_value, value, want, buf)
        return self.span(node, S.BufferStore(buf, expr, indices))

    def _for(self, node: ast.For) -> S.Stmt:
        if node.orelse:
            raise self.error(node.orelse[0], "`for ... else` is not supported in scripts")
        spec = self.eval(node.iter)
        names = _target_names(node.target)
        if names is None:
            raise self.error(node.target, "a loop variable must be a name or a tuple of names")
        if isinstance(spec, GridSpec):
            if len(names) != len(spec.extents):
                raise self.error(node.target, f"T.grid has {len(spec.extents)} extent(s) but "
                                              f"{len(names)} loop variable(s) are given")
            specs = [LoopSpec(S.ForKind.SERIAL, const(0, e.dtype), e) for e in spec.extents]
        elif isinstance(spec, LoopSpec):
            if len(names) != 1:
                raise self.error(node.target, f"this loop defines one variable, but "
                                              f"{len(names)} are given")
            specs = [spec]
        else:
            raise self.error(node.iter, f"cannot loop over {describe(spec)}; expected range(n), "
                                        "T.serial, T.parallel, T.vectorized, T.unroll, "
                                        "T.thread_binding or T.grid")
        return self._loops(node, names, specs)

    def _loops(self, node: ast.For, names: list[str], specs: list[LoopSpec]) -> S.Stmt:
        self.push_scope()
        try:
            loop_vars = []
            for name, spec in zip(names, specs):
                var = Var(name, spec.extent.dtype)
                self.define(name, var)
                self.loop_doms[var] = (spec.min, spec.extent)
                loop_vars.append(var)
            body = self.parse_body(node.body)
        finally:
            self.pop_scope()
        span = self.source.span(node)
        for var, spec in reversed(list(zip(loop_vars, specs))):
            body = S.For(var, spec.min, spec.extent, spec.kind, body, spec.thread,
                         spec.annotations).with_span(span)
        return body

    def _while(self, node: ast.While) -> S.Stmt:
        if node.orelse:
            raise self.error(node.orelse[0], "`while ... else` is not supported in scripts")
        cond = self._condition(node.test)
        return self.span(node, S.While(cond, self.parse_body(node.body)))

    def _if(self, node: ast.If) -> S.Stmt:
        cond = self._condition(node.test)
        then = self.parse_body(node.body)
        other = self.parse_body(node.orelse) if node.orelse else None
        return self.span(node, S.IfThenElse(cond, then, other))

    def _condition(self, test: ast.expr) -> PrimExpr:
        cond = self.eval_prim(test)
        if not cond.dtype.is_bool:
            raise self.error(test, f"a condition must be a bool expression, got {describe(cond)}")
        return cond

    def _assert(self, node: ast.Assert) -> Wrap:
        cond = self._condition(node.test)
        msg = self.eval(node.msg) if node.msg is not None else ""
        kind, parts = self.guard(node.msg or node, assert_message, msg)
        spec = AssertSpec(cond, "".join(parts), kind, parts)
        span = self.source.span(node)
        return Wrap(lambda body: spec.make(body).with_span(span))

    def _return(self, node: ast.Return) -> None:
        raise TypeError("a prim_func cannot return a value; write results into an output buffer")

    def _pass(self, node: ast.Pass) -> None:
        return None

    def _with(self, node: ast.With) -> S.Stmt:
        if len(node.items) != 1:
            raise TypeError("`with` takes exactly one of T.block(\"name\"), T.init(), "
                            "T.attr(...) or T.LetStmt(value) as x")
        spec = self.eval(node.items[0].context_expr)
        target = node.items[0].optional_vars
        if isinstance(spec, LetSpec):
            return self._let_with(node, target, spec)
        if isinstance(spec, Binder) and target is not None:
            return self._binder_with(node, target, spec)
        if target is not None:
            raise self.error(target, f"`with {describe(spec)}` takes no `as` target")
        handler = _WITH.get(type(spec))
        if handler is None:
            raise self.error(node.items[0].context_expr,
                             f"`with` expects T.block, T.init or T.attr, got {describe(spec)}")
        return handler(self, node, spec)

    def _binder_with(self, node: ast.With, target: Any, spec: Binder) -> S.Stmt:
        """``with T.allocate(...) as x:`` (also decl_buffer, launch_thread): the statement
        scopes over the `with` body only, where the flat form would scope over the rest."""
        if not isinstance(target, ast.Name):
            raise self.error(target, f"`with {spec.script_kind} as ...` takes one name")
        self.push_scope()
        try:
            wrap = spec.bind(self, [target.id], node)
            if not isinstance(wrap, Wrap):
                raise self.error(node.items[0].context_expr,
                                 f"{spec.script_kind} cannot be used in a `with`; "
                                 "assign it instead")
            body = self.parse_body(node.body)
        finally:
            self.pop_scope()
        return self.span(node, wrap.make(body))

    def _assert_with(self, node: ast.With, spec: AssertSpec) -> S.Stmt:
        body = self.parse_body(node.body)
        return self.span(node, spec.make(body))

    def _let_with(self, node: ast.With, target: Any, spec: LetSpec) -> S.Stmt:
        if not isinstance(target, ast.Name):
            raise self.error(node, "write `with T.LetStmt(value) as x:`")
        var = Var(target.id, spec.value.dtype)
        self.push_scope()
        try:
            self.define(target.id, var)
            body = self.parse_body(node.body)
        finally:
            self.pop_scope()
        return self.span(node, S.LetStmt(var, spec.value, body))

    def _block(self, node: ast.With, spec: BlockSpec) -> S.Stmt:
        from ...analysis.access_region import infer_block_access_regions

        self.saw_block = True
        frame = BlockFrame(spec.name)
        self.frames.append(frame)
        try:
            body = self.parse_body(node.body)
        finally:
            self.frames.pop()
        block = S.Block(spec.name, tuple(frame.iter_vars), tuple(frame.alloc_buffers),
                        tuple(frame.match_buffers), tuple(frame.reads or ()),
                        tuple(frame.writes or ()), frame.annotations, frame.init, body)
        if frame.reads is None or frame.writes is None:
            reads, writes = infer_block_access_regions(block)
            block = block.with_(reads=tuple(frame.reads) if frame.reads is not None else reads,
                                writes=tuple(frame.writes) if frame.writes is not None else writes)
        block = self.span(node, block)
        predicate = frame.predicate if frame.predicate is not None else _true()
        return self.span(node, S.BlockRealize(tuple(frame.iter_values), predicate, block))

    def _init(self, node: ast.With, spec: InitSpec) -> None:
        frame = self.block_frame("T.init()")
        if frame.init is not None:
            raise TypeError("a block has at most one `with T.init():`")
        frames, self.frames = self.frames, []
        try:
            frame.init = self.parse_body(node.body)
        finally:
            self.frames = frames
        return None

    def _attr(self, node: ast.With, spec: AttrSpec | AttrScope) -> S.Stmt:
        body = self.parse_body(node.body)
        return _attrs_of(spec).wrap(body, self.source.span(node))


def _attrs_of(spec: AttrSpec | AttrScope) -> AttrScope:
    return spec if isinstance(spec, AttrScope) else AttrScope([spec])


def _is_t_attr(node: ast.expr, *names: str) -> bool:
    """``T.<name>`` for one of ``names``."""
    return isinstance(node, ast.Attribute) and node.attr in names \
        and isinstance(node.value, ast.Name) and node.value.id == "T"


def _is_dtype_annotation(node: ast.expr | None) -> bool:
    if not isinstance(node, ast.Attribute) or not _is_t_attr(node, node.attr):
        return False
    try:
        as_dtype(node.attr)
    except DTypeError:
        return False
    return True


def _s_tir(fdef: ast.FunctionDef) -> bool:
    """``@T.prim_func(s_tir=True)`` (TVM 0.27's marker of a function with blocks)."""
    for dec in fdef.decorator_list:
        for kw in dec.keywords if isinstance(dec, ast.Call) else ():
            if kw.arg == "s_tir" and isinstance(kw.value, ast.Constant):
                return kw.value.value is True
    return False


def _has_blocks(fdef: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Call) and _is_t_attr(n.func, "block", "sblock")
               for n in ast.walk(fdef))


def _located(new: ast.AST, old: ast.AST) -> ast.AST:
    for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
        setattr(new, attr, getattr(old, attr, None))
    return new


def _store_value(value: Any, want, buf: Buffer) -> PrimExpr:
    if isinstance(value, (bool, int, float)) and not isinstance(value, PrimExpr):
        if isinstance(value, float) and not want.is_float:
            raise TypeError(f"cannot store the float {value!r} into {buf.name}, which holds "
                            f"{buf.dtype}; expected an integer value (or use T.Cast)")
        return const(value, want)
    expr = as_prim(value)
    if expr.dtype != want:
        raise TypeError(f"cannot store {describe(expr)} into {buf.name}, which holds "
                        f"{want}; expected a value of dtype {want} (use T.Cast to convert)")
    return expr


def _target_names(target: ast.expr) -> list[str] | None:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)) \
            and all(isinstance(e, ast.Name) for e in target.elts):
        return [e.id for e in target.elts]
    return None


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def _fold(items: list[Any]) -> S.Stmt:
    """Build the body from its items, each Wrap taking the statements after it as its body."""
    tail: list[S.Stmt] = []
    for item in reversed(items):
        if isinstance(item, Wrap):
            rest = S.seq(*reversed(tail)) if tail else S.Evaluate(const(0))
            tail = [item.make(rest)]
        else:
            tail.append(item)
    if not tail:
        return S.Evaluate(const(0))
    return S.seq(*reversed(tail))


def _unsupported(node: ast.stmt) -> str:
    kind = _UNSUPPORTED.get(type(node).__name__, f"`{type(node).__name__}`")
    if type(node).__name__ in ("Break", "Continue"):
        return f"{kind} is not supported in scripts; loops always run to their end"
    return f"{kind} is not supported inside a script function"


_STMT: dict[type, Callable[[TIRParser, Any], Any]] = {
    ast.Expr: TIRParser._expr, ast.Assign: TIRParser._assign,
    ast.AnnAssign: TIRParser._ann_assign, ast.AugAssign: TIRParser._aug_assign,
    ast.For: TIRParser._for, ast.While: TIRParser._while, ast.If: TIRParser._if,
    ast.Assert: TIRParser._assert, ast.Return: TIRParser._return, ast.Pass: TIRParser._pass,
    ast.With: TIRParser._with,
}
_WITH: dict[type, Callable[[TIRParser, ast.With, Any], Any]] = {
    BlockSpec: TIRParser._block, InitSpec: TIRParser._init, AttrSpec: TIRParser._attr,
    AttrScope: TIRParser._attr,
    AssertSpec: TIRParser._assert_with,
}
