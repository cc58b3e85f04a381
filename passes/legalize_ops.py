"""``legalize-ops``: graph-level operators become ``call_tir`` of generated loop-level kernels.

Before::

    lv = R.add(x, y)

After::

    lv = R.call_tir(cls.add, (x, y), out_sinfo=R.Tensor((16, 32), dtype="float32"))

with ``add`` a new ``@T.prim_func`` of the module (blocks over the output, broadcasting as numpy
does). Each operator's kernel comes from ``register_legalization``; identical kernels are shared.
After this pass a graph function calls only ``call_tir`` and other graph functions, which is what
the executor runs. Symbolic sizes become the kernel's own size variables. Being the first step of
building graph functions, it refuses (``WellFormedError``) a ``call_tir`` that does not fit its
callee (``tvmscript/ir/verify_graph.py``), so ``build`` names the script line.
"""

from __future__ import annotations

from typing import Callable

from tvmscript.ir import IRModule, PrimFunc
from tvmscript.ir import expr as E
from tvmscript.ir import graph as G
from tvmscript.ir.expr import PrimExpr, const
from tvmscript.ir.function import GlobalVar
from tvmscript.ir.functor import Mutator
from tvmscript.ir.structural import structural_equal, structural_hash
from tvmscript.ir.verify import WellFormedError
from tvmscript.ir.verify_graph import check_graph_calls
from tvmscript.kernel_builder import KernelBuilder

from .infra import PassContext, module_pass

# fn(call, argument struct infos, output struct info) -> kernel. A tuple argument or output
# (TupleStructInfo) is passed to the kernel as its fields in order: the kernel's parameters are
# every input tensor, then every output tensor.
Legalizer = Callable[[G.Call, list[G.StructInfo], G.StructInfo], PrimFunc]
_LEGALIZERS: dict[str, Legalizer] = {}


class LegalizeError(NotImplementedError):
    """An operator has no kernel (or its shapes are not known well enough to build one)."""


def register_legalization(op_name: str) -> Callable[[Legalizer], Legalizer]:
    """Register the kernel generator of ``relax.<op>`` (``fn(call, arg_sinfos, out_sinfo)``)."""

    def wrap(fn: Legalizer) -> Legalizer:
        name = op_name if op_name.startswith("relax.") else "relax." + op_name
        if name in _LEGALIZERS:
            raise ValueError(f"operator {name!r} already has a legalization")
        _LEGALIZERS[name] = fn
        return fn

    return wrap


@module_pass("legalize-ops", opt_level=0, required=True)
def legalize_ops(mod: IRModule, ctx: PassContext) -> IRModule:
    """Replace every registered operator call in graph functions by ``call_tir``."""
    problems = check_graph_calls(mod)
    if problems:  # refused before kernels are added: the lines are those of the user's module
        raise WellFormedError(problems)
    kernels = _KernelTable(mod)
    rewritten = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function):
            new = _Rewriter(kernels).visit(func)
            if new is not func:
                rewritten[name] = new
    if not rewritten:
        return mod
    return mod.with_(functions={**mod.functions, **rewritten, **kernels.added})


class _KernelTable:
    """New kernels by name; structurally identical kernels are generated once."""

    def __init__(self, mod: IRModule) -> None:
        self.taken = set(mod.functions)
        self.added: dict[str, PrimFunc] = {}
        self.by_hash: dict[int, list[tuple[PrimFunc, str]]] = {}

    def add(self, func: PrimFunc) -> str:
        from .legalize.size_vars import bind_compound_sizes

        func = bind_compound_sizes(func)
        h = structural_hash(func)
        for other, name in self.by_hash.get(h, []):
            if structural_equal(func, other):
                return name
        name, n = func.name, 1
        while name in self.taken:
            name, n = f"{func.name}{n}", n + 1
        self.taken.add(name)
        func = func.with_(name=name)
        self.added[name] = func
        self.by_hash.setdefault(h, []).append((func, name))
        return name


class _Rewriter(Mutator):
    def __init__(self, kernels: _KernelTable) -> None:
        self.kernels = kernels

    def visit_Call(self, call: G.Call) -> G.GraphExpr:
        call = self.generic_visit(call)
        if not isinstance(call.op, G.Op) or call.op.name == "relax.call_tir":
            return call
        fn = _LEGALIZERS.get(call.op.name)
        if fn is None:
            raise LegalizeError(f"R.{call.op.name[6:]} has no kernel yet (no legalization registered)")
        out = call.struct_info
        args = [a.struct_info for a in call.args]
        for sinfo in (out, *args):
            for tensor in _tensors_of(sinfo):
                if not isinstance(tensor, G.TensorStructInfo) or tensor.shape is None \
                        or tensor.dtype.is_void:
                    raise LegalizeError(f"R.{call.op.name[6:]} needs tensors of known rank, "
                                        f"shape and dtype to build a kernel, got "
                                        f"{sinfo.script()}")
        name = self.kernels.add(fn(call, args, out))
        inputs = [field for arg in call.args for field in _fields_of(arg)]
        outs = out.fields if isinstance(out, G.TupleStructInfo) else out
        return G.call_tir(GlobalVar(name), inputs, outs)


def _tensors_of(sinfo: G.StructInfo) -> list[G.StructInfo]:
    """A tuple's fields (flattened), or the struct info itself."""
    if isinstance(sinfo, G.TupleStructInfo):
        return [t for f in sinfo.fields for t in _tensors_of(f)]
    return [sinfo]


def _fields_of(arg: G.GraphExpr) -> list[G.GraphExpr]:
    """The tensors a (possibly tuple-valued) argument hands a kernel, in order: a tuple argument
    (``R.concat((a, b))``) passes each field, so kernels take only tensors."""
    if isinstance(arg, G.Tuple):
        return [t for f in arg.fields for t in _fields_of(f)]
    sinfo = arg.struct_info
    if isinstance(sinfo, G.TupleStructInfo):
        return [t for i in range(len(sinfo.fields))
                for t in _fields_of(G.TupleGetItem(arg, i))]
    return [arg]


# ---------------------------------------------------------------- element-wise kernels


def _broadcast_index(shape, ivs: list[E.Var], out_rank: int) -> tuple[PrimExpr, ...]:
    offset = out_rank - len(shape)
    return tuple(
        const(0, iv.dtype) if isinstance(d, E.IntImm) and d.value == 1 else iv
        for d, iv in zip(shape, ivs[offset:])
    )


# the element-wise kernels (and reductions, softmax, normalizations): legalize/math_ops.py


# ---------------------------------------------------------------- shape operators


# permute_dims, reshape and the other shape operators: legalize/shape_ops.py


# ---------------------------------------------------------------- reductions


@register_legalization("matmul")
def _matmul(call, args, out):
    sa, sb = list(args[0].shape), list(args[1].shape)
    kb = KernelBuilder("matmul")
    a = kb.input("A", sa, args[0].dtype)
    b = kb.input("B", sb, args[1].dtype)
    c = kb.output("C", out.shape, out.dtype)
    k_extent = sa[-1]
    n_out = len(out.shape)

    a_vec, b_vec = len(sa) == 1, len(sb) == 1
    if a_vec and b_vec:
        raise LegalizeError("R.matmul of two vectors (a scalar result) has no kernel yet")
    n_batch = n_out - (not a_vec) - (not b_vec)

    def value(*ivs):
        spatial, k = list(ivs[:n_out]), ivs[n_out]
        batch = spatial[:n_batch]
        a_index = [k] if a_vec else [*_broadcast_index(sa[:-2], batch, n_batch), spatial[n_batch], k]
        b_index = [k] if b_vec else [*_broadcast_index(sb[:-2], batch, n_batch), k, spatial[-1]]
        return a.vload(a_index) * b.vload(b_index)

    kb.reduce("matmul", c, [k_extent], lambda acc, v: acc + v, 0, value)
    return kb.finish()


# nn.conv2d and the other convolutions, pools and resize: legalize/nn_ops.py


# the operator library's kernels, by family (each module registers its legalizations)
from .legalize import math_ops, nn_ops, shape_ops  # noqa: E402,F401
