"""The well-formedness checker: is this IR a program every pass and backend may assume is sound?

Passes build IR by hand, so a slip (a variable used after its loop, a block that writes outside
its ``T.writes``, a float stored into an int buffer) would otherwise surface much later as a
wrong number or a crash in code generation. ``verify`` finds such slips right where they are made
and names them in the user's terms, with the line of ``obj.script()`` they sit on.

Checks, for a ``PrimFunc``, a graph ``Function`` or every function of an ``IRModule``:

1. every variable is used inside the scope of the construct that defines it;
2. a block's body reaches the loops around it only through its iterators (``T.axis.*``), and
   block iterators are not used outside their block;
3. a block's ``T.reads``/``T.writes`` cover the accesses of its body and init (and the regions
   of the blocks nested in it);
4. stores, lets and loops have matching dtypes, and conditions are bool;
5. every buffer used is defined (a parameter, ``T.alloc_buffer``, ``T.match_buffer``,
   ``T.decl_buffer``) where it is used.
6. no buffer access is provably out of bounds (every path reaching it leaves the buffer).
7. every graph-level ``R.call_tir`` passes what its loop-level callee takes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from .buffer import Buffer, BufferRegion
from .expr import IntImm, PrimExpr, Range, Var
from .function import GlobalVar, IRModule, PrimFunc
from .functor import PathVisitor, Visitor
from .graph import DataflowVar, Function, GraphVar, StructInfo
from .node import IdentityNode, Node
from .region_cover import Access, uncovered_accesses
from .stmt import Block, BlockRealize, For, IterVar

__all__ = ["Problem", "WellFormedError", "check_well_formed", "verify"]


@dataclass
class Problem:
    """One thing wrong with a program.

    ``message`` starts with ``line N:`` when the line of the offending construct in
    ``obj.script()`` is known (``line`` is then N), so it reads well on its own.
    """

    message: str
    node: Any
    line: int | None = None

    def __str__(self) -> str:
        return self.message


class WellFormedError(ValueError):
    """Raised by ``verify``; ``problems`` lists everything found, in the order found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "\n".join(f"  {p.message}" for p in problems)
        super().__init__(f"the program is not well-formed:\n{listed}")


def verify(obj: Any) -> None:
    """Raise ``WellFormedError`` listing every problem of ``obj``; return None when it is sound."""
    problems = check_well_formed(obj)
    if problems:
        raise WellFormedError(problems)


def check_well_formed(obj: Any) -> list[Problem]:
    """Every problem of a PrimFunc, graph Function or IRModule (an empty list when sound)."""
    if isinstance(obj, IRModule):
        funcs, module = list(obj.functions.values()), obj
    elif isinstance(obj, (PrimFunc, Function)):
        funcs, module = [obj], None
    else:
        raise TypeError(f"check_well_formed takes a PrimFunc, Function or IRModule, "
                        f"not {type(obj).__name__}")
    checker = _Checker(module)
    for func in funcs:
        checker.visit(func)
    return _with_lines(checker.found, obj)


# ---------------------------------------------------------------- lines


@dataclass
class _Found:
    message: str
    node: Any
    path: tuple[Node, ...]  # the enclosing nodes, outermost first: where to look for a line


def _with_lines(found: list[_Found], obj: Any) -> list[Problem]:
    """Attach the line of each problem in ``obj.script()``'s text, when the printer can say."""
    if not found:
        return []
    lines = _line_map(obj)
    problems = []
    for item in found:
        line = _line_of(item, lines)
        message = item.message if line is None else f"line {line}: {item.message}"
        problems.append(Problem(message, item.node, line))
    return problems


def _line_map(obj: Any) -> dict[int, int]:
    """``id(node) -> line`` from the printer; empty when it is missing or cannot print ``obj``."""
    try:
        from ..script.printer import print_with_locations
    except ImportError:
        return {}
    try:
        return dict(print_with_locations(obj)[1])
    except Exception:  # an ill-formed program may not print; the problems still stand
        return {}


def _line_of(item: _Found, lines: dict[int, int]) -> int | None:
    """The innermost located construct: the node itself, unless it is a variable or buffer
    (those map to their definition, but the problem is at the use)."""
    candidates = [] if isinstance(item.node, IdentityNode) else [item.node]
    candidates += reversed(item.path)
    for candidate in candidates:
        line = lines.get(id(candidate))
        if line is not None:
            return line
    return None


# ---------------------------------------------------------------- naming things as printed


class _Text(Visitor):
    """Expressions as short script text for messages (independent of the full printer, which
    needs a whole program to name variables)."""

    _OPS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "FloorDiv": "//", "FloorMod": "%",
            "EQ": "==", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">=",
            "And": "and", "Or": "or"}
    _TIGHT = {"Mul", "Div", "FloorDiv", "FloorMod"}

    def visit_Var(self, var: Var) -> str:
        return var.name

    def visit_IntImm(self, imm: IntImm) -> str:
        return str(bool(imm.value)) if imm.dtype.is_bool else str(imm.value)

    def visit_FloatImm(self, imm: Any) -> str:
        return repr(imm.value)

    def visit_BinaryOp(self, op: Any) -> str:
        name = type(op).__name__
        if name not in self._OPS:
            return f"T.{name.lower()}({self.visit(op.a)}, {self.visit(op.b)})"
        return f"{self._operand(op, op.a)} {self._OPS[name]} {self._operand(op, op.b)}"

    visit_CmpOp = visit_BinaryOp

    def _operand(self, parent: Any, child: Any) -> str:
        text = self.visit(child)
        loose = type(child).__name__ in self._OPS and type(child).__name__ not in self._TIGHT
        return f"({text})" if loose and type(parent).__name__ in self._TIGHT else text

    def visit_BufferLoad(self, load: Any) -> str:
        return f"{load.buffer.name}[{', '.join(self.visit(i) for i in load.indices)}]"

    def visit_Ramp(self, ramp: Any) -> str:
        base, stride = self.visit(ramp.base), ramp.stride
        if isinstance(stride, IntImm) and stride.value == 1:
            return f"{base}:{base} + {ramp.lanes}"
        return f"T.Ramp({base}, {self.visit(stride)}, {ramp.lanes})"

    def visit_Cast(self, cast: Any) -> str:
        return f"T.Cast(\"{cast.dtype}\", {self.visit(cast.value)})"

    def visit_Call(self, call: Any) -> str:
        return f"{call.op.replace('tir.', 'T.')}(...)"

    def generic_visit(self, node: Node) -> str:
        return type(node).__name__


def _text(expr: Any) -> str:
    return _Text().visit(expr)


def _range_text(r: Range) -> str:
    """``min:end`` as the user wrote it: the parser stores ``a:b`` as extent ``b - a``."""
    if isinstance(r.extent, IntImm) and r.extent.value == 1:
        return _text(r.min)
    if type(r.extent).__name__ == "Sub" and r.extent.b == r.min:
        end = _text(r.extent.a)
    elif isinstance(r.min, IntImm) and isinstance(r.extent, IntImm):
        end = str(r.min.value + r.extent.value)
    elif isinstance(r.min, IntImm) and r.min.value == 0:
        end = _text(r.extent)
    else:
        end = f"{_text(r.min)} + {_text(r.extent)}"
    return f"{_text(r.min)}:{end}"


def _region_text(region: BufferRegion) -> str:
    return f"{region.buffer.name}[{', '.join(_range_text(r) for r in region.region)}]"


# ---------------------------------------------------------------- scopes


@dataclass
class _Scope:
    """What one construct defines, and how to name that construct in a message."""

    owner: str
    names: set = field(default_factory=set)


class _Checker(PathVisitor):
    """Walks a program once, keeping a stack of scopes of what is defined where."""

    def __init__(self, module: IRModule | None) -> None:
        self.module = module
        self.scopes: list[_Scope] = []
        self.retired: dict[Any, str] = {}  # defined once, now out of scope: by what
        self.loop_depth: dict[Var, int] = {}  # loop variable -> blocks around its loop
        self.blocks: list[Block] = []  # the non-opaque blocks around the current node
        super().__init__()
        self.found: list[_Found] = []
        self.seen: set[tuple[int, str]] = set()
        self.binding_of: dict[Var, str] = {}  # iterators of the block whose bindings we are in

    # -------------------------------------------------------- reporting and scoping

    def report(self, message: str, node: Any) -> None:
        """Record a problem once per node and message (a variable used ten times is one slip)."""
        key = (id(node), message)
        if key not in self.seen:
            self.seen.add(key)
            self.found.append(_Found(message, node, tuple(self.path)))

    @contextmanager
    def scope(self, owner: str) -> Iterator[_Scope]:
        self.scopes.append(_Scope(owner))
        try:
            yield self.scopes[-1]
        finally:
            done = self.scopes.pop()
            for item in done.names:
                self.retired[item] = done.owner

    def define(self, item: Any, depth: int = -1) -> None:
        self.scopes[depth].names.add(item)

    def is_defined(self, item: Any) -> bool:
        return any(item in s.names for s in self.scopes)

    def check_defined(self, item: Any, kind: str) -> bool:
        """Report ``item`` (a variable or buffer) when it is not in scope here."""
        if self.is_defined(item):
            return True
        name = getattr(item, "name", "?")
        owner = self.retired.get(item)
        if item in self.binding_of:
            self.report(f"{kind} `{name}` is used in the bindings of block "
                        f"`{self.binding_of[item]}`, before the block defines it", item)
        elif owner is None:
            self.report(f"{kind} `{name}` is used but never defined", item)
        else:
            self.report(f"{kind} `{name}` is used outside {owner} that defines it", item)
        return False

    # -------------------------------------------------------- functions

    def visit_PrimFunc(self, func: PrimFunc) -> None:
        with self.scope("the function"):
            for param in func.params:
                self.define(param)
            self.define_buffers(list(func.buffer_map.values()))
            self.visit(func.body)
        self.check_bounds(func)

    def check_bounds(self, func: PrimFunc) -> None:
        """6. no access is provably out of bounds (``tvmscript/analysis/bounds.py``)."""
        from ..analysis.bounds import out_of_bounds_accesses  # analysis sits above the IR

        for item in out_of_bounds_accesses(func, _text):
            self.found.append(_Found(item.message, item.node, (*self.path, *item.path)))

    def visit_Function(self, func: Function) -> None:
        with self.scope("the function"):
            for param in func.params:
                self.define_sizes(param.sinfo)
            for param in func.params:
                self.visit(param.sinfo)
                self.define(param)
            self.visit(func.body)
            self.visit(func.ret_struct_info)
        self.check_call_tir(func)

    def check_call_tir(self, func: Function) -> None:
        """7. every ``R.call_tir`` fits the function it calls (``verify_graph.py``)."""
        from .verify_graph import call_tir_problems  # it builds on this module

        for message, node in call_tir_problems(func, self.module):
            self.report(message, node)

    # -------------------------------------------------------- variables and buffers

    def visit_Var(self, var: Var) -> None:
        if self.check_defined(var, "variable"):
            self.check_loop_var_in_block(var)

    def check_loop_var_in_block(self, var: Var) -> None:
        """TVM forbids a block body from naming a loop outside the block: the block's iterators
        are what schedules rebind, so a direct use would silently escape them."""
        depth = self.loop_depth.get(var)
        if depth is not None and depth < len(self.blocks):
            block = self.blocks[-1].name_hint
            self.report(f"loop variable `{var.name}` is used directly inside block `{block}`; "
                        f"a block reaches outer loops only through its iterators "
                        f"(bind one with T.axis.* to `{var.name}`)", var)

    def visit_Buffer(self, buffer: Buffer) -> None:
        self.check_defined(buffer, "buffer")

    def visit_GraphVar(self, var: GraphVar) -> None:
        kind = "dataflow variable" if isinstance(var, DataflowVar) else "variable"
        self.check_defined(var, kind)

    def visit_GlobalVar(self, gvar: GlobalVar) -> None:
        if self.module is not None and gvar.name_hint not in self.module:
            self.report(f"`{gvar.name_hint}` is not a function of the module", gvar)

    def define_buffers(self, buffers: Sequence[Buffer]) -> None:
        """Define buffers with their data handles; a bare variable in a shape, stride or
        elem_offset is defined by its first appearance, any other size expression is a use."""
        sizes = [e for b in buffers for e in (*b.shape, *b.strides, b.elem_offset)]
        for buffer in buffers:
            self.define(buffer)
            self.define(buffer.data)
        self.define_first_vars(sizes)
        self.visit(sizes)

    def define_sizes(self, sinfo: StructInfo) -> None:
        """Symbolic sizes of a graph parameter (``R.Tensor(("n", 4))``) are defined there."""
        self.define_first_vars(_SizeExprs.of(sinfo))

    def define_first_vars(self, exprs: Sequence[PrimExpr]) -> None:
        for expr in exprs:
            if isinstance(expr, Var) and not self.is_defined(expr):
                self.define(expr)

    # -------------------------------------------------------- loop-level statements

    def visit_For(self, loop: For) -> None:
        self.visit((loop.min, loop.extent))
        what = f"loop `{loop.loop_var.name}`"
        self.check_dtype(loop, loop.extent, loop.loop_var, what, "extent")
        self.check_dtype(loop, loop.min, loop.loop_var, what, "start")
        with self.scope(f"loop `for {loop.loop_var.name}`"):
            self.define(loop.loop_var)
            self.loop_depth[loop.loop_var] = len(self.blocks)
            self.visit(loop.body)
            self.visit(loop.annotations)
        self.loop_depth.pop(loop.loop_var, None)

    def visit_LetStmt(self, let: Any) -> None:
        self.visit(let.value)
        self.check_dtype(let, let.value, let.var, f"let variable `{let.var.name}`", "value")
        with self.scope(f"the let statement of `{let.var.name}`"):
            self.define(let.var)
            self.visit(let.body)

    def visit_Let(self, let: Any) -> None:
        self.visit(let.value)
        self.check_dtype(let, let.value, let.var, f"let variable `{let.var.name}`", "value")
        with self.scope(f"the T.let of `{let.var.name}`"):
            self.define(let.var)
            self.visit(let.body)

    def visit_Allocate(self, alloc: Any) -> None:
        self.visit((alloc.extents, alloc.condition))
        with self.scope(f"the T.allocate of `{alloc.buffer_var.name}`"):
            self.define(alloc.buffer_var)
            self.visit(alloc.body)

    def visit_DeclBuffer(self, decl: Any) -> None:
        self.visit(decl.buffer.data)
        with self.scope(f"the T.decl_buffer of `{decl.buffer.name}`"):
            self.define_buffers([decl.buffer])
            self.visit(decl.body)

    def visit_AttrStmt(self, attr: Any) -> None:
        self.visit(attr.value)
        if attr.attr_key != "thread_extent" or not isinstance(attr.node, IterVar):
            self.visit((attr.node, attr.body))
            return
        thread = attr.node
        self.visit(thread.dom)
        with self.scope(f"T.launch_thread(\"{thread.thread_tag}\")"):
            self.define(thread.var)
            self.visit(attr.body)

    def visit_BufferStore(self, store: Any) -> None:
        self.generic_visit(store)
        lanes = _lanes(store.indices)
        expected = store.buffer.dtype.with_lanes(store.buffer.dtype.lanes * lanes)
        got = store.value.dtype
        if got == expected:
            return
        name = store.buffer.name
        if got.element_of() != expected.element_of():
            self.report(f"store of {got} value into {store.buffer.dtype} buffer `{name}`", store)
        else:
            self.report(f"store of {got} value into `{name}` at {lanes} lanes "
                        f"(expected a {expected} value)", store)

    def visit_IfThenElse(self, node: Any) -> None:
        self.check_condition(node, node.condition, "the condition of `if`")
        self.generic_visit(node)

    def visit_While(self, node: Any) -> None:
        self.check_condition(node, node.condition, "the condition of `while`")
        self.generic_visit(node)

    def visit_AssertStmt(self, node: Any) -> None:
        self.check_condition(node, node.condition, "the condition of `assert`")
        self.generic_visit(node)

    def check_condition(self, owner: Node, cond: PrimExpr, what: str) -> None:
        if not (cond.dtype.is_bool and cond.dtype.lanes == 1):
            self.report(f"{what} is {cond.dtype}, not bool: `{_text(cond)}`", owner)

    def check_dtype(self, owner: Node, value: PrimExpr, var: Var, what: str, part: str) -> None:
        if value.dtype != var.dtype:
            self.report(f"{what} is {var.dtype} but its {part} `{_text(value)}` is "
                        f"{value.dtype}", owner)

    # -------------------------------------------------------- blocks

    def visit_BlockRealize(self, realize: BlockRealize) -> None:
        block = realize.block
        outer_bindings = self.binding_of
        self.binding_of = {**outer_bindings, **{iv.var: block.name_hint for iv in block.iter_vars}}
        self.visit((realize.iter_values, realize.predicate))
        self.binding_of = outer_bindings
        where = f"the T.where of block `{block.name_hint}`"
        self.check_condition(realize, realize.predicate, where)
        for iv, value in zip(block.iter_vars, realize.iter_values):
            self.check_dtype(realize, value, iv.var, f"block iterator `{iv.var.name}`", "binding")
        if len(realize.iter_values) != len(block.iter_vars):
            self.report(f"block `{block.name_hint}` has {len(block.iter_vars)} iterators but "
                        f"{len(realize.iter_values)} bindings", realize)
        self.visit(block)

    def visit_Block(self, block: Block) -> None:
        self.visit([iv.dom for iv in block.iter_vars])
        with self.scope(f"block `{block.name_hint}`"):
            for iv in block.iter_vars:
                self.define(iv.var)
            if block.iter_vars:  # an opaque block is no boundary for loop variables (as in TVM)
                self.blocks.append(block)
            try:
                self.visit_block_inside(block)
            finally:
                if block.iter_vars:
                    self.blocks.pop()

    def visit_block_inside(self, block: Block) -> None:
        self.define_buffers(block.alloc_buffers)
        for match in block.match_buffers:
            self.visit(match.source)
        self.define_buffers([m.buffer for m in block.match_buffers])
        self.visit((block.reads, block.writes, block.annotations))
        self.visit((block.init, block.body))
        if not self.is_implicit_root(block):
            for problem, node in _uncovered_accesses(block):
                self.report(problem, node)

    def is_implicit_root(self, block: Block) -> bool:
        realize = self.path[-2] if len(self.path) >= 2 else None
        func = self.path[-3] if len(self.path) >= 3 else None
        return (isinstance(func, PrimFunc) and func.body is realize and not block.iter_vars
                and not block.reads and not block.writes)

    # -------------------------------------------------------- graph level

    def visit_VarBinding(self, binding: Any) -> None:
        self.visit(binding.value)
        self.visit(binding.var.sinfo)
        in_dataflow = len(self.scopes) >= 2 and self.scopes[-1].owner == "the dataflow block"
        outer = in_dataflow and not isinstance(binding.var, DataflowVar)
        self.define(binding.var, depth=-2 if outer else -1)

    def visit_SeqExpr(self, seq_expr: Any) -> None:
        with self.scope("the sequence of bindings"):
            self.generic_visit(seq_expr)

    def visit_DataflowBlock(self, block: Any) -> None:
        with self.scope("the dataflow block"):
            self.visit(block.bindings)


def _lanes(indices: Sequence[PrimExpr]) -> int:
    lanes = 1
    for index in indices:
        lanes *= index.dtype.lanes
    return lanes


class _SizeExprs(Visitor):
    """The size expressions of a struct info (tensor shapes, shape values)."""

    def __init__(self) -> None:
        self.exprs: list[PrimExpr] = []

    def visit_PrimExpr(self, expr: PrimExpr) -> None:
        self.exprs.append(expr)

    @classmethod
    def of(cls, sinfo: StructInfo) -> list[PrimExpr]:
        collector = cls()
        collector.visit(sinfo)
        return collector.exprs


# ---------------------------------------------------------------- access regions


def _uncovered_accesses(block: Block) -> Iterator[tuple[str, Node]]:
    """Each direct access (and nested block region) of ``block`` that its regions miss."""
    for access, regions in uncovered_accesses(block):
        yield _coverage_message(block, access, regions), access.node


def _coverage_message(block: Block, access: Access, regions: list[BufferRegion]) -> str:
    verb, clause = ("reads", "T.reads") if access.is_read else ("writes", "T.writes")
    if isinstance(access.shown, BufferRegion):
        what = f"{_region_text(access.shown)} through nested block `{access.via}`"
    else:
        what = f"{access.buffer.name}[{', '.join(_text(i) for i in access.shown)}]"
    head = f"block `{block.name_hint}` {verb} {what}"
    if not regions:
        return f"{head} but its {clause} has no region of `{access.buffer.name}`"
    listed = ", ".join(_region_text(r) for r in regions)
    return f"{head} but its {clause} only covers {listed}"
