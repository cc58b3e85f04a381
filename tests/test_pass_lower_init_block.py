"""lower-init-block: T.init() becomes `if <reduction iterators at their min>:`."""

from tests.pass_testing import check


def test_matmul_init_becomes_if():
    check("lower-init-block", '''
@T.prim_func
def f(A: T.Buffer((8, 8), "float32"), B: T.Buffer((8, 8), "float32"), C: T.Buffer((8, 8), "float32")):
    for i, j, k in T.grid(8, 8, 8):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(C[vi, vj], A[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''', '''
@T.prim_func
def f(A: T.Buffer((8, 8), "float32"), B: T.Buffer((8, 8), "float32"), C: T.Buffer((8, 8), "float32")):
    for i, j, k in T.grid(8, 8, 8):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            T.reads(C[vi, vj], A[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            if vk == 0:
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')


def test_two_reduction_iterators_and_nonzero_min():
    check("lower-init-block", '''
@T.prim_func
def f(A: T.Buffer((8, 8), "float32"), B: T.Buffer((1,), "float32")):
    for i, k in T.grid(8, 6):
        with T.block("S"):
            vi = T.axis.reduce(8, i)
            vk = T.axis.reduce((2, 8), k + 2)
            T.reads(B[0], A[vi, vk])
            T.writes(B[0])
            with T.init():
                B[0] = T.float32(0)
            B[0] = B[0] + A[vi, vk]
''', '''
@T.prim_func
def f(A: T.Buffer((8, 8), "float32"), B: T.Buffer((1,), "float32")):
    for i, k in T.grid(8, 6):
        with T.block("S"):
            vi = T.axis.reduce(8, i)
            vk = T.axis.reduce((2, 8), k + 2)
            T.reads(B[0], A[vi, vk])
            T.writes(B[0])
            if vi == 0 and vk == 2:
                B[0] = T.float32(0)
            B[0] = B[0] + A[vi, vk]
''')


def test_init_without_reduction_runs_first():
    check("lower-init-block", '''
@T.prim_func
def f(B: T.Buffer((8,), "float32")):
    for i in range(8):
        with T.block("S"):
            vi = T.axis.spatial(8, i)
            T.reads(B[vi])
            T.writes(B[vi])
            with T.init():
                B[vi] = T.float32(0)
            B[vi] = B[vi] + T.float32(1)
''', '''
@T.prim_func
def f(B: T.Buffer((8,), "float32")):
    for i in range(8):
        with T.block("S"):
            vi = T.axis.spatial(8, i)
            T.reads(B[vi])
            T.writes(B[vi])
            B[vi] = T.float32(0)
            B[vi] = B[vi] + T.float32(1)
''')


def test_no_init_is_unchanged():
    import tvmscript
    from passes import get_pass

    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((8,), "float32")):
    for i in range(8):
        with T.block("S"):
            vi = T.axis.spatial(8, i)
            A[vi] = T.float32(0)
''')
    mod = tvmscript.IRModule.from_function(func)
    assert get_pass("lower-init-block")(mod) is mod
