"""Inferred reads/writes for accesses that need a union of several points."""

import tvmscript

STENCIL = '''
@T.prim_func
def st(A: T.Buffer((18,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("B"):
            vi = T.axis.spatial(16, i)
            B[vi] = A[vi] + A[vi + 1] + A[vi + 2]
'''


def test_stencil_reads_are_one_range():
    func = tvmscript.from_source(STENCIL)
    assert "T.reads(A[vi:vi + 3])" in func.script()
    tvmscript.verify(func)
