"""lower-blocks: blocks become plain loop bodies; allocations and views become declarations."""

import tvmscript
from tests.pass_testing import check
from tvmscript.ir import Block, BlockRealize, post_order_visit


def test_iterators_substituted_and_root_alloc_becomes_allocate():
    check("lower-blocks", '''
@T.prim_func
def f(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4, 4), "float32")):
    Tmp = T.alloc_buffer((4, 4), "float32")
    for i, j in T.grid(4, 4):
        with T.block("T"):
            vi, vj = T.axis.remap("SS", [i, j])
            Tmp[vi, vj] = A[vj, vi]
    for i, j in T.grid(4, 4):
        with T.block("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = Tmp[vi, vj] + T.float32(1)
''', '''
@T.prim_func
def f(A: T.Buffer((4, 4), "float32"), B: T.Buffer((4, 4), "float32")):
    tmp = T.allocate([16], "float32", "global")
    Tmp = T.decl_buffer((4, 4), "float32", data=tmp)
    for i, j in T.grid(4, 4):
        Tmp[i, j] = A[j, i]
    for i, j in T.grid(4, 4):
        B[i, j] = Tmp[i, j] + T.float32(1)
''')


def test_predicate_becomes_if_and_bindings_are_expressions():
    check("lower-blocks", '''
@T.prim_func
def f(A: T.Buffer((100,), "float32"), B: T.Buffer((100,), "float32")):
    for io, ii in T.grid(4, 32):
        with T.block("B"):
            vi = T.axis.spatial(100, io * 32 + ii)
            T.where(io * 32 + ii < 100)
            B[vi] = A[vi] + T.float32(1)
''', '''
@T.prim_func
def f(A: T.Buffer((100,), "float32"), B: T.Buffer((100,), "float32")):
    for io, ii in T.grid(4, 32):
        if io * 32 + ii < 100:
            B[io * 32 + ii] = A[io * 32 + ii] + T.float32(1)
''')


def test_alloc_in_block_is_placed_at_the_block():
    check("lower-blocks", '''
@T.prim_func
def f(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("row"):
            vi = T.axis.spatial(16, i)
            T.reads(A[vi, 0:16])
            T.writes(B[vi])
            acc = T.alloc_buffer((1,), "float32", scope="local")
            acc[0] = T.float32(0)
            for k in range(16):
                acc[0] = acc[0] + A[vi, k]
            B[vi] = acc[0]
''', '''
@T.prim_func
def f(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        acc = T.allocate([1], "float32", "local")
        acc_1 = T.decl_buffer((1,), "float32", data=acc, scope="local")
        acc_1[0] = T.float32(0)
        for k in range(16):
            acc_1[0] = acc_1[0] + A[i, k]
        B[i] = acc_1[0]
''')


def test_match_buffer_becomes_view_with_offset_and_strides():
    check("lower-blocks", '''
@T.prim_func
def f(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):
    for io, jo in T.grid(4, 4):
        with T.block("tile"):
            vi, vj = T.axis.remap("SS", [io, jo])
            T.reads(A[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16])
            T.writes(B[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16])
            As = T.match_buffer(A[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16], (16, 16), "float32", offset_factor=1)
            Bs = T.match_buffer(B[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16], (16, 16), "float32", offset_factor=1)
            for i, j in T.grid(16, 16):
                Bs[i, j] = As[i, j]
''', '''
@T.prim_func
def f(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):
    for io, jo in T.grid(4, 4):
        As = T.decl_buffer((16, 16), "float32", data=A.data, strides=(64, 1), elem_offset=io * 1024 + jo * 16, offset_factor=1)
        Bs = T.decl_buffer((16, 16), "float32", data=B.data, strides=(64, 1), elem_offset=io * 1024 + jo * 16, offset_factor=1)
        for i, j in T.grid(16, 16):
            Bs[i, j] = As[i, j]
''')


def test_match_buffer_symbolic_strides_are_substituted():
    check("lower-blocks", '''
@T.prim_func
def f(A: T.Buffer((8, 8), "float32")):
    for io in range(2):
        with T.block("tile"):
            vi = T.axis.spatial(2, io)
            T.reads()
            T.writes(A[vi * 4:vi * 4 + 4, 0:8])
            s = T.int32()
            off = T.int32()
            As = T.match_buffer(A[vi * 4:vi * 4 + 4, 0:8], (4, 8), "float32", strides=(s, 1), elem_offset=off)
            for i, j in T.grid(4, 8):
                As[i, j] = T.float32(0)
''', '''
@T.prim_func
def f(A: T.Buffer((8, 8), "float32")):
    for io in range(2):
        As = T.decl_buffer((4, 8), "float32", data=A.data, strides=(8, 1), elem_offset=io * 32)
        for i, j in T.grid(4, 8):
            As[i, j] = T.float32(0)
''')


def test_nested_blocks_and_no_block_remains():
    from passes import get_pass
    from tests.corpus.tir_programs import PROGRAMS

    for name, text in PROGRAMS.items():
        lowered = get_pass("lower-blocks")(get_pass("lower-init-block")(tvmscript.from_source(text)))
        tvmscript.verify(lowered)
        assert not _blocks(lowered), name


def _blocks(obj) -> list:
    found = []
    post_order_visit(obj, lambda n: found.append(n) if isinstance(n, (Block, BlockRealize)) else None)
    return found
