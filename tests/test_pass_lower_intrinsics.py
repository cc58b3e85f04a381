"""lower-intrinsics: math calls become LLVM intrinsics, libm calls or arithmetic."""

from tests.pass_testing import check


def test_float32_intrinsics_and_libm():
    check("lower-intrinsics", '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32")):
    for i in range(8):
        B[i] = T.exp(A[i]) + T.tanh(A[i]) + T.round(A[i]) + T.pow(A[i], T.float32(2)) + T.fabs(A[i])
''', '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32")):
    for i in range(8):
        B[i] = T.call_llvm_pure_intrin("float32", "llvm.exp.f32", A[i]) + T.call_pure_extern("float32", "tanhf", A[i]) + T.call_llvm_pure_intrin("float32", "llvm.nearbyint.f32", A[i]) + T.call_llvm_pure_intrin("float32", "llvm.pow.f32", A[i], T.float32(2)) + T.call_llvm_pure_intrin("float32", "llvm.fabs.f32", A[i])
''')


def test_float64_and_vector_names():
    check("lower-intrinsics", '''
@T.prim_func
def f(A: T.Buffer((16,), "float64"), B: T.Buffer((16,), "float32")):
    A[0] = T.erf(A[1]) + T.sqrt(A[2])
    B[0:16] = T.exp(B[0:16])
''', '''
@T.prim_func
def f(A: T.Buffer((16,), "float64"), B: T.Buffer((16,), "float32")):
    A[0] = T.call_pure_extern("float64", "erf", A[1]) + T.call_llvm_pure_intrin("float64", "llvm.sqrt.f64", A[2])
    B[0:16] = T.call_llvm_pure_intrin("float32x16", "llvm.exp.v16f32", B[0:16])
''')


def test_composites():
    check("lower-intrinsics", '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), I: T.Buffer((8,), "int32"), M: T.Buffer((8,), "bool")):
    A[0] = T.sigmoid(A[1])
    A[2] = T.rsqrt(A[3])
    I[0] = T.abs(I[1])
    M[0] = T.isnan(A[4])
''', '''
@T.prim_func
def f(A: T.Buffer((8,), "float32"), I: T.Buffer((8,), "int32"), M: T.Buffer((8,), "bool")):
    A[0] = T.float32(1) / (T.float32(1) + T.call_llvm_pure_intrin("float32", "llvm.exp.f32", T.float32(0) - A[1]))
    A[2] = T.float32(1) / T.call_llvm_pure_intrin("float32", "llvm.sqrt.f32", A[3])
    I[0] = T.Select(I[1] >= 0, I[1], 0 - I[1])  # integer T.abs, as TVM builds it
    M[0] = A[4] != A[4]
''')


def test_half_computes_in_float32():
    check("lower-intrinsics", '''
@T.prim_func
def f(A: T.Buffer((8,), "float16")):
    A[0] = T.exp(A[1])
''', '''
@T.prim_func
def f(A: T.Buffer((8,), "float16")):
    A[0] = T.Cast("float16", T.call_llvm_pure_intrin("float32", "llvm.exp.f32", T.Cast("float32", A[1])))
''')
