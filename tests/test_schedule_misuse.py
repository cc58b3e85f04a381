"""Misuse of schedule primitives, as a new user and a fuzzer found it (issue 9).

Every misuse is a ``ScheduleError`` (a wrong-kind argument is ``ScheduleArgumentError``, which
is also a ``TypeError``) naming the primitive and what is wrong, and leaves ``sch.mod`` and
``sch.trace`` exactly as they were. Integers must fit the loop variable's dtype; a primitive
whose result is ill-formed, or that fails inside, is refused with the primitive named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tests.schedule_testing import check_numbers, expect_error
from tvmscript import Schedule, ScheduleError
from tvmscript.ir import stmt as S
from tvmscript.schedule import BlockRV, IndexMap, LoopRV, register_primitive
from tvmscript.schedule.errors import ScheduleArgumentError
from tvmscript.schedule.schedule import PRIMITIVES
from tvmscript.schedule.state import replace

import tuner.space  # noqa: F401 - registers the tuner's primitive, so the table is complete

MATMUL = tvmscript.from_source(PROGRAMS["matmul"])

BIG = tvmscript.from_source('''
@T.prim_func
def big(A: T.Buffer((65536, 65536), "float32")):
    for i, j in T.grid(65536, 65536):
        with T.block("A"):
            vi, vj = T.axis.remap("SS", [i, j])
            A[vi, vj] = T.float32(0)
''')

PADDED = tvmscript.from_source('''
@T.prim_func
def padded(A: T.Buffer((10,), "int8"), B: T.Buffer((10,), "int8")):
    for i in range(10):
        with T.block("B"):
            vi = T.axis.spatial(10, i)
            B[vi] = A[vi]
''')


def matmul() -> tuple[Schedule, BlockRV, list[LoopRV]]:
    """A matmul schedule that already has one instruction in its trace."""
    sch = Schedule(MATMUL)
    block = sch.get_block("C")
    return sch, block, sch.get_loops(block)


# ---------------------------------------------------------------- integers that must fit


def test_split_factor_beyond_int32_is_refused() -> None:
    sch, _, (i, _, _) = matmul()
    expect_error(sch, lambda: sch.split(i, factors=[None, 2**31]),
                 "split factor 2147483648 of loop `i` does not fit int32 "
                 "(-2147483648 to 2147483647)")
    expect_error(sch, lambda: sch.split(i, factors=[-(2**40), None]),
                 "split factors of loop `i` must be positive, got -1099511627776")


def test_split_factors_whose_product_overflows_are_refused() -> None:
    sch, _, (i, _, _) = matmul()
    expect_error(sch, lambda: sch.split(i, factors=[65536, 65536]),
                 "the factors [65536, 65536] of loop `i` multiply to 4294967296, which does "
                 "not fit int32 (-2147483648 to 2147483647)")
    expect_error(sch, lambda: sch.split(i, factors=[3, None, 2**30]),
                 "the factors [3, 1, 1073741824] of loop `i` multiply to 3221225472")


@pytest.mark.parametrize("factors,message", [
    ([None, 0], "split factors of loop `i` must be positive, got 0"),
    ([-4, None], "split factors of loop `i` must be positive, got -4"),
    ([2.5, 64], "a split factor of loop `i` must be an integer or None, got 2.5"),
    ([True, 128], "a split factor of loop `i` must be an integer or None, got True"),
    (["4", None], "a split factor of loop `i` must be an integer or None, got '4'"),
    ([4, 4], "the factors [4, 4] of loop `i` multiply to 16, less than its extent 128"),
    ([None, None], "split of loop `i` takes at most one None factor"),
])
def test_split_bad_factors(factors: list, message: str) -> None:
    sch, _, (i, _, _) = matmul()
    expect_error(sch, lambda: sch.split(i, factors=factors), message)


def test_split_accepts_numpy_integers_and_the_largest_int32_factor() -> None:
    sch, _, (i, _, _) = matmul()
    sch.split(i, factors=[np.int64(8), None])
    check_numbers(MATMUL, sch)
    sch, _, (i, _, _) = matmul()
    outer, inner = sch.split(i, factors=[None, 2**31 - 1])
    assert [sch.get(lp).extent.value for lp in (outer, inner)] == [1, 2**31 - 1]
    assert tvmscript.from_source(sch.mod.script()).script() == sch.mod.script()


def test_split_of_an_int64_loop_takes_int64_factors() -> None:
    sch = Schedule(tvmscript.from_source('''
@T.prim_func
def big(A: T.Buffer((T.int64(64),), "float32")):
    for i in range(T.int64(64)):
        with T.block("A"):
            vi = T.axis.spatial(T.int64(64), i)
            A[vi] = T.float32(0)
'''))
    (loop,) = sch.get_loops(sch.get_block("A"))
    outer, inner = sch.split(loop, factors=[None, 2**31])
    assert sch.get(inner).extent.value == 2**31
    assert sch.get(outer).extent.dtype.bits == 64


def test_fuse_whose_extent_overflows_is_refused() -> None:
    sch = Schedule(BIG)
    i, j = sch.get_loops(sch.get_block("A"))
    expect_error(sch, lambda: sch.fuse(i, j),
                 "cannot fuse loops `i`, `j`: their fused extent 4294967296 does not fit "
                 "int32 (-2147483648 to 2147483647)")


@pytest.mark.parametrize("call,message", [
    (lambda sch, i: sch.sample_perfect_tile(i, n=0),
     "sample_perfect_tile needs n >= 1 and max_innermost_factor >= 1, got n=0"),
    (lambda sch, i: sch.sample_perfect_tile(i, n=2, max_innermost_factor=0),
     "max_innermost_factor=0"),
    (lambda sch, i: sch.sample_perfect_tile(i, n=2, decision=[2.5, 51.2]),
     "a perfect-tile decision is a list of 2 integers, got [2.5, 51.2]"),
    (lambda sch, i: sch.sample_perfect_tile(i, n=2, decision=[True, 128]),
     "a perfect-tile decision is a list of 2 integers, got [True, 128]"),
    (lambda sch, i: sch.sample_categorical([1, 2], [0.5, 0.5], decision=0.5),
     "the decision 0.5 is not an index into the 2 candidates [1, 2]"),
    (lambda sch, i: sch.sample_compute_location(BlockRV("C"), decision=0.5),
     "the decision 0.5 is not a compute location of block `C`"),
    (lambda sch, i: sch.sample_perfect_tile(i, n=2, decision=[2, 64, 1]),
     "the decision [2, 64, 1] is not a tiling of loop `i` (extent 128) into 2 positive factors"),
    (lambda sch, i: sch.sample_perfect_tile(i, n=2, decision=[-1, -128]),
     "the decision [-1, -128] is not a tiling of loop `i`"),
    (lambda sch, i: sch.sample_perfect_tile(i, n=100),
     "sample_perfect_tile draws at most 16 tile sizes, got n=100"),
    (lambda sch, i: sch.sample_categorical([1, 2], [float("nan"), 1.0]),
     "sample_categorical probabilities must be finite and non-negative with a positive sum, "
     "got [nan, 1.0]"),
    (lambda sch, i: sch.sample_categorical([1, 2], [float("inf"), 1.0]),
     "probabilities must be finite"),
    (lambda sch, i: sch.sample_categorical([1, 2], [1e308, 1e308]),
     "probabilities must be finite"),
    (lambda sch, i: sch.sample_categorical([1, 2], [0.5, "x"]),
     "sample_categorical: argument `probs` must be a sequence of numbers, got [0.5, 'x']"),
])
def test_sampling_bad_integers(call: Callable, message: str) -> None:
    sch, _, (i, _, _) = matmul()
    expect_error(sch, lambda: call(sch, i), message)


def test_rfactor_factor_axis_must_be_an_int() -> None:
    sch, _, (_, _, k) = matmul()
    for bad in (2.5, True, "0"):
        err = expect_error(sch, lambda: sch.rfactor(k, bad),
                           f"rfactor: argument `factor_axis` must be an integer, got {bad!r}")
        assert isinstance(err, TypeError)


@pytest.mark.parametrize("pad_value,message", [
    (2.5, "transform_layout: pad_value 2.5 is not a value of int8"),
    (300, "transform_layout: pad_value 300 does not fit int8 (-128 to 127)"),
    ("x", "transform_layout: argument `pad_value` must be a number or None, got 'x'"),
    (True, "transform_layout: argument `pad_value` must be a number or None, got True"),
])
def test_transform_layout_pad_value_must_fit_the_buffer(pad_value: Any, message: str) -> None:
    sch = Schedule(PADDED)
    b = sch.get_block("B")
    expect_error(sch, lambda: sch.transform_layout(b, ("read", 0), lambda i: (i // 4, i % 4),
                                                   pad_value=pad_value), message)


def test_transform_layout_float_pad_value_must_be_finite_in_range() -> None:
    sch, c, _ = matmul()
    expect_error(sch, lambda: sch.transform_layout(c, ("read", 1), lambda i, j: (i // 3, j, i % 3),
                                                   pad_value=1e39),
                 "transform_layout: pad_value 1e+39 does not fit float32 (largest finite "
                 "3.4028235e+38)")


@pytest.mark.parametrize("padding,message", [
    ([2.5, 1, 1], "pad_einsum: padding factors must be positive integers, got [2.5, 1, 1]"),
    ([True, 1, 1], "pad_einsum: padding factors must be positive integers, got [True, 1, 1]"),
    ([0, 1, 1], "pad_einsum: padding factors must be positive integers, got [0, 1, 1]"),
    ([2**31, 1, 1], "pad_einsum: padding iterator `vi` of block `C` to 2147483648 does not "
                    "fit int32 (-2147483648 to 2147483647)"),
])
def test_pad_einsum_bad_padding(padding: list, message: str) -> None:
    sch, c, _ = matmul()
    expect_error(sch, lambda: sch.pad_einsum(c, padding), message)


# ---------------------------------------------------------------- index maps


@pytest.mark.parametrize("index_map,message", [
    (lambda i, j: (i / 2, j), "not Div"),
    (lambda i, j: (i < 2, j), "not LT"),
    (lambda i, j: (i * 1.5, j), "an index map uses only + - * // % of indices and integers"),
    (lambda *args: args, "an index map over *args needs ndim="),
    (3, "transform_layout: argument `index_map` must be an IndexMap or a lambda, got 3"),
])
def test_transform_layout_bad_index_maps(index_map: Any, message: str) -> None:
    sch, c, _ = matmul()
    err = expect_error(sch, lambda: sch.transform_layout(c, ("read", 1), index_map),
                       "transform_layout", message)
    assert "internal error" not in str(err)


@pytest.mark.parametrize("buffer,message", [
    (("read", "x"), "transform_layout: a buffer is given as ('read', k), ('write', k), k or "
                    "a name, got ('read', 'x')"),
    (("read",), "got ('read',)"),
    (2.5, "got 2.5"),
    (True, "got True"),
    (("read", 7), "block `C` has 2 read buffers, so there is no read buffer 7"),
    (("read", -1), "block `C` has 2 read buffers, so there is no read buffer -1"),
])
def test_transform_layout_bad_buffer(buffer: Any, message: str) -> None:
    sch, c, _ = matmul()
    expect_error(sch, lambda: sch.transform_layout(c, buffer, lambda i, j: (j, i)), message)


# ---------------------------------------------------------------- handles of the wrong kind


def test_reproducers_from_the_issue() -> None:
    sch, c, (i, j, _) = matmul()
    err = expect_error(sch, lambda: sch.cache_read(c, "0", "global"),
                       "cache_read: argument `read_buffer_index` must be an integer, got '0'")
    assert isinstance(err, TypeError)
    expect_error(sch, lambda: sch.compute_at(i, j),
                 "compute_at: argument `block` must be a block handle (BlockRV), "
                 "got LoopRV('i')")
    expect_error(sch, lambda: sch.compute_at(c, c),
                 "compute_at: argument `loop` must be a loop handle (LoopRV), got BlockRV('C')")
    expect_error(sch, lambda: sch.split(i), "split: missing a required argument: 'factors'")
    expect_error(sch, lambda: sch.parallel(i, j), "parallel: too many positional arguments")
    expect_error(sch, lambda: sch.fuse(i, j, preserve=True),
                 "fuse: got an unexpected keyword argument 'preserve'")


# Every registered primitive: valid arguments for the matmul (names to values; "*loops"
# is a variadic), and for each checked parameter the wrong values to try in its place.
BLOCK, LOOP = "block", "loop"
CALLS: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    "add_unit_loop": ({"target": BLOCK}, {"target": ["C", 0]}),
    "annotate": ({"target": LOOP, "key": "k", "value": 1}, {"target": ["C"], "key": [1]}),
    "bind": ({"loop": LOOP, "thread_axis": "threadIdx.x"}, {"loop": [BLOCK], "thread_axis": [0]}),
    "blockize": ({"loop": LOOP}, {"loop": [BLOCK, "i"], "preserve_unit_iters": ["yes", 1]}),
    "cache_read": ({"block": BLOCK, "read_buffer_index": 0, "storage_scope": "global"},
                   {"block": [LOOP], "read_buffer_index": ["0", 0.0, True],
                    "storage_scope": [0], "consumer_blocks": [[LOOP], BLOCK]}),
    "cache_write": ({"block": BLOCK, "write_buffer_index": 0, "storage_scope": "global"},
                    {"block": [LOOP], "write_buffer_index": ["0", None], "storage_scope": [None]}),
    "compute_at": ({"block": BLOCK, "loop": LOOP},
                   {"block": [LOOP], "loop": [BLOCK], "preserve_unit_loops": ["no"]}),
    "compute_at_or_stay": ({"block": BLOCK, "loop": LOOP}, {"block": [LOOP], "loop": [BLOCK]}),
    "compute_inline": ({"block": BLOCK}, {"block": [LOOP, "C"]}),
    "decompose_reduction": ({"block": BLOCK, "loop": LOOP}, {"block": [LOOP], "loop": [BLOCK]}),
    "fuse": ({"*loops": [LOOP]}, {"*loops": [BLOCK, 0], "preserve_unit_iters": [None]}),
    "get_block": ({"name": "C"}, {"name": [BLOCK, 0], "func_name": [0]}),
    "get_child_blocks": ({"parent": BLOCK}, {"parent": ["C"]}),
    "get_consumers": ({"block": BLOCK}, {"block": [LOOP]}),
    "get_loops": ({"block": BLOCK}, {"block": [LOOP, "C"]}),
    "get_producers": ({"block": BLOCK}, {"block": [LOOP]}),
    "pad_einsum": ({"block": BLOCK, "padding": [1, 1, 1]},
                   {"block": [LOOP], "padding": ["111", 1]}),
    "parallel": ({"loop": LOOP}, {"loop": [BLOCK]}),
    "reorder": ({"*loops": [LOOP]}, {"*loops": [BLOCK]}),
    "reverse_compute_at": ({"block": BLOCK, "loop": LOOP}, {"block": [LOOP], "loop": [BLOCK]}),
    "reverse_compute_inline": ({"block": BLOCK}, {"block": [LOOP]}),
    "rfactor": ({"loop": LOOP}, {"loop": [BLOCK], "factor_axis": [2.5, "0", True]}),
    "sample_categorical": ({"candidates": [1, 2], "probs": [0.5, 0.5]},
                           {"candidates": [1, ["a"], [1.5]], "probs": [None, ["x"]]}),
    "sample_compute_location": ({"block": BLOCK}, {"block": [LOOP]}),
    "sample_perfect_tile": ({"loop": LOOP, "n": 2},
                            {"loop": [BLOCK], "n": [2.5, "2", True],
                             "max_innermost_factor": [None, 1.5]}),
    "set_scope": ({"block": BLOCK, "buffer_index": 0, "storage_scope": "global"},
                  {"block": [LOOP], "buffer_index": [1.0], "storage_scope": [1]}),
    "split": ({"loop": LOOP, "factors": [None, 2]},
              {"loop": [BLOCK], "factors": [4, "12"], "preserve_unit_iters": [0]}),
    "storage_align": ({"block": BLOCK, "buffer_index": 0, "axis": 0, "factor": 4, "offset": 0},
                      {"block": [LOOP], "buffer_index": ["0"], "axis": [0.5], "factor": [None],
                       "offset": [[0]]}),
    "tensorize": ({"block_or_loop": BLOCK, "intrin": "x"},
                  {"block_or_loop": ["C", None], "intrin": [0, None]}),
    "transform_layout": ({"block": BLOCK, "buffer": ("read", 0), "index_map": "map"},
                         {"block": [LOOP], "index_map": [3, None, "lambda i, j: (j, i)"],
                          "pad_value": ["0", True]}),
    "unannotate": ({"target": LOOP, "key": "k"}, {"target": ["i"], "key": [None]}),
    "unroll": ({"loop": LOOP}, {"loop": [BLOCK]}),
    "vectorize": ({"loop": LOOP}, {"loop": [BLOCK, None]}),
}


@pytest.mark.parametrize("axis", ["threadIdx.y", "blockIdx.x", "vthread"])
def test_binding_a_bound_loop_to_another_axis_is_refused(axis: str) -> None:
    sch, _, (i, _, _) = matmul()
    sch.bind(i, "threadIdx.x")
    expect_error(sch, lambda: sch.bind(i, axis),
                 f"loop `i` is already bound to threadIdx.x; it cannot be bound to {axis} too")


def test_binding_a_bound_loop_to_its_own_axis_changes_nothing() -> None:
    sch, _, (i, _, _) = matmul()
    sch.bind(i, "threadIdx.x")
    before = sch.mod
    sch.bind(i, "threadIdx.x")
    tvmscript.assert_structural_equal(sch.mod, before)
    assert sch.get(i).thread_tag == "threadIdx.x"


def test_every_primitive_is_in_the_misuse_table() -> None:
    assert sorted(PRIMITIVES) == sorted(CALLS)


def _cases() -> list[tuple[str, str, Any]]:
    return [(name, param, wrong) for name, (_, wrongs) in CALLS.items()
            for param, values in wrongs.items() for wrong in values]


def _value(value: Any, block: BlockRV, loop: LoopRV) -> Any:
    if isinstance(value, list):
        return [_value(v, block, loop) for v in value]
    if value == "map":
        return IndexMap.from_func(lambda i, j: (j, i))
    return {BLOCK: block, LOOP: loop}.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("name,param,wrong", _cases(),
                         ids=[f"{n}-{p}-{w!r}" for n, p, w in _cases()])
def test_wrong_argument_kinds_are_refused(name: str, param: str, wrong: Any) -> None:
    sch, block, loops = matmul()
    args = dict(CALLS[name][0])
    args[param] = [wrong] if param == "*loops" else wrong
    args = {k: _value(v, block, loops[0]) for k, v in args.items()}
    variadic = args.pop("*loops", None)
    call = (lambda: getattr(sch, name)(*variadic, **args)) if variadic is not None \
        else (lambda: getattr(sch, name)(**args))
    err = expect_error(sch, call, f"{name}: argument `{param.lstrip('*')}` must be ")
    assert isinstance(err, ScheduleArgumentError) and isinstance(err, TypeError)


# ---------------------------------------------------------------- failures inside primitives


@pytest.fixture
def temporary_primitive():
    """Register primitives for one test and remove them afterwards."""
    names: list[str] = []

    def register(name: str, fn: Callable) -> None:
        register_primitive(name)(fn)
        names.append(name)

    yield register
    for name in names:
        delattr(Schedule, name)
        del PRIMITIVES[name]


def test_a_stray_exception_inside_a_primitive_becomes_a_schedule_error(temporary_primitive):
    def broken(sch: Schedule, block: BlockRV) -> None:
        sch.commit(sch.func.with_(body=S.Evaluate(tvmscript.ir.expr.const(0))))
        {}["missing"]

    temporary_primitive("_test_broken", broken)
    sch, c, _ = matmul()
    err = expect_error(sch, lambda: sch._test_broken(c),
                       "_test_broken: internal error (KeyError: 'missing'); the schedule is "
                       "unchanged")
    assert isinstance(err.__cause__, KeyError)


def test_a_primitive_whose_result_is_ill_formed_is_refused(temporary_primitive):
    def drop_loop(sch: Schedule, loop: LoopRV) -> None:
        node = sch.get(loop)
        sch.commit(replace(sch.func, node, node.body))

    temporary_primitive("_test_drop_loop", drop_loop)
    sch, _, (i, _, _) = matmul()
    expect_error(sch, lambda: sch._test_drop_loop(i),
                 "_test_drop_loop made the function ill-formed (a bug in _test_drop_loop; the "
                 "schedule is unchanged):", "`i`")
    # a search applying known-good traces may skip the check (it costs 1-3 ms a primitive)
    fast = Schedule(MATMUL, verify=False).copy()
    fast._test_drop_loop(i)
    with pytest.raises(ScheduleError, match="loop `i` is no longer in the function"):
        fast.get(i)


def test_a_failed_get_block_in_another_function_keeps_the_function_worked_on() -> None:
    mod = tvmscript.IRModule.from_function(MATMUL, "main").with_function("big", BIG)
    sch = Schedule(mod, func_name="main")
    expect_error(sch, lambda: sch.get_block("C", func_name="big"), "there is no block named `C`")
    assert sch.func_name == "main"
