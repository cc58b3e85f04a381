"""Modules and graph-level functions (``@I.ir_module`` / ``@R.function``)."""

PROGRAMS: dict[str, str] = {}


def program(name: str, text: str) -> None:
    assert name not in PROGRAMS, name
    PROGRAMS[name] = text


program("module_add_relu", '''
@I.ir_module
class Module:
    @T.prim_func
    def add(A: T.Buffer((16, 32), "float32"), B: T.Buffer((16, 32), "float32"), C: T.Buffer((16, 32), "float32")):
        for i, j in T.grid(16, 32):
            with T.block("add"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj] + B[vi, vj]

    @T.prim_func
    def relu(A: T.Buffer((16, 32), "float32"), B: T.Buffer((16, 32), "float32")):
        for i, j in T.grid(16, 32):
            with T.block("relu"):
                vi, vj = T.axis.remap("SS", [i, j])
                B[vi, vj] = T.max(A[vi, vj], T.float32(0))

    @R.function
    def main(x: R.Tensor((16, 32), "float32"), y: R.Tensor((16, 32), "float32")) -> R.Tensor((16, 32), "float32"):
        cls = Module
        with R.dataflow():
            lv = R.call_tir(cls.add, (x, y), out_sinfo=R.Tensor((16, 32), dtype="float32"))
            gv = R.call_tir(cls.relu, (lv,), out_sinfo=R.Tensor((16, 32), dtype="float32"))
            R.output(gv)
        return gv
''')

program("module_forward_reference_out_ty", '''
@I.ir_module
class Module:
    @R.function
    def main(x: R.Tensor((8,), "float32")) -> R.Tensor((8,), "float32"):
        cls = Module
        with R.dataflow():
            y = R.call_tir(cls.double, (x,), out_ty=R.Tensor((8,), dtype="float32"))
            R.output(y)
        return y

    @T.prim_func
    def double(A: T.Buffer((8,), "float32"), B: T.Buffer((8,), "float32")):
        for i in range(8):
            with T.block("B"):
                vi = T.axis.spatial(8, i)
                B[vi] = A[vi] * T.float32(2)
''')

program("graph_ops_only", '''
@R.function
def mlp(x: R.Tensor((4, 16), "float32"), w: R.Tensor((16, 8), "float32"), b: R.Tensor((8,), "float32")) -> R.Tensor((4, 8), "float32"):
    with R.dataflow():
        lv0 = R.matmul(x, w)
        lv1 = R.add(lv0, b)
        lv2 = R.nn.relu(lv1)
        gv = R.nn.softmax(lv2, axis=1)
        R.output(gv)
    return gv
''')

program("graph_symbolic", '''
@R.function
def dyn(x: R.Tensor(("n", 16), "float32"), w: R.Tensor((16, "m"), "float32")) -> R.Tensor(("n", "m"), "float32"):
    n = T.int64()
    m = T.int64()
    with R.dataflow():
        lv: R.Tensor((n, m), dtype="float32") = R.matmul(x, w)
        gv = R.exp(lv)
        R.output(gv)
    return gv
''')

program("graph_tuples_constants", '''
@R.function
def tuples(x: R.Tensor((2, 3), "float32")) -> R.Tuple(R.Tensor((2, 3), "float32"), R.Tensor((3, 2), "float32")):
    with R.dataflow():
        c = R.const([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "float32")
        s = R.add(x, c)
        t = R.permute_dims(s, axes=[1, 0])
        pair = (s, t)
        first = pair[0]
        gv = (first, pair[1])
        R.output(gv)
    return gv
''')

program("graph_scalar_const_no_dataflow", '''
@R.function
def scale(x: R.Tensor((4,), "float32")) -> R.Tensor((4,), "float32"):
    two = R.const(2.0, "float32")
    y = R.multiply(x, two)
    return y
''')

program("module_multiple_outputs", '''
@I.ir_module
class Module:
    @T.prim_func
    def split_sign(A: T.Buffer((32,), "float32"), Pos: T.Buffer((32,), "float32"), Neg: T.Buffer((32,), "float32")):
        for i in range(32):
            with T.block("s"):
                vi = T.axis.spatial(32, i)
                Pos[vi] = T.max(A[vi], T.float32(0))
                Neg[vi] = T.min(A[vi], T.float32(0))

    @R.function
    def main(x: R.Tensor((32,), "float32")) -> R.Tensor((32,), "float32"):
        cls = Module
        with R.dataflow():
            parts = R.call_tir(cls.split_sign, (x,), out_sinfo=[R.Tensor((32,), dtype="float32"), R.Tensor((32,), dtype="float32")])
            p = parts[0]
            q = parts[1]
            gv = R.add(p, q)
            R.output(gv)
        return gv
''')

program("module_calls_graph_function", '''
@I.ir_module
class Module:
    @R.function
    def inner(x: R.Tensor((4, 4), "float32")) -> R.Tensor((4, 4), "float32"):
        y = R.nn.relu(x)
        return y

    @R.function
    def main(x: R.Tensor((4, 4), "float32")) -> R.Tensor((4, 4), "float32"):
        cls = Module
        y: R.Tensor((4, 4), dtype="float32") = cls.inner(x)
        z = R.matmul(y, y)
        return z
''')

program("module_attrs_conv", '''
@I.ir_module
class Module:
    I.module_attrs({"system_lib_prefix": "net_"})

    @R.function
    def main(x: R.Tensor((1, 3, 8, 8), "float32"), w: R.Tensor((4, 3, 3, 3), "float32")) -> R.Tensor((1, 4, 8, 8), "float32"):
        R.func_attr({"num_input": 1})
        with R.dataflow():
            y = R.nn.conv2d(x, w, strides=[1, 1], padding=[1, 1])
            gv = R.sum(y, axis=[1], keepdims=True)
            out = R.multiply(y, gv)
            R.output(out)
        return out
''')

program("graph_reshape_shape", '''
@R.function
def flatten(x: R.Tensor((2, 3, 4), "float32")) -> R.Tensor((2, 12), "float32"):
    with R.dataflow():
        y = R.reshape(x, shape=[2, 12])
        R.output(y)
    return y
''')
