"""``fold-batch-norm``: an inference batch norm, or a per-channel scale and shift, after a
convolution with constant weights becomes part of the weights and a bias.

Before::

    lv = R.nn.conv2d(x, W)
    bn = R.nn.batch_norm(lv, gamma, beta, mean, var, axis=1, training=False)
    gv = bn[0]

After::

    lv = R.nn.conv2d(x, W * s)               # s = gamma / sqrt(var + epsilon), per channel
    gv = R.add(lv, beta - mean * s)          # the bias, shaped (1, O, 1, 1)

``W``, ``gamma``, ``beta``, ``mean`` and ``var`` are constants: ``R.const``, variables bound to
one, or calls that ``fold-constant`` folds (``R.reshape(b, ...)``, ``R.permute_dims(W)``), which
are folded here too. The same folding takes any chain of ``R.multiply``, ``R.add`` and
``R.subtract`` (``a - c``) by per-channel constants (shapes that broadcast along the output
channels only, as an exported or already folded batch norm looks) and of ``bn[0]`` over a
``R.nn.conv2d`` (NCHW, OIHW, ``groups=1``); what comes out is always ``R.nn.conv2d(x, W')`` followed by at most one
``R.add`` of a ``(1, O, 1, 1)`` bias. A chain that is that already is left alone.

Only a batch norm with ``training=False`` folds (with ``training=True`` TVM normalizes by the
batch's own statistics), and only when nothing but ``bn[0]`` reads its tuple: run
``dead-code-elimination`` first to drop unused ``bn[1]``/``bn[2]``. Every value inside the chain
must have no other use (folding would compute the convolution twice); the bindings the chain
absorbed go. Arithmetic is done in float64 and rounded once to the weights' dtype.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from tvmscript.ir import IRModule
from tvmscript.ir import graph as G
from tvmscript.ir.functor import post_order_visit

from .fold_constant import fold_call
from .infra import PassContext, module_pass


@module_pass("fold-batch-norm", opt_level=1)
def fold_batch_norm(mod: IRModule, ctx: PassContext) -> IRModule:
    """Fold batch norms and per-channel affine chains into the convolutions before them."""
    changed = {}
    for name, func in mod.functions.items():
        if isinstance(func, G.Function):
            new = fold_function(func)
            if new is not func:
                changed[name] = new
    return mod.with_(functions={**mod.functions, **changed}) if changed else mod


@dataclass
class Chain:
    """``conv2d(data, weight) * scale + bias`` per output channel; ``absorbed`` are the
    variables whose bindings the chain reads through (they go when it is rewritten)."""

    conv: G.Call
    weight: np.ndarray
    scale: np.ndarray
    bias: np.ndarray | None = None
    ops: tuple[str, ...] = ()
    absorbed: tuple[G.GraphVar, ...] = field(default_factory=tuple)
    conv_name: str = "lv"  # the name of the convolution's variable, when it had one

    @property
    def channels(self) -> int:
        return self.weight.shape[0]

    def canonical(self) -> bool:
        """Already ``conv2d`` or ``add(conv2d, bias)``: nothing to gain."""
        return self.ops in ((), ("add",))

    def shifted(self, shift: np.ndarray) -> Chain:
        bias = shift if self.bias is None else self.bias + shift
        return replace(self, bias=bias)

    def scaled(self, factor: np.ndarray) -> Chain:
        bias = None if self.bias is None else self.bias * factor
        return replace(self, scale=self.scale * factor, bias=bias)


def fold_function(func: G.Function) -> G.Function:
    """``func`` with its foldable chains folded; the very same object when it has none."""
    return _FunctionFolder(func).run()


class _FunctionFolder:
    def __init__(self, func: G.Function) -> None:
        self.func = func
        self.values: dict[G.GraphVar, G.GraphExpr] = {}
        self.block_of: dict[G.GraphVar, int] = {}
        self.bound: dict[G.GraphVar, G.Constant] = {}
        self.uses: Counter = Counter()
        self.removed: set[G.GraphVar] = set()
        self.before: dict[G.GraphVar, G.VarBinding] = {}  # a new binding to put before one
        self.changed = False
        for index, block in enumerate(func.body.blocks):
            for b in block.bindings:
                self.values[b.var], self.block_of[b.var] = b.value, index
                value = self._constant(b.value)
                if value is not None:
                    self.bound[b.var] = value
                self._count(b.value)
        self._count(func.body.body)

    def _constant(self, expr: G.GraphExpr) -> G.Constant | None:
        """``expr`` as a constant, folding calls of constants (``R.reshape(bias, ...)``) as
        ``fold-constant`` would, so the weights need not be folded first."""
        if isinstance(expr, G.Constant):
            return expr
        if isinstance(expr, G.GraphVar):
            return self.bound.get(expr)
        return fold_call(expr, self.bound) if isinstance(expr, G.Call) else None

    def _count(self, expr: G.GraphExpr) -> None:
        post_order_visit(expr, lambda n: self.uses.update([n]) if isinstance(n, G.GraphVar)
                         else None)

    def run(self) -> G.Function:
        for index, block in enumerate(self.func.body.blocks):
            for b in block.bindings:
                self._fold_binding(b, index, block)
        if not self.changed:
            return self.func
        blocks = [blk.with_(bindings=tuple(self._rebuilt(blk))) for blk in self.func.body.blocks]
        blocks = [blk for blk in blocks if blk.bindings]
        return self.func.with_(body=self.func.body.with_(blocks=tuple(blocks)))

    def _rebuilt(self, block: G.BindingBlock) -> list[G.VarBinding]:
        out = []
        for b in block.bindings:
            if b.var in self.removed:
                continue
            new = self.before.get(b.var)
            if new is not None and new.var not in self.removed:
                out.append(new)
            out.append(b.with_(value=self.values[b.var]))
        return out

    def _fold_binding(self, binding: G.VarBinding, index: int, block: G.BindingBlock) -> None:
        chain = self.match(self.values[binding.var])
        if chain is None or chain.canonical() or not self._visible(chain.conv.args[0], index):
            return
        weight = chain.weight.astype("float64") * chain.scale[:, None, None, None]
        dtype = chain.weight.dtype
        conv = chain.conv.with_(args=(chain.conv.args[0], G.Constant(weight.astype(dtype))))
        if chain.bias is None:
            value: G.GraphExpr = conv
        else:  # the convolution gets a binding of its own, just before the chain's end
            var_cls = G.DataflowVar if isinstance(block, G.DataflowBlock) else G.GraphVar
            conv_var = var_cls(chain.conv_name, conv.struct_info)
            self.before[binding.var] = G.VarBinding(conv_var, conv).with_span(binding.span)
            self.values[conv_var], self.block_of[conv_var] = conv, index
            self.uses[conv_var] = 1
            bias = chain.bias.reshape(1, chain.channels, 1, 1).astype(dtype)
            value = G.Call(G.Op("relax.add"), (conv_var, G.Constant(bias)))
        self.values[binding.var] = value
        self.removed.update(chain.absorbed)
        self.changed = True

    # ------------------------------------------------------------ matching

    def resolve(self, expr: G.GraphExpr) -> tuple[G.GraphExpr, G.GraphVar | None]:
        """What a single-use bound variable stands for (the chain may read through it)."""
        if isinstance(expr, G.GraphVar) and expr in self.values and self.uses[expr] == 1 \
                and expr not in self.removed:
            return self.values[expr], expr
        return expr, None

    def match(self, expr: G.GraphExpr) -> Chain | None:
        """The chain ending in ``expr`` (None when ``expr`` is not one)."""
        if isinstance(expr, G.TupleGetItem):
            return self._batch_norm(expr)
        if not isinstance(expr, G.Call) or not isinstance(expr.op, G.Op):
            return None
        name = expr.op.name
        if name == "relax.nn.conv2d":
            return self._conv2d(expr)
        if name in ("relax.multiply", "relax.add", "relax.subtract"):
            return self._affine(expr, name[len("relax."):])
        return None

    def _inner(self, expr: G.GraphExpr) -> Chain | None:
        """The chain that an operand is: a nested call, or a variable used only here."""
        value, var = self.resolve(expr)
        if isinstance(value, G.GraphVar):
            return None  # a parameter, or a value something else reads too
        chain = self.match(value)
        if chain is None or var is None:
            return chain
        name = var.name if not chain.ops else chain.conv_name
        return replace(chain, absorbed=chain.absorbed + (var,), conv_name=name)

    def _conv2d(self, call: G.Call) -> Chain | None:
        weight = self._array(call.args[1])
        sinfo = call.struct_info
        if not isinstance(weight, np.ndarray) or weight.ndim != 4 or weight.dtype.kind != "f" \
                or not isinstance(sinfo, G.TensorStructInfo) or sinfo.ndim != 4 \
                or str(sinfo.dtype) != str(weight.dtype) or call.attrs.get("groups", 1) != 1 \
                or call.attrs.get("kernel_layout", "OIHW") != "OIHW" \
                or call.attrs.get("out_layout", "NCHW") != "NCHW":
            return None
        return Chain(call, weight, np.ones(weight.shape[0]))

    def _affine(self, call: G.Call, op: str) -> Chain | None:
        a, b = call.args
        for tensor, const in ((a, b), (b, a)) if op != "subtract" else ((a, b),):
            chain = self._inner(tensor)
            if chain is None:
                continue
            vector = self._per_channel(const, chain)
            if vector is None:
                return None
            chain = replace(chain, ops=chain.ops + (op,))
            if op == "multiply":
                return chain.scaled(vector)
            return chain.shifted(vector if op == "add" else -vector)
        return None

    def _per_channel(self, expr: G.GraphExpr, chain: Chain) -> np.ndarray | None:
        """A constant that varies along the output channels only, as a float64 vector."""
        value = self._array(expr)
        if not isinstance(value, np.ndarray) or value.ndim > 4 or value.dtype != chain.weight.dtype:
            return None
        shape = (1,) * (4 - value.ndim) + value.shape
        if shape[0] != 1 or shape[2:] != (1, 1) or shape[1] not in (1, chain.channels):
            return None
        return np.broadcast_to(value.reshape(shape[1]).astype("float64"), (chain.channels,))

    def _batch_norm(self, item: G.TupleGetItem) -> Chain | None:
        if item.index != 0:
            return None
        call, var = self.resolve(item.tuple_value)
        if var is None or not isinstance(call, G.Call) or not isinstance(call.op, G.Op) \
                or call.op.name != "relax.nn.batch_norm" or len(call.args) != 5:
            return None
        attrs = call.attrs
        if attrs.get("training", True) or attrs.get("axis") not in (1, -3):
            return None
        chain = self._inner(call.args[0])
        if chain is None:
            return None
        params = [self._array(a) for a in call.args[1:]]
        if not all(isinstance(p, np.ndarray) and p.shape == (chain.channels,)
                   and p.dtype.kind == "f" for p in params):
            return None
        gamma, beta, mean, var_ = (p.astype("float64") for p in params)
        if not attrs.get("scale", True):
            gamma = np.ones_like(gamma)
        if not attrs.get("center", True):
            beta = np.zeros_like(beta)
        factor = gamma / np.sqrt(var_ + float(attrs.get("epsilon", 1e-5)))
        chain = chain.shifted(-mean).scaled(factor).shifted(beta)
        return replace(chain, ops=chain.ops + ("batch_norm",), absorbed=chain.absorbed + (var,))

    def _array(self, expr: G.GraphExpr) -> np.ndarray | None:
        found = self._constant(expr)
        return None if found is None else found.data

    def _visible(self, data: G.GraphExpr, index: int) -> bool:
        """Whether the convolution's input can be read in block ``index`` (where the folded
        chain ends): a dataflow variable only inside its own block."""
        found: list[G.GraphVar] = []
        post_order_visit(data, lambda n: found.append(n) if isinstance(n, G.DataflowVar)
                         else None)
        return all(self.block_of.get(v, index) == index for v in found)


__all__ = ["Chain", "fold_batch_norm", "fold_function"]
