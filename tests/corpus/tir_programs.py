"""Loop-level programs (one ``@T.prim_func`` each)."""

PROGRAMS: dict[str, str] = {}


def program(name: str, text: str) -> None:
    assert name not in PROGRAMS, name
    PROGRAMS[name] = text


program("matmul", '''
@T.prim_func
def matmul(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')

program("matmul_explicit_regions", '''
@T.prim_func
def main(A: T.Buffer((64, 32), "float32"), B: T.Buffer((32, 48), "float32"), C: T.Buffer((64, 48), "float32")):
    T.func_attr({"global_symbol": "main", "tir.noalias": True})
    for i, j, k in T.grid(64, 48, 32):
        with T.block("C"):
            vi = T.axis.spatial(64, i)
            vj = T.axis.spatial(48, j)
            vk = T.axis.reduce(32, k)
            T.reads(C[vi, vj], A[vi, vk], B[vk, vj])
            T.writes(C[vi, vj])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
''')

program("vector_add_range", '''
@T.prim_func
def add(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"), C: T.Buffer((1024,), "float32")):
    for i in range(1024):
        with T.block("C"):
            vi = T.axis.spatial(1024, i)
            C[vi] = A[vi] + B[vi]
''')

program("loop_kinds", '''
@T.prim_func
def kinds(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):
    for i in T.parallel(64):
        for j0 in T.serial(4):
            for j1 in T.unroll(2):
                for j2 in T.vectorized(8):
                    B[i, j0 * 16 + j1 * 8 + j2] = A[i, j0 * 16 + j1 * 8 + j2] * T.float32(2)
''')

program("loop_annotations", '''
@T.prim_func
def annotated(A: T.Buffer((64,), "float32")):
    for i in T.serial(64, annotations={"pragma_unroll_explicit": 1, "software_pipeline_stage": [0, 1]}):
        A[i] = T.float32(1)
''')

program("loop_min", '''
@T.prim_func
def shifted(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(1, 63):
        B[i] = (A[i - 1] + A[i] + A[i + 1]) / T.float32(3)
    for i in T.serial(0, 1):
        B[i] = A[i]
''')

program("elementwise_blocks_relu", '''
@T.prim_func
def bias_relu(A: T.Buffer((64, 128), "float32"), Bias: T.Buffer((128,), "float32"), Out: T.Buffer((64, 128), "float32")):
    Tmp = T.alloc_buffer((64, 128), "float32")
    for i, j in T.grid(64, 128):
        with T.block("add"):
            vi, vj = T.axis.remap("SS", [i, j])
            Tmp[vi, vj] = A[vi, vj] + Bias[vj]
    for i, j in T.grid(64, 128):
        with T.block("relu"):
            vi, vj = T.axis.remap("SS", [i, j])
            Out[vi, vj] = T.max(Tmp[vi, vj], T.float32(0))
''')

program("softmax", '''
@T.prim_func
def softmax(A: T.Buffer((16, 256), "float32"), Out: T.Buffer((16, 256), "float32")):
    M = T.alloc_buffer((16,), "float32")
    E = T.alloc_buffer((16, 256), "float32")
    S = T.alloc_buffer((16,), "float32")
    for i, k in T.grid(16, 256):
        with T.block("max"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                M[vi] = T.min_value("float32")
            M[vi] = T.max(M[vi], A[vi, vk])
    for i, k in T.grid(16, 256):
        with T.block("exp"):
            vi, vk = T.axis.remap("SS", [i, k])
            E[vi, vk] = T.exp(A[vi, vk] - M[vi])
    for i, k in T.grid(16, 256):
        with T.block("sum"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                S[vi] = T.float32(0)
            S[vi] = S[vi] + E[vi, vk]
    for i, k in T.grid(16, 256):
        with T.block("norm"):
            vi, vk = T.axis.remap("SS", [i, k])
            Out[vi, vk] = E[vi, vk] / S[vi]
''')

program("layer_norm", '''
@T.prim_func
def layer_norm(X: T.Buffer((8, 64), "float32"), Gamma: T.Buffer((64,), "float32"), Beta: T.Buffer((64,), "float32"), Y: T.Buffer((8, 64), "float32")):
    Mean = T.alloc_buffer((8,), "float32")
    SqSum = T.alloc_buffer((8,), "float32")
    for i, k in T.grid(8, 64):
        with T.block("stats"):
            vi, vk = T.axis.remap("SR", [i, k])
            with T.init():
                Mean[vi] = T.float32(0)
                SqSum[vi] = T.float32(0)
            Mean[vi] = Mean[vi] + X[vi, vk]
            SqSum[vi] = SqSum[vi] + X[vi, vk] * X[vi, vk]
    for i, j in T.grid(8, 64):
        with T.block("norm"):
            vi, vj = T.axis.remap("SS", [i, j])
            Y[vi, vj] = (X[vi, vj] - Mean[vi] / T.float32(64)) * T.rsqrt(SqSum[vi] / T.float32(64) - Mean[vi] / T.float32(64) * (Mean[vi] / T.float32(64)) + T.float32(1e-05)) * Gamma[vj] + Beta[vj]
''')

program("conv2d_pad", '''
@T.prim_func
def conv(X: T.Buffer((1, 8, 14, 14), "float32"), W: T.Buffer((16, 8, 3, 3), "float32"), Y: T.Buffer((1, 16, 14, 14), "float32")):
    Xp = T.alloc_buffer((1, 8, 16, 16), "float32")
    for n, c, h, w in T.grid(1, 8, 16, 16):
        with T.block("pad"):
            vn, vc, vh, vw = T.axis.remap("SSSS", [n, c, h, w])
            Xp[vn, vc, vh, vw] = T.if_then_else(1 <= vh and vh < 15 and 1 <= vw and vw < 15, X[vn, vc, vh - 1, vw - 1], T.float32(0))
    for n, k, h, w, c, r, s in T.grid(1, 16, 14, 14, 8, 3, 3):
        with T.block("conv"):
            vn, vk, vh, vw, vc, vr, vs = T.axis.remap("SSSSRRR", [n, k, h, w, c, r, s])
            with T.init():
                Y[vn, vk, vh, vw] = T.float32(0)
            Y[vn, vk, vh, vw] = Y[vn, vk, vh, vw] + Xp[vn, vc, vh + vr, vw + vs] * W[vk, vc, vr, vs]
''')

program("pooling", '''
@T.prim_func
def max_pool(X: T.Buffer((1, 4, 16, 16), "float32"), Y: T.Buffer((1, 4, 8, 8), "float32")):
    for n, c, h, w, rh, rw in T.grid(1, 4, 8, 8, 2, 2):
        with T.block("pool"):
            vn, vc, vh, vw, vrh, vrw = T.axis.remap("SSSSRR", [n, c, h, w, rh, rw])
            with T.init():
                Y[vn, vc, vh, vw] = T.min_value("float32")
            Y[vn, vc, vh, vw] = T.max(Y[vn, vc, vh, vw], X[vn, vc, vh * 2 + vrh, vw * 2 + vrw])
''')

program("symbolic_shape", '''
@T.prim_func
def scale(a: T.handle, b: T.handle):
    n = T.int32()
    A = T.match_buffer(a, (n,), "float32")
    B = T.match_buffer(b, (n,), "float32")
    for i in range(n):
        with T.block("B"):
            vi = T.axis.spatial(n, i)
            B[vi] = A[vi] * T.float32(2)
''')

program("symbolic_2d", '''
@T.prim_func
def transpose(a: T.handle, b: T.handle):
    m = T.int32()
    n = T.int32()
    A = T.match_buffer(a, (m, n), "float32")
    B = T.match_buffer(b, (n, m), "float32")
    for i, j in T.grid(n, m):
        with T.block("T"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vj, vi]
''')

program("scalar_param", '''
@T.prim_func
def axpy(A: T.Buffer((256,), "float32"), B: T.Buffer((256,), "float32"), alpha: T.float32, n: T.int32):
    for i in range(256):
        if i < n:
            B[i] = alpha * A[i] + B[i]
''')

program("if_else", '''
@T.prim_func
def clamp(A: T.Buffer((100,), "int32"), B: T.Buffer((100,), "int32")):
    for i in range(100):
        if A[i] < 0:
            B[i] = 0
        elif A[i] > 10:
            B[i] = 10
        else:
            B[i] = A[i]
''')

program("while_loop", '''
@T.prim_func
def collatz(A: T.Buffer((1,), "int32"), Steps: T.Buffer((1,), "int32")):
    Steps[0] = 0
    while A[0] != 1:
        if A[0] % 2 == 0:
            A[0] = A[0] // 2
        else:
            A[0] = A[0] * 3 + 1
        Steps[0] = Steps[0] + 1
''')

program("let_binding", '''
@T.prim_func
def lets(A: T.Buffer((32,), "float32"), B: T.Buffer((32,), "float32")):
    for i in range(32):
        x: T.float32 = A[i] * T.float32(2)
        y = x + T.float32(1)
        B[i] = x * y
''')

program("assert_stmt", '''
@T.prim_func
def checked(A: T.Buffer((16,), "int32"), n: T.int32):
    assert n <= 16, "n must be at most 16"
    for i in range(n):
        A[i] = i
''')

program("select_cast", '''
@T.prim_func
def select_cast(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float16"), C: T.Buffer((64,), "int8")):
    for i in range(64):
        B[i] = T.Cast("float16", T.Select(A[i] > T.float32(0), A[i], T.float32(0)))
        C[i] = T.Cast("int8", T.max(T.min(A[i], T.float32(127)), T.float32(-128)))
''')

program("int_arith", '''
@T.prim_func
def int_arith(A: T.Buffer((64,), "int32"), B: T.Buffer((64,), "int32")):
    for i in range(64):
        B[i] = A[i] // 3 + A[i] % 5 - T.truncdiv(A[i], 7) * T.truncmod(A[i], 2) + T.floordiv(i, 4) - T.floormod(i, 3)
''')

program("bitwise", '''
@T.prim_func
def bits(A: T.Buffer((64,), "int32"), B: T.Buffer((64,), "int32")):
    for i in range(64):
        B[i] = (A[i] & 255 | A[i] << 2) ^ ~A[i] >> 1
''')

program("logic", '''
@T.prim_func
def logic(A: T.Buffer((64,), "int32"), B: T.Buffer((64,), "bool")):
    for i in range(64):
        B[i] = (A[i] > 3 and A[i] < 10 or not A[i] == 5) and A[i] != 7
''')

program("comparison_chain_parens", '''
@T.prim_func
def cmp(A: T.Buffer((8,), "bool"), B: T.Buffer((8,), "int32")):
    for i in range(8):
        A[i] = (B[i] < 3) == (B[i] >= 1)
''')

program("math_intrinsics", '''
@T.prim_func
def math(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(64):
        B[i] = T.exp(A[i]) + T.log(T.abs(A[i]) + T.float32(1)) + T.sqrt(T.fabs(A[i])) + T.tanh(A[i]) + T.sigmoid(A[i]) + T.erf(A[i]) + T.pow(A[i], T.float32(2)) + T.floor(A[i]) + T.ceil(A[i]) + T.round(A[i])
''')

program("power_operator", '''
@T.prim_func
def power(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = A[i] ** T.float32(3)
''')

program("dtypes", '''
@T.prim_func
def dtypes(A: T.Buffer((8,), "int8"), B: T.Buffer((8,), "uint8"), C: T.Buffer((8,), "int64"), D: T.Buffer((8,), "float64"), E: T.Buffer((8,), "bfloat16"), F: T.Buffer((8,), "int16"), G: T.Buffer((8,), "uint32")):
    for i in range(8):
        C[i] = T.Cast("int64", A[i]) + T.Cast("int64", B[i]) + T.int64(1)
        D[i] = T.Cast("float64", C[i]) * T.float64(0.5)
        F[i] = T.Cast("int16", A[i]) * T.int16(3)
        G[i] = T.Cast("uint32", B[i]) + T.uint32(7)
        E[i] = T.Cast("bfloat16", D[i])
''')

program("vector_ramp_broadcast", '''
@T.prim_func
def vec(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(4):
        B[i * 16:i * 16 + 16] = A[i * 16:i * 16 + 16] + T.Broadcast(T.float32(1), 16)
    for i in range(2):
        B[T.Ramp(i, 2, 8)] = A[T.Ramp(i * 32, 1, 8)] * T.Broadcast(T.float32(3), 8)
''')

program("vector_dtype_let", '''
@T.prim_func
def vlet(A: T.Buffer((32,), "float32"), B: T.Buffer((32,), "float32")):
    for i in range(2):
        v: T.float32x16 = A[i * 16:i * 16 + 16]
        B[i * 16:i * 16 + 16] = v * v
''')

program("call_extern", '''
@T.prim_func
def ext(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = T.call_extern("float32", "expf", A[i])
        T.evaluate(T.call_extern("int32", "printf", "%f", A[i]))
''')

program("call_llvm_intrin", '''
@T.prim_func
def llvm_intrin(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        B[i] = T.call_llvm_pure_intrin("float32", "llvm.fabs.f32", A[i])
        B[i] = T.call_llvm_intrin("float32", "llvm.sqrt.f32", B[i])
''')

program("reinterpret", '''
@T.prim_func
def bits_of(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "int32")):
    for i in range(16):
        B[i] = T.reinterpret("int32", A[i])
''')

program("block_predicate", '''
@T.prim_func
def padded(A: T.Buffer((100,), "float32"), B: T.Buffer((100,), "float32")):
    for io, ii in T.grid(4, 32):
        with T.block("B"):
            vi = T.axis.spatial(100, io * 32 + ii)
            T.where(io * 32 + ii < 100)
            B[vi] = A[vi] + T.float32(1)
''')

program("block_attr_alloc_in_block", '''
@T.prim_func
def local_acc(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.block("row"):
            vi = T.axis.spatial(16, i)
            T.reads(A[vi, 0:16])
            T.writes(B[vi])
            T.block_attr({"meta_schedule.auto_tensorize": "dot"})
            acc = T.alloc_buffer((1,), "float32", scope="local")
            acc[0] = T.float32(0)
            for k in range(16):
                acc[0] = acc[0] + A[vi, k]
            B[vi] = acc[0]
''')

program("nested_blocks", '''
@T.prim_func
def nested(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):
    for io in range(4):
        with T.block("outer"):
            vio = T.axis.spatial(4, io)
            T.reads(A[vio * 16:vio * 16 + 16, 0:64])
            T.writes(B[vio * 16:vio * 16 + 16, 0:64])
            for ii, j in T.grid(16, 64):
                with T.block("inner"):
                    vi = T.axis.spatial(64, vio * 16 + ii)
                    vj = T.axis.spatial(64, j)
                    B[vi, vj] = A[vi, vj] * T.float32(2)
''')

program("match_buffer_region", '''
@T.prim_func
def tile_copy(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):
    for io, jo in T.grid(4, 4):
        with T.block("tile"):
            vi, vj = T.axis.remap("SS", [io, jo])
            T.reads(A[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16])
            T.writes(B[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16])
            As = T.match_buffer(A[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16], (16, 16), "float32", offset_factor=1)
            Bs = T.match_buffer(B[vi * 16:vi * 16 + 16, vj * 16:vj * 16 + 16], (16, 16), "float32", offset_factor=1)
            for i, j in T.grid(16, 16):
                Bs[i, j] = As[i, j]
''')

program("intrinsic_desc", '''
@T.prim_func
def dot_desc(a: T.handle, b: T.handle, c: T.handle):
    A = T.match_buffer(a, (4,), "uint8", offset_factor=1)
    B = T.match_buffer(b, (16, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (16,), "int32", offset_factor=1)
    with T.block("root"):
        T.reads(C[0:16], A[0:4], B[0:16, 0:4])
        T.writes(C[0:16])
        for i, k in T.grid(16, 4):
            with T.block("update"):
                vi, vk = T.axis.remap("SR", [i, k])
                C[vi] = C[vi] + T.Cast("int32", A[vk]) * T.Cast("int32", B[vi, vk])
''')

program("strided_buffer", '''
@T.prim_func
def strided(a: T.handle, b: T.handle):
    s0 = T.int32()
    A = T.match_buffer(a, (16, 16), "float32", strides=(s0, 1))
    B = T.match_buffer(b, (16, 16), "float32", scope="global", align=128)
    for i, j in T.grid(16, 16):
        B[i, j] = A[i, j]
''')

program("thread_binding", '''
@T.prim_func
def gpu_add(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32"), C: T.Buffer((1024,), "float32")):
    for bx in T.thread_binding(8, thread="blockIdx.x"):
        for tx in T.thread_binding(128, thread="threadIdx.x"):
            with T.block("C"):
                vi = T.axis.spatial(1024, bx * 128 + tx)
                C[vi] = A[vi] + B[vi]
''')

program("shared_memory_sync", '''
@T.prim_func
def reduce_shared(A: T.Buffer((256,), "float32"), B: T.Buffer((1,), "float32")):
    S = T.alloc_buffer((256,), "float32", scope="shared")
    for tx in T.thread_binding(256, thread="threadIdx.x"):
        with T.block("load"):
            vt = T.axis.spatial(256, tx)
            S[vt] = A[vt]
    for tx in T.thread_binding(1, thread="threadIdx.x"):
        T.tvm_storage_sync("shared")
        for k in range(256):
            with T.block("sum"):
                vk = T.axis.reduce(256, k)
                with T.init():
                    B[0] = T.float32(0)
                B[0] = B[0] + S[vk]
''')

program("launch_thread_lowered", '''
@T.prim_func
def lowered_gpu(A: T.Buffer((1024,), "float32"), B: T.Buffer((1024,), "float32")):
    bx = T.launch_thread("blockIdx.x", 8)
    tx = T.launch_thread("threadIdx.x", 128)
    B[bx * 128 + tx] = A[bx * 128 + tx] * T.float32(2)
''')

program("allocate_decl_buffer", '''
@T.prim_func
def lowered(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    tmp = T.allocate([64], "float32", "global")
    Tmp = T.decl_buffer((64,), "float32", data=tmp)
    for i in range(64):
        Tmp[i] = A[i] + T.float32(1)
    for i in range(64):
        B[i] = Tmp[i] * Tmp[i]
''')

program("attr_stmt", '''
@T.prim_func
def pragma(A: T.Buffer((64,), "float32")):
    with T.attr(0, "pragma_import_llvm", "x"):
        for i in range(64):
            A[i] = T.float32(0)
''')

program("scan_and_opaque_axes", '''
@T.prim_func
def cumsum(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(64):
        with T.block("scan"):
            vi = T.axis.scan(64, i)
            T.reads(A[0:vi + 1], B[vi - 1])
            T.writes(B[vi])
            B[vi] = T.if_then_else(vi == 0, A[vi], B[vi - 1] + A[vi])
    for i in range(64):
        with T.block("opaque"):
            vi = T.axis.opaque(64, i)
            T.reads(B[vi])
            T.writes(B[vi])
            B[vi] = B[vi] * T.float32(1)
''')

program("axis_with_min", '''
@T.prim_func
def window(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    for i in range(8, 56):
        with T.block("w"):
            vi = T.axis.spatial((8, 56), i)
            B[vi] = A[vi - 8] + A[vi + 8]
''')

program("sblock_alias", '''
@T.prim_func(private=True)
def alias(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
    for i in range(16):
        with T.sblock("B"):
            vi = T.axis.S(16, i)
            B[vi] = A[vi]
''')

program("negative_and_float_literals", '''
@T.prim_func
def literals(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "int32")):
    for i in range(16):
        A[i] = T.float32(-1.5) * A[i] + T.float32(1e-08) - T.float32(3.0e+38)
        B[i] = -5 + i * -1 - (0 - i)
''')

program("inf_nan_constants", '''
@T.prim_func
def specials(A: T.Buffer((4,), "float32")):
    A[0] = T.float32("inf")
    A[1] = T.float32("-inf")
    A[2] = T.max_value("float32")
    A[3] = T.min_value("float32")
''')

program("let_expression", '''
@T.prim_func
def let_expr(A: T.Buffer((16,), "int32")):
    x = T.int32()
    for i in range(16):
        A[i] = T.let(x, i * 2, x * x + 1)
''')

program("address_of", '''
@T.prim_func
def addr(A: T.Buffer((16,), "float32")):
    T.evaluate(T.call_extern("int32", "consume", T.address_of(A[4])))
''')

program("int64_loops", '''
@T.prim_func
def big(A: T.Buffer((T.int64(64),), "float32")):
    for i in range(T.int64(64)):
        A[i] = T.float32(0)
''')

program("dense_relu_fused", '''
@T.prim_func
def dense_relu(X: T.Buffer((32, 64), "float32"), W: T.Buffer((128, 64), "float32"), Y: T.Buffer((32, 128), "float32")):
    T.func_attr({"global_symbol": "dense_relu", "tir.noalias": True})
    D = T.alloc_buffer((32, 128), "float32")
    for i, j, k in T.grid(32, 128, 64):
        with T.block("dense"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                D[vi, vj] = T.float32(0)
            D[vi, vj] = D[vi, vj] + X[vi, vk] * W[vj, vk]
    for i, j in T.grid(32, 128):
        with T.block("relu"):
            vi, vj = T.axis.remap("SS", [i, j])
            Y[vi, vj] = T.max(D[vi, vj], T.float32(0))
''')
