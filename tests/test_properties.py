"""Properties over random programs: print/parse round trips, and structural_hash agreeing
with structural_equal."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

import tvmscript
from tests.strategies import graph_functions, prim_funcs

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def round_trip(obj) -> None:
    text = obj.script()
    again = tvmscript.from_source(text)
    tvmscript.assert_structural_equal(obj, again)
    assert tvmscript.structural_hash(obj) == tvmscript.structural_hash(again)
    assert again.script() == text


@SETTINGS
@given(prim_funcs())
def test_prim_func_round_trip(func):
    tvmscript.verify(func)
    round_trip(func)


@SETTINGS
@given(graph_functions())
def test_graph_function_round_trip(func):
    round_trip(func)


@SETTINGS
@given(prim_funcs(), prim_funcs())
def test_hash_agrees_with_equality(f, g):
    if tvmscript.structural_equal(f, g):
        assert tvmscript.structural_hash(f) == tvmscript.structural_hash(g)
    # a program is always equal to a fresh parse of its own script
    again = tvmscript.from_source(f.script())
    assert tvmscript.structural_equal(f, again)
    assert tvmscript.structural_hash(f) == tvmscript.structural_hash(again)
