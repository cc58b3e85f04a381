"""``fuse-tir``: each ``Primitive`` graph function (made by ``fuse-ops``) becomes one loop-level
function, and its callers call that kernel with ``R.call_tir`` (TVM's relax ``FuseTIR``).

Before::

    @R.function(private=True)
    def fused_exp_add(x: R.Tensor((8,), "float32"), y: R.Tensor((8,), "float32")):
        R.func_attr({"Primitive": True})
        with R.dataflow():
            e = R.call_tir(cls.exp, (x,), out_sinfo=R.Tensor((8,), "float32"))
            gv = R.call_tir(cls.add, (e, y), out_sinfo=R.Tensor((8,), "float32"))
            R.output(gv)
        return gv

    # main
        gv = cls.fused_exp_add(x, y)

After::

    @T.prim_func(private=True)
    def fused_exp_add(x: T.Buffer((8,), "float32"), y: T.Buffer((8,), "float32"),
                      gv: T.Buffer((8,), "float32")):
        T.func_attr({"tir.noalias": True})
        e = T.alloc_buffer((8,), "float32")
        for i in range(8):
            with T.block("exp"): ... e[vi] = T.exp(x[vi])
        for i in range(8):
            with T.block("add"): ... gv[vi] = e[vi] + y[vi]

    # main
        gv = R.call_tir(cls.fused_exp_add, (x, y), out_sinfo=R.Tensor((8,), "float32"))

The kernels' bodies are concatenated in binding order under one root block. Buffers are named
after the graph values they hold (parameters, then the outputs, then the intermediates, which
are allocated in the root block with each kernel's own allocations); every loop variable, block
iterator and allocation is a fresh copy (a kernel called twice is two independent loop nests),
and block names are made unique (``add``, ``add_1``). Each kernel's size variables take the
sizes of the buffers it is given. The fused kernel binds its own sizes from its parameters
(inputs and outputs) as ``fuse-ops`` wrote them (``SizeBinding``: ``r: (d0, 2)`` for a graph
value of shape ``(n * 2, 2)``), and the call keeps the caller's struct info for its output, so
``out_sinfo`` is written with the caller's variables (``n * 2``, not ``d0``).

Nothing is scheduled here, but every block stays what it was
(one store, its reads and writes), so a later schedule can ``compute_inline`` the producers and
``reverse_compute_inline`` the element-wise consumers; to that end a load ``A[0, v1]`` in a block
writing ``O[v0, v1]``, with ``v0`` of extent 1 over a unit dimension of ``A``, is written
``A[v0, v1]`` (the same element, indexed by the block's iterators as the inlining primitives
require). Kernels no longer called by any graph function are dropped when they are private.

``fuse(mod)`` runs ``annotate-op-pattern``, ``fuse-ops`` and ``fuse-tir``: the fusion step of a
build.
"""

from __future__ import annotations

from tvmscript.analysis import infer_block_access_regions
from tvmscript.ir import IRModule, PrimFunc, Var
from tvmscript.ir import graph as G
from tvmscript.ir import stmt as S
from tvmscript.ir.buffer import Buffer
from tvmscript.ir.dtype import HANDLE, DataType
from tvmscript.ir.expr import BufferLoad, Cast, IntImm, PrimExpr, const
from tvmscript.ir.function import GlobalVar
from tvmscript.ir.functor import Mutator, post_order_visit, substitute
from tvmscript.ir.rewrite import Renew, copy_buffer

from .fuse_ops import PRIMITIVE, SizeBinding, kernel_call_problem
from .infra import PassContext, Sequential, get_pass, module_pass
from .op_pattern import int_value


class FuseTIRError(ValueError):
    """A ``Primitive`` function that is not a sequence of kernel calls ``fuse-tir`` can merge."""


@module_pass("fuse-tir", opt_level=0)
def fuse_tir(mod: IRModule, ctx: PassContext) -> IRModule:
    """Replace every ``Primitive`` graph function by one kernel and call it with call_tir."""
    fused = {name: fuse_primitive(func, mod, name) for name, func in mod.functions.items()
             if isinstance(func, G.Function) and func.attrs.get(PRIMITIVE)}
    if not fused:
        return mod
    calls = _CallFused({name: mod[name] for name in fused})
    functions = {}
    for name, func in mod.functions.items():
        if name in fused:
            functions[name] = fused[name]
        elif isinstance(func, G.Function):
            functions[name] = calls.visit(func)
        else:
            functions[name] = func
    merged = {b.value.args[0].name_hint for name in fused
              for block in mod[name].body.blocks for b in block.bindings}
    return _drop_unused(mod.with_(functions=functions), merged)


def fuse(mod: IRModule) -> IRModule:
    """Fuse the kernels of ``mod``'s graph functions: annotate-op-pattern, fuse-ops, fuse-tir
    (under the current PassContext), what a build runs after legalize-ops."""
    passes = [get_pass("annotate-op-pattern"), get_pass("fuse-ops"), get_pass("fuse-tir")]
    return Sequential(passes, name="fuse")(mod)


def fuse_primitive(func: G.Function, mod: IRModule, name: str) -> PrimFunc:
    """The one kernel computing the ``Primitive`` graph function ``func``."""
    where = f"fuse-tir: Primitive function {name!r}"
    bindings = [b for block in func.body.blocks for b in block.bindings]
    result = func.body.body
    outputs = list(result.fields) if isinstance(result, G.Tuple) else [result]
    bound: set[G.GraphVar] = set()
    for b in bindings:
        problem = kernel_call_problem(b.value, mod)
        if problem is None and any(a not in func.params and a not in bound
                                   for a in b.value.args[1].fields):
            problem = "an argument is not a parameter or an earlier binding"
        if problem is not None:
            raise FuseTIRError(f"{where}: binding {b.var.name!r} cannot be merged: {problem}")
        bound.add(b.var)
    if not bindings or any(not isinstance(o, G.GraphVar) or o not in bound for o in outputs) \
            or len(set(outputs)) != len(outputs):
        raise FuseTIRError(f"{where}: it must return distinct values bound in its body "
                           f"(a variable or a tuple of them), got {result!r}")
    for var in [*func.params, *outputs]:
        if not isinstance(var.sinfo, G.TensorStructInfo) or var.sinfo.shape is None:
            raise FuseTIRError(f"{where}: {var.name!r} is not a tensor of known shape")
    builder = _Builder(name, where, SizeBinding([v.sinfo.shape for v in [*func.params,
                                                                          *outputs]]))
    for param in func.params:
        builder.param(param)
    for out in outputs:
        builder.output(out)
    for b in bindings:
        builder.kernel(mod[b.value.args[0].name_hint], list(b.value.args[1].fields), b.var)
    return builder.finish()


class _Builder:
    """Buffers for graph values and the merged loop nests of one fused kernel."""

    def __init__(self, name: str, where: str, sizes: SizeBinding) -> None:
        self.name, self.where = name, where
        self.sizes = sizes  # graph-level sizes -> the fused kernel's own size variables
        self.buffers: dict[G.GraphVar, Buffer] = {}
        self.handles: list[Var] = []
        self.buffer_map: dict[Var, Buffer] = {}
        self.allocs: list[Buffer] = []
        self.body: list[S.Stmt] = []
        self.buffer_names: set[str] = set()
        self.block_names: set[str] = set()

    def buffer(self, var: G.GraphVar) -> Buffer:
        sinfo = var.sinfo
        if not isinstance(sinfo, G.TensorStructInfo) or sinfo.shape is None:
            raise FuseTIRError(f"{self.where}: {var.name!r} is not a tensor of known shape")
        shape = self.sizes.shape(sinfo.shape)
        if shape is None:
            raise FuseTIRError(f"{self.where}: the shape {_show(sinfo.shape)} of {var.name!r} "
                               "cannot be written with the sizes of the parameters (inputs and "
                               "outputs), so the fused kernel could not bind it")
        name = _unique(var.name, self.buffer_names)
        buf = Buffer(name, sinfo.dtype, shape)
        self.buffers[var] = buf
        return buf

    def param(self, var: G.GraphVar) -> None:
        buf = self.buffer(var)
        handle = Var(buf.name, HANDLE)
        self.handles.append(handle)
        self.buffer_map[handle] = buf

    output = param

    def kernel(self, kernel: PrimFunc, args: list[G.GraphVar], out: G.GraphVar) -> None:
        if out not in self.buffers:
            self.allocs.append(self.buffer(out))
        vmap: dict = {}
        bmap: dict = {}
        for kbuf, value in zip(kernel.buffers, [*args, out]):
            buf = self.buffers[value]
            if kbuf.dtype != buf.dtype or len(kbuf.shape) != len(buf.shape):
                raise FuseTIRError(f"{self.where}: kernel {kernel.name!r} takes {kbuf.name} as "
                                   f"{kbuf.dtype} of rank {len(kbuf.shape)}, but "
                                   f"{value.name!r} is {buf.dtype} of rank {len(buf.shape)}")
            bmap[kbuf] = buf
            for kdim, dim in zip(kbuf.shape, buf.shape):
                if isinstance(kdim, Var) and kdim not in vmap:
                    vmap[kdim] = _as_dtype(dim, kdim.dtype)
        copier = _Import(vmap, bmap, self.buffer_names, self.block_names)
        root = kernel.root_block
        self.allocs.extend(copier.fresh(b) for b in root.alloc_buffers)
        self.body.append(copier.visit(root.body))

    def finish(self) -> PrimFunc:
        body = _AlignUnitDims().visit(S.seq(*self.body))
        root = S.Block("root", alloc_buffers=tuple(self.allocs), body=body)
        realize = S.BlockRealize((), const(True), root)
        return PrimFunc(tuple(self.handles), self.buffer_map, realize, {"tir.noalias": True},
                        self.name)


class _Import(Renew):
    """A fresh copy of a kernel's body: its parameters replaced by the fused kernel's buffers,
    every definition new, buffer and block names unique in the fused kernel."""

    def __init__(self, vmap: dict, bmap: dict, buffer_names: set[str],
                 block_names: set[str]) -> None:
        super().__init__(vmap, bmap, fold=False)
        self.buffer_names = buffer_names
        self.block_names = block_names

    def fresh(self, buf: Buffer) -> Buffer:
        """A new buffer for one the kernel defines (allocated or matched)."""
        if isinstance(buf.elem_offset, Var):
            self.vmap[buf.elem_offset] = Var(buf.elem_offset.name, buf.elem_offset.dtype)
        new = copy_buffer(buf, name=_unique(buf.name, self.buffer_names), data=None,
                          shape=self.visit(buf.shape), strides=self.visit(buf.strides),
                          elem_offset=self.visit(buf.elem_offset))
        self.bmap[buf] = new
        return new

    def visit_Block(self, block: S.Block) -> S.Block:
        for iv in block.iter_vars:
            self.vmap[iv.var] = Var(iv.var.name, iv.var.dtype)
        for buf in block.alloc_buffers:
            self.fresh(buf)
        for match in block.match_buffers:
            self.fresh(match.buffer)
        new = self.generic_visit(block)
        return new.with_(name_hint=_unique(block.name_hint, self.block_names))


class _AlignUnitDims(Mutator):
    """``A[0, v1]`` -> ``A[v0, v1]`` in a non-reduction block writing ``O[v0, v1]`` where ``v0``
    has extent 1 and ``A``'s first dimension is 1 (see the module docstring)."""

    def visit_Block(self, block: S.Block) -> S.Block:
        block = self.generic_visit(block)
        store = block.body
        if not isinstance(store, S.BufferStore) or block.init is not None \
                or not all(isinstance(i, Var) for i in store.indices):
            return block
        unit = {iv.var for iv in block.iter_vars if int_value(iv.dom.extent) == 1}
        if not unit or not unit & set(store.indices):
            return block
        value = _Realign(store.indices, unit).visit(store.value)
        if value is store.value:
            return block
        new = block.with_(body=store.with_(value=value))
        reads, _ = infer_block_access_regions(new)
        return new.with_(reads=reads)


class _Realign(Mutator):
    def __init__(self, indices: tuple, unit: set[Var]) -> None:
        self.indices, self.unit = indices, unit

    def visit_BufferLoad(self, load: BufferLoad) -> BufferLoad:
        load = self.generic_visit(load)
        if len(load.indices) != len(self.indices):
            return load
        new = tuple(
            own if own in self.unit and int_value(index) == 0 and int_value(dim) == 1 else index
            for index, own, dim in zip(load.indices, self.indices, load.buffer.shape))
        return load.with_(indices=new) if any(a is not b for a, b in zip(new, load.indices)) \
            else load


class _CallFused(Mutator):
    """``gv = cls.fused(x, y)`` -> ``gv = R.call_tir(cls.fused, (x, y), out_sinfo=...)`` with
    the output struct info of ``gv`` in the caller, so its sizes are the caller's variables
    (the fused function's own, ``d0`` for ``n * 2``, mean nothing there)."""

    def __init__(self, functions: dict[str, G.Function]) -> None:
        self.functions = functions

    def visit_VarBinding(self, binding: G.VarBinding) -> G.VarBinding:
        value = binding.value
        if self._fused(value) and isinstance(binding.var.sinfo, G.TensorStructInfo) \
                and binding.var.sinfo.shape is not None:
            args = self.visit(value.args)
            call = G.call_tir(value.op, args, binding.var.sinfo).with_span(value.span)
            return binding.with_(value=call)
        return self.generic_visit(binding)

    def visit_Call(self, call: G.Call) -> G.GraphExpr:
        """A call elsewhere than as a binding's value: the output's sizes are bound from the
        arguments' shapes where the fused function's parameters have them whole."""
        call = self.generic_visit(call)
        if not self._fused(call):
            return call
        func = self.functions[call.op.name_hint]
        sizes: dict = {}
        for param, arg in zip(func.params, call.args):
            shape = getattr(arg.struct_info, "shape", None) or ()
            for pdim, adim in zip(param.sinfo.shape or (), shape):
                if isinstance(pdim, Var):
                    sizes.setdefault(pdim, adim)
        ret = substitute(func.ret_struct_info, sizes)
        outs = ret.fields if isinstance(ret, G.TupleStructInfo) else ret
        return G.call_tir(call.op, call.args, outs).with_span(call.span)

    def _fused(self, value: G.GraphExpr) -> bool:
        return isinstance(value, G.Call) and isinstance(value.op, GlobalVar) \
            and value.op.name_hint in self.functions


def _drop_unused(mod: IRModule, candidates: set[str]) -> IRModule:
    """``mod`` without the private kernels among ``candidates`` that nothing calls any more."""
    used: set[str] = set()
    for func in mod.functions.values():
        if isinstance(func, G.Function):
            post_order_visit(func, lambda n: used.add(n.name_hint)
                             if isinstance(n, GlobalVar) else None)
    drop = {n for n in candidates if n not in used and n in mod.functions
            and isinstance(mod[n], PrimFunc) and "global_symbol" not in mod[n].attrs}
    if not drop:
        return mod
    return mod.with_(functions={k: f for k, f in mod.functions.items() if k not in drop})


def _as_dtype(expr: PrimExpr, dtype: DataType) -> PrimExpr:
    """``expr`` as a value of ``dtype`` (a kernel's int32 size given an int64 shape)."""
    if expr.dtype == dtype:
        return expr
    return IntImm(dtype, expr.value) if isinstance(expr, IntImm) else Cast(dtype, expr)


def _unique(name: str, taken: set[str]) -> str:
    new, n = name, 1
    while new in taken:
        new, n = f"{name}_{n}", n + 1
    taken.add(new)
    return new


def _show(shape: tuple[PrimExpr, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


__all__ = ["FuseTIRError", "fuse", "fuse_primitive", "fuse_tir"]
