"""Statements → lines of Python source, one ``visit_<Class>`` per node kind.

Blocks are executed as written (not lowered first), so the interpreter can serve as the oracle
for the lowering passes themselves: iterators are assigned their bindings, the predicate guards
the body, ``init`` runs when every reduction iterator is at its domain's minimum, each
``alloc_buffer`` gets fresh zeroed storage per execution and each ``match_buffer`` becomes a
layout over the source buffer's storage (offset of the region's start, the source's strides).
"""

from __future__ import annotations

from collections.abc import Callable

from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer, MatchBufferRegion
from tvmscript.ir.expr import IntImm, Var

from .context import Code, Context, Layout
from .translate_expr import ExprTranslator, add_all, mul, row_major_strides
from .values import np_dtype


class StmtTranslator:
    """Appends the Python lines of statements to ``self.lines`` at the current indentation."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.expr = ExprTranslator(ctx)
        self.lines: list[str] = []
        self.depth = 1
        self.assert_count = 0
        self._table: dict[type, Callable[[S.Stmt], None]] = {}

    def emit(self, line: str) -> None:
        for pending in self.ctx.take_pending():  # deep sub-expressions that ``line`` calls
            self.lines.append("    " * self.depth + pending)
        self.lines.append("    " * self.depth + line)

    def __call__(self, stmt: S.Stmt) -> None:
        cls = type(stmt)
        method = self._table.get(cls)
        if method is None:
            method = getattr(self, "visit_" + cls.__name__, None)
            if method is None:
                raise NotImplementedError(f"the interpreter cannot execute {cls.__name__}")
            self._table[cls] = method
        method(stmt)

    def nested(self, stmt: S.Stmt | None) -> None:
        """Translate ``stmt`` one level deeper; an empty body becomes ``pass``."""
        self.depth += 1
        start = len(self.lines)
        if stmt is not None:
            self(stmt)
        if len(self.lines) == start:
            self.emit("pass")
        self.depth -= 1

    # ------------------------------------------------------------ plain statements

    def visit_SeqStmt(self, stmt: S.SeqStmt) -> None:
        for s in stmt.seq:
            self(s)

    def visit_BufferStore(self, stmt: S.BufferStore) -> None:
        value = self.expr(stmt.value)
        array, off = self.expr.offset(stmt.buffer, stmt.indices)
        text = f"_f2bf({value.text})" if stmt.buffer.dtype.kind == "bfloat" else value.text
        self.emit(f"{array}[{off.text}] = {text}")

    def visit_Evaluate(self, stmt: S.Evaluate) -> None:
        if isinstance(stmt.value, IntImm):
            return
        self.emit(self.expr(stmt.value).text)

    def visit_LetStmt(self, stmt: S.LetStmt) -> None:
        value = self.expr(stmt.value)
        self.emit(f"{self.ctx.define(stmt.var, value.bounds)} = {value.text}")
        self(stmt.body)

    def visit_IfThenElse(self, stmt: S.IfThenElse) -> None:
        self.emit(f"if {self.expr(stmt.condition).text}:")
        self.nested(stmt.then_case)
        if stmt.else_case is not None:
            self.emit("else:")
            self.nested(stmt.else_case)

    def visit_While(self, stmt: S.While) -> None:
        self.emit(f"while {self.expr(stmt.condition).text}:")
        self.nested(stmt.body)

    def visit_AssertStmt(self, stmt: S.AssertStmt) -> None:
        self.assert_count += 1
        message = self.expr(stmt.message).text
        condition = self.expr(stmt.condition).text
        self.emit(f"if not {condition}:")
        self.depth += 1
        self.emit(f"raise _AssertError(str({message}), {self.assert_count})")
        self.depth -= 1
        self(stmt.body)

    def visit_AttrStmt(self, stmt: S.AttrStmt) -> None:
        node = stmt.node
        if stmt.attr_key in ("thread_extent", "virtual_thread") and isinstance(node, S.IterVar):
            extent = self.expr(stmt.value)
            hi = extent.bounds[1] - 1 if extent.bounds else None
            name = self.ctx.define(node.var, (0, hi) if hi is not None else None)
            self.emit(f"for {name} in range({extent.text}):")  # threads run one after another
            self.nested(stmt.body)
            return
        self(stmt.body)

    def visit_For(self, stmt: S.For) -> None:
        lo, extent = self.expr(stmt.min), self.expr(stmt.extent)
        bounds = None
        if lo.bounds is not None and extent.bounds is not None:
            bounds = (lo.bounds[0], lo.bounds[1] + max(extent.bounds[1], 1) - 1)
        name = self.ctx.define(stmt.loop_var, bounds)
        if lo.is_const and lo.bounds[0] == 0:
            self.emit(f"for {name} in range({extent.text}):")
        elif lo.is_const and extent.is_const:
            self.emit(f"for {name} in range({lo.text}, {lo.bounds[0] + extent.bounds[0]}):")
        else:
            start = self.ctx.fresh("_lo")
            self.emit(f"{start} = {lo.text}")
            self.emit(f"for {name} in range({start}, {start} + {extent.text}):")
        self.nested(stmt.body)

    # ------------------------------------------------------------ storage

    def visit_Allocate(self, stmt: S.Allocate) -> None:
        size = Code("1", (1, 1))
        for extent in stmt.extents:
            size = mul(self.expr(extent), size)
        name = self.ctx.define(stmt.buffer_var)
        self.ctx.storage_dtype[stmt.buffer_var] = stmt.dtype
        npdt = np_dtype(stmt.dtype)
        self.emit(f"{name} = _fresh_storage({size.text}, {self.ctx.dtype_const(npdt)})")
        self(stmt.body)

    def visit_DeclBuffer(self, stmt: S.DeclBuffer) -> None:
        self.declare_view(stmt.buffer)
        self(stmt.body)

    def declare_view(self, buffer: Buffer) -> None:
        """A buffer over existing storage; a different dtype gets a numpy view of the bytes."""
        data = buffer.data
        if data not in self.ctx.defined:
            raise NameError(
                f"T.decl_buffer {buffer.name!r}: its data {data.name!r} is not allocated"
            )
        self.ctx.layouts.pop(buffer, None)
        storage = self.ctx.storage_dtype.get(data)
        if storage is not None and np_dtype(storage) != np_dtype(buffer.dtype):
            view = self.ctx.fresh("bv_" + buffer.name)
            dtname = self.ctx.dtype_const(np_dtype(buffer.dtype))
            self.emit(f"{view} = {self.ctx.name_of(data, 'd_')}.view({dtname})")
            self.ctx.buffer_arrays[buffer] = view

    def allocate_buffer(self, buffer: Buffer) -> None:
        """Fresh storage for an ``alloc_buffer`` (per execution of its block; NaN for floats)."""
        shape = [self.expr(s) for s in buffer.shape]
        strides = [self.expr(s) for s in buffer.strides] or row_major_strides(shape)
        span = add_all([Code("1", (1, 1))] + [
            mul(Code(f"({e.text} - 1)", None if e.bounds is None else
                     (e.bounds[0] - 1, e.bounds[1] - 1)), s)
            for e, s in zip(shape, strides)
        ])
        self.ctx.define(buffer.data)
        self.ctx.storage_dtype[buffer.data] = buffer.dtype
        if isinstance(buffer.elem_offset, Var):
            self.emit(f"{self.ctx.define(buffer.elem_offset, (0, 0))} = 0")
        self.ctx.layouts.pop(buffer, None)
        dtname = self.ctx.dtype_const(np_dtype(buffer.dtype))
        array = self.ctx.name_of(buffer.data, "d_")
        self.emit(f"{array} = _fresh_storage(max({span.text}, 0), {dtname})")

    def match_buffer(self, match: MatchBufferRegion) -> None:
        """Bind a view buffer to a region of its source: same storage, offset, source strides."""
        view, region = match.buffer, match.source
        source = self.expr.layout(region.buffer)
        starts = [self.expr(r.min) for r in region.region]
        start = add_all([source.offset] + [mul(i, s) for i, s in zip(starts, source.strides)])
        trailing = source.strides[len(source.strides) - len(view.shape):]
        extents = region.region[len(region.region) - len(view.shape):]
        for dim, shape in enumerate(view.shape):
            self.bind_if_var(shape, self.expr(extents[dim].extent))
        for dim, stride in enumerate(view.strides):
            self.bind_if_var(stride, trailing[dim])
        offset = start
        if isinstance(view.elem_offset, Var):
            offset = self.bind_if_var(view.elem_offset, start)
        strides = [self.expr(s) for s in view.strides] if view.strides else list(trailing)
        self.ctx.define(view.data)
        storage = self.ctx.storage_dtype.get(region.buffer.data, view.dtype)
        self.ctx.storage_dtype[view.data] = storage
        self.emit(f"{self.ctx.name_of(view.data, 'd_')} = {source.array}")
        self.ctx.layouts[view] = Layout(self.ctx.name_of(view.data, "d_"), offset, strides)

    def bind_if_var(self, expr, value: Code) -> Code:
        """Assign ``value`` to ``expr`` when it is a variable not yet bound; return its code."""
        if isinstance(expr, Var) and expr not in self.ctx.defined:
            name = self.ctx.define(expr, value.bounds)
            self.emit(f"{name} = {value.text}")
            return Code(name, self.ctx.var_bounds(expr))
        return self.expr(expr)

    # ------------------------------------------------------------ blocks

    def visit_BlockRealize(self, realize: S.BlockRealize) -> None:
        block = realize.block
        for iv, value in zip(block.iter_vars, realize.iter_values):
            code = self.expr(value)
            self.emit(f"{self.ctx.define(iv.var, code.bounds)} = {code.text}")
        predicate = realize.predicate
        if isinstance(predicate, IntImm) and predicate.value:
            self.block_body(block)
            return
        self.emit(f"if {self.expr(predicate).text}:")
        self.depth += 1
        start = len(self.lines)
        self.block_body(block)
        if len(self.lines) == start:
            self.emit("pass")
        self.depth -= 1

    def block_body(self, block: S.Block) -> None:
        for buffer in block.alloc_buffers:
            self.allocate_buffer(buffer)
        for match in block.match_buffers:
            self.match_buffer(match)
        if block.init is not None:
            reduce_vars = [iv for iv in block.iter_vars if iv.iter_type == S.IterType.REDUCE]
            if reduce_vars:
                conds = [f"{self.expr(iv.var).text} == {self.expr(iv.dom.min).text}"
                         for iv in reduce_vars]
                self.emit(f"if {' and '.join(conds)}:")
                self.nested(block.init)
            else:
                self(block.init)
        if block.body is not None:
            self(block.body)

    def visit_Block(self, block: S.Block) -> None:
        self.block_body(block)
