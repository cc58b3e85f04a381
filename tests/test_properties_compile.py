"""Properties over random programs: LLVM computes what the interpreter computes, and every
lowering pass preserves what the interpreter computes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmscript
from backends.interpreter import run
from passes import PassContext, get_pass
from passes.pipeline import default_pipeline
from tests.references import random_args
from tests.strategies import RACE_FREE_KINDS, elementwise_funcs, prim_funcs

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _outputs_equal(got: list, want: list) -> None:
    for a, b in zip(got, want):
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3, equal_nan=True)
            else:
                np.testing.assert_array_equal(a, b)


def _copy(args: list) -> list:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@SETTINGS
@given(st.one_of(prim_funcs(loop_kinds=RACE_FREE_KINDS), elementwise_funcs()))
def test_compiled_matches_interpreted(func):
    args = random_args(func, np.random.default_rng(0))
    oracle = _copy(args)
    with np.errstate(all="ignore"):
        run(func, *oracle)
    tvmscript.build(func, target="llvm")[func.name or "main"](*args)
    _outputs_equal(args, oracle)


@SETTINGS
@given(st.one_of(prim_funcs(loop_kinds=RACE_FREE_KINDS), elementwise_funcs()))
def test_each_lowering_pass_preserves_semantics(func):
    args = random_args(func, np.random.default_rng(1))
    expected = _copy(args)
    with np.errstate(all="ignore"):
        run(func, *expected)
    mod = tvmscript.IRModule.from_function(func, "main")
    with PassContext():
        for p in default_pipeline().passes:
            mod = p(mod)
            got = _copy(args)
            with np.errstate(all="ignore"):
                run(mod["main"], *got)
            try:
                _outputs_equal(got, expected)
            except AssertionError as exc:
                exc.add_note(f"after pass {p.name!r}:\n{mod.script()}")
                raise
    assert get_pass("lower-blocks") in default_pipeline().passes
