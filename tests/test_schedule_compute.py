"""compute_at, reverse_compute_at, compute_inline, reverse_compute_inline.

Each primitive: an Expected program written in the script, the same numbers as the unscheduled
program (compiled with LLVM and interpreted), and every documented error (the schedule is left
exactly as it was).
"""

from __future__ import annotations

import pytest

import tvmscript
from tests.corpus.tir_programs import PROGRAMS
from tests.schedule_testing import check_numbers
from tests.schedule_testing import expect_error as expect_call_error
from tvmscript import Schedule, ScheduleError


def expect_error(sch: Schedule, primitive: str, args: list, *fragments: str) -> ScheduleError:
    """``sch.<primitive>(*args)`` is refused naming ``fragments``; nothing changes."""
    return expect_call_error(sch, lambda: getattr(sch, primitive)(*args), *fragments)


def parse(text: str) -> tvmscript.PrimFunc:
    return tvmscript.from_source(text)



def check(before_text: str, apply, expected_text: str | None) -> Schedule:
    before = parse(before_text)
    sch = Schedule(before)
    apply(sch)
    if expected_text is not None:
        tvmscript.assert_structural_equal(sch.func, parse(expected_text))
    check_numbers(before, sch)
    return sch



def block_loops(sch: Schedule, name: str):
    return sch.get_loops(sch.get_block(name))


ELEMENTWISE = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    B = T.alloc_buffer((128, 128), "float32")
    for i, j in T.grid(128, 128):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] * T.float32(2)
    for i, j in T.grid(128, 128):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = B[vi, vj] + T.float32(1)
'''

# ---------------------------------------------------------------- compute_at


def test_compute_at_outer_loop():
    expected = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    B = T.alloc_buffer((128, 128), "float32")
    for i in range(128):
        for ax0 in range(128):
            with T.block("B"):
                vi, vj = T.axis.remap("SS", [i, ax0])
                B[vi, vj] = A[vi, vj] * T.float32(2)
        for j in range(128):
            with T.block("C"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = B[vi, vj] + T.float32(1)
'''
    check(ELEMENTWISE, lambda s: s.compute_at(s.get_block("B"), block_loops(s, "C")[0]), expected)


def test_compute_at_preserve_unit_loops():
    expected = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    B = T.alloc_buffer((128, 128), "float32")
    for i, j in T.grid(128, 128):
        for ax0, ax1 in T.grid(1, 1):
            with T.block("B"):
                vi = T.axis.spatial(128, i + ax0)
                vj = T.axis.spatial(128, j + ax1)
                B[vi, vj] = A[vi, vj] * T.float32(2)
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = B[vi, vj] + T.float32(1)
'''

    def apply(s):
        s.compute_at(s.get_block("B"), block_loops(s, "C")[1], preserve_unit_loops=True)

    check(ELEMENTWISE, apply, expected)


def test_compute_at_conv_pad_rows():
    expected = '''
@T.prim_func
def conv(X: T.Buffer((1, 8, 14, 14), "float32"), W: T.Buffer((16, 8, 3, 3), "float32"), Y: T.Buffer((1, 16, 14, 14), "float32")):
    Xp = T.alloc_buffer((1, 8, 16, 16), "float32")
    for n, k, h in T.grid(1, 16, 14):
        for ax0, ax1, ax2 in T.grid(8, 3, 16):
            with T.block("pad"):
                vn = T.axis.spatial(1, 0)
                vc = T.axis.spatial(8, ax0)
                vh = T.axis.spatial(16, h + ax1)
                vw = T.axis.spatial(16, ax2)
                Xp[vn, vc, vh, vw] = T.if_then_else(1 <= vh and vh < 15 and 1 <= vw and vw < 15, X[vn, vc, vh - 1, vw - 1], T.float32(0))
        for w, c, r, s in T.grid(14, 8, 3, 3):
            with T.block("conv"):
                vn, vk, vh, vw, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, h, w, c, r, s])
                with T.init():
                    Y[vn, vk, vh, vw] = T.float32(0)
                Y[vn, vk, vh, vw] = Y[vn, vk, vh, vw] + Xp[vn, vc, vh + vr, vw + vs] * W[vk, vc, vr, vs]
'''
    check(PROGRAMS["conv2d_pad"],
          lambda s: s.compute_at(s.get_block("pad"), block_loops(s, "conv")[2]), expected)


def test_compute_at_tile_with_remainder_adds_predicate():
    before = '''
@T.prim_func
def f(A: T.Buffer((100,), "float32"), C: T.Buffer((100,), "float32")):
    B = T.alloc_buffer((100,), "float32")
    for i in range(100):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi] * T.float32(2)
    for i0, i1 in T.grid(4, 32):
        with T.block("C"):
            vi = T.axis.spatial(100, i0 * 32 + i1)
            T.where(i0 * 32 + i1 < 100)
            C[vi] = B[vi] + T.float32(1)
'''
    expected = '''
@T.prim_func
def f(A: T.Buffer((100,), "float32"), C: T.Buffer((100,), "float32")):
    B = T.alloc_buffer((100,), "float32")
    for i0 in range(4):
        for ax0 in range(32):
            with T.block("B"):
                vi = T.axis.spatial(100, i0 * 32 + ax0)
                T.where(i0 * 32 + ax0 < 100)
                B[vi] = A[vi] * T.float32(2)
        for i1 in range(32):
            with T.block("C"):
                vi = T.axis.spatial(100, i0 * 32 + i1)
                T.where(i0 * 32 + i1 < 100)
                C[vi] = B[vi] + T.float32(1)
'''
    check(before, lambda s: s.compute_at(s.get_block("B"), block_loops(s, "C")[0]), expected)


MATMUL_RELU = '''
@T.prim_func
def f(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), D: T.Buffer((64, 64), "float32")):
    C = T.alloc_buffer((64, 64), "float32")
    for i, j, k in T.grid(64, 64, 64):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
    for i, j in T.grid(64, 64):
        with T.block("D"):
            vi, vj = T.axis.remap("SS", [i, j])
            D[vi, vj] = T.max(C[vi, vj], T.float32(0))
'''


def test_compute_at_reduction_block():
    expected = '''
@T.prim_func
def f(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32"), D: T.Buffer((64, 64), "float32")):
    C = T.alloc_buffer((64, 64), "float32")
    for i in range(64):
        for ax0, ax1 in T.grid(64, 64):
            with T.block("C"):
                vi, vj, vk = T.axis.remap("SSR", [i, ax0, ax1])
                with T.init():
                    C[vi, vj] = T.float32(0)
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
        for j in range(64):
            with T.block("D"):
                vi, vj = T.axis.remap("SS", [i, j])
                D[vi, vj] = T.max(C[vi, vj], T.float32(0))
'''
    check(MATMUL_RELU, lambda s: s.compute_at(s.get_block("C"), block_loops(s, "D")[0]), expected)


def test_compute_at_softmax_chain():
    def apply(s):
        s.compute_at(s.get_block("exp"), block_loops(s, "norm")[0])
        s.compute_at(s.get_block("max"), block_loops(s, "exp")[0])

    before = PROGRAMS["softmax"]
    with pytest.raises(ScheduleError, match="consumers of block `exp` must be under"):
        apply(Schedule(parse(before)))

    def apply_ok(s):
        s.compute_at(s.get_block("sum"), block_loops(s, "norm")[0])
        s.compute_at(s.get_block("exp"), block_loops(s, "sum")[0])
        s.compute_at(s.get_block("max"), block_loops(s, "exp")[0])

    check(before, apply_ok, None)


def test_compute_at_errors():
    sch = Schedule(parse(ELEMENTWISE))
    c_loops = block_loops(sch, "C")
    # an output block
    expect_error(sch, "compute_at", [sch.get_block("C"), block_loops(sch, "B")[0]],
                 "block `C` is an output block", "loop `i`")
    # loop already an ancestor
    expect_error(sch, "compute_at", [sch.get_block("B"), block_loops(sch, "B")[0]],
                 "already an ancestor of block `B`")
    sch.compute_at(sch.get_block("B"), c_loops[0])
    # the handle of loop `i` of C stays valid
    assert sch.get(c_loops[0]).loop_var is c_loops[0].var


def test_compute_at_consumers_not_under_loop():
    text = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32"), D: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi]
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = B[vi]
    for i in range(16):
        with T.block("D"):
            vi = T.axis.remap("S", [i])
            D[vi] = B[vi]
'''
    sch = Schedule(parse(text))
    expect_error(sch, "compute_at", [sch.get_block("B"), block_loops(sch, "C")[0]],
                 "all consumers of block `B` must be under loop `i`", "D")


def test_compute_at_not_complete():
    text = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.scan(16, i)
            B[vi] = A[vi]
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = B[vi]
'''
    sch = Schedule(parse(text))
    expect_error(sch, "compute_at", [sch.get_block("B"), block_loops(sch, "C")[0]],
                 "block `B` is not a complete block")


def test_compute_at_under_vectorized_loop_is_refused():
    text = ELEMENTWISE.replace("    for i, j in T.grid(128, 128):\n        with T.block(\"C\")",
                               "    for i in range(128):\n      for j in T.vectorized(128):\n"
                               "        with T.block(\"C\")")
    sch = Schedule(parse(text))
    expect_error(sch, "compute_at", [sch.get_block("B"), block_loops(sch, "C")[1]],
                 "loop `j` is vectorized")


def test_compute_at_parallel_overlap_is_refused():
    text = PROGRAMS["conv2d_pad"].replace(
        "for n, k, h, w, c, r, s in T.grid(1, 16, 14, 14, 8, 3, 3):",
        "for n, k in T.grid(1, 16):\n      for h in T.parallel(14):\n"
        "       for w, c, r, s in T.grid(14, 8, 3, 3):")
    sch = Schedule(parse(text))
    expect_error(sch, "compute_at", [sch.get_block("pad"), block_loops(sch, "conv")[2]],
                 "parallel loop `h`", "`Xp`")
    ok = Schedule(parse(ELEMENTWISE.replace(
        "    for i, j in T.grid(128, 128):\n        with T.block(\"C\")",
        "    for i in T.parallel(128):\n      for j in range(128):\n        with T.block(\"C\")")))
    ok.compute_at(ok.get_block("B"), block_loops(ok, "C")[0])
    check_numbers(parse(ELEMENTWISE), ok)


def test_compute_at_different_scope():
    text = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi]
    with T.block("outer"):
        for i in range(16):
            with T.block("C"):
                vi = T.axis.remap("S", [i])
                C[vi] = B[vi]
'''
    sch = Schedule(parse(text))
    expect_error(sch, "compute_at", [sch.get_block("B"), block_loops(sch, "C")[0]],
                 "not in the same scope")


# ---------------------------------------------------------------- reverse_compute_at

TILED = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    B = T.alloc_buffer((128, 128), "float32")
    for i0, j0, i1, j1 in T.grid(4, 4, 32, 32):
        with T.block("B"):
            vi = T.axis.spatial(128, i0 * 32 + i1)
            vj = T.axis.spatial(128, j0 * 32 + j1)
            B[vi, vj] = A[vi, vj] * T.float32(2)
    for i, j in T.grid(128, 128):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = B[vi, vj] + T.float32(1)
'''


def test_reverse_compute_at_tile():
    expected = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    B = T.alloc_buffer((128, 128), "float32")
    for i0, j0 in T.grid(4, 4):
        for i1, j1 in T.grid(32, 32):
            with T.block("B"):
                vi = T.axis.spatial(128, i0 * 32 + i1)
                vj = T.axis.spatial(128, j0 * 32 + j1)
                B[vi, vj] = A[vi, vj] * T.float32(2)
        for ax0, ax1 in T.grid(32, 32):
            with T.block("C"):
                vi = T.axis.spatial(128, i0 * 32 + ax0)
                vj = T.axis.spatial(128, j0 * 32 + ax1)
                C[vi, vj] = B[vi, vj] + T.float32(1)
'''
    check(TILED, lambda s: s.reverse_compute_at(s.get_block("C"), block_loops(s, "B")[1]),
          expected)


def _matmul_cpu_schedule(sch: Schedule) -> None:
    """The typical CPU matmul schedule: tile i and j, cache C locally, write back per tile."""
    c = sch.get_block("C")
    i, j, _ = sch.get_loops(c)
    i0, i1 = sch.split(i, [None, 32])
    j0, j1 = sch.split(j, [None, 32])
    sch.reorder(i0, j0, i1, j1)
    cl = sch.cache_write(c, 0, "local")
    sch.reverse_compute_at(cl, j0)


def test_reverse_compute_at_matmul_cache_write():
    expected = '''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    C_local = T.alloc_buffer((128, 128), "float32", scope="local")
    for i_0, j_0 in T.grid(4, 4):
        for i_1, j_1, k in T.grid(32, 32, 128):
            with T.block("C"):
                vi = T.axis.spatial(128, i_0 * 32 + i_1)
                vj = T.axis.spatial(128, j_0 * 32 + j_1)
                vk = T.axis.reduce(128, k)
                with T.init():
                    C_local[vi, vj] = T.float32(0)
                C_local[vi, vj] = C_local[vi, vj] + A[vi, vk] * B[vk, vj]
        for ax0, ax1 in T.grid(32, 32):
            with T.block("C_local"):
                v0 = T.axis.spatial(128, i_0 * 32 + ax0)
                v1 = T.axis.spatial(128, j_0 * 32 + ax1)
                C[v0, v1] = C_local[v0, v1]
'''
    check(PROGRAMS["matmul"], _matmul_cpu_schedule, expected)


def test_reverse_compute_at_split_reduction_consumer():
    text = '''
@T.prim_func
def f(A: T.Buffer((16, 64), "float32"), C: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16, 64), "float32")
    for k0, i, k1 in T.grid(4, 16, 16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            vk = T.axis.spatial(64, k0 * 16 + k1)
            B[vi, vk] = A[vi, vk] * T.float32(3)
    for i, k in T.grid(16, 64):
        with T.block("C"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                C[vi] = T.float32(0)
            C[vi] = C[vi] + B[vi, vk]
'''
    check(text, lambda s: s.reverse_compute_at(s.get_block("C"), block_loops(s, "B")[0]), None)


def test_reverse_compute_at_stencil_is_refused():
    """TVM #15911: a consumer that reads neighbours cannot run per producer tile."""
    text = '''
@T.prim_func
def f(A: T.Buffer((64,), "float32"), C: T.Buffer((62,), "float32")):
    B = T.alloc_buffer((64,), "float32")
    for i0, i1 in T.grid(4, 16):
        with T.block("B"):
            vi = T.axis.spatial(64, i0 * 16 + i1)
            B[vi] = A[vi] * T.float32(2)
    for i in range(62):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            T.reads(B[vi:vi + 3])
            T.writes(C[vi])
            C[vi] = B[vi] + B[vi + 1] + B[vi + 2]
'''
    sch = Schedule(parse(text))
    expect_error(sch, "reverse_compute_at", [sch.get_block("C"), block_loops(sch, "B")[0]],
                 "block `C` cannot be reverse-computed at loop `i0`", "uncomputed")


def test_reverse_compute_at_producers_not_under_loop():
    text = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16,), "float32")
    D = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi]
    for i in range(16):
        with T.block("D"):
            vi = T.axis.remap("S", [i])
            D[vi] = A[vi]
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = B[vi] + D[vi]
'''
    sch = Schedule(parse(text))
    expect_error(sch, "reverse_compute_at", [sch.get_block("C"), block_loops(sch, "B")[0]],
                 "all producers of block `C` must be under loop `i`", "D")


def test_reverse_compute_at_not_complete():
    text = TILED.replace('vi, vj = T.axis.remap("SS", [i, j])\n            C[vi, vj]',
                         'vi = T.axis.opaque(128, i)\n            vj = T.axis.spatial(128, j)\n'
                         '            C[vi, vj]')
    sch = Schedule(parse(text))
    expect_error(sch, "reverse_compute_at", [sch.get_block("C"), block_loops(sch, "B")[1]],
                 "block `C` is not a complete block")


# ---------------------------------------------------------------- compute_inline


def test_compute_inline_elementwise():
    expected = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i, j in T.grid(128, 128):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = A[vi, vj] * T.float32(2) + T.float32(1)
'''
    check(ELEMENTWISE, lambda s: s.compute_inline(s.get_block("B")), expected)


def test_compute_inline_conv_pad():
    expected = '''
@T.prim_func
def conv(X: T.Buffer((1, 8, 14, 14), "float32"), W: T.Buffer((16, 8, 3, 3), "float32"), Y: T.Buffer((1, 16, 14, 14), "float32")):
    for n, k, h, w, c, r, s in T.grid(1, 16, 14, 14, 8, 3, 3):
        with T.block("conv"):
            vn, vk, vh, vw, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, h, w, c, r, s])
            with T.init():
                Y[vn, vk, vh, vw] = T.float32(0)
            Y[vn, vk, vh, vw] = Y[vn, vk, vh, vw] + T.if_then_else(1 <= vh + vr and vh + vr < 15 and 1 <= vw + vs and vw + vs < 15, X[vn, vc, vh + vr - 1, vw + vs - 1], T.float32(0)) * W[vk, vc, vr, vs]
'''
    check(PROGRAMS["conv2d_pad"], lambda s: s.compute_inline(s.get_block("pad")), expected)


def test_compute_inline_softmax_exp_into_two_consumers():
    sch = check(PROGRAMS["softmax"], lambda s: s.compute_inline(s.get_block("exp")), None)
    text = sch.func.script()
    assert "E = " not in text and text.count("T.exp(") == 2


def test_compute_inline_then_compute_at_chain():
    def apply(s):
        s.compute_inline(s.get_block("add"))

    check(PROGRAMS["elementwise_blocks_relu"], apply, None)


def test_compute_inline_errors():
    sch = Schedule(parse(MATMUL_RELU))
    expect_error(sch, "compute_inline", [sch.get_block("C")],
                 "block `C` is not a complete block", "cannot be inlined")
    sch = Schedule(parse(ELEMENTWISE))
    expect_error(sch, "compute_inline", [sch.get_block("C")],
                 "block `C` writes `C`, an output of the function")
    two = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi]
            B[vi] = B[vi] + T.float32(1)
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = B[vi]
'''
    sch = Schedule(parse(two))
    expect_error(sch, "compute_inline", [sch.get_block("B")], "block `B`")
    between = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16,), "float32")):
    B = T.alloc_buffer((16,), "float32")
    T0 = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("T0"):
            vi = T.axis.remap("S", [i])
            T0[vi] = A[vi]
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = T0[vi]
    for i in range(16):
        with T.block("W"):
            vi = T.axis.remap("S", [i])
            T0[vi] = T.float32(0)
    for i in range(16):
        with T.block("C"):
            vi = T.axis.remap("S", [i])
            C[vi] = B[vi] + T0[vi]
'''
    sch = Schedule(parse(between))
    expect_error(sch, "compute_inline", [sch.get_block("B")],
                 "block `W` writes `T0`, which block `B` reads")
    strided = ELEMENTWISE.replace("B[vi, vj] = A[vi, vj] * T.float32(2)",
                                  "B[vi, 127 - vj] = A[vi, vj] * T.float32(2)")
    sch = Schedule(parse(strided))
    expect_error(sch, "compute_inline", [sch.get_block("B")],
                 "not distinct block iterators")


# ---------------------------------------------------------------- reverse_compute_inline


def test_reverse_compute_inline_elementwise():
    expected = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i, j in T.grid(128, 128):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = A[vi, vj] * T.float32(2) + T.float32(1)
'''
    check(ELEMENTWISE, lambda s: s.reverse_compute_inline(s.get_block("C")), expected)


def test_reverse_compute_inline_transposed_read():
    text = ELEMENTWISE.replace("C[vi, vj] = B[vi, vj] + T.float32(1)",
                               "C[vj, vi] = B[vi, vj] + T.float32(1)")
    expected = '''
@T.prim_func
def f(A: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i, j in T.grid(128, 128):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vj, vi] = A[vi, vj] * T.float32(2) + T.float32(1)
'''
    check(text, lambda s: s.reverse_compute_inline(s.get_block("C")), expected)


def test_reverse_compute_inline_bias_relu():
    check(PROGRAMS["elementwise_blocks_relu"],
          lambda s: s.reverse_compute_inline(s.get_block("relu")), None)


def test_reverse_compute_inline_layer_norm_chain():
    text = '''
@T.prim_func
def f(X: T.Buffer((8, 64), "float32"), Y: T.Buffer((8, 64), "float32")):
    Mean = T.alloc_buffer((8,), "float32")
    D = T.alloc_buffer((8, 64), "float32")
    Sq = T.alloc_buffer((8, 64), "float32")
    for i, k in T.grid(8, 64):
        with T.block("mean"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                Mean[vi] = T.float32(0)
            Mean[vi] = Mean[vi] + X[vi, vk] / T.float32(64)
    for i, j in T.grid(8, 64):
        with T.block("sub"):
            vi, vj = T.axis.remap("SS", [i, j])
            D[vi, vj] = X[vi, vj] - Mean[vi]
    for i, j in T.grid(8, 64):
        with T.block("square"):
            vi, vj = T.axis.remap("SS", [i, j])
            Sq[vi, vj] = D[vi, vj] * D[vi, vj]
    for i, j in T.grid(8, 64):
        with T.block("scale"):
            vi, vj = T.axis.remap("SS", [i, j])
            Y[vi, vj] = Sq[vi, vj] * T.float32(0.5)
'''

    def apply(s):
        s.reverse_compute_inline(s.get_block("scale"))
        s.reverse_compute_inline(s.get_block("square"))

    sch = check(text, apply, None)
    assert [b.name for b in sch.get_child_blocks(sch.get_block("root"))] == ["mean", "sub"]


def test_reverse_compute_inline_errors():
    sch = Schedule(parse(MATMUL_RELU))
    expect_error(sch, "reverse_compute_inline", [sch.get_block("D")],
                 "producer block `C` of block `D`")
    sch = Schedule(parse(PROGRAMS["softmax"]))
    expect_error(sch, "reverse_compute_inline", [sch.get_block("norm")],
                 "block `norm` must have exactly one producer", "exp", "sum")
    expect_error(sch, "reverse_compute_inline", [sch.get_block("sum")],
                 "block `sum` is not a complete block")
    broadcast = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32"), C: T.Buffer((16, 16), "float32")):
    B = T.alloc_buffer((16,), "float32")
    for i in range(16):
        with T.block("B"):
            vi = T.axis.remap("S", [i])
            B[vi] = A[vi]
    for i, j in T.grid(16, 16):
        with T.block("C"):
            vi, vj = T.axis.remap("SS", [i, j])
            C[vi, vj] = B[vi]
'''
    sch = Schedule(parse(broadcast))
    expect_error(sch, "reverse_compute_inline", [sch.get_block("C")],
                 "block `C` must read `B` at one point")
    two_readers = ELEMENTWISE.replace(
        "C: T.Buffer((128, 128), \"float32\")):",
        "C: T.Buffer((128, 128), \"float32\"), D: T.Buffer((128, 128), \"float32\")):") + '''
    for i, j in T.grid(128, 128):
        with T.block("D"):
            vi, vj = T.axis.remap("SS", [i, j])
            D[vi, vj] = B[vi, vj]
'''
    sch = Schedule(parse(two_readers))
    expect_error(sch, "reverse_compute_inline", [sch.get_block("C")],
                 "also read by ['D']")


def test_reverse_compute_at_under_parallel_tile_loop():
    def apply(s):
        c = s.get_block("C")
        i, j, _ = s.get_loops(c)
        i0, i1 = s.split(i, [None, 32])
        j0, j1 = s.split(j, [None, 32])
        s.reorder(i0, j0, i1, j1)
        s.parallel(i0)
        cl = s.cache_write(c, 0, "local")
        s.reverse_compute_at(cl, j0)

    sch = check(PROGRAMS["matmul"], apply, None)
    assert "T.parallel(4)" in sch.func.script()
