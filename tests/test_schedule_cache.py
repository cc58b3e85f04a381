"""cache_read, cache_write, set_scope, storage_align: Expected programs, numbers, errors."""

from __future__ import annotations

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tests.test_schedule_compute import ELEMENTWISE, check, expect_error, parse
from tvmscript import Schedule

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


def test_cache_read_matmul_a():
    expected = '''
@T.prim_func
def mm(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), C: T.Buffer((64, 64), "float32")):
    A_shared = T.alloc_buffer((64, 64), "float32", scope="shared")
    for ax0, ax1 in T.grid(64, 64):
        with T.block("A_shared"):
            v0, v1 = T.axis.remap("SS", [ax0, ax1])
            A_shared[v0, v1] = A[v0, v1]
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(A_shared[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A_shared[vi, vk] * B[vk, vj]
'''
    result = []
    # the block has an init, so C is not among its reads (TVM's rule): A is read index 0
    check(MATMUL, lambda s: result.append(s.cache_read(s.get_block("C"), 0, "shared")), expected)
    assert result[0].name == "A_shared"


def test_cache_read_then_compute_at_tile():
    def apply(s):
        c = s.get_block("C")
        i, j, _ = s.get_loops(c)
        i0, i1 = s.split(i, [None, 16])
        s.reorder(i0, j, i1)
        a = s.cache_read(c, 0, "local")  # A (C, written with an init, is not read)
        s.compute_at(a, i0)

    sch = check(MATMUL, apply, None)
    assert "for ax0, ax1 in T.grid(16, 64):" in sch.func.script()


def test_cache_read_consumer_blocks():
    text = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi] + T.float32(1)
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = A[vi] * T.float32(2)
'''
    expected = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    A_local = T.alloc_buffer((16,), "float32", scope="local")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi] + T.float32(1)
    for ax0 in range(16):
        with T.block("A_local"):
            v0 = T.axis.remap("S", [ax0])
            A_local[v0] = A[v0]
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = A_local[vi] * T.float32(2)
'''
    check(text, lambda s: s.cache_read(s.get_block("C"), 0, "local",
                                       consumer_blocks=[s.get_block("C")]), expected)


def test_cache_write_matmul():
    expected = '''
@T.prim_func
def mm(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), C: T.Buffer((64, 64), "float32")):
    C_local = T.alloc_buffer((64, 64), "float32", scope="local")
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C_local[vi, vj] = T.float32(0)
            C_local[vi, vj] = C_local[vi, vj] + A[vi, vk] * B[vk, vj]
    for ax0, ax1 in T.grid(64, 64):
        with T.block("C_local"):
            v0, v1 = T.axis.remap("SS", [ax0, ax1])
            C[v0, v1] = C_local[v0, v1]
'''
    check(MATMUL, lambda s: s.cache_write(s.get_block("C"), 0, "local"), expected)


def test_cache_write_intermediate_then_consumer_reads_original():
    sch = check(ELEMENTWISE, lambda s: s.cache_write(s.get_block("B"), 0, "global"), None)
    names = [b.name for b in sch.get_child_blocks(sch.get_block("root"))]
    assert names == ["B", "B_global", "C"]


def test_cache_write_twice_gets_fresh_names():
    def apply(s):
        s.cache_write(s.get_block("C"), 0, "local")
        s.cache_write(s.get_block("C_local"), 0, "local")

    sch = check(MATMUL, apply, None)
    names = [b.name for b in sch.get_child_blocks(sch.get_block("root"))]
    assert names == ["C", "C_local", "C_local_1"]


def test_matmul_cpu_schedule_with_cache_read():
    cached = []

    def apply(s):
        c = s.get_block("C")
        i, j, _ = s.get_loops(c)
        i0, i1 = s.split(i, [None, 32])
        j0, j1 = s.split(j, [None, 32])
        s.reorder(i0, j0, i1, j1)
        cl = s.cache_write(c, 0, "local")
        s.reverse_compute_at(cl, j0)
        a = s.cache_read(c, 0, "global")  # A
        cached.append(a)
        s.compute_at(a, i0)

    check(PROGRAMS["matmul"], apply, None)
    assert cached[0].name == "A_global"


def test_cache_errors():
    sch = Schedule(parse(MATMUL))
    c = sch.get_block("C")
    expect_error(sch, "cache_read", [c, 5, "shared"], "block `C` reads 2", "index 5")
    expect_error(sch, "cache_write", [c, 1, "local"], "block `C` writes 1", "index 1")
    expect_error(sch, "cache_read", [c, 1, "texture"], "storage scope `texture`")
    # without an init the block reads what it writes: C is read index 0
    init = "            with T.init():\n                C[vi, vj] = T.float32(0)\n"
    accumulate = MATMUL.replace(init, "")
    assert "T.init" not in accumulate
    sch = Schedule(parse(accumulate))
    c = sch.get_block("C")
    expect_error(sch, "cache_read", [c, 3, "shared"], "block `C` reads 3", "index 3")
    expect_error(sch, "cache_read", [c, 0, "shared"], "block `C` also writes `C`")
    two = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B0"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi]
    for i in range(16):
        with T.block("B1"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi] * T.float32(2)
'''
    sch = Schedule(parse(two))
    expect_error(sch, "cache_write", [sch.get_block("B0"), 0, "local"],
                 "blocks ['B1'] also write `B`", "block `B0`")


def test_set_scope():
    expected = ELEMENTWISE.replace('B = T.alloc_buffer((128, 128), "float32")',
                                   'B = T.alloc_buffer((128, 128), "float32", scope="shared")')
    check(ELEMENTWISE, lambda s: s.set_scope(s.get_block("B"), 0, "shared"), expected)
    sch = Schedule(parse(ELEMENTWISE))
    expect_error(sch, "set_scope", [sch.get_block("C"), 0, "shared"],
                 "buffer `C` written by block `C` is a parameter")
    expect_error(sch, "set_scope", [sch.get_block("B"), 0, "bogus"], "storage scope `bogus`")


def test_storage_align():
    expected = ELEMENTWISE.replace(
        '            B[vi, vj] = A[vi, vj] * T.float32(2)',
        '            T.block_attr({"buffer_dim_align": [[0, 0, 128, 1]]})\n'
        '            B[vi, vj] = A[vi, vj] * T.float32(2)')
    check(ELEMENTWISE, lambda s: s.storage_align(s.get_block("B"), 0, 0, 128, 1), expected)

    def twice(s):
        s.storage_align(s.get_block("B"), 0, 0, 64, 3)
        s.storage_align(s.get_block("B"), 0, -2, 128, 1)  # same axis: replaced

    check(ELEMENTWISE, twice, expected)
    sch = Schedule(parse(ELEMENTWISE))
    b = sch.get_block("B")
    expect_error(sch, "storage_align", [b, 0, 2, 16, 0], "axis 2 is out of range", "`B`")
    expect_error(sch, "storage_align", [b, 0, 0, 0, 0], "factor must be positive", "block `B`")
    expect_error(sch, "storage_align", [b, 1, 0, 16, 0], "block `B` writes 1")
    expect_error(sch, "storage_align", [sch.get_block("C"), 0, 0, 16, 0],
                 "buffer `C` written by block `C` is a parameter")


def test_trace_replays_cache_and_compute():
    sch = Schedule(parse(PROGRAMS["matmul"]))
    from tests.test_schedule_compute import _matmul_cpu_schedule

    _matmul_cpu_schedule(sch)
    again = sch.trace.apply_to(parse(PROGRAMS["matmul"]))
    tvmscript.assert_structural_equal(again.func, sch.func)
