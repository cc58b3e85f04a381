"""``PrimFunc.specialize``: size variables given values give a kernel with constant extents that
computes what the symbolic one computes at those sizes; bad sizes are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tvmscript.ir.specialize import specialize


def test_shapes_and_loops_become_constants_and_the_numbers_agree() -> None:
    func = tvmscript.from_source(PROGRAMS["symbolic_2d"])
    fixed = func.specialize(m=3, n=5)
    text = fixed.script()
    assert "T.Buffer((3, 5)" in text and "T.Buffer((5, 3)" in text and "T.int32()" not in text
    assert tvmscript.from_source(text).script() == text  # prints what parses back
    a = np.random.default_rng(0).random((3, 5), dtype=np.float32)
    b = np.zeros((5, 3), "float32")
    tvmscript.build(fixed, target="llvm")["transpose"](a, b)
    np.testing.assert_array_equal(b, a.T)
    assert func.script() == tvmscript.from_source(PROGRAMS["symbolic_2d"]).script()  # unchanged


def test_a_scalar_size_parameter_leaves_the_signature() -> None:
    func = tvmscript.from_source(PROGRAMS["scalar_param"])
    fixed = specialize(func, {"n": 100})
    assert [p.name for p in fixed.params] == ["A", "B", "alpha"]
    a = np.arange(256, dtype=np.float32)
    b = np.ones(256, "float32")
    tvmscript.build(fixed, target="llvm")["axpy"](a, b, np.float32(2.0))
    want = np.ones(256, "float32")
    want[:100] += 2 * a[:100]
    np.testing.assert_array_equal(b, want)


def test_partial_specialization_keeps_the_other_size_symbolic() -> None:
    fixed = tvmscript.from_source(PROGRAMS["symbolic_2d"]).specialize(m=4)
    text = fixed.script()
    assert "(4, n)" in text and "(n, 4)" in text


def test_no_sizes_is_the_same_function() -> None:
    func = tvmscript.from_source(PROGRAMS["symbolic_shape"])
    assert func.specialize() is func


@pytest.mark.parametrize("sizes, message", [
    ({"k": 3}, r"function `transpose` has no size variable 'k'; its size variables are \['m', 'n'\]"),
    ({"m": -1}, r"size m must be a non-negative int, got -1"),
    ({"m": 2.5}, r"size m must be a non-negative int, got 2.5"),
    ({"m": True}, r"size m must be a non-negative int, got True"),
    ({"m": 2 ** 31}, r"size m = 2147483648 does not fit its type int32"),
])
def test_bad_sizes_are_refused_by_name(sizes, message) -> None:
    func = tvmscript.from_source(PROGRAMS["symbolic_2d"])
    with pytest.raises(ValueError, match=message):
        func.specialize(sizes)


def test_a_variable_of_another_function_is_refused() -> None:
    other = tvmscript.from_source(PROGRAMS["symbolic_shape"])
    n_of_other = next(iter(other.buffer_map.values())).shape[0]
    with pytest.raises(ValueError, match="has no size variable"):
        tvmscript.from_source(PROGRAMS["symbolic_2d"]).specialize({n_of_other: 4})
