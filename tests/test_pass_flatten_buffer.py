"""flatten-buffer: every access becomes 1-D through flat twins of the buffers."""

from tests.pass_testing import check


def test_parameter_buffers_get_flat_twins():
    check("flatten-buffer", '''
@T.prim_func
def f(A: T.Buffer((4, 8), "float32"), B: T.Buffer((32,), "float32")):
    for i, j in T.grid(4, 8):
        B[i * 8 + j] = A[i, j]
''', '''
@T.prim_func
def f(A: T.Buffer((4, 8), "float32"), B: T.Buffer((32,), "float32")):
    A_1 = T.decl_buffer((32,), "float32", data=A.data)
    for i, j in T.grid(4, 8):
        B[i * 8 + j] = A_1[i * 8 + j]
''')


def test_allocation_gets_one_extent_and_flat_declaration():
    check("flatten-buffer", '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    tmp = T.allocate([4, 4], "float32", "global")
    Tmp = T.decl_buffer((4, 4), "float32", data=tmp)
    for i, j in T.grid(4, 4):
        Tmp[i, j] = A[i * 4 + j]
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    tmp = T.allocate([16], "float32", "global")
    Tmp = T.decl_buffer((16,), "float32", data=tmp)
    for i, j in T.grid(4, 4):
        Tmp[i * 4 + j] = A[i * 4 + j]
''')


def test_view_with_offset_and_strides():
    check("flatten-buffer", '''
@T.prim_func
def f(A: T.Buffer((64, 64), "float32")):
    for io in range(4):
        As = T.decl_buffer((16, 16), "float32", data=A.data, strides=(64, 1), elem_offset=io * 1024)
        for i, j in T.grid(16, 16):
            As[i, j] = T.float32(0)
''', '''
@T.prim_func
def f(A: T.Buffer((64, 64), "float32")):
    for io in range(4):
        As = T.decl_buffer((io * 1024 + 976,), "float32", data=A.data)
        for i, j in T.grid(16, 16):
            As[io * 1024 + i * 64 + j] = T.float32(0)
''')


def test_symbolic_strides_and_ramp_in_last_dimension():
    check("flatten-buffer", '''
@T.prim_func
def f(a: T.handle, B: T.Buffer((16, 16), "float32")):
    s0 = T.int32()
    A = T.match_buffer(a, (16, 16), "float32", strides=(s0, 1))
    for i in range(16):
        B[i, 0:16] = A[i, 0:16]
''', '''
@T.prim_func
def f(a: T.handle, B: T.Buffer((16, 16), "float32")):
    s0 = T.int32()
    A = T.match_buffer(a, (16, 16), "float32", strides=(s0, 1))
    A_1 = T.decl_buffer((15 * s0 + 16,), "float32", data=A.data)
    B_1 = T.decl_buffer((256,), "float32", data=B.data)
    for i in range(16):
        B_1[i * 16:i * 16 + 16] = A_1[i * s0:i * s0 + 16]
''')


def test_flat_buffers_are_untouched():
    import tvmscript
    from passes import get_pass

    func = tvmscript.from_source('''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        A[i] = T.float32(0)
''')
    mod = tvmscript.IRModule.from_function(func)
    assert get_pass("flatten-buffer")(mod) is mod
