"""Hypothesis strategies for random, well-typed programs built directly as IR.

Loop-level functions: nested loops of every kind, blocks (spatial and reduction, with init),
lets, ifs, selects, casts, intrinsic calls and vector loads/stores. Every index stays in bounds
(``floormod`` by the dimension) so the same programs can later be compiled and interpreted.
Graph-level functions: operator chains with matching shapes, dataflow blocks, tuples, constants.
Fuzzing support (``fuzz_settings``, ``time_limit``, ``memory_limit``, ``INVALID_VALUES``) for tests/test_fuzz_*.py.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tvmscript import ir
from tvmscript.ir import graph as G
from tvmscript.ir.expr import FloorMod, const

SCALAR_DTYPES = ["float32", "int32", "float64", "int8", "int64", "float16"]


class _Ctx:
    """What an expression may use at a point: variables in scope and readable buffers."""

    def __init__(self, draw, buffers, loop_kinds=tuple(ir.ForKind)[:4]):
        self.draw = draw
        self.loop_kinds = list(loop_kinds)
        self.buffers = buffers
        self.int_vars: list[ir.Var] = []
        self.vals: dict[str, list[ir.PrimExpr]] = {}
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def _index_expr(ctx: _Ctx, extent: int) -> ir.PrimExpr:
    draw = ctx.draw
    if not ctx.int_vars or draw(st.booleans()) and draw(st.booleans()):
        return const(draw(st.integers(0, extent - 1)))
    var = draw(st.sampled_from(ctx.int_vars))
    offset = draw(st.integers(0, 3))
    base = var + offset if offset else var
    return FloorMod(base, const(extent))


def _load(ctx: _Ctx, dtype: str) -> ir.PrimExpr | None:
    candidates = [b for b in ctx.buffers if str(b.dtype) == dtype]
    if not candidates:
        return None
    buf = ctx.draw(st.sampled_from(candidates))
    return ir.BufferLoad(buf, tuple(_index_expr(ctx, int(s.value)) for s in buf.shape))


def _leaf(ctx: _Ctx, dtype: str) -> ir.PrimExpr:
    draw = ctx.draw
    options = ["const"]
    if any(str(b.dtype) == dtype for b in ctx.buffers):
        options += ["load", "load"]
    if ctx.vals.get(dtype):
        options.append("var")
    if dtype == "int32" and ctx.int_vars:
        options.append("loopvar")
    choice = draw(st.sampled_from(options))
    if choice == "load":
        return _load(ctx, dtype)
    if choice == "var":
        return draw(st.sampled_from(ctx.vals[dtype]))
    if choice == "loopvar":
        return draw(st.sampled_from(ctx.int_vars))
    if dtype.startswith("float"):
        return const(draw(st.sampled_from([0.0, 1.0, -2.5, 0.125, 3.0])), dtype)
    return const(draw(st.integers(-8, 8)), dtype)


def expr_of(ctx: _Ctx, dtype: str, depth: int) -> ir.PrimExpr:
    draw = ctx.draw
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(ctx, dtype)
    is_float = dtype.startswith("float")
    kinds = ["add", "sub", "mul", "min", "max", "select", "cast"]
    kinds += ["exp"] if is_float else ["floordiv", "floormod"]
    kind = draw(st.sampled_from(kinds))
    sub = lambda: expr_of(ctx, dtype, depth - 1)  # noqa: E731
    if kind in ("add", "sub", "mul", "min", "max"):
        cls = {"add": ir.Add, "sub": ir.Sub, "mul": ir.Mul, "min": ir.Min, "max": ir.Max}[kind]
        return cls(sub(), sub())
    if kind == "select":
        return ir.Select(cond_of(ctx, depth - 1), sub(), sub())
    if kind == "cast":
        other = draw(st.sampled_from([d for d in SCALAR_DTYPES if d != dtype]))
        return ir.Cast(dtype, expr_of(ctx, other, depth - 1))
    if kind == "exp":
        return ir.Call(ir.dtype(dtype), "tir.exp", (sub(),))
    cls = ir.FloorDiv if kind == "floordiv" else ir.FloorMod
    return cls(sub(), const(draw(st.integers(1, 7)), dtype))


def cond_of(ctx: _Ctx, depth: int) -> ir.PrimExpr:
    draw = ctx.draw
    kind = draw(st.sampled_from(["lt", "eq", "ge", "and", "or", "not"] if depth > 0 else ["lt", "eq"]))
    if kind in ("and", "or"):
        cls = ir.And if kind == "and" else ir.Or
        return cls(cond_of(ctx, depth - 1), cond_of(ctx, depth - 1))
    if kind == "not":
        return ir.Not(cond_of(ctx, depth - 1))
    dtype = draw(st.sampled_from(["int32", "float32"]))
    cls = {"lt": ir.LT, "eq": ir.EQ, "ge": ir.GE}[kind]
    return cls(expr_of(ctx, dtype, max(depth - 1, 0)), expr_of(ctx, dtype, max(depth - 1, 0)))


def _store(ctx: _Ctx, out: ir.Buffer, depth: int) -> ir.Stmt:
    indices = tuple(_index_expr(ctx, int(s.value)) for s in out.shape)
    return ir.BufferStore(out, expr_of(ctx, str(out.dtype), depth), indices)


def _body(ctx: _Ctx, out: ir.Buffer, depth: int) -> ir.Stmt:
    """A statement writing ``out``: a store, a let, an if, or a short sequence of them."""
    draw = ctx.draw
    kind = draw(st.sampled_from(["store", "store", "let", "if", "seq"] if depth > 0 else ["store"]))
    if kind == "store":
        return _store(ctx, out, 2)
    if kind == "let":
        dtype = draw(st.sampled_from(["float32", "int32"]))
        value = expr_of(ctx, dtype, 2)
        var = ir.Var(ctx.fresh("x"), dtype)
        ctx.vals.setdefault(dtype, []).append(var)
        body = _body(ctx, out, depth - 1)
        ctx.vals[dtype].remove(var)
        return ir.LetStmt(var, value, body)
    if kind == "if":
        cond = cond_of(ctx, 1)
        then = _body(ctx, out, depth - 1)
        other = _body(ctx, out, depth - 1) if draw(st.booleans()) else None
        return ir.IfThenElse(cond, then, other)
    return ir.seq(_body(ctx, out, depth - 1), _body(ctx, out, depth - 1))


def _loop_nest(ctx: _Ctx, out: ir.Buffer, use_block: bool) -> ir.Stmt:
    draw = ctx.draw
    n_loops = draw(st.integers(1, 3))
    loops = []
    for _ in range(n_loops):
        var = ir.Var(ctx.fresh("i"), "int32")
        extent = draw(st.integers(1, 16))
        kind = draw(st.sampled_from(ctx.loop_kinds))
        loops.append((var, extent, kind))
    if use_block:
        body = _block(ctx, out, loops)
    else:
        ctx.int_vars.extend(v for v, _, _ in loops)
        body = _body(ctx, out, 2)
        del ctx.int_vars[-n_loops:]
    for var, extent, kind in reversed(loops):
        body = ir.For(var, const(0), const(extent), kind, body)
    return body


def _block(ctx: _Ctx, out: ir.Buffer, loops) -> ir.Stmt:
    """A block whose iterators are bound to the loops; the last may be a reduction."""
    draw = ctx.draw
    reduce_last = draw(st.booleans())
    iter_vars, values = [], []
    for n, (var, extent, _) in enumerate(loops):
        kind = ir.IterType.REDUCE if reduce_last and n == len(loops) - 1 else ir.IterType.SPATIAL
        iter_vars.append(ir.IterVar(ir.Var("v" + var.name, "int32"), ir.Range(const(0), const(extent)), kind))
        values.append(var)
    saved = ctx.int_vars
    ctx.int_vars = [iv.var for iv in iter_vars]
    init = None
    if reduce_last:
        spatial = [iv.var for iv in iter_vars if iv.iter_type == ir.IterType.SPATIAL]
        ctx.int_vars = spatial or [iter_vars[0].var]
        indices = tuple(_index_expr(ctx, int(s.value)) for s in out.shape)
        ctx.int_vars = [iv.var for iv in iter_vars]
        acc = ir.BufferLoad(out, indices)
        body = ir.BufferStore(out, ir.Add(acc, expr_of(ctx, str(out.dtype), 2)), indices)
        init = ir.BufferStore(out, const(0, str(out.dtype)), indices)
    else:
        body = _body(ctx, out, 1)
    ctx.int_vars = saved
    reads = tuple(b.full_region() for b in ctx.buffers)
    block = ir.Block(ctx.fresh("blk"), tuple(iter_vars), reads=reads, writes=(out.full_region(),),
                     init=init, body=body)
    return ir.BlockRealize(tuple(values), const(True), block)


def _vector_stmt(ctx: _Ctx, out: ir.Buffer) -> ir.Stmt | None:
    """``out[ramp] = in[ramp] * broadcast`` over a 1-D float32 buffer, when one exists."""
    draw = ctx.draw
    ins = [b for b in ctx.buffers if len(b.shape) == 1 and str(b.dtype) == "float32"]
    if str(out.dtype) != "float32" or len(out.shape) != 1 or not ins:
        return None
    src = draw(st.sampled_from(ins))
    lanes = draw(st.sampled_from([2, 4, 8]))
    size = min(int(out.shape[0].value), int(src.shape[0].value))
    if size < lanes:
        return None
    start = const(draw(st.integers(0, size - lanes)))
    value = ir.Mul(ir.BufferLoad(src, (ir.Ramp(start, const(1), lanes),)),
                   ir.Broadcast(const(2.0), lanes))
    return ir.BufferStore(out, value, (ir.Ramp(start, const(1), lanes),))


RACE_FREE_KINDS = (ir.ForKind.SERIAL, ir.ForKind.UNROLLED)


@st.composite
def prim_funcs(draw, loop_kinds=tuple(ir.ForKind)[:4]) -> ir.PrimFunc:
    """A random, well-typed loop-level function.

    Its loops may be parallel or vectorized even where iterations write the same element (a
    race): fine for printing and parsing; programs that are run and compared must draw
    ``loop_kinds=RACE_FREE_KINDS`` (``elementwise_funcs`` covers parallel and vector loops).
    """
    n_bufs = draw(st.integers(2, 4))
    params, buffer_map, buffers = [], {}, []
    for n in range(n_bufs):
        shape = tuple(draw(st.lists(st.integers(1, 16), min_size=1, max_size=2)))
        dtype = draw(st.sampled_from(["float32", "float32", "int32", "float16", "int8"]))
        name = "ABCDEFGH"[n]
        buf = ir.decl_buffer(shape, dtype, name)
        param = ir.Var(name, "handle")
        params.append(param)
        buffer_map[param] = buf
        buffers.append(buf)
    ctx = _Ctx(draw, buffers, loop_kinds)
    use_blocks = draw(st.booleans())
    stmts = []
    for _ in range(draw(st.integers(1, 3))):
        out = draw(st.sampled_from(buffers))
        stmt = _vector_stmt(ctx, out) if draw(st.integers(0, 4)) == 0 else None
        stmts.append(stmt or _loop_nest(ctx, out, use_blocks))
    body = ir.seq(*stmts)
    if use_blocks:
        body = ir.BlockRealize((), const(True), ir.Block("root", body=body))
    return ir.PrimFunc(tuple(params), buffer_map, body)


@st.composite
def elementwise_funcs(draw) -> ir.PrimFunc:
    """``Out[i, j] = f(In0[i, j], ...)`` with a parallel outer and a vectorized inner loop:
    every iteration writes its own element, so any loop kind computes the same."""
    rows, cols = draw(st.integers(1, 9)), draw(st.sampled_from([1, 4, 8, 16, 17]))
    dtype = draw(st.sampled_from(["float32", "int32", "float64", "int8"]))
    ins = [ir.decl_buffer((rows, cols), dtype, f"In{n}") for n in range(draw(st.integers(1, 3)))]
    out = ir.decl_buffer((rows, cols), dtype, "Out")
    i, j = ir.Var("i"), ir.Var("j")
    ctx = _Ctx(draw, [])
    ctx.vals[dtype] = [ir.BufferLoad(b, (i, j)) for b in ins]
    value = expr_of(ctx, dtype, 3)
    outer = draw(st.sampled_from([ir.ForKind.PARALLEL, ir.ForKind.SERIAL]))
    inner = draw(st.sampled_from([ir.ForKind.VECTORIZED, ir.ForKind.UNROLLED, ir.ForKind.SERIAL]))
    body = ir.For(i, const(0), const(rows), outer,
                  ir.For(j, const(0), const(cols), inner, ir.BufferStore(out, value, (i, j))))
    params = [ir.Var(b.name, "handle") for b in (*ins, out)]
    return ir.PrimFunc(tuple(params), dict(zip(params, (*ins, out))), body)


# ---------------------------------------------------------------- graph level


@st.composite
def graph_functions(draw) -> G.Function:
    """A random graph-level function over float32 tensors of matching shapes."""
    rows, cols = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    sinfo = G.TensorStructInfo((rows, cols), "float32")
    params = [G.GraphVar(f"x{i}", sinfo) for i in range(draw(st.integers(1, 3)))]
    dataflow = draw(st.booleans())
    values: list[G.GraphExpr] = list(params)
    bindings = []
    var_cls = G.DataflowVar if dataflow else G.GraphVar
    for n in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["add", "multiply", "nn.relu", "exp", "const", "tuple", "matmul"]))
        if op in ("add", "multiply"):
            value = G.Call(G.Op("relax." + op), (draw(st.sampled_from(values)), draw(st.sampled_from(values))))
        elif op in ("nn.relu", "exp"):
            value = G.Call(G.Op("relax." + op), (draw(st.sampled_from(values)),))
        elif op == "matmul":
            square = G.const(np.eye(cols, dtype="float32"))
            value = G.Call(G.Op("relax.matmul"), (draw(st.sampled_from(values)), square))
        elif op == "const":
            value = G.const(np.full((rows, cols), draw(st.sampled_from([0.5, 2.0, -1.0])), "float32"))
        else:
            pair = G.Tuple((draw(st.sampled_from(values)), draw(st.sampled_from(values))))
            value = G.TupleGetItem(pair, draw(st.integers(0, 1)))
        var = var_cls(f"lv{n}", value.struct_info)
        bindings.append(G.VarBinding(var, value))
        values.append(var)
    last = bindings[-1]
    if dataflow:  # the returned value leaves the dataflow block: make it a plain GraphVar
        out = G.GraphVar("gv", last.var.sinfo)
        bindings[-1] = G.VarBinding(out, last.value)
        block: G.BindingBlock = G.DataflowBlock(tuple(bindings))
    else:
        out = last.var
        block = G.BindingBlock(tuple(bindings))
    body = G.SeqExpr((block,), out)
    return G.Function(tuple(params), body, out.sinfo)


# ---------------------------------------------------------------- fuzzing support


def fuzz_settings(examples: int, **overrides: Any) -> settings:
    """Settings of the fuzz tests (tests/test_fuzz_*.py), chosen by ``TVMSCRIPT_FUZZ``.

    Why a switch: CI must be reproducible and fast, so the default ("ci") replays the same
    ``examples`` every run (``derandomize=True``); ``TVMSCRIPT_FUZZ=deep`` explores 20 times as
    many fresh random examples per run (``TVMSCRIPT_FUZZ_SCALE=N`` for another factor), and
    hypothesis stores any failure it finds in its example database so the next run replays it.
    """
    deep = os.environ.get("TVMSCRIPT_FUZZ", "ci") == "deep"
    scale = int(os.environ.get("TVMSCRIPT_FUZZ_SCALE", "20" if deep else "1"))
    base = dict(max_examples=examples * scale, deadline=None, derandomize=not deep,
                suppress_health_check=list(HealthCheck))
    return settings(**{**base, **overrides})


class TimeLimitExceeded(AssertionError):
    """Raised inside the code under test when it runs past ``time_limit`` (a hang)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body runs longer than ``seconds``.

    Uses SIGALRM, so it only interrupts the main thread, which is where pytest runs tests.
    """
    def alarm(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"{what} ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except TimeLimitExceeded as err:
        # a fresh exception: the alarm may fire in generated code whose frames have no line
        # numbers, and pytest cannot render such a traceback (INTERNALERROR)
        fresh = TimeLimitExceeded(str(err))
        for note in getattr(err, "__notes__", []):
            fresh.add_note(note)
        raise fresh from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def memory_limit(extra: int, what: str) -> Iterator[None]:
    """Cap the process's address space at its current size plus ``extra`` bytes in the body.

    Why: a runaway allocation (a mutated size of 2**31) then fails this test with a
    MemoryError instead of bringing the OOM killer onto the whole machine.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * resource.getpagesize()
    cap = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    except MemoryError as err:
        raise AssertionError(f"{what} ran out of its {extra >> 20} MiB of memory") from err
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# values no integer, index or handle parameter accepts: wrong kinds, and ints past int32
INVALID_VALUES = (None, "4", 4.0, 2.5, float("nan"), -1, 0, 2**31, -(2**31) - 1, 10**30, [],
                  (), {}, 1j, object())
