"""``fuse-ops``: group the kernel calls of graph functions into fused functions (TVM's relax
``FuseOps``), so that ``fuse-tir`` can make one kernel of each group.

Before (after ``legalize-ops`` and ``annotate-op-pattern``)::

    with R.dataflow():
        c = R.call_tir(cls.conv2d, (x, w), out_sinfo=R.Tensor((1, 4, 4, 4), "float32"))
        d = R.call_tir(cls.add, (c, b), out_sinfo=R.Tensor((1, 4, 4, 4), "float32"))
        gv = R.call_tir(cls.relu, (d,), out_sinfo=R.Tensor((1, 4, 4, 4), "float32"))
        R.output(gv)

After::

    @R.function(private=True)
    def fused_conv2d_add_relu(x: ..., w: ..., b: ...) -> R.Tensor((1, 4, 4, 4), "float32"):
        R.func_attr({"Primitive": True})
        with R.dataflow():
            c = R.call_tir(cls.conv2d, (x, w), out_sinfo=...)
            d = R.call_tir(cls.add, (c, b), out_sinfo=...)
            gv = R.call_tir(cls.relu, (d,), out_sinfo=...)
            R.output(gv)
        return gv

    # main
        gv = cls.fused_conv2d_add_relu(x, w, b)

The rules are TVM's, on the bindings of one binding block at a time. Each kernel call is a node
with its kernel's ``op_pattern``; an edge from producer to consumer carries the consumer's
pattern. A node may only join the group of its immediate *post-dominator*: the nearest binding
that every path from it to the block's end passes through. So an intermediate with several
consumers is fused only together with all of them (a diamond fuses whole or not at all), and a
value used after the block (returned, ``R.output`` and used later) is never an intermediate.
Every node on the paths between the two must pass a condition on its group's pattern:

- OUT_EWISE_FUSABLE (matmul, conv2d, softmax) takes in its post-dominator when the path is
  element-wise at the dominator and at most BROADCAST on the way: conv2d + bias add + relu.
- ELEM_WISE and BROADCAST join a post-dominator reached through INJECTIVE or COMM_REDUCE
  patterns, with INJECTIVE nodes on the way and a sink of any pattern up to OUT_EWISE_FUSABLE:
  element-wise chains, element-wise producers of a reduction (``sum(exp(x))``), element-wise
  producers of an injective op.
- INJECTIVE joins (in a second round, after the anchors above have taken their consumers) when
  the whole path, sink included, is at most INJECTIVE: reshape/transpose chains.
- COMM_REDUCE does not take consumers in; OPAQUE never fuses. A group never holds two
  OUT_EWISE_FUSABLE kernels (an anchor only takes in nodes at most BROADCAST).
- At most ``max_depth`` kernels a group (PassContext config ``"relax.FuseOps.max_depth"``, 256).

A group of one kernel stays a plain call. Only ``R.call_tir`` of a loop-level function taking
buffers only, with one tensor output of known shape, and variables or constants as arguments,
takes part; anything else is an opaque node. Each fused function takes the group's inputs in
order of first use (constants too, so its body is only kernel calls) and returns its one output,
which keeps its variable in the caller.

Symbolic sizes: a fused function (and the kernel ``fuse-tir`` makes of it) must bind every size
variable from its parameters' shapes, as a kernel does. A size variable that is a whole
dimension of an input keeps its name; a dimension that is an expression of
variables no parameter has whole (``n * 2`` after ``R.reshape(x, (-1, 2))`` with ``x`` of shape
``(n, 4)``) becomes a size variable of its own (``d0``, and ``n`` is ``d0 // 2`` where it appears
alone), and every shape of the group is written with these (``SizeBinding``). A group with a
shape that cannot be written so (``n`` when only ``n + 1`` is known) is not fused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tvmscript.arith import Analyzer
from tvmscript.ir import IRModule, PrimFunc, Var
from tvmscript.ir import graph as G
from tvmscript.ir.expr import FloorDiv, IntImm, Mul, PrimExpr, Range
from tvmscript.ir.function import GlobalVar
from tvmscript.ir.functor import Mutator, post_order_visit, substitute
from tvmscript.ir.structural import structural_equal

from .infra import PassContext, module_pass
from .normalize import normalize_function
from .op_pattern import OpPattern, pattern_of

MAX_DEPTH_KEY = "relax.FuseOps.max_depth"
DEFAULT_MAX_DEPTH = 256
PRIMITIVE = "Primitive"

ELEM, BROADCAST, INJECTIVE = OpPattern.ELEM_WISE, OpPattern.BROADCAST, OpPattern.INJECTIVE
REDUCE, ANCHOR, OPAQUE = OpPattern.COMM_REDUCE, OpPattern.OUT_EWISE_FUSABLE, OpPattern.OPAQUE


@module_pass("fuse-ops", opt_level=0)
def fuse_ops(mod: IRModule, ctx: PassContext) -> IRModule:
    """Move each fusable group of kernel calls into a private ``Primitive`` graph function."""
    max_depth = int(ctx.config.get(MAX_DEPTH_KEY, DEFAULT_MAX_DEPTH))
    if max_depth < 1:
        raise ValueError(f"fuse-ops: config {MAX_DEPTH_KEY!r} must be at least 1, got {max_depth}")
    names = set(mod.functions)
    changed: dict = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function) and not func.attrs.get(PRIMITIVE):
            fuser = _FunctionFuser(mod, names, max_depth)
            new = fuser.run(func)
            if fuser.created:
                changed[name] = new
                changed.update(fuser.created)
    return mod.with_(functions={**mod.functions, **changed}) if changed else mod


def kernel_call_problem(call: G.GraphExpr, mod: IRModule) -> str | None:
    """Why ``call`` cannot be part of a fused kernel (None when it can): what ``fuse-tir``
    needs to merge kernels, checked before ``fuse-ops`` groups anything."""
    if not (isinstance(call, G.Call) and isinstance(call.op, G.Op)
            and call.op.name == "relax.call_tir"):
        return "it is not R.call_tir"
    if len(call.args) != 2 or len(call.sinfo_args) != 1:
        return "it is not R.call_tir(cls.f, (args...), out_sinfo=...)"
    gv, args = call.args[0], call.args[1]
    kernel = mod.functions.get(gv.name_hint) if isinstance(gv, GlobalVar) else None
    if not isinstance(kernel, PrimFunc):
        return "it does not call a loop-level function of the module"
    if not isinstance(args, G.Tuple) or \
            not all(isinstance(a, (G.GraphVar, G.Constant)) for a in args.fields):
        return "its arguments are not variables or constants"
    if not _known_tensor(call.sinfo_args[0]):
        return "its output is not one tensor of known shape and dtype"
    if not all(_known_tensor(a.struct_info) for a in args.fields):
        return "an argument is not a tensor of known shape and dtype"
    return _kernel_problem(kernel, len(args.fields) + 1)


def _known_tensor(sinfo: G.StructInfo) -> bool:
    return isinstance(sinfo, G.TensorStructInfo) and sinfo.shape is not None \
        and not sinfo.dtype.is_void


def _kernel_problem(kernel: PrimFunc, n_params: int) -> str | None:
    if kernel.root_block is None or kernel.root_block.match_buffers:
        return f"kernel {kernel.name!r} has no root block"
    if len(kernel.params) != n_params or any(p not in kernel.buffer_map for p in kernel.params):
        return f"kernel {kernel.name!r} takes other parameters than one buffer per tensor"
    bare = {d for b in kernel.buffers for d in b.shape if isinstance(d, Var)}
    for b in kernel.buffers:
        for v in _tir_vars(b.shape):
            if v not in bare:
                return (f"kernel {kernel.name!r}: size {v.name} of buffer {b.name} is not a "
                        "dimension of any parameter, so it cannot be bound")
    return None


# ---------------------------------------------------------------- one graph function


@dataclass
class _Node:
    binding: G.VarBinding
    pattern: OpPattern
    outputs: list[tuple[int, OpPattern]] = field(default_factory=list)  # consumer, edge pattern
    extern: bool = False  # used after the block (or returned)


class _FunctionFuser:
    def __init__(self, mod: IRModule, names: set[str], max_depth: int) -> None:
        self.mod = mod
        self.names = names  # function names taken (new ones are added)
        self.max_depth = max_depth
        self.created: dict[str, G.Function] = {}

    def run(self, func: G.Function) -> G.Function:
        func = normalize_function(func)
        blocks = list(func.body.blocks)
        later: set[G.GraphVar] = _graph_vars(func.body.body)
        new_blocks = [None] * len(blocks)
        for i in reversed(range(len(blocks))):
            new_blocks[i] = self.block(blocks[i], later)
            later |= _graph_vars(blocks[i])
        if not self.created:
            return func
        return func.with_(body=func.body.with_(blocks=tuple(new_blocks)))

    def block(self, block: G.BindingBlock, later: set[G.GraphVar]) -> G.BindingBlock:
        nodes = self.graph(block, later)
        roots = _Partition(nodes, self.max_depth).roots()
        members: dict[int, list[int]] = {}
        for i, r in enumerate(roots):
            members.setdefault(r, []).append(i)
        replaced: dict[int, G.VarBinding | None] = {}
        for group in members.values():
            if len(group) > 1:
                replaced.update(self.fuse_group(nodes, group))
        if not replaced:
            return block
        bindings = [replaced.get(i, b) for i, b in enumerate(block.bindings)]
        return block.with_(bindings=tuple(b for b in bindings if b is not None))

    def graph(self, block: G.BindingBlock, later: set[G.GraphVar]) -> list[_Node]:
        index = {b.var: i for i, b in enumerate(block.bindings)}
        nodes = []
        for b in block.bindings:
            ok = kernel_call_problem(b.value, self.mod) is None
            pattern = pattern_of(self.mod[b.value.args[0].name_hint]) if ok else OPAQUE
            nodes.append(_Node(b, pattern, extern=b.var in later))
        for j, b in enumerate(block.bindings):
            for var in _graph_vars(b.value):
                if var in index and (j, nodes[j].pattern) not in nodes[index[var]].outputs:
                    nodes[index[var]].outputs.append((j, nodes[j].pattern))
        return nodes

    def fuse_group(self, nodes: list[_Node], group: list[int]) -> dict[int, G.VarBinding | None]:
        """The bindings of the group replaced: the output's by the call of the new function,
        the others removed (nothing, when the group has not exactly one output)."""
        inside = set(group)
        outs = [i for i in group if nodes[i].extern or not nodes[i].outputs
                or any(j not in inside for j, _ in nodes[i].outputs)]
        if len(outs) != 1 or outs[0] != max(group):
            return {}
        bindings = [nodes[i].binding for i in sorted(group)]
        made = _make_function(bindings, self.new_name([b.value.args[0].name_hint
                                                       for b in bindings]))
        if made is None:
            return {}
        func, inputs = made
        self.names.add(func.name)
        self.created[func.name] = func
        out = nodes[outs[0]].binding
        call = G.Call(GlobalVar(func.name), tuple(inputs))
        replaced: dict[int, G.VarBinding | None] = dict.fromkeys(group)
        replaced[outs[0]] = out.with_(value=call)
        return replaced

    def new_name(self, kernels: list[str]) -> str:
        parts = kernels if len(kernels) <= 6 else kernels[:5] + [f"and_{len(kernels) - 5}_more"]
        base = "fused_" + "_".join(parts)
        name, n = base, 1
        while name in self.names:
            name, n = f"{base}{n}", n + 1
        return name


def _make_function(bindings: list[G.VarBinding], name: str
                   ) -> tuple[G.Function, list[G.GraphExpr]] | None:
    """The ``Primitive`` function computing ``bindings`` (the last is its result) and the
    arguments to call it with; None when a size of the group is not bound by the shapes of its
    inputs (see ``SizeBinding``), as a graph function must bind the sizes it uses."""
    bound = {b.var for b in bindings}
    inputs: list[G.GraphExpr] = []
    for b in bindings:
        for arg in b.value.args[1].fields:
            if arg not in bound and not any(arg is x for x in inputs):
                inputs.append(arg)
    sizes = SizeBinding([a.struct_info.shape for a in inputs])
    vmap: dict = {}
    params = []
    for arg in inputs:
        param = G.GraphVar(arg.name if isinstance(arg, G.GraphVar) else "const",
                           sizes.tensor(arg.struct_info))
        params.append(param)
        vmap[id(arg)] = param
    inner = []
    for k, b in enumerate(bindings):
        out = sizes.tensor(b.value.sinfo_args[0])
        if out is None:
            return None
        cls = G.GraphVar if k == len(bindings) - 1 else G.DataflowVar
        var = cls(b.var.name, out)
        args = [vmap[id(a)] for a in b.value.args[1].fields]
        inner.append(G.VarBinding(var, G.call_tir(b.value.args[0], args, out)).with_span(b.span))
        vmap[id(b.var)] = var
    body = G.SeqExpr((G.DataflowBlock(tuple(inner)),), inner[-1].var)
    func = G.Function(tuple(params), body, inner[-1].var.sinfo, {PRIMITIVE: True}, name)
    return func, inputs


class SizeBinding:
    """The shapes of a fused group written with size variables that its parameters bind.

    ``shapes`` are the parameters' shapes. A variable that is a whole dimension of one of them
    gets a fresh copy of itself; a dimension that mentions another variable (``n * 2`` with no
    parameter of dimension ``n``) gets a fresh variable ``d0``, ``d1``... standing for that
    expression wherever it appears, and when it is ``n * c`` (a flattening reshape), ``n`` is
    ``d0 // c`` elsewhere: ``(n * 2, 2) -> (n, 4)`` is ``(d0, 2) -> (d0 // 2, 4)``."""

    def __init__(self, shapes: list[tuple[PrimExpr, ...]]) -> None:
        dims = [d for shape in shapes for d in shape]
        self.sizes: dict[Var, PrimExpr] = {d: Var(d.name, d.dtype) for d in dims
                                           if isinstance(d, Var)}
        self.opaque: list[tuple[PrimExpr, Var]] = []
        for d in dims:
            if not isinstance(d, (Var, IntImm)) and self._unbound(d) \
                    and self._opaque(d) is None:
                self.opaque.append((d, Var(f"d{len(self.opaque)}", d.dtype)))
        for e, new in self.opaque:
            scaled = _scaled_var(e)
            if scaled is not None and scaled[0] not in self.sizes:
                self.sizes[scaled[0]] = FloorDiv(new, scaled[1])
        self.new_vars = {v for _, v in self.opaque}
        self.analyzer = Analyzer()  # sizes are never negative: (d0 // 2) * 4 // 4 is d0 // 2
        for v in self.new_vars:
            self.analyzer.bind(v, Range(IntImm(v.dtype, 0), IntImm(v.dtype, 2**62)))

    def _unbound(self, expr: PrimExpr) -> list[Var]:
        return [v for v in _tir_vars((expr,)) if v not in self.sizes]

    def _opaque(self, expr: PrimExpr) -> Var | None:
        return next((v for e, v in self.opaque if structural_equal(e, expr)), None)

    def dim(self, expr: PrimExpr) -> PrimExpr | None:
        """``expr`` in the bound size variables; None when it cannot be written with them."""
        if self.opaque:
            expr = _ReplaceOpaque(self).visit(expr)
        found = _tir_vars((expr,))
        if any(v not in self.sizes and v not in self.new_vars for v in found):
            return None
        expr = substitute(expr, self.sizes)
        derived = any(not isinstance(self.sizes.get(v, v), Var) for v in found)
        return self.analyzer.simplify(expr) if derived else expr

    def shape(self, shape: tuple[PrimExpr, ...]) -> tuple[PrimExpr, ...] | None:
        dims = [self.dim(d) for d in shape]
        return None if any(d is None for d in dims) else tuple(dims)

    def tensor(self, sinfo: G.TensorStructInfo) -> G.TensorStructInfo | None:
        shape = self.shape(sinfo.shape)
        return None if shape is None else sinfo.with_(shape=shape)


def _scaled_var(expr: PrimExpr) -> tuple[Var, IntImm] | None:
    """``(n, c)`` when ``expr`` is ``n * c`` or ``c * n`` with a constant ``c > 0``."""
    if not isinstance(expr, Mul):
        return None
    for v, c in ((expr.a, expr.b), (expr.b, expr.a)):
        if isinstance(v, Var) and isinstance(c, IntImm) and c.value > 0:
            return v, c
    return None


class _ReplaceOpaque(Mutator):
    """Every sub-expression that ``binding`` stands for by a variable replaced by it."""

    def __init__(self, binding: SizeBinding) -> None:
        self.binding = binding

    def visit(self, obj):
        if isinstance(obj, PrimExpr) and not isinstance(obj, (Var, IntImm)):
            found = self.binding._opaque(obj)
            if found is not None:
                return found
        return super().visit(obj)


# ---------------------------------------------------------------- partition (TVM's rules)


@dataclass
class _Group:
    pattern: OpPattern
    anchor: bool  # holds an OUT_EWISE_FUSABLE kernel
    size: int = 1
    parent: _Group | None = None

    def root(self) -> _Group:
        group = self
        while group.parent is not None:
            group = group.parent
        if group is not self:
            self.parent = group
        return group


@dataclass
class _Dom:
    parent: int | None
    depth: int
    pattern: OpPattern  # the most general edge pattern on the way to ``parent``


class _Partition:
    """Union-find over the nodes, merged along post-dominator paths (see the module docstring)."""

    def __init__(self, nodes: list[_Node], max_depth: int) -> None:
        self.nodes = nodes
        self.max_depth = max_depth
        self.groups = [_Group(n.pattern, n.pattern == ANCHOR) for n in nodes]
        self.doms: list[_Dom] = [None] * len(nodes)  # type: ignore[list-item]
        for i in reversed(range(len(nodes))):
            self.doms[i] = self.post_dominator(nodes[i])

    def roots(self) -> list[int]:
        for phase in (0, 1):
            for i in range(len(self.nodes)):
                self.try_fuse(i, phase)
        ids: dict[int, int] = {}
        return [ids.setdefault(id(g.root()), i) for i, g in enumerate(self.groups)]

    # ------------------------------------------------------------ post-dominator tree
    def post_dominator(self, node: _Node) -> _Dom:
        if node.extern or not node.outputs:
            return _Dom(None, 1, OPAQUE if node.extern else ELEM)
        parent, pattern = node.outputs[0][0], node.outputs[0][1]
        for j, edge in node.outputs[1:]:
            parent, pattern = self.common_ancestor(parent, j, pattern)
            pattern = max(pattern, edge)
        depth = 1 if parent is None else self.doms[parent].depth + 1
        return _Dom(parent, depth, pattern)

    def common_ancestor(self, a: int | None, b: int | None, pattern: OpPattern
                        ) -> tuple[int | None, OpPattern]:
        doms = self.doms
        while a != b:
            if a is None or b is None:
                return None, pattern
            if doms[a].depth < doms[b].depth:
                pattern, b = max(pattern, doms[b].pattern), doms[b].parent
            elif doms[b].depth < doms[a].depth:
                pattern, a = max(pattern, doms[a].pattern), doms[a].parent
            else:
                pattern = max(pattern, doms[a].pattern, doms[b].pattern)
                a, b = doms[a].parent, doms[b].parent
        return a, pattern

    # ------------------------------------------------------------ fusing
    def try_fuse(self, i: int, phase: int) -> None:
        own, dom = self.groups[i], self.doms[i]
        if own.pattern == OPAQUE or dom.parent is None:
            return
        sink = dom.parent
        if own.root() is self.groups[sink].root() or self.fused_size(i, sink) > self.max_depth:
            return
        rule = self.path_rule(own.pattern, dom.pattern, phase)
        if rule is not None and self.check_path(i, sink, rule):
            self.commit(i, sink)

    @staticmethod
    def path_rule(pattern: OpPattern, dom_pattern: OpPattern, phase: int
                  ) -> Callable[[OpPattern, bool], bool] | None:
        """What the nodes on the way to the post-dominator must be, ``(pattern, is_sink) ->
        bool``; None when a node of ``pattern`` does not fuse there in this phase."""
        if pattern == ANCHOR:
            if phase == 0 and dom_pattern == ELEM:
                return lambda kind, is_sink: kind <= BROADCAST
        elif pattern <= BROADCAST:
            if dom_pattern <= INJECTIVE or dom_pattern == REDUCE:
                return lambda kind, is_sink: kind <= (ANCHOR if is_sink else INJECTIVE)
        elif pattern == INJECTIVE and phase == 1:
            return lambda kind, is_sink: kind <= INJECTIVE
        return None

    def check_path(self, src: int, sink: int, ok: Callable[[OpPattern, bool], bool]) -> bool:
        """Every node on a path from ``src`` to ``sink`` (sink included) has a group pattern
        that ``ok(pattern, is_sink)`` accepts."""
        seen: set[int] = set()
        stack = [j for j, _ in self.nodes[src].outputs]
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            if not ok(self.groups[j].root().pattern, j == sink):
                return False
            if j != sink:
                stack.extend(k for k, _ in self.nodes[j].outputs)
        return True

    def between(self, src: int, sink: int) -> set[int]:
        """``src``, ``sink`` and the nodes on the paths between (every path from ``src`` meets
        ``sink``, its post-dominator, so all that ``src`` reaches before it is between)."""
        seen = {src, sink}
        stack = [j for j, _ in self.nodes[src].outputs]
        while stack:
            j = stack.pop()
            if j not in seen:
                seen.add(j)
                stack.extend(k for k, _ in self.nodes[j].outputs)
        return seen

    def fused_size(self, src: int, sink: int) -> int:
        """How many kernels the group would hold after fusing ``src`` into ``sink``."""
        roots = {id(g): g for g in (self.groups[j].root() for j in self.between(src, sink))}
        return sum(g.size for g in roots.values())

    def commit(self, src: int, sink: int) -> None:
        """Merge ``src`` and every node between it and ``sink`` into ``sink``'s group."""
        target = self.groups[sink]
        seen: set[int] = set()
        stack = [src]
        while stack:
            j = stack.pop()
            if j == sink or j in seen:
                continue
            seen.add(j)
            self.merge(self.groups[j], target)
            stack.extend(k for k, _ in self.nodes[j].outputs)

    @staticmethod
    def merge(child: _Group, parent: _Group) -> None:
        child, parent = child.root(), parent.root()
        if child is parent:
            return
        parent.size += child.size
        child.parent = parent
        if child.anchor:
            assert not parent.anchor, "fuse-ops: a group would hold two OUT_EWISE_FUSABLE kernels"
            parent.anchor = True
            parent.pattern = max(parent.pattern, child.pattern)


# ---------------------------------------------------------------- helpers


def _graph_vars(obj) -> set[G.GraphVar]:
    found: set[G.GraphVar] = set()
    post_order_visit(obj, lambda n: found.add(n) if isinstance(n, G.GraphVar) else None)
    return found


def _tir_vars(exprs) -> list[Var]:
    found: list[Var] = []
    post_order_visit(tuple(exprs or ()), lambda n: found.append(n)
                     if isinstance(n, Var) and n not in found else None)
    return found


__all__ = ["DEFAULT_MAX_DEPTH", "MAX_DEPTH_KEY", "PRIMITIVE", "SizeBinding", "fuse_ops",
           "kernel_call_problem"]
