"""Legalizations (kernels written with ``tvmscript.te``) of the nn operators.

These become whole-model kernels that a schedule then tiles, so their shape is chosen for it:

- a convolution is one reduction block: the output's iterators in the output layout's order
  (``n, k, p, q`` for NCHW), then the reductions in the weight layout's order (``c, r, s`` for
  OIHW, ``r, s, c`` for HWIO). It reads a padded copy of the data made by a block of its own
  (``pad``), which ``compute_inline`` or ``compute_at`` can fold into it; without padding it
  reads the data itself. A grouped convolution reduces over its group's channels only, and a
  depthwise one (one channel per group) over its window only.
- a transposed convolution is the same reduction over a copy of the data spread out by the
  strides and padded (``dilate_pad``), with the kernel flipped.
- a pool is one reduction block whose window bounds are checked where it reads (padding and
  ``ceil_mode`` windows); an average divides in a second, element-wise block.
- a resize is one element-wise block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tvmscript import te
from tvmscript.ir import expr as E
from tvmscript.ir import graph as G
from tvmscript.ir.dtype import DataType
from tvmscript.ir.dtype import dtype as as_dtype
from tvmscript.ir.expr import PrimExpr, Var
from tvmscript.ir.function import PrimFunc
from tvmscript.ir.graph_ops_nn import SPATIAL, conv_params, pool_params, resize_params

from ..legalize_ops import register_legalization
from .sizes import OwnSizes

INDEX = "int64"


class _Kernel:
    """Sizes that are variables of the graph function become the kernel's own size variables,
    bound from its buffers' shapes when it is called. A size that is an expression of variables
    no buffer has as a whole dimension (``R.image.resize2d(x, R.shape([k * 2, 8]))``) cannot be
    bound that way, so the kernel takes it as a size variable of its own."""

    def __init__(self, args: Sequence[G.StructInfo], out: G.StructInfo) -> None:
        bound = {d for sinfo in (*args, out) for d in sinfo.shape if isinstance(d, Var)}
        self.own = OwnSizes(bound, opaque_name="size", fold=True)

    def dims(self, shape: Sequence[PrimExpr]) -> list[PrimExpr]:
        return self.own.dims(shape)

    def input(self, sinfo: G.StructInfo, name: str) -> te.Tensor:
        return te.placeholder(self.dims(sinfo.shape), sinfo.dtype, name=name)


def _fold(e: PrimExpr) -> PrimExpr:
    from tvmscript.arith import Analyzer

    return Analyzer().simplify(e)


def _static(e: PrimExpr) -> int | None:
    return e.value if isinstance(e, E.IntImm) else None


def _i(value: int) -> PrimExpr:
    return te.const(value, INDEX)


def _affine(base: PrimExpr, scale: int, term: PrimExpr | None = None, step: int = 1,
            offset: int = 0) -> PrimExpr:
    """``base * scale + term * step + offset`` without the factors of one and terms of zero,
    so that kernels read as a person would write them."""
    e = base if scale == 1 else base * scale
    if term is not None:
        e = e + (term if step == 1 else term * step)
    if offset:
        e = e + offset if offset > 0 else e - (-offset)
    return e


def _name(call: G.Call) -> str:
    return call.op.name[len("relax."):].split(".")[-1]


# ---------------------------------------------------------------- convolutions


def _pad(x: te.Tensor, lay: str, sp: str, lo: Sequence[int], hi: Sequence[int]) -> te.Tensor:
    """``x`` with zeros around its spatial dimensions (``x`` itself when nothing is padded)."""
    if not any(lo) and not any(hi):
        return x
    shape = list(x.shape)
    for j, c in enumerate(sp):
        i = lay.index(c)
        shape[i] = _fold(shape[i] + (lo[j] + hi[j]))

    def body(*idx: Var) -> PrimExpr:
        src, inside = list(idx), []
        for j, c in enumerate(sp):
            i = lay.index(c)
            if lo[j]:
                inside.append(idx[i] >= lo[j])
                src[i] = idx[i] - lo[j]
            if hi[j]:
                inside.append(idx[i] < _fold(x.shape[i] + lo[j]))
        return te.if_then_else(te.all_of(*inside), x[tuple(src)], te.const(0, x.dtype))

    return te.compute(shape, body, name="pad")


def _conv(call: G.Call, args: list[G.StructInfo], out: G.StructInfo, nd: int) -> PrimFunc:
    op, sp = _name(call), SPATIAL[nd]
    p = conv_params(call.op.name[6:], call, nd, False)
    dl, kl, ol = p["data_layout"], p["kernel_layout"], p["out_layout"]
    k = _Kernel(args, out)
    x, w = k.input(args[0], "data"), k.input(args[1], "weight")
    xp = _pad(x, dl, sp, p["padding"][:nd], p["padding"][nd:])
    ws = dict(zip(kl, w.shape))
    groups, per_group = p["groups"], ws["I"]
    one_channel = _static(per_group) == 1  # depthwise: no channel reduction at all
    axes = {c: te.reduce_axis(ws[c], "rc" if c == "I" else "r" + c.lower())
            for c in kl if c != "O" and not (c == "I" and one_channel)}
    out_per_group = _fold(ws["O"] // groups)
    dt = out.dtype

    def body(*idx: Var) -> te.Reduce:
        o = dict(zip(ol, idx))
        rc = axes["I"].var if "I" in axes else _i(0)
        if groups == 1:
            channel = rc
        else:
            group = o["C"] if _static(out_per_group) == 1 else o["C"] // out_per_group
            channel = group if one_channel else group * per_group + rc
        xi = {"N": o["N"], "C": channel}
        wi = {"O": o["C"], "I": rc}
        for j, c in enumerate(sp):
            xi[c] = _affine(o[c], p["strides"][j], axes[c].var, p["dilation"][j])
            wi[c] = axes[c].var
        value = te.cast(xp[tuple(xi[c] for c in dl)], dt) * te.cast(w[tuple(wi[c] for c in kl)], dt)
        return te.sum(value, axis=list(axes.values()))

    y = te.compute(k.dims(out.shape), body, name=op)
    return te.create_prim_func([x, w, y], name=op)


def _dilate_pad(x: te.Tensor, lay: str, sp: str, out_sizes: dict[str, PrimExpr],
                ws: dict[str, PrimExpr], p: dict) -> te.Tensor:
    """The data spread out by the strides (zeros between its elements) and padded so that a
    plain convolution with the flipped kernel is the transposed convolution."""
    shape, offsets = list(x.shape), {}
    for j, c in enumerate(sp):
        reach = _fold((ws[c] - 1) * p["dilation"][j])
        offsets[c] = _fold(reach - p["padding"][j])
        shape[lay.index(c)] = _fold(out_sizes[c] + reach)

    def body(*idx: Var) -> PrimExpr:
        src, inside = list(idx), []
        for j, c in enumerate(sp):
            i, s = lay.index(c), p["strides"][j]
            t = _fold(idx[i] - offsets[c])
            if _static(offsets[c]) is None or _static(offsets[c]) > 0:
                inside.append(t >= 0)
            if s > 1:
                inside.append(E.EQ(t % s, _i(0)))
            src[i] = t // s if s > 1 else t
            inside.append(src[i] < x.shape[i])
        return te.if_then_else(te.all_of(*inside), x[tuple(src)], te.const(0, x.dtype))

    return te.compute(shape, body, name="dilate_pad")


def _conv_transpose(call: G.Call, args: list[G.StructInfo], out: G.StructInfo,
                    nd: int) -> PrimFunc:
    op, sp = _name(call), SPATIAL[nd]
    p = conv_params(call.op.name[6:], call, nd, True)
    dl, kl, ol = p["data_layout"], p["kernel_layout"], p["out_layout"]
    k = _Kernel(args, out)
    x, w = k.input(args[0], "data"), k.input(args[1], "weight")
    out_shape = k.dims(out.shape)
    ws, xs = dict(zip(kl, w.shape)), dict(zip(dl, x.shape))
    xp = _dilate_pad(x, dl, sp, dict(zip(ol, out_shape)), ws, p)
    groups = p["groups"]
    per_group = _fold(xs["C"] // groups)
    one_channel = _static(per_group) == 1
    axes = {c: te.reduce_axis(per_group if c == "I" else ws[c],
                              "rc" if c == "I" else "r" + c.lower())
            for c in kl if c != "O" and not (c == "I" and one_channel)}
    dt = out.dtype

    def body(*idx: Var) -> te.Reduce:
        o = dict(zip(ol, idx))
        rc = axes["I"].var if "I" in axes else _i(0)
        if groups == 1:
            channel, o_in_group = rc, o["C"]
        else:
            group = o["C"] // ws["O"] if _static(ws["O"]) != 1 else o["C"]
            o_in_group = o["C"] % ws["O"] if _static(ws["O"]) != 1 else _i(0)
            channel = group if one_channel else group * per_group + rc
        xi = {"N": o["N"], "C": channel}
        wi = {"I": channel, "O": o_in_group}
        for j, c in enumerate(sp):
            xi[c] = _affine(o[c], 1, axes[c].var, p["dilation"][j])
            wi[c] = _fold(ws[c] - 1) - axes[c].var
        value = te.cast(xp[tuple(xi[c] for c in dl)], dt) * te.cast(w[tuple(wi[c] for c in kl)], dt)
        return te.sum(value, axis=list(axes.values()))

    y = te.compute(out_shape, body, name=op)
    return te.create_prim_func([x, w, y], name=op)


for _op, _nd in (("nn.conv1d", 1), ("nn.conv2d", 2)):
    register_legalization(_op)(lambda call, args, out, nd=_nd: _conv(call, args, out, nd))
for _op, _nd in (("nn.conv1d_transpose", 1), ("nn.conv2d_transpose", 2)):
    register_legalization(_op)(
        lambda call, args, out, nd=_nd: _conv_transpose(call, args, out, nd))


# ---------------------------------------------------------------- pools


def _window(p: dict, sp: str, in_sizes: dict[str, PrimExpr],
            out_sizes: dict[str, PrimExpr]) -> dict[str, tuple[bool, bool]]:
    """Per spatial dimension: whether a window can start before the data (padding) and whether
    one can reach past its end (padding after it, or ``ceil_mode``'s last partial window)."""
    nd = len(sp)
    return {c: (p["padding"][j] > 0,
                _past(p, j, out_sizes[c], in_sizes[c], p["padding"][nd + j] > 0))
            for j, c in enumerate(sp)}


def _past(p: dict, j: int, out_size: PrimExpr, bound: PrimExpr, padded: bool) -> bool:
    """Whether the last window reaches ``bound`` (when the sizes are symbolic: whether it can,
    from the padding after the data and ``ceil_mode``)."""
    last = _static(_fold((out_size - 1) * p["strides"][j] - p["padding"][j]
                         + (p["pool_size"][j] - 1) * p["dilation"][j]))
    limit = _static(bound)
    if last is not None and limit is not None:
        return last >= limit
    return padded or p["ceil_mode"]


def _pool(call: G.Call, args: list[G.StructInfo], out: G.StructInfo, nd: int,
          kind: str) -> PrimFunc:
    op, sp = _name(call), SPATIAL[nd]
    p = pool_params(call.op.name[6:], call, nd)
    lay, ol = p["layout"], p["out_layout"]
    k = _Kernel(args, out)
    x = k.input(args[0], "data")
    out_shape = k.dims(out.shape)
    xs, os_ = dict(zip(lay, x.shape)), dict(zip(ol, out_shape))
    checks = _window(p, sp, xs, os_)
    axes = {c: te.reduce_axis(p["pool_size"][j], "r" + c.lower()) for j, c in enumerate(sp)}

    def read(o: dict[str, Var], identity: PrimExpr) -> PrimExpr:
        xi, inside = {"N": o["N"], "C": o["C"]}, []
        for j, c in enumerate(sp):
            xi[c] = _affine(o[c], p["strides"][j], axes[c].var, p["dilation"][j],
                            -p["padding"][j])
            before, past = checks[c]
            if before:
                inside.append(xi[c] >= 0)
            if past:
                inside.append(xi[c] < xs[c])
        value = x[tuple(xi[c] for c in lay)]
        return te.if_then_else(te.all_of(*inside), value, identity) if inside else value

    return _pool_func(op, kind, x, out_shape, ol, list(axes.values()), read,
                      lambda o: _avg_count(o, p, sp, xs, os_, checks))


def _pool_func(op: str, kind: str, x: te.Tensor, out_shape: list[PrimExpr], ol: str,
               reduce_axes: list, read: Callable[[dict[str, Var], PrimExpr], PrimExpr],
               count: Callable[[dict[str, Var]], PrimExpr]) -> PrimFunc:
    """The pool's kernel: one max reduction, or a sum then a divide by the window's ``count``
    (``read(output index, identity)`` gives a window element, the identity outside the data)."""
    dt = x.dtype
    if kind == "max":
        y = te.compute(out_shape, lambda *i: te.max(read(dict(zip(ol, i)), te.min_value(dt)),
                                                    axis=reduce_axes), name=op)
        return te.create_prim_func([x, y], name=op)
    total = te.compute(out_shape, lambda *i: te.sum(read(dict(zip(ol, i)), te.const(0, dt)),
                                                    axis=reduce_axes), name="pool_sum")
    y = te.compute(out_shape, lambda *i: _divide(total[i], count(dict(zip(ol, i)))), name=op)
    return te.create_prim_func([x, y], name=op)


def _avg_count(o: dict[str, Var], p: dict, sp: str, xs: dict[str, PrimExpr],
               os_: dict[str, PrimExpr], checks: dict[str, tuple[bool, bool]]) -> PrimExpr:
    """How many window positions the average divides by: those inside the data, or with
    ``count_include_pad`` those inside the padded data (a ``ceil_mode`` window past the padding
    counts only what it covers, as PyTorch does)."""
    nd, count = len(sp), None
    for j, c in enumerate(sp):
        k, s, d = p["pool_size"][j], p["strides"][j], p["dilation"][j]
        lo, hi = p["padding"][j], p["padding"][nd + j]
        before, past = checks[c]
        if p["count_include_pad"]:
            lower, upper = -lo, _fold(xs[c] + hi)
            before, past = False, _past(p, j, os_[c], upper, False)
        else:
            lower, upper = 0, xs[c]
        if not before and not past:
            n: PrimExpr = _i(k)
        else:
            start = _affine(o[c], s, None, 1, -lo)  # the window's first position
            first = E.Max(_i(0), _ceil_div(lower - start, d)) if before else _i(0)
            last = E.Min(_i(k - 1), (upper - 1 - start) // d) if past else _i(k - 1)
            n = E.Max(last - first + 1, _i(1))  # 1, not 0: a window of padding only is 0
        count = n if count is None else count * n
    return count


def _ceil_div(a: PrimExpr, d: int) -> PrimExpr:
    return a if d == 1 else E.FloorDiv(a + (d - 1), _i(d))


def _divide(total: PrimExpr, count: PrimExpr) -> PrimExpr:
    if total.dtype.is_float:
        return total / te.cast(count, total.dtype)
    return E.FloorDiv(total, te.cast(count, total.dtype))


register_legalization("nn.max_pool2d")(lambda call, args, out: _pool(call, args, out, 2, "max"))
register_legalization("nn.avg_pool2d")(lambda call, args, out: _pool(call, args, out, 2, "avg"))


# ---------------------------------------------------------------- adaptive pools


def _bins(size: PrimExpr, bins: PrimExpr) -> tuple[bool, PrimExpr]:
    """Whether the bins are all alike (so no bound checks), and the largest bin's length.

    Bin ``i`` of ``n`` over ``size`` is ``[floor(i * size / n), ceil((i + 1) * size / n))``
    (PyTorch's); a bin is at most ``ceil(size / n) + 1`` long."""
    s, n = _static(size), _static(bins)
    if n == 1 or (s is not None and n is not None and s % n == 0):
        return True, _fold(size // bins)
    if s is not None and n is not None:
        return False, _i(max(-(-(i + 1) * s // n) - i * s // n for i in range(n)))
    return False, _fold((size + bins - 1) // bins + 1)


def _adaptive(call: G.Call, args: list[G.StructInfo], out: G.StructInfo, nd: int,
              kind: str) -> PrimFunc:
    op, sp = _name(call), SPATIAL[nd]
    lay, ol = call.attrs["layout"], call.attrs["out_layout"]
    k = _Kernel(args, out)
    x = k.input(args[0], "data")
    out_shape = k.dims(out.shape)
    xs, os_ = dict(zip(lay, x.shape)), dict(zip(ol, out_shape))
    bins = {c: _bins(xs[c], os_[c]) for c in sp}
    axes = {c: te.reduce_axis(bins[c][1], "r" + c.lower()) for c in sp}

    def bounds(o: dict[str, Var], c: str) -> tuple[PrimExpr, PrimExpr]:
        uniform, length = bins[c]
        if uniform:
            return (o[c] if _static(length) == 1 else o[c] * length), length
        start = (o[c] * xs[c]) // os_[c]
        end = ((o[c] + 1) * xs[c] + (os_[c] - 1)) // os_[c]
        return start, end - start

    def read(o: dict[str, Var], identity: PrimExpr) -> PrimExpr:
        xi, inside = {"N": o["N"], "C": o["C"]}, []
        for c in sp:
            start, length = bounds(o, c)
            xi[c] = start + axes[c].var if _static(start) != 0 else axes[c].var
            if not bins[c][0]:
                inside.append(axes[c].var < length)
        value = x[tuple(xi[c] for c in lay)]
        return te.if_then_else(te.all_of(*inside), value, identity) if inside else value

    def count(o: dict[str, Var]) -> PrimExpr:
        n = None
        for c in sp:
            length = bounds(o, c)[1]
            n = length if n is None else n * length
        return n

    return _pool_func(op, kind, x, out_shape, ol, list(axes.values()), read, count)


register_legalization("nn.adaptive_avg_pool2d")(
    lambda call, args, out: _adaptive(call, args, out, 2, "avg"))
register_legalization("nn.adaptive_max_pool2d")(
    lambda call, args, out: _adaptive(call, args, out, 2, "max"))


# ---------------------------------------------------------------- resize


def _float(value: float, dt: DataType) -> PrimExpr:
    return te.const(value, dt)


def _scale(num: PrimExpr, den: PrimExpr, dt: DataType) -> PrimExpr:
    """``num / den`` in ``dt``, rounded once as PyTorch computes it (``float(in) / out``)."""
    a, b = _static(num), _static(den)
    if a is not None and b is not None:
        np_dt = np.dtype(dt.numpy_name())
        return te.const(float(np_dt.type(a) / np_dt.type(b)), dt)
    return te.cast(num, dt) / te.cast(den, dt)


def _source(o: Var, size: PrimExpr, out_size: PrimExpr, mode: str, roi: tuple[float, float],
            dt: DataType) -> PrimExpr:
    """Where output position ``o`` samples the input (ONNX Resize's coordinate modes, computed
    in the order PyTorch computes them so that nearest-neighbour picks the same pixels)."""
    x = te.cast(o, dt)
    half = _float(0.5, dt)
    if mode == "half_pixel":
        return (x + half) * _scale(size, out_size, dt) - half
    if mode == "pytorch_half_pixel":
        return _when_many(out_size, lambda: (x + half) * _scale(size, out_size, dt) - half,
                          _float(0.0, dt))
    if mode == "asymmetric":
        return x * _scale(size, out_size, dt)
    if mode == "tf_half_pixel_for_nn":
        return (x + half) * _scale(size, out_size, dt)
    if mode == "align_corners":
        return _when_many(out_size, lambda: x * _scale(_fold(size - 1), _fold(out_size - 1), dt),
                          _float(0.0, dt))
    start, end = roi  # tf_crop_and_resize
    span = te.cast(size - 1, dt)
    return _when_many(out_size, lambda: _float(start, dt) * span + x * (
        _float(end - start, dt) * span) / te.cast(out_size - 1, dt),
        _float(0.5 * (start + end), dt) * span)


def _when_many(out_size: PrimExpr, many: Callable[[], PrimExpr], one: PrimExpr) -> PrimExpr:
    """``many()`` where the output has more than one position along the axis, else ``one``:
    the modes that divide by ``out_size - 1`` or treat a single pixel apart."""
    n = _static(out_size)
    if n is not None:
        return many() if n > 1 else one
    return te.select(out_size > 1, many(), one)


def _clamp(i: PrimExpr, size: PrimExpr) -> PrimExpr:
    return E.Min(E.Max(i, _i(0)), size - 1)


def _nearest(coord: PrimExpr, rounding: str) -> PrimExpr:
    if rounding in ("round", "round_prefer_ceil"):  # halves up (away from zero where it counts)
        value = te.floor(coord + _float(0.5, coord.dtype))
    elif rounding == "round_prefer_floor":
        value = te.ceil(coord - _float(0.5, coord.dtype))
    elif rounding == "floor":
        value = te.floor(coord)
    else:
        value = te.ceil(coord)
    return te.cast(value, INDEX)


def _cubic_weights(t: PrimExpr, alpha: float) -> list[PrimExpr]:
    """Keys' cubic convolution weights of the four taps at offsets -1, 0, 1, 2 from ``floor``."""
    dt = t.dtype
    a = _float(alpha, dt)
    one, two = _float(1.0, dt), _float(2.0, dt)

    def near(d: PrimExpr) -> PrimExpr:  # |d| <= 1
        return ((a + two) * d - (a + _float(3.0, dt))) * d * d + one

    def far(d: PrimExpr) -> PrimExpr:  # 1 < |d| < 2
        return ((a * d - _float(5.0, dt) * a) * d + _float(8.0, dt) * a) * d - \
            _float(4.0, dt) * a

    return [far(t + one), near(t), near(one - t), far(two - t)]


def _resize(call: G.Call, args: list[G.StructInfo], out: G.StructInfo) -> PrimFunc:
    p = resize_params(call)
    lay, method = p["layout"], p["method"]
    mode = p["coordinate_transformation_mode"]
    k = _Kernel(args, out)
    x = k.input(args[0], "data")
    out_shape = k.dims(out.shape)
    xs, os_ = dict(zip(lay, x.shape)), dict(zip(lay, out_shape))
    in_dt = x.dtype
    dt = in_dt if in_dt.is_float and in_dt.bits == 64 else as_dtype("float32")
    rounding = p["rounding_method"] or ("round" if mode == "align_corners" else "floor")
    roi = {"H": (p["roi"][0], p["roi"][2]), "W": (p["roi"][1], p["roi"][3])}
    extrapolate = mode == "tf_crop_and_resize"

    def at(o: dict[str, Var], h: PrimExpr, w: PrimExpr) -> PrimExpr:
        index = {"N": o["N"], "C": o["C"], "H": h, "W": w}
        return x[tuple(index[c] for c in lay)]

    def body(*idx: Var) -> PrimExpr:
        o = dict(zip(lay, idx))
        coords = {c: _source(o[c], xs[c], os_[c], mode, roi[c], dt) for c in "HW"}
        if method == "nearest_neighbor":
            value = at(o, *(_clamp(_nearest(coords[c], rounding), xs[c]) for c in "HW"))
        else:
            fractions = {c: (Var(f"t_{c.lower()}", dt), coords[c] - te.floor(coords[c]))
                         for c in "HW"}
            (rows, norm_h), (cols, norm_w) = (_taps(coords[c], fractions[c][0], xs[c], p)
                                              for c in "HW")
            value = _weighted([(wh, _weighted([(ww, te.cast(at(o, h, w), dt)) for ww, w in cols]))
                               for wh, h in rows])
            if norm_h is not None:  # ONNX's exclude_outside: the kept taps' weights sum to one
                value = value / (norm_h * norm_w)
            for var, fraction in fractions.values():  # each computed once, as the weights' input
                value = E.Let(var, fraction, value)
        if extrapolate:
            outside = te.any_of(*(te.any_of(coords[c] < _float(0.0, dt),
                                            coords[c] > te.cast(xs[c] - 1, dt)) for c in "HW"))
            value = te.select(outside, te.cast(_float(p["extrapolation_value"], dt), value.dtype),
                              value)
        return te.cast(value, out.dtype)

    y = te.compute(out_shape, body, name="resize2d")
    return te.create_prim_func([x, y], name="resize2d")


def _taps(coord: PrimExpr, t: Var, size: PrimExpr,
          p: dict) -> tuple[list[tuple[PrimExpr, PrimExpr]], PrimExpr | None]:
    """The (weight, clamped index) of each input position that output coordinate ``coord``
    interpolates (2 for linear, 4 for cubic; ``t`` is the coordinate's fraction), and with
    ``cubic_exclude`` the sum of the weights of those inside the input (the others weigh
    nothing)."""
    dt = coord.dtype
    first = te.cast(te.floor(coord), INDEX)
    if p["method"] == "linear":
        weights, offsets = [_float(1.0, dt) - t, t], (0, 1)
    else:
        weights, offsets = _cubic_weights(t, p["cubic_alpha"]), (-1, 0, 1, 2)
    points = [_affine(first, 1, None, 1, d) for d in offsets]
    norm = None
    if p["method"] == "cubic" and p["cubic_exclude"]:
        weights = [te.select(te.all_of(pt >= 0, pt < size), wgt, _float(0.0, dt))
                   for wgt, pt in zip(weights, points)]
        norm = _weighted([(_float(1.0, dt), wgt) for wgt in weights])
    return [(wgt, _clamp(pt, size)) for wgt, pt in zip(weights, points)], norm


def _weighted(terms: list[tuple[PrimExpr, PrimExpr]]) -> PrimExpr:
    out = None
    for weight, value in terms:
        term = value if isinstance(weight, E.FloatImm) and weight.value == 1.0 else weight * value
        out = term if out is None else out + term
    return out


register_legalization("image.resize2d")(_resize)
