"""A device kernel → the Python source of one *thread*, as a generator function.

Why reuse the interpreter's translator: the arithmetic, casts, float16/bfloat16 rounding and
vector (``Ramp``) accesses of a GPU thread are the interpreter's; only four things differ, and
they are the overrides here:

- ``T.launch_thread`` binds the thread's own ``blockIdx``/``threadIdx`` (read from ``_T``, the
  thread's context) instead of looping over the extent;
- ``Allocate`` takes its storage by scope: ``shared`` from the block, ``wmma.*`` from the warp,
  ``local`` fresh per thread (all poisoned: NaN for floats);
- ``T.tvm_storage_sync("shared")`` is ``yield`` (the scheduler's barrier) and a warp-collective
  call (``collectives.py``) is ``(yield ...)`` whose value the scheduler sends back;
- with race checking, each shared-memory access appends its element to the block's read or
  write log (``_lr``/``_lw``, see ``races.py``) and global stores go through ``_gw``; an index
  that bounds analysis cannot prove in range gets ``_bc``, a bounds check naming the buffer.

Every emitted line remembers the statement it came from (``Site``), so an error inside the
generated code names the script statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.cuda.launch_info import THREAD_TAGS
from backends.interpreter.context import Code, Context
from backends.interpreter.translate_expr import ExprTranslator, mul
from backends.interpreter.translate_stmt import StmtTranslator
from backends.interpreter.values import int_range, np_dtype
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer

from .collectives import is_collective

SHARED_SCOPES = ("shared", "shared.dyn")

# what a thread yields to the scheduler: (BARRIER, site) / (COLLECTIVE, site, op, dtype, args)
BARRIER, COLLECTIVE = 0, 1


@dataclass
class Site:
    """A statement of the kernel that the generated code may stop at or fail in."""

    stmt: S.Stmt
    _text: str | None = None

    @property
    def text(self) -> str:
        """The statement's first script line (printed lazily: only errors need it)."""
        if self._text is None:
            try:
                lines = [ln.strip() for ln in self.stmt.script().splitlines() if ln.strip()]
                self._text = lines[0] if lines else type(self.stmt).__name__
            except Exception:  # noqa: BLE001 (a statement the printer cannot show alone)
                self._text = type(self.stmt).__name__
        return self._text

    def describe(self) -> str:
        span = self.stmt.span  # the user's source, for statements lowering kept as written
        if span is None:
            where = ""
        elif span.source.filename.startswith("<"):  # from_source text: no file to name
            where = f" (line {span.lineno})"
        else:
            where = f" ({span.source.filename}:{span.lineno})"
        return f"`{self.text}`{where}"


@dataclass
class Storage:
    """A buffer's storage as the generated code sees it: its key, name and scope."""

    key: int
    name: str
    scope: str


@dataclass
class KernelTables:
    """What the scheduler needs to interpret the generated code's yields and errors."""

    sites: list[Site] = field(default_factory=list)
    accesses: list[tuple[int, str, int]] = field(default_factory=list)  # (site, name, storage)
    storages: list[Storage] = field(default_factory=list)
    line_sites: list[int] = field(default_factory=list)  # generated line (0-based) -> site
    _access_ids: dict[tuple[int, str, int], int] = field(default_factory=dict)

    def access_id(self, site: int, name: str, storage: int) -> int:
        """The number of the accesses to buffer ``name`` (of ``storage``) at ``site``."""
        key = (site, name, storage)
        found = self._access_ids.get(key)
        if found is None:
            found = self._access_ids[key] = len(self.accesses)
            self.accesses.append(key)
        return found


class EmuExprTranslator(ExprTranslator):
    """The interpreter's expressions, with checked memory accesses and collective calls."""

    def __init__(self, ctx: Context, owner: EmuStmtTranslator) -> None:
        super().__init__(ctx)
        self.owner = owner
        self.mode: str | None = None  # "r" while translating a load's offset, "w" a store's

    def visit_BufferLoad(self, op: E.BufferLoad) -> Code:
        self.mode = "r"
        return super().visit_BufferLoad(op)

    def offset(self, buffer: Buffer, indices: tuple[E.PrimExpr, ...]) -> tuple[str, Code]:
        mode, self.mode = self.mode, None
        array, total = super().offset(buffer, indices)
        # a vector access is not checked for alignment: the CUDA codegen emits one float4 (or
        # float2) access only where it proves the start aligned, and lane by lane otherwise
        vector = any(i.dtype.lanes > 1 for i in indices)
        return array, self.owner.checked(buffer, total, mode, vector)

    def visit_Call(self, op: E.Call) -> Code:
        if op.op == "tir.tvm_storage_sync":
            raise NotImplementedError(
                "T.tvm_storage_sync must be a statement of its own (T.evaluate), "
                "not part of an expression"
            )
        if is_collective(op.op):
            args = ", ".join(self.collective_arg(a) for a in op.args)
            site = self.owner.call_site()
            return Code(f"(yield ({COLLECTIVE}, {site}, {op.op!r}, {str(op.dtype)!r}, ({args}"
                        f"{',' if op.args else ''})))", self.int_bounds(op))
        return super().visit_Call(op)

    @staticmethod
    def int_bounds(op: E.Call) -> tuple[int, int] | None:
        dt = op.dtype
        return int_range(dt) if dt.lanes == 1 and (dt.is_integer or dt.is_bool) else None

    def collective_arg(self, arg: E.PrimExpr) -> str:
        """An argument of a warp-collective call: pointers become ``_Ref``s (collectives.py)."""
        if isinstance(arg, E.Var) and arg.dtype.is_handle:
            return self.ref(arg, "0", "None")
        if isinstance(arg, E.Call) and arg.op == "tir.type_annotation":
            return "None"
        if isinstance(arg, E.Call) and arg.op == "tir.tvm_access_ptr":
            data = arg.args[1]
            if not isinstance(data, E.Var):
                raise NotImplementedError("T.tvm_access_ptr of something other than a buffer var")
            return self.ref(data, self(arg.args[2]).text, self(arg.args[3]).text)
        if isinstance(arg, E.Call) and arg.op == "tir.address_of":
            load = arg.args[0]
            if isinstance(load, E.BufferLoad):
                array, off = self.offset(load.buffer, load.indices)
                storage = self.owner.storage_of(load.buffer.data)
                return (f"_Ref({array}, {off.text}, {storage.name!r}, {storage.scope!r}, "
                        f"None, {storage.key})")
        return self(arg).text

    def ref(self, data: E.Var, offset: str, extent: str) -> str:
        storage = self.owner.storage_of(data)
        array = self.ctx.name_of(data, "d_")
        return (f"_Ref({array}, {offset}, {storage.name!r}, {storage.scope!r}, {extent}, "
                f"{storage.key})")


class EmuStmtTranslator(StmtTranslator):
    """The interpreter's statements, one thread at a time, with barriers as ``yield``."""

    def __init__(self, ctx: Context, tables: KernelTables, check_races: bool) -> None:
        super().__init__(ctx)
        self.expr = EmuExprTranslator(ctx, self)
        self.tables = tables
        self.check_races = check_races
        self.site = -1
        self._storage: dict[E.Var, Storage] = {}

    # ------------------------------------------------------------ bookkeeping

    def __call__(self, stmt: S.Stmt) -> None:
        outer = self.site
        if not isinstance(stmt, (S.SeqStmt, S.DeclBuffer)):
            self.tables.sites.append(Site(stmt))
            self.site = len(self.tables.sites) - 1
        try:
            super().__call__(stmt)
        finally:
            self.site = outer

    def emit(self, line: str) -> None:
        before = len(self.lines)
        super().emit(line)
        self.tables.line_sites.extend([self.site] * (len(self.lines) - before))

    def declare_storage(self, data: E.Var, name: str, scope: str) -> Storage:
        storage = Storage(len(self.tables.storages), name, scope)
        self.tables.storages.append(storage)
        self._storage[data] = storage
        return storage

    def call_site(self) -> int:
        """A site of its own for one collective call (lanes meet per call, not statement)."""
        self.tables.sites.append(Site(self.tables.sites[self.site].stmt))
        return len(self.tables.sites) - 1

    def storage_of(self, data: E.Var) -> Storage:
        storage = self._storage.get(data)
        if storage is None:
            raise NameError(f"buffer data {data.name!r} is used where it is not allocated")
        return storage

    def access_site(self, buffer: Buffer) -> int:
        return self.tables.access_id(self.site, buffer.name, self.storage_of(buffer.data).key)

    def checked(self, buffer: Buffer, total: Code, mode: str | None, vector: bool) -> Code:
        """The offset of an access, bounds-checked unless proven in range, and logged for race
        detection when it is a shared-memory load (``mode == "r"``) or store (``"w"``)."""
        total = self.bounded(buffer, total)
        storage = self.storage_of(buffer.data)
        if not (self.check_races and mode is not None and storage.scope in SHARED_SCOPES):
            return total
        base = self.access_site(buffer) << 32
        if vector:
            return Code(f"_l{mode}v({total.text}, {base})", total.bounds)
        return Code(f"(_l{mode}((_o := {total.text}) + {base}), _o)[1]", total.bounds)

    def bounded(self, buffer: Buffer, total: Code) -> Code:
        """``total`` as is when bounds analysis proves it inside the buffer, else checked."""
        size = Code("1", (1, 1))
        for extent in buffer.shape:
            size = mul(self.expr(extent), size)
        if total.bounds is not None and size.bounds is not None \
                and total.bounds[0] >= 0 and total.bounds[1] < size.bounds[0]:
            return total
        where = self.access_site(buffer)
        return Code(f"_bc({total.text}, {size.text}, {where})", total.bounds)

    # ------------------------------------------------------------ statements

    def visit_AttrStmt(self, stmt: S.AttrStmt) -> None:
        node = stmt.node
        if stmt.attr_key == "thread_extent" and isinstance(node, S.IterVar):
            tag = node.thread_tag
            if tag not in THREAD_TAGS:
                raise NotImplementedError(f"the emulator does not know the thread axis {tag!r}")
            extent = self.expr(stmt.value)
            hi = extent.bounds[1] - 1 if extent.bounds else None
            name = self.ctx.define(node.var, (0, hi) if hi is not None else None)
            self.emit(f"{name} = _T.index[{THREAD_TAGS.index(tag)}]")
            self(stmt.body)
            return
        if stmt.attr_key == "virtual_thread":
            raise NotImplementedError("the emulator runs lowered kernels: vthread must be lowered")
        self(stmt.body)

    def visit_Allocate(self, stmt: S.Allocate) -> None:
        size = Code("1", (1, 1))
        for extent in stmt.extents:
            size = mul(self.expr(extent), size)
        scope = stmt.scope
        storage = self.declare_storage(stmt.buffer_var, stmt.buffer_var.name, scope)
        name = self.ctx.define(stmt.buffer_var)
        self.ctx.storage_dtype[stmt.buffer_var] = stmt.dtype
        dt = self.ctx.dtype_const(np_dtype(stmt.dtype))
        self.emit(f"{name} = _T.storage({storage.key}, {size.text}, {dt})")
        self(stmt.body)

    def visit_BufferStore(self, stmt: S.BufferStore) -> None:
        value = self.expr(stmt.value)
        text = f"_f2bf({value.text})" if stmt.buffer.dtype.kind == "bfloat" else value.text
        storage = self.storage_of(stmt.buffer.data)
        if self.check_races and storage.scope == "global":
            self.emit(f"_v = {text}")
            self.expr.mode = None
            array, off = self.expr.offset(stmt.buffer, stmt.indices)
            where = self.access_site(stmt.buffer)
            self.emit(f"{array}[_gw({array}, {storage.key}, {off.text}, {where}, _v)] = _v")
            return
        self.expr.mode = "w"
        array, off = self.expr.offset(stmt.buffer, stmt.indices)
        self.emit(f"{array}[{off.text}] = {text}")

    def visit_Evaluate(self, stmt: S.Evaluate) -> None:
        call = stmt.value
        if isinstance(call, E.Call) and call.op == "tir.tvm_storage_sync":
            scope = call.args[0].value if call.args and isinstance(call.args[0], E.StringImm) \
                else None
            if scope in SHARED_SCOPES:
                self.emit(f"yield ({BARRIER}, {self.site})")
            elif scope == "warp":
                self.emit(f"(yield ({COLLECTIVE}, {self.site}, 'syncwarp', 'void', ()))")
            else:
                raise NotImplementedError(
                    f"the emulator supports T.tvm_storage_sync('shared') and ('warp'), "
                    f"not {scope!r}"
                )
            return
        super().visit_Evaluate(stmt)

    def define_param_buffer(self, buf: Buffer) -> str:
        """A buffer parameter: global storage passed in."""
        self.declare_storage(buf.data, buf.name, "global")
        self.ctx.storage_dtype[buf.data] = buf.dtype
        return self.ctx.define(buf.data)
