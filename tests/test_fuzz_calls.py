"""Fuzz: random bad calls of built kernels and graph functions, and good calls against numpy.

Callables (built with LLVM once per module): a static-shape kernel, a kernel with float32 and
int32 scalars, a kernel with a symbolic size, a kernel over seven dtypes, and graph functions
(static, symbolic, with a scalar parameter). Each example makes one call that is good (its
sizes drawn where they are symbolic) or bad in one way: wrong rank, shape or dtype, a
non-contiguous array, a list, a Python scalar or None for an array, a scalar out of its dtype's
range, a complex / str / None / array scalar, too many or too few arguments. Properties:

- a bad call raises TypeError or ValueError whose message names the parameter (for too few
  arguments the first missing one; for too many the function), and leaves every argument array
  as it was: no crash, no silent computation;
- a good call gives numpy's numbers.

A non-contiguous array passed to a graph function may instead be accepted if the result is
numpy's (the function copies it); kernels write in place and must refuse it.

CI replays the same examples each run; ``TVMSCRIPT_FUZZ=deep pytest tests/test_fuzz_calls.py``
draws 20 times as many fresh ones (see ``tests.strategies.fuzz_settings``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmscript
from tests.corpus.module_programs import PROGRAMS as MODULE_PROGRAMS
from tests.corpus.tir_programs import PROGRAMS as TIR_PROGRAMS
from tests.strategies import fuzz_settings, time_limit

SHIFT = '''
@I.ir_module
class Module:
    @T.prim_func
    def shift(A: T.Buffer((4,), "int32"), s: T.int32, B: T.Buffer((4,), "int32")):
        for i in range(4):
            with T.block("b"):
                vi = T.axis.spatial(4, i)
                B[vi] = A[vi] + s

    @R.function
    def main(x: R.Tensor((4,), "int32"), s: R.Prim("int32")) -> R.Tensor((4,), "int32"):
        cls = Module
        y = R.call_tir(cls.shift, (x, s), out_sinfo=R.Tensor((4,), "int32"))
        return y
'''


@dataclass(frozen=True)
class Param:
    """A parameter: an array of ``shape`` (ints, or names of sizes), or a scalar (shape None)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...] | None = None


@dataclass(frozen=True)
class Callee:
    """A built function, its parameters and numpy's answer for good arguments.

    ``reference(args)`` returns the graph function's result, or, for a kernel (``graph`` false),
    a dict from argument index to what the kernel leaves in that (output) array.
    """

    module: str
    function: str
    params: tuple[Param, ...]
    reference: Callable[[list], Any]
    graph: bool = False

    @property
    def fn(self) -> Callable[..., Any]:
        return _built(self.module)[self.function]


@functools.cache
def _built(module: str) -> Any:
    sources = {**TIR_PROGRAMS, **MODULE_PROGRAMS, "shift": SHIFT}
    return tvmscript.build(tvmscript.from_source(sources[module]), target="llvm")


def _axpy(a, b, alpha, n) -> dict[int, np.ndarray]:
    out = b.copy()
    out[:max(n, 0)] = (np.float32(alpha) * a + b)[:max(n, 0)]
    return {1: out}


def _dtypes(a, b, c, d, e, f, g) -> dict[int, np.ndarray]:
    c_out = a.astype("int64") + b.astype("int64") + 1
    return {2: c_out, 3: c_out * 0.5, 5: (a.astype("int16") * 3).astype("int16"),
            6: b.astype("uint32") + np.uint32(7)}


F32 = "float32"
CALLEES = [
    Callee("module_add_relu", "add", (Param("A", F32, (16, 32)), Param("B", F32, (16, 32)),
                                      Param("C", F32, (16, 32))), lambda a: {2: a[0] + a[1]}),
    Callee("scalar_param", "axpy", (Param("A", F32, (256,)), Param("B", F32, (256,)),
                                    Param("alpha", F32), Param("n", "int32")),
           lambda a: _axpy(*a)),
    Callee("symbolic_shape", "scale", (Param("A", F32, ("n",)), Param("B", F32, ("n",))),
           lambda a: {1: a[0] * 2}),
    Callee("dtypes", "dtypes", tuple(Param(n, d, (8,)) for n, d in zip(
        "ABCDEFG", ["int8", "uint8", "int64", "float64", "bfloat16", "int16", "uint32"])),
        lambda a: _dtypes(*a)),
    Callee("shift", "shift", (Param("A", "int32", (4,)), Param("s", "int32"),
                              Param("B", "int32", (4,))), lambda a: {2: a[0] + a[1]}),
    Callee("module_add_relu", "main", (Param("x", F32, (16, 32)), Param("y", F32, (16, 32))),
           lambda a: np.maximum(a[0] + a[1], 0), graph=True),
    Callee("graph_symbolic", "dyn", (Param("x", F32, ("n", 16)), Param("w", F32, (16, "m"))),
           lambda a: np.exp(a[0] @ a[1]), graph=True),
    Callee("shift", "main", (Param("x", "int32", (4,)), Param("s", "int32")),
           lambda a: a[0] + a[1], graph=True),
]

NUMPY_DTYPES = ["float32", "float64", "int32", "int64", "int8", "uint8", "float16", "bool",
                "uint16"]
BAD_KINDS = ["rank", "shape", "dtype", "noncontiguous", "list", "python_scalar", "none",
             "scalar_range", "scalar_type", "too_many", "too_few"]


# ----------------------------------------------------------------------------- good arguments

def _numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype("uint16" if dtype == "bfloat16" else dtype)


def _array(draw, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**16), label="seed"))
    dt = _numpy_dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    return rng.integers(0, 50, shape).astype(dt)


def _scalar(draw, dtype: str) -> Any:
    if dtype.startswith("float"):
        return draw(st.floats(-4, 4, width=32), label="float scalar")
    return draw(st.integers(-5, 300), label="int scalar")


@st.composite
def good_args(draw, callee: Callee) -> list:
    """Good arguments; a size named in the parameters is drawn once and used everywhere."""
    sizes: dict[str, int] = {}
    args = []
    for p in callee.params:
        if p.shape is None:
            args.append(_scalar(draw, p.dtype))
            continue
        shape = tuple(d if isinstance(d, int)
                      else sizes.setdefault(d, draw(st.integers(1, 6), label=d)) for d in p.shape)
        args.append(_array(draw, p.dtype, shape))
    return args


# ----------------------------------------------------------------------------- bad arguments

def _changeable_dims(callee: Callee, p: Param) -> list[int]:
    """Dimensions of ``p`` whose change must be refused: fixed ones, and named sizes that
    another dimension of the parameters also uses."""
    names = [d for q in callee.params for d in (q.shape or ()) if isinstance(d, str)]
    return [i for i, d in enumerate(p.shape) if isinstance(d, int) or names.count(d) > 1]


def _noncontiguous(arr: np.ndarray) -> np.ndarray:
    """The same values in a strided view (every other element of the last axis)."""
    wide = np.zeros((*arr.shape[:-1], 2 * arr.shape[-1]), arr.dtype)
    view = wide[..., ::2]
    view[...] = arr
    return view


SCALAR_TYPES = [1j, np.complex64(1 + 2j), "1", None, b"1", np.ones(2), [1]]


def _out_of_range(draw, dtype: str) -> Any | None:
    """A number outside ``dtype``'s range (None for float64, whose range is every float)."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return draw(st.sampled_from([info.max + 1, info.min - 1, 2**64, -(2**63) - 1,
                                     np.int64(info.max) + 1 if info.bits < 64 else 2**64]))
    if dt == np.float32:
        return draw(st.sampled_from([1e39, -1e39, 2.0**200, np.float64(3.5e38)]))
    return None


def _bad_array(draw, kind: str, callee: Callee, p: Param, arr: np.ndarray) -> Any | None:
    """``arr`` made bad in way ``kind``; None when that is impossible for this parameter."""
    if kind == "rank":
        return arr[None] if draw(st.booleans(), label="add dim") or arr.ndim == 0 else arr[0]
    if kind == "shape":
        dims = _changeable_dims(callee, p)
        if not dims:
            return None
        dim, delta = draw(st.sampled_from(dims)), draw(st.sampled_from([-1, 1, 3]))
        shape = list(arr.shape)
        shape[dim] += delta
        return np.resize(arr, shape)
    if kind == "dtype":
        other = [d for d in NUMPY_DTYPES if np.dtype(d) != arr.dtype]
        return arr.astype(draw(st.sampled_from(other), label="dtype"))
    if kind == "noncontiguous":
        return _noncontiguous(arr) if callee.graph or arr.size > 1 else None
    if kind == "list":
        return arr.tolist()
    if kind == "python_scalar":
        return arr.flat[0].item()
    return None if kind != "none" else _NONE


_NONE = object()  # stands for a None argument (None itself means "no such bad value")


def _bad_scalar(draw, kind: str, p: Param) -> Any | None:
    if kind == "scalar_range":
        return _out_of_range(draw, p.dtype)
    if kind == "scalar_type":
        return draw(st.sampled_from(SCALAR_TYPES), label="scalar")
    return _NONE if kind == "none" else None


@st.composite
def bad_calls(draw, callee: Callee) -> tuple[str, list, tuple[str, ...]]:
    """(kind, arguments, names of which the error message must give one): one argument or the
    count wrong."""
    args = draw(good_args(callee))
    kind = draw(st.sampled_from(BAD_KINDS), label="bad kind")
    if kind == "too_few":
        keep = draw(st.integers(0, len(args) - 1), label="keep")
        return kind, args[:keep], (callee.params[keep].name,)
    if kind == "too_many":
        return kind, args + [args[-1]], (callee.function,)
    candidates = list(range(len(args)))
    index = draw(st.sampled_from(candidates), label="argument")
    p = callee.params[index]
    bad = _bad_scalar(draw, kind, p) if p.shape is None else _bad_array(draw, kind, callee, p,
                                                                       args[index])
    if bad is None:
        return draw(bad_calls(callee))  # this kind does not apply here: draw another
    args[index] = None if bad is _NONE else bad
    return kind, args, _blamed(callee, p) if kind == "shape" else (p.name,)


def _blamed(callee: Callee, p: Param) -> tuple[str, ...]:
    """Who a wrong size may be reported on: ``p``, or a parameter sharing a named size."""
    names = {d for d in p.shape if isinstance(d, str)}
    return tuple(q.name for q in callee.params if q is p or names & set(q.shape or ()))


# ----------------------------------------------------------------------------- checks

def _copies(args: list) -> list:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _assert_unchanged(args: list, before: list, what: str) -> None:
    for a, b in zip(args, before):
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f"{what} changed an argument")


def _assert_numpy(callee: Callee, inputs: list, args: list, result: Any, what: str) -> None:
    """The call's answer (the result, or the kernel's output arrays) is numpy's."""
    expected = callee.reference(inputs)
    pairs = [(result, expected)] if callee.graph else [(args[i], e) for i, e in expected.items()]
    for got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=what)


def _call(callee: Callee, args: list) -> Any:
    fn = callee.fn  # built (once per module) outside the time limit of the call
    with time_limit(20, f"{callee.function}(...)"), np.errstate(all="ignore"):
        return fn(*args)


CALLEE_IDS = [f"{c.module}.{c.function}" for c in CALLEES]


@fuzz_settings(150)
@pytest.mark.parametrize("callee", CALLEES, ids=CALLEE_IDS)
@given(data=st.data())
def test_bad_call_raises_naming_the_parameter(callee, data):
    kind, args, names = data.draw(bad_calls(callee), label="call")
    before, what = _copies(args), f"{callee.function} with a bad {kind} ({names[0]!r})"
    try:
        result = _call(callee, args)
    except (TypeError, ValueError) as err:
        assert any(re.search(rf"\b{re.escape(n)}\b", str(err)) for n in names), \
            f"{what}: the message does not name {' or '.join(names)}: {err}"
        _assert_unchanged(args, before, what)
        return
    # only a strided view given to a graph function may be accepted, with numpy's answer
    assert callee.graph and kind == "noncontiguous", f"{what} was accepted"
    _assert_numpy(callee, before, args, result, what)


@fuzz_settings(60)
@pytest.mark.parametrize("callee", CALLEES, ids=CALLEE_IDS)
@given(data=st.data())
def test_good_call_gives_numpys_numbers(callee, data):
    args = data.draw(good_args(callee), label="args")
    inputs = _copies(args)
    _assert_numpy(callee, inputs, args, _call(callee, args), callee.function)
