"""Structural equality and hashing: equal up to renaming, unequal on any real change, and the
mismatch message names the path of the first difference."""

from __future__ import annotations

import pytest

import tvmscript
from tvmscript import ir
from tvmscript.ir import const

MATMUL = '''
@T.prim_func
def mm(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), C: T.Buffer((64, 64), "float32")):
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''


def parse(text: str):
    return tvmscript.from_source(text)


def test_renamed_variables_and_buffers_are_equal():
    renamed = (MATMUL.replace("vi", "x").replace("vj", "y").replace("vk", "z")
               .replace("A", "Lhs").replace("B[", "Rhs[").replace("B: ", "Rhs: ")
               .replace("i, j, k", "a, b, c").replace("[i, j, k]", "[a, b, c]"))
    lhs, rhs = parse(MATMUL), parse(renamed)
    assert tvmscript.structural_equal(lhs, rhs)
    assert tvmscript.structural_hash(lhs) == tvmscript.structural_hash(rhs)


@pytest.mark.parametrize(
    "old, new, path_part",
    [
        ("T.float32(0)", "T.float32(1)", ".init"),
        ('"float32"), C', '"float32", align=128), C', ".buffer_map"),
        ("T.grid(64, 64, 64)", "T.grid(64, 64, 32)", ".extent"),
        ("C[vi, vj] + A", "C[vi, vj] - A", ".value"),
        ('"SSR"', '"SSS"', ".iter_type"),
        ('block("C")', 'block("D")', ".name_hint"),
    ],
)
def test_changes_are_unequal_and_located(old, new, path_part):
    assert old in MATMUL
    lhs, rhs = parse(MATMUL), parse(MATMUL.replace(old, new, 1))
    assert not tvmscript.structural_equal(lhs, rhs)
    with pytest.raises(tvmscript.ir.StructuralMismatch) as info:
        tvmscript.assert_structural_equal(lhs, rhs)
    assert path_part in info.value.path
    message = str(info.value)
    assert "lhs" in message and "rhs" in message and info.value.path in message


def test_loop_kind_and_buffer_shape_changes():
    base = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in T.serial(16):
        A[i] = T.float32(0)
'''
    kind = base.replace("T.serial", "T.parallel")
    shape = base.replace("(16,)", "(32,)")
    for other, where in ((kind, ".kind"), (shape, ".shape")):
        with pytest.raises(tvmscript.ir.StructuralMismatch) as info:
            tvmscript.assert_structural_equal(parse(base), parse(other))
        assert where in info.value.path


def test_free_variables_compare_by_identity_unless_mapped():
    x, y = ir.Var("x"), ir.Var("y")
    assert not tvmscript.structural_equal(x + 1, y + 1)
    assert tvmscript.structural_equal(x + 1, y + 1, map_free_vars=True)
    assert tvmscript.structural_equal(x + 1, x + 1)


def test_bound_variables_must_correspond_consistently():
    i, j = ir.Var("i"), ir.Var("j")
    A = ir.decl_buffer((4, 4), "float32", "A")
    body_ij = ir.BufferStore(A, const(0.0), (i, j))
    body_ji = ir.BufferStore(A, const(0.0), (j, i))
    nest = lambda body: ir.For(i, const(0), const(4), "serial", ir.For(j, const(0), const(4), "serial", body))  # noqa: E731
    assert not tvmscript.structural_equal(nest(body_ij), nest(body_ji), map_free_vars=True)
    assert tvmscript.structural_equal(nest(body_ij), nest(body_ij))


def test_dtype_of_variable_matters():
    a, b = ir.Var("n", "int32"), ir.Var("n", "int64")
    la = ir.LetStmt(a, const(1), ir.Evaluate(a))
    lb = ir.LetStmt(b, const(1, "int64"), ir.Evaluate(b))
    assert not tvmscript.structural_equal(la, lb)


def test_nodes_are_immutable_and_with_returns_same_object():
    i = ir.Var("i")
    loop = ir.For(i, const(0), const(4), "serial", ir.Evaluate(const(0)))
    with pytest.raises(AttributeError):
        loop.extent = const(8)
    assert loop.with_(extent=loop.extent) is loop
    changed = loop.with_(extent=const(8))
    assert changed is not loop and changed.extent.value == 8 and loop.extent.value == 4


def test_equal_constants_hash_equal():
    assert hash(const(1.0)) == hash(const(1.0)) and const(1.0) == const(1.0)
    assert const(1.0) != const(1.0, "float16")
    assert ir.IntImm("int32", 3) != ir.IntImm("int64", 3)
