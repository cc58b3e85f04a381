"""``static-memory-plan`` and the executor that runs with it: the plan shares storage only between
tensors whose lifetimes do not overlap, never hands out what a call returns, and the planned
function computes what the unplanned one does."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmscript
from backends.build import build as build_module  # without the model pipeline: this pass alone
from backends.interpreter import InterpretedModule
from backends.runtime.executor import Executable
from passes.legalize_ops import legalize_ops
from passes.memory_plan import PLAN_ATTR, plan_memory, static_memory_plan
from passes.normalize import normalize_function
from tests.strategies import fuzz_settings
from tests.test_pass_fold_constant import graph_modules
from tvmscript.ir import graph as G
from tvmscript.ir.functor import post_order_visit


def parse(text: str) -> tvmscript.IRModule:
    obj = tvmscript.from_source(text)
    return obj if isinstance(obj, tvmscript.IRModule) else \
        tvmscript.IRModule.from_function(obj, "main")


def chain_module(length: int = 10, size: int = 16) -> tvmscript.IRModule:
    """``length`` element-wise operators one after the other."""
    ops = ["R.add(lv{p}, x)", "R.nn.relu(lv{p})", "R.multiply(lv{p}, x)", "R.negative(lv{p})"]
    lines = ["        lv0 = R.add(x, x)"] + [
        f"        lv{i} = {ops[i % 4].format(p=i - 1)}" for i in range(1, length)]
    return parse(f'''
@R.function
def main(x: R.Tensor(({size}, {size}), "float32")) -> R.Tensor(({size}, {size}), "float32"):
    with R.dataflow():
{chr(10).join(lines)}
        gv = R.subtract(lv{length - 1}, x)
        R.output(gv)
    return gv
''')


def chain_reference(x: np.ndarray, length: int = 10) -> np.ndarray:
    v = x + x
    for i in range(1, length):
        v = [lambda v: v + x, lambda v: np.maximum(v, 0), lambda v: v * x, np.negative][i % 4](v)
    return v - x


# ---------------------------------------------------------------- the pass


def test_the_pass_marks_graph_functions():
    before = '''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    gv = R.nn.relu(x)
    return gv
'''
    expected = '''
@R.function
def main(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    R.func_attr({"relax.static_memory_plan": True})
    gv = R.nn.relu(x)
    return gv
'''
    after = static_memory_plan(parse(before))
    tvmscript.assert_structural_equal(after, parse(expected))
    assert static_memory_plan(after) is after
    assert tvmscript.from_source(after.script())["main"].attrs[PLAN_ATTR] is True  # round-trips


# ---------------------------------------------------------------- the plan


KERNELS = '''
@I.ir_module
class Module:
    @T.prim_func(private=True)
    def twice(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
        for i in range(64):
            with T.block("b"):
                vi = T.axis.spatial(64, i)
                B[vi] = A[vi] * T.float32(2)

    @T.prim_func(private=True)
    def split(A: T.Buffer((64,), "float32"), P: T.Buffer((64,), "float32"), N: T.Buffer((32,), "float32")):
        for i in range(64):
            with T.block("p"):
                vi = T.axis.spatial(64, i)
                P[vi] = T.max(A[vi], T.float32(0))
        for i in range(32):
            with T.block("n"):
                vi = T.axis.spatial(32, i)
                N[vi] = T.min(A[vi], T.float32(0))

    @T.prim_func(private=True)
    def add(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32"), C: T.Buffer((64,), "float32")):
        for i in range(64):
            with T.block("c"):
                vi = T.axis.spatial(64, i)
                C[vi] = A[vi] + B[vi]

    @R.function(private=True)
    def same(x: R.Tensor((64,), "float32")) -> R.Tensor((64,), "float32"):
        return x

    @R.function
    def main(x: R.Tensor((64,), "float32")) -> R.Tuple(R.Tensor((64,), "float32"), R.Tensor((64,), "float32")):
        R.func_attr({"relax.static_memory_plan": True})
        cls = Module
        lv = R.call_tir(cls.twice, (x,), out_sinfo=R.Tensor((64,), "float32"))
        lv1 = R.call_tir(cls.twice, (lv,), out_sinfo=R.Tensor((64,), "float32"))
        lv2 = R.call_tir(cls.twice, (lv1,), out_sinfo=R.Tensor((64,), "float32"))
        parts = R.call_tir(cls.split, (lv2,), out_sinfo=[R.Tensor((64,), "float32"), R.Tensor((32,), "float32")])
        pos = parts[0]
        lv3 = R.call_tir(cls.twice, (pos,), out_sinfo=R.Tensor((64,), "float32"))
        kept = R.call_tir(cls.twice, (lv3,), out_sinfo=R.Tensor((64,), "float32"))
        through = cls.same(kept)
        lv4 = R.call_tir(cls.twice, (through,), out_sinfo=R.Tensor((64,), "float32"))
        lv5 = R.call_tir(cls.add, (lv4, lv3), out_sinfo=R.Tensor((64,), "float32"))
        gv = (lv5, through)
        return gv
'''


def names(plan, storage: int) -> list[str]:
    return [t.var.name + ("" if t.field is None else f"[{t.field}]") for t in plan.tensors
            if t.storage == storage]


def test_the_plan_shares_storage_between_disjoint_lifetimes_only():
    plan = plan_memory(parse(KERNELS)["main"])
    # lv dies at lv1, lv1 at lv2, lv2 at parts: three tensors, two storages; parts[1] is never
    # read; lv3 lives until lv5; `kept` is returned through `same`, and lv5 inside the tuple
    assert [names(plan, s) for s in range(len(plan.storage_bytes))] == \
        [["lv", "lv2", "lv3"], ["lv1", "parts[0]", "lv4"], ["parts[1]"]]
    assert plan.storage_bytes == (256, 256, 128)
    assert plan.unplanned == 2  # kept and lv5
    assert plan.naive_bytes == 256 * 6 + 128


def test_planned_module_computes_the_same_and_returns_fresh_arrays():
    mod = parse(KERNELS)
    planned = Executable(mod, InterpretedModule(mod))["main"]
    x = np.linspace(-2, 2, 64).astype("float32")
    lv2 = x * 8
    lv3 = np.maximum(lv2, 0) * 2
    expected = (lv3 * 4 + lv3, lv3 * 2)
    first = planned(x)
    second = planned(-x)
    for got, want in zip(first, expected):
        np.testing.assert_array_equal(got, want)  # unchanged by the second call
    for a in first:
        assert not any(np.shares_memory(a, b) for b in second)
    stats = planned.memory_stats()
    assert stats == {"planned": True, "peak_bytes": 640, "naive_bytes": 1664, "storages": 3,
                     "tensors": 7, "unplanned_tensors": 2}


@pytest.mark.parametrize("target", ["interpreter", "llvm"])
def test_a_chain_of_ten_element_wise_operators_needs_two_buffers(target):
    mod = chain_module()
    x = np.random.default_rng(0).standard_normal((16, 16)).astype("float32")
    plain = build_module(mod, target=target)["main"]
    planned = build_module(static_memory_plan(mod), target=target)["main"]
    expected = chain_reference(x)
    np.testing.assert_allclose(plain(x), expected, rtol=1e-6)
    for _ in range(3):  # the storages are reused by every call
        np.testing.assert_array_equal(planned(x), plain(x))
    stats, naive = planned.memory_stats(), plain.memory_stats()
    assert stats["planned"] and not naive["planned"]
    assert stats["peak_bytes"] == 2 * 16 * 16 * 4 < naive["peak_bytes"] == 10 * 16 * 16 * 4
    assert stats["unplanned_tensors"] == 1  # the result


def test_calls_from_several_threads_get_storages_of_their_own():
    mod = static_memory_plan(chain_module(size=64))
    ex = build_module(mod, target="llvm")
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((64, 64)).astype("float32") for _ in range(4)]
    expected = [chain_reference(x) for x in inputs]
    failures: list[str] = []

    def work(i: int) -> None:
        for _ in range(25):
            got = ex["main"](inputs[i])
            if not np.allclose(got, expected[i], rtol=1e-5, atol=1e-6):
                failures.append(f"thread {i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_dynamic_shapes_are_allocated_per_call():
    mod = static_memory_plan(parse('''
@R.function
def main(x: R.Tensor(("n", 4), "float32")) -> R.Tensor(("n", 4), "float32"):
    n = T.int64()
    with R.dataflow():
        lv = R.add(x, x)
        lv1 = R.nn.relu(lv)
        gv = R.multiply(lv1, x)
        R.output(gv)
    return gv
'''))
    f = build_module(mod, target="interpreter")["main"]
    for rows in (3, 5):
        x = np.arange(rows * 4, dtype="float32").reshape(rows, 4) - 6
        np.testing.assert_array_equal(f(x), np.maximum(2 * x, 0) * x)
    assert f.memory_stats() == {"planned": True, "peak_bytes": 0, "naive_bytes": 0,
                                "storages": 0, "tensors": 0, "unplanned_tensors": 3}


def test_memory_stats_of_a_kernel_is_refused():
    mod = parse(KERNELS)
    with pytest.raises(TypeError, match="'twice' is a loop-level function"):
        Executable(mod, InterpretedModule(mod)).memory_stats("twice")


# ---------------------------------------------------------------- properties


def lifetimes(func: G.Function) -> dict[G.GraphVar, tuple[int, int]]:
    """(defined, last read) binding indices of each bound variable, counted directly."""
    bindings = [b for block in func.body.blocks for b in block.bindings]
    span = {b.var: (i, i) for i, b in enumerate(bindings)}
    for i, b in enumerate(bindings):
        def read(node, i=i):
            if isinstance(node, G.GraphVar) and node in span:
                span[node] = (span[node][0], i)
        post_order_visit(b.value, read)
    return span


@fuzz_settings(40)
@given(graph_modules())
def test_storage_is_shared_only_between_disjoint_lifetimes(mod):
    func = normalize_function(legalize_ops(mod)["main"])
    plan = plan_memory(func)
    span = lifetimes(func)
    returned = set()
    post_order_visit(func.body.body, lambda n: returned.add(n) if isinstance(n, G.GraphVar)
                     else None)
    for t in plan.tensors:
        assert t.var not in returned
        for u in plan.tensors:  # sharing storage: one is last read before the other is made
            if u is not t and u.storage == t.storage:
                (a0, a1), (b0, b1) = span[t.var], span[u.var]
                assert a1 < b0 or b1 < a0, (t.var.name, u.var.name)


@fuzz_settings(12)
@given(graph_modules(), st.integers(0, 2**16))
def test_planned_graphs_compute_the_same(mod, seed):
    rng = np.random.default_rng(seed)
    args = [rng.integers(-2, 3, [s.value for s in p.sinfo.shape]).astype("float32")
            for p in mod["main"].params]
    plain = build_module(mod, target="interpreter")["main"]
    planned = build_module(static_memory_plan(mod), target="interpreter")["main"]
    expected = plain(*args)
    np.testing.assert_array_equal(planned(*args), expected)
    np.testing.assert_array_equal(planned(*args), expected)  # with the storages reused
