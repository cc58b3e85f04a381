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

import math
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


def _binary(op_name: str, combine: Callable[[PrimExpr, PrimExpr], PrimExpr]) -> None:
    @register_legalization(op_name)
    def legalize(call, args, out):
        kb = KernelBuilder(op_name)
        a = kb.input("A", args[0].shape, args[0].dtype)
        b = kb.input("B", args[1].shape, args[1].dtype)
        c = kb.output("C", out.shape, out.dtype)
        rank = len(out.shape)
        kb.compute(op_name, c, lambda *ivs: combine(a.vload(_broadcast_index(a.shape, list(ivs), rank)),
                                                    b.vload(_broadcast_index(b.shape, list(ivs), rank))))
        return kb.finish()


def _call(name: str, x: PrimExpr) -> PrimExpr:
    return E.Call(x.dtype, name, (x,))


_binary("add", lambda a, b: a + b)
_binary("subtract", lambda a, b: a - b)
_binary("multiply", lambda a, b: a * b)
_binary("divide", lambda a, b: a / b if a.dtype.is_float else E.FloorDiv(a, b))
_binary("maximum", E.Max)
_binary("minimum", E.Min)
_binary("power", lambda a, b: E.Call(a.dtype, "tir.pow", (a, b)))


def _unary(op_name: str, fn: Callable[[PrimExpr], PrimExpr]) -> None:
    @register_legalization(op_name)
    def legalize(call, args, out):
        kb = KernelBuilder(op_name.replace(".", "_"))
        a = kb.input("A", args[0].shape, args[0].dtype)
        b = kb.output("B", out.shape, out.dtype)
        kb.compute(op_name.split(".")[-1], b, lambda *ivs: fn(a.vload(ivs)))
        return kb.finish()


def _lowest(dt) -> PrimExpr:
    """The smallest finite value of a float dtype (the identity of max)."""
    import numpy as np

    return const(float(np.finfo(dt.numpy_name()).min), dt)


def _zero(x: PrimExpr) -> PrimExpr:
    return const(0, x.dtype)


_unary("exp", lambda x: _call("tir.exp", x))
_unary("log", lambda x: _call("tir.log", x))
_unary("sqrt", lambda x: _call("tir.sqrt", x))
_unary("tanh", lambda x: _call("tir.tanh", x))
_unary("sigmoid", lambda x: _call("tir.sigmoid", x))
_unary("negative", lambda x: _zero(x) - x)
_unary("abs", lambda x: E.Max(x, _zero(x) - x))
_unary("nn.relu", lambda x: E.Max(x, _zero(x)))
_unary("nn.silu", lambda x: x * _call("tir.sigmoid", x))
_unary("nn.gelu", lambda x: const(0.5, x.dtype) * x * (
    const(1, x.dtype) + _call("tir.erf", x * const(1 / math.sqrt(2), x.dtype))))


# ---------------------------------------------------------------- shape operators


@register_legalization("permute_dims")
def _permute_dims(call, args, out):
    rank = len(args[0].shape)
    axes = call.attrs.get("axes")
    axes = list(range(rank))[::-1] if axes is None else list(axes)
    kb = KernelBuilder("transpose")
    a = kb.input("A", args[0].shape, args[0].dtype)
    b = kb.output("B", out.shape, out.dtype)

    def value(*ivs):
        index = [None] * rank
        for out_dim, in_dim in enumerate(axes):
            index[in_dim] = ivs[out_dim]
        return a.vload(index)

    kb.compute("transpose", b, value)
    return kb.finish()


@register_legalization("reshape")
def _reshape(call, args, out):
    kb = KernelBuilder("reshape")
    a = kb.input("A", args[0].shape, args[0].dtype)
    b = kb.output("B", out.shape, out.dtype)

    def value(*ivs):
        flat: PrimExpr = const(0, ivs[0].dtype) if ivs else const(0, "int64")
        for iv, d in zip(ivs, b.shape):
            flat = flat * d + iv
        index = []
        for d in reversed(a.shape):
            index.append(E.FloorMod(flat, d))
            flat = E.FloorDiv(flat, d)
        return a.vload(index[::-1])

    kb.compute("reshape", b, value)
    return kb.finish()


# ---------------------------------------------------------------- reductions


@register_legalization("sum")
def _sum(call, args, out):
    shape = args[0].shape
    rank = len(shape)
    axis = call.attrs.get("axis")
    axes = list(range(rank)) if axis is None else sorted(
        x % rank for x in ((axis,) if isinstance(axis, int) else axis))
    keep = bool(call.attrs.get("keepdims", False))
    kb = KernelBuilder("sum")
    a = kb.input("A", shape, args[0].dtype)
    b = kb.output("B", out.shape, out.dtype)
    reduce_extents = [shape[d] for d in axes]
    n_out = len(out.shape)

    def value(*ivs):
        spatial, reduce = list(ivs[:n_out]), list(ivs[n_out:])
        index, si = [], 0
        for d in range(rank):
            if d in axes:
                index.append(reduce.pop(0))
                si += keep
            else:
                index.append(spatial[si])
                si += 1
        return a.vload(index)

    kb.reduce("sum", b, reduce_extents, lambda acc, v: acc + v, 0, value)
    return kb.finish()


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


@register_legalization("nn.softmax")
def _softmax(call, args, out):
    shape = list(args[0].shape)
    rank = len(shape)
    axis = call.attrs.get("axis", -1) % rank
    dt = args[0].dtype
    kb = KernelBuilder("softmax")
    x = kb.input("X", shape, dt)
    y = kb.output("Y", shape, dt)
    reduced = shape[:axis] + shape[axis + 1:]
    mx = kb.alloc("max", reduced, dt)
    ex = kb.alloc("exp", shape, dt)
    sm = kb.alloc("sum", reduced, dt)

    def full(spatial, r):
        return spatial[:axis] + [r] + spatial[axis:]

    def drop(ivs):
        return list(ivs[:axis]) + list(ivs[axis + 1:])

    kb.reduce("max", mx, [shape[axis]], E.Max, _lowest(dt),
              lambda *ivs: x.vload(full(list(ivs[:-1]), ivs[-1])))
    kb.compute("exp", ex, lambda *ivs: _call("tir.exp", x.vload(ivs) - mx.vload(drop(ivs))))
    kb.reduce("sum", sm, [shape[axis]], lambda acc, v: acc + v, 0,
              lambda *ivs: ex.vload(full(list(ivs[:-1]), ivs[-1])))
    kb.compute("norm", y, lambda *ivs: ex.vload(ivs) / sm.vload(drop(ivs)))
    return kb.finish()


@register_legalization("nn.conv2d")
def _conv2d(call, args, out):
    xs, ws = list(args[0].shape), list(args[1].shape)
    dt = args[0].dtype
    sh, sw = call.attrs.get("strides", (1, 1))
    pad = tuple(call.attrs.get("padding", (0, 0)))
    ph0, pw0, ph1, pw1 = pad * 2 if len(pad) == 2 else pad
    dh, dw = call.attrs.get("dilation", (1, 1))
    kb = KernelBuilder("conv2d")
    x = kb.input("X", xs, dt)
    w = kb.input("W", ws, dt)
    y = kb.output("Y", out.shape, dt)
    n, c, h, wd = x.shape
    padded = kb.alloc("Xpad", (n, c, h + (ph0 + ph1), wd + (pw0 + pw1)), dt)

    def pad_value(i, j, r, s):
        inside = E.And(E.And(r >= ph0, r < h + ph0), E.And(s >= pw0, s < wd + pw0))
        return E.Call(dt, "tir.if_then_else", (inside, x.vload((i, j, r - ph0, s - pw0)), const(0, dt)))

    kb.compute("pad", padded, pad_value)
    kb.reduce("conv2d", y, [ws[1], ws[2], ws[3]], lambda acc, v: acc + v, 0,
              lambda b, k, p, q, rc, rr, rs: padded.vload((b, rc, p * sh + rr * dh, q * sw + rs * dw))
              * w.vload((k, rc, rr, rs)))
    return kb.finish()


# the operator library's kernels, by family (each module registers its legalizations)
from .legalize import math_ops, nn_ops, shape_ops  # noqa: E402,F401
