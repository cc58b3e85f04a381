"""unroll-loop: T.unroll loops of constant extent become copies of their body."""

from tests.pass_testing import check


def test_unroll_copies_body():
    check("unroll-loop", '''
@T.prim_func
def f(A: T.Buffer((8,), "float32")):
    for i in range(4):
        for j in T.unroll(2):
            A[i * 2 + j] = T.float32(0)
''', '''
@T.prim_func
def f(A: T.Buffer((8,), "float32")):
    for i in range(4):
        A[i * 2] = T.float32(0)
        A[i * 2 + 1] = T.float32(0)
''')


def test_copies_define_fresh_variables():
    check("unroll-loop", '''
@T.prim_func
def f(A: T.Buffer((2, 4), "float32")):
    for j in T.unroll(1, 3):
        for k in range(4):
            x: T.float32 = T.float32(1)
            A[j - 1, k] = x
''', '''
@T.prim_func
def f(A: T.Buffer((2, 4), "float32")):
    for k in range(4):
        x: T.float32 = T.float32(1)
        A[T.Sub(1, 1), k] = x
    for k in range(4):
        x: T.float32 = T.float32(1)
        A[T.Sub(2, 1), k] = x
''')


def test_unroll_max_and_symbolic_extent_keep_the_loop():
    long = '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), n: T.int32):
    for i in T.unroll(8):
        A[i] = T.float32(0)
    for i in T.unroll(n):
        A[i] = T.float32(0)
'''
    check("unroll-loop", long, long, **{"unroll-max": 4})
