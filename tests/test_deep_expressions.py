"""Deep expressions through the whole stack (issue 9): the deepest expression a script may hold
(``tvmscript.ir.depth.MAX_EXPR_DEPTH``) parses, prints, lowers and computes numpy's numbers on
both targets; one level more is a ScriptError at its line; IR built in Python deeper than build
handles is a ValueError naming the function."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tvmscript
from tvmscript import ScriptError, from_source
from tvmscript.ir import Mutator
from tvmscript.ir import expr as E
from tvmscript.ir.depth import BUILD_MAX_DEPTH, MAX_EXPR_DEPTH, expr_depth
from tvmscript.ir.structural import structural_hash

TARGETS = ["llvm", "interpreter"]
EXPR_LINE, EXPR_COL = 7, 20  # where the kernel's expression starts
A = np.array([3, -5, 7, 150], dtype="float32")

# One level of nesting: (script text around the inner expression x, the same in numpy)
Wrap = tuple[str, Callable[[np.ndarray], np.ndarray]]
LEFT_SUM: Wrap = ("{} + A[vi]", lambda x: x + A)
RIGHT_SUB: Wrap = ("A[vi] - ({})", lambda x: A - x)
NESTED_MAX: Wrap = ("T.max(A[vi], {})", lambda x: np.maximum(A, x))
NESTED_MIN: Wrap = ("T.min(T.float32(4), {})", lambda x: np.minimum(4, x))
NEG: Wrap = ("-{}", lambda x: -x)
NEG_PAREN: Wrap = ("-({})", lambda x: -x)
SHAPES: dict[str, list[Wrap]] = {
    "left-sum": [LEFT_SUM], "right-sub": [RIGHT_SUB], "max-min": [NESTED_MAX, NESTED_MIN],
    "neg": [NEG],
    "mixed": [LEFT_SUM, NESTED_MAX, RIGHT_SUB, NESTED_MIN, NEG_PAREN],
}


def nested(shape: str, levels: int, start: tuple[str, np.ndarray] = ("A[vi]", A)
           ) -> tuple[str, np.ndarray]:
    """``levels`` wraps of ``start`` (by default ``A[vi]``, 2 levels deep): the text, ``levels``
    deeper, and its value."""
    text, value = start[0], start[1].copy()
    wraps = SHAPES[shape]
    for k in range(levels):
        fmt, fn = wraps[k % len(wraps)]
        text, value = fmt.format(text), fn(value).astype("float32")
    return text, value


def kernel(expr: str) -> str:
    return f'''from tvmscript import T
@T.prim_func
def f(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
    for i in range(4):
        with T.block("b"):
            vi = T.axis.spatial(4, i)
            B[vi] = {expr}
'''


def run(f: tvmscript.ir.PrimFunc, target: str) -> np.ndarray:
    b = np.zeros(4, dtype="float32")
    tvmscript.build(f, target=target)["f"](A.copy(), b)
    return b


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_deepest_accepted_expression_computes_numpys_number(shape: str, target: str) -> None:
    text, expected = nested(shape, MAX_EXPR_DEPTH - 2)
    f = from_source(kernel(text))
    np.testing.assert_allclose(run(f, target), expected, rtol=1e-6)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_one_level_deeper_is_a_script_error_at_the_expression(shape: str) -> None:
    text, _ = nested(shape, MAX_EXPR_DEPTH - 1)
    with pytest.raises(ScriptError) as info:
        from_source(kernel(text))
    err = info.value
    assert (err.lineno, err.col_offset) == (EXPR_LINE, EXPR_COL), str(err)
    assert err.message == (
        f"this expression is nested too deeply ({MAX_EXPR_DEPTH + 1} levels; the limit is "
        f"{MAX_EXPR_DEPTH}); split it into several statements (e.g. with let bindings x = ...)")


def test_a_very_long_sum_names_its_line_not_the_enclosing_block() -> None:
    err = pytest.raises(ScriptError, from_source, kernel(" + ".join(["A[vi]"] * 900))).value
    assert (err.lineno, err.col_offset) == (EXPR_LINE, EXPR_COL), str(err)
    assert f"nested too deeply (901 levels; the limit is {MAX_EXPR_DEPTH})" in err.message


@pytest.mark.parametrize("shape", list(SHAPES))
def test_deepest_accepted_expression_prints_hashes_and_round_trips(shape: str) -> None:
    f = from_source(kernel(nested(shape, MAX_EXPR_DEPTH - 2)[0]))
    g = from_source(f.script())
    tvmscript.assert_structural_equal(f, g)
    assert structural_hash(f) == structural_hash(g)
    assert hash(f.body) == hash(g.body) or f.body != g.body


class _SetValue(Mutator):
    def __init__(self, value: E.PrimExpr) -> None:
        self.value = value

    def visit_BufferStore(self, store):  # noqa: ANN001, ANN201 - the Mutator's hook
        return store.with_(value=self.value)


def python_built(depth: int) -> tvmscript.ir.PrimFunc:
    """The kernel with ``B[vi] = A[vi] + A[vi] + ...`` built in Python, ``depth`` levels deep."""
    f = from_source(kernel("A[vi]"))
    load = _find_load(f)
    value = load
    for _ in range(depth - 2):
        value = E.Add(value, load)
    assert expr_depth(value) == depth
    return f.with_(body=_SetValue(value).visit(f.body))


def _find_load(f: tvmscript.ir.PrimFunc) -> E.BufferLoad:
    found: list[E.BufferLoad] = []
    tvmscript.ir.post_order_visit(f.body, lambda n: found.append(n)
                                  if isinstance(n, E.BufferLoad) else None)
    return found[0]


@pytest.mark.parametrize("target", TARGETS)
def test_python_built_expression_as_deep_as_build_allows_runs(target: str) -> None:
    f = python_built(BUILD_MAX_DEPTH)
    np.testing.assert_allclose(run(f, target), A * (BUILD_MAX_DEPTH - 1))


@pytest.mark.parametrize("target", TARGETS)
def test_python_built_expression_too_deep_is_a_clear_build_error(target: str) -> None:
    f = python_built(BUILD_MAX_DEPTH + 1)
    with pytest.raises(ValueError) as info:
        tvmscript.build(f, target=target)
    assert str(info.value) == (
        f"function 'f' has an expression nested {BUILD_MAX_DEPTH + 1} levels deep, more than "
        f"build handles ({BUILD_MAX_DEPTH}; scripts allow {MAX_EXPR_DEPTH}); split it into "
        "several statements (e.g. with let bindings x = ...)")


def test_hash_of_a_fresh_deep_python_built_tree() -> None:
    x = E.Var("x", "float32")
    value: E.PrimExpr = x
    for _ in range(5000):
        value = E.Add(value, x)
    other: E.PrimExpr = x
    for _ in range(5000):
        other = E.Add(other, x)
    assert hash(value) == hash(other) and value == other
    assert expr_depth(value) == 5001


def _interpreted_source(f: tvmscript.ir.PrimFunc) -> str:
    from backends.interpreter import compile_prim_func

    return compile_prim_func(f).source


def test_interpreter_lines_stay_well_under_pythons_bracket_limit() -> None:
    from backends.interpreter.translate_expr import bracket_nesting

    f = from_source(kernel(nested("mixed", MAX_EXPR_DEPTH - 2)[0]))
    source = _interpreted_source(f)
    assert " = lambda: " in source
    assert max(bracket_nesting(line) for line in source.splitlines()) <= 150


@pytest.mark.parametrize("target", TARGETS)
def test_deep_branch_of_if_then_else_is_evaluated_only_when_taken(target: str) -> None:
    deep, _ = nested("max-min", MAX_EXPR_DEPTH - 4)
    deep = deep.replace("A[vi]", "A[vi + 1]")  # out of bounds for vi == 3, never evaluated there
    f = from_source(kernel(f"T.if_then_else(vi < 3, {deep}, T.float32(-1))"))
    _, expected = nested("max-min", MAX_EXPR_DEPTH - 4)
    shifted = np.append(expected[1:], np.float32(-1))
    np.testing.assert_allclose(run(f, target), shifted)


@pytest.mark.parametrize("target", TARGETS)
def test_deep_let_body_inside_a_deep_expression(target: str) -> None:
    # The innermost operand is -x (2 levels, as A[vi] is): with x everywhere T.max(x, x) would
    # fold to x at parse and lose a level.
    body, value = nested("max-min", 99, start=("-x", -A))
    let = f"T.let(x, A[vi], {body.replace('A[vi]', 'x')})"  # x is A[vi]; 102 levels deep
    text, expected = nested("mixed", MAX_EXPR_DEPTH - 102, start=(let, value))
    f = from_source(kernel(text).replace("    for i", "    x = T.float32()\n    for i"))
    assert expr_depth(f.body) == MAX_EXPR_DEPTH
    np.testing.assert_allclose(run(f, target), expected)
