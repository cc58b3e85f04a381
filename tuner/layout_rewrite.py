"""Pack constant weights once at build time (TVM's ``RewriteLayout`` + ``FoldConstant``).

A default schedule (``default_schedule``) that wants a weight in another layout copies it, inside
the kernel, into an intermediate ``<W>_packed`` with a block marked
``meta_schedule.layout_rewrite_preproc``; that copy then runs on every call. In a model the
weight is almost always a constant, so the copy can run once, here, and the kernel can take
the packed weight instead.

Before::

    @T.prim_func(private=True)
    def conv(x: T.Buffer(...), w: T.Buffer((16, 16, 3, 3)), y: T.Buffer(...)):
        w_packed = T.alloc_buffer((2, 16, 3, 3, 8))
        for ax0, ax1, ax2, ax3, ax4 in T.grid(2, 16, 3, 3, 8):
            with T.block("w_pack"):
                T.block_attr({"meta_schedule.layout_rewrite_preproc": True})
                w_packed[...] = w[v_ax0 * 8 + v_ax4, v_ax1, v_ax2, v_ax3]
        ...  # reads w_packed

    gv = R.call_tir(cls.conv, (x, metadata["relax.expr.Constant"][0]), out_sinfo=...)

After::

    @T.prim_func(private=True)
    def conv(x: T.Buffer(...), w_packed: T.Buffer((2, 16, 3, 3, 8)), y: T.Buffer(...)):
        ...  # reads w_packed

    gv = R.call_tir(cls.conv, (x, metadata["relax.expr.Constant"][1]), out_sinfo=...)

The copy of each kernel becomes a small function (weight -> packed) of its own; all of them are
compiled together, once, for this machine and run on each distinct constant. A kernel whose
every call passes constants is rewritten in place; one that some call passes a computed
weight (or that users may call by name) keeps its copy, and the calls with constants get a
rewritten twin ``<kernel>_prepacked``. A copy is taken out only when it is safe: the marked
block is alone in a loop nest of the kernel's root, reads nothing but the weight parameter,
writes an intermediate that nothing else writes, and nothing else in the kernel reads the
weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from passes.dead_code import eliminate_dead_code
from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer
from tvmscript.ir.expr import BufferLoad, IntImm, Var
from tvmscript.ir.function import GlobalVar, PrimFunc
from tvmscript.ir.functor import Mutator, post_order_visit
from tvmscript.ir.rewrite import Rewriter, copy_buffer
from tvmscript.schedule.state import walk

from .default_schedule import LAYOUT_REWRITE

INTERPRET_MAX_ELEMENTS = 1 << 16
"""Weights up to this size are packed by the interpreter (about 20 ms at this size, 0.35 us an
element); larger ones by LLVM (about 40 ms to compile one copy, then memory speed)."""
PACK_SUFFIX = "_prepacked"
"""Name suffix of the rewritten twin of a kernel that must also stay as it is."""


@dataclass(frozen=True)
class Prepack:
    """One weight copy that can move out of a kernel."""

    index: int
    """Position of the weight among the kernel's parameters (= among the call's arguments)."""
    weight: Buffer
    packed: Buffer
    nest: S.Stmt
    """The loop nest of the kernel's root that holds the marked copy block."""


# ----------------------------------------------------------------------------- kernels


def find_prepacks(func: PrimFunc) -> list[Prepack]:
    """The weight copies of ``func`` that can run ahead of it (see the module's rules)."""
    root = func.root_block
    if root is None:
        return []
    nests = list(root.body.seq) if isinstance(root.body, S.SeqStmt) else [root.body]
    params = {buf: i for i, buf in enumerate(func.buffer_map.get(p) for p in func.params)
              if buf is not None}
    found = []
    for position, nest in enumerate(nests):
        prepack = _prepack_of(nest, params, root)
        if prepack is not None and _only_use(prepack, nests, position):
            found.append(prepack)
    return found


def _prepack_of(nest: S.Stmt, params: dict[Buffer, int], root: S.Block) -> Prepack | None:
    blocks = [loc.node for loc in walk(nest) if isinstance(loc.node, S.Block)]
    if len(blocks) != 1 or not blocks[0].annotations.get(LAYOUT_REWRITE):
        return None
    blk = blocks[0]
    read = {r.buffer for r in blk.reads} | _loaded(blk.body)
    written = {w.buffer for w in blk.writes} | _stored(blk.body)
    if blk.init is not None or len(read) != 1 or len(written) != 1:
        return None
    (weight,), (packed,) = read, written
    if weight not in params or packed not in root.alloc_buffers or packed.scope != "global" \
            or not all(isinstance(d, IntImm) for d in (*weight.shape, *packed.shape)):
        return None
    return Prepack(params[weight], weight, packed, nest)


def _only_use(prepack: Prepack, nests: list[S.Stmt], position: int) -> bool:
    """Whether the rest of the kernel never reads the weight, never writes the packed copy,
    and reads that copy only after it is made."""
    for i, other in enumerate(nests):
        if i == position:
            continue
        if prepack.weight in _loaded(other) | _stored(other) or prepack.packed in _stored(other):
            return False
        if i < position and prepack.packed in _loaded(other):
            return False
    return True


def _loaded(stmt: S.Stmt) -> set[Buffer]:
    """Buffers a statement reads (loads and the read regions of its blocks)."""
    found: set[Buffer] = set()

    def visit(node: Any) -> None:
        if isinstance(node, BufferLoad):
            found.add(node.buffer)
        elif isinstance(node, S.Block):
            found.update(r.buffer for r in node.reads)

    post_order_visit(stmt, visit)
    return found


def _stored(stmt: S.Stmt) -> set[Buffer]:
    found: set[Buffer] = set()

    def visit(node: Any) -> None:
        if isinstance(node, S.BufferStore):
            found.add(node.buffer)
        elif isinstance(node, S.Block):
            found.update(w.buffer for w in node.writes)

    post_order_visit(stmt, visit)
    return found


def pack_function(func: PrimFunc, prepack: Prepack) -> PrimFunc:
    """The copy alone: ``(weight, packed)`` in destination-passing style."""
    handles = (func.params[prepack.index], Var(prepack.packed.name, "handle"))
    root = S.Block("root", body=prepack.nest)
    body = S.BlockRealize((), _true(), root)
    return PrimFunc(handles, {handles[0]: prepack.weight, handles[1]: prepack.packed}, body,
                    {"tir.noalias": True})


def _true() -> IntImm:
    return IntImm("bool", 1)


def without_prepacks(func: PrimFunc, prepacks: list[Prepack]) -> PrimFunc:
    """``func`` taking each packed weight as the parameter in place of its weight, the copies
    gone."""
    params = list(func.params)
    buffers = {p: func.buffer_map[p] for p in params if p in func.buffer_map}
    for p in prepacks:
        del buffers[params[p.index]]
        params[p.index] = Var(p.packed.name, "handle")
        buffers[params[p.index]] = p.packed
    buffer_map = {p: buffers[p] for p in params if p in buffers}  # in parameter order
    realize = func.body
    root = realize.block
    gone = {id(p.nest) for p in prepacks}
    kept = [s for s in (root.body.seq if isinstance(root.body, S.SeqStmt) else (root.body,))
            if id(s) not in gone]
    packed = {p.packed for p in prepacks}
    root = root.with_(alloc_buffers=tuple(b for b in root.alloc_buffers if b not in packed),
                      body=S.seq(*kept))
    return func.with_(params=tuple(params), buffer_map=buffer_map,
                      body=realize.with_(block=root))


def fresh_copy(func: PrimFunc) -> PrimFunc:
    """``func`` with every variable and buffer new: a twin beside the original in one module
    shares none of its definitions (a module defines each variable once)."""
    found: list[Any] = []
    post_order_visit(func, lambda n: found.append(n) if isinstance(n, (Var, Buffer)) else None)
    buffers = list(dict.fromkeys(n for n in found if isinstance(n, Buffer)))
    olds = dict.fromkeys([n for n in found if isinstance(n, Var)] + [b.data for b in buffers])
    vmap = {v: Var(v.name, v.dtype) for v in olds}
    sizes = Rewriter(vmap)
    bmap = {b: copy_buffer(b, data=vmap[b.data], shape=sizes.visit(b.shape),
                           strides=sizes.visit(b.strides),
                           elem_offset=sizes.visit(b.elem_offset)) for b in buffers}
    new = Rewriter(vmap, bmap).visit(func)
    return new.with_(buffer_map={vmap[p]: bmap[b] for p, b in func.buffer_map.items()})


# ----------------------------------------------------------------------------- the graph


@dataclass
class _Kernel:
    """What happens to one kernel: its copies, the calls that can skip them, its new form."""

    func: PrimFunc
    prepacks: list[Prepack]
    constant_calls: int = 0
    other_calls: int = 0
    new_name: str = ""


def rewrite_layouts(mod: IRModule, target: Any = "llvm") -> IRModule:
    """``mod`` with every weight copy that a graph-level call feeds a constant done once, here.

    ``target`` is the model's target; the copies run on this machine whatever it is (a copy
    gives the same bits on any CPU)."""
    del target  # the copies are exact: compiled for the host, they give what the target would
    kernels = {name: _Kernel(f, find_prepacks(f)) for name, f in mod.functions.items()
               if isinstance(f, PrimFunc)}
    kernels = {name: k for name, k in kernels.items() if k.prepacks}
    if not kernels:
        return mod
    graphs = {name: f for name, f in mod.functions.items() if isinstance(f, G.Function)}
    for func in graphs.values():
        _count_calls(func, kernels)
    kernels = {name: k for name, k in kernels.items() if k.constant_calls}
    if not kernels:
        return mod
    packer = _Packer(kernels)
    for name, k in kernels.items():
        in_place = k.other_calls == 0 and "global_symbol" not in k.func.attrs
        k.new_name = name if in_place else _fresh(mod, name + PACK_SUFFIX)
        rewritten = without_prepacks(k.func, k.prepacks)
        mod = mod.with_function(k.new_name, rewritten if in_place else fresh_copy(rewritten))
    for name, func in graphs.items():
        mod = mod.with_function(name, _RewriteCalls(kernels, packer, _constants(func))
                                .visit(func))
    return eliminate_dead_code(mod)  # the unpacked weights' bindings, if now unused


def _fresh(mod: IRModule, name: str) -> str:
    n, base = 1, name
    while name in mod:
        name, n = f"{base}_{n}", n + 1
    return name


def _constants(func: G.Function) -> dict[G.GraphVar, G.Constant]:
    """Variables of ``func`` bound to constants (``lv = R.const(...)``), through chains."""
    bound: dict[G.GraphVar, G.Constant] = {}
    for block in func.body.blocks:
        for b in block.bindings:
            value = bound.get(b.value, b.value) if isinstance(b.value, G.GraphVar) else b.value
            if isinstance(value, G.Constant):
                bound[b.var] = value
    return bound


def _tir_call(call: Any, kernels: dict[str, _Kernel]) -> _Kernel | None:
    if not (isinstance(call, G.Call) and isinstance(call.op, G.Op)
            and call.op.name == "relax.call_tir" and isinstance(call.args[0], GlobalVar)
            and len(call.args) > 1 and isinstance(call.args[1], G.Tuple)):
        return None
    return kernels.get(call.args[0].name_hint)


def _weights(call: G.Call, kernel: _Kernel, constants: dict) -> list[G.Constant] | None:
    """The constants a call passes as the kernel's copied weights; None unless all are."""
    fields = call.args[1].fields
    found = []
    for p in kernel.prepacks:
        arg = fields[p.index] if p.index < len(fields) else None
        arg = constants.get(arg, arg) if isinstance(arg, G.GraphVar) else arg
        if not isinstance(arg, G.Constant) or arg.data.dtype != np.dtype(
                p.weight.dtype.numpy_name()) or arg.data.shape != _shape(p.weight):
            return None
        found.append(arg)
    return found


def _shape(buf: Buffer) -> tuple[int, ...]:
    return tuple(int(d.value) for d in buf.shape)


def _count_calls(func: G.Function, kernels: dict[str, _Kernel]) -> None:
    """Count the calls that pass constants, and every other use of each kernel (a call with
    a computed weight, or any reference but ``call_tir``'s)."""
    constants = _constants(func)

    def visit(node: Any) -> None:
        if isinstance(node, GlobalVar) and node.name_hint in kernels:
            kernels[node.name_hint].other_calls += 1
        kernel = _tir_call(node, kernels)
        if kernel is not None and _weights(node, kernel, constants) is not None:
            kernel.constant_calls += 1
            kernel.other_calls -= 1  # its GlobalVar, counted above

    post_order_visit(func, visit)


class _RewriteCalls(Mutator):
    """Calls that pass constants as copied weights: the rewritten kernel, packed constants."""

    def __init__(self, kernels: dict[str, _Kernel], packer: _Packer,
                 constants: dict[G.GraphVar, G.Constant]) -> None:
        self.kernels, self.packer, self.constants = kernels, packer, constants

    def visit_Call(self, call: G.Call) -> G.GraphExpr:
        call = self.generic_visit(call)
        kernel = _tir_call(call, self.kernels)
        weights = None if kernel is None else _weights(call, kernel, self.constants)
        if weights is None:
            return call
        fields = list(call.args[1].fields)
        for p, weight in zip(kernel.prepacks, weights):
            fields[p.index] = self.packer.packed(kernel, p, weight)
        args = (GlobalVar(kernel.new_name), G.Tuple(tuple(fields)), *call.args[2:])
        return call.with_(args=args)


# ----------------------------------------------------------------------------- running copies


class _Packer:
    """Runs the copies, each constant once: a small weight through the interpreter (no compile
    cost), the large ones compiled together, once, with LLVM."""

    def __init__(self, kernels: dict[str, _Kernel]) -> None:
        self.funcs = {(id(k), i): (f"{name}__pack{i}", pack_function(k.func, p))
                      for name, k in kernels.items() for i, p in enumerate(k.prepacks)}
        self.compiled: Any = None
        self.interpreted: dict[str, Any] = {}
        self.done: dict[tuple[str, int], tuple[G.Constant, G.Constant]] = {}

    def packed(self, kernel: _Kernel, prepack: Prepack, weight: G.Constant) -> G.Constant:
        name, func = self.funcs[(id(kernel), kernel.prepacks.index(prepack))]
        key = (name, id(weight))
        if key not in self.done:  # the weight is kept with its result so its id stays unique
            out = np.zeros(_shape(prepack.packed), prepack.packed.dtype.numpy_name())
            self._runner(name, func, weight.data.size)(np.ascontiguousarray(weight.data), out)
            self.done[key] = (weight, G.Constant(out))
        return self.done[key][1]

    def _runner(self, name: str, func: PrimFunc, size: int) -> Any:
        from backends.build import build

        if size <= INTERPRET_MAX_ELEMENTS:
            if name not in self.interpreted:
                self.interpreted[name] = build(func, "interpreter")["main"]
            return self.interpreted[name]
        if self.compiled is None:
            big = {n: f for n, f in self.funcs.values()
                   if math.prod(_shape(f.buffer_map[f.params[0]])) > INTERPRET_MAX_ELEMENTS}
            self.compiled = build(IRModule(big), "llvm")
        return self.compiled[name]


__all__ = ["INTERPRET_MAX_ELEMENTS", "PACK_SUFFIX", "Prepack", "find_prepacks", "fresh_copy",
           "pack_function", "rewrite_layouts", "without_prepacks"]
