"""Loop-level statements, buffers and PrimFuncs in classic TVMScript.

Statements that scope over "the rest" (let, assert, allocate, decl_buffer, launch_thread) print
flat, at the level of their body, as the parser reads them, when they are the last statement of
their suite; elsewhere (followed by statements outside their scope) they print as a ``with``
over their body: ``with T.LetStmt(v) as x:``, ``with T.Assert(c, "msg"):``,
``with T.allocate(...) as x:``, ``with T.decl_buffer(...) as X:``,
``with T.launch_thread("threadIdx.x", n) as tx:``. Sugar: ``T.grid`` for perfectly
nested serial loops, ``T.axis.remap`` for iterators bound to enclosing loops, and an implicit
root block.
"""

from __future__ import annotations

from typing import Any

from ...ir import expr as E
from ...ir import stmt as S
from ...ir.buffer import Buffer, BufferRegion, MatchBufferRegion
from ...ir.function import PrimFunc
from .base import lookup, str_lit
from .expr import ATOM

_KIND_NAMES = {S.ForKind.PARALLEL: "parallel", S.ForKind.VECTORIZED: "vectorized",
               S.ForKind.UNROLLED: "unroll", S.ForKind.THREAD_BINDING: "thread_binding",
               S.ForKind.SERIAL: "serial"}
_REMAP_TYPES = frozenset({S.IterType.SPATIAL, S.IterType.REDUCE})


def _is_int(e: Any, value: int) -> bool:
    return type(e) is E.IntImm and e.value == value


def _is_true(e: Any) -> bool:
    return type(e) is E.IntImm and e.value == 1 and e.dtype.is_bool


def _has_var(e: Any) -> bool:
    """Whether an expression mentions any variable (shapes are mostly constants)."""
    if type(e) in (E.IntImm, E.FloatImm, E.StringImm):
        return False
    if isinstance(e, E.Var):
        return True
    return any(_has_var(v) for _, v in e.fields() if isinstance(v, E.PrimExpr)) or any(
        _has_var(x) for _, v in e.fields() if isinstance(v, tuple) for x in v
        if isinstance(x, E.PrimExpr))


def _uses(e: Any, vars_: set) -> bool:
    """Whether expression ``e`` mentions one of ``vars_``."""
    if isinstance(e, E.Var):
        return e in vars_
    if type(e) in (E.IntImm, E.FloatImm, E.StringImm):
        return False
    if isinstance(e, E.BufferLoad):
        return any(_uses(i, vars_) for i in e.indices)
    for _, v in e.fields():
        if isinstance(v, E.PrimExpr) and _uses(v, vars_):
            return True
        if isinstance(v, tuple) and any(isinstance(x, E.PrimExpr) and _uses(x, vars_) for x in v):
            return True
    return False


def _contains_block(s: Any) -> bool:
    """Whether a statement holds a block anywhere (the parser then adds a root block)."""
    if isinstance(s, S.BlockRealize):
        return True
    if isinstance(s, S.SeqStmt):
        return any(_contains_block(x) for x in s.seq)
    if isinstance(s, S.IfThenElse):
        return _contains_block(s.then_case) or (s.else_case is not None
                                                 and _contains_block(s.else_case))
    body = getattr(s, "body", None)
    return isinstance(body, S.Stmt) and _contains_block(body)


_FLAT_ALLOC = {"local": "alloc_local", "shared": "alloc_shared"}


def _is_zero_node(node: Any) -> bool:
    """The node of TVM 0.27's ``T.attr({...})`` attributes: the integer 0."""
    return (type(node) is int and node == 0) or _is_int(node, 0)


def _is_flat_alloc(s: S.Allocate) -> bool:
    """An allocation that TVM 0.27 spells as one flat ``T.alloc_buffer``: a ``DeclBuffer`` of
    exactly the allocated storage right inside it."""
    decl = s.body
    if not isinstance(decl, S.DeclBuffer) or not _is_true(s.condition):
        return False
    buf = decl.buffer
    return (buf.data is s.buffer_var and buf.dtype == s.dtype and buf.scope == s.scope
            and tuple(buf.shape) == tuple(s.extents) and not buf.strides)


def tvm_attr_key(key: Any) -> Any:
    """An attribute key as TVM 0.27 spells it: the ``tir.`` namespace became ``tirx.``."""
    if isinstance(key, str) and key.startswith("tir."):
        return "tirx." + key[len("tir."):]
    return key


def implicit_root(func: PrimFunc) -> S.Block | None:
    """The root block when it can stay implicit (the parser adds exactly this one back)."""
    r = func.body
    if not isinstance(r, S.BlockRealize) or r.iter_values or not _is_true(r.predicate):
        return None
    b = r.block
    if (b.name_hint != "root" or b.iter_vars or b.reads or b.writes or b.match_buffers
            or b.annotations or b.init is not None):
        return None
    if not _contains_block(b.body):
        return None  # without inner blocks, T.alloc_buffer would read as a flat allocation
    return b


class TirMixin:
    """Prints statements, buffers and PrimFuncs; needs the expression mixin."""

    def stmt(self, s: Any) -> None:
        fn = self._S.get(type(s))
        if fn is None:
            fn = lookup(type(self), "s", type(s))
            if fn is None:
                raise TypeError(f"cannot print statement {type(s).__name__}")
            self._S[type(s)] = fn
        fn(self, s)

    def body(self, s: Any) -> None:
        """An indented suite."""
        self.push()
        saved, self.tail = self.tail, True
        self.stmt(s)
        self.tail = saved
        self.pop()

    tail = True  # whether the statement being printed is the last one of its suite

    @property
    def block_word(self) -> str:
        """``block`` in the classic spelling; TVM 0.27 renamed block constructs ``sblock``."""
        return "sblock" if self.tvm else "block"

    @property
    def block_alloc(self) -> str:
        """A block's allocation: TVM 0.27's ``T.alloc_buffer`` is a flat statement instead."""
        return "T.sblock_alloc_buffer(" if self.tvm else "T.alloc_buffer("

    def scoped(self, s: Any, header: str) -> bool:
        """Print ``with <header>:`` over ``s.body`` unless ``s`` may print flat (in tail position).

        TVM 0.27's let, assert and allocation statements have no body: they are flat and cover
        the rest of their sequence, so the tvm dialect always prints them flat. Where one of ours
        ends before its sequence does, TVM reads a wider scope over statements that do not use
        it: the same computation, though not the same tree.
        """
        if self.tail or self.tvm:
            return False
        self.emit(f"with {header}:")
        self.body(s.body)
        return True

    # ------------------------------------------------------------ simple statements

    def s_SeqStmt(self, s: S.SeqStmt) -> None:
        if self.locs is not None:
            self.loc(s)
        saved = self.tail
        self.tail = False
        for x in s.seq[:-1]:
            self.stmt(x)
        self.tail = saved
        self.stmt(s.seq[-1])

    def s_BufferStore(self, s: S.BufferStore) -> None:
        if self.locs is not None:
            self.loc(s)
        target = f"{self.buffer_name(s.buffer)}[{self.indices(s.indices)}]"
        self.emit(f"{target} = {self.expr(s.value)}")

    def s_Evaluate(self, s: S.Evaluate) -> None:
        if self.locs is not None:
            self.loc(s)
        v = s.value
        text, prec = self.px(v)
        if isinstance(v, E.Call) and prec == ATOM and text.startswith("T."):
            self.emit(text)
        else:
            self.emit(f"T.evaluate({text})")

    def s_IfThenElse(self, s: S.IfThenElse) -> None:
        keyword = "if"
        while True:
            if self.locs is not None:
                self.loc(s)
            self.emit(f"{keyword} {self.expr(s.condition)}:")
            self.body(s.then_case)
            other = s.else_case
            if other is None:
                return
            if isinstance(other, S.IfThenElse):
                keyword, s = "elif", other
                continue
            self.emit("else:")
            self.body(other)
            return

    def s_While(self, s: S.While) -> None:
        if self.locs is not None:
            self.loc(s)
        self.emit(f"while {self.expr(s.condition)}:")
        self.body(s.body)

    def s_LetStmt(self, s: S.LetStmt) -> None:
        if self.locs is not None:
            self.loc(s)
        value = self.expr(s.value)
        name = self.names.define(s.var, s.var.name)
        if self.locs is not None:
            self.loc(s.var)
        if not self.scoped(s, f"T.LetStmt({value}) as {name}"):
            # TVM 0.27 reads ``x: T.float32 = v`` as a one-element buffer; ``T.let`` is a let
            annotation = f"T.let[T.{s.var.dtype}]" if self.tvm else f"T.{s.var.dtype}"
            self.emit(f"{name}: {annotation} = {value}")
            self.stmt(s.body)

    def s_AssertStmt(self, s: S.AssertStmt) -> None:
        if self.locs is not None:
            self.loc(s)
        cond, message = self.expr(s.condition), self.expr(s.message)
        if s.error_kind != "RuntimeError" or s.message_parts:
            parts = s.message_parts or (s.message.value,)
            message = f"({str_lit(s.error_kind)}, [{', '.join(str_lit(x) for x in parts)}])"
        if not self.scoped(s, f"T.Assert({cond}, {message})"):
            self.emit(f"assert {cond}, {message}")
            self.stmt(s.body)

    def s_AttrStmt(self, s: S.AttrStmt) -> None:
        if self.locs is not None:
            self.loc(s)
        node = s.node
        if s.attr_key == "thread_extent" and isinstance(node, S.IterVar) and node.thread_tag:
            value = self.expr(s.value)
            name = self.names.define(node.var, node.var.name)
            if self.locs is not None:
                self.loc(node.var)
            call = f"T.launch_thread({str_lit(node.thread_tag)}, {value})"
            if not self.scoped(s, f"{call} as {name}"):
                self.emit(f"{name} = {call}")
                self.stmt(s.body)
            return
        if self.tvm and _is_zero_node(node):
            self.attr_dict(s)
            return
        target = self.expr(node.var) if isinstance(node, S.IterVar) else self.value(node)
        self.emit(f"with T.attr({target}, {str_lit(s.attr_key)}, {self.expr(s.value)}):")
        self.body(s.body)

    def attr_dict(self, s: S.AttrStmt) -> None:
        """TVM 0.27's ``T.attr({...})``: directly nested attributes on the node 0, one dict."""
        items = []
        while True:
            items.append(f"{str_lit(s.attr_key)}: {self.expr(s.value)}")
            if not (isinstance(s.body, S.AttrStmt) and _is_zero_node(s.body.node)):
                break
            s = s.body
        header = f"T.attr({{{', '.join(items)}}})"
        if self.tail:
            self.emit(header)
            self.stmt(s.body)
        else:
            self.emit(f"with {header}:")
            self.body(s.body)

    def s_Allocate(self, s: S.Allocate) -> None:
        if self.locs is not None:
            self.loc(s)
        if self.tvm and _is_flat_alloc(s):
            self.flat_alloc(s)
            return
        extents = ", ".join(self.expr(x) for x in s.extents)
        args = f'[{extents}], "{s.dtype}", {str_lit(s.scope)}'
        if not _is_true(s.condition):
            args += f", condition={self.expr(s.condition)}"
        if s.annotations:
            args += f", annotations={self.value(s.annotations)}"
        name = self.names.define(s.buffer_var, s.buffer_var.name)
        if self.locs is not None:
            self.loc(s.buffer_var)
        if not self.scoped(s, f"T.allocate({args}) as {name}"):
            self.emit(f"{name} = T.allocate({args})")
            self.stmt(s.body)

    def flat_alloc(self, s: S.Allocate) -> None:
        """``Allocate`` + its ``DeclBuffer`` as TVM 0.27's one flat allocation statement."""
        decl = s.body
        buf = decl.buffer
        name = self.names.define(buf, buf.name)
        self.names.alias(s.buffer_var, f"{name}.data")
        if self.locs is not None:
            self.loc(s.buffer_var)
            self.loc(decl)
        call = _FLAT_ALLOC.get(buf.scope, "alloc_buffer")
        args = self.buffer_args(buf, name)
        if call != "alloc_buffer":
            args = args.replace(f", scope={str_lit(buf.scope)}", "")
        if s.annotations:
            args += f", annotations={self.value(s.annotations)}"
        self.emit(f"{name} = T.{call}({args})")
        self.stmt(decl.body)

    def s_DeclBuffer(self, s: S.DeclBuffer) -> None:
        if self.locs is not None:
            self.loc(s)
        if not self.tail:
            data_name = self.names.names.get(s.buffer.data)
            name = self.names.define(s.buffer, s.buffer.name)
            args = self.buffer_args(s.buffer, name, data_name)
            self.scoped(s, f"T.decl_buffer({args}) as {name}")
            return
        self.buffer_def(s.buffer, "T.decl_buffer(", decl=True)
        self.stmt(s.body)

    # ------------------------------------------------------------ buffers

    def buffer_def(self, buf: Buffer, call: str, decl: bool = False, prefix: str = "") -> None:
        """``X = T.<call>(prefix, shape, dtype, keywords)`` defining ``buf`` here."""
        data_name = self.names.names.get(buf.data) if decl else None
        name = self.names.define(buf, buf.name)
        self.emit(f"{name} = {call}{prefix}{self.buffer_args(buf, name, data_name)})")

    def buffer_args(self, buf: Buffer, name: str, data_name: str | None = None) -> str:
        """``(shape), "dtype"`` and the non-default keywords, in the contract's order."""
        self.in_buffer_def = True
        try:
            shape = ", ".join(self.expr(x) for x in buf.shape)
            parts = [f"({shape},)" if len(buf.shape) == 1 else f"({shape})", f'"{buf.dtype}"']
            if data_name is not None:
                parts.append(f"data={data_name}")
            elif buf.data not in self.names.names:
                self.names.alias(buf.data, f"{name}.data")
            if buf.strides:
                strides = ", ".join(self.expr(x) for x in buf.strides)
                parts.append(f"strides=({strides},)" if len(buf.strides) == 1
                             else f"strides=({strides})")
            eo = buf.elem_offset
            if (buf.offset_factor and isinstance(eo, E.Var) and eo not in self.names.names):
                self.names.alias(eo, f"{name}.elem_offset")
            elif not (_is_int(eo, 0) and eo.dtype.bits == 32):
                parts.append(f"elem_offset={self.expr(eo)}")
        finally:
            self.in_buffer_def = False
        if buf.scope != "global":
            parts.append(f"scope={str_lit(buf.scope)}")
        if buf.data_alignment != 64:
            parts.append(f"align={buf.data_alignment}")
        if buf.offset_factor:
            parts.append(f"offset_factor={buf.offset_factor}")
        return ", ".join(parts)

    def inline_buffer(self, buf: Buffer) -> bool:
        """A parameter buffer prints inline when its layout mentions no variable."""
        eo = buf.elem_offset
        return not (any(_has_var(x) for x in buf.shape) or any(_has_var(x) for x in buf.strides)
                    or _has_var(eo))

    def region(self, r: BufferRegion) -> str:
        ranges = ", ".join(self.range_text(x) for x in r.region) or "()"
        return f"{self.buffer_name(r.buffer)}[{ranges}]"

    # ------------------------------------------------------------ loops

    def s_For(self, s: S.For) -> None:
        if self.locs is not None:
            self.loc(s)
        chain = [s]
        if self.is_grid_loop(s):
            bound = {s.loop_var}
            inner = s.body
            while isinstance(inner, S.For) and self.is_grid_loop(inner) \
                    and not _uses(inner.extent, bound):
                chain.append(inner)
                bound.add(inner.loop_var)
                inner = inner.body
        if len(chain) > 1:
            extents = ", ".join(self.expr(f.extent) for f in chain)
            names = ", ".join(self.define_loop_var(f) for f in chain)
            self.emit(f"for {names} in T.grid({extents}):")
        else:
            self.emit(f"for {self.loop_header(s)}:")
        self.body(chain[-1].body)
        for f in chain:
            self.loop_dom.pop(f.loop_var, None)

    @staticmethod
    def is_grid_loop(s: S.For) -> bool:
        return s.kind is S.ForKind.SERIAL and not s.annotations and _is_int(s.min, 0)

    def define_loop_var(self, f: S.For) -> str:
        if self.locs is not None:
            self.loc(f.loop_var)
            self.loc(f)
        self.loop_dom[f.loop_var] = f
        return self.names.define(f.loop_var, f.loop_var.name)

    def loop_header(self, s: S.For) -> str:
        if _is_int(s.min, 0):
            args = self.expr(s.extent)
        else:
            args = f"{self.expr(s.min)}, {self.end(s.min, s.extent)}"
        if s.kind is S.ForKind.SERIAL and not s.annotations:
            call = f"range({args})"
        else:
            if s.kind is S.ForKind.THREAD_BINDING:
                args += f", thread={str_lit(s.thread_tag)}"
            if s.annotations:
                args += f", annotations={self.value(s.annotations)}"
            call = f"T.{_KIND_NAMES[s.kind]}({args})"
        return f"{self.define_loop_var(s)} in {call}"

    # ------------------------------------------------------------ blocks

    def s_BlockRealize(self, r: S.BlockRealize) -> None:
        b = r.block
        if self.locs is not None:
            self.loc(r)
            self.loc(b)
        self.emit(f"with T.{self.block_word}({str_lit(b.name_hint)}):")
        self.push()
        self.iter_vars(b.iter_vars, r.iter_values)
        if not _is_true(r.predicate):
            self.emit(f"T.where({self.expr(r.predicate)})")
        self.block_contents(b)
        self.pop()

    def s_Block(self, b: S.Block) -> None:  # a bare block, outside its BlockRealize
        self.emit(f"with T.{self.block_word}({str_lit(b.name_hint)}):")
        self.push()
        self.block_contents(b)
        self.pop()

    def iter_vars(self, ivs: tuple, values: tuple) -> None:
        if not ivs:
            return
        if self.can_remap(ivs, values):
            kinds = "".join(iv.iter_type.letter for iv in ivs)
            loops = ", ".join(self.expr(v) for v in values)
            names = ", ".join(self.define_iter_var(iv) for iv in ivs)
            self.emit(f'{names} = T.axis.remap("{kinds}", [{loops}])')
            return
        for iv, value in zip(ivs, values):
            dom = iv.dom
            if _is_int(dom.min, 0):
                dom_text = self.expr(dom.extent)
            else:
                dom_text = f"({self.expr(dom.min)}, {self.end(dom.min, dom.extent)})"
            binding = self.expr(value)
            name = self.define_iter_var(iv)
            self.emit(f"{name} = T.axis.{iv.iter_type.value}({dom_text}, {binding})")

    def can_remap(self, ivs: tuple, values: tuple) -> bool:
        for iv, value in zip(ivs, values):
            loop = self.loop_dom.get(value) if isinstance(value, E.Var) else None
            if (loop is None or iv.iter_type not in _REMAP_TYPES or loop.min != iv.dom.min
                    or loop.extent != iv.dom.extent):
                return False
        return len(ivs) == len(values)

    def define_iter_var(self, iv: S.IterVar) -> str:
        if self.locs is not None:
            self.loc(iv.var)
        return self.names.define(iv.var, iv.var.name)

    def block_contents(self, b: S.Block) -> None:
        self.emit(f"T.reads({', '.join(self.region(x) for x in b.reads)})")
        self.emit(f"T.writes({', '.join(self.region(x) for x in b.writes)})")
        if b.annotations:
            self.emit(f"T.{self.block_word}_attr({self.value(b.annotations)})")
        for buf in b.alloc_buffers:
            self.buffer_def(buf, self.block_alloc)
        for m in b.match_buffers:
            self.match_buffer_region(m)
        if b.init is not None:
            self.emit("with T.init():")
            self.body(b.init)
        self.stmt(b.body)

    def match_buffer_region(self, m: MatchBufferRegion) -> None:
        self.buffer_def(m.buffer, "T.match_buffer(", prefix=self.region(m.source) + ", ")

    # ------------------------------------------------------------ functions

    def prim_func(self, f: PrimFunc, name: str) -> None:
        """``@T.prim_func`` / ``def name(params):`` and the body.

        TVM's convention for the symbol: a function without ``global_symbol`` is
        ``private=True``, and a ``global_symbol`` equal to the printed name is implied (the
        parser adds it back). TVM 0.27 also wants ``s_tir=True`` on a function with blocks and
        spells the ``tir.`` attribute namespace ``tirx.``.
        """
        attrs = dict(f.attrs)
        options = []
        if "global_symbol" not in attrs:
            options.append("private=True")
        elif attrs["global_symbol"] == name:
            del attrs["global_symbol"]
        if self.tvm:
            if _contains_block(f.body):
                options.append("s_tir=True")
            attrs = {tvm_attr_key(k): v for k, v in attrs.items()}
        self.emit(f"@T.prim_func({', '.join(options)})" if options else "@T.prim_func")
        if self.locs is not None:
            self.loc(f)
        params, matches = self.params(f)
        self.emit(f"def {name}({', '.join(params)}):")
        self.push()
        if attrs:
            self.emit(f"T.func_attr({self.value(attrs)})")
        decl_index = len(self.lines)
        for handle, buf in matches:
            self.buffer_def(buf, "T.match_buffer(", prefix=handle + ", ")
        root = implicit_root(f)
        if root is not None:
            if self.locs is not None:
                self.loc(f.body)
                self.loc(root)
            for buf in root.alloc_buffers:
                self.buffer_def(buf, self.block_alloc)
            self.stmt(root.body)
        else:
            self.stmt(f.body)
        self.insert_lines(decl_index, self.decl_lines(self.ind))
        self.pop()

    def params(self, f: PrimFunc) -> tuple[list[str], list[tuple[str, Buffer]]]:
        params: list[str] = []
        matches: list[tuple[str, Buffer]] = []
        for p in f.params:
            if self.locs is not None:
                self.loc(p)
            buf = f.buffer_map.get(p)
            if buf is not None and self.inline_buffer(buf):
                name = self.names.define(buf, buf.name)
                self.names.alias(p, name)
                params.append(f"{name}: T.Buffer({self.buffer_args(buf, name)})")
                continue
            name = self.names.define(p, p.name)
            params.append(f"{name}: T.{'handle' if p.dtype.is_handle else p.dtype}")
            if buf is not None:
                matches.append((name, buf))
        return params, matches
