"""``inject-storage-sync``: ``T.tvm_storage_sync("shared")`` (``__syncthreads()``) wherever a
thread may touch shared memory that another thread wrote, or overwrite what another thread
still has to read, since the last barrier (TVM's StorageSync planner, for shared memory).

The statements of each kernel are read in order, keeping the shared accesses since the last
barrier. A barrier goes before a statement that reads what was written (RAW) or writes what
was read or written (WAR, WAW) by another thread; two accesses are by the same thread when
their indices are the same one-to-one expression of the thread index (``S[ty * 32 + tx]``),
once the thread values an ``if tx == 0:`` around both alike pins are put in. A loop's body
is read twice, the second time after its own end, so that the next iteration refilling a
shared tile waits for the reads of the previous one::

    for k_0 in range(8):                          for k_0 in range(8):
        A_shared[tx] = A[k_0 * 64 + tx]               T.tvm_storage_sync("shared")      # WAR
        acc[0] = acc[0] + A_shared[63 - tx]   →       A_shared[tx] = A[k_0 * 64 + tx]
                                                      T.tvm_storage_sync("shared")      # RAW
                                                      acc[0] = acc[0] + A_shared[63 - tx]

All threads of a block must reach a barrier: one is never put inside control flow that depends
on the thread (``if tx < 32:``, a loop whose bounds depend on it) but before that statement as a
whole; when the conflict lies inside such a statement, ``SyncPlacementError`` says so.

A function that already calls ``T.tvm_storage_sync`` was written at the thread level: its
barriers are taken as written and none is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvmscript.arith import Analyzer, to_linear
from tvmscript.ir import (
    Allocate,
    AssertStmt,
    AttrStmt,
    BufferLoad,
    BufferStore,
    Call,
    DeclBuffer,
    Evaluate,
    For,
    IfThenElse,
    IntImm,
    LetStmt,
    PrimExpr,
    PrimFunc,
    Ramp,
    SeqStmt,
    Stmt,
    StringImm,
    Var,
    Visitor,
    While,
    post_order_visit,
    seq,
    structural_equal,
    substitute,
)
from tvmscript.ir.expr import EQ, And

from .infra import PassContext, prim_func_pass


class SyncPlacementError(ValueError):
    """A barrier is needed where not all threads of the block run."""


def storage_sync() -> Stmt:
    """``T.tvm_storage_sync("shared")``."""
    return Evaluate(Call("int32", "tir.tvm_storage_sync", (StringImm("shared"),)))


def is_sync(node) -> bool:
    return isinstance(node, Call) and node.op == "tir.tvm_storage_sync"


def has_user_sync(func: PrimFunc) -> bool:
    found = []
    post_order_visit(func.body, lambda n: found.append(n) if is_sync(n) else None)
    return bool(found)


# ---------------------------------------------------------------- accesses


@dataclass(frozen=True)
class Access:
    data: Var
    name: str
    write: bool
    index: tuple[PrimExpr, ...] | None  # None: through a pointer, anywhere in the buffer
    pins: tuple[tuple[Var, int], ...] = ()  # ``if tx == 0:`` around it: only thread 0 runs it


class _Accesses(Visitor):
    def __init__(self, shared: set[Var], threads: set[Var]) -> None:
        self.shared = shared
        self.threads = threads
        self.found: list[Access] = []
        self.pins: list[tuple[Var, int]] = []

    def add(self, data: Var, name: str, write: bool, index) -> None:
        self.found.append(Access(data, name, write, index, tuple(self.pins)))

    def visit_IfThenElse(self, stmt: IfThenElse) -> None:
        self.visit(stmt.condition)
        pins = _equalities(stmt.condition, self.threads)
        self.pins += pins
        self.visit(stmt.then_case)
        del self.pins[len(self.pins) - len(pins):]
        self.visit(stmt.else_case)

    def visit_BufferLoad(self, load: BufferLoad) -> None:
        self.visit(load.indices)
        if load.buffer.data in self.shared:
            self.add(load.buffer.data, load.buffer.name, False, load.indices)

    def visit_BufferStore(self, store: BufferStore) -> None:
        self.visit(store.value)
        self.visit(store.indices)
        if store.buffer.data in self.shared:
            self.add(store.buffer.data, store.buffer.name, True, store.indices)

    def visit_Call(self, call: Call) -> None:
        if call.op == "tir.tvm_access_ptr" and call.args[1] in self.shared:
            mask = call.args[4].value if isinstance(call.args[4], IntImm) else 3
            if mask & 1:
                self.add(call.args[1], call.args[1].name, False, None)
            if mask & 2:
                self.add(call.args[1], call.args[1].name, True, None)
            self.visit(call.args[2:4])
            return
        self.generic_visit(call)

    def visit_Var(self, var: Var) -> None:
        if var in self.shared:  # a pointer handed to a call: read and written, anywhere
            self.add(var, var.name, True, None)


def _equalities(cond: PrimExpr, threads: set[Var]) -> list[tuple[Var, int]]:
    """``tx == c`` conjuncts of ``cond`` on thread variables."""
    found, parts = [], [cond]
    while parts:
        c = parts.pop()
        if isinstance(c, And):
            parts += [c.a, c.b]
        elif isinstance(c, EQ) and c.a in threads and isinstance(c.b, IntImm):
            found.append((c.a, c.b.value))
    return found


def same_thread(a: Access, b: Access, threads: set[Var]) -> bool:
    """Whether ``a`` and ``b`` touch one element only when one thread makes both.

    Say ``a`` pins fewer threads (``if tx == 0:``). Every pin of ``a`` must be one of ``b``'s,
    the two indices the same once ``b``'s pins are put in, and ``a``'s index one-to-one in the
    threads ``a`` leaves free (each appears as a term of its own): then a thread of ``a``
    reaching ``b``'s element has ``b``'s pinned values, so it is ``b``'s thread. A pin on one
    side only (``if tx == 0: S[0] = ...`` read as ``S[0]`` by all) fails the last test."""
    if a.index is None or b.index is None or len(a.index) != len(b.index):
        return False
    if len(a.pins) > len(b.pins):
        a, b = b, a
    pins_a, pins_b = dict(a.pins), dict(b.pins)
    if any(pins_b.get(var, value + 1) != value for var, value in pins_a.items()):
        return False
    ana = Analyzer()

    def put_in(index, pins: dict[Var, int]) -> list:
        values = {v: IntImm(v.dtype, c) for v, c in pins.items()}
        return [ana.simplify(substitute(x, values)) for x in index]

    if not all(structural_equal(x, y)
               for x, y in zip(put_in(a.index, pins_b), put_in(b.index, pins_b))):
        return False
    terms = set()
    for x in put_in(a.index, pins_a):
        if x.dtype.lanes == 1 and x.dtype.is_integer:
            terms |= {t for t in to_linear(x).terms if isinstance(t, Var)}
        elif isinstance(x, Ramp):  # its lanes are one thread's
            terms |= {t for t in to_linear(x.base).terms if isinstance(t, Var)}
    return threads - set(pins_a) <= terms


# ---------------------------------------------------------------- the planner


class _Planner:
    """Walks one kernel, carrying the shared accesses since the last barrier."""

    def __init__(self, shared: set[Var], threads: set[Var], func_name: str) -> None:
        self.shared = shared
        self.divergent = set(threads)
        self.threads = threads
        self.func_name = func_name

    def accesses(self, obj) -> list[Access]:
        collector = _Accesses(self.shared, self.threads)
        collector.visit(obj)
        return collector.found

    def conflict(self, pending: list[Access], new: list[Access]) -> Access | None:
        for a in new:
            for p in pending:
                if p.data is not a.data or not (p.write or a.write):
                    continue
                if not same_thread(a, p, self.threads):
                    return a
        return None

    def is_divergent(self, expr) -> bool:
        found = []
        post_order_visit(expr, lambda n: found.append(n)
                         if n in self.divergent or isinstance(n, BufferLoad) else None)
        return bool(found)

    # statements --------------------------------------------------------------------

    def stmt(self, s: Stmt, pending: list[Access]) -> tuple[Stmt, list[Access]]:
        method = getattr(self, "visit_" + type(s).__name__, self.leaf)
        return method(s, pending)

    def leaf(self, s: Stmt, pending: list[Access]) -> tuple[Stmt, list[Access]]:
        if isinstance(s, Evaluate) and is_sync(s.value):
            return s, []
        new = self.accesses(s)
        if self.conflict(pending, new) is not None:
            return seq(storage_sync(), s), new
        return s, pending + new

    def visit_SeqStmt(self, s: SeqStmt, pending: list[Access]) -> tuple[Stmt, list[Access]]:
        items = []
        for item in s.seq:
            new, pending = self.stmt(item, pending)
            items.append(new)
        return seq(*items), pending

    def visit_For(self, loop: For, pending: list[Access]) -> tuple[Stmt, list[Access]]:
        if self.is_divergent(loop.min) or self.is_divergent(loop.extent):
            return self.divergent_unit(loop, [loop.body], pending, loop=True)
        _, end = self.stmt(loop.body, [])
        body, end = self.stmt(loop.body, end)  # the next iteration after this one
        return self.compound(loop.with_(body=body), end, pending)

    def visit_While(self, loop: While, pending: list[Access]) -> tuple[Stmt, list[Access]]:
        return self.divergent_unit(loop, [loop.body], pending, loop=True)

    def visit_IfThenElse(self, s: IfThenElse, pending: list[Access]):
        if self.is_divergent(s.condition):
            return self.divergent_unit(s, [s.then_case, s.else_case], pending, loop=False)
        then, end = self.stmt(s.then_case, [])
        other, end2 = (None, []) if s.else_case is None else self.stmt(s.else_case, [])
        return self.compound(s.with_(then_case=then, else_case=other), end + end2, pending)

    def compound(self, s: Stmt, end: list[Access], pending: list[Access]):
        """A loop or ``if`` all threads run, its inside planned on its own: a barrier before it
        when what it touches before its first barrier conflicts with ``pending``."""
        first, synced = head(s, self.accesses)
        before = pending
        if self.conflict(pending, first) is not None:
            s, before = seq(storage_sync(), s), []
        return s, (end if synced else before + end)

    def visit_LetStmt(self, s: LetStmt, pending: list[Access]) -> tuple[Stmt, list[Access]]:
        if self.is_divergent(s.value):
            self.divergent.add(s.var)
        return self.wrapper(s, self.accesses(s.value), pending)

    def visit_AssertStmt(self, s: AssertStmt, pending: list[Access]):
        return self.wrapper(s, self.accesses(s.condition), pending)

    def visit_AttrStmt(self, s: AttrStmt, pending: list[Access]):
        return self.wrapper(s, [], pending)

    def visit_Allocate(self, s: Allocate, pending: list[Access]):
        return self.wrapper(s, [], pending)

    def visit_DeclBuffer(self, s: DeclBuffer, pending: list[Access]):
        return self.wrapper(s, [], pending)

    def wrapper(self, s: Stmt, own: list[Access], pending: list[Access]):
        """A statement around ``s.body`` that every thread runs (its own accesses first)."""
        prefix = self.conflict(pending, own) is not None
        body, end = self.stmt(s.body, own if prefix else pending + own)
        out = s.with_(body=body)
        return (seq(storage_sync(), out) if prefix else out), end

    def divergent_unit(self, s: Stmt, bodies: list[Stmt | None], pending: list[Access],
                       loop: bool) -> tuple[Stmt, list[Access]]:
        """Control flow some threads skip: no barrier inside, so one before it as a whole."""
        for body in bodies:
            if body is None:
                continue
            _, end = self.stmt(body, [])
            start = end if loop else []
            new, _ = self.stmt(body, start)
            if _contains_sync(new) and not _contains_sync(body):
                raise SyncPlacementError(
                    f"function {self.func_name}: threads of a block write and read shared "
                    f"memory ({', '.join(sorted({a.name for a in self.accesses(body)}))}) "
                    f"inside `{_headline(s)}`, which depends on the thread, so not every thread "
                    f"would reach the barrier needed there; split the statement or move the "
                    f"condition inside the accesses")
        return self.leaf(s, pending)


def head(s: Stmt | None, accesses) -> tuple[list[Access], bool]:
    """The accesses ``s`` may make before its first barrier, and whether every path through
    it reaches a barrier."""
    if s is None:
        return [], False
    if isinstance(s, Evaluate) and is_sync(s.value):
        return [], True
    if isinstance(s, SeqStmt):
        found: list[Access] = []
        for item in s.seq:
            more, synced = head(item, accesses)
            found += more
            if synced:
                return found, True
        return found, False
    if isinstance(s, IfThenElse):
        a, sa = head(s.then_case, accesses)
        b, sb = head(s.else_case, accesses)
        return accesses(s.condition) + a + b, sa and sb
    if isinstance(s, For):
        found, synced = head(s.body, accesses)
        runs = isinstance(s.extent, IntImm) and s.extent.value > 0
        return accesses([s.min, s.extent]) + found, synced and runs
    if isinstance(s, (LetStmt, AssertStmt, AttrStmt, Allocate, DeclBuffer)):
        own = accesses(s.value) if isinstance(s, LetStmt) else (
            accesses(s.condition) if isinstance(s, AssertStmt) else [])
        found, synced = head(s.body, accesses)
        return own + found, synced
    return accesses(s), False


def _contains_sync(s: Stmt) -> bool:
    found = []
    post_order_visit(s, lambda n: found.append(n) if is_sync(n) else None)
    return bool(found)


def _headline(s: Stmt) -> str:
    if isinstance(s, IfThenElse):
        return f"if {s.condition.script()}:"
    if isinstance(s, For):
        return f"for {s.loop_var.name} in range({s.min}, {s.extent})"
    return type(s).__name__


# ---------------------------------------------------------------- kernels


def _kernel_facts(root: AttrStmt) -> tuple[set[Var], set[Var]]:
    shared: set[Var] = set()
    threads: set[Var] = set()

    def look(node) -> None:
        if isinstance(node, Allocate) and node.scope.startswith("shared"):
            shared.add(node.buffer_var)
        if (isinstance(node, AttrStmt) and node.attr_key == "thread_extent"
                and not node.node.thread_tag.startswith("blockIdx.")):
            threads.add(node.node.var)

    post_order_visit(root, look)
    return shared, threads


class _Kernels:
    def __init__(self, func_name: str) -> None:
        self.func_name = func_name

    def visit(self, s: Stmt) -> Stmt:
        if isinstance(s, AttrStmt) and s.attr_key == "thread_extent":
            shared, threads = _kernel_facts(s)
            if not shared:
                return s
            new, _ = _Planner(shared, threads, self.func_name).stmt(s, [])
            return new
        if isinstance(s, SeqStmt):
            items = [self.visit(x) for x in s.seq]
            return s if all(a is b for a, b in zip(items, s.seq)) else seq(*items)
        if isinstance(s, IfThenElse):
            other = None if s.else_case is None else self.visit(s.else_case)
            return s.with_(then_case=self.visit(s.then_case), else_case=other)
        body = getattr(s, "body", None)
        return s.with_(body=self.visit(body)) if isinstance(body, Stmt) else s


@prim_func_pass("inject-storage-sync", opt_level=0, required=True)
def inject_storage_sync(func: PrimFunc, ctx: PassContext) -> PrimFunc:
    """Put ``__syncthreads()`` between conflicting shared-memory accesses of different threads."""
    if has_user_sync(func):
        return func
    name = func.attrs.get("global_symbol", func.name) or "main"
    return func.with_(body=_Kernels(name).visit(func.body))
