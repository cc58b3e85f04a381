"""Decorated functions and modules at the top level of a file (no enclosing indentation), with
values captured from module globals."""

from __future__ import annotations

import pytest

import tvmscript
from tvmscript import I, R, T

SIZE = 32
DTYPE = "float32"


@T.prim_func
def scale(A: T.Buffer((SIZE,), DTYPE), B: T.Buffer((SIZE,), DTYPE)):
    for i in range(SIZE):
        with T.block("B"):
            vi = T.axis.spatial(SIZE, i)
            B[vi] = A[vi] * T.float32(2)


@I.ir_module
class Module:
    @T.prim_func
    def double(A: T.Buffer((SIZE,), DTYPE), B: T.Buffer((SIZE,), DTYPE)):
        for i in range(SIZE):
            with T.block("B"):
                vi = T.axis.spatial(SIZE, i)
                B[vi] = A[vi] + A[vi]

    @R.function
    def main(x: R.Tensor((SIZE,), DTYPE)) -> R.Tensor((SIZE,), DTYPE):
        cls = Module
        y = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((SIZE,), DTYPE))
        return y


def test_top_level_function_parses_with_globals():
    assert isinstance(scale, tvmscript.PrimFunc)
    buf = scale.buffer_map[scale.params[0]]
    assert [int(s.value) for s in buf.shape] == [SIZE] and str(buf.dtype) == DTYPE
    again = tvmscript.from_source(scale.script())
    tvmscript.assert_structural_equal(scale, again)


def test_top_level_module_parses():
    assert isinstance(Module, tvmscript.IRModule)
    assert list(Module.functions) == ["double", "main"]
    tvmscript.assert_structural_equal(Module, tvmscript.from_source(Module.script()))


def test_top_level_error_points_at_file_line():
    with pytest.raises(tvmscript.ScriptError) as info:
        exec_bad()
    assert info.value.lineno == BAD_LINE and info.value.filename == __file__


@T.prim_func
def _ok(A: T.Buffer((4,), "float32")):
    A[0] = T.float32(1)


def exec_bad():
    @T.prim_func
    def bad(A: T.Buffer((4,), "float32")):
        A[0, 1] = T.float32(1)  # BAD_LINE

    return bad


BAD_LINE = next(n for n, line in enumerate(open(__file__), 1) if line.rstrip().endswith("# BAD_LINE") and "A[0, 1]" in line)
