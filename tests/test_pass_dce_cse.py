"""``dead-code-elimination`` and ``common-subexpr-elim``: Before/Expected scripts, and the
property that neither changes what a module computes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmscript
from passes.common_subexpr import common_subexpr_elim
from passes.dead_code import dead_code_elimination, eliminate_dead_code
from tests.strategies import fuzz_settings
from tests.test_pass_fold_constant import graph_modules, run_both
from tvmscript.ir import graph as G
from tvmscript.ir.functor import post_order_visit


def parse(text: str) -> tvmscript.IRModule:
    obj = tvmscript.from_source(text)
    return obj if isinstance(obj, tvmscript.IRModule) else \
        tvmscript.IRModule.from_function(obj, "main")


def check(pass_, before: str, expected: str) -> None:
    tvmscript.assert_structural_equal(pass_(parse(before)), parse(expected))


# ---------------------------------------------------------------- dead-code-elimination


def test_unused_bindings_go_chains_included():
    check(dead_code_elimination, '''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    with R.dataflow():
        lv = R.add(x, x)
        lv1 = R.nn.relu(lv)
        pair = (lv1, x)
        first = pair[0]
        gv = R.multiply(x, x)
        R.output(gv)
    unused = R.exp(gv)
    return gv
''', '''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    with R.dataflow():
        gv = R.multiply(x, x)
        R.output(gv)
    return gv
''')


def test_a_block_left_empty_goes():
    check(dead_code_elimination, '''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    with R.dataflow():
        lv = R.add(x, x)
        gv = R.nn.relu(lv)
        R.output(gv)
    return x
''', '''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    return x
''')


MODULE = '''
@I.ir_module
class Module:
    @T.prim_func(private=True)
    def add(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32"), C: T.Buffer((4,), "float32")):
        for i in range(4):
            with T.block("c"):
                vi = T.axis.spatial(4, i)
                C[vi] = A[vi] + B[vi]

    @T.prim_func(private=True)
    def unused_kernel(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
        for i in range(4):
            with T.block("c"):
                vi = T.axis.spatial(4, i)
                B[vi] = A[vi]

    @T.prim_func
    def public_kernel(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
        for i in range(4):
            with T.block("c"):
                vi = T.axis.spatial(4, i)
                B[vi] = A[vi]

    @R.function(private=True)
    def helper(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
        cls = Module
        y = R.call_tir(cls.add, (x, x), out_sinfo=R.Tensor((4,), "float32"))
        return y

    @R.function(private=True)
    def only_called_by_dead_code(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
        return x

    @R.function
    def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
        cls = Module
        dead = cls.only_called_by_dead_code(x)
        y = cls.helper(x)
        return y
'''


def test_functions_no_entry_point_reaches_go():
    after = dead_code_elimination(parse(MODULE))
    assert sorted(after.functions) == ["add", "helper", "main", "public_kernel"]
    assert len(after["main"].body.blocks[0].bindings) == 1


def test_main_without_attributes_is_an_entry_point_and_others_can_be_named():
    mod = parse(MODULE)
    main = mod["main"]
    bare = mod.with_(functions={**mod.functions,
                                "main": main.with_(attrs={})})  # as a builder may make it
    assert "main" in eliminate_dead_code(bare).functions
    kept = eliminate_dead_code(mod, entry_functions=["only_called_by_dead_code"])
    assert "only_called_by_dead_code" in kept.functions and "unused_kernel" not in kept.functions
    with pytest.raises(KeyError, match="entry function 'nope' is not in the module"):
        eliminate_dead_code(mod, entry_functions=["nope"])


def test_nothing_dead_gives_the_same_module():
    mod = parse('''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    gv = R.add(x, x)
    return gv
''')
    assert dead_code_elimination(mod) is mod


# ---------------------------------------------------------------- common-subexpr-elim


def test_a_call_bound_twice_is_computed_once():
    check(common_subexpr_elim, '''
@R.function
def main(x: R.Tensor((2, 3), "float32"), y: R.Tensor((2, 3), "float32")) -> R.Tensor((2, 3), "float32"):
    with R.dataflow():
        lv = R.add(x, y)
        lv1 = R.add(x, y)
        lv2 = R.nn.relu(lv)
        lv3 = R.nn.relu(lv1)
        gv = R.multiply(lv2, lv3)
        R.output(gv)
    return gv
''', '''
@R.function
def main(x: R.Tensor((2, 3), "float32"), y: R.Tensor((2, 3), "float32")) -> R.Tensor((2, 3), "float32"):
    with R.dataflow():
        lv = R.add(x, y)
        lv2 = R.nn.relu(lv)
        gv = R.multiply(lv2, lv2)
        R.output(gv)
    return gv
''')


def test_a_block_output_keeps_its_variable():
    check(common_subexpr_elim, '''
@R.function
def main(x: R.Tensor((2, 3), "float32")) -> R.Tensor((2, 3), "float32"):
    with R.dataflow():
        lv = R.nn.relu(x)
        gv = R.nn.relu(x)
        lv1 = R.add(lv, gv)
        R.output(gv)
    out = R.add(gv, gv)
    return out
''', '''
@R.function
def main(x: R.Tensor((2, 3), "float32")) -> R.Tensor((2, 3), "float32"):
    with R.dataflow():
        lv = R.nn.relu(x)
        gv = lv
        lv1 = R.add(lv, lv)
        R.output(gv)
    out = R.add(gv, gv)
    return out
''')


def test_different_attributes_or_scopes_are_not_merged():
    mod = parse('''
@R.function
def main(x: R.Tensor((2, 2), "float32")) -> R.Tensor((2, 2), "float32"):
    with R.dataflow():
        a = R.sum(x, axis=[0], keepdims=True)
        b = R.sum(x, axis=[1], keepdims=True)
        c = R.permute_dims(x, axes=[1, 0])
        d = R.add(a, b)
        gv = R.add(d, c)
        R.output(gv)
    with R.dataflow():
        c1 = R.permute_dims(x, axes=[1, 0])
        gv1 = R.add(gv, c1)
        R.output(gv1)
    return gv1
''')
    assert common_subexpr_elim(mod) is mod


def test_call_tir_bound_twice_is_merged():
    before = parse('''
@I.ir_module
class Module:
    @T.prim_func(private=True)
    def double(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
        for i in range(4):
            with T.block("c"):
                vi = T.axis.spatial(4, i)
                B[vi] = A[vi] * T.float32(2)

    @R.function
    def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
        cls = Module
        a = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((4,), "float32"))
        b = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((4,), "float32"))
        c = R.call_tir(cls.double, (b,), out_sinfo=R.Tensor((4,), "float32"))
        return c
''')
    after = common_subexpr_elim(before)["main"]
    (block,) = after.body.blocks
    assert len(block.bindings) == 2
    assert block.bindings[1].value.args[1].fields[0] is block.bindings[0].var


# ---------------------------------------------------------------- properties


@fuzz_settings(12)
@given(graph_modules(dup=True), st.integers(0, 2**16))
def test_dce_preserves_what_the_module_computes(mod, seed):
    after = dead_code_elimination(mod)
    tvmscript.verify(after)
    run_both(mod, after, seed)
    used = set()
    body = after["main"].body
    bindings = [b for block in body.blocks for b in block.bindings]
    for expr in [b.value for b in bindings] + [body.body]:
        post_order_visit(expr, lambda n: used.add(n) if isinstance(n, G.GraphVar) else None)
    assert all(b.var in used for b in bindings)  # every binding left is read by something


@fuzz_settings(12)
@given(graph_modules(dup=True), st.integers(0, 2**16))
def test_cse_preserves_what_the_module_computes(mod, seed):
    after = common_subexpr_elim(mod)
    tvmscript.verify(after)
    run_both(mod, after, seed)
    seen = []
    for block in after["main"].body.blocks:  # no operator call is bound twice any more
        for b in block.bindings:
            if isinstance(b.value, G.Call):
                assert not any(tvmscript.structural_equal(b.value, v) for v in seen)
                seen.append(b.value)
